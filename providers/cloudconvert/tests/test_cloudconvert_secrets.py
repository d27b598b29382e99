"""The canary: a distinctive API key never shows in a URL, message, log record, repr, the ledger, or
an upload to the storage's form."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncjobs_cloudconvert.sandbox import CloudConvertSandbox
from cloudconvert_support import ClientFactory

import asyncjobs
from asyncjobs.sandbox import Sandbox

CANARY = "CANARY-cloudconvert-5e1d7c90aa"
SIGNING = "CANARY-signing-81b2f3"


@pytest.fixture
def canary_box() -> Iterator[Sandbox]:
    app = CloudConvertSandbox(scale=1000, secret=CANARY, signing_secret=SIGNING)
    with Sandbox(app) as box:
        yield box
    app.close()


def test_the_key_never_leaks(
    canary_box: Sandbox, connect_to: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = connect_to(canary_box)
    shown = [repr(client), repr(client.provider.config), repr(client.provider.auth())]
    job = client.submit("convert", source=b"x", from_="docx", to="pdf", pages="1")
    shown += [repr(job), repr(job.result(timeout=10)), repr(job.info)]
    bad = client.submit("convert", source="https://x.example/corrupt.docx", to="pdf")
    shown.append(repr(bad.wait(timeout=10, progress=False)))
    errors: list[BaseException] = []
    canary_box.app.faults.status(
        422,
        path="/v2/jobs",
        body={
            "message": f"bad {CANARY}",
            "code": "INVALID_DATA",
            "errors": {"x": [CANARY, SIGNING]},
        },
    )
    canary_box.app.faults.status(500, times=3, path="/v2/jobs/", body={"message": f"echo {CANARY}"})
    for attempt in (
        lambda: client.submit("convert", source=b"x", from_="docx", to="pdf"),
        lambda: client.status("8b1ee0a4-7d1c-4b8e-9a51-0d9b0c2f3e11"),
    ):
        with pytest.raises(asyncjobs.errors.AsyncJobsError) as caught:
            attempt()
        errors.append(caught.value)
    wrong = connect_to(canary_box, secret=CANARY + "-wrong")
    with pytest.raises(asyncjobs.errors.AuthenticationError) as denied:
        wrong.submit("convert", source=b"x", from_="docx", to="pdf")
    errors.append(denied.value)
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    shown += [str(getattr(e, "provider_message", "")) for e in errors]
    shown += [str(getattr(e, "invalid_parameters", "")) for e in errors]
    shown.append(caplog.text)
    shown += [path for _, path in canary_box.app.requests]
    shown += [str(h) for h in canary_box.app.upload_headers]  # the form never gets the key
    assert canary_box.app.upload_headers, "no upload was made"
    ledger = (tmp_path / "ledger.sqlite3").read_bytes()
    leaks = [text for text in shown if CANARY in text or SIGNING in text]
    assert leaks == []
    assert CANARY.encode() not in ledger
    assert SIGNING.encode() not in ledger
