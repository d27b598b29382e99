"""The documentation: the site builds with ``mkdocs build --strict``, and every ```python block of the
user guide (docs/*.md, docs/providers/*.md and the README) runs, page by page, against the sandboxes.

A page's blocks run in order in one namespace, in a temporary working folder holding the sample files the
examples name, with every provider's settings in the environment pointing at its sandbox (as
``asyncjobs sandbox`` prints them) and quick poll policies. A block that is not meant to run is fenced
with another info string (```text, ```sh, ```ini...).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import asyncjobs
from asyncjobs import aio
from asyncjobs._registry import get_provider_class
from asyncjobs.sandbox import Sandbox, serve_providers

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted(DOCS.glob("providers/*.md"))]
BUILT_IN = ("convertapi", "groupdocs", "conversio", "cloudconvert", "zamzar")
#: The files the examples name, created in the working folder.
SAMPLES = ("report.docx", "a.docx", "b.xlsx", "corrupt.docx")
FAST_POLL = asyncjobs.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)


@attrs.frozen
class Block:
    """One ```python block of a page."""

    page: Path
    line: int
    code: str


def python_blocks(page: Path) -> list[Block]:
    """The page's ```python blocks, dedented, with the line each starts on. A block marked
    ``<!-- listing: path -->`` is a copy of a file of the repository (kept identical by
    tests/test_architecture.py, and run by that file's own tests), not an example to run."""
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start()) + 2, textwrap.dedent(m.group("code")))
        for m in _FENCE.finditer(text)
        if not text[: m.start()].rstrip().splitlines()[-1:][0].startswith("<!-- listing:")
    ]


RUNNABLE = [p for p in PAGES if python_blocks(p)]

#: Pages whose examples do not run yet, and why. Strict: once a page is fixed, its entry must go.
#: pages whose examples cannot run yet, with the reason (each a strict expected failure)
NOT_YET_RUNNABLE: dict[str, str] = {}


