"""The asyncio API under attack: a cancelled wait whose poll is retrying, and a slow provider next to
a healthy one on the same event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_matrix import Recorder

from asyncjobs import RetryPolicy, aio
from asyncjobs.sandbox import serve_providers

#: A poll retried for long: 503s with a pause of 0.5 s between its tries.
PATIENT = RetryPolicy(max_tries=20, base=0.5, factor=1.0, cap=0.5, max_time=30)
QUICK_POLL = aio.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)


@pytest.fixture
def conversio() -> Iterator[Any]:
    """Conversio's sandbox at wall speed: exports stay pending for a minute."""
    (running,) = serve_providers(("conversio",), scale=1)
    try:
        yield running
    finally:
        running.stop()


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "the condition never held"
        await asyncio.sleep(0.01)


def _run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())  # type: ignore[arg-type]


def test_a_cancelled_wait_stops_the_retries_of_its_poll(
    conversio: Any, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "await job.wait() cancelled while its poll retries", "aio")
    app = conversio.box.app

    async def main() -> None:
        async with aio.connect(
            "conversio",
            ledger=tmp_path / "ledger.sqlite3",
            poll=QUICK_POLL,
            retry=PATIENT,
            **conversio.settings,
        ) as client:
            job = await client.submit("segments-export", segment="s1")
            path = f"/api/v1/async-jobs/{job.id}"
            app.faults.status(503, times=100, path=path)
            waiter = asyncio.create_task(job.wait(progress=False))
            await _until(lambda: app.requests.count(("GET", path)) >= 1)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            tries = app.requests.count(("GET", path))
            await asyncio.sleep(2.0)  # four of its pauses between tries
            assert app.requests.count(("GET", path)) == tries

    _run(main)
    cell.say("the poll's retries stop with the wait: no request after the cancel")


def test_a_slow_provider_does_not_starve_another_clients_calls(
    conversio: Any, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "a slow provider next to a healthy one on one event loop", "aio")
    app = conversio.box.app

    async def main() -> None:
        slow_settings = dict(conversio.settings)
        async with (
            aio.connect("conversio", ledger=False, poll=QUICK_POLL, **slow_settings) as slow,
            aio.connect("conversio", ledger=False, poll=QUICK_POLL, **conversio.settings) as ok,
        ):
            held = await slow.submit("segments-export", segment="s1")
            healthy = await ok.submit("segments-export", segment="s1")
            app.faults.delay(3.0, times=64, path=f"/api/v1/async-jobs/{held.id}")
            # the slow client's calls fill every worker it may have
            blocked = [asyncio.create_task(slow.status(held.id)) for _ in range(32)]
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await ok.status(healthy.id)
            took = time.monotonic() - started
            for task in blocked:
                task.cancel()
            await asyncio.gather(*blocked, return_exceptions=True)
            assert took < 1.0, f"a healthy client's status took {took:.1f} s"

    _run(main)
    cell.say("each client has its own workers: the healthy client's status answers at once")
