"""What this process did to each job and has not yet recorded: polls sent and requests retried.

The counts ride on the ledger's writes of a job's looks (a status that changed, the job's end), so
that counting a poll costs no statement of its own: a look that changes nothing is never written,
and its count waits here for the next one that does. A process that ends, or a job handed to
another poller, takes the counts not yet written with it: the ledger's counts are a floor.
"""

from __future__ import annotations

import threading

__all__ = ["MAX_JOBS", "giveback", "polled", "retried", "take"]

#: Jobs whose counts are kept at most (the oldest are dropped beyond: a floor, never a leak).
MAX_JOBS = 100_000

_lock = threading.Lock()
_counts: dict[tuple[str, str], list[int]] = {}


def _add(provider: str, job_id: str, polls: int, retries: int) -> None:
    key = (provider, job_id)
    with _lock:
        found = _counts.get(key)
        if found is None:
            if len(_counts) >= MAX_JOBS:
                del _counts[next(iter(_counts))]
            found = _counts[key] = [0, 0]
        found[0] += polls
        found[1] += retries


def polled(provider: str, job_id: str) -> None:
    """A status request of the job was sent (its answer, or its error, came back)."""
    _add(provider, job_id, 1, 0)


def retried(provider: str, job_id: str) -> None:
    """A request about the job was sent again after a failure."""
    _add(provider, job_id, 0, 1)


def take(provider: str, job_id: str) -> tuple[int, int]:
    """The job's polls and retries not yet written, now handed to a write (see :func:`giveback`)."""
    with _lock:
        found = _counts.pop((provider, job_id), None)
    return (0, 0) if found is None else (found[0], found[1])


def giveback(provider: str, job_id: str, polls: int, retries: int) -> None:
    """Counts :func:`take` gave to a write that wrote nothing: kept for the next one."""
    if polls or retries:
        _add(provider, job_id, polls, retries)
