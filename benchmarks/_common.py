"""What the benchmarks share: summaries of repeated runs, a sandbox server in its own process, request
and thread counters, and the process's memory high-water mark."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024

Figure = dict[str, Any]


def summarize(values: Sequence[float], digits: int = 4) -> Figure:
    """``{"median", "min", "max", "runs"}`` of repeated measurements."""
    if not values:
        raise ValueError("no measurements")
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def spread(n: int, low: float, high: float, seed: int = 8) -> list[float]:
    """``n`` durations evenly spread over ``[low, high]``, in a shuffled (seeded) order."""
    import random

    if n == 1:
        return [high]
    values = [low + (high - low) * i / (n - 1) for i in range(n)]
    random.Random(seed).shuffle(values)
    return values


def compressed(policy: Any, scale: float) -> Any:
    """A provider's production poll policy on a sandbox clock ``scale`` times faster: its times
    divided by ``scale`` (factor and fraction as they are; no server-side hold)."""
    import asyncjobs

    return asyncjobs.PollPolicy(
        initial=policy.initial / scale,
        factor=policy.factor,
        cap=policy.cap / scale,
        min_interval=policy.min_interval / scale,
        fraction=policy.fraction,
    )


# -- the sandbox in its own process ---------------------------------------------------------------


class ServerProcess:
    """``python -m benchmarks.server ...`` in a child process (its CPU and memory are not the
    client's); ``url`` and ``settings`` connect a client to it. Ends when closed."""

    def __init__(self, provider: str, *args: str, tmpdir: Path | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ASYNCJOBS_PROGRESS": "0"}
        if tmpdir is not None:
            env["TMPDIR"] = str(tmpdir)  # where the server spools request bodies
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", provider, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(10)
            raise RuntimeError(f"the {provider} sandbox server did not start")
        ready = json.loads(line)
        self.url: str = ready["url"]
        self.settings: dict[str, str] = ready["settings"]
        self.pid = self._proc.pid

    def restart_jobs(self) -> None:
        """Make every job submitted so far start now (Conversio; see benchmarks.server)."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write("restart\n")
        self._proc.stdin.flush()
        if self._proc.stdout.readline().strip() != "restarted":
            raise RuntimeError("the sandbox server did not restart its jobs")

    def ends(self) -> dict[str, float]:
        """Each job's id -> the wall-clock time it ends at the sandbox (ConvertAPI)."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write("ends\n")
        self._proc.stdin.flush()
        found: dict[str, float] = json.loads(self._proc.stdout.readline())
        return found

    def _ask(self, line: str) -> str:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        return self._proc.stdout.readline()

    def counts(self) -> dict[str, int]:
        """Submits and looks at one job so far (``--count``): ``submits``, ``job_gets``."""
        found: dict[str, int] = json.loads(self._ask("counts"))
        return found

    def arrivals(self) -> list[tuple[float, int]]:
        """Each request's arrival (wall clock) and answer's status, so far (``--record``)."""
        return [(float(t), int(s)) for t, s in json.loads(self._ask("arrivals"))]

    def throttle(self, retry_after: float) -> None:
        """Answer the next request 429 with ``Retry-After: retry_after``."""
        if self._ask(f"throttle {retry_after:g}").strip() != "throttling":
            raise RuntimeError("the sandbox server did not take the throttle")

    def close(self) -> None:
        """Ask the server to stop (stdin closed), and wait for it."""
        stop_child(self._proc)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- counters -------------------------------------------------------------------------------------


class CountingSession(requests.Session):
    """A ``requests.Session`` that counts the requests sent through it (thread-safe)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self._count_lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self._count_lock:
            self.sent += 1
        return super().request(*args, **kwargs)


class ThreadPeak:
    """Samples the live threads every few milliseconds while in use; ``peak`` is the largest count
    seen, not counting the sampler itself nor the thread ``asyncio.run`` starts to shut its default
    executor down as it returns (the loop's, not the code measured)."""

    def __init__(self, every: float = 0.002) -> None:
        self.peak = threading.active_count()
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thread-peak", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            live = [t for t in threading.enumerate() if not t.name.endswith("(_do_shutdown)")]
            self.peak = max(self.peak, len(live) - 1)

    def __enter__(self) -> ThreadPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- memory ---------------------------------------------------------------------------------------


def status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``); 0 where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> bool:
    """Reset the resident high-water mark to the current RSS (``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_peak(action: Callable[[], Any]) -> tuple[float, float, bool]:
    """Run ``action``; return (seconds, peak RSS growth in MiB, whether the peak could be reset).
    Where it cannot be reset, growth is measured up to the lifetime peak: an upper bound."""
    was_reset = reset_peak()
    base = status_kib("VmRSS")
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    return seconds, max(status_kib("VmHWM") - base, 0) / 1024, was_reset


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import platform

    import requests as _requests

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "requests": _requests.__version__,
    }


def stop_child(proc: subprocess.Popen[str]) -> None:
    """Ask a child that serves over its pipes to stop (its stdin closed), and wait for it; kill
    it if it has not ended within 30 s."""
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
