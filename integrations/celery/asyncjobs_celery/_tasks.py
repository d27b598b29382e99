"""The tasks: a wait as a sequence of short steps of one task id, each handing the next on.

How a step hands the wait on, and why not ``Task.retry`` or ``Task.replace`` (read in Celery 5.7's
``celery/app/task.py`` and ``celery/app/trace.py``):

* The next step's message is built by ``Task.signature_from_request`` -- exactly the message
  ``Task.retry`` sends: the same task id (so ``AsyncResult(id).get()`` of the caller's signature
  gives the end), the same chain, callbacks, errbacks, group and chord membership, queue, priority
  and headers -- with the new state in its keyword arguments and the poll core's delay as its
  countdown. Then the step raises ``Ignore``: the worker acknowledges the message and writes no
  state.
* ``Task.retry`` itself raises ``Retry`` after the message is sent, and the worker then writes
  ``RETRY`` to the result backend. When the next step ends the job first (a short countdown, a
  busy worker), that late ``RETRY`` overwrites its ``FAILURE`` (the key-value backends protect only
  ``SUCCESS``), and ``.get()`` waits forever. ``retry`` also rejects the message without requeueing
  it when the send fails (the wait would end as a failure), and counts against ``max_retries``.
* ``Task.replace`` sends the replacement with its own options only: the message's queue and
  priority (its delivery info) are lost, and each replacement rebuilds the rest of the chain into a
  new chain and nests one level deeper -- per poll.

A copy of a message delivered twice (a visibility timeout passed, a worker died) claims its step
first (:mod:`asyncjobs_celery.claims`); a duplicate does nothing, writes nothing, sends nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from celery import Task
from celery.exceptions import Ignore, Reject
from celery.utils.log import get_task_logger

import asyncjobs
from asyncjobs import engines, errors

from .claims import ENDED, Claim, Claims, RedisClaims

__all__ = ["WAITING", "AsyncJobsTask", "Runtime"]

log = get_task_logger("asyncjobs_celery")

#: The state a job task reports while it waits (meta: provider, job_id, kind); written once, when
#: the job is known, before the first poll is handed on.
WAITING = "WAITING"

#: Result fetches of a done job tried before the wait ends with the fetch's error.
FETCH_TRIES = 5

#: Transports whose unacknowledged messages come back after a visibility timeout, and the
#: timeout they use when the app sets none (kombu's default).
_VISIBILITY_DEFAULT = 3600.0
#: What bounds an unacknowledged message elsewhere when nothing says: RabbitMQ's
#: ``consumer_timeout`` (30 minutes).
_UNACKED_DEFAULT = 1800.0


def visibility_timeout(app: Any) -> float:
    """Seconds an unacknowledged message may be held before the broker hands it out again: the
    app's ``broker_transport_options["visibility_timeout"]``, else kombu's default for Redis and
    SQS (3600), else RabbitMQ's default ``consumer_timeout`` (1800)."""
    options = app.conf.broker_transport_options or {}
    value = options.get("visibility_timeout")
    if value is not None:
        return float(value)
    scheme = str(app.conf.broker_url or "").split("://", 1)[0].lower()
    if scheme.startswith(("redis", "rediss", "sentinel", "sqs")):
        return _VISIBILITY_DEFAULT
    return _UNACKED_DEFAULT


def default_claims(app: Any) -> Claims:
    """The claims store of ``app``'s workers: its Redis result backend's client, else a client of
    its Redis broker.

    Raises:
        ConfigurationError: neither is Redis (pass ``claims=`` to :func:`register`).
    """
    from celery.backends.redis import RedisBackend

    backend = app.backend
    if isinstance(backend, RedisBackend):
        return RedisClaims(backend.client)
    url = str(app.conf.broker_url or "")
    if url.split("://", 1)[0].lower() in ("redis", "rediss"):
        import redis

        return RedisClaims(redis.Redis.from_url(url))
    raise errors.ConfigurationError(
        "asyncjobs_celery keeps which copy of a message runs each step of a wait in Redis, and "
        "neither the app's result backend nor its broker is Redis: pass "
        "register(app, claims=asyncjobs_celery.RedisClaims(redis.Redis.from_url(...))), or "
        "claims=asyncjobs_celery.SQLiteClaims(path) when every worker runs on one machine."
    )


