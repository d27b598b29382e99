"""A local emulator of GroupDocs.Conversion Cloud, faithful to the vendor's protocol: the OAuth token
endpoint (expiring tokens, lockout after too many failed requests), storage (upload, download, delete,
exists, folder list), both ways to start an async conversion, operation status and result, and the
service's three error shapes.

Routes (served under any base URL; point a client at ``<url>/v2.0`` and ``<url>/connect/token``)::

    POST   /connect/token                          client credentials -> access token
    PUT    /v2.0/conversion/storage/file/{path}    multipart upload (field "file")
    GET    /v2.0/conversion/storage/file/{path}    download      DELETE: delete
    GET    /v2.0/conversion/storage/exist/{path}   {"exists", "isFolder"}
    GET    /v2.0/conversion/storage/folder/{path}  {"value": [...]}
    POST   /v2.0/conversion/async                  ConvertSettings JSON -> "operation id"
    PUT    /v2.0/conversion/async?format=          multipart upload -> "operation id"
    GET    /v2.0/conversion/async?id=              OperationResult
    GET    /v2.0/conversion/async/result?id=       the converted bytes
    GET    /v2.0/conversion/formats                supported formats
    POST   /v2.0/conversion                        ConvertSettings -> stored results (or, without
                                                   OutputPath, the converted bytes)
    PUT    /v2.0/conversion?format=                multipart "file" -> the converted bytes
    GET    /v2.0/conversion/info?filePath=         document info (page count read from the file)
    PUT    /v2.0/conversion/storage/folder/{path}  create a folder    DELETE ?recursive=: delete
    PUT    /v2.0/conversion/storage/folder/copy/{src}?destPath=   (and .../move/...)
    PUT    /v2.0/conversion/storage/file/copy/{src}?destPath=     (and .../move/...)
    GET    /v2.0/conversion/storage/disc           {"usedSize", "totalSize"}
    GET    /v2.0/conversion/storage/version/{path} {"value": [file versions]}
    GET    /v2.0/conversion/storage/{name}/exist   {"exists"}: is there a storage of that name

Operations go Created -> Started (after ``start_delay`` sandbox seconds) -> Finished (after
``conversion_seconds``). A source whose path or name contains ``corrupt`` (or whose content starts
with ``corrupt``) ends Failed; one containing ``cancel`` ends Canceled. A storage upload to a path
containing ``upload-error`` is answered 200 with an ``errors`` entry, as the service does when a file
fails. The converted bytes are :func:`expected_output` of the input, so tests can check them exactly.

A missing source file answers with the service's own wording, ``AmazonS3 Storage exception: The
specified key does not exist.`` and the path. A password-protected document (an OLE compound file, as
encrypted Office documents are) converts only with ``LoadOptions.Password``. The token endpoint
follows the vendor family's documented rule: after ``failed_token_limit`` (5) failed requests of one
credential pair, that pair's further requests are answered 429 with ``Retry-After`` for
``lockout_seconds`` (600).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import shutil
import tempfile
import threading
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import quote

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from asyncjobs.sandbox import JobClock, SandboxApp, json_response

from .bodies import (
    ConvertSettings,
    FilesUploadResult,
    ObjectExist,
    StorageEntry,
    StorageFilesList,
    UploadError,
)
from .wire import OperationResult, StoredConvertedResult, WireError, structure, unstructure

__all__ = ["GroupDocsSandbox", "expected_output"]

_CHUNK = 1024 * 1024
#: The conversions the sandbox offers (``GET /conversion/formats``), a part of the service's list; it
#: refuses every other one, as the service refuses what it does not convert.
_FORMATS = {
    "docx": ("pdf", "html", "txt", "png", "jpg", "odt", "rtf", "doc", "epub", "xps", "tiff"),
    "doc": ("pdf", "docx", "html", "txt", "odt", "rtf"),
    "odt": ("pdf", "docx", "html", "txt"),
    "rtf": ("pdf", "docx", "html", "txt"),
    "txt": ("pdf", "docx", "html"),
    "xlsx": ("pdf", "csv", "html", "xls", "ods"),
    "xls": ("pdf", "xlsx", "csv", "html"),
    "csv": ("pdf", "xlsx", "html"),
    "pptx": ("pdf", "png", "jpg", "html", "ppt"),
    "ppt": ("pdf", "pptx", "html"),
    "pdf": ("docx", "html", "png", "jpg", "txt", "tiff"),
    "html": ("pdf", "docx"),
    "png": ("pdf", "jpg"),
    "jpg": ("pdf", "png"),
}


def expected_output(data: bytes, from_: str, to: str) -> bytes:
    """The bytes the sandbox produces converting ``data`` from ``from_`` to ``to``."""
    return _output(hashlib.sha256(data).hexdigest(), from_, to)


def _output(digest: str, from_: str, to: str) -> bytes:
    return f"%PDF-1.4\n% asyncjobs sandbox: {from_} -> {to}\n{digest}".encode()


def _stamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Operation:
    def __init__(self, **kw: Any) -> None:
        self.id: str = kw["id"]
        self.method: str = kw["method"]
        self.source: Path = kw["source"]
        self.file_path: str = kw["file_path"]
        self.format: str = kw["format"]
        self.output_path: str | None = kw.get("output_path")
        self.storage: str = kw.get("storage") or ""
        self.created: float = kw["created"]
        self.outcome: str = kw["outcome"]
        self.error: str | None = kw.get("error")
        self.output: Path | None = None  # set once Finished
        self.output_storage_path: str | None = None


class GroupDocsSandbox(SandboxApp):
    """The GroupDocs.Conversion Cloud emulator.

    Args:
        scale: sandbox seconds per wall second.
        clock: a shared :class:`~asyncjobs.sandbox.JobClock` instead of a new one.
        root: the folder holding storage (a temporary folder, removed by :meth:`close`, when None).
        client_id, client_secret: the credentials the token endpoint accepts.
        token_lifetime: sandbox seconds an access token lives (the vendor: 86400). ``expires_in``
            tells the client the wall seconds that is at this scale (at least 1).
        conversion_seconds: sandbox seconds from Created to Finished (or Failed/Canceled).
        start_delay: sandbox seconds from Created to Started.
        failed_token_limit, failed_token_window, lockout_seconds: once this many token requests
            of one credential pair failed within the window (sandbox seconds), the token endpoint
            answers that pair's further requests 429 with ``Retry-After`` for ``lockout_seconds``
            (the vendor family's documented rule: more than 5 failed requests, then 600 s).
        storages: storage names that exist besides the default one.
        disc_size: the ``totalSize`` of ``GET /storage/disc``.

    Counters for tests: ``token_requests`` (every POST to the token endpoint), ``tokens_issued``,
    ``failed_token_requests``, ``unauthorized`` (API requests refused with 401).
    """

    provider = "groupdocs"
    fails_on_demand = True
    url_map = Map(
        [
            Rule("/connect/token", endpoint="token", methods=["POST"]),
            Rule("/v2.0/conversion/storage/file/<path:path>", endpoint="upload", methods=["PUT"]),
            Rule("/v2.0/conversion/storage/file/<path:path>", endpoint="download", methods=["GET"]),
            Rule(
                "/v2.0/conversion/storage/file/<path:path>", endpoint="delete", methods=["DELETE"]
            ),
            Rule("/v2.0/conversion/storage/exist/<path:path>", endpoint="exist", methods=["GET"]),
            Rule(
                "/v2.0/conversion/storage/folder",
                endpoint="folder",
                methods=["GET"],
                defaults={"path": ""},
            ),
            Rule("/v2.0/conversion/storage/folder/<path:path>", endpoint="folder", methods=["GET"]),
            Rule("/v2.0/conversion/async", endpoint="start_from_storage", methods=["POST"]),
            Rule("/v2.0/conversion/async", endpoint="start_with_upload", methods=["PUT"]),
            Rule("/v2.0/conversion/async", endpoint="operation_status", methods=["GET"]),
            Rule("/v2.0/conversion/async/result", endpoint="operation_result", methods=["GET"]),
            Rule("/v2.0/conversion/formats", endpoint="formats", methods=["GET"]),
            Rule("/v2.0/conversion", endpoint="convert_stored", methods=["POST"]),
            Rule("/v2.0/conversion", endpoint="convert_direct", methods=["PUT"]),
            Rule("/v2.0/conversion/info", endpoint="info", methods=["GET"]),
            Rule(
                "/v2.0/conversion/storage/folder/<path:path>",
                endpoint="create_folder",
                methods=["PUT"],
            ),
            Rule(
                "/v2.0/conversion/storage/folder/<path:path>",
                endpoint="delete_folder",
                methods=["DELETE"],
            ),
            Rule(
                "/v2.0/conversion/storage/folder/<any(copy, move):how>/<path:src>",
                endpoint="copy_folder",
                methods=["PUT"],
            ),
            Rule(
                "/v2.0/conversion/storage/file/<any(copy, move):how>/<path:src>",
                endpoint="copy_file",
                methods=["PUT"],
            ),
            Rule("/v2.0/conversion/storage/disc", endpoint="disc", methods=["GET"]),
            Rule(
                "/v2.0/conversion/storage/version/<path:path>", endpoint="versions", methods=["GET"]
            ),
            Rule(
                "/v2.0/conversion/storage/<name>/exist", endpoint="storage_exists", methods=["GET"]
            ),
        ],
        merge_slashes=False,
    )

    def __init__(
        self,
        *,
        scale: float = 1.0,
        clock: JobClock | None = None,
        root: str | Path | None = None,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret-0123456789",
        token_lifetime: float = 86400.0,
        conversion_seconds: float = 2.0,
        start_delay: float = 0.5,
        failed_token_limit: int = 5,
        failed_token_window: float = 600.0,
        lockout_seconds: float = 600.0,
        storages: tuple[str, ...] = ("First Storage",),
        disc_size: int = 10 * 1024**3,
    ) -> None:
        super().__init__(scale=scale, clock=clock)
        self._tmp = None if root is not None else tempfile.TemporaryDirectory(prefix="gd-sandbox-")
        self.root = Path(root) if root is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.conversion_seconds = conversion_seconds
        self.start_delay = start_delay
        self.failed_token_limit = failed_token_limit
        self.failed_token_window = failed_token_window
        self.lockout_seconds = lockout_seconds
        self.tokens: dict[str, float] = {}  # token -> expiry (sandbox time)
        self.operations: dict[str, _Operation] = {}
        self.token_requests = 0
        self.tokens_issued = 0
        self.failed_token_requests = 0
        self.unauthorized = 0
        #: the storage names that exist (``GET /storage/{name}/exist``); the default storage always
        self.storages = set(storages)
        self.disc_size = disc_size
        # failed token requests and lockouts, per (client_id, client_secret) pair
        self._failures: dict[tuple[str, str], collections.deque[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}
        self._key = secrets.token_bytes(32)
        self._state = threading.Lock()

    def close(self) -> None:
        """Remove the temporary storage folder (when the sandbox made it)."""
        if self._tmp is not None:
            self._tmp.cleanup()

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The settings connecting an asyncjobs client to this sandbox served at ``base_url``."""
        base = base_url.rstrip("/")
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "base_url": f"{base}/v2.0",
            "token_url": f"{base}/connect/token",
        }

    def demo_job(self, client: Any, sample: Path) -> Any:
        """The ``asyncjobs demo`` case: a conversion of the sample document to PDF."""
        return client.submit("convert", source=sample, to="pdf")

    def expire_tokens(self) -> None:
        """Make every issued token expired (as if its lifetime had passed)."""
        with self._state:
            for token in self.tokens:
                self.tokens[token] = self.clock.now() - 1

    # -- helpers ----------------------------------------------------------------------------------

    def rate_limited_body(self) -> dict[str, Any]:
        """The API's error shape, for :meth:`rate_limit_next`."""
        body: dict[str, Any] = json.loads(
            self.api_error(429, "TooManyRequests", "Too many requests.").get_data()
        )
        return body

    def api_error(
        self, status: int, code: str, message: str, description: str | None = None
    ) -> Response:
        """The API's error shape ``{"requestId", "error": {code, message, description, ...}}``."""
        request_id = str(uuid.uuid4())
        return json_response(
            {
                "requestId": request_id,
                "error": {
                    "code": code,
                    "message": message,
                    "description": description or message,
                    "dateTime": _stamp(self.clock.wall(self.clock.now())),
                    "innerError": {
                        "requestId": request_id,
                        "date": _stamp(self.clock.wall(self.clock.now())),
                    },
                },
            },
            status,
        )

    def http_error(self, exc: HTTPException) -> Response:
        """Unknown routes and wrong methods: the ``{"code", "message"}`` shape."""
        return json_response(
            {"code": exc.name.replace(" ", ""), "message": exc.description}, exc.code or 500
        )

    def _file(self, storage: str, path: str) -> Path:
        clean = [p for p in path.split("/") if p not in ("", ".", "..")]
        return self.root.joinpath("storage", storage or "default", *clean)

    def dispatch(self, request: Request) -> Response:
        """Check the bearer token of every API request, then route it."""
        if request.path.startswith("/v2.0/"):
            header = request.headers.get("Authorization", "")
            token = header[7:] if header.startswith("Bearer ") else ""
            with self._state:
                expiry = self.tokens.get(token)
                valid = expiry is not None and self.clock.now() < expiry
                if not valid:
                    self.unauthorized += 1
            if not valid:
                why = "The access token expired" if expiry is not None else "No valid access token"
                return Response(
                    status=401,
                    headers={
                        "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{why}"'
                    },
                )
        return super().dispatch(request)

    # -- OAuth ------------------------------------------------------------------------------------

    def _jwt(self, expiry: float) -> str:
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"client_id": self.client_id, "exp": int(expiry), "jti": uuid.uuid4().hex}
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def token(self, request: Request) -> Response:
        """``POST /connect/token``: client credentials in a form."""
        now = self.clock.now()
        form = request.form
        pair = (form.get("client_id", ""), form.get("client_secret", ""))
        with self._state:
            self.token_requests += 1
            locked_until = self._locked_until.get(pair, 0.0)
            if now < locked_until:
                wait = max(1, math.ceil(self.clock.real(locked_until - now)))
                return json_response(
                    {
                        "error": "too_many_requests",
                        "error_description": "Too many failed requests; try again later.",
                    },
                    429,
                    headers={"Retry-After": str(wait)},
                )
        error = None
        if form.get("grant_type") != "client_credentials":
            error = "unsupported_grant_type"
        elif not (
            hmac.compare_digest(pair[0], self.client_id)
            and hmac.compare_digest(pair[1], self.client_secret)
        ):
            error = "invalid_client"
        with self._state:
            if error is not None:
                self.failed_token_requests += 1
                failures = self._failures.setdefault(pair, collections.deque())
                failures.append(now)
                while failures and failures[0] <= now - self.failed_token_window:
                    failures.popleft()
                if len(failures) >= self.failed_token_limit:
                    self._locked_until[pair] = now + self.lockout_seconds
                    failures.clear()
                return json_response({"error": error}, 400)
            expiry = now + self.token_lifetime
            token = self._jwt(expiry)
            self.tokens[token] = expiry
            self.tokens_issued += 1
        expires_in = max(1, math.ceil(self.clock.real(self.token_lifetime)))
        return json_response(
            {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
        )

    # -- storage ----------------------------------------------------------------------------------

    def _save_upload(self, request: Request, dest: Path) -> str | None:
        """Stream the multipart field ``file`` to ``dest``; its file name, or None when absent.

        The form's first file part is parsed straight into ``dest``'s partial file (werkzeug spools
        every part to a temporary file by default, which was then copied: the sandbox wrote a large
        upload twice, and was the slowest part of the upload benchmark)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        direct: list[IO[bytes]] = []

        def stream_for(*_: Any, **__: Any) -> IO[bytes]:
            if direct:  # another file part: kept apart, as werkzeug keeps it
                return tempfile.SpooledTemporaryFile(max_size=500_000, mode="rb+")
            direct.append(partial.open("wb+"))
            return direct[0]

        # werkzeug's hook for where file parts go (a subclass's method, here this request's)
        request._get_file_stream = stream_for  # type: ignore[method-assign]
        try:
            upload = request.files.get("file") or request.files.get("File")
        finally:
            for stream in direct:
                stream.close()  # the first file part's bytes are all in the partial file now
        if upload is None:
            partial.unlink(missing_ok=True)
            return None
        if not (direct and upload.stream is direct[0]):  # the field was not the first file part
            with partial.open("wb") as out:
                shutil.copyfileobj(upload.stream, out, _CHUNK)
        partial.replace(dest)
        return upload.filename or dest.name

    def upload(self, request: Request, path: str) -> Response:
        """``PUT /conversion/storage/file/{path}``."""
        if "upload-error" in path:
            body = FilesUploadResult(
                uploaded=[],
                errors=[
                    UploadError(
                        code="errorUploadFailed",
                        message=f"Failed to upload file {path!r}",
                        description="The storage refused the file.",
                    )
                ],
            )
            return json_response(unstructure(body))
        dest = self._file(request.args.get("storageName", ""), path)
        if self._save_upload(request, dest) is None:
            return self.api_error(
                400, "errorInvalidInputData", "The request has no file part named 'file'."
            )
        return json_response(unstructure(FilesUploadResult(uploaded=[path], errors=[])))

    def download(self, request: Request, path: str) -> Response:
        """``GET /conversion/storage/file/{path}``: streamed."""
        file = self._file(request.args.get("storageName", ""), path)
        if not file.is_file():
            return self.api_error(
                404,
                "errorItemNotFound",
                "The specified key does not exist.",
                f"Can't find file located at '{path}'.",
            )
        handle: IO[bytes] = file.open("rb")
        response = Response(
            wrap_file(request.environ, handle, _CHUNK),
            mimetype="application/octet-stream",
            direct_passthrough=True,
        )
        response.headers["Content-Length"] = str(file.stat().st_size)
        response.headers["Content-Disposition"] = f'attachment; filename="{file.name}"'
        return response

    def delete(self, request: Request, path: str) -> Response:
        """``DELETE /conversion/storage/file/{path}``."""
        file = self._file(request.args.get("storageName", ""), path)
        if not file.is_file():
            return self.api_error(404, "errorItemNotFound", "The specified key does not exist.")
        file.unlink()
        return Response(status=200)

    def exist(self, request: Request, path: str) -> Response:
        """``GET /conversion/storage/exist/{path}``."""
        file = self._file(request.args.get("storageName", ""), path)
        body = ObjectExist(exists=file.exists(), is_folder=file.is_dir())
        return json_response(unstructure(body))

    def folder(self, request: Request, path: str) -> Response:
        """``GET /conversion/storage/folder/{path}``."""
        folder = self._file(request.args.get("storageName", ""), path)
        entries = []
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.name.endswith(".part"):
                    continue
                stat = child.stat()
                entries.append(
                    StorageEntry(
                        name=child.name,
                        is_folder=child.is_dir(),
                        modified_date=_stamp(stat.st_mtime),
                        size=0 if child.is_dir() else stat.st_size,
                        path="/".join(p for p in (path.strip("/"), child.name) if p),
                    )
                )
        return json_response(unstructure(StorageFilesList(value=entries)))

    def formats(self, request: Request) -> Response:
        """``GET /conversion/formats[?format=]``."""
        wanted = (request.args.get("format") or "").lower()
        return json_response(
            [
                {"sourceFormat": src, "targetFormats": list(targets)}
                for src, targets in _FORMATS.items()
                if not wanted or src == wanted
            ]
        )

    # -- conversions ------------------------------------------------------------------------------

    def _outcome(self, name: str, source: Path) -> tuple[str, str | None]:
        with source.open("rb") as f:
            head = f.read(16)
        if "corrupt" in name.lower() or head.startswith(b"corrupt"):
            return "Failed", f"Document is corrupted or damaged: {name}"
        if "cancel" in name.lower():
            return "Canceled", None
        return "Finished", None

    def _new_operation(self, **kw: Any) -> str:
        op_id = str(uuid.uuid4())
        outcome, error = self._outcome(kw["file_path"], kw["source"])
        if self.take_failure():  # fail_next(): as a corrupt document does
            outcome, error = "Failed", f"Document is corrupted or damaged: {kw['file_path']}"
        with self._state:
            self.operations[op_id] = _Operation(
                id=op_id, created=self.clock.now(), outcome=outcome, error=error, **kw
            )
        return op_id

    def _convert_settings(self, request: Request) -> ConvertSettings | Response:
        """The request's ``ConvertSettings``, or the service's 400 when it has none."""
        try:
            settings = structure(request.get_json(force=True, silent=True), ConvertSettings)
        except WireError:
            return self.api_error(
                400,
                "errorInvalidInputData",
                "Request body must be ConvertSettings with FilePath and Format.",
            )
        if not settings.file_path or not settings.format:
            return self.api_error(400, "errorInvalidInputData", "FilePath and Format are required.")
        return settings

    def _refused(self, name: str, fmt: str) -> Response | None:
        """The service's 400 for a document type it does not read, or a conversion it does not
        offer (by :data:`_FORMATS`); ``None`` when it converts ``name`` to ``fmt``. The words are
        the conversion engine's (``FileTypeNotSupportedException``,
        ``ConversionNotSupportedException``)."""
        source = PurePosixPath(name).suffix.lstrip(".").lower()
        targets = _FORMATS.get(source)
        if targets is None:
            return self.api_error(
                400, "errorFileTypeNotSupported", f"File type '{source or name}' is not supported."
            )
        if fmt not in targets:
            return self.api_error(
                400,
                "errorConversionNotSupported",
                f"Conversion from '{source}' to '{fmt}' is not supported.",
                f"{source} converts to: {', '.join(targets)}.",
            )
        return None

    def start_from_storage(self, request: Request) -> Response:
        """``POST /conversion/async`` with ``ConvertSettings`` (PascalCase or camelCase keys)."""
        settings = self._convert_settings(request)
        if isinstance(settings, Response):
            return settings
        refused = self._refused(settings.file_path, settings.format.lower())
        if refused is not None:
            return refused
        source = self._file(settings.storage_name or "", settings.file_path)
        if not source.is_file():
            return self.api_error(
                404,
                "errorItemNotFound",
                "The specified key does not exist.",
                f"Can't find file located at '{settings.file_path}'.",
            )
        op_id = self._new_operation(
            method="ConvertAndSave",
            source=source,
            file_path=settings.file_path,
            format=settings.format.lower(),
            storage=settings.storage_name,
            output_path=(settings.output_path or "converted").strip("/"),
        )
        return json_response(op_id)

    def start_with_upload(self, request: Request) -> Response:
        """``PUT /conversion/async?format=`` with the file in the multipart field ``file``."""
        fmt = (request.args.get("format") or "").lower()
        if not fmt:
            return self.api_error(400, "errorInvalidInputData", "The format parameter is required.")
        slot = uuid.uuid4().hex
        dest = self.root / "direct" / slot / "input"
        name = self._save_upload(request, dest)
        if name is None:
            return self.api_error(
                400, "errorInvalidInputData", "The request has no file part named 'file'."
            )
        refused = self._refused(name, fmt)
        if refused is not None:
            shutil.rmtree(dest.parent, ignore_errors=True)
            return refused
        op_id = self._new_operation(method="Convert", source=dest, file_path=name, format=fmt)
        return json_response(op_id)

    def _advance(self, op: _Operation) -> str:
        elapsed = self.clock.now() - op.created
        if elapsed < self.start_delay:
            return "Created"
        if elapsed < self.conversion_seconds:
            return "Started"
        if op.outcome == "Finished" and op.output is None:
            self._convert(op)
        return op.outcome

    def _convert(self, op: _Operation) -> None:
        digest = hashlib.sha256()
        with op.source.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
        name = PurePosixPath(op.file_path)
        from_ = name.suffix.lstrip(".").lower() or "bin"
        out_name = f"{name.stem or 'output'}.{op.format}"
        data = _output(digest.hexdigest(), from_, op.format)
        if op.method == "ConvertAndSave":
            op.output_storage_path = f"{op.output_path}/{out_name}" if op.output_path else out_name
            target = self._file(op.storage, op.output_storage_path)
        else:
            target = op.source.with_name(out_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        op.output = target

    def _view(self, op: _Operation, host_url: str) -> OperationResult:
        status = self._advance(op)
        wall = self.clock.wall  # bodies show wall-clock times; the scale shortens durations only
        started = wall(op.created + self.start_delay) if status != "Created" else None
        ended = wall(op.created + self.conversion_seconds)
        results = None
        if status == "Finished" and op.output is not None:
            size = op.output.stat().st_size
            if op.output_storage_path is not None:
                url = (
                    f"{host_url}v2.0/conversion/storage/file/"
                    f"{quote(op.output_storage_path, safe='')}"
                )
                results = [StoredConvertedResult(op.output.name, size, op.output_storage_path, url)]
            else:
                url = f"{host_url}v2.0/conversion/async/result?id={op.id}"
                results = [StoredConvertedResult(op.output.name, size, None, url)]
        return OperationResult(
            id=op.id,
            method=op.method,
            status=status,
            created=_stamp(wall(op.created)),
            started=_stamp(started),
            finished=_stamp(ended) if status == "Finished" else None,
            failed=_stamp(ended) if status == "Failed" else None,
            canceled=_stamp(ended) if status == "Canceled" else None,
            error=op.error if status == "Failed" else None,
            result=results,
        )

    def _find(self, request: Request) -> _Operation | Response:
        op_id = request.args.get("id", "")
        with self._state:
            op = self.operations.get(op_id)
        if op is None:
            return self.api_error(
                404, "errorOperationNotFound", f"Operation with id '{op_id}' was not found."
            )
        return op

    def operation_status(self, request: Request) -> Response:
        """``GET /conversion/async?id=``."""
        op = self._find(request)
        if isinstance(op, Response):
            return op
        with self._state:
            view = self._view(op, request.host_url)
        return json_response(unstructure(view))

    def operation_result(self, request: Request) -> Response:
        """``GET /conversion/async/result?id=``: the converted bytes of a Finished operation."""
        op = self._find(request)
        if isinstance(op, Response):
            return op
        with self._state:
            status = self._advance(op)
        if status != "Finished" or op.output is None:
            return json_response(
                {
                    "code": "errorOperationNotFinished",
                    "message": f"Operation '{op.id}' is {status}, not Finished.",
                },
                400,
            )
        return Response(
            op.output.read_bytes(),
            mimetype="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{op.output.name}"'},
        )

    # -- storage: folders, copies, versions, disc -------------------------------------------------

    def missing_key(self, path: str) -> Response:
        """A source that is not in storage, in the service's own wording."""
        return self.api_error(
            404,
            "errorItemNotFound",
            f"AmazonS3 Storage exception: The specified key does not exist. FilePath: '{path}'",
        )

    def create_folder(self, request: Request, path: str) -> Response:
        """``PUT /conversion/storage/folder/{path}``: create it (and its parents)."""
        self._file(request.args.get("storageName", ""), path).mkdir(parents=True, exist_ok=True)
        return Response(status=200)

    def delete_folder(self, request: Request, path: str) -> Response:
        """``DELETE /conversion/storage/folder/{path}?recursive=``: 200 also when it is absent."""
        if not [p for p in path.split("/") if p not in ("", ".", "..")]:
            return self.api_error(400, "errorInvalidInputData", "The folder path is required.")
        folder = self._file(request.args.get("storageName", ""), path)
        if folder.is_dir():
            recursive = request.args.get("recursive", "false").lower() == "true"
            if any(folder.iterdir()) and not recursive:
                return self.api_error(
                    400,
                    "errorFolderNotEmpty",
                    f"The folder '{path}' is not empty: delete it with recursive=true.",
                )
            shutil.rmtree(folder)
        return Response(status=200)

    def _copy_target(self, request: Request) -> tuple[Path, str] | Response:
        dest = request.args.get("destPath") or ""
        if not [p for p in dest.split("/") if p not in ("", ".", "..")]:
            return self.api_error(
                400, "errorInvalidInputData", "The destPath parameter is required."
            )
        return self._file(request.args.get("destStorageName", ""), dest), dest

    def _copy_ends(
        self, request: Request, src: str, *, folder: bool
    ) -> tuple[Path, Path] | Response:
        """The source (which must exist, as a folder or a file) and the destination of a copy or
        move, its parent folder made; or the service's error answer."""
        source = self._file(request.args.get("srcStorageName", ""), src)
        if not (source.is_dir() if folder else source.is_file()):
            return self.missing_key(src)
        target = self._copy_target(request)
        if isinstance(target, Response):
            return target
        dest, _ = target
        dest.parent.mkdir(parents=True, exist_ok=True)
        return source, dest

    def copy_folder(self, request: Request, how: str, src: str) -> Response:
        """``PUT /conversion/storage/folder/{copy|move}/{src}?destPath=``."""
        ends = self._copy_ends(request, src, folder=True)
        if isinstance(ends, Response):
            return ends
        source, dest = ends
        shutil.copytree(source, dest, dirs_exist_ok=True)
        if how == "move":
            shutil.rmtree(source)
        return Response(status=200)

    def copy_file(self, request: Request, how: str, src: str) -> Response:
        """``PUT /conversion/storage/file/{copy|move}/{src}?destPath=``."""
        ends = self._copy_ends(request, src, folder=False)
        if isinstance(ends, Response):
            return ends
        source, dest = ends
        if how == "move":
            source.replace(dest)
        else:
            shutil.copyfile(source, dest)
        return Response(status=200)

    def disc(self, request: Request) -> Response:
        """``GET /conversion/storage/disc``: bytes used in storage, and the quota."""
        used = (
            sum(f.stat().st_size for f in (self.root / "storage").rglob("*") if f.is_file())
            if (self.root / "storage").is_dir()
            else 0
        )
        return json_response({"usedSize": used, "totalSize": self.disc_size})

    def versions(self, request: Request, path: str) -> Response:
        """``GET /conversion/storage/version/{path}``: the sandbox keeps one version per file."""
        file = self._file(request.args.get("storageName", ""), path)
        if not file.is_file():
            return self.missing_key(path)
        stat = file.stat()
        version = {
            "name": file.name,
            "isFolder": False,
            "modifiedDate": _stamp(stat.st_mtime),
            "size": stat.st_size,
            "path": path,
            "versionId": hashlib.sha256(f"{path}:{stat.st_mtime_ns}".encode()).hexdigest()[:16],
            "isLatest": True,
        }
        return json_response({"value": [version]})

    def storage_exists(self, request: Request, name: str) -> Response:
        """``GET /conversion/storage/{name}/exist``."""
        known = name in self.storages or (self.root / "storage" / name).is_dir()
        return json_response({"exists": known})

    # -- synchronous conversions and document info -------------------------------------------------

    def _document(
        self, file: Path, name: str, password: str | None, *, opening: bool = True
    ) -> dict[str, Any] | Response:
        """What the sandbox reads of a document: its format and page count (a .docx counts its
        explicit page and section breaks, a PDF its page objects); a password-protected document
        (an OLE compound file) needs a password to be ``opening``."""
        with file.open("rb") as f:
            head = f.read(8)
        ext = PurePosixPath(name).suffix.lstrip(".").lower()
        if opening and head == _OLE and ext in ("docx", "xlsx", "pptx") and not password:
            return self.api_error(
                400,
                "errorInvalidInputData",
                f"Password is required to open the document '{name}'. Set LoadOptions.Password.",
            )
        return {"fileType": ext, "pageCount": _page_count(file, head, ext)}

    def info(self, request: Request) -> Response:
        """``GET /conversion/info?filePath=``: the document's format, page count and size."""
        path = request.args.get("filePath") or ""
        file = self._file(request.args.get("storageName", ""), path)
        if not path or not file.is_file():
            return self.missing_key(path)
        doc = self._document(file, path, None, opening=False)
        if isinstance(doc, Response):
            return doc
        return json_response(
            {
                "fileType": doc["fileType"],
                "pageCount": doc["pageCount"],
                "size": file.stat().st_size,
                "title": PurePosixPath(path).stem,
            }
        )

    def _converted(self, file: Path, name: str, fmt: str, pages: int) -> list[tuple[str, bytes]]:
        """The output files: one per page for an image format, else one."""
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        stem = PurePosixPath(name).stem or "output"
        from_ = PurePosixPath(name).suffix.lstrip(".").lower() or "bin"
        if fmt in _IMAGE_FORMATS and pages > 1:
            return [
                (f"{stem}-page-{n}.{fmt}", _output(digest, from_, f"{fmt} page {n}"))
                for n in range(1, pages + 1)
            ]
        return [(f"{stem}.{fmt}", _output(digest, from_, fmt))]

    def _file_answer(self, outputs: list[tuple[str, bytes]]) -> Response:
        if len(outputs) == 1:
            name, data = outputs[0]
        else:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for part, content in outputs:
                    archive.writestr(part, content)
            name, data = f"{PurePosixPath(outputs[0][0]).stem}.zip", buffer.getvalue()
        return Response(
            data,
            mimetype="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def convert_stored(self, request: Request) -> Response:
        """``POST /conversion`` with ``ConvertSettings``: the results saved under ``OutputPath``
        and listed, or without ``OutputPath`` the converted file itself."""
        settings = self._convert_settings(request)
        if isinstance(settings, Response):
            return settings
        storage = settings.storage_name or ""
        source = self._file(storage, settings.file_path)
        if not source.is_file():
            return self.missing_key(settings.file_path)
        refused = self._refused(settings.file_path, settings.format.lower())
        if refused is not None:
            return refused
        doc = self._document(source, settings.file_path, _password(settings.load_options))
        if isinstance(doc, Response):
            return doc
        outputs = self._converted(
            source, settings.file_path, settings.format.lower(), doc["pageCount"]
        )
        if not settings.output_path:
            return self._file_answer(outputs)
        listed = []
        for name, data in outputs:
            path = f"{settings.output_path.strip('/')}/{name}"
            target = self._file(storage, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            url = f"{request.host_url}v2.0/conversion/storage/file/{quote(path, safe='')}"
            listed.append(unstructure(StoredConvertedResult(name, len(data), path, url)))
        return json_response(listed)

    def convert_direct(self, request: Request) -> Response:
        """``PUT /conversion?format=`` with the multipart field ``file`` (and optional JSON form
        fields ``loadOptions`` / ``convertOptions``): the converted file itself."""
        fmt = (request.args.get("format") or "").lower()
        if not fmt:
            return self.api_error(400, "errorInvalidInputData", "The format parameter is required.")
        dest = self.root / "direct" / uuid.uuid4().hex / "input"
        name = self._save_upload(request, dest)
        if name is None:
            return self.api_error(
                400, "errorInvalidInputData", "The request has no file part named 'file'."
            )
        refused = self._refused(name, fmt)
        if refused is not None:
            shutil.rmtree(dest.parent, ignore_errors=True)
            return refused
        try:
            options = json.loads(request.form.get("loadOptions") or "null")
        except ValueError:
            return self.api_error(400, "errorInvalidInputData", "loadOptions is not valid JSON.")
        doc = self._document(dest, name, _password(options))
        if isinstance(doc, Response):
            return doc
        return self._file_answer(self._converted(dest, name, fmt, doc["pageCount"]))


_OLE = bytes.fromhex("d0cf11e0a1b11ae1")
_IMAGE_FORMATS = frozenset(("jpg", "jpeg", "png", "bmp", "gif", "tiff", "tif", "webp"))
_DOCX_BREAKS = re.compile(
    rb'<w:br\b[^>]*w:type="page"|<w:pageBreakBefore\b(?![^>]*w:val="(?:0|false)")'
)


def _password(options: Any) -> str | None:
    """``Password`` of load options (the SDK sends snake_case ``password``), any case."""
    if not isinstance(options, dict):
        return None
    for key, value in options.items():
        if str(key).lower() == "password" and value:
            return str(value)
    return None


def _page_count(file: Path, head: bytes, ext: str) -> int:
    """Pages read from the document itself (at least 1): a .docx's explicit page breaks and
    section breaks plus one, a PDF's page objects."""
    if head.startswith(b"PK") and ext == "docx":
        try:
            with zipfile.ZipFile(file) as archive:
                body = archive.read("word/document.xml")
        except (zipfile.BadZipFile, KeyError):
            return 1
        sections = body.count(b"<w:sectPr")
        return 1 + len(_DOCX_BREAKS.findall(body)) + max(0, sections - 1)
    if head.startswith(b"%PDF"):
        return max(1, len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", file.read_bytes())))
    return 1
