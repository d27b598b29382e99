"""The CloudConvert adapter (API v2): a job is a graph of tasks, ``import`` -> ``convert`` ->
``export/url``; its status is the job's, its error the failed task's, its cost the tasks' credits.

A local file is sent to the ``import/upload`` task's form (``result.form.url`` with its
``parameters``, multipart, streamed) without the API key: that URL is the storage's, not the
API's. A URL source becomes an ``import/url`` task. Webhooks: a per-job ``webhook_url``; every call
is read only when its ``CloudConvert-Signature`` (HMAC-SHA256, hex, of the raw body) verifies
under the ``webhook_secret`` setting. See ``docs/providers/cloudconvert.md``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import mimetypes
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar

import requests

from asyncjobs.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidParameterError,
    JobNotFoundError,
    ProviderError,
    RateLimitedError,
)
from asyncjobs.provider import (
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
    get_logger,
    path_segment,
    prepare_convert,
    same_origin,
)

from . import wire

if TYPE_CHECKING:
    from asyncjobs.provider import ErrorDetails, Result, ResultFile, WebhookRequest

__all__ = ["API_URL", "SIGNATURE_HEADER", "CloudConvertProvider", "sign_webhook", "verify_webhook"]

_log = get_logger("asyncjobs.cloudconvert")

#: The live API; the vendor's sandbox is ``https://api.sandbox.cloudconvert.com/v2``.
API_URL = "https://api.cloudconvert.com/v2"
#: The header of a webhook call that carries its signature (hex HMAC-SHA256 of the raw body).
SIGNATURE_HEADER = "CloudConvert-Signature"
#: The names of the tasks a "convert" job is made of.
IMPORT, CONVERT, EXPORT = "import", "convert", "export"
#: Convert-task fields the adapter sets itself (from source, to, from_) or that would break the graph.
_RESERVED = frozenset(
    {"input", "operation", "input_format", "output_format", "tasks", "webhook_url", "tag_"}
)
#: Job-level fields taken from the submit's parameters (everything else goes to the convert task).
_JOB_FIELDS = ("tag",)
#: The webhook events that end a job (``job.created`` says nothing worth a poll).
_ENDING_EVENTS = frozenset({"job.finished", "job.failed"})
#: The task error code of a task whose input task failed: never the first cause.
_INPUT_FAILED = "INPUT_TASK_FAILED"
_CACHED = 128
_PAGE_SIZE = 100
_MAX_PAGES = 1000


def sign_webhook(body: bytes, secret: str) -> str:
    """The ``CloudConvert-Signature`` of a webhook call: hex HMAC-SHA256 of the raw body under the
    webhook's signing secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_webhook(body: bytes, signature: str | None, secret: str | None) -> bool:
    """Whether ``signature`` is the body's signature under ``secret`` (constant time; a missing
    signature or secret never verifies)."""
    if not signature or not secret:
        return False
    expected = sign_webhook(body, secret)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


