"""OpenTelemetry traces and metrics, and the structured log records, of every job operation.

One home for what asyncjobs tells the outside world about its work: the transport opens a span per
HTTP request, the client one per submit, poll, result, download and cancel, the poll core one per
wait of a job, the webhook receiver one per call received; metrics and log records are written
from the same places. Every way of waiting (one job, many jobs, futures, aio, the fleet's workers)
goes through those places, so all of them emit the same thing.

Costs nothing that matters when unused: OpenTelemetry is never imported here. Until the user's
program (or an SDK it configures) has imported ``opentelemetry.trace``, every call returns at once;
once it has, spans are made only while a real tracer provider is set (the API's proxy or no-op
provider means "not configured"), and metrics go to the API's instruments, which do nothing until
a meter provider is set.

The names here -- span names, attribute keys, metric names, logger names and their ``extra`` fields
-- are a contract, documented on the "Observability" page: change none of them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ._redaction import get_logger, redact_all
from ._version import __version__

if TYPE_CHECKING:
    from ._models import JobInfo

__all__ = [
    "ATTRIBUTES",
    "LOGGERS",
    "METRICS",
    "SPANS",
    "Watch",
    "budget_waited",
    "cancelled",
    "changed",
    "configure_from_environment",
    "current_context",
    "download",
    "ended",
    "http_attempt",
    "job_span",
    "noticed",
    "override",
    "polled",
    "rate_limited",
    "remember",
    "retried",
    "submitted",
    "submitting",
    "watch",
    "webhook_call",
]

# -- the contract ------------------------------------------------------------------------------

#: Span names, and what each covers.
SPANS: Mapping[str, str] = {
    "asyncjobs.submit": "a submit, from the ledger's record to the job id issued (or the refusal)",
    "asyncjobs.poll": "one look at a job at its provider",
    "asyncjobs.wait": "one wait for a job, by any way of waiting, from its start to its end",
    "asyncjobs.result": "fetching a finished job's result (its file list)",
    "asyncjobs.download": "reading one result file's content",
    "asyncjobs.cancel": "a cancel",
    "asyncjobs.webhook": "a webhook call received",
    "GET, POST, ...": "one HTTP request attempt (OpenTelemetry's HTTP client conventions)",
}

PROVIDER = "asyncjobs.provider"
JOB_ID = "asyncjobs.job.id"
JOB_KIND = "asyncjobs.job.kind"
JOB_STATUS = "asyncjobs.job.status"
JOB_RAW_STATUS = "asyncjobs.job.raw_status"
RETRIES = "asyncjobs.retries"
POLLS = "asyncjobs.wait.polls"
WAIT_OUTCOME = "asyncjobs.wait.outcome"
FILE_NAME = "asyncjobs.file.name"
FILE_BYTES = "asyncjobs.download.bytes"
WEBHOOK_OUTCOME = "asyncjobs.webhook.outcome"
ERROR_CODE = "asyncjobs.error.code"
ERROR_TYPE = "error.type"

#: Attribute keys, and what each holds.
ATTRIBUTES: Mapping[str, str] = {
    PROVIDER: "the provider's name (every span and metric about a job)",
    JOB_ID: "the job's id at its provider",
    JOB_KIND: "the job's kind (`convert`, ...)",
    JOB_STATUS: "`pending`, `done` or `failed`, as last seen",
    JOB_RAW_STATUS: "the provider's own status word, as last seen",
    RETRIES: "HTTP requests sent again within the operation",
    POLLS: "polls the wait made",
    WAIT_OUTCOME: (
        "how a wait ended: `ended`, `gave-up`, `timed-out`, `crashed`, `abandoned`; a fleet "
        "worker's also `released` (it stopped) and `handed-over` (its lease went to another)"
    ),
    FILE_NAME: "the result file's name",
    FILE_BYTES: "bytes of the file read",
    WEBHOOK_OUTCOME: "`accepted` or `refused`",
    ERROR_CODE: "the provider's own error code, when it gave one",
    ERROR_TYPE: "the error's class (`JobFailedError`, ...), or the HTTP status code",
}

#: Metric names, with their unit and kind.
METRICS: Mapping[str, tuple[str, str, str]] = {
    "asyncjobs.jobs.submitted": ("{job}", "counter", "jobs a provider accepted"),
    "asyncjobs.jobs.ended": ("{job}", "counter", "jobs first seen done or failed"),
    "asyncjobs.polls": ("{poll}", "counter", "looks at a job at its provider"),
    "asyncjobs.retries": ("{request}", "counter", "HTTP requests sent again"),
    "asyncjobs.rate_limited": ("{response}", "counter", "answers that said: slow down (429)"),
    "asyncjobs.webhook.calls": ("{call}", "counter", "webhook calls received"),
    "asyncjobs.job.duration": ("s", "histogram", "from a job's submit to its end"),
    "asyncjobs.poll.duration": ("s", "histogram", "one poll's latency"),
    "asyncjobs.job.notice_delay": ("s", "histogram", "from a job's end to a waiter learning it"),
    "asyncjobs.budget.wait": ("s", "histogram", "a request's wait for its request budget"),
}

#: Logger names, and what each logs (every record carries the ``extra`` fields of LOG_FIELDS).
LOGGERS: Mapping[str, str] = {
    "asyncjobs.jobs": "INFO: a job submitted, each change of its status seen, its end, a cancel",
    "asyncjobs.http": "INFO: each HTTP request sent again, and why",
    "asyncjobs.webhooks": "INFO: each webhook call received, accepted or refused",
}

_jobs_log = get_logger("asyncjobs.jobs")
_http_log = get_logger("asyncjobs.http")
_hooks_log = get_logger("asyncjobs.webhooks")

Redact = Callable[[str], str]

# -- finding OpenTelemetry ---------------------------------------------------------------------


_NAMED_TRACER = "OTEL_PYTHON_TRACER_PROVIDER"
_NAMED_METER = "OTEL_PYTHON_METER_PROVIDER"
_UNKNOWN = object()


class _Api:
    """The OpenTelemetry API, imported once the program has imported it, and what asyncjobs made
    from it: the tracer of the current tracer provider, the instruments of the current meter
    provider."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace

        self.trace = trace
        self.context = context
        self.metrics = metrics
        self._unset = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        self._tracer_of: tuple[object, Any] = (None, None)
        self._meters_of: tuple[object, _Instruments | None] = (None, None)
        self._lock = threading.Lock()
        # Whether a global provider is set, asked of the API's own module state: its public
        # get_tracer_provider() / get_meter_provider() find out that none is with a lookup of
        # OTEL_PYTHON_*_PROVIDER in os.environ, which costs ~0.75 us when the variable is absent
        # (two KeyErrors), three times a poll: 1-1.5 % of a poll on loopback with no SDK at all.
        # A provider named in that variable is loaded by the API's first get_*_provider() call,
        # so then (or should the API's internals move) the public call is made every time.
        self._tracer_state: Any = None if _NAMED_TRACER in os.environ else trace
        self._meter_state: Any = (
            None
            if _NAMED_METER in os.environ
            else sys.modules.get("opentelemetry.metrics._internal")
        )

    def tracer(self) -> Any:
        """The tracer to make spans with, or ``None`` when no SDK is configured."""
        provider = _OVERRIDE.get("tracer_provider")
        if provider is None:
            if getattr(self._tracer_state, "_TRACER_PROVIDER", _UNKNOWN) is None:
                return None  # no provider set: the API's proxy
            provider = self.trace.get_tracer_provider()
        owner, tracer = self._tracer_of
        if owner is provider:
            return tracer
        tracer = None
        if not isinstance(provider, self._unset):
            tracer = provider.get_tracer("asyncjobs", __version__)
        self._tracer_of = (provider, tracer)
        return tracer

    def instruments(self) -> _Instruments | None:
        """The instruments to record with, or ``None`` while no meter provider is set (the API's
        proxy instruments would record nothing; asyncjobs makes its instruments anew from the
        provider set later)."""
        provider = _OVERRIDE.get("meter_provider")
        if provider is None:
            if getattr(self._meter_state, "_METER_PROVIDER", _UNKNOWN) is None:
                return None
            provider = self.metrics.get_meter_provider()
        owner, made = self._meters_of
        if owner is provider and made is not None:
            return made
        with self._lock:
            made = _Instruments(provider.get_meter("asyncjobs", __version__))
            self._meters_of = (provider, made)
        return made


