"""Waiting for jobs: one job in the caller's thread, many jobs with one scheduler and a bounded pool.

Polls follow each provider's :class:`~asyncjobs.provider.PollPolicy` (exponential, full jitter, capped,
a minimum interval); a ``retry_after`` hint in ``JobInfo.meta`` wins. A job is never polled twice at
once: the scheduler keeps one poll per job in flight, and ``Client.status`` shares concurrent polls.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from . import errors
from .client import check_timeout
from .handles import Job
from .models import JobInfo, Result, Status
from .progress import Progress, make_progress
from .redaction import get_logger
from .transport import deadline as deadline_scope

__all__ = ["as_completed", "wait", "wait_one"]

#: Largest worker pool a scheduler uses, whatever is asked.
MAX_WORKERS = 16
#: Transient poll errors in a row after which a job's wait ends with the error.
MAX_POLL_ERRORS = 5

ReturnWhen = Literal["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_FAILED"]

_rng = random.Random()
_log = get_logger("asyncjobs.waiting")


def _jobs(jobs: Iterable[Job]) -> list[Job]:
    if isinstance(jobs, Job) or not isinstance(jobs, Iterable):
        raise errors.InvalidParameterError(
            f"expected an iterable of asyncjobs.Job handles, not {type(jobs).__name__}; for one "
            "job, call job.wait()",
            parameter="jobs",
        )
    return list(jobs)


def _delay(job: Job, attempt: int, info: JobInfo | None, hint: object = None) -> float:
    """The pause before the next poll: the service's hint (a ``retry_after`` in the JobInfo's meta,
    or in the error) clamped to the policy's cap, else the policy's own delay."""
    policy = job.client.poll_policy
    if hint is None and info is not None:
        hint = info.meta.get("retry_after")
    if (
        isinstance(hint, (int, float))
        and not isinstance(hint, bool)
        and hint >= 0
        and hint == hint  # not NaN
    ):
        return max(min(float(hint), policy.cap), policy.min_interval)
    return policy.delay(attempt, _rng)


def _timed_out(job: Job, limit: float | None, info: JobInfo | None) -> errors.JobTimeoutError:
    state = "not seen yet" if info is None else f"still {info.status.value} ({info.raw_status})"
    return errors.JobTimeoutError(
        f"job {job.id!r} at {job.provider} was {state} after {limit:g}s. It goes on at the "
        "provider: wait again, or pick it up later with client.job(job_id).",
        provider=job.provider,
        job_id=job.id,
        info=info,
    )


def _refresh(job: Job, end: float | None) -> JobInfo:
    """One look at ``job``, every request of it bounded by the monotonic deadline ``end``."""
    with deadline_scope(end):
        return job.refresh()


def wait_one(job: Job, *, timeout: float | None = None, progress: Progress = None) -> JobInfo:
    """Poll ``job`` until it finishes; see :meth:`Job.wait`."""
    limit = check_timeout(timeout)
    deadline = None if limit is None else time.monotonic() + limit
    reporter = make_progress(progress, total=None, desc=f"{job.provider}:{job.id}")
    attempt = 0
    failures = 0
    try:
        while True:
            try:
                info = _refresh(job, deadline)
            except errors.JobTimeoutError as exc:
                raise _timed_out(job, limit, job.info) from exc
            except (errors.TransportError, errors.RateLimitedError) as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise _timed_out(job, limit, job.info) from exc
                failures += 1  # transient: try again after a delay, as the many-job wait does
                if failures >= MAX_POLL_ERRORS:
                    raise
                delay = _delay(job, attempt, job.info, getattr(exc, "retry_after", None))
                attempt += 1
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                time.sleep(delay)
                continue
            failures = 0
            reporter.seen(info)
            if info.finished:
                return info
            delay = _delay(job, attempt, info)
            attempt += 1
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(job, limit, info)
                delay = min(delay, remaining)
            time.sleep(delay)
    finally:
        reporter.close()


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
    pending = list(dict.fromkeys(_jobs(jobs)))
    for j in pending:
        if not isinstance(j, Job):
            raise errors.InvalidParameterError(
                f"expected asyncjobs.Job handles, got {type(j).__name__}", parameter="jobs"
            )
    deadline = None if limit is None else time.monotonic() + limit
    reporter = make_progress(progress, total=len(pending), desc="jobs")
    counter = itertools.count()
    heap: list[tuple[float, int, Job]] = []
    attempts: dict[Job, int] = {}
    failures: dict[Job, int] = {}
    now = time.monotonic()
    for j in pending:
        if j.info is not None and j.info.finished:
            reporter.advance()
            yield j
        else:
            heapq.heappush(heap, (now, next(counter), j))
    if not heap:
        reporter.close()
        return
    pool = cf.ThreadPoolExecutor(
        max_workers=min(max_workers, MAX_WORKERS, len(heap)), thread_name_prefix="asyncjobs-poll"
    )
    inflight: dict[cf.Future[JobInfo], Job] = {}
    try:
        while heap or inflight:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                yield None
                return
            while heap and heap[0][0] <= now and len(inflight) < pool._max_workers:
                _, _, j = heapq.heappop(heap)
                inflight[pool.submit(_refresh, j, deadline)] = j
            wake = heap[0][0] - now if heap and len(inflight) < pool._max_workers else None
            if deadline is not None:
                wake = min(wake, deadline - now) if wake is not None else deadline - now
            if not inflight:
                time.sleep(max(0.0, wake or 0.0))
                continue
            finished, _ = cf.wait(inflight, timeout=wake, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                j = inflight.pop(fut)
                attempt = attempts.get(j, 0)
                attempts[j] = attempt + 1
                try:
                    info = fut.result()
                except errors.JobTimeoutError:
                    # the wait's own deadline passed mid-poll: back on the heap, the loop ends it
                    heapq.heappush(heap, (time.monotonic(), next(counter), j))
                    continue
                except (errors.TransportError, errors.RateLimitedError) as exc:
                    failures[j] = failures.get(j, 0) + 1
                    if failures[j] < MAX_POLL_ERRORS:
                        retry = getattr(exc, "retry_after", None)
                        when = time.monotonic() + _delay(j, attempt, j.info, retry)
                        heapq.heappush(heap, (when, next(counter), j))
                        continue
                    j.error = exc
                    reporter.advance()
                    yield j
                    continue
                except errors.AsyncJobsError as exc:
                    j.error = exc
                    reporter.advance()
                    yield j
                    continue
                failures.pop(j, None)
                reporter.seen(info)
                if info.finished:
                    j.error = None
                    reporter.advance()
                    yield j
                else:
                    when = time.monotonic() + _delay(j, attempt, info)
                    heapq.heappush(heap, (when, next(counter), j))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        reporter.close()


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
            left = sum(1 for j in jobs if not (j.info and j.info.finished) and j.error is None)
            raise errors.JobTimeoutError(
                f"{left} of {len(jobs)} jobs had not finished after {timeout:g}s; they go on at "
                "their providers. Wait again, or pick them up later with client.job(job_id)."
            )
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
    if return_when not in ("ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_FAILED"):
        raise errors.InvalidParameterError(
            f"return_when must be 'ALL_COMPLETED', 'FIRST_COMPLETED' or 'FIRST_FAILED', not "
            f"{return_when!r}",
            parameter="return_when",
        )
    jobs = list(dict.fromkeys(_jobs(jobs)))
    done: set[Job] = set()
    for job in _scheduled(jobs, timeout, max_workers, progress):
        if job is None:
            break
        done.add(job)
        if return_when == "FIRST_COMPLETED":
            break
        failed = job.error is not None or (
            job.info is not None and job.info.status is Status.FAILED
        )
        if return_when == "FIRST_FAILED" and failed:
            break
    return done, {j for j in jobs if j not in done}


# -- the shared background scheduler: Job.future() and Job.add_done_callback() --------------------


class _Watch:
    """What waits on one job in the background scheduler: its handles, futures and callbacks."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.handles: list[Job] = [job]
        self.futures: list[cf.Future[Result]] = []
        self.callbacks: list[tuple[Job, Callable[[Job], object]]] = []
        self.attempt = 0
        self.failures = 0

    def wanted(self) -> bool:
        return bool(self.callbacks) or any(not f.done() for f in self.futures)

    def wants_result(self) -> bool:
        return any(not f.done() for f in self.futures)


