"""Every way of waiting follows the one poll core: the same scripted jobs, run through the six
drivers (``Job.wait``, ``asyncjobs.wait``, ``Job.future``, aio's ``job.wait`` and ``aio.wait``, and
the fleet's ``Worker``), reach the same end with the same error after the same polls -- but for what
the fleet declares (:data:`asyncjobs._poll.FLEET`: no limit on transient errors, three "not found"
strikes, an error of the job's own polled again later)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import pytest

import asyncjobs
from asyncjobs import (
    Capabilities,
    JobInfo,
    Kind,
    Param,
    PollPolicy,
    Provider,
    Result,
    Status,
    _wake,
    aio,
    errors,
)
from asyncjobs._ledger import Ledger
from asyncjobs._registry import unregister
from asyncjobs._worker import Worker

#: One letter a poll: P pending, R pending with a retry_after of RETRY_AFTER seconds, D done,
#: F failed, T a transient error, N not found, X a bug (not an asyncjobs error). The last repeats.
SCRIPTS = {
    "plain": "PPD",
    "blips": "TPTPTPTPTPD",  # transient errors, never two in a row: a good look resets the count
    "outage": "TTTTTTD",  # more in a row than a wait allows
    "gone": "N",
    "bug": "PXD",
    "failed": "PF",
    "slowdown": "RD",
}
RETRY_AFTER = 0.3

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


class Scripted(Provider):
    """Answers each job's polls from its script (the job id names it) and records when."""

    name = "scripted"
    kinds = (Kind("run", (Param("script", required=True),)),)
    capabilities = Capabilities(
        poll=PollPolicy(initial=0.01, factor=1.0, cap=0.5, min_interval=0.0, fraction=10)
    )
    settings = ()

    polls: ClassVar[dict[str, list[float]]] = defaultdict(list)
    _ids = itertools.count(1)

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        new_id = f"{params['script']}-{next(self._ids)}"
        return JobInfo(self.name, new_id, kind, Status.PENDING, raw_status="queued")

    def status(self, job_id: str) -> JobInfo:
        seen = self.polls[job_id]
        seen.append(time.monotonic())
        script = SCRIPTS[job_id.split("-")[0]]
        step = script[min(len(seen), len(script)) - 1]
        if step == "T":
            raise errors.TransportError("blip", provider=self.name, job_id=job_id)
        if step == "N":
            raise errors.JobNotFoundError("gone", provider=self.name, job_id=job_id, code=404)
        if step == "X":
            raise ValueError("a bug in the plugin")
        status = {"D": Status.DONE, "F": Status.FAILED}.get(step, Status.PENDING)
        meta = {"retry_after": RETRY_AFTER} if step == "R" else {}
        return JobInfo(self.name, job_id, "run", status, raw_status=step, meta=meta)

    def result(self, job_id: str) -> Result:
        return Result(files=())


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


DRIVERS: dict[str, Callable[[asyncjobs.Job], tuple[str, str | None]]] = {
    "job.wait": lambda job: _end_of(lambda: job.wait(timeout=10, progress=False)),
    "asyncjobs.wait": _many,
    "job.future": lambda job: _end_of(lambda: job.future().result(timeout=10)),
    "aio job.wait": _aio_one,
    "aio.wait": _aio_many,
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_wait_reaches_the_same_end_after_the_same_polls(
    driver: str, script: str, scripted: asyncjobs.Client
) -> None:
    job = scripted.submit("run", script=script)
    end = DRIVERS[driver](job)
    expected_end, expected_error, polls = WAITS[script]
    assert end == (expected_end, expected_error)
    assert len(Scripted.polls[job.id]) == polls


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_wait_keeps_to_a_retry_after_the_service_gave(
    driver: str, scripted: asyncjobs.Client
) -> None:
    job = scripted.submit("run", script="slowdown")
    DRIVERS[driver](job)
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