class _Instruments:
    def __init__(self, meter: Any) -> None:
        def make(name: str) -> Any:
            unit, kind, description = METRICS[name]
            factory = meter.create_counter if kind == "counter" else meter.create_histogram
            return factory(name, unit=unit, description=description)

        self.submitted = make("asyncjobs.jobs.submitted")
        self.ended = make("asyncjobs.jobs.ended")
        self.polls = make("asyncjobs.polls")
        self.retries = make("asyncjobs.retries")
        self.rate_limited = make("asyncjobs.rate_limited")
        self.webhook_calls = make("asyncjobs.webhook.calls")
        self.job_duration = make("asyncjobs.job.duration")
        self.poll_duration = make("asyncjobs.poll.duration")
        self.notice_delay = make("asyncjobs.job.notice_delay")
        self.budget_wait = make("asyncjobs.budget.wait")


_API: _Api | None = None
_API_LOCK = threading.Lock()
#: providers set for asyncjobs alone (tests; see :func:`override`)
_OVERRIDE: dict[str, Any] = {}


def _api() -> _Api | None:
    """The API, when the program has imported OpenTelemetry (else ``None``, at the cost of one
    dictionary lookup: asyncjobs never imports it first)."""
    api = _API
    if api is not None:
        return api
    if "opentelemetry.trace" not in sys.modules and not _OVERRIDE:
        return None
    return _load()


