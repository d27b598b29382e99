"""Celery: 1,000 jobs waited for by two Celery workers of four slots each, against ``asyncjobs.wait``.

Conversio's sandbox runs in its own process; its n-th job runs the n-th of ``jobs`` durations spread
evenly over 1-20 sandbox seconds (shuffled), with no start delay, at time scale ``scale``. Each
contender gets a fresh sandbox and the same jobs, and all use Conversio's production poll policy
(divided by ``scale``, the same compression as the jobs). The Celery contenders run a redis-server of
the benchmark's own (broker and result backend) and two ``celery worker`` processes (prefork,
``--concurrency 4``) of the app below:

* ``job``: the driver sends ``asyncjobs_celery.job(...)`` for every job and gets every end. Each job's
  task submits it, then polls in short steps that hand the wait on with the poll core's countdown
  (no slot held). Wall time from the first message sent: the 1,000 submits share the 8 slots with
  the polls of the jobs already made;
* ``wait_task``: the driver submits every job first (not timed, as ``benchmarks.many_jobs`` does),
  then sends the ``asyncjobs.wait`` task for each: wall time from the start of waiting;
* ``wait`` (the comparator): one process submits every job (``client.submit``), then waits for them
  all with ``asyncjobs.wait`` (the default scheduler); both walls are kept.

Reported: every job done, one submit each; the walls against the longest job (``20 / scale`` s);
the looks at one job the sandbox answered while waiting (polls: ``GET /async-jobs/<id>``; the Celery
tasks' one result fetch per job is counted apart), against the comparator's in the same run.

    python -m benchmarks --only celery
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._common import ROOT, ServerProcess, compressed, summarize

PROVIDER = "conversio"
LOW, HIGH = 1.0, 20.0
WORKERS, SLOTS = 2, 4
TARGET_WALL = 1.4

# -- the app the workers run (``celery -A benchmarks.celery worker``) -----------------------------


def make_app(broker: str, scale: float) -> Any:
    """The benchmark's Celery app on ``broker`` (also its result backend), the asyncjobs tasks on
    it; each worker process's client polls with Conversio's production policy / ``scale``."""
    import asyncjobs_celery
    from asyncjobs_conversio.provider import ConversioProvider
    from celery import Celery

    import asyncjobs

    policy = compressed(ConversioProvider.capabilities.poll, scale)
    app = Celery("asyncjobs_celery_benchmark", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_expires=3600,
    )
    asyncjobs_celery.register(app, connect=lambda name: asyncjobs.connect(name, poll=policy))
    return app


if "ASYNCJOBS_CELERY_BENCH_BROKER" in os.environ:  # a worker process
    app = make_app(
        os.environ["ASYNCJOBS_CELERY_BENCH_BROKER"],
        float(os.environ.get("ASYNCJOBS_CELERY_BENCH_SCALE", "1")),
    )


# -- the processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Redis:
    """A redis-server on 127.0.0.1 at a free port, its files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(binary, os.X_OK):
            raise RuntimeError(
                "the celery benchmark needs redis-server (apt-get install redis-server)"
            )
        self.port = _free_port()
        command = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(folder)]
        command += ["--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log")]
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)


def _worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.celery", "worker"]
    command += ["--pool", "prefork", "--concurrency", str(SLOTS), "--hostname", f"{name}@bench"]
    command += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat"]
    with open(log, "w") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_ready(app: Any, names: list[str], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while True:
        answered = app.control.ping(destination=names, timeout=0.5) or []
        if len(answered) == len(names):
            return
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError("the celery workers did not start")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


# -- the contenders ------------------------------------------------------------------------------


def _celery(
    server: ServerProcess, n: int, scale: float, tmp: Path, *, submit: bool = True
) -> dict[str, float]:
    import asyncjobs_celery

    import asyncjobs

    folder = tmp / f"celery-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    redis = _Redis(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_", "CONVERSIO_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        ASYNCJOBS_HOME=str(folder / "home"),
        ASYNCJOBS_PROGRESS="0",
        ASYNCJOBS_CELERY_BENCH_BROKER=redis.url,
        ASYNCJOBS_CELERY_BENCH_SCALE=str(scale),
        CONVERSIO_API_KEY=server.settings["api_key"],
        CONVERSIO_BASE_URL=server.settings["base_url"],
    )
    driver = make_app(redis.url, scale)
    driver.set_current()
    names = [f"w{i}" for i in range(WORKERS)]
    procs = [_worker(name, env, folder / f"{name}.log") for name in names]
    try:
        _wait_ready(driver, [f"{name}@bench" for name in names], procs)
        if submit:  # each job's task submits it, then waits
            start = time.monotonic()
            sent = [
                asyncjobs_celery.job(PROVIDER, "segments-export", segment="s1").apply_async()
                for _ in range(n)
            ]
        else:  # the jobs are submitted first (not timed), as for the comparator; tasks wait
            ledger = folder / "home" / "ledger.sqlite3"
            with asyncjobs.connect(PROVIDER, ledger=ledger, **server.settings) as client:
                made = [client.submit("segments-export", segment="s1").id for _ in range(n)]
            start = time.monotonic()
            wait = driver.tasks[asyncjobs_celery.WAIT]
            sent = [wait.delay(PROVIDER, job_id) for job_id in made]
        submitted = None
        while submitted is None:  # when the sandbox had every job
            if server.counts().get("submits", 0) >= n:
                submitted = time.monotonic() - start
            else:
                time.sleep(0.05)
        before = server.counts().get("job_gets", 0) if not submit else 0
        ends = [r.get(timeout=600) for r in sent]
        wall = time.monotonic() - start
        counts = server.counts()
        counts["job_gets"] = counts.get("job_gets", 0) - before
        noticed = [_utc(r.date_done).timestamp() for r in sent]  # when each end was stored
    finally:
        _stop(procs)
        driver.close()
        redis.stop()
    done = sum(1 for e in ends if e["info"]["status"] == "done")
    return {
        "wall_s": wall,
        "p99_delay_of_age": _p99_of_age(
            [
                (e["info"]["submitted_at"], e["info"]["completed_at"], t)
                for e, t in zip(ends, noticed, strict=True)
            ]
        ),
        "done": done,
        "polls": counts.get("job_gets", 0) - n,  # each task fetches its job's result once
        "polls_told": sum(e["polls"] for e in ends),
        "submits": counts.get("submits", 0),
        "submit_s": submitted,
    }


