"""The canary: the API key (and its Basic form) never shows in a URL, message, log record, repr or the
ledger."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asyncjobs_zamzar.sandbox import ZamzarSandbox

import asyncjobs
from asyncjobs.sandbox import Sandbox

CANARY = "CANARYzamzar7f3e9b21d4"
BASIC = base64.b64encode(f"{CANARY}:".encode()).decode()


@pytest.fixture
def canary_box() -> Iterator[Sandbox]:
    app = ZamzarSandbox(scale=1000, key=CANARY)
    with Sandbox(app) as box:
        yield box
    app.close()


def test_the_key_never_leaks(
    canary_box: Sandbox,
    connect_to: Callable[..., asyncjobs.Client],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = connect_to(canary_box)
    shown = [
        repr(client),
        repr(client.provider.config),
        repr(client.provider.auth()),
        repr(client.provider.transport),
    ]
    job = client.submit("convert", source=b"x", from_="txt", to="pdf", options={"k": "v"})
    shown += [repr(job), repr(job.result(timeout=10))]
    failed = client.submit("convert", source=b"", from_="txt", to="pdf").wait(
        timeout=10, progress=False
    )
    shown.append(repr(failed))
    errors: list[BaseException] = []
    echo = {
        "errors": [
            {
                "message": f"echo {CANARY} {BASIC}",
                "code": 11,
                "context": {"parameter": "x", "reason": CANARY},
            }
        ]
    }
    canary_box.app.faults.status(422, path="/v1/jobs", body=echo)
    canary_box.app.faults.status(503, times=3, path="/v1/jobs/", body=echo)
    for attempt in (
        lambda: client.submit("convert", source=b"x", from_="txt", to="pdf"),
        lambda: client.status(job.id),
        lambda: client.status("424242"),
    ):
        with pytest.raises(asyncjobs.errors.AsyncJobsError) as caught:
            attempt()
        errors.append(caught.value)
    wrong = connect_to(canary_box, secret=CANARY + "wrong")
    with pytest.raises(asyncjobs.errors.AuthenticationError) as denied:
        wrong.status(job.id)
    errors.append(denied.value)
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    shown += [str(getattr(e, "provider_message", "")) for e in errors]
    shown += [str(getattr(e, "invalid_parameters", "")) for e in errors]
    shown.append(caplog.text)
    shown += [path for _, path in canary_box.app.requests]
    ledger = (tmp_path / "ledger.sqlite3").read_bytes()
    assert [text for text in shown if CANARY in text or BASIC in text] == []
    assert CANARY.encode() not in ledger
    assert BASIC.encode() not in ledger