def _load() -> _Api | None:
    global _API
    with _API_LOCK:
        if _API is None:
            try:
                _API = _Api()
            except ImportError:  # pragma: no cover - only a broken install gets here
                return None
        return _API


def _tracing() -> tuple[_Api, Any] | None:
    """The API and the tracer to make spans with, or ``None`` while no SDK is configured."""
    api = _api()
    if api is None:
        return None
    tracer = api.tracer()
    return None if tracer is None else (api, tracer)


def _instruments() -> _Instruments | None:
    api = _api()
    return None if api is None else api.instruments()


@contextlib.contextmanager
def override(tracer_provider: Any = None, meter_provider: Any = None) -> Iterator[None]:
    """Send asyncjobs' spans and metrics to these providers inside the block, whatever the global
    ones are (the API allows setting those once per process: tests use this instead)."""
    saved = dict(_OVERRIDE)
    _OVERRIDE.clear()
    if tracer_provider is not None:
        _OVERRIDE["tracer_provider"] = tracer_provider
    if meter_provider is not None:
        _OVERRIDE["meter_provider"] = meter_provider
    try:
        yield
    finally:
        _OVERRIDE.clear()
        _OVERRIDE.update(saved)


# -- the job's trace context ------------------------------------------------------------------

#: The W3C ``traceparent`` of each job's submit, as far as this process knows it: filled by the
#: submit and by every ledger entry read, so that a wait or a webhook call finds its job's trace.
_CONTEXTS: dict[tuple[str, str], str] = {}
_CONTEXTS_MEMORY = 50_000


def remember(provider: str, job_id: str, traceparent: str | None) -> None:
    """Keep ``traceparent`` as the trace context of the job (from its submit, or the ledger)."""
    if not traceparent or _api() is None:
        return
    key = (provider, job_id)
    if _CONTEXTS.get(key) == traceparent:
        return
    _CONTEXTS[key] = traceparent
    if len(_CONTEXTS) > _CONTEXTS_MEMORY:
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):
            del _CONTEXTS[next(iter(_CONTEXTS))]


def _traceparent(span_context: Any) -> str | None:
    if not span_context.is_valid:
        return None
    flags = int(span_context.trace_flags)
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}"


