"""The Celery app of the tests: what the workers run (``celery -A celery_app worker``) and what the
tests send through (:func:`make_app`, the same configuration)."""

from __future__ import annotations

import os
from typing import Any

import asyncjobs_celery
from celery import Celery

import asyncjobs

#: Polls every few tens of milliseconds: the sandbox runs a minute in 0.6 s.
QUICK_POLL = asyncjobs.PollPolicy(initial=0.05, factor=1.5, cap=0.25, min_interval=0.02)
QUICK_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.01, cap=0.05, max_time=5)
#: A policy whose first poll comes after a minute (``ASYNCJOBS_CELERY_TEST_POLL=slow``).
SLOW_POLL = asyncjobs.PollPolicy(initial=60, factor=1.5, cap=120, min_interval=1)


def connect(name: str) -> asyncjobs.Client:
    """The workers' clients: settings from the environment (the sandbox's), quick polls."""
    slow = os.environ.get("ASYNCJOBS_CELERY_TEST_POLL") == "slow"
    return asyncjobs.connect(name, poll=SLOW_POLL if slow else QUICK_POLL, retry=QUICK_RETRY)


def make_app(broker: str, *, visibility_timeout: float = 3600.0, lease: float = 60.0) -> Celery:
    """The app, on ``broker`` (also its result backend), with the test tasks."""
    app = Celery("asyncjobs_celery_tests", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # look for abandoned messages every second (kombu's default is every 100 s)
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": visibility_timeout},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=True,
        task_default_queue="celery",
        result_expires=3600,
    )
    asyncjobs_celery.register(app, connect=connect, lease=lease)

    @app.task(name="tests.handle", shared=False)
    def handle(end: dict[str, Any]) -> dict[str, Any]:
        """A chain's next task: counts its calls per job (in Redis), says what it got."""
        app.backend.client.incr(f"tests:handled:{end['job_id']}")
        return {"job_id": end["job_id"], "files": [f["name"] for f in end["files"]]}

    @app.task(name="tests.collect", shared=False)
    def collect(ends: list[dict[str, Any]]) -> list[str]:
        """A chord's body: the job ids of its header's ends, in order."""
        app.backend.client.incr("tests:collected")
        return [end["job_id"] for end in ends]

    @app.task(name="tests.sleep", shared=False)
    def sleep(seconds: float) -> float:
        """Hold a worker slot ``seconds`` (what a slot-holding wait does)."""
        import time

        time.sleep(seconds)
        return seconds

    return app


if "ASYNCJOBS_CELERY_TEST_BROKER" in os.environ:  # a worker process
    app = make_app(
        os.environ["ASYNCJOBS_CELERY_TEST_BROKER"],
        visibility_timeout=float(os.environ.get("ASYNCJOBS_CELERY_TEST_VISIBILITY", "3600")),
        lease=float(os.environ.get("ASYNCJOBS_CELERY_TEST_LEASE", "60")),
    )
