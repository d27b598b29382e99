"""The GroupDocs.Conversion Cloud adapter: OAuth client credentials, storage uploads and downloads, and
the async conversion API (``/conversion/async``)."""

from __future__ import annotations

import functools
import json
import mimetypes
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import requests

from asyncjobs.errors import (
    AuthenticationError,
    InvalidParameterError,
    NotSupportedError,
    ProviderError,
    TransportError,
)
from asyncjobs.provider import (
    Capabilities,
    Formats,
    JobInfo,
    MultipartBody,
    Param,
    PollPolicy,
    Provider,
    Setting,
    Source,
    Status,
    TokenAuth,
    Transport,
    convert_kind,
    get_logger,
    prepare_convert,
)

from .wire import OperationResult, TokenResponse, WireError, structure, unstructure

if TYPE_CHECKING:
    from asyncjobs.provider import ErrorDetails, Result

    from .storage import StorageFile

#: The service's codes for a document type it does not read and a conversion it does not offer.
_NOT_OFFERED = frozenset({"errorFileTypeNotSupported", "errorConversionNotSupported"})

__all__ = ["GroupDocsProvider", "path_from_url", "status_of"]

log = get_logger("asyncjobs.groupdocs")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.groupdocs.cloud/v2.0"
DEFAULT_TOKEN_URL = "https://api.groupdocs.cloud/connect/token"

#: The status words, and the digits the vendor's SDK also accepts (Created=0 ... Finished=4).
STATUS_WORDS = ("Created", "Started", "Failed", "Canceled", "Finished")
_STATUSES = {
    "created": Status.PENDING,
    "started": Status.PENDING,
    "finished": Status.DONE,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
    "cancelled": Status.FAILED,
}
_warned: set[str] = set()
_warned_lock = threading.Lock()

_OAUTH_MESSAGES = {
    "invalid_client": "the client id or client secret is wrong (check the client_id and "
    "client_secret settings, or GROUPDOCS_CLIENT_ID and GROUPDOCS_CLIENT_SECRET)",
    "unauthorized_client": "this client may not use the client-credentials grant",
}
_AUTH_CODES = frozenset(_OAUTH_MESSAGES)
_MISSING_KEY = "the specified key does not exist"
_SECRET_OPTION = re.compile(r"password|secret|token|key", re.IGNORECASE)
_DIRECT_OPTIONS = {"FromPage": "fromPage", "PagesCount": "pagesCount"}


def _warn_once(word: str) -> None:
    with _warned_lock:
        if word in _warned:
            return
        _warned.add(word)
    log.warning(
        "groupdocs: unknown operation status %r, read as pending (known: %s)",
        word,
        ", ".join(STATUS_WORDS),
    )


def status_of(raw: Any) -> tuple[Status, str | None]:
    """The normalized status of a raw ``status`` value (a word, or a digit 0-4), and the raw value
    as text, as the service sent it (``4`` stays ``"4"``: ``raw_status`` keeps the provider's own
    word). An unknown word reads as pending (and is logged once); it never raises."""
    if raw is None:
        _warn_once("<missing>")
        return Status.PENDING, None
    text = str(raw).strip()
    word = text
    if (isinstance(raw, int) and not isinstance(raw, bool)) or (text.isascii() and text.isdigit()):
        index = int(raw) if isinstance(raw, int) else int(text)
        word = STATUS_WORDS[index] if 0 <= index < len(STATUS_WORDS) else text
    status = _STATUSES.get(word.lower())
    if status is None:
        _warn_once(text)
        return Status.PENDING, text
    return status, text


def _word(raw: str | None) -> str | None:
    """The status word of a raw status (a digit 0-4 read as its word)."""
    if raw is not None and raw.isascii() and raw.isdigit() and int(raw) < len(STATUS_WORDS):
        return STATUS_WORDS[int(raw)]
    return raw


def path_from_url(url: str | None) -> str | None:
    """The storage path of a result item that lists only its ``url``: after a ``Storage:`` prefix,
    or after ``/conversion/storage/file/`` in an HTTP URL; ``None`` otherwise."""
    if not url:
        return None
    if url[:8].lower() == "storage:":
        path = url[8:].lstrip("/")
        return path or None
    marker = "/conversion/storage/file/"
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and marker in parts.path:
        path = unquote(parts.path.split(marker, 1)[1])
        return path or None
    return None


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from the service's ISO 8601 text (7-digit .NET fractions and ``Z`` too);
    ``None`` when absent or unreadable. A time without an offset is read as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _Options(dict[str, Any]):
    """LoadOptions / ConvertOptions as given; the ledger sees them with secret-looking values masked."""

    def describe(self) -> dict[str, Any]:
        return {k: "***" if _SECRET_OPTION.search(k) else v for k, v in self.items()}


