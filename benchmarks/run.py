"""Run the benchmarks side by side, print one table (Markdown), and write the figures as JSON.

    python -m benchmarks                       # everything, full size (a few minutes)
    python -m benchmarks --smoke               # tiny sizes and counts, seconds (CI)
    python -m benchmarks --quick               # target sizes, fewer runs
    python -m benchmarks --only status,import  # some sections
    python -m benchmarks --only aio            # 10,000 jobs awaited from one event loop
    python -m benchmarks --only notice         # 1,000 jobs: p99 notice delay, every driver
    python -m benchmarks --only webhooks       # 1,000 jobs: woken by webhooks vs polling
    python -m benchmarks --only fleet          # 1, 2, 4 workers on a PostgreSQL ledger
    python -m benchmarks --only scheduler      # CPU per poll: asyncjobs.wait vs a status loop
    python -m benchmarks --only telemetry      # client.status without OpenTelemetry, API only, SDK
    python -m benchmarks --only first_use      # import + connect + one status vs the floor, SDKs
    python -m benchmarks --only celery         # 1,000 jobs through 2 Celery workers vs asyncjobs.wait
    python -m benchmarks --size 256            # large files of 256 MiB

Every figure is the median of several runs, with the min and max. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import MIB, ROOT, machine

SECTIONS = (
    "status",
    "scheduler",
    "many_jobs",
    "aio",
    "notice",
    "webhooks",
    "large_files",
    "import",
    "first_use",
    "ledger",
    "fleet",
    "fleet_scale",
    "budget",
    "telemetry",
    "dashboard",
    "celery",
)
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


def _fig(f: dict[str, Any], unit: str = "", digits: int = 2) -> str:
    def num(v: float) -> str:
        return f"{v:,.{digits}f}"

    return f"{num(f['median'])}{unit} ({num(f['min'])}-{num(f['max'])})"


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"


def table(results: dict[str, Any]) -> str:
    """The figures as one Markdown table."""
    rows: list[tuple[str, ...]] = []
    s = results["sections"]
    if "status" in s:
        r = s["status"]
        for provider, by in r["providers"].items():
            rows.append(
                (
                    "Status overhead",
                    f"{provider}: client.status vs Session.get, us per call; new connections "
                    "per call",
                    f"{_fig(by['asyncjobs_us_per_call'], digits=0)}; "
                    f"{by['asyncjobs_new_connections_per_call']:.2f}",
                    f"Session.get {_fig(by['bare_us_per_call'], digits=0)}; "
                    f"{by['bare_new_connections_per_call']:.2f}",
                    _fig(by["ratio"], "x", 3),
                    "<= 1.05x; 0 new",
                    _ok(by["met"]),
                )
            )
    if "telemetry" in s:
        from .telemetry import rows as telemetry_rows

        rows += telemetry_rows(s["telemetry"], _fig, _ok)
    if "scheduler" in s:
        from .scheduler import rows as scheduler_rows

        rows += scheduler_rows(s["scheduler"], _fig, _ok)
    if "celery" in s:
        from .celery import rows as celery_rows

        rows += celery_rows(s["celery"], _fig, _ok)
    if "many_jobs" in s:
        r = s["many_jobs"]
        c = r["contenders"]
        ours = c["asyncjobs"]
        loop, sweep = c["loop_per_job"], c["loop_sweep"]
        rows.append(
            (
                "Many jobs",
                f"{ours['label']}: wall s (x longest {r['longest_job_s']:g} s)",
                _fig(ours["wall_s"]),
                f"loop per job {_fig(loop['wall_s'])}; sweep {_fig(sweep['wall_s'])}",
                _fig(ours["wall_over_longest"], "x", 2),
                "<= 1.4x",
                _ok(r["met_parts"]["wall"]),
            )
        )
        rows.append(
            (
                "Many jobs",
                f"{ours['label']}: polls sent while waiting",
                _fig(ours["polls"], digits=0),
                f"sleep(1) loop per job {r['loop_polls_reference']:,.0f} if served (measured "
                f"{loop['polls']['median']:,.0f}: {r['polls_ratio_measured_loop']:.2f}x); sweep "
                f"{sweep['polls']['median']:,.0f}",
                f"{r['polls_ratio']:.2f}x",
                "<= 0.8x",
                _ok(r["met_parts"]["requests"]),
            )
        )
        rows.append(
            (
                "Many jobs",
                f"{ours['label']}: p99 notice delay / job's age at notice (/ its length)",
                f"{_fig(ours['p99_delay_of_age'], digits=2)} "
                f"({ours['p99_delay_of_length']['median']:.2f})",
                f"loop per job {loop['p99_delay_of_age']['median']:.2f}; sweep "
                f"{sweep['p99_delay_of_age']['median']:.2f}",
                "",
                "<= 0.40",
                _ok(r["met_parts"]["notice"]),
            )
        )
        rows.append(
            (
                "Many jobs",
                f"{ours['label']}: the same p99, a delay counted from the start of waiting for "
                f"jobs that ended while the others were submitted "
                f"({ours['ended_before_wait']['median']:,.0f} jobs; submitting took "
                f"{ours['submit_s']['median']:.1f} s)",
                _fig(ours["p99_delay_of_age_waiting"], digits=2),
                f"loop per job {loop['p99_delay_of_age_waiting']['median']:.2f}; sweep "
                f"{sweep['p99_delay_of_age_waiting']['median']:.2f}",
                "",
                "(information)",
                "",
            )
        )
        rows.append(
            (
                "Many jobs",
                f"{ours['label']}: peak threads; mean notice delay s",
                f"{ours['threads']['max']:.0f}; {_fig(ours['notice_delay_s'])}",
                f"loop per job {loop['threads']['max']:.0f}; {_fig(loop['notice_delay_s'])} / "
                f"sweep {sweep['threads']['max']:.0f}; {_fig(sweep['notice_delay_s'])}",
                "",
                "threads <= 16",
                _ok(r["met_parts"]["threads"]),
            )
        )
    if "aio" in s:
        from .aio import rows as aio_rows

        rows += aio_rows(s["aio"], _fig, _ok)
    if "notice" in s:
        from .notice import rows as notice_rows

        rows += notice_rows(s["notice"], _fig, _ok)
    if "dashboard" in s:
        from .dashboard import rows as dashboard_rows

        rows += dashboard_rows(s["dashboard"], _fig, _ok)
    if "webhooks" in s:
        from .webhooks import rows as webhook_rows

        rows += webhook_rows(s["webhooks"], _fig, _ok)
    if "large_files" in s:
        r = s["large_files"]
        for provider, by in r["providers"].items():
            for direction in ("upload", "download"):
                ours, plain, sdk = (by[c][direction] for c in ("asyncjobs", "requests", "sdk"))
                rows.append(
                    (
                        "Large files",
                        f"{provider} {direction} {r['size_mib']:g} MiB: MiB/s",
                        _fig(ours["mib_per_s"], digits=0),
                        f"requests {_fig(plain['mib_per_s'], digits=0)}; SDK "
                        f"{_fig(sdk['mib_per_s'], digits=0)}",
                        f"{ours['throughput_vs_requests']:.2f}x",
                        ">= 0.9x",
                        _ok(ours["throughput_vs_requests"] >= 0.9),
                    )
                )
                rows.append(
                    (
                        "Large files",
                        f"{provider} {direction}: peak RSS growth MiB",
                        _fig(ours["peak_mib"], digits=1),
                        f"requests {_fig(plain['peak_mib'], digits=1)}; SDK "
                        f"{_fig(sdk['peak_mib'], digits=1)}",
                        "",
                        "<= 64 MiB",
                        _ok(ours["peak_mib"]["max"] <= 64),
                    )
                )
    if "import" in s:
        r = s["import"]
        ms = r["ms"]
        rows.append(
            (
                "Import",
                f"python -c 'import …', ms (python -c pass: {ms['python']['median']:.0f} ms)",
                _fig(ms["asyncjobs"], digits=0),
                f"requests {_fig(ms['requests'], digits=0)}",
                _fig(r["ratio"], "x", 2),
                "<= 1.5x",
                _ok(r["met"]),
            )
        )
        rows.append(
            (
                "Import",
                "first use: import asyncjobs; asyncjobs.connect, ms",
                _fig(ms["asyncjobs_connect"], digits=0),
                f"requests {_fig(ms['requests'], digits=0)}",
                _fig(r["ratio_first_use"], "x", 2),
                "(information)",
                "",
            )
        )
        first = r["first_use"]
        rows.append(
            (
                "Import",
                "first use, whole process: connect + one status (conversio), ms",
                _fig(first["ms"]["asyncjobs"], digits=0),
                f"import requests + one GET {_fig(first['ms']['requests'], digits=0)}",
                _fig(first["ratio"], "x", 2),
                "<= 1.3x",
                _ok(first["met"]),
            )
        )
        rows.append(
            (
                "Import",
                "floor: import requests, attrs, cattrs + one GET, ms",
                _fig(first["ms"]["floor"], digits=0),
                f"import requests + one GET {_fig(first['ms']['requests'], digits=0)}",
                _fig(first["ratio_floor"], "x", 2),
                "(information)",
                "",
            )
        )
    if "first_use" in s:
        from .first_use import rows as first_use_rows

        rows += first_use_rows(s["first_use"], _fig, _ok)
    if "ledger" in s:
        r = s["ledger"]
        rows.append(
            (
                "Ledger",
                f"record a submit (begin + issued), us; {r['submits']:,} submits",
                _fig(r["record_submit_us"], digits=0),
                "",
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "Ledger",
                f"rows written when a new process sees {r['submits']:,} statuses unchanged",
                f"{r['unchanged_writes']}",
                "",
                "",
                "0",
                _ok(r["unchanged_writes"] == 0),
            )
        )
        rows.append(
            (
                "Ledger",
                f"Ledger.entries() of {r['listed']:,} jobs, s",
                _fig(r["entries_s"], digits=3),
                "",
                "",
                "(information)",
                "",
            )
        )
        rows.append(
            (
                "Ledger",
                f"asyncjobs.jobs() of {r['listed']:,} jobs and its len, s (iterating them all)",
                f"{_fig(r['jobs_s'], digits=3)} ({_fig(r['jobs_iterated_s'], digits=2)})",
                "",
                "",
                "< 0.5 s",
                _ok(r["jobs_s"]["median"] < 0.5),
            )
        )
        rows.append(
            (
                "Ledger",
                f"asyncjobs list of {r['streamed']:,} jobs: first row s; all s; peak MiB",
                f"{_fig(r['list_cli_first_row_s'], digits=2)}; "
                f"{_fig(r['list_cli_total_s'], digits=1)}; {_fig(r['list_cli_peak_mib'], digits=0)}",
                "",
                "",
                "first < 1 s; peak < 100 MiB",
                _ok(
                    r["list_cli_first_row_s"]["median"] < 1.0
                    and r["list_cli_peak_mib"]["max"] < 100
                ),
            )
        )
    if "budget" in s:
        r = s["budget"]
        for backend, b in r["backends"].items():
            resumed = b["resumed_after_s"]
            rows.append(
                (
                    "Budget",
                    f"{b['requests']:,} polls from 4 processes x 8 threads at {r['rate']:g}/s "
                    f"({backend} ledger): most in a 1-s window; requests/s used; after a 429 "
                    f"(Retry-After {r['retry_after']:g} s): last request, first again (s)",
                    f"{b['most_in_1s']}; {b['rate_used']:.2f}; {b['last_after_429_s']:.3f}; "
                    + ("none" if resumed is None else f"{resumed:.3f}"),
                    "",
                    "",
                    f"<= {r['rate'] + 1:g}; >= 18; <= 0.25; >= {r['retry_after'] - 0.25:g}",
                    _ok(
                        b["most_in_1s"] <= r["rate"] + 1
                        and b["rate_used"] >= 18
                        and b["last_after_429_s"] <= 0.25
                        and resumed is not None
                        and resumed >= r["retry_after"] - 0.25
                    ),
                )
            )
    if "fleet_scale" in s:
        r = s["fleet_scale"]
        for k, by in r["runs"].items():
            rows.append(
                (
                    "Fleet scale",
                    f"{r['jobs']:,} jobs, GETs held {r['service_time']:g} s, {k} worker(s) of "
                    f"{r['concurrency']}: jobs/s; polls/s; ledger statements per poll (changes "
                    "per poll); statements / (polls + changes)",
                    f"{_fig(by['jobs_per_s'], digits=1)}; {_fig(by['polls_per_s'], digits=1)}; "
                    f"{_fig(by['statements_per_poll'])} ({_fig(by['changes_per_poll'])}); "
                    f"{_fig(by['statements_vs_bound'])}",
                    f"budget {r['budget']:g}/s",
                    "",
                    "(information)",
                    "",
                )
            )
        rows.append(
            (
                "Fleet scale",
                "jobs/s of 4 workers / 1 worker; polls/s of the largest fleet / the budget; "
                "statements / (polls + changes), most",
                f"{r['scale_4_vs_1']:.2f}x; {r['held_at_budget']:.2f}; "
                f"{r['statements_vs_bound']:.2f}",
                "",
                "",
                ">= 3x; <= 1; <= 1",
                _ok(r["met"]),
            )
        )
    if "fleet" in s:
        r = s["fleet"]
        for k, by in r["workers"].items():
            rows.append(
                (
                    "Fleet",
                    f"{r['jobs']:,} jobs of {r['job_seconds'][0]:g}-{r['job_seconds'][1]:g} s, "
                    f"{k} worker(s): wall s (x the longest job); "
                    "polls per job; ledger statements per poll",
                    f"{_fig(by['wall_s'], digits=1)} ({_fig(by['wall_vs_longest'], 'x')}); "
                    f"{_fig(by['polls_per_job'])}; {_fig(by['statements_per_poll'])}",
                    f"sleep(1) loop: {r['loop_polls_per_job']:.2f} polls per job",
                    "",
                    "(information)",
                    "",
                )
            )
        rows.append(
            (
                "Fleet",
                f"PostgreSQL: asyncjobs.jobs() of {r['listed']:,} rows and its len, s (iterating "
                "them all)",
                f"{_fig(r['jobs_s'], digits=3)} ({_fig(r['jobs_iterated_s'], digits=2)})",
                "",
                "",
                "< 1 s",
                _ok(r["jobs_s"]["median"] < 1.0),
            )
        )
        rows.append(
            (
                "Fleet",
                f"PostgreSQL: asyncjobs list of {r['streamed']:,} rows: first row s; all s; peak MiB",
                f"{_fig(r['list_cli_first_row_s'], digits=2)}; "
                f"{_fig(r['list_cli_total_s'], digits=1)}; {_fig(r['list_cli_peak_mib'], digits=0)}",
                "",
                "",
                "first < 1 s; peak < 100 MiB",
                _ok(
                    r["list_cli_first_row_s"]["median"] < 1.0
                    and r["list_cli_peak_mib"]["max"] < 100
                ),
            )
        )
    head = ("Benchmark", "Measure", "asyncjobs", "Alternatives", "Ratio", "Target", "Met")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sections asked for; print the table; write the JSON. Returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write the figures ({DEFAULT_JSON})",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and counts (seconds)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="full sizes where they are the target (1M-job listing, real-time jobs), fewer runs",
    )
    parser.add_argument("--size", type=float, help="large-file size in MiB (default 1024)")
    parser.add_argument(
        "--only", help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}"
    )
    args = parser.parse_args(argv)
    only = SECTIONS if not args.only else tuple(x.strip() for x in args.only.split(","))
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    smoke = args.smoke
    size_mib = args.size if args.size is not None else (1.0 if smoke else 1024.0)
    os.environ.setdefault("ASYNCJOBS_PROGRESS", "0")
    tmp = Path(tempfile.mkdtemp(prefix="asyncjobs-bench-"))
    results: dict[str, Any] = {
        "machine": machine(),
        "command": "python -m benchmarks"
        + (" --smoke" if smoke else "")
        + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else ""),
        "smoke": smoke,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "sections": {},
    }
    began = time.monotonic()
    try:
        os.environ["ASYNCJOBS_HOME"] = str(tmp / "home")  # nothing lands in the user's ledger
        for name in only:
            start = time.monotonic()
            print(f"running {name} ...", flush=True)
            section = _run(name, smoke=smoke, size_mib=size_mib, tmp=tmp, quick=args.quick)
            section["seconds"] = round(time.monotonic() - start, 1)
            results["sections"][name] = section
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - began, 1)
    text = table(results)
    results["table"] = text
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    print()
    print(f"{m['cpu']}, {m['cores']} cores, Python {m['python']}; {results['seconds']:g} s")
    print(text)
    print(f"\nwritten: {args.json}")
    return 0


def _run(
    name: str, *, smoke: bool, size_mib: float, tmp: Path, quick: bool = False
) -> dict[str, Any]:
    if name == "status":
        from . import status

        if smoke:
            return status.run(calls=20, repeats=1, warmup=5)
        return status.run(calls=300 if quick else 2000, repeats=3 if quick else 5, warmup=50)
    if name == "scheduler":
        from . import scheduler

        if smoke:
            return scheduler.run(sizes=(20,), seconds=0.5, workers=(8,), repeats=1, tmp=tmp)
        if quick:
            return scheduler.run(sizes=(1000, 10_000), seconds=6.0, repeats=1, tmp=tmp)
        return scheduler.run(sizes=(1000, 10_000), seconds=4.0, repeats=7, tmp=tmp)
    if name == "many_jobs":
        from . import many_jobs

        if smoke:
            return many_jobs.run(jobs=12, scale=40.0, repeats=1, tmp=tmp)
        if quick:  # the same jobs in real time, fewer of them, once
            return many_jobs.run(jobs=300, scale=1.0, repeats=1, tmp=tmp)
        return many_jobs.run(jobs=1000, scale=1.0, repeats=3, tmp=tmp)
    if name == "celery":
        from . import celery

        if smoke:
            return celery.run(jobs=12, scale=40.0, repeats=1, tmp=tmp)
        if quick:
            return celery.run(jobs=300, scale=1.0, repeats=1, tmp=tmp)
        return celery.run(jobs=1000, scale=1.0, repeats=1, tmp=tmp)
    if name == "aio":
        from . import aio

        if smoke:
            return aio.run(jobs=30, scale=40.0, repeats=1, tmp=tmp)
        return aio.run(jobs=10_000, scale=1.0, repeats=1, tmp=tmp)
    if name == "notice":
        from . import notice

        if smoke:
            return notice.run(jobs=12, scale=40.0, repeats=1, tmp=tmp)
        return notice.run(jobs=1000, scale=1.0, repeats=1 if quick else 2, tmp=tmp)
    if name == "webhooks":
        from . import webhooks

        if smoke:
            return webhooks.run(jobs=20, scale=20.0, repeats=1, tmp=tmp)
        return webhooks.run(jobs=1000, scale=1.0, repeats=1 if quick else 3, tmp=tmp)
    if name == "large_files":
        from . import large_files

        return large_files.run(size=int(size_mib * MIB), repeats=1 if smoke else 3, tmp=tmp)
    if name == "import":
        from . import imports

        return imports.run(runs=2 if smoke else 20)
    if name == "first_use":
        from . import first_use

        return first_use.run(runs=2 if smoke else 15)
    if name == "telemetry":
        from . import telemetry

        if smoke:
            return telemetry.run(calls=2, turns=3, rounds=2, warmup=5, pairs=5, pair_rounds=2)
        if quick:
            return telemetry.run(turns=30, rounds=6, warmup=100, pairs=200, pair_rounds=2)
        return telemetry.run()
    if name == "dashboard":
        from . import dashboard

        return dashboard.run(jobs=5000 if smoke else 1_000_000, repeats=2 if smoke else 5, tmp=tmp)
    if name == "budget":
        from . import budget

        return budget.run(jobs=60 if smoke else 2000, tmp=tmp)
    if name == "fleet_scale":
        from . import fleet_scale

        if smoke:
            return fleet_scale.run(
                jobs=20, workers=(1, 2), service_time=0.05, length=0.2, budget=50, tmp=tmp
            )
        return fleet_scale.run(tmp=tmp)
    if name == "fleet":
        from . import fleet

        if smoke:
            return fleet.run(
                jobs=20, workers=(1,), listed=500, streamed=2000, low=0.2, high=1.0, tmp=tmp
            )
        if quick:
            return fleet.run(jobs=2_000, workers=(1, 2, 4), tmp=tmp)
        return fleet.run(jobs=10_000, workers=(1, 2, 4), tmp=tmp)
    from . import ledger

    if smoke:
        return ledger.run(submits=50, listed=200, streamed=400, repeats=1, tmp=tmp)
    if quick:
        return ledger.run(submits=2_000, listed=100_000, streamed=1_000_000, repeats=1, tmp=tmp)
    return ledger.run(submits=10_000, listed=100_000, streamed=1_000_000, repeats=3, tmp=tmp)
