"""The PostgreSQL backend: one database shared by every process on every machine.

The ledger's SQL is written once, in SQLite's dialect, and translated here (placeholders,
``IS NOT`` between values, ``rowid``). The tables live in the schema ``asyncjobs`` of the database
the URL names, versioned by the row ``version`` of ``asyncjobs.meta`` (the version every backend
shares); migrations run under an advisory lock, and a ledger of a newer asyncjobs is refused
untouched.

What only PostgreSQL does here:

- **Leases.** Whoever polls a job holds its lease: a holder name and an expiry, in the job's row,
  taken with a conditional ``UPDATE`` (workers claim many with ``FOR UPDATE SKIP LOCKED``), kept
  alive by the ledger's keeper thread, cleared when the job is seen finished. Times are the
  database's clock, so machines need not agree on the time.
- **Notifications.** Every status write sends ``NOTIFY asyncjobs, '<provider>\\t<job id>'`` with
  its transaction; a listener thread (its own connection) hands them to waiters. Notifications are
  best effort: waiters re-check on a timer too.
- **A lost connection** is opened again and the statement tried again, for up to
  ``retry_for`` seconds; then it is a :class:`~asyncjobs.errors.LedgerError`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from asyncjobs._http import current_deadline
from asyncjobs._redaction import Redactor, get_logger
from asyncjobs.errors import ConfigurationError, LedgerError

from ._rows import ENTRY_COLUMNS, LedgerEntry, decode_entries
from ._schema import SCHEMA_VERSION, ColumnType, Dialect, newer_schema
from ._store import Args, Executor, Row, StoreClass, StoreOptions

__all__ = [
    "POSTGRESQL",
    "PostgresLeases",
    "PostgresStore",
    "display_url",
    "read_url",
    "translate",
]

log = get_logger("asyncjobs._ledger")

#: The PostgreSQL schema (namespace) that holds the ledger's tables.
SCHEMA = "asyncjobs"
#: The notification channel.
CHANNEL = "asyncjobs"
_LOCK_ID = 0x414A4C47  # "AJLG", as SQLite's application id

#: :data:`ENTRY_COLUMNS` of the table ``jobs``, named so in a statement that joins another.
_JOBS_ENTRY_COLUMNS = ", ".join(f"jobs.{c.strip()}" for c in ENTRY_COLUMNS.split(","))

#: The database's clock, in seconds since the epoch (the time every lease is measured in).
NOW = "extract(epoch from clock_timestamp())"

#: asyncjobs 0.1 numbered the PostgreSQL schema on its own: its version 1 is the shared version 3.
#: A ledger written since has the row ``numbering = shared`` in ``meta``.
_OWN_NUMBERING = {1: 3}

_SECRET_PARAMS = ("password", "sslpassword", "passfile", "sslkey")
_SECRET_QUERY = re.compile(r"(?i)(^|&)(" + "|".join(_SECRET_PARAMS) + r")=[^&]*")
_ENCODE = (
    "percent-encode reserved characters in the user name and password ('%' as %25, '/' as %2F, "
    "'@' as %40, ':' as %3A, '?' as %3F, '#' as %23, a space as %20)"
)


def _password_candidates(url: str) -> set[str]:
    """Every part of ``url`` that some reader of URLs could take for its password, as written and
    percent-decoded: between the first ':' and each '@' after ``://``, and the values of the
    secret query parameters. Masked in every message, whichever way the URL was meant."""
    rest = url.partition("://")[2]
    found: set[str] = set()
    for at in (i for i, char in enumerate(rest) if char == "@"):
        _, colon, password = rest[:at].partition(":")
        if colon:
            found.add(password)
    for match in re.finditer(r"(?i)(?:^|[?&])(?:password|sslpassword)=([^&]*)", rest):
        found.add(match.group(1))
    return found | {unquote(text) for text in found}


def read_url(url: str) -> tuple[str, Redactor]:
    """``url`` read as libpq reads it: the URL as it may be shown (no password, in the authority
    or the query), and a redactor of every form of the password (and of whatever another reader
    would take for one), for every message the database's driver raises.

    Raises:
        ConfigurationError: libpq cannot read the URL, or would read part of its password or
            user name as the host or the database (a '/' or '@' in it, not percent-encoded).
            The message names what is wrong, never the password.
    """
    from psycopg import conninfo

    redact = Redactor(sorted(_password_candidates(url)))
    try:
        params = conninfo.conninfo_to_dict(url)
    except Exception as exc:
        said = re.sub(r'"[^"]*"', '"…"', _first_line(exc))  # libpq quotes the URL's parts
        raise ConfigurationError(
            f"the PostgreSQL ledger URL cannot be read: {redact(said)}; {_ENCODE}. Fix "
            "ASYNCJOBS_LEDGER, ledger= or --ledger."
        ) from None
    for name in ("password", "sslpassword"):
        redact.add(str(params.get(name) or ""))
    scheme, _, rest = url.partition("://")
    end = next((i for i, char in enumerate(rest) if char in "@/"), len(rest))
    # libpq's user information ends at the first '@', unless a '/' comes first: another '@'
    # before the query means a '/' or '@' of the password was not encoded, and libpq would read
    # part of the password as the host or the database (and quote it in its messages)
    if "@" in rest[end + 1 :].partition("?")[0]:
        raise ConfigurationError(
            "the PostgreSQL ledger URL's user name or password holds a '/' or '@' that ends it "
            f"early; {_ENCODE}. Fix ASYNCJOBS_LEDGER, ledger= or --ledger."
        )
    if end < len(rest) and rest[end] == "@":  # the user information, as libpq delimits it
        user, colon, _ = rest[:end].partition(":")
        rest = f"{user}:***@" + rest[end + 1 :] if colon else rest
    where, question, query = rest.partition("?")
    query = _SECRET_QUERY.sub(r"\1\2=***", query)
    shown = f"{scheme}://{where}{question}{query}"
    return redact(shown), redact


def display_url(url: str) -> str:
    """``url`` as it may be shown: no password (in the authority or the query), nothing else
    changed (see :func:`read_url`).

    Raises:
        ConfigurationError: as :func:`read_url`.
    """
    return read_url(url)[0]


@functools.lru_cache(maxsize=512)
@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite's dialect, as the ledger writes it, in PostgreSQL's (psycopg's placeholders); the
    ledger's statements are a few fixed texts, each translated once (a poll runs one or two)."""
    sql = sql.replace("%", "%%")
    sql = re.sub(r"\bIS NOT (?!NULL\b)", "IS DISTINCT FROM ", sql)
    sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)
    sql = sql.replace("?", "%s")
    return re.sub(r"\browid\b", "seq", sql)


