"""The bodies GroupDocs.Conversion Cloud sends and receives, as attrs models, and the one cattrs
converter that maps their field names to the wire's.

Requests use PascalCase keys (``FilePath``); answers come back camelCase (``filePath``), with some
PascalCase seen in the vendor's docs: :func:`structure` accepts both. The OAuth bodies keep their
snake_case names (``access_token``). The adapter and the sandbox share these models.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from asyncjobs.provider import wire_converter

__all__ = [
    "ApiError",
    "ApiErrorBody",
    "ConvertSettings",
    "FilesUploadResult",
    "ObjectExist",
    "OperationResult",
    "StorageEntry",
    "StorageFilesList",
    "StoredConvertedResult",
    "TokenError",
    "TokenResponse",
    "UploadError",
    "WireError",
    "converter",
    "structure",
    "unstructure",
]

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


@attrs.frozen
class TokenError:
    """The token endpoint's error: ``{"error": "invalid_client"}``."""

    error: str
    error_description: str | None = None


# -- the API (PascalCase in requests, camelCase in answers) ---------------------------------------


@attrs.frozen
class ConvertSettings:
    """The body of ``POST /conversion/async``."""

    file_path: str
    format: str
    storage_name: str | None = None
    output_path: str | None = None
    load_options: dict[str, Any] | None = None
    convert_options: dict[str, Any] | None = None
    fonts_path: str | None = None


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


@attrs.frozen
class UploadError:
    """One failed file of a storage upload."""

    code: str | None = None
    message: str | None = None
    description: str | None = None


@attrs.frozen
class FilesUploadResult:
    """The answer of a storage upload (HTTP 200 even when a file failed)."""

    uploaded: list[str] | None = None
    errors: list[UploadError] | None = None


@attrs.frozen
class ApiErrorBody:
    """The inner ``error`` of the API's error shape."""

    code: Any = None
    message: str | None = None
    description: str | None = None
    date_time: str | None = None
    inner_error: Any = None


@attrs.frozen
class ApiError:
    """``{"requestId", "error": {code, message, description, dateTime, innerError}}``."""

    request_id: str | None = None
    error: ApiErrorBody | None = None


@attrs.frozen
class ObjectExist:
    """The answer of ``GET /conversion/storage/exist/{path}``."""

    exists: bool = False
    is_folder: bool = False


@attrs.frozen
class StorageEntry:
    """One entry of a storage folder listing."""

    name: str
    is_folder: bool = False
    modified_date: str | None = None
    size: int = 0
    path: str | None = None


@attrs.frozen
class StorageFilesList:
    """The answer of ``GET /conversion/storage/folder/{path}``."""

    value: list[StorageEntry] = attrs.field(factory=list)


# -- the converter ---------------------------------------------------------------------------------

#: Answers are camelCase (PascalCase read too), requests PascalCase with unset fields left out, the
#: OAuth bodies snake_case: the core's wire converter renames, once, for the whole provider.
converter = wire_converter("camel")
converter.use("snake", TokenResponse, TokenError, omit_none=True)
converter.use("pascal", ConvertSettings, omit_none=True)


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
