"""The shared sandbox machinery: a job clock with a time scale, fault switches, a WSGI base class and a
threaded HTTP/1.1 keep-alive server on 127.0.0.1.

Each provider package ships a :class:`SandboxApp` subclass that emulates its service. This module needs
``werkzeug`` (the ``sandbox`` extra of ``asyncjobs-core``); it is imported only when a sandbox is used.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import heapq
import itertools
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from pathlib import Path

    from ._client import Client
    from ._job import Job
    from .provider import Provider

__all__ = [
    "Faults",
    "JobClock",
    "ProviderSandbox",
    "Sandbox",
    "SandboxApp",
    "WebhookCalls",
    "json_response",
    "serve",
    "serve_providers",
]

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]


class JobClock:
    """Sandbox time: runs ``scale`` times faster than the wall clock, and can be moved forward.

    ``JobClock(scale=60)`` makes a job that takes one minute of service time finish in one second.
    The scale shortens durations; it does not move the clock. Sandbox times are for measuring
    durations (``now() - created >= duration``); a time the sandbox shows its clients goes through
    :meth:`wall` (or :meth:`stamp`), so that a job submitted now says it was submitted now, at any scale.
    """

    def __init__(self, scale: float = 1.0, *, start: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._origin_wall = time.monotonic()
        self._origin = time.time() if start is None else start
        self._offset = 0.0
        self._frozen: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        """Sandbox seconds since the epoch."""
        frozen = self._frozen
        if frozen is not None:
            return frozen
        return self._running()

    def _running(self) -> float:
        elapsed = (time.monotonic() - self._origin_wall) * self.scale
        return self._origin + elapsed + self._offset

    def freeze(self) -> None:
        """Stop sandbox time: no job moves on (none finishes, none expires) until :meth:`resume`.
        :meth:`advance` still moves a frozen clock."""
        with self._lock:
            if self._frozen is None:
                self._frozen = self._running()

    def resume(self) -> None:
        """Let sandbox time run again from where :meth:`freeze` stopped it."""
        with self._lock:
            if self._frozen is not None:
                self._offset -= self._running() - self._frozen
                self._frozen = None

    @property
    def frozen(self) -> bool:
        """Whether :meth:`freeze` stopped the clock."""
        return self._frozen is not None

    def utcnow(self) -> datetime:
        """The wall-clock time of the sandbox's present (moved by ``advance``, not by the scale)."""
        return self.stamp(self.now())

    def wall(self, sandbox_time: float) -> float:
        """The wall-clock epoch seconds of the sandbox moment ``sandbox_time`` (a value of ``now()``):
        the scale shrinks the time since the clock started, ``advance`` moves it forward as it is."""
        return (
            self._origin + self._offset + (sandbox_time - self._origin - self._offset) / self.scale
        )

    def stamp(self, sandbox_time: float) -> datetime:
        """``wall(sandbox_time)`` as an aware UTC datetime, for the timestamps of a sandbox's bodies."""
        return datetime.fromtimestamp(self.wall(sandbox_time), timezone.utc)

    def advance(self, seconds: float) -> None:
        """Jump forward ``seconds`` of sandbox time (e.g. past a job's expiry)."""
        with self._lock:
            self._offset += seconds
            if self._frozen is not None:
                self._frozen += seconds

    def real(self, sandbox_seconds: float) -> float:
        """Wall seconds that ``sandbox_seconds`` of sandbox time take."""
        return sandbox_seconds / self.scale

    def sleep(self, sandbox_seconds: float) -> None:
        """Sleep for ``sandbox_seconds`` of sandbox time."""
        time.sleep(self.real(sandbox_seconds))


@attrs.define
class _Rule:
    action: str  # "status" | "delay" | "drop" | "malformed" | "truncate"
    times: int
    path: str | None
    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)
    seconds: float = 0.0

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in path


