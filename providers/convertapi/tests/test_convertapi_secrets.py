"""The canary: a distinctive secret never shows in a URL, message, log record, repr or the ledger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncjobs_convertapi.sandbox import ConvertAPISandbox
from convertapi_support import ClientFactory

import asyncjobs
from asyncjobs.sandbox import Sandbox

CANARY = "CANARY-convertapi-7f3e9b21d4"


@pytest.fixture
def canary_box() -> Iterator[Sandbox]:
    app = ConvertAPISandbox(scale=1000, duration=0.0, secret=CANARY)
    with Sandbox(app) as box:
        yield box
    app.close()


def test_the_secret_never_leaks(
    canary_box: Sandbox,
    protocol: str,
    connect_to: ClientFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = connect_to(canary_box, protocol)
    shown: list[str] = [
        repr(client),
        repr(client.provider.config),
        repr(client.provider.auth()),
        repr(client.provider.transport),
    ]
    job = client.submit("convert", source=b"x", from_="txt", to="pdf", PageRange="1")
    shown += [repr(job), repr(job.result(timeout=10))]
    bad = tmp_path / "corrupt.docx"
    bad.write_bytes(b"x")
    failed = client.submit("convert", source=bad, to="pdf").wait(timeout=10, progress=False)
    shown += [repr(failed)]
    errors: list[BaseException] = []
    canary_box.app.faults.status(
        503, times=3, path="/convert", body={"Code": 5030, "Message": f"echo {CANARY}"}
    )
    canary_box.app.faults.status(
        400,
        path="/convert",
        body={"Code": 4000, "Message": f"bad {CANARY}", "InvalidParameters": {"X": [CANARY]}},
    )
    for attempt in (
        lambda: client.submit("convert", source=b"x", from_="txt", to="pdf"),
        lambda: client.submit("convert", source=b"x", from_="txt", to="pdf"),
        lambda: client.status("0" * 32),
        lambda: client.submit("convert", source=b"x", from_="txt", to="pdf", Timeout=1),
    ):
        with pytest.raises(asyncjobs.errors.AsyncJobsError) as caught:
            attempt()
        errors.append(caught.value)
    wrong = connect_to(canary_box, protocol, secret=CANARY + "-wrong")
    with pytest.raises(asyncjobs.errors.AuthenticationError) as denied:
        wrong.submit("convert", source=b"x", from_="txt", to="pdf")
    errors.append(denied.value)
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    shown += [str(getattr(e, "provider_message", "")) for e in errors]
    shown += [str(getattr(e, "invalid_parameters", "")) for e in errors]
    shown.append(caplog.text)
    shown += [path for _, path in canary_box.app.requests]
    ledger = (tmp_path / "ledger.sqlite3").read_bytes()
    assert [text for text in shown if CANARY in text] == []
    assert CANARY.encode() not in ledger
