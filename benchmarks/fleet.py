"""Fleet: workers polling the jobs of one PostgreSQL ledger, and listing that ledger at scale.

A PostgreSQL server of the benchmark's own (``initdb`` into a temporary folder, a Unix socket,
``fsync`` off) holds the ledger. Conversio's sandbox runs in its own process; its n-th job lasts the
n-th of ``jobs`` durations spread evenly over 1-20 s (shuffled), in real time. The jobs are submitted
once through asyncjobs (8 threads; not timed). Then, for 1, 2 and 4 worker processes in turn
(``asyncjobs worker --provider conversio``, Conversio's production poll policy): the workers are
started and ready, every job restarts at the sandbox at one moment and is marked pending in the
ledger, and the clock runs until the ledger holds every job ``done``. The workers are then stopped
(SIGTERM) and report their polls and the SQL statements their ledger ran.

Reported per worker count: wall time against the longest job (20 s); polls per job, against the
vendor samples' ``sleep(1)`` loop as the service would see it (one poll per job per second of its
duration, counted from the durations); ledger statements per poll (claims, lease upkeep, status
reads and writes: everything the worker's ledger ran, divided by its polls).

Listing: the ledger is grown to ``listed`` rows (in SQL, not timed), ``asyncjobs.jobs()`` is taken
with its ``len`` (a count) and iterated apart; then grown to ``streamed`` rows, and ``asyncjobs list``
reads it in a new process: time to its first job row, to the end, and peak RSS. The SQLite figures of
the same measures are the ``ledger`` section's.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from ._common import ServerProcess, spread, summarize
from .ledger import _list_cli

PROVIDER = "conversio"
LOW, HIGH = 1.0, 20.0


def _env(url: str, settings: dict[str, str]) -> dict[str, str]:
    from asyncjobs._registry import get_provider_class

    by_name = {s.name: s.env for s in get_provider_class(PROVIDER).settings}
    env = {**os.environ, "ASYNCJOBS_LEDGER": url, "ASYNCJOBS_PROGRESS": "0"}
    for key, value in settings.items():
        name = by_name.get(key)
        if name:
            env[name] = value
    return env


def _submit(url: str, settings: dict[str, str], n: int) -> None:
    import asyncjobs

    with asyncjobs.connect(PROVIDER, ledger=url, **settings) as client:
        with cf.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: client.submit("segments-export", segment="s1"), range(n)))


def _sql(url: str, statement: str, args: Any = None) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, args)
        return cur.fetchall() if cur.description else []


def _workers(env: dict[str, str], k: int, concurrency: int) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "asyncjobs",
                "--json",
                "worker",
                "--provider",
                PROVIDER,
                "--concurrency",
                str(concurrency),
                "--max-jobs",
                "10000",
                "--log-level",  # stderr is read only at the end: no line per job ended
                "WARNING",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(k)
    ]
    for proc in procs:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "polling" not in line:
            raise RuntimeError(f"a worker did not start: {line}{proc.stderr.read()[-2000:]}")
    return procs


def _one_run(
    url: str, server: ServerProcess, env: dict[str, str], n: int, k: int, concurrency: int
) -> dict[str, float]:
    _sql(url, "UPDATE asyncjobs.jobs SET status='done'")  # nothing to claim while they start
    procs = _workers(env, k, concurrency)
    try:
        server.restart_jobs()
        start = time.monotonic()
        _sql(
            url,
            "UPDATE asyncjobs.jobs SET status='pending', raw_status='pending', lease_holder=NULL,"
            " lease_until=NULL, finished_seen_at=NULL, completed_at=NULL",
        )
        _sql(url, "NOTIFY asyncjobs, 'start'")
        while True:
            left = _sql(url, "SELECT count(*) FROM asyncjobs.jobs WHERE status <> 'done'")[0][0]
            if left == 0:
                break
            if time.monotonic() - start > 600:
                raise RuntimeError(f"{left} jobs still pending after 600 s")
            time.sleep(0.1)
        wall = time.monotonic() - start
    finally:
        stats = []
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"a worker failed: {err[-2000:]}")
            stats.append(json.loads(out))
    polls = sum(s["polls"] for s in stats)
    statements = sum(s["statements"] for s in stats)
    return {
        "wall_s": wall,
        "polls": polls,
        "statements": statements,
        "polls_per_job": polls / n,
        "statements_per_poll": statements / max(polls, 1),
    }


def _grow(url: str, total: int) -> None:
    """Copy the ledger's first row with new keys and ids until it holds ``total`` (setup, in SQL)."""
    have = _sql(url, "SELECT count(*) FROM asyncjobs.jobs")[0][0]
    if have >= total:
        return
    _sql(
        url,
        "INSERT INTO asyncjobs.jobs (key, provider, job_id, kind, params, state, status,"
        " raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at,"
        " expires_at, meta, finished_seen_at) SELECT key || %s || g, provider, job_id || %s || g,"
        " kind, params, state, status, raw_status, error, created_at + g * 1e-3, updated_at,"
        " submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at FROM"
        " (SELECT * FROM asyncjobs.jobs LIMIT 1) j, generate_series(1, %s) g",
        (f"-{have}-", f"-{have}-", total - have),
    )
    _sql(url, "VACUUM ANALYZE asyncjobs.jobs")