class _Background:
    """One scheduler thread and a pool of at most :data:`MAX_WORKERS` for every watched job of the
    process (not a thread per job). The thread starts with the first job watched and ends, with its
    pool, when no job is left."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Job]] = []
        self._watches: dict[Job, _Watch] = {}
        self._ended: list[tuple[_Watch, str, object]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._pool: cf.ThreadPoolExecutor | None = None
        self._inflight = 0

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
                heapq.heappush(self._heap, (time.monotonic(), next(self._counter), job))
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

    @staticmethod
    def _step(w: _Watch) -> tuple[str, object]:
        """One poll of the job on a worker thread (and its result when it is done and wanted)."""
        try:
            info = w.job.refresh()
        except (errors.TransportError, errors.RateLimitedError) as exc:
            return "retry", exc
        except Exception as exc:
            return "error", exc
        if not info.finished:
            return "pending", info
        if info.status is Status.FAILED:
            return "end", errors.JobFailedError(info)
        if not w.wants_result():
            return "end", None
        try:
            return "end", w.job.client.fetch_result(w.job.id)
        except Exception as exc:
            return "end", exc

    def _done(self, w: _Watch, fut: cf.Future[tuple[str, object]]) -> None:
        outcome = (
            fut.result() if not fut.cancelled() else ("error", errors.AsyncJobsError("cancelled"))
        )
        with self._cond:
            self._inflight -= 1
            self._ended.append((w, *outcome))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            ends: list[tuple[_Watch, object]] = []
            with self._cond:
                for w, kind, value in self._ended:
                    if kind == "pending":
                        assert isinstance(value, JobInfo)
                        when = time.monotonic() + _delay(w.job, w.attempt, value)
                    elif kind == "retry":
                        w.failures += 1
                        if w.failures >= MAX_POLL_ERRORS:
                            kind = "error"
                        hint = getattr(value, "retry_after", None)
                        when = time.monotonic() + _delay(w.job, w.attempt, w.job.info, hint)
                    if kind in ("pending", "retry"):
                        w.attempt += 1
                        heapq.heappush(self._heap, (when, next(self._counter), w.job))
                        continue
                    if kind == "end" and value is None and w.wants_result():
                        heapq.heappush(self._heap, (time.monotonic(), next(self._counter), w.job))
                        continue  # a future came while it ended: fetch the result
                    del self._watches[w.job]
                    ends.append((w, value if kind == "end" else _Failed(value)))
                self._ended.clear()
                if not ends:
                    now = time.monotonic()
                    while self._heap and self._heap[0][0] <= now and self._inflight < MAX_WORKERS:
                        _, _, job = heapq.heappop(self._heap)
                        w = self._watches[job]
                        if not w.wanted():
                            del self._watches[job]  # every future was cancelled
                            continue
                        self._inflight += 1
                        assert self._pool is not None
                        step = self._pool.submit(self._step, w)
                        step.add_done_callback(functools.partial(self._done, w))
                    if not self._watches and not self._inflight:
                        assert self._pool is not None
                        self._pool.shutdown(wait=False)
                        self._pool = self._thread = None
                        return
                    wake = None
                    if self._heap and self._inflight < MAX_WORKERS:
                        wake = max(0.0, self._heap[0][0] - now)
                    if not self._ended:
                        self._cond.wait(wake)
                    continue
            for w, value in ends:
                _settle(w, value)


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


def watch(
    job: Job, *, future: bool = False, callback: Callable[[Job], object] | None = None
) -> cf.Future[Result]:
    """Watch ``job`` in the shared background scheduler: the future of its result (cancelled at
    once unless ``future``), and ``callback(job)`` once when it ends. See :meth:`Job.future`."""
    return _BACKGROUND.watch(job, future=future, callback=callback)
