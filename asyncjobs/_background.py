"""The shared background scheduler behind ``Job.future()`` and ``Job.add_done_callback()``: one
thread and a bounded pool for every watched job of the process."""

from __future__ import annotations

import concurrent.futures as cf
import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable

from . import _wake, errors
from ._http import abandoned_when
from ._job import Job, settle, tracker
from ._limit import Limit, adaptive
from ._models import JobInfo, Status
from ._policies import PollPolicy
from ._poll import Action
from ._redaction import get_logger
from ._results import Result
from ._waiting import MAX_WORKERS

__all__ = ["release", "watch"]

_log = get_logger("asyncjobs.waiting")


# -- the shared background scheduler: Job.future() and Job.add_done_callback() --------------------


class _Watch:
    """What waits on one job in the background scheduler: its handles, futures and callbacks, and
    its state in the poll core."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.handles: list[Job] = [job]
        self.futures: list[cf.Future[Result]] = []
        self.callbacks: list[tuple[Job, Callable[[Job], object]]] = []
        self.poll = tracker(job)
        self.inflight = False
        #: the sequence number of its entry on the heap, while it has one (older entries are stale)
        self.queued: int | None = None
        self.unsubscribe: Callable[[], None] = _nothing
        #: set when its client closes: a poll in flight makes no new attempt
        self.gone = threading.Event()

    def wanted(self) -> bool:
        return bool(self.callbacks) or any(not f.done() for f in self.futures)

    def wants_result(self) -> bool:
        return any(not f.done() for f in self.futures)


#: What a step on a worker thread brings back: the poll's outcome (a look or the error it raised),
#: the result when the job is done and a future wants it (or the error fetching it raised), and
#: the poll's time (seconds, polls out with it, when it ended) for the limit.
_AGAIN = object()  # a step's end: the job is polled again

_Outcome = tuple[
    "JobInfo | BaseException", "Result | BaseException | None", "tuple[float, int, float] | None"
]


class _Background:
    """One scheduler thread and a pool of at most :data:`MAX_WORKERS` for every watched job of the
    process (not a thread per job). The thread starts with the first job watched and ends, with its
    pool, when no job is left."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Job]] = []
        self._watches: dict[Job, _Watch] = {}
        self._ended: list[tuple[_Watch, _Outcome]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._pool: cf.ThreadPoolExecutor | None = None
        self._inflight = 0
        self._by_key: dict[tuple[str, str], _Watch] = {}
        self._waiter = _wake.Waiter()
        self._waiter.ring_me(self._rung)
        # the policies of the clients watched since the thread started, and the limit they allow
        self._policies: dict[int, PollPolicy | None] = {}
        self._limit = Limit(MAX_WORKERS, adaptive=False)

    def _rung(self) -> None:
        """News of a watched job's end (from the reporting thread): the scheduler looks at once."""
        with self._cond:
            self._cond.notify()

    def _forget(self, w: _Watch) -> None:
        """Drop a watch (called with the condition held)."""
        del self._watches[w.job]
        self._by_key.pop((w.job.provider, w.job.id), None)
        w.unsubscribe()
        w.poll.close()

    def _news(self) -> None:
        """Jobs whose end news brought are stepped at once, without another poll (condition held)."""
        for key, info in self._waiter.take().items():
            w = self._by_key.get(key)
            if w is None or w.poll.told is not None:
                continue
            w.poll.tell(info)
            if not w.inflight and w.queued is not None:
                # sleeping in the heap: due now (its old entry goes stale; a job out on a step, or
                # just back from one, is rescheduled at once by the step's outcome, since it is
                # told). A lookup, not a pass over the heap: every poll that finds a job finished
                # reports it.
                self._push(w, time.monotonic())

    def _push(self, w: _Watch, when: float) -> None:
        """Put the job of ``w`` on the heap, due at ``when`` (condition held)."""
        w.queued = seq = next(self._counter)
        heapq.heappush(self._heap, (when, seq, w.job))

    def _count_client(self, job: Job) -> None:
        """The limit of polls in flight adapts only while every watched job is one client's
        (condition held)."""
        client = job.connected_client
        key = 0 if client is None else id(client)
        if key not in self._policies:
            self._policies[key] = None if client is None else client.poll_policy
            self._limit = Limit(MAX_WORKERS, adaptive=adaptive(self._policies.values()))

    def watch(
        self, job: Job, *, future: bool, callback: Callable[[Job], object] | None
    ) -> cf.Future[Result]:
        fut: cf.Future[Result] = cf.Future()
        if callback is not None and job.info is not None and job.info.finished:
            _call(callback, job)  # it has ended already: at once, in the caller's thread
            callback = None
        if not future:
            fut.cancel()
            if callback is None:
                return fut
        with self._cond:
            w = self._watches.get(job)
            if w is None:
                w = self._watches[job] = _Watch(job)
                self._by_key[(job.provider, job.id)] = w
                w.unsubscribe = _wake.subscribe(self._waiter, [job])
                self._push(w, w.poll.first(time.monotonic(), time.time()))
                self._count_client(job)
            elif all(h is not job for h in w.handles):
                w.handles.append(job)
            if future:
                w.futures.append(fut)
            if callback is not None:
                w.callbacks.append((job, callback))
            if self._thread is None:
                self._pool = cf.ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="asyncjobs-bg")
                self._thread = threading.Thread(
                    target=self._run, name="asyncjobs-scheduler", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return fut

    def release(self, client: object) -> None:
        """Stop watching the jobs of ``client``, which is closing: their futures are cancelled,
        their callbacks dropped, and a poll in flight makes no new attempt."""
        with self._cond:
            for w in [w for w in self._watches.values() if w.job.connected_client is client]:
                w.gone.set()
                for fut in w.futures:
                    fut.cancel()
                w.futures.clear()
                w.callbacks.clear()
                self._forget(w)
            self._cond.notify()

    def _step(self, w: _Watch, inflight: int) -> _Outcome:
        """One poll of the job on a worker thread (and its result when it is done and wanted)."""
        with abandoned_when(w.gone):
            return self._look(w, inflight)

    @staticmethod
    def _look(w: _Watch, inflight: int) -> _Outcome:
        started = time.monotonic()
        result: JobInfo | BaseException
        timing = None
        told = w.poll.told
        try:
            if told is not None:
                result = told  # polled already, by the receiver: no second look
            else:
                result = w.job.refresh()
                ended = time.monotonic()
                timing = (ended - started, inflight, ended)
        except Exception as exc:
            return exc, None, None
        if not result.finished or result.status is Status.FAILED or not w.wants_result():
            return result, None, timing
        try:
            return result, w.job.client.fetch_result(w.job.id), timing
        except Exception as exc:
            return result, exc, timing

    def _done(self, w: _Watch, fut: cf.Future[_Outcome]) -> None:
        outcome: _Outcome = (
            fut.result()
            if not fut.cancelled()
            else (errors.AsyncJobsError("cancelled"), None, None)
        )
        with self._cond:
            self._inflight -= 1
            w.inflight = False
            self._ended.append((w, outcome))
            self._cond.notify()

    def _settled(self, w: _Watch, outcome: _Outcome) -> object:
        """What a step's outcome means for its watch (condition held): :data:`_AGAIN` when the job
        is polled again (it is back on the heap), else its end: a :class:`Result`, an exception for
        the futures (the job failed, or its result could not be fetched), or :class:`_Failed`."""
        result, fetched, timing = outcome
        if timing is not None:
            self._limit.sample(*timing)
        step = w.poll.step(result, time.monotonic(), time.time())
        if step.action is Action.AGAIN:
            self._push(w, step.at)
            return _AGAIN
        if step.action is not Action.ENDED:
            return _Failed(step.error)
        assert step.info is not None
        settle(w.job, step)
        if step.info.status is Status.FAILED:
            return errors.JobFailedError(step.info)
        if fetched is None and w.wants_result():
            # a future came while it ended (or news ended it): fetch the result
            w.poll.tell(step.info)
            self._push(w, time.monotonic())
            return _AGAIN
        return fetched

    def _run(self) -> None:
        while True:
            ends: list[tuple[_Watch, object]] = []
            with self._cond:
                self._news()
                for w, outcome in self._ended:
                    if self._watches.get(w.job) is not w:
                        continue  # released (its client closed) while this poll was out
                    end = self._settled(w, outcome)
                    if end is _AGAIN:
                        continue  # back on the heap
                    self._forget(w)
                    ends.append((w, end))
                self._ended.clear()
                if not ends:
                    now = time.monotonic()
                    while (
                        self._heap
                        and self._heap[0][0] <= now
                        and self._inflight < self._limit.value
                    ):
                        _, seq, job = heapq.heappop(self._heap)
                        found = self._watches.get(job)
                        if found is None or found.queued != seq:
                            continue  # its watch is gone, or news made it due sooner
                        w = found
                        w.queued = None
                        if not w.wanted():
                            self._forget(w)  # every future was cancelled
                            continue
                        self._inflight += 1
                        w.inflight = True
                        assert self._pool is not None
                        step = self._pool.submit(self._step, w, self._inflight)
                        step.add_done_callback(functools.partial(self._done, w))
                    if not self._watches and not self._inflight:
                        assert self._pool is not None
                        self._pool.shutdown(wait=False)
                        self._pool = self._thread = None
                        self._policies.clear()
                        return
                    wake = None
                    if self._heap and self._inflight < self._limit.value:
                        wake = max(0.0, self._heap[0][0] - now)
                    if not self._ended and not self._waiter.pending():
                        self._cond.wait(wake)
                    continue
            for w, value in ends:
                _settle(w, value)


def _nothing() -> None:
    pass


class _Failed:
    """The error that ended polling a job (rather than the job's own failure)."""

    def __init__(self, error: object) -> None:
        self.error = error if isinstance(error, BaseException) else RuntimeError(str(error))


def _settle(w: _Watch, value: object) -> None:
    """Resolve a watch's futures and call its callbacks (on the scheduler's thread)."""
    error: BaseException | None = None
    if isinstance(value, _Failed):
        error = value.error
        for h in w.handles:
            h.error = error
    elif isinstance(value, BaseException):
        error = value
    for h in w.handles:
        if h is not w.job:
            h.info = w.job.info
            h.kind = h.kind or w.job.kind
        if error is None or isinstance(error, errors.JobFailedError):
            h.error = None
    for fut in w.futures:
        if fut.set_running_or_notify_cancel():
            if error is not None:
                fut.set_exception(error)
            else:
                assert isinstance(value, Result)
                fut.set_result(value)
    for handle, fn in w.callbacks:
        _call(fn, handle)


def _call(fn: Callable[[Job], object], job: Job) -> None:
    try:
        fn(job)
    except Exception:
        _log.exception("a done callback of job %s at %s raised", job.id, job.provider)


_BACKGROUND = _Background()


def release(client: object) -> None:
    """Stop watching the jobs of ``client`` (it is closing); see :meth:`_Background.release`."""
    _BACKGROUND.release(client)


def watch(
    job: Job, *, future: bool = False, callback: Callable[[Job], object] | None = None
) -> cf.Future[Result]:
    """Watch ``job`` in the shared background scheduler: the future of its result (cancelled at
    once unless ``future``), and ``callback(job)`` once when it ends. See :meth:`Job.future`."""
    return _BACKGROUND.watch(job, future=future, callback=callback)