@functools.cache
def _formats() -> Formats:
    return Formats.from_json("asyncjobs_cloudconvert", "formats.json")


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CloudConvertProvider(Provider):
    """CloudConvert (https://cloudconvert.com), API v2: document conversions as jobs of tasks.

    Settings: ``secret`` (``CLOUDCONVERT_API_KEY``, sent only as ``Authorization: Bearer`` to the
    API's origin), ``base_url`` (``CLOUDCONVERT_BASE_URL``; the vendor's sandbox is
    ``https://api.sandbox.cloudconvert.com/v2``), ``webhook_secret``
    (``CLOUDCONVERT_WEBHOOK_SECRET``, the signing secret that webhook calls are verified with).
    """

    name = "cloudconvert"
    kinds = (
        convert_kind(
            Param("tag", doc="the job's tag, an arbitrary string of yours"),
            Param("engine", doc="the conversion engine, e.g. 'office'"),
            Param("engine_version", doc="the engine's version"),
            Param("filename", doc="the output file's name (printf placeholders for several)"),
            Param("timeout", doc="seconds after which the convert task is cancelled"),
            doc="Convert a file; other CloudConvert convert-task options pass through by name.",
        ),
    )
    capabilities = Capabilities(
        cancel=True,
        list=True,
        webhooks=True,
        account_webhook=False,
        idempotent_submit=False,
        poll=PollPolicy(initial=1.0, factor=1.5, cap=15.0, min_interval=0.2),
        cost_unit="credits",
    )
    settings = (
        Setting(
            "secret",
            env="CLOUDCONVERT_API_KEY",
            required=True,
            secret=True,
            doc="the API key (Authorization: Bearer), scopes task.read and task.write",
        ),
        Setting(
            "base_url",
            url=True,
            env="CLOUDCONVERT_BASE_URL",
            default=API_URL,
            doc="the API's base URL (the vendor's sandbox: https://api.sandbox.cloudconvert.com/v2)",
        ),
        Setting(
            "webhook_secret",
            env="CLOUDCONVERT_WEBHOOK_SECRET",
            secret=True,
            doc="the webhook signing secret; calls whose CloudConvert-Signature fails are ignored",
        ),
    )
    headers: ClassVar = {"Accept": "application/json"}
    status_words: ClassVar = {
        "waiting": Status.PENDING,
        "processing": Status.PENDING,
        "queued": Status.PENDING,
        "finished": Status.DONE,
        "error": Status.FAILED,
    }
    advice: ClassVar = {
        AuthenticationError: (
            "Check the API key (secret setting, CLOUDCONVERT_API_KEY): it must be a key of this "
            "API (live and sandbox keys differ) with the task.read and task.write scopes."
        ),
        JobNotFoundError: (
            "The id is wrong, belongs to another account or API (live or sandbox), or the job "
            "was deleted."
        ),
        RateLimitedError: "CloudConvert limits requests per account: slow down and try again.",
    }
    sandbox = "asyncjobs_cloudconvert.sandbox:CloudConvertSandbox"

    def __init__(self, config: Any, transport: Any) -> None:
        super().__init__(config, transport)
        #: the last look at each job, and the JSON it was read from (a result's ``raw``)
        self._jobs: OrderedDict[str, tuple[wire.JobLook, Any]] = OrderedDict()
        self._jobs_lock = threading.Lock()

    @classmethod
    def formats(cls) -> Formats:
        """The conversions the vendor's material lists (a part of its list: see formats.json)."""
        return _formats()

    def auth(self) -> requests.auth.AuthBase:
        """The API key as a bearer token (the transport signs only requests to the API's origin)."""
        return HeaderAuth.bearer(str(self.config["secret"]))

    # -- errors -----------------------------------------------------------------------------------

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Read ``{"message", "code", "errors": {field: [...]}}``; other bodies the common way."""
        from asyncjobs.provider import ErrorDetails  # here: only an error answer is read

        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict) or not ({"message", "code"} & set(body)):
            return default_error_details(response)
        try:
            err = wire.structure(body, wire.ApiError)
        except ValueError:
            return default_error_details(response)
        return ErrorDetails(
            code=err.code,
            message=err.message,
            request_id=response.headers.get("X-Request-Id"),
            invalid_parameters={k: tuple(map(str, v)) for k, v in (err.errors or {}).items()},
        )

    # -- submit -----------------------------------------------------------------------------------

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Normalize ``source``/``to``/``from_``; refuse options that would break the task graph or
        that JSON cannot carry, before any request."""
        out = prepare_convert(params, provider=self.name)
        for key, value in out.items():
            if key in ("source", "to", "from_"):
                continue
            if key in _RESERVED:
                raise InvalidParameterError(
                    f"{self.name}: {key!r} is set by asyncjobs from source/to/from_; leave it out.",
                    parameter=key,
                    provider=self.name,
                )
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(
                    f"{self.name}: {key}={type(value).__name__} cannot be sent as JSON ({exc}).",
                    parameter=key,
                    provider=self.name,
                ) from exc
        tag = out.get("tag")
        if tag is not None and not isinstance(tag, str):
            raise InvalidParameterError(
                f"{self.name}: tag must be a string.", parameter="tag", provider=self.name
            )
        return out

    def job_body(self, params: Mapping[str, Any], webhook: str | None = None) -> dict[str, Any]:
        """The ``POST /v2/jobs`` body of a "convert" job: import (upload or url) -> convert ->
        export/url; options other than the job's own fields go to the convert task."""
        source: Source = params["source"]
        if source.is_url:
            imported: dict[str, Any] = {"operation": "import/url", "url": source.url}
            if source.name:
                imported["filename"] = source.name
        else:
            imported = {"operation": "import/upload"}
        convert: dict[str, Any] = {
            "operation": "convert",
            "input": [IMPORT],
            "input_format": params["from_"],
            "output_format": params["to"],
        }
        for key, value in params.items():
            if key not in ("source", "to", "from_", *_JOB_FIELDS):
                convert[key] = value
        body: dict[str, Any] = {
            "tasks": {
                IMPORT: imported,
                CONVERT: convert,
                EXPORT: {"operation": "export/url", "input": [CONVERT]},
            }
        }
        if params.get("tag") is not None:
            body["tag"] = params["tag"]
        if webhook is not None:
            body["webhook_url"] = webhook
        return body

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        """``POST /v2/jobs``, then (for a local source) the file to the upload task's form."""
        if webhook is not None and not self.config.get("webhook_secret"):
            raise ConfigurationError(
                f"{self.name}: a webhook needs the webhook_secret setting "
                "(CLOUDCONVERT_WEBHOOK_SECRET), the signing secret of your CloudConvert webhook: "
                "calls are read only when their CloudConvert-Signature verifies with it."
            )
        body = self.job_body(params, webhook)
        response = self.request("POST", "jobs", json=body, idempotent=False)
        job = self.decode(response, wire.JobBody, wire.converter).data
        source: Source = params["source"]
        if not source.is_url:
            task = next((t for t in job.tasks if t.name == IMPORT), None)
            if task is None:
                raise ProviderError(
                    f"job {job.id!r} at {self.name}: the answer lists no {IMPORT!r} task to upload "
                    f"the file to. Cancel it with client.cancel({job.id!r}).",
                    provider=self.name,
                    job_id=job.id,
                )
            self._upload(job.id, task, source, str(params["from_"]))
        return self._info(job)

    def _upload(self, job_id: str, task: wire.Task, source: Source, from_: str) -> None:
        """POST the file to the task's form, multipart, streamed, without the API key."""
        form = task.result.form if task.result else None
        if form is None:  # the form was not in the job's answer: ask the task once
            got = self.request("GET", f"tasks/{path_segment(task.id)}", job_id=job_id)
            shown = self.decode(got, wire.TaskBody, wire.converter, job_id=job_id).data
            form = shown.result.form if shown.result else None
        if form is None:
            raise ProviderError(
                f"job {job_id!r} at {self.name}: its upload task shows no upload form. Cancel it "
                f"with client.cancel({job_id!r}) and submit again.",
                provider=self.name,
                job_id=job_id,
            )
        name = source.name or f"file.{from_}"
        try:
            with source.open() as stream:
                fields = [(k, _field_text(v)) for k, v in form.parameters.items()]
                body = MultipartBody(
                    fields,
                    ("file", name, stream, source.size),
                    media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                )
                self.transport.request(
                    "POST",
                    form.url,
                    job_id=job_id,
                    data=body,
                    headers={"Content-Type": body.content_type, "Accept": "application/json"},
                    auth=None,  # the form's URL is the storage's: never the API key
                    idempotent=False,
                    error_parser=self.parse_error,
                )
        except ProviderError as exc:
            raise type(exc)(
                f"{exc} The job {job_id!r} was created and waits for its file: cancel it with "
                f"client.cancel({job_id!r}) and submit again.",
                provider=self.name,
                job_id=job_id,
                status_code=exc.status_code,
                code=exc.code,
            ) from exc

    # -- status, result ---------------------------------------------------------------------------

    def status(self, job_id: str) -> JobInfo:
        """``GET /v2/jobs/{id}``: the job and its tasks."""
        response = self.request("GET", f"jobs/{path_segment(job_id)}", job_id=job_id)
        job = self.decode(response, wire.JobLookBody, wire.converter, job_id=job_id).data
        with self._jobs_lock:
            self._jobs[job_id] = (job, response.json()["data"])
            self._jobs.move_to_end(job_id)
            while len(self._jobs) > _CACHED:
                self._jobs.popitem(last=False)
        return self._info(job, job_id)

    def _info(self, job: wire.Job | wire.JobLook, job_id: str | None = None) -> JobInfo:
        raw = job.status or _derived(job.tasks)
        status = self.status_of(raw)
        error = None
        meta: dict[str, Any] = {}
        if job.tag is not None:
            meta["tag"] = job.tag
        if job.tasks:
            meta["tasks"] = {t.name or t.id: t.status for t in job.tasks}
        if status is Status.FAILED:
            failed = [t for t in job.tasks if t.status == "error"]
            first = next(
                (t for t in failed if t.code != _INPUT_FAILED), failed[0] if failed else None
            )
            if first is not None:
                said = (first.message or "the task failed").strip()
                error = f"{said} (code {first.code}, task {first.name or first.id})"
                meta["code"] = first.code
            else:
                error = "the job failed"
            error = self.transport.redactor(error)
        cost = None
        if status is not Status.PENDING:
            # a negative count is no cost a service can bill: left out, as an unknown one
            credits = [t.credits for t in job.tasks if t.credits is not None and t.credits >= 0]
            if credits:
                cost = Cost(sum(credits), "credits")
        return JobInfo(
            provider=self.name,
            id=job_id or job.id,
            kind="convert",
            status=status,
            raw_status=raw,
            submitted_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.ended_at if status is not Status.PENDING else None,
            error=error,
            meta=meta,
            cost=cost,
        )

    def result(self, job_id: str) -> Result:
        """Every file of every finished ``export/url`` task (a job may make several)."""
        from asyncjobs.provider import Result, ResultFile  # here: not built for a status

        info = self.poll(job_id)
        self.require_done(info)
        with self._jobs_lock:
            seen = self._jobs.get(job_id)
        if seen is None:  # the poll went elsewhere (a client's status): look once more
            self.status(job_id)
            with self._jobs_lock:
                seen = self._jobs[job_id]
        job, raw = seen
        files = []
        for task in job.tasks:
            if task.operation != "export/url" or task.status != "finished" or not task.result:
                continue
            for entry in task.result.files:
                name = _safe_name(entry.filename, job_id)
                size = entry.size if entry.size is not None and entry.size >= 0 else None
                files.append(
                    ResultFile(
                        name, size=size, url=entry.url, media_type=mimetypes.guess_type(name)[0]
                    )
                )
        meta = {"credits": info.cost.amount} if info.cost else {}
        return Result(files=files, raw=raw, meta=meta)

    @contextlib.contextmanager
    def open_file(self, file: ResultFile) -> Iterator[IO[bytes]]:
        """Stream a result file from its export URL (a signed storage URL: no credentials sent)."""
        if not file.url:
            raise ProviderError(
                f"{self.name}: result file {file.name!r} has no URL", provider=self.name
            )
        with self.transport.stream(
            "GET", file.url, auth=None, error_parser=self.parse_error, size=file.size
        ) as stream:
            yield stream

    # -- cancel, list, webhooks -------------------------------------------------------------------

    def cancel(self, job_id: str) -> None:
        """Cancel every task of the job still ``waiting`` or ``processing`` (``POST
        /v2/tasks/{id}/cancel``; the API has no job-level cancel). The job then ends ``error``
        and stays readable. A job that already ended is left as it is."""
        self.status(job_id)
        with self._jobs_lock:
            job, _ = self._jobs[job_id]
        for task in job.tasks:
            if task.status not in ("waiting", "processing"):
                continue
            try:
                self.request("POST", f"tasks/{path_segment(task.id)}/cancel", job_id=job_id)
            except ProviderError as exc:
                if exc.status_code not in (400, 422):  # 400: the task ended meanwhile
                    raise
                _log.info("%s: task %s of job %s had ended already", self.name, task.id, job_id)

    def list(self) -> list[JobInfo]:
        """``GET /v2/jobs?per_page=100``, following ``links.next`` on the API's own origin."""
        url: str | None = self.url("jobs")
        params: dict[str, Any] | None = {"per_page": _PAGE_SIZE}
        seen: set[str] = set()
        jobs: list[JobInfo] = []
        while url and url not in seen and len(seen) < _MAX_PAGES:
            if not same_origin(url, str(self.config["base_url"])):
                break
            seen.add(url)
            body = self.decode(
                self.request("GET", url, params=params), wire.JobsBody, wire.converter
            )
            jobs.extend(self._info(job) for job in body.data if job.id.strip())
            url = body.links.next if body.links else None
            params = None  # the next link carries its own query
        return jobs

    def read_webhook(self, request: WebhookRequest) -> Sequence[str]:
        """A ``job.finished`` or ``job.failed`` call, read only when its ``CloudConvert-Signature``
        verifies under the ``webhook_secret`` setting (else no job: nothing is polled)."""
        secret = self.config.get("webhook_secret")
        signature = request.headers.get(SIGNATURE_HEADER.lower())
        if not verify_webhook(request.body, signature, str(secret) if secret else None):
            return []
        event = wire.structure(request.json(), wire.WebhookEvent)
        if event.event not in _ENDING_EVENTS or not event.job.id.strip():
            return []
        return [event.job.id]


def _derived(tasks: tuple[wire.Task, ...] | tuple[wire.TaskLook, ...]) -> str:
    """A job's status word from its tasks, for a job shown without one."""
    words = {t.status for t in tasks}
    if "error" in words:
        return "error"
    if words and words == {"finished"}:
        return "finished"
    return "processing" if "processing" in words or "finished" in words else "waiting"


def _safe_name(name: str, job_id: str) -> str:
    """A result file's name without folders (the service's name, unless it is empty or a dot)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base if base not in ("", ".", "..") else f"{job_id}.bin"
