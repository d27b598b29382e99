"""Fixtures of the GroupDocs tests: the sandbox on 127.0.0.1 and clients of it or of `responses`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox
from groupdocs_support import FAST_POLL, QUICK_RETRY

import asyncjobs
from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import isolated_home  # noqa: F401  (autouse: an ASYNCJOBS_HOME per test)


@pytest.fixture
def gd_app(tmp_path: Path) -> Iterator[GroupDocsSandbox]:
    """The sandbox app; storage in the test's temp folder; 1000 sandbox seconds per wall second."""
    app = GroupDocsSandbox(scale=1000, root=tmp_path / "gd-storage")
    yield app
    app.close()


@pytest.fixture
def gd_box(gd_app: GroupDocsSandbox) -> Iterator[Sandbox]:
    """The sandbox served on 127.0.0.1."""
    with Sandbox(gd_app) as box:
        yield box


@pytest.fixture
def gd_client(
    gd_box: Sandbox, gd_app: GroupDocsSandbox, tmp_path: Path
) -> Iterator[asyncjobs.Client]:
    """A client of the sandbox, with a ledger in the temp folder, quick retries and fast polls."""
    with asyncjobs.connect(
        "groupdocs",
        ledger=tmp_path / "ledger.sqlite3",
        retry=QUICK_RETRY,
        poll=FAST_POLL,
        **gd_app.client_settings(gd_box.url),
    ) as client:
        yield client


@pytest.fixture
def api_client() -> Iterator[asyncjobs.Client]:
    """A client of the default GroupDocs URLs, for `responses` tests (no ledger, quick retries)."""
    with asyncjobs.connect(
        "groupdocs",
        client_id="my-client-id",
        client_secret="my-client-secret-canary",
        ledger=False,
        retry=QUICK_RETRY,
    ) as client:
        yield client
