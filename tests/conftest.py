"""Fixtures shared by the core's tests: a temporary ASYNCJOBS_HOME, the toy provider and its sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from toy_provider import ToyProvider, ToySandbox

import asyncjobs
from asyncjobs.registry import unregister
from asyncjobs.sandbox import Sandbox


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
