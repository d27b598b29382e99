"""Notice delay, every way of waiting: how late each driver of the poll core learns of a job's end.

Conversio's sandbox runs in its own process, with ``jobs`` jobs whose n-th lasts the n-th of ``jobs``
durations spread evenly over 1-20 sandbox seconds (shuffled), at time scale ``scale`` (1: real time,
the target's). The jobs are submitted once, one after another (not timed); then, for each driver in
turn, the sandbox restarts every job at the same moment (so each job's end is known: that moment
plus its duration), and the driver waits for all of them, on fresh handles, with Conversio's
production poll policy (divided by ``scale``):

* ``Job.wait``: a thread per job, each in ``job.wait()`` (how one-job waits scale to many);
* ``asyncjobs.wait``: the sync scheduler and its pool (the default ``max_workers``);
* ``as_completed``: the same scheduler, a job noticed when it is yielded;
* ``Job.future``: every job's future from the process's background scheduler, noticed when the
  future resolves (with the job's result: one more request);
* ``aio.wait``: the asyncio scheduler, from one event loop.

A job is noticed when its waiter learns of the end: the progress callback's first finished look
(``Job.wait``, ``asyncjobs.wait``, ``aio.wait``), the yield (``as_completed``), the future's done
callback (``Job.future``). Reported per driver: the 99th percentile of the notice delay (notice
minus the job's end) as a fraction of the job's age when noticed (its length plus the delay), the
target's measure, 0.40 at most; the mean delay; wall time over the longest job; polls sent. The fleet
worker is not measured here (it needs PostgreSQL: ``--only fleet``). Drivers run in turns, the order
reversed on every other repeat, so that none always gets the quietest moment of a shared machine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from ._common import CountingSession, ServerProcess, compressed, spread, summarize

PROVIDER = "conversio"
LOW, HIGH = 1.0, 20.0
TARGET = 0.40

DRIVERS = {
    "job_wait": "Job.wait, a thread per job",
    "wait": "asyncjobs.wait",
    "as_completed": "asyncjobs.as_completed",
    "future": "Job.future",
    "aio_wait": "aio.wait",
}


class _Noticed:
    """When each job's end was first noticed (monotonic)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()

    def job(self, job_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.at.setdefault(job_id, now)

    def seen(self, info: Any) -> None:
        if info.finished:
            self.job(info.id)


def _job_wait(client: Any, ids: list[str], noticed: _Noticed) -> None:
    import logging

    # more threads than the session keeps connections: urllib3 says so for every extra one
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    handles = [client.job(i) for i in ids]
    threads = [
        threading.Thread(target=h.wait, kwargs={"timeout": 600, "progress": noticed.seen})
        for h in handles
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _wait(client: Any, ids: list[str], noticed: _Noticed) -> None:
    import asyncjobs

    _, not_done = asyncjobs.wait([client.job(i) for i in ids], timeout=600, progress=noticed.seen)
    if not_done:
        raise RuntimeError(f"asyncjobs.wait: {len(not_done)} jobs did not finish")


def _as_completed(client: Any, ids: list[str], noticed: _Noticed) -> None:
    import asyncjobs

    for job in asyncjobs.as_completed([client.job(i) for i in ids], timeout=600, progress=False):
        noticed.job(job.id)


def _future(client: Any, ids: list[str], noticed: _Noticed) -> None:
    futures = []
    for job_id in ids:
        future = client.job(job_id).future()
        future.add_done_callback(lambda _, job_id=job_id: noticed.job(job_id))
        futures.append(future)
    cf.wait(futures, timeout=600)


def _aio_wait(client: Any, ids: list[str], noticed: _Noticed) -> None:
    from asyncjobs import aio

    async def main() -> None:
        wrapped = aio.AsyncClient(client)
        _, not_done = await aio.wait(
            [wrapped.job(i) for i in ids], timeout=600, progress=noticed.seen
        )
        if not_done:
            raise RuntimeError(f"aio.wait: {len(not_done)} jobs did not finish")

    asyncio.run(main())


WAITERS: dict[str, Callable[[Any, list[str], _Noticed], None]] = {
    "job_wait": _job_wait,
    "wait": _wait,
    "as_completed": _as_completed,
    "future": _future,
    "aio_wait": _aio_wait,
}


def _measure(
    server: ServerProcess,
    client: Any,
    ids: list[str],
    lengths: dict[str, float],
    key: str,
) -> dict[str, float]:
    noticed = _Noticed()
    session = client.provider.transport.session
    sent = session.sent
    before = time.monotonic()
    server.restart_jobs()
    after = time.monotonic()
    start = (before + after) / 2  # every job started at the sandbox between the two
    WAITERS[key](client, ids, noticed)
    wall = time.monotonic() - start
    missing = set(ids) - set(noticed.at)
    if missing:
        raise RuntimeError(f"{key}: {len(missing)} jobs were never noticed finished")
    delays = {i: max(0.0, noticed.at[i] - (start + lengths[i])) for i in ids}
    of_age = sorted(d / (lengths[i] + d) for i, d in delays.items())
    p99 = of_age[max(0, math.ceil(0.99 * len(of_age)) - 1)]
    return {
        "p99_delay_of_age": p99,
        "mean_delay_s": sum(delays.values()) / len(delays),
        "wall_s": wall,
        "wall_over_longest": wall / max(lengths.values()),
        "polls": float(session.sent - sent),
    }


def run(
    *,
    jobs: int = 1000,
    scale: float = 1.0,
    repeats: int = 2,
    drivers: tuple[str, ...] = tuple(DRIVERS),
    tmp: Path,
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    from asyncjobs_conversio.provider import ConversioProvider

    import asyncjobs

    prod = ConversioProvider.capabilities.poll
    policy = compressed(prod, scale)
    runs: dict[str, list[dict[str, float]]] = {key: [] for key in drivers}
    session = CountingSession()
    # as many connections kept as a client's own session keeps (asyncjobs._http.POOL_SIZE)
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
    with (
        ServerProcess(
            PROVIDER, "--scale", str(scale), "--spread", f"{jobs}:{LOW}:{HIGH}"
        ) as server,
        asyncjobs.connect(
            PROVIDER, ledger=False, poll=policy, session=session, **server.settings
        ) as client,
    ):
        # one after another: the n-th submitted is the sandbox's n-th job, of the n-th duration
        ids = [client.submit("segments-export", segment="s1").id for _ in range(jobs)]
        lengths = dict(zip(ids, (d / scale for d in spread(jobs, LOW, HIGH)), strict=True))
        for turn in range(repeats):
            order = drivers if turn % 2 == 0 else tuple(reversed(drivers))
            for key in order:
                runs[key].append(_measure(server, client, ids, lengths, key))
    contenders: dict[str, Any] = {}
    for key, measured in runs.items():
        figures: dict[str, Any] = {"label": DRIVERS[key]}
        for name in measured[0]:
            figures[name] = summarize([m[name] for m in measured], 3)
        figures["met"] = figures["p99_delay_of_age"]["median"] <= TARGET
        contenders[key] = figures
    return {
        "title": "Notice delay, every driver",
        "setup": (
            f"{jobs:,} {PROVIDER} jobs of {LOW:g}-{HIGH:g} sandbox s at time scale {scale:g} "
            f"(longest {HIGH / scale:g} s wall), all restarted at once for each driver; sandbox in "
            f"its own process; {repeats} run(s) per driver"
        ),
        "jobs": jobs,
        "scale": scale,
        "repeats": repeats,
        "longest_job_s": HIGH / scale,
        "contenders": contenders,
        "target": f"p99 notice delay <= {TARGET:.2f} of the job's age, every driver",
        "met": all(c["met"] for c in contenders.values()),
    }


def rows(
    r: dict[str, Any], fig: Callable[..., str], ok: Callable[[bool], str]
) -> list[tuple[str, ...]]:
    """The section's rows of the benchmark table: one per driver."""
    head = f"Notice delay, {r['jobs']:,} jobs (clock x{r['scale']:g})"
    out = []
    for c in r["contenders"].values():
        out.append(
            (
                head,
                f"{c['label']}: p99 notice delay / job's age at notice",
                fig(c["p99_delay_of_age"]),
                f"mean delay {c['mean_delay_s']['median']:.2f} s; wall "
                f"{c['wall_over_longest']['median']:.2f}x longest; polls "
                f"{c['polls']['median']:,.0f}",
                "",
                f"<= {TARGET:.2f}",
                ok(c["met"]),
            )
        )
    return out
