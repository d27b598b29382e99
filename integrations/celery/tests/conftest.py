"""Fixtures of the Celery tests: a real redis-server (broker and result backend), Conversio's sandbox
on 127.0.0.1, and groups of real ``celery worker`` processes started and stopped by the tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery_support import (
    CANARY,
    SCALE,
    CountingConversio,
    Group,
    RedisServer,
    Worker,
    find_redis_server,
)

from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import isolated_home  # noqa: F401  (autouse: an ASYNCJOBS_HOME per test)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the session's own (a missing one fails in CI, and skips elsewhere)."""
    binary = find_redis_server()
    if binary is None:
        why = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)
        pytest.skip(why)
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[tuple[CountingConversio, Sandbox]]:
    """Conversio's sandbox on 127.0.0.1, a hundred times faster than life; its one shop's key is
    the canary secret."""
    app = CountingConversio(scale=SCALE, keys={CANARY: "shop-1"})
    with Sandbox(app) as box:
        yield app, box


@pytest.fixture
def conversio(sandbox: tuple[CountingConversio, Sandbox]) -> Iterator[CountingConversio]:
    """The sandbox with no job, request or hold of an earlier test; jobs of 60 sandbox seconds."""
    app = sandbox[0]
    app.reset()
    app.duration = 60.0
    yield app
    app.reset()
    app.duration = 60.0


@pytest.fixture
def group(
    redis_server: RedisServer,
    sandbox: tuple[CountingConversio, Sandbox],
    tmp_path: Path,
) -> Iterator[Callable[..., Group]]:
    """A factory of worker groups for one test: ``group(visibility_timeout=3, lease=1)``."""
    made: list[Group] = []

    def make(**kwargs: Any) -> Group:
        g = Group(redis_server, sandbox[1], tmp_path / f"group-{len(made)}", **kwargs)
        g.folder.mkdir(parents=True)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


@pytest.fixture(scope="module")
def pool(
    redis_server: RedisServer,
    sandbox: tuple[CountingConversio, Sandbox],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Group, list[Worker]]]:
    """Two workers of four pool processes each, shared by a module's tests, logging at DEBUG."""
    folder = tmp_path_factory.mktemp("pool")
    g = Group(redis_server, sandbox[1], folder, extra={"ASYNCJOBS_CELERY_TEST_LOGLEVEL": "DEBUG"})
    with _started(g, ("w1", "w2")) as running:
        yield g, running
    g.close()


@contextmanager
def _started(g: Group, names: tuple[str, ...]) -> Iterator[list[Worker]]:
    with g.workers(*names) as running:
        yield running
