"""Request budgets: 4 processes x 8 threads polling 2,000 jobs under one budget of 20 requests/s.

Conversio's sandbox runs in its own process and records when each request arrived and what it was
answered (``--record``); its jobs never finish. 2,000 jobs are submitted once without a budget (not
timed). Then four processes of eight threads each start together, every one connected with
``budget="20/s"`` to the same ledger (a SQLite file; then a PostgreSQL database of the benchmark's
own), and each thread polls its share of the jobs once each: 2,000 requests, about 100 s at the
budget. Part way through, the sandbox answers one request 429 with ``Retry-After: 2``.

Counted at the sandbox, from the arrivals: the most requests in any 1-second window (target: at most
21, the rate and the one a window's edges can hold), the requests per second used while work
remained (the arrivals over their span, less the pause; target: at least 18), and after the 429:
the last request to arrive after it (target: within 0.25 s) and the first to arrive after that
(target: not before the pause it asked for ends, less the 0.25 s).
"""

from __future__ import annotations

import bisect
import concurrent.futures as cf
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._common import ROOT, ServerProcess

PROVIDER = "conversio"
RATE = 20.0
RETRY_AFTER = 2.0
NOTICE = 0.25

_PROCESS = """
import sys, threading
import asyncjobs
client = asyncjobs.connect({provider!r}, ledger={ledger!r}, budget={budget!r}, **{settings!r})
print("ready", flush=True)
sys.stdin.readline()
def run(ids):
    for job_id in ids:
        client.status(job_id)
ids = {ids!r}
threads = [threading.Thread(target=run, args=(ids[i::{threads}],)) for i in range({threads})]
for t in threads: t.start()
for t in threads: t.join()
client.close()
"""


def most_in_a_window(times: list[float], width: float = 1.0) -> int:
    """The most of ``times`` (sorted) in any window ``width`` long."""
    return max((bisect.bisect_left(times, t + width) - i for i, t in enumerate(times)), default=0)


def _submit(ledger: str, settings: dict[str, str], n: int) -> list[str]:
    import asyncjobs

    with asyncjobs.connect(PROVIDER, ledger=ledger, budget=False, **settings) as client:
        with cf.ThreadPoolExecutor(8) as pool:
            jobs = pool.map(lambda _: client.submit("segments-export", segment="s1"), range(n))
            return [job.id for job in jobs]


def _one_run(
    server: ServerProcess, ledger: str, ids: list[str], processes: int, threads: int, at: float
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ASYNCJOBS_PROGRESS": "0"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PROCESS.format(
                    provider=PROVIDER,
                    ledger=ledger,
                    budget=f"{RATE:g}/s",
                    settings=server.settings,
                    ids=ids[i::processes],
                    threads=threads,
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a polling process did not start")
    before = len(server.arrivals())
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    time.sleep(at)
    server.throttle(RETRY_AFTER)
    for proc in procs:
        proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError("a polling process failed")
    arrivals = server.arrivals()[before:]
    times = sorted(t for t, _ in arrivals)
    [throttled] = [t for t, status in arrivals if status == 429]
    after = [t for t in times if t > throttled]
    late = [t for t in after if t < throttled + RETRY_AFTER - NOTICE]
    resumed = next((t for t in after if t >= throttled + NOTICE), None)
    span = times[-1] - times[0] - RETRY_AFTER
    return {
        "requests": len(times),
        "most_in_1s": most_in_a_window(times),
        "rate_used": (len(times) - 1) / span,
        "last_after_429_s": max((t - throttled for t in after if t in late), default=0.0),
        "resumed_after_s": None if resumed is None else resumed - throttled,
    }


def run(*, jobs: int = 2000, processes: int = 4, threads: int = 8, tmp: Path) -> dict[str, Any]:
    """Measure; return the section's figures."""
    from asyncjobs._ledger import Ledger
    from asyncjobs._pgserver import postgres_server

    from .fleet import _sql

    polls = jobs / RATE
    results: dict[str, dict[str, Any]] = {}
    with ServerProcess(PROVIDER, "--duration", "1e9", "--record", tmpdir=tmp) as server:
        sqlite = str(tmp / "budget.sqlite3")
        ids = _submit(sqlite, server.settings, jobs)
        results["sqlite"] = _one_run(server, sqlite, ids, processes, threads, polls * 0.4)
        with postgres_server() as server_url:
            _sql(server_url, "CREATE DATABASE budget")
            url = server_url.replace("/postgres?", "/budget?")
            Ledger(url).close()
            ids = _submit(url, server.settings, jobs)
            results["postgresql"] = _one_run(server, url, ids, processes, threads, polls * 0.4)
    met = all(
        r["most_in_1s"] <= RATE + 1
        and r["rate_used"] >= 18
        and r["last_after_429_s"] <= NOTICE
        and r["resumed_after_s"] is not None
        and r["resumed_after_s"] >= RETRY_AFTER - NOTICE
        for r in results.values()
    )
    return {
        "title": "Budget",
        "setup": (
            f"{processes} processes x {threads} threads polling {jobs} Conversio jobs once each"
            f" under budget={RATE:g}/s, on a SQLite ledger and on PostgreSQL; one 429"
            f" (Retry-After: {RETRY_AFTER:g}) part way"
        ),
        "jobs": jobs,
        "rate": RATE,
        "retry_after": RETRY_AFTER,
        "backends": results,
        "target": (
            f"no 1-s window above {RATE + 1:g} requests; >= 18 requests/s used; after a 429 no"
            f" request later than {NOTICE:g} s, none before the pause ends (less {NOTICE:g} s)"
        ),
        "met": met,
    }
