"""What the ledger tests share: a ledger's whole content as plain data, to compare one ledger with
another or with what an earlier release read (tests/data/ledger-v3.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _info(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "provider": info.provider,
        "id": info.id,
        "kind": info.kind,
        "status": info.status.value,
        "raw_status": info.raw_status,
        "error": info.error,
        "submitted_at": _when(info.submitted_at),
        "started_at": _when(info.started_at),
        "completed_at": _when(info.completed_at),
        "expires_at": _when(info.expires_at),
        "meta": dict(info.meta),
    }


def content(ledger: Any) -> list[dict[str, Any]]:
    """Every entry of ``ledger`` and its history, as JSON-safe data (``ledger``: a Ledger of this
    release or of an earlier one)."""
    out = []
    for entry in ledger.entries():
        history = ledger.history(entry.provider, entry.job_id) if entry.job_id is not None else []
        out.append(
            {
                "key": entry.key,
                "provider": entry.provider,
                "kind": entry.kind,
                "job_id": entry.job_id,
                "params": dict(entry.params),
                "state": entry.state,
                "info": _info(entry.info),
                "created_at": _when(entry.created_at),
                "updated_at": _when(entry.updated_at),
                "finished_seen_at": _when(entry.finished_seen_at),
                "error": entry.error,
                "holder": entry.holder,
                "lease_until": _when(entry.lease_until),
                "history": [[_when(t), s.value, r] for t, s, r in history],
            }
        )
    return out


class Raw:
    """A ledger's database reached without asyncjobs (plain SQL on a connection of its own): to
    build an old ledger, or to look at one without the code under test."""

    def __init__(self, backend: str, target: str) -> None:
        self.backend = backend
        self.target = target

    def run(self, statements: str | list[str], args: Any = None) -> list[Any]:
        """Run statements (a script, or one statement with ``args``); the last one's rows."""
        if self.backend == "sqlite":
            import sqlite3

            db = sqlite3.connect(self.target)
            try:
                if isinstance(statements, str) and args is None:
                    db.executescript(statements)
                    return []
                rows: list[Any] = []
                for statement in [statements] if isinstance(statements, str) else statements:
                    rows = db.execute(statement, args or ()).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as conn:
            conn.execute("SET search_path TO asyncjobs")
            cur: Any = None
            for statement in [statements] if isinstance(statements, str) else statements:
                cur = conn.execute(statement, args)
            return cur.fetchall() if cur is not None and cur.description else []

    def version(self) -> int:
        """The schema version the database says it is of."""
        if self.backend == "sqlite":
            return int(self.run(["PRAGMA user_version"])[0][0])
        return int(dict(self.run("SELECT name, value FROM meta"))["version"])

    def build(self, version: int) -> None:
        """Make the ledger a release of schema ``version`` wrote: the first ``version`` migration
        steps, in this backend's dialect, and that version recorded."""
        from asyncjobs._ledger._postgres import POSTGRESQL
        from asyncjobs._ledger._schema import MIGRATIONS
        from asyncjobs._ledger._sqlite import SQLITE

        if self.backend == "postgresql":
            self.run(["CREATE SCHEMA asyncjobs"])
        dialect = SQLITE if self.backend == "sqlite" else POSTGRESQL
        for step in MIGRATIONS[:version]:
            self.run(dialect.render_step(step))
        self.set_version(version)

    def set_version(self, version: int) -> None:
        """Say the database is of ``version`` (as the release that wrote it would)."""
        if self.backend == "sqlite":
            self.run([f"PRAGMA user_version={version}"])
            return
        self.run(
            [
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                "INSERT INTO meta VALUES ('application', 'asyncjobs'), ('numbering', 'shared'),"
                f" ('version', '{version}') ON CONFLICT (name) DO UPDATE SET value ="
                " EXCLUDED.value",
            ]
        )

    def dump(self) -> list[Any]:
        """Everything in the ledger's tables and its version, to see that nothing changed."""
        return [
            self.version(),
            self.run(["SELECT * FROM jobs ORDER BY key"]),
            self.run(["SELECT * FROM statuses ORDER BY key, seen_at"]),
        ]

    def columns(self) -> dict[str, list[tuple[str, str, bool]]]:
        """Each table's columns: name, type, not null."""
        out: dict[str, list[tuple[str, str, bool]]] = {}
        for table in ("jobs", "statuses"):
            if self.backend == "sqlite":
                rows = self.run([f"PRAGMA table_info({table})"])
                out[table] = [(r[1], r[2], bool(r[3])) for r in rows]
            else:
                rows = self.run(
                    "SELECT column_name, data_type, is_nullable = 'NO' FROM"
                    " information_schema.columns WHERE table_schema = 'asyncjobs' AND"
                    " table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
                out[table] = [tuple(r) for r in rows]
        return out

    def indexes(self) -> list[tuple[str, str]]:
        """Every index: its name and its definition, normalised."""
        if self.backend == "sqlite":
            rows = self.run(
                ["SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"]
            )
            return sorted((n, " ".join(s.replace(" IF NOT EXISTS", "").split())) for n, s in rows)
        rows = self.run(["SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='asyncjobs'"])
        return sorted((n, d) for n, d in rows)


class Writes:
    """Whether a ledger's database was written, seen from a connection of its own (backend-neutral):
    a SQLite file's ``PRAGMA data_version`` moves only when another connection commits a change; a
    PostgreSQL row's ``xmin`` changes with every write of it, and the history only grows."""

    def __init__(self, backend: str, target: str) -> None:
        self.raw = Raw(backend, target)
        self._observer: Any = None

    def mark(self) -> Any:
        """The database's state of writes now (equal marks: nothing was written in between)."""
        if self.raw.backend == "sqlite":
            import sqlite3

            if self._observer is None:
                self._observer = sqlite3.connect(self.raw.target)
            return self._observer.execute("PRAGMA data_version").fetchone()[0]
        return self.raw.run(
            "SELECT (SELECT string_agg(key || ':' || xmin::text, ',' ORDER BY key) FROM jobs),"
            " (SELECT count(*) FROM statuses)"
        )

    def close(self) -> None:
        """Close the observer's connection."""
        if self._observer is not None:
            self._observer.close()