@attrs.frozen
class Next:
    """A step's outcome that hands the wait on: the next step's ``poll`` and its delay."""

    poll: dict[str, Any]
    delay: float


class Runtime:
    """One app's settings of the tasks, and each worker process's clients and claims store.

    Args:
        connect: builds the client of a provider name in the worker.
        claims: the claims store, or ``None`` for :func:`default_claims` (made in each process).
        lease: seconds a step's claim is held (longer than a poll takes).
    """

    def __init__(
        self,
        connect: Callable[[str], asyncjobs.Client],
        claims: Claims | None,
        lease: float,
    ) -> None:
        self.connect = connect
        self.given_claims = claims
        self.lease = lease
        self._lock = threading.Lock()
        self._pid = -1
        self._clients: dict[str, asyncjobs.Client] = {}
        self._claims: Claims | None = None

    def _process(self) -> None:
        """Forget what a parent process made (a pool process starts with a copy of it)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._clients = {}
            self._claims = None

    def client(self, provider: str) -> asyncjobs.Client:
        """This process's client of ``provider`` (made on first use, then kept)."""
        with self._lock:
            self._process()
            found = self._clients.get(provider)
            if found is None:
                found = self._clients[provider] = self.connect(provider)
            return found

    def claims(self, app: Any) -> Claims:
        """This process's claims store."""
        with self._lock:
            self._process()
            if self._claims is None:
                self._claims = self.given_claims or default_claims(app)
            return self._claims

    def close(self) -> None:
        """Close this process's clients."""
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()

    # -- one step ---------------------------------------------------------------------------------

    def run(self, task: Any, first: Callable[[], Any], poll: Mapping[str, Any] | None) -> Any:
        """Run the step of ``task``'s message: ``first()`` (step 0), else the poll ``poll`` says;
        hand the wait on, or return its end, or raise its error."""
        if task.request.is_eager:  # task_always_eager / apply(): no broker, so wait here
            return self._eager(task, first, poll)
        step = 0 if poll is None else _step_of(poll)
        key = task.request.id
        app = task.app
        limit = visibility_timeout(app) / 2
        keep = max(86400.0, 2 * visibility_timeout(app))
        claims = self.claims(app)
        found, left = claims.claim(key, step, self.lease, keep)
        if found is Claim.DUPLICATE:
            log.info("step %d already run: this copy is dropped", step)
            raise Ignore()
        if found is Claim.BUSY:
            log.info("step %d is running elsewhere: this copy comes back in %.1fs", step, left)
            self._send(task, claims, key, step, dict(task.request.kwargs), left + 0.05, limit)
            raise Ignore()
        outcome = first() if poll is None else self._poll(task, poll)
        if not isinstance(outcome, Next):
            return outcome  # the end: after_return marks the wait ended
        self._send(
            task,
            claims,
            key,
            step,
            {**task.request.kwargs, "poll": outcome.poll},
            outcome.delay,
            limit,
        )
        try:
            claims.done(key, step, keep)
        except Exception as exc:  # the wait is handed on: a late copy of this step may poll once
            log.warning("step %d handed on, but its claim could not be marked done: %r", step, exc)
        raise Ignore()

    def _send(
        self,
        task: Any,
        claims: Claims,
        key: str,
        step: int,
        kwargs: dict[str, Any],
        delay: float,
        limit: float,
    ) -> None:
        """Send the message that carries the wait on: the retry Celery would send (same id, chain,
        callbacks, group, queue, priority), after ``delay`` seconds, at most ``limit``."""
        countdown = min(max(0.0, delay), limit)
        message = task.signature_from_request(task.request, None, kwargs, countdown=countdown)
        try:
            message.apply_async()
        except Exception as exc:  # the broker failed: this message goes back, nothing is lost
            claims.release(key, step)
            raise Reject(exc, requeue=True) from exc

    def _poll(self, task: Any, poll: Mapping[str, Any]) -> Any:
        """A step after the first: one poll, or one more fetch of a done job's result."""
        step = _step_of(poll)
        state = engines.PollState.from_dict(poll.get("state"))
        client = self.client(state.provider)
        if "end" in poll:
            info = engines.info_from_dict(poll["end"])
            return self._end(client, info, state, step, int(poll.get("fetches", 0)))
        turn = engines.step(client.job(state.job_id), state)
        return self.after(client, turn, step)

    def after(self, client: asyncjobs.Client, turn: engines.Turn, step: int) -> Any:
        """What follows a turn of the poll core: the next step, the end, or the wait's error."""
        if not turn.over:
            assert turn.delay is not None
            return Next({"step": step + 1, "state": turn.state.to_dict()}, turn.delay)
        if turn.error is not None:
            raise turn.error
        assert turn.info is not None
        return self._end(client, turn.info, turn.state, step, 0)

    def _end(
        self,
        client: asyncjobs.Client,
        info: asyncjobs.JobInfo,
        state: engines.PollState,
        step: int,
        fetches: int,
    ) -> Any:
        """The end of a done job: its JobInfo and result files as JSON-safe data."""
        try:
            result = client.fetch_result(info.id)
        except (errors.TransportError, errors.RateLimitedError) as exc:
            if fetches + 1 >= FETCH_TRIES:
                raise
            delay = exc.retry_after if isinstance(exc, errors.RateLimitedError) else None
            poll = {
                "step": step + 1,
                "state": state.to_dict(),
                "end": engines.info_to_dict(info),
                "fetches": fetches + 1,
            }
            return Next(poll, delay if delay is not None else min(2.0**fetches, 30.0))
        return end_of(info, result, state)

    def _eager(self, task: Any, first: Callable[[], Any], poll: Mapping[str, Any] | None) -> Any:
        """The whole wait in this process (an eager task has no broker to hand steps to)."""
        outcome = first() if poll is None else self._poll(task, poll)
        while isinstance(outcome, Next):
            time.sleep(outcome.delay)
            outcome = self._poll(task, outcome.poll)
        return outcome

    def mark_ended(self, task: Any) -> None:
        """The wait of ``task``'s id is over: every later copy of its messages is a duplicate."""
        if task.request.is_eager:
            return
        keep = max(86400.0, 2 * visibility_timeout(task.app))
        self.claims(task.app).done(task.request.id, ENDED, keep)


