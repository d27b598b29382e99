"""OpenTelemetry: the spans, metrics and log records of every job operation (the "Observability"
page's tables are the contract these check), one trace per job through the ledger's
``traceparent``, and nothing paid or imported when no SDK is configured."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from telemetry_support import Recorded

import asyncjobs
from asyncjobs import _telemetry, aio
from asyncjobs.errors import JobTimeoutError, TransportError


def _submit(client: asyncjobs.Client, text: str = "hello", duration: float = 0.05) -> asyncjobs.Job:
    return client.submit("upper", text=text, duration=duration)


# -- nothing paid when unused --------------------------------------------------------------------


def test_import_asyncjobs_does_not_import_opentelemetry() -> None:
    code = "import sys, asyncjobs; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_status_without_opentelemetry_imported_does_not_import_it(
    toy_sandbox: Any, toy_registered: Any, tmp_path: Path
) -> None:
    code = (
        "import sys, asyncjobs\n"
        f"c = asyncjobs.connect('toy', ledger=False, **{toy_sandbox.app.client_settings(toy_sandbox.url)!r})\n"
        "j = c.submit('upper', text='x', duration=0.01); j.wait(timeout=10)\n"
        "print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    code = "import asyncjobs; asyncjobs.register('toy', 'toy_provider:ToyProvider')\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


def test_no_span_is_made_while_no_sdk_is_configured(toy_client: asyncjobs.Client) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    with _telemetry.submitting("toy", "upper", str) as op:
        assert op.traceparent is None
    assert _telemetry.watch("toy", "t1", "upper") is None
    job = _submit(toy_client)
    job.wait(timeout=10)
    entry = toy_client.ledger.get("toy", job.id)  # type: ignore[union-attr]
    assert entry is not None
    assert entry.traceparent is None


# -- spans ---------------------------------------------------------------------------------------


def test_a_submit_gives_a_submit_span_with_the_job_attributes(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    span = telemetry.span("asyncjobs.submit")
    assert span.attributes == {
        "asyncjobs.provider": "toy",
        "asyncjobs.job.kind": "upper",
        "asyncjobs.job.id": job.id,
        "asyncjobs.job.status": "pending",
        "asyncjobs.job.raw_status": job.info.raw_status,  # type: ignore[union-attr]
    }
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET


def test_the_submit_request_is_a_client_span_under_the_submit(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    _submit(toy_client)
    submit = telemetry.span("asyncjobs.submit")
    [post] = telemetry.spans("POST")
    assert post.kind is SpanKind.CLIENT
    assert post.parent is not None
    assert post.parent.span_id == submit.context.span_id
    attributes = dict(post.attributes or {})
    assert attributes["http.request.method"] == "POST"
    assert attributes["url.full"] == f"{toy_client.provider.config['base_url']}/jobs"
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["http.response.status_code"] == 201
    assert "http.request.resend_count" not in attributes


def test_the_ledger_keeps_the_submit_spans_traceparent(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    ctx = telemetry.span("asyncjobs.submit").context
    entry = toy_client.ledger.get("toy", job.id)  # type: ignore[union-attr]
    assert entry is not None
    flags = int(ctx.trace_flags)
    assert entry.traceparent == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}"


def test_a_wait_gives_a_wait_span_and_a_poll_span_per_look(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    job.wait(timeout=10)
    wait = telemetry.span("asyncjobs.wait")
    polls = telemetry.spans("asyncjobs.poll")
    assert dict(wait.attributes or {}) == {
        "asyncjobs.provider": "toy",
        "asyncjobs.job.id": job.id,
        "asyncjobs.job.kind": "upper",
        "asyncjobs.job.status": "done",
        "asyncjobs.job.raw_status": "ok",
        "asyncjobs.wait.outcome": "ended",
        "asyncjobs.wait.polls": len(polls),
    }
    assert polls
    assert (polls[-1].attributes or {})["asyncjobs.job.status"] == "done"
    assert all((p.attributes or {})["asyncjobs.job.id"] == job.id for p in polls)
    assert wait.start_time is not None
    assert polls[0].start_time is not None
    assert wait.start_time <= polls[0].start_time
    assert wait.end_time >= polls[-1].end_time


def test_every_span_of_a_job_waited_in_the_background_joins_the_submits_trace(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    job.future().result(timeout=10)
    submit = telemetry.span("asyncjobs.submit")
    for name in ("asyncjobs.wait", "asyncjobs.poll"):
        for span in telemetry.spans(name):
            assert span.context.trace_id == submit.context.trace_id
            assert span.parent is not None
            assert span.parent.span_id == submit.context.span_id


def test_a_poll_under_a_span_of_the_callers_is_its_child_linked_to_the_submit(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    submit = telemetry.span("asyncjobs.submit")
    tracer = telemetry.tracer_provider.get_tracer("the-app")
    with tracer.start_as_current_span("handle-request") as request:
        toy_client.status(job.id)
    [poll] = telemetry.spans("asyncjobs.poll")
    assert poll.parent is not None
    assert poll.parent.span_id == request.get_span_context().span_id
    assert [link.context.span_id for link in poll.links] == [submit.context.span_id]


def test_a_poll_in_another_process_finds_the_trace_in_the_ledger(
    toy_client: asyncjobs.Client, telemetry: Recorded, tmp_path: Path
) -> None:
    job = _submit(toy_client)
    submit = telemetry.span("asyncjobs.submit")
    _telemetry._CONTEXTS.clear()  # what a fresh process knows: nothing but the ledger
    other = asyncjobs.connect(
        "toy",
        ledger=tmp_path / "ledger.sqlite3",
        **toy_client.provider.config,  # type: ignore[arg-type]
    )
    with other:
        other.job(job.id).wait(timeout=10)
    for span in telemetry.spans("asyncjobs.poll") + telemetry.spans("asyncjobs.wait"):
        assert span.context.trace_id == submit.context.trace_id


def test_result_and_download_spans_count_the_files_and_bytes(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client, text="abc")
    [file] = job.result(timeout=10).files
    assert file.read() == b"ABC"
    result = telemetry.span("asyncjobs.result")
    download = telemetry.span("asyncjobs.download")
    assert (result.attributes or {})["asyncjobs.result.files"] == 1
    assert dict(download.attributes or {}) == {
        "asyncjobs.provider": "toy",
        "asyncjobs.job.id": job.id,
        "asyncjobs.file.name": "output.txt",
        "asyncjobs.download.bytes": 3,
    }
    [get] = [
        s
        for s in telemetry.spans("GET")
        if s.parent and s.parent.span_id == download.context.span_id
    ]
    assert str((get.attributes or {})["url.full"]).endswith(f"/jobs/{job.id}/output")


def test_a_cancel_gives_a_cancel_span(toy_client: asyncjobs.Client, telemetry: Recorded) -> None:
    job = _submit(toy_client, duration=30)
    job.cancel()
    span = telemetry.span("asyncjobs.cancel")
    assert (span.attributes or {})["asyncjobs.job.id"] == job.id
    [delete] = telemetry.spans("DELETE")
    assert delete.parent is not None
    assert delete.parent.span_id == span.context.span_id


def test_a_retried_request_gives_one_client_span_per_attempt_with_its_resend_count(
    toy_client: asyncjobs.Client, toy_sandbox: Any, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    toy_sandbox.app.faults.status(503, times=2, path=f"/jobs/{job.id}")
    toy_client.status(job.id)
    gets = telemetry.spans("GET")
    assert [(s.attributes or {}).get("http.request.resend_count") for s in gets] == [None, 1, 2]
    assert [(s.attributes or {})["http.response.status_code"] for s in gets] == [503, 503, 200]
    assert [(s.attributes or {}).get("error.type") for s in gets] == ["503", "503", None]
    assert gets[0].status.status_code is StatusCode.ERROR
    poll = telemetry.span("asyncjobs.poll")
    assert (poll.attributes or {})["asyncjobs.retries"] == 2
    assert [e.name for e in poll.events] == ["retry", "retry"]


def test_a_request_that_gets_no_answer_names_the_http_librarys_error(
    toy_registered: Any, telemetry: Recorded
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = asyncjobs.connect(
        "toy",
        ledger=False,
        key="k" * 8,
        base_url=f"http://127.0.0.1:{port}",
        retry=asyncjobs.RetryPolicy(max_tries=1),
    )
    with client, pytest.raises(TransportError):
        client.status("t1")
    [get] = telemetry.spans("GET")
    assert (get.attributes or {})["error.type"] == "ConnectionError"
    poll = telemetry.span("asyncjobs.poll")
    assert (poll.attributes or {})["error.type"] == "TransportError"
    assert poll.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize(
    ("url", "full"),
    [
        ("https://api.example.test/v1/jobs?page=2", "https://api.example.test/v1/jobs?page=REDACTED"),
        ("https://user:pw@api.example.test/f?sig=abc&X-Amz-Signature=zz",
         "https://api.example.test/f?sig=REDACTED&X-Amz-Signature=REDACTED"),
        ("http://127.0.0.1:8080/a#frag", "http://127.0.0.1:8080/a"),
        ("https://[::1]:9/x", "https://[::1]:9/x"),
    ],
)  # fmt: skip
def test_url_full_keeps_no_user_info_query_value_or_fragment(url: str, full: str) -> None:
    assert _telemetry._clean_url(url, str)[0] == full


# -- every way of waiting ------------------------------------------------------------------------


def _wait_job_wait(jobs: list[asyncjobs.Job]) -> None:
    for job in jobs:
        job.wait(timeout=10)


def _wait_many(jobs: list[asyncjobs.Job]) -> None:
    asyncjobs.wait(jobs, timeout=10)


def _wait_as_completed(jobs: list[asyncjobs.Job]) -> None:
    list(asyncjobs.as_completed(jobs, timeout=10))


def _wait_futures(jobs: list[asyncjobs.Job]) -> None:
    cf.wait([j.future() for j in jobs], timeout=10)


def _wait_aio(jobs: list[asyncjobs.Job]) -> None:
    async def main() -> None:
        async with aio.connect("toy", ledger=False, **jobs[0].client.provider.config) as client:  # type: ignore[arg-type]
            await aio.wait([client.job(j.id) for j in jobs], timeout=10)

    asyncio.run(main())


def _wait_aio_one(jobs: list[asyncjobs.Job]) -> None:
    async def main() -> None:
        async with aio.connect("toy", ledger=False, **jobs[0].client.provider.config) as client:  # type: ignore[arg-type]
            for j in jobs:
                await client.job(j.id).wait(timeout=10)

    asyncio.run(main())


@pytest.mark.parametrize(
    "wait",
    [_wait_job_wait, _wait_many, _wait_as_completed, _wait_futures, _wait_aio, _wait_aio_one],
    ids=["job.wait", "asyncjobs.wait", "as_completed", "future", "aio.wait", "aio job.wait"],
)
def test_every_way_of_waiting_gives_one_wait_span_per_job_in_the_jobs_trace(
    wait: Any, toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    jobs = [_submit(toy_client, text=f"t{n}") for n in range(3)]
    traces = {
        (s.attributes or {})["asyncjobs.job.id"]: s.context.trace_id
        for s in telemetry.spans("asyncjobs.submit")
    }
    wait(jobs)
    waits = telemetry.spans("asyncjobs.wait")
    assert sorted((w.attributes or {})["asyncjobs.job.id"] for w in waits) == sorted(
        j.id for j in jobs
    )
    for w in waits:
        attributes = w.attributes or {}
        assert attributes["asyncjobs.wait.outcome"] == "ended"
        assert attributes["asyncjobs.job.status"] == "done"
        assert w.context.trace_id == traces[attributes["asyncjobs.job.id"]]
    assert telemetry.total("asyncjobs.job.notice_delay", {"asyncjobs.provider": "toy"}) == 3


def test_the_wait_for_a_job_that_failed_is_an_error_with_the_jobs_message(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    _submit(toy_client, text="please fail").wait(timeout=10)
    wait = telemetry.span("asyncjobs.wait")
    assert wait.status.status_code is StatusCode.ERROR
    assert wait.status.description == "the text asked to fail"
    assert (wait.attributes or {})["error.type"] == "JobFailedError"


def test_a_wait_that_times_out_says_so_on_its_span(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client, duration=30)
    with pytest.raises(JobTimeoutError):
        job.wait(timeout=0.1)
    wait = telemetry.span("asyncjobs.wait")
    assert (wait.attributes or {})["asyncjobs.wait.outcome"] == "timed-out"
    assert (wait.attributes or {})["asyncjobs.job.status"] == "pending"


def test_jobs_a_first_completed_wait_leaves_are_told_abandoned(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    quick, slow = _submit(toy_client), _submit(toy_client, duration=30)
    asyncjobs.wait([quick, slow], timeout=10, return_when="FIRST_COMPLETED")
    outcomes = {
        (w.attributes or {})["asyncjobs.job.id"]: (w.attributes or {})["asyncjobs.wait.outcome"]
        for w in telemetry.spans("asyncjobs.wait")
    }
    assert outcomes == {quick.id: "ended", slow.id: "abandoned"}


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_count_submits_ends_polls_and_durations(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    jobs = [_submit(toy_client), _submit(toy_client, text="please fail")]
    asyncjobs.wait(jobs, timeout=10)
    toy = {"asyncjobs.provider": "toy"}
    assert telemetry.total("asyncjobs.jobs.submitted", {**toy, "asyncjobs.job.kind": "upper"}) == 2
    assert telemetry.total("asyncjobs.jobs.ended", {**toy, "asyncjobs.job.status": "done"}) == 1
    assert telemetry.total("asyncjobs.jobs.ended", {**toy, "asyncjobs.job.status": "failed"}) == 1
    polls = len(telemetry.spans("asyncjobs.poll"))
    assert telemetry.total("asyncjobs.polls", toy) == polls
    assert telemetry.total("asyncjobs.poll.duration", toy) == polls
    assert telemetry.total("asyncjobs.job.duration", toy) == 2


def test_a_job_seen_ended_again_is_counted_once(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    job.wait(timeout=10)
    toy_client.status(job.id)
    toy_client.status(job.id)
    assert telemetry.total("asyncjobs.jobs.ended") == 1


def test_metrics_count_retries_and_rate_limited_answers(
    toy_client: asyncjobs.Client, toy_sandbox: Any, telemetry: Recorded
) -> None:
    job = _submit(toy_client)
    toy_sandbox.app.faults.status(
        429, times=1, path=f"/jobs/{job.id}", headers={"Retry-After": "0"}
    )
    toy_sandbox.app.faults.status(503, times=1, path=f"/jobs/{job.id}")
    toy_client.status(job.id)
    assert telemetry.total("asyncjobs.retries", {"error.type": "429"}) == 1
    assert telemetry.total("asyncjobs.retries", {"error.type": "503"}) == 1
    assert telemetry.total("asyncjobs.rate_limited", {"asyncjobs.provider": "toy"}) == 1


def test_a_failed_poll_is_counted_with_its_error_type(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    with pytest.raises(asyncjobs.errors.JobNotFoundError):
        toy_client.status("t999")
    assert telemetry.total("asyncjobs.polls", {"error.type": "JobNotFoundError"}) == 1


# -- logs ----------------------------------------------------------------------------------------


def test_each_status_change_is_one_record_with_structured_fields(
    toy_client: asyncjobs.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncjobs.jobs")
    job = _submit(toy_client, duration=0.2)
    job.wait(timeout=10)
    toy_client.status(job.id)  # unchanged: no record
    records = [r for r in caplog.records if r.name == "asyncjobs.jobs"]
    events = [(r.job_event, r.status, r.raw_status) for r in records]  # type: ignore[attr-defined]
    assert events[0][:2] == ("submitted", "pending")
    assert events[-1] == ("ended", "done", "ok")
    assert len(events) == len(set(events))  # each change once
    for r in records:
        assert (r.provider, r.job_id, r.kind) == ("toy", job.id, "upper")  # type: ignore[attr-defined]
    assert records[-1].previous_status == "pending"  # type: ignore[attr-defined]


def test_a_failed_job_s_end_record_carries_its_error(
    toy_client: asyncjobs.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncjobs.jobs")
    _submit(toy_client, text="fail").wait(timeout=10)
    [end] = [r for r in caplog.records if getattr(r, "job_event", None) == "ended"]
    assert end.status == "failed"
    assert end.error == "the text asked to fail"


def test_a_retry_is_a_record_on_asyncjobs_http(
    toy_client: asyncjobs.Client, toy_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncjobs.http")
    job = _submit(toy_client)
    toy_sandbox.app.faults.status(503, times=1, path=f"/jobs/{job.id}")
    toy_client.status(job.id)
    [record] = [r for r in caplog.records if r.name == "asyncjobs.http"]
    assert record.job_event == "retry"
    assert record.error_type == "503"
    assert (record.provider, record.job_id, record.method) == ("toy", job.id, "GET")  # type: ignore[attr-defined]
    assert record.attempt == 1  # type: ignore[attr-defined]


def test_a_cancel_is_a_record(
    toy_client: asyncjobs.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncjobs.jobs")
    job = _submit(toy_client, duration=30)
    job.cancel()
    assert [getattr(r, "job_event", None) for r in caplog.records][-1] == "cancelled"


# -- the long-running commands ------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [{}, {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}],
    ids=["nothing named", "disabled"],
)
def test_the_sdk_is_not_set_up_unless_the_environment_asks(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _telemetry.configure_from_environment("asyncjobs-test") is False
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


_CONFIGURED = """
import json, sys
from asyncjobs import _telemetry
print(json.dumps(_telemetry.configure_from_environment("asyncjobs-test")))
from opentelemetry import trace
with trace.get_tracer("t").start_as_current_span("hello"):
    pass
