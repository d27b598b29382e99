"""Workers: processes that poll every pending job of a shared ledger, so that submitters can exit and
waiters need not poll.

A worker claims pending jobs that nobody polls (their leases, ``FOR UPDATE SKIP LOCKED``), polls
each by its provider's poll policy on a bounded pool, and records what it sees; the ledger ends a
job's lease when the job is seen finished and tells the waiters (``NOTIFY``). Its leases are kept
alive while it runs; killed, it leaves them to run out, and other workers take the jobs over. Asked
to stop, it finishes its polls in flight, gives its leases up and returns.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from . import errors
from ._client import Client, connect
from ._job import Job, _delay
from ._ledger import Ledger
from ._models import JobInfo, Status
from ._redaction import get_logger
from ._registry import available_providers

__all__ = ["Worker", "WorkerStats"]

log = get_logger("asyncjobs.worker")

#: Seconds a worker's oldest due poll may be late before it stops claiming more jobs.
LATE = 0.25

#: A job the provider answers "not found" this many times in a row is recorded failed.
NOT_FOUND_STRIKES = 3


@attrs.define
class WorkerStats:
    """What a worker did: jobs claimed, polls made, jobs seen finished, poll errors."""

    claimed: int = 0
    polls: int = 0
    finished: int = 0
    errors: int = 0
    #: SQL statements the worker's ledger ran (claims, lease upkeep, reads and writes of statuses)
    statements: int = 0


@attrs.define(eq=False)
class _Owned:
    job: Job
    attempt: int = 0
    failures: int = 0
    not_found: int = 0
    since: float = attrs.field(factory=time.time)


class Worker:
    """Polls the pending jobs of a shared ledger until stopped.

    Args:
        ledger: a shared (PostgreSQL) ledger.
        providers: the providers whose jobs it polls (every installed provider when empty); each
            is connected with settings from the environment.
        concurrency: polls in flight at most.
        max_jobs: jobs it holds leases of at most (it claims more as jobs finish).
        connect_client: how a provider's client is made (tests pass sandbox settings).

    Raises:
        ConfigurationError: the ledger is not shared.
    """

    def __init__(
        self,
        ledger: Ledger,
        providers: Iterable[str] = (),
        *,
        concurrency: int = 8,
        max_jobs: int = 2000,
        connect_client: Callable[[str, Ledger], Client] | None = None,
    ) -> None:
        if not ledger.shared:
            ledger.claim([], 0)  # raises the ConfigurationError that says what to do
        if not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
            raise errors.InvalidParameterError(
                f"concurrency must be an int from 1 to 64, not {concurrency!r}",
                parameter="concurrency",
            )
        self.ledger = ledger
        self.providers = list(providers) or available_providers()
        self.concurrency = concurrency
        self.max_jobs = max_jobs
        self.stats = WorkerStats()
        self._connect = connect_client or (lambda name, book: connect(name, ledger=book))
        self._clients: dict[str, Client] = {}
        self._owned: dict[tuple[str, str], _Owned] = {}
        self._heap: list[tuple[float, int, tuple[str, str]]] = []
        self._counter = itertools.count()
        self._wake = threading.Event()

    @property
    def name(self) -> str:
        """The worker's name as a lease holder (``host:pid:tag``), as ``asyncjobs list`` shows it."""
        return self.ledger.holder

    def _client(self, provider: str) -> Client:
        client = self._clients.get(provider)
        if client is None:
            client = self._clients[provider] = self._connect(provider, self.ledger)
        return client

    def run(self, stop: threading.Event, *, idle: float = 0.5) -> WorkerStats:
        """Poll until ``stop`` is set; then finish the polls in flight, give up every lease and
        return what was done. ``idle``: seconds between looks for new jobs when there is nothing
        to do (a notification of a new job's status cuts it short)."""
        self.ledger.subscribe(self._on_change)
        pool = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="asyncjobs-worker")
        inflight: dict[cf.Future[JobInfo], tuple[str, str]] = {}
        next_claim = next_touch = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                # a worker behind with its own polls claims no more: they are left to the others
                behind = bool(self._heap) and self._heap[0][0] < now - LATE
                if now >= next_claim and len(self._owned) < self.max_jobs and not behind:
                    got = self._claim(min(self.max_jobs - len(self._owned), 4 * self.concurrency))
                    next_claim = now if got else now + idle
                while self._heap and self._heap[0][0] <= now and len(inflight) < self.concurrency:
                    _, _, key = heapq.heappop(self._heap)
                    owned = self._owned.get(key)
                    if owned is None:
                        continue
                    if not self.ledger.touch(*key):  # its lease ran out and was taken over
                        del self._owned[key]
                        continue
                    inflight[pool.submit(owned.job.refresh)] = key
                if now >= next_touch:  # every job held is still polled, though not due yet
                    next_touch = now + self.ledger.lease_seconds / 4
                    for key in self._owned:
                        self.ledger.touch(*key, confirm=False)  # a mark for the keeper, no SQL
                wake = min(idle, max(0.0, next_claim - time.monotonic()))
                if self._heap and len(inflight) < self.concurrency:
                    wake = min(wake, max(0.0, self._heap[0][0] - time.monotonic()))
                elif len(inflight) >= self.concurrency:
                    wake = idle  # a full pool: wait for a poll to end, not for the next due job
                if inflight:
                    finished, _ = cf.wait(inflight, timeout=wake, return_when=cf.FIRST_COMPLETED)
                    for fut in finished:
                        self._done(inflight.pop(fut), fut)
                else:
                    self._wake.wait(wake)
                    self._wake.clear()
            for fut in cf.as_completed(list(inflight)):  # stopping: the polls in flight end
                self._done(inflight.pop(fut), fut)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.ledger.unsubscribe(self._on_change)
            for key in list(self._owned):
                self.ledger.release(*key)
            self._owned.clear()
            for client in self._clients.values():
                client.close()
            self.stats.statements = self.ledger.statements
        return self.stats

    def _on_change(self, provider: str, job_id: str) -> None:
        if (provider, job_id) not in self._owned:
            self._wake.set()  # maybe a new job to claim

    def _claim(self, limit: int) -> int:
        try:
            infos = self.ledger.claim(self.providers, limit)
        except errors.LedgerError as exc:
            log.warning("worker %s: could not claim jobs: %s", self.name, exc)
            return 0
        now = time.monotonic()
        for info in infos:
            key = (info.provider, info.id)
            try:
                client = self._client(info.provider)
            except errors.AsyncJobsError as exc:
                log.warning("worker %s: cannot poll %s jobs: %s", self.name, info.provider, exc)
                self.ledger.release(*key)
                continue
            job = Job(client, info.id, kind=info.kind, info=info)
            self._owned[key] = _Owned(job)
            heapq.heappush(self._heap, (now, next(self._counter), key))
        self.stats.claimed += len(infos)
        return len(infos)

    def _done(self, key: tuple[str, str], fut: cf.Future[JobInfo]) -> None:
        owned = self._owned.get(key)
        if owned is None:
            return
        self.stats.polls += 1
        try:
            info = fut.result()
        except errors.JobNotFoundError as exc:
            owned.not_found += 1
            if owned.not_found >= NOT_FOUND_STRIKES:
                self._give_up(key, owned, exc)
                return
            self._again(key, owned, None)
            return
        except (errors.TransportError, errors.RateLimitedError) as exc:
            self.stats.errors += 1
            owned.failures += 1
            self._again(key, owned, getattr(exc, "retry_after", None))
            return
        except errors.AsyncJobsError as exc:
            self.stats.errors += 1
            log.warning("worker %s: %s job %s: %s", self.name, key[0], key[1], exc)
            del self._owned[key]
            self.ledger.release(*key)
            return
        owned.failures = owned.not_found = 0
        if info.finished:
            self.stats.finished += 1
            del self._owned[key]
            return
        if key[1] in owned.job.client._elsewhere:  # another poller holds it now
            del self._owned[key]
            return
        self._again(key, owned, None)

    def _again(self, key: tuple[str, str], owned: _Owned, hint: Any) -> None:
        delay = _delay(owned.job, owned.attempt, owned.job.info, hint, owned.since)
        owned.attempt += 1
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._counter), key))

    def _give_up(self, key: tuple[str, str], owned: _Owned, exc: errors.JobNotFoundError) -> None:
        """A job its provider no longer knows is recorded failed, so that no worker polls it again."""
        self.stats.errors += 1
        del self._owned[key]
        info = owned.job.info
        gone = JobInfo(
            provider=key[0],
            id=key[1],
            kind=owned.job.kind or (info.kind if info else "?"),
            status=Status.FAILED,
            raw_status="not-found",
            submitted_at=info.submitted_at if info else None,
            error=f"{key[0]} no longer knows this job: {exc.message}",
        )
        try:
            self.ledger.seen(gone)
        except errors.LedgerError as error:
            log.warning("worker %s: could not record %s as gone: %s", self.name, key[1], error)