def _wait(server: ServerProcess, n: int, scale: float, tmp: Path) -> dict[str, float]:
    from asyncjobs_conversio.provider import ConversioProvider

    import asyncjobs

    policy = compressed(ConversioProvider.capabilities.poll, scale)
    ledger = tmp / f"wait-{time.monotonic_ns()}.sqlite3"
    noticed: dict[str, float] = {}

    def seen(info: Any) -> None:
        if info.finished:
            noticed.setdefault(info.id, time.time())

    with asyncjobs.connect(PROVIDER, ledger=ledger, poll=policy, **server.settings) as client:
        start = time.monotonic()
        handles = [client.submit("segments-export", segment="s1") for _ in range(n)]
        waiting = time.monotonic()
        before = server.counts().get("job_gets", 0)
        done, not_done = asyncjobs.wait(handles, timeout=600, progress=seen)
        end = time.monotonic()
        counts = server.counts()
    finished = sum(1 for h in done if h.info is not None and h.info.status.value == "done")
    return {
        "wall_s": end - start,
        "p99_delay_of_age": _p99_of_age(
            [
                (h.info.submitted_at.isoformat(), h.info.completed_at.isoformat(), noticed[h.id])
                for h in done
                if h.info is not None and h.info.submitted_at and h.info.completed_at
            ]
        ),
        "wait_s": end - waiting,
        "done": finished if not not_done else 0,
        "polls": counts.get("job_gets", 0) - before,
        "polls_told": counts.get("job_gets", 0) - before,
        "submits": counts.get("submits", 0),
        "submit_s": waiting - start,
    }


def _utc(moment: Any) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _p99_of_age(seen: list[tuple[str, str, float]]) -> float:
    """The 99th percentile of each job's notice delay (its end known minus its end at the
    sandbox) over its age when noticed (its length plus the delay)."""
    ratios = []
    for submitted, completed, noticed in seen:
        began, ended = datetime.fromisoformat(submitted), datetime.fromisoformat(completed)
        delay = max(0.0, noticed - ended.timestamp())
        ratios.append(delay / ((ended - began).total_seconds() + delay))
    ratios.sort()
    return ratios[max(0, math.ceil(0.99 * len(ratios)) - 1)] if ratios else 0.0


CONTENDERS: dict[str, tuple[str, Callable[..., dict[str, float]]]] = {
    "job": (
        f"asyncjobs_celery.job (submit and wait in tasks), {WORKERS} workers x {SLOTS} slots",
        _celery,
    ),
    "wait_task": (
        f"the asyncjobs.wait task on jobs submitted first, {WORKERS} workers x {SLOTS} slots",
        lambda *a: _celery(*a, submit=False),
    ),
    "wait": ("asyncjobs.wait in one process", _wait),
}