def _parse(api: _Api, traceparent: str | None) -> Any:
    """The remote span context of a stored ``traceparent``, or ``None``."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    trace = api.trace
    return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))


def _placement(
    api: _Api, provider: str, job_id: str | None, parent: Any = None, traceparent: str | None = None
) -> tuple[Any, Any]:
    """Where a span about a job goes: under the span current here (``parent``: a context captured
    earlier) with a link to the job's submit, when there is one and it is another trace; else
    under the job's submit, so that background work (a fleet worker, a webhook receiver, a
    future) joins the job's own trace."""
    if traceparent is None and job_id is not None:
        traceparent = _CONTEXTS.get((provider, job_id))
    job = _parse(api, traceparent)
    trace = api.trace
    current = trace.get_current_span(parent).get_span_context()
    if current.is_valid:
        links = []
        if job is not None and job.trace_id != current.trace_id:
            links.append(trace.Link(job))
        return parent, links
    if job is not None:
        return trace.set_span_in_context(trace.NonRecordingSpan(job)), []
    return parent, []


# -- spans --------------------------------------------------------------------------------------


class _Nothing:
    """The operation when no tracing is configured: every method does nothing."""

    __slots__ = ()
    traceparent: str | None = None

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def looked(self, info: JobInfo) -> None:
        """Nothing."""

    def set(self, key: str, value: Any) -> None:
        """Nothing."""

    def answered(self, status: int) -> None:
        """Nothing."""

    def failed(self, error_type: str) -> None:
        """Nothing."""


_NOTHING = _Nothing()


#: The operation whose span is current here (its requests' retries are counted on it).
_OP: contextvars.ContextVar[_Op | None] = contextvars.ContextVar("asyncjobs_op", default=None)


class _Op:
    """One span in the making, current in its thread while the block runs."""

    __slots__ = ("_api", "_current", "_redact", "_token", "retries", "span", "traceparent")

    def __init__(self, api: _Api, span: Any, redact: Redact) -> None:
        self._api = api
        self.span = span
        self._redact = redact
        self._token: object = None
        self._current: contextvars.Token[_Op | None] | None = None
        self.retries = 0
        self.traceparent = _traceparent(span.get_span_context())

    def __enter__(self) -> _Op:
        api = self._api
        self._token = api.context.attach(api.trace.set_span_in_context(self.span))
        self._current = _OP.set(self)
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if self._current is not None:
            _OP.reset(self._current)
        self._api.context.detach(self._token)
        if error is not None:
            _failed(self._api, self.span, error, self._redact)
        if self.retries:
            self.span.set_attribute(RETRIES, self.retries)
        self.span.end()

    def set(self, key: str, value: Any) -> None:
        """One attribute (a string redacted first)."""
        if value is None:
            return
        self.span.set_attribute(key, self._redact(value) if isinstance(value, str) else value)

    def looked(self, info: JobInfo) -> None:
        """The job's id and status as a look gave them."""
        self.set(JOB_ID, info.id)
        self.set(JOB_KIND, info.kind)
        self.set(JOB_STATUS, info.status.value)
        self.set(JOB_RAW_STATUS, None if info.raw_status is None else str(info.raw_status))

    def answered(self, status: int) -> None:
        """The HTTP status code of the answer."""
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self.span.set_attribute(ERROR_TYPE, str(status))
            self.span.set_status(self._api.trace.StatusCode.ERROR)

    def failed(self, error_type: str) -> None:
        """No answer came: ``error_type`` names why (the HTTP library's exception class)."""
        self.span.set_attribute(ERROR_TYPE, error_type)
        self.span.set_status(self._api.trace.StatusCode.ERROR)


def _failed(api: _Api, span: Any, error: BaseException, redact: Redact) -> None:
    """Mark ``span`` failed with ``error``: its class, the provider's code, and its message
    redacted (an exception event without a traceback, which could hold anything)."""
    message = redact_all(redact(str(error)))[:1000]
    span.set_attribute(ERROR_TYPE, type(error).__name__)
    code = getattr(error, "code", None)
    if isinstance(code, (str, int)) and not isinstance(code, bool):
        span.set_attribute(ERROR_CODE, redact_all(redact(str(code))))
    span.add_event(
        "exception",
        {"exception.type": type(error).__name__, "exception.message": message},
    )
    span.set_status(api.trace.StatusCode.ERROR, message)


