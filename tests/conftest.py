"""Fixtures shared by the core's tests: a temporary ASYNCJOBS_HOME, the toy provider and its sandbox."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aio_support import AIO_POLL, AIO_RETRY, LoopIO, ThreadStarts
from ledger_support import Raw, Writes
from toy_provider import ToyProvider, ToySandbox

import asyncjobs
from asyncjobs._ledger import Ledger
from asyncjobs._pgserver import find_binaries, postgres_server
from asyncjobs._registry import unregister
from asyncjobs.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent

#: set in the child process of an ``own_process`` test
_CHILD = "ASYNCJOBS_TEST_OWN_PROCESS"


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``own_process`` test in a child pytest process, without coverage.

    Such tests install an audit hook, which cannot be removed. On CPython <= 3.11, a thread that
    starts while another thread installs a trace function (coverage does this in every new
    thread) dies in its bootstrap if any audit hook is installed. Left in this process, the hook
    made later tests that start threads fail at random.
    """
    if pyfuncitem.get_closest_marker("own_process") is None or os.environ.get(_CHILD):
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    env.update({_CHILD: "1", "PYTEST_ADDOPTS": ""})
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid]
    child = subprocess.run(
        command,
        cwd=pyfuncitem.config.rootpath,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if child.returncode != 0 or not re.search(r"(?m)^1 passed in ", child.stdout):
        pytest.fail(
            f"in its own process:\n{child.stdout[-6000:]}\n{child.stderr[-2000:]}", pytrace=False
        )
    return True


def _tour_hook() -> ModuleType:
    """The docs build's hook that executes and publishes the tour (docs/hooks/tour.py)."""
    spec = importlib.util.spec_from_file_location("tour_hook", ROOT / "docs" / "hooks" / "tour.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tour_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tour notebook, executed once for the whole session, as the docs build executes it: the
    executed copy, and the temporary folder everything it wrote went into."""
    tmp = tmp_path_factory.mktemp("tour")
    executed = tmp / "executed.ipynb"
    done = _tour_hook().execute(ROOT / "docs" / "tour.ipynb", executed, tmp)
    assert done.returncode == 0, done.stderr[-4000:]
    return executed, tmp


@pytest.fixture(autouse=True)
def asyncjobs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ASYNCJOBS_HOME: nothing is written outside a temp folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("ASYNCJOBS_HOME", str(home))
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "0")
    return home


@pytest.fixture
def toy_registered() -> Iterator[type[ToyProvider]]:
    """The toy provider, registered as "toy" for the test."""
    asyncjobs.register("toy", ToyProvider, replace=True)
    yield ToyProvider
    unregister("toy")


@pytest.fixture
def toy_sandbox() -> Iterator[Sandbox]:
    """The toy service on 127.0.0.1 (sandbox time runs at wall speed; jobs last 0.05 s by default)."""
    with Sandbox(ToySandbox()) as box:
        yield box


@pytest.fixture
def toy_client(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, tmp_path: Path
) -> Iterator[asyncjobs.Client]:
    """A client of the toy sandbox with a ledger in the test's temp folder and quick retries."""
    with asyncjobs.connect(
        "toy",
        ledger=tmp_path / "ledger.sqlite3",
        retry=asyncjobs.RetryPolicy(max_tries=3, base=0.01, cap=0.05, max_time=5),
        **toy_sandbox.app.client_settings(toy_sandbox.url),
    ) as client:
        yield client


@pytest.fixture
def memory_client(tmp_path: Path) -> Iterator[asyncjobs.Client]:
    """A client of the in-memory provider (no HTTP), with a ledger in the test's temp folder."""
    from memory_provider import MemoryProvider

    MemoryProvider.reset()
    asyncjobs.register("memory", MemoryProvider, replace=True)
    with asyncjobs.connect("memory", ledger=tmp_path / "ledger.sqlite3") as client:
        yield client
    unregister("memory")


# -- the asyncio API (tests/test_aio.py) -----------------------------------------------------------


@pytest.fixture(scope="module")
def provider_sandboxes() -> Iterator[dict[str, Any]]:
    """The three built-in providers' sandboxes on 127.0.0.1, 1000 times faster than life."""
    from asyncjobs.sandbox import serve_providers

    running = serve_providers(("convertapi", "groupdocs", "conversio"), scale=1000)
    try:
        yield {r.name: r for r in running}
    finally:
        for r in running:
            r.stop()


@pytest.fixture(scope="module")
def boxes() -> Iterator[dict[str, Any]]:
    """The ConvertAPI and GroupDocs sandboxes on 127.0.0.1, 1000 times faster than life, by name
    (``.box.app.faults`` are their switches; cleared after each test by ``no_faults``)."""
    from asyncjobs.sandbox import serve_providers

    running = serve_providers(("convertapi", "groupdocs"), scale=1000)
    try:
        yield {r.name: r for r in running}
    finally:
        for r in running:
            r.stop()


@pytest.fixture
def no_faults(boxes: dict[str, Any]) -> Iterator[None]:
    """Switch every fault of ``boxes`` off after the test."""
    yield
    for r in boxes.values():
        r.box.app.faults.clear()


@pytest.fixture(scope="module")
def slow_conversio() -> Iterator[Any]:
    """Conversio's sandbox at wall speed: its exports stay pending for a minute, long enough to be
    waited on, timed out and cancelled."""
    from asyncjobs.sandbox import serve_providers

    (running,) = serve_providers(("conversio",), scale=1)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["convertapi", "groupdocs", "conversio"])
def aio_provider(request: pytest.FixtureRequest, provider_sandboxes: dict[str, Any]) -> Any:
    """Each built-in provider's running sandbox in turn (``.name``, ``.box``, ``.settings``)."""
    return provider_sandboxes[request.param]


@pytest.fixture
def aio_settings(aio_provider: Any, tmp_path: Path) -> dict[str, Any]:
    """Keyword arguments of ``aio.connect(aio_provider.name, **aio_settings)``: the sandbox, a
    ledger in the test's temp folder, quick polls and retries."""
    return {
        "ledger": tmp_path / "ledger.sqlite3",
        "poll": AIO_POLL,
        "retry": AIO_RETRY,
        **aio_provider.settings,
    }


@pytest.fixture
def loop_io() -> LoopIO:
    """A recorder of the I/O done on the thread that watches (the event loop's, in aio tests)."""
    return LoopIO()


@pytest.fixture
def thread_starts() -> ThreadStarts:
    """A recorder of the threads started in the block (their names)."""
    return ThreadStarts()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of the test session's own (initdb into a temporary folder, a Unix socket,
    fsync off), as the URL of its ``postgres`` database. In CI a missing server fails the tests."""
    if find_binaries() is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server() as url:
        yield url


@pytest.fixture
def new_database(postgres: str) -> Callable[[], str]:
    """Makes an empty database on the session's server and returns its URL."""
    import psycopg

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return postgres.replace("/postgres?", f"/{name}?")

    return make


