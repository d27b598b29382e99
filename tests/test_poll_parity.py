"""Every way of waiting follows the one poll core: the same scripted jobs, run through the drivers
(``Job.wait``, ``asyncjobs.wait``, ``Job.future``, aio's ``job.wait`` and ``aio.wait``, an engine's
steps through :mod:`asyncjobs.engines` -- sync and aio, the state carried as JSON between steps, a
new handle each step, as Celery and Airflow run them -- and the fleet's ``Worker``), reach the same end with the same error after the same polls -- but for what
the fleet declares (:data:`asyncjobs._poll.FLEET`: no limit on transient errors, three "not found"
strikes, an error of the job's own polled again later)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scripted_provider import RETRY_AFTER, SCRIPTS, Scripted

import asyncjobs
from asyncjobs import JobInfo, Status, _wake, aio, engines, errors
from asyncjobs._ledger import Ledger
from asyncjobs._registry import unregister
from asyncjobs._worker import Worker

#: (end, error type) per script for the caller's waits, and for the fleet where it differs.
WAITS = {
    "plain": ("done", None, 3),
    "blips": ("done", None, 11),
    "outage": ("error", "TransportError", 5),
    "gone": ("error", "JobNotFoundError", 1),
    "bug": ("error", "ValueError", 2),
    "failed": ("failed", None, 2),
    "slowdown": ("done", None, 2),
}
FLEET = {
    **WAITS,
    "outage": ("done", None, 7),
    "gone": ("failed", "not-found", 3),
    "bug": ("done", None, 3),
}


@pytest.fixture
def scripted(tmp_path: Any) -> Iterator[asyncjobs.Client]:
    asyncjobs.register("scripted", Scripted, replace=True)
    Scripted.polls.clear()
    with asyncjobs.connect("scripted", ledger=tmp_path / "ledger.sqlite3") as client:
        yield client
    unregister("scripted")


def _end_of(call: Callable[[], object]) -> tuple[str, str | None]:
    """How a wait ended: ("done" | "failed", None) or ("error", the error's type)."""
    try:
        value = call()
    except errors.JobFailedError:
        return ("failed", None)
    except Exception as exc:
        return ("error", type(exc).__name__)
    if isinstance(value, JobInfo):
        return (value.status.value, None)
    return ("done", None)


def _end_of_handle(job: Any) -> tuple[str, str | None]:
    if job.error is not None:
        return ("error", type(job.error).__name__)
    return (job.info.status.value, None)


def _many(job: asyncjobs.Job) -> tuple[str, str | None]:
    def wait() -> asyncjobs.Job:
        done, _ = asyncjobs.wait([job], timeout=10)
        assert done == {job}
        return job

    end = _end_of(wait)
    return end if end[0] == "error" else _end_of_handle(job)


def _aio_many(job: asyncjobs.Job) -> tuple[str, str | None]:
    async def wait() -> aio.AsyncJob:
        handle = aio.AsyncClient(job.client).job(job.id)
        handle.sync.info = job.info
        done, _ = await aio.wait([handle], timeout=10)
        assert len(done) == 1
        return handle

    try:
        handle = asyncio.run(wait())
    except Exception as exc:
        return ("error", type(exc).__name__)
    return _end_of_handle(handle)


def _aio_one(job: asyncjobs.Job) -> tuple[str, str | None]:
    async def wait() -> JobInfo:
        handle = aio.AsyncClient(job.client).job(job.id)
        handle.sync.info = job.info
        return await handle.wait(timeout=10)

    return _end_of(lambda: asyncio.run(wait()))


def _engine(job: asyncjobs.Job, *, from_loop: bool = False) -> tuple[str, str | None]:
    """An engine's wait: one step at a time, the state through JSON between steps and each step
    on a new handle (another task, another process), the sleeping the engine's."""

    def wait() -> JobInfo | None:
        turn = engines.start(job, timeout=10)
        while not turn.over:
            assert turn.delay is not None
            time.sleep(turn.delay)
            state = engines.PollState.from_dict(json.loads(json.dumps(turn.state.to_dict())))
            handle = job.client.job(job.id)
            if from_loop:
                turn = asyncio.run(engines.astep(aio.AsyncClient(job.client).job(job.id), state))
            else:
                turn = engines.step(handle, state)
        if turn.error is not None:
            raise turn.error
        return turn.info

    return _end_of(wait)


DRIVERS: dict[str, Callable[[asyncjobs.Job], tuple[str, str | None]]] = {
    "job.wait": lambda job: _end_of(lambda: job.wait(timeout=10, progress=False)),
    "asyncjobs.wait": _many,
    "job.future": lambda job: _end_of(lambda: job.future().result(timeout=10)),
    "aio job.wait": _aio_one,
    "aio.wait": _aio_many,
}
#: The drivers of engines that keep no loop in memory (news of an end reaches them through the
#: ledger only, when a webhook call is expected: tests/test_engines.py).
ENGINES: dict[str, Callable[[asyncjobs.Job], tuple[str, str | None]]] = {
    "engines.step": _engine,
    "engines.astep": lambda job: _engine(job, from_loop=True),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("driver", sorted({**DRIVERS, **ENGINES}))
def test_every_wait_reaches_the_same_end_after_the_same_polls(
    driver: str, script: str, scripted: asyncjobs.Client
) -> None:
    job = scripted.submit("run", script=script)
    end = {**DRIVERS, **ENGINES}[driver](job)
    expected_end, expected_error, polls = WAITS[script]
    assert end == (expected_end, expected_error)
    assert len(Scripted.polls[job.id]) == polls


@pytest.mark.parametrize("driver", sorted({**DRIVERS, **ENGINES}))
def test_every_wait_keeps_to_a_retry_after_the_service_gave(
    driver: str, scripted: asyncjobs.Client
) -> None:
    job = scripted.submit("run", script="slowdown")
    {**DRIVERS, **ENGINES}[driver](job)
    first, second = Scripted.polls[job.id]
    assert second - first >= RETRY_AFTER


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_wait_ends_on_news_of_the_end_and_polls_the_job_no_more(
    driver: str, scripted: asyncjobs.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCRIPTS, "forever", "P")
    job = scripted.submit("run", script="forever")
    end = JobInfo("scripted", job.id, "run", Status.DONE, raw_status="D")
    polls_at_news: list[int] = []

    def tell() -> None:  # another poll of this process, or a webhook's, saw it end
        polls_at_news.append(len(Scripted.polls[job.id]))
        _wake.report("scripted", job.id, end)

    threading.Timer(0.2, tell).start()
    assert DRIVERS[driver](job) == ("done", None)
    assert polls_at_news
    assert len(Scripted.polls[job.id]) <= polls_at_news[0] + 1  # one may have been out


@pytest.mark.slow
def test_the_fleet_reaches_the_ends_its_rules_declare(pg_url: str) -> None:
    asyncjobs.register("scripted", Scripted, replace=True)
    Scripted.polls.clear()
    ledger = Ledger(pg_url, lease_seconds=5)
    try:
        with asyncjobs.connect("scripted", ledger=pg_url) as client:
            ids = {script: client.submit("run", script=script).id for script in SCRIPTS}
        worker = Worker(ledger, ["scripted"], concurrency=4)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle": 0.05})
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                entries = [ledger.get("scripted", job_id) for job_id in ids.values()]
                if all(e is not None and e.info is not None and e.info.finished for e in entries):
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()
        for script, job_id in ids.items():
            entry = ledger.get("scripted", job_id)
            assert entry is not None
            assert entry.info is not None
            expected_end, expected_raw, polls = FLEET[script]
            assert entry.info.status.value == expected_end, script
            if expected_raw is not None:
                assert entry.info.raw_status == expected_raw
            assert len(Scripted.polls[job_id]) == polls, script
        first, second = Scripted.polls[ids["slowdown"]]
        assert second - first >= RETRY_AFTER
    finally:
        ledger.close()
        unregister("scripted")


# -- status callbacks: every way of waiting tells them alike ------------------------------------------


def _seen_by(job: Any, seen: list[tuple[str, str]]) -> None:
    job.add_status_callback(lambda j: seen.append((j.info.status.value, j.info.raw_status)))


def _told_by_done_callback(job: asyncjobs.Job, seen: list[tuple[str, str]]) -> None:
    ended = threading.Event()
    _seen_by(job, seen)
    job.add_done_callback(lambda _: ended.set())
    assert ended.wait(10)


def _told_by_as_completed(job: asyncjobs.Job, seen: list[tuple[str, str]]) -> None:
    _seen_by(job, seen)
    assert list(asyncjobs.as_completed([job], timeout=10)) == [job]


def _told_in_aio(job: asyncjobs.Job, seen: list[tuple[str, str]], *, many: bool) -> None:
    async def wait() -> None:
        handle = aio.AsyncClient(job.client).job(job.id)
        handle.sync.info = job.info
        _seen_by(handle, seen)
        if many:
            await aio.wait([handle], timeout=10)
        else:
            await handle.wait(timeout=10)

    asyncio.run(wait())


def _told_while(wait: Callable[[asyncjobs.Job], object]) -> Callable[..., None]:
    def drive(job: asyncjobs.Job, seen: list[tuple[str, str]]) -> None:
        _seen_by(job, seen)
        wait(job)

    return drive


STATUS_DRIVERS: dict[str, Callable[[asyncjobs.Job, list[tuple[str, str]]], None]] = {
    "job.wait": _told_while(lambda job: job.wait(timeout=10, progress=False)),
    "asyncjobs.wait": _told_while(lambda job: asyncjobs.wait([job], timeout=10)),
    "asyncjobs.as_completed": _told_by_as_completed,
    "job.future": _told_while(lambda job: job.future().exception(timeout=10)),
    "job.add_done_callback": _told_by_done_callback,
    "aio job.wait": lambda job, seen: _told_in_aio(job, seen, many=False),
    "aio.wait": lambda job, seen: _told_in_aio(job, seen, many=True),
}

#: What the status callbacks are told, per script: each look whose status or raw status differs
#: from the last one known (the submit said "pending"/"queued"; errors are no looks).
TOLD = {
    "plain": [("pending", "P"), ("done", "D")],
    "blips": [("pending", "P"), ("done", "D")],
    "failed": [("pending", "P"), ("failed", "F")],
    "slowdown": [("pending", "R"), ("done", "D")],
}


@pytest.mark.parametrize("script", sorted(TOLD))
@pytest.mark.parametrize("driver", sorted(STATUS_DRIVERS))
def test_every_wait_tells_status_callbacks_of_the_same_changes(
    driver: str, script: str, scripted: asyncjobs.Client
) -> None:
    job = scripted.submit("run", script=script)
    polls_before = len(Scripted.polls[job.id])
    seen: list[tuple[str, str]] = []
    STATUS_DRIVERS[driver](job, seen)
    assert seen == TOLD[script]
    assert len(Scripted.polls[job.id]) - polls_before == WAITS[script][2]  # no poll more for them


@pytest.mark.parametrize("driver", sorted(STATUS_DRIVERS))
def test_every_wait_tells_status_callbacks_of_an_end_that_news_brought(
    driver: str, scripted: asyncjobs.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCRIPTS, "forever", "P")
    job = scripted.submit("run", script="forever")
    end = JobInfo("scripted", job.id, "run", Status.DONE, raw_status="D")
    threading.Timer(0.2, lambda: _wake.report("scripted", job.id, end)).start()
    seen: list[tuple[str, str]] = []
    STATUS_DRIVERS[driver](job, seen)
    assert seen == [("pending", "P"), ("done", "D")]
