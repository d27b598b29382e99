"""The ledger: a SQLite record of every job submitted, written before the submit request leaves.

It is what ``list`` returns for providers with no list endpoint, what lets a job be picked up after a
crash or a kernel restart, and the proof that no job id is lost. It never stores a secret: parameters
are stored as described by the provider (a source is its path or URL, never its content).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigurationError
from .models import JobInfo, Status

__all__ = ["Ledger", "LedgerEntry", "SubmitState", "default_home"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key          TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    job_id       TEXT,
    kind         TEXT NOT NULL,
    params       TEXT NOT NULL,
    state        TEXT NOT NULL,
    status       TEXT,
    raw_status   TEXT,
    error        TEXT,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    submitted_at REAL,
    started_at   REAL,
    completed_at REAL,
    expires_at   REAL,
    meta         TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_id ON jobs(provider, job_id) WHERE job_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, provider);
CREATE TABLE IF NOT EXISTS statuses (
    key        TEXT NOT NULL REFERENCES jobs(key),
    seen_at    REAL NOT NULL,
    status     TEXT NOT NULL,
    raw_status TEXT
);
"""


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
    """

    key: str
    provider: str
    kind: str
    job_id: str | None
    params: Mapping[str, Any]
    state: str
    info: JobInfo | None
    created_at: datetime


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


class Ledger:
    """A SQLite ledger at ``path`` (WAL mode; safe for many threads and processes).

    Args:
        path: the database file; created with its folder when missing.

    Raises:
        ConfigurationError: the file is not a ledger, is from a newer asyncjobs, or cannot be written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(
                f"cannot use the ledger at {str(self.path)!r}: {exc}. Point ASYNCJOBS_HOME at a "
                "writable folder, pass ledger=<path>, or ledger=False to run without one."
            ) from exc
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the ledger at {str(self.path)!r}: {exc}. Point ASYNCJOBS_HOME at a "
                "writable folder, or pass ledger=False."
            ) from exc

    @classmethod
    def default(cls) -> Ledger:
        """The ledger in :func:`default_home`."""
        return cls(default_home() / "ledger.sqlite3")

    def __repr__(self) -> str:
        return f"<Ledger {str(self.path)!r}>"

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"it has schema version {version}, newer than this asyncjobs understands "
                f"({SCHEMA_VERSION}); upgrade asyncjobs"
            )
        if version < SCHEMA_VERSION:
            with self._tx() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- writing ----------------------------------------------------------------------------------

    def begin(
        self, provider: str, kind: str, params: Mapping[str, Any], job_id: str | None = None
    ) -> str:
        """Record a submission before its request leaves; return the entry's key."""
        key = uuid.uuid4().hex
        now = time.time()
        with self._tx() as db:
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
            db.execute(
                "UPDATE jobs SET job_id=?, state=? WHERE key=?",
                (info.id, SubmitState.SUBMITTED, key),
            )
            self._write_info(db, key, info)

    def failed(self, key: str, error: str, *, ambiguous: bool) -> None:
        """Record that the submission ``key`` failed: refused (no job), or ``ambiguous`` (outcome unknown)."""
        state = SubmitState.UNKNOWN if ambiguous else SubmitState.REJECTED
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state=?, error=?, updated_at=? WHERE key=?",
                (state, error, time.time(), key),
            )

    def seen(self, info: JobInfo) -> None:
        """Record a status seen for a job; adds the job when the ledger does not know it yet."""
        with self._tx() as db:
            row = db.execute(
                "SELECT key FROM jobs WHERE provider=? AND job_id=?", (info.provider, info.id)
            ).fetchone()
            if row is None:
                key = uuid.uuid4().hex
                now = time.time()
                db.execute(
                    "INSERT INTO jobs (key, provider, job_id, kind, params, state, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, '{}', ?, ?, ?)",
                    (key, info.provider, info.id, info.kind, SubmitState.SUBMITTED, now, now),
                )
            else:
                key = row[0]
            self._write_info(db, key, info)

    @staticmethod
    def _write_info(db: sqlite3.Connection, key: str, info: JobInfo) -> None:
        prev = db.execute("SELECT status, raw_status FROM jobs WHERE key=?", (key,)).fetchone()
        now = time.time()
        db.execute(
            "UPDATE jobs SET status=?, raw_status=?, error=?, updated_at=?,"
            " submitted_at=COALESCE(?, submitted_at), started_at=COALESCE(?, started_at),"
            " completed_at=COALESCE(?, completed_at), expires_at=COALESCE(?, expires_at),"
            " meta=? WHERE key=?",
            (
                info.status.value,
                info.raw_status,
                info.error,
                now,
                _ts(info.submitted_at),
                _ts(info.started_at),
                _ts(info.completed_at),
                _ts(info.expires_at),
                json.dumps(dict(info.meta), default=str) if info.meta else None,
                key,
            ),
        )
        if prev is None or (prev[0], prev[1]) != (info.status.value, info.raw_status):
            db.execute(
                "INSERT INTO statuses (key, seen_at, status, raw_status) VALUES (?, ?, ?, ?)",
                (key, now, info.status.value, info.raw_status),
            )

    # -- reading ----------------------------------------------------------------------------------

    _COLUMNS = (
        "key, provider, kind, job_id, params, state, created_at, status, raw_status, error,"
        " submitted_at, started_at, completed_at, expires_at, meta"
    )

    def get(self, provider: str, job_id: str) -> LedgerEntry | None:
        """The entry of ``job_id`` at ``provider``, or ``None``."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._COLUMNS} FROM jobs WHERE provider=? AND job_id=?",
                (provider, job_id),
            ).fetchone()
        return None if row is None else _entry(row)

    def entries(
        self,
        *,
        provider: str | None = None,
        status: Status | str | None = None,
        kind: str | None = None,
        state: str | None = None,
    ) -> list[LedgerEntry]:
        """Entries, oldest first, filtered by provider, status, kind and submit state."""
        where, args = [], []
        for column, value in (
            ("provider", provider),
            ("kind", kind),
            ("state", state),
            ("status", None if status is None else Status(status).value),
        ):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        sql = f"SELECT {self._COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, rowid"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_entry(r) for r in rows]

    def history(self, provider: str, job_id: str) -> list[tuple[datetime, Status, str | None]]:
        """Every status change seen for a job, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.seen_at, s.status, s.raw_status FROM statuses s JOIN jobs j ON"
                " j.key=s.key WHERE j.provider=? AND j.job_id=? ORDER BY s.seen_at, s.rowid",
                (provider, job_id),
            ).fetchall()
        return [(_dt(t) or datetime.min, Status(s), r) for t, s, r in rows]


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    (
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
    ) = row
    info = None
    if job_id is not None and status is not None:
        info = JobInfo(
            provider=provider,
            id=job_id,
            kind=kind,
            status=Status(status),
            raw_status=raw_status,
            submitted_at=_dt(submitted_at),
            started_at=_dt(started_at),
            completed_at=_dt(completed_at),
            error=error,
            expires_at=_dt(expires_at),
            meta=json.loads(meta) if meta else {},
        )
    return LedgerEntry(
        key=key,
        provider=provider,
        kind=kind,
        job_id=job_id,
        params=json.loads(params),
        state=state,
        info=info,
        created_at=_dt(created_at) or datetime.now(timezone.utc),
    )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the ledger's thread lock (busy waits up to 30 s)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()
