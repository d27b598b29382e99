"""Airflow: 1,000 ``AsyncJobTrigger``s in one triggerer event loop, side by side with a hand-written
trigger that polls every second.

Runs in Airflow's own environment (the one tests/test_airflow_integration.py makes), from the
repository's root::

    <airflow venv>/bin/python -m benchmarks.airflow_triggers [--jobs 1000]

ConvertAPI's sandbox runs in its own process, in real time (scale 1), its n-th job lasting the n-th
of ``jobs`` durations spread evenly over 1-20 s (shuffled). The jobs are submitted once (not timed);
then, for each contender, the sandbox restarts every job at once and the contender's triggers wait
for all of them, each trigger run by Airflow's own ``TriggerRunner.run_trigger`` (the triggerer's
coroutine around a trigger: its logging, its span, its event queue), all in one event loop, with a
task ticking every 10 ms beside them to measure the loop's lag:

* ``AsyncJobTrigger``: the poll core's pace (ConvertAPI's production poll policy), through one shared
  ``asyncjobs.aio`` client;
* a hand-written trigger as vendor samples write them: ``await client.status(job_id)`` then
  ``asyncio.sleep(1)`` until the job ends (through the same kind of client, so only the pace differs).

Reported: events fired (target: every trigger), loop lag p50 / p99 / max (target: p99 under 50 ms),
wall time from the restart until the last event against the longest job (20 s), status requests the
sandbox received, and the threads of the process at their peak.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from ._common import ServerProcess, ThreadPeak

LOW, HIGH = 1.0, 20.0
TICK = 0.01
LAG_TARGET_MS = 50.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _hand_written() -> type[Any]:
    """The comparator: a trigger that looks at its job every second (one shared client too)."""
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    from asyncjobs import aio

    class SleepLoopTrigger(BaseTrigger):  # type: ignore[misc]
        client: aio.AsyncClient | None = None

        def __init__(self, job_id: str) -> None:
            super().__init__()
            self.job_id = job_id

        def serialize(self) -> tuple[str, dict[str, Any]]:
            return ("benchmarks.airflow_triggers.SleepLoopTrigger", {"job_id": self.job_id})

        async def run(self) -> AsyncIterator[TriggerEvent]:
            assert self.client is not None
            while True:
                info = await self.client.status(self.job_id)
                if info.finished:
                    yield TriggerEvent({"job_id": self.job_id, "status": info.status.value})
                    return
                await asyncio.sleep(1.0)

    return SleepLoopTrigger


async def _run_triggers(make: Callable[[], list[Any]], server: ServerProcess) -> dict[str, Any]:
    """Restart the sandbox's jobs, then run the triggers ``make`` gives as the triggerer does (their
    waits begin now, as a deferral's would when its job starts); the figures."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(TICK)
            lags.append(max(0.0, time.monotonic() - before - TICK))

    await asyncio.get_running_loop().run_in_executor(None, server.restart_jobs)
    start, wall_start = time.monotonic(), time.time()
    ticking = asyncio.create_task(ticker())
    triggers = make()
    tasks = []
    for number, trigger in enumerate(triggers, 1):
        trigger.trigger_id = number
        runner.triggers[number] = {
            "task": None,
            "name": f"job {number}",
            "events": 0,
            "is_watcher": False,
        }
        task = asyncio.create_task(runner.run_trigger(number, trigger))
        runner.triggers[number]["task"] = task
        tasks.append(task)
        await asyncio.sleep(0)  # as the triggerer's create_triggers does between two triggers
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.monotonic() - start
    stop.set()
    await ticking
    failed = [r for r in results if isinstance(r, BaseException)]
    events = [entry.event.payload for entry in runner.events]
    done = sum(1 for e in events if e.get("status") == "done")
    return {
        "wall": wall,
        "wall_start": wall_start,
        "fired": len(events),
        "done": done,
        "crashed": len(failed),
        "lag_p50_ms": _percentile(lags, 0.5) * 1000,
        "lag_p99_ms": _percentile(lags, 0.99) * 1000,
        "lag_max_ms": max(lags, default=0.0) * 1000,
    }