def _start(
    name: str,
    attributes: dict[str, Any],
    redact: Redact,
    *,
    provider: str,
    job_id: str | None = None,
    traceparent: str | None = None,
    kind: str = "INTERNAL",
) -> _Op | _Nothing:
    found = _tracing()
    if found is None:
        return _NOTHING
    api, tracer = found
    parent, links = _placement(api, provider, job_id, None, traceparent)
    clean = {
        k: redact(v) if isinstance(v, str) else v for k, v in attributes.items() if v is not None
    }
    span = tracer.start_span(
        name,
        context=parent,
        kind=getattr(api.trace.SpanKind, kind),
        attributes=clean,
        links=links,
    )
    return _Op(api, span, redact)


def submitting(provider: str, kind: str, redact: Redact) -> _Op | _Nothing:
    """The span of a submit (its ``traceparent`` is what the ledger keeps with the job)."""
    return _start(
        "asyncjobs.submit", {PROVIDER: provider, JOB_KIND: kind}, redact, provider=provider
    )


def job_span(
    name: str,
    provider: str,
    job_id: str,
    redact: Redact,
    *,
    kind: str | None = None,
    traceparent: str | None = None,
) -> _Op | _Nothing:
    """The span of an operation on one job (``asyncjobs.poll``, ``.result``, ``.cancel``)."""
    if traceparent is not None:
        remember(provider, job_id, traceparent)
    return _start(
        name,
        {PROVIDER: provider, JOB_ID: job_id, JOB_KIND: kind},
        redact,
        provider=provider,
        job_id=job_id,
        traceparent=traceparent,
    )


def _clean_url(url: str, redact: Redact) -> tuple[str, str | None, int | None]:
    """``url.full`` without user info and with every query value replaced (presigned download
    URLs carry credentials there), redacted; and the server's address and port."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "REDACTED", None, None
    netloc = host or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = "&".join(
        (f"{item.split('=', 1)[0]}=REDACTED" if "=" in item else item)
        for item in parts.query.split("&")
        if item
    )
    clean = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return redact_all(redact(clean)), host, port


def http_attempt(
    provider: str, method: str, url: str, resend: int, redact: Redact
) -> _Op | _Nothing:
    """The span of one HTTP request attempt, per OpenTelemetry's HTTP client conventions."""
    found = _tracing()
    if found is None:
        return _NOTHING
    api, tracer = found
    full, host, port = _clean_url(url, redact)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.full": full,
        PROVIDER: provider,
    }
    if host:
        attributes["server.address"] = host
    if port:
        attributes["server.port"] = port
    if resend:
        attributes["http.request.resend_count"] = resend
    span = tracer.start_span(method, kind=api.trace.SpanKind.CLIENT, attributes=attributes)
    return _Op(api, span, redact)


def retried(
    provider: str,
    job_id: str | None,
    *,
    method: str,
    path: str,
    tries: int,
    pause: float,
    error: BaseException,
) -> None:
    """A request is sent again after ``error``: the log record, the metric, the count on the
    operation's span."""
    status = getattr(error, "status_code", None)
    error_type = str(status) if status else type(error).__name__
    _http_log.info(
        "%s: retrying %s %s in %.2fs after attempt %d: %s",
        provider,
        method,
        path,
        pause,
        tries,
        error,
        extra={
            "provider": provider,
            "job_id": job_id,
            "method": method,
            "path": path,
            "attempt": tries,
            "pause": round(pause, 3),
            "error_type": error_type,
            "job_event": "retry",
        },
    )
    made = _instruments()
    if made is not None:
        made.retries.add(1, {PROVIDER: provider, ERROR_TYPE: error_type})
    op = _OP.get()
    if op is not None:
        op.retries += 1
        op.span.add_event("retry", {"attempt": tries, "pause": pause, ERROR_TYPE: error_type})


