"""The HTTP transport every provider shares: one ``requests.Session`` per client, timeouts, bounded
retries with full jitter and ``Retry-After``, streaming uploads and downloads, error mapping, redaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import functools
import itertools
import math
import operator
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import quote, urljoin, urlsplit

import attrs
import requests
import urllib3
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.exceptions import LocationParseError, NameResolutionError, NewConnectionError

from . import _checks, _tally, _telemetry, errors
from ._budget import Gate
from ._policies import RetryPolicy, Timeouts
from ._redaction import Redactor, get_logger

if TYPE_CHECKING:
    from ._details import ErrorDetails

__all__ = [
    "MAX_BODY",
    "HeaderAuth",
    "RetryPolicy",
    "Timeouts",
    "TokenAuth",
    "Transport",
    "deadline",
    "default_error_details",
    "origin",
    "parse_retry_after",
    "path_segment",
    "same_origin",
]

log = get_logger("asyncjobs._http")

#: Chunk size of streamed downloads and uploads (the issue asks for at least 64 KiB).
CHUNK = 1024 * 1024

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: The largest answer body read into memory (JSON answers, error bodies), in bytes, unless a client
#: sets its own (``connect(max_body=...)``): past it the answer is refused with a TransportError.
MAX_BODY = 16 * 1024 * 1024
#: Redirect hops followed for one request at most.
MAX_REDIRECTS = 10
#: Bytes read from each size-checked chunk of a body: small enough that a slow answer is checked
#: against the caller's deadline between reads.
_READ = 64 * 1024
#: The longest unread rest of a streamed body that closing its response reads (instead of
#: discarding the connection): a poll's empty or short answer, never a result file.
_KEEP = 64 * 1024
#: The longest part of an error body kept in a message.
_ERROR_TEXT = 300
#: Connections a client's own session keeps per origin; the waits (``asyncjobs.wait``, ``aio``)
#: use as many workers at most, so that none opens a connection for a poll and throws it away
#: after it (urllib3 logged "connection pool is full" when a wait's workers ended).
POOL_SIZE = 16
#: Bytes of a request body read and sent at a time by a client's own session (urllib3's 16 KiB
#: made a 4 GiB upload cost 2.1-2.3 s of client CPU; 256 KiB 0.9-1.8 s at the same or a higher
#: speed; 1 MiB sends were slower on loopback, 700-898 MiB/s against 814-880).
SEND_BLOCK = 256 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# The deadline of the waiting call a request serves (monotonic seconds), for every request made in
# its scope, whichever provider code makes it (see :func:`deadline`).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "asyncjobs_deadline", default=None
)


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Bound every request sent inside the block by the monotonic time ``at``: no retry starts
    after it, and a body still arriving then is abandoned with JobTimeoutError. Nested scopes keep
    the earlier deadline. ``None`` adds no bound."""
    outer = _DEADLINE.get()
    if at is None or (outer is not None and outer <= at):
        yield
        return
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """The deadline (monotonic seconds) of the :func:`deadline` scope the caller is in, or ``None``
    outside any: what other waiting work (a ledger reconnecting) bounds itself by."""
    return _DEADLINE.get()


# Set once the waiting call that a request serves has ended (a wait returned, a client closed):
# no new attempt starts, and a pause between attempts ends at once (see :func:`abandoned_when`).
_ABANDONED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "asyncjobs_abandoned", default=None
)


@contextlib.contextmanager
def abandoned_when(event: threading.Event) -> Iterator[None]:
    """Requests sent inside the block start no new attempt once ``event`` is set: the pause
    before a retry ends then, and the call raises JobTimeoutError (whose answer nobody waits
    for). A poll left in flight by a wait that returned stops retrying instead of going on
    alone."""
    token = _ABANDONED.set(event)
    try:
        yield
    finally:
        _ABANDONED.reset(token)


def origin(url: object) -> str | None:
    """The origin (``scheme://host:port``) an ``http(s)`` URL connects to, or ``None`` for a URL that
    asyncjobs will not send to: another scheme, no host, a user name or password in it, a backslash,
    white space or a control character, or any URL that the standard library and urllib3 (which
    makes the connection) would read as different hosts or ports."""
    if not isinstance(url, str):
        return None
    return _origin(url)


@functools.lru_cache(maxsize=4096)
def _origin(url: str) -> str | None:
    # every request checks its URL twice (sendable; trusted): a poll's URL is the same each time,
    # and parsing it both ways was a twentieth of a loopback poll's time
    if "\\" in url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        parsed = urllib3.util.parse_url(url)
    except (ValueError, LocationParseError):
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    theirs = (parsed.host or "").lower().strip("[]")
    default = 443 if scheme == "https" else 80
    if (
        (parsed.scheme or "").lower() != scheme
        or theirs != host
        or (parsed.port or default) != (port or default)
        or parsed.auth
    ):
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or default}"


