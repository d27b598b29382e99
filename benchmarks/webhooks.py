"""Webhooks: how soon a waiter learns a job ended, woken by the service's call vs by polling alone.

ConvertAPI's sandbox runs in its own process (no 5 s hold on re-polls, as in every benchmark); its
n-th job lasts the n-th of ``jobs`` durations spread evenly over 1-20 sandbox seconds (shuffled), at
time scale ``scale``. For each contender, the same number of jobs is submitted (not timed; the
sandbox then restarts them all at one moment, so that submitting does not eat into their
durations), and ``asyncjobs.as_completed`` waits for all of them with ConvertAPI's production poll
policy (divided by ``scale``, as the jobs are):

* ``webhook``: submitted with ``webhook=True`` to a client connected to a receiver served by
  waitress in this process; the sandbox calls it (POST ``{"JobId"}``) when each job ends, the
  receiver polls that job once to confirm, and the poll wakes the wait. Polling goes on beneath
  it, per the policy, for any call that would not come;
* ``polling``: the same wait without webhooks.

Reported, per contender: the time from each job's end at the sandbox (its start plus its duration,
from the sandbox's own clock) to the moment ``as_completed`` handed the job back, p50 / p99 / max;
requests per job while waiting (polls, the webhook's confirming polls included; submits excluded);
and the wall time until every job was back.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import time
from pathlib import Path
from typing import Any

import requests

from ._common import CountingSession, ServerProcess, compressed, spread, summarize

PROVIDER = "convertapi"
LOW, HIGH = 1.0, 20.0
KEY = "benchmark-webhook-key-not-a-secret-0000"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _served_receiver() -> tuple[Any, Any, Any]:
    """A receiver served by waitress on 127.0.0.1 in a thread: (receiver, server, thread)."""
    import threading

    from waitress.server import create_server

    from asyncjobs import webhooks

    holder: dict[str, Any] = {}
    server: Any = create_server(
        lambda env, start: holder["app"](env, start),
        host="127.0.0.1",
        port=0,
        threads=4,
        asyncore_loop_timeout=0.1,
    )
    receiver = webhooks.Receiver(f"http://127.0.0.1:{server.effective_port}/hooks", KEY)
    holder["app"] = receiver
    thread = threading.Thread(target=server.run, name="bench-waitress", daemon=True)
    thread.start()
    return receiver, server, thread


def _contender(n: int, scale: float, policy: Any, hooked: bool) -> dict[str, float]:
    import asyncjobs

    receiver = server = thread = None
    if hooked:
        receiver, server, thread = _served_receiver()
    try:
        with ServerProcess(PROVIDER, "--scale", str(scale), "--spread", f"{n}:{LOW}:{HIGH}") as box:
            session = CountingSession()
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=16)
            session.mount("http://", adapter)
            client = asyncjobs.connect(
                PROVIDER,
                ledger=False,
                poll=policy,
                session=session,
                webhooks=receiver if hooked else False,
                **box.settings,
            )
            try:
                with cf.ThreadPoolExecutor(8) as pool:
                    jobs = list(
                        pool.map(
                            lambda i: client.submit(
                                "convert",
                                source=f"https://example.com/doc-{i}.docx",
                                to="pdf",
                                webhook=True if hooked else None,
                            ),
                            range(n),
                        )
                    )
                box.restart_jobs()
                ends = box.ends()
                before = session.sent
                start = time.monotonic()
                back: dict[str, float] = {}
                for job in asyncjobs.as_completed(jobs, timeout=600):
                    back[job.id] = time.time()
                    if job.error is not None:
                        raise RuntimeError(f"job {job.id} ended with {job.error!r}")
                wall = time.monotonic() - start
                time.sleep(0.2)  # confirming polls of the last calls land in the count
                sent = session.sent - before
            finally:
                client.close()
    finally:
        if receiver is not None:
            receiver.close()
        if server is not None:
            server._map.clear()
            thread.join(5)
            server.close()
    late = [max(0.0, back[i] - ends[i]) for i in back]
    return {
        "p50_s": _percentile(late, 0.5),
        "p99_s": _percentile(late, 0.99),
        "max_s": max(late, default=0.0),
        "requests_per_job": sent / n,
        "wall_s": wall,
    }


def run(*, jobs: int = 1000, scale: float = 1.0, repeats: int = 1, tmp: Path) -> dict[str, Any]:
    """Measure; return the section's figures."""
    from asyncjobs_convertapi.provider import ConvertAPIProvider

    prod = ConvertAPIProvider.capabilities.poll
    policy = compressed(prod, scale)
    runs = [
        {key: _contender(jobs, scale, policy, key == "webhook") for key in ("webhook", "polling")}
        for _ in range(repeats)
    ]
    labels = {"webhook": "webhook=True, receiver on waitress", "polling": "polling alone"}
    contenders: dict[str, Any] = {}
    for key, label in labels.items():
        figures: dict[str, Any] = {"label": label}
        for name in runs[0][key]:
            figures[name] = summarize([r[key][name] for r in runs], 3)
        contenders[key] = figures
    hook, poll = contenders["webhook"], contenders["polling"]
    met = {
        "p99": hook["p99_s"]["median"] <= 1.0,
        "requests": hook["requests_per_job"]["median"] <= poll["requests_per_job"]["median"],
    }
    durations = spread(jobs, LOW, HIGH)
    return {
        "title": "webhooks",
        "setup": (
            f"{jobs:,} {PROVIDER} jobs of {LOW:g}-{HIGH:g} sandbox s (mean "
            f"{sum(durations) / len(durations):.1f}); sandbox clock x{scale:g}; sandbox in its own "
            f"process, receiver on waitress in the waiter's; production poll policy / {scale:g}; "
            f"{repeats} run(s)"
        ),
        "jobs": jobs,
        "scale": scale,
        "contenders": contenders,
        "target": "webhook: p99 from job end to waiter <= 1 s; no more requests per job than polling",
        "met": all(met.values()),
        "met_parts": met,
    }


def rows(r: dict[str, Any], fig: Any, ok: Any) -> list[tuple[str, ...]]:
    """The section's rows of the benchmark table."""
    h, p = r["contenders"]["webhook"], r["contenders"]["polling"]
    head = f"Webhooks, {r['jobs']:,} jobs (clock x{r['scale']:g})"
    return [
        (
            head,
            "job end -> waiter back, s: p50 / p99 / max",
            f"{h['p50_s']['median']:.3f} / {h['p99_s']['median']:.3f} / {h['max_s']['max']:.3f}",
            f"polling {p['p50_s']['median']:.3f} / {p['p99_s']['median']:.3f} / "
            f"{p['max_s']['max']:.3f}",
            f"p99 {p['p99_s']['median'] / max(h['p99_s']['median'], 1e-6):.0f}x sooner",
            "p99 <= 1 s",
            ok(r["met_parts"]["p99"]),
        ),
        (
            head,
            "requests per job while waiting (confirming polls included); wall s",
            f"{fig(h['requests_per_job'])}; {h['wall_s']['median']:.1f}",
            f"polling {fig(p['requests_per_job'])}; {p['wall_s']['median']:.1f}",
            f"{h['requests_per_job']['median'] / max(p['requests_per_job']['median'], 1e-6):.2f}x",
            "<= polling",
            ok(r["met_parts"]["requests"]),
        ),
    ]
