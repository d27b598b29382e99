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
from asyncjobs.registry import get_provider_class
from asyncjobs.sandbox import Sandbox, serve_providers

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted(DOCS.glob("providers/*.md"))]
BUILT_IN = ("convertapi", "groupdocs", "conversio")
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
    """The page's ```python blocks, dedented, with the line each starts on."""
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start()) + 2, textwrap.dedent(m.group("code")))
        for m in _FENCE.finditer(text)
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
        loop.close()
    return namespace


@pytest.mark.parametrize("page", [_page_param(p) for p in RUNNABLE])
def test_python_blocks_of_the_page_run(page: Path, docs_env: Path) -> None:
    run_page(page)


def test_the_guide_pages_have_runnable_examples() -> None:
    names = {str(p.relative_to(ROOT)) for p in RUNNABLE}
    assert {
        "README.md",
        "docs/getting-started.md",
        "docs/notebooks.md",
        "docs/plugins.md",
        "docs/asyncio.md",
    } <= names


def test_blocks_are_found_with_their_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n1. item\n\n   ```python\n   y = x\n   ```\n")
    blocks = python_blocks(page)
    assert [(b.line, b.code) for b in blocks] == [(4, "x = 1\n"), (10, "y = x\n")]


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("index.html", "plugins/index.html", "reference/asyncjobs/index.html"):
        assert (site / page).is_file(), page
    assert "asyncjobs.connect" in (site / "reference/asyncjobs/index.html").read_text()
