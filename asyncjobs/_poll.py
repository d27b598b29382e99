"""The poll core: what each poll's outcome means, for every way of waiting.

Six drivers wait for jobs -- ``Job.wait`` (one job, the caller's thread), ``asyncjobs.wait`` and
``as_completed`` (many jobs, one scheduler and a pool), ``Job.future`` and done callbacks (the
process's background scheduler), ``aio`` (one job or many, from an event loop) and the fleet's
``Worker``. Each keeps only its I/O: how it sleeps, how it runs a poll, how it hands the end back.
What a poll's outcome means is decided here, once, by :meth:`Poll.step`:

* a look at a pending job: poll again after the policy's delay (exponential, capped, never later
  than a fraction of the job's age, a bounded jitter; a ``retry_after`` the service gave wins,
  clamped to the cap; the cap itself for a job whose webhook call is expected);
* a look at a finished job, or news of its end (a webhook call confirmed, another wait's poll,
  another process through the ledger): ended, with no further poll;
* a transient error (``TransportError``, ``RateLimitedError``): poll again after a delay, its
  ``Retry-After`` winning, until :attr:`Rules.max_errors` of them come in a row; a good look resets
  the count;
* "not found": polling ends with it after :attr:`Rules.not_found_strikes` in a row;
* any other asyncjobs error: polling ends with it (the job's own error);
* an exception that is not an asyncjobs error (a bug, in a plugin or here): the wait ends with it;
* the wait's deadline passing (before a poll, or in a poll): timed out.

Nothing here sends a request, sleeps, starts a thread or reads a clock: the driver passes the
monotonic and the wall-clock time, so the rules can be tested without waiting. The end of a wait
is told here too, once, for every driver: how long its waiter took to learn of the job's end (a
metric) and the wait's span (:mod:`asyncjobs._telemetry`); a driver that leaves a job before its
end says so with :meth:`Poll.close`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

import attrs

from . import _telemetry, errors
from ._models import JobInfo
from ._policies import PollPolicy
from ._telemetry import Watch

__all__ = [
    "FLEET",
    "WAITS",
    "Action",
    "Outcome",
    "Poll",
    "Rules",
    "Step",
    "changed",
    "classify",
    "timed_out",
]

#: Transient poll errors in a row after which a wait ends with the error.
MAX_POLL_ERRORS = 5

#: The policy of a job whose client could not be built (its poll says why, at once).
_FALLBACK = PollPolicy()

_rng = random.Random()

#: The hint of a delay at the policy's cap (between half and all of it).
_CAP = object()


@attrs.frozen
class Rules:
    """Where ways of waiting differ, by declaration rather than by a copy of the loop.

    Attributes:
        max_errors: transient errors in a row after which polling ends with the last one; ``None``
            never ends it (the fleet: an outage ends, and the job is still pending in the ledger).
        not_found_strikes: "not found" answers in a row after which polling ends with it (the
            fleet gives a service that is slow to know a new job a few chances).
        keep_on_error: whether a job whose poll raised an error of its own (not "not found"), or
            an exception that is not an asyncjobs error, is polled again, at the policy's cap,
            rather than ending the wait (the fleet: a rotated key or a plugin's bug is fixed
            while the job, pending in the ledger, is still the fleet's to poll).
    """

    max_errors: int | None = MAX_POLL_ERRORS
    not_found_strikes: int = 1
    keep_on_error: bool = False


#: The rules of every wait a caller makes (one job, many jobs, futures, aio).
WAITS = Rules()
#: The rules of the fleet's workers.
FLEET = Rules(max_errors=None, not_found_strikes=3, keep_on_error=True)


class Outcome(enum.Enum):
    """What one poll came back with."""

    #: a look at the job (:class:`JobInfo`)
    LOOK = "look"
    #: a transient error: the connection failed, the service was busy or rate-limited
    TRANSIENT = "transient"
    #: the service does not know the job
    NOT_FOUND = "not-found"
    #: another asyncjobs error: the job's own (authentication, the ledger, a configuration)
    ERROR = "error"
    #: the wait's deadline passed during the poll
    TIMEOUT = "timeout"
    #: not an asyncjobs error: a bug, in a plugin or here
    CRASH = "crash"


def classify(error: BaseException) -> Outcome:
    """Which :class:`Outcome` an exception raised by a poll is."""
    if isinstance(error, errors.JobTimeoutError):
        return Outcome.TIMEOUT
    if isinstance(error, errors.JobNotFoundError):
        return Outcome.NOT_FOUND
    if isinstance(error, (errors.TransportError, errors.RateLimitedError)):
        return Outcome.TRANSIENT
    if isinstance(error, errors.AsyncJobsError):
        return Outcome.ERROR
    return Outcome.CRASH


class Action(enum.Enum):
    """What a driver does after a poll (see :class:`Step`)."""

    #: poll the job again at :attr:`Step.at`
    AGAIN = "again"
    #: the job finished: :attr:`Step.info` is its end
    ENDED = "ended"
    #: polling the job ended with its error, :attr:`Step.error`
    GAVE_UP = "gave-up"
    #: the wait's deadline passed; :attr:`Step.error` is the cause, if a poll had one
    TIMED_OUT = "timed-out"
    #: the wait ends with :attr:`Step.error`, which is not an error of the job's
    CRASHED = "crashed"


@attrs.frozen
class Step:
    """The decision after one poll.

    Attributes:
        action: what to do.
        at: with ``AGAIN``, the monotonic time of the next poll.
        info: the look this step follows (to report and record), or the job's end.
        error: with ``GAVE_UP`` and ``CRASHED``, the error; with ``AGAIN`` and ``TIMED_OUT``, the
            error of the poll this step follows, if it raised one.
    """

    action: Action
    at: float = 0.0
    info: JobInfo | None = None
    error: BaseException | None = None


def _hint(value: object) -> float | None:
    """A delay the service asked for, if ``value`` is a usable number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return float(value) if value >= 0 else None
    return None


class Poll:
    """One job's poll state in one wait, and the rules every driver follows with it.

    Args:
        policy: the job's :class:`PollPolicy` (``None`` when its client could not be built).
        rules: where this driver differs (:data:`WAITS` or :data:`FLEET`).
        deadline: the wait's monotonic deadline, or ``None``.
        since: a wall-clock time the job is known to have existed at (the wait's start): the job
            is at least that old, when the service does not say when it was submitted.
        info: the last :class:`JobInfo` known before the wait.
        expecting: whether a webhook call is expected for the job: polls are then the safety net,
            at the policy's cap.
        lookup: where the policy is found when it is needed and ``policy`` is ``None`` (a job whose
            client connects on its first poll); it may raise, and is asked again next time.
    """

    __slots__ = (
        "attempt",
        "deadline",
        "errors",
        "expecting",
        "info",
        "lookup",
        "not_found",
        "policy",
        "polls",
        "rng",
        "rules",
        "since",
        "told",
        "watch",
    )

    def __init__(
        self,
        policy: PollPolicy | None,
        *,
        rules: Rules = WAITS,
        deadline: float | None = None,
        since: float,
        info: JobInfo | None = None,
        expecting: bool = False,
        rng: random.Random | None = None,
        lookup: Callable[[], PollPolicy] | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.policy = policy
        self.lookup = lookup
        self.rules = rules
        self.deadline = deadline
        self.since = since
        self.info = info
        self.expecting = expecting
        self.rng = rng or _rng
        #: polls made so far (the exponential bound's exponent)
        self.attempt = 0
        #: polls whose outcome came back in this wait
        self.polls = 0
        #: transient errors in a row
        self.errors = 0
        #: "not found" answers in a row
        self.not_found = 0
        #: news of the job's end that came while a poll of it was out
        self.told: JobInfo | None = None
        #: the wait's telemetry, told how it ends (see :meth:`close`)
        self.watch = watch

    def first(self, now: float, wall: float) -> float:
        """The monotonic time of the job's first poll: ``now``, unless its last known status is
        ``pending`` from moments ago (a job just submitted), when a poll before the policy's first
        delay since its submission could only find it pending again."""
        info = self.info
        if self.policy is None or info is None or info.finished or info.submitted_at is None:
            return now
        first = self.policy.delay(0, self.rng, age=0.0)
        return now + max(0.0, min(first, info.submitted_at.timestamp() + first - wall))

    def tell(self, info: JobInfo) -> None:
        """News of the job's end came while a poll of it was out: the poll's outcome gives way to
        it (unless that poll saw the end too)."""
        if self.told is None:
            self.told = info

    def news(self, info: JobInfo, wall: float | None = None) -> Step:
        """News of the job's end came between polls (at the wall-clock time ``wall``): it ended,
        and is polled no more."""
        return self._told(self._news(info), wall)

    def _news(self, info: JobInfo) -> Step:
        self.info = info
        self.errors = 0
        return Step(Action.ENDED, info=info)

    def step(self, result: JobInfo | BaseException, now: float, wall: float) -> Step:
        """Decide what follows a poll that gave ``result`` (a look, or the exception it raised),
        at the monotonic time ``now`` and the wall-clock time ``wall``."""
        self.polls += 1
        return self._told(self._step(result, now, wall), wall)

    def _told(self, step: Step, wall: float | None) -> Step:
        """A step that ends the wait is told to telemetry: when its waiter learnt of the job's
        end, and the wait's span."""
        if step.action is Action.AGAIN:
            return step
        if step.action is Action.ENDED and step.info is not None and wall is not None:
            _telemetry.noticed(step.info, wall)
        self.close(step.action.value, step)
        return step

    def close(self, outcome: str = "abandoned", step: Step | None = None) -> None:
        """The wait for this job is over (``outcome``; by default the driver left it before its
        end): its telemetry is told, once."""
        watch, self.watch = self.watch, None
        if watch is not None:
            info = step.info if step is not None and step.info is not None else self.info
            error = step.error if step is not None else None
            watch.end(outcome, info, error, self.polls)

    def _step(self, result: JobInfo | BaseException, now: float, wall: float) -> Step:
        look = result if isinstance(result, JobInfo) else None
        told, self.told = self.told, None
        if told is not None and (look is None or not look.finished):
            return self._news(told)  # it ended while this poll was out
        if look is not None:
            self.info = look
            self.errors = self.not_found = 0
            if look.finished:
                return Step(Action.ENDED, info=look)
            return self._again(None, now, wall, look)
        assert isinstance(result, BaseException)
        kind = classify(result)
        if kind is Outcome.TIMEOUT:
            return Step(Action.TIMED_OUT, error=result)
        if kind is Outcome.CRASH or kind is Outcome.ERROR:
            if self.rules.keep_on_error:
                return self._again(_CAP, now, wall, None, result)
            return Step(Action.CRASHED if kind is Outcome.CRASH else Action.GAVE_UP, error=result)
        if kind is Outcome.NOT_FOUND:
            self.not_found += 1
            if self.not_found >= self.rules.not_found_strikes:
                return Step(Action.GAVE_UP, error=result)
            return self._again(None, now, wall, None, result)
        self.errors += 1  # transient
        if self.rules.max_errors is not None and self.errors >= self.rules.max_errors:
            return Step(Action.GAVE_UP, error=result)
        return self._again(getattr(result, "retry_after", None), now, wall, None, result)

    def _again(
        self,
        hint: object,
        now: float,
        wall: float,
        look: JobInfo | None,
        cause: BaseException | None = None,
    ) -> Step:
        """Poll again after :meth:`delay`, or time out when the deadline has passed."""
        if self.deadline is not None and now >= self.deadline:
            return Step(Action.TIMED_OUT, info=look, error=cause)
        at = now + self.delay(hint, wall)
        self.attempt += 1
        if self.deadline is not None:
            at = min(at, self.deadline)
        return Step(Action.AGAIN, at=at, info=look, error=cause)

    def delay(self, hint: object, wall: float) -> float:
        """Seconds to the next poll: the service's hint (an error's ``retry_after``, else one in the
        last look's meta) clamped to the policy's cap; else, for a job expecting a webhook call,
        the cap (between half and all of it); else the policy's delay for the job's age."""
        policy = self._policy() or _FALLBACK
        if hint is _CAP:
            return policy.delay(64, self.rng)
        seconds = _hint(hint)
        if seconds is None and hint is None and self.info is not None:
            seconds = _hint(self.info.meta.get("retry_after"))
        if seconds is not None:
            return max(min(seconds, policy.cap), policy.min_interval)
        if self.expecting:  # the webhook call wakes the wait: these polls are a safety net
            return self.delay(_CAP, wall)
        return self.pace(wall)

    def pace(self, wall: float) -> float:
        """Seconds to the next look at the policy's own pace for the job's age, whether or not a
        webhook call is expected (an engine reads the ledger at this pace between the safety-net
        polls of a job expecting a call)."""
        policy = self._policy() or _FALLBACK
        return policy.delay(self.attempt, self.rng, age=self.age(wall))

    def _policy(self) -> PollPolicy | None:
        if self.policy is None and self.lookup is not None:
            try:
                self.policy = self.lookup()
            except Exception:  # a client that cannot be built: its poll says why
                return None
        return self.policy

    def age(self, wall: float) -> float:
        """Seconds since the job was submitted (its ``submitted_at``), or at least since the
        wait's start."""
        start = self.since
        info = self.info
        if info is not None and info.submitted_at is not None:
            start = min(start, info.submitted_at.timestamp())
        return max(0.0, wall - start)


def changed(before: JobInfo | None, after: JobInfo) -> bool:
    """Whether the look ``after`` is a status change for a handle that last knew ``before``: what
    :meth:`asyncjobs.Job.add_status_callback` tells of, for every driver alike.

    A change is a different :attr:`~JobInfo.status` or a different :attr:`~JobInfo.raw_status`
    (the provider's own word: ``queued`` to ``converting`` is news while both are ``pending``);
    the first look of a handle that knew nothing is one too. Timestamps, progress in ``meta`` and
    other fields moving alone are not.
    """
    if before is None:
        return True
    return before.status is not after.status or before.raw_status != after.raw_status


def timed_out(
    provider: str,
    job_id: str,
    limit: float | None,
    info: JobInfo | None,
    *,
    again: str = "wait again, or pick it up later with client.job(job_id)",
) -> errors.JobTimeoutError:
    """The :class:`~asyncjobs.errors.JobTimeoutError` of a one-job wait that ran out of time
    (``again``: how to pick the job up, in the caller's own terms)."""
    state = "not seen yet" if info is None else f"still {info.status.value} ({info.raw_status})"
    after = "" if limit is None else f" after {limit:g}s"
    return errors.JobTimeoutError(
        f"job {job_id!r} at {provider} was {state}{after}. It goes on at the provider: {again}.",
        provider=provider,
        job_id=job_id,
        info=info,
    )


def finished_late(
    provider: str,
    job_id: str,
    limit: float | None,
    info: JobInfo | None,
    *,
    saving: bool,
    again: str,
) -> errors.JobTimeoutError:
    """The :class:`~asyncjobs.errors.JobTimeoutError` of a job that finished within the timeout
    but whose result could not be fetched (or, ``saving``, saved) within it; ``again`` says how to
    ask once more."""
    within = "" if limit is None else f" within {limit:g}s"
    if saving:
        what = f": its result could not be saved{within}; nothing partial was kept"
    else:
        what = f" finished, but its result could not be fetched{within}"
    return errors.JobTimeoutError(
        f"job {job_id!r} at {provider}{what}. {again}",
        provider=provider,
        job_id=job_id,
        info=info,
    )
