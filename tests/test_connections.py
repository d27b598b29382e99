"""Connection reuse: every poll and status call after the first goes over a connection already open.

The sandbox runner serves HTTP/1.1 keep-alive (as production servers do) and counts the connections
it accepts, so a client that discards its connection after a poll shows up as one new connection
per call.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from asyncjobs_conversio.sandbox import ConversioSandbox
from asyncjobs_convertapi.sandbox import ConvertAPISandbox
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

import asyncjobs
from asyncjobs.sandbox import Sandbox

CALLS = 12

#: provider -> (a sandbox whose jobs stay pending for the test's length, the kind and params)
CASES: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "convertapi": (
        lambda: ConvertAPISandbox(scale=1000, duration=1e9),
        "convert",
        {"source": b"hello", "from_": "txt", "to": "pdf"},
    ),
    "groupdocs": (
        lambda: GroupDocsSandbox(scale=1.0, conversion_seconds=1e9),
        "convert",
        {"source": b"hello world", "from_": "docx", "to": "pdf"},
    ),
    "conversio": (
        lambda: ConversioSandbox(scale=1.0, start_after=1e9),
        "segments-export",
        {"segment": "s1"},
    ),
}


@pytest.fixture(params=sorted(CASES))
def pending(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Sandbox, Any]]:
    """A sandbox, a client of it and a job that stays pending."""
    make, kind, params = CASES[str(request.param)]
    app = make()
    with Sandbox(app) as box:
        client = asyncjobs.connect(
            str(request.param), ledger=tmp_path / "ledger.sqlite3", **app.client_settings(box.url)
        )
        with client:
            job = client.submit(kind, **params)
            yield box, job
    if hasattr(app, "close"):
        app.close()


def test_the_sandbox_keeps_connections_alive() -> None:
    with Sandbox(ConversioSandbox()) as box, requests.Session() as session:
        for _ in range(5):
            answer = session.get(box.url + "/nowhere", timeout=5)
            assert "close" not in answer.headers.get("Connection", "").lower()
        assert box.connections == 1


def test_every_status_call_after_the_first_reuses_its_connection(
    pending: tuple[Sandbox, Any],
) -> None:
    box, job = pending
    job.client.status(job.id)
    opened = box.connections
    for _ in range(CALLS):
        assert job.client.status(job.id).status is asyncjobs.Status.PENDING
    assert box.connections == opened, f"{box.connections - opened} new connections in {CALLS} calls"


def test_a_raw_result_poll_works_and_later_polls_reuse(tmp_path: Path) -> None:
    app = ConvertAPISandbox(scale=1000, duration=0.0, raw_results=True)
    with Sandbox(app) as box:
        settings = app.client_settings(box.url)
        with asyncjobs.connect("convertapi", ledger=tmp_path / "l.sqlite3", **settings) as client:
            job = client.submit("convert", source=b"hello", from_="txt", to="pdf")
            assert job.wait(timeout=30, progress=False).status is asyncjobs.Status.DONE
            [file] = job.result(timeout=30).files
            assert file.url is not None  # the poll's body was left for the download
            assert file.read().startswith(b"%PDF")
            client.status(job.id)
            opened = box.connections
            for _ in range(3):
                with pytest.raises(asyncjobs.errors.JobNotFoundError):
                    client.status("no-such-job-0000000000000000000")
                client.status(job.id)
            assert box.connections == opened


def test_closing_a_streamed_answer_reads_a_small_rest_but_never_a_large_one() -> None:
    from asyncjobs._http import Transport

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        size = int(environ["PATH_INFO"].strip("/"))
        start_response("200 OK", [("Content-Length", str(size))])
        return [b"x" * size]

    with Sandbox(app) as box:
        t = Transport(provider="test")
        t.request("GET", box.url + "/10").close()
        opened = box.connections
        t.request("GET", box.url + "/100", stream=True).close()  # read on closing: kept
        t.request("GET", box.url + "/10").close()
        assert box.connections == opened
        big = t.request("GET", box.url + "/8000000", stream=True)
        raw = big.raw._raw
        big.close()  # a result file: not read, its connection is closed
        assert raw.tell() < 8_000_000
        t.request("GET", box.url + "/10").close()
        assert box.connections == opened + 1
        t.close()


def test_a_request_body_the_app_did_not_read_is_drained_before_the_next_request() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("403 Forbidden", [("Content-Length", "2")])
        return [b"no"]

    with Sandbox(app) as box, requests.Session() as session:
        for _ in range(3):
            assert session.post(box.url + "/up", data=b"z" * 300_000, timeout=5).status_code == 403
            chunked = session.post(box.url + "/up", data=iter([b"a" * 1000] * 50), timeout=5)
            assert chunked.status_code == 403
        assert box.connections == 1


def test_a_wait_with_every_worker_busy_throws_no_connection_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from asyncjobs._waiting import MAX_WORKERS

    app = ConversioSandbox(scale=1.0, start_after=1e9)
    quick = asyncjobs.PollPolicy(initial=0.05, factor=1.0, cap=0.05, min_interval=0.01)
    with (
        Sandbox(app) as box,
        asyncjobs.connect(
            "conversio", ledger=False, poll=quick, **app.client_settings(box.url)
        ) as client,
    ):
        jobs = [client.submit("segments-export", segment="s1") for _ in range(400)]
        opened = box.connections
        with caplog.at_level("WARNING", logger="urllib3.connectionpool"):
            asyncjobs.wait(jobs, timeout=2, max_workers=MAX_WORKERS, progress=False)
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert box.connections - opened <= MAX_WORKERS


def test_a_request_body_is_read_and_sent_in_blocks_of_256_kib() -> None:
    from asyncjobs._http import Transport

    class Counted(io.BytesIO):
        reads = 0

        def read(self, size: int | None = -1) -> bytes:
            self.reads += 1
            return super().read(size)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("204 No Content", [])
        return []

    body = Counted(b"x" * (4 * 1024 * 1024))
    with Sandbox(app) as box:
        transport = Transport(provider="acme")
        transport.request("PUT", box.url + "/upload", data=body)
        transport.close()
    assert body.reads <= 18  # sixteen blocks and the end (urllib3's own 16 KiB: 257)