def run(*, jobs: int = 1000, scale: float = 1.0, repeats: int = 1, tmp: Path) -> dict[str, Any]:
    """Measure; return the section's figures."""
    longest = HIGH / scale
    results: dict[str, Any] = {}
    for key, (label, contender) in CONTENDERS.items():
        runs = []
        for _ in range(repeats):
            spread = f"{jobs}:{LOW}:{HIGH}"
            with ServerProcess(
                PROVIDER, "--scale", str(scale), "--spread", spread, "--count"
            ) as server:
                runs.append(contender(server, jobs, scale, tmp))
        results[key] = {
            "label": label,
            "done": min(r["done"] for r in runs),
            "submits": max(r["submits"] for r in runs),
            "wall_s": summarize([r["wall_s"] for r in runs], 3),
            "wall_over_longest": summarize([r["wall_s"] / longest for r in runs], 3),
            "polls": summarize([r["polls"] for r in runs], 0),
            "polls_told": summarize([r["polls_told"] for r in runs], 0),
            "p99_delay_of_age": summarize([r["p99_delay_of_age"] for r in runs], 3),
            "submit_s": summarize([r["submit_s"] or 0.0 for r in runs], 2),
        }
        if key == "wait":  # its waiting alone, as the wait task's run is measured
            results[key]["wait_s"] = summarize([r["wait_s"] for r in runs], 3)
            results[key]["wait_over_longest"] = summarize([r["wait_s"] / longest for r in runs], 3)
    job, task, wait = results["job"], results["wait_task"], results["wait"]
    ratios = {
        "job": job["polls"]["median"] / max(wait["polls"]["median"], 1),
        "wait_task": task["polls"]["median"] / max(wait["polls"]["median"], 1),
    }
    met = {
        "done": all(
            results[k]["done"] == jobs and results[k]["submits"] == jobs
            for k in ("job", "wait_task")
        ),
        "wall_job": job["wall_over_longest"]["median"] <= TARGET_WALL,
        "wall_wait_task": task["wall_over_longest"]["median"] <= TARGET_WALL,
        "polls": all(r <= 1.0 for r in ratios.values()),
    }
    return {
        "title": "Celery",
        "setup": (
            f"{jobs} {PROVIDER} jobs of {LOW:g}-{HIGH:g} sandbox s at time scale {scale:g} "
            f"(longest {longest:g} s wall); {WORKERS} celery workers x {SLOTS} prefork slots on "
            f"a redis-server; sandbox in its own process; {repeats} run(s) each"
        ),
        "jobs": jobs,
        "scale": scale,
        "repeats": repeats,
        "longest_job_s": longest,
        "contenders": results,
        "polls_ratio": {k: round(v, 3) for k, v in ratios.items()},
        "target": (
            f"every job done, one submit each; wall <= {TARGET_WALL} x longest job (from the "
            "first submit through job(); from the start of waiting through the wait task); polls "
            "<= asyncjobs.wait's on the same jobs"
        ),
        "met": all(met.values()),
        "met_parts": met,
    }


def rows(
    r: dict[str, Any], fig: Callable[..., str], ok: Callable[[bool], str]
) -> list[tuple[str, ...]]:
    """The section's rows of the benchmark table."""
    c = r["contenders"]
    job, task, wait = c["job"], c["wait_task"], c["wait"]
    head = f"Celery, {r['jobs']:,} jobs"
    longest = f"x longest {r['longest_job_s']:g} s"
    return [
        (
            head,
            "jobs done; submits (job(); wait task)",
            f"{job['done']:,}; {job['submits']:,} / {task['done']:,}; {task['submits']:,}",
            f"asyncjobs.wait {wait['done']:,}; {wait['submits']:,}",
            "",
            f"{r['jobs']:,}; {r['jobs']:,}",
            ok(r["met_parts"]["done"]),
        ),
        (
            head,
            f"{job['label']}: wall s from the first submit ({longest}); of it, every job at the "
            f"sandbox after {job['submit_s']['median']:.1f} s",
            f"{fig(job['wall_s'])} ({fig(job['wall_over_longest'], 'x')})",
            f"asyncjobs.wait {fig(wait['wall_s'])} ({fig(wait['wall_over_longest'], 'x')}; "
            f"its submits {wait['submit_s']['median']:.1f} s)",
            "",
            f"<= {TARGET_WALL}x",
            ok(r["met_parts"]["wall_job"]),
        ),
        (
            head,
            f"{task['label']}: wall s from the start of waiting ({longest})",
            f"{fig(task['wall_s'])} ({fig(task['wall_over_longest'], 'x')})",
            f"asyncjobs.wait {fig(wait['wait_s'])} ({fig(wait['wait_over_longest'], 'x')})",
            "",
            f"<= {TARGET_WALL}x",
            ok(r["met_parts"]["wall_wait_task"]),
        ),
        (
            head,
            "polls while waiting, job(); wait task (status requests; each task's one result "
            "fetch apart)",
            f"{fig(job['polls'], digits=0)}; {fig(task['polls'], digits=0)}",
            f"asyncjobs.wait {fig(wait['polls'], digits=0)}",
            f"{r['polls_ratio']['job']:.2f}x; {r['polls_ratio']['wait_task']:.2f}x",
            "<= 1.00x",
            ok(r["met_parts"]["polls"]),
        ),
        (
            head,
            "p99 notice delay / job's age at notice, job(); wait task (the end stored, against "
            "its end at the sandbox)",
            f"{fig(job['p99_delay_of_age'])}; {fig(task['p99_delay_of_age'])}",
            f"asyncjobs.wait {fig(wait['p99_delay_of_age'])}",
            "",
            "(information)",
            "",
        ),
    ]