def budget_waited(provider: str, seconds: float) -> None:
    """A request waited ``seconds`` for its slot in the account's request budget."""
    made = _instruments()
    if made is not None:
        made.budget_wait.record(seconds, {PROVIDER: provider})


def rate_limited(provider: str) -> None:
    """An answer said: slow down."""
    made = _instruments()
    if made is not None:
        made.rate_limited.add(1, {PROVIDER: provider})


# -- the job's life -----------------------------------------------------------------------------


def _job_fields(info: JobInfo, event: str) -> dict[str, Any]:
    return {
        "provider": info.provider,
        "job_id": info.id,
        "kind": info.kind,
        "status": info.status.value,
        "raw_status": None if info.raw_status is None else str(info.raw_status),
        "job_event": event,
    }


def submitted(info: JobInfo) -> None:
    """A provider accepted a job: the log record and the metric."""
    if _jobs_log.isEnabledFor(logging.INFO):
        _jobs_log.info(
            "%s: submitted %s job %s (%s)",
            info.provider,
            info.kind,
            info.id,
            info.raw_status,
            extra=_job_fields(info, "submitted"),
        )
    made = _instruments()
    if made is not None:
        made.submitted.add(1, {PROVIDER: info.provider, JOB_KIND: info.kind})


def changed(previous: JobInfo | None, info: JobInfo) -> None:
    """A poll saw ``info``; ``previous`` is what was known of the job before it. A change of
    status (or of the provider's word) is logged; a first end is counted, with its duration."""
    if (
        previous is not None
        and previous.status is info.status
        and previous.raw_status == info.raw_status
    ):
        return
    first_end = info.finished and (previous is None or not previous.finished)
    if first_end:
        ended(info)
    if not _jobs_log.isEnabledFor(logging.INFO):
        return
    event = "ended" if first_end else "status"
    fields = _job_fields(info, event)
    fields["previous_status"] = None if previous is None else previous.status.value
    if first_end and info.error:
        fields["error"] = redact_all(str(info.error))[:500]
    _jobs_log.info(
        "%s: job %s is %s (%s)",
        info.provider,
        info.id,
        info.status.value,
        info.raw_status,
        extra=fields,
    )


def ended(info: JobInfo) -> None:
    """A job was first seen finished: the metric, and its duration when its start is known."""
    made = _instruments()
    if made is None:
        return
    labels = {PROVIDER: info.provider, JOB_KIND: info.kind, JOB_STATUS: info.status.value}
    made.ended.add(1, labels)
    if info.submitted_at is not None and info.completed_at is not None:
        seconds = (info.completed_at - info.submitted_at).total_seconds()
        if seconds >= 0:
            made.job_duration.record(seconds, labels)


def cancelled(provider: str, job_id: str, kind: str | None) -> None:
    """A job was cancelled through asyncjobs: the log record."""
    _jobs_log.info(
        "%s: job %s cancelled",
        provider,
        job_id,
        extra={
            "provider": provider,
            "job_id": job_id,
            "kind": kind,
            "status": "failed",
            "raw_status": "cancelled",
            "job_event": "cancelled",
        },
    )


def polled(provider: str, seconds: float, error: BaseException | None) -> None:
    """One poll took ``seconds`` and ended with a look, or with ``error``."""
    made = _instruments()
    if made is None:
        return
    labels = {PROVIDER: provider}
    if error is not None:
        labels[ERROR_TYPE] = type(error).__name__
    made.polls.add(1, labels)
    made.poll_duration.record(seconds, labels)


def noticed(info: JobInfo, wall: float) -> None:
    """A waiter learnt, at the wall-clock time ``wall``, that the job ended: the delay since its
    end (as the provider dated it, else as asyncjobs first saw it)."""
    if info.completed_at is None:
        return
    made = _instruments()
    if made is None:
        return
    delay = wall - info.completed_at.timestamp()
    if delay >= 0:
        made.notice_delay.record(delay, {PROVIDER: info.provider, JOB_KIND: info.kind})


