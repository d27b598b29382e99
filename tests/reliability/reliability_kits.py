"""What the reliability suite needs to know about each provider, and a running sandbox with clients.

A :class:`Kit` says how to start a provider's sandbox fast, which request paths its submit, polls and
downloads use (fault switches match on a path substring), how to submit a typical job, what its result
must contain, how to count the jobs the service created, and how a job expires. An :class:`Env` is a
sandbox served on 127.0.0.1 with clients that share one ledger, and can be restarted.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from asyncjobs_cloudconvert.sandbox import CloudConvertSandbox
from asyncjobs_cloudconvert.sandbox import expected_output as cloudconvert_output
from asyncjobs_conversio.sandbox import WEEK, ConversioSandbox, csv_for
from asyncjobs_convertapi.sandbox import ConvertAPISandbox
from asyncjobs_convertapi.sandbox import expected_output as convertapi_output
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox
from asyncjobs_groupdocs.sandbox import expected_output as groupdocs_output
from asyncjobs_zamzar.sandbox import ZamzarSandbox
from asyncjobs_zamzar.sandbox import expected_output as zamzar_output

import asyncjobs
from asyncjobs._ledger import Ledger, LedgerEntry
from asyncjobs.sandbox import Sandbox, SandboxApp

#: Sandbox time runs this many times faster than the wall clock.
SCALE = 1000.0
#: Quick retries: a burst of three faults resolves in milliseconds.
FAST_RETRY = asyncjobs.RetryPolicy(max_tries=5, base=0.001, cap=0.01, max_time=10)
#: Quick polls.
FAST_POLL = asyncjobs.PollPolicy(initial=0.005, factor=1.5, cap=0.02, min_interval=0.002)
#: Timeouts of every client unless a case asks for a short read timeout.
TIMEOUTS = asyncjobs.Timeouts(connect=2.0, read=10.0)
#: The input every job converts.
PAYLOAD = b"asyncjobs reliability suite: the same bytes in, the same bytes out.\n"
PROVIDERS = ("convertapi", "groupdocs", "conversio", "cloudconvert", "zamzar")


class Kit:
    """One provider's facts for the suite (subclassed per provider)."""

    name: str = ""
    #: substrings of the paths of the submit request, a poll, and a result download
    submit_path: str = ""
    poll_path: str = ""
    download_path: str = ""
    #: the path of the service's job list ("" when it has none)
    list_path: str = ""
    #: the extension of the typical job's source file (a conversion the sandbox offers to PDF)
    source_ext: str = "txt"
    #: the submit can be repeated safely (the client chose the job id)
    idempotent_submit: bool = False
    #: the service lists jobs (a lost submit answer can be found again)
    lists_jobs: bool = False
    #: the submit creates the job, then sends the file to a form the creation's answer names: a
    #: job whose creation answer was lost waits for a file that never comes
    upload_after_create: bool = False

    def make_app(self, root: Path, **kwargs: Any) -> SandboxApp:
        """A fresh sandbox app (its state under ``root`` where it keeps files)."""
        raise NotImplementedError

    def submit(self, client: asyncjobs.Client, **options: Any) -> asyncjobs.Job:
        """Submit the suite's typical job (``options``: more of ``submit``'s keywords, such as
        ``webhook=True``)."""
        raise NotImplementedError

    def expected(self) -> dict[str, bytes]:
        """The files (name -> bytes) the typical job's result holds."""
        raise NotImplementedError

    def created(self, app: Any) -> int:
        """Jobs the service has created so far (a repeated idempotent submit creates none)."""
        raise NotImplementedError

    def expire(self, app: Any) -> str:
        """Make the service forget its jobs as their lifetime ends; say how."""
        raise NotImplementedError


class ConvertAPIKit(Kit):
    name = "convertapi"
    submit_path = "/async/convert/"
    poll_path = "/async/job/"
    download_path = "/d/"
    idempotent_submit = True

    def make_app(self, root: Path, **kwargs: Any) -> SandboxApp:
        return ConvertAPISandbox(scale=SCALE, **kwargs)

    def submit(self, client: asyncjobs.Client, **options: Any) -> asyncjobs.Job:
        return client.submit("convert", source=PAYLOAD, from_="txt", to="pdf", **options)

    def expected(self) -> dict[str, bytes]:
        return {"file.pdf": convertapi_output("txt", "pdf", PAYLOAD)}

    def created(self, app: Any) -> int:
        return int(app.conversions)

    def expire(self, app: Any) -> str:
        app.clock.advance(app.job_lifetime + 1)
        return "the sandbox clock moved past ConvertAPI's 2-hour job lifetime"


