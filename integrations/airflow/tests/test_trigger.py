"""The trigger: its serialized form, and what Airflow's triggerer does with it when the task is
killed (``TriggerRunner.run_trigger``, the triggerer's own coroutine for every trigger)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from airflow_support import run_dag
from asyncjobs_airflow.hooks import AsyncJobsHook
from asyncjobs_airflow.triggers import AsyncJobTrigger
from conftest import CANARY, CONN_ID, cancels

from asyncjobs import engines


def test_the_trigger_serializes_without_the_secret_and_round_trips(connection: str) -> None:
    from airflow.models.trigger import Trigger
    from airflow.sdk.module_loading import import_string

    state = engines.PollState(provider="convertapi", job_id="j1", kind="convert", since=1.0e9)
    trigger = AsyncJobTrigger("convertapi", "j1", "convert", state.to_dict(), CONN_ID, delay=0.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "asyncjobs_airflow.triggers.AsyncJobTrigger"
    assert kwargs["state"] == state.to_dict()
    assert (kwargs["provider"], kwargs["job_id"], kwargs["conn_id"]) == (
        "convertapi",
        "j1",
        CONN_ID,
    )
    assert CANARY not in json.dumps(kwargs)
    assert CANARY not in repr(trigger)
    # through the row Airflow keeps in its metadata database, and back
    row = Trigger.from_object(trigger)
    again = import_string(row.classpath)(**row.kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert engines.PollState.from_dict(again.state) == state


# -- killing a deferred task --------------------------------------------------------------------------


@pytest.fixture
def deferred_ti(connection: str, source: Path, sandbox: Any) -> Any:
    """A task instance of a real DAG run (its row in the metadata database)."""
    _, tis = run_dag("aj_files")
    return tis["convert"]


def set_state(ti: Any, state: str) -> None:
    """Set a task instance's state in the metadata database (as the UI's "mark failed" does)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == ti.id).values(state=state))


def pending_job(sandbox: Any) -> Any:
    """A long ConvertAPI job (10 minutes at the sandbox's scale: 30 s), and its trigger."""
    sandbox.app.duration = 600.0
    with AsyncJobsHook(CONN_ID).get_conn() as client:
        job = client.submit("convert", source=b"PK\x03\x04 long", from_="docx", to="pdf")
        turn = engines.start(job)
    return AsyncJobTrigger("convertapi", job.id, "convert", turn.state.to_dict(), CONN_ID)


def in_triggerer(
    trigger: AsyncJobTrigger,
    ti: Any,
    sandbox: Any,
    act: Callable[[Any, asyncio.Task[Any]], Awaitable[None]],
) -> None:
    """Run ``trigger`` as the triggerer runs it (``TriggerRunner.run_trigger``, with the supervisor
    comms a trigger asks Airflow through), wait for its first poll, then ``act`` on it."""
    import psutil
    import structlog
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.sdk.execution_time.supervisor import (
        InProcessSupervisorComms,
        InProcessTestSupervisor,
        set_supervisor_comms,
    )

    supervisor = InProcessTestSupervisor(
        id=ti.id,
        pid=os.getpid(),
        process=psutil.Process(),
        process_log=structlog.get_logger(logger_name="task").bind(),
        client=InProcessTestSupervisor._api_client(),
    )
    supervisor.comms = InProcessSupervisorComms(supervisor=supervisor)

    async def main() -> None:
        runner = TriggerRunner()
        trigger.trigger_id = 1
        trigger.task_instance = ti
        runner.triggers[1] = {"task": None, "name": "test", "events": 0, "is_watcher": False}  # type: ignore[typeddict-item]
        task = asyncio.create_task(runner.run_trigger(1, trigger))
        runner.triggers[1]["task"] = task
        end = time.monotonic() + 10
        while not any(m == "GET" and trigger.job_id in p for m, p in sandbox.app.requests):
            assert time.monotonic() < end, "the trigger never polled"
            await asyncio.sleep(0.02)
        await act(runner, task)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert runner.events == type(runner.events)()  # no event: the task was killed

    with set_supervisor_comms(supervisor.comms):
        asyncio.run(main())


async def user_kill(runner: Any, task: asyncio.Task[Any]) -> None:
    """What the triggerer does when the trigger's row is gone (a user acted on the task)."""
    runner.to_cancel.append(1)
    await runner.cancel_triggers()


def test_a_user_kill_of_a_deferred_task_cancels_the_remote_job(
    deferred_ti: Any, sandbox: Any
) -> None:
    trigger = pending_job(sandbox)
    set_state(deferred_ti, "failed")  # "mark failed" in the UI
    in_triggerer(trigger, deferred_ti, sandbox, user_kill)
    assert cancels(sandbox) == [f"/async/job/{trigger.job_id}"]


def test_a_trigger_moved_to_another_triggerer_leaves_the_job_running(
    deferred_ti: Any, sandbox: Any
) -> None:
    # Airflow 3.3.x cancels a trigger with the user-action message when a triggerer whose
    # heartbeat lapsed finds it handed to another (apache/airflow#73454): the task is still deferred
    trigger = pending_job(sandbox)
    set_state(deferred_ti, "deferred")
    in_triggerer(trigger, deferred_ti, sandbox, user_kill)
    assert cancels(sandbox) == []


def test_a_triggerer_shutting_down_leaves_the_job_running(deferred_ti: Any, sandbox: Any) -> None:
    async def shutdown(runner: Any, task: asyncio.Task[Any]) -> None:
        task.cancel()  # the triggerer's shutdown: no user-action message

    trigger = pending_job(sandbox)
    set_state(deferred_ti, "failed")
    in_triggerer(trigger, deferred_ti, sandbox, shutdown)
    assert cancels(sandbox) == []


def test_a_trigger_that_may_not_cancel_leaves_the_job_running(
    deferred_ti: Any, sandbox: Any
) -> None:
    trigger = pending_job(sandbox)
    trigger.cancel_on_kill = False  # the sensor's: the job is not the task's
    set_state(deferred_ti, "failed")
    in_triggerer(trigger, deferred_ti, sandbox, user_kill)
    assert cancels(sandbox) == []
