"""The SQLite backend: one file in WAL mode, safe for many threads and processes writing at once.

Its schema version is ``PRAGMA user_version`` and the file is marked as a ledger by ``PRAGMA
application_id``; an older ledger is migrated when opened, in one transaction, and one from a newer
asyncjobs is refused, never rewritten. The ledger's SQL is written in this dialect.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncjobs.errors import ConfigurationError, LedgerError

from ._rows import ENTRY_COLUMNS
from ._store import Args, Executor, Leases, Row, StoreClass, StoreOptions
from ._version import SCHEMA_VERSION, newer_schema

if TYPE_CHECKING:
    from ._schema import Dialect

__all__ = ["APPLICATION_ID", "SQLiteStore", "sqlite_dialect"]

#: Marks the file as an asyncjobs ledger (``PRAGMA application_id``; "AJLG").
APPLICATION_ID = 0x414A4C47


@functools.cache
def sqlite_dialect() -> Dialect:
    """The schema in SQLite's words (``rowid`` is implicit): made when a ledger is created or
    migrated, the only time the schema's steps are read (also as ``SQLITE``)."""
    from ._schema import ColumnType, Dialect

    return Dialect(
        "sqlite", {ColumnType.TEXT: "TEXT", ColumnType.TIME: "REAL", ColumnType.NUMBER: "REAL"}
    )


def __getattr__(name: str) -> Any:
    if name == "SQLITE":
        return sqlite_dialect()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_BUSY_TIMEOUT = 30.0


class NotALedger(Exception):
    """The file is a database, but not a ledger this asyncjobs can use (the message says why)."""


_ADVICE = (
    "Point ASYNCJOBS_HOME at a writable folder, pass ledger=<path>, or ledger=False to run "
    "without one."
)


