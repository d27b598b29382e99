"""Real Airflow (its own virtual environment) against the asyncjobs sandboxes on 127.0.0.1.

Airflow reads its configuration when it is first imported, so its home, its SQLite metadata
database and its DAGs folder (``tests/dags``) are set here, in a temporary folder, before any test
module imports it. Every test gets its own ``ASYNCJOBS_HOME`` (so its own ledger), and its own
ConvertAPI sandbox behind the connection ``convertapi_default``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
_HOME = Path(tempfile.mkdtemp(prefix="asyncjobs-airflow-tests-"))
#: where the DAG files find their input and put their output (tests/dags/*.py read it)
DATA = _HOME / "data"
DATA.mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "REPORTS_DATA": str(DATA),
        "ASYNCJOBS_PROGRESS": "0",
    }
)

#: the secret of every sandbox here: a canary that must never show in a log, an XCom or a trigger
CANARY = "canary-secret-7f1e2d3c4b5a"
#: the connection the test DAGs use
CONN_ID = "convertapi_default"
#: polls fast enough for a sandbox 20 times faster than life
FAST_POLL = {"initial": 0.05, "factor": 1.5, "cap": 0.2, "min_interval": 0.01}


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Iterator[None]:
    """Airflow's metadata database, made once for the session (and the temporary home removed)."""
    from airflow.utils import db

    db.initdb()
    yield
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def asyncjobs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger of the test's own: ``ASYNCJOBS_HOME`` in its temporary folder."""
    home = tmp_path / "asyncjobs"
    monkeypatch.setenv("ASYNCJOBS_HOME", str(home))
    return home


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """The ConvertAPI sandbox on 127.0.0.1, 20 times faster than life, with the canary secret."""
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox

    from asyncjobs.sandbox import Sandbox

    with Sandbox(ConvertAPISandbox(scale=20, secret=CANARY)) as box:
        yield box


def connection_json(url: str, *, secret: str = CANARY, **extra: Any) -> str:
    """An ``asyncjobs`` connection as Airflow reads it from ``AIRFLOW_CONN_<ID>``."""
    return json.dumps(
        {
            "conn_type": "asyncjobs",
            "host": url,
            "password": secret,
            "extra": {"provider": "convertapi", "poll": FAST_POLL, **extra},
        }
    )


@pytest.fixture
def connection(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection ``convertapi_default`` to the test's sandbox (its id)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sandbox.url))
    return CONN_ID


@pytest.fixture
def source() -> Path:
    """The document the DAGs convert (REPORTS_DATA/in/report.docx)."""
    path = DATA / "in" / "report.docx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 a small docx stand-in " * 40)
    return path


def submits(box: Any) -> list[str]:
    """The paths of the conversions the sandbox was asked for (one per submit)."""
    return [path for method, path in box.app.requests if method == "POST" and "/convert/" in path]


def cancels(box: Any) -> list[str]:
    """The paths of the cancels the sandbox received."""
    return [path for method, path in box.app.requests if method == "DELETE" and "/job/" in path]
