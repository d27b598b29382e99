"""The GroupDocs.Conversion Cloud bodies a status never reads: the conversion request, the storage
upload's answer and errors, the storage listings and the error shapes. Imported when a submit, an
upload, a storage call or an error first needs them, so that a first status builds only the token
and operation classes of :mod:`asyncjobs_groupdocs.wire`; read and written with its converter.
"""

from __future__ import annotations

from typing import Any

import attrs

from .wire import converter

__all__ = [
    "ApiError",
    "ApiErrorBody",
    "ConvertSettings",
    "FilesUploadResult",
    "ObjectExist",
    "StorageEntry",
    "StorageFilesList",
    "TokenError",
    "UploadError",
]


# -- OAuth (snake_case on the wire) ---------------------------------------------------------------


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


converter.use("snake", TokenError, omit_none=True)
converter.use("pascal", ConvertSettings, omit_none=True)
