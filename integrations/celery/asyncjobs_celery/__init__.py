"""asyncjobs inside Celery: submit a job and wait for it without holding a worker slot.

::

    app = Celery("proj", broker="redis://...", backend="redis://...")
    asyncjobs_celery.register(app)            # in the module the workers import

    (asyncjobs_celery.job("convertapi", "convert", source=url, to="pdf") | handle_pdf.s()).delay()

A wait is a sequence of short steps of one task id: each step polls once (the poll core decides
the delay) and sends the next step as a message with that countdown, then frees its worker slot.
The last step returns the job's end, so the signature composes in chains, groups and chords. See
``docs/celery.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

import asyncjobs
from asyncjobs import engines, errors

from ._tasks import WAITING, AsyncJobsTask, Runtime, job_of
from .claims import Claim, Claims, RedisClaims, SQLiteClaims

__all__ = [
    "JOB",
    "SUBMIT",
    "WAIT",
    "WAITING",
    "AsyncJobsTask",
    "Claim",
    "Claims",
    "RedisClaims",
    "SQLiteClaims",
    "Tasks",
    "job",
    "register",
]

#: The registered tasks' names.
JOB = "asyncjobs.job"
SUBMIT = "asyncjobs.submit"
WAIT = "asyncjobs.wait"


@attrs.frozen
class Tasks:
    """The tasks :func:`register` put on an app.

    Attributes:
        app: the Celery app.
        job: ``asyncjobs.job(provider, kind, params, *, wait_timeout=None, webhook=None)``:
            submits, then waits without holding a slot; its result is the job's end (see
            :func:`job`, which builds its signature).
        submit: ``asyncjobs.submit(provider, kind, params, *, webhook=None)``: submits only;
            its result is the job (``provider``, ``job_id``, ``kind``, ``info``), what ``wait``
            takes, so ``submit.s(...) | wait.s()`` is ``job(...)`` in two tasks.
        wait: ``asyncjobs.wait(job, job_id=None, *, wait_timeout=None)``: waits for a job
            submitted elsewhere, without holding a slot: ``job`` is ``submit``'s result, or a
            provider name with ``job_id``.
    """

    app: Any
    job: Any
    submit: Any
    wait: Any


def _connect(provider: str) -> asyncjobs.Client:
    """The default: ``asyncjobs.connect(provider)``, every setting from the worker's environment
    (the secret, a budget ``<PROVIDER>_BUDGET``, the ledger ``ASYNCJOBS_LEDGER``)."""
    return asyncjobs.connect(provider)


def register(
    app: Any,
    *,
    connect: Callable[[str], asyncjobs.Client] | None = None,
    claims: Claims | None = None,
    lease: float = 60.0,
) -> Tasks:
    """Register the asyncjobs tasks on a Celery ``app`` (names ``asyncjobs.job``,
    ``asyncjobs.submit``, ``asyncjobs.wait``) and return them. Call it where the workers import the
    app. Calling it again on the same app changes the settings of the tasks already there.

    Args:
        app: the ``celery.Celery`` app.
        connect: how a worker process makes the client of a provider name (default
            ``asyncjobs.connect(name)``, settings from the environment). Each worker process makes
            one client per provider, on first use, and keeps it.
        claims: where copies of one message are told apart (:mod:`asyncjobs_celery.claims`);
            default: the app's Redis result backend, else its Redis broker.
        lease: seconds a step may run before another copy of its message may take it over: longer
            than a poll takes (the client's timeouts and retries). A copy redelivered after a
            worker process died waits out the dead copy's lease.

    Raises:
        InvalidParameterError: ``lease`` is not a positive number.
    """
    if not isinstance(lease, (int, float)) or isinstance(lease, bool) or not lease > 0:
        raise errors.InvalidParameterError(
            f"lease must be a positive number of seconds, not {lease!r}", parameter="lease"
        )
    runtime = Runtime(connect or _connect, claims, float(lease))
    options: dict[str, Any] = {
        "bind": True,
        "base": AsyncJobsTask,
        "shared": False,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "max_retries": None,
        "track_started": False,
        "throws": (errors.AsyncJobsError,),
        "asyncjobs": runtime,
    }
    existing = {name: app.tasks[name] for name in (JOB, SUBMIT, WAIT) if name in app.tasks}
    for task in existing.values():
        task.asyncjobs = runtime

    def run_job(
        self: Any,
        provider: str,
        kind: str,
        params: Mapping[str, Any],
        *,
        wait_timeout: float | None = None,
        webhook: str | bool | None = None,
        poll: Mapping[str, Any] | None = None,
    ) -> Any:
        def first() -> Any:
            client = self.asyncjobs.client(provider)
            handle = engines.submit_once(
                client, kind, dict(params), ref=f"celery:{self.request.id}", webhook=webhook
            )
            _report(self, handle)
            return self.asyncjobs.after(client, engines.start(handle, timeout=wait_timeout), 0)

        return self.asyncjobs.run(self, first, poll)

    def run_submit(
        self: Any,
        provider: str,
        kind: str,
        params: Mapping[str, Any],
        *,
        webhook: str | bool | None = None,
    ) -> dict[str, Any]:
        def first() -> dict[str, Any]:
            client = self.asyncjobs.client(provider)
            handle = engines.submit_once(
                client, kind, dict(params), ref=f"celery:{self.request.id}", webhook=webhook
            )
            return job_of(handle)

        result: dict[str, Any] = self.asyncjobs.run(self, first, None)
        return result

    def run_wait(
        self: Any,
        job: Mapping[str, Any] | str,
        job_id: str | None = None,
        *,
        wait_timeout: float | None = None,
        poll: Mapping[str, Any] | None = None,
    ) -> Any:
        def first() -> Any:
            provider, found = _job_ref(job, job_id)
            client = self.asyncjobs.client(provider)
            handle = client.job(found)
            return self.asyncjobs.after(client, engines.start(handle, timeout=wait_timeout), 0)

        return self.asyncjobs.run(self, first, poll)

    if not existing:
        from celery.signals import worker_init

        worker_init.connect(_warm, weak=False)
    made = {
        JOB: existing.get(JOB) or app.task(name=JOB, **options)(run_job),
        SUBMIT: existing.get(SUBMIT) or app.task(name=SUBMIT, **options)(run_submit),
        WAIT: existing.get(WAIT) or app.task(name=WAIT, **options)(run_wait),
    }
    return Tasks(app=app, job=made[JOB], submit=made[SUBMIT], wait=made[WAIT])


def _warm(**_: Any) -> None:
    """In a worker's main process, before its pool processes are forked: import what a client's
    first use imports (the transport, the ledger, the installed providers' modules), so that each
    pool process does not import it again on its first job. No client is made here: a client (its
    sessions, its ledger connection) must not cross a fork."""
    import importlib
    from importlib.metadata import entry_points

    for name in ("asyncjobs.provider", "asyncjobs.ledger", "asyncjobs.engines"):
        importlib.import_module(name)
    asyncjobs.available_providers()
    for point in entry_points(group="asyncjobs.providers"):
        try:
            importlib.import_module(point.module)
        except Exception:  # a broken plugin fails where it is used, with its own error
            continue


def _report(task: Any, handle: asyncjobs.Job) -> None:
    """Tell the result backend which job the task waits for (state ``WAITING``), before the first
    poll is handed on (so no later step's outcome can be overwritten by it)."""
    if task.request.is_eager or task.request.ignore_result:
        return
    task.update_state(
        state=WAITING,
        meta={"provider": handle.provider, "job_id": handle.id, "kind": handle.kind},
    )


def _job_ref(job: Mapping[str, Any] | str, job_id: str | None) -> tuple[str, str]:
    """The provider and job id a wait task was given."""
    if isinstance(job, str) and isinstance(job_id, str):
        return job, job_id
    if isinstance(job, Mapping) and job_id is None:
        provider, found = job.get("provider"), job.get("job_id", job.get("id"))
        if isinstance(provider, str) and isinstance(found, str):
            return provider, found
    raise errors.InvalidParameterError(
        "wait takes a submitted job (the submit task's result, or a JobInfo's data: a mapping "
        "with provider and job_id or id), or a provider name and a job id",
        parameter="job",
    )


def job(
    provider: str,
    kind: str,
    /,
    *,
    wait_timeout: float | None = None,
    webhook: str | bool | None = None,
    **params: Any,
) -> Any:
    """The signature of a job: submit ``kind`` with ``params`` at ``provider``, then wait for it
    without holding a worker slot; its result is the job's end (JSON-safe: ``provider``,
    ``job_id``, ``info``, ``files``, ``polls``), and a job that fails raises its typed error
    (:class:`~asyncjobs.errors.JobFailedError`) through ``.get()``.

    It is immutable (a chain's previous result is not passed to it), composes in chains, groups
    and chords, and is sent through Celery's current app (the app :func:`register` was called on).
    ``params`` travel in the message: paths (read by the worker), URLs and other JSON values.

    Args:
        provider: the provider's name.
        kind: the job kind.
        wait_timeout: seconds the wait may take after the submit (``JobTimeoutError`` then; the
            job goes on at the provider), or ``None``.
        webhook: passed to the submit: ``True`` when the workers' clients have a webhook receiver
            (``connect(..., webhooks=receiver)``); the steps then read the ledger between polls.
        **params: the job's parameters.
    """
    from celery import signature

    kwargs: dict[str, Any] = {}
    if wait_timeout is not None:
        kwargs["wait_timeout"] = wait_timeout
    if webhook is not None:
        kwargs["webhook"] = webhook
    return signature(JOB, args=(provider, kind, params), kwargs=kwargs, immutable=True)
