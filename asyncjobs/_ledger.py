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
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from ._models import JobInfo, Status
from ._redaction import get_logger
from .errors import ConfigurationError, LedgerError

log = get_logger("asyncjobs._ledger")

__all__ = ["SCHEMA_VERSION", "Ledger", "LedgerEntry", "SubmitState", "default_home"]

#: Marks the file as an asyncjobs ledger (``PRAGMA application_id``; "AJLG").
APPLICATION_ID = 0x414A4C47

#: The migration steps: step ``n`` (counting from 1) brings a ledger from version ``n - 1`` to ``n``.
#: Append new steps; never edit a released one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the jobs and every status seen
    (
        """CREATE TABLE IF NOT EXISTS jobs (
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
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_id ON jobs(provider, job_id)"
        " WHERE job_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, provider)",
        """CREATE TABLE IF NOT EXISTS statuses (
            key        TEXT NOT NULL REFERENCES jobs(key),
            seen_at    REAL NOT NULL,
            status     TEXT NOT NULL,
            raw_status TEXT
        )""",
    ),
    # 2: when the ledger first saw a job finished (the start of its lifetime when the provider does not
    # say when it completed), and the history by job
    (
        "ALTER TABLE jobs ADD COLUMN finished_seen_at REAL",
        "UPDATE jobs SET finished_seen_at = (SELECT MIN(s.seen_at) FROM statuses s"
        " WHERE s.key = jobs.key AND s.status IN ('done', 'failed'))",
        "CREATE INDEX IF NOT EXISTS statuses_by_key ON statuses(key, seen_at)",
    ),
)

#: The schema version this asyncjobs writes.
SCHEMA_VERSION = len(MIGRATIONS)

_BUSY_TIMEOUT = 30.0

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


class _NotALedger(Exception):
    """The file is a database, but not a ledger this asyncjobs can use (the message says why)."""


class Ledger:
    """A SQLite ledger at ``path`` (WAL mode; safe for many threads and processes).

    Args:
        path: the database file; created with its folder when missing.
        read_only: open an existing ledger for reading only (one in a folder this user cannot write,
            for example): listing works, and any write raises ConfigurationError.

    Raises:
        ConfigurationError: the file is not a ledger, is from a newer asyncjobs, or cannot be written.
            Nothing is changed in the file then.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        # (provider, job id) -> the JobInfo this object last wrote or found unchanged: a shortcut
        # past the read that :meth:`seen` otherwise makes (forgetting one costs a read, not a write)
        self._written: dict[tuple[str, str], JobInfo] = {}
        advice = (
            "Point ASYNCJOBS_HOME at a writable folder, pass ledger=<path>, or ledger=False to run "
            "without one."
        )
        db: sqlite3.Connection | None = None
        try:
            if read_only:
                db = self._connect_read_only()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
            )
            self._db = db
            self._check_header()
            self._wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except ConfigurationError:
            if db is not None:
                db.close()
            raise
        except LedgerError as exc:  # failing while it is being opened: the setting is what is wrong
            if db is not None:
                db.close()
            raise ConfigurationError(f"{exc} {advice}") from exc
        except _NotALedger as exc:
            if db is not None:
                db.close()
            raise ConfigurationError(f"the file {str(self.path)!r} {exc}. {advice}") from None
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            text = str(exc)
            if "not a database" in text or "malformed" in text:
                raise ConfigurationError(
                    f"the file {str(self.path)!r} is not an asyncjobs ledger ({text}); it was left "
                    f"as it is. {advice}"
                ) from exc
            raise ConfigurationError(
                f"cannot use the ledger at {str(self.path)!r}: {text} (is its folder writable?). "
                f"{advice}"
            ) from exc
        except OSError as exc:
            if db is not None:
                db.close()
            raise ConfigurationError(
                f"cannot create the ledger at {str(self.path)!r}: {exc.strerror or exc}. {advice}"
            ) from exc

    def _connect_read_only(self) -> sqlite3.Connection:
        # A WAL ledger without its -shm file cannot be read with mode=ro where SQLite cannot create
        # that file; immutable=1 then reads the file as it is (nobody can write in that folder).
        uri = self.path.absolute().as_uri()
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            db = sqlite3.connect(
                uri + query,
                uri=True,
                timeout=_BUSY_TIMEOUT,
                check_same_thread=False,
                isolation_level=None,
            )
            self._db = db
            try:
                self._check_current()
                db.execute(f"SELECT {self._COLUMNS} FROM jobs LIMIT 0")
            except sqlite3.OperationalError:
                db.close()
                if query.endswith("immutable=1"):
                    raise
                continue
            except BaseException:
                db.close()
                raise
            break
        return db

    def _check_current(self) -> None:
        # A read-only ledger cannot be migrated: it must be of this schema already.
        self._check_header()
        if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            raise _NotALedger(
                "is a ledger of an older schema, which cannot be read without upgrading it; open "
                "it once where it can be written"
            )

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

    def __repr__(self) -> str:
        return f"<Ledger {str(self.path)!r}>"

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening ----------------------------------------------------------------------------------

    def _check_header(self) -> None:
        # Reads the header only: a file that is not SQLite fails here, before anything is written.
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if app_id not in (0, APPLICATION_ID):
            raise _NotALedger(f"is a SQLite database of another application (id {app_id:#x})")
        if version > SCHEMA_VERSION:
            raise _NotALedger(
                f"is a ledger of schema version {version}, newer than this asyncjobs understands "
                f"({SCHEMA_VERSION}); upgrade asyncjobs-core"
            )

    def _wal(self) -> None:
        # Switching to WAL needs a moment alone with the file; another process may be opening it too.
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch the journal to WAL (it is {mode!r})")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            with self._tx() as db:
                # Read again under the write lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise _NotALedger(f"was upgraded by a newer asyncjobs (schema {version})")
                if version == 0:
                    tables = db.execute(
                        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                        "'sqlite_%'"
                    ).fetchall()
                    if tables:
                        names = ", ".join(sorted(t[0] for t in tables))
                        raise _NotALedger(
                            f"is a SQLite database with other tables ({names}), not an asyncjobs "
                            "ledger; it was left as it is"
                        )
                for step in MIGRATIONS[version:]:
                    for statement in step:
                        db.execute(statement)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        try:
            self._db.execute(f"SELECT {self._COLUMNS} FROM jobs LIMIT 0")
        except sqlite3.OperationalError as exc:
            raise _NotALedger(f"is not an asyncjobs ledger ({exc})") from None

    def _tx(self) -> _Transaction:
        return _Transaction(self, self._db, self._lock)

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
    def _supersede(db: sqlite3.Connection, provider: str, job_id: str, key: str) -> None:
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
                self._write_info(db, key, info, values)
        for info, _ in changed:
            self._remember(info)

    def cancelled(self, info: JobInfo) -> None:
        """Record that the job ``info`` (its status as it is now that it is cancelled) was cancelled:
        later looks read it from here instead of asking a provider that has deleted it."""
        self.seen(info)
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state=? WHERE provider=? AND job_id=?",
                (SubmitState.CANCELLED, info.provider, info.id),
            )

    def _remember(self, info: JobInfo) -> None:
        # Plain dict operations (atomic under the GIL): a race costs at most one extra write.
        written = self._written
        job = (info.provider, info.id)
        written.pop(job, None)
        written[job] = info
        if len(written) > _SEEN_MEMORY:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del written[next(iter(written))]

    @staticmethod
    def _write_info(
        db: sqlite3.Connection, key: str, info: JobInfo, values: dict[str, Any] | None = None
    ) -> None:
        """Write ``info`` into the row ``key`` only where it changes something (conditional in
        SQL), and add it to the history only where the status or the raw status changed."""
        values = dict(values or _info_values(info), key=key, now=time.time())
        db.execute(
            "INSERT INTO statuses (key, seen_at, status, raw_status) SELECT key, :now, :status,"
            " :raw_status FROM jobs WHERE key=:key AND (status IS NOT :status OR raw_status IS NOT"
            " :raw_status)",
            values,
        )
        db.execute(
            "UPDATE jobs SET status=:status, raw_status=:raw_status, error=:error, updated_at=:now,"
            " submitted_at=COALESCE(:submitted_at, submitted_at),"
            " started_at=COALESCE(:started_at, started_at),"
            " completed_at=COALESCE(:completed_at, completed_at),"
            " expires_at=COALESCE(:expires_at, expires_at),"
            " finished_seen_at=COALESCE(finished_seen_at, CASE WHEN :finished THEN :now END),"
            f" meta=:meta WHERE key=:key AND ({_DIFFERS})",
            values,
        )

    # -- reading ----------------------------------------------------------------------------------

    _COLUMNS = (
        "key, provider, kind, job_id, params, state, created_at, status, raw_status, error,"
        " submitted_at, started_at, completed_at, expires_at, meta, updated_at, finished_seen_at"
    )

    def _read(
        self, sql: str, args: tuple[Any, ...] | list[Any] | Mapping[str, Any] = ()
    ) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(
                    f"cannot read the ledger at {str(self.path)!r}: {exc}. Check the file and its "
                    "folder, or run without the ledger (ledger=False, --no-ledger)."
                ) from exc

    def wait_changed(self, timeout: float) -> None:
        """Return as soon as another connection may have committed a change to the ledger (since
        the last call returned, or since this one began), or after ``timeout`` seconds.

        SQLite: ``PRAGMA data_version`` of this connection, read every 50 ms (it changes when any
        other connection, in any process, commits). A waiter of another process's news calls this
        in a loop, then reads the entries it cares about.

        Raises:
            LedgerError: the ledger cannot be read (closed, damaged).
        """
        end = time.monotonic() + max(0.0, timeout)
        first = getattr(self, "_version_seen", None)
        if first is None:
            first = self._version_seen = self._read("PRAGMA data_version")[0][0]
        while True:
            now = self._read("PRAGMA data_version")[0][0]
            if now != first:
                self._version_seen = now
                return
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

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
        "finished": 1 if info.finished else 0,
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
            )
        )
    return out


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return _entries([row])[0]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the ledger's thread lock (busy waits up to 30 s).

    A SQLite failure inside (a full disk, a folder turned read-only) becomes a LedgerError
    naming the ledger; the transaction is rolled back, so the file stays as it was.
    """

    def __init__(self, ledger: Ledger, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._ledger = ledger
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._lock.release()
            raise self._error(exc) from exc
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if exc_type is None:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    self._rollback()
                    raise self._error(error) from error
            else:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc) from exc
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _error(self, exc: sqlite3.Error) -> LedgerError:
        if isinstance(exc, sqlite3.IntegrityError):
            return LedgerError(f"the ledger at {str(self._ledger.path)!r} refused a write: {exc}")
        return LedgerError(
            f"cannot write the ledger at {str(self._ledger.path)!r}: {exc}. Free disk space, point "
            "ASYNCJOBS_HOME at a writable folder, or pass ledger=False."
        )
