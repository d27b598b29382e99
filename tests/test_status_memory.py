"""What a client remembers of a job's ledger entry between looks: a status seen again unchanged
touches no SQLite at all (no read, no write), while anything another client or process recorded
meanwhile is still used once the provider's answer changes or the job is gone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncjobs
from asyncjobs import Status
from asyncjobs._ledger import Ledger
from asyncjobs.sandbox import Sandbox


class Statements:
    """Every SQL statement a ledger's connection runs, while counting."""

    def __init__(self, ledger: Ledger) -> None:
        self.sql: list[str] = []
        self._db = ledger._store.db

    def __enter__(self) -> list[str]:
        self._db.set_trace_callback(self.sql.append)
        return self.sql

    def __exit__(self, *exc: object) -> None:
        self._db.set_trace_callback(None)


def _other_client(path: Path, sandbox: Sandbox) -> asyncjobs.Client:
    """A client with its own connection to the same ledger file, as another process has."""
    return asyncjobs.connect("toy", ledger=Ledger(path), **sandbox.app.client_settings(sandbox.url))


@pytest.fixture
def ledger_path(toy_client: asyncjobs.Client) -> Path:
    assert toy_client.ledger is not None
    return toy_client.ledger.path


@pytest.fixture
def other(ledger_path: Path, toy_sandbox: Sandbox) -> Iterator[asyncjobs.Client]:
    client = _other_client(ledger_path, toy_sandbox)
    yield client
    client.close()
    assert client.ledger is not None
    client.ledger.close()


def test_a_status_seen_again_unchanged_runs_no_sql(toy_client: asyncjobs.Client) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(job.id)
    assert toy_client.ledger is not None
    with Statements(toy_client.ledger) as sql:
        for _ in range(5):
            assert toy_client.status(job.id).status is Status.PENDING
    assert sql == []


def test_a_status_seen_again_unchanged_writes_nothing_to_the_file(
    toy_client: asyncjobs.Client, ledger_path: Path
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(job.id)
    observer = sqlite3.connect(ledger_path)
    before = observer.execute("PRAGMA data_version").fetchone()[0]
    for _ in range(5):
        toy_client.status(job.id)
    assert observer.execute("PRAGMA data_version").fetchone()[0] == before
    observer.close()


def test_a_changed_status_is_recorded_at_once(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(job.id)
    toy_sandbox.app.jobs[job.id]["duration"] = 0  # type: ignore[attr-defined]
    assert toy_client.status(job.id).status is Status.DONE
    assert toy_client.ledger is not None
    entry = toy_client.ledger.get("toy", job.id)
    assert entry is not None
    assert entry.info is not None
    assert entry.info.status is Status.DONE


def test_a_status_recorded_by_another_process_gives_its_times_once_the_answer_changes(
    toy_client: asyncjobs.Client, other: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(job.id)  # remembered: pending
    toy_sandbox.app.jobs[job.id]["duration"] = 0  # type: ignore[attr-defined]
    first = other.status(job.id)  # the other process sees it finished first
    assert first.completed_at is not None
    later = toy_client.status(job.id)
    assert later.status is Status.DONE
    assert later.completed_at == first.completed_at


def test_a_job_cancelled_by_another_process_is_cancelled_once_the_provider_forgets_it(
    toy_client: asyncjobs.Client, other: asyncjobs.Client
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(job.id)  # remembered: pending
    other.cancel(job.id)  # the toy service deletes a cancelled job
    info = toy_client.status(job.id)
    assert (info.status, info.raw_status) == (Status.FAILED, "cancelled")


def test_a_job_cancelled_through_another_client_of_the_same_ledger_is_not_asked_about(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(job.id)  # remembered: pending
    with asyncjobs.connect(
        "toy", ledger=toy_client.ledger, **toy_sandbox.app.client_settings(toy_sandbox.url)
    ) as second:
        second.cancel(job.id)
    asked: list[str] = []
    toy_client.provider.transport.session.hooks["response"].append(
        lambda response, *args, **kwargs: asked.append(response.url)
    )
    info = toy_client.status(job.id)
    assert (info.status, info.raw_status) == (Status.FAILED, "cancelled")
    assert asked == []


def test_a_cancelled_job_is_answered_from_memory_without_sql(
    toy_client: asyncjobs.Client,
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    job.cancel()
    toy_client.status(job.id)
    assert toy_client.ledger is not None
    with Statements(toy_client.ledger) as sql:
        assert toy_client.status(job.id).raw_status == "cancelled"
    assert sql == []


def test_a_job_id_issued_again_is_a_new_job_not_the_cancelled_one(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    job.cancel()
    assert toy_client.status(job.id).raw_status == "cancelled"
    toy_sandbox.app._ids = iter([int(job.id[1:])])  # type: ignore[attr-defined]
    again = toy_client.submit("upper", text="b", duration=60)
    assert again.id == job.id
    assert toy_client.status(again.id).status is Status.PENDING


def test_the_row_is_written_before_the_request_leaves_whatever_is_remembered(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    first = toy_client.submit("upper", text="a", duration=60)
    toy_client.status(first.id)
    assert toy_client.ledger is not None
    ledger = toy_client.ledger
    states: list[list[str]] = []
    toy_client.provider.transport.session.hooks["response"].append(
        lambda response, *args, **kwargs: states.append([e.state for e in ledger.entries()])
    )
    toy_client.submit("upper", text="b", duration=60)
    assert states[0] == ["submitted", "submitting"]
