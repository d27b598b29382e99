"""Fixtures of the Conversio tests: the sandbox on 127.0.0.1, clients of it, and quick polls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncjobs_conversio.sandbox import ConversioSandbox
from conversio_support import KEY, OTHER_KEY, QUICK_POLL

import asyncjobs
from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import isolated_home  # noqa: F401  (autouse: an ASYNCJOBS_HOME per test)

QUICK_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.01, max_time=5)


@pytest.fixture
def conversio_app() -> ConversioSandbox:
    """The sandbox, 1000 times faster than life, with two shops."""
    return ConversioSandbox(scale=1000, keys={KEY: "shop-1", OTHER_KEY: "shop-2"})


@pytest.fixture
def conversio_box(conversio_app: ConversioSandbox) -> Iterator[Sandbox]:
    """The sandbox served on 127.0.0.1."""
    with Sandbox(conversio_app) as box:
        yield box


@pytest.fixture
def conversio_client(conversio_box: Sandbox, tmp_path: Path) -> Iterator[asyncjobs.Client]:
    """A client of the sandbox's first shop, with a ledger in the test's temp folder."""
    settings = conversio_box.app.client_settings(conversio_box.url)
    with asyncjobs.connect(
        "conversio",
        ledger=tmp_path / "ledger.sqlite3",
        retry=QUICK_RETRY,
        poll=QUICK_POLL,
        **settings,
    ) as client:
        yield client