@pytest.fixture
def pg_url(new_database: Callable[[], str]) -> str:
    """The URL of an empty database of the test's own."""
    return new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each built-in ledger backend in turn: the ledger's tests run against both."""
    name: str = request.param
    return name


@pytest.fixture
def ledger_target(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a ledger of the test's own is (nothing there yet): a SQLite path, or the URL of an
    empty PostgreSQL database."""
    if backend == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def ledger(ledger_target: str) -> Iterator[Ledger]:
    """A new, empty ledger of the test's own, on each backend in turn."""
    with Ledger(ledger_target) as made:
        yield made


@pytest.fixture
def raw_ledger(backend: str, ledger_target: str) -> Raw:
    """The test's ledger database reached with plain SQL, without asyncjobs."""
    return Raw(backend, ledger_target)


@pytest.fixture
def writes(backend: str, ledger_target: str) -> Iterator[Writes]:
    """Whether the test's ledger database was written (``writes.mark()`` before and after), seen
    from a connection of its own, on each backend in turn."""
    made = Writes(backend, ledger_target)
    yield made
    made.close()


@pytest.fixture
def ledger_client(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, ledger_target: str
) -> Iterator[asyncjobs.Client]:
    """A client of the toy sandbox with quick retries, whose ledger is the test's own, on each
    backend in turn."""
    with asyncjobs.connect(
        "toy",
        ledger=ledger_target,
        retry=asyncjobs.RetryPolicy(max_tries=3, base=0.01, cap=0.05, max_time=5),
        **toy_sandbox.app.client_settings(toy_sandbox.url),
    ) as client:
        yield client


@pytest.fixture
def fleet(pg_url: str, tmp_path: Path, asyncjobs_home: Path) -> Iterator[Any]:
    """A fleet (tests/fleet_support.py): the ConvertAPI sandbox at wall speed (jobs last
    ``DURATION``), an empty PostgreSQL ledger with 3-second leases, and the environment that
    connects ``asyncjobs worker`` processes to both; processes left running are killed."""
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox
    from fleet_support import DURATION, Fleet

    app = ConvertAPISandbox(scale=1.0, duration=DURATION, hold=0.2)
    with Sandbox(app) as box:
        settings = app.client_settings(box.url)
        env = dict(
            os.environ,
            ASYNCJOBS_HOME=str(asyncjobs_home),
            ASYNCJOBS_LEDGER=pg_url,
            ASYNCJOBS_LEASE_SECONDS="3",
            ASYNCJOBS_PROGRESS="0",
            CONVERTAPI_SECRET=settings["secret"],
            CONVERTAPI_BASE_URL=settings["base_url"],
        )
        made = Fleet(app, box, pg_url, env, tmp_path)
        try:
            yield made
        finally:
            for proc in made.procs:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=30)
    app.close()


