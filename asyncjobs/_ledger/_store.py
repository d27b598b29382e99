"""What the ledger needs of a backend: the :class:`Store` protocol, and the options it is opened with.

The ledger (``Ledger``, the facade) owns the logic: which rows to write, when a write is needed,
what a row means. A store owns the connection: it opens and migrates the database, runs the
ledger's statements, and, on a backend many machines share, keeps the leases and sends the
notifications.

The ledger's statements are written in one dialect, SQLite's: ``?`` and ``:name`` placeholders,
``IS NOT`` between two values meaning "is distinct from", and ``rowid`` for the order rows were
added in. A store of another database translates them (the PostgreSQL store's ``translate``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from ._rows import LedgerEntry

__all__ = ["Args", "Cursor", "Executor", "Leases", "Row", "Store", "StoreClass", "StoreOptions"]

#: One row as a store returns it: the values of the columns asked for, in their order.
Row = tuple[Any, ...]
#: A statement's arguments: positional (``?``) or named (``:name``).
Args = Sequence[Any] | Mapping[str, Any]


class Cursor(Protocol):
    """The outcome of one statement run in a transaction."""

    @property
    def rowcount(self) -> int:
        """How many rows the statement changed."""

    def fetchone(self) -> Row | None:
        """The next row, or ``None``."""

    def fetchall(self) -> list[Row]:
        """The rows left."""


class Executor(Protocol):
    """What a transaction's body runs the ledger's statements on."""

    def execute(self, sql: str, args: Args = ..., /) -> Cursor:
        """Run one statement (the ledger's dialect) in the transaction."""


@attrs.frozen
class StoreOptions:
    """How the ledger opens a store.

    Attributes:
        read_only: for reading only; every write raises ConfigurationError.
        holder: the ledger object's name as a lease holder (``host:pid:tag``).
        lease_seconds: how long a lease lasts unless kept alive.
    """

    read_only: bool = False
    holder: str = ""
    lease_seconds: float = 30.0


class Leases(Protocol):
    """A shared store's leases held by one ledger object: who polls which job."""

    def take(self, provider: str, job_id: str, kind: str) -> bool:
        """Take or keep the lease of a job; ``False`` when another holder has it."""

    def touch(self, provider: str, job_id: str, *, confirm: bool = True) -> bool:
        """Keep a held lease alive; ``False`` when it is no longer held."""

    def release(self, provider: str, job_id: str) -> None:
        """Give one lease up."""

    def forget(self, provider: str, job_id: str) -> None:
        """Drop a lease the ledger already cleared in the database (the job finished)."""

    def claim(self, providers: Sequence[str], limit: int) -> list[LedgerEntry]:
        """Lease up to ``limit`` pending jobs nobody polls, oldest first: their entries, as the
        claim read them."""

    def jobs(self) -> set[tuple[str, str]]:
        """The jobs ``(provider, job id)`` held."""

    def stop(self) -> None:
        """Stop keeping leases alive and give them all up."""


class Store(Protocol):
    """A ledger backend: one database, opened (and migrated to the current schema) by its
    constructor, ``StoreClass(target, options)``.

    The constructor raises ConfigurationError when the target is not a ledger, is of a newer
    schema (:func:`~asyncjobs._ledger._schema.newer_schema`), or cannot be reached or written;
    it changes nothing then. Running a statement raises LedgerError when the database fails while
    in use, a database that turned read-only included (a failover to a standby, a full disk): its
    callers ride that out. ConfigurationError is for a write to a store *opened* read-only.
    """

    @property
    def shared(self) -> bool:
        """Whether many machines share the ledger: polls then take leases (see :attr:`leases`)."""

    @property
    def path(self) -> Path | None:
        """The file of the ledger, when it is one."""

    @property
    def url(self) -> str | None:
        """The ledger's URL as it may be shown (no password), when it has one."""

    @property
    def leases(self) -> Leases | None:
        """The leases of this store's ledger object; ``None`` on a backend that is not shared."""

    @property
    def clock(self) -> str:
        """An SQL expression of the database's clock, in seconds since the epoch (request
        budgets are paced on it, so that every machine on a shared ledger reads one clock)."""

    @property
    def statements(self) -> int:
        """How many statements were sent to the database server, a transaction's ``BEGIN`` and
        ``COMMIT`` included (0 where nothing is counted)."""

    @property
    def notice(self) -> str | None:
        """An SQL expression over a ``jobs`` row's ``provider`` and ``job_id`` that tells every
        subscriber the job changed once the statement commits (PostgreSQL: ``pg_notify``), where
        statements may hold data-modifying ``WITH`` clauses: then a look is written in one
        statement. ``None`` elsewhere: a look is written in a transaction (:meth:`tx`, with
        :meth:`notify`)."""

    def describe(self) -> str:
        """The ledger's name in a repr or a message (never a password)."""

    def read(self, sql: str, args: Args = ()) -> list[Row]:
        """Run one read (the ledger's dialect) outside any transaction; its rows."""

    def tx(self) -> contextlib.AbstractContextManager[Executor]:
        """A write transaction: committed when the block ends, rolled back when it raises."""

    def write(self, sql: str, args: Args = ()) -> list[Row]:
        """Run one write (the ledger's dialect) as a transaction of its own, in one round trip
        where the backend can; its rows (``RETURNING``), none when it returns none."""

    def notify(self, db: Executor, provider: str, job_id: str) -> None:
        """Tell other processes (with the transaction ``db``) that a job changed, where the backend
        can; nothing where readers see changes by themselves."""

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(provider, job_id)`` whenever another process records a change of a job;
        best effort (nothing on a backend without notifications)."""

    def unsubscribe(self, callback: Callable[[str, str], None]) -> None:
        """Stop calling ``callback``."""

    def wait_changed(self, timeout: float) -> None:
        """Return as soon as another connection may have committed a change, or after ``timeout``
        seconds."""

    def close(self) -> None:
        """Give up the leases and close the connections (idempotent)."""


#: What a backend's entry point names: called with the target (a path, or the URL as given) and
#: the options, it returns the open store.
StoreClass = Callable[[str, StoreOptions], Store]
