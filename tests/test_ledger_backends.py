"""Ledger backends are chosen by the target's URL scheme through the entry-point group
``asyncjobs.ledgers``: built-in ones, a third party's, and the errors of an unknown one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncjobs import _registry, errors
from asyncjobs._ledger import Ledger, _backends
from asyncjobs._ledger._postgres import PostgresStore
from asyncjobs._ledger._sqlite import SQLiteStore


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for installed-looking distributions; the backends are looked up
    afresh."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(_registry, "_scanned", None)
    monkeypatch.setattr(_backends, "_loaded", {})
    yield folder
    for name in [m for m in sys.modules if m.startswith("fakeledger")]:
        del sys.modules[name]


def _install(site: Path, entry: str, module: str | None = None) -> None:
    info = site / "fakeledger-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeledger\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[asyncjobs.ledgers]\n{entry}\n")
    if module is not None:
        (site / "fakeledger_mod.py").write_text(textwrap.dedent(module))


@pytest.mark.parametrize(
    ("target", "backend"),
    [
        ("ledger.sqlite3", "sqlite"),
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgres"),
        ("POSTGRESQL://u@h/db", "postgresql"),
    ],
)
def test_the_backend_is_chosen_by_the_scheme_and_a_plain_path_is_sqlite(
    target: str, backend: str
) -> None:
    assert _backends.backend_of(target) == (backend, target)


def test_postgres_is_an_alias_of_postgresql() -> None:
    assert _backends.store_class("postgres") is _backends.store_class("postgresql")
    assert _backends.store_class("postgresql") is PostgresStore
    assert _backends.store_class("sqlite") is SQLiteStore


def test_an_unknown_scheme_is_refused_naming_it_and_the_installed_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(errors.ConfigurationError) as caught:
        Ledger("mysql://user@host/db")
    assert "mysql://" in str(caught.value)
    assert "installed: postgres://, postgresql://" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_url_is_refused_saying_a_sqlite_ledger_is_a_path(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError, match="plain path"):
        Ledger(f"sqlite://{tmp_path}/l.db")


def test_a_sqlite_ledger_imports_no_other_backend(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom asyncjobs._ledger import Ledger\n"
        f"Ledger({str(tmp_path / 'l.db')!r}).close()\n"
        "print(sorted(m for m in sys.modules if 'psycopg' in m or m.endswith('_postgres')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_a_third_party_backend_is_used_for_its_scheme(site: Path, tmp_path: Path) -> None:
    _install(
        site,
        "memo = fakeledger_mod:MemoStore",
        f"""
        from asyncjobs._ledger._sqlite import SQLiteStore

        class MemoStore(SQLiteStore):
            def __init__(self, target, options):
                super().__init__({str(tmp_path)!r} + "/" + target[len("memo://"):], options)
        """,
    )
    assert "memo" in _backends.available_backends()
    with Ledger("memo://jobs.db") as ledger:
        ledger.begin("toy", "upper", {"text": "hi"}, "j1")
        assert type(ledger._store).__name__ == "MemoStore"
        assert [e.job_id for e in ledger.entries()] == ["j1"]
    assert (tmp_path / "jobs.db").exists()


def test_a_backend_that_fails_to_import_is_a_configuration_error_naming_it(site: Path) -> None:
    _install(site, "broken = fakeledger_mod:Store", "import no_such_module_xyz\n")
    with pytest.raises(errors.ConfigurationError, match=r"ledger backend 'broken'.*failed"):
        Ledger("broken://x")
