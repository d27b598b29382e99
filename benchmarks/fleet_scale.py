"""Fleet scale: jobs per second with 1, 2, 4 and 8 workers, where the machine is not the bound.

On 2 cores a fleet against a sandbox that answers at once measures the cores (the sandbox, the
database and every worker share them). Here the service's time is simulated as real services spend
it, waiting rather than computing: Conversio's sandbox (its own process) holds every GET
``service_time`` seconds in a sleeping thread before it answers. Each worker polls at most
``concurrency`` jobs at a time, so one worker can make at most ``concurrency / service_time`` polls
a second; more workers make more, until the provider account's request budget (shared through the
ledger, ``$CONVERSIO_BUDGET``) is the bound, and then the fleet holds at the budget.

A PostgreSQL server of the benchmark's own holds the ledger. ``jobs`` Conversio jobs of ``length``
seconds are submitted once (not timed). For each worker count in turn, under the budget: the workers
are started and ready, every job restarts at the sandbox at one moment and is marked pending in the
ledger, and the clock runs until the ledger holds every job ``done``; the workers are then stopped
(SIGTERM) and report their polls and the statements their ledger ran. One more run, the largest
worker count without a budget, shows what the budget held back.

Reported per run: jobs per second (jobs / wall), polls per second, polls per job, and the workers'
ledger statements (every round trip; under a budget, each request's slot -- one statement -- is
taken apart): per poll, status changes recorded per poll (history rows added), and the statements
against the bound of one per unchanged poll and two per change (polls + changes), claims and the
leases' upkeep included: at most 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ._common import ServerProcess, summarize
from .fleet import PROVIDER, _env, _one_run, _sql, _sql_version, _submit

TARGET_SCALE = 3.0  # 4 workers: at least 3x the jobs per second of 1


def _run_once(
    url: str,
    server: ServerProcess,
    env: dict[str, str],
    jobs: int,
    workers: int,
    concurrency: int,
    budgeted: bool,
) -> dict[str, float]:
    before = _sql(url, "SELECT count(*) FROM asyncjobs.statuses")[0][0]
    run = _one_run(url, server, env, jobs, workers, concurrency)
    changes = _sql(url, "SELECT count(*) FROM asyncjobs.statuses")[0][0] - before
    polls, statements = run["polls"], run["statements"]
    if budgeted:
        statements -= polls  # each request's budget slot: one statement, apart from the poll's
    return {
        "wall_s": run["wall_s"],
        "jobs_per_s": jobs / run["wall_s"],
        "polls_per_s": polls / run["wall_s"],
        "polls_per_job": run["polls_per_job"],
        "statements_per_poll": statements / max(polls, 1),
        "changes_per_poll": changes / max(polls, 1),
        # the bound: one per unchanged poll, two per change (claims and leases' upkeep included)
        "statements_vs_bound": statements / max(polls + changes, 1),
    }


def run(
    *,
    jobs: int = 1000,
    workers: tuple[int, ...] = (1, 2, 4, 8),
    concurrency: int = 4,
    service_time: float = 0.2,
    length: float = 0.5,
    budget: float = 75.0,
    repeats: int = 1,
    tmp: Path,
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    from asyncjobs._ledger import Ledger
    from asyncjobs._pgserver import postgres_server

    runs: dict[str, list[dict[str, float]]] = {}
    with postgres_server() as server_url:
        _sql(server_url, "CREATE DATABASE scale")
        url = server_url.replace("/postgres?", "/scale?")
        Ledger(url).close()
        with ServerProcess(
            PROVIDER,
            "--scale",
            "1",
            "--duration",
            str(length),
            "--service-time",
            str(service_time),
            tmpdir=tmp,
        ) as server:
            _submit(url, server.settings, jobs)
            plain = _env(url, server.settings)
            budgeted = {**plain, f"{PROVIDER.upper()}_BUDGET": f"{budget:g}/s"}
            cases = [(str(k), budgeted, k) for k in workers]
            cases.append((f"{max(workers)} (no budget)", plain, max(workers)))
            for _ in range(repeats):
                for name, env, k in cases:
                    runs.setdefault(name, []).append(
                        _run_once(url, server, env, jobs, k, concurrency, env is budgeted)
                    )
                    time.sleep(0.5)
    figures = {
        name: {key: summarize([r[key] for r in rs], 2) for key in rs[0]}
        for name, rs in runs.items()
    }
    one = figures[str(min(workers))]["jobs_per_s"]["median"]
    four = figures.get("4", figures[str(max(workers))])["jobs_per_s"]["median"]
    scale = four / one if one else 0.0
    most = figures[str(max(workers))]["polls_per_s"]["median"]
    bound = max(f["statements_vs_bound"]["max"] for f in figures.values())
    return {
        "title": "Fleet scale",
        "setup": (
            f"PostgreSQL {_sql_version()} of its own; {jobs} Conversio jobs of {length:g} s; every"
            f" GET held {service_time:g} s by the sandbox (sleeping); workers of {concurrency}"
            f" polls each; budget {budget:g} requests/s shared through the ledger; {repeats} run(s)"
        ),
        "jobs": jobs,
        "service_time": service_time,
        "concurrency": concurrency,
        "budget": budget,
        "runs": figures,
        "scale_4_vs_1": round(scale, 2),
        "held_at_budget": round(most / budget, 2),
        "statements_vs_bound": round(bound, 2),
        "target": (
            f"4 workers >= {TARGET_SCALE:g}x the jobs per second of 1; the largest fleet holds at the"
            " budget (polls per second <= the budget); ledger statements <= 1 per unchanged poll"
            " + 2 per change"
        ),
        "met": scale >= TARGET_SCALE and most <= budget * 1.02 and bound <= 1.0,
    }
