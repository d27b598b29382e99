"""The trigger: one job's wait in Airflow's triggerer, through ``asyncjobs.aio``.

Its serialized form is the job (provider, id, kind), the wait's poll state
(:meth:`asyncjobs.engines.PollState.to_dict`) and the connection's id: never a secret, which the
triggerer reads from the connection when the trigger runs. :meth:`AsyncJobTrigger.run` steps the
wait (:func:`asyncjobs.engines.astep`: one status request at most, on the aio client's threads),
sleeps the delay the poll core decides with ``asyncio.sleep`` (so a thousand waits hold no thread),
and yields one event when the wait is over.

Killing: Airflow 3.3 calls :meth:`AsyncJobTrigger.on_kill` when a user kills the deferred task (marks
it failed or succeeded, or clears it), and not when the triggerer shuts down or restarts. It also
calls it, in 3.3.x, when a triggerer whose heartbeat lapsed finds its triggers handed to another
triggerer (apache/airflow#73454); so before cancelling, ``on_kill`` asks Airflow for the task
instance's state, and cancels the remote job only once the task is no longer deferred.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from asyncjobs import aio, engines, errors

from ._events import error_event, turn_event
from .hooks import AsyncJobsHook

__all__ = ["AsyncJobTrigger"]

log = logging.getLogger(__name__)

#: the longest on_kill may spend cancelling (Airflow's own bound is [triggerer] on_kill_timeout)
CANCEL_TIMEOUT = 20.0


class AsyncJobTrigger(BaseTrigger):
    """Wait for one asyncjobs job in the triggerer, and fire one event when the wait is over.

    Args:
        provider: the job's provider.
        job_id: the job's id at the provider.
        kind: the job's kind, when known.
        state: the wait's poll state, as :meth:`asyncjobs.engines.PollState.to_dict` gives it.
        conn_id: the ``asyncjobs`` connection to connect with; ``None`` reads the provider's
            settings from the triggerer's environment.
        delay: seconds to wait before the first poll (the poll core's first delay).
        cancel_on_kill: cancel the remote job when a user kills the deferred task.

    The event's payload: ``provider``, ``job_id``, ``kind``, ``status`` (``"done"``, ``"failed"``
    or ``"error"``) and ``turn`` (:meth:`asyncjobs.engines.Turn.to_dict`: the job's last
    ``info``, and the ``error`` the wait ended with).
    """

    def __init__(
        self,
        provider: str,
        job_id: str,
        kind: str | None,
        state: dict[str, Any],
        conn_id: str | None = None,
        delay: float = 0.0,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        self.provider = provider
        self.job_id = job_id
        self.kind = kind
        self.state = dict(state)
        self.conn_id = conn_id
        self.delay = float(delay)
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The trigger's class path and keyword arguments: the job, its poll state and the
        connection's id (no secret)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "provider": self.provider,
                "job_id": self.job_id,
                "kind": self.kind,
                "state": self.state,
                "conn_id": self.conn_id,
                "delay": self.delay,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def hook(self) -> AsyncJobsHook:
        """The hook that builds this trigger's client."""
        return AsyncJobsHook(self.conn_id, provider=self.provider)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the job at the pace the poll core decides until the wait is over; yield its event.

        The triggers of one provider account in one triggerer share a client (one connection pool,
        ledger, request budget and thread pool), whatever their number."""
        try:
            state = engines.PollState.from_dict(self.state)
            lease = await _clients.acquire(self.hook())
        except errors.AsyncJobsError as exc:
            yield TriggerEvent(error_event(self.provider, self.job_id, self.kind, exc))  # type: ignore[no-untyped-call]
            return
        try:
            job = lease.client.job(self.job_id)
            delay: float | None = self.delay
            while True:
                if delay:
                    await asyncio.sleep(delay)
                turn = await engines.astep(job, state)
                if turn.over:
                    break
                state, delay = turn.state, turn.delay
        finally:
            await _clients.release(lease)
        yield TriggerEvent(turn_event(turn))  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """Cancel the remote job: a user killed the deferred task (Airflow >= 3.3 calls this only
        for a user's kill, and, in 3.3.x, for a trigger handed to another triggerer: the job is
        cancelled only once Airflow says the task instance is no longer deferred)."""
        if not self.cancel_on_kill:
            return
        deferred = await self._still_deferred()
        if deferred is None:
            log.warning(
                "%s job %s: the task was killed, but its state could not be read: the job is left "
                "running (cancel it with `asyncjobs cancel %s --provider %s` if it should stop)",
                self.provider,
                self.job_id,
                self.job_id,
                self.provider,
            )
            return
        if deferred:
            log.info(
                "%s job %s: the task is still deferred (its trigger moved to another triggerer): "
                "the job is left running",
                self.provider,
                self.job_id,
            )
            return
        await cancel_job(self.hook(), self.provider, self.job_id)

    async def _still_deferred(self) -> bool | None:
        """Whether Airflow still has this trigger's task instance deferred (``None``: unknown)."""
        ti = self.task_instance
        if ti is None:
            return None
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        map_index = getattr(ti, "map_index", -1)
        try:
            states = await asyncio.to_thread(
                RuntimeTaskInstance.get_task_states,
                dag_id=ti.dag_id,
                task_ids=[ti.task_id],
                run_ids=[ti.run_id],
                map_index=map_index,
            )
        except Exception as exc:  # the API is down, or the comms are gone: unknown
            log.warning(
                "%s job %s: reading the task's state failed: %r", self.provider, self.job_id, exc
            )
            return None
        key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
        state = states.get(ti.run_id, {}).get(key)
        return str(state) == "deferred" or getattr(state, "value", None) == "deferred"


