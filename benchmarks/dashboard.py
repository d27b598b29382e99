"""Dashboard: the first page of a ledger of a million jobs, and what a page weighs.

A SQLite ledger and a PostgreSQL one (a server of the benchmark's own) are grown to ``jobs`` rows
(copies of a few thousand recorded through the ledger's API; not timed). ``asyncjobs dashboard``
serves each in its own process (waitress); the time of ``GET /`` (the first page of jobs, newest
first) is taken over loopback, the first request after the server started and the following
ones apart, side by side with the comparator the issue names: the time to the first job row of
``asyncjobs list`` over the same ledger, in a new process. Page weight: the bytes of the jobs
page with everything it loads (its style sheet, its script, its chart).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from ._common import summarize
from .ledger import _grow, _info, _list_cli

#: The first page must come at least as fast as the first row of ``asyncjobs list``.
TARGET = 1.0


def _fill_sqlite(path: Path, jobs: int) -> None:
    from asyncjobs._ledger import Ledger

    with Ledger(path) as ledger:
        for i in range(min(jobs, 2000)):
            key = ledger.begin("convertapi", "convert", {"to": "pdf"})
            ledger.issued(key, _info(i))
        _grow(ledger, jobs)


def _fill_postgres(url: str, jobs: int) -> None:
    from asyncjobs._ledger import Ledger

    with Ledger(url) as ledger:
        for i in range(min(jobs, 2000)):
            key = ledger.begin("convertapi", "convert", {"to": "pdf"})
            ledger.issued(key, _info(i))
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:  # bulk setup only, not timed
        have = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]  # type: ignore[index]
        db.execute(
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status,"
            " created_at, updated_at, submitted_at, meta)"
            " SELECT 'k' || g, 'convertapi', 'j' || g, 'convert', '{}', 'submitted',"
            " CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'done' END, 'x',"
            " extract(epoch from now()) - g, extract(epoch from now()) - g,"
            " extract(epoch from now()) - g, '{}' FROM generate_series(1, %s) AS g",
            (jobs - have,),
        )
        db.execute("ANALYZE jobs")


class _Served:
    """``asyncjobs dashboard`` over a ledger, in its own process."""

    def __init__(self, ledger: str) -> None:
        env = {**os.environ, "ASYNCJOBS_PROGRESS": "0"}
        self.proc = subprocess.Popen(
            # its stderr is read only at the end: no access line per request (a full pipe would
            # stop the server), and no cost of logging in the figures
            [
                sys.executable,
                "-m",
                "asyncjobs",
                "dashboard",
                "--port",
                "0",
                "--ledger",
                ledger,
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"dashboard on (http://\S+)", line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"the dashboard did not start: {line} {self.proc.stderr}")
        self.url = found.group(1)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _measure(ledger: str, repeats: int) -> dict[str, Any]:
    served = _Served(ledger)
    try:
        with requests.Session() as http:
            cold, first = _timed(lambda: http.get(served.url + "/", timeout=60))
            first.raise_for_status()
            warm = [
                _timed(lambda: http.get(served.url + "/", timeout=60))[0] for _ in range(repeats)
            ]
            older = re.search(r'id="older" href="([^"]+)"', first.text)
            deep = []
            if older:
                link = older.group(1).replace("&amp;", "&")
                deep = [
                    _timed(lambda: http.get(served.url + link, timeout=60))[0]
                    for _ in range(repeats)
                ]
            failed = [
                _timed(lambda: http.get(served.url + "/?status=failed", timeout=60))[0]
                for _ in range(repeats)
            ]
            chart = [
                _timed(lambda: http.get(served.url + "/charts/jobs.svg", timeout=60))[0]
                for _ in range(repeats)
            ]
            weight = {
                "html": len(first.content),
                "css": len(http.get(served.url + "/static/dashboard.css", timeout=60).content),
                "js": len(http.get(served.url + "/static/dashboard.js", timeout=60).content),
                "chart": len(http.get(served.url + "/charts/jobs.svg", timeout=60).content),
            }
            rows = first.text.count("<tr data-key=")
    finally:
        served.close()
    return {
        "first_request_s": round(cold, 4),
        "page_s": summarize(warm),
        "next_page_s": summarize(deep) if deep else None,
        "failed_filter_s": summarize(failed),
        "chart_s": summarize(chart),
        "rows": rows,
        "weight_bytes": weight,
        "weight_total_kib": round(sum(weight.values()) / 1024, 1),
    }


def run(*, jobs: int = 1_000_000, repeats: int = 5, tmp: Path) -> dict[str, Any]:
    """Measure the first page of ``jobs`` jobs on SQLite and PostgreSQL, and the page weight."""
    from asyncjobs._pgserver import postgres_server

    backends: dict[str, Any] = {}
    path = tmp / "dashboard.sqlite3"
    _fill_sqlite(path, jobs)
    lister = [_list_cli(path) for _ in range(min(repeats, 3))]
    backends["sqlite"] = {
        **_measure(str(path), repeats),
        "list_first_row_s": summarize([c["first_row_s"] for c in lister]),
    }
    with postgres_server() as url:
        _fill_postgres(url, jobs)
        lister = [_list_cli(url) for _ in range(min(repeats, 3))]
        backends["postgresql"] = {
            **_measure(url, repeats),
            "list_first_row_s": summarize([c["first_row_s"] for c in lister]),
        }
    for by in backends.values():
        by["met"] = by["page_s"]["median"] <= TARGET * by["list_first_row_s"]["median"]
    return {
        "jobs": jobs,
        "backends": backends,
        "met": all(b["met"] for b in backends.values()),
        "target": "GET / of the first page no slower than asyncjobs list's first row, on both",
    }


def rows(
    r: dict[str, Any], fig: Callable[..., str], ok: Callable[[bool], str]
) -> list[tuple[str, ...]]:
    """The section's rows of the benchmark table."""
    out = []
    for name, by in r["backends"].items():
        out.append(
            (
                f"Dashboard, {r['jobs']:,} jobs",
                f"{name}: GET / (first page), s; first request after start "
                f"{by['first_request_s']:.3f} s; ?status=failed {fig(by['failed_filter_s'], digits=3)};"
                f" the chart (an image of its own) {fig(by['chart_s'], digits=3)}",
                fig(by["page_s"], digits=3),
                f"asyncjobs list, first row {fig(by['list_first_row_s'], digits=3)}",
                "",
                "<= asyncjobs list's first row",
                ok(by["met"]),
            )
        )
        out.append(
            (
                f"Dashboard, {r['jobs']:,} jobs",
                f"{name}: page weight (HTML, CSS, JS, chart), KiB",
                f"{by['weight_total_kib']:.1f}",
                ", ".join(f"{k} {v:,} B" for k, v in by["weight_bytes"].items()),
                "",
                "",
                "",
            )
        )
    return out
