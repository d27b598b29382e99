"""The ledger: a SQLite record of every job submitted, written before the submit request leaves.

It is what ``list`` returns for providers with no list endpoint, what lets a job be picked up after a
crash or a kernel restart, and the proof that no job id is lost. It never stores a secret: parameters
are stored as described by the provider (a source is its path or URL, never its content), and error
messages are stored as the client's redactor left them.

The file is SQLite in WAL mode, safe for many threads and processes writing at once. Its schema has a
version (``PRAGMA user_version``) and a list of migration steps, run in one transaction when an older
ledger is opened; a ledger from a newer asyncjobs is refused, never rewritten.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from ._ledger_sqlite import COLUMNS, MIGRATIONS, SCHEMA_VERSION
from ._models import JobInfo, Status
from ._redaction import get_logger
from .errors import ConfigurationError, LedgerError

log = get_logger("asyncjobs._ledger")

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Ledger", "LedgerEntry", "SubmitState", "default_home"]

#: How long a lease lasts without being kept alive, unless set (``$ASYNCJOBS_LEASE_SECONDS``).
LEASE_SECONDS = 30.0

#: Jobs whose last written status a ledger object remembers, to skip even the read of a status
#: seen again unchanged (past it, an unchanged status still costs no write: see :meth:`Ledger.seen`).
_SEEN_MEMORY = 10_000


class SubmitState:
    """Where a submission stands in the ledger."""

    #: recorded, the request is leaving or left, no answer yet
    SUBMITTING = "submitting"
    #: the provider issued (or accepted) a job id
    SUBMITTED = "submitted"
    #: the provider refused the submit: no job exists
    REJECTED = "rejected"
    #: the answer was lost: the job may or may not exist at the provider
    UNKNOWN = "unknown"
    #: the provider later issued this job's id to another job (it had forgotten this one); the old
    #: id is kept in the entry's ``error``
    SUPERSEDED = "superseded"
    #: the job was cancelled through asyncjobs (the provider may since have forgotten it); its last
    #: status is ``failed`` with ``raw_status="cancelled"``
    CANCELLED = "cancelled"
    #: not a state the ledger writes: a row that cannot be read (an unknown status word, meta that
    #: is not JSON, text in a time column), shown by ``asyncjobs list --all`` and skipped elsewhere
    DAMAGED = "damaged"


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


@attrs.frozen
class LedgerEntry:
    """One submission as the ledger holds it.

    Attributes:
        key: the ledger's own id of the submission.
        provider, kind: as submitted.
        job_id: the provider's id, or ``None`` when none was issued (yet).
        params: the parameters as recorded (JSON-safe, no secrets).
        state: a :class:`SubmitState` value.
        info: the last :class:`JobInfo` seen, when a job id exists.
        created_at: when the submission was recorded.
        updated_at: when the ledger last recorded something new of the job (a status or any field
            of it that changed, or the submit's outcome); a status seen again unchanged is not
            written, so it does not move this.
        finished_seen_at: when the ledger first saw the job ``done`` or ``failed``.
        error: why the submit failed (``rejected``/``unknown``), or the job's last error.
        holder: on a shared (PostgreSQL) ledger, who polls the job (``host:pid:tag``), while its
            lease lasts (``lease_until``, the database's clock); ``None`` when nobody does.
    """

    key: str
    provider: str
    kind: str
    job_id: str | None
    params: Mapping[str, Any]
    state: str
    info: JobInfo | None
    created_at: datetime
    updated_at: datetime | None = None
    finished_seen_at: datetime | None = None
    error: str | None = None
    holder: str | None = None
    lease_until: datetime | None = None

    def expires_at(self, lifetime: timedelta | None) -> datetime | None:
        """When the provider forgets this job: the ``expires_at`` it said, else ``lifetime`` (the
        provider's ``Capabilities.job_lifetime``) after the job finished (its ``completed_at``, else when
        the ledger first saw it finished). For a job last seen pending it is an estimate: ``lifetime``
        after the last look. ``None`` when unknown or when no job exists."""
        if self.job_id is None:
            return None
        if self.info is not None and self.info.expires_at is not None:
            return self.info.expires_at
        if lifetime is None:
            return None
        base = (
            (self.info.completed_at if self.info is not None else None)
            or self.finished_seen_at
            or self.updated_at
            or self.created_at
        )
        return base + lifetime

    def expired(self, lifetime: timedelta | None, now: datetime | None = None) -> bool:
        """Whether the job is past its :meth:`expires_at` (``now`` defaults to the current time)."""
        when = self.expires_at(lifetime)
        return when is not None and when <= (now or datetime.now(timezone.utc))


class _JSONParams(Mapping[str, Any]):
    """A submission's parameters as recorded (JSON), parsed on first use: a listing of many jobs
    rarely reads them, and parsing them all was a fifth of its cost."""

    __slots__ = ("_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._value: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._value is None:
            try:
                value = json.loads(self._text) if self._text != "{}" else {}
            except (ValueError, TypeError, RecursionError):
                value = None
            self._value = value if isinstance(value, dict) else {"damaged": str(self._text)[:100]}
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(self._data())


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


class Ledger:
    """The ledger: SQLite at a path (the default, one machine), or PostgreSQL at a URL (shared by
    many machines). Both behave alike behind this one interface.

    Args:
        target: a path (``str`` or ``os.PathLike``) of a SQLite file, created with its folder when
            missing; or a ``postgresql://`` (``postgres://``) URL, any libpq URI, handed to psycopg
            as it is (Unix sockets with ``?host=/path``). Anything else (another scheme, a libpq
            ``key=value`` string, an empty string) is refused, never made into a file of that name.
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
        self._closed = False
        # (provider, job id) -> the JobInfo this object last wrote or found unchanged: a shortcut
        # past the read that :meth:`seen` otherwise makes (forgetting one costs a read, not a write)
        self._written: dict[tuple[str, str], JobInfo] = {}
        url = _url(target)
        self.path: Path | None = None
        self.url: str | None = None
        self._store: Any
        if url is not None:
            from ._ledger_pg import PostgresStore

            self._store = PostgresStore(url, read_only=read_only)
            self.url = self._store.url
        else:
            from ._ledger_sqlite import SQLiteStore

            self.path = Path(target)
            self._store = SQLiteStore(self.path, read_only=read_only)
        #: this object's name as a lease holder: host, process, and a random part
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = _lease_seconds(lease_seconds)
        self._leases = _Leases(self) if self._store.shared else None

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
        """Whether ``target`` names a PostgreSQL ledger (a ``postgresql://`` URL).

        Raises:
            ConfigurationError: ``target`` is neither a path nor a URL of a known scheme.
        """
        return _url(target) is not None

    @property
    def shared(self) -> bool:
        """Whether many machines share this ledger (PostgreSQL): polls then take leases."""
        return bool(self._store.shared)

    @property
    def _db(self) -> Any:
        return self._store.db

    def _tx(self) -> Any:
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
        if self._leases is not None and not self._closed:
            self._leases.stop()
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
        return self._leases.claim(list(providers), limit)

    def held(self) -> set[tuple[str, str]]:
        """The jobs ``(provider, job id)`` this object holds leases of."""
        return set() if self._leases is None else self._leases.jobs()

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Have ``callback(provider, job_id)`` called (from a listener thread) whenever another
        process records a change of a job; best effort, so callers re-check on a timer too. On a
        ledger without notifications (SQLite), nothing is called."""
        if self._store.shared:
            self._store.subscribe(callback)

    def unsubscribe(self, callback: Callable[[str, str], None]) -> None:
        """Stop calling ``callback`` (see :meth:`subscribe`)."""
        if self._store.shared:
            self._store.unsubscribe(callback)

    def wait_changed(self, timeout: float) -> None:
        """Return as soon as another connection may have committed a change to the ledger (SQLite:
        ``PRAGMA data_version`` moved; PostgreSQL: a notification arrived), or after ``timeout``
        seconds, whichever is first."""
        self._store.wait_changed(timeout)

    # -- writing ----------------------------------------------------------------------------------

    def begin(
        self, provider: str, kind: str, params: Mapping[str, Any], job_id: str | None = None
    ) -> str:
        """Record a submission before its request leaves; return the entry's key."""
        key = uuid.uuid4().hex
        now = time.time()
        if job_id is not None:
            self._written.pop((provider, job_id), None)
        with self._tx() as db:
            if job_id is not None:
                self._supersede(db, provider, job_id, key)
            db.execute(
                "INSERT INTO jobs (key, provider, job_id, kind, params, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    provider,
                    job_id,
                    kind,
                    json.dumps(params, default=str),
                    SubmitState.SUBMITTING,
                    now,
                    now,
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
    def _supersede(db: Any, provider: str, job_id: str, key: str) -> None:
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
                (state, error, time.time(), key),
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
        for info in infos:
            if self._written.get((info.provider, info.id)) == info:
                continue  # this object wrote (or read) exactly this last: not even a read
            values = _info_values(info)
            row = self._read(
                f"SELECT key, ({_DIFFERS}) FROM jobs WHERE provider=:provider AND job_id=:job_id",
                values,
            )
            if row and not row[0][1]:
                self._remember(info)
                continue
            changed.append((info, values))
        if not changed:
            return
        with self._tx() as db:
            for info, values in changed:
                self._write_info(db, _row_of(db, info), info, values)
        for info, _ in changed:
            self._remember(info)
            if info.finished and self._leases is not None:
                self._leases.forget(info.provider, info.id)

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
        db: Any,
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
        finished job's lease ends with the write."""
        values = dict(values or _info_values(info), key=key, now=time.time(), me=self.holder)
        mine = "" if force else " AND (lease_holder IS NULL OR lease_holder=:me)"
        db.execute(
            "INSERT INTO statuses (key, seen_at, status, raw_status) SELECT key, :now, :status,"
            " :raw_status FROM jobs WHERE key=:key AND (status IS NOT :status OR raw_status IS NOT"
            f" :raw_status){mine}",
            values,
        )
        written = db.execute(
            "UPDATE jobs SET status=:status, raw_status=:raw_status, error=:error, updated_at=:now,"
            " submitted_at=COALESCE(:submitted_at, submitted_at),"
            " started_at=COALESCE(:started_at, started_at),"
            " completed_at=COALESCE(:completed_at, completed_at),"
            " expires_at=COALESCE(:expires_at, expires_at),"
            " finished_seen_at=COALESCE(finished_seen_at, CASE WHEN :finished THEN :now END),"
            " lease_holder=CASE WHEN :finished THEN NULL ELSE lease_holder END,"
            " lease_until=CASE WHEN :finished THEN NULL ELSE lease_until END,"
            f" meta=:meta WHERE key=:key AND ({_DIFFERS}){mine}",
            values,
        )
        if written.rowcount:
            self._store.notify(db, info.provider, info.id)

    # -- reading ----------------------------------------------------------------------------------

    _COLUMNS = COLUMNS

    def _read(
        self, sql: str, args: tuple[Any, ...] | list[Any] | Mapping[str, Any] = ()
    ) -> list[Any]:
        rows: list[Any] = self._store.read(sql, args)
        return rows

    def get(self, provider: str, job_id: str) -> LedgerEntry | None:
        """The entry of ``job_id`` at ``provider``, or ``None``."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM jobs WHERE provider=? AND job_id=?", (provider, job_id)
        )
        return _entry(rows[0]) if rows else None

    def find(self, job_id: str) -> list[LedgerEntry]:
        """Every entry with the job id ``job_id``, at any provider (e.g. to say which provider a job
        belongs to when it was asked of the wrong one)."""
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM jobs WHERE job_id=? ORDER BY created_at, rowid", (job_id,)
        )
        return _entries(rows)

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
            yield from _entries([row[1:] for row in page])
            if len(page) < batch:
                return

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

    _INFO_COLUMNS = (
        "provider, job_id, kind, status, raw_status, error, submitted_at, started_at,"
        " completed_at, expires_at, meta"
    )

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
        return _infos(rows)

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
            yield from _infos([row[1:] for row in page])
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

    def history(self, provider: str, job_id: str) -> list[tuple[datetime, Status, str | None]]:
        """Every status change seen for a job, oldest first."""
        rows = self._read(
            "SELECT s.seen_at, s.status, s.raw_status FROM statuses s JOIN jobs j ON"
            " j.key=s.key WHERE j.provider=? AND j.job_id=? ORDER BY s.seen_at, s.rowid",
            (provider, job_id),
        )
        return [(_dt(t) or datetime.min, Status(s), r) for t, s, r in rows]


_STATUSES = {s.value: s for s in Status}

#: True (1) when a look (the named values of :func:`_info_values`) would change the row it is
#: compared with: the condition of every status write, so that an unchanged look writes nothing.
_DIFFERS = (
    "status IS NOT :status OR raw_status IS NOT :raw_status OR error IS NOT :error"
    " OR meta IS NOT :meta"
    " OR (:submitted_at IS NOT NULL AND (submitted_at IS NULL OR abs(submitted_at - :submitted_at) > 1e-6))"
    " OR (:started_at IS NOT NULL AND (started_at IS NULL OR abs(started_at - :started_at) > 1e-6))"
    " OR (:completed_at IS NOT NULL AND (completed_at IS NULL OR abs(completed_at - :completed_at) > 1e-6))"
    " OR (:expires_at IS NOT NULL AND (expires_at IS NULL OR abs(expires_at - :expires_at) > 1e-6))"
    " OR (:finished AND finished_seen_at IS NULL)"
)


def _info_values(info: JobInfo) -> dict[str, Any]:
    """A look's columns as named SQL values."""
    return {
        "provider": info.provider,
        "job_id": info.id,
        "status": info.status.value,
        "raw_status": info.raw_status,
        "error": info.error,
        "meta": json.dumps(dict(info.meta), default=str) if info.meta else None,
        "submitted_at": _ts(info.submitted_at),
        "started_at": _ts(info.started_at),
        "completed_at": _ts(info.completed_at),
        "expires_at": _ts(info.expires_at),
        "finished": info.finished,
    }


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects are built at once (listing 100,000
    jobs otherwise runs it dozens of times over objects that all stay alive)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _infos(rows: list[Any]) -> list[JobInfo]:
    """Rows of ``Ledger._INFO_COLUMNS`` as JobInfo; a damaged row is skipped, with a warning."""
    build = _InfoBuilder()
    with gc_paused():
        try:
            return [build(*row) for row in rows]
        except _ROW_ERRORS:
            pass  # a damaged row: build again, one row at a time, skipping it
        out = []
        for row in rows:
            try:
                out.append(build(*row))
            except _ROW_ERRORS as exc:
                _warn_damaged(row[0], row[1], exc)
        return out


def _entries(rows: list[Any]) -> list[LedgerEntry]:
    """Rows of ``_COLUMNS`` as entries. Listing reads many rows, so this loop is kept lean: the
    same meta JSON is parsed once (JobInfo copies it), and timestamps are converted inline."""
    if len(rows) > 1000:
        with gc_paused():
            return _build(rows)
    return _build(rows)


class _InfoBuilder:
    """Builds JobInfo from ledger columns; the same meta JSON text is parsed once for many rows."""

    __slots__ = ("_metas",)

    def __init__(self) -> None:
        self._metas: dict[str, Any] = {}

    def __call__(
        self,
        provider: str,
        job_id: str,
        kind: str,
        status: str,
        raw_status: str | None,
        error: str | None,
        submitted_at: float | None,
        started_at: float | None,
        completed_at: float | None,
        expires_at: float | None,
        meta: str | None,
    ) -> JobInfo:
        utc, stamp = timezone.utc, datetime.fromtimestamp
        parsed: Any = {}
        if meta:
            parsed = self._metas.get(meta)
            if parsed is None:
                parsed = json.loads(meta)
                if len(self._metas) < 4096:
                    self._metas[meta] = parsed
        return JobInfo(
            provider=provider,
            id=job_id,
            kind=kind,
            status=_STATUSES.get(status) or Status(status),
            raw_status=raw_status,
            submitted_at=None if submitted_at is None else stamp(submitted_at, utc),
            started_at=None if started_at is None else stamp(started_at, utc),
            completed_at=None if completed_at is None else stamp(completed_at, utc),
            error=error,
            expires_at=None if expires_at is None else stamp(expires_at, utc),
            meta=parsed,
        )


#: What reading a damaged row raises (a value the ledger never writes).
_ROW_ERRORS = (ValueError, TypeError, OverflowError, OSError, KeyError, RecursionError)


def _warn_damaged(provider: Any, job_id: Any, exc: BaseException) -> None:
    log.warning(
        "the ledger has a damaged row (%s job %r): %s: %s; it is skipped (asyncjobs list --all "
        "shows it)",
        provider,
        job_id,
        type(exc).__name__,
        exc,
    )


def _build(rows: list[Any]) -> list[LedgerEntry]:
    try:
        return _build_rows(rows)
    except _ROW_ERRORS:
        pass
    out: list[LedgerEntry] = []
    for row in rows:
        try:
            out.extend(_build_rows([row]))
        except _ROW_ERRORS as exc:
            _warn_damaged(row[1], row[3], exc)
            out.append(_damaged(row, exc))
    return out


def _damaged(row: tuple[Any, ...], exc: BaseException) -> LedgerEntry:
    """A row that cannot be read, as an entry that says so (no JobInfo)."""
    key, provider, kind, job_id = (str(v) if v is not None else None for v in row[:4])
    when = row[6] if isinstance(row[6], (int, float)) else None
    try:
        created = datetime.fromtimestamp(when, timezone.utc) if when is not None else None
    except (OverflowError, OSError, ValueError):
        created = None
    return LedgerEntry(
        key=key or "",
        provider=provider or "?",
        kind=kind or "?",
        job_id=job_id,
        params=_JSONParams("{}"),
        state=SubmitState.DAMAGED,
        info=None,
        created_at=created or datetime.fromtimestamp(0, timezone.utc),
        updated_at=None,
        finished_seen_at=None,
        error=f"damaged ledger row: {type(exc).__name__}: {exc}"[:300],
    )


def _build_rows(rows: list[Any]) -> list[LedgerEntry]:
    utc = timezone.utc
    stamp = datetime.fromtimestamp
    info_of = _InfoBuilder()
    out = []
    for (
        key,
        provider,
        kind,
        job_id,
        params,
        state,
        created_at,
        status,
        raw_status,
        error,
        submitted_at,
        started_at,
        completed_at,
        expires_at,
        meta,
        updated_at,
        finished_seen_at,
        lease_holder,
        lease_until,
    ) in rows:
        info = None
        if job_id is not None and status is not None:
            info = info_of(
                provider,
                job_id,
                kind,
                status,
                raw_status,
                error,
                submitted_at,
                started_at,
                completed_at,
                expires_at,
                meta,
            )
        out.append(
            LedgerEntry(
                key=key,
                provider=provider,
                kind=kind,
                job_id=job_id,
                params=_JSONParams(params),
                state=state,
                info=info,
                created_at=datetime.now(utc) if created_at is None else stamp(created_at, utc),
                updated_at=None if updated_at is None else stamp(updated_at, utc),
                finished_seen_at=(
                    None if finished_seen_at is None else stamp(finished_seen_at, utc)
                ),
                error=error,
                holder=lease_holder,
                lease_until=None if lease_until is None else stamp(lease_until, utc),
            )
        )
    return out


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return _entries([row])[0]


def _row_of(db: Any, info: JobInfo) -> str:
    """The key of the job's row, added (as submitted elsewhere) when the ledger does not know the
    job; inside a transaction. Another process may add the same job at the same moment: the first
    wins, and both use its row."""
    find = "SELECT key FROM jobs WHERE provider=? AND job_id=?"
    row = db.execute(find, (info.provider, info.id)).fetchone()
    if row is None:
        now = time.time()
        db.execute(
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, '{}', ?, ?, ?) ON CONFLICT DO NOTHING",
            (uuid.uuid4().hex, info.provider, info.id, info.kind, SubmitState.SUBMITTED, now, now),
        )
        row = db.execute(find, (info.provider, info.id)).fetchone()
    return str(row[0])


_SCHEMES = ("postgresql", "postgres")


def _url(target: object) -> str | None:
    """The PostgreSQL URL ``target`` is, or ``None`` for a path; anything else is refused."""
    if isinstance(target, os.PathLike):
        return None
    if not isinstance(target, str):
        raise ConfigurationError(
            f"a ledger is a path or a postgresql:// URL, not {type(target).__name__}"
        )
    text = target.strip()
    if not text or text != target or any(ord(c) < 32 for c in text):
        raise ConfigurationError(
            "a ledger is a path or a postgresql:// URL; this one is empty, padded with spaces or "
            "holds control characters. Set ASYNCJOBS_LEDGER, ledger= or --ledger to a path or URL."
        )
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme:
        if scheme.group(1).lower() in _SCHEMES:
            return text
        raise ConfigurationError(
            f"a ledger URL must be postgresql:// (or postgres://), not {scheme.group(1)}://; a "
            "SQLite ledger is given as a plain path"
        )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", text) or re.search(r"\w=\S", text):
        raise ConfigurationError(
            "a ledger is a path or a postgresql:// URL; this looks like neither (a libpq"
            " key=value string or a URL without //): write it as postgresql://user@host/db"
        )
    return None


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


class _Leases:
    """A ledger object's leases: taken at a job's first poll, kept alive by a keeper thread while
    the job is still being polled, given up when unused for a lease's length, when the job is
    seen finished, and at close."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._store = ledger._store
        self._lock = threading.Lock()
        # (provider, job id) -> [when last taken or renewed, when last used] (monotonic)
        self._held: dict[tuple[str, str], list[float]] = {}
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def take(self, provider: str, job_id: str, kind: str) -> bool:
        job = (provider, job_id)
        ttl = self._ledger.lease_seconds
        now = time.monotonic()
        with self._lock:
            times = self._held.get(job)
            if times is not None and self._fresh(times, now):
                times[1] = now
                return True
        got = self._store.lease(provider, job_id, kind, self._ledger.holder, ttl)
        with self._lock:
            if got:
                self._held[job] = [now, now]
            else:
                self._held.pop(job, None)
        if got:
            self._start()
        return bool(got)

    def _fresh(self, times: list[float], now: float) -> bool:
        """Whether a lease was taken or renewed within half its length: it is still ours without
        asking the ledger (past that, the keeper may have been late and the lease taken over)."""
        return now - times[0] < self._ledger.lease_seconds / 2

    def claim(self, providers: list[str], limit: int) -> list[JobInfo]:
        ttl = self._ledger.lease_seconds
        now = time.monotonic()
        rows = self._store.claim(self._ledger.holder, ttl, providers, limit)
        infos = _infos(rows)
        with self._lock:
            for info in infos:
                self._held[(info.provider, info.id)] = [now, now]
        if infos:
            self._start()
        return infos

    def jobs(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self._held)

    def touch(self, provider: str, job_id: str, *, confirm: bool = True) -> bool:
        job = (provider, job_id)
        ttl = self._ledger.lease_seconds
        now = time.monotonic()
        with self._lock:
            times = self._held.get(job)
            if times is None:
                return False
            times[1] = now
            if not confirm or self._fresh(times, now):
                return True
        # not renewed for half its length (the keeper is late, or cannot reach the ledger): it
        # may have run out and been taken over, so it is confirmed before the job is polled
        try:
            kept = self._store.keep(provider, job_id, self._ledger.holder, ttl)
        except (LedgerError, ConfigurationError) as exc:
            log.warning("could not keep the lease of %s job %s: %s", provider, job_id, exc)
            kept = False
        with self._lock:
            if kept and job in self._held:
                self._held[job][0] = now
                return True
            self._held.pop(job, None)
            return False

    def forget(self, provider: str, job_id: str) -> None:
        with self._lock:
            self._held.pop((provider, job_id), None)

    def release(self, provider: str, job_id: str) -> None:
        with self._lock:
            if self._held.pop((provider, job_id), None) is None:
                return
        try:
            self._store.release(self._ledger.holder, [(provider, job_id)])
        except (LedgerError, ConfigurationError) as exc:  # it runs out by itself
            log.warning("could not give up the lease of %s job %s: %s", provider, job_id, exc)

    def _start(self) -> None:
        with self._lock:
            if self._keeper is None and not self._stop.is_set():
                self._keeper = threading.Thread(
                    target=self._keep, name="asyncjobs-lease-keeper", daemon=True
                )
                self._keeper.start()

    def _keep(self) -> None:
        ttl = self._ledger.lease_seconds
        while not self._stop.wait(ttl / 3):
            now = time.monotonic()
            with self._lock:
                keep = [job for job, (_, used) in self._held.items() if now - used < ttl]
            try:
                held = self._store.renew(self._ledger.holder, ttl, keep)
            except (LedgerError, ConfigurationError) as exc:
                log.warning("could not keep the leases alive: %s", exc)
                continue
            with self._lock:
                for job in list(self._held):
                    if job in held:
                        self._held[job][0] = now
                    else:
                        del self._held[job]

    def stop(self) -> None:
        self._stop.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=5)
        with self._lock:
            had = bool(self._held)
            self._held.clear()
        if had or self._keeper is not None:
            with contextlib.suppress(LedgerError, ConfigurationError):
                self._store.release(self._ledger.holder, None)
