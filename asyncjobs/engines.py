"""Waiting from an engine that schedules its own work: Celery, Airflow's triggerer, a cron job.

Such an engine does not keep a waiting loop in memory: it runs one poll, puts the wait away, and
runs the next poll later, in whichever process it chooses. This module gives it the two pieces
it needs, and keeps every rule in the core's poll core, as the other ways of waiting do:

* :class:`PollState`, a job's wait between polls, JSON-safe (:meth:`PollState.to_dict`), so that
  it travels in a task's arguments or a trigger's serialized form;
* :func:`step` (and :func:`astep` from an event loop): one poll, decided by the poll core, giving
  a :class:`Turn` -- the state to carry on, and the delay before the next step, or the end.

:func:`submit_once` submits under the engine's own reference of the submission (a task's id), so
that an engine that runs a submit again (a worker killed, a task retried) resumes the job it
already made instead of making a second one.

A step sends at most one status request and never sleeps. On a shared (PostgreSQL) ledger it
takes the job's lease for its look and gives it back after, so that a job is polled from one place
at a time; while another poller holds it, the step reads the ledger instead of the provider.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from . import errors
from ._checks import timeout as check_timeout
from ._models import JobInfo, Status
from ._poll import WAITS, Action, Poll, Step, timed_out
from ._redaction import get_logger

if TYPE_CHECKING:
    from ._client import Client
    from ._job import Job
    from ._results import Result
    from .aio import AsyncJob

__all__ = [
    "PollState",
    "Turn",
    "astep",
    "info_from_dict",
    "info_to_dict",
    "result_from_dict",
    "result_to_dict",
    "start",
    "step",
    "submit_once",
]

log = get_logger("asyncjobs.engines")

#: The longest caller's reference :func:`submit_once` takes.
MAX_REF = 500

_INTS = ("attempt", "errors", "not_found", "polls")


@attrs.frozen
class PollState:
    """A job's wait between two polls: everything the poll core needs to decide the next one.

    Attributes:
        provider, job_id, kind: the job.
        since: the wall-clock time (seconds since the epoch) the wait began: the job is at least
            that old when the service does not say when it was submitted.
        deadline: the wall-clock time the wait ends without the job's end, or ``None``.
        attempt: polls made so far (the exponential bound's exponent).
        errors: transient errors in a row (the wait ends with the fifth).
        not_found: "not found" answers in a row.
        polls: polls whose outcome came back.
        expecting: a webhook call is expected for the job: the provider is polled at the poll
            policy's cap only (a safety net), and the ledger is read at the policy's pace between,
            so that a call a receiver recorded ends the wait at the next step, with no request.
        look_at: with ``expecting``, the wall-clock time of the next poll of the provider.
    """

    provider: str
    job_id: str
    kind: str | None
    since: float
    deadline: float | None = None
    attempt: int = 0
    errors: int = 0
    not_found: int = 0
    polls: int = 0
    expecting: bool = False
    look_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-safe data (strings, numbers, booleans and ``None`` only)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> PollState:
        """Rebuild a state from :meth:`to_dict`'s data.

        Raises:
            InvalidParameterError: ``data`` is not such a state (``parameter="state"``).
        """

        def bad(why: str) -> errors.InvalidParameterError:
            return errors.InvalidParameterError(
                f"state is not an asyncjobs poll state: {why}. Pass what PollState.to_dict() "
                "gave (a Turn's state), unchanged.",
                parameter="state",
            )

        if not isinstance(data, Mapping):
            raise bad(f"expected a mapping, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in attrs.fields(cls)}
        if unknown:
            raise bad(f"unknown fields {sorted(map(str, unknown))}")
        missing = [name for name in ("provider", "job_id", "kind", "since") if name not in data]
        if missing:
            raise bad(f"{', '.join(missing)} missing")
        for name in ("provider", "job_id"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise bad(f"{name} must be a non-empty string")
        if data.get("kind") is not None and not isinstance(data["kind"], str):
            raise bad("kind must be a string or null")
        for name in ("since", "deadline", "look_at"):
            value = data.get(name, 0.0 if name != "deadline" else None)
            if name == "deadline" and value is None:
                continue
            if not _number(value):
                raise bad(f"{name} must be a finite number")
        for name in _INTS:
            value = data.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(f"{name} must be a non-negative int")
        if not isinstance(data.get("expecting", False), bool):
            raise bad("expecting must be true or false")
        return cls(**{str(k): v for k, v in data.items()})


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@attrs.frozen
class Turn:
    """What one step decided.

    Attributes:
        state: the wait's state after the step: pass it to the next :func:`step`.
        delay: seconds until the next step; ``None`` when the wait is over.
        info: the last look at the job (its end, when the wait is over because it finished).
        error: why the wait is over without a result: :class:`~asyncjobs.errors.JobFailedError`
            (the job failed), :class:`~asyncjobs.errors.JobTimeoutError` (the state's deadline
            passed), or the error polling the job ended with (it expired, the credentials were
            refused, five transient errors in a row). ``None`` while waiting, and for a job done.
    """

    state: PollState
    delay: float | None
    info: JobInfo | None = None
    error: errors.AsyncJobsError | None = None

    @property
    def over(self) -> bool:
        """Whether the wait is over (the job ended, or the wait ended with :attr:`error`)."""
        return self.delay is None

    def to_dict(self) -> dict[str, Any]:
        """The turn as JSON-safe data: ``state`` (:meth:`PollState.to_dict`), ``delay``, ``info``
        (:func:`info_to_dict`, or ``None``) and ``error`` (``None``, or the error's class name,
        message, provider and job id: the error itself is raised where the wait is over)."""
        error = self.error
        return {
            "state": self.state.to_dict(),
            "delay": self.delay,
            "info": None if self.info is None else info_to_dict(self.info),
            "error": None
            if error is None
            else {
                "type": type(error).__name__,
                "message": error.message,
                "provider": error.provider,
                "job_id": error.job_id,
            },
        }


def start(job: Job, *, timeout: float | None = None) -> Turn:
    """A new wait for ``job``, and the delay before its first poll (no request is sent: a job just
    submitted is not looked at before the poll policy's first delay since its submission).

    Args:
        job: the job (from :meth:`~asyncjobs.Client.submit`, or ``client.job(job_id)``).
        timeout: seconds the wait may take, or ``None`` for no limit.

    Raises:
        InvalidParameterError: ``timeout`` is not a positive number.
    """
    limit = check_timeout(timeout)
    wall = time.time()
    client = job.client
    state = PollState(
        provider=job.provider,
        job_id=job.id,
        kind=job.kind,
        since=wall,
        deadline=None if limit is None else wall + limit,
        expecting=client.expects_call(job.id),
    )
    info = job.info
    if info is not None and info.finished:
        return _over(state, info, None)
    poll = _poll(job, state)
    now = time.monotonic()
    return Turn(state, max(0.0, poll.first(now, wall) - now), info)


def step(job: Job, state: PollState) -> Turn:
    """One poll of ``job`` (at most one status request), decided by the poll core.

    Raises:
        InvalidParameterError: ``state`` is not a state of ``job``.
        Exception: an exception that is not an asyncjobs error (a bug, in a plugin or here).
    """
    _check(job, state)
    from ._job import refresh_within  # here: a state's checks need no job machinery

    poll = _poll(job, state)
    client = job.client
    ledger = client.ledger
    wall = time.time()
    if state.expecting and wall < state.look_at and ledger is not None:
        entry = ledger.get(job.provider, job.id)  # a receiver records the call's news here
        if entry is not None and entry.info is not None and entry.info.finished:
            return _turn(job, poll, state, poll.news(entry.info, wall))
        return _turn(job, poll, state, _pace(poll, time.monotonic(), wall))
    result: JobInfo | BaseException
    try:
        result = refresh_within(job, poll.deadline)
    except Exception as exc:  # every outcome is the poll core's to judge
        result = exc
    finally:
        if ledger is not None and ledger.shared:
            try:
                ledger.release(job.provider, job.id)  # the next step may run anywhere
            except errors.AsyncJobsError as exc:
                log.warning("%s job %s: could not give its lease up: %s", job.provider, job.id, exc)
    decided = poll.step(result, time.monotonic(), time.time())
    if decided.action is Action.CRASHED:
        assert decided.error is not None
        raise decided.error
    return _turn(job, poll, state, decided, looked=True)


async def astep(job: AsyncJob, state: PollState) -> Turn:
    """:func:`step` from an event loop: the poll runs on the aio pool's threads, the loop is free
    meanwhile (what an Airflow trigger awaits)."""
    from . import _aio

    return await _aio.run(step, job.sync, state, owner=job.sync.connected_client)


def submit_once(
    client: Client,
    kind: str,
    params: Mapping[str, Any],
    *,
    ref: str,
    webhook: str | bool | None = None,
) -> Job:
    """Submit a job under the caller's reference ``ref`` of the submission, unless the ledger shows
    that a submit with that reference already made one: then that job is resumed (no request).

    An engine runs a submit again when a worker dies or a task is retried; with the same ``ref``
    (a Celery task's id, an Airflow task instance's key), the newest submission of this client's
    provider recorded with it decides:

    * it made a job that has not failed: that job is resumed;
    * its outcome is unknown (the answer was lost, or the process died with the request out): no
      second job is made; :class:`~asyncjobs.errors.TransportError` says how to find the first;
    * none, or it was refused, failed, cancelled or forgotten: a new submit, recorded with ``ref``.

    Raises:
        InvalidParameterError: ``ref`` is empty, too long or holds a NUL (before any request); and
            what :meth:`~asyncjobs.Client.submit` raises.
        ConfigurationError: the client has no ledger (``ledger=False``): nothing could be resumed.
        TransportError: an earlier submit with ``ref`` has an unknown outcome.
    """
    if not isinstance(ref, str) or not ref.strip() or len(ref) > MAX_REF or "\x00" in ref:
        raise errors.InvalidParameterError(
            f"ref must be a non-empty string of at most {MAX_REF} characters without NUL "
            "(the engine's own key of this submission, e.g. a task's id)",
            parameter="ref",
        )
    ledger = client.ledger
    if ledger is None:
        raise errors.ConfigurationError(
            f"{client.name}: submit_once needs the client's ledger to find an earlier submit; "
            "connect without ledger=False (or set ASYNCJOBS_LEDGER).",
            provider=client.name,
        )
    from ._ledger import SubmitState

    entry = ledger.find_ref(client.name, ref)
    if entry is not None:
        if entry.state == SubmitState.SUBMITTED and entry.job_id is not None:
            info = entry.info
            if info is None or info.status is not Status.FAILED:
                log.info("%s: %s resumes job %s", client.name, ref, entry.job_id)
                job = client.job(entry.job_id)
                job.kind = entry.kind
                job.info = info
                return job
        elif entry.state in (SubmitState.SUBMITTING, SubmitState.UNKNOWN):
            where = f" (it would be job {entry.job_id!r})" if entry.job_id else ""
            raise errors.TransportError(
                f"{client.name}: an earlier submit of {ref!r}{where} has an unknown outcome (its "
                "answer was lost, or its process died with the request out), so it is not sent "
                "again: look for the job (client.list(), the provider's console) and wait on it "
                "with client.job(job_id), or submit under another ref on purpose.",
                provider=client.name,
                job_id=entry.job_id,
            )
    return client.submit_with(kind, params, webhook=webhook, ref=ref)


def info_to_dict(info: JobInfo) -> dict[str, Any]:
    """A :class:`~asyncjobs.JobInfo` as JSON-safe data (times as ISO 8601 strings)."""
    from ._serialize import converter

    data: dict[str, Any] = converter.unstructure(info)
    return data


def info_from_dict(data: Mapping[str, Any]) -> JobInfo:
    """Rebuild a :class:`~asyncjobs.JobInfo` from :func:`info_to_dict`'s data."""
    from ._serialize import converter

    return converter.structure(dict(data), JobInfo)


def result_to_dict(result: Result) -> dict[str, Any]:
    """A :class:`~asyncjobs.Result` as JSON-safe data: its files' names, sizes, URLs and media
    types, and the provider's raw answer (no file contents)."""
    from ._serialize import converter

    data: dict[str, Any] = converter.unstructure(result)
    return data


def result_from_dict(data: Mapping[str, Any]) -> Result:
    """Rebuild a :class:`~asyncjobs.Result` from :func:`result_to_dict`'s data; its files carry
    no content: fetch them through a client (``client.job(job_id).result()``)."""
    from ._results import Result
    from ._serialize import converter

    return converter.structure(dict(data), Result)


def _check(job: Job, state: PollState) -> None:
    if not isinstance(state, PollState):
        raise errors.InvalidParameterError(
            f"state must be a PollState (PollState.from_dict(data)), not {type(state).__name__}",
            parameter="state",
        )
    if (state.provider, state.job_id) != (job.provider, job.id):
        raise errors.InvalidParameterError(
            f"state is the wait of job {state.job_id!r} at {state.provider}, not of job "
            f"{job.id!r} at {job.provider}",
            parameter="state",
        )


def _poll(job: Job, state: PollState) -> Poll:
    """The poll core's state of the wait, rebuilt from ``state`` (the deadline on this process's
    monotonic clock)."""
    deadline = None
    if state.deadline is not None:
        deadline = time.monotonic() + (state.deadline - time.time())
    poll = Poll(
        job.client.poll_policy,
        rules=WAITS,
        deadline=deadline,
        since=state.since,
        info=job.info,
        expecting=state.expecting,
    )
    poll.attempt, poll.errors = state.attempt, state.errors
    poll.not_found, poll.polls = state.not_found, state.polls
    return poll


def _pace(poll: Poll, now: float, wall: float) -> Step:
    """The next ledger read of a job expecting a webhook call: at the policy's own pace (as if no
    call were expected), or the deadline."""
    if poll.deadline is not None and now >= poll.deadline:
        return Step(Action.TIMED_OUT, info=poll.info)
    at = now + poll.pace(wall)
    return Step(Action.AGAIN, at=at if poll.deadline is None else min(at, poll.deadline))


def _turn(job: Job, poll: Poll, state: PollState, decided: Step, *, looked: bool = False) -> Turn:
    """The turn a step of the poll core makes, with the state to carry on."""
    now, wall = time.monotonic(), time.time()
    after = attrs.evolve(
        state,
        attempt=poll.attempt,
        errors=poll.errors,
        not_found=poll.not_found,
        polls=poll.polls,
    )
    if decided.info is not None:
        job.info = decided.info
        if job.kind is None:
            job.kind = decided.info.kind
    if decided.action is Action.AGAIN:
        delay = max(0.0, decided.at - now)
        if looked and state.expecting:  # the provider again at the cap; the ledger at the pace
            after = attrs.evolve(after, look_at=wall + delay)
            delay = min(delay, max(0.0, _pace(poll, now, wall).at - now))
        return Turn(after, delay, decided.info)
    if decided.action is Action.ENDED:
        assert decided.info is not None
        return _over(after, decided.info, None)
    if decided.action is Action.TIMED_OUT:
        limit = None if state.deadline is None else max(0.0, state.deadline - state.since)
        error = timed_out(
            job.provider,
            job.id,
            limit,
            job.info,
            again="wait again from a new state (engines.start), or pick it up later with "
            "client.job(job_id)",
        )
        error.__cause__ = decided.error
        return Turn(after, None, job.info, error)
    cause = decided.error
    if not isinstance(cause, errors.AsyncJobsError):  # pragma: no cover - the core ends so only
        raise AssertionError(f"the poll core gave up with {cause!r}")
    return Turn(after, None, job.info, cause)


def _over(state: PollState, info: JobInfo, error: errors.AsyncJobsError | None) -> Turn:
    if error is None and info.status is Status.FAILED:
        error = errors.JobFailedError(info)
    return Turn(state, None, info, error)
