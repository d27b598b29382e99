"""Waiting for jobs: one job in the caller's thread, many jobs with one scheduler and a bounded pool.

Polls follow each provider's :class:`~asyncjobs.provider.PollPolicy` (exponential, capped, never later
than a fraction of the job's age, jitter between half and all of the bound, a minimum interval); a
``retry_after`` hint in ``JobInfo.meta`` wins. A job is never polled twice at
once: the scheduler keeps one poll per job in flight, and ``Client.status`` shares concurrent polls.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from . import _wake, errors
from ._checks import timeout as check_timeout
from ._deferred import deferred_writes, write_seen
from ._job import MAX_POLL_ERRORS, Job, _delay, _first_poll, _refresh, wait_one
from ._models import JobInfo, Status
from ._progress import Progress, make_progress
from ._redaction import get_logger

__all__ = ["as_completed", "wait", "wait_one"]

#: Largest worker pool a scheduler uses, whatever is asked.
MAX_WORKERS = 16
ReturnWhen = Literal["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_FAILED"]

_log = get_logger("asyncjobs.waiting")


def _jobs(jobs: Iterable[Job]) -> list[Job]:
    if isinstance(jobs, Job) or not isinstance(jobs, Iterable):
        raise errors.InvalidParameterError(
            f"expected an iterable of asyncjobs.Job handles, not {type(jobs).__name__}; for one "
            "job, call job.wait()",
            parameter="jobs",
        )
    return list(jobs)


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
    since = time.time()  # every job is at least as old as this wait
    for j in pending:
        if j.info is not None and j.info.finished:
            reporter.advance()
            yield j
        else:
            heapq.heappush(heap, (now + _first_poll(j), next(counter), j))
    if not heap:
        reporter.close()
        return
    pool = cf.ThreadPoolExecutor(
        max_workers=min(max_workers, MAX_WORKERS, len(heap)), thread_name_prefix="asyncjobs-poll"
    )
    inflight: dict[cf.Future[tuple[JobInfo, list[Any]]], Job] = {}
    by_key = {(j.provider, j.id): j for _, _, j in heap}
    told: dict[Job, JobInfo] = {}  # news of an end that came while the job's poll was in flight
    listen = _wake.listening([j for _, _, j in heap])
    waiter = listen.__enter__()
    alarm = waiter.alarm()
    try:
        while heap or inflight:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                yield None
                return
            while heap and heap[0][0] <= now and len(inflight) < pool._max_workers:
                _, _, j = heapq.heappop(heap)
                inflight[pool.submit(_poll, j, deadline)] = j
            wake = heap[0][0] - now if heap and len(inflight) < pool._max_workers else None
            if deadline is not None:
                wake = min(wake, deadline - now) if wake is not None else deadline - now
            waits: list[cf.Future[Any]] = [*inflight, alarm]
            finished, _ = cf.wait(waits, timeout=wake, return_when=cf.FIRST_COMPLETED)
            looks: list[Any] = []  # this pass's statuses: one ledger transaction for all
            ready: list[Job] = []
            if alarm in finished:  # news of ends: those jobs are polled no more
                finished.discard(alarm)
                alarm = waiter.alarm()
                ended = set()
                for key, news in waiter.take().items():
                    j = by_key[key]
                    if j in inflight.values():
                        told[j] = news
                        continue
                    if j.info is not None and j.info.finished:
                        continue
                    j.info = news
                    j.error = None
                    failures.pop(j, None)
                    reporter.seen(news)
                    ended.add(j)
                    ready.append(j)
                if ended:
                    heap[:] = [entry for entry in heap if entry[2] not in ended]
                    heapq.heapify(heap)
            for fut in finished:
                j = inflight.pop(fut)
                attempt = attempts.get(j, 0)
                attempts[j] = attempt + 1
                try:
                    info, seen = fut.result()
                except errors.JobTimeoutError:
                    # the wait's own deadline passed mid-poll: back on the heap, the loop ends it
                    heapq.heappush(heap, (time.monotonic(), next(counter), j))
                    continue
                except (errors.TransportError, errors.RateLimitedError) as exc:
                    failures[j] = failures.get(j, 0) + 1
                    if failures[j] < MAX_POLL_ERRORS:
                        retry = getattr(exc, "retry_after", None)
                        when = time.monotonic() + _delay(j, attempt, j.info, retry, since)
                        heapq.heappush(heap, (when, next(counter), j))
                        continue
                    j.error = exc
                    ready.append(j)
                    continue
                except errors.AsyncJobsError as exc:
                    j.error = exc
                    ready.append(j)
                    continue
                looks.extend(seen)
                failures.pop(j, None)
                late = told.pop(j, None)
                if late is not None and not info.finished:
                    info = j.info = late  # the end came while this poll was in flight
                reporter.seen(info)
                if info.finished:
                    j.error = None
                    ready.append(j)
                else:
                    when = time.monotonic() + _delay(j, attempt, info, since=since)
                    heapq.heappush(heap, (when, next(counter), j))
            if looks:
                write_seen(looks)  # recorded before any of these jobs is handed back
            for j in ready:
                reporter.advance()
                yield j
    finally:
        listen.__exit__(None, None, None)
        alarm.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        reporter.close()


def _poll(job: Job, deadline: float | None) -> tuple[JobInfo, list[Any]]:
    """One look at ``job`` in a worker thread; the statuses its client would write to the
    ledger are handed back with it, for the scheduler to write in one transaction per pass."""
    bucket: list[Any] = []
    with deferred_writes(bucket):
        info = _refresh(job, deadline)
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
        if ends_wait(job, return_when):
            break
    return done, {j for j in jobs if j not in done}


def ends_wait(job: Any, return_when: ReturnWhen) -> bool:
    """Whether ``job`` having finished ends a wait asked to return ``return_when`` (a sync or an
    async handle: both have ``error`` and ``info``)."""
    if return_when == "FIRST_COMPLETED":
        return True
    failed = job.error is not None or (job.info is not None and job.info.status is Status.FAILED)
    return return_when == "FIRST_FAILED" and failed
