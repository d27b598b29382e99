"""What the Celery tests run: a real redis-server, real ``celery worker`` processes, and Conversio's
sandbox with a request log and a hold switch (a module of its own: test files never import
conftest)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from asyncjobs_conversio.sandbox import ConversioSandbox

from asyncjobs.sandbox import Sandbox

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
ROOT = PACKAGE.parent.parent

#: The sandbox shop's API key: a canary that must appear in no message, result or log line.
CANARY = "cv-canary-Qz81-celery-never-show"

#: Sandbox seconds per wall second: a 60-s export takes 0.6 s.
SCALE = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_redis_server() -> str | None:
    """Debian's ``redis-server``, on the PATH or where the package puts it."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )


class RedisServer:
    """A redis-server of the tests' own, on 127.0.0.1 at a free port, its files in ``folder``."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.log = folder / "redis.log"
        self._proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(folder),
                "--save",
                "",
                "--appendonly",
                "no",
                "--databases",
                "32",
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {self.log}") from None
                time.sleep(0.05)
        self._next_db = 1

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def new_db(self) -> int:
        """A database number nobody used yet in this session."""
        db, self._next_db = self._next_db, self._next_db + 1
        if db >= 32:
            raise RuntimeError("the tests use at most 31 Redis databases")
        return db

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)


class Hold:
    """Requests held at the sandbox until released; ``arrived`` is set when the first comes."""

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.arrived = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


class CountingConversio(ConversioSandbox):
    """Conversio's sandbox that keeps every request's method and path, and holds some on demand."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[tuple[str, str]] = []
        self.holds: list[Hold] = []
        self._log_lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        with self._log_lock:
            self.log.append((method, path))
            hold = next(
                (h for h in self.holds if h.method == method and path.startswith(h.path)), None
            )
        if hold is not None:
            hold.arrived.set()
            hold.released.wait(60)
        return super().__call__(environ, start_response)

    def hold(self, method: str, path: str) -> Hold:
        """Hold every ``method`` request whose path starts with ``path`` (the API's, under
        ``/api/v1``) until the hold is released."""
        hold = Hold(method, "/api/v1" + path)
        with self._log_lock:
            self.holds.append(hold)
        return hold

    def reset(self) -> None:
        """Release every hold; forget every request and job."""
        with self._log_lock:
            for hold in self.holds:
                hold.release()
            self.holds.clear()
            self.log.clear()
        with self._lock:
            self.jobs.clear()

    def submits(self) -> int:
        """Exports created so far."""
        with self._log_lock:
            return sum(1 for m, p in self.log if m == "POST" and p.endswith("/async-export"))

    def looks(self, job_id: str) -> int:
        """Requests for one job's status (polls, and the result's fetch)."""
        with self._log_lock:
            return sum(1 for m, p in self.log if m == "GET" and p.endswith(f"/async-jobs/{job_id}"))


class Worker:
    """A ``celery worker`` process (prefork pool) of ``celery_app``, its log in ``log``."""

    def __init__(
        self, name: str, env: dict[str, str], folder: Path, *, concurrency: int = 4
    ) -> None:
        self.name = f"{name}@asyncjobs-tests"
        self.log = folder / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            self.name,
            "--loglevel",
            env.get("ASYNCJOBS_CELERY_TEST_LOGLEVEL", "INFO"),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        self._file = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=HERE,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole, pool included
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start:\n{self.text()[-3000:]}")
            time.sleep(0.05)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (a machine lost)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not end."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._file.close()


def worker_env(
    *,
    broker: str,
    sandbox_url: str,
    home: Path,
    visibility_timeout: float = 3600.0,
    lease: float = 60.0,
) -> dict[str, str]:
    """The environment of the workers of one test: the app's broker (its own Redis database), the
    sandbox's settings, a shared ASYNCJOBS_HOME (the ledger of every worker process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_", "CONVERSIO_"))}
    path = [str(HERE), str(PACKAGE), str(ROOT), env.get("PYTHONPATH", "")]
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in path if p),
        ASYNCJOBS_HOME=str(home),
        ASYNCJOBS_PROGRESS="0",
        ASYNCJOBS_CELERY_TEST_BROKER=broker,
        ASYNCJOBS_CELERY_TEST_VISIBILITY=str(visibility_timeout),
        ASYNCJOBS_CELERY_TEST_LEASE=str(lease),
        CONVERSIO_API_KEY=CANARY,
        CONVERSIO_BASE_URL=sandbox_url + "/api/v1",
    )
    return env


@contextmanager
def workers(
    env: dict[str, str], folder: Path, names: tuple[str, ...], *, concurrency: int = 4
) -> Iterator[list[Worker]]:
    """Start workers, wait until each is ready; stop them after."""
    started = [Worker(n, env, folder, concurrency=concurrency) for n in names]
    try:
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:
            w.stop()


class Group:
    """Workers of one test (or module): their broker (a Redis database of their own), the Celery
    app the test sends through, and a way to start more workers on the same broker."""

    def __init__(
        self,
        redis: RedisServer,
        box: Sandbox,
        folder: Path,
        *,
        visibility_timeout: float = 3600.0,
        lease: float = 3.0,
        extra: dict[str, str] | None = None,
    ) -> None:
        import celery_app

        self.db = redis.new_db()
        self.url = redis.url(self.db)
        self.folder = folder
        self.env = worker_env(
            broker=self.url,
            sandbox_url=box.url,
            home=folder / "home",
            visibility_timeout=visibility_timeout,
            lease=lease,
        )
        self.env.update(extra or {})
        self.app = celery_app.make_app(self.url, visibility_timeout=visibility_timeout, lease=lease)
        self.app.set_current()
        self.redis = redis.client.__class__(port=redis.port, db=self.db)
        self.started: list[Worker] = []

    def workers(self, *names: str, concurrency: int = 4) -> AbstractContextManager[list[Worker]]:
        return workers(self.env, self.folder, names, concurrency=concurrency)

    def start(self, name: str, concurrency: int = 4) -> Worker:
        """A worker the test stops or kills itself (stopped at the end in any case)."""
        worker = Worker(name, self.env, self.folder, concurrency=concurrency)
        self.started.append(worker)
        worker.wait_ready()
        return worker

    def close(self) -> None:
        for worker in self.started:
            worker.stop()
        self.app.close()


def eventually(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Wait until ``check()`` is true (no timing is asserted: the timeout is a hang guard)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g}s")
        time.sleep(0.02)


def job_ids(text: str) -> set[str]:
    """Conversio job ids mentioned in ``text``."""
    return set(re.findall(r"\b57b5aa3b046abfb053d[0-9a-f]{5}\b", text))
