"""A provider's sandbox served on 127.0.0.1 in its own process, for the benchmarks.

    python -m benchmarks.server conversio --scale 4 --spread 1000:1:20
    python -m benchmarks.server convertapi
    python -m benchmarks.server groupdocs --root /tmp/x

Prints one JSON line, ``{"url": ..., "settings": {...}}`` (the settings connect a client), then serves
until its standard input closes. A ``restart`` line on standard input makes every Conversio or ConvertAPI job
made so far start again at that moment (so that thousands of jobs, submitted over many seconds, all start at
once); the server answers ``restarted``. A ``counts`` line (with ``--count``) prints the submits and
the looks at one job so far. An ``ends`` line makes it print one JSON line: each job's id ->
the wall-clock time (epoch seconds) its conversion ends (ConvertAPI; ``--spread`` gives the n-th job
the n-th duration). Every sandbox is set up so that time goes to HTTP, not to waiting:
ConvertAPI without its 5 s hold on re-polls and with instant conversions, GroupDocs with instant
conversions, Conversio jobs with no start delay.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from asyncjobs.sandbox import Sandbox, SandboxApp

from ._common import spread


def _conversio(args: argparse.Namespace) -> SandboxApp:
    from asyncjobs_conversio.sandbox import ConversioSandbox

    class SpreadConversio(ConversioSandbox):
        """Conversio whose n-th job runs the n-th of ``durations`` sandbox seconds."""

        def __init__(self, durations: Sequence[float], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._durations = list(durations)
            self._made = 0

        def job_duration(self, kind: str, source: str) -> float:
            if not self._durations:
                return self.duration
            value = self._durations[self._made % len(self._durations)]
            self._made += 1
            return value

        def restart(self) -> None:
            """Every job made so far starts again now (its duration counts from this moment)."""
            with self._lock:
                now = self.clock.now()
                for job in self.jobs.values():
                    job["created"] = now

    durations: list[float] = []
    if args.spread:
        n, low, high = args.spread.split(":")
        durations = spread(int(n), float(low), float(high))
    return SpreadConversio(durations, scale=args.scale, start_after=0.0, duration=args.duration)


def _convertapi(args: argparse.Namespace) -> SandboxApp:
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox

    class SpreadConvertAPI(ConvertAPISandbox):
        """ConvertAPI whose n-th conversion takes the n-th of ``durations`` sandbox seconds."""

        def __init__(self, durations: Sequence[float], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._durations = list(durations)
            self._made = 0

        def _new_job(self, *args: Any) -> Any:
            if self._durations:  # called under the lock, once per new job
                self.duration = self._durations[self._made % len(self._durations)]
                self._made += 1
            return super()._new_job(*args)

        def restart(self) -> None:
            """Every job made so far starts again now, its webhook call rescheduled to its end."""
            from asyncjobs.sandbox import WebhookCalls

            with self._lock:
                self.webhooks.close()
                self.webhooks = WebhookCalls()
                now = self.clock.now()
                for job in self.jobs.values():
                    job.created = now
                    job.result = None
                    if job.webhook:
                        self._call_webhook(job)

        def ends(self) -> dict[str, float]:
            """Each job's id -> the wall-clock time its conversion ends."""
            with self._lock:
                return {i: self.clock.wall(j.created + j.duration) for i, j in self.jobs.items()}

    duration = 1e9 if args.pending else 0.0
    durations: list[float] = []
    if args.spread:
        n, low, high = args.spread.split(":")
        durations = spread(int(n), float(low), float(high))
    return SpreadConvertAPI(
        durations, scale=args.scale, duration=duration, hold=0.0, bytes_per_second=1e15
    )


def _groupdocs(args: argparse.Namespace) -> SandboxApp:
    from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

    return GroupDocsSandbox(
        scale=args.scale,
        root=args.root,
        conversion_seconds=1e9 if args.pending else 0.0,
        start_delay=0.0,
    )


def _cloudconvert(args: argparse.Namespace) -> SandboxApp:
    from asyncjobs_cloudconvert.sandbox import CloudConvertSandbox

    return CloudConvertSandbox(scale=args.scale, duration=1e9 if args.pending else 0.0)


def _zamzar(args: argparse.Namespace) -> SandboxApp:
    from asyncjobs_zamzar.sandbox import ZamzarSandbox

    return ZamzarSandbox(
        scale=args.scale, duration=1e9 if args.pending else 0.0, credits=10**9, rate_limit=10**9
    )


