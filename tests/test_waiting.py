"""Waiting: one job with a timeout, many jobs with one scheduler and a bounded pool."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from memory_provider import MemoryProvider

import asyncjobs
from asyncjobs import Status, aio, errors
from asyncjobs.provider import PollPolicy


def test_wait_returns_the_final_info(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0.05)
    info = job.wait(timeout=5)
    assert info.status is Status.DONE
    assert job.info == info


def test_wait_does_not_raise_for_a_failed_job(memory_client: asyncjobs.Client) -> None:
    info = memory_client.submit("sleep", duration=0.01, fail=True).wait(timeout=5)
    assert info.status is Status.FAILED
    assert info.error == "it broke"


def test_result_raises_job_failed_with_the_info(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0.01, fail=True)
    with pytest.raises(errors.JobFailedError) as caught:
        job.result(timeout=5)
    assert caught.value.info.error == "it broke"
    assert "it broke" in str(caught.value)
    assert job.id in str(caught.value)


def test_wait_raises_job_timeout_when_the_job_outlasts_it(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=60)
    started = time.monotonic()
    with pytest.raises(errors.JobTimeoutError) as caught:
        job.wait(timeout=0.2)
    assert time.monotonic() - started < 2
    assert caught.value.info is not None
    assert caught.value.info.status is Status.PENDING
    assert job.id in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, "10", True])
def test_a_bad_timeout_is_refused_before_any_poll(
    memory_client: asyncjobs.Client, timeout: object
) -> None:
    job = memory_client.submit("sleep", duration=1)
    polls = MemoryProvider.polls
    with pytest.raises(errors.InvalidParameterError, match="timeout"):
        job.wait(timeout=timeout)  # type: ignore[arg-type]
    assert MemoryProvider.polls == polls


def test_progress_callback_sees_every_status(memory_client: asyncjobs.Client) -> None:
    seen: list[Status] = []
    memory_client.submit("sleep", duration=0.05).wait(
        timeout=5, progress=lambda i: seen.append(i.status)
    )
    assert seen[-1] is Status.DONE
    assert set(seen) <= {Status.PENDING, Status.DONE}


def test_poll_delays_follow_the_policy_bounds() -> None:
    policy = PollPolicy(initial=1, factor=2, cap=5, min_interval=0.5)
    for attempt, bound in enumerate([1, 2, 4, 5, 5]):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0.5 <= d <= bound for d in delays)


def test_concurrent_status_calls_share_one_poll(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=10)
    barrier = threading.Barrier(8)

    def look() -> None:
        barrier.wait()
        memory_client.status(job.id)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert MemoryProvider.max_concurrent_polls_of_one_job == 1
    assert MemoryProvider.polls < 8


def test_a_thousand_jobs_finish_with_at_most_sixteen_threads(
    memory_client: asyncjobs.Client,
) -> None:
    jobs = [memory_client.submit("sleep", duration=(i % 20) * 0.01) for i in range(1000)]
    before = threading.active_count()
    peak = before
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, threading.active_count())
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done, not_done = asyncjobs.wait(jobs, timeout=60, max_workers=16)
    finally:
        stop.set()
        watcher.join()
    assert not not_done
    assert len(done) == 1000
    assert all(j.info is not None and j.info.status is Status.DONE for j in jobs)
    assert len(MemoryProvider.poll_threads) <= 16
    assert peak - before - 1 <= 16  # minus the watcher itself
    assert MemoryProvider.max_concurrent_polls_of_one_job == 1


def test_the_pool_is_capped_at_sixteen_whatever_is_asked(memory_client: asyncjobs.Client) -> None:
    jobs = [memory_client.submit("sleep", duration=0.05) for _ in range(100)]
    asyncjobs.wait(jobs, timeout=30, max_workers=500)
    assert len(MemoryProvider.poll_threads) <= 16


def test_as_completed_yields_jobs_in_finishing_order(memory_client: asyncjobs.Client) -> None:
    slow = memory_client.submit("sleep", duration=0.4)
    fast = memory_client.submit("sleep", duration=0.01)
    order = list(asyncjobs.as_completed([slow, fast], timeout=10))
    assert order == [fast, slow]


def test_as_completed_raises_job_timeout_when_jobs_remain(memory_client: asyncjobs.Client) -> None:
    jobs = [memory_client.submit("sleep", duration=60), memory_client.submit("sleep", duration=0)]
    finished = asyncjobs.as_completed(jobs, timeout=0.3)
    assert next(finished) == jobs[1]
    with pytest.raises(errors.JobTimeoutError, match="1 of 2"):
        next(finished)


def test_wait_returns_unfinished_jobs_at_the_timeout(memory_client: asyncjobs.Client) -> None:
    long, short = (memory_client.submit("sleep", duration=d) for d in (60, 0))
    done, not_done = asyncjobs.wait([long, short], timeout=0.3)
    assert done == {short}
    assert not_done == {long}


def test_wait_first_completed_returns_after_one(memory_client: asyncjobs.Client) -> None:
    jobs = [memory_client.submit("sleep", duration=d) for d in (0.01, 60, 60)]
    done, not_done = asyncjobs.wait(jobs, timeout=10, return_when="FIRST_COMPLETED")
    assert done == {jobs[0]}
    assert len(not_done) == 2


def test_wait_first_failed_returns_at_the_first_failure(memory_client: asyncjobs.Client) -> None:
    ok = memory_client.submit("sleep", duration=0.01)
    bad = memory_client.submit("sleep", duration=0.05, fail=True)
    never = memory_client.submit("sleep", duration=60)
    done, not_done = asyncjobs.wait([ok, bad, never], timeout=10, return_when="FIRST_FAILED")
    assert bad in done
    assert never in not_done


def test_a_job_whose_poll_fails_for_good_is_reported_not_raised(
    memory_client: asyncjobs.Client,
) -> None:
    ghost = memory_client.job("no-such-job")
    real = memory_client.submit("sleep", duration=0.01)

    def missing(job_id: str) -> asyncjobs.JobInfo:
        if job_id == "no-such-job":
            raise errors.JobNotFoundError("gone", provider="memory", job_id=job_id)
        return MemoryProvider.status(memory_client.provider, job_id)  # type: ignore[arg-type]

    memory_client.provider.status = missing  # type: ignore[method-assign]
    done, _not_done = asyncjobs.wait([ghost, real], timeout=10)
    assert done == {ghost, real}
    assert isinstance(ghost.error, errors.JobNotFoundError)
    assert real.error is None


def test_wait_refuses_a_bad_return_when(memory_client: asyncjobs.Client) -> None:
    with pytest.raises(errors.InvalidParameterError, match="return_when"):
        asyncjobs.wait([], return_when="SOMETIME")  # type: ignore[arg-type]


def test_wait_refuses_things_that_are_not_jobs() -> None:
    with pytest.raises(errors.InvalidParameterError, match="Job"):
        asyncjobs.wait(["m1"])  # type: ignore[list-item]


def test_job_wait_rides_out_transient_poll_errors(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0)
    real = memory_client.provider.status
    failures = iter(
        [errors.TransportError("reset"), errors.RateLimitedError("slow", retry_after=0)]
    )

    def flaky(job_id: str) -> asyncjobs.JobInfo:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(job_id)

    memory_client.provider.status = flaky  # type: ignore[method-assign]
    assert job.wait(timeout=5).status is Status.DONE


def test_job_wait_gives_up_after_five_transient_errors_in_a_row(
    memory_client: asyncjobs.Client,
) -> None:
    job = memory_client.submit("sleep", duration=0)
    calls = 0

    def down(job_id: str) -> asyncjobs.JobInfo:
        nonlocal calls
        calls += 1
        raise errors.TransportError("connection refused")

    memory_client.provider.status = down  # type: ignore[method-assign]
    with pytest.raises(errors.TransportError):
        job.wait(timeout=30)
    assert calls == 5


@pytest.mark.parametrize("call", [asyncjobs.wait, asyncjobs.as_completed])
def test_one_job_instead_of_a_list_is_refused_with_advice(
    memory_client: asyncjobs.Client, call: object
) -> None:
    job = memory_client.submit("sleep", duration=0)
    with pytest.raises(errors.InvalidParameterError, match=r"job\.wait\(\)"):
        list(call(job))  # type: ignore[operator]


# -- polls left behind: a wait that returned, a client that closed ---------------------------------

CA = "https://v2.convertapi.com"
DONE_ANSWER = {
    "ConversionCost": 1,
    "Files": [{"FileName": "a.pdf", "FileExt": "pdf", "FileSize": 1, "Url": f"{CA}/d/f/a.pdf"}],
}
#: a policy that would retry a failing poll for a long time, quickly
PATIENT = asyncjobs.RetryPolicy(max_tries=1000, base=0.02, cap=0.02, max_time=60)


@pytest.fixture
def convertapi_mock() -> Iterator[tuple[responses.RequestsMock, asyncjobs.Client]]:
    """A ConvertAPI client whose HTTP ``responses`` answers, retrying failing polls patiently."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        client = asyncjobs.connect("convertapi", secret="s" * 16, ledger=False, retry=PATIENT)
        try:
            yield mock, client
        finally:
            client.close()