class Watch:
    """One wait for one job, told how it ends: its span is made then, dated from the wait's
    start, under what was current where the wait began (see :func:`watch`)."""

    __slots__ = ("_api", "_parent", "_start", "job_id", "kind", "provider")

    def __init__(self, api: _Api, provider: str, job_id: str, kind: str | None) -> None:
        self._api = api
        self.provider = provider
        self.job_id = job_id
        self.kind = kind
        self._start = time.time_ns()
        self._parent = api.context.get_current()

    def end(
        self,
        outcome: str,
        info: JobInfo | None,
        error: BaseException | None,
        polls: int,
    ) -> None:
        """The wait ended with ``outcome`` (its last look ``info``, or ``error``)."""
        api = self._api
        tracer = api.tracer()
        if tracer is None:
            return
        parent, links = _placement(api, self.provider, self.job_id, self._parent)
        attributes: dict[str, Any] = {
            PROVIDER: self.provider,
            JOB_ID: redact_all(self.job_id),
            WAIT_OUTCOME: outcome,
            POLLS: polls,
        }
        kind = self.kind or (info.kind if info is not None else None)
        if kind:
            attributes[JOB_KIND] = kind
        if info is not None:
            attributes[JOB_STATUS] = info.status.value
            if info.raw_status is not None:
                attributes[JOB_RAW_STATUS] = redact_all(str(info.raw_status))
        span = tracer.start_span(
            "asyncjobs.wait",
            context=parent,
            attributes=attributes,
            links=links,
            start_time=self._start,
        )
        if error is not None:
            _failed(api, span, error, redact_all)
        elif info is not None and info.status.value == "failed":
            # the job's own failure: an error in a trace, though the wait itself went well
            message = redact_all(str(info.error or info.raw_status or "failed"))[:1000]
            span.set_attribute(ERROR_TYPE, "JobFailedError")
            span.set_status(api.trace.StatusCode.ERROR, message)
        span.end()


def watch(provider: str, job_id: str, kind: str | None) -> Watch | None:
    """The telemetry of a wait for a job starting now (``None`` when none is configured)."""
    found = _tracing()
    return None if found is None else Watch(found[0], provider, job_id, kind)


# -- downloads ----------------------------------------------------------------------------------


