"""The sensor, the connection type and its hook, the provider's registration, and the secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from airflow_support import all_xcoms, failures, run_dag, xcom
from asyncjobs_airflow.hooks import AsyncJobsHook
from asyncjobs_airflow.operators import AsyncJobOperator
from conftest import CANARY, CONN_ID, DATA, cancels, connection_json

import asyncjobs
from asyncjobs import errors


def submit(source: str = "report.docx") -> str:
    """A job submitted outside Airflow (through the connection's client); its id."""
    with AsyncJobsHook(CONN_ID).get_conn() as client:
        return client.submit("convert", source=b"PK\x03\x04 x", from_="docx", to="pdf").id


# -- the sensor -----------------------------------------------------------------------------------------


def test_the_poking_sensor_returns_the_info_of_a_job_submitted_elsewhere(
    connection: str, sandbox: Any
) -> None:
    job_id = submit()
    run, tis = run_dag("aj_poke", job_id=job_id)
    assert tis["follow"].state == "success"
    info = xcom(run, "follow")
    assert (info["id"], info["status"], info["provider"]) == (job_id, "done", "convertapi")


def test_the_deferrable_sensor_fails_with_the_jobs_error(connection: str, sandbox: Any) -> None:
    (DATA / "failures.jsonl").unlink(missing_ok=True)
    failing = DATA / "in" / "fail.docx"  # the sandbox fails a file named so
    failing.parent.mkdir(parents=True, exist_ok=True)
    failing.write_bytes(b"PK\x03\x04")
    with AsyncJobsHook(CONN_ID).get_conn() as client:
        job_id = client.submit("convert", source=failing, to="pdf").id
    _, tis = run_dag("aj_follow_failed", job_id=job_id)
    assert tis["follow"].state == "failed"
    [failure] = failures("aj_follow_failed")
    assert (failure["type"], failure["job_id"]) == ("JobFailedError", job_id)
    assert cancels(sandbox) == []  # a sensor never cancels: the job is not its own


# -- on_kill in the worker --------------------------------------------------------------------------------


def test_on_kill_cancels_the_job_the_task_waits_for_in_the_worker(
    connection: str, sandbox: Any
) -> None:
    sandbox.app.duration = 600.0
    task = AsyncJobOperator(
        task_id="convert",
        provider="convertapi",
        kind="convert",
        asyncjobs_conn_id=CONN_ID,
        deferrable=False,
    )
    task.job_id = submit()  # what execute() sets right after its submit
    task.on_kill()
    assert cancels(sandbox) == [f"/async/job/{task.job_id}"]


def test_on_kill_logs_a_provider_that_cannot_cancel(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

    from asyncjobs.sandbox import Sandbox

    with Sandbox(GroupDocsSandbox(scale=20)) as box:
        settings = box.app.client_settings(box.url)
        conn = {
            "conn_type": "asyncjobs",
            "password": settings.pop("client_secret"),  # the password fills client_secret
            "extra": {"provider": "groupdocs", **settings},
        }
        monkeypatch.setenv("AIRFLOW_CONN_GROUPDOCS_DEFAULT", json.dumps(conn))
        task = AsyncJobOperator(
            task_id="convert",
            provider="groupdocs",
            kind="convert",
            asyncjobs_conn_id="groupdocs_default",
        )
        task.job_id = "a-job"
        with caplog.at_level(logging.WARNING):
            task.on_kill()  # no exception
    logged = "".join(capfd.readouterr()) + caplog.text
    assert "groupdocs job a-job goes on" in logged
    assert box.app.requests == [] or all(m != "DELETE" for m, _ in box.app.requests)


# -- the connection ------------------------------------------------------------------------------------------


def test_the_connection_fills_the_providers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "asyncjobs",
        "host": "sandbox.example.test:8443",
        "port": 8443,
        "password": CANARY,
        "extra": {"provider": "groupdocs", "client_id": "id-1", "budget": "5/s", "timeout": 7},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GD", json.dumps(conn))
    provider, kwargs = AsyncJobsHook("gd").connect_arguments()
    assert provider == "groupdocs"
    assert kwargs == {
        "client_id": "id-1",
        "client_secret": CANARY,  # the provider's secret setting, found from its class
        "base_url": "https://sandbox.example.test:8443",
        "budget": "5/s",
        "timeout": 7,
    }
    assert CANARY not in repr(AsyncJobsHook("gd"))


def test_a_connection_of_another_provider_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CA", connection_json("http://127.0.0.1:9"))
    with pytest.raises(
        errors.ConfigurationError, match="is for provider 'convertapi', not 'zamzar'"
    ) as caught:
        AsyncJobsHook("ca", provider="zamzar").connect_arguments()
    assert CANARY not in str(caught.value)


def test_without_a_connection_the_settings_come_from_the_environment(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVERTAPI_SECRET", CANARY)
    monkeypatch.setenv("CONVERTAPI_BASE_URL", sandbox.url)
    with AsyncJobsHook(provider="convertapi").get_conn() as client:
        job = client.submit("convert", source=b"PK", from_="docx", to="pdf")
        assert client.status(job.id).provider == "convertapi"
    with pytest.raises(errors.ConfigurationError, match="no asyncjobs provider named"):
        AsyncJobsHook().connect_arguments()


def test_the_connection_type_is_registered_through_the_provider_entry_point() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import Connection

    manager = ProvidersManager()
    assert manager.providers["asyncjobs-airflow"].data["package-name"] == "asyncjobs-airflow"
    assert manager.hooks["asyncjobs"].hook_class_name == "asyncjobs_airflow.hooks.AsyncJobsHook"
    assert "asyncjobs" in manager.field_behaviours
    hook = Connection(conn_id="x", conn_type="asyncjobs").get_hook()
    assert isinstance(hook, AsyncJobsHook)


# -- the secret ------------------------------------------------------------------------------------------------


def test_the_secret_shows_in_no_log_xcom_trigger_or_ledger(
    connection: str,
    source: Path,
    sandbox: Any,
    asyncjobs_home: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with caplog.at_level(logging.DEBUG):
        run, tis = run_dag("aj_files")
    assert tis["convert"].state == "success"  # the secret was used: the sandbox took it
    out, err = capfd.readouterr()
    assert CANARY not in out + err + caplog.text
    assert "asyncjobs_job_id" in out + err + caplog.text or out + err  # the logs were captured
    assert CANARY not in json.dumps(all_xcoms(run))
    with create_session() as session:
        rows = session.scalars(select(Trigger)).all()
        assert rows  # the deferral's rows
        for row in rows:
            assert CANARY not in row.encrypted_kwargs + json.dumps(row.kwargs, default=str)
        assert CANARY not in json.dumps(tis["convert"].next_kwargs or {}, default=str)
    for path in asyncjobs_home.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert asyncjobs.available_providers()
