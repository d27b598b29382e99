"""The bodies GroupDocs.Conversion Cloud sends and receives, as attrs models, and the one cattrs
converter that maps their field names to the wire's.

Here are the bodies a token and a status read; the request, upload, storage and error bodies are
in :mod:`asyncjobs_groupdocs.bodies` (also readable from here), imported when first needed.

Requests use PascalCase keys (``FilePath``); answers come back camelCase (``filePath``), with some
PascalCase seen in the vendor's docs: :func:`structure` accepts both. The OAuth bodies keep their
snake_case names (``access_token``). The adapter and the sandbox share these models.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from asyncjobs.provider import wire_converter

__all__ = [
    "OperationResult",
    "StoredConvertedResult",
    "TokenResponse",
    "WireError",
    "converter",
    "structure",
    "unstructure",
]

#: The bodies a status does not read, in :mod:`asyncjobs_groupdocs.bodies` (imported on first use,
#: so that a first status builds 3 attrs classes instead of 12); still readable from here.
_BODIES = frozenset(
    {
        "ApiError",
        "ApiErrorBody",
        "ConvertSettings",
        "FilesUploadResult",
        "ObjectExist",
        "StorageEntry",
        "StorageFilesList",
        "TokenError",
        "UploadError",
    }
)

T = TypeVar("T")


class WireError(ValueError):
    """A body did not have the expected shape."""


# -- OAuth (snake_case on the wire) ---------------------------------------------------------------


@attrs.frozen
class TokenResponse:
    """The token endpoint's answer."""

    access_token: str
    expires_in: float | None = None
    token_type: str | None = None


# -- the API (PascalCase in requests, camelCase in answers) ---------------------------------------


@attrs.frozen
class StoredConvertedResult:
    """One converted file listed in an operation's ``result``."""

    name: str | None = None
    size: int | None = None
    path: str | None = None
    url: str | None = None


@attrs.frozen
class OperationResult:
    """The answer of ``GET /conversion/async?id=``. ``status`` is a word or a digit 0-4; timestamps are
    kept as the service wrote them (the adapter parses them leniently)."""

    id: str | None = None
    method: str | None = None
    status: Any = None
    created: Any = None
    started: Any = None
    failed: Any = None
    canceled: Any = None
    finished: Any = None
    error: str | None = None
    result: list[StoredConvertedResult] | None = None


# -- the converter ---------------------------------------------------------------------------------

#: Answers are camelCase (PascalCase read too), requests PascalCase with unset fields left out, the
#: OAuth bodies snake_case: the core's wire converter renames, once, for the whole provider.
converter = wire_converter("camel")
converter.use("snake", TokenResponse, omit_none=True)


def structure(data: Any, cls: type[T]) -> T:
    """Read ``data`` (parsed JSON) as ``cls``; keys may be camelCase or PascalCase.

    Raises:
        WireError: the body does not have the shape of ``cls``.
    """
    try:
        return converter.read(data, cls)
    except ValueError as exc:
        raise WireError(str(exc)) from exc


def unstructure(obj: Any) -> Any:
    """``obj`` as JSON-ready data with the wire's key names (requests leave ``None`` fields out)."""
    return converter.unstructure(obj)


def __getattr__(name: str) -> Any:
    """The bodies moved to :mod:`asyncjobs_groupdocs.bodies`, by their old names here."""
    if name in _BODIES:
        from . import bodies  # here: a status never needs them (9 attrs classes, about 4 ms)

        return getattr(bodies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
