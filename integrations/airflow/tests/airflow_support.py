"""Running the DAGs of tests/dags with Airflow's own ``dag.test()``, and reading what they left."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from conftest import DATA

DAGS = Path(__file__).resolve().parent / "dags"


@cache
def _bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS)
    assert bag.import_errors == {}, bag.import_errors
    return bag


def run_dag(dag_id: str, **conf: Any) -> tuple[Any, dict[str, Any]]:
    """Run a DAG of tests/dags once with ``dag.test()`` (deferrals run inline); the DagRun, and its
    task instances by task id."""
    dag = _bag().get_dag(dag_id)
    assert dag is not None, dag_id
    run = dag.test(run_conf=conf or None)
    return run, {ti.task_id: ti for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    """The value a task of ``run`` pushed under ``key`` (``None`` when none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key=key)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def all_xcoms(run: Any) -> list[Any]:
    """Every XCom value of ``run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id)).all()
        return [XComModel.deserialize_value(r) for r in rows]


def failures(dag_id: str) -> list[dict[str, Any]]:
    """The exceptions the failed tries of ``dag_id`` raised (tests/dags record them), in order."""
    path = DATA / "failures.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line["dag_id"] == dag_id]