class Faults:
    """Fault switches for a sandbox: each applies to the next ``times`` requests whose path contains
    ``path`` (every request when ``path`` is None), then switches itself off.

    >>> faults = Faults()
    >>> faults.status(503, times=2, headers={"Retry-After": "1"})
    >>> faults.drop(path="/job/")
    """

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.seen = 0  # requests that passed through, faults included

    def status(
        self,
        status: int,
        *,
        times: int = 1,
        path: str | None = None,
        body: bytes | str | dict[str, Any] = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``status`` with ``body`` instead of handling the request."""
        if isinstance(body, dict):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        raw = body.encode() if isinstance(body, str) else body
        self._add(
            _Rule("status", times, path, status=status, body=raw, headers=dict(headers or {}))
        )

    def delay(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Hold the request ``seconds`` (wall time) before handling it."""
        self._add(_Rule("delay", times, path, seconds=seconds))

    def drop(self, *, times: int = 1, path: str | None = None) -> None:
        """Close the connection without answering."""
        self._add(_Rule("drop", times, path))

    def malformed(self, *, times: int = 1, path: str | None = None) -> None:
        """Answer 200 with a JSON body cut in half."""
        self._add(_Rule("malformed", times, path))

    def truncate(self, *, times: int = 1, path: str | None = None) -> None:
        """Handle the request, but send only half of the body it answers, then drop the connection."""
        self._add(_Rule("truncate", times, path))

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._rules.clear()

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, path: str) -> _Rule | None:
        """The first rule matching ``path``, consumed once (for the sandbox itself)."""
        with self._lock:
            self.seen += 1
            for rule in self._rules:
                if rule.matches(path):
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return rule
        return None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response, as every emulated service sends them."""
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


class _Dropped(ConnectionResetError):
    """Raised inside the server to end a connection without an answer (the server stays quiet)."""


def _drop(environ: WSGIEnviron) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise _Dropped("connection dropped by a sandbox fault")


@attrs.frozen
class _Call:
    method: str
    url: str
    body: bytes | None
    headers: tuple[tuple[str, str], ...]
    sign: Callable[[], Mapping[str, str]] | None = None
    retries: tuple[float, ...] = ()  # wall seconds after the first attempt
    first: float | None = None  # when the first attempt left (monotonic)


class WebhookCalls:
    """The webhook calls a sandbox makes, as its service does: each once, at its time, from the
    sandbox's own threads (one scheduler and a few senders), never from a request's thread.

    Switches: :meth:`drop` the next calls (they are never made: a lost webhook), or :meth:`delay`
    them. :attr:`made` records every call made, dropped or failed: ``(method, url, outcome)``,
    where the outcome is the HTTP status, ``"dropped"`` or ``"error: ..."`` (each attempt of a
    call that is retried); :attr:`sent_at` the monotonic time each call last left, by URL.
    """

    def __init__(self, senders: int = 4) -> None:
        self.made: list[tuple[str, str, str]] = []
        self.sent_at: dict[str, float] = {}
        self._senders = senders
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Call]] = []
        self._counter = itertools.count()
        self._drops = 0
        self._delays: list[float] = []
        self._thread: threading.Thread | None = None
        self._pool: cf.ThreadPoolExecutor | None = None
        self._closed = False

    def drop(self, times: int = 1) -> None:
        """Make none of the next ``times`` calls (each is recorded as ``"dropped"``)."""
        with self._cond:
            self._drops += times

    def delay(self, seconds: float, times: int = 1) -> None:
        """Hold each of the next ``times`` calls ``seconds`` (wall time) more."""
        with self._cond:
            self._delays.extend([seconds] * times)

    def schedule(
        self,
        after: float,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        sign: Callable[[], Mapping[str, str]] | None = None,
        retries: Sequence[float] = (),
    ) -> None:
        """Call ``url`` in ``after`` wall seconds (the switches apply when it is scheduled).

        ``sign`` gives more headers for each attempt as it leaves (a signature made when the
        request is sent); ``retries`` are the wall seconds after the first attempt at which a
        failed call (no answer, or not 2xx) is made again, as long as it fails.
        """
        call = _Call(method, url, body, tuple((headers or {}).items()), sign, tuple(retries))
        with self._cond:
            if self._closed:
                return
            if self._drops > 0:
                self._drops -= 1
                self.made.append((method, url, "dropped"))
                return
            if self._delays:
                after += self._delays.pop(0)
            heapq.heappush(self._heap, (time.monotonic() + after, next(self._counter), call))
            if self._thread is None:
                self._pool = cf.ThreadPoolExecutor(
                    self._senders, thread_name_prefix="sandbox-webhook"
                )
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-webhooks", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        """Calls scheduled and not made yet."""
        with self._cond:
            return len(self._heap)

    def close(self) -> None:
        """Cancel the calls not made yet."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, call = heapq.heappop(self._heap)
                pool = self._pool
            assert pool is not None
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                pool.submit(self._send, call)

    def _send(self, call: _Call) -> None:
        headers = {**dict(call.headers), **(call.sign() if call.sign else {})}
        req = urllib.request.Request(call.url, data=call.body, method=call.method, headers=headers)
        now = time.monotonic()
        first = now if call.first is None else call.first
        with self._cond:
            self.sent_at[call.url] = now
        ok = False
        try:
            with urllib.request.urlopen(req, timeout=5) as answer:
                outcome = str(answer.status)
                ok = 200 <= answer.status < 300
        except urllib.error.HTTPError as exc:
            outcome = str(exc.code)
        except OSError as exc:
            outcome = f"error: {exc}"
        with self._cond:
            self.made.append((call.method, call.url, outcome))
            if not ok and call.retries and not self._closed:
                again = attrs.evolve(call, retries=call.retries[1:], first=first)
                heapq.heappush(self._heap, (first + call.retries[0], next(self._counter), again))
                self._cond.notify()


