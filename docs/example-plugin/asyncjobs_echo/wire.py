"""The Echo service's JSON bodies, and the one converter that reads them.

The service speaks snake_case already, so no field is renamed.
Unknown fields are ignored, so new fields from the service never break the adapter.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from asyncjobs.provider import wire_converter

__all__ = ["EchoJob", "ErrorBody", "JobsBody", "converter"]


@attrs.frozen
class EchoJob:
    """One job, as ``POST /jobs``, ``GET /jobs/{id}`` and ``GET /jobs`` show it."""

    id: str
    state: str
    created_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None
    output_size: int | None = None
    #: what the job cost, once it ended
    credits: int | None = None


@attrs.frozen
class JobsBody:
    """The answer to ``GET /jobs``."""

    jobs: tuple[EchoJob, ...] = ()


@attrs.frozen
class ErrorBody:
    """Every error answer: ``{"error": code, "detail": message}``."""

    error: str
    detail: str = ""


#: Reads every Echo body (``converter.read(json, EchoJob)``): the core's wire converter, which also
#: reads ISO 8601 times. A camelCase service says ``wire_converter("camel")`` instead.
converter = wire_converter("snake")
