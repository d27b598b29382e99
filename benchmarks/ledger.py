"""Ledger: recording submits and listing jobs, in a SQLite file in a temporary folder.

Recording: ``submits`` times what ``client.submit`` writes for each job -- ``Ledger.begin`` before
the request leaves and ``Ledger.issued`` when the job id comes back -- each its own transaction.
Listing: the ledger is grown to ``listed`` jobs (the recorded rows copied with new ids, in one
transaction, not timed), then ``Ledger.entries()`` reads all of them, and ``asyncjobs.jobs()`` (the same rows as ``Job``
handles, what a user lists after a restart) is called and its ``len`` taken (it streams from the
ledger; iterating all of it is timed apart). Unchanged statuses: a new ``Ledger`` object (as a new
process) sees every recorded job's status again, unchanged; the rows it writes are counted. Listing
at scale: the first ledger grown to ``streamed`` jobs is listed by ``asyncjobs list`` in a new
process: the time to its first job row, to the end, and its peak RSS.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
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
    """Copy the ledger's rows (all of them, doubling it each round), with new keys and job ids,
    until it holds ``total``."""
    db = ledger._store.db  # bulk setup only; the timed parts use the public API
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
                " expires_at, meta, finished_seen_at FROM jobs LIMIT ?",
                (f"-{have}", f"-{have}", round_, total - have),
            )
            have = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


# The peak is VmHWM (this process's own high-water mark): getrusage's ru_maxrss would carry the
# parent's over fork and exec on Linux.
_LISTER = (
    "import sys\n"
    "from asyncjobs.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
    "print(hwm, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _list_cli(path: Path | str) -> dict[str, float]:
    """``asyncjobs list`` of the whole ledger in a new process: seconds to its first job row (from
    the process start, Python's own start included), to its last, and its peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LISTER, "--ledger", str(path), "list", "--local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ASYNCJOBS_PROGRESS": "0"},
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the header
    proc.stdout.readline()
    first = time.perf_counter() - start
    lines = 2
    for _ in proc.stdout:
        lines += 1
    _, err = proc.communicate()
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"asyncjobs list failed: {err.decode()[-500:]}")
    peak_kib = int(err.decode().strip().splitlines()[-1])
    return {"first_row_s": first, "total_s": total, "peak_mib": peak_kib / 1024, "lines": lines}


def _unchanged_writes(ledger: Any, infos: list[Any]) -> int:
    """Rows a new ``Ledger`` object (as in a new process) writes when it sees every job's status
    again unchanged."""
    from asyncjobs._ledger import Ledger

    with Ledger(ledger.path) as fresh:
        before = fresh._store.db.total_changes
        fresh.seen_many(infos)
        for info in infos[:1000]:
            fresh.seen(info)
        return int(fresh._store.db.total_changes - before)


def run(
    *,
    submits: int = 10_000,
    listed: int = 100_000,
    streamed: int = 1_000_000,
    repeats: int = 3,
    tmp: Path,
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    import asyncjobs
    from asyncjobs._ledger import Ledger

    record, entries, handles, walked, unchanged, cli = [], [], [], [], [], []
    for r in range(repeats):
        with Ledger(tmp / f"ledger-{r}.sqlite3") as ledger:
            infos = [_info(i) for i in range(submits)]
            params = {"source": {"path": "/data/report.docx", "size": 52_000}, "to": "pdf"}
            start = time.perf_counter()
            for info in infos:
                key = ledger.begin("convertapi", "convert", params, info.id)
                ledger.issued(key, info)
            record.append((time.perf_counter() - start) / submits * 1e6)
            unchanged.append(_unchanged_writes(ledger, infos))
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
            assert len(found) == listed
            handles.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert sum(1 for _ in found) == listed
            walked.append(time.perf_counter() - start)
            if r == 0:  # one ledger of `streamed` jobs, listed `repeats` times
                _grow(ledger, streamed)
                # the bulk copy is one huge transaction (setup only): checkpoint it, as SQLite
                # does over normal use, so the listing reads the database, not a 400 MB WAL
                ledger._store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cli = [_list_cli(ledger.path) for _ in range(repeats)]
        for path in tmp.glob(f"ledger-{r}.sqlite3*"):
            path.unlink()
    listing = summarize(handles, 3)
    first = summarize([c["first_row_s"] for c in cli], 3)
    peak = summarize([c["peak_mib"] for c in cli], 1)
    return {
        "title": "Ledger",
        "setup": (
            f"SQLite in a temporary folder; {submits} submits, {listed} jobs listed, "
            f"`asyncjobs list` over {streamed} jobs; {repeats} runs"
        ),
        "submits": submits,
        "listed": listed,
        "streamed": streamed,
        "repeats": repeats,
        "record_submit_us": summarize(record, 1),
        "unchanged_writes": max(unchanged),
        "entries_s": summarize(entries, 3),
        "jobs_s": listing,
        "jobs_iterated_s": summarize(walked, 3),
        "list_cli_first_row_s": first,
        "list_cli_total_s": summarize([c["total_s"] for c in cli], 2),
        "list_cli_peak_mib": peak,
        "target": (
            f"asyncjobs.jobs() of {listed} jobs < 0.5 s; `asyncjobs list` of {streamed} jobs: "
            "first row < 1 s, peak < 100 MiB; 0 writes for unchanged statuses"
        ),
        "met": listing["median"] < 0.5
        and first["median"] < 1.0
        and peak["max"] < 100
        and max(unchanged) == 0,
    }