def calls_to(mock: responses.RequestsMock, job_id: str) -> int:
    return sum(1 for c in mock.calls if c.request.url.endswith(job_id))


def one_quick_one_retrying(mock: responses.RequestsMock, quick: str, stuck: str) -> threading.Event:
    """``stuck`` answers 502 on every poll; ``quick`` answers done once ``stuck`` has been retried
    (the returned event is set then)."""
    retrying = threading.Event()

    def unavailable(request: Any) -> tuple[int, dict[str, str], str]:
        if calls_to(mock, stuck) >= 2:
            retrying.set()
        return 502, {}, ""

    def done_once_the_other_retries(request: Any) -> tuple[int, dict[str, str], str]:
        retrying.wait(10)
        return 200, {"Content-Type": "application/json"}, json.dumps(DONE_ANSWER)

    mock.add_callback("GET", f"{CA}/async/job/{stuck}", callback=unavailable)
    mock.add_callback("GET", f"{CA}/async/job/{quick}", callback=done_once_the_other_retries)
    return retrying


def test_a_wait_that_returned_leaves_no_poll_retrying(
    convertapi_mock: tuple[responses.RequestsMock, asyncjobs.Client],
) -> None:
    mock, client = convertapi_mock
    quick, stuck = "a" * 32, "b" * 32
    retrying = one_quick_one_retrying(mock, quick, stuck)
    jobs = [client.job(quick), client.job(stuck)]
    done, not_done = asyncjobs.wait(jobs, timeout=30, return_when="FIRST_COMPLETED")
    assert (done, not_done) == ({jobs[0]}, {jobs[1]})
    assert retrying.is_set()
    left = calls_to(mock, stuck)
    time.sleep(0.3)  # fifteen retries' worth
    assert calls_to(mock, stuck) <= left + 1  # at most the one attempt already leaving


