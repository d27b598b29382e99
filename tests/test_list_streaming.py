"""`asyncjobs list` streams the ledger (rows printed as read), with `--limit` and `--since`;
`Ledger.iter_entries` reads in batches; `asyncjobs.jobs()` answers `len` by a count."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import asyncjobs
from asyncjobs import cli
from asyncjobs._ledger import Ledger
from asyncjobs._models import JobInfo, Status
from asyncjobs.cli import _output, _verbs


def _fill(path: Path, n: int, *, provider: str = "toy") -> Ledger:
    ledger = Ledger(path)
    infos = [
        JobInfo(provider=provider, id=f"j{i:05d}", kind="upper", status=Status.PENDING)
        for i in range(n)
    ]
    ledger.seen_many(infos)
    return ledger


def _list(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> list[dict[str, Any]]:
    code = cli.main(["--json", "--ledger", str(path), "list", *argv])
    assert code == 0
    return json.loads(capsys.readouterr().out)["jobs"]  # type: ignore[no-any-return]


def test_iter_entries_reads_in_batches_in_order(tmp_path: Path) -> None:
    with _fill(tmp_path / "l.sqlite3", 25) as ledger:
        ids = [e.job_id for e in ledger.iter_entries(batch=4)]
        assert ids == [f"j{i:05d}" for i in range(25)]
        assert [e.job_id for e in ledger.iter_entries(limit=3, batch=2)] == [
            "j00022",
            "j00023",
            "j00024",
        ]
        assert list(ledger.iter_entries(limit=0)) == []
        assert len(ledger.entries(limit=100)) == 25
        assert ledger.count() == 25
        assert ledger.count(status="done") == 0


def test_list_limit_keeps_the_most_recent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.sqlite3"
    _fill(path, 12).close()
    rows = _list(capsys, path, "--limit", "5")
    assert [r["id"] for r in rows] == [f"j{i:05d}" for i in range(7, 12)]
    assert _list(capsys, path, "--limit", "0") == []
    assert len(_list(capsys, path)) == 12


def test_list_since_keeps_jobs_recorded_since(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.sqlite3"
    with _fill(path, 3) as ledger:
        ledger._store.db.execute(
            "UPDATE jobs SET created_at = created_at - 7200 WHERE job_id='j00000'"
        )
    assert [r["id"] for r in _list(capsys, path, "--since", "1h")] == ["j00001", "j00002"]
    since = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
    assert len(_list(capsys, path, "--since", since)) == 3
    assert len(_list(capsys, path, "--since", "2099-01-01")) == 0
    assert cli.main(["--ledger", str(path), "list", "--since", "yesterday-ish"]) == 2
    assert cli.main(["--ledger", str(path), "list", "--limit", "-1"]) == 2


def test_the_text_listing_prints_rows_before_reading_them_all() -> None:
    out = _output.Out(False, io.StringIO(), io.StringIO())
    row = {
        "provider": "toy",
        "id": "j",
        "kind": "k",
        "status": "pending",
        "raw_status": "",
        "submitted_at": None,
        "expires_at": None,
        "expired": False,
        "error": None,
    }

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(_verbs._LIST_BLOCK + 5):
            yield {**row, "id": f"j{i}"}
        raise RuntimeError("the ledger is still being read")

    with pytest.raises(RuntimeError):
        _verbs._print_rows(rows(), out)
    printed = out.stdout.getvalue().splitlines()  # type: ignore[attr-defined]
    assert printed[0].split()[:2] == ["provider", "id"]
    assert len(printed) == _verbs._LIST_BLOCK + 1 + 5


def test_the_json_listing_is_one_document_written_row_by_row() -> None:
    out = _output.Out(True, io.StringIO(), io.StringIO())
    _verbs._print_rows(iter([{"id": "a"}, {"id": "b"}]), out)
    assert json.loads(out.stdout.getvalue()) == {"jobs": [{"id": "a"}, {"id": "b"}]}  # type: ignore[attr-defined]
    empty = _output.Out(True, io.StringIO(), io.StringIO())
    _verbs._print_rows(iter([]), empty)
    assert json.loads(empty.stdout.getvalue()) == {"jobs": []}  # type: ignore[attr-defined]


def test_jobs_lists_the_ledger_in_order(tmp_path: Path) -> None:
    with _fill(tmp_path / "l.sqlite3", 30) as ledger:
        jobs = asyncjobs.jobs(ledger=ledger)
        assert len(jobs) == 30
        assert [j.id for j in jobs][:3] == ["j00000", "j00001", "j00002"]
        assert jobs[-1].id == "j00029"
        assert [j.id for j in jobs[2:4]] == ["j00002", "j00003"]
        assert jobs[0].info is not None
        assert jobs[0].info.status is Status.PENDING
        assert len(asyncjobs.jobs(status="done", ledger=ledger)) == 0
