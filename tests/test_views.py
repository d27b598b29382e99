"""How jobs, infos and results look in terminals and notebooks; progress; tables."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import asyncjobs
from asyncjobs import JobInfo, Result, ResultFile, Status, errors
from asyncjobs._progress import enabled, make_progress

WHEN = datetime(2026, 11, 24, 9, 30, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("status", "colour"),
    [(Status.PENDING, "#b58900"), (Status.DONE, "#2e7d32"), (Status.FAILED, "#c62828")],
)
def test_info_html_shows_status_in_colour_and_words(status: Status, colour: str) -> None:
    page = JobInfo("p", "j1", "convert", status, raw_status="X", submitted_at=WHEN)._repr_html_()
    assert colour in page
    assert status.value in page
    assert "2026-11-24 09:30:05" in page


def test_html_escapes_what_the_provider_said() -> None:
    page = JobInfo("p", "j1", "k", "failed", error="<script>alert(1)</script>")._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_result_html_lists_files_with_human_sizes() -> None:
    result = Result(files=[ResultFile("a.pdf", 1536), ResultFile("b.csv", 5 * 1024**3)])
    page = result._repr_html_()
    assert "a.pdf" in page
    assert "1.5 KiB" in page
    assert "5.0 GiB" in page


def test_job_repr_is_readable(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0)
    assert repr(job) == f"<Job memory:{job.id} sleep pending>"


def test_an_empty_job_list_says_so() -> None:
    assert repr(asyncjobs.JobList()) == "JobList([])"


def test_to_pandas_gives_one_row_per_job(memory_client: asyncjobs.Client) -> None:
    for _ in range(3):
        memory_client.submit("sleep", duration=0)
    frame = memory_client.list().to_pandas()
    assert list(frame.columns[:4]) == ["provider", "id", "kind", "status"]
    assert len(frame) == 3


def test_to_pandas_without_pandas_says_what_to_install(
    memory_client: asyncjobs.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory_client.submit("sleep", duration=0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(errors.NotSupportedError, match="pip install pandas"):
        memory_client.list().to_pandas()


def test_job_list_slices_are_job_lists(memory_client: asyncjobs.Client) -> None:
    for _ in range(3):
        memory_client.submit("sleep", duration=0)
    listed = memory_client.list()
    assert isinstance(listed[1:], asyncjobs.JobList)
    assert len(listed[1:]) == 2


@pytest.mark.parametrize(
    ("progress", "env", "expected"),
    [(False, "", False), (True, "", True), (True, "0", False), (None, "0", False)],
)
def test_progress_switches(
    monkeypatch: pytest.MonkeyPatch, progress: bool | None, env: str, expected: bool
) -> None:
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", env)
    assert enabled(progress) is expected


def test_progress_is_off_by_default_outside_terminals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCJOBS_PROGRESS")
    assert enabled(None) is sys.stderr.isatty()


def test_a_progress_bar_shows_elapsed_and_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "1")
    reporter = make_progress(True, total=None, desc="p:j1")
    reporter.seen(JobInfo("p", "j1", "k", "pending", raw_status="Started"))
    reporter.close()
    err = capsys.readouterr().err
    assert "p:j1" in err
    assert "pending (Started)" in err


def test_a_progress_bar_over_many_jobs_counts_done_of_total(
    memory_client: asyncjobs.Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "1")
    jobs = [memory_client.submit("sleep", duration=0.01) for _ in range(5)]
    asyncjobs.wait(jobs, timeout=10, progress=True)
    assert "5/5" in capsys.readouterr().err


def test_a_progress_bar_over_many_jobs_counts_jobs_not_iterations(
    memory_client: asyncjobs.Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "1")
    jobs = [memory_client.submit("sleep", duration=0.01) for _ in range(3)]
    asyncjobs.wait(jobs, timeout=10, progress=True)
    err = capsys.readouterr().err
    assert "3/3 jobs" in err
    assert "it/s" not in err


def test_a_job_past_its_providers_lifetime_shows_as_expired(toy_client: asyncjobs.Client) -> None:
    from asyncjobs._job import Job

    # toy keeps jobs one hour; the client stamps each JobInfo with when its provider forgets it
    old = toy_client._stamp(JobInfo("toy", "t9", "upper", "done", completed_at=WHEN))
    listed = asyncjobs.JobList([Job(toy_client, "t9", info=old)])
    assert "done (expired)" in repr(listed)
    assert "(expired)" in listed._repr_html_()
    assert listed.to_records()[0]["expired"] is True


def test_a_fresh_job_is_not_expired(toy_client: asyncjobs.Client) -> None:
    from asyncjobs._job import Job

    fresh = toy_client._stamp(
        JobInfo("toy", "t9", "upper", "done", completed_at=datetime.now(timezone.utc))
    )
    record = asyncjobs.JobList([Job(toy_client, "t9", info=fresh)]).to_records()[0]
    assert record["expired"] is False
    assert record["expires_at"] is not None


def test_saved_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    path = ResultFile("a.txt", data=b"x").save(tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_job_info_repr_is_short() -> None:
    info = JobInfo("p", "j1", "convert", "failed", raw_status="Failed", error="bad", meta={"x": 1})
    assert repr(info) == "JobInfo(p:j1 convert failed raw_status='Failed', error='bad')"


def test_result_repr_lists_files_and_sizes() -> None:
    result = Result(files=[ResultFile("a.pdf", 10), ResultFile("b")], raw={"long": "x" * 500})
    assert repr(result) == "Result([a.pdf (10 bytes), b])"


def test_table_times_say_they_are_utc(memory_client: asyncjobs.Client) -> None:
    memory_client.submit("sleep", duration=0)
    assert " UTC" in repr(memory_client.list())


def test_importing_ipykernel_alone_does_not_mean_a_notebook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asyncjobs._progress import _in_notebook

    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # imported, but no kernel is running
    assert _in_notebook() is False


def test_a_one_job_bars_clock_ticks_between_polls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "1")
    reporter = make_progress(True, total=None, desc="p:j1")
    reporter.seen(JobInfo("p", "j1", "k", "pending", raw_status="Started"))
    time.sleep(1.3)  # no new status meanwhile: a long job between two polls
    err = capsys.readouterr().err  # read before close(), which redraws once more anyway
    reporter.close()
    assert "p:j1: 00:01" in err
