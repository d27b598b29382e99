"""The Zamzar adapter: API v1 conversion jobs (submit, poll, download, cancel, list).

Zamzar (https://developers.zamzar.com/docs) runs every conversion as a job: ``POST /v1/jobs`` (multipart:
``source_file`` as an upload, a URL or a file id, ``target_format``, optional ``source_format``,
``export_url`` and ``options``), ``GET /v1/jobs/{id}`` until ``successful``, ``failed`` or
``cancelled``, the converted files from ``GET /v1/files/{id}/content``, ``DELETE /v1/jobs/{id}`` to
cancel. The service calls no webhook when a job ends: jobs are polled.
"""

from __future__ import annotations

import base64
import functools
import json
import mimetypes
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import requests

from asyncjobs.errors import (
    AuthenticationError,
    InvalidParameterError,
    JobNotFoundError,
    NotSupportedError,
    ProviderError,
    RateLimitedError,
)
from asyncjobs.provider import (
    Budget,
    Capabilities,
    Cost,
    Formats,
    HeaderAuth,
    JobInfo,
    MultipartBody,
    Param,
    PollPolicy,
    Provider,
    Setting,
    Source,
    Status,
    convert_kind,
    default_error_details,
    path_segment,
    prepare_convert,
)

from .wire import Errors, Job, WireFile, converter, structure

if TYPE_CHECKING:
    from asyncjobs.provider import ErrorDetails, Result, ResultFile

__all__ = ["LIVE_URL", "SANDBOX_URL", "STATUS_WORDS", "ZamzarProvider"]

#: The production API and Zamzar's own sandbox environment (test credits, small files).
LIVE_URL = "https://api.zamzar.com/v1"
SANDBOX_URL = "https://sandbox.zamzar.com/v1"

#: Zamzar's job statuses (OpenAPI ``Job.status`` enum) -> the normalized status.
STATUS_WORDS: Mapping[str, Status] = {
    "initialising": Status.PENDING,
    "converting": Status.PENDING,
    "successful": Status.DONE,
    "failed": Status.FAILED,
    "cancelled": Status.FAILED,
}

#: The most jobs one list page holds (the API's ``limit`` maximum).
PAGE_LIMIT = 50
#: ``list`` reads at most this many pages (the newest jobs first).
MAX_PAGES = 20
#: Parameters asyncjobs sets itself; never passed through.
_RESERVED = {"source_file", "target_format", "source_format"}
_CACHED = 256
#: 422 context parameters that name a format the service does not convert.
_FORMAT_PARAMETERS = {"target_format", "source_format"}