# -- webhooks (tests/test_webhooks.py) --------------------------------------------------------------


@pytest.fixture
def hook_server() -> Iterator[Any]:
    """waitress on 127.0.0.1 in a thread, serving whatever app the test sets on it."""
    from webhook_support import Served

    served = Served()
    yield served
    served.stop()


@pytest.fixture
def receiver(hook_server: Any) -> Iterator[Any]:
    """A webhook receiver served standalone on waitress, at ``<server>/hooks``."""
    from webhook_support import KEY

    from asyncjobs import webhooks

    made = webhooks.Receiver(hook_server.url + "/hooks", KEY)
    hook_server.app = made
    yield made
    made.close()


def _convertapi_box(duration: float) -> Iterator[Sandbox]:
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox

    app = ConvertAPISandbox(scale=1.0, duration=duration, hold=0.0)
    with Sandbox(app) as box:
        yield box
    app.close()


@pytest.fixture
def convertapi_box() -> Iterator[Sandbox]:
    """ConvertAPI's sandbox at wall speed: a conversion takes 0.5 s; re-polls are not held."""
    yield from _convertapi_box(0.5)


@pytest.fixture
def slow_convertapi_box() -> Iterator[Sandbox]:
    """ConvertAPI's sandbox whose conversions run a minute: jobs stay pending through a test."""
    yield from _convertapi_box(60.0)


@pytest.fixture
def bare_receiver() -> Iterator[Any]:
    """A receiver called in-process as a WSGI app (``webhook_support.wsgi_call``), not served."""
    from webhook_support import KEY

    from asyncjobs import webhooks

    made = webhooks.Receiver("http://127.0.0.1:9/hooks", KEY)
    yield made
    made.close()


@pytest.fixture
def conversio_box() -> Iterator[Sandbox]:
    """Conversio's sandbox at wall speed: an export ends 0.5 s after it is created."""
    from asyncjobs_conversio.sandbox import ConversioSandbox

    app = ConversioSandbox(scale=1.0, start_after=0.0, duration=0.5)
    with Sandbox(app) as box:
        yield box
    app.close()


@pytest.fixture
def hooked(
    convertapi_box: Sandbox, receiver: Any, tmp_path: Path
) -> Iterator[Callable[..., asyncjobs.Client]]:
    """Connect ConvertAPI clients of the sandbox to the receiver, polling slowly (so that a quick
    end can only be the webhook's doing); keywords override."""
    from webhook_support import SLOW_POLL

    made: list[asyncjobs.Client] = []

    def connect(**kwargs: Any) -> asyncjobs.Client:
        settings: dict[str, Any] = {
            **convertapi_box.app.client_settings(convertapi_box.url),
            "webhooks": receiver,
            "poll": SLOW_POLL,
            "ledger": tmp_path / "ledger.sqlite3",
        }
        settings.update(kwargs)
        client = asyncjobs.connect("convertapi", **settings)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


# -- telemetry (tests/test_telemetry.py) ----------------------------------------------------------


@pytest.fixture
def telemetry() -> Iterator[Any]:
    """OpenTelemetry's SDK with an in-memory span exporter and metric reader, receiving
    asyncjobs' spans and metrics for the test (``asyncjobs._telemetry.override``: the API lets a
    process set its global providers once, so the rest of the suite runs without them)."""
    from telemetry_support import Recorded

    from asyncjobs import _telemetry

    recorded = Recorded()
    with _telemetry.override(recorded.tracer_provider, recorded.meter_provider):
        yield recorded
    recorded.shutdown()
