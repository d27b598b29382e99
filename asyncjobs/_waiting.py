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
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from . import _wake, errors
from ._checks import timeout as check_timeout
from ._deferred import deferred_writes, write_seen
from ._http import POOL_SIZE, abandoned_when
from ._job import MAX_POLL_ERRORS, Job, _delay, _first_poll, _refresh, wait_one
from ._models import JobInfo, Status
from ._progress import Progress, make_progress
from ._redaction import get_logger

__all__ = ["as_completed", "wait", "wait_one"]

#: Largest worker pool a scheduler uses, whatever is asked: one per connection a client's own
#: session keeps, so that no poll opens a connection only to throw it away.
MAX_WORKERS = POOL_SIZE
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
    board = _Board(deadline)
    now = time.monotonic()
    for j in pending:
        if j.info is not None and j.info.finished:
            reporter.advance()
            yield j
        else:
            board.push(now + _first_poll(j), j)
    if not board.heap:
        reporter.close()
        return
    board.start(min(max_workers, MAX_WORKERS, len(board.heap)))
    # news of an end (a poll anywhere in this process, a webhook's confirming poll, the ledger):
    # those jobs are polled no more
    listen = _wake.listening([j for _, _, j in board.heap])
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


def _answers_at_once(jobs: list[Job]) -> bool:
    """True when every job is one client's and its service answers a poll at once (no hold): the
    time of its polls then tells how loaded it is."""
    clients = {id(j._client) for j in jobs}
    if len(clients) != 1:
        return False
    try:
        return jobs[0].client.poll_policy.hold == 0
    except Exception:  # a client that cannot be built: its polls say why
        return False


#: Polls answered on average in more than this many times the least time a poll took lately mean
#: that the service queues them: more at once would only wait longer (TCP Vegas's reading).
_QUEUEING = 2.0
#: The fewest polls the scheduler keeps in flight when the service queues them.
_FEWEST = 1
#: Polls after which the least time is measured afresh (the service may have become slower).
_BASELINE_SPAN = 5000
#: Polls after which what a limit answered per second is measured afresh (the service may answer
#: more, or fewer, at once now).
_RATE_SPAN = 1000
#: The fewest polls a round of the limit takes (so that its answers per second mean something).
_ROUND = 32
#: One poll more in flight (``n + 1`` instead of ``n``) is worth keeping when it brings at least this
#: share of what it would to a service that answers side by side (``1/n`` more answers per second);
#: else the fewer are kept, since every poll in flight beyond what the service answers costs the
#: client CPU (a thread switch and a turn of the GIL) for little.
_WORTH = 0.25


def _worth(n: int, rate: float, more: float) -> bool:
    """Whether ``n + 1`` polls in flight answering ``more`` per second are worth it over ``n``
    answering ``rate``."""
    return more >= rate * (1 + _WORTH / n)


