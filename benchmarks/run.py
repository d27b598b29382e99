"""Run the benchmarks side by side, print one table (Markdown), and write the figures as JSON.

    python -m benchmarks                       # everything, full size (a few minutes)
    python -m benchmarks --smoke               # tiny sizes and counts, seconds (CI)
    python -m benchmarks --only status,import  # some sections
    python -m benchmarks --only aio            # 10,000 jobs awaited from one event loop
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

SECTIONS = ("status", "many_jobs", "aio", "large_files", "import", "ledger")
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
        rows.append(
            (
                "Status overhead",
                f"client.status vs Session.get, us per call ({r['provider']})",
                _fig(r["asyncjobs_us_per_call"], digits=0),
                _fig(r["bare_us_per_call"], digits=0),
                _fig(r["ratio"], "x", 3),
                "<= 1.10x",
                _ok(r["met"]),
            )
        )
    if "many_jobs" in s:
        r = s["many_jobs"]
        c = r["contenders"]
        for key in ("asyncjobs", "asyncjobs_tuned"):
            ours = c[key]
            tuned = key == "asyncjobs_tuned"
            met_wall = ours["wall_over_longest"]["median"] <= 1.3
            rows.append(
                (
                    "Many jobs",
                    f"{ours['label']}: wall s (x longest {r['longest_job_s']:g} s)",
                    f"{_fig(ours['wall_s'])} = {ours['wall_over_longest']['median']:.2f}x",
                    f"loop per job {_fig(c['loop_per_job']['wall_s'])}; "
                    f"sweep {_fig(c['loop_sweep']['wall_s'])}",
                    f"{ours['wall_over_longest']['median']:.2f}x",
                    "<= 1.3x",
                    _ok(met_wall),
                )
            )
            ratio = r["polls_ratio_tuned"] if tuned else r["polls_ratio"]
            rows.append(
                (
                    "Many jobs",
                    f"{ours['label']}: polls sent while waiting",
                    _fig(ours["polls"], digits=0),
                    f"loop per job {r['loop_polls_reference']:,.0f} (if served; measured "
                    f"{c['loop_per_job']['polls']['median']:,.0f}); sweep "
                    f"{c['loop_sweep']['polls']['median']:,.0f}",
                    f"{ratio:.2f}x",
                    "<= 0.5x",
                    _ok(ratio <= 0.5),
                )
            )
            rows.append(
                (
                    "Many jobs",
                    f"{ours['label']}: peak threads; mean notice delay s",
                    f"{ours['threads']['max']:.0f}; {_fig(ours['notice_delay_s'])}",
                    f"loop per job {c['loop_per_job']['threads']['max']:.0f}; "
                    f"{_fig(c['loop_per_job']['notice_delay_s'])} / sweep "
                    f"{c['loop_sweep']['threads']['max']:.0f}; "
                    f"{_fig(c['loop_sweep']['notice_delay_s'])}",
                    "",
                    "threads <= 16",
                    _ok(ours["threads"]["max"] <= 16),
                )
            )
    if "aio" in s:
        from .aio import rows as aio_rows

        rows += aio_rows(s["aio"], _fig, _ok)
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
                f"Ledger.entries() of {r['listed']:,} jobs, s",
                _fig(r["entries_s"], digits=3),
                "",
                "",
                "< 1 s",
                _ok(r["entries_s"]["median"] < 1.0),
            )
        )
        rows.append(
            (
                "Ledger",
                f"asyncjobs.jobs() of {r['listed']:,} jobs, s (us per job)",
                f"{_fig(r['jobs_s'], digits=3)} ({r['list_us_per_job']['median']:.1f})",
                "",
                "",
                "< 1 s",
                _ok(r["met"]),
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
        "command": "python -m benchmarks" + (" --smoke" if smoke else ""),
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
            section = _run(name, smoke=smoke, size_mib=size_mib, tmp=tmp)
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


def _run(name: str, *, smoke: bool, size_mib: float, tmp: Path) -> dict[str, Any]:
    if name == "status":
        from . import status

        return status.run(calls=20 if smoke else 2000, repeats=1 if smoke else 5, warmup=5)
    if name == "many_jobs":
        from . import many_jobs

        if smoke:
            return many_jobs.run(jobs=12, scale=40.0, repeats=1, tmp=tmp)
        return many_jobs.run(jobs=1000, scale=4.0, repeats=3, tmp=tmp)
    if name == "aio":
        from . import aio

        if smoke:
            return aio.run(jobs=30, scale=40.0, repeats=1, tmp=tmp)
        return aio.run(jobs=10_000, scale=1.0, repeats=1, tmp=tmp)
    if name == "large_files":
        from . import large_files

        return large_files.run(size=int(size_mib * MIB), repeats=1 if smoke else 3, tmp=tmp)
    if name == "import":
        from . import imports

        return imports.run(runs=2 if smoke else 20)
    from . import ledger

    if smoke:
        return ledger.run(submits=50, listed=200, repeats=1, tmp=tmp)
    return ledger.run(submits=10_000, listed=100_000, repeats=3, tmp=tmp)
