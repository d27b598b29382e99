"""asyncio: ``aio.wait`` on 10,000 jobs from one event loop, side by side with the sync ``asyncjobs.wait``.

Conversio's sandbox runs in its own process; its n-th job lasts the n-th of ``jobs`` durations spread
evenly over 1-20 sandbox seconds (shuffled), at time scale ``scale`` (sandbox seconds per wall second:
the clock is compressed, and the output says so). The jobs are submitted once through ``aio`` (not
timed); then, for each contender, the sandbox restarts every job at once (``restart``: all of them
start at that moment, so submitting 10,000 jobs does not eat into their durations) and the contender
waits for all of them, on the same jobs:

* ``aio.wait`` from one event loop, with a task ticking every 10 ms beside it to measure the loop's
  lag (target: no gap over 100 ms);
* the sync ``asyncjobs.wait`` (its scheduler and pool), on the same jobs.

Both use Conversio's production poll policy divided by ``scale`` (the same compression as the jobs).
Reported: wall time from the restart until every job is known finished, against the longest job
(20 s / scale); polls sent, against the vendor samples' ``sleep(1)`` loop as the service would see it
if it kept up (one poll per job per sandbox second of its duration: counted, not run, since 10,000
threads are not a fair fight on 2 cores); peak threads added to the process; peak memory growth;
and, for aio, the loop lag p50 / p99 / max.
"""

from __future__ import annotations

import asyncio
import gc
import math
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from ._common import (
    CountingSession,
    ServerProcess,
    ThreadPeak,
    compressed,
    measure_peak,
    spread,
    summarize,
)

PROVIDER = "conversio"
LOW, HIGH = 1.0, 20.0
TICK = 0.01
LAG_TARGET = 0.1


class _Notices:
    """When each job was first seen finished (monotonic)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, info: Any) -> None:
        if info.finished:
            now = time.monotonic()
            with self._lock:
                self.at.setdefault(info.id, now)


def _idle_workers_gone() -> None:
    """Wait for the worker threads of earlier event loops to end (their pools go with the loops)."""
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.startswith("asyncjobs-"):
            thread.join(10)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _session() -> requests.Session:
    session = CountingSession()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=16)
    session.mount("http://", adapter)
    return session


async def _submit_all(client: Any, n: int) -> list[Any]:
    return list(
        await asyncio.gather(*(client.submit("segments-export", segment="s1") for _ in range(n)))
    )


async def _aio_wait(
    server: ServerProcess, client: Any, ids: list[str], notices: _Notices
) -> dict[str, Any]:
    from asyncjobs import aio

    jobs = [client.job(i) for i in ids]
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(TICK)
            lags.append(max(0.0, time.monotonic() - before - TICK))

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(TICK * 3)
    await asyncio.get_running_loop().run_in_executor(None, server.restart_jobs)
    start = time.monotonic()
    _, not_done = await aio.wait(jobs, timeout=600, progress=notices.seen)
    wall = time.monotonic() - start
    stop.set()
    await tick
    if not_done:
        raise RuntimeError(f"aio: {len(not_done)} jobs did not finish")
    return {"wall": wall, "start": start, "lags": lags}


def _one_run(n: int, scale: float, policy: Any) -> dict[str, dict[str, float]]:
    import asyncjobs
    from asyncjobs import aio

    out: dict[str, dict[str, float]] = {}
    with ServerProcess(PROVIDER, "--scale", str(scale), "--spread", f"{n}:{LOW}:{HIGH}") as server:
        session = _session()

        async def prepare() -> tuple[Any, list[str]]:
            client = await aio.connect(
                PROVIDER, ledger=False, poll=policy, session=session, **server.settings
            )
            return client, [j.id for j in await _submit_all(client, n)]

        client, ids = asyncio.run(prepare())
        durations = spread(n, LOW, HIGH)
        # the loop sample's polls had the service kept up: one per job per sandbox second
        loop_polls = sum(max(1, math.ceil(d)) for d in durations)
        longest = HIGH / scale
        try:
            for key in ("aio", "sync"):
                notices = _Notices()
                _idle_workers_gone()
                before = session.sent
                threads_before = threading.active_count()
                figures: dict[str, Any] = {}

                def action(
                    key: str = key, notices: _Notices = notices, figures: dict[str, Any] = figures
                ) -> None:
                    if key == "aio":

                        async def main() -> dict[str, Any]:
                            wrapped = aio.AsyncClient(client.sync)
                            return await _aio_wait(server, wrapped, ids, notices)

                        figures.update(asyncio.run(main()))
                    else:
                        handles = [client.sync.job(i) for i in ids]
                        server.restart_jobs()
                        start = time.monotonic()
                        _, not_done = asyncjobs.wait(handles, timeout=600, progress=notices.seen)
                        figures.update(wall=time.monotonic() - start, start=start, lags=[])
                        if not_done:
                            raise RuntimeError(f"sync: {len(not_done)} jobs did not finish")

                with ThreadPeak() as peak:
                    _, memory, _ = measure_peak(action)
                if len(notices.at) != n:
                    raise RuntimeError(f"{key}: {n - len(notices.at)} jobs never seen finished")
                lags = figures["lags"]
                out[key] = {
                    "wall_s": figures["wall"],
                    "wall_over_longest": figures["wall"] / longest,
                    "polls": float(session.sent - before),
                    "polls_over_loop": (session.sent - before) / loop_polls,
                    "threads_added": float(max(0, peak.peak - threads_before)),
                    "memory_mib": memory,
                    "lag_p50_ms": _percentile(lags, 0.5) * 1000,
                    "lag_p99_ms": _percentile(lags, 0.99) * 1000,
                    "lag_max_ms": max(lags, default=0.0) * 1000,
                    "loop_polls": float(loop_polls),
                }
        finally:
            asyncio.run(client.aclose())
    return out


def run(*, jobs: int = 10_000, scale: float = 4.0, repeats: int = 1, tmp: Path) -> dict[str, Any]:
    """Measure; return the section's figures."""
    from asyncjobs_conversio.provider import ConversioProvider

    prod = ConversioProvider.capabilities.poll
    policy = compressed(prod, scale)
    runs = [_one_run(jobs, scale, policy) for _ in range(repeats)]
    contenders: dict[str, Any] = {}
    labels = {
        "aio": "aio.wait, one event loop",
        "sync": "asyncjobs.wait (sync scheduler)",
    }
    for key, label in labels.items():
        figures: dict[str, Any] = {"label": label}
        for name in runs[0][key]:
            figures[name] = summarize([r[key][name] for r in runs], 3)
        contenders[key] = figures
    ours = contenders["aio"]
    met: dict[str, bool] = {
        "lag": ours["lag_max_ms"]["max"] <= LAG_TARGET * 1000,
        "threads": ours["threads_added"]["max"] <= 17,
        "wall": ours["wall_over_longest"]["median"] <= 1.3,
        "requests": ours["polls_over_loop"]["median"] <= 0.5,
    }
    return {
        "title": "asyncio",
        "setup": (
            f"{jobs:,} {PROVIDER} jobs of {LOW:g}-{HIGH:g} sandbox s; sandbox clock x{scale:g} "
            f"(longest {HIGH / scale:g} s wall); sandbox in its own process; {repeats} run(s)"
        ),
        "clock": f"sandbox time x{scale:g} (1 wall second = {scale:g} sandbox seconds)",
        "jobs": jobs,
        "scale": scale,
        "longest_job_s": HIGH / scale,
        "contenders": contenders,
        "target": (
            "aio: loop lag never over 100 ms; threads added <= 17; wall <= 1.3 x longest; "
            "polls <= 0.5 x the sleep(1) loop's"
        ),
        "met": all(met.values()),
        "met_parts": met,
        "median_lag_ms": statistics.median(r["aio"]["lag_p50_ms"] for r in runs),
    }


