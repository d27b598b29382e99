"""Convert a report to PDF with ConvertAPI: the task submits the job and defers, the triggerer
waits for it, and the PDF is saved in a folder of the run's date; then a sensor waits for a job
by its id (here the operator's, from XCom; in practice, one another system submitted)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG
from asyncjobs_airflow.operators import AsyncJobOperator
from asyncjobs_airflow.sensors import AsyncJobSensor

DATA = Path(os.environ.get("REPORTS_DATA", "/srv/reports"))

with DAG(
    dag_id="convert_reports",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
):
    convert = AsyncJobOperator(
        task_id="convert",
        provider="convertapi",
        kind="convert",
        params={"source": str(DATA / "in" / "report.docx"), "to": "pdf"},
        asyncjobs_conn_id="convertapi_default",  # extra {"provider": "convertapi"}, the secret
        save_to=str(DATA / "out" / "{{ ds }}"),  # the task returns the saved paths
        timeout=timedelta(hours=1),
    )
    follow = AsyncJobSensor(
        task_id="follow",
        provider="convertapi",
        job_id="{{ ti.xcom_pull(task_ids='convert', key='asyncjobs_job_id') }}",
        asyncjobs_conn_id="convertapi_default",
    )
    convert >> follow
