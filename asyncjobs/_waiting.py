"""Waiting for jobs: one job in the caller's thread, many jobs with one scheduler and a bounded pool.

Polls follow each provider's :class:`~asyncjobs.provider.PollPolicy` (exponential, capped, never later
than a fraction of the job's age, jitter between half and all of the bound, a minimum interval); a
``retry_after`` hint in ``JobInfo.meta`` wins. A job is never polled twice at
once: the scheduler keeps one poll per job in flight, and ``Client.status`` shares concurrent polls.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from . import _wake, errors
from ._checks import timeout as check_timeout
from ._deferred import deferred_writes, write_seen
from ._http import POOL_SIZE, abandoned_when
from ._job import Job, handles, policies, refresh_within, settle, tracker, wait_one
from ._limit import Limit, adaptive
from ._models import JobInfo, Status
from ._poll import Action, Poll
from ._progress import Progress, make_progress
from ._redaction import get_logger

__all__ = ["as_completed", "wait", "wait_one"]

#: Largest worker pool a scheduler uses, whatever is asked: one per connection a client's own
#: session keeps, so that no poll opens a connection only to throw it away.
MAX_WORKERS = POOL_SIZE
ReturnWhen = Literal["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_FAILED"]

_log = get_logger("asyncjobs.waiting")


def _jobs(jobs: Iterable[Job]) -> list[Job]:
    return handles(jobs, Job, "asyncjobs.Job", "call job.wait()")


def _scheduled(
    jobs: Iterable[Job], timeout: float | None, max_workers: int, progress: Progress
) -> Iterator[Job | None]:
    """Yield each job as it finishes (or ends with an error in ``job.error``); yield ``None`` once if
    ``timeout`` passes first, then stop."""
    limit = check_timeout(timeout)
    if not isinstance(max_workers, int) or max_workers < 1:
        raise errors.InvalidParameterError(
            f"max_workers must be a positive int, not {max_workers!r}", parameter="max_workers"
        )
    pending = _jobs(jobs)
    deadline = None if limit is None else time.monotonic() + limit
    reporter = make_progress(progress, total=len(pending), desc="jobs")
    board = _Board(deadline)
    now, wall = time.monotonic(), time.time()
    for j in pending:
        if j.info is not None and j.info.finished:
            reporter.advance()
            yield j
        else:
            board.add(j, now, wall)
    if not board.heap:
        reporter.close()
        return
    board.start(min(max_workers, MAX_WORKERS, len(board.heap)))
    # news of an end (a poll anywhere in this process, a webhook's confirming poll, the ledger):
    # those jobs are polled no more
    listen = _wake.listening(board.queued())
    waiter = listen.__enter__()
    unring = waiter.ring_me(lambda: board.news(waiter.take()))
    board.news(waiter.take())
    try:
        while True:
            batch = board.next_batch()
            if batch.looks:
                write_seen(batch.looks)  # recorded before any of these jobs is handed back
            for info in batch.seen:
                reporter.seen(info)
            for j in batch.ready:
                reporter.advance()
                yield j
            if batch.late:
                yield None
                return
            if batch.last:
                return
    finally:
        unring()
        listen.__exit__(None, None, None)
        board.stop()
        reporter.close()


class _Batch:
    """What the waiting thread takes from the board at once: looks to record, statuses to
    report, jobs to hand back; ``late`` when the deadline passed, ``last`` when nothing is left."""

    __slots__ = ("last", "late", "looks", "ready", "seen")

    def __init__(
        self, looks: list[Any], seen: list[JobInfo], ready: list[Job], late: bool, last: bool
    ) -> None:
        self.looks = looks
        self.seen = seen
        self.ready = ready
        self.late = late
        self.last = last


#: Longest a look at a pending job waits to be recorded in the ledger and given to the progress
#: reporter when no job finishes meanwhile, in seconds.
_RECORD_WITHIN = 0.5


class _Board:
    """The jobs of one wait over many, and the workers that poll them.

    Each worker takes the next job that is due from a shared heap, polls it, and puts it back with
    its next time (or hands it to the waiting thread when it ended): no thread hands a poll to
    another, so a poll costs no thread switch beyond those of its own HTTP -- the scheduler costs
    about what a plain loop of status calls does. The waiting thread sleeps until a job ends (or
    the deadline passes), then records the pass's looks in one ledger transaction before it hands
    the ended jobs back; looks of jobs still pending are recorded within :data:`_RECORD_WITHIN`
    seconds.
    """

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        # (due, seq, job); an entry is live while _queued[job] is its seq (news of a job's end
        # leaves its entry behind, dropped when it comes to the top): the top is always live
        self.heap: list[tuple[float, int, Job]] = []
        self._queued: dict[Job, int] = {}
        self._keys: dict[tuple[str, str], Job] = {}  # the jobs of the wait by (provider, id)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here for a job to be due
        # the earliest time a worker sleeping on _work wakes by itself (inf: none does)
        self._timed_until = math.inf
        self._main = threading.Condition(self._lock)  # the waiting thread waits here
        self._busy = 0
        self._stopped = False
        self._since = time.time()  # every job is at least as old as this wait
        self._polls: dict[Job, Poll] = {}  # each job's state in the poll core
        self._looks: list[Any] = []  # looks of pending jobs, not recorded yet
        # when the oldest look of a pending job not taken by the waiting thread yet was added
        self._looks_since: float | None = None
        self._seen: list[JobInfo] = []
        self._ready: list[Job] = []
        self._ready_looks: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._crash: BaseException | None = None  # raised by a poll, not an error of the job's
        self._inflight: set[Job] = set()
        self._gone = threading.Event()  # set when the wait ends: polls in flight retry no more
        self.limit = Limit(MAX_WORKERS, adaptive=False)

    def add(self, job: Job, now: float, wall: float) -> None:
        """Take ``job`` on, due at its first poll (before the workers start)."""
        poll = self._polls[job] = tracker(job, deadline=self.deadline, since=self._since)
        self._keys[(job.provider, job.id)] = job
        self.push(poll.first(now, wall), job)

    def queued(self) -> list[Job]:
        """The jobs on the heap, waiting for their next poll."""
        return list(self._queued)

    def news(self, ended: dict[tuple[str, str], JobInfo]) -> None:
        """Jobs reported finished (from any thread): off the heap and handed back, without another
        poll; one being polled takes the news when its poll ends. Costs a lookup per job in the
        news, not a pass over the wait's jobs: every poll that finds a job finished reports it,
        with the lock held."""
        if not ended:
            return
        with self._lock:
            gone = False
            for key, info in ended.items():
                job = self._keys.get(key)
                if job is None:
                    continue
                if job in self._inflight:
                    self._polls[job].tell(info)
                elif self._queued.pop(job, None) is not None:
                    settle(job, self._polls[job].news(info, time.time()))
                    self._seen.append(info)
                    self._ready.append(job)
                    del self._keys[key]
                    gone = True
            if gone:
                self._prune()
                self._main.notify()

    def push(self, when: float, job: Job) -> None:
        """Put ``job`` on the heap, due at the monotonic time ``when`` (under the lock, or before
        the workers start)."""
        seq = next(self._counter)
        self._queued[job] = seq
        heapq.heappush(self.heap, (when, seq, job))

    def _prune(self) -> None:
        """Drop the entries of jobs news ended from the top of the heap, so that the top is a job
        still waiting (or the heap is empty)."""
        heap, queued = self.heap, self._queued
        while heap and queued.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)

    def start(self, workers: int) -> None:
        """Start ``workers`` polling threads, with the limit of polls in flight they keep to."""
        self.limit = Limit(workers, adaptive=adaptive(policies(self._queued)))
        for n in range(workers):
            thread = threading.Thread(target=self._run, name=f"asyncjobs-poll_{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """No poll starts any more; polls in flight end by themselves without another attempt
        (their answers are dropped)."""
        with self._lock:
            self._stopped = True
            self._gone.set()
            self._work.notify_all()
            for poll in self._polls.values():
                poll.close()  # the jobs not ended: the wait left them

    # -- the workers --------------------------------------------------------------------------------

    def _take(self) -> Job | None:
        """The next due job (waiting for one), or ``None`` once stopped or past the deadline.

        Of the workers waiting for the next job to be due, one sleeps until then (with a timeout)
        and the others until they are woken: a job coming due wakes one thread, not the pool."""
        with self._lock:
            while True:
                if self._stopped:
                    return None
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline:
                    self._main.notify()
                    return None
                free = self._busy < self.limit.value
                if self.heap and self.heap[0][0] <= now and free:
                    _, _, job = heapq.heappop(self.heap)
                    del self._queued[job]
                    self._prune()
                    self._busy += 1
                    self._inflight.add(job)
                    if self.heap and self._busy < self.limit.value:
                        self._watch(self.heap[0][0])  # someone must wake for the next one
                    return job
                # a worker kept back by the limit sleeps until a poll ends (that worker then takes
                # the due job itself) or the limit rises
                until = self.heap[0][0] if self.heap and free else None
                if until is not None and until < self._timed_until:
                    self._timed_until = until
                    self._work.wait(self._bounded(until) - now)
                    if self._timed_until == until:
                        self._timed_until = math.inf
                else:
                    left = None if self.deadline is None else self.deadline - now
                    self._work.wait(left)

    def _bounded(self, when: float) -> float:
        """``when``, or the deadline if it comes first."""
        return when if self.deadline is None else min(when, self.deadline)

    def _watch(self, when: float) -> None:
        """Wake a waiting worker for a job due at ``when`` unless one already wakes by then (under
        the lock)."""
        if when < self._timed_until:
            self._work.notify()

    def _run(self) -> None:
        with abandoned_when(self._gone):
            self._work_on()

    def _work_on(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            inflight = self._busy  # read without the lock: only a figure for the limit
            started = time.monotonic()
            result: JobInfo | BaseException
            try:
                result, seen = _poll(job, self.deadline)
            except BaseException as exc:  # every outcome is the poll core's to judge
                result, seen = exc, []
            ended = time.monotonic()
            timing = (ended - started, inflight, ended) if isinstance(result, JobInfo) else None
            self._ended(job, result, seen, timing)

    def _ended(
        self,
        job: Job,
        result: JobInfo | BaseException,
        seen: list[Any],
        timing: tuple[float, int, float] | None = None,
    ) -> None:
        """A poll of ``job`` ended with ``result`` (a look, with the looks ``seen`` to record, or
        an error); ``timing``: how long it took, how many polls were out with it, and when it
        ended."""
        with self._lock:
            self._busy -= 1
            if timing is not None and self.limit.sample(*timing):
                self._work.notify()  # one more poll may go out
            self._inflight.discard(job)
            if self._stopped:
                return
            step = self._polls[job].step(result, time.monotonic(), time.time())
            settle(job, step)
            if step.info is not None:
                self._seen.append(step.info)
            if step.action is Action.CRASHED:  # not an error of the job's: the wait raises it
                self._crash = step.error
                self._stopped = True
                self._work.notify_all()
                self._main.notify()
                return
            if step.action is Action.AGAIN or step.action is Action.TIMED_OUT:
                if seen:
                    if self._looks_since is None:
                        self._looks_since = time.monotonic()
                        self._main.notify()  # to record and report them within _RECORD_WITHIN
                    self._looks.extend(seen)
                # timed out: due now, and the wait, past its deadline, ends
                when = step.at if step.action is Action.AGAIN else time.monotonic()
                self.push(when, job)
                if self.heap[0][2] is job:
                    self._watch(when)  # due before what the sleeping workers wait for
            else:  # ended, or gave up with the job's error
                self._keys.pop((job.provider, job.id), None)
                self._ready_looks.extend(seen)
                self._ready.append(job)
                self._main.notify()
            if not self.heap and not self._busy:
                self._main.notify()

    # -- the waiting thread -------------------------------------------------------------------------

    def next_batch(self) -> _Batch:
        """Wait until a job ended, the deadline passed, nothing is left, or looks have waited
        :data:`_RECORD_WITHIN` to be recorded; take what there is."""
        with self._lock:
            while True:
                if self._crash is not None:
                    raise self._crash
                now = time.monotonic()
                late = self.deadline is not None and now >= self.deadline
                last = not self.heap and not self._busy
                due = self._looks_since is not None and now - self._looks_since >= _RECORD_WITHIN
                if self._ready or late or last or due:
                    break
                wake = None if self._looks_since is None else self._looks_since + _RECORD_WITHIN
                if self.deadline is not None:
                    wake = self.deadline if wake is None else min(wake, self.deadline)
                self._main.wait(None if wake is None else max(0.0, wake - now))
            batch = _Batch(
                self._looks + self._ready_looks, self._seen, self._ready, late, last and not late
            )
            self._looks, self._ready_looks, self._seen, self._ready = [], [], [], []
            self._looks_since = None
            return batch


def _poll(job: Job, deadline: float | None) -> tuple[JobInfo, list[Any]]:
    """One look at ``job`` in a worker thread; the statuses its client would write to the
    ledger are handed back with it, for the scheduler to write in one transaction per pass."""
    bucket: list[Any] = []
    with deferred_writes(bucket):
        info = refresh_within(job, deadline)
    return info, bucket


def as_completed(
    jobs: Iterable[Job],
    timeout: float | None = None,
    *,
    max_workers: int = 8,
    progress: Progress = False,
) -> Iterator[Job]:
    """Yield each job as it finishes, whichever finishes first.

    One scheduler thread-pool of at most ``max_workers`` (never more than 16) polls every job; no
    thread per job. A job whose poll ended with a permanent error (e.g. JobNotFoundError) is yielded
    with that error in ``job.error``.

    Raises:
        JobTimeoutError: ``timeout`` seconds passed before every job finished.
    """
    jobs = _jobs(jobs)
    for job in _scheduled(jobs, timeout, max_workers, progress):
        if job is None:
            raise late(jobs, timeout)
        yield job


def wait(
    jobs: Iterable[Job],
    timeout: float | None = None,
    return_when: ReturnWhen = "ALL_COMPLETED",
    *,
    max_workers: int = 8,
    progress: Progress = None,
) -> tuple[set[Job], set[Job]]:
    """Wait for many jobs at once, with one scheduler and a bounded pool (see :func:`as_completed`).

    Args:
        jobs: the :class:`Job` handles, from any clients.
        timeout: seconds to wait at most; no error when it passes (like ``concurrent.futures.wait``).
        return_when: ``"ALL_COMPLETED"``, ``"FIRST_COMPLETED"``, or ``"FIRST_FAILED"`` (return as soon
            as a job fails or ends with an error).
        max_workers: polls in flight at most (capped at 16).
        progress: as for :meth:`Job.wait`; a bar counts finished jobs.

    Returns:
        ``(done, not_done)``: sets of jobs.
    """
    check_return_when(return_when)
    jobs = _jobs(jobs)
    done: set[Job] = set()
    for job in _scheduled(jobs, timeout, max_workers, progress):
        if job is None:
            break
        done.add(job)
        if ends_wait(job, return_when):
            break
    return done, {j for j in jobs if j not in done}


def check_return_when(return_when: object) -> None:
    """Refuse a ``return_when`` that is none of the three, before anything is sent.

    Raises:
        InvalidParameterError: naming the three it may be.
    """
    if return_when not in ("ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_FAILED"):
        raise errors.InvalidParameterError(
            f"return_when must be 'ALL_COMPLETED', 'FIRST_COMPLETED' or 'FIRST_FAILED', not "
            f"{return_when!r}",
            parameter="return_when",
        )


def late(jobs: Sequence[Any], timeout: float | None) -> errors.JobTimeoutError:
    """The error of ``as_completed`` (sync or aio) whose ``timeout`` passed before every one of
    ``jobs`` (sync or async handles) finished."""
    left = sum(1 for j in jobs if not (j.info and j.info.finished) and j.error is None)
    return errors.JobTimeoutError(
        f"{left} of {len(jobs)} jobs had not finished after {timeout or 0:g}s; they go on at "
        "their providers. Wait again, or pick them up later with client.job(job_id)."
    )


def ends_wait(job: Any, return_when: ReturnWhen) -> bool:
    """Whether ``job`` having finished ends a wait asked to return ``return_when`` (a sync or an
    async handle: both have ``error`` and ``info``)."""
    if return_when == "FIRST_COMPLETED":
        return True
    failed = job.error is not None or (job.info is not None and job.info.status is Status.FAILED)
    return return_when == "FIRST_FAILED" and failed