class ZamzarProvider(Provider):
    """Zamzar (https://www.zamzar.com): file conversions as async jobs, billed in credits.

    Settings: ``secret`` (``ZAMZAR_API_KEY``), sent as HTTP Basic (the key as user name, an empty
    password) and only to the ``base_url``'s origin; ``base_url`` (``ZAMZAR_BASE_URL``, the live API
    ``https://api.zamzar.com/v1``; Zamzar's own test environment is ``https://sandbox.zamzar.com/v1``).
    """

    name = "zamzar"
    kinds = (
        convert_kind(
            Param(
                "export_url",
                doc="(S)FTP folder or S3 URL the converted files are copied to when done",
            ),
            Param("options", doc="conversion options as a dict, e.g. {'voice': 'en.female'}"),
            # the request carries only these fields: any other parameter would be dropped unseen
            extra=False,
            doc="Convert a file (path, bytes, file object or URL) to another format.",
        ),
    )
    capabilities = Capabilities(
        cancel=True,
        list=True,
        webhooks=False,
        idempotent_submit=False,
        # the live API allows 10 GET requests a second (the sandbox 3): never poll one job faster
        poll=PollPolicy(initial=1.0, factor=1.5, cap=15.0, min_interval=0.5),
        cost_unit="credits",
        # the live API's published limits: 5 job submissions and 10 GETs a second per account;
        # one pace for both keeps submissions within theirs (a base_url of your own: none)
        budget=Budget(rate=5),
    )
    settings = (
        Setting(
            "secret",
            env="ZAMZAR_API_KEY",
            required=True,
            secret=True,
            doc="the API key (sent as HTTP Basic user name)",
        ),
        Setting(
            "base_url",
            env="ZAMZAR_BASE_URL",
            url=True,
            default=LIVE_URL,
            doc=f"the API's base URL ({SANDBOX_URL} for Zamzar's test environment)",
        ),
    )
    headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    status_words = STATUS_WORDS
    advice: ClassVar[Mapping[type[ProviderError], str]] = {
        AuthenticationError: (
            "Check the secret setting (ZAMZAR_API_KEY) against the key shown at "
            "https://developers.zamzar.com/user."
        ),
        JobNotFoundError: (
            "Zamzar answers 404 for an id it does not know (or a deleted job or file) and 410 for "
            "an expired one."
        ),
        RateLimitedError: (
            "Zamzar limits requests per second; wait as long as Retry-After says, then try again."
        ),
    }
    sandbox = "asyncjobs_zamzar.sandbox:ZamzarSandbox"

    def __init__(self, config: Any, transport: Any) -> None:
        super().__init__(config, transport)
        key = str(config["secret"])
        self._basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")
        # the header's encoded form is a secret too: never in a log line or message
        self.transport.redactor.add(self._basic.split(" ", 1)[1])
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def formats(cls) -> Formats:
        """Zamzar's published conversions (``GET /v1/formats``), shipped as ``formats.json``."""
        return _formats()

    def auth(self) -> requests.auth.AuthBase:
        """HTTP Basic: the API key as user name, an empty password."""
        return HeaderAuth("Authorization", self._basic)

    # -- errors -----------------------------------------------------------------------------------

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Read ``{"errors": [{"message", "code", "context": {"parameter", "reason"}}]}``: the first
        error's code, every message, and each context's parameter with its reason."""
        from asyncjobs.provider import ErrorDetails  # here: only an error answer is read

        errors = _errors(response)
        if errors is None or not errors.errors:
            details = default_error_details(response)
        else:
            messages = [e.message for e in errors.errors if e.message]
            invalid: dict[str, tuple[str, ...]] = {}
            for e in errors.errors:
                context = e.context or {}
                parameter = context.get("parameter")
                if isinstance(parameter, str) and parameter:
                    reason = context.get("reason") or e.message or "invalid"
                    invalid[parameter] = (*invalid.get(parameter, ()), str(reason))
            details = ErrorDetails(
                code=errors.errors[0].code,
                message="; ".join(messages) or None,
                invalid_parameters=invalid,
            )
        if response.status_code == 402:
            meaning = (
                "the account has too few conversion credits left for this job: see "
                "https://developers.zamzar.com/user, or wait for the next billing period"
            )
            message = f"{details.message} ({meaning})" if details.message else meaning
            details = attrs.evolve(details, message=message)
        return details

    def _refused(self, response: requests.Response, to: str, from_: str) -> Exception:
        """The error of a refused submit (HTTP 422): NotSupportedError when the service does not
        convert the formats, ProviderError otherwise."""
        details = self.parse_error(response)
        if _FORMAT_PARAMETERS & set(details.invalid_parameters):
            said = "; ".join(
                f"{k}: {' '.join(v)}"
                for k, v in details.invalid_parameters.items()
                if k in _FORMAT_PARAMETERS
            )
            return NotSupportedError(
                self.transport.redactor(
                    self.transport.redactor.clip(
                        f"{self.name} does not convert {from_} to {to} (HTTP 422: {said}). "
                        "asyncjobs.formats(source=...) lists who does.",
                        600,
                    )
                ),
                provider=self.name,
            )
        return self.transport.error_for(response, parser=self.parse_error, advices=self.advice)

    # -- submit -----------------------------------------------------------------------------------

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Normalize ``source``/``to``/``from_``, and check ``options`` (a dict of JSON values) and
        ``export_url`` (a string), before any request."""
        out = prepare_convert(params, provider=self.name)
        options = out.get("options")
        if options is not None:
            if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
                raise InvalidParameterError(
                    f"{self.name}: options must be a dict with string keys, e.g. "
                    f"{{'voice': 'en.female'}}, not {type(options).__name__}.",
                    parameter="options",
                    provider=self.name,
                )
            clash = sorted(_RESERVED & set(options))
            if clash:
                raise InvalidParameterError(
                    f"{self.name}: options may not set {', '.join(clash)}: pass source=, to= and "
                    "from_= instead.",
                    parameter="options",
                    provider=self.name,
                )
            try:
                json.dumps(options, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(
                    f"{self.name}: options must hold JSON values only ({exc}).",
                    parameter="options",
                    provider=self.name,
                ) from exc
            out["options"] = dict(options)
        export_url = out.get("export_url")
        if export_url is not None and (not isinstance(export_url, str) or not export_url.strip()):
            raise InvalidParameterError(
                f"{self.name}: export_url must be a URL string such as "
                f"'s3://bucket/folder/', not {export_url!r}.",
                parameter="export_url",
                provider=self.name,
            )
        return out

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        """``POST /v1/jobs`` as multipart: the file streamed as ``source_file`` (or its URL in
        that field), ``target_format``, ``source_format``, and ``export_url``/``options`` when
        given. Never retried once sent: a second POST would be a second job."""
        source: Source = params["source"]
        to, from_ = params["to"], params["from_"]
        fields = [("target_format", to), ("source_format", from_)]
        if params.get("export_url") is not None:
            fields.append(("export_url", params["export_url"]))
        if params.get("options"):
            fields.append(("options", json.dumps(params["options"])))
        if source.url is not None:
            body = MultipartBody([("source_file", source.url), *fields])
            response = self._post_job(body, to, from_)
        else:
            name = source.name or f"file.{from_}"
            with source.open() as stream:
                body = MultipartBody(fields, ("source_file", name, stream, source.size))
                response = self._post_job(body, to, from_)
        job = self.decode(response, Job, converter)
        self._remember(job)
        return self._info(job, kind)

    def _post_job(self, body: MultipartBody, to: str, from_: str) -> requests.Response:
        response = self.request(
            "POST",
            "jobs",
            data=body,
            headers={"Content-Type": body.content_type},
            idempotent=False,
            accept=(422,),
        )
        if response.status_code == 422:
            raise self._refused(response, to, from_)
        return response

    # -- status -----------------------------------------------------------------------------------

    def status(self, job_id: str) -> JobInfo:
        """``GET /v1/jobs/{id}``: 404 (unknown) and 410 (expired) are JobNotFoundError."""
        response = self.request(
            "GET",
            f"jobs/{path_segment(job_id)}",
            job_id=job_id,
            error_classes={410: JobNotFoundError},
        )
        job = self.decode(response, Job, converter, job_id=job_id)
        self._remember(job)
        return self._info(job, "convert")

    def _info(self, job: Job, kind: str) -> JobInfo:
        word = job.status or ""
        status = self.status_of(word)
        error = None
        meta: dict[str, Any] = {}
        if job.target_format:
            meta["target_format"] = job.target_format
        if job.source_file is not None:
            meta["source_file"] = job.source_file.name
        if job.export_url:
            meta["export_url"] = job.export_url
        if job.exports:
            meta["exports"] = [e.status for e in job.exports]
        if job.failure is not None:
            meta["failure_code"] = job.failure.code
        if status is Status.FAILED:
            if job.failure is not None and (job.failure.message or job.failure.code is not None):
                said = job.failure.message or "the conversion failed"
                code = f" (code {job.failure.code})" if job.failure.code is not None else ""
                error = self.transport.redactor(self.transport.redactor.clip(said + code, 600))
            elif word.lower() == "cancelled":
                error = "the job was cancelled"
            else:
                error = "the conversion failed"
        cost = None
        if job.credit_cost is not None and job.credit_cost >= 0:
            cost = Cost(job.credit_cost, "credits")
        return JobInfo(
            provider=self.name,
            id=str(job.id),
            kind=kind,
            status=status,
            raw_status=word or None,
            submitted_at=job.created_at,
            completed_at=job.finished_at if status is not Status.PENDING else None,
            error=error,
            meta=meta,
            cost=cost,
        )

    def _remember(self, job: Job) -> None:
        with self._lock:
            key = str(job.id)
            self._jobs[key] = job
            self._jobs.move_to_end(key)
            while len(self._jobs) > _CACHED:
                self._jobs.popitem(last=False)

    # -- result, cancel, list ---------------------------------------------------------------------

    def result(self, job_id: str) -> Result:
        """Every file of a ``successful`` job, each downloaded from ``/v1/files/{id}/content`` when
        opened. A conversion to several files (e.g. one image per page) lists each file and also a
        ``.zip`` of them all, as Zamzar does."""
        from asyncjobs.provider import Result  # here: not built for a status

        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (job.status or "").lower() != "successful":
            self.require_done(self.poll(job_id))
            with self._lock:
                job = self._jobs.get(job_id)
            if job is None:  # the poll went elsewhere (a client without this provider's cache)
                job = self.decode(
                    self.request("GET", f"jobs/{path_segment(job_id)}", job_id=job_id),
                    Job,
                    converter,
                    job_id=job_id,
                )
        files = tuple(self._file(f) for f in job.target_files or ())
        meta: dict[str, Any] = {}
        if job.credit_cost is not None:
            meta["credit_cost"] = job.credit_cost
        return Result(files=files, raw=converter.write(job), meta=meta)

    def _file(self, f: WireFile) -> ResultFile:
        from asyncjobs.provider import ResultFile  # here: not built for a status

        name = f.name.strip() if isinstance(f.name, str) else ""
        if name in ("", ".", ".."):
            name = f"file-{f.id}"
        size = f.size if f.size is not None and f.size >= 0 else None
        return ResultFile(
            name,
            size=size,
            url=self.url(f"files/{f.id}/content"),
            media_type=mimetypes.guess_type(name)[0],
        )

    def cancel(self, job_id: str) -> None:
        """``DELETE /v1/jobs/{id}``: the job ends ``cancelled`` (read as failed)."""
        response = self.request(
            "DELETE",
            f"jobs/{path_segment(job_id)}",
            job_id=job_id,
            error_classes={410: JobNotFoundError},
        )
        try:
            job = structure(response.json(), Job)
        except ValueError:
            with self._lock:
                self._jobs.pop(job_id, None)
            return
        self._remember(job)

    def list(self) -> Iterator[JobInfo]:
        """``GET /v1/jobs``, newest first, page after page (``after`` = the page's ``last`` id), up
        to :data:`MAX_PAGES` pages of :data:`PAGE_LIMIT` jobs."""
        after: Any = None
        for _ in range(MAX_PAGES):
            query: dict[str, Any] = {"limit": PAGE_LIMIT}
            if after is not None:
                query["after"] = after
            response = self.request("GET", "jobs", params=query)
            try:
                body = response.json()
                items = body["data"] if isinstance(body, dict) else None
            except (ValueError, KeyError):
                items = None
            if not isinstance(items, list):
                raise ProviderError(
                    f"{self.name}: the job list (HTTP {response.status_code}) is not the JSON "
                    "Zamzar sends. Check the base_url setting.",
                    provider=self.name,
                    status_code=response.status_code,
                )
            try:
                jobs = [structure(item, Job) for item in items]
            except ValueError as exc:
                raise ProviderError(
                    f"{self.name}: a job of the job list (HTTP {response.status_code}) is not the "
                    f"JSON Zamzar sends ({exc}).",
                    provider=self.name,
                    status_code=response.status_code,
                ) from exc
            for job in jobs:
                yield self._info(job, "convert")
            if len(jobs) < PAGE_LIMIT:
                return
            after = jobs[-1].id


def _errors(response: requests.Response) -> Errors | None:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return None
    try:
        return structure(body, Errors)
    except ValueError:
        return None


@functools.cache
def _formats() -> Formats:
    return Formats.from_json("asyncjobs_zamzar", "formats.json")
