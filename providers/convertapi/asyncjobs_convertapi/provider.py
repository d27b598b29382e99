"""The ConvertAPI adapter: async conversions with a client-chosen job id, polling, webhooks, delete.

Two async protocols exist (see ``docs/providers/convertapi.md``): ``current`` (``/async/convert``,
``/async/job``) and ``legacy`` (``/convert?Async=true``, ``/job``), chosen by the ``protocol`` setting.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import mimetypes
import secrets
import string
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import requests

from asyncjobs.errors import (
    InvalidParameterError,
    NotSupportedError,
    RateLimitedError,
    TransportError,
)
from asyncjobs.provider import (
    Capabilities,
    Cost,
    Formats,
    HeaderAuth,
    JobInfo,
    Param,
    PollPolicy,
    Provider,
    Setting,
    Source,
    Status,
    Timeouts,
    convert_kind,
    default_error_details,
    parse_retry_after,
    path_segment,
    prepare_convert,
)

if TYPE_CHECKING:
    from asyncjobs.provider import ErrorDetails, Result, ResultFile, WebhookRequest

    from .wire import ConversionResult, WireError

__all__ = ["AUTH_CODES", "ConvertAPIProvider", "FileId"]

T = TypeVar("T")

#: What each 401 code of ConvertAPI means, added to the service's message.
AUTH_CODES: Mapping[int, str] = {
    4010: "the secret is wrong: check the secret setting (CONVERTAPI_SECRET)",
    4011: "the token is invalid",
    4012: "the JWT token is invalid or has expired",
    4013: "no credentials were sent: set the secret setting (CONVERTAPI_SECRET)",
    4014: "the account's conversion balance is zero: top it up at convertapi.com",
    4015: "the user account is inactive",
}

#: How long ConvertAPI keeps a job and its result.
JOB_LIFETIME = timedelta(hours=2)
#: ConvertAPI holds every poll of a job after the first about 5 s (until the job ends, if sooner).
HOLD = 5.0
#: The read timeout of a poll allows for the hold with this many seconds on top of the client's.
HOLD_MARGIN = 10.0
#: Seconds to wait after a 503 on a poll (another poll of the job was open) when no Retry-After came.
BUSY_DELAY = 5.0

_RESERVED = {
    "file",
    "files",
    "url",
    "jobid",
    "async",
    "webhook",
    "secret",
    "token",
    "apikey",
    "auth",
}
_ALPHABET = string.ascii_lowercase + string.digits
#: The statuses a poll reads itself: every 5xx but the gateways' 502 and 504 (retried).
_POLL_ACCEPT = frozenset(s for s in range(500, 600) if s not in (502, 504))
_CACHED = 128


@attrs.frozen
class FileId:
    """A file already uploaded to ConvertAPI (``POST /upload`` answered its ``FileId``), to pass as a
    ``"convert"`` job's ``source``. ``name`` (e.g. ``"report.docx"``) lets ``from_`` be inferred.

    >>> FileId("a1b2c3", name="report.docx")
    FileId(id='a1b2c3', name='report.docx')
    """

    id: str = attrs.field()
    name: str | None = None

    @id.validator
    def _check(self, _: Any, value: Any) -> None:
        if not isinstance(value, str) or not value.strip() or "/" in value:
            raise InvalidParameterError(
                f"FileId must be a non-empty id without '/', not {value!r}", parameter="source"
            )

    def describe(self) -> dict[str, Any]:
        """A JSON-safe description for the ledger."""
        return {"file_id": self.id, "name": self.name}


@attrs.frozen
class Sources:
    """Several documents as one job's ``source`` (``Files[0..n]`` on the wire), for converters
    that take many files: ``pdf`` to ``merge``, ``any`` to ``zip``. Made by ``prepare`` from a list."""

    items: tuple[Source | FileId, ...]

    def describe(self) -> dict[str, Any]:
        """A JSON-safe description for the ledger (never the content)."""
        return {"files": [item.describe() for item in self.items]}


class _Cached:
    """A finished job's answer, kept for ``result``: parsed JSON, or a raw file body left on the
    service (fetched again by URL when opened). A plain class: written once, read by ``result``,
    never compared or shown, so it need not cost a first status an attrs class build."""

    __slots__ = ("file", "raw", "result")

    def __init__(
        self,
        *,
        result: ConversionResult | None = None,
        raw: Any = None,
        file: ResultFile | None = None,
    ) -> None:
        self.result = result
        self.raw = raw
        self.file = file


class ConvertAPIProvider(Provider):
    """ConvertAPI (https://www.convertapi.com): document conversions as async jobs.

    Settings: ``secret`` (``CONVERTAPI_SECRET``), ``base_url`` (``CONVERTAPI_BASE_URL``), ``protocol``
    (``CONVERTAPI_PROTOCOL``: ``current`` or ``legacy``). The secret travels only in the
    ``Authorization`` header.
    """

    name = "convertapi"
    #: the poll's timeouts (the service's hold added), with the transport timeouts they came from
    _held: tuple[Timeouts, Timeouts] | None = None
    kinds = (
        convert_kind(
            Param("StoreFile", doc="true (default): result files are URLs; false: inline base64"),
            Param("Timeout", doc="conversion timeout in seconds, 10 to 1200"),
            doc="Convert a document; other ConvertAPI converter parameters pass through by name.",
        ),
    )
    capabilities = Capabilities(
        cancel=True,
        list=False,
        webhooks=True,
        idempotent_submit=True,
        poll=PollPolicy(
            initial=1.0, factor=1.5, cap=10.0, min_interval=0.2, fraction=0.4, hold=HOLD
        ),
        job_lifetime=JOB_LIFETIME,
        cost_unit="conversions",
    )

    @classmethod
    @functools.cache
    def formats(cls) -> Formats:
        """The conversions this provider declares (``formats.json``: a part of the vendor's list,
        so conversions outside it are left to the service to refuse)."""
        return Formats.from_json("asyncjobs_convertapi", "formats.json")

    settings = (
        Setting(
            "secret",
            env="CONVERTAPI_SECRET",
            required=True,
            secret=True,
            doc="the API secret (Authorization: Bearer)",
        ),
        Setting(
            "base_url",
            url=True,
            env="CONVERTAPI_BASE_URL",
            default="https://v2.convertapi.com",
            doc="the service's base URL",
        ),
        Setting(
            "protocol",
            env="CONVERTAPI_PROTOCOL",
            default="current",
            choices=("current", "legacy"),
            doc="current: /async/convert and /async/job; legacy: /convert?Async=true and /job",
        ),
    )
    sandbox = "asyncjobs_convertapi.sandbox:ConvertAPISandbox"

    def __init__(self, config: Any, transport: Any) -> None:
        super().__init__(config, transport)
        self._results: OrderedDict[str, _Cached] = OrderedDict()
        self._results_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def legacy(self) -> bool:
        """True when the ``legacy`` protocol (the seeds') is selected."""
        return bool(self.config.get("protocol") == "legacy")

    def auth(self) -> requests.auth.AuthBase:
        """The secret as a bearer token."""
        return HeaderAuth.bearer(str(self.config["secret"]))

    def new_job_id(self) -> str:
        """32 lowercase letters and digits (``current``), or an RFC 4122 UUID (``legacy``)."""
        if self.legacy:
            import uuid  # here: only the legacy ids need it

            return str(uuid.uuid4())
        return "".join(secrets.choice(_ALPHABET) for _ in range(32))

    def _job_path(self, job_id: str) -> str:
        return f"job/{path_segment(job_id)}" if self.legacy else f"async/job/{path_segment(job_id)}"

    def _poll_timeout(self) -> Timeouts:
        t = self.transport.timeouts
        held = self._held
        if held is None or held[0] is not t:  # built once per transport timeouts, not per poll
            held = self._held = (t, Timeouts(connect=t.connect, read=t.read + HOLD_MARGIN))
        return held[1]

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Read ``{"Code", "Message", "InvalidParameters"}``; a 401's code is explained."""
        details = self._error_body(response)
        meaning = None
        if response.status_code == 401 and isinstance(details.code, int):
            meaning = AUTH_CODES.get(details.code)
        elif response.status_code == 404 and "/job/" in urlsplit(response.url).path:
            meaning = (
                "the JobId is unknown, or the job expired: ConvertAPI deletes jobs and results "
                "at most 2 hours after the conversion"
            )
        if meaning:
            message = f"{details.message} ({meaning})" if details.message else meaning
            details = attrs.evolve(details, message=message)
        return details

    def _error_shape(self, response: requests.Response) -> WireError | None:
        """ConvertAPI's own error body (``{"Code": int, "Message": str, ...}``), or ``None`` for any
        other (a gateway's ``{"code": ...}`` included): only ConvertAPI's own shape fails a job."""
        # here: only an error reads it; a pending status reads no body (5 attrs classes)
        from .wire import WireError, structure

        try:
            body = response.json()
        except (ValueError, RecursionError):
            return None
        if not isinstance(body, dict) or not {"Code", "Message"} <= set(body):
            return None
        if isinstance(body["Code"], bool) or not isinstance(body["Code"], int):
            return None
        try:
            return structure(body, WireError)
        except ValueError:
            return None

    def _error_body(self, response: requests.Response) -> ErrorDetails:
        from asyncjobs.provider import ErrorDetails  # here: only an error answer is read

        err = self._error_shape(response)
        if err is None:
            return default_error_details(response)
        return ErrorDetails(
            code=err.code,
            message=err.message,
            invalid_parameters={k: tuple(vs) for k, vs in (err.invalid_parameters or {}).items()},
        )

    # -- submit -----------------------------------------------------------------------------------

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Normalize ``source``/``to``/``from_`` and check converter parameters, before any request.

        A list (or tuple) source is several files (``Files[i]``); ``from_`` is then inferred only
        when every file has the same extension.
        """
        source = params.get("source")
        if isinstance(source, (list, tuple)):
            out = self._prepare_many(params, source)
        elif isinstance(source, FileId):
            out = prepare_convert(
                {**params, "source": Source(name=source.name)}, provider=self.name
            )
            out["source"] = source
        else:
            out = prepare_convert(params, provider=self.name)
        for key, value in list(out.items()):
            if key in ("source", "to", "from_"):
                continue
            out[key] = self._check_param(key, value)
        return out

    def _prepare_many(
        self, params: dict[str, Any], sources: list[Any] | tuple[Any, ...]
    ) -> dict[str, Any]:
        if not sources:
            raise InvalidParameterError(
                f"{self.name}: source is an empty list; pass one file, or several for converters "
                "that take many (e.g. from_='pdf', to='merge').",
                parameter="source",
                provider=self.name,
            )
        items: list[Source | FileId] = []
        for i, value in enumerate(sources):
            if isinstance(value, (list, tuple, Sources)):
                raise InvalidParameterError(
                    f"{self.name}: source[{i}] is a list; a list of sources is flat.",
                    parameter="source",
                    provider=self.name,
                )
            items.append(
                value if isinstance(value, FileId) else Source.from_value(value, parameter="source")
            )
        exts = {
            PurePosixPath(item.name).suffix.lstrip(".").lower() if item.name else ""
            for item in items
        }
        name = f"file.{exts.pop()}" if len(exts) == 1 and "" not in exts else None
        out = prepare_convert({**params, "source": Source(name=name)}, provider=self.name)
        out["source"] = Sources(tuple(items))
        return out

    def _check_param(self, key: str, value: Any) -> Any:
        if key.lower() in _RESERVED or key.lower().startswith("files["):
            raise InvalidParameterError(
                f"{self.name}: {key!r} is set by asyncjobs itself (source=, webhook=, the job id "
                "and the secret setting); do not pass it as a parameter.",
                parameter=key,
                provider=self.name,
            )
        if not isinstance(value, (str, int, float, bool)):
            raise InvalidParameterError(
                f"{self.name}: parameter {key!r} must be a string, number or bool, not "
                f"{type(value).__name__}.",
                parameter=key,
                provider=self.name,
            )
        if key == "Timeout" and (
            isinstance(value, bool) or not isinstance(value, int) or not 10 <= value <= 1200
        ):
            raise InvalidParameterError(
                f"{self.name}: Timeout must be a whole number of seconds from 10 to 1200, not "
                f"{value!r}.",
                parameter=key,
                provider=self.name,
            )
        if key == "StoreFile" and not isinstance(value, bool):
            raise InvalidParameterError(
                f"{self.name}: StoreFile must be True or False, not {value!r}.",
                parameter=key,
                provider=self.name,
            )
        return value

    def _upload(self, source: Source, from_: str) -> str:
        # here: only an upload reads it; a pending status reads no body (5 attrs classes)
        from .wire import UploadedFile, converter

        name = source.name or f"file.{from_}"
        headers = {
            "Content-Disposition": _disposition(name),
            "Content-Type": "application/octet-stream",
        }
        with source.open() as body:
            # a file object as data= is streamed in chunks and rewound before a retry
            response = self.request("POST", "upload", data=body, headers=headers, idempotent=True)
        return self.decode(response, UploadedFile, converter).file_id

    def _file_value(self, source: Source | FileId, from_: str) -> str:
        """What a ``File``/``Files[i]`` parameter carries: a FileId, a URL, or a fresh upload's id."""
        if isinstance(source, FileId):
            return source.id
        if source.url is not None:
            return source.url
        return self._upload(source, from_)

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        """Upload local sources, then start the conversion with the client-chosen ``job_id``.

        ``JobId`` and ``WebHook`` travel in the query string (the vendor's async page: "provide the
        WebHook query parameter"); the source and the converter's parameters in the form body: one
        ``File``, ``Files[0..n]`` for a list, or ``Url`` for a web page (``from_="web"``).
        """
        # here: only a submit reads it; a pending status reads no body (5 attrs classes)
        from .wire import JobStarted, converter

        job_id = job_id or self.new_job_id()
        source = params["source"]
        from_ = params["from_"]
        form: dict[str, str] = {}
        if isinstance(source, Sources):
            for i, item in enumerate(source.items):
                form[f"Files[{i}]"] = self._file_value(item, from_)
        elif isinstance(source, Source) and source.url is not None and from_ == "web":
            form["Url"] = source.url
        else:
            form["File"] = self._file_value(source, from_)
        form["StoreFile"] = "true"
        for key, value in params.items():
            if key not in ("source", "to", "from_"):
                form[key] = _text(value)
        query = {"JobId": job_id}
        if webhook is not None:
            query["WebHook"] = webhook
        src, dst = path_segment(from_), path_segment(params["to"])
        if self.legacy:
            return self._submit_legacy(kind, f"convert/{src}/to/{dst}", query, form, job_id)
        # a 503 on a conversion request means throttled: retried with the same JobId, then
        # reported as RateLimitedError
        response = self.request(
            "POST",
            f"async/convert/{src}/to/{dst}",
            job_id=job_id,
            params=query,
            data=form,
            idempotent=True,
            error_classes={503: RateLimitedError},
        )
        started = self.decode(response, JobStarted, converter, job_id=job_id)
        return self._started(kind, job_id, started.job_id, response)

    def read_webhook(self, request: WebhookRequest) -> list[str]:
        """ConvertAPI's two calls when a job ends: ``GET <url>?JobId=<id>`` (legacy) and ``POST
        <url>`` with JSON ``{"JobId": "<id>"}`` (current)."""
        ids = list(request.query.get("JobId", ()))
        if request.method == "POST" and request.body.strip():
            body = request.json()
            if isinstance(body, dict) and isinstance(body.get("JobId"), str):
                ids.append(body["JobId"])
        return [i for i in ids if i.strip()]

    def _started(self, kind: str, job_id: str, issued: str, response: requests.Response) -> JobInfo:
        if not issued.strip():
            raise TransportError(
                f"job {job_id!r} at {self.name}: the conversion request was answered without a "
                f"JobId (HTTP {response.status_code}). Look the job up with client.job({job_id!r}) "
                "before submitting again.",
                provider=self.name,
                job_id=job_id,
                status_code=response.status_code,
            )
        return self._pending(kind, issued, "submitted")

    def _pending(self, kind: str, job_id: str, raw: str) -> JobInfo:
        now = datetime.now(timezone.utc)
        return JobInfo(
            provider=self.name,
            id=job_id,
            kind=kind,
            status=Status.PENDING,
            raw_status=raw,
            submitted_at=now,
            expires_at=now + JOB_LIFETIME,
            meta={"protocol": "legacy" if self.legacy else "current"},
        )

    def _submit_legacy(
        self, kind: str, path: str, query: dict[str, str], form: dict[str, str], job_id: str
    ) -> JobInfo:
        """The semi-async form (``POST /convert/...?JobId=<uuid4>``, no ``Async``): the service
        answers the finished result (the job is done at once, or failed), or a ``JobId`` to poll.
        Past the read timeout, or when the answer breaks off, the job is taken as submitted and
        polled at ``/job/{JobId}``, the seed's recovery path. Not retried: each try would wait the
        whole read timeout again."""
        # here: only a submit reads them; a pending status reads no body (5 attrs classes)
        from .wire import ConversionResult, JobStarted, converter

        failures = [s for s in range(500, 600) if s not in (502, 503, 504)]
        try:
            response = self.request(
                "POST",
                path,
                job_id=job_id,
                params=query,
                data=form,
                idempotent=False,
                accept=failures,
                error_classes={503: RateLimitedError},
            )
        except TransportError as exc:
            if isinstance(
                exc.__cause__, (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError)
            ):
                # no answer in time, or one cut short: the conversion runs on at ConvertAPI under
                # our JobId ("treat this conversion as if it was asynchronous"): poll it
                return self._pending(kind, job_id, "submitted")
            raise
        if response.status_code >= 500:
            # the synchronous answer of a conversion that failed: a finished job, as a poll sees it
            failed = self._poll_answer(job_id, response)
            now = datetime.now(timezone.utc)
            return attrs.evolve(
                failed,
                kind=kind,
                submitted_at=now,
                completed_at=now,
                expires_at=now + JOB_LIFETIME,
                meta={**failed.meta, "protocol": "legacy", "synchronous": True},
            )
        if response.status_code == 202:
            # converting still, answered early: the job exists under our JobId; poll it
            return self._pending(kind, job_id, "202")
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "Files" in body:
            result = self.decode(response, ConversionResult, converter, job_id=job_id)
            now = datetime.now(timezone.utc)
            self._remember(job_id, _Cached(result=result, raw=body))
            return JobInfo(
                provider=self.name,
                id=job_id,
                kind=kind,
                status=Status.DONE,
                raw_status=str(response.status_code),
                submitted_at=now,
                completed_at=now,
                expires_at=now + JOB_LIFETIME,
                meta={"protocol": "legacy", "synchronous": True},
                cost=_cost(result),
            )
        started = self.decode(response, JobStarted, converter, job_id=job_id)
        return self._started(kind, job_id, started.job_id, response)

    # -- status -----------------------------------------------------------------------------------

    def status(self, job_id: str) -> JobInfo:
        """One poll (``Accept: application/json``): 202 pending, 200 done (the result as JSON, or the
        file itself, told apart by ``Content-Type`` only), 503 pending (another poll was open), 5xx
        failed (when the answer is ConvertAPI's error body; a bare 5xx, e.g. from a gateway, is
        raised as a ProviderError and says nothing about the job)."""
        response = self.request(
            "GET",
            self._job_path(job_id),
            job_id=job_id,
            accept=_POLL_ACCEPT,
            timeout=self._poll_timeout(),
            stream=True,
            headers={"Accept": "application/json"},
        )
        with contextlib.closing(response):
            try:
                return self._poll_answer(job_id, response)
            except requests.RequestException as exc:
                # the poll is streamed: a body cut short is found here, after the transport
                raise TransportError(
                    self.transport.redactor(
                        f"job {job_id!r} at {self.name}: the answer to the poll broke off "
                        f"({type(exc).__name__}). Poll again."
                    ),
                    provider=self.name,
                    job_id=job_id,
                    status_code=response.status_code,
                ) from exc

    def _poll_answer(self, job_id: str, response: requests.Response) -> JobInfo:
        """Read one poll's answer (its body may still be arriving)."""
        code = response.status_code

        def info(status: Status, raw: str, **kw: Any) -> JobInfo:
            return JobInfo(
                provider=self.name,
                id=job_id,
                kind="convert",
                status=status,
                raw_status=raw,
                **kw,
            )

        if code == 200:
            # ConvertAPI says nothing of when the job finished: completed_at is left to the client,
            # which fills in when the job was first seen finished (from the ledger)
            finished = self._finished(job_id, response)
            self._remember(job_id, finished)
            return info(Status.DONE, "200", cost=_cost(finished.result))
        if code == 503:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return info(
                Status.PENDING,
                "503",
                meta={"retry_after": BUSY_DELAY if wait is None else wait},
            )
        if code >= 500:
            details = self.parse_error(response)
            if self._error_shape(response) is None or details.code is None:
                # not ConvertAPI's error body: no verdict on the job (a proxy, an outage)
                raise self.transport.error_for(response, job_id=job_id, parser=self.parse_error)
            said = details.message or response.reason or "the conversion failed"
            error = f"{said} (code {details.code})"
            raw = f"{code}/{details.code}"
            return info(
                Status.FAILED,
                raw,
                error=self.transport.redactor(error),
                meta={"code": details.code, "http_status": code},
            )
        return info(Status.PENDING, str(code))

    def _finished(self, job_id: str, response: requests.Response) -> _Cached:
        # here: only a finished job's answer is read; a pending status reads no body
        from .wire import ConversionResult, converter

        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            result = self.decode(response, ConversionResult, converter, job_id=job_id)
            raw = response.json()
            if not any(str(key).lower() == "files" for key in raw):
                # ConvertAPI's finished conversion always lists its Files: any other JSON (a
                # proxy's, a redirect target's) says nothing about the job
                raise TransportError(
                    f"job {job_id!r} at {self.name}: the answer (HTTP {response.status_code}) is "
                    "JSON without the conversion's Files, so it is not ConvertAPI's result. Poll "
                    "again; if it persists, check the base_url setting.",
                    provider=self.name,
                    job_id=job_id,
                    status_code=response.status_code,
                )
            return _Cached(result=result, raw=raw)
        # the result came as the file itself: leave it there and fetch it by URL when opened
        name = _disposition_name(response.headers.get("Content-Disposition"))
        if not name:
            ext = mimetypes.guess_extension(media or "application/octet-stream") or ".bin"
            name = f"{job_id}{ext}"
        length = response.headers.get("Content-Length")
        url = self.config["base_url"].rstrip("/") + "/" + self._job_path(job_id)
        from asyncjobs.provider import ResultFile  # here: not built for a status

        file = ResultFile(
            name,
            size=int(length) if length and length.isdigit() else None,
            url=url,
            media_type=media or None,
        )
        return _Cached(file=file)

    def _remember(self, job_id: str, cached: _Cached) -> None:
        with self._results_lock:
            self._results[job_id] = cached
            self._results.move_to_end(job_id)
            while len(self._results) > _CACHED:
                self._results.popitem(last=False)

    # -- result, cancel ---------------------------------------------------------------------------

    def result(self, job_id: str) -> Result:
        """The files of a done job: each by ``Url`` (streamed when opened) or inline ``FileData``."""
        from asyncjobs.provider import Result  # here: not built for a status

        with self._results_lock:
            cached = self._results.get(job_id)
        if cached is None:
            info = self.poll(job_id)  # through the client: one poll of a job in flight at a time
            self.require_done(info)
            with self._results_lock:
                cached = self._results[job_id]
        if cached.file is not None:
            return Result(files=(cached.file,), raw=None)
        assert cached.result is not None
        files = [self._file(job_id, f) for f in cached.result.files]
        meta: dict[str, Any] = {}
        if cached.result.conversion_cost is not None:
            meta["ConversionCost"] = cached.result.conversion_cost
        if cached.result.conversion_time is not None:
            meta["ConversionTime"] = cached.result.conversion_time
        return Result(files=files, raw=cached.raw, meta=meta)

    def _file(self, job_id: str, f: Any) -> ResultFile:
        from asyncjobs.provider import ResultFile  # here: not built for a status

        name = f.file_name if f.file_name.strip() not in ("", ".", "..") else job_id
        media = mimetypes.guess_type(name)[0]
        size = f.file_size if f.file_size is None or f.file_size >= 0 else None
        if f.file_data is not None:
            try:
                data = base64.b64decode(f.file_data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise TransportError(
                    f"job {job_id!r} at {self.name}: result file {f.file_name!r} has FileData that "
                    "is not valid base64. Fetch the result again.",
                    provider=self.name,
                    job_id=job_id,
                ) from exc
            return ResultFile(name, size=len(data), media_type=media, data=data)
        if not f.url:
            raise TransportError(
                f"job {job_id!r} at {self.name}: result file {f.file_name!r} has neither Url nor "
                "FileData.",
                provider=self.name,
                job_id=job_id,
            )
        return ResultFile(name, size=size, url=f.url, media_type=media)

    @contextlib.contextmanager
    def open_file(self, file: ResultFile) -> Iterator[IO[bytes]]:
        """Stream a result file from its URL; the secret is sent only to the base URL's host."""
        if not file.url:
            raise NotSupportedError(f"{self.name}: result file {file.name!r} has no URL to fetch")
        with self.transport.stream(
            "GET",
            file.url,
            auth=self.auth(),  # signed only at the base URL's origin, by the transport
            error_parser=self.parse_error,
            timeout=self._poll_timeout(),
        ) as stream:
            yield stream

    def cancel(self, job_id: str) -> None:
        """Delete the job and its result at ConvertAPI (404 if unknown or already deleted)."""
        self.request("DELETE", self._job_path(job_id), job_id=job_id)
        with self._results_lock:
            self._results.pop(job_id, None)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _disposition(name: str) -> str:
    safe = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    value = f'inline; filename="{safe}"'
    if safe != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def _disposition_name(header: str | None) -> str | None:
    if not header:
        return None
    from werkzeug.http import parse_options_header  # prefers RFC 6266 filename* over filename

    name = parse_options_header(header)[1].get("filename")
    return name.replace("/", "_").replace("\\", "_") if name else None


def _cost(result: ConversionResult | None) -> Cost | None:
    """What a finished conversion cost: ``ConversionCost`` conversions (the unit the account's
    plan counts, ``ConversionsTotal``/``ConversionsConsumed`` at ``/user``); older answers say only
    ``ConversionTime``, in seconds; nothing when the result came as the file itself."""
    if result is None:
        return None
    if result.conversion_cost is not None and result.conversion_cost >= 0:
        return Cost(result.conversion_cost, "conversions")
    if result.conversion_time is not None and result.conversion_time >= 0:
        return Cost(result.conversion_time, "seconds")
    return None
