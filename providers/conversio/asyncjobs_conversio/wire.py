"""Conversio's JSON bodies as attrs models, and the one cattrs converter that reads them.

The wire spells fields in camelCase (``startedAt``); the models use snake_case. The renaming happens
in one place: the structure hook factory at the bottom of this module. Unknown fields are ignored, so a
new field from the service never breaks a client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

__all__ = ["AsyncJob", "ErrorBody", "JobBody", "JobsBody", "Meta", "converter"]


@attrs.frozen
class AsyncJob:
    """One async job as Conversio describes it (``GET /async-jobs/{id}``)."""

    id: str
    kind: str
    status: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    result: str | None = None
    partner_app: str | None = None


@attrs.frozen
class JobBody:
    """``{"data": job}``: the answer of a creating endpoint and of ``GET /async-jobs/{id}``."""

    data: AsyncJob


@attrs.frozen
class Meta:
    """The pagination block Conversio's other list endpoints send (``nextPage`` is a full URL)."""

    next_page: str | None = None


@attrs.frozen
class JobsBody:
    """``{"data": [job, ...]}``: the answer of ``GET /async-jobs``, ``meta`` if it ever paginates."""

    data: list[AsyncJob]
    meta: Meta | None = None


@attrs.frozen
class ErrorBody:
    """``{"errors": ["message", ...]}``: every error answer (Conversio has no error codes)."""

    errors: list[str]


def _time(value: Any, _: type) -> datetime:
    when = datetime.fromisoformat(str(value))  # ISO 8601, "Z" included
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _renamed(cls: type) -> Callable[[Any, type], Any]:
    renames = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
    return make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]


#: Reads Conversio's bodies into the models above (``converter.structure(json, JobBody)``).
converter = cattrs.Converter()
converter.register_structure_hook(datetime, _time)
converter.register_structure_hook_factory(attrs.has, _renamed)
