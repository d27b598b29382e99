"""``job.add_status_callback(fn)``: told of each status change seen, by whatever polls the job, in
the sync and the asyncio API (what every way of waiting tells alike: tests/test_poll_parity.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from scripted_provider import Scripted

import asyncjobs
from asyncjobs import aio, errors
from asyncjobs._registry import unregister


@pytest.fixture
def scripted(tmp_path: Any) -> Iterator[asyncjobs.Client]:
    asyncjobs.register("scripted", Scripted, replace=True)
    Scripted.polls.clear()
    with asyncjobs.connect("scripted", ledger=tmp_path / "ledger.sqlite3") as client:
        yield client
    unregister("scripted")


def _raw(job: asyncjobs.Job | aio.AsyncJob) -> str:
    assert job.info is not None
    return str(job.info.raw_status)


def test_a_callback_alone_polls_nothing(scripted: asyncjobs.Client) -> None:
    job = scripted.submit("run", script="plain")
    job.add_status_callback(lambda j: None)
    assert Scripted.polls[job.id] == []


def test_a_look_of_ones_own_is_seen_too(scripted: asyncjobs.Client) -> None:
    job = scripted.submit("run", script="plain")
    seen: list[str] = []
    job.add_status_callback(lambda j: seen.append(_raw(j)))
    job.status()
    job.status()  # P again: no change
    job.status()
    assert seen == ["P", "D"]


def test_a_callback_that_raises_is_logged_and_the_next_one_still_called(
    scripted: asyncjobs.Client, caplog: pytest.LogCaptureFixture
) -> None:
    job = scripted.submit("run", script="plain")
    seen: list[str] = []

    def broken(j: asyncjobs.Job) -> None:
        raise RuntimeError("a bug in the callback")

    job.add_status_callback(broken)
    job.add_status_callback(lambda j: seen.append(_raw(j)))
    with caplog.at_level(logging.ERROR, logger="asyncjobs.waiting"):
        assert job.wait(timeout=10, progress=False).status is asyncjobs.Status.DONE
    assert seen == ["P", "D"]
    assert "a status callback of job" in caplog.text
    assert "a bug in the callback" in caplog.text


def test_a_callback_must_be_callable(scripted: asyncjobs.Client) -> None:
    job = scripted.submit("run", script="plain")
    with pytest.raises(errors.InvalidParameterError):
        job.add_status_callback("print")  # type: ignore[arg-type]


def test_an_async_callback_runs_on_the_loop_it_was_added_from(scripted: asyncjobs.Client) -> None:
    async def main() -> list[tuple[str, bool]]:
        told: list[tuple[str, bool]] = []
        loop = asyncio.get_running_loop()

        async def fn(job: aio.AsyncJob) -> None:
            await asyncio.sleep(0)
            told.append((_raw(job), asyncio.get_running_loop() is loop))

        async with aio.connect("scripted", ledger=False) as client:
            job = await client.submit("run", script="failed")
            job.add_status_callback(fn)
            with pytest.raises(errors.JobFailedError):
                await job
            await asyncio.sleep(0.05)  # the callbacks' tasks end
        return told

    assert asyncio.run(main()) == [("P", True), ("F", True)]
