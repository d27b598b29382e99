"""Zamzar API v1's JSON bodies as attrs models, and the one converter that reads and writes them.

The wire is snake_case already; the job's ``import`` key (a Python keyword) is the field ``import_``,
which the core's wire converter reads and writes as ``import``. Both the adapter (reading) and the
sandbox (writing) use these models, so they cannot drift apart. Field names follow the vendor's
OpenAPI document (github.com/zamzar/zamzar-spec, ``openapi/spec.yaml``) and its mock's examples.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import attrs

from asyncjobs.provider import wire_converter

__all__ = [
    "Account",
    "ApiError",
    "Errors",
    "Export",
    "Failure",
    "Format",
    "FormatTarget",
    "Import",
    "Job",
    "Page",
    "Paging",
    "Plan",
    "WireFile",
    "converter",
    "structure",
    "unstructure",
]

T = TypeVar("T")


@attrs.frozen
class Failure:
    """Why a job, import or export failed: ``{"code", "message"}``."""

    code: int | None = None
    message: str | None = None


@attrs.frozen
class WireFile:
    """A file that was uploaded, imported or converted (``id`` and ``name`` always present)."""

    id: int
    name: str
    key: str | None = attrs.field(default=None, repr=False)
    size: int | None = None
    format: str | None = None
    created_at: datetime | None = None


@attrs.frozen
class Import:
    """A copy of a remote file (URL, (S)FTP or S3) onto Zamzar's servers."""

    id: int
    key: str | None = attrs.field(default=None, repr=False)
    url: str | None = None
    status: str | None = None
    failure: Failure | None = None
    file: WireFile | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


@attrs.frozen
class Export:
    """The copy of one converted file to the job's ``export_url``."""

    id: int
    url: str | None = None
    status: str | None = None
    failure: Failure | None = None


@attrs.frozen
class Job:
    """A conversion job (``GET/POST/DELETE /v1/jobs...``)."""

    id: int
    key: str | None = attrs.field(default=None, repr=False)
    status: str | None = None
    failure: Failure | None = None
    sandbox: bool | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    import_: Import | None = None
    source_file: WireFile | None = None
    target_files: tuple[WireFile, ...] | None = None
    target_format: str | None = None
    credit_cost: int | None = None
    export_url: str | None = None
    exports: tuple[Export, ...] | None = None
    options: dict[str, Any] | None = None


@attrs.frozen
class Paging:
    """A page's coordinates; ``first``/``last`` are ids (numbers) or, for formats, names."""

    total_count: int | None = None
    first: int | str | None = None
    last: int | str | None = None
    limit: int | None = None


@attrs.frozen
class Page:
    """A paged collection: ``{"data": [...], "paging": {...}}`` (read ``data`` with the item type)."""

    data: tuple[Any, ...] = ()
    paging: Paging | None = None


@attrs.frozen
class FormatTarget:
    """A target format of a source format, and what converting to it costs."""

    name: str
    credit_cost: int | None = None


@attrs.frozen
class Format:
    """A source format and its targets (``GET /v1/formats/{name}``)."""

    name: str
    targets: tuple[FormatTarget, ...] = ()


@attrs.frozen
class Plan:
    """The account's plan."""

    name: str | None = None
    price_per_month: float | None = None
    conversions_per_month: int | None = None
    maximum_file_size: int | None = None


@attrs.frozen
class Account:
    """``GET /v1/account``."""

    test_credits_remaining: int | None = None
    credits_remaining: int | None = None
    plan: Plan | None = None


@attrs.frozen
class ApiError:
    """One entry of an error body's ``errors`` array."""

    message: str | None = None
    code: int | None = None
    context: dict[str, Any] | None = None


@attrs.frozen
class Errors:
    """The error body of every 4xx/5xx: ``{"errors": [{"message", "code", "context"}]}``."""

    errors: tuple[ApiError, ...] = ()


#: Reads and writes the models above with the wire's snake_case names; fields left at their
#: default are omitted from what is written (the vendor's examples leave absent keys out).
converter = wire_converter("snake", omit_none=True)


def structure(data: Any, cls: type[T]) -> T:
    """Read a parsed JSON body as ``cls``.

    Raises:
        ValueError: the body does not have the model's shape.
    """
    return converter.read(data, cls)


def unstructure(value: Any) -> Any:
    """A model as JSON-ready data with the wire's names (fields left at their default omitted)."""
    return converter.write(value)