def _secret_values(options: Mapping[str, Any]) -> Iterator[str]:
    for key, value in options.items():
        if isinstance(value, Mapping):
            yield from _secret_values(value)
        elif isinstance(value, str) and _SECRET_OPTION.search(key):
            yield value


class GroupDocsProvider(Provider):
    """GroupDocs.Conversion Cloud: ``convert`` jobs through its async API.

    A local source is uploaded to storage (streamed), then converted with ``POST /conversion/async``;
    the converted files are listed in the operation's result and downloaded from storage. Tokens are
    fetched on first need, cached, refreshed before they expire and once after a 401, by one thread at
    a time for all threads sharing the client.
    """

    name = "groupdocs"
    kinds = (
        convert_kind(
            Param(
                "output_path",
                doc="storage folder for the converted files (default asyncjobs/<random>/converted)",
            ),
            Param("load_options", doc="GroupDocs LoadOptions, a dict passed through by name"),
            Param("convert_options", doc="GroupDocs ConvertOptions, a dict passed through by name"),
            Param("fonts_path", doc="storage folder of custom fonts"),
            Param(
                "upload_path",
                doc="storage path a local source is uploaded to "
                "(default asyncjobs/<random>/<name>)",
            ),
            Param(
                "direct",
                doc="True: send the file in PUT /conversion/async?format= (no storage; "
                "result from /conversion/async/result)",
            ),
            extra=False,
            doc="Convert a document with GroupDocs.Conversion Cloud.",
        ),
    )
    capabilities = Capabilities(
        cancel=False,
        list=False,
        webhooks=False,
        idempotent_submit=False,
        poll=PollPolicy(initial=1.0, factor=1.5, cap=10.0, min_interval=0.2, fraction=0.4),
        job_lifetime=None,  # the vendor does not say how long operations are kept
    )

    @classmethod
    @functools.cache
    def formats(cls) -> Formats:
        """The conversions this provider declares (``formats.json``: a part of the vendor's list,
        so conversions outside it are left to the service to refuse)."""
        return Formats.from_json("asyncjobs_groupdocs", "formats.json")

    settings = (
        Setting(
            "client_id",
            env="GROUPDOCS_CLIENT_ID",
            required=True,
            doc="the application's client id (dashboard.groupdocs.cloud)",
        ),
        Setting(
            "client_secret",
            env="GROUPDOCS_CLIENT_SECRET",
            required=True,
            secret=True,
            doc="the application's client secret",
        ),
        Setting(
            "base_url",
            url=True,
            env="GROUPDOCS_BASE_URL",
            default=DEFAULT_BASE_URL,
            doc="the API's base URL (a self-hosted instance's too)",
        ),
        Setting(
            "token_url",
            url=True,
            env="GROUPDOCS_TOKEN_URL",
            default=DEFAULT_TOKEN_URL,
            doc="the OAuth token endpoint",
        ),
        Setting(
            "storage", env="GROUPDOCS_STORAGE", doc="the storage name (default storage if unset)"
        ),
    )
    sandbox = "asyncjobs_groupdocs.sandbox:GroupDocsSandbox"

    def __init__(self, config: Any, transport: Transport) -> None:
        super().__init__(config, transport)
        self.base_url: str = config["base_url"].rstrip("/")
        self.tokens = self.token_auth(self._fetch_token)

    def __repr__(self) -> str:
        return f"<GroupDocsProvider {self.base_url} client_id={self.config['client_id']!r}>"

    # -- OAuth ------------------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float | None]:
        """``POST token_url`` with the client credentials (retried like any idempotent request: a
        client-credentials grant may be asked again, and a 429 waits for its Retry-After)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": str(self.config["client_id"]),
            "client_secret": str(self.config["client_secret"]),
        }
        response = self.transport.request(
            "POST",
            self.config["token_url"],
            data=form,
            idempotent=True,
            accept=(400,),
            headers={"Accept": "application/json"},
            error_parser=self.parse_error,
            redirects=False,  # the body holds the client secret: it goes nowhere else
        )
        if response.is_redirect:
            target = urlsplit(response.headers.get("Location", "")).hostname or "elsewhere"
            response.close()
            raise AuthenticationError(
                f"groupdocs: the token endpoint {self.config['token_url']!r} answered HTTP "
                f"{response.status_code}, a redirect to {target!r}; the client secret is never sent "
                "to a redirect target. Set token_url (GROUPDOCS_TOKEN_URL) to the endpoint itself.",
                provider=self.name,
                status_code=response.status_code,
            )
        if response.status_code == 400:
            details = self.parse_error(response)
            cls = AuthenticationError if details.code in _AUTH_CODES else ProviderError
            raise self.transport.error_for(response, parser=self.parse_error, cls=cls)
        try:
            token = structure(response.json(), TokenResponse)
        except (ValueError, WireError) as exc:
            raise TransportError(
                f"groupdocs: the token endpoint answered HTTP {response.status_code} without an "
                "access_token. Check the token_url setting.",
                provider=self.name,
                status_code=response.status_code,
            ) from exc
        if not token.access_token:
            raise TransportError(
                "groupdocs: the token endpoint answered an empty access_token. Check the token_url "
                "setting.",
                provider=self.name,
                status_code=response.status_code,
            )
        log.debug("groupdocs: new access token, expires in %s s", token.expires_in)
        return token.access_token, token.expires_in

    def auth(self) -> TokenAuth:
        """Bearer tokens from the token endpoint: cached, refreshed before they expire and once
        after a 401 (the request replayed once), by the core's :class:`TokenAuth`."""
        return self.tokens

    # -- errors -----------------------------------------------------------------------------------

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Read GroupDocs' three error shapes (OAuth ``{"error": str}``, ``{"requestId", "error":
        {...}}``, ``{"code", "message"}``) and a storage upload's ``errors`` list."""
        from asyncjobs.provider import ErrorDetails  # here: only an error answer is read

        details = self._error_details(response)
        if details.message and _MISSING_KEY in details.message.lower():
            details = ErrorDetails(
                code=details.code,
                message=f"{self._missing_file(response)} ({details.message.strip().rstrip('.')})",
                request_id=details.request_id,
            )
        return details

    def _error_details(self, response: requests.Response) -> ErrorDetails:
        from asyncjobs.provider import ErrorDetails  # here: only an error answer is read

        from .bodies import (
            ApiError,
            FilesUploadResult,
        )  # here: a status that succeeds reads neither

        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip() if response.content else ""
            return ErrorDetails(message=text or _www_authenticate(response))
        lower = {str(k).lower(): v for k, v in body.items()}
        error = lower.get("error")
        if isinstance(error, str):
            said = _OAUTH_MESSAGES.get(error) or _text(lower.get("error_description")) or error
            return ErrorDetails(code=error, message=said)
        if isinstance(error, dict):
            try:
                api = structure(body, ApiError)
            except WireError:
                api = ApiError()
            inner = api.error
            if inner is None:
                return ErrorDetails(message=json.dumps(error))
            parts = [p for p in (inner.message, inner.description) if p]
            if len(parts) == 2 and parts[1].strip() in parts[0]:
                parts.pop()
            return ErrorDetails(
                code=inner.code,
                message=". ".join(p.strip().rstrip(".") for p in parts) or None,
                request_id=api.request_id,
            )
        if isinstance(lower.get("errors"), list) and lower["errors"]:
            try:
                upload = structure(body, FilesUploadResult)
            except WireError:
                return ErrorDetails(message="; ".join(map(str, lower["errors"])))
            said = "; ".join(
                " ".join(p for p in (e.message, e.description) if p) or str(e.code)
                for e in upload.errors or ()
            )
            code = next((e.code for e in upload.errors or () if e.code), None)
            return ErrorDetails(code=code, message=f"the storage upload failed: {said}")
        message = lower.get("message") or lower.get("error_description")
        return ErrorDetails(
            code=lower.get("code"),
            message=_text(message) or json.dumps(body),
        )

    def _missing_file(self, response: requests.Response) -> str:
        request = response.request
        path = urlsplit(request.url or "").path
        for marker in ("/storage/file/", "/storage/exist/"):
            if marker in path:
                name = unquote(path.split(marker, 1)[1])
                return f"the file {name!r} does not exist in GroupDocs storage"
        raw = request.body
        if isinstance(raw, (bytes, str)):
            try:
                sent = json.loads(raw)
            except ValueError:
                sent = None
            if isinstance(sent, dict):
                named = sent.get("FilePath") or sent.get("filePath")
                if named:
                    return f"the file {named!r} does not exist in GroupDocs storage"
        return "a file named in the request does not exist in GroupDocs storage"

    # -- submit -----------------------------------------------------------------------------------

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Check a convert job's parameters (no network); fill in the storage paths."""
        from .storage import StorageFile, check_storage_path  # here: a status reads no storage file

        source = params.get("source")
        direct = params.get("direct", False)
        if direct is None:
            direct = False
        if not isinstance(direct, bool):
            raise self._bad("direct", f"direct must be True or False, not {direct!r}.")
        if isinstance(source, StorageFile):
            if direct:
                raise self._bad(
                    "direct",
                    "direct=True sends a local file; a StorageFile is "
                    "already in storage (leave direct unset).",
                )
            if params.get("upload_path") is not None:
                raise self._bad(
                    "upload_path",
                    "upload_path is for local sources; a StorageFile is not uploaded.",
                )
            out = prepare_convert(
                {**params, "source": Source(name=source.name)}, provider=self.name
            )
            out["source"] = source
            ext = PurePosixPath(source.path).suffix.lstrip(".").lower()
            if out["from_"] != ext:
                raise self._bad(
                    "from_",
                    f"GroupDocs reads the source format from the file "
                    f"extension: {source.path!r} is read as {ext or 'no format'!r}, "
                    f"not {out['from_']!r}. Rename the file in storage.",
                )
        else:
            if isinstance(source, (list, tuple)):
                raise self._bad(
                    "source",
                    "GroupDocs converts one file per job; submit one job per file "
                    "(a list of sources is for ConvertAPI's merge and zip converters).",
                )
            out = prepare_convert(params, provider=self.name)
            if out["source"].is_url:
                raise self._bad(
                    "source",
                    "GroupDocs cannot fetch a URL: download the file and "
                    "pass its path, bytes or a file object (or a StorageFile).",
                )
        out["direct"] = direct
        import uuid  # here: only a submit needs it

        token = uuid.uuid4().hex
        upload_name = _upload_name(out["source"], out["from_"])
        if direct:
            for name in ("output_path", "load_options", "fonts_path", "upload_path"):
                if params.get(name) is not None:
                    raise self._bad(
                        name,
                        f"{name} does not apply to direct=True (PUT "
                        "/conversion/async takes the file, format, FromPage and "
                        "PagesCount only).",
                    )
        elif not isinstance(out["source"], StorageFile):
            given = params.get("upload_path")
            path = (
                check_storage_path(given, "upload_path")
                if given is not None
                else f"asyncjobs/{token}/{upload_name}"
            )
            if PurePosixPath(path).suffix.lstrip(".").lower() != out["from_"]:
                raise self._bad(
                    "upload_path",
                    f"upload_path {path!r} must end in "
                    f".{out['from_']}: GroupDocs reads the format from the extension.",
                )
            out["upload_path"] = path
        if not direct:
            given_out = params.get("output_path")
            out["output_path"] = (
                check_storage_path(given_out, "output_path")
                if given_out is not None
                else f"asyncjobs/{token}/converted"
            )
            if params.get("fonts_path") is not None:
                out["fonts_path"] = check_storage_path(params["fonts_path"], "fonts_path")
        for name in ("load_options", "convert_options"):
            if params.get(name) is not None:
                out[name] = self._options(name, params[name])
        if direct and out.get("convert_options"):
            extra = sorted(set(out["convert_options"]) - set(_DIRECT_OPTIONS))
            if extra:
                raise self._bad(
                    "convert_options",
                    f"direct=True takes only FromPage and "
                    f"PagesCount in convert_options, not {', '.join(extra)}.",
                )
        return out

    def _options(self, name: str, value: Any) -> _Options:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise self._bad(
                name,
                f"{name} must be a dict with string keys (GroupDocs "
                f"{name.title().replace('_', '')} by name), not {type(value).__name__}.",
            )
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise self._bad(name, f"{name} must be JSON-serializable: {exc}") from None
        for secret in _secret_values(value):
            self.transport.redactor.add(secret)
        return _Options(value)

    def _bad(self, parameter: str, message: str) -> InvalidParameterError:
        return InvalidParameterError(
            f"groupdocs: {message}", parameter=parameter, provider=self.name
        )

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        """Upload a local source (unless it is a StorageFile), then start the conversion.

        Raises:
            NotSupportedError: the service does not read the source's type, or does not convert
                it to ``to``.
        """
        from .storage import StorageFile  # here: a status reads no storage file

        if not isinstance(params.get("source"), (Source, StorageFile)):
            params = self.prepare(kind, dict(params))  # called without the client's checks
        try:
            return self._submit(params)
        except ProviderError as exc:
            if exc.code not in _NOT_OFFERED:
                raise
            raise NotSupportedError(
                f"groupdocs does not convert {params.get('from_') or 'this file'} to "
                f"{params['to']}: {exc.provider_message or exc.message} (code {exc.code}). Pick "
                "another target format (GET /conversion/formats lists them), or another provider.",
                provider=self.name,
            ) from exc

    def _submit(self, params: Mapping[str, Any]) -> JobInfo:
        from .bodies import ConvertSettings  # here: only a submit writes it
        from .storage import StorageFile  # here: a status reads no storage file

        source = params["source"]
        to = params["to"]
        if params.get("direct"):
            return self._submit_direct(source, to, params)
        file_path: str = source.path if isinstance(source, StorageFile) else params["upload_path"]
        if not isinstance(source, StorageFile):
            self._upload(source, file_path)
        settings = ConvertSettings(
            file_path=file_path,
            format=to,
            storage_name=self.config.get("storage"),
            output_path=params.get("output_path"),
            load_options=_plain(params.get("load_options")),
            convert_options=_plain(params.get("convert_options")),
            fonts_path=params.get("fonts_path"),
        )
        response = self.request(
            "POST",
            "/conversion/async",
            json=unstructure(settings),
            headers={"Accept": "application/json"},
        )
        meta = {"file_path": file_path, "output_path": settings.output_path}
        return self._started(response, "ConvertAndSave", meta)

    def _storage_query(self) -> dict[str, str]:
        storage = self.config.get("storage")
        return {"storageName": storage} if storage else {}

    def storage_url(self, path: str) -> str:
        """The URL of a file in storage (``/`` inside the path encoded as ``%2F``, as the vendor's
        SDK sends it)."""
        url = f"{self.base_url}/conversion/storage/file/{quote(path, safe='')}"
        query = self._storage_query()
        return url + (f"?storageName={quote(query['storageName'], safe='')}" if query else "")

    def _upload(self, source: Source, path: str) -> None:
        from .bodies import FilesUploadResult  # here: only an upload reads it

        with source.open() as stream:
            body = MultipartBody(file=("file", PurePosixPath(path).name, stream, source.size))
            response = self.request(
                "PUT",
                self.storage_url(path),
                data=body,
                headers={"Content-Type": body.content_type, "Accept": "application/json"},
            )
        try:
            upload = structure(response.json(), FilesUploadResult)
        except (ValueError, WireError):
            return  # an upload answered 2xx without the usual body: nothing says it failed
        if upload.errors:
            raise self.transport.error_for(response, parser=self.parse_error, cls=ProviderError)

    def _submit_direct(self, source: Source, to: str, params: Mapping[str, Any]) -> JobInfo:
        query: dict[str, Any] = {"format": to}
        for key, wire_name in _DIRECT_OPTIONS.items():
            value = (params.get("convert_options") or {}).get(key)
            if value is not None:
                query[wire_name] = value
        name = _upload_name(source, params["from_"])
        with source.open() as stream:
            body = MultipartBody(file=("file", name, stream, source.size))
            # not idempotent: repeating it would start a second conversion
            response = self.request(
                "PUT",
                "/conversion/async",
                params=query,
                data=body,
                idempotent=False,
                headers={"Content-Type": body.content_type, "Accept": "application/json"},
            )
        return self._started(response, "Convert", {"file_name": name})

    def _started(self, response: requests.Response, method: str, meta: dict[str, Any]) -> JobInfo:
        """The first JobInfo of an operation the service just created (its id from the answer)."""
        return JobInfo(
            provider=self.name,
            id=self._operation_id(response),
            kind="convert",
            status=Status.PENDING,
            raw_status="Created",
            submitted_at=datetime.now(timezone.utc),
            meta={"method": method, **meta},
        )

    def _operation_id(self, response: requests.Response) -> str:
        try:
            value = response.json()
        except ValueError:
            value = response.text.strip().strip('"')
        if not isinstance(value, str) or not value.strip():
            raise TransportError(
                f"groupdocs: the conversion started, but its answer (HTTP {response.status_code}) "
                "held no operation id. Find the job in GroupDocs' dashboard before submitting again.",
                provider=self.name,
                status_code=response.status_code,
            )
        return value.strip()

    def cancel(self, job_id: str) -> None:
        """Always raises :class:`~asyncjobs.errors.NotSupportedError`: GroupDocs has no cancel."""
        raise NotSupportedError(
            f"groupdocs cannot cancel jobs: GroupDocs.Conversion Cloud has no endpoint to cancel "
            f"or delete an async operation. Let job {job_id!r} finish and ignore its result (its "
            "converted files stay in storage until you delete them).",
            provider=self.name,
            job_id=job_id,
        )

    # -- status and result ------------------------------------------------------------------------

    def _operation(self, job_id: str) -> OperationResult:
        response = self.request(
            "GET",
            "/conversion/async",
            params={"id": job_id},
            job_id=job_id,
            headers={"Accept": "application/json"},
        )
        try:
            return structure(response.json(), OperationResult)
        except (ValueError, WireError) as exc:
            raise TransportError(
                f"groupdocs: the status of job {job_id!r} could not be read (HTTP "
                f"{response.status_code}, {type(exc).__name__}). Ask again.",
                provider=self.name,
                job_id=job_id,
                status_code=response.status_code,
            ) from exc

    def _info(self, job_id: str, op: OperationResult) -> JobInfo:
        status, raw = status_of(op.status)
        error = op.error
        if status is Status.FAILED and not error:
            error = (
                "the operation was canceled at GroupDocs"
                if (_word(raw) or "").lower() in ("canceled", "cancelled")
                else "GroupDocs reported the conversion failed, without an explanation"
            )
        completed = parse_time(op.finished) or parse_time(op.failed) or parse_time(op.canceled)
        return JobInfo(
            provider=self.name,
            id=job_id,
            kind="convert",
            status=status,
            raw_status=raw,
            submitted_at=parse_time(op.created),
            started_at=parse_time(op.started),
            completed_at=completed if status.finished else None,
            error=self.transport.redactor(error) if error and status is Status.FAILED else None,
            meta={"method": op.method} if op.method else {},
        )

    def status(self, job_id: str) -> JobInfo:
        """``GET /conversion/async?id=``, normalized."""
        return self._info(job_id, self._operation(job_id))

    def result(self, job_id: str) -> Result:
        """The converted files: from storage when listed with a path (or a ``url`` naming one),
        else the result endpoint."""
        from asyncjobs.provider import Result, ResultFile  # here: not built for a status

        op = self._operation(job_id)
        info = self._info(job_id, op)
        self.require_done(info)
        direct = f"{self.base_url}/conversion/async/result?id={quote(job_id, safe='')}"
        files = []
        for item in op.result or ():
            path = item.path or path_from_url(item.url)
            name = item.name or (PurePosixPath(path).name if path else "")
            if name.strip() in ("", ".", ".."):
                name = job_id
            url = self.storage_url(path) if path else direct
            size = item.size if item.size is None or item.size >= 0 else None
            files.append(ResultFile(name, size=size, url=url, media_type=_media_type(name)))
        if not files:
            files.append(ResultFile(job_id, url=direct))
        return Result(files=tuple(files), raw=unstructure(op))


def _plain(options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if options is None else dict(options)


def _upload_name(source: Source | StorageFile, from_: str) -> str:
    name = source.name or "source"
    stem = PurePosixPath(name).stem if PurePosixPath(name).suffix else name
    stem = stem.replace("/", "_").strip() or "source"
    return f"{stem}.{from_}"


def _media_type(name: str) -> str | None:
    return mimetypes.guess_type(name)[0]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _www_authenticate(response: requests.Response) -> str | None:
    header = response.headers.get("WWW-Authenticate", "")
    match = re.search(r'error_description="([^"]*)"', header)
    if match:
        return match.group(1)
    match = re.search(r'error="([^"]*)"', header)
    return match.group(1) if match else None
