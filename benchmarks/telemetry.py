"""OpenTelemetry's cost on a poll (issue 30): ``client.status(id)`` in three interpreter states, each
in a long-lived process of its own, interleaved in one run against the same sandbox.

- ``no_otel`` (A): the interpreter cannot import ``opentelemetry`` at all (a ``sys.meta_path``
  finder refuses it and records every attempt): what a user without the ``otel`` extra gets.
- ``api_no_sdk`` (B): ``opentelemetry.trace`` and ``opentelemetry.metrics`` imported before asyncjobs,
  no provider set (the API's proxies): what a user with the extra, or with any other library that
  imports OpenTelemetry, gets.
- ``sdk_in_memory`` (C): the SDK's ``TracerProvider`` with a ``SimpleSpanProcessor`` into an
  ``InMemorySpanExporter`` and a ``MeterProvider`` with an ``InMemoryMetricReader``, given to
  asyncjobs through ``asyncjobs._telemetry.override``; the spans are counted and cleared after
  every turn, so memory stays flat.

For each provider the sandbox serves one job that never finishes (as in ``benchmarks.status``) on its
keep-alive server in its own process. Each contender's process connects its own client (its own
SQLite ledger), submits its job, polls it once, and reports which ``opentelemetry`` modules that
loaded (and, in A, every import of one attempted). Then the parent asks A, B and C in turn to make
``calls`` status calls (a turn) and report their wall and CPU time, rotating the order every turn;
one contender runs at a time. This machine's speed swings by tens of percent within a second (other
work on its 2 cores), so turns are short -- a few milliseconds -- and a contender's figure for a
round is its time over ``turns`` turns, taken side by side with the others'. Every figure is the
median of the rounds, with the min and max; a ratio is taken within each round. One provider's
median B/A still moves by about 1.5 % from run to run, so the target is judged on every provider's
rounds pooled (a poll's telemetry calls are the same code whatever the provider).

Last, A's and B's processes each split their own cost, call by call: ``pairs`` times, two status
calls in a row, one as is and one with ``asyncjobs._telemetry._api`` swapped for a function that
answers ``None`` (so every telemetry call returns at once, as without OpenTelemetry), the order
alternating. In B that is what its telemetry calls cost inside a real poll (warm or cold caches
and all), apart from the process's other differences (more modules, a larger heap); in A it is a
control that should read 1.000. ``pair_rounds`` rounds, taken in turn.

The processes speak JSON lines over their standard input and output:
``python -m benchmarks.telemetry CONTENDER PROVIDER`` reads ``{"settings", "ledger"}``, answers
``{"ready": true, ...}``, then answers each ``{"run": n}`` with ``{"s", "cpu_s", "spans", "rss_kib",
"status"}`` and each ``{"pairs": n}`` with ``{"on_s", "off_s"}``, until its standard input closes.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from ._common import ROOT, ServerProcess, status_kib, stop_child, summarize
from .status import submit_job

PROVIDERS = ("convertapi", "groupdocs", "conversio", "cloudconvert", "zamzar")
CONTENDERS = {
    "no_otel": "A: no OpenTelemetry (cannot be imported)",
    "api_no_sdk": "B: API imported, no SDK",
    "sdk_in_memory": "C: SDK, in-memory exporter",
}
TARGET = 1.02


# -- the contender's process ----------------------------------------------------------------------


def _otel_modules() -> set[str]:
    return {m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")}


class _NoOpenTelemetry(importlib.abc.MetaPathFinder):
    """Refuses every ``opentelemetry`` import, as if the package were not installed, and records
    each attempt."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "opentelemetry" or fullname.startswith("opentelemetry."):
            self.attempts.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


