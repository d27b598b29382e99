"""An application's own tests, written against the asyncjobs pytest fixtures (no network, no
account): the application under test is ``to_pdf``, which a real project would import."""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncjobs
from asyncjobs import errors


def to_pdf(client: asyncjobs.Client, source: Path, out: Path, timeout: float = 60) -> list[Path]:
    """The application's code: convert a document to PDF and save it."""
    job = client.submit("convert", source=source, to="pdf")
    return job.result(timeout=timeout).save(out)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK\x03\x04 a small document")
    return path


def test_a_report_is_converted(asyncjobs_client, report: Path, tmp_path: Path) -> None:
    client = asyncjobs_client("convertapi")
    saved = to_pdf(client, report, tmp_path / "out")
    assert [p.name for p in saved] == ["report.pdf"]


def test_a_failed_conversion_raises(asyncjobs_sandbox, asyncjobs_client, report: Path) -> None:
    sandbox = asyncjobs_sandbox("convertapi")
    sandbox.fail_next()
    with pytest.raises(errors.JobFailedError):
        to_pdf(asyncjobs_client(sandbox), report, report.parent / "out")


def test_a_conversion_that_never_ends_times_out(
    asyncjobs_sandbox, asyncjobs_client, report: Path
) -> None:
    sandbox = asyncjobs_sandbox("convertapi")
    with sandbox.frozen(), pytest.raises(errors.JobTimeoutError):
        to_pdf(asyncjobs_client(sandbox), report, report.parent / "out", timeout=0.5)


def test_a_brief_rate_limit_is_retried(asyncjobs_sandbox, asyncjobs_client, report: Path) -> None:
    sandbox = asyncjobs_sandbox("convertapi")
    sandbox.rate_limit(times=2, retry_after=0)
    assert to_pdf(asyncjobs_client(sandbox), report, report.parent / "out")


def test_a_lasting_rate_limit_raises(asyncjobs_sandbox, asyncjobs_client, report: Path) -> None:
    sandbox = asyncjobs_sandbox("convertapi")
    sandbox.rate_limit(times=100, retry_after=0)
    with pytest.raises(errors.RateLimitedError):
        to_pdf(asyncjobs_client(sandbox), report, report.parent / "out")