class _Counted:
    """A result file's stream that counts what is read through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read1(size)  # type: ignore[attr-defined]
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return n  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk


@contextlib.contextmanager
def download(
    provider: str,
    job_id: str | None,
    name: str,
    redact: Redact,
    opened: contextlib.AbstractContextManager[IO[bytes]],
) -> Iterator[IO[bytes]]:
    """``opened`` (a result file's stream), inside an ``asyncjobs.download`` span that counts the
    bytes read."""
    op = _start(
        "asyncjobs.download",
        {PROVIDER: provider, JOB_ID: job_id, FILE_NAME: name},
        redact,
        provider=provider,
        job_id=job_id,
    )
    if isinstance(op, _Nothing):
        with opened as stream:
            yield stream
        return
    with op, opened as stream:
        counted = _Counted(stream)
        try:
            yield counted  # type: ignore[misc]
        finally:
            op.span.set_attribute(FILE_BYTES, counted.count)


# -- webhooks -----------------------------------------------------------------------------------


def webhook_call(
    provider: str | None,
    job_ids: list[str],
    accepted: bool,
    status: int,
    started_ns: int,
    parent: Any,
    method: str = "POST",
    path: str = "",
) -> None:
    """A webhook call was answered ``status``: the log record (an access line: ``method``, and
    ``path`` with its token already masked), the metric, and its span (made now, dated from
    ``started_ns``, under ``parent`` -- the context current when it came -- or the job's own
    trace)."""
    outcome = "accepted" if accepted else "refused"
    _hooks_log.info(
        "%s %s %d: %s webhook call %s%s",
        method,
        path,
        status,
        provider or "?",
        outcome,
        f" for job {', '.join(job_ids)}" if job_ids else "",
        extra={
            "provider": provider,
            "job_id": job_ids[0] if job_ids else None,
            "job_ids": list(job_ids),
            "outcome": outcome,
            "status_code": status,
            "method": method,
            "path": path,
            "job_event": "webhook",
        },
    )
    if provider is None:
        return  # a path naming no provider here: nobody's call, counted nowhere
    made = _instruments()
    if made is not None:
        made.webhook_calls.add(1, {PROVIDER: provider, WEBHOOK_OUTCOME: outcome})
    api = _API
    if api is None:
        return
    tracer = api.tracer()
    if tracer is None:
        return
    job_id = job_ids[0] if job_ids else None
    where, links = _placement(api, provider, job_id, parent)
    attributes: dict[str, Any] = {
        PROVIDER: provider,
        WEBHOOK_OUTCOME: outcome,
        "http.response.status_code": status,
    }
    if job_id is not None:
        attributes[JOB_ID] = redact_all(job_id)
    span = tracer.start_span(
        "asyncjobs.webhook",
        context=where,
        kind=api.trace.SpanKind.SERVER,
        attributes=attributes,
        links=links,
        start_time=started_ns,
    )
    if status >= 500:
        span.set_status(api.trace.StatusCode.ERROR)
    span.end()


def current_context() -> Any:
    """What is current here (to place a span made later), or ``None`` without tracing."""
    found = _tracing()
    return None if found is None else found[0].context.get_current()


# -- the long-running commands ------------------------------------------------------------------

_SIGNALS = ("TRACES", "METRICS")


def configure_from_environment(service: str) -> bool:
    """Set up the OpenTelemetry SDK from the standard ``OTEL_*`` variables, as
    ``opentelemetry-instrument`` would, for a long-running command (``asyncjobs worker``,
    ``asyncjobs webhooks serve``): when the SDK is installed, no tracer provider is set yet, the
    SDK is not disabled, and an exporter or an OTLP endpoint is named. A configurator that a
    distribution registers (``opentelemetry-distro``) is used when present; else the exporters
    named by ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` are loaded by their entry
    points, with a resource from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` (the
    service's name defaults to ``service``). Returns whether anything was set up."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    named = any(
        env.get(f"OTEL_{signal}_EXPORTER") or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        for signal in _SIGNALS
    ) or bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if not named:
        return False
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        logging.getLogger("asyncjobs").warning(
            "OTEL_* variables are set, but the OpenTelemetry SDK is not installed: "
            "pip install opentelemetry-sdk (and an exporter) to send telemetry"
        )
        return False
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False  # set up already (opentelemetry-instrument, or the program itself)
    from importlib.metadata import entry_points

    configurators = list(entry_points(group="opentelemetry_configurator"))
    chosen = env.get("OTEL_PYTHON_CONFIGURATOR")
    for ep in configurators:
        if chosen is None or ep.name == chosen:
            ep.load()().configure()
            return True
    defaults = {}
    if not env.get("OTEL_SERVICE_NAME") and "service.name" not in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        defaults["service.name"] = service
    resource = Resource.create(defaults)
    done = False
    spans = _exporters("traces", env.get("OTEL_TRACES_EXPORTER", "otlp"))
    if spans:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=resource)
        for exporter in spans:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)
        done = True
    readers = _exporters("metrics", env.get("OTEL_METRICS_EXPORTER", "otlp"))
    if readers:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[PeriodicExportingMetricReader(e) for e in readers],
        )
        metrics.set_meter_provider(meter_provider)
        done = True
    return done


def _exporters(signal: str, names: str) -> list[Any]:
    """The exporters named (comma-separated) for ``signal``, made from their entry points;
    ``none`` names none, and a name no installed package provides costs a warning."""
    from importlib.metadata import entry_points

    found = []
    group = f"opentelemetry_{signal}_exporter"
    for name in (n.strip() for n in names.split(",")):
        if not name or name == "none":
            continue
        eps = [ep for ep in entry_points(group=group) if ep.name == name]
        if not eps:
            logging.getLogger("asyncjobs").warning(
                "OTEL_%s_EXPORTER names %r, which no installed package provides (for otlp: "
                "pip install opentelemetry-exporter-otlp); no %s are exported",
                signal.upper(),
                name,
                signal,
            )
            continue
        found.append(eps[0].load()())
    return found
