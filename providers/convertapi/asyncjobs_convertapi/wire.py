"""ConvertAPI's JSON bodies as attrs models, and the one converter that maps their PascalCase wire names
(``JobId``, ``FileData``, ``InvalidParameters``...) to Python's snake_case, in one place.

Both the adapter (reading) and the sandbox (writing) use these models, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from asyncjobs.provider import wire_converter

__all__ = [
    "ConversionResult",
    "JobStarted",
    "UploadedFile",
    "WireError",
    "WireFile",
    "converter",
    "structure",
    "unstructure",
    "wire_name",
]

T = TypeVar("T")


@attrs.frozen
class UploadedFile:
    """The answer of ``POST /upload``: ``{"FileId", "FileName", "FileExt"}``."""

    file_id: str
    file_name: str | None = None
    file_ext: str | None = None


@attrs.frozen
class JobStarted:
    """The answer of an async conversion request: ``{"JobId"}``."""

    job_id: str


@attrs.frozen
class WireFile:
    """One result file: a ``Url`` (``StoreFile=true``) or inline base64 ``FileData``."""

    file_name: str
    file_ext: str | None = None
    file_size: int | None = None
    file_id: str | None = None
    url: str | None = None
    file_data: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ConversionResult:
    """A finished conversion: its files and its cost (``ConversionTime`` in older answers)."""

    files: tuple[WireFile, ...] = ()
    conversion_cost: int | None = None
    conversion_time: int | None = None


@attrs.frozen
class WireError:
    """The error body: ``{"Code", "Message", "InvalidParameters": {name: [complaints]}}``."""

    code: int | None = None
    message: str | None = None
    invalid_parameters: dict[str, tuple[str, ...]] | None = None


def wire_name(field: str) -> str:
    """The wire's name of a snake_case field: ``file_id`` -> ``FileId``."""
    return "".join(part.capitalize() for part in field.split("_"))


#: Reads and writes the models above with ConvertAPI's PascalCase names, renamed by the core's
#: wire converter; requests and answers leave fields at their default out.
converter = wire_converter("pascal", omit_none=True)


def structure(data: Any, cls: type[T]) -> T:
    """Read a parsed JSON body as ``cls``.

    Raises:
        ValueError: the body does not have the model's shape.
    """
    return converter.read(data, cls)


def unstructure(value: Any) -> Any:
    """A model as JSON-ready data with the wire's names (fields left at their default are omitted)."""
    return converter.write(value)
