"""A local emulator of ConvertAPI, faithful to ``shared/providers/convertapi.md``, on a time scale.

It speaks the current async protocol (``/async/convert`` + ``/async/job``, ``JobId`` and ``WebHook``
read from the query string only), synchronous and semi-async conversions on ``/convert`` (what the
official SDK sends; ``Async=true`` is answered synchronously, as the service does today, unless
``honour_async=True`` asks for the seed's ``{"JobId"}`` answer), polls at ``/job``, ``/upload`` (raw
body, multipart ``FileData``, ``?url=``), result downloads under ``/d/``, webhooks (to
127.0.0.1/localhost only), the 5 s hold on re-polls, the 503 on a concurrent poll of one job, the
2-hour job expiry, and the error bodies and codes of the service.

Sources: ``File``, ``Files[0..n]`` and ``Url`` parameters (as form fields, query parameters, multipart
parts, or the JSON body ``{"Parameters": [{"Name", "Value" | "FileValue": {"Name", "Data" | "Url" |
"Id"}}]}``), or a raw ``application/octet-stream`` body named by ``Content-Disposition``. Credentials:
``Authorization: Bearer``, ``?Secret=`` or ``?auth=``. Only the converters of :data:`CONVERTERS` exist;
any other answers 404 in the service's error shape. ``merge`` and ``zip`` make one file of many,
``split`` one file per page of a PDF. With ``raw_results=True`` a finished poll answers the result
file's bytes instead of JSON (as the vendor's .NET example expects may happen).

Conversions are deterministic: the output is :func:`expected_output` of the input bytes. A source whose
file name contains ``corrupt`` (5002), ``password`` (5003), ``timeout`` (5000) or ``fail`` (5001)
fails. The sandbox-only converter parameter ``SandboxOutputSize`` pads the output to that many bytes
(generated as it is downloaded, for large-download benchmarks).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import mimetypes
import re
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

import attrs
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs.sandbox import SandboxApp, json_response

from .wire import ConversionResult, JobStarted, UploadedFile, WireError, WireFile, unstructure

__all__ = ["ConvertAPISandbox", "expected_output", "expected_output_for_sha256"]

_CHUNK = 1024 * 1024
_CURRENT_ID = re.compile(r"^[a-z0-9]{32}$")
_PATTERN = bytes(range(256)) * 4096  # 1 MiB of padding pattern
_FAILURES = (
    ("corrupt", 5002, "The file is damaged and cannot be converted."),
    ("password", 5003, "The file is password-protected."),
    ("timeout", 5000, "The conversion timed out."),
    ("fail", 5001, "The conversion failed."),
)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def expected_output(src: str, dst: str, data: bytes) -> bytes:
    """The bytes the sandbox produces converting ``data`` from ``src`` to ``dst``."""
    return expected_output_for_sha256(src, dst, hashlib.sha256(data).hexdigest())


def _file_name(value: object) -> str | None:
    """``FileName``: the result's name without an extension, as the service takes it (a folder
    part or an empty value is not a name)."""
    text = str(value or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return text or None


def expected_output_for_sha256(src: str, dst: str, sha256: str) -> bytes:
    """The sandbox's output for an input whose SHA-256 (hex) is ``sha256``."""
    return f"%PDF-1.4\n% asyncjobs sandbox: {src} -> {dst}\n{sha256}\n".encode()


#: The converters the sandbox knows, ``{source format: target formats}`` (a part of the real service's
#: list: ``GET https://v2.convertapi.com/info`` lists them all). ``any`` to ``zip`` takes any input.
_OFFICE = ("pdf", "jpg", "png", "txt", "html")
CONVERTERS: dict[str, frozenset[str]] = {
    "doc": frozenset((*_OFFICE, "docx", "compare")),
    "docx": frozenset((*_OFFICE, "doc", "compare")),
    "rtf": frozenset(_OFFICE),
    "odt": frozenset(_OFFICE),
    "txt": frozenset(("pdf", "docx", "jpg", "png")),
    "html": frozenset(("pdf", "docx", "jpg", "png")),
    "htm": frozenset(("pdf", "docx")),
    "md": frozenset(("pdf", "html")),
    "csv": frozenset(("pdf", "xlsx")),
    "xls": frozenset(("pdf", "xlsx", "csv")),
    "xlsx": frozenset(("pdf", "xls", "csv", "html")),
    "ppt": frozenset(("pdf", "pptx", "jpg", "png")),
    "pptx": frozenset(("pdf", "ppt", "jpg", "png")),
    "jpg": frozenset(("pdf", "png")),
    "png": frozenset(("pdf", "jpg")),
    "pdf": frozenset(
        ("merge", "split", "extract", "docx", "txt", "jpg", "png", "pdfa", "compress", "html")
    ),
    "web": frozenset(("pdf", "png", "jpg")),
    "any": frozenset(("zip",)),
}
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


