"""What the trigger tells the task: a wait's end as a JSON-safe event, and the typed error back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncjobs import JobInfo, engines, errors

__all__ = ["error_event", "raise_if_failed", "turn_event"]


def turn_event(turn: engines.Turn) -> dict[str, Any]:
    """The event of a wait that is over: the job, ``status`` (``"done"``, ``"failed"`` for a job
    that failed, ``"error"`` for a wait that ended otherwise) and the turn (:meth:`Turn.to_dict`)."""
    state = turn.state
    if turn.error is None:
        status = "done"
    elif isinstance(turn.error, errors.JobFailedError):
        status = "failed"
    else:
        status = "error"
    return {
        "provider": state.provider,
        "job_id": state.job_id,
        "kind": state.kind,
        "status": status,
        "turn": turn.to_dict(),
    }


def error_event(
    provider: str, job_id: str, kind: str | None, exc: errors.AsyncJobsError
) -> dict[str, Any]:
    """The event of a wait that could not start or go on (the client could not be built)."""
    return {
        "provider": provider,
        "job_id": job_id,
        "kind": kind,
        "status": "error",
        "turn": {
            "state": None,
            "delay": None,
            "info": None,
            "error": {
                "type": type(exc).__name__,
                "message": exc.message,
                "provider": exc.provider or provider,
                "job_id": exc.job_id or job_id,
            },
        },
    }


def raise_if_failed(event: Mapping[str, Any]) -> JobInfo | None:
    """The job's last :class:`~asyncjobs.JobInfo` from a trigger's event, or the typed asyncjobs
    error the wait ended with, raised (``JobFailedError`` with the provider's message,
    ``JobTimeoutError``, ``JobNotFoundError``...), naming the provider and the job.

    Raises:
        AsyncJobsError: the wait did not end with the job done; ``ValueError`` for an event that is
            not an asyncjobs trigger's.
    """
    if not isinstance(event, Mapping) or "turn" not in event or "status" not in event:
        raise ValueError(f"not an asyncjobs trigger event: {event!r}")
    turn = event["turn"]
    info = engines.info_from_dict(turn["info"]) if turn.get("info") else None
    if event["status"] == "done":
        return info
    raise rebuild_error(turn.get("error") or {}, info, event)


def rebuild_error(
    error: Mapping[str, Any], info: JobInfo | None, event: Mapping[str, Any]
) -> errors.AsyncJobsError:
    """The typed error a turn's ``error`` describes (class by name from :mod:`asyncjobs.errors`)."""
    provider = error.get("provider") or event.get("provider")
    job_id = error.get("job_id") or event.get("job_id")
    message = str(error.get("message") or f"job {job_id!r} at {provider}: the wait failed")
    name = str(error.get("type") or "")
    if name == "JobFailedError" and info is not None:
        return errors.JobFailedError(info)
    if name == "JobTimeoutError":
        return errors.JobTimeoutError(message, provider=provider, job_id=job_id, info=info)
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.AsyncJobsError):
        try:
            return cls(message, provider=provider, job_id=job_id)
        except TypeError:  # an error whose constructor takes other arguments
            pass
    return errors.ProviderError(message, provider=provider, job_id=job_id)
