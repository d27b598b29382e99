"""The parts, without workers: claims on a real Redis and on SQLite, the countdown's bound, the
tasks' options, the signature, the eager mode, and errors through Celery's own JSON result form."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncjobs_celery
import pytest
from asyncjobs_celery import Claim, Claims, RedisClaims, SQLiteClaims, job
from asyncjobs_celery._tasks import default_claims, visibility_timeout
from asyncjobs_celery.claims import ENDED
from celery import Celery
from celery_support import CANARY, SCALE, CountingConversio, RedisServer
from kombu.utils.json import dumps, loads

import asyncjobs
from asyncjobs import JobInfo, Status, errors
from asyncjobs.sandbox import Sandbox

DAY = 86400.0


@pytest.fixture(params=["redis", "sqlite"])
def claims(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Claims]:
    if request.param == "sqlite":
        yield SQLiteClaims(tmp_path / "claims.sqlite3")
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    import redis

    client = redis.Redis(port=server.port, db=server.new_db())
    yield RedisClaims(client)
    client.close()


def test_a_step_is_taken_once_and_its_copies_are_told_apart(claims: Claims) -> None:
    assert claims.claim("t1", 0, 5, DAY) == (Claim.TAKEN, 0.0)
    found, left = claims.claim("t1", 0, 5, DAY)  # a copy while the step runs
    assert found is Claim.BUSY
    assert 0 < left <= 5
    claims.done("t1", 0, DAY)
    assert claims.claim("t1", 0, 5, DAY)[0] is Claim.DUPLICATE  # a copy after it ran
    assert claims.claim("t1", 1, 5, DAY)[0] is Claim.TAKEN  # the next step
    assert claims.claim("t1", 0, 5, DAY)[0] is Claim.DUPLICATE
    assert claims.claim("t2", 0, 5, DAY)[0] is Claim.TAKEN  # another wait


def test_a_step_whose_holder_died_is_taken_over_when_its_lease_ends(claims: Claims) -> None:
    assert claims.claim("t", 3, 0.05, DAY)[0] is Claim.TAKEN
    time.sleep(0.1)
    assert claims.claim("t", 3, 5, DAY)[0] is Claim.TAKEN


def test_a_step_handed_back_to_the_broker_may_run_again_at_once(claims: Claims) -> None:
    assert claims.claim("t", 2, 60, DAY)[0] is Claim.TAKEN
    claims.release("t", 2)
    assert claims.claim("t", 2, 60, DAY)[0] is Claim.TAKEN


def test_a_copy_of_an_earlier_step_is_a_duplicate_once_a_later_one_runs(claims: Claims) -> None:
    """The later step's message exists only because the earlier one handed the wait on (its
    holder may have died before marking it done)."""
    assert claims.claim("t", 4, 60, DAY)[0] is Claim.TAKEN
    assert claims.claim("t", 5, 60, DAY)[0] is Claim.TAKEN
    assert claims.claim("t", 4, 60, DAY)[0] is Claim.DUPLICATE


def test_once_the_wait_ended_every_copy_is_a_duplicate(claims: Claims) -> None:
    assert claims.claim("t", 7, 60, DAY)[0] is Claim.TAKEN
    claims.done("t", ENDED, DAY)
    for step in (0, 7, 8, 1000):
        assert claims.claim("t", step, 60, DAY)[0] is Claim.DUPLICATE


def test_the_visibility_timeout_is_the_apps_or_the_transports_default() -> None:
    def app(broker: str, **options: Any) -> Celery:
        made = Celery(broker=broker, set_as_current=False)
        made.conf.broker_transport_options = options
        return made

    assert visibility_timeout(app("redis://h:1/0", visibility_timeout=10)) == 10
    assert visibility_timeout(app("redis://h:1/0")) == 3600
    assert visibility_timeout(app("sqs://")) == 3600
    assert visibility_timeout(app("amqp://guest@h//")) == 1800  # RabbitMQ's consumer_timeout


def test_the_tasks_are_late_acknowledged_and_handed_back_when_a_worker_is_lost() -> None:
    app = Celery(broker="redis://127.0.0.1:1/0", set_as_current=False)
    tasks = asyncjobs_celery.register(app)
    for task, name in ((tasks.job, "job"), (tasks.submit, "submit"), (tasks.wait, "wait")):
        assert task.name == f"asyncjobs.{name}"
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.max_retries is None
        assert app.tasks[task.name] is task
    again = asyncjobs_celery.register(app, lease=5)
    assert again.job is tasks.job
    assert tasks.job.asyncjobs.lease == 5  # registered once, settings replaced


@pytest.mark.parametrize("lease", [0, -1, float("nan"), "60", True])
def test_a_lease_that_is_not_a_positive_number_is_refused(lease: Any) -> None:
    app = Celery(set_as_current=False)
    with pytest.raises(errors.InvalidParameterError) as caught:
        asyncjobs_celery.register(app, lease=lease)
    assert caught.value.parameter == "lease"


def test_the_signature_carries_the_job_as_json_and_takes_no_parent_result() -> None:
    sig = job("convertapi", "convert", source="https://x.test/a.docx", to="pdf", wait_timeout=600)
    assert sig.task == "asyncjobs.job"
    assert sig.args == ("convertapi", "convert", {"source": "https://x.test/a.docx", "to": "pdf"})
    assert sig.kwargs == {"wait_timeout": 600}
    assert sig.immutable
    assert loads(dumps(dict(sig)))["args"][2]["to"] == "pdf"
    plain = job("conversio", "segments-export", segment="s1")
    assert plain.kwargs == {}


def test_without_redis_the_claims_store_must_be_given_and_no_url_is_told() -> None:
    app = Celery(
        broker="amqp://user:pw-Zq9-hidden@rabbit.test//",
        backend="cache+memory://",
        set_as_current=False,
    )
    with pytest.raises(errors.ConfigurationError) as caught:
        default_claims(app)
    assert "claims=" in str(caught.value)
    assert "pw-Zq9-hidden" not in str(caught.value)


def test_the_default_claims_store_is_the_redis_result_backend() -> None:
    app = Celery(broker="memory://", backend="redis://127.0.0.1:1/3", set_as_current=False)
    found = default_claims(app)
    assert isinstance(found, RedisClaims)
    assert found.client is app.backend.client


@pytest.fixture
def eager(tmp_path: Path) -> Iterator[tuple[Celery, CountingConversio]]:
    """An app whose tasks run where they are called (task_always_eager), on the sandbox."""
    sandbox = CountingConversio(scale=SCALE, keys={CANARY: "shop-1"})
    with Sandbox(sandbox) as box:

        def connect(name: str) -> asyncjobs.Client:
            return asyncjobs.connect(
                name,
                ledger=tmp_path / "ledger.sqlite3",
                poll=asyncjobs.PollPolicy(initial=0.05, factor=1.5, cap=0.2, min_interval=0.02),
                **sandbox.client_settings(box.url),
            )

        app = Celery(set_as_current=False)
        app.conf.task_always_eager = True
        app.set_current()  # what job()'s signature is sent through
        tasks = asyncjobs_celery.register(app, connect=connect)
        yield app, sandbox
        tasks.job.asyncjobs.close()


def test_an_eager_app_waits_in_place(eager: tuple[Celery, CountingConversio]) -> None:
    _, sandbox = eager
    end = job("conversio", "segments-export", segment="s1").delay().get()
    assert end["info"]["status"] == "done"
    assert sandbox.submits() == 1


def test_an_eager_job_that_fails_raises_its_error(eager: tuple[Celery, CountingConversio]) -> None:
    with pytest.raises(errors.JobFailedError):
        job("conversio", "segments-export", segment="s-fail").delay().get()


INFO = JobInfo(
    provider="conversio",
    id="57b5aa3b046abfb053d80001",
    kind="segments-export",
    status=Status.FAILED,
    raw_status="failed",
    error="Export of s-fail failed on purpose",
    submitted_at=datetime(2025, 1, 2, tzinfo=timezone.utc),
)


@pytest.mark.parametrize(
    "error",
    [
        errors.JobFailedError(INFO),
        errors.JobTimeoutError("late", provider="conversio", job_id="j", info=INFO),
        errors.TransportError("unknown outcome", provider="conversio", job_id="j"),
        errors.RateLimitedError("slow", retry_after=3.0, provider="conversio", status_code=429),
        errors.InvalidParameterError("bad", parameter="segment", provider="conversio"),
        errors.RoutingError(
            "nobody", attempts=[("conversio", errors.AuthenticationError("key", status_code=401))]
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_error_comes_back_whole_through_celerys_json_result_form(
    error: errors.AsyncJobsError,
) -> None:
    app = Celery(broker="memory://", backend="redis://127.0.0.1:1/0", set_as_current=False)
    backend = app.backend
    assert backend.serializer == "json"
    stored = json.loads(backend.encode(backend.prepare_exception(error)))
    back = backend.exception_to_python(stored)
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back).keys() == vars(error).keys()
    assert (back.provider, back.job_id) == (error.provider, error.job_id)
    if isinstance(error, errors.JobFailedError):
        assert back.info == INFO
