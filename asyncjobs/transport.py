"""The HTTP transport every provider shares: one ``requests.Session`` per client, timeouts, bounded
retries with full jitter and ``Retry-After``, streaming uploads and downloads, error mapping, redaction.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, Any, cast
from urllib.parse import quote

import attrs
import backoff
import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from . import errors
from .redaction import Redactor, get_logger

__all__ = [
    "ErrorDetails",
    "HeaderAuth",
    "RetryPolicy",
    "Timeouts",
    "Transport",
    "default_error_details",
    "parse_retry_after",
    "path_segment",
]

log = get_logger("asyncjobs.transport")

#: Chunk size of streamed downloads and uploads (the issue asks for at least 64 KiB).
CHUNK = 1024 * 1024

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@attrs.frozen
class Timeouts:
    """Connect and read timeouts, in seconds, for every request of a client."""

    connect: float = 10.0
    read: float = 60.0

    def __attrs_post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise errors.InvalidParameterError(
                    f"the {name} timeout must be a positive number of seconds, not {value!r}",
                    parameter=f"timeout.{name}",
                )

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair ``requests`` takes."""
        return (self.connect, self.read)


@attrs.frozen
class RetryPolicy:
    """How the transport retries a failed request.

    Retried: connection errors (when the request may be repeated, or when it never left), 429 (the
    request was refused, so repeating it is safe), and ``statuses`` for requests that may be repeated.
    Delays grow exponentially with full jitter, capped; a ``Retry-After`` from the service wins.

    Attributes:
        max_tries: attempts in all, the first included (1 turns retries off).
        max_time: seconds after which no new attempt starts.
        base, factor, cap: the exponential delay's first bound, growth and largest bound, in seconds.
        statuses: HTTP statuses retried on requests that may be repeated.
    """

    max_tries: int = 5
    max_time: float = 60.0
    base: float = 0.5
    factor: float = 2.0
    cap: float = 10.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def __attrs_post_init__(self) -> None:
        if self.max_tries < 1:
            raise errors.InvalidParameterError("max_tries must be at least 1", parameter="retry")
        if self.max_time <= 0:
            raise errors.InvalidParameterError("max_time must be positive", parameter="retry")


