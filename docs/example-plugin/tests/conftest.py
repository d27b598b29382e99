"""Fixtures of the Echo tests: the sandbox on 127.0.0.1 and a client of it with quick polls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncjobs_echo.sandbox import EchoSandbox

import asyncjobs
from asyncjobs.sandbox import Sandbox

#: Poll every few milliseconds: the sandbox runs a 100-second job in 0.1 s.
QUICK_POLL = asyncjobs.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)
QUICK_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.01, max_time=5)


@pytest.fixture(autouse=True)
def echo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing is written outside the test's temporary folder."""
    home = tmp_path / "echo-home"
    monkeypatch.setenv("ASYNCJOBS_HOME", str(home))
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "0")
    return home


@pytest.fixture
def echo_app() -> EchoSandbox:
    """The sandbox, 1000 times faster than life; jobs last 0.1 s, long enough to be canceled."""
    return EchoSandbox(scale=1000, queue_seconds=10, duration=100)


@pytest.fixture
def echo_box(echo_app: EchoSandbox) -> Iterator[Sandbox]:
    """The sandbox served on 127.0.0.1."""
    with Sandbox(echo_app) as box:
        yield box


@pytest.fixture
def echo_client(echo_box: Sandbox, tmp_path: Path) -> Iterator[asyncjobs.Client]:
    """A client of the sandbox with a ledger in the test's temporary folder."""
    settings = echo_box.app.client_settings(echo_box.url)
    with asyncjobs.connect(
        "echo", ledger=tmp_path / "ledger.sqlite3", poll=QUICK_POLL, retry=QUICK_RETRY, **settings
    ) as client:
        yield client
