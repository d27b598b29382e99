"""The operator through ``dag.test()``: Airflow runs the DAG in-process, the deferral included
(the trigger runs inline, as the triggerer would run it), against the ConvertAPI sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_support import failures, run_dag, xcom
from conftest import DATA, submits


@pytest.fixture(autouse=True)
def _fresh_outputs() -> None:
    """No output or recorded failure of an earlier test."""
    import shutil

    shutil.rmtree(DATA / "out", ignore_errors=True)
    (DATA / "failures.jsonl").unlink(missing_ok=True)


def test_the_deferrable_operator_returns_the_result_files(
    connection: str, source: Path, sandbox: Any
) -> None:
    run, tis = run_dag("aj_files")
    assert tis["convert"].state == "success"
    files = xcom(run, "convert")
    assert [f["name"] for f in files] == ["report.pdf"]
    assert files[0]["size"] > 0
    assert files[0]["media_type"] == "application/pdf"
    assert files[0]["url"].startswith(sandbox.url)
    assert len(submits(sandbox)) == 1
    assert xcom(run, "convert", "asyncjobs_job_id")  # pushed right after the submit


def test_the_docs_dag_saves_the_pdf_and_its_sensor_sees_the_job_done(
    connection: str, source: Path, sandbox: Any
) -> None:
    run, tis = run_dag("convert_reports")
    assert {t: ti.state for t, ti in tis.items()} == {"convert": "success", "follow": "success"}
    day = run.logical_date.strftime("%Y-%m-%d")
    saved = xcom(run, "convert")
    assert saved == [str(DATA / "out" / day / "report.pdf")]
    assert Path(saved[0]).read_bytes().startswith(b"%PDF")
    job_id = xcom(run, "convert", "asyncjobs_job_id")
    info = xcom(run, "follow")
    assert (info["provider"], info["id"], info["status"]) == ("convertapi", job_id, "done")
    assert len(submits(sandbox)) == 1


def test_the_operator_waits_in_the_worker_when_not_deferrable(
    connection: str, source: Path, sandbox: Any
) -> None:
    run, tis = run_dag("aj_in_worker")
    assert tis["convert"].state == "success"
    assert tis["convert"].next_method is None  # it never deferred
    assert [f["name"] for f in xcom(run, "convert")] == ["report.pdf"]


@pytest.mark.parametrize("dag_id", ["aj_failed", "aj_failed_in_worker"])
def test_a_failed_job_fails_the_task_with_the_typed_error(
    dag_id: str, connection: str, sandbox: Any
) -> None:
    (DATA / "in").mkdir(parents=True, exist_ok=True)
    (DATA / "in" / "corrupt.docx").write_bytes(b"PK\x03\x04 damaged")
    run, tis = run_dag(dag_id)
    assert tis["convert"].state == "failed"
    [failure] = failures(dag_id)
    job_id = xcom(run, "convert", "asyncjobs_job_id")
    assert failure["type"] == "JobFailedError"
    assert (failure["provider"], failure["job_id"]) == ("convertapi", job_id)
    assert "The file is damaged and cannot be converted" in failure["message"]
    assert job_id in failure["message"]
    assert "convertapi" in failure["message"]


def test_a_retry_resumes_the_job_its_first_try_submitted(
    connection: str, source: Path, sandbox: Any
) -> None:
    # the first try submits, defers, and its trigger's first poll is refused: the try fails
    sandbox.app.faults.status(401, times=1, path="/job/")
    run, tis = run_dag("aj_retry")
    [failure] = failures("aj_retry")
    assert (failure["try_number"], failure["type"]) == (1, "AuthenticationError")
    assert tis["convert"].state == "success"
    assert tis["convert"].try_number == 2
    # the second try resumed the same job: the service saw one submit
    assert len(submits(sandbox)) == 1
    assert failure["job_id"] == xcom(run, "convert", "asyncjobs_job_id")
    assert [f["name"] for f in xcom(run, "convert")] == ["report.pdf"]


def test_the_job_gets_the_task_params_rendered_and_not_the_dags(
    connection: str, sandbox: Any
) -> None:
    (DATA / "in").mkdir(parents=True, exist_ok=True)
    (DATA / "in" / "eu-report.docx").write_bytes(b"PK\x03\x04 eu")
    from airflow_support import _bag

    task = _bag().get_dag("aj_params").get_task("convert")
    assert task.job_params == {
        "source": str(DATA / "in" / "{{ params.region }}-report.docx"),
        "to": "pdf",
    }
    run, tis = run_dag("aj_params")
    assert tis["convert"].state == "success"
    assert [f["name"] for f in xcom(run, "convert")] == ["eu-report.pdf"]


def test_the_timeout_ends_the_wait_with_job_timeout_error(
    connection: str, source: Path, sandbox: Any
) -> None:
    sandbox.app.duration = 600.0  # 30 s of wall time at the sandbox's scale
    run, tis = run_dag("aj_timeout")
    assert tis["convert"].state == "failed"
    [failure] = failures("aj_timeout")
    assert failure["type"] == "JobTimeoutError"
    assert failure["job_id"] == xcom(run, "convert", "asyncjobs_job_id")