@attrs.frozen
class ErrorDetails:
    """What a provider's error body says: its own code, message, request id and invalid parameters."""

    code: str | int | None = None
    message: str | None = None
    request_id: str | None = None
    invalid_parameters: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def default_error_details(response: requests.Response) -> ErrorDetails:
    """Read the common error shapes: ``{"code", "message"}``, ``{"error": {...}}``, ``{"error": str}``,
    ``{"errors": [...]}``, ``{"Code", "Message"}``; otherwise the start of the body as text."""
    body = _json_or_none(response)
    if isinstance(body, dict):
        lower = {str(k).lower(): v for k, v in body.items()}
        err = lower.get("error")
        if isinstance(err, dict):
            inner = {str(k).lower(): v for k, v in err.items()}
            return ErrorDetails(
                code=inner.get("code"),
                message=_text(inner.get("message") or inner.get("description")),
                request_id=_text(lower.get("requestid")),
            )
        if isinstance(lower.get("errors"), list):
            return ErrorDetails(message="; ".join(str(e) for e in lower["errors"]) or None)
        message = lower.get("message") or lower.get("error_description") or err
        return ErrorDetails(code=lower.get("code"), message=_text(message))
    text = response.text.strip() if response.content else ""
    return ErrorDetails(message=text[:300] or None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def path_segment(value: str) -> str:
    """``value`` quoted to stay exactly one URL path segment: ``/``, ``?`` and ``#`` are escaped, and
    the dot segments ``.`` and ``..`` (which URL normalization would remove) are percent-encoded."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` when
    absent or unreadable; never negative."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class HeaderAuth(requests.auth.AuthBase):
    """Signs every request with one header carrying a credential, e.g. ``X-ApiKey: <key>`` or
    (with :meth:`bearer`) ``Authorization: Bearer <token>``. Its repr never shows the credential.

    Return one from :meth:`asyncjobs.Provider.auth`.
    """

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self._value = value

    @classmethod
    def bearer(cls, token: str) -> HeaderAuth:
        """``Authorization: Bearer <token>``."""
        return cls("Authorization", f"Bearer {token}")

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[self.header] = self._value
        return r

    def __repr__(self) -> str:
        return f"HeaderAuth({self.header}: ***)"


class _Retry(Exception):
    """Internal: an attempt failed in a way worth another try. Carries the error to raise at the end."""

    def __init__(self, error: errors.AsyncJobsError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


ErrorParser = Callable[[requests.Response], ErrorDetails]


class Transport:
    """One client's HTTP: a ``requests.Session`` with timeouts, retries, redaction and error mapping.

    Providers call :meth:`request` (through :meth:`asyncjobs.Provider.request`) and :meth:`stream`;
    they never build a session of their own.

    Args:
        provider: the provider's name, for messages.
        timeouts: connect and read timeouts.
        retry: the :class:`RetryPolicy`.
        redactor: the secrets to keep out of every message and log record.
        session: a session to use instead of a new one (tests, proxies, custom adapters).
    """

    def __init__(
        self,
        *,
        provider: str,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        redactor: Redactor | None = None,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
    ) -> None:
        from . import __version__

        self.provider = provider
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.redactor = redactor or Redactor()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = (
            f"asyncjobs/{__version__} {self.session.headers.get('User-Agent', '')!s}".strip()
        )
        self._rng = rng or random.Random()
        self._send = backoff.on_exception(
            self._waits,
            _Retry,
            max_tries=lambda: self.retry.max_tries,
            max_time=lambda: self.retry.max_time,
            jitter=None,
            on_backoff=self._log_backoff,
            logger=None,
        )(self._attempt)

    def __repr__(self) -> str:
        return f"<Transport {self.provider} timeouts={self.timeouts.as_tuple()}>"

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    # -- retries ----------------------------------------------------------------------------------

    def _waits(self) -> Generator[float, Any, None]:
        exc = yield  # type: ignore[misc]
        attempt = 0
        while True:
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                delay = float(retry_after)
            else:
                bound = min(self.retry.cap, self.retry.base * self.retry.factor ** min(attempt, 64))
                delay = self._rng.uniform(0, bound)
            attempt += 1
            exc = yield delay

    def _log_backoff(self, details: Any) -> None:
        exc = details.get("exception")
        log.info(
            "%s: retrying in %.2fs after attempt %d: %s",
            self.provider,
            details.get("wait", 0.0),
            details.get("tries", 0),
            exc,
        )

    # -- requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        job_id: str | None = None,
        idempotent: bool | None = None,
        accept: Collection[int] = (),
        error_parser: ErrorParser | None = None,
        auth: requests.auth.AuthBase | None = None,
        timeout: Timeouts | float | None = None,
        stream: bool = False,
        error_classes: Mapping[int, type[errors.ProviderError]] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request, retrying per the policy, and return the response.

        Args:
            method: the HTTP method.
            url: the absolute URL; never put a secret in it.
            job_id: the job concerned, for messages.
            idempotent: whether the request may be repeated; by default true for GET, HEAD, PUT, DELETE
                and OPTIONS, false for POST (then only refused requests, 429, and connections that never
                opened are retried).
            accept: statuses >= 400 the caller handles itself instead of an error being raised.
            error_parser: reads the provider's error body (see :class:`ErrorDetails`).
            auth: the ``requests`` auth object.
            timeout: a :class:`Timeouts`, or a read timeout in seconds, instead of the client's.
            stream: leave the body unread (the caller must close the response).
            error_classes: the error class for a status where the service means something special
                (e.g. ConvertAPI's 503 on a conversion request is ``RateLimitedError``).
            **kwargs: passed to ``requests.Session.request`` (``params``, ``json``, ``data``, ``headers``,
                ``files``). A file object in ``data`` is streamed and rewound before a retry.

        Raises:
            ProviderError: (or a subclass) the service answered with an error status.
            TransportError: no answer could be had.
        """
        verb = method.upper()
        repeatable = verb in _IDEMPOTENT if idempotent is None else idempotent
        body = kwargs.get("data")
        rewind = _rewinder(body)
        if rewind is None and hasattr(body, "read"):
            repeatable = False  # a stream that cannot be rewound cannot be sent twice
        if isinstance(timeout, Timeouts):
            timeouts = timeout.as_tuple()
        elif timeout is not None:
            timeouts = (self.timeouts.connect, float(timeout))
        else:
            timeouts = self.timeouts.as_tuple()
        call = _Call(
            verb,
            url,
            job_id,
            repeatable,
            frozenset(accept),
            error_parser,
            rewind,
            dict(error_classes or {}),
        )
        try:
            return self._send(call, auth=auth, timeout=timeouts, stream=stream, **kwargs)
        except _Retry as final:
            raise final.error from final.error.__cause__

    def _attempt(self, call: _Call, **kwargs: Any) -> requests.Response:
        if call.rewind is not None:
            call.rewind()
        try:
            response = self.session.request(call.method, call.url, **kwargs)
        except requests.RequestException as exc:
            error = self._transport_error(call, exc)
            never_sent = _never_sent(exc)
            if call.repeatable or never_sent:
                raise _Retry(error) from exc
            raise error from exc
        status = response.status_code
        if status < 400 or status in call.accept:
            return response
        failure = self.error_for(
            response,
            job_id=call.job_id,
            parser=call.error_parser,
            cls=call.error_classes.get(status),
        )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        response.close()
        if status == 429 or (call.repeatable and status in self.retry.statuses):
            raise _Retry(failure, retry_after)
        raise failure

    def _transport_error(
        self, call: _Call, exc: requests.RequestException
    ) -> errors.TransportError:
        if isinstance(exc, requests.ConnectTimeout):
            what = "the connection timed out"
        elif isinstance(exc, requests.ReadTimeout):
            what = "the service did not answer in time"
        else:
            what = f"the connection failed ({type(exc).__name__})"
        where = errors.describe(self.provider, call.job_id)
        return errors.TransportError(
            self.redactor(
                f"{call.method} {_path(call.url)} to {where}: {what}: {exc}. Check the network and the "
                "base_url setting; the request was retried where that is safe."
            ),
            provider=self.provider,
            job_id=call.job_id,
        )

    def error_for(
        self,
        response: requests.Response,
        *,
        job_id: str | None = None,
        parser: ErrorParser | None = None,
        cls: type[errors.ProviderError] | None = None,
        advice: str | None = None,
    ) -> errors.ProviderError:
        """Build the error for a failed response: 401/403 -> AuthenticationError, 404 with a job ->
        JobNotFoundError, 429 -> RateLimitedError, others ProviderError (or ``cls``).

        ``advice`` replaces the generic "what to do next" sentence with the provider's own."""
        details = (parser or default_error_details)(response)
        redact = self.redactor
        invalid = {
            redact(k): tuple(redact(v) for v in vs) for k, vs in details.invalid_parameters.items()
        }
        status = response.status_code
        where = errors.describe(self.provider, job_id)
        said = (details.message or response.reason or "no explanation").strip().rstrip(".")
        code = f" (code {details.code})" if details.code is not None else ""
        if invalid:
            said += ". Invalid parameters: " + "; ".join(
                f"{k}: {' '.join(v)}" for k, v in invalid.items()
            )
        kwargs: dict[str, Any] = {
            "provider": self.provider,
            "job_id": job_id,
            "status_code": status,
            "code": details.code,
            "provider_message": self.redactor(details.message) if details.message else None,
            "request_id": details.request_id,
            "invalid_parameters": invalid,
        }
        if cls is None:
            if status in (401, 403):
                cls = errors.AuthenticationError
            elif status == 404 and job_id:
                cls = errors.JobNotFoundError
            elif status == 429:
                cls = errors.RateLimitedError
            else:
                cls = errors.ProviderError
        advice = advice or {
            errors.AuthenticationError: "Check the provider's credentials in its settings.",
            errors.JobNotFoundError: "The id is wrong, belongs to another account, or the job expired.",
            errors.RateLimitedError: "Slow down, or try again later.",
        }.get(cls, "See the provider's message.")
        message = self.redactor(
            f"{where} answered HTTP {status}{code} to {response.request.method} "
            f"{_path(response.url)}: {said}. {advice}"
        )
        if issubclass(cls, errors.RateLimitedError):
            kwargs["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
        return cls(message, **kwargs)

    # -- streaming --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[IO[bytes]]:
        """Open a response body as a binary stream, read as it arrives (memory stays flat).

        A body shorter than its ``Content-Length`` raises :class:`~asyncjobs.errors.TransportError`
        when read, so a truncated download is never taken for a whole one.
        """
        response = self.request(method, url, stream=True, **kwargs)
        try:
            yield cast(IO[bytes], _BodyStream(response, self))
        finally:
            response.close()


@attrs.frozen
class _Call:
    method: str
    url: str
    job_id: str | None
    repeatable: bool
    accept: frozenset[int]
    error_parser: ErrorParser | None
    rewind: Callable[[], None] | None
    error_classes: Mapping[int, type[errors.ProviderError]]


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the service (no connection was ever opened), so
    sending it again cannot double any work."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (NewConnectionError, NameResolutionError))


def _rewinder(body: Any) -> Callable[[], None] | None:
    if body is None or not hasattr(body, "read"):
        return None
    try:
        start = body.tell()
        if not body.seekable():
            return None
    except (AttributeError, OSError, ValueError):
        return None
    return lambda: body.seek(start)


def _path(url: str) -> str:
    """The URL without its query string (where some services' older clients put secrets)."""
    return url.split("?", 1)[0]


class _BodyStream:
    """A read-only binary stream over a response body, checking its length at the end."""

    def __init__(self, response: requests.Response, transport: Transport) -> None:
        self._response = response
        self._transport = transport
        self._chunks = response.iter_content(CHUNK)
        self._buffer = b""
        self._seen = 0
        length = response.headers.get("Content-Length")
        self._expected = int(length) if length and length.isdigit() else None
        self._done = False

    def _next(self) -> bytes:
        try:
            chunk: bytes = next(self._chunks)
        except StopIteration:
            self._done = True
            if self._expected is not None and self._seen < self._expected:
                raise self._truncated(None) from None
            return b""
        except requests.RequestException as exc:
            raise self._truncated(exc) from exc
        self._seen += len(chunk)
        return chunk

    def _truncated(self, exc: Exception | None) -> errors.TransportError:
        t = self._transport
        return errors.TransportError(
            t.redactor(
                f"{t.provider}: the download of {_path(self._response.url)} broke off after "
                f"{self._seen} of {self._expected or 'unknown'} bytes"
                + (f" ({type(exc).__name__})" if exc else "")
                + ". Fetch the result again."
            ),
            provider=t.provider,
        )

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all when negative)."""
        if size is None or size < 0:
            parts = [self._buffer]
            self._buffer = b""
            while not self._done:
                parts.append(self._next())
            return b"".join(parts)
        while len(self._buffer) < size and not self._done:
            self._buffer += self._next()
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._response.close()

    def __iter__(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        while not self._done:
            chunk = self._next()
            if chunk:
                yield chunk
