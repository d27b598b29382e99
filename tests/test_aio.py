"""The asyncio API (``asyncjobs.aio``) over real loopback HTTP against the three sandboxes, and the sync
side's ``Job.future()`` / ``Job.add_done_callback()``.

Each test runs its coroutine with ``asyncio.run``: a fresh event loop, so a fresh worker pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import io
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from aio_support import AIO_POLL, AIO_RETRY, LoopIO, ThreadStarts

import asyncjobs
from asyncjobs import _aio, _registry, _wake, aio
from asyncjobs._models import Status
from asyncjobs._results import Result
from asyncjobs.errors import (
    ConfigurationError,
    InvalidParameterError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    NotSupportedError,
    UnknownProviderError,
)

T = TypeVar("T")

#: A job that succeeds and one that the service runs and fails, per provider.
SUCCESS: dict[str, tuple[str, dict[str, Any]]] = {
    "convertapi": ("convert", {"source": b"hello world", "from_": "txt", "to": "pdf"}),
    "groupdocs": ("convert", {"source": b"hello world", "from_": "docx", "to": "pdf"}),
    "conversio": ("newsletter-recipients", {"newsletter": "n1"}),
}


def failure(provider: str) -> tuple[str, dict[str, Any]]:
    """A job that the provider's sandbox runs and then fails (fresh parameters)."""
    if provider == "convertapi":  # the sandbox fails documents named as damaged
        named = io.BytesIO(b"not really a docx")
        named.name = "corrupt-report.docx"
        return "convert", {"source": named, "to": "pdf"}
    if provider == "groupdocs":
        return "convert", {"source": b"corrupt data", "from_": "docx", "to": "pdf"}
    return "segments-export", {"segment": "s-fail"}


