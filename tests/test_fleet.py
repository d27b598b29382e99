"""A fleet on one PostgreSQL ledger: worker and waiter processes against the ConvertAPI sandbox, which
answers a second concurrent poll of a job with 503 and counts those it refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from fleet_support import Fleet, output, stop
from pg_support import sql, unreachable

from asyncjobs import errors
from asyncjobs._ledger import Ledger

pytestmark = pytest.mark.slow


def test_four_workers_and_two_waiters_finish_2000_jobs_with_no_concurrent_poll(
    fleet: Fleet,
) -> None:
    ids = fleet.submit(2000)
    workers = [fleet.worker() for _ in range(4)]
    waiters = [fleet.waiter(ids[:1000]), fleet.waiter(ids[1000:])]
    results = [output(w) for w in waiters]
    stats = [stop(w) for w in workers]
    assert [r["done"] for r in results] == [1000, 1000]
    assert [r["states"] for r in results] == [["done"], ["done"]]
    assert fleet.statuses() == Counter({"done": 2000})
    assert fleet.app.concurrent_polls == 0
    assert sum(s["finished"] for s in stats) > 0  # the workers did poll
    with Ledger(fleet.url) as ledger:
        assert {e.holder for e in ledger.entries()} == {None}  # every lease given up


def test_a_worker_killed_mid_run_leaves_its_jobs_to_the_others(fleet: Fleet) -> None:
    fleet.app.duration = 6.0  # pending long enough for the worker to hold them when it is killed
    ids = fleet.submit(500)
    victim = fleet.worker()
    deadline = time.monotonic() + 60
    held: list[Any] = []
    while time.monotonic() < deadline and not held:  # mid-run: the victim holds leases
        held = sql(
            fleet.url,
            "SELECT job_id FROM asyncjobs.jobs WHERE lease_holder LIKE %s",
            (f"%:{victim.pid}:%",),
        )
        time.sleep(0.05)
    assert held
    others = [fleet.worker() for _ in range(2)]
    victim.kill()
    victim.communicate(timeout=30)
    waiter = fleet.waiter(ids)
    assert output(waiter)["done"] == 500
    for w in others:
        stop(w)
    assert fleet.statuses() == Counter({"done": 500})
    assert fleet.app.concurrent_polls == 0


def test_a_waiter_learns_of_a_job_a_worker_finished_within_a_second(fleet: Fleet) -> None:
    with fleet.client() as client:
        job = client.submit("convert", source=b"page", from_="txt", to="pdf")
    worker = fleet.worker()
    time.sleep(0.3)  # the worker has claimed it
    waiter = fleet.waiter([job.id], one=True)
    out = output(waiter)
    stop(worker)
    with Ledger(fleet.url) as ledger:
        entry = ledger.get("convertapi", job.id)
    assert entry is not None
    assert entry.finished_seen_at is not None
    assert out["status"] == "done"
    assert out["returned_at"] - entry.finished_seen_at.timestamp() < 1.0
    assert fleet.app.concurrent_polls == 0


def test_waiters_still_return_when_their_listener_connection_is_killed(fleet: Fleet) -> None:
    ids = fleet.submit(100)
    worker = fleet.worker()
    waiter = fleet.waiter(ids)
    time.sleep(1.0)
    with psycopg.connect(fleet.url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    assert killed  # the worker's and the waiter's listeners
    assert output(waiter)["done"] == 100
    stop(worker)
    assert fleet.statuses() == Counter({"done": 100})


def test_a_stopped_worker_finishes_its_polls_and_gives_up_its_leases(fleet: Fleet) -> None:
    fleet.app.duration = 3600.0  # jobs that stay pending
    fleet.submit(20)
    worker = fleet.worker()
    with Ledger(fleet.url) as ledger:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(e.holder for e in ledger.entries()):
            time.sleep(0.05)
        assert all(e.holder for e in ledger.entries())
        stats = stop(worker)
        assert {e.holder for e in ledger.entries()} == {None}
    assert stats["claimed"] == 20


def test_list_shows_which_worker_polls_which_job(fleet: Fleet) -> None:
    fleet.app.duration = 3600.0
    fleet.submit(3)
    worker = fleet.worker()
    time.sleep(1.0)
    listed = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "--json", "list"],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    stats = stop(worker)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["jobs"]
    assert {r["polled_by"] for r in rows} == {stats["worker"]}


def test_a_poller_that_cannot_reach_the_ledger_never_polls(
    fleet: Fleet, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.app.duration = 3600.0
    (job_id,) = fleet.submit(1)
    polls_before = fleet.app.jobs[job_id].polls
    ledger = Ledger(fleet.url)
    ledger._store.retry_for = 0.5
    try:
        with fleet.client(ledger=ledger) as client, unreachable(postgres, fleet.url):
            with pytest.raises(errors.LedgerError):
                client.status(job_id)
    finally:
        ledger.close()
    assert fleet.app.jobs[job_id].polls == polls_before


def test_the_sandbox_counts_concurrent_polls_of_pollers_without_a_shared_ledger(
    fleet: Fleet,
) -> None:
    """The control of the tests above: uncoordinated pollers do poll one job at once."""
    import concurrent.futures as cf

    fleet.app.duration = 3600.0
    fleet.app.hold = 0.5
    (job_id,) = fleet.submit(1)
    clients = [fleet.client(ledger=False) for _ in range(4)]
    try:
        with cf.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(c.status, job_id) for c in clients for _ in range(2)]
            cf.wait(futures)
    finally:
        for c in clients:
            c.close()
    assert fleet.app.concurrent_polls > 0


def test_a_waiter_that_cannot_reach_the_ledger_raises_at_its_deadline_without_polling(
    fleet: Fleet, postgres: str
) -> None:
    fleet.app.duration = 3600.0
    (job_id,) = fleet.submit(1)
    polls_before = fleet.app.jobs[job_id].polls
    ledger = Ledger(fleet.url)  # retries a lost connection for 30 s, but the wait ends first
    client = fleet.client(ledger=ledger)
    job = client.job(job_id)
    try:
        with unreachable(postgres, fleet.url):
            start = time.monotonic()
            with pytest.raises(errors.LedgerError):
                job.wait(timeout=1.0)
    finally:
        client.close()
        ledger.close()
    assert time.monotonic() - start < 10
    assert fleet.app.jobs[job_id].polls == polls_before