class GroupDocsKit(Kit):
    name = "groupdocs"
    submit_path = "/v2.0/conversion/async"
    poll_path = "/v2.0/conversion/async"
    download_path = "/storage/file/"

    def make_app(self, root: Path, **kwargs: Any) -> SandboxApp:
        return GroupDocsSandbox(scale=SCALE, root=root, **kwargs)

    def submit(self, client: asyncjobs.Client, **options: Any) -> asyncjobs.Job:
        return client.submit("convert", source=PAYLOAD, from_="txt", to="pdf", **options)

    def expected(self) -> dict[str, bytes]:
        return {"source.pdf": groupdocs_output(PAYLOAD, "txt", "pdf")}

    def created(self, app: Any) -> int:
        return len(app.operations)

    def expire(self, app: Any) -> str:
        with app._state:
            app.operations.clear()
        return "GroupDocs documents no lifetime: the sandbox forgets its operations"


class ConversioKit(Kit):
    name = "conversio"
    submit_path = "/async-export"
    poll_path = "/api/v1/async-jobs/"
    download_path = ".csv"
    list_path = "/async-jobs"
    lists_jobs = True

    def make_app(self, root: Path, **kwargs: Any) -> SandboxApp:
        return ConversioSandbox(scale=SCALE, **kwargs)

    def submit(self, client: asyncjobs.Client, **options: Any) -> asyncjobs.Job:
        return client.submit("newsletter-recipients", newsletter="n1", **options)

    def expected(self) -> dict[str, bytes]:
        return {"{id}.csv": csv_for("newsletter-recipients", "n1")}

    def created(self, app: Any) -> int:
        return len(app.jobs)

    def expire(self, app: Any) -> str:
        app.clock.advance(app.start_after + app.duration + WEEK + 1)
        return "the sandbox clock moved past a week after the export finished"


class CloudConvertKit(Kit):
    name = "cloudconvert"
    # POST /v2/jobs, then the file to the upload task's form (POST /upload/{task}); polls are
    # GET /v2/jobs/{id}; the export/url task's files are served at /storage/{token}/{name}
    submit_path = "/v2/jobs"
    poll_path = "/v2/jobs/"
    download_path = "/storage/"
    list_path = "/v2/jobs"
    # the sandbox converts only the pairs of formats.json (no txt): a .docx to PDF
    source_ext = "docx"
    lists_jobs = True
    upload_after_create = True

    def make_app(self, root: Path, **kwargs: Any) -> SandboxApp:
        return CloudConvertSandbox(scale=SCALE, **kwargs)

    def submit(self, client: asyncjobs.Client, **options: Any) -> asyncjobs.Job:
        return client.submit("convert", source=PAYLOAD, from_="docx", to="pdf", **options)

    def expected(self) -> dict[str, bytes]:
        return {"file.pdf": cloudconvert_output("docx", "pdf", PAYLOAD)}

    def created(self, app: Any) -> int:
        with app._lock:
            return sum(1 for job in app.jobs.values() if not job.hidden)

    def expire(self, app: Any) -> str:
        with app._lock:
            for job in [j for j in app.jobs.values() if not j.hidden]:
                app._forget(job)
        return (
            "CloudConvert deletes a job 24 hours after it ended; the sandbox has no expiry of its "
            "own, so it forgets its jobs, tasks and files"
        )


class ZamzarKit(Kit):
    name = "zamzar"
    # POST /v1/jobs (multipart), GET /v1/jobs/{id}, GET /v1/files/{id}/content
    submit_path = "/v1/jobs"
    poll_path = "/v1/jobs/"
    download_path = "/content"
    list_path = "/v1/jobs"
    lists_jobs = True

    def make_app(self, root: Path, **kwargs: Any) -> SandboxApp:
        return ZamzarSandbox(scale=SCALE, **kwargs)

    def submit(self, client: asyncjobs.Client, **options: Any) -> asyncjobs.Job:
        return client.submit("convert", source=PAYLOAD, from_="txt", to="pdf", **options)

    def expected(self) -> dict[str, bytes]:
        return {"file.pdf": zamzar_output("txt", "pdf", PAYLOAD)}

    def created(self, app: Any) -> int:
        with app._lock:
            return len(app.jobs)

    def expire(self, app: Any) -> str:
        # Zamzar answers an expired job 410 (its OpenAPI document); the sandbox has no lifetime
        app.faults.status(
            410,
            times=1000,
            path=self.poll_path,
            body={"errors": [{"message": "resource has expired", "code": 21}]},
            headers={"Content-Type": "application/json"},
        )
        return (
            "Zamzar states no lifetime and answers an expired job 410; the sandbox has none, so "
            "its polls answer 410"
        )


KITS: dict[str, Kit] = {
    k.name: k
    for k in (ConvertAPIKit(), GroupDocsKit(), ConversioKit(), CloudConvertKit(), ZamzarKit())
}


