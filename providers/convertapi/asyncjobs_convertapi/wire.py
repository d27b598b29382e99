"""ConvertAPI's JSON bodies as attrs models, and the one converter that maps their PascalCase wire names
(``JobId``, ``FileData``, ``InvalidParameters``...) to Python's snake_case, in one place.

Both the adapter (reading) and the sandbox (writing) use these models, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

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


converter = cattrs.Converter(forbid_extra_keys=False)


def _renamed(cls: type[Any]) -> dict[str, Any]:
    return {a.name: override(rename=wire_name(a.name)) for a in attrs.fields(cls)}


def _structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    return make_dict_structure_fn(cls, converter, **_renamed(cls))


def _unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
    return make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True, **_renamed(cls))


for _cls in (UploadedFile, JobStarted, WireFile, ConversionResult, WireError):
    converter.register_structure_hook(_cls, _structure_factory(_cls))
    converter.register_unstructure_hook(_cls, _unstructure_factory(_cls))


def structure(data: Any, cls: type[T]) -> T:
    """Read a parsed JSON body as ``cls``.

    Raises:
        ValueError: the body does not have the model's shape.
    """
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ValueError(f"unexpected {cls.__name__} body: {exc}") from exc


def unstructure(value: Any) -> Any:
    """A model as JSON-ready data with the wire's names (fields left at their default are omitted)."""
    return converter.unstructure(value)