@contextlib.contextmanager
def _output_to(file: Any) -> Iterator[None]:
    """The process's standard output and error (where Airflow's logging writes) into ``file``, as a
    triggerer writes its log, so that the table stays readable."""
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def run(*, jobs: int = 1000, tmp: Path) -> dict[str, Any]:
    """Both contenders on the same jobs; their figures by name."""
    os.environ["ASYNCJOBS_HOME"] = str(tmp / "asyncjobs")
    os.environ["ASYNCJOBS_PROGRESS"] = "0"
    os.environ.setdefault("AIRFLOW_HOME", str(tmp / "airflow"))
    log = (tmp / "triggerer.log").open("w", encoding="utf-8")  # the triggerer's log lines

    from asyncjobs_airflow.triggers import AsyncJobTrigger

    from asyncjobs import aio, engines

    figures: dict[str, Any] = {}
    args = ("--scale", "1", "--spread", f"{jobs}:{LOW}:{HIGH}", "--record")
    with ServerProcess("convertapi", *args, tmpdir=tmp) as server:
        os.environ["CONVERTAPI_SECRET"] = server.settings["secret"]
        os.environ["CONVERTAPI_BASE_URL"] = server.settings["base_url"]

        async def submit_all() -> list[str]:
            async with aio.connect("convertapi") as client:
                made = await asyncio.gather(
                    *(
                        client.submit("convert", source=b"PK\x03\x04 x", from_="docx", to="pdf")
                        for _ in range(jobs)
                    )
                )
                return [j.id for j in made]

        with _output_to(log):
            submitted = asyncio.run(submit_all())
        sleep_loop = _hand_written()

        def waits() -> list[Any]:
            now = time.time()  # the operator's engines.start(job) at the deferral
            return [
                AsyncJobTrigger(
                    "convertapi",
                    job_id,
                    "convert",
                    engines.PollState("convertapi", job_id, "convert", since=now).to_dict(),
                    None,
                    delay=1.0,  # ConvertAPI's initial delay: the operator's first turn
                )
                for job_id in submitted
            ]

        async def ours() -> dict[str, Any]:
            return await _run_triggers(waits, server)

        async def theirs() -> dict[str, Any]:
            async with aio.connect("convertapi") as client:
                sleep_loop.client = client
                return await _run_triggers(lambda: [sleep_loop(j) for j in submitted], server)

        for name, contender in (("AsyncJobTrigger", ours), ("sleep(1) trigger", theirs)):
            with ThreadPeak() as threads, _output_to(log):
                result = asyncio.run(contender())
            result["threads"] = threads.peak
            result["polls"] = sum(
                1 for at, _ in server.arrivals() if result["wall_start"] <= at
            )  # every request the sandbox received since the restart: status requests
            figures[name] = result
    log.close()
    return figures


def table(figures: dict[str, Any], jobs: int) -> str:
    """The printed table, target beside measure."""
    rows = [
        ("events fired", f"{jobs} (every trigger)", "fired", "{:.0f}"),
        ("jobs seen done", f"{jobs}", "done", "{:.0f}"),
        ("loop lag p50 (ms)", "-", "lag_p50_ms", "{:.1f}"),
        ("loop lag p99 (ms)", f"< {LAG_TARGET_MS:.0f}", "lag_p99_ms", "{:.1f}"),
        ("loop lag max (ms)", "-", "lag_max_ms", "{:.1f}"),
        ("wall from restart (s)", f"longest job {HIGH:.0f} s", "wall", "{:.1f}"),
        ("status requests", "-", "polls", "{:.0f}"),
        ("peak threads", "-", "threads", "{:.0f}"),
    ]
    names = list(figures)
    head = f"{'measure':<24}{'target':<22}" + "".join(f"{n:>20}" for n in names)
    lines = [head, "-" * len(head)]
    for label, target, key, fmt in rows:
        cells = "".join(f"{fmt.format(figures[n][key]):>20}" for n in names)
        lines.append(f"{label:<24}{target:<22}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="asyncjobs-airflow-bench-") as tmp:
        figures = run(jobs=args.jobs, tmp=Path(tmp))
    print(f"{args.jobs} triggers in one triggerer loop (Airflow's TriggerRunner.run_trigger), "
          f"ConvertAPI sandbox in real time, jobs of {LOW:.0f}-{HIGH:.0f} s")  # fmt: skip
    print(table(figures, args.jobs))
    ours = figures["AsyncJobTrigger"]
    ok = ours["fired"] == args.jobs and ours["done"] == args.jobs
    ok = ok and ours["lag_p99_ms"] < LAG_TARGET_MS
    print("targets met" if ok else "TARGETS MISSED")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