class SQLiteStore:
    """The connection to one ledger file, and the transactions the ledger runs on it.

    Raises:
        ConfigurationError: the file is not a ledger, is from a newer asyncjobs, or cannot be written.
            Nothing is changed in the file then.
    """

    #: a SQLite ledger belongs to one machine: polls are coordinated in the process, not leased
    shared = False
    url: str | None = None
    leases: Leases | None = None
    #: statements are not counted (the file is no server)
    statements = 0
    #: the database's clock, in seconds since the epoch (one machine's: every process reads it)
    clock = "((julianday('now') - 2440587.5) * 86400.0)"
    #: no notifications: a look is written in a transaction of its statements (see the protocol)
    notice = None

    def __init__(self, target: str, options: StoreOptions) -> None:
        #: the ledger's file
        self.file = Path(target)
        self.path: Path | None = self.file
        read_only = options.read_only
        self.lock = threading.Lock()
        self.closed = False
        self._version: int | None = None
        db: sqlite3.Connection | None = None
        try:
            if read_only:
                db = self._connect_read_only()
                return
            self.file.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.file, timeout=_BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
            )
            self.db = db
            self._check_header()
            self._wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except ConfigurationError:
            if db is not None:
                db.close()
            raise
        except LedgerError as exc:  # failing while it is being opened: the setting is what is wrong
            if db is not None:
                db.close()
            raise ConfigurationError(f"{exc} {_ADVICE}") from exc
        except NotALedger as exc:
            if db is not None:
                db.close()
            raise ConfigurationError(f"the file {str(self.file)!r} {exc}. {_ADVICE}") from None
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            text = str(exc)
            if "not a database" in text or "malformed" in text:
                raise ConfigurationError(
                    f"the file {str(self.file)!r} is not an asyncjobs ledger ({text}); it was left "
                    f"as it is. {_ADVICE}"
                ) from exc
            raise ConfigurationError(
                f"cannot use the ledger at {str(self.file)!r}: {text} (is its folder writable?). "
                f"{_ADVICE}"
            ) from exc
        except OSError as exc:
            if db is not None:
                db.close()
            raise ConfigurationError(
                f"cannot create the ledger at {str(self.file)!r}: {exc.strerror or exc}. {_ADVICE}"
            ) from exc

    def describe(self) -> str:
        return repr(str(self.file))

    def _connect_read_only(self) -> sqlite3.Connection:
        # A WAL ledger without its -shm file cannot be read with mode=ro where SQLite cannot create
        # that file; immutable=1 then reads the file as it is (nobody can write in that folder).
        uri = self.file.absolute().as_uri()
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            db = sqlite3.connect(
                uri + query,
                uri=True,
                timeout=_BUSY_TIMEOUT,
                check_same_thread=False,
                isolation_level=None,
            )
            self.db = db
            try:
                self._check_current()
                db.execute(f"SELECT {ENTRY_COLUMNS} FROM jobs LIMIT 0")
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
        if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            raise NotALedger(
                "is a ledger of an older schema, which cannot be read without upgrading it; open "
                "it once where it can be written"
            )

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.db.close()

    def _check_header(self) -> None:
        # Reads the header only: a file that is not SQLite fails here, before anything is written.
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if app_id not in (0, APPLICATION_ID):
            raise NotALedger(f"is a SQLite database of another application (id {app_id:#x})")
        if version > SCHEMA_VERSION:
            raise newer_schema(f"the ledger {str(self.file)!r}", version)

    def _wal(self) -> None:
        # Switching to WAL needs a moment alone with the file; another process may be opening it too.
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch the journal to WAL (it is {mode!r})")

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            with self.tx() as db:
                # Read again under the write lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise newer_schema(f"the ledger {str(self.file)!r}", version)
                if version == 0:
                    tables = db.execute(
                        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                        "'sqlite_%'"
                    ).fetchall()
                    if tables:
                        names = ", ".join(sorted(t[0] for t in tables))
                        raise NotALedger(
                            f"is a SQLite database with other tables ({names}), not an asyncjobs "
                            "ledger; it was left as it is"
                        )
                for statement in sqlite_dialect().statements(version):
                    db.execute(statement)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        try:
            self.db.execute(f"SELECT {ENTRY_COLUMNS} FROM jobs LIMIT 0")
        except sqlite3.OperationalError as exc:
            raise NotALedger(f"is not an asyncjobs ledger ({exc})") from None

    # -- running statements -----------------------------------------------------------------------

    def read(self, sql: str, args: Args = ()) -> list[Row]:
        with self.lock:
            try:
                return self.db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(
                    f"cannot read the ledger at {str(self.file)!r}: {exc}. Check the file and its "
                    "folder, or run without the ledger (ledger=False, --no-ledger)."
                ) from exc

    def tx(self) -> _Transaction:
        return _Transaction(self)

    def write(self, sql: str, args: Args = ()) -> list[Row]:
        """One write in a transaction of its own; its rows."""
        with self.tx() as db:
            return db.execute(sql, args).fetchall()

    def notify(self, db: Executor, provider: str, job_id: str) -> None:
        """Tell other processes that the job changed: readers of a SQLite file see it themselves."""

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Nothing: a SQLite file sends no notifications (waiters see changes by
        :meth:`wait_changed`)."""

    def unsubscribe(self, callback: Callable[[str, str], None]) -> None:
        """Nothing (see :meth:`subscribe`)."""

    def wait_changed(self, timeout: float) -> None:
        """Return as soon as another connection may have committed a change (``PRAGMA
        data_version`` moved), or after ``timeout`` seconds."""
        end = time.monotonic() + max(0.0, timeout)
        with self.lock:
            if self._version is None:
                self._version = self.db.execute("PRAGMA data_version").fetchone()[0]
        while True:
            with self.lock:
                version = self.db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._version = version
                return
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the store's thread lock (busy waits up to 30 s).

    A SQLite failure inside (a full disk, a folder turned read-only) becomes a LedgerError
    naming the ledger; the transaction is rolled back, so the file stays as it was.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._db = store.db
        self._lock = store.lock

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
        where = str(self._store.file)
        if isinstance(exc, sqlite3.IntegrityError):
            return LedgerError(f"the ledger at {where!r} refused a write: {exc}")
        return LedgerError(
            f"cannot write the ledger at {where!r}: {exc}. Free disk space, point "
            "ASYNCJOBS_HOME at a writable folder, or pass ledger=False."
        )


if TYPE_CHECKING:
    # mypy proves here that the class implements the Store protocol
    _IMPLEMENTS_STORE: StoreClass = SQLiteStore