def _hold_gets(app: SandboxApp, seconds: float) -> None:
    """Make ``app`` hold every GET ``seconds`` before answering it (in its connection's thread)."""
    base = type(app)

    class Held(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: Any, start_response: Any) -> Any:
            if environ.get("REQUEST_METHOD") == "GET":
                time.sleep(seconds)
            return base.__call__(self, environ, start_response)

    app.__class__ = Held


def _count(app: SandboxApp, counts: dict[str, int]) -> None:
    """Make ``app`` count job submits (POSTs) and looks at one job (``GET .../async-jobs/<id>``)."""
    base = type(app)
    lock = threading.Lock()

    class Counted(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: Any, start_response: Any) -> Any:
            method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
            key = None
            if method == "POST":
                key = "submits"
            elif method == "GET" and "/async-jobs/" in path and not path.endswith(".csv"):
                key = "job_gets"
            if key is not None:
                with lock:
                    counts[key] = counts.get(key, 0) + 1
            return base.__call__(self, environ, start_response)

    app.__class__ = Counted


def _record(app: SandboxApp, arrivals: list[tuple[float, int]]) -> None:
    """Make ``app`` keep each request's arrival time and the status it was answered with."""
    base = type(app)

    class Recorded(base):  # type: ignore[valid-type,misc]
        def __call__(self, environ: Any, start_response: Any) -> Any:
            arrived = time.time()

            def answer(status: str, headers: Any, *rest: Any) -> Any:
                arrivals.append((arrived, int(status.split()[0])))
                return start_response(status, headers, *rest)

            return base.__call__(self, environ, answer)

    app.__class__ = Recorded


BUILDERS = {
    "cloudconvert": _cloudconvert,
    "conversio": _conversio,
    "convertapi": _convertapi,
    "groupdocs": _groupdocs,
    "zamzar": _zamzar,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the sandbox until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("provider", choices=sorted(BUILDERS))
    parser.add_argument("--scale", type=float, default=1.0, help="sandbox time scale")
    parser.add_argument("--duration", type=float, default=1e9, help="conversio: job duration")
    parser.add_argument(
        "--spread", help="conversio, convertapi: N:LOW:HIGH job durations (sandbox seconds)"
    )
    parser.add_argument("--root", help="groupdocs: storage folder (a temporary one by default)")
    parser.add_argument(
        "--pending",
        action="store_true",
        help="convertapi, groupdocs, cloudconvert, zamzar: jobs that never finish",
    )
    parser.add_argument(
        "--service-time",
        type=float,
        default=0.0,
        help="seconds every GET (a status, a list, a download) is held before it is answered: "
        "the service's own time, spent sleeping, not computing",
    )
    parser.add_argument(
        "--count",
        action="store_true",
        help="count submits (POSTs) and looks at one job (GET .../async-jobs/<id>), for ``counts``",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="keep each request's arrival (wall clock) and answer's status, for ``arrivals``",
    )
    args = parser.parse_args(argv)
    app = BUILDERS[args.provider](args)
    if args.service_time > 0:
        _hold_gets(app, args.service_time)
    arrivals: list[tuple[float, int]] = []
    if args.record:
        _record(app, arrivals)
    counts: dict[str, int] = {}
    if args.count:
        _count(app, counts)
    box = Sandbox(app).start()
    try:
        print(json.dumps({"url": box.url, "settings": app.client_settings(box.url)}), flush=True)
        for line in sys.stdin:  # until the parent closes our stdin (or dies)
            if line.strip() == "restart" and hasattr(app, "restart"):
                app.restart()  # conversio: the jobs submitted so far all start now
                print("restarted", flush=True)
            elif line.strip() == "ends" and hasattr(app, "ends"):
                print(json.dumps(app.ends()), flush=True)
            elif line.strip() == "counts":
                print(json.dumps(counts), flush=True)
            elif line.strip() == "arrivals":
                print(json.dumps(arrivals), flush=True)
            elif line.startswith("throttle "):  # the next request: 429 with Retry-After
                seconds = line.split()[1]
                app.faults.status(
                    429, body={"message": "slow down"}, headers={"Retry-After": seconds}
                )
                print("throttling", flush=True)
    finally:
        box.stop()
        close = getattr(app, "close", None)
        if close is not None:
            close()


if __name__ == "__main__":
    main()
