"""The SQLite backend's own behaviour: its file (WAL, where it is, what it refuses and leaves alone)
and that no secret reaches it. What every backend does is in test_ledger.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from toy_provider import ToyProvider, ToySandbox

import asyncjobs
from asyncjobs import errors
from asyncjobs._ledger import Ledger
from asyncjobs.sandbox import Sandbox

QUICK = asyncjobs.RetryPolicy(max_tries=3, base=0.01, cap=0.05, max_time=5)


# -- the file -----------------------------------------------------------------------------------------


def test_ledger_uses_wal_mode(tmp_path: Path) -> None:
    Ledger(tmp_path / "l.db").close()
    db = sqlite3.connect(tmp_path / "l.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_ledger_is_in_asyncjobs_home(asyncjobs_home: Path) -> None:
    with Ledger.default() as ledger:
        assert ledger.path == asyncjobs_home / "ledger.sqlite3"
    assert ledger.path.exists()


def test_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(errors.ConfigurationError, match="not an asyncjobs ledger"):
        Ledger(path)
    assert path.read_bytes() == b"these are my notes, not a database\n" * 200


def test_database_of_another_application_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE recipes (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(errors.ConfigurationError, match="other tables"):
        Ledger(path)
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("recipes",)]


def test_ledger_folder_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(errors.ConfigurationError, match="cannot create the ledger"):
        Ledger(tmp_path / "file" / "ledger.sqlite3")


# -- no secrets -----------------------------------------------------------------------------------------


def test_no_secret_reaches_the_ledger_files(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "canary.db"
    ledger = Ledger(path)
    canary = ToySandbox.key  # the toy sandbox's distinctive key
    with asyncjobs.connect(
        "toy", ledger=ledger, retry=QUICK, **toy_sandbox.app.client_settings(toy_sandbox.url)
    ) as client:
        ok = client.submit("upper", text="hello", duration=0.05)
        bad = client.submit("upper", text="please fail", duration=0.05)
        ok.wait(timeout=10)
        bad.wait(timeout=10)
        with pytest.raises(errors.JobFailedError):
            bad.result(timeout=10)
        list(client.list())
    wrong = "wrong-key-canary-9876543210"
    with asyncjobs.connect(
        "toy", ledger=ledger, retry=QUICK, key=wrong, base_url=toy_sandbox.url
    ) as client:
        with pytest.raises(errors.AuthenticationError):
            client.submit("upper", text="x")
        with pytest.raises(errors.AuthenticationError):
            client.status(ok.id)
    assert len(ledger.entries()) == 3
    files = [p for p in tmp_path.iterdir() if p.name.startswith("canary.db")]
    assert {p.name for p in files} >= {"canary.db", "canary.db-wal"}
    for p in files:
        raw = p.read_bytes()
        for secret in (canary, wrong):
            assert secret.encode() not in raw, p.name
    ledger.close()
    assert canary.encode() not in path.read_bytes()