def _page_param(page: Path) -> Any:
    name = str(page.relative_to(ROOT))
    reason = NOT_YET_RUNNABLE.get(name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(page, id=name, marks=marks)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    """Every built-in provider's sandbox on 127.0.0.1, 1000 times faster than life."""
    running = serve_providers(BUILT_IN, scale=1000)
    try:
        yield {r.name: r.box for r in running}
    finally:
        for r in running:
            r.stop()


@pytest.fixture
def docs_env(
    sandboxes: dict[str, Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A working folder with the sample files, and every provider's settings in the environment."""
    for name, box in sandboxes.items():
        cls = get_provider_class(name)
        values = box.app.client_settings(box.url)
        for setting in cls.settings:
            if setting.env and setting.name in values:
                monkeypatch.setenv(setting.env, values[setting.name])
        # the shipped poll policies are for real services; the sandboxes finish jobs in milliseconds
        monkeypatch.setattr(cls, "capabilities", attrs.evolve(cls.capabilities, poll=FAST_POLL))
    work = tmp_path / "work"
    work.mkdir()
    for name in SAMPLES:
        (work / name).write_bytes(b"PK\x03\x04 sample " + name.encode())
    monkeypatch.chdir(work)
    return work


def run_page(page: Path) -> dict[str, Any]:
    """Run the page's blocks in order in one namespace; a failure names the page and the line.

    A block with top-level ``await`` (as in a notebook cell) runs in the page's one event loop,
    which is not running between blocks (so a block may call ``asyncio.run`` itself)."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    loop = asyncio.new_event_loop()
    try:
        for block in python_blocks(page):
            where = f"{page.relative_to(ROOT)}:{block.line}"
            code = compile(
                "\n" * (block.line - 1) + block.code,
                where,
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True,
            )
            if code.co_flags & inspect.CO_COROUTINE:
                loop.run_until_complete(eval(code, namespace))
            else:
                exec(code, namespace)
    finally:
        for value in list(namespace.values()):
            if isinstance(value, asyncjobs.Client):
                value.close()
            elif isinstance(value, aio.AsyncClient):
                value.sync.close()
            elif isinstance(value, asyncjobs.Ledger):
                value.close()
        loop.close()
    return namespace


#: Pages whose examples share a PostgreSQL ledger (``ASYNCJOBS_LEDGER``), on the suite's own server.
ON_POSTGRES = {"many-machines.md"}


@pytest.fixture
def page_globals() -> Iterator[None]:
    """What a page may set for its whole process, put back after it: the ``asyncjobs`` logger's
    handlers and level (the Observability page adds a JSON handler), and OpenTelemetry's global
    tracer and meter providers (it sets an SDK; the API allows that once per process, so the
    globals are reset as OpenTelemetry's own test utilities do)."""
    logger = logging.getLogger("asyncjobs")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    _reset_opentelemetry()


def _reset_opentelemetry() -> None:
    if "opentelemetry.trace" not in sys.modules:
        return
    import opentelemetry.metrics._internal as metrics_internal
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    for provider in (trace.get_tracer_provider(), metrics_internal.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if callable(shutdown) and type(provider).__module__.startswith("opentelemetry.sdk"):
            shutdown()
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    metrics_internal._METER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._PROXY_METER_PROVIDER = metrics_internal._ProxyMeterProvider()


@pytest.mark.usefixtures("page_globals")
@pytest.mark.parametrize("page", [_page_param(p) for p in RUNNABLE])
def test_python_blocks_of_the_page_run(
    page: Path, docs_env: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if page.name in ON_POSTGRES:
        monkeypatch.setenv("ASYNCJOBS_LEDGER", request.getfixturevalue("pg_url"))
    run_page(page)


def test_the_guide_pages_have_runnable_examples() -> None:
    names = {str(p.relative_to(ROOT)) for p in RUNNABLE}
    assert {
        "README.md",
        "docs/getting-started.md",
        "docs/notebooks.md",
        "docs/plugins.md",
        "docs/asyncio.md",
        "docs/many-machines.md",
        "docs/observability.md",
    } <= names


def test_blocks_are_found_with_their_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n1. item\n\n   ```python\n   y = x\n   ```\n")
    blocks = python_blocks(page)
    assert [(b.line, b.code) for b in blocks] == [(4, "x = 1\n"), (10, "y = x\n")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tour_run: tuple[Path, Path]) -> Path:
    """The site, built once with ``mkdocs build --strict``, publishing the tour as the suite ran it."""
    site = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "ASYNCJOBS_DOCS_TOUR": str(tour_run[0])}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return site


def _html(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_site_builds_in_strict_mode(site: Path) -> None:
    for page in ("index.html", "plugins/index.html", "reference/asyncjobs/index.html"):
        assert (site / page).is_file(), page
    assert "asyncjobs.connect" in _html(site, "reference/asyncjobs/index.html")


_RAW_ROLE = re.compile(r":(class|meth|func|attr|mod|exc|data|obj):")


def test_the_built_site_shows_no_raw_cross_reference_roles(site: Path) -> None:
    raw = {
        str(page.relative_to(site)): _RAW_ROLE.findall(page.read_text(encoding="utf-8"))
        for page in site.rglob("*.html")
    }
    assert {page: roles for page, roles in raw.items() if roles} == {}


@pytest.mark.parametrize(
    ("page", "target"),
    [
        ("reference/asyncjobs/index.html", "#asyncjobs.JobInfo"),  # JobInfo, from Job.info
        ("reference/asyncjobs/index.html", "#asyncjobs.Job.wait"),  # from asyncjobs.wait
        ("reference/provider/index.html", "#asyncjobs.provider.Transport"),
        ("reference/errors/index.html", "asyncjobs/#asyncjobs.connect"),
    ],
)
def test_cross_references_render_as_links(site: Path, page: str, target: str) -> None:
    assert re.search(rf'<a [^>]*href="[^"]*{re.escape(target)}"', _html(site, page)), target


PROVIDER_PAGES = sorted(DOCS.glob("providers/*.md"))


@pytest.mark.parametrize("page", PROVIDER_PAGES, ids=lambda p: p.stem)
def test_every_provider_page_opens_with_a_runnable_example(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    opening = text.split("\n## ", 1)[0]  # the title and what comes before the first section
    assert "```python\n" in opening
    assert python_blocks(page)[0].code in opening


def test_the_groupdocs_parameters_render_as_a_list(site: Path) -> None:
    page = _html(site, "providers/groupdocs/index.html")
    for name in ("output_path", "load_options", "fonts_path", "upload_path", "direct=True"):
        assert re.search(rf"<li><code>{re.escape(name)}</code>", page), name


def test_the_tour_is_published_executed_with_its_outputs(site: Path) -> None:
    page = _html(site, "tour/index.html")
    assert "5 finished, 0 still running" in page  # a printed output
    assert "5/5" in page  # the progress bar, as it ended
    assert page.count('<div class="tour-output">') >= 3  # the job tables, as HTML
    assert "segments-export" in page
    assert "500/5002" in page
    assert "Traceback" not in page


def test_the_site_links_the_executed_tour(site: Path) -> None:
    for page in ("notebooks/index.html", "index.html"):
        assert 'href="tour/"' in _html(site, page) or 'href="../tour/"' in _html(site, page), page


def _readme_command(marker: str) -> str:
    """The first line of the ```sh block after ``<!-- marker -->`` in the README (as .ci/run reads it)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    after = lines[lines.index(f"<!-- {marker} -->") + 1 :]
    return after[after.index("```sh") + 1]


COMMAND_PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_page_gives_the_readme_commands_verbatim(page: Path) -> None:
    commands = {
        "asyncjobs demo": _readme_command("main-command"),
        "python -m pytest": _readme_command("test-command"),
    }
    for line in page.read_text(encoding="utf-8").splitlines():
        for tail, command in commands.items():
            if "pip install" in line and line.rstrip().endswith(f"&& {tail}"):
                assert line.strip() == command, f"{page.name}: {line.strip()!r}"


def test_getting_started_gives_both_commands() -> None:
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert _readme_command("main-command") in text
    assert _readme_command("test-command") in text


def test_the_logging_page_names_every_logger_asyncjobs_uses() -> None:
    sources = [*ROOT.glob("asyncjobs/**/*.py"), *ROOT.glob("providers/*/asyncjobs_*/*.py")]
    # a module's logger (``log = get_logger("asyncjobs.x")``), or the package's, named in a call
    named = re.compile(
        r"^\s*\w+ = get_logger\(\"([\w.]+)\"\)|logging\.getLogger\(\"([\w.]+)\"\)", re.M
    )
    names = {a or b for p in sources for a, b in named.findall(p.read_text(encoding="utf-8"))}
    page = (DOCS / "logging.md").read_text(encoding="utf-8")
    assert names
    assert sorted(n for n in names if f"`{n}`" not in page) == []


def test_connect_points_to_the_public_timeouts() -> None:
    doc = inspect.getdoc(asyncjobs.connect) or ""
    assert "asyncjobs.Timeouts" in doc
    assert "_http" not in doc
    assert "_policies" not in doc
