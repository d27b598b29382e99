"""Looks collected for the ledger instead of written one by one: the many-job scheduler gathers a
pass's statuses and writes them in one transaction per ledger."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import errors
from ._redaction import get_logger

if TYPE_CHECKING:
    from ._client import Client
    from ._ledger import Ledger
    from ._models import JobInfo

__all__ = ["collecting", "deferred_writes", "write_seen"]

log = get_logger("asyncjobs.client")


#: Where looks go instead of the ledger while a scheduler collects them (see :func:`write_seen`).
_DEFERRED: contextvars.ContextVar[list[tuple[Client, JobInfo]] | None] = contextvars.ContextVar(
    "asyncjobs_deferred_writes", default=None
)


@contextlib.contextmanager
def deferred_writes(bucket: list[tuple[Client, JobInfo]]) -> Iterator[None]:
    """Collect into ``bucket`` the looks that clients would record in their ledgers, in this
    thread, for :func:`write_seen` to write later in one transaction per ledger."""
    token = _DEFERRED.set(bucket)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def collecting() -> list[tuple[Client, JobInfo]] | None:
    """Where this thread's looks go instead of the ledger (inside :func:`deferred_writes`), or
    ``None``: write them now."""
    return _DEFERRED.get()


def write_seen(looks: list[tuple[Client, JobInfo]]) -> None:
    """Write collected looks: one ``seen_many`` (one transaction, unchanged looks skipped) per
    ledger; a ledger that fails costs a warning, as a single look's write does."""
    by_ledger: dict[int, tuple[Ledger, Client, list[JobInfo]]] = {}
    for client, info in looks:
        if client.ledger is None:
            continue
        _, _, infos = by_ledger.setdefault(id(client.ledger), (client.ledger, client, []))
        infos.append(info)
    for ledger, client, infos in by_ledger.values():
        try:
            ledger.seen_many(infos)
        except (errors.LedgerError, errors.ConfigurationError) as exc:
            log.warning(
                "%s: the ledger could not record %d statuses: %s", client.name, len(infos), exc
            )
