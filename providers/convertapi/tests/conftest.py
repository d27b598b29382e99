"""Fixtures of the ConvertAPI tests: the sandbox on 127.0.0.1 and clients of it for both protocols."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncjobs_convertapi.sandbox import ConvertAPISandbox
from convertapi_support import FAST_RETRY, SCALE, ClientFactory

import asyncjobs
from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import isolated_home  # noqa: F401  (autouse: an ASYNCJOBS_HOME per test)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The ConvertAPI sandbox, fast clock, conversions as quick as their size allows (tests of
    pending jobs use a sandbox of their own)."""
    app = ConvertAPISandbox(scale=SCALE, duration=0.0)
    with Sandbox(app) as box:
        yield box
    app.close()


@pytest.fixture(params=["current", "legacy"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Each async protocol in turn."""
    return str(request.param)


@pytest.fixture
def connect_to(tmp_path: Path) -> Iterator[ClientFactory]:
    """Connect clients to a sandbox (closed after the test); keywords override settings."""
    made: list[asyncjobs.Client] = []

    def make(box: Sandbox, protocol: str = "current", **kwargs: Any) -> asyncjobs.Client:
        settings = {**box.app.client_settings(box.url), "protocol": protocol}
        settings.update(kwargs)
        settings.setdefault("ledger", tmp_path / "ledger.sqlite3")
        settings.setdefault("retry", FAST_RETRY)
        client = asyncjobs.connect("convertapi", **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(sandbox: Sandbox, protocol: str, connect_to: ClientFactory) -> asyncjobs.Client:
    """A client of the sandbox, once per protocol."""
    return connect_to(sandbox, protocol)
