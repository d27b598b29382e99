"""The bodies GroupDocs.Conversion Cloud sends and receives, as attrs models, and the one cattrs
converter that maps their field names to the wire's.

Requests use PascalCase keys (``FilePath``); answers come back camelCase (``filePath``), with some
PascalCase seen in the vendor's docs: :func:`structure` accepts both. The OAuth bodies keep their
snake_case names (``access_token``). The adapter and the sandbox share these models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

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

converter = Converter()

_OAUTH: tuple[type[Any], ...] = (TokenResponse, TokenError)
_REQUESTS: tuple[type[Any], ...] = (ConvertSettings,)
_ANSWERS: tuple[type[Any], ...] = (
    StoredConvertedResult,
    OperationResult,
    UploadError,
    FilesUploadResult,
    ApiErrorBody,
    ApiError,
    ObjectExist,
    StorageEntry,
    StorageFilesList,
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _pascal(name: str) -> str:
    camel = _camel(name)
    return camel[:1].upper() + camel[1:]


def _uncap(key: str) -> str:
    return key[:1].lower() + key[1:]


def _register(cls: type[Any], wire_name: Any, *, any_case: bool, omit_none: bool) -> None:
    fields = attrs.fields(cls)
    out_names: dict[str, Any] = {f.name: override(rename=wire_name(f.name)) for f in fields}
    unstructure = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=omit_none, **out_names
    )
    read_name = _camel if any_case else wire_name
    in_names: dict[str, Any] = {f.name: override(rename=read_name(f.name)) for f in fields}
    structure_fn = make_dict_structure_fn(cls, converter, **in_names)

    def structure_hook(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise WireError(
                f"expected a JSON object for {cls.__name__}, got {type(value).__name__}"
            )
        if any_case:
            value = {_uncap(str(k)): v for k, v in value.items()}
        return structure_fn(value, cls)

    converter.register_unstructure_hook(cls, unstructure)
    converter.register_structure_hook(cls, structure_hook)


for _cls in _OAUTH:
    _register(_cls, lambda n: n, any_case=False, omit_none=True)
for _cls in _REQUESTS:  # requests leave unset (None) settings out
    _register(_cls, _pascal, any_case=True, omit_none=True)
for _cls in _ANSWERS:
    _register(_cls, _camel, any_case=True, omit_none=False)


def structure(data: Any, cls: type[T]) -> T:
    """Read ``data`` (parsed JSON) as ``cls``; keys may be camelCase or PascalCase.

    Raises:
        WireError: the body does not have the shape of ``cls``.
    """
    try:
        return converter.structure(data, cls)
    except WireError:
        raise
    except Exception as exc:  # cattrs raises several exception types, grouped
        raise WireError(f"unexpected {cls.__name__} body: {exc}") from exc


def unstructure(obj: Any) -> Any:
    """``obj`` as JSON-ready data with the wire's key names (requests leave ``None`` fields out)."""
    return converter.unstructure(obj)
