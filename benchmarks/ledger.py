"""Ledger: recording submits and listing jobs, in a SQLite file in a temporary folder.

Recording: ``submits`` times what ``client.submit`` writes for each job -- ``Ledger.begin`` before
the request leaves and ``Ledger.issued`` when the job id comes back -- each its own transaction.
Listing: the ledger is grown to ``listed`` jobs (the recorded rows copied with new ids, in one
transaction, not timed), then ``Ledger.entries()`` and ``asyncjobs.jobs()`` (the same rows as ``Job``
handles, what a user lists after a restart) read all of them.
"""

from __future__ import annotations

import gc
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._common import summarize


def _info(i: int) -> Any:
    from asyncjobs import JobInfo, Status

    now = datetime.now(timezone.utc)
    return JobInfo(
        provider="convertapi",
        id=f"{i:032x}",
        kind="convert",
        status=Status.PENDING,
        raw_status="submitted",
        submitted_at=now,
        expires_at=now,
        meta={"protocol": "current"},
    )


def _grow(ledger: Any, total: int) -> None:
    """Copy the ledger's rows, with new keys and job ids, until it holds ``total``."""
    db = ledger._db  # bulk setup only; the timed parts use the public API
    have = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    round_ = 0
    with ledger._tx():
        while have < total:
            round_ += 1
            db.execute(
                "INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status,"
                " error, created_at, updated_at, submitted_at, started_at, completed_at,"
                " expires_at, meta, finished_seen_at)"
                " SELECT key || ?, provider, job_id || ?, kind, params, state, status, raw_status,"
                " error, created_at + ?, updated_at, submitted_at, started_at, completed_at,"
                " expires_at, meta, finished_seen_at FROM jobs WHERE key NOT LIKE '%-%' LIMIT ?",
                (f"-{round_}", f"-{round_}", round_, total - have),
            )
            have = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


def run(
    *, submits: int = 10_000, listed: int = 100_000, repeats: int = 3, tmp: Path
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    import asyncjobs
    from asyncjobs._ledger import Ledger

    record, entries, handles = [], [], []
    for r in range(repeats):
        with Ledger(tmp / f"ledger-{r}.sqlite3") as ledger:
            infos = [_info(i) for i in range(submits)]
            params = {"source": {"path": "/data/report.docx", "size": 52_000}, "to": "pdf"}
            start = time.perf_counter()
            for info in infos:
                key = ledger.begin("convertapi", "convert", params, info.id)
                ledger.issued(key, info)
            record.append((time.perf_counter() - start) / submits * 1e6)
            _grow(ledger, listed)
            gc.collect()
            start = time.perf_counter()
            rows = ledger.entries()
            entries.append(time.perf_counter() - start)
            assert len(rows) == listed, len(rows)
            del rows
            gc.collect()
            start = time.perf_counter()
            found = asyncjobs.jobs(ledger=ledger)
            handles.append(time.perf_counter() - start)
            assert len(found) == listed
        for path in tmp.glob(f"ledger-{r}.sqlite3*"):
            path.unlink()
    listing = summarize(handles, 3)
    return {
        "title": "Ledger",
        "setup": f"SQLite in a temporary folder; {submits} submits, {listed} jobs; {repeats} runs",
        "submits": submits,
        "listed": listed,
        "record_submit_us": summarize(record, 1),
        "entries_s": summarize(entries, 3),
        "jobs_s": listing,
        "list_us_per_job": summarize([s / listed * 1e6 for s in handles], 2),
        "target": f"asyncjobs.jobs() of {listed} jobs < 1 s",
        "met": listing["median"] < 1.0,
    }
