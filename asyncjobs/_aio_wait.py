"""The scheduler under :func:`asyncjobs.aio.wait` and :func:`asyncjobs.aio.as_completed`.

One heap of due polls for all the jobs of a wait, and one task that starts the due polls on the
event loop's worker pool, never more at once than the pool has threads: the asyncio twin of the
sync scheduler's board. A job between polls is one small entry on the heap, not a task with its
coroutines, futures, timer and wake-up machinery: with ten thousand jobs the process holds a tenth
of the objects it did with a task per job, so the cyclic garbage collector's full passes (which
hold the loop while they walk every object of the process) stay short.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import _aio, _wake
from ._http import abandoned_when
from ._job import Job, policies, refresh_within, settle, tracker
from ._limit import Limit, adaptive
from ._models import JobInfo
from ._poll import Action, Poll

if TYPE_CHECKING:
    from ._progress import Reporter
    from .aio import AsyncJob

__all__ = ["Scheduler"]


class _Entry:
    """One job of the wait, on the heap by its next poll time (``due``, then ``seq``), with its
    state in the poll core; whether it ended."""

    __slots__ = ("due", "ended", "job", "poll", "seq")

    def __init__(self, job: AsyncJob, poll: Poll, due: float, seq: int) -> None:
        self.job = job
        self.poll = poll
        self.due = due
        self.seq = seq
        self.ended = False

    def __lt__(self, other: _Entry) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


#: Jobs taken on per turn of the event loop when a wait starts (ten thousand at once would hold
#: the loop for tens of milliseconds).
_START_BATCH = 1000


class Scheduler:
    """Polls ``jobs`` (none finished) until each ends or the monotonic deadline ``end`` passes.

    Await :meth:`start` on the running loop, take the jobs as they end with :meth:`next`, and
    :meth:`stop` it at the end (polls in flight are abandoned: they end on their threads, their
    answers recorded, and nothing is polled again).
    """

    def __init__(self, jobs: list[AsyncJob], end: float | None, reporter: Reporter) -> None:
        self._jobs = jobs
        self._end = end
        self._reporter = reporter
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._left = 0
        self._counter = itertools.count()
        self._heap: list[_Entry] = []
        self._polled: set[_Entry] = set()  # polls in flight
        self._runners: set[asyncio.Task[None]] = set()
        self._ended: collections.deque[AsyncJob] = collections.deque()
        self._late = False
        self._over = False  # no job will end any more
        self._crash: BaseException | None = None  # raised by a poll, not an error of the job's
        self._kick: asyncio.Future[None] | None = None  # the driver's sleep
        self._taker: asyncio.Future[None] | None = None  # the sleep of next()
        self._rung = False
        self._driver: asyncio.Task[None] | None = None
        self._stop_listening: list[Callable[[], None]] = []
        self._limit = Limit(_aio.MAX_WORKERS, adaptive=False)
        self._gone = threading.Event()  # set by stop(): polls on their threads start no new attempt

    # -- the loop's side ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for news of the jobs' ends and start polling them, every job due now, a batch
        of them per turn of the loop."""
        loop = asyncio.get_running_loop()
        self._limit = Limit(
            _aio.workers().size, adaptive=adaptive(policies(j.sync for j in self._jobs))
        )
        waiter = _wake.Waiter()

        def ring() -> None:  # from the reporting thread; one call on the loop for many news
            if not self._rung:
                self._rung = True
                loop.call_soon_threadsafe(self._news, waiter)

        self._stop_listening.append(waiter.ring_me(ring))
        now, wall = time.monotonic(), time.time()
        since = wall
        for first in range(0, len(self._jobs), _START_BATCH):
            if first:
                await asyncio.sleep(0)
            batch = self._jobs[first : first + _START_BATCH]
            for job in batch:
                key = (job.sync.provider, job.sync.id)
                if key not in self._entries:
                    poll = tracker(job.sync, deadline=self._end, since=since)
                    due = poll.first(now, wall)
                    entry = self._entries[key] = _Entry(job, poll, due, next(self._counter))
                    heapq.heappush(self._heap, entry)
                    self._left += 1
            self._stop_listening.append(_wake.subscribe(waiter, [j.sync for j in batch]))
        self._news(waiter)
        self._driver = loop.create_task(self._drive())

    @property
    def late(self) -> bool:
        """Whether the deadline passed before every job ended."""
        return self._late

    async def next(self) -> AsyncJob | None:
        """The next job that ended; ``None`` once no more will (every job handed back, or the
        deadline passed: see :attr:`late`)."""
        while True:
            if self._crash is not None:
                raise self._crash
            if self._ended:
                return self._ended.popleft()
            if self._over:
                return None
            self._taker = asyncio.get_running_loop().create_future()
            try:
                await self._taker
            finally:
                self._taker = None

    async def stop(self) -> None:
        """Stop polling and listening; wait for the tasks (not for polls on their threads, which
        start no new attempt and end their pause before a retry at once)."""
        self._gone.set()
        for stop in self._stop_listening:
            stop()
        self._stop_listening = []
        for entry in self._entries.values():
            entry.poll.close()  # the jobs not ended: the wait left them (no-op for the others)
        tasks = list(self._runners)
        if self._driver is not None:
            tasks.append(self._driver)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _release(fut: asyncio.Future[None] | None) -> None:
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _news(self, waiter: _wake.Waiter) -> None:
        """News of ends (on the loop's thread): those jobs are polled no more; one being polled
        takes the news when its poll ends."""
        self._rung = False
        news = waiter.take()
        for key, info in news.items():
            entry = self._entries.get(key)
            if entry is None or entry.ended:
                continue
            if entry in self._polled:
                entry.poll.tell(info)
                continue
            settle(entry.job.sync, entry.poll.news(info, time.time()))
            self._reporter.seen(info)
            self._finish(entry)

    def _finish(self, entry: _Entry) -> None:
        entry.ended = True
        self._left -= 1
        self._ended.append(entry.job)
        self._release(self._taker)
        if self._left == 0:
            self._release(self._kick)

    async def _drive(self) -> None:
        """Start a runner for each due job while fewer runners than worker threads run, and sleep
        until the next job is due (or a runner ends), until every job ended or the deadline
        passed."""
        loop = asyncio.get_running_loop()
        try:
            while self._left > 0 and self._crash is None:
                now = time.monotonic()
                if self._end is not None and now >= self._end:
                    self._late = True
                    return
                while (
                    len(self._runners) < self._limit.value and (entry := self._due(now)) is not None
                ):
                    runner = loop.create_task(self._run(entry))
                    self._runners.add(runner)
                wake: float | None = None
                if self._heap and len(self._runners) < self._limit.value:
                    wake = self._heap[0].due - now
                if self._end is not None:
                    wake = self._end - now if wake is None else min(wake, self._end - now)
                self._kick = loop.create_future()
                timer = None if wake is None else loop.call_later(wake, self._release, self._kick)
                try:
                    await self._kick
                finally:
                    self._kick = None
                    if timer is not None:
                        timer.cancel()
        finally:
            self._over = True
            self._release(self._taker)

    def _due(self, now: float) -> _Entry | None:
        """The next job due by ``now``, off the heap (jobs ended meanwhile are dropped)."""
        heap = self._heap
        while heap and heap[0].due <= now:
            entry = heapq.heappop(heap)
            if not entry.ended:
                return entry
        return None

    async def _run(self, first: _Entry) -> None:
        """Poll ``entry``, then each next job already due, straight from the end of the last poll
        (no hand-off through the driver); end when none is due."""
        entry: _Entry | None = first
        try:
            while entry is not None:
                await self._poll(entry)
                if self._left == 0 or self._crash is not None:
                    return
                now = time.monotonic()
                if self._end is not None and now >= self._end:
                    return
                entry = self._due(now)
        finally:
            self._runners.discard(asyncio.current_task())
            self._release(self._kick)

    async def _poll(self, entry: _Entry) -> None:
        """One poll of the job, then its next time on the heap, or its end."""
        result: JobInfo | BaseException
        self._polled.add(entry)
        inflight = len(self._polled)
        started = time.monotonic()
        try:
            job = entry.job.sync
            result = await _aio.run(self._refresh, job, owner=job.connected_client)
        except Exception as exc:  # every outcome is the poll core's to judge
            result = exc
        finally:
            self._polled.discard(entry)
        now = time.monotonic()
        if isinstance(result, JobInfo) and self._limit.sample(now - started, inflight, now):
            self._release(self._kick)  # one more poll may go out
        self._settle(entry, result, now)

    def _refresh(self, job: Job) -> JobInfo:
        """On a worker thread: one look at ``job``, abandoned once the wait stops."""
        with abandoned_when(self._gone):
            return refresh_within(job, self._end)

    def _settle(self, entry: _Entry, result: JobInfo | BaseException, now: float) -> None:
        """A poll of the job ended with ``result``: the poll core says what follows."""
        step = entry.poll.step(result, now, time.time())
        settle(entry.job.sync, step)
        if step.info is not None:
            self._reporter.seen(step.info)
        if step.action is Action.AGAIN:
            entry.due = step.at
            entry.seq = next(self._counter)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._release(self._kick)  # due before what the driver sleeps for
        elif step.action is Action.CRASHED:  # not an error of the job's: the wait raises it
            self._crash = step.error
            self._release(self._taker)
        elif step.action is not Action.TIMED_OUT:  # past the deadline, the wait ends late
            self._finish(entry)