class _Limit:
    """How many polls of one wait may be in flight: all its workers, or fewer while more would not
    be answered any faster.

    After each round of polls (:meth:`round_size` of them, made with the limit in use) the limit
    moves, a climb towards the fewest polls in flight beyond which one more is not worth it (it
    does not bring :data:`_WORTH` of the answers it would to a service answering side by side):

    * down to as many as the service answers at once (the limit times the least recent poll time
      over this round's mean), when one fewer was not tried yet and the mean was over
      :data:`_QUEUEING` times that least time (the service queues them);
    * down by one, when this limit was seen not to be worth it over one fewer, or (one fewer not
      tried yet) one more over this one;
    * up, when one more was seen to be worth it; or, not tried yet, when the service does not
      queue them;
    * else it stays.

    Never below :data:`_FEWEST` nor above the workers. What a limit answered per second counts for
    :data:`_RATE_SPAN` polls, the least time for :data:`_BASELINE_SPAN`: then they are measured
    again, should the service have changed. Not ``adaptive``: always all the workers."""

    def __init__(self, most: int, *, adaptive: bool) -> None:
        self.most = most
        self.fewest = min(_FEWEST, most)
        self.value = most
        self.adaptive = adaptive
        self._least = math.inf  # the least poll time of this span of polls
        self._before = math.inf  # ... of the span before
        self._count = 0
        self._round: list[float] = []
        self._round_began = 0.0
        # answers per second seen at each limit, and the poll count when last measured
        self._rates: dict[int, tuple[float, int]] = {}

    def round_size(self) -> int:
        """How many polls made at the limit make a round."""
        return max(4 * self.value, _ROUND)

    def sample(self, seconds: float, inflight: int, now: float) -> bool:
        """Take the time of one poll that succeeded with ``inflight`` polls out (itself included),
        ending at the monotonic time ``now``; True when the limit went up."""
        if not self.adaptive:
            return False
        self._count += 1
        if self._count % _BASELINE_SPAN == 0:
            self._before, self._least = self._least, math.inf
        self._least = min(self._least, seconds)
        if inflight < self.value:
            return False  # the limit was not what held polls back: its time says nothing of it
        if not self._round:
            self._round_began = now - seconds
        self._round.append(seconds)
        if len(self._round) < self.round_size():
            return False
        mean = sum(self._round) / len(self._round)
        rate = len(self._round) / max(now - self._round_began, 1e-9)
        self._round.clear()
        seen = self._rate(self.value)
        rate = rate if seen is None else (seen + rate) / 2
        self._rates[self.value] = (rate, self._count)
        base = min(self._least, self._before)
        queueing = mean > _QUEUEING * base
        fewer, more = self._rate(self.value - 1), self._rate(self.value + 1)
        more_is_no_better = more is not None and not _worth(self.value, rate, more)
        # one fewer: if this many were not worth it over it; not tried yet, if this many queue or
        # one more was not worth it
        if fewer is not None:
            down = not _worth(self.value - 1, fewer, rate)
        else:
            down = queueing or more_is_no_better
        if down and self.value > self.fewest:
            if fewer is None and queueing:
                # as many as the service answers at once: this many, times the share of a poll's
                # time it spent answering rather than queued (Little's law)
                at_once = math.ceil(self.value * base / mean)
                self.value = max(self.fewest, min(self.value - 1, at_once))
            else:
                self.value -= 1
            return False
        up = not more_is_no_better if more is not None else not queueing
        if up and self.value < self.most:
            self.value += 1
            return True
        return False

    def _rate(self, value: int) -> float | None:
        """The answers per second seen at the limit ``value`` within the last :data:`_RATE_SPAN`
        polls, if any."""
        seen = self._rates.get(value)
        if seen is None or self._count - seen[1] > _RATE_SPAN:
            return None
        return seen[0]


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
        self.heap: list[tuple[float, int, Job]] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here for a job to be due
        # the earliest time a worker sleeping on _work wakes by itself (inf: none does)
        self._timed_until = math.inf
        self._main = threading.Condition(self._lock)  # the waiting thread waits here
        self._busy = 0
        self._stopped = False
        self._attempts: dict[Job, int] = {}
        self._failures: dict[Job, int] = {}
        self._since = time.time()  # every job is at least as old as this wait
        self._looks: list[Any] = []  # looks of pending jobs, not recorded yet
        # when the oldest look of a pending job not taken by the waiting thread yet was added
        self._looks_since: float | None = None
        self._seen: list[JobInfo] = []
        self._ready: list[Job] = []
        self._ready_looks: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._crash: BaseException | None = None  # raised by a poll, not an error of the job's
        self._inflight: set[Job] = set()
        self._told: dict[Job, JobInfo] = {}  # news of an end that came while the job was polled
        self._gone = threading.Event()  # set when the wait ends: polls in flight retry no more
        self.limit = _Limit(MAX_WORKERS, adaptive=False)

    def news(self, ended: dict[tuple[str, str], JobInfo]) -> None:
        """Jobs reported finished (from any thread): off the heap and handed back, without another
        poll; one being polled takes the news when its poll ends."""
        if not ended:
            return
        with self._lock:
            gone: set[Job] = set()
            for _, _, job in self.heap:
                info = ended.get((job.provider, job.id))
                if info is not None and job not in gone:
                    job.info = info
                    job.error = None
                    self._failures.pop(job, None)
                    self._seen.append(info)
                    self._ready.append(job)
                    gone.add(job)
            for job in self._inflight:
                info = ended.get((job.provider, job.id))
                if info is not None:
                    self._told[job] = info
            if gone:
                self.heap[:] = [entry for entry in self.heap if entry[2] not in gone]
                heapq.heapify(self.heap)
                self._main.notify()

    def push(self, when: float, job: Job) -> None:
        """Put ``job`` on the heap, due at the monotonic time ``when`` (under the lock, or before
        the workers start)."""
        heapq.heappush(self.heap, (when, next(self._counter), job))

    def start(self, workers: int) -> None:
        """Start ``workers`` polling threads, with the limit of polls in flight they keep to."""
        self.limit = _Limit(workers, adaptive=_answers_at_once([j for _, _, j in self.heap]))
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
            try:
                info, seen = _poll(job, self.deadline)
            except BaseException as exc:  # every outcome is the scheduler's to deal with
                self._ended(job, None, [], exc)
            else:
                ended = time.monotonic()
                self._ended(job, info, seen, None, (ended - started, inflight, ended))

    def _ended(
        self,
        job: Job,
        info: JobInfo | None,
        seen: list[Any],
        error: BaseException | None,
        timing: tuple[float, int, float] | None = None,
    ) -> None:
        """A poll of ``job`` ended with ``info`` (and its looks ``seen``) or ``error``; ``timing``:
        how long it took, how many polls were out with it, and when it ended."""
        when: float | None = None
        ready = False
        with self._lock:
            self._busy -= 1
            if timing is not None and self.limit.sample(*timing):
                self._work.notify()  # one more poll may go out
            self._inflight.discard(job)
            told = self._told.pop(job, None)
            if self._stopped:
                return
            if told is not None and (info is None or not info.finished):
                info, error = told, None  # it ended while this poll was in flight
                job.info = told
            attempt = self._attempts.get(job, 0)
            self._attempts[job] = attempt + 1
            if isinstance(error, errors.JobTimeoutError):
                when = time.monotonic()  # the wait's deadline passed mid-poll: the wait ends it
            elif isinstance(error, (errors.TransportError, errors.RateLimitedError)):
                failures = self._failures[job] = self._failures.get(job, 0) + 1
                if failures < MAX_POLL_ERRORS:
                    retry = getattr(error, "retry_after", None)
                    when = time.monotonic() + _delay(job, attempt, job.info, retry, self._since)
                else:
                    job.error = error
                    ready = True
            elif isinstance(error, errors.AsyncJobsError):
                job.error = error
                ready = True
            elif error is not None:  # not an error of the job's: the waiting thread raises it
                self._crash = error
                self._stopped = True
                self._work.notify_all()
                self._main.notify()
                return
            else:
                assert info is not None
                self._failures.pop(job, None)
                self._seen.append(info)
                if info.finished:
                    job.error = None
                    self._ready_looks.extend(seen)
                    ready = True
                else:
                    if self._looks_since is None:
                        self._looks_since = time.monotonic()
                        self._main.notify()  # to record and report them within _RECORD_WITHIN
                    self._looks.extend(seen)
                    when = time.monotonic() + _delay(job, attempt, info, since=self._since)
            if ready:
                self._ready.append(job)
                self._main.notify()
            elif when is not None:
                self.push(when, job)
                if self.heap[0][2] is job:
                    self._watch(when)  # due before what the sleeping workers wait for
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
