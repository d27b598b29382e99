"""Helpers of the webhook tests: a WSGI app served on loopback by waitress or uvicorn, and policies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncjobs
from asyncjobs.sandbox import Sandbox

#: A poll policy under which polling alone would notice a job's end after 30 s at the earliest:
#: a wait that ends sooner was woken by the webhook.
SLOW_POLL = asyncjobs.PollPolicy(initial=30.0, factor=1.5, cap=60.0, min_interval=30.0)
#: A quick poll policy: waits that must end by polling (a lost call) end in about a second.
QUICK_POLL = asyncjobs.PollPolicy(initial=0.2, factor=1.5, cap=0.5, min_interval=0.05)
#: The key of the test receivers (never a real secret; the canary test looks for it).
KEY = "webhook-test-key-1f0c3a9d8e7b6a5c"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A WSGI app on 127.0.0.1 served by waitress in a thread; ``app`` may be set after start
    (the receiver's public URL needs the port)."""

    def __init__(self, threads: int = 4) -> None:
        from waitress.server import create_server

        self.app: Callable[..., Any] | None = None
        self._server: Any = create_server(
            self._call,
            host="127.0.0.1",
            port=0,
            threads=threads,
            ident="test",
            asyncore_loop_timeout=0.1,
        )
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="test-waitress", daemon=True)
        self._thread.start()

    def _call(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)

    def stop(self) -> None:
        # waitress's loop runs while its socket map is not empty: empty it, let the loop end,
        # then close (closing under a running select() would fail in the server's thread)
        self._server._map.clear()
        self._thread.join(5)
        self._server.close()


class ServedASGI:
    """An ASGI app (Starlette) on 127.0.0.1 served by uvicorn in a thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="test-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def polls(app: Any, job_id: str) -> int:
    """How many polls of ``job_id`` a sandbox has answered (ConvertAPI's or Conversio's)."""
    return sum(1 for method, path in app.requests if method == "GET" and path.endswith(job_id))


def connect_hooked(
    provider: str, receiver: Any, settings: dict[str, str], ledger: Path
) -> asyncjobs.Client:
    """A client of ``provider`` connected to ``receiver``, polling slowly (a quick end is the
    webhook's doing), with ``ledger``."""
    return asyncjobs.connect(provider, webhooks=receiver, poll=SLOW_POLL, ledger=ledger, **settings)


def wsgi_call(app: Any, url: str, body: bytes = b"", query: str = "", **headers: str) -> str:
    """One POST to a receiver called in-process as a WSGI app at the root; its status line."""
    import io
    from urllib.parse import urlsplit

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": urlsplit(url).path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        **{"HTTP_" + name.upper(): value for name, value in headers.items()},
    }
    statuses: list[str] = []
    app(environ, lambda status, _headers: statuses.append(status))
    return statuses[0]


def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``check()`` to hold, failing after ``seconds``."""
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


#: The command that serves the receiver.
SERVE = (sys.executable, "-m", "asyncjobs", "webhooks", "serve")


def serve_refused(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``asyncjobs webhooks serve ARGS`` with ``env``, expected to exit at once; what it did."""
    return subprocess.run(
        [*SERVE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def serve_in_subprocess(
    box: Sandbox, public_url: str, port: int, ledger: Path, home: Path, *options: str
) -> subprocess.Popen[str]:
    """``asyncjobs webhooks serve`` (with ``options``) for ConvertAPI's sandbox ``box`` in a child
    process, once it listens."""
    env = {
        **os.environ,
        "ASYNCJOBS_WEBHOOK_KEY": KEY,
        "ASYNCJOBS_HOME": str(home),
        "CONVERTAPI_SECRET": box.app.secret,
        "CONVERTAPI_BASE_URL": box.url,
    }
    env.pop("ASYNCJOBS_WEBHOOK_URL", None)
    proc = subprocess.Popen(
        [
            *SERVE,
            "--listen",
            f"127.0.0.1:{port}",
            "--public-url",
            public_url,
            "--provider",
            "convertapi",
            "--ledger",
            str(ledger),
            *options,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on"), line + (proc.stderr.read() if proc.stderr else "")
    return proc
