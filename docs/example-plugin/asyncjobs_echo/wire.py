"""The Echo service's JSON bodies, and the one converter that reads them.

The service speaks snake_case already, so no field is renamed; only its ISO 8601 times need a hook.
Unknown fields are ignored, so new fields from the service never break the adapter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import cattrs

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


@attrs.frozen
class JobsBody:
    """The answer to ``GET /jobs``."""

    jobs: tuple[EchoJob, ...] = ()


@attrs.frozen
class ErrorBody:
    """Every error answer: ``{"error": code, "detail": message}``."""

    error: str
    detail: str = ""


def _datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, not {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


#: Reads every Echo body.
converter = cattrs.Converter()
converter.register_structure_hook(datetime, _datetime)