def rows(
    r: dict[str, Any], fig: Callable[..., str], ok: Callable[[bool], str]
) -> list[tuple[str, ...]]:
    """The section's rows of the benchmark table."""
    a, s = r["contenders"]["aio"], r["contenders"]["sync"]
    head = f"asyncio, {r['jobs']:,} jobs (clock x{r['scale']:g})"
    return [
        (
            head,
            f"wall s (x longest {r['longest_job_s']:g} s)",
            f"{fig(a['wall_s'])} = {a['wall_over_longest']['median']:.2f}x",
            f"sync wait {fig(s['wall_s'])} = {s['wall_over_longest']['median']:.2f}x",
            f"{a['wall_over_longest']['median']:.2f}x",
            "<= 1.3x",
            ok(r["met_parts"]["wall"]),
        ),
        (
            head,
            "polls sent while waiting",
            fig(a["polls"], digits=0),
            f"sync wait {s['polls']['median']:,.0f}; sleep(1) loop {a['loop_polls']['median']:,.0f}",
            f"{a['polls_over_loop']['median']:.2f}x",
            "<= 0.5x",
            ok(r["met_parts"]["requests"]),
        ),
        (
            head,
            "peak threads added; peak memory MiB",
            f"{a['threads_added']['max']:.0f}; {a['memory_mib']['median']:.1f}",
            f"sync wait {s['threads_added']['max']:.0f}; {s['memory_mib']['median']:.1f}",
            "",
            "threads <= 17",
            ok(r["met_parts"]["threads"]),
        ),
        (
            head,
            "loop lag p50 / p99 / max ms (10 ms tick)",
            f"{a['lag_p50_ms']['median']:.1f} / {a['lag_p99_ms']['median']:.1f} / "
            f"{a['lag_max_ms']['max']:.1f}",
            "",
            "",
            "max <= 100 ms",
            ok(r["met_parts"]["lag"]),
        ),
    ]
