"""Hostile servers of the reliability suite, all on 127.0.0.1: a recording server that answers what
a test tells it (redirect targets, echoing, dripping, endless and bomb bodies), and WSGI middleware
that makes a sandbox drip or rewrite one answer.

Every loop here is bounded in count and time, and every server stops at the end of its test.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
from reliability_kits import whole_answer


@attrs.frozen
class Seen:
    """One request a hostile server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        """Everything the request carried, as text, to look for a secret in."""
        heads = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{heads}\n\n{self.body.decode('latin-1')}"


#: What a test makes the server answer: (status, headers, body chunks).
Answer = tuple[int, dict[str, str], Iterable[bytes]]


def _default(seen: Seen) -> Answer:
    return 200, {"Content-Type": "application/json"}, [b"{}"]


class Hostile:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records every request and answers with
    ``answer(seen)``. Chunks are written (and flushed) one by one, so a generator that sleeps
    between chunks drips; without a ``Content-Length`` header the body is sent chunked."""

    def __init__(self, answer: Callable[[Seen], Answer] = _default) -> None:
        self.answer = answer
        self.requests: list[Seen] = []
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 64 * 1024 * 1024)) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                hostile.requests.append(seen)
                status, headers, chunks = hostile.answer(seen)
                self.send_response(status)
                chunked = "Content-Length" not in headers
                for k, v in headers.items():
                    self.send_header(k, v)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in chunks:
                        if not chunk:
                            continue
                        if chunked:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        else:
                            self.wfile.write(chunk)
                        self.wfile.flush()
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def texts(self) -> list[str]:
        """Every request received, as text."""
        return [s.text() for s in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def drip(body: bytes, every: float, *, limit: float = 60.0) -> Iterator[bytes]:
    """``body`` one byte at a time, ``every`` seconds apart (stopping after ``limit`` seconds)."""
    end = time.monotonic() + limit
    for i in range(len(body)):
        if time.monotonic() > end:
            return
        yield body[i : i + 1]
        time.sleep(every)


def endless(chunk: bytes = b"x" * 65536, *, most: int = 64 * 1024 * 1024) -> Iterator[bytes]:
    """Chunks without end, up to ``most`` bytes (a hostile download; the bound keeps tests cheap)."""
    sent = 0
    while sent < most:
        yield chunk
        sent += len(chunk)


def gzip_bomb(size: int) -> bytes:
    """A gzip body that expands to ``size`` bytes of a JSON string (about 1,000 times smaller)."""
    inner = b'{"status": "' + b" " * (size - 15) + b'"}'
    return gzip.compress(inner, compresslevel=9)


def nested_json(depth: int = 200_000) -> bytes:
    """``[`` ``depth`` times: valid JSON's start, deeper than any parser's recursion limit."""
    return b"[" * depth + b"]" * depth


class Middleware:
    """WSGI middleware over a sandbox app: the next answers whose path contains ``path`` are
    dripped (``drip_every`` seconds a byte) or rewritten (``rewrite(body) -> body``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[tuple[str, str, Any]] = []
        #: (path, request headers as text) of every request that passed
        self.seen: list[tuple[str, str]] = []

    def drip(self, path: str, every: float) -> None:
        self.rules.append(("drip", path, every))

    def rewrite(self, path: str, fn: Callable[[bytes], bytes]) -> None:
        self.rules.append(("rewrite", path, fn))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        heads = "\n".join(f"{k}: {v}" for k, v in environ.items() if k.startswith("HTTP_"))
        self.seen.append((path, heads))
        rule = next((r for r in self.rules if r[1] in path), None)
        if rule is None:
            return self.app(environ, start_response)
        status, headers, body = whole_answer(self.app, environ)
        kind, _, arg = rule
        if kind == "rewrite":
            body = arg(body)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        if kind == "rewrite":
            return [body]
        return drip(body, arg, limit=30.0)
