"""What a poll costs a shared (PostgreSQL) ledger, in statements sent to the server (every round
trip counted, a transaction's BEGIN and COMMIT included): an unchanged look at most one, a change at
most two (a conditional write that returns what changed, with its history row and its ``NOTIFY`` in
the same statement), and a worker's first poll of a job it claimed reads nothing (the claim did)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import JobInfo, Status
from asyncjobs._ledger import Ledger
from asyncjobs.sandbox import Sandbox


@pytest.fixture
def shared(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, pg_url: str
) -> Iterator[asyncjobs.Client]:
    """A toy client on its own PostgreSQL ledger."""
    with asyncjobs.connect(
        "toy", ledger=pg_url, **toy_sandbox.app.client_settings(toy_sandbox.url)
    ) as client:
        yield client


def _long_job(client: asyncjobs.Client) -> str:
    return client.submit("upper", text="x", duration=1000).id


def _end(sandbox: Sandbox, job_id: str) -> None:
    app: Any = sandbox.app
    app.jobs[job_id]["duration"] = 0.0  # its next look says it is done


def _statements(client: asyncjobs.Client) -> int:
    assert client.ledger is not None
    return client.ledger.statements


def test_an_unchanged_poll_is_one_statement(shared: asyncjobs.Client) -> None:
    job_id = _long_job(shared)
    assert shared.status(job_id).status is Status.PENDING  # the lease, the first look
    before = _statements(shared)
    for _ in range(5):
        assert shared.status(job_id).status is Status.PENDING
    assert _statements(shared) - before == 5


def test_a_change_is_at_most_two_statements(shared: asyncjobs.Client, toy_sandbox: Sandbox) -> None:
    job_id = _long_job(shared)
    shared.status(job_id)
    _end(toy_sandbox, job_id)
    before = _statements(shared)
    assert shared.status(job_id).status is Status.DONE
    assert _statements(shared) - before <= 2
    assert shared.ledger is not None
    assert [s for _, s, _ in shared.ledger.history("toy", job_id)] == [
        Status.PENDING,
        Status.DONE,
    ]


def test_a_change_written_in_one_statement_ends_the_lease(
    shared: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job_id = _long_job(shared)
    shared.status(job_id)
    _end(toy_sandbox, job_id)
    shared.status(job_id)
    assert shared.ledger is not None
    entry = shared.ledger.get("toy", job_id)
    assert entry is not None
    assert entry.holder is None
    assert entry.finished_seen_at is not None


def test_a_claimed_jobs_first_poll_reads_nothing(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, pg_url: str
) -> None:
    settings = toy_sandbox.app.client_settings(toy_sandbox.url)
    with asyncjobs.connect("toy", ledger=pg_url, **settings) as submitter:
        job_id = _long_job(submitter)
    with Ledger(pg_url) as book, asyncjobs.connect("toy", ledger=book, **settings) as worker:
        [claimed] = book.claim(["toy"], 10)
        assert claimed.id == job_id
        before = book.statements
        assert worker.status(job_id).status is Status.PENDING  # running: a change, written
        assert book.statements - before == 1
        before = book.statements
        worker.status(job_id)
        assert book.statements - before == 1  # unchanged: the entry's read


def test_a_look_after_a_cancel_elsewhere_does_not_overwrite_it(
    shared: asyncjobs.Client, toy_sandbox: Sandbox, pg_url: str
) -> None:
    job_id = _long_job(shared)
    shared.status(job_id)
    with asyncjobs.connect(
        "toy", ledger=pg_url, **toy_sandbox.app.client_settings(toy_sandbox.url)
    ) as other:
        other.cancel(job_id)
    assert shared.ledger is not None
    done = shared.ledger.get("toy", job_id)
    assert done is not None
    assert done.info is not None
    late = JobInfo(provider="toy", id=job_id, kind="upper", status=Status.DONE)
    shared.ledger.seen(late)  # a poll that left before the cancel, answering after it
    entry = shared.ledger.get("toy", job_id)
    assert entry is not None
    assert entry.info is not None
    assert entry.info.raw_status == "cancelled"
