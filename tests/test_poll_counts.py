"""Each job's status requests and retried requests are counted in the ledger (schema 9), on the
writes its looks make anyway: a poll that changes nothing costs no statement, and its count is
written with the next look that does (the job's end at the latest)."""

from __future__ import annotations

from typing import Any

import pytest

import asyncjobs
from asyncjobs import _tally
from asyncjobs._ledger import Ledger
from asyncjobs.sandbox import Sandbox


def test_a_finished_job_records_every_poll_it_took(toy_client: asyncjobs.Client) -> None:
    job = toy_client.submit("upper", text="count me", duration=0.3)
    polls = 1
    while not job.done():  # each call one status request, until the one that sees the end
        polls += 1
    assert toy_client.ledger is not None
    counted = toy_client.ledger.job_counts("toy", job.id)
    assert counted is not None
    assert counted[0] == polls
    assert counted[1] == 0
    assert _tally.take("toy", job.id) == (0, 0)  # nothing left unwritten


def test_retried_status_requests_are_counted_apart(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="flaky", duration=0.05)
    toy_sandbox.app.faults.status(503, times=2, path=f"/jobs/{job.id}")
    job.wait(timeout=10, progress=False)
    assert toy_client.ledger is not None
    counted = toy_client.ledger.job_counts("toy", job.id)
    assert counted is not None
    polls, retries = counted
    assert retries == 2
    assert polls >= 1


def test_a_poll_that_changes_nothing_writes_nothing_and_its_count_waits(
    toy_client: asyncjobs.Client,
) -> None:
    job = toy_client.submit("upper", text="slow", duration=30)
    job.status()  # pending, as submitted: unchanged... or running: changed
    job.status()
    job.status()
    assert toy_client.ledger is not None
    counted = toy_client.ledger.job_counts("toy", job.id) or (0, 0)
    waiting = _tally.take("toy", job.id)
    _tally.giveback("toy", job.id, *waiting)
    assert counted[0] + waiting[0] == 3


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_counts_are_summed_per_provider_over_finished_jobs(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    from asyncjobs import JobInfo, Status

    target = request.getfixturevalue("pg_url") if backend == "postgresql" else tmp_path / "l.db"
    with Ledger(target) as ledger:
        for n, polls in enumerate((3, 5)):
            key = ledger.begin("toy", "upper", {})
            ledger.issued(key, JobInfo("toy", f"j{n}", "upper", Status.PENDING))
            for _ in range(polls):
                _tally.polled("toy", f"j{n}")
            _tally.retried("toy", f"j{n}")
            ledger.seen(JobInfo("toy", f"j{n}", "upper", Status.DONE, raw_status="ok"))
        assert ledger.job_counts("toy", "j0") == (3, 1)
        assert ledger.poll_counts() == {"toy": (4.0, 1.0, 2)}


def test_a_version_7_ledger_gains_the_ref_and_the_counts_empty_on_its_rows(
    raw_ledger: Any, ledger_target: str
) -> None:
    from asyncjobs._ledger import SCHEMA_VERSION

    raw_ledger.build(7)
    raw_ledger.run(
        [
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, status, created_at,"
            " updated_at) VALUES ('k', 'toy', 't1', 'upper', '{}', 'submitted', 'done', 1, 2)"
        ]
    )
    with Ledger(ledger_target) as ledger:
        entry = ledger.get("toy", "t1")
        counts = ledger.job_counts("toy", "t1")
    assert raw_ledger.version() == SCHEMA_VERSION == 9
    columns = [c[0] for c in raw_ledger.columns()["jobs"]]
    assert {"ref", "polls", "retries"} <= set(columns)
    assert entry is not None
    assert entry.ref is None
    assert counts is None