@attrs.define
class _Input:
    name: str
    sha256: str
    size: int
    created: float
    pages: int = 1


@attrs.define
class _Output:
    name: str
    head: bytes
    size: int
    created: float

    def chunks(self) -> Iterator[bytes]:
        yield self.head[: self.size]
        left = self.size - min(self.size, len(self.head))
        while left > 0:
            part = _PATTERN[: min(left, len(_PATTERN))]
            left -= len(part)
            yield part

    def content(self) -> bytes:
        return b"".join(self.chunks())


@attrs.define
class _Job:
    id: str
    protocol: str
    src: str
    dst: str
    inputs: tuple[_Input, ...]
    store_file: bool
    output_size: int | None
    created: float
    duration: float
    failure: tuple[int, str] | None
    webhook: str | None
    old_answer: bool = False  # legacy Async=true jobs answer ConversionTime, as older answers did
    #: ``FileName``: the result's name without its extension (the input's name when not given)
    file_name: str | None = None
    polls: int = 0
    polling: bool = False
    result: dict[str, Any] | None = None

    @property
    def input(self) -> _Input:
        """The first (often the only) input."""
        return self.inputs[0]


def _error(
    status: int,
    code: int,
    message: str,
    invalid: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = WireError(
        code=code,
        message=message,
        invalid_parameters={k: tuple(v) for k, v in invalid.items()} if invalid else None,
    )
    return json_response(unstructure(body), status, headers)


def _hash_stream(stream: IO[bytes]) -> tuple[str, int, int]:
    """SHA-256, size and PDF page count (at least 1) of a stream, read in chunks (never held whole)."""
    digest, size, pages, tail = hashlib.sha256(), 0, 0, b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return digest.hexdigest(), size, max(1, pages)
        digest.update(chunk)
        size += len(chunk)
        window = tail + chunk
        pages += len(_PAGE.findall(window)) - len(_PAGE.findall(tail))
        tail = window[-32:]


def _filename(header: str | None) -> str | None:
    if not header:
        return None
    name = parse_options_header(header)[1].get("filename")  # filename* wins, per RFC 6266
    return PurePosixPath(name.replace("\\", "/")).name if name else None


class ConvertAPISandbox(SandboxApp):
    """ConvertAPI on 127.0.0.1. ``scale`` speeds its clock (conversions take ``duration`` sandbox
    seconds plus one per ``bytes_per_second``; re-polls are held ``hold`` sandbox seconds; jobs live
    ``job_lifetime``). A job submitted with ``WebHook`` calls it once when it ends, from the
    sandbox's own threads, as the service does: ``GET <url>?JobId=<id>`` (legacy) or ``POST <url>``
    ``{"JobId": "<id>"}`` (current); ``webhooks.drop()`` / ``webhooks.delay()`` lose or hold calls,
    and ``webhook_calls`` records every call: ``(method, url, outcome)``.
    ``honour_async`` answers ``Async=true`` with a JobId (the seed's protocol; the service today answers
    it synchronously); ``raw_results`` answers finished polls with the file's bytes.
    """

    provider = "convertapi"
    fails_on_demand = True
    secret = "convertapi-sandbox-secret-5f3a9c"
    url_map = Map(
        [
            Rule("/upload", endpoint="upload", methods=["POST"]),
            Rule("/convert/<src>/to/<dst>", endpoint="convert", methods=["POST"]),
            Rule("/async/convert/<src>/to/<dst>", endpoint="async_convert", methods=["POST"]),
            Rule("/job/<job_id>", endpoint="poll", methods=["GET"]),
            Rule("/job/<job_id>", endpoint="delete_job", methods=["DELETE"]),
            Rule("/async/job/<job_id>", endpoint="poll", methods=["GET"]),
            Rule("/async/job/<job_id>", endpoint="delete_job", methods=["DELETE"]),
            Rule("/d/<file_id>", endpoint="download", methods=["GET"]),
            Rule("/d/<file_id>/<path:name>", endpoint="download", methods=["GET"]),
            Rule("/d/<file_id>", endpoint="delete_file", methods=["DELETE"]),
            Rule("/user", endpoint="user", methods=["GET"]),
        ]
    )

    def __init__(
        self,
        *,
        scale: float = 1.0,
        secret: str | None = None,
        duration: float = 2.0,
        bytes_per_second: float = 50e6,
        hold: float = 5.0,
        job_lifetime: float = 7200.0,
        file_lifetime: float = 10800.0,
        honour_async: bool = False,
        raw_results: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scale=scale, **kwargs)
        #: answer ``Async=true`` on ``/convert`` with ``{"JobId"}`` (the seed's protocol) instead of the
        #: synchronous result the service sends today
        self.honour_async = honour_async
        #: answer a finished poll with the result file's bytes instead of the JSON result
        self.raw_results = raw_results
        if secret is not None:
            self.secret = secret
        self.duration = duration
        self.bytes_per_second = bytes_per_second
        self.hold = hold
        self.job_lifetime = job_lifetime
        self.file_lifetime = file_lifetime
        self.jobs: dict[str, _Job] = {}
        self.inputs: dict[str, _Input] = {}
        self.outputs: dict[str, _Output] = {}
        self.conversions = 0  # conversions actually started (a repeated JobId starts none)
        self.concurrent_polls = 0  # polls answered 503 because another poll of the job was held

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The settings connecting a ConvertAPI client to this sandbox at ``base_url``."""
        return {"secret": self.secret, "base_url": base_url}

    def demo_job(self, client: Any, sample: Path) -> Any:
        """The ``asyncjobs demo`` case: a conversion of the sample document to PDF."""
        return client.submit("convert", source=sample, to="pdf")

    @property
    def webhook_calls(self) -> list[tuple[str, str, str]]:
        """Every webhook call made (or dropped): ``(method, url, outcome)``."""
        return self.webhooks.made

    # -- plumbing ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        """Check the credentials (except on result downloads), then route."""
        if not (request.method in ("GET", "HEAD") and request.path.startswith("/d/")):
            header = request.headers.get("Authorization", "")
            token = (
                header[7:].strip()
                if header.startswith("Bearer ")
                else request.args.get("Secret") or request.args.get("auth")
            )
            if not token:
                return _error(401, 4013, "Authentication failed: no credentials were provided.")
            if token != self.secret:
                return _error(401, 4010, "Authentication failed: the secret is not valid.")
        return super().dispatch(request)

    def http_error(self, exc: HTTPException) -> Response:
        """Unknown routes and methods, in the service's error shape."""
        status = exc.code or 500
        return _error(status, status * 10, exc.description or "Not found.")

    def _expired(self, created: float, lifetime: float) -> bool:
        return self.clock.now() - created >= lifetime

    # -- upload -----------------------------------------------------------------------------------

    def upload(self, request: Request) -> Response:
        """``POST /upload``: a raw body named by Content-Disposition (or ``?filename=``), multipart
        ``FileData``, or ``?url=`` (not fetched: the sandbox converts the URL's text)."""
        url = request.args.get("url")
        if url:
            info = self._url_input(url)
        elif request.mimetype == "multipart/form-data":
            part = request.files.get("FileData")
            if part is None:
                return _error(
                    400,
                    4000,
                    "Parameter validation error.",
                    {"FileData": ["The FileData part is required."]},
                )
            info = self._file_input(part)
        else:
            name = _filename(request.headers.get("Content-Disposition")) or request.args.get(
                "filename"
            )
            if not name:
                return _error(
                    400, 4001, "The Content-Disposition header with a file name is required."
                )
            sha, size, pages = _hash_stream(request.stream)
            info = _Input(name, sha, size, self.clock.now(), pages)
        file_id = uuid.uuid4().hex
        with self._lock:
            self.inputs[file_id] = info
        ext = PurePosixPath(info.name).suffix.lstrip(".").lower()
        return json_response(unstructure(UploadedFile(file_id, info.name, ext)))

    def _url_input(self, url: str) -> _Input:
        name = PurePosixPath(urlsplit(url).path).name or "file"
        return _Input(name, hashlib.sha256(url.encode()).hexdigest(), len(url), self.clock.now())

    def _file_input(self, part: FileStorage) -> _Input:
        sha, size, pages = _hash_stream(part.stream)
        name = PurePosixPath(part.filename or "file").name
        return _Input(name, sha, size, self.clock.now(), pages)

    def _data_input(self, name: str, data: bytes) -> _Input:
        sha, size, pages = _hash_stream(io.BytesIO(data))
        return _Input(PurePosixPath(name or "file").name, sha, size, self.clock.now(), pages)

    # -- conversions ------------------------------------------------------------------------------

    def convert(self, request: Request, src: str, dst: str) -> Response:
        """``POST /convert/{src}/to/{dst}``: synchronous (with a ``JobId``, semi-async: the job can
        also be polled). ``Async=true`` is answered synchronously too, as the service does today,
        unless ``honour_async`` is set."""
        params = self._params(request, query_only=())
        if isinstance(params, Response):
            return params
        asynchronous = self.honour_async and str(params.get("Async", "")).lower() == "true"
        return self._start(request, params, src, dst, "legacy", asynchronous)

    def async_convert(self, request: Request, src: str, dst: str) -> Response:
        """``POST /async/convert/{src}/to/{dst}``; ``JobId`` and ``WebHook`` are read from the query
        string only (the vendor's async page: "provide the WebHook query parameter")."""
        params = self._params(request, query_only=("JobId", "WebHook"))
        if isinstance(params, Response):
            return params
        return self._start(request, params, src, dst, "current", True)

    def _params(self, request: Request, query_only: tuple[str, ...]) -> dict[str, Any] | Response:
        """Every parameter, from the query, the form, multipart parts, the JSON ``Parameters`` body or
        a raw body (the ``File``); names in ``query_only`` are taken from the query alone."""
        params: dict[str, Any] = {
            k: v for k, v in request.args.items() if k not in ("Secret", "auth")
        }
        body: dict[str, Any] = {}
        if request.mimetype == "application/json":
            parsed = self._json_params(request)
            if isinstance(parsed, Response):
                return parsed
            body.update(parsed)
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            body.update(request.form.items())
            body.update(request.files.items())
        elif request.content_length or request.headers.get("Transfer-Encoding"):
            name = _filename(request.headers.get("Content-Disposition"))
            if not name:
                return _error(
                    400, 4001, "The Content-Disposition header with a file name is required."
                )
            sha, size, pages = _hash_stream(request.stream)
            body["File"] = _Input(name, sha, size, self.clock.now(), pages)
        for key in query_only:
            body.pop(key, None)
        params.update(body)
        return params

    def _json_params(self, request: Request) -> dict[str, Any] | Response:
        try:
            data = json.loads(request.get_data())
            entries = data["Parameters"]
            out: dict[str, Any] = {}
            for entry in entries:
                name = str(entry["Name"])
                if isinstance(entry.get("FileValue"), dict):
                    found = self._file_value(name, entry["FileValue"])
                    if isinstance(found, Response):
                        return found
                    out[name] = found
                elif isinstance(entry.get("FileValues"), list):
                    for i, item in enumerate(entry["FileValues"]):
                        found = self._file_value(f"{name}[{i}]", item)
                        if isinstance(found, Response):
                            return found
                        out[f"{name}[{i}]"] = found
                elif "Values" in entry:
                    for i, value in enumerate(entry["Values"]):
                        out[f"{name}[{i}]"] = str(value)
                else:
                    value = entry.get("Value")
                    out[name] = "true" if value is True else "false" if value is False else value
            return out
        except (ValueError, KeyError, TypeError, binascii.Error):
            return _error(400, 4002, 'The JSON body is not valid: expected {"Parameters": [...]}.')

    def _file_value(self, name: str, file: Any) -> Any:
        """A ``FileValue``: inline base64 ``Data`` (with its ``Name``), a ``Url`` or an ``Id``."""
        if isinstance(file, dict):
            if "Data" in file:
                raw = base64.b64decode(str(file["Data"]), validate=True)
                return self._data_input(str(file.get("Name") or "file"), raw)
            if "Url" in file:
                return str(file["Url"])
            if "Id" in file:
                return str(file["Id"])
        return _error(400, 4005, f"The FileValue of {name} has no Data, Url or Id.")

    def _sources(self, params: dict[str, Any], src: str) -> list[Any] | None:
        """The job's inputs: ``Files[0..n]`` in order, else ``File``, else ``Url`` (web pages)."""
        indexed = sorted(
            (int(m.group(1)), v)
            for k, v in params.items()
            if (m := re.fullmatch(r"Files\[(\d+)\]", k)) is not None
        )
        if indexed:
            return [v for _, v in indexed]
        if params.get("File") not in (None, ""):
            return [params["File"]]
        if params.get("Url") not in (None, ""):
            return [str(params["Url"])]
        return None

    def _start(
        self,
        request: Request,
        params: dict[str, Any],
        src: str,
        dst: str,
        protocol: str,
        asynchronous: bool,
    ) -> Response:
        src, dst = src.lower(), dst.lower()
        if dst not in CONVERTERS.get(src, frozenset()):
            return _error(
                404,
                4040,
                f"Converter {src} to {dst} not found. See https://www.convertapi.com/conversions "
                "for the converters that exist.",
            )
        invalid: dict[str, list[str]] = {}
        if params.get("Timeout") not in (None, ""):
            try:
                ok = 10 <= int(params["Timeout"]) <= 1200
            except ValueError:
                ok = False
            if not ok:
                invalid["Timeout"] = ["The field Timeout must be between 10 and 1200."]
        store = str(params.get("StoreFile", "false")).lower()
        if store not in ("true", "false"):
            invalid["StoreFile"] = ["The field StoreFile must be true or false."]
        size = params.get("SandboxOutputSize")
        if size is not None and not str(size).isdigit():
            invalid["SandboxOutputSize"] = ["The field SandboxOutputSize must be a whole number."]
        job_id = params.get("JobId")
        if job_id is not None and not self._valid_id(str(job_id), protocol):
            invalid["JobId"] = [
                "The JobId must be 32 lowercase letters and digits."
                if protocol == "current"
                else "The JobId must be a UUID (RFC 4122)."
            ]
        webhook = params.get("WebHook")
        if webhook is not None:
            parts = urlsplit(str(webhook))
            if parts.scheme not in ("http", "https") or parts.hostname not in _LOCAL_HOSTS:
                invalid["WebHook"] = ["The sandbox calls webhooks on 127.0.0.1 or localhost only."]
        sources = self._sources(params, src)
        if sources is None:
            invalid["File"] = ["The File field is required."]
        elif dst == "merge" and len(sources) < 2:
            invalid["Files"] = ["At least two files are required."]
        if invalid:
            return _error(400, 4000, "Parameter validation error.", invalid)
        assert sources is not None
        inputs: list[_Input] = []
        for source in sources:
            found = self._input_of(source)
            if isinstance(found, Response):
                return found
            inputs.append(found)
        with self._lock:
            job = self.jobs.get(str(job_id)) if job_id else None
            if job is None or self._expired(job.created, self.job_lifetime):
                job = self._new_job(
                    str(job_id) if job_id else uuid.uuid4().hex,
                    protocol,
                    src,
                    dst,
                    tuple(inputs),
                    store == "true",
                    int(size) if size else None,
                    str(webhook) if webhook else None,
                )
                job.old_answer = protocol == "legacy" and asynchronous
                job.file_name = _file_name(params.get("FileName"))
        if asynchronous:
            return json_response(unstructure(JobStarted(job.id)))
        left = job.created + job.duration - self.clock.now()
        if left > 0:
            self.clock.sleep(left)
        with self._lock:
            return self._answer(request, job, raw=False)

    def _input_of(self, source: Any) -> _Input | Response:
        if isinstance(source, _Input):
            return source
        if isinstance(source, FileStorage):
            return self._file_input(source)
        if str(source).startswith(("http://", "https://")):
            return self._url_input(str(source))
        with self._lock:
            found = self.inputs.get(str(source))
            if found is None:
                # a result file of an earlier conversion can be the input of the next (chaining)
                out = self.outputs.get(str(source))
                if out is not None:
                    found = _Input(
                        out.name, hashlib.sha256(out.head).hexdigest(), out.size, out.created
                    )
        if found is None or self._expired(found.created, self.file_lifetime):
            return _error(500, 5009, "The FileId is invalid or has expired.")
        return found

    def _valid_id(self, job_id: str, protocol: str) -> bool:
        if protocol == "current":
            return bool(_CURRENT_ID.match(job_id))
        try:
            return str(uuid.UUID(job_id)) == job_id.lower()
        except ValueError:
            return False

    def _new_job(
        self,
        job_id: str,
        protocol: str,
        src: str,
        dst: str,
        inputs: tuple[_Input, ...],
        store: bool,
        output_size: int | None,
        webhook: str | None,
    ) -> _Job:
        lowered = " ".join(i.name.lower() for i in inputs)
        failure = next(((c, m) for word, c, m in _FAILURES if word in lowered), None)
        if self.take_failure():  # fail_next(): as a file named "fail" does
            failure = next((c, m) for word, c, m in _FAILURES if word == "fail")
        job = _Job(
            job_id,
            protocol,
            src.lower(),
            dst.lower(),
            inputs,
            store,
            output_size,
            self.clock.now(),
            self.duration + sum(i.size for i in inputs) / self.bytes_per_second,
            failure,
            webhook,
        )
        self.jobs[job_id] = job
        self.conversions += 1
        if webhook:
            self._call_webhook(job)
        return job

    def rate_limited_body(self) -> dict[str, Any]:
        """ConvertAPI's error shape, for :meth:`rate_limit_next`."""
        body: dict[str, Any] = json.loads(_error(429, 4290, "Too many requests.").get_data())
        return body

    def _call_webhook(self, job: _Job) -> None:
        """Schedule the job's one webhook call, for when it ends."""
        assert job.webhook is not None
        after = self.clock.real(job.duration)
        if job.protocol == "legacy":
            sep = "&" if urlsplit(job.webhook).query else "?"
            self.webhooks.schedule(after, "GET", job.webhook + sep + urlencode({"JobId": job.id}))
        else:
            body = json.dumps({"JobId": job.id}).encode()
            headers = {"Content-Type": "application/json"}
            self.webhooks.schedule(after, "POST", job.webhook, body, headers)

    def _answer(self, request: Request, job: _Job, *, raw: bool) -> Response:
        """The job's state now (called with the lock held); ``raw``: a finished job answers its
        first result file's bytes instead of JSON."""
        if self.clock.now() - job.created < job.duration:
            return Response(status=202)
        if job.failure is not None:
            return _error(500, *job.failure)
        if job.result is None:
            job.result = self._result(request, job)
        if raw:
            first = job.result["Files"][0]
            out = self.outputs.get(str(first.get("FileId")))
            data = out.content() if out is not None else base64.b64decode(first["FileData"])
            media = mimetypes.guess_type(first["FileName"])[0] or "application/octet-stream"
            disposition = f"attachment; filename*=UTF-8''{quote(first['FileName'])}"
            return Response(data, 200, {"Content-Disposition": disposition}, content_type=media)
        return json_response(job.result)

    def _outputs(self, job: _Job) -> list[tuple[str, bytes]]:
        """The names and leading bytes of the result files: one per input page for ``split``, one
        for many inputs (``merge``, ``zip``), else one (named after the first input)."""
        stem = job.file_name or PurePosixPath(job.input.name).stem or "file"
        digest = job.input.sha256
        if len(job.inputs) > 1:
            digest = hashlib.sha256("".join(i.sha256 for i in job.inputs).encode()).hexdigest()
        if job.dst == "split":
            return [
                (f"{stem}-{n}.pdf", expected_output_for_sha256(job.src, f"page {n}", digest))
                for n in range(1, job.input.pages + 1)
            ]
        ext = {
            "merge": "pdf",
            "compress": "pdf",
            "pdfa": "pdf",
            "extract": "pdf",  # the pages of PageRange, as a PDF
            "compare": job.src,
        }.get(job.dst, job.dst)
        return [(f"{stem}.{ext}", expected_output_for_sha256(job.src, job.dst, digest))]

    def _result(self, request: Request, job: _Job) -> dict[str, Any]:
        files = []
        for name, head in self._outputs(job):
            ext = PurePosixPath(name).suffix.lstrip(".")
            out = _Output(
                name,
                head,
                job.output_size if job.output_size is not None else len(head),
                self.clock.now(),
            )
            file_id = uuid.uuid4().hex
            if job.store_file:
                self.outputs[file_id] = out
                url = f"{request.host_url}d/{file_id}/{quote(name)}"
                files.append(WireFile(name, ext, out.size, file_id, url=url))
            else:
                data = base64.b64encode(out.content()).decode()
                files.append(WireFile(name, ext, out.size, file_id, file_data=data))
        if job.old_answer:
            result = ConversionResult(tuple(files), conversion_time=max(1, int(job.duration)))
        else:
            result = ConversionResult(tuple(files), conversion_cost=1)
        body: dict[str, Any] = unstructure(result)
        return body

    # -- jobs -------------------------------------------------------------------------------------

    def _live_job(self, job_id: str) -> _Job | None:
        job = self.jobs.get(job_id)
        if job is not None and self._expired(job.created, self.job_lifetime):
            del self.jobs[job_id]
            return None
        return job

    def poll(self, request: Request, job_id: str) -> Response:
        """``GET /job/{id}`` and ``/async/job/{id}``: 202, 200, 404, 503 (concurrent poll), 5xx."""
        with self._lock:
            job = self._live_job(job_id)
            if job is None:
                return _error(404, 4040, "The JobId is invalid or the result has expired.")
            if job.polling:
                self.concurrent_polls += 1
                return _error(503, 5030, "Only one poll request of a job is accepted at a time.")
            job.polling = True
            held = job.polls > 0
            job.polls += 1
        try:
            if held:
                self.clock.sleep(self.hold)
            with self._lock:
                return self._answer(request, job, raw=self.raw_results)
        finally:
            with self._lock:
                job.polling = False

    def delete_job(self, request: Request, job_id: str) -> Response:
        """``DELETE /job/{id}`` and ``/async/job/{id}``: 200, or 404 when unknown or deleted."""
        with self._lock:
            if self._live_job(job_id) is None:
                return _error(404, 4040, "The JobId is invalid or the job is already deleted.")
            del self.jobs[job_id]
        return Response(status=200)

    # -- files ------------------------------------------------------------------------------------

    def download(self, request: Request, file_id: str, name: str | None = None) -> Response:
        """``GET /d/{FileId}[/{name}]``: a result file, streamed."""
        with self._lock:
            out = self.outputs.get(file_id)
            if out is not None and self._expired(out.created, self.file_lifetime):
                del self.outputs[file_id]
                out = None
        if out is None:
            return _error(404, 4040, "The file is not found or has expired.")
        media = mimetypes.guess_type(out.name)[0] or "application/octet-stream"
        headers = {
            "Content-Length": str(out.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(out.name)}",
        }
        return Response(
            out.chunks(), status=200, headers=headers, content_type=media, direct_passthrough=True
        )

    def delete_file(self, request: Request, file_id: str) -> Response:
        """``DELETE /d/{FileId}``."""
        with self._lock:
            if self.outputs.pop(file_id, None) is None and self.inputs.pop(file_id, None) is None:
                return _error(404, 4040, "The file is not found or has expired.")
        return Response(status=200)

    def user(self, request: Request) -> Response:
        """``GET /user``: the account (a cheap credential check), with the fields of the vendor's
        documentation (``ConvertAPI/docs``, ``user.md``: ``Secret``, ``ApiKey``, ``Active``,
        ``FullName``, ``Email``, ``SecondsLeft``) and the conversion counters of the current API.
        The service echoes the account's secret here: a client must never print this answer."""
        return json_response(
            {
                "Secret": self.secret,
                "ApiKey": 834345618,
                "Active": True,
                "FullName": "Sandbox Account",
                "Email": "sandbox@example.invalid",
                "SecondsLeft": 1_000_000,
                "ConversionsTotal": 1_000_000,
                "ConversionsConsumed": self.conversions,
            }
        )
