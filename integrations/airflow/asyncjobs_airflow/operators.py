"""The operator: submit one job (once), wait for it without a worker slot, return or save its files."""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.definitions.param import ParamsDict

from asyncjobs import Client, Result, engines, errors

from ._events import raise_if_failed, turn_event
from .hooks import AsyncJobsHook
from .triggers import AsyncJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["JOB_ID_KEY", "AsyncJobOperator", "files_of"]

#: the XCom key the job's id is pushed under, right after the submit
JOB_ID_KEY = "asyncjobs_job_id"


class AsyncJobOperator(BaseOperator):
    """Submit an asyncjobs job and wait for it: in Airflow's triggerer (``deferrable=True``, the
    default: no worker slot is held while the job runs) or in the worker.

    The submit is made once per task instance: it is recorded in the asyncjobs ledger under
    ``airflow:<dag_id>/<task_id>/<run_id>/<map_index>``, so a retried try resumes the job an earlier
    try submitted (unless that job failed or was cancelled) instead of submitting another. The job's
    id is pushed to XCom (key ``asyncjobs_job_id``) right after the submit.

    The task's return value (XCom): the result's files as a list of ``{"name", "size", "url",
    "media_type"}``; or, with ``save_to``, the paths of the files saved there. A job that failed
    fails the task with :class:`asyncjobs.errors.JobFailedError` (the provider's message, the
    provider and the job id); a wait that ended otherwise, with its typed asyncjobs error.

    Args:
        task_id: the task's id.
        provider: the asyncjobs provider (``"convertapi"``...).
        kind: the job's kind (``"convert"``...).
        params: the job's parameters (``{"source": "/data/report.docx", "to": "pdf"}``): JSON
            values, since Airflow keeps a task's params (paths and URLs as strings). Templated. The
            DAG's own params are not sent.
        asyncjobs_conn_id: the ``asyncjobs`` connection with the provider's settings; ``None``
            reads them from the environment of the worker and the triggerer.
        deferrable: wait in the triggerer (``True``) or in the worker.
        save_to: a folder to save the result's files in (templated); the task returns their paths.
        timeout: the longest wait for the job (seconds or a ``timedelta``), then
            :class:`asyncjobs.errors.JobTimeoutError` (the job goes on at the provider).
        cancel_on_kill: cancel the remote job when the task is killed.
    """

    template_fields: Sequence[str] = ("job_params", "save_to")
    template_fields_renderers: ClassVar[dict[str, str]] = {"job_params": "json"}
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        provider: str,
        kind: str,
        params: MutableMapping[str, Any] | None = None,
        asyncjobs_conn_id: str | None = None,
        deferrable: bool = True,
        save_to: str | None = None,
        timeout: float | timedelta | None = None,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(params=params, **kwargs)
        self.provider = provider
        self.kind = kind
        self.job_params = _task_params(params)
        self.asyncjobs_conn_id = asyncjobs_conn_id
        self.deferrable = deferrable
        self.save_to = save_to
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.cancel_on_kill = cancel_on_kill
        #: the id of the job this task submitted or resumed (``None`` before the submit)
        self.job_id: str | None = None

    def hook(self) -> AsyncJobsHook:
        """The hook of this task's connection (or of the environment)."""
        return AsyncJobsHook(self.asyncjobs_conn_id, provider=self.provider)

    @staticmethod
    def ref(context: Context) -> str:
        """The ledger's key of this task instance's submit: every try of it shares the key."""
        ti = context["ti"]
        return f"airflow:{ti.dag_id}/{ti.task_id}/{ti.run_id}/{ti.map_index}"

    def execute(self, context: Context) -> Any:
        """Submit the job (or resume the one an earlier try submitted), then defer to the trigger,
        or wait here when not deferrable."""
        with self.hook().get_conn() as client:
            job = engines.submit_once(client, self.kind, self.job_params, ref=self.ref(context))
            self.job_id = job.id
            context["ti"].xcom_push(key=JOB_ID_KEY, value=job.id)
            self.log.info("%s job %s (%s): waiting", client.name, job.id, self.kind)
            turn = engines.start(job, timeout=self.timeout)
            if not turn.over and self.deferrable:
                self.defer(
                    trigger=AsyncJobTrigger(
                        provider=client.name,
                        job_id=job.id,
                        kind=job.kind or self.kind,
                        state=turn.state.to_dict(),
                        conn_id=self.asyncjobs_conn_id,
                        delay=turn.delay or 0.0,
                        cancel_on_kill=self.cancel_on_kill,
                    ),
                    method_name="execute_complete",
                )
            while not turn.over:
                time.sleep(turn.delay or 0.0)
                turn = engines.step(job, turn.state)
            return self._finish(client, turn_event(turn))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """The trigger's event: the result's files (or their saved paths), or the typed error."""
        if event is None:
            raise ValueError("the asyncjobs trigger ended without an event")
        self.job_id = str(event.get("job_id"))
        with self.hook().get_conn() as client:
            return self._finish(client, event)

    def _finish(self, client: Client, event: Mapping[str, Any]) -> Any:
        info = raise_if_failed(event)
        job = client.job(str(event["job_id"]))
        if info is not None:
            job.info = info
        result = job.result()
        if self.save_to:
            saved = result.save(Path(self.save_to), overwrite=True)  # a retry writes them again
            self.log.info(
                "%s job %s: %d files saved in %s", job.provider, job.id, len(saved), self.save_to
            )
            return [str(p) for p in saved]
        return files_of(result)

    def on_kill(self) -> None:
        """Cancel the remote job the task submitted (while it waits in the worker; a deferred task
        is the trigger's, see :meth:`AsyncJobTrigger.on_kill`). A provider that cannot cancel is
        logged, not raised."""
        if self.job_id is None or not self.cancel_on_kill:
            return
        cancel_sync(self.hook(), self.provider, self.job_id, self.log)


def files_of(result: Result) -> list[dict[str, Any]]:
    """A result's files as JSON-safe dicts: ``name``, ``size``, ``url`` and ``media_type``."""
    return [
        {"name": f.name, "size": f.size, "url": f.url, "media_type": f.media_type}
        for f in result.files
    ]


def cancel_sync(hook: AsyncJobsHook, provider: str, job_id: str, log: Any) -> bool:
    """Cancel a job from a worker; ``True`` when the provider accepted. Failures are logged."""
    try:
        with hook.get_conn() as client:
            client.cancel(job_id)
    except errors.NotSupportedError as exc:
        log.warning("%s job %s goes on: %s", provider, job_id, exc)
        return False
    except errors.AsyncJobsError as exc:
        log.warning("%s job %s: the cancel failed: %s", provider, job_id, exc)
        return False
    log.info("%s job %s cancelled", provider, job_id)
    return True


def _task_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The job's parameters: the task's own params (Airflow merges the DAG's into ``params``, with
    each value's source; only the task's go to the job)."""
    if params is None:
        return {}
    if isinstance(params, ParamsDict):
        own = ParamsDict.filter_params_by_source(params, "task")
        return own.dump()
    return dict(params)
