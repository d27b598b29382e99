"""Scheduler CPU: what ``asyncjobs.wait`` costs the client process per poll, against a plain
``for job in jobs: client.status(job.id)`` loop over the same jobs.

Conversio's sandbox runs in its own process (its CPU is not the client's), with ``jobs`` jobs that
never finish. They are submitted once (not measured). Then, in turns, each contender polls them for
``seconds`` of wall time:

* the plain loop: one thread sweeping the jobs with ``client.status``, again and again;
* ``asyncjobs.wait(jobs, timeout=seconds, max_workers=W)`` for each worker count ``W`` asked (its
  scheduler thread and a pool of ``W``), with a poll policy that makes every job due again
  0.25-0.5 s after its last poll -- more than the sandbox can answer, so the pool is never idle for
  want of work and the figure is the scheduler's cost per poll at full tilt.

Both go through the same client (its ledger a SQLite file; every status unchanged, so nothing is
written) and count their polls on the same counting session. CPU is the client process's
``time.process_time()`` (user + system, every thread) over the contender's run, divided by the polls
it sent. The ratio is the scheduler's CPU per poll over the loop's, in the same turn; turns alternate
the order of the contenders. Turns are short (4 s) and many (7) so that the two sides of a ratio
see the same machine: on a shared virtual machine the speed of a core drifts over tens of seconds.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

from ._common import CountingSession, ServerProcess, ThreadPeak, summarize

PROVIDER = "conversio"
TARGET = 1.1


def _loop(client: Any, jobs: list[Any], seconds: float) -> tuple[float, int, int]:
    """The plain loop for ``seconds``: (CPU seconds, polls, peak threads added)."""
    base = threading.active_count()
    end = time.monotonic() + seconds
    polls = 0
    with ThreadPeak() as threads:
        cpu = time.process_time()
        while time.monotonic() < end:
            for job in jobs:
                client.status(job.id)
                polls += 1
                if polls % 64 == 0 and time.monotonic() >= end:
                    break
        cpu = time.process_time() - cpu
    return cpu, polls, max(0, threads.peak - base)


def _scheduler(
    client: Any, jobs: list[Any], seconds: float, workers: int
) -> tuple[float, int, int]:
    """``asyncjobs.wait`` for ``seconds``: (CPU seconds, polls, peak threads added)."""
    import asyncjobs

    base = threading.active_count()
    session = client.provider.transport.session
    before = session.sent
    with ThreadPeak() as threads:
        cpu = time.process_time()
        _, not_done = asyncjobs.wait(jobs, timeout=seconds, max_workers=workers, progress=False)
        cpu = time.process_time() - cpu
    if len(not_done) != len(jobs):
        raise RuntimeError("a job that never ends was seen finished")
    return cpu, int(session.sent - before), max(0, threads.peak - base)


def _size(jobs: int, seconds: float, workers: tuple[int, ...], repeats: int, tmp: Path) -> Any:
    import asyncjobs

    policy = asyncjobs.PollPolicy(initial=0.5, factor=1.0, cap=0.5, min_interval=0.25)
    with (
        ServerProcess(PROVIDER) as server,
        asyncjobs.connect(
            PROVIDER,
            ledger=tmp / f"scheduler-{jobs}.sqlite3",
            session=CountingSession(),
            poll=policy,
            **server.settings,
        ) as client,
    ):
        handles = [client.submit("segments-export", segment="s1") for _ in range(jobs)]
        for job in handles[: min(jobs, 200)]:
            client.status(job.id)  # warm: connections open, code paths taken
        turns: list[dict[str, Any]] = []
        for turn in range(repeats):
            figures: dict[str, Any] = {}
            order = ["loop", *(f"wait_{w}" for w in workers)]
            if turn % 2:
                order.reverse()
            for name in order:
                for job in handles:
                    job.info = None  # each contender starts from the same handles
                if name == "loop":
                    cpu, polls, threads = _loop(client, handles, seconds)
                else:
                    cpu, polls, threads = _scheduler(
                        client, handles, seconds, int(name.split("_")[1])
                    )
                figures[name] = {
                    "cpu_us_per_poll": cpu / max(polls, 1) * 1e6,
                    "polls": polls,
                    "threads": threads,
                }
            turns.append(figures)
    out: dict[str, Any] = {"jobs": jobs}
    loop = [t["loop"]["cpu_us_per_poll"] for t in turns]
    out["loop"] = {
        "cpu_us_per_poll": summarize(loop, 1),
        "polls": summarize([t["loop"]["polls"] for t in turns], 0),
    }
    for w in workers:
        key = f"wait_{w}"
        ratios = [t[key]["cpu_us_per_poll"] / t["loop"]["cpu_us_per_poll"] for t in turns]
        out[key] = {
            "workers": w,
            "cpu_us_per_poll": summarize([t[key]["cpu_us_per_poll"] for t in turns], 1),
            "polls": summarize([t[key]["polls"] for t in turns], 0),
            "threads": max(t[key]["threads"] for t in turns),
            "ratio": summarize(ratios, 3),
            "met": statistics.median(ratios) <= TARGET,
        }
    return out


def run(
    *,
    sizes: tuple[int, ...] = (1000, 10_000),
    seconds: float = 4.0,
    workers: tuple[int, ...] = (8, 16),
    repeats: int = 7,
    tmp: Path,
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    by = {str(n): _size(n, seconds, workers, repeats, tmp) for n in sizes}
    met = all(by[str(n)][f"wait_{w}"]["met"] for n in sizes for w in workers)
    return {
        "title": "Scheduler CPU",
        "setup": (
            f"{', '.join(f'{n:,}' for n in sizes)} {PROVIDER} jobs that never end, sandbox in its "
            f"own process; each contender polls them for {seconds:g} s per turn; {repeats} turns"
        ),
        "seconds": seconds,
        "repeats": repeats,
        "sizes": by,
        "target": f"CPU per poll <= {TARGET:.1f} x the plain status loop's, <= 16 threads",
        "met": met,
    }


def rows(r: dict[str, Any], fig: Any, ok: Any) -> list[tuple[str, ...]]:
    """The section's rows of the results table."""
    out: list[tuple[str, ...]] = []
    for n, by in r["sizes"].items():
        loop = by["loop"]
        for key, w in by.items():
            if not key.startswith("wait_"):
                continue
            out.append(
                (
                    "Scheduler CPU",
                    f"{int(n):,} jobs: asyncjobs.wait, {w['workers']} workers, CPU us per poll "
                    f"(polls; threads added)",
                    f"{fig(w['cpu_us_per_poll'], digits=0)} ({w['polls']['median']:,.0f}; "
                    f"{w['threads']})",
                    f"plain status loop {fig(loop['cpu_us_per_poll'], digits=0)} "
                    f"({loop['polls']['median']:,.0f})",
                    fig(w["ratio"], "x", 3),
                    f"<= {TARGET:.1f}x; pool <= 16",
                    ok(w["met"] and w["threads"] <= 17),  # the pool and the scheduler's own thread
                )
            )
    return out