class _Lease:
    """One trigger's use of a shared client."""

    def __init__(self, key: tuple[int, str, str], client: aio.AsyncClient) -> None:
        self.key = key
        self.client = client


class _SharedClients:
    """The clients of one process's triggers: one per event loop and provider settings (the key
    holds a hash of the settings, never the secret), closed when its last trigger ends."""

    def __init__(self) -> None:
        self._clients: dict[tuple[int, str, str], asyncio.Future[aio.AsyncClient]] = {}
        self._users: dict[tuple[int, str, str], int] = {}

    async def acquire(self, hook: AsyncJobsHook) -> _Lease:
        provider, kwargs = await hook.aconnect_arguments()
        digest = hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()
        key = (id(asyncio.get_running_loop()), provider, digest)
        made = self._clients.get(key)
        if made is None:  # the first trigger of these settings connects; the others await it
            made = self._clients[key] = asyncio.get_running_loop().create_future()
            self._users[key] = 1
            try:
                made.set_result(await aio.connect(provider, **kwargs))
            except BaseException as exc:
                del self._clients[key], self._users[key]
                if isinstance(exc, Exception):
                    made.set_exception(exc)
                    made.exception()  # retrieved: the waiters get it, nobody is warned
                else:  # this trigger was cancelled while connecting
                    made.cancel()
                raise
        else:
            self._users[key] += 1
            try:
                await asyncio.shield(made)
            except BaseException:
                await self._forget(key)
                raise
        return _Lease(key, made.result())

    async def release(self, lease: _Lease) -> None:
        await self._forget(lease.key)

    async def _forget(self, key: tuple[int, str, str]) -> None:
        self._users[key] -= 1
        if self._users[key] > 0:
            return
        made = self._clients.pop(key)
        del self._users[key]
        if made.done() and not made.cancelled() and made.exception() is None:
            await made.result().aclose()


_clients = _SharedClients()


async def cancel_job(hook: AsyncJobsHook, provider: str, job_id: str) -> bool:
    """Cancel a job from an event loop; ``True`` when the provider accepted it. A provider that
    cannot cancel (``NotSupportedError``), or a cancel that fails, is logged, not raised."""
    try:
        client = await hook.aget_conn()
    except errors.AsyncJobsError as exc:
        log.warning("%s job %s was not cancelled: %s", provider, job_id, exc)
        return False
    try:
        await asyncio.wait_for(client.cancel(job_id), CANCEL_TIMEOUT)
    except errors.NotSupportedError as exc:
        log.warning("%s job %s goes on: %s", provider, job_id, exc)
        return False
    except (errors.AsyncJobsError, TimeoutError) as exc:
        log.warning("%s job %s: the cancel failed: %s", provider, job_id, exc)
        return False
    finally:
        await client.aclose()
    log.info("%s job %s cancelled", provider, job_id)
    return True
