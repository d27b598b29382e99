"""CloudConvert API v2 bodies as attrs models, read and written by one converter.

The wire is snake_case already (``job_id``, ``created_at``, ``depends_on_task_ids``), so the
converter renames nothing, in this one place; keys a model does not name are ignored. Both the adapter (reading) and the
sandbox (writing) use these models, so they cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import attrs

from asyncjobs.provider import wire_converter

__all__ = [
    "ApiError",
    "FileEntry",
    "Job",
    "JobBody",
    "JobLook",
    "JobLookBody",
    "JobsBody",
    "Links",
    "Meta",
    "Task",
    "TaskBody",
    "TaskLook",
    "TaskResult",
    "UploadForm",
    "WebhookEvent",
    "converter",
    "structure",
    "unstructure",
]

T = TypeVar("T")


@attrs.frozen
class FileEntry:
    """One file of a task's ``result.files``: export/url tasks give its ``url``."""

    filename: str
    url: str | None = None
    size: int | None = None
    dir: str | None = None


@attrs.frozen
class UploadForm:
    """``result.form`` of a waiting ``import/upload`` task: where to POST the file, with which
    form fields (``parameters``)."""

    url: str
    parameters: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TaskResult:
    """A task's ``result``: its ``files`` (finished tasks), or the upload ``form``."""

    files: tuple[FileEntry, ...] = ()
    form: UploadForm | None = None


@attrs.frozen
class Task:
    """One task, as ``GET /v2/tasks/{id}`` or a job's ``tasks`` show it."""

    id: str
    operation: str
    status: str
    name: str | None = None
    job_id: str | None = None
    message: str | None = None
    code: str | None = None
    credits: int | None = None
    percent: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: TaskResult | None = None
    payload: dict[str, Any] | None = None
    depends_on_task_ids: tuple[str, ...] | None = None
    retry_of_task_id: str | None = None
    links: dict[str, str] | None = None


@attrs.frozen
class Job:
    """A job: its tasks and its status (``waiting``, ``processing``, ``finished``, ``error``)."""

    id: str
    status: str | None = None
    tag: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    tasks: tuple[Task, ...] = ()
    links: dict[str, str] | None = None


@attrs.frozen
class TaskLook:
    """What a poll reads of a task: the fields the adapter decides by (a :class:`Task` without its
    payload, links and times, so that a poll's answer is read in a fraction of the time)."""

    id: str
    operation: str
    status: str
    name: str | None = None
    message: str | None = None
    code: str | None = None
    credits: int | None = None
    result: TaskResult | None = None


@attrs.frozen
class JobLook:
    """What a poll reads of a job (:class:`Job` with :class:`TaskLook` tasks)."""

    id: str
    status: str | None = None
    tag: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    tasks: tuple[TaskLook, ...] = ()


@attrs.frozen
class JobLookBody:
    """``{"data": job}``, read for a poll."""

    data: JobLook


@attrs.frozen
class JobBody:
    """``{"data": job}``."""

    data: Job


@attrs.frozen
class TaskBody:
    """``{"data": task}``."""

    data: Task


@attrs.frozen
class Links:
    """The ``links`` of a listing page."""

    first: str | None = None
    last: str | None = None
    prev: str | None = None
    next: str | None = None


@attrs.frozen
class Meta:
    """The ``meta`` of a listing page."""

    current_page: int | None = None
    path: str | None = None
    per_page: int | None = None
    to: int | None = None


@attrs.frozen
class JobsBody:
    """``GET /v2/jobs``: a page of jobs, with ``links`` and ``meta``."""

    data: tuple[Job, ...] = ()
    links: Links | None = None
    meta: Meta | None = None


@attrs.frozen
class ApiError:
    """The error body: ``{"message", "code", "errors": {field: [complaints]}}``."""

    message: str | None = None
    code: str | None = None
    errors: dict[str, tuple[str, ...]] | None = None


@attrs.frozen
class WebhookEvent:
    """A webhook call's body: ``{"event": "job.finished" | "job.failed" | "job.created", "job"}``."""

    event: str
    job: Job


#: snake_case on the wire as in Python; requests and answers leave fields at None out
converter = wire_converter("snake", omit_none=True)


def structure(data: Any, cls: type[T]) -> T:
    """Read a parsed JSON body as ``cls``.

    Raises:
        ValueError: the body does not have the model's shape.
    """
    return converter.read(data, cls)


def unstructure(value: Any) -> Any:
    """A model as JSON-ready data (fields left at None omitted)."""
    return converter.write(value)