def whole_answer(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the WSGI ``app`` on ``environ`` to the end: its status, its headers less
    ``Content-Length`` (the caller sends its own body), and its whole body."""
    answer: dict[str, Any] = {}

    def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.update(status=status, headers=headers)
        return lambda data: None

    chunks = app(environ, keep)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"]
    return answer["status"], headers, body


class _Timed:
    """WSGI middleware recording when each request arrived, ``(monotonic, method, path)``, and
    cutting bodies short.

    :meth:`cut` does what ``Faults.truncate`` means to do for any answer, streamed ones included:
    the core's switch calls ``Response.get_data()``, which a streamed (direct passthrough) download
    refuses, so it answers 500 instead of a cut body (reported as a core bug).
    """

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self.log: list[tuple[float, str, str]] = []
        self._cuts: list[str] = []
        self._lock = threading.Lock()

    def cut(self, path: str) -> None:
        """Send only half the body of the next answer whose path contains ``path``, then drop."""
        with self._lock:
            self._cuts.append(path)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        with self._lock:
            self.log.append(
                (
                    time.monotonic(),
                    environ.get("REQUEST_METHOD", ""),
                    f"{path}?{query}" if query else path,
                )
            )
            cut = next((c for c in self._cuts if c in path), None)
            if cut is not None:
                self._cuts.remove(cut)
        if cut is not None:
            return self._cut(environ, start_response)
        return self.app(environ, start_response)

    def _cut(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        status, headers, body = whole_answer(self.app, environ)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        yield body[: len(body) // 2]
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("body cut short by the reliability suite")


class Env:
    """A provider's sandbox on 127.0.0.1 and clients of it sharing one ledger in ``tmp``."""

    def __init__(self, kit: Kit, tmp: Path, **app_kwargs: Any) -> None:
        self.kit = kit
        self.tmp = tmp
        self.app_kwargs = app_kwargs
        tmp.mkdir(parents=True, exist_ok=True)
        self.ledger_path = tmp / "ledger.sqlite3"
        self._roots = 0
        self.app: Any = kit.make_app(self._root(), **app_kwargs)
        self.timed = _Timed(self.app)
        self.box = Sandbox(self.timed).start()
        self.clients: list[asyncjobs.Client] = []

    def _root(self) -> Path:
        self._roots += 1
        return self.tmp / f"service-{self._roots}"

    @property
    def settings(self) -> dict[str, str]:
        """The settings connecting a client to the sandbox."""
        return dict(self.app.client_settings(self.box.url))

    def connect(self, **kwargs: Any) -> asyncjobs.Client:
        """A client of the sandbox (fast polls and retries; the shared ledger)."""
        options: dict[str, Any] = {
            "ledger": self.ledger_path,
            "retry": FAST_RETRY,
            "poll": FAST_POLL,
            "timeout": TIMEOUTS,
            **self.settings,
        }
        options.update(kwargs)
        client = asyncjobs.connect(self.kit.name, **options)
        self.clients.append(client)
        return client

    def restart(self, *, keep_state: bool) -> None:
        """Stop the server and serve again at the same address: the same app (its jobs kept), or a
        fresh one (every job, token and file lost). Clients made before are closed."""
        self.close_clients()
        port = int(self.box.url.rsplit(":", 1)[1])
        self.box.stop()
        if not keep_state:
            self._close_app()
            self.app = self.kit.make_app(self._root(), **self.app_kwargs)
        self.timed = _Timed(self.app)
        self.box = Sandbox(self.timed, port=port).start()

    def requests(self, method: str, path: str) -> int:
        """How many ``method`` requests whose path contains ``path`` the service received."""
        return sum(1 for _, m, p in self.timed.log if m == method and path in p)

    def entries(self) -> list[LedgerEntry]:
        """The ledger's entries of this provider."""
        with Ledger(self.ledger_path) as ledger:
            return ledger.entries(provider=self.kit.name)

    def wait_until(self, check: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``check`` until true (for work the service finishes after the client gave up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.01)
        return check()

    def close_clients(self) -> None:
        """Close every client made so far."""
        for client in self.clients:
            client.close()
        self.clients.clear()

    def _close_app(self) -> None:
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        """Close the clients, stop the server and release the app."""
        self.close_clients()
        self.box.stop()
        self._close_app()


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (hidden ones and temporary leftovers included): name -> bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def expected_files(kit: Kit, job_id: str) -> dict[str, bytes]:
    """The typical job's result files, named as saved."""
    return {name.format(id=job_id): data for name, data in kit.expected().items()}


def ids(entries: Iterable[LedgerEntry]) -> set[str]:
    """The job ids of ledger entries that have one."""
    return {e.job_id for e in entries if e.job_id is not None}