def _say(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _child(contender: str, provider: str) -> int:
    """One contender's process: set the interpreter's state, then import asyncjobs, connect, submit,
    poll once, report, and time status calls when asked."""
    # Only the pipe speaks the protocol: anything printed elsewhere goes to stderr.
    out, sys.stdout = sys.stdout, sys.stderr
    at_start = sorted(_otel_modules())
    blocker: _NoOpenTelemetry | None = None
    exporter: Any = None
    tracer_provider: Any = None
    meter_provider: Any = None
    if contender == "no_otel":
        blocker = _NoOpenTelemetry()
        sys.meta_path.insert(0, blocker)
    elif contender == "api_no_sdk":
        import opentelemetry.metrics
        import opentelemetry.trace  # noqa: F401
    elif contender == "sdk_in_memory":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    before = _otel_modules()
    setup = json.loads(sys.stdin.readline())

    import asyncjobs

    after_import = _otel_modules() - before
    from asyncjobs import _telemetry

    with ExitStack() as stack:
        if exporter is not None:
            stack.enter_context(_telemetry.override(tracer_provider, meter_provider))
        client = stack.enter_context(
            asyncjobs.connect(provider, ledger=setup["ledger"], **setup["settings"])
        )
        job = submit_job(client)
        info = client.status(job.id)
        added = _otel_modules() - before
        if exporter is not None:
            exporter.clear()
        _say(
            out,
            {
                "ready": True,
                "pid": os.getpid(),
                "otel_modules_at_start": at_start,
                "otel_modules_before_asyncjobs": sorted(before),
                "added_by_import": sorted(after_import),
                "added_by_first_status": sorted(added),
                "blocked_attempts": blocker.attempts if blocker is not None else [],
                "sdk_loaded": any(m.startswith("opentelemetry.sdk") for m in sys.modules),
            },
        )
        status, job_id = client.status, job.id
        clock, cpu_clock = time.perf_counter, time.process_time
        for line in sys.stdin:
            asked = json.loads(line)
            if "pairs" in asked:
                on, off = _pairs(_telemetry, status, job_id, int(asked["pairs"]))
                if exporter is not None:
                    exporter.clear()
                _say(out, {"on_s": on, "off_s": off})
                continue
            calls = int(asked["run"])
            cpu = cpu_clock()
            start = clock()
            for _ in range(calls):
                info = status(job_id)
            seconds = clock() - start
            cpu = cpu_clock() - cpu
            spans = 0
            if exporter is not None:
                spans = len(exporter.get_finished_spans())
                exporter.clear()
            _say(
                out,
                {
                    "s": seconds,
                    "cpu_s": cpu,
                    "spans": spans,
                    "rss_kib": status_kib("VmRSS"),
                    "status": info.status.value,
                },
            )
    return 0


def _no_api() -> None:
    return None


def _pairs(telemetry: Any, status: Any, job_id: str, pairs: int) -> tuple[float, float]:
    """Seconds of ``pairs`` status calls as they are, and of as many with every telemetry call
    returning at once (``telemetry._api`` answering ``None``), call by call, the order alternating."""
    real = telemetry._api
    clock = time.perf_counter
    on = off = 0.0
    try:
        for i in range(pairs):
            for enabled in (True, False) if i % 2 == 0 else (False, True):
                telemetry._api = real if enabled else _no_api
                start = clock()
                status(job_id)
                took = clock() - start
                if enabled:
                    on += took
                else:
                    off += took
    finally:
        telemetry._api = real
    return on, off


# -- the parent -----------------------------------------------------------------------------------


class _Contender:
    """A contender's process, asked over its pipes."""

    def __init__(self, contender: str, provider: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ASYNCJOBS_PROGRESS": "0"}
        self.name = contender
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.telemetry", contender, provider],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(message)
        return self.answer()

    def send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(10)
            raise RuntimeError(f"contender {self.name} ended (exit {self._proc.returncode})")
        found: dict[str, Any] = json.loads(line)
        return found

    def close(self) -> None:
        stop_child(self._proc)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def _checks(ready: dict[str, dict[str, Any]]) -> dict[str, Any]:
    a, b = ready["no_otel"], ready["api_no_sdk"]
    return {
        "no_otel_modules_loaded": sorted(
            set(a["otel_modules_at_start"]) | set(a["added_by_first_status"])
        ),
        "no_otel_import_attempts": a["blocked_attempts"],
        "api_no_sdk_added": b["added_by_first_status"],
        "api_no_sdk_sdk_loaded": b["sdk_loaded"],
        "met": not (
            a["otel_modules_at_start"]
            or a["added_by_first_status"]
            or a["blocked_attempts"]
            or b["sdk_loaded"]
        ),
    }


def _ratios(top: list[float], bottom: list[float]) -> dict[str, Any]:
    return summarize([t / b for t, b in zip(top, bottom, strict=True)])


#: the contenders whose processes split their own cost (see the module's docstring)
PAIRED = ("no_otel", "api_no_sdk")


def _provider(
    name: str,
    *,
    calls: int,
    turns: int,
    rounds: int,
    warmup: int,
    pairs: int,
    pair_rounds: int,
    tmp: Path,
) -> dict[str, Any]:
    order = list(CONTENDERS)
    wall: dict[str, list[float]] = {c: [] for c in order}
    cpu: dict[str, list[float]] = {c: [] for c in order}
    own: dict[str, list[tuple[float, float]]] = {c: [] for c in PAIRED}
    spans = 0
    rss: dict[str, list[int]] = {c: [] for c in order}
    pending = True
    with ServerProcess(name, "--pending") as server, ExitStack() as stack:
        procs = {c: _Contender(c, name) for c in order}
        for proc in procs.values():
            stack.callback(proc.close)
        for c, proc in procs.items():
            proc.send({"settings": server.settings, "ledger": str(tmp / f"{name}-{c}.sqlite3")})
        ready = {c: proc.answer() for c, proc in procs.items()}
        for proc in procs.values():  # warm up: connections, caches, the SDK's instruments
            proc.ask({"run": warmup})
        for _ in range(rounds):
            took = {c: [0.0, 0.0] for c in order}
            for turn in range(turns):
                k = turn % len(order)
                for c in order[k:] + order[:k]:
                    answer = procs[c].ask({"run": calls})
                    took[c][0] += answer["s"]
                    took[c][1] += answer["cpu_s"]
                    spans += answer["spans"]
                    pending = pending and answer["status"] == "pending"
                    rss[c].append(answer["rss_kib"])
            for c in order:
                wall[c].append(took[c][0] / (calls * turns) * 1e6)
                cpu[c].append(took[c][1] / (calls * turns) * 1e6)
        for r in range(pair_rounds):
            for c in PAIRED if r % 2 == 0 else PAIRED[::-1]:
                answer = procs[c].ask({"pairs": pairs})
                own[c].append((answer["on_s"] / pairs * 1e6, answer["off_s"] / pairs * 1e6))
    checks = _checks(ready)
    api_ratio = _ratios(wall["api_no_sdk"], wall["no_otel"])
    return {
        "contenders": {
            c: {
                "label": CONTENDERS[c],
                "us_per_call": summarize(wall[c], 1),
                "cpu_us_per_call": summarize(cpu[c], 1),
                "rss_growth_kib": rss[c][-1] - rss[c][0],
            }
            for c in order
        },
        "api_over_none": api_ratio,
        "sdk_over_none": _ratios(wall["sdk_in_memory"], wall["no_otel"]),
        "api_over_none_cpu": _ratios(cpu["api_no_sdk"], cpu["no_otel"]),
        "sdk_over_none_cpu": _ratios(cpu["sdk_in_memory"], cpu["no_otel"]),
        "telemetry_calls": {
            c: {
                "added_us_per_call": summarize([on - off for on, off in own[c]], 2),
                "ratio": summarize([on / off for on, off in own[c]]),
            }
            for c in PAIRED
        },
        "sdk_spans_per_call": round(spans / (calls * turns * rounds), 2),
        "jobs_pending": pending,
        "checks": checks,
        "met": api_ratio["median"] <= TARGET and checks["met"] and pending,
    }


def run(
    *,
    calls: int = 5,
    turns: int = 50,
    rounds: int = 14,
    warmup: int = 200,
    pairs: int = 250,
    pair_rounds: int = 6,
    providers: Sequence[str] = PROVIDERS,
) -> dict[str, Any]:
    """Measure; return the section's figures."""
    with tempfile.TemporaryDirectory(prefix="asyncjobs-bench-") as tmp:
        by = {
            name: _provider(
                name,
                calls=calls,
                turns=turns,
                rounds=rounds,
                warmup=warmup,
                pairs=pairs,
                pair_rounds=pair_rounds,
                tmp=Path(tmp),
            )
            for name in providers
        }
    pooled = summarize([x for r in by.values() for x in r["api_over_none"]["runs"]])
    return {
        "title": "OpenTelemetry",
        "setup": (
            "each provider's sandbox (jobs pending) on its keep-alive server in its own process; "
            "three contender processes (A no OpenTelemetry, B API imported without SDK, C SDK with "
            f"in-memory exporter) taking turns of {calls} client.status calls, the order rotated "
            f"every turn; {rounds} rounds of {turns} turns each; then A and B each split their own "
            f"cost: {pair_rounds} rounds of {pairs} pairs of calls, telemetry as is and off"
        ),
        "calls": calls,
        "turns": turns,
        "rounds": rounds,
        "warmup": warmup,
        "pairs": pairs,
        "pair_rounds": pair_rounds,
        "contenders": dict(CONTENDERS),
        "providers": by,
        "target": (
            f"B/A <= {TARGET:.2f}x (every provider's rounds pooled); without the API no opentelemetry import is attempted, with it "
            "no opentelemetry.sdk module is loaded"
        ),
        "api_over_none_all": pooled,
        "sdk_over_none_all": summarize(
            [x for r in by.values() for x in r["sdk_over_none"]["runs"]]
        ),
        "met": pooled["median"] <= TARGET and all(r["checks"]["met"] for r in by.values()),
    }


def rows(r: dict[str, Any], fig: Any, ok: Any) -> list[tuple[str, ...]]:
    """The section's rows of the results table."""
    out: list[tuple[str, ...]] = []
    for provider, by in r["providers"].items():
        c = by["contenders"]
        a = c["no_otel"]
        none = (
            f"A no OpenTelemetry {fig(a['us_per_call'], digits=0)}; CPU "
            f"{a['cpu_us_per_call']['median']:,.0f}"
        )
        for key, label, target in (
            ("api_no_sdk", "B: API imported, no SDK", f"<= {TARGET:.2f}x"),
            ("sdk_in_memory", "C: SDK, in-memory exporter", "(information)"),
        ):
            ours = c[key]
            ratio = by["api_over_none" if key == "api_no_sdk" else "sdk_over_none"]
            ratio_cpu = by["api_over_none_cpu" if key == "api_no_sdk" else "sdk_over_none_cpu"]
            measure = f"{provider}: client.status, us per call (CPU), {label}"
            if key == "sdk_in_memory":
                measure += f" ({by['sdk_spans_per_call']:g} spans per call)"
            out.append(
                (
                    "OpenTelemetry",
                    measure,
                    f"{fig(ours['us_per_call'], digits=0)}; CPU "
                    f"{ours['cpu_us_per_call']['median']:,.0f}",
                    none,
                    f"{fig(ratio, 'x', 3)}; CPU {ratio_cpu['median']:.3f}x",
                    target,
                    ok(ratio["median"] <= TARGET) if key == "api_no_sdk" else "",
                )
            )
        own = by["telemetry_calls"]
        out.append(
            (
                "OpenTelemetry",
                f"{provider}: in B's process, its telemetry calls on vs off call by call, us added "
                "per call (A's process: the same split, a control)",
                fig(own["api_no_sdk"]["added_us_per_call"], digits=1),
                f"A {fig(own['no_otel']['added_us_per_call'], digits=1)} "
                f"({own['no_otel']['ratio']['median']:.3f}x)",
                fig(own["api_no_sdk"]["ratio"], "x", 3),
                "(information)",
                "",
            )
        )
    pooled = r["api_over_none_all"]
    out.append(
        (
            "OpenTelemetry",
            f"every provider's rounds pooled ({len(pooled['runs'])}): client.status, B / A; C / A",
            "",
            f"C / A {fig(r['sdk_over_none_all'], 'x', 3)}",
            fig(pooled, "x", 3),
            f"<= {TARGET:.2f}x",
            ok(pooled["median"] <= TARGET),
        )
    )
    checks = [by["checks"] for by in r["providers"].values()]
    attempts = sum(len(x["no_otel_import_attempts"]) for x in checks)
    loaded = sum(len(x["no_otel_modules_loaded"]) for x in checks)
    sdk = sum(bool(x["api_no_sdk_sdk_loaded"]) for x in checks)
    added = sorted({m for x in checks for m in x["api_no_sdk_added"]})
    out.append(
        (
            "OpenTelemetry",
            "import asyncjobs, connect, submit, first status: A: opentelemetry imports attempted "
            "(modules loaded); B: processes with opentelemetry.sdk loaded (modules asyncjobs added)",
            f"A: {attempts} ({loaded}); B: {sdk} ({', '.join(added) or 'none'})",
            "",
            "",
            "0 (0); 0",
            ok(all(x["met"] for x in checks)),
        )
    )
    return out


if __name__ == "__main__":
    raise SystemExit(_child(*sys.argv[1:3]))
