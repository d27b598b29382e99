"""The sensor: wait for a job that was submitted elsewhere (another DAG, a service, a script)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from asyncjobs import Job, engines

from ._events import raise_if_failed, turn_event
from .hooks import AsyncJobsHook
from .triggers import AsyncJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["AsyncJobSensor"]


class AsyncJobSensor(BaseSensorOperator):
    """Wait until an asyncjobs job ends; return its :class:`~asyncjobs.JobInfo` as a dict
    (:func:`asyncjobs.engines.info_to_dict`).

    With ``deferrable=True`` (the default) the wait runs in the triggerer
    (:class:`~asyncjobs_airflow.triggers.AsyncJobTrigger`, at the poll core's pace); otherwise each
    poke is one look at the job (:func:`asyncjobs.engines.step`), every ``poke_interval``. A job that
    failed fails the task with :class:`asyncjobs.errors.JobFailedError`. Killing the sensor never
    cancels the job: it is not the sensor's.

    Args:
        task_id: the task's id.
        provider: the job's provider.
        job_id: the job's id (templated: ``"{{ ti.xcom_pull('submit', key='asyncjobs_job_id') }}"``).
        asyncjobs_conn_id: the ``asyncjobs`` connection; ``None`` reads the environment.
        deferrable: wait in the triggerer.
    """

    template_fields: Sequence[str] = ("job_id",)

    def __init__(
        self,
        *,
        provider: str,
        job_id: str,
        asyncjobs_conn_id: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.provider = provider
        self.job_id = job_id
        self.asyncjobs_conn_id = asyncjobs_conn_id
        self.deferrable = deferrable
        self._state: engines.PollState | None = None

    def hook(self) -> AsyncJobsHook:
        """The hook of this sensor's connection (or of the environment)."""
        return AsyncJobsHook(self.asyncjobs_conn_id, provider=self.provider)

    def execute(self, context: Context) -> Any:
        """Defer to the trigger (deferrable), or poke in the worker."""
        if not self.deferrable:
            return super().execute(context)
        with self.hook().get_conn() as client:
            job = client.job(self.job_id)
            turn = engines.start(job, timeout=self._limit())
            if turn.over:  # the ledger knew it ended
                return self.execute_complete(context, turn_event(turn))
            return self.defer(  # raises TaskDeferred
                trigger=AsyncJobTrigger(
                    provider=client.name,
                    job_id=job.id,
                    kind=job.kind,
                    state=turn.state.to_dict(),
                    conn_id=self.asyncjobs_conn_id,
                    delay=0.0,  # a job submitted elsewhere: look at once
                    cancel_on_kill=False,
                ),
                method_name="execute_complete",
            )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One look at the job: done (its info as the XCom value), still pending, or its error."""
        with self.hook().get_conn() as client:
            job: Job = client.job(self.job_id)
            state = self._state or engines.start(job).state
            turn = engines.step(job, state)
            self._state = turn.state
            if not turn.over:
                return False
            return PokeReturnValue(True, self._finish(turn_event(turn)))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """The trigger's event: the job's info, or the typed error it failed with."""
        if event is None:
            raise ValueError("the asyncjobs trigger ended without an event")
        return self._finish(event)

    def _finish(self, event: dict[str, Any]) -> dict[str, Any] | None:
        info = raise_if_failed(event)
        self.log.info("%s job %s is done", self.provider, self.job_id)
        return None if info is None else engines.info_to_dict(info)

    def _limit(self) -> float | None:
        timeout = getattr(self, "timeout", None)
        if isinstance(timeout, (int, float)) and timeout > 0:
            return float(timeout)
        return None
