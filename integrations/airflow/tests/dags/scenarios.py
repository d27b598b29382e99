"""The DAGs of the tests: one behaviour each, all on the connection ``convertapi_default`` (a
sandbox per test) and the files under ``REPORTS_DATA``."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG
from asyncjobs_airflow.operators import AsyncJobOperator
from asyncjobs_airflow.sensors import AsyncJobSensor

DATA = Path(os.environ.get("REPORTS_DATA", "/srv/reports"))
CONN = "convertapi_default"
START = datetime(2026, 1, 1)


def record_failure(context: Any) -> None:
    """Each failed try's exception, as the task saw it, one JSON line in REPORTS_DATA/failures."""
    exc = context["exception"]
    ti = context["ti"]
    line = {
        "dag_id": ti.dag_id,
        "try_number": ti.try_number,
        "type": type(exc).__name__,
        "message": str(exc),
        "provider": getattr(exc, "provider", None),
        "job_id": getattr(exc, "job_id", None),
    }
    with (DATA / "failures.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def convert(task_id: str, source: str, **kwargs: object) -> AsyncJobOperator:
    return AsyncJobOperator(
        task_id=task_id,
        provider="convertapi",
        kind="convert",
        params={"source": str(DATA / "in" / source), "to": "pdf"},
        asyncjobs_conn_id=CONN,
        on_failure_callback=record_failure,
        on_retry_callback=record_failure,
        **kwargs,  # type: ignore[arg-type]
    )


with DAG(dag_id="aj_files", schedule=None, start_date=START, catchup=False):
    convert("convert", "report.docx")

with DAG(dag_id="aj_in_worker", schedule=None, start_date=START, catchup=False):
    convert("convert", "report.docx", deferrable=False)

with DAG(dag_id="aj_failed", schedule=None, start_date=START, catchup=False):
    convert("convert", "corrupt.docx")

with DAG(dag_id="aj_failed_in_worker", schedule=None, start_date=START, catchup=False):
    convert("convert", "corrupt.docx", deferrable=False)

with DAG(
    dag_id="aj_retry",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(0)},
):
    convert("convert", "report.docx")

with DAG(
    dag_id="aj_params", schedule=None, start_date=START, catchup=False, params={"region": "eu"}
):
    convert("convert", "{{ params.region }}-report.docx")

with DAG(dag_id="aj_timeout", schedule=None, start_date=START, catchup=False):
    convert("convert", "report.docx", timeout=0.3)

with DAG(dag_id="aj_poke", schedule=None, start_date=START, catchup=False):
    AsyncJobSensor(
        task_id="follow",
        provider="convertapi",
        job_id="{{ dag_run.conf['job_id'] }}",
        asyncjobs_conn_id=CONN,
        deferrable=False,
        poke_interval=0.05,
        on_failure_callback=record_failure,
    )

with DAG(dag_id="aj_follow_failed", schedule=None, start_date=START, catchup=False):
    AsyncJobSensor(
        task_id="follow",
        provider="convertapi",
        job_id="{{ dag_run.conf['job_id'] }}",
        asyncjobs_conn_id=CONN,
        on_failure_callback=record_failure,
    )
