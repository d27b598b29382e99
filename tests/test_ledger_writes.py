"""The ledger never writes a status seen again unchanged: not in the object that wrote it, not in a
new one, not in another process, not past any number of jobs; a change is written at once. Each test
runs on both backends; writes are seen from outside (tests/ledger_support.py's ``Writes``)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ledger_support import Writes

from asyncjobs._ledger import Ledger, _facade
from asyncjobs._models import JobInfo, Status

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def _info(job_id: str = "j1", status: Status = Status.PENDING, **kw: object) -> JobInfo:
    return JobInfo(
        provider="toy",
        id=job_id,
        kind="upper",
        status=status,
        raw_status=kw.pop("raw_status", status.value),  # type: ignore[arg-type]
        submitted_at=T0,
        meta=kw.pop("meta", {"progress": 10}),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_an_unchanged_status_is_not_written_again_by_the_same_ledger(
    ledger: Ledger, writes: Writes
) -> None:
    ledger.seen(_info())
    before = writes.mark()
    for _ in range(5):
        ledger.seen(_info())
    assert writes.mark() == before


def test_an_unchanged_status_is_not_written_by_a_new_ledger_object(
    ledger_target: str, writes: Writes
) -> None:
    with Ledger(ledger_target) as first:
        first.seen(_info())
    before = writes.mark()
    with Ledger(ledger_target) as second:
        second.seen(_info())
    assert writes.mark() == before


def test_an_unchanged_status_is_not_written_by_another_process(
    ledger_target: str, writes: Writes
) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.seen(_info())
    before = writes.mark()
    script = (
        "import sys; from asyncjobs._ledger import Ledger\n"
        "with Ledger(sys.argv[1]) as l:\n"
        "    info = l.get('toy', 'j1').info\n"
        "    l.seen(info); l.seen(info)\n"
    )
    subprocess.run([sys.executable, "-c", script, ledger_target], check=True)
    assert writes.mark() == before


def test_no_write_past_the_memory_of_one_ledger_object(
    ledger: Ledger, writes: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_facade, "_SEEN_MEMORY", 5)  # the cliff used to be here (10,000 jobs)
    infos = [_info(f"j{i}") for i in range(40)]
    ledger.seen_many(infos)
    before = writes.mark()
    for info in infos:
        ledger.seen(info)
    ledger.seen_many(infos)
    assert writes.mark() == before


def test_every_change_is_written_and_the_history_keeps_status_changes_only(
    ledger: Ledger, ledger_target: str, writes: Writes
) -> None:
    ledger.seen(_info())
    v0 = writes.mark()
    ledger.seen(_info(meta={"progress": 50}))  # a field changed: written, no history row
    v1 = writes.mark()
    assert v1 != v0
    assert ledger.get("toy", "j1").info.meta == {"progress": 50}  # type: ignore[union-attr]
    done = _info(status=Status.DONE, meta={}, completed_at=T0)
    ledger.seen(done)
    assert writes.mark() != v1
    entry = ledger.get("toy", "j1")
    assert entry is not None
    assert entry.info == done
    assert entry.finished_seen_at is not None
    assert [(s, r) for _, s, r in ledger.history("toy", "j1")] == [
        (Status.PENDING, "pending"),
        (Status.DONE, "done"),
    ]
    v2 = writes.mark()
    with Ledger(ledger_target) as elsewhere:
        elsewhere.seen(done)  # the same again, elsewhere: nothing
    assert writes.mark() == v2


def test_many_looks_are_written_in_one_transaction_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.seen_many([_info(f"j{i}") for i in range(20)])
    store: Any = ledger._store
    opened: list[int] = []
    tx = store.tx

    def counted() -> Any:
        opened.append(1)
        return tx()

    monkeypatch.setattr(store, "tx", counted)
    ledger.seen_many([_info(f"j{i}", status=Status.DONE) for i in range(20)])
    ledger.seen_many([_info(f"j{i}", status=Status.DONE) for i in range(20)])  # unchanged
    assert len(opened) == 1
    assert {e.info.status for e in ledger.entries() if e.info} == {Status.DONE}


def test_each_changed_look_is_one_statement_on_postgresql(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        ledger.seen_many([_info(f"j{i}") for i in range(20)])
        before = ledger.statements
        ledger.seen_many([_info(f"j{i}", status=Status.DONE) for i in range(20)])
        assert ledger.statements - before == 20  # no BEGIN, no read, no separate NOTIFY
        before = ledger.statements
        ledger.seen_many([_info(f"j{i}", status=Status.DONE) for i in range(20)])  # unchanged
        assert ledger.statements == before
        assert {e.info.status for e in ledger.entries() if e.info} == {Status.DONE}
        assert [s for _, s, _ in ledger.history("toy", "j3")] == [Status.PENDING, Status.DONE]


def test_the_scheduler_writes_each_pass_in_one_transaction(
    memory_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncjobs

    client: asyncjobs.Client = memory_client  # type: ignore[assignment]
    assert client.ledger is not None
    jobs = [client.submit("sleep", duration=0.05) for _ in range(6)]
    calls: list[int] = []
    single: list[JobInfo] = []
    many = client.ledger.seen_many

    def seen_many(infos: object) -> None:
        batch = list(infos)  # type: ignore[call-overload]
        calls.append(len(batch))
        many(batch)

    monkeypatch.setattr(client.ledger, "seen_many", seen_many)
    monkeypatch.setattr(client.ledger, "seen", single.append)
    done, not_done = asyncjobs.wait(jobs, timeout=30, progress=False)
    assert not not_done
    assert len(done) == 6
    assert not single, "no look is written alone"
    assert sum(calls) >= 6
    assert len(calls) <= sum(calls)
    for job in jobs:  # every final status is in the ledger
        entry = client.ledger.get(client.name, job.id)
        assert entry is not None
        assert entry.info is not None
        assert entry.info.finished