#: An export: a minute of sandbox time (60 ms in the x1000 sandboxes; pending on ``slow_conversio``).
LONG: tuple[str, dict[str, Any]] = ("segments-export", {"segment": "s1"})


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` in a fresh event loop."""

    async def go() -> T:
        return await main()

    return asyncio.run(go())


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition()`` holds (a safety bound of 30 s, not a timing check)."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def requests_to(app: Any) -> int:
    return len(app.requests)


# -- the lifecycle, on every provider ----------------------------------------------------------------


def test_submit_wait_result_and_save_over_each_sandbox(
    aio_provider: Any, aio_settings: dict[str, Any], tmp_path: Path
) -> None:
    kind, params = SUCCESS[aio_provider.name]

    async def main() -> None:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            assert isinstance(client, aio.AsyncClient)
            job = await client.submit(kind, **params)
            assert isinstance(job, aio.AsyncJob)
            assert await job.status() in (Status.PENDING, Status.DONE)
            info = await job.wait(timeout=30, progress=False)
            assert info.status is Status.DONE
            result = await job.result(timeout=30)
            assert result.files
            saved = await job.save(tmp_path / "out", timeout=30)
            assert [p.name for p in saved] == [f.name for f in result.files]
            assert all(p.read_bytes() for p in saved)

    run(main)


def test_awaiting_a_job_gives_its_result(aio_provider: Any, aio_settings: dict[str, Any]) -> None:
    kind, params = SUCCESS[aio_provider.name]

    async def main() -> tuple[Result, Result]:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            job = await client.submit(kind, **params)
            return await job, await job.result()

    awaited, explicit = run(main)
    assert [f.name for f in awaited.files] == [f.name for f in explicit.files]


def test_a_failed_job_raises_job_failed_error(
    aio_provider: Any, aio_settings: dict[str, Any]
) -> None:
    kind, params = failure(aio_provider.name)

    async def main() -> None:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            job = await client.submit(kind, **params)
            with pytest.raises(JobFailedError) as caught:
                await job
            assert caught.value.info.status is Status.FAILED
            assert job.id in str(caught.value)

    run(main)


def test_the_submitted_job_is_in_the_ledger_and_the_list(
    aio_provider: Any, aio_settings: dict[str, Any]
) -> None:
    kind, params = SUCCESS[aio_provider.name]

    async def main() -> None:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            job = await client.submit(kind, **params)
            assert client.sync.ledger is not None
            assert client.sync.ledger.get(client.name, job.id) is not None
            listed = await client.list()
            assert isinstance(listed, asyncjobs.JobList)  # a JobList of AsyncJob, as the sync one
            assert isinstance(listed, aio.AsyncJobList)
            assert all(isinstance(j, aio.AsyncJob) for j in listed)
            assert isinstance(listed[:1], aio.AsyncJobList)
            assert isinstance(listed[0], aio.AsyncJob)
            assert job in listed
            assert listed.to_records()[0]["provider"] == client.name

    run(main)


def test_a_handle_from_an_id_sends_nothing_until_used(
    aio_provider: Any, aio_settings: dict[str, Any]
) -> None:
    kind, params = SUCCESS[aio_provider.name]
    app = aio_provider.box.app

    async def main() -> None:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            submitted = await client.submit(kind, **params)
            sent = requests_to(app)
            job = client.job(submitted.id)
            assert requests_to(app) == sent
            assert job == submitted
            assert (await job.wait(timeout=30, progress=False)).status is Status.DONE

    run(main)


def test_an_unknown_job_raises_job_not_found(
    aio_provider: Any, aio_settings: dict[str, Any]
) -> None:
    unknown = {
        "convertapi": "0123456789abcdef0123456789abcdef",
        "groupdocs": "00000000-0000-0000-0000-000000000000",
        "conversio": "57b5aa3b046abfb053d8ffff",
    }[aio_provider.name]

    async def main() -> None:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            with pytest.raises(JobNotFoundError):
                await client.status(unknown)

    run(main)


def test_an_unknown_kind_is_refused_before_any_request(
    aio_provider: Any, aio_settings: dict[str, Any]
) -> None:
    app = aio_provider.box.app

    async def main() -> None:
        async with aio.connect(aio_provider.name, **aio_settings) as client:
            sent = requests_to(app)
            with pytest.raises(InvalidParameterError):
                await client.submit("no-such-kind")
            assert requests_to(app) == sent

    run(main)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"timeout": -1}, InvalidParameterError),
        ({"retry": 3}, InvalidParameterError),
        ({"poll": "fast"}, InvalidParameterError),
        ({"no_such_setting": "x"}, ConfigurationError),
    ],
)
def test_connect_validates_its_settings_before_anything_is_sent(
    provider_sandboxes: dict[str, Any], arguments: dict[str, Any], error: type[Exception]
) -> None:
    sandbox = provider_sandboxes["conversio"]
    sent = requests_to(sandbox.box.app)

    async def main() -> None:
        with pytest.raises(error):
            async with aio.connect("conversio", **{**sandbox.settings, **arguments}):
                pass

    run(main)
    assert requests_to(sandbox.box.app) == sent


def test_connect_to_an_unknown_provider_raises() -> None:
    async def main() -> None:
        with pytest.raises(UnknownProviderError):
            await aio.connect("no-such-provider")

    run(main)


def test_cancel_where_the_provider_cannot_says_not_supported_before_any_request(
    provider_sandboxes: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = provider_sandboxes["conversio"]  # Conversio cannot cancel

    async def main() -> None:
        async with aio.connect("conversio", ledger=False, **sandbox.settings) as client:
            job = await client.submit(*LONG[:1], **LONG[1])
            sent = requests_to(sandbox.box.app)
            with pytest.raises(NotSupportedError):
                await job.cancel()
            assert requests_to(sandbox.box.app) == sent

    run(main)


def test_a_wait_past_its_timeout_raises_job_timeout_error(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio

    async def main() -> None:
        async with aio.connect("conversio", ledger=False, poll=AIO_POLL, **sandbox.settings) as c:
            job = await c.submit(*LONG[:1], **LONG[1])
            with pytest.raises(JobTimeoutError) as caught:
                await job.wait(timeout=0.01, progress=False)
            assert caught.value.job_id == job.id

    run(main)


# -- cancelling a waiting task -----------------------------------------------------------------------


def _conversio(sandbox: Any, folder: Path | None) -> aio.Connecting:
    return aio.connect(
        "conversio",
        ledger=False if folder is None else folder / "ledger.sqlite3",
        poll=AIO_POLL,
        retry=AIO_RETRY,
        **sandbox.settings,
    )


def test_cancelling_a_wait_mid_poll_drains_the_pool_and_starts_no_new_poll(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio
    app = sandbox.box.app

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            job = await client.submit(*LONG[:1], **LONG[1])
            submitted = job.info
            path = f"/api/v1/async-jobs/{job.id}"
            app.faults.delay(0.3, path=path)  # the first poll is held at the service
            waiter = asyncio.create_task(job.wait(timeout=60, progress=False))
            await until(lambda: ("GET", path) in app.requests)  # the poll is in flight
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            pool = _aio.workers(client.sync)  # the client's own pool
            assert pool.running == 1  # the in-flight poll cannot be interrupted...
            await until(lambda: pool.running == 0)  # ...it ends by itself
            polls = app.requests.count(("GET", path))
            await asyncio.sleep(10 * AIO_POLL.cap)  # longer than any delay between polls
            assert app.requests.count(("GET", path)) == polls == 1
            assert job.info is not submitted  # the in-flight poll's answer was still recorded
            assert (await job.status()) is Status.PENDING  # the job goes on at the provider

    run(main)


def test_a_wait_ended_by_wait_for_leaves_the_job_running(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            job = await client.submit(*LONG[:1], **LONG[1])
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(job.wait(progress=False), 0.05)
            assert await job.status() is Status.PENDING

    run(main)


def test_a_cancelled_wait_over_many_jobs_leaves_no_poll_running(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            jobs = [await client.submit(*LONG[:1], **LONG[1]) for _ in range(20)]
            waiter = asyncio.create_task(aio.wait(jobs, progress=False))
            await asyncio.sleep(0.05)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            pool = _aio.workers(client.sync)  # the client's own pool
            await until(lambda: pool.running == 0)
            sent = requests_to(sandbox.box.app)
            await asyncio.sleep(10 * AIO_POLL.cap)
            assert requests_to(sandbox.box.app) == sent

    run(main)


# -- many jobs ---------------------------------------------------------------------------------------


def test_wait_gives_done_and_not_done_and_ends_at_its_timeout(
    provider_sandboxes: dict[str, Any], slow_conversio: Any, tmp_path: Path
) -> None:
    async def main() -> None:
        async with (
            _conversio(provider_sandboxes["conversio"], None) as fast,
            _conversio(slow_conversio, tmp_path) as slow_client,
        ):
            quick = await fast.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
            slow = await slow_client.submit(*LONG[:1], **LONG[1])
            done, not_done = await aio.wait([quick, slow], timeout=1, progress=False)
            assert (done, not_done) == ({quick}, {slow})

    run(main)


@pytest.mark.parametrize("return_when", ["FIRST_COMPLETED", "FIRST_FAILED"])
def test_wait_returns_at_the_first_end_or_failure(
    provider_sandboxes: dict[str, Any], slow_conversio: Any, tmp_path: Path, return_when: Any
) -> None:
    async def main() -> None:
        async with (
            _conversio(provider_sandboxes["conversio"], None) as fast,
            _conversio(slow_conversio, tmp_path) as slow_client,
        ):
            failing = await fast.submit(*failure("conversio")[:1], **failure("conversio")[1])
            slow = await slow_client.submit(*LONG[:1], **LONG[1])
            done, not_done = await aio.wait(
                [failing, slow], timeout=30, return_when=return_when, progress=False
            )
            assert (done, not_done) == ({failing}, {slow})

    run(main)


def test_a_wait_over_many_jobs_holds_no_task_per_job(slow_conversio: Any, tmp_path: Path) -> None:
    sandbox = slow_conversio
    app = sandbox.box.app

    async def main() -> int:
        async with _conversio(sandbox, None) as client:
            jobs = [await client.submit(*LONG[:1], **LONG[1]) for _ in range(60)]
            paths = {("GET", f"/api/v1/async-jobs/{j.id}") for j in jobs}
            waiter = asyncio.create_task(aio.wait(jobs, timeout=60, progress=False))
            await until(lambda: paths <= set(app.requests))  # every job polled once, all pending
            tasks = len(asyncio.all_tasks())
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            return tasks

    # this test, the wait, its scheduler and the polls in flight: never one task per pending job
    assert run(main) <= 3 + _aio.MAX_WORKERS


def test_news_of_an_end_during_a_poll_ends_the_wait_without_another_poll(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio
    app = sandbox.box.app

    async def main() -> None:
        async with _conversio(sandbox, None) as client:
            job = await client.submit(*LONG[:1], **LONG[1])
            assert job.info is not None
            told = attrs.evolve(job.info, status=Status.DONE)
            path = f"/api/v1/async-jobs/{job.id}"
            app.faults.delay(0.5, path=path)  # the first poll is held at the service
            waiter = asyncio.create_task(aio.wait([job], timeout=30, progress=False))
            await until(lambda: ("GET", path) in app.requests)
            _wake.report(job.provider, job.id, told)  # news while the poll is in flight
            done, not_done = await waiter
            assert (done, not_done) == ({job}, set())
            assert job.info is told  # not the pending answer of the poll that was in flight
            assert app.requests.count(("GET", path)) == 1

    run(main)


def test_as_completed_yields_each_job_as_it_ends_finished_ones_first(
    provider_sandboxes: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = provider_sandboxes["conversio"]

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            running = await client.submit("segments-export", segment="s1")
            finished = await client.submit("newsletter-recipients", newsletter="n1")
            await finished.wait(timeout=30, progress=False)
            order = [j async for j in aio.as_completed([running, finished], timeout=30)]
            assert order == [finished, running]
            assert all(j.info is not None and j.info.finished for j in order)

    run(main)


def test_as_completed_raises_job_timeout_error_when_time_runs_out(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            slow = await client.submit(*LONG[:1], **LONG[1])
            with pytest.raises(JobTimeoutError, match="1 of 1 jobs"):
                async for _ in aio.as_completed([slow], timeout=0.02):
                    pass

    run(main)


def test_gather_gives_results_in_order(provider_sandboxes: dict[str, Any], tmp_path: Path) -> None:
    sandbox = provider_sandboxes["conversio"]

    async def main() -> list[str]:
        async with _conversio(sandbox, tmp_path) as client:
            jobs = [await client.submit("newsletter-recipients", newsletter="n1") for _ in range(3)]
            jobs.insert(1, await client.submit("segments-export", segment="s1"))
            results = await aio.gather(*jobs)
            return [r.files[0].name.split(".")[0] for r in results] + [j.id for j in jobs]

    names = run(main)
    assert names[:4] == names[4:]


def test_gather_with_return_exceptions_puts_the_error_in_the_failed_jobs_place(
    provider_sandboxes: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = provider_sandboxes["conversio"]

    async def main() -> list[Any]:
        async with _conversio(sandbox, tmp_path) as client:
            ok = await client.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
            bad = await client.submit(*failure("conversio")[:1], **failure("conversio")[1])
            return await aio.gather(ok, bad, return_exceptions=True)

    ok, bad = run(main)
    assert isinstance(ok, Result)
    assert isinstance(bad, JobFailedError)


def test_a_thousand_jobs_are_awaited_with_at_most_seventeen_client_threads(
    provider_sandboxes: dict[str, Any], tmp_path: Path, thread_starts: ThreadStarts
) -> None:
    sandbox = provider_sandboxes["conversio"]

    async def main() -> tuple[int, int]:
        async with _conversio(sandbox, None) as client:  # no ledger: only threads count here
            with thread_starts.recording():
                jobs = await asyncio.gather(
                    *(client.submit(*LONG[:1], **LONG[1]) for _ in range(1000))
                )
                done, not_done = await aio.wait(jobs, timeout=120, progress=False)
        return len(done), len(not_done)

    assert run(main) == (1000, 0)
    ours = [n for n in thread_starts.started if "process_request_thread" not in n]
    assert len(ours) <= 17, ours


# -- the event loop never blocks ---------------------------------------------------------------------


@pytest.mark.own_process
def test_no_network_or_disk_io_runs_on_the_loop_thread(
    provider_sandboxes: dict[str, Any], tmp_path: Path, loop_io: LoopIO
) -> None:
    sandbox = provider_sandboxes["conversio"]
    asyncjobs._registry.get_provider_class("conversio")  # imported once, before watching

    async def main() -> None:
        with loop_io.watching():
            async with _conversio(sandbox, tmp_path) as client:
                job = await client.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
                await job.status()
                await job.wait(timeout=30, progress=False)
                await job.save(tmp_path / "out", timeout=30)
                others = [await client.submit(*LONG[:1], **LONG[1]) for _ in range(3)]
                await aio.wait(others, timeout=0.05, progress=False)
                await client.list()
                await client.job(job.id).status()

    run(main)
    assert loop_io.seen == []


@pytest.mark.own_process
def test_the_io_recorder_sees_io_on_the_watched_thread(tmp_path: Path, loop_io: LoopIO) -> None:
    with loop_io.watching():
        (tmp_path / "x").write_text("x")
    assert any(e.startswith("open") for e in loop_io.seen)


def test_a_call_on_the_worker_pool_wakes_the_loop_once() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe
        wakes = 0

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakes
            wakes += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        assert await _aio.run(sum, [1, 2]) == 3
        return wakes

    # its outcome and its free slot come back together: one wake-up per poll, not two
    assert run(main) == 1


def test_the_sync_api_works_inside_a_running_loop(
    provider_sandboxes: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = provider_sandboxes["conversio"]

    async def main() -> Status:
        with asyncjobs.connect("conversio", ledger=False, poll=AIO_POLL, **sandbox.settings) as c:
            job = c.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
            return job.wait(timeout=30, progress=False).status

    assert run(main) is Status.DONE


def test_async_and_sync_polls_of_one_job_share_one_request(
    slow_conversio: Any, tmp_path: Path
) -> None:
    sandbox = slow_conversio
    app = sandbox.box.app

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            job = await client.submit(*LONG[:1], **LONG[1])
            path = f"/api/v1/async-jobs/{job.id}"
            app.faults.delay(0.3, path=path)
            with cf.ThreadPoolExecutor(1) as pool:
                sync_poll = pool.submit(client.sync.status, job.id)
                await until(lambda: ("GET", path) in app.requests)
                async_info = await client.status(job.id)
                assert sync_poll.result() is async_info
            assert app.requests.count(("GET", path)) == 1

    run(main)


def test_progress_bars_show_in_async_waits(
    provider_sandboxes: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("ASYNCJOBS_PROGRESS")
    sandbox = provider_sandboxes["conversio"]

    async def main() -> None:
        async with _conversio(sandbox, tmp_path) as client:
            jobs = [await client.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])]
            await jobs[0].wait(timeout=30, progress=True)
            await aio.wait(jobs, timeout=30, progress=True)

    run(main)
    err = capsys.readouterr().err
    assert "conversio:" in err
    assert "1/1" in err


def test_an_async_client_wraps_a_sync_one_and_leaves_it_open(
    provider_sandboxes: dict[str, Any],
) -> None:
    sandbox = provider_sandboxes["conversio"]
    with asyncjobs.connect("conversio", ledger=False, poll=AIO_POLL, **sandbox.settings) as sync:

        async def main() -> Status:
            async with aio.AsyncClient(sync) as client:
                job = await client.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
                return (await job.wait(timeout=30, progress=False)).status

        assert run(main) is Status.DONE
        assert sync.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1]).id


# -- Job.future() and Job.add_done_callback() --------------------------------------------------------


@pytest.fixture
def conversio(provider_sandboxes: dict[str, Any]) -> Any:
    sandbox = provider_sandboxes["conversio"]
    with asyncjobs.connect("conversio", ledger=False, poll=AIO_POLL, **sandbox.settings) as c:
        yield c


def test_a_jobs_future_gives_its_result(conversio: asyncjobs.Client) -> None:
    job = conversio.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
    future = job.future()
    assert isinstance(future, cf.Future)
    assert future.result(timeout=30).files


def test_a_jobs_future_can_be_awaited_with_wrap_future(conversio: asyncjobs.Client) -> None:
    job = conversio.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])

    async def main() -> Result:
        return await asyncio.wrap_future(job.future())

    assert run(main).files


def test_a_failed_jobs_future_raises_job_failed_error(conversio: asyncjobs.Client) -> None:
    job = conversio.submit(*failure("conversio")[:1], **failure("conversio")[1])
    with pytest.raises(JobFailedError):
        job.future().result(timeout=30)


def test_a_done_callback_is_called_once_from_the_scheduler_thread(
    conversio: asyncjobs.Client,
) -> None:
    job = conversio.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
    calls: list[tuple[asyncjobs.Job, str]] = []
    ended = threading.Event()

    def note(j: asyncjobs.Job) -> None:
        calls.append((j, threading.current_thread().name))
        ended.set()

    job.add_done_callback(note)
    assert ended.wait(30)
    assert calls == [(job, "asyncjobs-scheduler")]
    assert job.info is not None
    assert job.info.finished


def test_a_done_callback_of_a_finished_job_is_called_at_once(conversio: asyncjobs.Client) -> None:
    job = conversio.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
    job.wait(timeout=30, progress=False)
    calls: list[str] = []
    job.add_done_callback(lambda j: calls.append(threading.current_thread().name))
    assert calls == [threading.current_thread().name]


def test_a_cancelled_future_stops_the_polling(
    conversio: asyncjobs.Client, provider_sandboxes: dict[str, Any]
) -> None:
    job = conversio.submit(*LONG[:1], **LONG[1])
    future = job.future()
    assert future.cancel()
    from asyncjobs import _background as waiting

    scheduler = waiting._BACKGROUND
    thread = scheduler._thread
    if thread is not None:
        thread.join(5)
    assert scheduler._thread is None  # nothing left to watch: the scheduler thread ended


@pytest.mark.own_process
def test_progress_bars_do_no_disk_io_on_the_loop_thread(
    provider_sandboxes: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loop_io: LoopIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("ASYNCJOBS_PROGRESS")
    sandbox = provider_sandboxes["conversio"]
    _registry.get_provider_class("conversio")

    async def main() -> None:
        with loop_io.watching():
            async with _conversio(sandbox, None) as client:
                job = await client.submit(*SUCCESS["conversio"][:1], **SUCCESS["conversio"][1])
                await job.wait(timeout=30, progress=True)
                await aio.wait([job], timeout=30, progress=True)

    run(main)
    assert "1/1" in capsys.readouterr().err
    assert loop_io.seen == []