def same_origin(url: object, base: object) -> bool:
    """True when ``url`` connects to the same origin as ``base`` (scheme, host and port), and both
    are URLs asyncjobs sends to (see :func:`origin`)."""
    mine = origin(url)
    return mine is not None and mine == origin(base)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def default_error_details(response: requests.Response) -> ErrorDetails:
    """Read the common error shapes: ``{"code", "message"}``, ``{"error": {...}}``, ``{"error": str}``,
    ``{"errors": [...]}``, ``{"Code", "Message"}``; otherwise the start of the body as text."""
    from ._details import ErrorDetails  # here: only an error answer is read

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
    return ErrorDetails(message=text or None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def path_segment(value: str) -> str:
    """``value`` quoted to stay exactly one URL path segment: ``/``, ``?`` and ``#`` are escaped, and
    the dot segments ``.`` and ``..`` (which URL normalization would remove) are percent-encoded."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` when
    absent or unreadable (``inf`` and ``nan`` included); never negative. Callers clamp it to their
    policy's cap: a service does not choose how long a client sleeps."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
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
        #: Seconds from the start of the call to the start of this attempt.
        self.elapsed = 0.0
        #: The pause chosen before the next attempt (set by :meth:`Transport._waits`).
        self.pause = 0.0
        #: No attempt follows this one whatever the policy allows: its transport was closed.
        self.final = False


@attrs.define
class _Attempts:
    """Internal: one call's state while backoff retries it (see :meth:`Transport._again`)."""

    call: _Call
    kwargs: dict[str, Any]
    start: float
    #: The failure of the latest attempt.
    last: _Retry
    #: Whether backoff's first try, which replays the plain first attempt's failure, has run.
    replayed: bool = False
    #: Attempts sent so far.
    sent: int = 1


_NO_BUDGET = contextlib.nullcontext()


class _NoAuth(requests.auth.AuthBase):
    """Signs nothing: given for hops to another origin, so that neither the session's own ``auth``
    nor a ``.netrc`` entry is applied there."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_AUTH = _NoAuth()

ErrorParser = Callable[[requests.Response], "ErrorDetails"]


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter, sending a request body in blocks of :data:`SEND_BLOCK` (urllib3 reads
    16 KiB at a time: about 65,000 reads and sends for a 1 GiB upload)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("blocksize", SEND_BLOCK)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def new_session() -> requests.Session:
    """The session a client makes when it is given none: :data:`POOL_SIZE` connections kept per
    origin, request bodies sent in blocks of :data:`SEND_BLOCK`."""
    session = requests.Session()
    adapter = _Adapter(pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Transport:
    """One client's HTTP: a ``requests.Session`` with timeouts, retries, redaction and error mapping.

    Providers call :meth:`request` (through :meth:`asyncjobs.Provider.request`) and :meth:`stream`;
    they never build a session of their own.

    The transport owns the rules every provider gets: credentials (the ``auth`` of a request) go only
    to the ``origins`` they belong to, on every hop (redirects are followed here, one hop at a time,
    and a hop to another origin is sent unsigned, or refused when it would carry a body); answers
    read into memory are capped at ``max_body`` bytes; and every request inside a
    :func:`deadline` scope ends by that deadline (plus one read timeout at most).

    Args:
        provider: the provider's name, for messages.
        timeouts: connect and read timeouts.
        retry: the :class:`RetryPolicy`.
        redactor: the secrets to keep out of every message and log record.
        session: a session to use instead of a new one (tests, proxies, custom adapters).
        origins: the origins (see :func:`origin`) the credentials belong to; ``None`` trusts every
            origin (only for transports no provider's credentials pass through).
        max_body: the largest body read into memory, in bytes.
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
        origins: Collection[str] | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        from ._version import __version__  # here: the metadata is read when a client is made

        self.provider = provider
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.redactor = redactor or Redactor()
        self.session = session or new_session()
        self.session.headers["User-Agent"] = (
            f"asyncjobs/{__version__} {self.session.headers.get('User-Agent', '')!s}".strip()
        )
        self.origins: frozenset[str] | None = None if origins is None else frozenset(origins)
        self.max_body = _checks.count(max_body, "max_body", least=1024, most=2**40)
        self._rng = rng or random.Random()
        #: Whether a refused connection (nothing listens at the address) is retried as other
        #: connection errors are. The command line's one-shot verbs turn it off: a person at a
        #: prompt learns at once that the sandbox or service is not running.
        self.retry_refused = True
        self._closed = threading.Event()
        self._backoff: Callable[[_Attempts], requests.Response] | None = None
        #: where every request waits for the account's request budget (set by ``connect``)
        self.gate: Gate | None = None

    def __repr__(self) -> str:
        return f"<Transport {self.provider} timeouts={self.timeouts.as_tuple()}>"

    def close(self) -> None:
        """Close the session's pooled connections. A request retrying on another thread (a
        webhook's confirming poll, a wait's poll) is not sent again: it raises the error of its
        last attempt once its pause ends."""
        self._closed.set()
        self.session.close()

    def trusts(self, url: str) -> bool:
        """True when the credentials may be sent to ``url``: its origin is one of :attr:`origins`."""
        mine = origin(url)
        return mine is not None and (self.origins is None or mine in self.origins)

    # -- retries ----------------------------------------------------------------------------------

    def _send(self, call: _Call, **kwargs: Any) -> requests.Response:
        """Attempt ``call``; when the attempt fails in a way worth another try, hand the rest to
        :meth:`_retrying` (backoff), which attempts again until one succeeds, one fails for good,
        or the policy's tries or time run out (the last :class:`_Retry` is raised then).

        The first attempt runs plainly: a call that needs no retry costs one function call over
        its attempt, and never imports backoff (nor asyncio, which backoff imports)."""
        start = time.monotonic()
        try:
            return self._attempt(call, 0, **kwargs)
        except _Retry as exc:
            if self.retry.max_tries <= 1:
                raise
            first = exc
        return self._retrying()(_Attempts(call, kwargs, start, first))

    def _retrying(self) -> Callable[[_Attempts], requests.Response]:
        """:meth:`_again` under ``backoff.on_exception``, built on this transport's first retry.

        backoff counts the tries (the first one replays the plain attempt's failure, so that every
        pause is backoff's), asks :meth:`_waits` for each pause and sleeps it, and gives up per
        :meth:`_gives_up`. The time bound is not backoff's ``max_time``, whose clock would start
        at the first retry: it is checked against the call's own start (``_Retry.elapsed``), as
        "seconds after which no new attempt starts" means."""
        retrying = self._backoff
        if retrying is None:
            import backoff

            retrying = self._backoff = backoff.on_exception(
                self._waits,
                _Retry,
                max_tries=lambda: self.retry.max_tries,
                jitter=None,
                giveup=self._gives_up,
                on_backoff=self._paused,
                logger=None,
            )(self._again)
        return retrying

    def _again(self, attempts: _Attempts) -> requests.Response:
        """backoff's target: its first try raises the failure of the plain first attempt again;
        later tries attempt the call, unless the transport was closed in the pause."""
        last = attempts.last
        if not attempts.replayed:
            attempts.replayed = True
            raise last
        if self._closed.is_set():  # its client was closed meanwhile: nothing more is sent
            last.final = True
            raise last
        began = time.monotonic()
        resend = attempts.sent
        attempts.sent += 1
        try:
            return self._attempt(attempts.call, resend, **attempts.kwargs)
        except _Retry as exc:
            exc.elapsed = began - attempts.start
            attempts.last = exc
            raise

    def _gives_up(self, exc: Exception) -> bool:
        """No attempt after ``exc``: its transport was closed, or the attempt started once the
        policy's time had run out."""
        failure = cast(_Retry, exc)  # backoff retries on _Retry only
        return failure.final or failure.elapsed >= self.retry.max_time

    def _waits(self) -> Generator[float, Any, None]:
        """The pauses between attempts (backoff's wait generator, sent each failure): full jitter
        under the policy's exponential cap, or the service's ``Retry-After`` clamped to the cap;
        never past the call's deadline nor the policy's time. The pause chosen is kept on the
        failure (``_Retry.pause``) for :meth:`_paused`."""
        exc: _Retry = yield 0.0  # backoff's priming send; then each failure
        attempt = 0
        while True:
            retry_after = exc.retry_after
            if retry_after is not None:
                # a service's hint is honoured up to the policy's cap, never beyond
                delay = min(float(retry_after), self.retry.cap)
            else:
                bound = min(self.retry.cap, self.retry.base * self.retry.factor ** min(attempt, 64))
                delay = self._rng.uniform(0, bound)
            end = _DEADLINE.get()
            if end is not None:
                # never sleep past the deadline of the call this request serves: the next attempt
                # then starts at it and ends the call with JobTimeoutError
                delay = max(0.0, min(delay, end - time.monotonic()))
            exc.pause = max(0.0, min(delay, self.retry.max_time - exc.elapsed))
            attempt += 1
            # backoff sleeps what is yielded; a pause a wait may abandon is taken in _paused
            exc = yield 0.0 if _ABANDONED.get() is not None else exc.pause

    def _paused(self, details: Mapping[str, Any]) -> None:
        """backoff's ``on_backoff``: the retry told (a log record on ``asyncjobs.http``, a metric,
        a count on the operation's span), and the pause itself when the call serves a wait that
        may be abandoned (it ends at once when the wait does)."""
        exc: _Retry = details["exception"]
        call: _Call = details["args"][0].call
        if call.job_id is not None:
            _tally.retried(self.provider, call.job_id)
        _telemetry.retried(
            self.provider,
            call.job_id,
            method=call.method,
            path=self.redactor(_path(call.url)),
            tries=details["tries"],
            pause=exc.pause,
            error=exc.error,
        )
        gone = _ABANDONED.get()
        if gone is not None:
            gone.wait(exc.pause)

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
        redirects: bool = True,
        advice: Mapping[type[errors.ProviderError], str] | None = None,
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
            auth: the ``requests`` auth object; applied only to hops whose origin the transport
                :meth:`trusts`.
            timeout: a :class:`Timeouts`, or a read timeout in seconds, instead of the client's.
            stream: leave the body unread (the caller must close the response).
            error_classes: the error class for a status where the service means something special
                (e.g. ConvertAPI's 503 on a conversion request is ``RateLimitedError``).
            redirects: follow redirects (one hop at a time, signing only trusted origins); ``False``
                returns a redirect as it came (token requests, whose body holds a secret).
            advice: the provider's own "what to do next" sentence per error class (see
                :attr:`asyncjobs.provider.Provider.advice`).
            **kwargs: passed to ``requests.Session.request`` (``params``, ``json``, ``data``, ``headers``,
                ``files``). A file object in ``data`` is streamed and rewound before a retry.

        Raises:
            ProviderError: (or a subclass) the service answered with an error status, or redirected
                a request with a body to another origin.
            TransportError: no answer could be had, the URL is not one asyncjobs sends to, or the
                answer was larger than ``max_body``.
            JobTimeoutError: the deadline of the waiting call passed (see :func:`deadline`).
        """
        verb = method.upper()
        if origin(url) is None:
            raise errors.TransportError(
                self.redactor(
                    f"{errors.describe(self.provider, job_id)}: refusing to send {verb} to "
                    f"{_path(url)!r}: not an http(s) URL that every HTTP library reads the same way "
                    "(a user name, a backslash or white space in it). Check the base_url setting, or "
                    "report the URL the service gave."
                ),
                provider=self.provider,
                job_id=job_id,
            )
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
            redirects,
            stream,
            dict(advice or {}),
        )
        try:
            return self._send(call, auth=auth, timeout=timeouts, **kwargs)
        except _Retry as final:
            raise final.error from final.error.__cause__

    def _check_deadline(self, call: _Call) -> None:
        gone = _ABANDONED.get()
        if gone is not None and gone.is_set():
            raise errors.JobTimeoutError(
                f"{errors.describe(self.provider, call.job_id)}: the wait that {call.method} "
                f"{_path(call.url)} served has ended; it is not sent again. The job goes on at "
                "the provider.",
                provider=self.provider,
                job_id=call.job_id,
            )
        end = _DEADLINE.get()
        if end is not None and time.monotonic() >= end:
            raise errors.JobTimeoutError(
                f"{errors.describe(self.provider, call.job_id)}: the time given to wait ran out "
                f"during {call.method} {_path(call.url)}. The job goes on at the provider.",
                provider=self.provider,
                job_id=call.job_id,
            )

    def _attempt(self, call: _Call, resend: int, **kwargs: Any) -> requests.Response:
        self._check_deadline(call)
        if call.rewind is not None:
            call.rewind()
        failed: requests.RequestException | None = None
        with (
            self._budget(call),
            _telemetry.http_attempt(
                self.provider, call.method, call.url, resend, self.redactor
            ) as span,
        ):
            try:
                response = self._exchange(call, **kwargs)
            except requests.RequestException as exc:
                failed = exc
                span.failed(type(exc).__name__)
            else:
                span.answered(response.status_code)
        if failed is not None:
            error = self._transport_error(call, failed)
            never_sent = _never_sent(failed)
            error.never_sent = never_sent
            if (call.repeatable or never_sent) and (self.retry_refused or not _refused(failed)):
                raise _Retry(error) from failed
            raise error from failed
        status = response.status_code
        if status < 400 or status in call.accept:
            return response
        failure = self.error_for(
            response,
            job_id=call.job_id,
            parser=call.error_parser,
            cls=call.error_classes.get(status),
            advices=call.advice,
        )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        response.close()
        if status == 429 or isinstance(failure, errors.RateLimitedError):
            _telemetry.rate_limited(self.provider)
        if status == 429 and self.gate is not None:
            # the account's pause, not this request's: everyone waits, as long as the retry policy
            # would have this request wait (an absurd Retry-After is clamped to its cap)
            hint = None if retry_after is None else min(retry_after, self.retry.cap)
            self.gate.pause(hint)
        if status == 429 or (call.repeatable and status in self.retry.statuses):
            raise _Retry(failure, retry_after)
        raise failure

    def _budget(self, call: _Call) -> contextlib.AbstractContextManager[object]:
        """Wait for the request budget's slot within the call's deadline (no budget: at once)."""
        gate = self.gate
        if gate is None:
            return _NO_BUDGET
        end = _DEADLINE.get()
        gone = _ABANDONED.get()

        def late() -> errors.JobTimeoutError:
            return errors.JobTimeoutError(
                f"{errors.describe(self.provider, call.job_id)}: the time given to wait ran out "
                f"before {call.method} {_path(call.url)} could go within the request budget "
                f"({gate.budget}). The job goes on at the provider.",
                provider=self.provider,
                job_id=call.job_id,
            )

        return gate.entered(end, gone, late)

    def _exchange(
        self,
        call: _Call,
        *,
        auth: requests.auth.AuthBase | None,
        timeout: tuple[float, float],
        **kwargs: Any,
    ) -> requests.Response:
        """One attempt: the request and its redirect hops, each signed only where trusted; then the
        body read (capped, checked against the deadline) unless the caller streams it."""
        method, url = call.method, call.url
        for hop in range(MAX_REDIRECTS + 1):
            signed = auth if auth is not None and self.trusts(url) else _NO_AUTH
            end = _DEADLINE.get()
            read = timeout[1] if end is None else max(0.05, min(timeout[1], end - time.monotonic()))
            response = self.session.request(
                method,
                url,
                auth=signed,
                timeout=(timeout[0], read),
                stream=True,
                allow_redirects=False,
                **kwargs,
            )
            if not call.redirects or response.status_code not in _REDIRECTS:
                break
            location = response.headers.get("Location")
            if not location:
                break
            target = urljoin(response.url, location)
            _drain(response)
            if origin(target) is None:
                raise self._redirect_error(
                    call, response.status_code, target, "is not a URL it sends to"
                )
            if hop == MAX_REDIRECTS:
                raise self._redirect_error(
                    call, response.status_code, target, f"is hop {hop + 1}: too many redirects"
                )
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method = "GET" if method != "HEAD" else method
                kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json", "files")}
            elif any(kwargs.get(k) is not None for k in ("data", "json", "files")):
                if not same_origin(target, url):
                    raise self._redirect_error(
                        call,
                        response.status_code,
                        target,
                        "is another origin, and the request carries a body",
                    )
                if call.rewind is None and hasattr(kwargs.get("data"), "read"):
                    raise self._redirect_error(
                        call,
                        response.status_code,
                        target,
                        "needs the body again, which cannot be re-read",
                    )
                if call.rewind is not None:
                    call.rewind()
            log.debug("%s: %s redirected to %s", self.provider, _path(url), _path(target))
            url = target
        response.raw = _GuardedRaw(response.raw, self, call, _DEADLINE.get())
        response.__class__ = _Response
        if not call.stream:
            self._read_body(call, response)
        return response

    def _redirect_error(
        self, call: _Call, status: int, target: str, why: str
    ) -> errors.ProviderError:
        host = urlsplit(target).hostname or target[:100]
        return errors.ProviderError(
            self.redactor(
                f"{errors.describe(self.provider, call.job_id)}: {call.method} {_path(call.url)} was "
                f"redirected (HTTP {status}) to the host {host!r}, which {why}; asyncjobs did not "
                "follow it, so no credential or data went there. Check the base_url setting, or "
                "ask the provider why it redirects."
            ),
            provider=self.provider,
            job_id=call.job_id,
            status_code=status,
        )

    def _read_body(self, call: _Call, response: requests.Response) -> None:
        """Read the whole body into ``response`` (as ``requests`` would), through its guard: at
        most :attr:`max_body` bytes once decompressed, and never past the deadline."""
        raw = cast(_GuardedRaw, response.raw)
        chunks: list[bytes] = []
        try:
            while chunk := raw.read(_READ):
                chunks.append(chunk)
                if raw.ended():
                    break
        except BaseException:
            response.close()
            raise
        cast(_Response, response).keep(b"".join(chunks))
        with contextlib.suppress(Exception):
            raw.release_conn()

    def _transport_error(
        self, call: _Call, exc: requests.RequestException
    ) -> errors.TransportError:
        if isinstance(exc, requests.ConnectTimeout):
            what = "the connection timed out"
        elif isinstance(exc, requests.ReadTimeout):
            what = "the service did not answer in time"
        else:
            what = "the connection failed"
        where = errors.describe(self.provider, call.job_id)
        return errors.TransportError(
            self.redactor(
                f"{call.method} {_path(call.url)} to {where}: {what}: {_reason(exc)}. Check the "
                "network and the base_url setting; the request was retried where that is safe."
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
        advices: Mapping[type[errors.ProviderError], str] | None = None,
    ) -> errors.ProviderError:
        """Build the error for a failed response: 401/403 -> AuthenticationError, 404 with a job ->
        JobNotFoundError, 429 -> RateLimitedError, others ProviderError (or ``cls``).

        ``advice`` replaces the generic "what to do next" sentence with the provider's own;
        ``advices`` gives one per error class (the provider's declared :attr:`advice`)."""
        try:
            details = (parser or default_error_details)(response)
        except RecursionError:  # an error body nested beyond what the JSON parser takes
            from ._details import ErrorDetails  # here: only an error answer is read

            details = ErrorDetails(message="an unreadable (deeply nested) error body")
        clip = self.redactor.clip
        invalid = {
            clip(str(k), _ERROR_TEXT): tuple(clip(str(v), _ERROR_TEXT) for v in vs)
            for k, vs in details.invalid_parameters.items()
        }
        status = response.status_code
        where = errors.describe(self.provider, job_id)
        said = clip((details.message or response.reason or "no explanation").strip(), _ERROR_TEXT)
        said = said.rstrip(".")
        code_value: str | int | None = details.code
        if code_value is not None and not isinstance(code_value, int):
            code_value = clip(str(code_value), 100)  # a service may put anything there
        code = f" (code {code_value})" if code_value is not None else ""
        if invalid:
            said += ". Invalid parameters: " + "; ".join(
                f"{k}: {' '.join(v)}" for k, v in invalid.items()
            )
        kwargs: dict[str, Any] = {
            "provider": self.provider,
            "job_id": job_id,
            "status_code": status,
            "code": code_value,
            "provider_message": clip(details.message, _ERROR_TEXT) if details.message else None,
            "request_id": clip(details.request_id, 200) if details.request_id else None,
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
        advice = (
            advice
            or (advices or {}).get(cls)
            or {
                errors.AuthenticationError: "Check the provider's credentials in its settings.",
                errors.JobNotFoundError: "The id is wrong, belongs to another account, or the job expired.",
                errors.RateLimitedError: "Slow down, or try again later.",
            }.get(cls, "See the provider's message.")
        )
        message = self.redactor(
            f"{where} answered HTTP {status}{code} to {response.request.method} "
            f"{_path(response.url)}: {said}. {advice}"
        )
        if issubclass(cls, errors.RateLimitedError):
            hint = parse_retry_after(response.headers.get("Retry-After"))
            kwargs["retry_after"] = None if hint is None else min(hint, _checks.MAX_SECONDS)
        return cls(message, **kwargs)

    # -- streaming --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stream(
        self, method: str, url: str, *, size: int | None = None, **kwargs: Any
    ) -> Iterator[IO[bytes]]:
        """Open a response body as a binary stream, read as it arrives (memory stays flat).

        A body shorter than its ``Content-Length`` (or than ``size``, the size the service declared
        for the file) raises :class:`~asyncjobs.errors.TransportError` when read, so a truncated
        download is never taken for a whole one; a body longer than either is cut off with the same
        error, so a hostile server cannot fill the disk.
        """
        response = self.request(method, url, stream=True, **kwargs)
        try:
            yield cast(IO[bytes], _BodyStream(response, self, size))
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
    redirects: bool = True
    stream: bool = False
    advice: Mapping[type[errors.ProviderError], str] = attrs.field(factory=dict)


#: The deepest nesting of a JSON answer read (no service nests beyond a few levels; the parser
#: recurses once per level).
MAX_JSON_DEPTH = 500
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def too_deep(body: bytes | None, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects deeper than ``limit``, told without
    parsing it (brackets inside strings do not count): the deepest point of the running count of
    open brackets, computed by C-level iterators over the brackets alone."""
    if not body or body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    # an opening bracket counts 2 and a closing one 0: after i brackets the sum less i is the depth
    steps = brackets.translate(_BRACKET_STEPS)
    deepest = max(map(operator.sub, itertools.accumulate(steps), itertools.count(1)), default=0)
    return deepest > limit


class _Response(requests.Response):
    """The responses the transport returns: ``json()`` reads a body nested deeper than the parser
    takes as the ``ValueError`` every unreadable body is, never ``RecursionError``; and it parses
    the body once (a provider that decodes the body into its models and keeps the JSON as ``raw``
    asks twice, on every poll)."""

    def json(self, **kwargs: Any) -> Any:
        if not kwargs and "_json" in self.__dict__:
            return self.__dict__["_json"]
        if too_deep(self.content):
            # refused before parsing: a parser deep in recursion lets the garbage collector run
            # finalizers at the edge of the stack, where they fail unseen (an unraisable error)
            raise requests.exceptions.JSONDecodeError(
                f"JSON nested deeper than asyncjobs reads ({MAX_JSON_DEPTH} levels)", "", 0
            )
        try:
            value = super().json(**kwargs)
        except RecursionError as exc:
            raise requests.exceptions.JSONDecodeError(
                "JSON nested deeper than asyncjobs reads", "", 0
            ) from exc
        if not kwargs:
            self.__dict__["_json"] = value
        return value

    def keep(self, body: bytes) -> None:
        """Hold ``body``, read whole, as the response's content (as ``requests`` does when it
        reads a body itself)."""
        self._content = body
        self._content_consumed = True

    def close(self) -> None:
        """Close the response; a streamed body left unread but small (a poll's empty 202, a short
        JSON answer) is read first, so that its connection goes back to the pool instead of being
        discarded -- a large one (a result file) is not read: its connection is closed."""
        raw = self.raw
        if not self._content_consumed and isinstance(raw, _GuardedRaw):
            rest = raw.read_if_small()
            if rest is not None:
                self._content = rest
                self._content_consumed = True
        super().close()


class _GuardedRaw:
    """The raw body of a response, read as it arrives (``read1``: a slow server cannot make one read
    wait for many bytes) and checked before each read against the deadline of the waiting call.

    ``read`` is what ``requests`` uses for ``.content``, ``.json()`` and ``iter_content``: it counts
    what it returns against the transport's ``max_body``. ``read1`` is for streamed downloads (see
    :meth:`Transport.stream`), which are bounded by their declared size instead. Errors of the
    connection come out as ``requests`` exceptions, as from ``requests`` itself."""

    def __init__(self, raw: Any, transport: Transport, call: _Call, end: float | None) -> None:
        self._raw = raw
        self._transport = transport
        self._call = call
        self._end = end
        self._counted = 0

    def __getattr__(self, name: str) -> Any:
        if name == "stream":  # makes requests read through read() below
            raise AttributeError(name)
        return getattr(self._raw, name)

    def read1(self, amt: int = _READ, decode_content: bool = True) -> bytes:
        """Up to ``amt`` bytes of what has arrived (at least one, unless the body ended)."""
        if self._end is not None and time.monotonic() >= self._end:
            self._raw.close()
            raise errors.JobTimeoutError(
                f"{errors.describe(self._transport.provider, self._call.job_id)}: the time given to "
                f"wait ran out while the answer to {self._call.method} {_path(self._call.url)} was "
                "still arriving. The job goes on at the provider.",
                provider=self._transport.provider,
                job_id=self._call.job_id,
            )
        try:
            if hasattr(self._raw, "read1"):
                data: bytes = self._raw.read1(amt, decode_content=True)
            else:  # not urllib3's (a test double): plain reads
                data = self._raw.read(amt)
        except (_Urllib3Error, OSError) as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        return data

    def ended(self) -> bool:
        """True when the declared length has been read and nothing is left to decode: another
        read could only find the end (a read that costs as much as a small answer's whole)."""
        raw = self._raw
        if getattr(raw, "length_remaining", None) != 0:
            return False
        encoding = raw.headers.get("Content-Encoding")
        return encoding is None or encoding.strip().lower() in ("", "identity")

    def read_if_small(self) -> bytes | None:
        """The rest of a body declared no longer than :data:`_KEEP` bytes, read now (so the
        connection can be reused); ``None`` for a longer, unknown-length or broken one, or when the
        deadline has passed (the caller then closes the connection)."""
        remaining = getattr(self._raw, "length_remaining", None)
        if not isinstance(remaining, int) or remaining > _KEEP:
            return None
        if self._end is not None and time.monotonic() >= self._end:
            return None
        try:
            data: bytes = self._raw.read(decode_content=True)  # the declared rest, then the end
            self._raw.release_conn()
        except Exception:
            return None
        return data

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        """Up to ``amt`` bytes, counted against ``max_body``."""
        data = self.read1(amt or _READ)
        self._counted += len(data)
        limit = self._transport.max_body
        if self._counted > limit:
            self._raw.close()
            t, call = self._transport, self._call
            raise errors.TransportError(
                f"{errors.describe(t.provider, call.job_id)}: the answer to {call.method} "
                f"{_path(call.url)} is larger than {limit:,} bytes (decompressed), so it was not "
                "read. Check the base_url setting; connect(max_body=...) raises the limit for "
                "services whose answers really are that large.",
                provider=t.provider,
                job_id=call.job_id,
            )
        return data


def _drain(response: requests.Response) -> None:
    """Read what little a redirect's body holds, so that its connection can be reused; close it."""
    with contextlib.suppress(Exception):
        response.raw.read(_READ)
    response.close()


#: The operating system's words in a failed connection's message (``[Errno 111] Connection
#: refused``, ``[Errno -2] Name or service not known``).
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')(\]]+)")


def _reason(exc: requests.RequestException) -> str:
    """Why a request failed, in a few words: the operating system's (``Connection refused``), not
    the reprs of urllib3's pool and connection it is wrapped in; else the exception's own text,
    cut short."""
    text = str(exc)
    said = _ERRNO.findall(text)
    if said:
        return f"{said[-1].strip()} ({type(exc).__name__})"
    return f"{text[:300]} ({type(exc).__name__})" if text else type(exc).__name__


def _refused(exc: requests.RequestException) -> bool:
    """True when the connection was refused: nothing listens at the address."""
    seen: BaseException | None = exc
    for _ in range(8):  # down the chain: requests -> urllib3's MaxRetryError -> its reason
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return True
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__ or seen.__context__)
    return "[Errno 111]" in str(exc) or "Connection refused" in str(exc)


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

    def __init__(
        self, response: requests.Response, transport: Transport, size: int | None = None
    ) -> None:
        self._response = response
        self._transport = transport
        self._chunks = self._read_chunks()
        self._buffer = b""
        self._seen = 0
        length = response.headers.get("Content-Length")
        declared = int(length) if length and length.isdigit() else None
        if declared is None or (size is not None and size >= 0 and size != declared):
            declared = size if size is not None and size >= 0 else declared
        self._expected = declared
        self._done = False

    def _read_chunks(self) -> Iterator[bytes]:
        raw = self._response.raw
        if not isinstance(raw, _GuardedRaw):  # a response the transport did not make
            yield from self._response.iter_content(CHUNK)
            return
        while chunk := raw.read1(CHUNK):  # streamed: bound by the declared size, not max_body
            yield chunk

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
        if self._expected is not None and self._seen > self._expected:
            self._done = True
            self._response.close()
            t = self._transport
            raise errors.TransportError(
                t.redactor(
                    f"{t.provider}: the download of {_path(self._response.url)} went past the "
                    f"{self._expected} bytes declared for it, so it was stopped and nothing was "
                    "kept. Fetch the result again; if it persists, report it to the provider."
                ),
                provider=t.provider,
            )
        return chunk

    def _truncated(self, exc: Exception | None) -> errors.TransportError:
        t = self._transport
        return errors.TransportError(
            t.redactor(
                f"{t.provider}: the download of {_path(self._response.url)} broke off after "
                f"{self._seen} of {self._expected if self._expected is not None else 'unknown'} "
                "bytes" + (f" ({type(exc).__name__})" if exc else "") + ". Fetch the result again."
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
        if len(self._buffer) >= size:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
            return out
        # the chunks that make up ``size`` are joined once (adding each to the buffer in turn
        # copied a 1 MiB read about eight times over, for the socket's 64-256 KiB reads)
        parts, have = [self._buffer], len(self._buffer)
        while have < size and not self._done:
            chunk = self._next()
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        if have <= size:
            self._buffer = b""
            return data
        self._buffer = data[size:]
        return data[:size]

    def read1(self, size: int = -1) -> bytes:
        """What has arrived, up to ``size`` bytes (any amount when negative), without waiting for
        more: at least one byte unless the body has ended. A download copies it as it comes."""
        if not self._buffer:
            if self._done:
                return b""
            self._buffer = self._next()
        if size is None or size < 0 or len(self._buffer) <= size:
            out, self._buffer = self._buffer, b""
            return out
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


#: Longest margin before a token's lifetime runs out at which it is refreshed, in seconds.
MAX_REFRESH_MARGIN = 60.0


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token is refreshed: 10 % of its lifetime, at most a minute."""
    return min(MAX_REFRESH_MARGIN, 0.1 * max(lifetime, 0.0))


class TokenAuth:
    """Access tokens for a provider whose credentials are exchanged for short-lived tokens (OAuth
    client credentials and the like): fetched on first need, cached, refreshed before they expire,
    by one thread at a time for all threads of a client; after a 401 the provider base drops the
    refused token and replays the request once with a fresh one (rewinding its body).

    Return one from :meth:`asyncjobs.provider.Provider.auth` (build it once, in ``__init__``): the
    base class does the rest for :meth:`~asyncjobs.provider.Provider.request` and
    :meth:`~asyncjobs.provider.Provider.open_file`.

    Args:
        fetch: requests a new token; returns it with its lifetime in seconds (``None`` if the
            service does not say). Called under the cache's lock.
        header: the header a token is sent in (``Authorization``).
        scheme: the word before the token (``Bearer``; empty for none).
        on_token: called with every new token (the provider base adds it to the redactor).
        clock: monotonic seconds (tests pass a fake).
        default_lifetime: assumed when the service gives none, or one that is not a positive finite
            number (``NaN``, ``Infinity``, ``0``, ``-1``); lifetimes are capped at a day.
    """

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float | None]],
        *,
        header: str = "Authorization",
        scheme: str = "Bearer",
        on_token: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        default_lifetime: float = 3600.0,
    ) -> None:
        self._fetch = fetch
        self.header = header
        self.scheme = scheme
        self.on_token = on_token
        self._clock = clock
        self._default = default_lifetime
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetches = 0  # tokens requested so far (for tests and diagnostics)

    def __repr__(self) -> str:
        state = "empty" if self._token is None else "cached"
        return f"<TokenAuth {state} fetches={self.fetches}>"

    def _fresh(self) -> str | None:
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        return None

    def get(self) -> str:
        """A fresh token, fetching one if needed (one fetch at a time for all threads)."""
        token = self._fresh()
        if token is not None:
            return token
        with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            asked_at = self._clock()
            token, lifetime = self._fetch()
            self.fetches += 1
            if self.on_token is not None:
                self.on_token(token)
            life = (
                float(lifetime)
                if isinstance(lifetime, (int, float))
                and not isinstance(lifetime, bool)
                and math.isfinite(lifetime)
                and lifetime > 0
                else self._default  # absent, zero, negative, NaN or infinite: not a lifetime
            )
            life = min(life, 86400.0)
            self._token = token
            self._refresh_at = asked_at + life - refresh_margin(life)
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (refused by the service), unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def signer(self, token: str) -> HeaderAuth:
        """The ``requests`` auth that sends ``token``."""
        return HeaderAuth(self.header, f"{self.scheme} {token}" if self.scheme else token)
