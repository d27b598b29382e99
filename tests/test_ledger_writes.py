"""The ledger never writes a status seen again unchanged: not in the object that wrote it, not in a
new one, not in another process, not past any number of jobs; a change is written at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

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


class Observer:
    """Another connection to the ledger file: ``PRAGMA data_version`` moves only when some other
    connection committed a change to the file."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)

    def version(self) -> int:
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def history(self, job_id: str) -> list[tuple[str, str]]:
        return self.db.execute(
            "SELECT s.status, s.raw_status FROM statuses s JOIN jobs j ON j.key = s.key"
            " WHERE j.job_id = ? ORDER BY s.rowid",
            (job_id,),
        ).fetchall()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite3"


def test_an_unchanged_status_is_not_written_again_by_the_same_ledger(path: Path) -> None:
    with Ledger(path) as ledger:
        ledger.seen(_info())
        observer = Observer(path)
        before, changes = observer.version(), ledger._store.db.total_changes
        for _ in range(5):
            ledger.seen(_info())
        assert ledger._store.db.total_changes == changes
        assert observer.version() == before


def test_an_unchanged_status_is_not_written_by_a_new_ledger_object(path: Path) -> None:
    with Ledger(path) as first:
        first.seen(_info())
    observer = Observer(path)
    before = observer.version()
    with Ledger(path) as second:
        changes = second._store.db.total_changes
        second.seen(_info())
        assert second._store.db.total_changes == changes
    assert observer.version() == before


def test_an_unchanged_status_is_not_written_by_another_process(path: Path) -> None:
    with Ledger(path) as ledger:
        ledger.seen(_info())
    observer = Observer(path)
    before = observer.version()
    script = (
        "import sys; from asyncjobs._ledger import Ledger\n"
        "with Ledger(sys.argv[1]) as l:\n"
        "    info = l.get('toy', 'j1').info\n"
        "    n = l._store.db.total_changes\n"
        "    l.seen(info); l.seen(info)\n"
        "    print(l._store.db.total_changes - n)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0"
    assert observer.version() == before


def test_no_write_past_the_memory_of_one_ledger_object(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_facade, "_SEEN_MEMORY", 5)  # the cliff used to be here (10,000 jobs)
    infos = [_info(f"j{i}") for i in range(40)]
    with Ledger(path) as ledger:
        ledger.seen_many(infos)
        observer = Observer(path)
        before, changes = observer.version(), ledger._store.db.total_changes
        for info in infos:
            ledger.seen(info)
        ledger.seen_many(infos)
        assert ledger._store.db.total_changes == changes
        assert observer.version() == before


def test_every_change_is_written_and_the_history_keeps_status_changes_only(path: Path) -> None:
    with Ledger(path) as ledger:
        ledger.seen(_info())
        observer = Observer(path)
        v0 = observer.version()
        ledger.seen(_info(meta={"progress": 50}))  # a field changed: written, no history row
        v1 = observer.version()
        assert v1 != v0
        assert ledger.get("toy", "j1").info.meta == {"progress": 50}  # type: ignore[union-attr]
        done = _info(status=Status.DONE, meta={}, completed_at=T0)
        ledger.seen(done)
        assert observer.version() != v1
        entry = ledger.get("toy", "j1")
        assert entry is not None
        assert entry.info == done
        assert entry.finished_seen_at is not None
        assert observer.history("j1") == [("pending", "pending"), ("done", "done")]
        v2 = observer.version()
        Ledger(path).seen(done)  # the same again, elsewhere: nothing
        assert observer.version() == v2


def test_many_looks_are_written_in_one_transaction(path: Path) -> None:
    with Ledger(path) as ledger:
        ledger.seen_many([_info(f"j{i}") for i in range(20)])
        sent: list[str] = []
        ledger._store.db.set_trace_callback(sent.append)
        ledger.seen_many([_info(f"j{i}", status=Status.DONE) for i in range(20)])
        ledger.seen_many([_info(f"j{i}", status=Status.DONE) for i in range(20)])  # unchanged
        ledger._store.db.set_trace_callback(None)
        assert sum(s.startswith("BEGIN") for s in sent) == 1
        assert sum(s.startswith("COMMIT") for s in sent) == 1
        assert {e.info.status for e in ledger.entries() if e.info} == {Status.DONE}


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
