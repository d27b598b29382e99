"""Wake-ups: waits sleep on news of a job's end instead of a fixed sleep; the ledger carries news
between processes (``Ledger.wait_changed``)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncjobs
from asyncjobs import _wake
from asyncjobs._ledger import Ledger
from asyncjobs._models import JobInfo, Status


def _info(status: Status = Status.DONE, job_id: str = "j1") -> JobInfo:
    return JobInfo(
        provider="toy",
        id=job_id,
        kind="upper",
        status=status,
        raw_status=status.value,
        submitted_at=datetime.now(timezone.utc),
    )


def test_wait_changed_returns_soon_after_another_connection_commits(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    watcher, writer = Ledger(path), Ledger(path)
    try:
        watcher.wait_changed(0)  # the baseline
        threading.Timer(0.2, writer.seen, (_info(),)).start()
        started = time.monotonic()
        watcher.wait_changed(5)
        assert 0.15 < time.monotonic() - started < 1
    finally:
        watcher.close()
        writer.close()


def test_wait_changed_returns_after_its_timeout_without_a_change(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        started = time.monotonic()
        ledger.wait_changed(0.3)
        assert 0.25 < time.monotonic() - started < 1


def test_a_change_between_two_calls_is_not_missed(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    watcher, writer = Ledger(path), Ledger(path)
    try:
        watcher.wait_changed(0)
        writer.seen(_info())  # committed while nobody was in wait_changed
        started = time.monotonic()
        watcher.wait_changed(5)
        assert time.monotonic() - started < 0.2
    finally:
        watcher.close()
        writer.close()


def test_report_wakes_a_napping_waiter_at_once() -> None:
    waiter = _wake.Waiter()
    job = asyncjobs.Job(lambda: None, "j1", provider="toy")  # type: ignore[arg-type, return-value]
    with _wake.listening([job], waiter):
        threading.Timer(0.1, _wake.report, ("toy", "j1", _info())).start()
        started = time.monotonic()
        news = waiter.nap(5)
    assert time.monotonic() - started < 1
    assert news[("toy", "j1")].status is Status.DONE


def test_news_of_a_pending_job_is_not_reported() -> None:
    waiter = _wake.Waiter()
    job = asyncjobs.Job(lambda: None, "j1", provider="toy")  # type: ignore[arg-type, return-value]
    with _wake.listening([job], waiter):
        _wake.report("toy", "j1", _info(Status.PENDING))
        assert waiter.nap(0.05) == {}


def test_a_wait_is_woken_by_another_waits_poll(
    toy_client: asyncjobs.Client, toy_sandbox: object
) -> None:
    slow = asyncjobs.PollPolicy(initial=30, cap=30, min_interval=30)
    job = toy_client.submit("upper", text="hi", duration=0.3)
    patient = asyncjobs.Job(toy_client, job.id)
    toy_client.poll_policy = slow
    result: list[JobInfo] = []
    waiting = threading.Thread(target=lambda: result.append(patient.wait(timeout=10)))
    waiting.start()
    time.sleep(0.5)
    job.refresh()  # another look, elsewhere in the process, finds it done
    waiting.join(5)
    assert result
    assert result[0].status is Status.DONE