class SandboxApp:
    """Base class of a provider's emulator: a WSGI app with a :class:`JobClock`, :class:`Faults`, and
    routing through a werkzeug ``Map`` whose endpoints are method names of the subclass.

    Subclasses set ``url_map`` and implement one method per endpoint taking ``(request, **values)`` and
    returning a werkzeug ``Response``; they implement :meth:`client_settings`.
    """

    url_map: Map = Map()
    #: the provider whose protocol this sandbox speaks
    provider: str = ""
    #: whether :meth:`fail_next` works: the subclass asks :meth:`take_failure` where it makes a job
    fails_on_demand: bool = False

    def __init__(self, *, scale: float = 1.0, clock: JobClock | None = None) -> None:
        self.clock = clock or JobClock(scale)
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        #: the webhook calls this sandbox makes (switches: ``webhooks.drop()``, ``.delay()``)
        self.webhooks = WebhookCalls()
        self._lock = threading.RLock()
        self._fails_wanted = 0
        self._fails_wanted_lock = threading.Lock()

    def fail_next(self, times: int = 1) -> None:
        """Make the next ``times`` jobs this sandbox is given fail, as its service tells of a
        failed job (its own status, code and message), at the time they would have finished.

        Raises:
            NotImplementedError: this sandbox does not say :attr:`fails_on_demand`.
        """
        if not self.fails_on_demand:
            raise NotImplementedError(
                f"the {self.provider or type(self).__name__} sandbox cannot make a job fail on "
                "demand (fails_on_demand is False): use the input its docstring says fails"
            )
        with self._fails_wanted_lock:
            self._fails_wanted += times

    def take_failure(self) -> bool:
        """For subclasses, where a job is made: whether it is to fail (one of :meth:`fail_next`)."""
        with self._fails_wanted_lock:
            if self._fails_wanted <= 0:
                return False
            self._fails_wanted -= 1
            return True

    def rate_limit_next(
        self, times: int = 1, *, retry_after: int | None = 1, path: str | None = None
    ) -> None:
        """Answer the next ``times`` requests (whose path contains ``path``, if given) 429 Too
        Many Requests with ``Retry-After: retry_after`` (whole seconds; ``None`` sends none) and
        the body of :meth:`rate_limited_body`."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = self.rate_limited_body()
        self.faults.status(429, times=times, path=path, body=body, headers=headers)

    def rate_limited_body(self) -> dict[str, Any]:
        """The JSON body of this service's 429 answer (override with the service's own shape)."""
        return {"message": "Too many requests"}

    def close(self) -> None:
        """Cancel the webhook calls not made yet."""
        self.webhooks.close()

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The settings that connect a client to this sandbox served at ``base_url``."""
        raise NotImplementedError

    def demo_job(self, client: Client, sample: Path) -> Job | None:
        """Submit this provider's case of ``asyncjobs demo`` through ``client`` (connected to this
        sandbox): its typical job, on ``sample`` (a small .docx) if it converts documents.
        ``None`` (the default) leaves the provider out of the demo."""
        return None

    def dispatch(self, request: Request) -> Response:
        """Route ``request`` to the endpoint method."""
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            handler: Callable[..., Response] = getattr(self, str(endpoint))
            return handler(request, **values)
        except HTTPException as exc:
            return self.http_error(exc)

    def http_error(self, exc: HTTPException) -> Response:
        """The answer for a route that does not exist or a wrong method (override per service)."""
        return json_response({"message": exc.description}, exc.code or 500)

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            self.requests.append((request.method, request.path))
        rule = self.faults.take(request.path)
        if rule is not None:
            if rule.action == "delay":
                time.sleep(rule.seconds)
            elif rule.action == "drop":
                _drop(environ)
            elif rule.action == "status":
                return Response(rule.body, rule.status, rule.headers)(environ, start_response)
            elif rule.action == "malformed":
                body = b'{"status": "pend'
                return Response(body, 200, mimetype="application/json")(environ, start_response)
        response = self.dispatch(request)
        if rule is not None and rule.action == "truncate":
            return self._truncated(response, environ, start_response)
        return response(environ, start_response)

    def _truncated(
        self, response: Response, environ: WSGIEnviron, start_response: StartResponse
    ) -> Iterator[bytes]:
        body = b"".join(response.iter_encoded())  # works for streamed responses too
        response.headers["Content-Length"] = str(len(body))
        start_response(response.status, list(response.headers.items()))
        yield body[: len(body) // 2]
        _drop(environ)


class _Body:
    """The request body as the app sees it (``wsgi.input``), counting what the app read, so that
    the rest can be drained before the next request on a kept-alive connection."""

    def __init__(self, stream: Any, length: int | None) -> None:
        self._stream = stream
        self._left = length  # None: chunked (DechunkedInput ends by itself)
        self.exhausted = length == 0

    def _take(self, reader: Any, size: int | None) -> bytes:
        """``reader(size)``, never past the declared length; notes when the body is used up."""
        if self._left is not None:
            size = self._left if size is None or size < 0 else min(size, self._left)
            if size <= 0:
                self.exhausted = True
                return b""
        data: bytes = reader(size)
        if self._left is not None:
            self._left -= len(data)
        if not data or (self._left is not None and self._left <= 0):
            self.exhausted = True
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def drain(self) -> None:
        """Read and drop what the app left of the body (a refused upload, a fault's answer)."""
        while not self.exhausted:
            if not self.read(_DRAIN):
                break


#: Bytes read at a time when draining a request body the app did not read.
_DRAIN = 1024 * 1024


class _KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler, serving HTTP/1.1 keep-alive as production servers do.

    werkzeug's own ``run_wsgi`` answers every request ``Connection: close`` (and then waits 10 ms
    for stray bytes), which hides whether a client reuses its connections. This one keeps the
    connection open: it drains whatever of the request body the app left unread, frames bodies
    without a length as chunked (HTTP/1.1 clients only), and closes only when the client asks,
    the app fails mid-answer, or a fault drops the connection (``environ["werkzeug.socket"]``).
    """

    protocol_version = "HTTP/1.1"
    #: an idle kept-alive connection is closed after this many seconds
    timeout = 60

    def setup(self) -> None:
        super().setup()
        # the head and the body of an answer are separate writes: without this, Nagle's algorithm
        # holds the second until the client's delayed ACK (40 ms) on a kept-alive connection
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        register = getattr(self.server, "asyncjobs_opened", None)
        if register is not None:
            register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            forget = getattr(self.server, "asyncjobs_closed", None)
            if forget is not None:
                forget(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        chunked_in = "wsgi.input_terminated" in environ
        length_text = environ.get("CONTENT_LENGTH", "")
        if chunked_in:
            length: int | None = None
        elif length_text.isdigit():
            length = int(length_text)
        else:
            length = 0
        body = _Body(environ["wsgi.input"], length)
        environ["wsgi.input"] = body
        state: dict[str, Any] = {"status": None, "headers": None, "sent": False, "chunked": False}
        http11 = self.request_version >= "HTTP/1.1"

        def write(data: bytes) -> None:
            if not state["sent"]:
                state["sent"] = True
                code_str, _, msg = str(state["status"]).partition(" ")
                code = int(code_str)
                self.send_response(code, msg)
                keys = set()
                for key, value in state["headers"]:
                    self.send_header(key, value)
                    keys.add(key.lower())
                bodiless = (
                    environ["REQUEST_METHOD"] == "HEAD" or 100 <= code < 200 or code in (204, 304)
                )
                if "content-length" not in keys and not bodiless:
                    if http11:
                        state["chunked"] = True
                        self.send_header("Transfer-Encoding", "chunked")
                    else:  # an HTTP/1.0 client: the end of the connection ends the body
                        self.close_connection = True
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
            if data:
                if state["chunked"]:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
            self.wfile.flush()

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            if exc_info:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["headers"] is not None:
                raise AssertionError("Headers already set")
            state["status"], state["headers"] = status, headers
            return write

        def execute(app: Any) -> None:
            answer = app(environ, start_response)
            try:
                for data in answer:
                    write(data)
                if not state["sent"]:
                    write(b"")
                if state["chunked"]:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
            finally:
                if hasattr(answer, "close"):
                    answer.close()

        try:
            execute(self.server.app)
            if not self.close_connection:
                body.drain()  # the next request starts where this body ends
        except (TimeoutError, ConnectionError) as exc:
            self.close_connection = True
            self.connection_dropped(exc, environ)
        except Exception:
            self.close_connection = True
            if not state["sent"]:
                from werkzeug.exceptions import InternalServerError

                state["status"] = state["headers"] = None
                with contextlib.suppress(Exception):
                    execute(InternalServerError())


class _Unbound(Exception):
    """The server's socket could not be bound (carries the OSError past werkzeug's handler)."""


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, counting the connections it accepts (see
    :attr:`Sandbox.connections`) and closing the kept-alive ones when it stops."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asyncjobs_accepted = 0
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def server_bind(self) -> None:
        # werkzeug answers a failed bind by printing to stderr and exiting the process: a port
        # taken is an error of the caller's to handle, raised as the OSError it is (Sandbox)
        try:
            super().server_bind()
        except OSError as exc:
            self.server_close()
            raise _Unbound(exc) from exc

    def asyncjobs_opened(self, conn: socket.socket) -> None:
        with self._open_lock:
            self.asyncjobs_accepted += 1
            self._open.add(conn)

    def asyncjobs_closed(self, conn: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(conn)

    def close_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Sandbox:
    """A WSGI app served on 127.0.0.1 (port 0: the system picks) in a background thread, over
    HTTP/1.1 with keep-alive connections, as production servers answer.

    Each connection gets its own thread, so many clients can talk at once; the listen backlog is 128.
    :attr:`connections` counts the connections accepted (a client that reuses its connections
    opens one per thread).

    >>> with Sandbox(app) as box:          # doctest: +SKIP
    ...     requests.get(box.url + "/ping")
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        try:
            self._server: _Server = _Server(host, port, app, handler=_KeepAliveHandler)
        except _Unbound as exc:  # the port is taken, or not ours to take
            raise exc.__cause__ or OSError(str(exc)) from None
        self._thread: threading.Thread | None = None

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._server.asyncjobs_accepted

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:50123``."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Sandbox:
        """Start serving in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                name=f"sandbox-{self.url}",
                daemon=True,
                kwargs={"poll_interval": 0.05},
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
        self._server.close_connections()  # kept-alive connections end with the server

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: Any) -> Sandbox:
    """Start serving ``app`` on 127.0.0.1 at a free port; stop it with ``.stop()``."""
    return Sandbox(app).start()


class ProviderSandbox:
    """A provider's sandbox being served, with the settings that connect a client to it.

    Attributes:
        name: the provider's name.
        provider: the provider class.
        box: the running :class:`Sandbox`.
        settings: keyword settings for :func:`asyncjobs.connect`.
    """

    def __init__(
        self, name: str, provider: type[Provider], box: Sandbox, settings: dict[str, str]
    ) -> None:
        self.name = name
        self.provider = provider
        self.box = box
        self.settings = settings

    def env(self) -> dict[str, str]:
        """The same settings as environment variables (for another process)."""
        by_name = {s.name: s for s in self.provider.settings}
        return {
            env: value
            for key, value in self.settings.items()
            if key in by_name and (env := by_name[key].env)
        }

    def stop(self) -> None:
        """Stop serving."""
        self.box.stop()


def serve_providers(
    names: Sequence[str], *, scale: float = 1.0, strict: bool = True, port: int = 0
) -> list[ProviderSandbox]:
    """Start the sandbox of each named provider on 127.0.0.1 (each at a free port, or from
    ``port`` on).

    Args:
        names: provider names (see :func:`asyncjobs.available_providers`).
        scale: sandbox seconds per wall second (a larger scale finishes jobs sooner).
        strict: raise for a provider that ships no sandbox (otherwise skip it).
        port: ``0``, each sandbox at a port the system picks; else the first sandbox started
            listens on ``port``, the next on ``port + 1``, and so on, so that their addresses
            stay the same from one start to the next.

    Raises:
        InvalidParameterError: a non-positive scale, or (strict) a provider without a sandbox.
        ConfigurationError: a sandbox failed to import. Sandboxes already started are stopped.
    """
    from ._registry import get_provider_class, import_object
    from .errors import ConfigurationError, InvalidParameterError

    if scale <= 0:
        raise InvalidParameterError(f"scale must be positive, not {scale:g}", parameter="scale")
    running: list[ProviderSandbox] = []
    try:
        for name in names:
            cls = get_provider_class(name)
            if not cls.sandbox:
                if strict:
                    raise InvalidParameterError(f"{name} ships no sandbox", provider=name)
                continue
            try:
                app_cls: Any = import_object(cls.sandbox)
            except (ImportError, AttributeError) as exc:
                raise ConfigurationError(
                    f"the sandbox of {name} ({cls.sandbox}) failed to import: {exc}", provider=name
                ) from exc
            at = port + len(running) if port else 0
            box = Sandbox(app_cls(scale=scale), port=at).start()
            running.append(ProviderSandbox(name, cls, box, dict(box.app.client_settings(box.url))))
    except BaseException:
        for r in running:
            r.stop()
        raise
    return running