def test_an_aio_wait_that_returned_leaves_no_poll_retrying(
    convertapi_mock: tuple[responses.RequestsMock, asyncjobs.Client],
) -> None:
    mock, client = convertapi_mock
    quick, stuck = "d" * 32, "e" * 32
    retrying = one_quick_one_retrying(mock, quick, stuck)

    async def main() -> int:
        async_client = aio.AsyncClient(client)
        jobs = [async_client.job(quick), async_client.job(stuck)]
        done, not_done = await aio.wait(
            jobs, timeout=30, return_when="FIRST_COMPLETED", progress=False
        )
        assert (done, not_done) == ({jobs[0]}, {jobs[1]})
        left = calls_to(mock, stuck)
        await asyncio.sleep(0.3)  # fifteen retries' worth, the loop still running
        return left

    left = asyncio.run(main())
    assert retrying.is_set()
    assert calls_to(mock, stuck) <= left + 1  # at most the one attempt already leaving


def test_closing_a_client_cancels_its_jobs_futures_and_their_polling(
    convertapi_mock: tuple[responses.RequestsMock, asyncjobs.Client],
) -> None:
    mock, client = convertapi_mock
    stuck = "c" * 32
    mock.get(f"{CA}/async/job/{stuck}", status=502)
    future = client.job(stuck).future()
    deadline = time.monotonic() + 10
    while calls_to(mock, stuck) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    client.close()
    assert future.cancelled()
    left = calls_to(mock, stuck)
    time.sleep(0.3)
    assert calls_to(mock, stuck) <= left + 1


def test_news_of_an_end_hands_the_job_back_and_it_is_polled_no_more(
    memory_client: asyncjobs.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncjobs import JobInfo, _wake

    memory_client.poll_policy = PollPolicy(initial=0.05, factor=1.0, cap=0.05, min_interval=0.05)
    told = memory_client.submit("sleep", duration=60)
    others = [memory_client.submit("sleep", duration=0.6) for _ in range(5)]
    polled: list[str] = []
    real_status = memory_client.status

    def status(job_id: str) -> JobInfo:
        polled.append(job_id)
        return real_status(job_id)

    monkeypatch.setattr(memory_client, "status", status)
    end = JobInfo("memory", told.id, "sleep", Status.DONE, raw_status="ok")
    polls_before_news: list[int] = []

    def tell() -> None:
        polls_before_news.append(polled.count(told.id))
        _wake.report("memory", told.id, end)

    threading.Timer(0.1, tell).start()
    _done, not_done = asyncjobs.wait([told, *others], timeout=10, max_workers=2)
    assert not not_done
    assert told.info is not None
    assert told.info.status is Status.DONE
    assert polls_before_news  # the news came while the others were still pending
    assert polled.count(told.id) <= polls_before_news[0] + 1  # one may have been in flight


def test_news_of_one_end_looks_up_that_job_not_every_job_of_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asyncjobs import JobInfo
    from asyncjobs._waiting import _Board

    board = _Board(None)
    jobs = [asyncjobs.Job(lambda: None, f"j{n}", provider="toy") for n in range(1000)]  # type: ignore[arg-type, return-value]
    for job in jobs:
        board.add(job, time.monotonic() + 60, time.time())
    looked = 0
    real = asyncjobs.Job.provider

    def counted(self: asyncjobs.Job) -> str:
        nonlocal looked
        looked += 1
        return real.fget(self)  # type: ignore[no-any-return]

    monkeypatch.setattr(asyncjobs.Job, "provider", property(counted))
    board.news({("toy", "j500"): JobInfo("toy", "j500", "k", Status.DONE, raw_status="ok")})
    assert looked <= 5
    assert board.queued() == [j for j in jobs if j.id != "j500"]
    assert jobs[500].info is not None
    assert jobs[500].info.status is Status.DONE
