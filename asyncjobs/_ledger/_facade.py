"""The ledger's facade, :class:`Ledger`: a record of every job submitted, written before the submit
request leaves.

It is what ``list`` returns for providers with no list endpoint, what lets a job be picked up after a
crash or a kernel restart, and the proof that no job id is lost. It never stores a secret: parameters
are stored as described by the provider (a source is its path or URL, never its content), and error
messages are stored as the client's redactor left them.

The facade holds the ledger's logic (which rows to write, when a write is needed); a backend's
:class:`~asyncjobs._ledger._store.Store`, chosen by the target's URL scheme, holds the database.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncjobs import _tally
from asyncjobs._models import JobInfo, Status
from asyncjobs.errors import ConfigurationError, LedgerError

from ._backends import PATH_BACKEND, backend_of, store_class
from ._rows import (
    ENTRY_COLUMNS,
    INFO_COLUMNS,
    USAGE_GROUPS,
    LedgerEntry,
    SubmitState,
    decode_entries,
    decode_infos,
    from_timestamp,
    info_values,
    storable,
    traceparent_or_none,
)
from ._store import Args, Executor, Leases, Row, Store, StoreOptions

if TYPE_CHECKING:
    from ._reports import BudgetUse, Usage

__all__ = ["LEASE_SECONDS", "Ledger", "default_home"]

#: How long a lease lasts without being kept alive, unless set (``$ASYNCJOBS_LEASE_SECONDS``).
LEASE_SECONDS = 30.0

#: Jobs whose last written status a ledger object remembers, to skip even the read of a status
#: seen again unchanged (past it, an unchanged status still costs no write: see :meth:`Ledger.seen`).
_SEEN_MEMORY = 10_000


def default_home() -> Path:
    """The folder of asyncjobs' data: ``$ASYNCJOBS_HOME``, else the platform's user data folder."""
    env = os.environ.get("ASYNCJOBS_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "asyncjobs"


class Ledger:
    """The ledger: SQLite at a path (the default, one machine), or PostgreSQL at a URL (shared by
    many machines). Both behave alike behind this one interface.

    Args:
        target: a path (``str`` or ``os.PathLike``) of a SQLite file, created with its folder when
            missing; or a ``postgresql://`` (``postgres://``) URL, any libpq URI, handed to psycopg
            as it is (Unix sockets with ``?host=/path``); or a URL of another backend installed under
            the entry-point group ``asyncjobs.ledgers``, by its scheme. Anything else (an unknown
            scheme, a libpq ``key=value`` string, an empty string) is refused, never made into a
            file of that name.
        read_only: open an existing ledger for reading only (one in a folder this user cannot write,
            for example): listing works, and any write raises ConfigurationError.
        lease_seconds: on PostgreSQL, how long a poller's lease of a job lasts without being kept
            alive (``$ASYNCJOBS_LEASE_SECONDS``, else 30): a crashed poller's jobs are taken over
            after it.

    Raises:
        ConfigurationError: the target is not a ledger, is from a newer asyncjobs, cannot be written
            or reached. Nothing is changed in it then.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        read_only: bool = False,
        lease_seconds: float | None = None,
    ) -> None:
        self._target = target
        # (provider, job id) -> the JobInfo this object last wrote or found unchanged: a shortcut
        # past the read that :meth:`seen` otherwise makes (forgetting one costs a read, not a write)
        self._written: dict[tuple[str, str], JobInfo] = {}
        # (provider, job id) -> when a claim read the job's entry, and the entry: what the job's
        # first poll reads (the claim read it an instant ago, and the lease keeps others off)
        self._claimed: dict[tuple[str, str], tuple[float, LedgerEntry]] = {}
        self._places_made: set[tuple[str, int]] = set()  # budget places this object made sure of
        backend, where = backend_of(target)
        #: this object's name as a lease holder: host, process, and a random part
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self.lease_seconds = _lease_seconds(lease_seconds)
        options = StoreOptions(
            read_only=read_only, holder=self.holder, lease_seconds=self.lease_seconds
        )
        self._store: Store = store_class(backend)(where, options)
        self._leases: Leases | None = self._store.leases
        self._closed = False
        #: the ledger's file (SQLite), else ``None``
        self.path: Path | None = self._store.path
        #: the ledger's URL without its password (PostgreSQL and other URL backends), else ``None``
        self.url: str | None = self._store.url

    @classmethod
    def open(
        cls, target: str | os.PathLike[str] | None = None, *, read_only: bool = False
    ) -> Ledger:
        """The ledger at ``target`` (a path or a URL, as for :class:`Ledger`); ``None`` means
        ``$ASYNCJOBS_LEDGER`` when set, else the default SQLite file in :func:`default_home`.

        Raises:
            ConfigurationError: as for :class:`Ledger`.
        """
        if target is None:
            target = os.environ.get("ASYNCJOBS_LEDGER") or None
            if target is None:
                return cls.default(read_only=read_only)
        return cls(target, read_only=read_only)

    @staticmethod
    def is_url(target: str | os.PathLike[str]) -> bool:
        """Whether ``target`` names a ledger by URL (``postgresql://``, or another installed
        backend's scheme) rather than a SQLite file by path.

        Raises:
            ConfigurationError: ``target`` is neither a path nor a URL of an installed backend.
        """
        return backend_of(target)[0] != PATH_BACKEND

    @property
    def shared(self) -> bool:
        """Whether many machines share this ledger (PostgreSQL): polls then take leases."""
        return self._store.shared

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed ledger reads and writes nothing)."""
        return self._closed

    @property
    def statements(self) -> int:
        """How many statements this object sent to the database server (PostgreSQL; 0 for a
        SQLite file): what a worker reports of its cost."""
        return self._store.statements

    def _tx(self) -> contextlib.AbstractContextManager[Executor]:
        return self._store.tx()

    @classmethod
    def default(cls, *, read_only: bool = False) -> Ledger:
        """The ledger in :func:`default_home`.

        Raises:
            ConfigurationError: also when ``ASYNCJOBS_HOME`` (or the data folder) is a file.
        """
        home = default_home()
        if home.exists() and not home.is_dir():
            where = (
                "ASYNCJOBS_HOME points at"
                if os.environ.get("ASYNCJOBS_HOME")
                else "the data folder is"
            )
            raise ConfigurationError(
                f"{where} a file, not a folder: {str(home)!r}. Point ASYNCJOBS_HOME at a folder "
                "(it is created when missing)."
            )
        return cls(home / "ledger.sqlite3", read_only=read_only)

    def reopened(self, *, read_only: bool = False) -> Ledger:
        """A new :class:`Ledger` object on the same file or database."""
        return Ledger(self._target, read_only=read_only, lease_seconds=self.lease_seconds)

    def __repr__(self) -> str:
        return f"<Ledger {self._store.describe()}>"

    def close(self) -> None:
        """Give up this object's leases and close its connections (idempotent)."""
        self._closed = True
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- leases and notifications (a shared ledger) ---------------------------------------------

    def lease(self, provider: str, job_id: str, kind: str) -> bool:
        """Take, or keep, this object's lease of a job before polling it: ``True`` when this object
        may poll it, ``False`` when another poller holds it (then wait on the ledger instead). On a
        ledger that is not shared, always ``True`` (nothing is written).

        Raises:
            LedgerError: the ledger stayed unreachable (no lease: do not poll).
        """
        if self._leases is None:
            return True
        return self._leases.take(provider, job_id, kind)

    def touch(self, provider: str, job_id: str, *, confirm: bool = True) -> bool:
        """Mark a leased job as still being polled (its lease is kept alive); ``False`` when this
        object no longer holds it (it ran out and another poller took it). Nothing is sent unless
        the lease was not renewed for half its length and ``confirm`` is true (before a poll):
        then it is confirmed (kept) first, and ``False`` also when the ledger cannot be reached."""
        if self._leases is None:
            return True
        return self._leases.touch(provider, job_id, confirm=confirm)

    def release(self, provider: str, job_id: str) -> None:
        """Give up this object's lease of a job (nothing when it holds none)."""
        if self._leases is not None:
            self._leases.release(provider, job_id)

    def claim(self, providers: Iterable[str], limit: int) -> list[JobInfo]:
        """Lease up to ``limit`` pending jobs of ``providers`` (all when empty) that nobody
        polls, oldest first (a worker's intake; ``FOR UPDATE SKIP LOCKED``, so workers never
        block on each other). A ledger that is not shared has no leases to claim.

        Raises:
            ConfigurationError: the ledger is not shared (SQLite).
        """
        if self._leases is None:
            raise ConfigurationError(
                f"workers need a shared ledger: {self!r} is SQLite, one machine's file. Set "
                "ASYNCJOBS_LEDGER (or --ledger) to a postgresql:// URL."
            )
        entries = self._leases.claim(list(providers), limit)
        now = time.monotonic()
        if self._claimed:  # those never read (released unpolled) go once stale, not kept
            fresh = self.lease_seconds / 2
            # in place, from a copy: pool threads pop from it meanwhile (get)
            for job, (when, _) in list(self._claimed.items()):
                if now - when >= fresh:
                    self._claimed.pop(job, None)
        for entry in entries:
            self._claimed[(entry.provider, entry.job_id or "")] = (now, entry)
        return [entry.info for entry in entries if entry.info is not None]

    def held(self) -> set[tuple[str, str]]:
        """The jobs ``(provider, job id)`` this object holds leases of."""
        return set() if self._leases is None else self._leases.jobs()

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Have ``callback(provider, job_id)`` called (from a listener thread) whenever another
        process records a change of a job; best effort, so callers re-check on a timer too. On a
        ledger without notifications (SQLite), nothing is called."""
        self._store.subscribe(callback)

    def unsubscribe(self, callback: Callable[[str, str], None]) -> None:
        """Stop calling ``callback`` (see :meth:`subscribe`)."""
        self._store.unsubscribe(callback)

    def wait_changed(self, timeout: float) -> None:
        """Return as soon as another connection may have committed a change to the ledger (SQLite:
        ``PRAGMA data_version`` moved; PostgreSQL: a notification arrived), or after ``timeout``
        seconds, whichever is first."""
        self._store.wait_changed(timeout)

    # -- writing ----------------------------------------------------------------------------------

    def begin(
        self,
        provider: str,
        kind: str,
        params: Mapping[str, Any],
        job_id: str | None = None,
        *,
        source: str | None = None,
        attempts: Sequence[Mapping[str, Any]] = (),
        traceparent: str | None = None,
        ref: str | None = None,
    ) -> str:
        """Record a submission before its request leaves; return the entry's key. ``source`` is
        the path or URL a resubmit reads again; ``attempts`` what came before it (see
        :attr:`LedgerEntry.attempts`); ``traceparent`` the W3C ``traceparent`` of the submit's
        trace, kept only when it is a well-formed one (anything else is kept as ``None``, never
        refused: see :attr:`LedgerEntry.traceparent`); ``ref`` the caller's own reference of the
        submission (:meth:`find_ref` finds it again)."""
        import uuid  # here: a status (the ledger's first use) makes no key

        key = uuid.uuid4().hex
        now = time.time()
        if job_id is not None:
            self._written.pop((provider, job_id), None)
        with self._tx() as db:
            if job_id is not None:
                self._supersede(db, provider, job_id, key)
            db.execute(
                "INSERT INTO jobs (key, provider, job_id, kind, params, state, created_at,"
                " updated_at, source, attempts, traceparent, ref)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    provider,
                    job_id,
                    kind,
                    storable(json.dumps(params, default=str)),
                    SubmitState.SUBMITTING,
                    now,
                    now,
                    storable(source),
                    storable(json.dumps(list(map(dict, attempts)), default=str))
                    if attempts
                    else None,
                    traceparent_or_none(traceparent),
                    None if ref is None else storable(ref),
                ),
            )
        return key

    def issued(self, key: str, info: JobInfo) -> None:
        """Record that the submission ``key`` became the job ``info``."""
        with self._tx() as db:
            self._supersede(db, info.provider, info.id, key)
            db.execute(
                "UPDATE jobs SET job_id=?, state=? WHERE key=?",
                (info.id, SubmitState.SUBMITTED, key),
            )
            self._write_info(db, key, info)
        self._remember(info)

    @staticmethod
    def _supersede(db: Executor, provider: str, job_id: str, key: str) -> None:
        # A provider may issue an id again once it forgot the job that had it (a restarted sandbox,
        # an id reused after expiry): the older entry gives the id up, and says so.
        db.execute(
            "UPDATE jobs SET job_id=NULL, state=?, error=?, updated_at=? WHERE provider=? AND"
            " job_id=? AND key<>?",
            (
                SubmitState.SUPERSEDED,
                f"{provider} issued the job id {job_id!r} again to a newer job; this one is forgotten",
                time.time(),
                provider,
                job_id,
                key,
            ),
        )

    def failed(self, key: str, error: str, *, ambiguous: bool) -> None:
        """Record that the submission ``key`` failed: refused (no job), or ``ambiguous`` (outcome unknown)."""
        state = SubmitState.UNKNOWN if ambiguous else SubmitState.REJECTED
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state=?, error=?, updated_at=? WHERE key=?",
                (state, storable(error), time.time(), key),
            )

    def seen(self, info: JobInfo) -> None:
        """Record a status seen for a job; adds the job when the ledger does not know it yet.

        A status seen again unchanged in every field is never written, whichever process or
        ``Ledger`` object wrote it first: the comparison is made in SQL (a read, no write lock),
        and the write itself is conditional, so polling a pending job costs no write.
        """
        self.seen_many((info,))

    def seen_many(self, infos: Iterable[JobInfo]) -> None:
        """Record many looks at once: those that changed something are written in one transaction;
        unchanged ones cost no write (see :meth:`seen`)."""
        changed: list[tuple[JobInfo, dict[str, Any]]] = []
        one_statement = self._store.notice is not None
        for info in infos:
            if self._written.get((info.provider, info.id)) == info:
                continue  # this object wrote (or read) exactly this last: not even a read
            values = info_values(info)
            if one_statement:
                found, written = self._write_look(info, values)
                if found:
                    self._wrote(info, written)
                    continue
            else:
                row = self._read(
                    f"SELECT key, ({_DIFFERS}) FROM jobs WHERE provider=:provider AND"
                    " job_id=:job_id",
                    values,
                )
                if row and not row[0][1]:
                    self._remember(info)
                    continue
            changed.append((info, values))  # to write, or a job the ledger does not know yet
        if not changed:
            return
        with self._tx() as db:
            for info, values in changed:
                self._write_info(db, _row_of(db, info), info, values)
        for info, _ in changed:
            self._wrote(info, True)

    def _wrote(self, info: JobInfo, written: bool) -> None:
        """``info`` is what the ledger holds now; a finished job's lease ended with its write."""
        self._remember(info)
        if written and info.finished and self._leases is not None:
            self._leases.forget(info.provider, info.id)

    def _write_look(self, info: JobInfo, values: dict[str, Any]) -> tuple[bool, bool]:
        """Write a look in one statement (a backend with :attr:`Store.notice`): the conditional
        update of :meth:`_write_info`, its history row and its notification, together. Whether
        the ledger has the job, and whether the look changed its row."""
        polls, retries = _tally.take(info.provider, info.id)
        values = dict(values, now=time.time(), me=self.holder, polls=polls, retries=retries)
        rows = self._store.write(
            "WITH old AS (SELECT key, status AS was, raw_status AS raw_was FROM jobs WHERE"
            " provider=:provider AND job_id=:job_id FOR UPDATE),"
            f" written AS (UPDATE jobs SET {_SET_LOOK} FROM old WHERE jobs.key = old.key AND"
            f" ({_DIFFERS}){_MINE} RETURNING jobs.key, jobs.provider, jobs.job_id, jobs.status,"
            " jobs.raw_status, old.was, old.raw_was),"
            " history AS (INSERT INTO statuses (key, seen_at, status, raw_status) SELECT key,"
            " :now, status, raw_status FROM written WHERE status IS NOT was OR raw_status IS NOT"
            " raw_was)"
            " SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM written),"
            f" (SELECT count(*) FROM (SELECT {self._store.notice} FROM written) AS told)",
            values,
        )
        found, written, _ = rows[0]
        if not written:
            _tally.giveback(info.provider, info.id, polls, retries)
        return bool(found), bool(written)

    def cancelled(self, info: JobInfo) -> None:
        """Record that the job ``info`` (its status as it is now that it is cancelled) was cancelled:
        later looks read it from here instead of asking a provider that has deleted it."""
        with self._tx() as db:
            key = _row_of(db, info)
            # whoever holds the job's lease, a cancel here is the last word
            self._write_info(db, key, info, force=True)
            db.execute(
                "UPDATE jobs SET state=?, lease_holder=NULL, lease_until=NULL WHERE key=?",
                (SubmitState.CANCELLED, key),
            )
        self._remember(info)
        if self._leases is not None:
            self._leases.forget(info.provider, info.id)

    def _remember(self, info: JobInfo) -> None:
        # Plain dict operations (atomic under the GIL): a race costs at most one extra write.
        written = self._written
        job = (info.provider, info.id)
        written.pop(job, None)
        written[job] = info
        if len(written) > _SEEN_MEMORY:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del written[next(iter(written))]

    def _write_info(
        self,
        db: Executor,
        key: str,
        info: JobInfo,
        values: dict[str, Any] | None = None,
        *,
        force: bool = False,
    ) -> None:
        """Write ``info`` into the row ``key`` only where it changes something (conditional in
        SQL), and add it to the history only where the status or the raw status changed.

        Unless ``force``, a job whose lease another holder has is left to that holder (a poller
        whose lease ran out and was taken over cannot write over the new holder's looks). A
        finished job's lease ends with the write.

        A look that says ``pending`` is never written over a job recorded finished (``done`` or
        ``failed``): it is an older look (a poller that lost its lease mid-poll answers after the
        new holder saw the end), and it records nothing, not even history. The condition is in
        the SQL of both statements, so it holds whichever writer commits first."""
        polls, retries = _tally.take(info.provider, info.id)
        values = dict(
            values or info_values(info),
            key=key,
            now=time.time(),
            me=self.holder,
            polls=polls,
            retries=retries,
        )
        mine = f" AND {_NOT_STALE}" if force else _MINE
        db.execute(
            "INSERT INTO statuses (key, seen_at, status, raw_status) SELECT key, :now, :status,"
            " :raw_status FROM jobs WHERE key=:key AND (status IS NOT :status OR raw_status IS NOT"
            f" :raw_status){mine}",
            values,
        )
        written = db.execute(
            f"UPDATE jobs SET {_SET_LOOK} WHERE key=:key AND ({_DIFFERS}){mine}", values
        )
        if written.rowcount:
            self._store.notify(db, info.provider, info.id)
        else:
            _tally.giveback(info.provider, info.id, polls, retries)

    # -- reading ----------------------------------------------------------------------------------

    _COLUMNS = ENTRY_COLUMNS

    def _read(self, sql: str, args: Args = ()) -> list[Row]:
        return self._store.read(sql, args)

    def get(self, provider: str, job_id: str) -> LedgerEntry | None:
        """The entry of ``job_id`` at ``provider``, or ``None``. The first read of a job this
        object just claimed is the claim's own (no statement)."""
        if self._claimed:
            claimed = self._claimed.pop((provider, job_id), None)
            if claimed is not None and time.monotonic() - claimed[0] < self.lease_seconds / 2:
                return claimed[1]
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM jobs WHERE provider=? AND job_id=?", (provider, job_id)
        )
        return decode_entries(rows)[0] if rows else None

    def find(self, job_id: str) -> list[LedgerEntry]:
        """Every entry with the job id ``job_id``, at any provider (e.g. to say which provider a job
        belongs to when it was asked of the wrong one)."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM jobs WHERE job_id=? ORDER BY created_at, rowid", (job_id,)
        )
        return decode_entries(rows)

    def find_ref(self, provider: str, ref: str) -> LedgerEntry | None:
        """The newest submission to ``provider`` recorded with the caller's reference ``ref`` (see
        :meth:`begin`), or ``None``."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM jobs WHERE provider=? AND ref=?"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (provider, storable(ref)),
        )
        return decode_entries(rows)[0] if rows else None

    def entries(
        self,
        *,
        provider: str | None = None,
        status: Status | str | None = None,
        kind: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        """Entries, oldest first, filtered by provider, status, kind, submit state and the time
        they were recorded (``since``, inclusive); ``limit`` keeps the most recent ones."""
        return list(
            self.iter_entries(
                provider=provider, status=status, kind=kind, state=state, since=since, limit=limit
            )
        )

    def iter_entries(
        self,
        *,
        provider: str | None = None,
        status: Status | str | None = None,
        kind: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        batch: int = 1000,
    ) -> Iterator[LedgerEntry]:
        """:meth:`entries` as they are read, ``batch`` rows at a time (memory stays flat over any
        number of jobs; each batch is its own short read, so writers are never held up)."""
        where, args = self._where(provider, status, kind, state, since)
        first = 0
        if limit is not None:
            if limit <= 0:
                return
            # the most recent `limit` entries: start after the row before the first of them
            sql = f"SELECT rowid FROM jobs{where} ORDER BY rowid DESC LIMIT 1 OFFSET ?"
            rows = self._read(sql, [*args, limit])
            first = rows[0][0] if rows else 0
        after = first
        while True:
            page = self._read(
                f"SELECT rowid, {self._COLUMNS} FROM jobs"
                + (f"{where} AND rowid > ?" if where else " WHERE rowid > ?")
                + " ORDER BY rowid LIMIT ?",  # the order they were recorded in
                [*args, after, batch],
            )
            if not page:
                return
            after = page[-1][0]
            yield from decode_entries([row[1:] for row in page])
            if len(page) < batch:
                return

    def page(
        self,
        *,
        provider: str | None = None,
        status: Status | str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        search: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
        oldest: bool = False,
    ) -> list[tuple[int, LedgerEntry]]:
        """One page of entries, newest first (``oldest``: oldest first), each with its place in
        the ledger (the order it was recorded in): those recorded before the place ``before``, or
        after the place ``after`` (the next page, or newer ones as they come), filtered as
        :meth:`entries` is and by ``search``, the start of a job id or of the ledger's key. Read
        straight from the ledger's order, so the first page of a million entries costs what a page
        of a hundred does."""
        where, args = self._where(provider, status, kind, None, since)
        clauses = [where.removeprefix(" WHERE ")] if where else []
        if search:
            escaped = search.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            clauses.append("(job_id LIKE ? ESCAPE '!' OR key = ?)")
            args += [escaped + "%", search]
        if before is not None:
            clauses.append("rowid < ?")
            args.append(before)
        if after is not None:
            clauses.append("rowid > ?")
            args.append(after)
        sql = f"SELECT rowid, {self._COLUMNS} FROM jobs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        order = "ASC" if oldest else "DESC"
        rows = self._read(sql + f" ORDER BY rowid {order} LIMIT ?", [*args, max(0, limit)])
        entries = decode_entries([row[1:] for row in rows])
        return [(int(row[0]), entry) for row, entry in zip(rows, entries, strict=True)]

    def by_keys(self, keys: Iterable[str]) -> list[LedgerEntry]:
        """The entries of the ledger's keys ``keys`` that exist (a page's rows, looked at again)."""
        wanted = list(dict.fromkeys(keys))[:500]
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        return decode_entries(
            self._read(f"SELECT {self._COLUMNS} FROM jobs WHERE key IN ({marks})", wanted)
        )

    def status_counts(self) -> dict[str, dict[str, int]]:
        """How many jobs of each provider are in each status (``"unknown"``: no look yet)."""
        rows = self._read("SELECT provider, status, COUNT(*) FROM jobs GROUP BY provider, status")
        counts: dict[str, dict[str, int]] = {}
        for provider, status, n in rows:
            counts.setdefault(str(provider), {})[str(status or "unknown")] = int(n)
        return counts

    def durations(self, provider: str, *, limit: int = 2000) -> list[float]:
        """Seconds from submission to end of ``provider``'s last ``limit`` finished jobs that say
        both, newest first."""
        rows = self._read(
            "SELECT completed_at - submitted_at FROM jobs WHERE provider=? AND completed_at IS NOT"
            " NULL AND submitted_at IS NOT NULL ORDER BY rowid DESC LIMIT ?",
            (provider, limit),
        )
        return [max(0.0, float(r[0])) for r in rows if r[0] is not None]

    def timeline(self, since: datetime) -> list[tuple[float, float | None, str | None]]:
        """When each job recorded since ``since`` was submitted and when it ended (``None``
        while it has not), and its status: what the charts of jobs over time are drawn from."""
        rows = self._read(
            "SELECT created_at, completed_at, status FROM jobs WHERE created_at >= ?"
            " ORDER BY rowid DESC LIMIT 100000",
            (since.timestamp(),),
        )
        return [(float(c), None if e is None else float(e), s) for c, e, s in rows]

    def poll_counts(self) -> dict[str, tuple[float, float, int]]:
        """Per provider, over its finished jobs whose polls were counted (schema 9 on): the mean
        status requests per job, the mean requests sent again per job, and how many jobs that is.
        The counts are a floor (see :mod:`asyncjobs._tally`)."""
        rows = self._read(
            "SELECT provider, AVG(polls), AVG(COALESCE(retries, 0)), COUNT(*) FROM jobs WHERE"
            " polls IS NOT NULL AND status IN ('done', 'failed') GROUP BY provider"
        )
        return {str(p): (float(a or 0), float(r or 0), int(n)) for p, a, r, n in rows}

    def job_counts(self, provider: str, job_id: str) -> tuple[int, int] | None:
        """A job's status requests and requests sent again, as recorded (``None``: not counted)."""
        rows = self._read(
            "SELECT polls, retries FROM jobs WHERE provider=? AND job_id=? AND polls IS NOT NULL",
            (provider, job_id),
        )
        return (int(rows[0][0]), int(rows[0][1] or 0)) if rows else None

    def holders(self) -> list[tuple[str, int, datetime | None]]:
        """On a shared ledger, who holds leases of jobs: each holder (a worker, ``host:pid:tag``),
        how many it holds, and until when its latest runs (the database's clock)."""
        rows = self._read(
            "SELECT lease_holder, COUNT(*), MAX(lease_until) FROM jobs WHERE lease_holder IS NOT"
            " NULL GROUP BY lease_holder ORDER BY lease_holder"
        )
        return [(str(h), int(n), from_timestamp(u) if u else None) for h, n, u in rows]

    def count(
        self,
        *,
        provider: str | None = None,
        status: Status | str | None = None,
        kind: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """How many entries :meth:`entries` would return (without ``limit``)."""
        where, args = self._where(provider, status, kind, state, since)
        return int(self._read(f"SELECT COUNT(*) FROM jobs{where}", args)[0][0])

    @staticmethod
    def _where(
        provider: str | None,
        status: Status | str | None,
        kind: str | None,
        state: str | None,
        since: datetime | None,
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("provider", provider),
            ("kind", kind),
            ("state", state),
            ("status", None if status is None else Status(status).value),
        ):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if since is not None:
            where.append("created_at>=?")
            args.append(since.timestamp())
        return (" WHERE " + " AND ".join(where) if where else ""), args

    _INFO_COLUMNS = INFO_COLUMNS

    @staticmethod
    def _info_where(provider: str | None, status: Status | str | None) -> tuple[str, list[Any]]:
        sql = " WHERE job_id IS NOT NULL AND status IS NOT NULL"
        args: list[Any] = []
        if provider is not None:
            sql += " AND provider=?"
            args.append(provider)
        if status is not None:
            sql += " AND status=?"
            args.append(Status(status).value)
        return sql, args

    def infos(
        self, *, provider: str | None = None, status: Status | str | None = None
    ) -> list[JobInfo]:
        """The last :class:`JobInfo` seen of every job that has an id, in the order recorded --
        what a listing of jobs needs, without the rest of each entry (faster than :meth:`entries`)."""
        where, args = self._info_where(provider, status)
        rows = self._read(f"SELECT {self._INFO_COLUMNS} FROM jobs{where} ORDER BY rowid", args)
        return decode_infos(rows)

    def iter_infos(
        self,
        *,
        provider: str | None = None,
        status: Status | str | None = None,
        offset: int = 0,
        limit: int | None = None,
        batch: int = 2000,
    ) -> Iterator[JobInfo]:
        """:meth:`infos` as they are read, ``batch`` rows at a time (memory stays flat), from the
        ``offset``-th, at most ``limit`` of them."""
        where, args = self._info_where(provider, status)
        after: int | None = None
        left = limit
        while left is None or left > 0:
            size = batch if left is None else min(batch, left)
            if after is None:
                sql = f"SELECT rowid, {self._INFO_COLUMNS} FROM jobs{where} ORDER BY rowid"
                page = self._read(sql + " LIMIT ? OFFSET ?", [*args, size, offset])
            else:
                sql = f"SELECT rowid, {self._INFO_COLUMNS} FROM jobs{where} AND rowid > ?"
                page = self._read(sql + " ORDER BY rowid LIMIT ?", [*args, after, size])
            if not page:
                return
            after = page[-1][0]
            if left is not None:
                left -= len(page)
            yield from decode_infos([row[1:] for row in page])
            if len(page) < size:
                return

    def count_infos(
        self, *, provider: str | None = None, status: Status | str | None = None
    ) -> int:
        """How many :class:`JobInfo` :meth:`infos` would return."""
        if provider is None and status is None:
            # the jobs with an id (the partial index) less the few without a status yet: two
            # index counts, not a scan of the table
            sql = (
                "SELECT (SELECT COUNT(*) FROM jobs WHERE job_id IS NOT NULL) -"
                " (SELECT COUNT(*) FROM jobs WHERE status IS NULL AND job_id IS NOT NULL)"
            )
            return int(self._read(sql)[0][0])
        where, args = self._info_where(provider, status)
        return int(self._read(f"SELECT COUNT(*) FROM jobs{where}", args)[0][0])

    # -- request budgets --------------------------------------------------------------------------

    def take_slot(
        self, key: str, interval: float, max_wait: float, *, rate: float | None = None
    ) -> float | None:
        """Take the next slot of the budget ``key``'s pace (``interval`` seconds after the last one
        given out, or now when it is idle, and never before a pause ends), in one statement on the
        database's clock; the seconds to wait for it. ``None``, and nothing taken, when the slot
        is more than ``max_wait`` seconds away. ``rate``: the budget's requests per second, as
        :meth:`budgets` shows it (``1 / interval`` when not given).

        Raises:
            LedgerError: the ledger failed.
        """
        now = self._store.clock
        after = f"budgets.slot + {_number(interval)}"
        slot = _greatest(_greatest(after, now), "budgets.paused_until")
        bound = "1e300" if not math.isfinite(max_wait) else _number(max(0.0, max_wait))
        sql = (
            "INSERT INTO budgets (key, slot, paused_until, waited, taken, rate)"
            f" VALUES (?, {now}, 0, 0, 1, ?)"
            f" ON CONFLICT (key) DO UPDATE SET slot = {slot},"
            f" waited = budgets.waited + ({slot} - {now}), taken = budgets.taken + 1,"
            " rate = excluded.rate"
            f" WHERE {slot} - {now} <= {bound}"
            f" RETURNING slot - {now}"
        )
        rows = self._store.write(sql, (key, 1.0 / interval if rate is None else rate))
        return None if not rows else max(0.0, float(rows[0][0]))

    def pause_budget(self, key: str, seconds: float) -> None:
        """No slot of the budget ``key`` is given out before ``seconds`` from now (a rate-limited
        answer), for everyone sharing it.

        Raises:
            LedgerError: the ledger failed.
        """
        now = self._store.clock
        until = f"{now} + {_number(seconds)}"
        self._store.write(
            "INSERT INTO budgets (key, slot, paused_until, waited, taken)"
            f" VALUES (?, {now}, {until}, 0, 0) ON CONFLICT (key) DO UPDATE SET"
            f" paused_until = {_greatest('budgets.paused_until', until)}",
            (key,),
        )

    def take_place(self, key: str, places: int, hold: float) -> str | None:
        """Take one of the ``places`` concurrent places of the budget ``key`` for a request, held
        at most ``hold`` seconds (a process that dies gives it up so), in one statement; the
        place's token for :meth:`give_place`, or ``None`` when every place is taken.

        Raises:
            LedgerError: the ledger failed.
        """
        import uuid  # here: a status (the ledger's first use) takes no place

        now = self._store.clock
        token = uuid.uuid4().hex
        free = f"n < {int(places)} AND (holder IS NULL OR until < {now})"
        sql = (
            f"UPDATE budget_places SET holder=?, until={now} + {_number(hold)} WHERE {free} AND"
            f" place = (SELECT place FROM budget_places WHERE key=? AND {free} ORDER BY n LIMIT 1)"
            " RETURNING place"
        )
        rows = self._store.write(sql, (token, key))
        if not rows and (key, places) not in self._places_made:
            self._store.write(
                "INSERT INTO budget_places (place, key, n) VALUES "
                + ", ".join("(?, ?, ?)" for _ in range(places))
                + " ON CONFLICT DO NOTHING",
                [v for n in range(places) for v in (f"{key}#{n}", key, n)],
            )
            self._places_made.add((key, places))
            rows = self._store.write(sql, (token, key))
        return f"{rows[0][0]} {token}" if rows else None

    def give_place(self, token: str) -> None:
        """Give up a place taken with :meth:`take_place`.

        Raises:
            LedgerError: the ledger failed (the place is given up when its hold runs out).
        """
        place, _, holder = token.rpartition(" ")
        self._store.write(
            "UPDATE budget_places SET holder=NULL, until=NULL WHERE place=? AND holder=?",
            (place, holder),
        )

    def budget_paused(self, key: str) -> float:
        """Seconds until the pause of the budget ``key`` ends (0 when it is not paused), on the
        database's clock: one read.

        Raises:
            LedgerError: the ledger failed.
        """
        now = self._store.clock
        rows = self._read(f"SELECT paused_until - {now} FROM budgets WHERE key=?", (key,))
        return max(0.0, float(rows[0][0] or 0.0)) if rows else 0.0

    def budgets(self) -> list[BudgetUse]:
        """Every budget this ledger paces: its name, requests let through and seconds they waited
        in all, its rate (per second), and until when it is paused (``None`` when it is not)."""
        from ._reports import BudgetUse  # here: opening a ledger does not build the report rows

        rows = self._read(
            f"SELECT key, taken, waited, rate, paused_until, {self._store.clock} FROM budgets"
            " ORDER BY key"
        )
        return [
            BudgetUse(
                key=str(k),
                taken=int(taken or 0),
                waited=float(waited or 0.0),
                rate=None if rate is None else float(rate),
                paused_until=from_timestamp(float(until)) if until and until > now else None,
            )
            for k, taken, waited, rate, until, now in rows
        ]

    def usage(self, *, since: datetime | None = None, by: str = "provider") -> list[Usage]:
        """What the jobs submitted since ``since`` (all when ``None``) cost, summed per unit and
        per ``by``: ``"provider"``, ``"kind"`` or ``"day"`` (the UTC day the job was submitted).
        Jobs whose cost is not known (not finished, or a provider that does not say) are counted
        in rows whose ``unit`` is ``None``. Sorted by group, then unit."""
        from ._reports import Usage  # here: opening a ledger does not build the report rows

        if by not in USAGE_GROUPS:
            raise ValueError(f"by must be one of {', '.join(USAGE_GROUPS)}, not {by!r}")
        where, args = " WHERE job_id IS NOT NULL", []
        if since is not None:
            where += " AND created_at >= ?"
            args.append(since.timestamp())
        if by == "day":
            rows = self._read(f"SELECT created_at, cost_unit, cost_amount FROM jobs{where}", args)
            sums: dict[tuple[str, str | None], list[float]] = {}
            for created, unit, amount in rows:
                day = datetime.fromtimestamp(created, timezone.utc).date().isoformat()
                found = sums.setdefault((day, unit), [0.0, 0])
                found[0] += amount or 0.0
                found[1] += 1
            grouped = [(g, u, a, int(n)) for (g, u), (a, n) in sums.items()]
        else:
            grouped = [
                (g, u, float(a or 0.0), int(n))
                for g, u, a, n in self._read(
                    f"SELECT {by}, cost_unit, SUM(cost_amount), COUNT(*) FROM jobs{where}"
                    f" GROUP BY {by}, cost_unit",
                    args,
                )
            ]
        return sorted(
            (Usage(g, u, a if u is not None else None, n) for g, u, a, n in grouped),
            key=lambda r: (r.group, r.unit is None, r.unit or ""),
        )

    def history(self, provider: str, job_id: str) -> list[tuple[datetime, Status, str | None]]:
        """Every status change seen for a job, oldest first."""
        rows = self._read(
            "SELECT s.seen_at, s.status, s.raw_status FROM statuses s JOIN jobs j ON"
            " j.key=s.key WHERE j.provider=? AND j.job_id=? ORDER BY s.seen_at, s.rowid",
            (provider, job_id),
        )
        return [(from_timestamp(t) or datetime.min, Status(s), r) for t, s, r in rows]


#: True (1) when a look (the named values of :func:`_info_values`) would change the row it is
#: compared with: the condition of every status write, so that an unchanged look writes nothing.
_DIFFERS = (
    "status IS NOT :status OR raw_status IS NOT :raw_status OR error IS NOT :error"
    " OR meta IS NOT :meta"
    " OR (:cost_amount IS NOT NULL AND (cost_amount IS NULL OR cost_amount <> :cost_amount"
    " OR cost_unit IS NOT :cost_unit))"
    " OR (:submitted_at IS NOT NULL AND (submitted_at IS NULL OR abs(submitted_at - :submitted_at) > 1e-6))"
    " OR (:started_at IS NOT NULL AND (started_at IS NULL OR abs(started_at - :started_at) > 1e-6))"
    " OR (:completed_at IS NOT NULL AND (completed_at IS NULL OR abs(completed_at - :completed_at) > 1e-6))"
    " OR (:expires_at IS NOT NULL AND (expires_at IS NULL OR abs(expires_at - :expires_at) > 1e-6))"
    " OR (:finished AND finished_seen_at IS NULL)"
)


#: True when a look may be written over the row: it says the job ended, or the row does not say
#: so yet. A ``pending`` look over a finished row is stale (see :meth:`Ledger._write_info`).
_NOT_STALE = "(:finished OR status IS NULL OR status = 'pending')"

#: The condition of a poller's write of a look (after :data:`_DIFFERS`): the job's lease is
#: nobody's or this object's, the look is not stale, and the job was not cancelled (a cancel is
#: the last word: see :meth:`Ledger.cancelled`).
_MINE = (
    f" AND (lease_holder IS NULL OR lease_holder=:me) AND {_NOT_STALE}"
    " AND (state IS NULL OR state <> 'cancelled')"
)

#: What a look writes into its row (``:now``: the time of the write); a finished job's lease ends.
_SET_LOOK = (
    "status=:status, raw_status=:raw_status, error=:error, updated_at=:now,"
    " submitted_at=COALESCE(:submitted_at, submitted_at),"
    " started_at=COALESCE(:started_at, started_at),"
    " completed_at=COALESCE(:completed_at, completed_at),"
    " expires_at=COALESCE(:expires_at, expires_at),"
    " cost_amount=COALESCE(:cost_amount, cost_amount),"
    " cost_unit=CASE WHEN :cost_amount IS NULL THEN cost_unit ELSE :cost_unit END,"
    " finished_seen_at=COALESCE(finished_seen_at, CASE WHEN :finished THEN :now END),"
    " lease_holder=CASE WHEN :finished THEN NULL ELSE lease_holder END,"
    " lease_until=CASE WHEN :finished THEN NULL ELSE lease_until END,"
    " meta=:meta,"
    " polls=CASE WHEN :polls > 0 THEN COALESCE(polls, 0) + :polls ELSE polls END,"
    " retries=CASE WHEN :polls > 0 OR :retries > 0 THEN COALESCE(retries, 0) + :retries"
    " ELSE retries END"
)


def _row_of(db: Executor, info: JobInfo) -> str:
    """The key of the job's row, added (as submitted elsewhere) when the ledger does not know the
    job; inside a transaction. Another process may add the same job at the same moment: the first
    wins, and both use its row."""
    find = "SELECT key FROM jobs WHERE provider=? AND job_id=?"
    row = db.execute(find, (info.provider, info.id)).fetchone()
    if row is None:
        import uuid  # here: a status of a job the ledger knows makes no key

        now = time.time()
        db.execute(
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, '{}', ?, ?, ?) ON CONFLICT DO NOTHING",
            (uuid.uuid4().hex, info.provider, info.id, info.kind, SubmitState.SUBMITTED, now, now),
        )
        row = db.execute(find, (info.provider, info.id)).fetchone()
        if row is None:  # pragma: no cover - inserted or found in the same transaction
            raise LedgerError(f"the ledger lost the row of {info.provider} job {info.id}")
    return str(row[0])


def _lease_seconds(value: float | None) -> float:
    if value is None:
        text = os.environ.get("ASYNCJOBS_LEASE_SECONDS")
        if not text:
            return LEASE_SECONDS
        try:
            value = float(text)
        except ValueError:
            raise ConfigurationError(
                f"ASYNCJOBS_LEASE_SECONDS must be a number of seconds, not {text!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value <= 3600:
        raise ConfigurationError(
            f"a lease lasts from 0.5 to 3600 seconds, not {value!r} (ASYNCJOBS_LEASE_SECONDS)"
        )
    return float(value)


def _number(value: float) -> str:
    """A number as an SQL literal (repr: exact, and never a placeholder's text)."""
    return repr(float(value))


def _greatest(a: str, b: str) -> str:
    """The greater of two SQL expressions, in SQL every dialect reads."""
    return f"(CASE WHEN ({a}) > ({b}) THEN ({a}) ELSE ({b}) END)"
