"""How tests/data/ledger-v3.* were made: a ledger written by asyncjobs 0.1 (commit 4dd8068), the
release before the ledger's schema was shared by its backends. Run from a checkout of that commit:

    PYTHONPATH=<checkout>:tests python tests/data/make_old_ledgers.py tests/data

It writes ``ledger-v3.sqlite3`` (the SQLite file), ``ledger-v3.json`` (everything that release read
back from it) and ``ledger-pg-v1.sql`` (that release's PostgreSQL schema, its DDL text as it was,
holding the same rows).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ledger_support import content

from asyncjobs import _ledger_pg
from asyncjobs._ledger import Ledger
from asyncjobs._models import JobInfo, Status

T = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)


def _write(ledger: Ledger) -> None:
    ledger.begin("convertapi", "convert", {"source": {"path": "/in/a.docx"}, "to": "pdf"})
    done = ledger.begin("convertapi", "convert", {"to": "pdf"}, "job-done")
    ledger.issued(
        done, JobInfo("convertapi", "job-done", "convert", "pending", raw_status="queued")
    )
    ledger.seen(
        JobInfo(
            "convertapi",
            "job-done",
            "convert",
            Status.DONE,
            raw_status="finished",
            submitted_at=T,
            started_at=T,
            completed_at=T,
            expires_at=T,
            meta={"progress": 100, "files": ["a.pdf"]},
        )
    )
    failed = ledger.begin("groupdocs", "convert", {"to": "png"})
    ledger.issued(failed, JobInfo("groupdocs", "g-1", "convert", "pending"))
    ledger.seen(JobInfo("groupdocs", "g-1", "convert", "failed", raw_status="Error", error="bad"))
    ledger.failed(ledger.begin("conversio", "export", {}), "401 refused", ambiguous=False)
    ledger.failed(ledger.begin("conversio", "export", {}), "timed out", ambiguous=True)
    old = ledger.begin("conversio", "export", {"n": 1})
    ledger.issued(old, JobInfo("conversio", "c-1", "export", "pending"))
    again = ledger.begin("conversio", "export", {"n": 2})
    ledger.issued(again, JobInfo("conversio", "c-1", "export", "pending"))  # supersedes `old`
    ledger.seen(JobInfo("conversio", "c-2", "export", "pending", meta={"polled": True}))
    ledger.cancelled(JobInfo("conversio", "c-2", "export", "failed", raw_status="cancelled"))
    ledger.seen(JobInfo("conversio", "c-3", "export", "pending"))
    with ledger._tx() as db:  # a lease, as a PostgreSQL poller leaves it
        db.execute(
            "UPDATE jobs SET lease_holder='host:1:abc', lease_until=1900000000.5 WHERE job_id='c-3'"
        )


def _pg_script(path: Path) -> str:
    db = sqlite3.connect(path)
    lines = [
        "-- asyncjobs 0.1's PostgreSQL ledger: its DDL as _ledger_pg.PG_MIGRATIONS had it, and rows",
        "CREATE SCHEMA asyncjobs;",
        "SET search_path TO asyncjobs;",
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ]
    lines += [f"{statement};" for step in _ledger_pg.PG_MIGRATIONS for statement in step]
    version = _ledger_pg.PG_SCHEMA_VERSION
    lines.append(
        f"INSERT INTO meta (name, value) VALUES ('application', 'asyncjobs'), ('version', '{version}');"
    )
    for table in ("jobs", "statuses"):
        cur = db.execute(f"SELECT * FROM {table} ORDER BY rowid")
        names = ", ".join(d[0] for d in cur.description)
        for row in cur.fetchall():
            values = ", ".join(_literal(v) for v in row)
            lines.append(f"INSERT INTO {table} ({names}) VALUES ({values});")
    return "\n".join(lines) + "\n"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite3"
        with Ledger(path) as ledger:
            _write(ledger)
            read = content(ledger)
        (out / "ledger-v3.sqlite3").write_bytes(path.read_bytes())
        (out / "ledger-pg-v1.sql").write_text(_pg_script(path))
    (out / "ledger-v3.json").write_text(json.dumps(read, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
