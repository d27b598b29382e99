"""One trace per job across processes: jobs submitted here (with OpenTelemetry's SDK recording) and
finished by a fleet worker (another process, on the PostgreSQL ledger, its SDK set up from the
``OTEL_*`` variables with the console exporter) give worker spans in the submitter's trace, under
each job's submit span -- found through the ``traceparent`` the ledger keeps."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fleet_support import Fleet, eventually
from telemetry_support import Recorded

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
JOBS = 3


def _spans(stdout: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed (indented JSON objects, one write each), among
    whatever else is on the worker's stdout (its ``--json`` stats document, whose closing newline
    may come after a span written meanwhile): every object that reads as a span, wherever it
    starts (the objects nested in a span are not spans: they lack a name or a context)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    at = 0
    while (at := stdout.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(stdout, at)
        except json.JSONDecodeError:
            at += 1
            continue
        if isinstance(value, dict) and "name" in value and "context" in value:
            found.append(value)
            at = end
        else:
            at += 1
    return found


class Traced:
    """What a test sees: the submit spans recorded here, by job id, and the worker's spans."""

    def __init__(self, submits: dict[str, Any], spans: list[dict[str, Any]], stderr: str) -> None:
        self.submits = submits
        self.spans = spans
        self.stderr = stderr

    def named(self, name: str, job_id: str | None = None) -> list[dict[str, Any]]:
        return [
            s
            for s in self.spans
            if s["name"] == name
            and (job_id is None or s["attributes"].get("asyncjobs.job.id") == job_id)
        ]

    def children(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["parent_id"] == parent["context"]["span_id"]]


def _hex(value: int, digits: int) -> str:
    return f"0x{value:0{digits}x}"


@pytest.fixture
def traced(fleet: Fleet, telemetry: Recorded) -> Traced:
    """Submit ``JOBS`` jobs here, let one worker (its traces printed by the console exporter)
    finish them, stop it as SIGTERM does, and read the spans it printed."""
    with fleet.client() as client:
        ids = [
            client.submit("convert", source=b"page %d" % i, from_="txt", to="pdf").id
            for i in range(JOBS)
        ]
    submits = {
        str((s.attributes or {})["asyncjobs.job.id"]): s
        for s in telemetry.spans("asyncjobs.submit")
    }
    assert sorted(submits) == sorted(ids)
    env = {k: v for k, v in fleet.env.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        # the worker runs this checkout's asyncjobs, whatever else the environment names
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    fleet.env = env
    worker = fleet.worker()
    done = eventually(lambda: fleet.statuses() == Counter({"done": JOBS}), timeout=30)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert done, fleet.statuses()
    assert worker.returncode == 0, err[-3000:]
    return Traced(submits, _spans(out), err)


def test_the_workers_polls_and_waits_join_each_jobs_submit_trace(traced: Traced) -> None:
    for job_id, submit in traced.submits.items():
        trace_id = _hex(submit.context.trace_id, 32)
        span_id = _hex(submit.context.span_id, 16)
        polls = traced.named("asyncjobs.poll", job_id)
        waits = traced.named("asyncjobs.wait", job_id)
        assert polls, traced.stderr[-2000:]
        assert len(waits) == 1
        for span in polls + waits:
            assert span["context"]["trace_id"] == trace_id
            assert span["parent_id"] == span_id


def test_the_poll_that_saw_the_end_says_done_and_its_requests_are_its_children(
    traced: Traced,
) -> None:
    for job_id in traced.submits:
        polls = sorted(traced.named("asyncjobs.poll", job_id), key=lambda s: s["start_time"])
        assert polls[-1]["attributes"]["asyncjobs.job.status"] == "done"
        assert all(p["attributes"]["asyncjobs.job.status"] == "pending" for p in polls[:-1])
        for poll in polls:
            gets = traced.children(poll)
            assert gets  # one per attempt: a retried poll has more
            for get in gets:
                assert (get["name"], get["kind"]) == ("GET", "SpanKind.CLIENT")
                assert get["context"]["trace_id"] == poll["context"]["trace_id"]
                assert get["attributes"]["url.full"].endswith(f"/async/job/{job_id}")


def test_the_workers_spans_name_its_service(traced: Traced) -> None:
    assert traced.spans
    names = {s["resource"]["attributes"].get("service.name") for s in traced.spans}
    assert names == {"asyncjobs-worker"}


def test_the_workers_waits_end_with_outcome_ended(traced: Traced) -> None:
    waits = traced.named("asyncjobs.wait")
    assert sorted(w["attributes"]["asyncjobs.job.id"] for w in waits) == sorted(traced.submits)
    for wait in waits:
        assert wait["attributes"]["asyncjobs.wait.outcome"] == "ended"
        assert wait["attributes"]["asyncjobs.job.status"] == "done"
        polls = traced.named("asyncjobs.poll", wait["attributes"]["asyncjobs.job.id"])
        assert wait["attributes"]["asyncjobs.wait.polls"] == len(polls)
