"""Helpers of the PostgreSQL tests: plain SQL on the test server, and a database made unreachable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg


def sql(url: str, statement: str, args: Any = None) -> list[Any]:
    """Run one statement on its own connection; its rows (none for a statement without)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, args)
        return cur.fetchall() if cur.description else []


def _name(url: str) -> str:
    return urlsplit(url).path.strip("/")


def shut_out(server: str, url: str) -> None:
    """Make the database of ``url`` refuse new connections and cut the open ones (``server``: a
    URL of another database of the same server)."""
    name = _name(url)
    sql(server, f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
    _cut(server, url)


def let_in(server: str, url: str) -> None:
    """Undo :func:`shut_out`."""
    sql(server, f"ALTER DATABASE {_name(url)} WITH ALLOW_CONNECTIONS true")


@contextlib.contextmanager
def unreachable(server: str, url: str) -> Iterator[None]:
    """The database of ``url`` unreachable for the block."""
    shut_out(server, url)
    try:
        yield
    finally:
        let_in(server, url)


def _cut(server: str, url: str) -> None:
    sql(
        server,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=%s",
        (_name(url),),
    )


@contextlib.contextmanager
def read_only(server: str, url: str) -> Iterator[None]:
    """The database of ``url`` read-only for the block, as after a failover to a standby: every
    new session's transactions are read-only, and the sessions open at either end are cut."""
    sql(server, f"ALTER DATABASE {_name(url)} SET default_transaction_read_only = on")
    _cut(server, url)
    try:
        yield
    finally:
        sql(server, f"ALTER DATABASE {_name(url)} SET default_transaction_read_only = off")
        _cut(server, url)