def _step_of(poll: Mapping[str, Any]) -> int:
    step = poll.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise errors.InvalidParameterError(
            f"poll is not a wait's step (step {step!r}): pass what the tasks carry, unchanged",
            parameter="poll",
        )
    return step


def end_of(
    info: asyncjobs.JobInfo, result: asyncjobs.Result, state: engines.PollState
) -> dict[str, Any]:
    """A done job's end as JSON-safe data: ``provider``, ``job_id``, ``info``
    (:func:`asyncjobs.engines.info_to_dict`), ``files`` (name, size, url, media_type of each result
    file) and ``polls`` (the status requests the wait made)."""
    files = engines.result_to_dict(result).get("files", [])
    return {
        "provider": info.provider,
        "job_id": info.id,
        "info": engines.info_to_dict(info),
        "files": list(files),
        "polls": state.polls,
    }


def job_of(job: asyncjobs.Job) -> dict[str, Any]:
    """A submitted job as JSON-safe data (the submit task's result, the wait task's input)."""
    return {
        "provider": job.provider,
        "job_id": job.id,
        "kind": job.kind,
        "info": None if job.info is None else engines.info_to_dict(job.info),
    }


class AsyncJobsTask(Task):  # type: ignore[misc]
    """The base class of the asyncjobs tasks: late acknowledgement, the message handed back when
    a worker process is lost, no retry limit (a wait hands itself on), asyncjobs errors logged as
    expected outcomes; and, when a wait ends (its result or its error stored), its steps' claims
    are marked ended so that a late copy of any of its messages does nothing."""

    #: set for each registered task (see :func:`asyncjobs_celery.register`)
    asyncjobs: Runtime

    def after_return(
        self,
        status: str,
        retval: Any,
        task_id: str,
        args: Any,
        kwargs: Any,
        einfo: Any,
    ) -> None:
        """Called after the result (or error) is stored and callbacks are sent: mark the wait
        ended (a crash before this point lets the last step run again: at least once)."""
        self.asyncjobs.mark_ended(self)