"""


def _configured(**variables: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter that sets the SDK up from the environment (no other ``OTEL_*``
    variable than ``variables``) and makes a span."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | variables
    out = subprocess.run(
        [sys.executable, "-c", _CONFIGURED], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out


def test_the_sdk_is_set_up_from_otel_variables_with_the_named_exporter() -> None:
    out = _configured(OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none")
    assert out.stdout.startswith("true\n")
    assert '"name": "hello"' in out.stdout
    assert '"service.name": "asyncjobs-test"' in out.stdout


def test_an_exporter_no_package_provides_costs_a_warning_not_the_command() -> None:
    out = _configured(OTEL_TRACES_EXPORTER="nosuch", OTEL_METRICS_EXPORTER="none")
    assert out.stdout.startswith("false\n")
    assert "OTEL_TRACES_EXPORTER names 'nosuch'" in out.stderr


# -- webhooks ------------------------------------------------------------------------------------


def test_a_webhook_call_is_a_server_span_in_the_jobs_trace_and_a_metric(
    hooked: Any, telemetry: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncjobs.webhooks")
    client = hooked()
    job = client.submit("convert", source=b"hello", from_="txt", to="pdf", webhook=True)
    job.wait(timeout=10)
    submit = telemetry.span("asyncjobs.submit")
    [call] = telemetry.spans("asyncjobs.webhook")
    assert call.kind is SpanKind.SERVER
    assert call.context.trace_id == submit.context.trace_id
    assert dict(call.attributes or {}) == {
        "asyncjobs.provider": "convertapi",
        "asyncjobs.job.id": job.id,
        "asyncjobs.webhook.outcome": "accepted",
        "http.response.status_code": 200,
    }
    accepted = {"asyncjobs.provider": "convertapi", "asyncjobs.webhook.outcome": "accepted"}
    assert telemetry.total("asyncjobs.webhook.calls", accepted) == 1
    [record] = [r for r in caplog.records if r.name == "asyncjobs.webhooks"]
    assert (record.outcome, record.job_id, record.status_code) == ("accepted", job.id, 200)  # type: ignore[attr-defined]


def test_a_forged_webhook_call_is_counted_refused_and_names_no_job(
    hooked: Any, receiver: Any, telemetry: Recorded
) -> None:
    import urllib.error
    import urllib.request

    hooked()
    forged = f"{receiver.public_url}/convertapi/whk_{'x' * 40}"
    request = urllib.request.Request(forged, data=b'{"JobId": "j1"}', method="POST")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)
    [call] = telemetry.spans("asyncjobs.webhook")
    assert dict(call.attributes or {}) == {
        "asyncjobs.provider": "convertapi",
        "asyncjobs.webhook.outcome": "refused",
        "http.response.status_code": 404,
    }
    refused = {"asyncjobs.provider": "convertapi", "asyncjobs.webhook.outcome": "refused"}
    assert telemetry.total("asyncjobs.webhook.calls", refused) == 1


def test_traceparents_that_are_not_w3c_are_ignored(telemetry: Recorded) -> None:
    api = _telemetry._api()
    assert api is not None
    for bad in ["", "00-zz", "00-" + "0" * 32 + "-" + "b" * 16 + "-01", "garbage-" * 4]:
        assert _telemetry._parse(api, bad) is None


def test_spans_are_made_only_while_a_tracer_provider_is_set(
    toy_client: asyncjobs.Client, telemetry: Recorded
) -> None:
    _submit(toy_client)
    assert telemetry.spans("asyncjobs.submit")
    with _telemetry.override():  # no providers: the global proxy, with no SDK behind it
        _submit(toy_client)
    assert len(telemetry.spans("asyncjobs.submit")) == 1