def run(
    *,
    jobs: int = 10_000,
    workers: tuple[int, ...] = (1, 2, 4),
    concurrency: int = 8,
    listed: int = 100_000,
    streamed: int = 1_000_000,
    repeats: int = 1,
    low: float = LOW,
    high: float = HIGH,
    tmp: Path,
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    import asyncjobs
    from asyncjobs._ledger import Ledger
    from asyncjobs._pgserver import postgres_server

    lengths = spread(jobs, low, high)
    loop_polls = sum(max(1, round(d)) for d in lengths) / jobs  # sleep(1): one poll a second
    runs: dict[int, list[dict[str, float]]] = {k: [] for k in workers}
    listing: dict[str, list[float]] = {"jobs_s": [], "iterated_s": [], "first": [], "total": [],
                                       "peak": []}  # fmt: skip
    with postgres_server() as server_url:
        _sql(server_url, "CREATE DATABASE fleet")
        url = server_url.replace("/postgres?", "/fleet?")
        Ledger(url).close()
        with ServerProcess(
            PROVIDER, "--scale", "1", "--spread", f"{jobs}:{low}:{high}", tmpdir=tmp
        ) as server:
            _submit(url, server.settings, jobs)
            env = _env(url, server.settings)
            for _ in range(repeats):
                for k in workers:
                    runs[k].append(_one_run(url, server, env, jobs, k, concurrency))
        _sql(url, "DELETE FROM asyncjobs.statuses")
        _sql(url, "DELETE FROM asyncjobs.jobs WHERE seq > (SELECT min(seq) FROM asyncjobs.jobs)")
        _grow(url, listed)
        for _ in range(repeats):
            with Ledger(url) as ledger:
                gc.collect()
                start = time.perf_counter()
                found = asyncjobs.jobs(ledger=ledger)
                assert len(found) == listed, len(found)
                listing["jobs_s"].append(time.perf_counter() - start)
                start = time.perf_counter()
                assert sum(1 for _ in found) == listed
                listing["iterated_s"].append(time.perf_counter() - start)
        _grow(url, streamed)
        for _ in range(repeats):
            cli = _list_cli(url)  # type: ignore[arg-type]
            listing["first"].append(cli["first_row_s"])
            listing["total"].append(cli["total_s"])
            listing["peak"].append(cli["peak_mib"])
    by_workers = {
        str(k): {
            "wall_s": summarize([r["wall_s"] for r in rs], 2),
            "wall_vs_longest": summarize([r["wall_s"] / high for r in rs], 2),
            "polls_per_job": summarize([r["polls_per_job"] for r in rs], 2),
            "statements_per_poll": summarize([r["statements_per_poll"] for r in rs], 2),
        }
        for k, rs in runs.items()
    }
    jobs_s = summarize(listing["jobs_s"], 3)
    first = summarize(listing["first"], 3)
    peak = summarize(listing["peak"], 1)
    return {
        "title": "Fleet",
        "setup": (
            f"PostgreSQL {_sql_version()} of its own (Unix socket, fsync off); {jobs} Conversio jobs"
            f" of {low:g}-{high:g} s in real time; {', '.join(map(str, workers))} worker"
            f" processes of {concurrency} polls each; {listed} rows listed, {streamed} streamed;"
            f" {repeats} run(s)"
        ),
        "jobs": jobs,
        "job_seconds": [low, high],
        "listed": listed,
        "streamed": streamed,
        "workers": by_workers,
        "loop_polls_per_job": round(loop_polls, 2),
        "jobs_s": jobs_s,
        "jobs_iterated_s": summarize(listing["iterated_s"], 3),
        "list_cli_first_row_s": first,
        "list_cli_total_s": summarize(listing["total"], 2),
        "list_cli_peak_mib": peak,
        "target": (
            f"asyncjobs.jobs() of {listed} rows < 1 s on PostgreSQL; `asyncjobs list` of {streamed}"
            " rows: first row < 1 s, peak < 100 MiB"
        ),
        "met": jobs_s["median"] < 1.0 and first["median"] < 1.0 and peak["max"] < 100,
    }


def _sql_version() -> str:
    from asyncjobs._pgserver import find_binaries

    folder = find_binaries()
    if folder is None:
        return "?"
    out = subprocess.run([str(folder / "postgres"), "--version"], capture_output=True, text=True)
    return out.stdout.split()[-3] if out.stdout else "?"
