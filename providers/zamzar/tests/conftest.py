"""Fixtures of the Zamzar tests: the sandbox on 127.0.0.1 and clients of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncjobs_zamzar.sandbox import ZamzarSandbox
from zamzar_support import FAST_POLL, FAST_RETRY, SCALE

import asyncjobs
from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import isolated_home  # noqa: F401  (autouse: an ASYNCJOBS_HOME per test)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The Zamzar sandbox on a fast clock."""
    app = ZamzarSandbox(scale=SCALE)
    with Sandbox(app) as box:
        yield box
    app.close()


@pytest.fixture
def connect_to(tmp_path: Path) -> Iterator[Callable[..., asyncjobs.Client]]:
    """Connect clients to a sandbox (closed after the test); keywords override settings."""
    made: list[asyncjobs.Client] = []

    def make(box: Sandbox, **kwargs: Any) -> asyncjobs.Client:
        settings: dict[str, Any] = dict(box.app.client_settings(box.url))
        settings.update(kwargs)
        settings.setdefault("ledger", tmp_path / "ledger.sqlite3")
        settings.setdefault("retry", FAST_RETRY)
        settings.setdefault("poll", FAST_POLL)
        client = asyncjobs.connect("zamzar", **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(sandbox: Sandbox, connect_to: Callable[..., asyncjobs.Client]) -> asyncjobs.Client:
    """A client of the sandbox."""
    return connect_to(sandbox)
