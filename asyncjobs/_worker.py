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

import attrs

from . import errors
from ._client import Client, connect
from ._http import abandoned_when
from ._job import Job, tracker
from ._ledger import Ledger
from ._limit import Limit, adaptive
from ._models import JobInfo, Status
from ._poll import FLEET, Action, Outcome, Poll, classify
from ._redaction import get_logger
from ._registry import available_providers

__all__ = ["Worker", "WorkerStats"]

log = get_logger("asyncjobs.worker")

#: A poll's time, the polls out with it, and when it ended (for the limit of polls in flight).
_Timing = tuple[float, int, float]

#: Seconds a worker's oldest due poll may be late before it stops claiming more jobs.
LATE = 0.25
#: Seconds ahead a worker plans: it claims no more jobs than it can poll in this long, counting
#: those it holds that are due by then (so that a fleet's jobs spread over its workers, rather
#: than going to whichever claimed first).
HORIZON = 2.0
#: Weight of a new poll's time in the running mean a worker plans with.
_SMOOTHING = 0.1


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
    """A job this worker holds the lease of, and its state in the poll core."""

    job: Job
    poll: Poll


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
        self._limit = Limit(concurrency, adaptive=False)
        self._claim_failures = 0  # claims that failed in a row (the ledger unreachable, read-only)
        self._said: set[tuple[str, str]] = set()  # (provider, message) warnings already logged
        self._poll_seconds: float | None = None  # the running mean of a poll's time

    @property
    def name(self) -> str:
        """The worker's name as a lease holder (``host:pid:tag``), as ``asyncjobs list`` shows it."""
        return self.ledger.holder

    def _client(self, provider: str) -> Client:
        client = self._clients.get(provider)
        if client is None:
            client = self._clients[provider] = self._connect(provider, self.ledger)
            # polls in flight adapt to what the service answers only while it is one service
            policies = [c.poll_policy for c in self._clients.values()]
            self._limit = Limit(self.concurrency, adaptive=adaptive(policies))
        return client

    @staticmethod
    def _look(job: Job, inflight: int, stop: threading.Event) -> tuple[JobInfo, _Timing]:
        """One poll on a pool thread, with its time for the limit; once the worker is asked to
        stop, a poll in flight makes no new attempt."""
        started = time.monotonic()
        with abandoned_when(stop):
            info = job.refresh()
        ended = time.monotonic()
        return info, (ended - started, inflight, ended)

    def run(self, stop: threading.Event, *, idle: float = 0.5) -> WorkerStats:
        """Poll until ``stop`` is set; then finish the polls in flight, give up every lease and
        return what was done. ``idle``: seconds between looks for new jobs when there is nothing
        to do (a notification of a new job's status cuts it short)."""
        self.ledger.subscribe(self._on_change)
        pool = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="asyncjobs-worker")
        inflight: dict[cf.Future[tuple[JobInfo, _Timing]], tuple[str, str]] = {}
        next_claim = next_touch = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                # a worker behind with its own polls claims no more: they are left to the others
                behind = bool(self._heap) and self._heap[0][0] < now - LATE
                if now >= next_claim and len(self._owned) < self.max_jobs and not behind:
                    room = min(
                        self.max_jobs - len(self._owned),
                        4 * self.concurrency,
                        self._room(now, len(inflight)),
                    )
                    if room <= 0:  # as many due soon as it can poll: others take the rest
                        next_claim = now + LATE
                    else:
                        got = self._claim(room)
                        next_claim = now + (
                            self._claim_delay(idle) if got is None else 0 if got else idle
                        )
                while self._heap and self._heap[0][0] <= now and len(inflight) < self._limit.value:
                    _, _, key = heapq.heappop(self._heap)
                    owned = self._owned.get(key)
                    if owned is None:
                        continue
                    if not self.ledger.touch(*key):  # its lease ran out and was taken over
                        self._owned.pop(key).poll.close("handed-over")
                        continue
                    look = pool.submit(self._look, owned.job, len(inflight) + 1, stop)
                    inflight[look] = key
                if now >= next_touch:  # every job held is still polled, though not due yet
                    next_touch = now + self.ledger.lease_seconds / 4
                    for key in self._owned:
                        self.ledger.touch(*key, confirm=False)  # a mark for the keeper, no SQL
                wake = min(idle, max(0.0, next_claim - time.monotonic()))
                if self._heap and len(inflight) < self._limit.value:
                    wake = min(wake, max(0.0, self._heap[0][0] - time.monotonic()))
                elif len(inflight) >= self._limit.value:
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
            for key, owned in list(self._owned.items()):
                owned.poll.close("released")
                self.ledger.release(*key)
            self._owned.clear()
            for client in self._clients.values():
                client.close()
            self.stats.statements = self.ledger.statements
        return self.stats

    def _on_change(self, provider: str, job_id: str) -> None:
        if (provider, job_id) not in self._owned:
            self._wake.set()  # maybe a new job to claim

    def _room(self, now: float, inflight: int) -> int:
        """How many more jobs the worker can poll within :data:`HORIZON` seconds: the polls its
        limit makes in that time at the mean poll time seen (a batch of claims until one is
        seen), less the jobs in flight and those it holds that are due by then."""
        if self._poll_seconds is None:
            can = 4 * self.concurrency
        else:
            can = int(self._limit.value * HORIZON / max(self._poll_seconds, 1e-3))
        return can - inflight - _due_before(self._heap, now + HORIZON, can)

    def _claim_delay(self, idle: float) -> float:
        """Seconds until the next claim after ``_claim_failures`` failed ones in a row: doubling
        from ``idle``, at most a lease's length."""
        backoff = idle * float(2 ** min(self._claim_failures, 16))
        return min(backoff, max(idle, self.ledger.lease_seconds))

    def _claim(self, limit: int) -> int | None:
        """Claim up to ``limit`` jobs; how many, or ``None`` when the ledger failed (unreachable,
        or read-only for a while: the worker keeps going, and claims again after a back-off)."""
        try:
            infos = self.ledger.claim(self.providers, limit)
        except errors.LedgerError as exc:
            self._claim_failures += 1
            log.warning(
                "worker %s: could not claim jobs (%d failed in a row; trying again later): %s",
                self.name,
                self._claim_failures,
                exc,
            )
            return None
        self._claim_failures = 0
        now, wall = time.monotonic(), time.time()
        for info in infos:
            key = (info.provider, info.id)
            try:
                client = self._client(info.provider)
            except errors.AsyncJobsError as exc:
                # said once per provider and cause: the next claims would only say it again
                said = (info.provider, str(exc))
                if said not in self._said:
                    self._said.add(said)
                    log.warning(
                        "worker %s: cannot poll %s jobs (left to other workers): %s",
                        self.name,
                        info.provider,
                        exc,
                    )
                self.ledger.release(*key)
                continue
            job = Job(client, info.id, kind=info.kind, info=info)
            poll = tracker(job, rules=FLEET, since=wall)
            self._owned[key] = _Owned(job, poll)
            heapq.heappush(self._heap, (poll.first(now, wall), next(self._counter), key))
        self.stats.claimed += len(infos)
        return len(infos)

    def _done(self, key: tuple[str, str], fut: cf.Future[tuple[JobInfo, _Timing]]) -> None:
        owned = self._owned.get(key)
        if owned is None:
            return
        self.stats.polls += 1
        result: JobInfo | BaseException
        try:
            result, timing = fut.result()
        except Exception as exc:  # every outcome is the poll core's to judge
            result = exc
            self.stats.errors += classify(exc) is not Outcome.NOT_FOUND
        else:
            self._limit.sample(*timing)
            seconds = timing[0]
            mean = self._poll_seconds
            self._poll_seconds = seconds if mean is None else mean + _SMOOTHING * (seconds - mean)
        step = owned.poll.step(result, time.monotonic(), time.time())
        if step.action is Action.AGAIN:
            if step.error is not None and classify(step.error) in (Outcome.ERROR, Outcome.CRASH):
                # the fleet keeps the job, polled at its policy's cap, until the error is mended
                log.warning(
                    "worker %s: %s job %s: polling it raised %s; trying again later",
                    self.name,
                    key[0],
                    key[1],
                    type(step.error).__name__,
                    exc_info=step.error,
                )
            elif isinstance(result, JobInfo) and owned.job.client.polled_elsewhere(key[1]):
                del self._owned[key]  # another poller holds it now
                owned.poll.close("handed-over")
                return
            heapq.heappush(self._heap, (step.at, next(self._counter), key))
        elif step.action is Action.ENDED:
            self.stats.finished += 1
            del self._owned[key]
            status = result.status.value if isinstance(result, JobInfo) else "ended"
            log.info(
                "worker %s: %s job %s ended %s",
                self.name,
                key[0],
                key[1],
                status,
                extra={"worker": self.name, "provider": key[0], "job_id": key[1], "status": status},
            )
        elif isinstance(step.error, errors.JobNotFoundError):
            self._give_up(key, owned, step.error)
        else:  # the fleet's rules end no polling otherwise; should one, the job is left to others
            log.warning("worker %s: %s job %s: %s", self.name, key[0], key[1], step.error)
            del self._owned[key]
            self.ledger.release(*key)

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


def _due_before(heap: list[tuple[float, int, tuple[str, str]]], when: float, most: int) -> int:
    """How many of ``heap``'s entries are due before ``when``, counted up to ``most`` (a walk of
    the heap that stops at the first entry due later on each branch: at most ``most`` steps)."""
    count = 0
    stack = [0] if heap else []
    while stack and count < most:
        i = stack.pop()
        if heap[i][0] >= when:
            continue
        count += 1
        stack.extend(c for c in (2 * i + 1, 2 * i + 2) if c < len(heap))
    return count