#: The schema in PostgreSQL's words.
POSTGRESQL = Dialect(
    "postgresql",
    {
        ColumnType.TEXT: "TEXT",
        ColumnType.TIME: "DOUBLE PRECISION",
        ColumnType.NUMBER: "DOUBLE PRECISION",
        ColumnType.ORDER: "BIGSERIAL",
    },
    translate=translate,
)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the extra is in the test extra
        raise ConfigurationError(
            "a PostgreSQL ledger needs psycopg: pip install 'psycopg[binary]' (in a checkout of "
            "asyncjobs, the extra: pip install -e '.[postgres]')"
        ) from None
    return psycopg


class _Executor:
    """What a transaction body runs statements on: the SQLite connection's ``execute``, translated."""

    def __init__(self, store: PostgresStore, conn: Any) -> None:
        self._store = store
        self._conn = conn

    def execute(self, sql: str, args: Args = (), /) -> Any:
        """Run one statement of the ledger's dialect."""
        return self.native(translate(sql), args)

    def native(self, sql: str, args: Args = ()) -> Any:
        """Run ``sql`` as written (PostgreSQL's dialect: the store's own statements)."""
        self._store.statements += 1
        return self._conn.execute(sql, args or None)


class PostgresStore:
    """The connection to a PostgreSQL ledger, its transactions, leases and notifications.

    Args:
        url: a libpq URI, handed to psycopg as it is.
        options: read-only (every transaction is read-only), the lease holder and lease length.
        retry_for: seconds a lost connection is tried again before a LedgerError.

    Raises:
        ConfigurationError: the database cannot be reached or used, holds another application's
            tables in the schema ``asyncjobs``, or a ledger of a newer asyncjobs.
    """

    #: a PostgreSQL ledger is shared by many machines: polls take leases
    shared = True
    #: the database server's clock, in seconds since the epoch: one clock for every machine
    clock = "extract(epoch from clock_timestamp())"
    #: a write statement notifies the listeners itself (see :meth:`notice`)
    notice = f"pg_notify('{CHANNEL}', provider || chr(9) || job_id)"

    def __init__(self, url: str, options: StoreOptions, *, retry_for: float = 30.0) -> None:
        self.psycopg = _psycopg()
        self._url = url
        # the redactor lives as long as the store: every message and log line of the process is
        # masked of the password's forms meanwhile (errors and loggers redact with every live one)
        self.display, self.redact = read_url(url)
        self.url: str | None = self.display
        self.path: Path | None = None
        self.read_only = read_only = options.read_only
        self.leases: PostgresLeases | None = PostgresLeases(
            self, options.holder, options.lease_seconds
        )
        self.retry_for = retry_for
        self.lock = threading.RLock()
        self.closed = False
        self.statements = 0
        self._conn: Any = None
        self._listener: threading.Thread | None = None
        self._listen_conn: Any = None
        self._changed = threading.Condition()
        self._generation = 0
        self._seen_generation = threading.local()
        self._subscribers: list[Callable[[str, str], None]] = []
        try:
            self._conn = self._connect()
            if not read_only:
                self._migrate()
            self._check()
        except self.psycopg.Error as exc:
            self.close()
            raise ConfigurationError(
                f"cannot use the PostgreSQL ledger at {self.display}: {self.said(exc)}. Check the "
                "URL (ASYNCJOBS_LEDGER, ledger=, --ledger) and that the server is running."
            ) from None
        except BaseException:
            self.close()
            raise

    def describe(self) -> str:
        """The URL without its password."""
        return self.display

    def said(self, exc: BaseException) -> str:
        """The first line of what the driver (or libpq) said, without any form of the password."""
        return self.redact(_first_line(exc))

    # -- connections ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        pg = self.psycopg
        conn = pg.connect(
            self._url, autocommit=True, cursor_factory=pg.ClientCursor, connect_timeout=10
        )
        if conn.execute(f"SELECT to_regnamespace('{SCHEMA}')").fetchone()[0] is None:
            if self.read_only:
                conn.close()
                raise ConfigurationError(
                    f"the PostgreSQL database at {self.display} has no asyncjobs ledger (no schema "
                    f"{SCHEMA!r}); open it once where it can be written"
                )
            # another process may create it at the same moment
            with contextlib.suppress(pg.errors.UniqueViolation, pg.errors.DuplicateSchema):
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"SET search_path TO {SCHEMA}")
        if self.read_only:
            conn.execute("SET default_transaction_read_only = on")
        return conn

    def _reconnect(self) -> Any:
        """A working connection, opened again if it was lost; retried up to ``retry_for``, or
        to the deadline of the wait it serves, whichever is first."""
        end = time.monotonic() + self.retry_for
        wait_end = current_deadline()
        if wait_end is not None:
            end = min(end, wait_end)
        delay = 0.05
        while True:
            if self.closed:
                raise LedgerError(f"the ledger at {self.display} is closed")
            try:
                if self._conn is not None and not self._conn.closed:
                    with contextlib.suppress(Exception):
                        self._conn.close()
                self._conn = self._connect()
                return self._conn
            except self.psycopg.OperationalError as exc:
                if time.monotonic() + delay > end:
                    raise LedgerError(
                        f"lost the connection to the PostgreSQL ledger at {self.display} and could not "
                        f"open it again in time: {self.said(exc)}. Check the "
                        "server, or run without the ledger (ledger=False, --no-ledger)."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _lost(self, exc: BaseException) -> bool:
        pg = self.psycopg
        return isinstance(exc, pg.OperationalError) or (
            self._conn is not None and self._conn.closed
        )

    def close(self) -> None:
        """Give up this store's leases, stop listening and close the connections."""
        if self.leases is not None and not self.closed:
            self.leases.stop()
        with self.lock:
            self.closed = True
            for conn in (self._conn, self._listen_conn):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
        with self._changed:
            self._changed.notify_all()

    # -- the schema -------------------------------------------------------------------------------

    def _version(self, meta: dict[str, str]) -> int:
        """The shared schema version that ``meta``'s rows say."""
        version = int(meta.get("version", 0))
        if meta.get("numbering") != "shared":
            version = _OWN_NUMBERING.get(version, version)
        return version

    def _migrate(self) -> None:
        conn = self._conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            rows = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            if rows and rows.get("application") != "asyncjobs":
                raise ConfigurationError(
                    f"the schema {SCHEMA!r} of the database at {self.display} belongs to another "
                    "application; it was left as it is"
                )
            version = self._version(rows)
            if version > SCHEMA_VERSION:
                raise newer_schema(f"the PostgreSQL ledger at {self.display}", version)
            if version == 0:
                others = conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema=%s"
                    " AND table_name <> 'meta'",
                    (SCHEMA,),
                ).fetchall()
                if others:
                    names = ", ".join(sorted(r[0] for r in others))
                    raise ConfigurationError(
                        f"the schema {SCHEMA!r} of the database at {self.display} has other tables "
                        f"({names}), not an asyncjobs ledger; it was left as it is"
                    )
            if version == SCHEMA_VERSION and rows.get("numbering") == "shared":
                return
            for statement in POSTGRESQL.statements(version):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('application', 'asyncjobs'),"
                " ('version', %s), ('numbering', 'shared')"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (str(SCHEMA_VERSION),),
            )

    def _check(self) -> None:
        version = self._version(dict(self._conn.execute("SELECT name, value FROM meta").fetchall()))
        if version > SCHEMA_VERSION:
            raise newer_schema(f"the PostgreSQL ledger at {self.display}", version)
        if version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"the PostgreSQL ledger at {self.display} is of schema version {version}, older "
                f"than this asyncjobs reads ({SCHEMA_VERSION}); open it once where it can be "
                "written, to upgrade it"
            )

    # -- running statements -----------------------------------------------------------------------

    def _send(self, sql: str, args: Args, failed: Callable[[Exception], Exception]) -> Any:
        """Run one statement (PostgreSQL's dialect; the lock held): a connection lost is opened
        again and the statement sent once more; any other failure raises ``failed(exc)``."""
        for attempt in (0, 1):
            try:
                if self._conn is None or self._conn.closed:
                    self._reconnect()
                self.statements += 1  # every round trip counts: BEGIN and COMMIT too
                return self._conn.execute(sql, args or None)
            except self.psycopg.Error as exc:
                if attempt == 0 and self._lost(exc):
                    self._reconnect()
                    continue
                raise failed(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_failed(self, exc: Exception) -> Exception:
        return LedgerError(f"cannot read the PostgreSQL ledger at {self.display}: {self.said(exc)}")

    def _write_failed(self, exc: Exception) -> Exception:
        """A write the database refused: read-only (see :meth:`_read_only_error`), or failed."""
        pg = self.psycopg
        if isinstance(exc, pg.errors.ReadOnlySqlTransaction):
            return self._read_only_error()
        verb = "refused a write" if isinstance(exc, pg.IntegrityError) else "failed"
        return LedgerError(f"the PostgreSQL ledger at {self.display} {verb}: {self.said(exc)}")

    def read(self, sql: str, args: Args = ()) -> list[Row]:
        with self.lock:
            return list(self._send(translate(sql), args, self._read_failed).fetchall())

    def write(self, sql: str, args: Args = ()) -> list[Row]:
        """Run one write (the ledger's dialect) as its own transaction: one round trip; its rows
        (none when it returns none). A connection found lost is opened again and the statement
        sent again, once: every write sent this way is safe to repeat (conditional, or harmless
        twice)."""
        return self.write_native(translate(sql), args)

    def write_native(self, sql: str, args: Args = ()) -> list[Row]:
        """:meth:`write` of a statement in PostgreSQL's own dialect (the store's own statements)."""
        with self.lock:
            cursor = self._send(sql, args, self._write_failed)
            return list(cursor.fetchall()) if cursor.description is not None else []

    @contextlib.contextmanager
    def tx(self) -> Iterator[_Executor]:
        """A transaction; a connection lost before it starts is opened again. A failure inside is
        rolled back and becomes a LedgerError."""
        pg = self.psycopg
        with self.lock:
            self._send(
                "BEGIN",
                (),
                lambda exc: LedgerError(
                    f"cannot write the PostgreSQL ledger at {self.display}: {self.said(exc)}"
                ),
            )
            try:
                yield _Executor(self, self._conn)
            except pg.Error as exc:
                self._rollback()
                raise self._write_failed(exc) from None
            except BaseException:
                self._rollback()
                raise
            try:
                self.statements += 1
                self._conn.execute("COMMIT")
            except pg.Error as exc:
                self._rollback()
                raise LedgerError(
                    f"the PostgreSQL ledger at {self.display} could not commit: {self.said(exc)}"
                ) from None

    def _read_only_error(self) -> ConfigurationError | LedgerError:
        """A write refused because the database is read-only: the setting's doing when this store
        was opened read-only (ConfigurationError); else the database turned read-only while in use
        (a failover to a standby, a full disk, ``default_transaction_read_only``), which a caller
        rides out like a lost connection (LedgerError)."""
        if self.read_only:
            return ConfigurationError(
                f"the PostgreSQL ledger at {self.display} was opened read-only; open it without "
                "read_only to write"
            )
        return LedgerError(
            f"the PostgreSQL ledger at {self.display} is read-only now (a failover to a standby, "
            "a full disk, default_transaction_read_only?): nothing was written. Writes work again "
            "once the database is writable; check the server."
        )

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            if self._conn is not None and not self._conn.closed:
                self.statements += 1
                self._conn.execute("ROLLBACK")

    # -- leases -----------------------------------------------------------------------------------

    def lease(self, provider: str, job_id: str, kind: str, holder: str, seconds: float) -> bool:
        """Take (or keep) the lease of one job for ``holder``; ``False`` when another holds it."""
        take = (
            f"UPDATE jobs SET lease_holder=%(me)s, lease_until={NOW} + %(ttl)s WHERE"
            " provider=%(provider)s AND job_id=%(job_id)s AND (lease_holder IS NULL OR"
            f" lease_holder=%(me)s OR lease_until < {NOW}) RETURNING key"
        )
        values = {"me": holder, "ttl": seconds, "provider": provider, "job_id": job_id}
        if self.write_native(take, values):  # the common case: one round trip
            return True
        with self.tx() as db:
            exists = db.native(
                "SELECT 1 FROM jobs WHERE provider=%(provider)s AND job_id=%(job_id)s", values
            ).fetchone()
            if exists:
                return False
            # a job this ledger never saw (an id from elsewhere): its row, leased to us
            now = time.time()
            db.native(
                "INSERT INTO jobs (key, provider, job_id, kind, params, state, created_at,"
                " updated_at, lease_holder, lease_until) VALUES (md5(random()::text ||"
                f" %(job_id)s), %(provider)s, %(job_id)s, %(kind)s, '{{}}', 'submitted', %(now)s,"
                f" %(now)s, %(me)s, {NOW} + %(ttl)s) ON CONFLICT DO NOTHING",
                dict(values, kind=kind, now=now),
            )
            return db.native(take, values).fetchone() is not None

    def keep(self, provider: str, job_id: str, holder: str, seconds: float) -> bool:
        """Extend ``holder``'s lease of a job, even one that ran out, as long as nobody took it
        meanwhile; ``False`` when another holds it, or nobody does (given up: the job finished).
        Unlike :meth:`lease` it never takes a lease over: that is :meth:`claim`'s."""
        keep = (
            f"UPDATE jobs SET lease_until={NOW} + %(ttl)s WHERE provider=%(provider)s AND"
            " job_id=%(job_id)s AND lease_holder=%(me)s RETURNING key"
        )
        values = {"me": holder, "ttl": seconds, "provider": provider, "job_id": job_id}
        return bool(self.write_native(keep, values))

    def claim(self, holder: str, seconds: float, providers: Sequence[str], limit: int) -> list[Row]:
        """Lease up to ``limit`` pending jobs nobody holds, oldest first, in one statement; their
        entries' columns (:data:`ENTRY_COLUMNS`)."""
        from_providers = " AND provider = ANY(%(providers)s)" if providers else ""
        # the rows are locked by the CTE (run once, MATERIALIZED): a claimer skips what another
        # is claiming instead of waiting for it, and never updates a row it did not lock
        sql = (
            "WITH free AS MATERIALIZED (SELECT key FROM jobs WHERE status = 'pending' AND job_id IS"
            f" NOT NULL AND state = 'submitted'{from_providers} AND (lease_holder IS NULL OR"
            f" lease_until < {NOW}) ORDER BY seq LIMIT %(n)s FOR UPDATE SKIP LOCKED)"
            f" UPDATE jobs SET lease_holder=%(me)s, lease_until={NOW} + %(ttl)s FROM free WHERE"
            f" jobs.key = free.key RETURNING {_JOBS_ENTRY_COLUMNS}"
        )
        values = {"me": holder, "ttl": seconds, "providers": list(providers), "n": limit}
        return self.write_native(sql, values)

    def renew(
        self, holder: str, seconds: float, keep: list[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Extend ``holder``'s leases of the jobs ``keep`` and release its others, in one
        statement; the jobs it still holds."""
        if not keep:
            self.release(holder, None)
            return set()
        # two updates of disjoint rows (those kept, those let go) in one statement
        rows = self.write_native(
            f"WITH kept AS (UPDATE jobs SET lease_until={NOW} + %(ttl)s FROM"
            " unnest(%(providers)s::text[], %(ids)s::text[]) AS k(provider, job_id) WHERE"
            " jobs.provider = k.provider AND jobs.job_id = k.job_id AND jobs.lease_holder ="
            " %(me)s RETURNING jobs.provider, jobs.job_id),"
            " let_go AS (UPDATE jobs SET lease_holder=NULL, lease_until=NULL WHERE"
            " lease_holder=%(me)s AND NOT ((provider, job_id) IN (SELECT * FROM"
            " unnest(%(providers)s::text[], %(ids)s::text[]))))"
            " SELECT provider, job_id FROM kept",
            {
                "ttl": seconds,
                "providers": [p for p, _ in keep],
                "ids": [j for _, j in keep],
                "me": holder,
            },
        )
        return {(p, j) for p, j in rows}

    def release(self, holder: str, jobs: list[tuple[str, str]] | None) -> None:
        """Give up ``holder``'s leases: of ``jobs``, or all of them (``None``)."""
        if jobs is None:
            self.write_native(
                "UPDATE jobs SET lease_holder=NULL, lease_until=NULL WHERE lease_holder=%s",
                (holder,),
            )
            return
        self.write_native(
            "UPDATE jobs SET lease_holder=NULL, lease_until=NULL FROM unnest(%(providers)s"
            "::text[], %(ids)s::text[]) AS k(provider, job_id) WHERE jobs.provider ="
            " k.provider AND jobs.job_id = k.job_id AND jobs.lease_holder = %(me)s",
            {"me": holder, "providers": [p for p, _ in jobs], "ids": [j for _, j in jobs]},
        )

    # -- notifications ----------------------------------------------------------------------------

    def notify(self, db: Executor, provider: str, job_id: str) -> None:
        """Tell the listeners that the job changed (sent when the transaction commits)."""
        db.execute("SELECT pg_notify(?, ?)", (CHANNEL, f"{provider}\t{job_id}"))

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(provider, job_id)`` from the listener thread for every notification."""
        self._subscribers.append(callback)
        self._listen()

    def unsubscribe(self, callback: Callable[[str, str], None]) -> None:
        """Stop calling ``callback``."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(callback)

    def wait_changed(self, timeout: float) -> None:
        """Return as soon as a notification arrived since this thread's last call (or the
        listener's connection was opened again, when some may have been missed), or after
        ``timeout`` seconds."""
        self._listen()
        seen = getattr(self._seen_generation, "value", None)
        end = time.monotonic() + max(0.0, timeout)
        with self._changed:
            if seen is None:
                seen = self._generation
            while self._generation == seen and not self.closed:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            self._seen_generation.value = self._generation

    def _listen(self) -> None:
        with self.lock:
            if self._listener is None and not self.closed:
                self._listener = threading.Thread(
                    target=self._listen_loop, name="asyncjobs-ledger-listener", daemon=True
                )
                self._listener.start()

    def _listen_loop(self) -> None:
        pg = self.psycopg
        delay = 0.05
        while not self.closed:
            try:
                conn = pg.connect(self._url, autocommit=True, connect_timeout=10)
                self._listen_conn = conn
                conn.execute(f"LISTEN {CHANNEL}")
                delay = 0.05
                self._bump()  # anything sent while no one listened is re-checked
                while not self.closed:
                    for note in conn.notifies(timeout=1.0):
                        provider, _, job_id = note.payload.partition("\t")
                        for callback in list(self._subscribers):
                            with contextlib.suppress(Exception):
                                callback(provider, job_id)
                        self._bump()
            except Exception:  # a lost connection (pg_terminate_backend, a restart): again
                if self._stopping():
                    return
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            finally:
                with contextlib.suppress(Exception):
                    if self._listen_conn is not None:
                        self._listen_conn.close()

    def _stopping(self) -> bool:
        return self.closed

    def listener_pid(self) -> int | None:
        """The server process of the listener's connection (for tests that cut it)."""
        conn = self._listen_conn
        return None if conn is None or conn.closed else int(conn.info.backend_pid)

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()


class PostgresLeases:
    """A ledger object's leases: taken at a job's first poll, kept alive by a keeper thread while
    the job is still being polled, given up when unused for a lease's length, when the job is
    seen finished, and at close."""

    def __init__(self, store: PostgresStore, holder: str, seconds: float) -> None:
        self._store = store
        self._holder = holder
        self._seconds = seconds
        self._lock = threading.Lock()
        # (provider, job id) -> [when last taken or renewed, when last used] (monotonic)
        self._held: dict[tuple[str, str], list[float]] = {}
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def take(self, provider: str, job_id: str, kind: str) -> bool:
        """Take or keep the lease of a job (added to the ledger when it is not there); ``False``
        when another holder has it."""
        job = (provider, job_id)
        ttl = self._seconds
        now = time.monotonic()
        with self._lock:
            times = self._held.get(job)
            if times is not None and self._fresh(times, now):
                times[1] = now
                return True
        got = self._store.lease(provider, job_id, kind, self._holder, ttl)
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
        return now - times[0] < self._seconds / 2

    def claim(self, providers: Sequence[str], limit: int) -> list[LedgerEntry]:
        """Lease up to ``limit`` pending jobs of ``providers`` (all when empty) nobody polls; their
        entries as the claim found them."""
        ttl = self._seconds
        now = time.monotonic()
        rows = self._store.claim(self._holder, ttl, providers, limit)
        entries = [e for e in decode_entries(rows) if e.info is not None]
        with self._lock:
            for entry in entries:
                assert entry.info is not None
                self._held[(entry.info.provider, entry.info.id)] = [now, now]
        if entries:
            self._start()
        return entries

    def jobs(self) -> set[tuple[str, str]]:
        """The jobs ``(provider, job id)`` held."""
        with self._lock:
            return set(self._held)

    def touch(self, provider: str, job_id: str, *, confirm: bool = True) -> bool:
        """Mark a held lease as in use; past half its length (and ``confirm``), keep it in the
        database first. ``False`` when it is no longer held."""
        job = (provider, job_id)
        ttl = self._seconds
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
            kept = self._store.keep(provider, job_id, self._holder, ttl)
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
        """Drop a lease the ledger cleared with its write (the job was seen finished)."""
        with self._lock:
            self._held.pop((provider, job_id), None)

    def release(self, provider: str, job_id: str) -> None:
        """Give one lease up (nothing when it is not held)."""
        with self._lock:
            if self._held.pop((provider, job_id), None) is None:
                return
        try:
            self._store.release(self._holder, [(provider, job_id)])
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
        ttl = self._seconds
        while not self._stop.wait(ttl / 3):
            now = time.monotonic()
            with self._lock:
                keep = [job for job, (_, used) in self._held.items() if now - used < ttl]
            try:
                held = self._store.renew(self._holder, ttl, keep)
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
        """Stop the keeper thread and give every lease up."""
        self._stop.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=5)
        with self._lock:
            had = bool(self._held)
            self._held.clear()
        if had or self._keeper is not None:
            with contextlib.suppress(LedgerError, ConfigurationError):
                self._store.release(self._holder, None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


if TYPE_CHECKING:
    # mypy proves here that the class implements the Store protocol
    _IMPLEMENTS_STORE: StoreClass = PostgresStore
