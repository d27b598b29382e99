"""Request budgets: a rate (and a concurrency limit) per provider account, paced, shared by every
thread, process and machine on the same ledger, counted at the sandbox (requests per window), not
timed."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import asyncjobs
from asyncjobs import Budget, errors
from asyncjobs._budget import account_key, budget_of
from asyncjobs._client import budget_for
from asyncjobs._ledger import Ledger

TESTS = Path(__file__).resolve().parent


def most_in_a_window(times: list[float], width: float = 1.0) -> int:
    """The most arrivals in any window of ``width`` seconds."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most


# -- the budget itself -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        ("20/s", Budget(rate=20)),
        ("600/min", Budget(rate=600, per=60)),
        ("1000/h", Budget(rate=1000, per=3600)),
        ("2.5/s", Budget(rate=2.5)),
        (" 20 / S , 4 ", Budget(rate=20, concurrency=4)),
    ],
)
def test_a_budget_is_read_from_its_text(text: str, budget: Budget) -> None:
    assert Budget.parse(text) == budget


@pytest.mark.parametrize("budget", [Budget(rate=20), Budget(rate=600, per=60), Budget(5, 1, 2)])
def test_a_budgets_text_reads_back_as_the_same_budget(budget: Budget) -> None:
    assert Budget.parse(str(budget)) == budget


@pytest.mark.parametrize("text", ["", "20", "20/fortnight", "-1/s", "20/s,0", "fast", "1e9999/s"])
def test_a_text_that_is_no_rate_is_refused_naming_where_it_came_from(text: str) -> None:
    with pytest.raises(errors.InvalidParameterError, match=r"--budget must be a rate like"):
        Budget.parse(text, where="--budget")


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"rate": math.inf}, {"rate": math.nan}, {"rate": 1, "per": -1},
     {"rate": 1, "concurrency": 0}, {"rate": True}, {"rate": "20"}],
)  # fmt: skip
def test_a_budget_of_impossible_numbers_is_refused_before_any_request(kwargs: Any) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        Budget(**kwargs)
    assert caught.value.parameter == "budget"


def test_budget_accepts_a_budget_its_text_or_none() -> None:
    assert budget_of(Budget(rate=3)) == Budget(rate=3)
    assert budget_of("3/s") == Budget(rate=3)
    assert budget_of(None) is None
    assert budget_of(False) is None
    with pytest.raises(errors.InvalidParameterError, match="budget must be"):
        budget_of(20)


def test_an_accounts_budget_name_holds_no_part_of_its_secret() -> None:
    secret = "CANARY-budget-0123456789abcdef"
    key = account_key("toy", "https://api.example.test", (secret,))
    assert key.startswith("toy https://api.example.test ")
    assert not any(secret[i : i + 4] in key for i in range(len(secret) - 3))
    assert key != account_key("toy", "https://api.example.test", ("another-secret",))


# -- which budget a client keeps -----------------------------------------------------------------


def test_a_given_budget_wins_over_the_environment(
    toy_registered: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_BUDGET", "5/s")
    assert budget_for(toy_registered, {}, "7/s") == Budget(rate=7)
    assert budget_for(toy_registered, {}, None) == Budget(rate=5)
    assert budget_for(toy_registered, {}, False) is None


def test_none_in_the_environment_means_no_budget(
    toy_registered: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_BUDGET", "none")
    assert budget_for(toy_registered, {}, None) is None


def test_a_bad_budget_in_the_environment_names_the_variable(
    toy_registered: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_BUDGET", "lots")
    with pytest.raises(errors.InvalidParameterError, match=r"TOY_BUDGET must be a rate"):
        budget_for(toy_registered, {}, None)


def test_a_declared_budget_applies_to_the_service_not_to_a_sandbox() -> None:
    from asyncjobs_zamzar.provider import LIVE_URL, ZamzarProvider

    declared = ZamzarProvider.capabilities.budget
    assert declared is not None
    assert budget_for(ZamzarProvider, {"base_url": LIVE_URL}, None) == declared
    assert budget_for(ZamzarProvider, {"base_url": "http://127.0.0.1:9"}, None) is None


def test_a_routed_client_takes_no_budget() -> None:
    with pytest.raises(errors.InvalidParameterError, match="takes no budget") as caught:
        asyncjobs.connect(["toy", "convertapi"], budget="5/s")
    assert caught.value.parameter == "budget"


# -- pacing, in one process ----------------------------------------------------------------------


@pytest.fixture
def paced(toy_registered: Any, toy_sandbox: Any, tmp_path: Path) -> Callable[..., Any]:
    """A client of the toy sandbox with a budget (keywords to ``connect``); closed after."""
    made: list[asyncjobs.Client] = []

    def connect(**kwargs: Any) -> asyncjobs.Client:
        settings = {**toy_sandbox.app.client_settings(toy_sandbox.url), **kwargs}
        client = asyncjobs.connect("toy", **settings)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


def _hammer(client: asyncjobs.Client, job_ids: list[str], each: int) -> None:
    """A thread per job, each polling its own job ``each`` times (one job's concurrent polls
    would share one request)."""

    def run(job_id: str) -> None:
        for _ in range(each):
            client.status(job_id)

    pool = [threading.Thread(target=run, args=(j,)) for j in job_ids]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def test_requests_of_many_threads_are_paced_to_the_budget(
    paced: Callable[..., asyncjobs.Client], toy_sandbox: Any
) -> None:
    client = paced(ledger=False, budget="40/s")
    jobs = [client.submit("upper", text="x", duration=60).id for _ in range(8)]
    toy_sandbox.app.arrivals.clear()
    _hammer(client, jobs, each=8)  # 64 requests: about 1.6 s at 40/s
    times = toy_sandbox.app.arrivals
    assert len(times) == 64
    assert most_in_a_window(times) <= 41
    assert (max(times) - min(times)) >= 63 / 40 * 0.95  # paced, not burst


def test_at_most_concurrency_requests_are_out_at_once(
    paced: Callable[..., asyncjobs.Client], toy_sandbox: Any
) -> None:
    client = paced(ledger=False, budget="1000/s,2")
    jobs = [client.submit("upper", text="x", duration=60).id for _ in range(6)]
    toy_sandbox.app.faults.delay(0.05, times=40, path="/jobs/")
    toy_sandbox.app.most_at_once = 0
    _hammer(client, jobs, each=3)
    assert toy_sandbox.app.most_at_once == 2


def test_a_slot_beyond_the_deadline_is_not_taken_and_the_wait_times_out(
    paced: Callable[..., asyncjobs.Client],
) -> None:
    client = paced(ledger=False, budget="1/min")
    job = client.submit("upper", text="x", duration=60)  # took the minute's one slot
    started = time.monotonic()
    with pytest.raises(errors.JobTimeoutError) as caught:
        job.wait(timeout=0.3)
    assert time.monotonic() - started < 5
    assert "within the request budget (1/min)" in str(caught.value.__cause__)


def test_a_429_pauses_every_client_of_the_account(
    paced: Callable[..., asyncjobs.Client], toy_sandbox: Any
) -> None:
    one = paced(ledger=False, budget="1000/s")
    other = paced(ledger=False, budget="1000/s")
    job = one.submit("upper", text="x", duration=60)
    second = other.submit("upper", text="y", duration=60)
    toy_sandbox.app.faults.status(429, times=1, headers={"Retry-After": "1"})
    paused_at = time.time()
    meets = threading.Thread(target=one.status, args=(job.id,))  # the 429, then its retry
    meets.start()
    time.sleep(0.2)
    toy_sandbox.app.arrivals.clear()
    other.status(second.id)
    meets.join(timeout=10)
    assert min(toy_sandbox.app.arrivals) >= paused_at + 0.95


# -- shared through the ledger -------------------------------------------------------------------

_WORKER = """
import sys, threading
sys.path.insert(0, {tests!r})
import asyncjobs
asyncjobs.register("toy", "toy_provider:ToyProvider")
client = asyncjobs.connect("toy", ledger={ledger!r}, budget={budget!r}, key={key!r},
                           base_url={url!r})
print("ready", flush=True)
sys.stdin.readline()
def run(job_id):
    for _ in range({each}):
        client.status(job_id)
threads = [threading.Thread(target=run, args=(j,)) for j in {jobs!r}]
for t in threads: t.start()
for t in threads: t.join()
client.close()
"""


def _processes(
    jobs: list[list[str]], *, ledger: str, budget: str, sandbox: Any, each: int
) -> list[subprocess.Popen[str]]:
    """A process per list of jobs, a thread per job polling it ``each`` times, all started at
    once (each process connected first)."""
    env = dict(os.environ, ASYNCJOBS_PROGRESS="0")
    codes = [
        _WORKER.format(
            tests=str(TESTS),
            ledger=ledger,
            budget=budget,
            key=sandbox.app.key,
            url=sandbox.url,
            jobs=ids,
            each=each,
        )
        for ids in jobs
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for code in codes
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


def _pending_jobs(ledger: str, sandbox: Any, *, processes: int, threads: int) -> list[list[str]]:
    """Jobs that stay pending, submitted without a budget: a list of ids per process, an id per
    thread."""
    with asyncjobs.connect(
        "toy", ledger=ledger, budget=False, **sandbox.app.client_settings(sandbox.url)
    ) as client:
        return [
            [client.submit("upper", text="x", duration=600).id for _ in range(threads)]
            for _ in range(processes)
        ]


@pytest.mark.slow
def test_four_processes_of_eight_threads_share_one_budget(
    toy_sandbox: Any, toy_registered: Any, ledger_target: str
) -> None:
    ledger = ledger_target
    jobs = _pending_jobs(ledger, toy_sandbox, processes=4, threads=8)
    toy_sandbox.app.arrivals.clear()
    procs = _processes(jobs, ledger=ledger, budget="20/s", sandbox=toy_sandbox, each=3)
    for p in procs:
        assert p.wait(timeout=60) == 0
    times = sorted(toy_sandbox.app.arrivals)
    assert len(times) == 96  # 4 x 8 x 3, about 4.8 s at 20/s
    assert most_in_a_window(times) <= 21
    assert (len(times) - 1) / (times[-1] - times[0]) >= 18  # the budget used while work remains
    with Ledger(ledger) as book:
        [use] = [b for b in book.budgets() if b.key.startswith("toy ")]
    assert use.taken == 96
    assert use.rate == 20
    assert use.waited > 0


@pytest.mark.slow
def test_concurrency_is_shared_by_every_process_on_the_ledger(
    toy_sandbox: Any, toy_registered: Any, ledger_target: str
) -> None:
    ledger = ledger_target
    jobs = _pending_jobs(ledger, toy_sandbox, processes=2, threads=4)
    toy_sandbox.app.faults.delay(0.05, times=10_000)  # each request takes a while at the service
    toy_sandbox.app.most_at_once = 0
    procs = _processes(jobs, ledger=ledger, budget="1000/s,2", sandbox=toy_sandbox, each=3)
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert toy_sandbox.app.most_at_once == 2  # 2 processes x 4 threads, 2 places in all


def test_a_budgets_places_are_taken_given_up_and_outlive_no_hold(
    ledger_target: str,
) -> None:
    target = ledger_target
    with Ledger(target) as one, Ledger(target) as other:
        first = one.take_place("acme k", 2, 60.0)
        second = other.take_place("acme k", 2, 0.5)
        assert first is not None
        assert second is not None
        assert one.take_place("acme k", 2, 60.0) is None  # both taken
        one.give_place(first)
        again = other.take_place("acme k", 2, 60.0)
        assert again is not None
        assert one.take_place("acme k", 2, 60.0) is None
        time.sleep(0.6)  # the short hold ran out: a process that died gives its place up so
        assert one.take_place("acme k", 2, 60.0) is not None
        assert one.take_place("acme k", 3, 60.0) is not None  # a larger budget: one more place


def test_a_slot_is_one_statement_on_postgresql(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        before = ledger.statements
        waits = [ledger.take_slot("acme https://x k", 0.05, math.inf) for _ in range(5)]
        assert ledger.statements - before == 5
    assert waits[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(waits))  # type: ignore[operator]


def test_a_pause_in_the_ledger_holds_back_every_slot(
    ledger_target: str,
) -> None:
    target = ledger_target
    with Ledger(target) as ledger:
        ledger.pause_budget("acme k", 2.0)
        wait = ledger.take_slot("acme k", 0.01, math.inf)
        assert wait is not None
        assert 1.8 <= wait <= 2.0
        assert ledger.take_slot("acme k", 0.01, 1.0) is None  # beyond max_wait: not taken
        [use] = ledger.budgets()
        assert use.taken == 1
        assert use.paused_until is not None


def test_a_429_seen_by_one_client_pauses_the_others_through_the_ledger(
    paced: Callable[..., asyncjobs.Client], toy_sandbox: Any, ledger_target: str
) -> None:
    target = ledger_target
    one = paced(ledger=target, budget="1000/s", retry=asyncjobs.RetryPolicy(max_tries=1))
    other = paced(ledger=target, budget="1000/s")  # another ledger object, one database
    job = one.submit("upper", text="x", duration=60)
    second = other.submit("upper", text="y", duration=60)
    toy_sandbox.app.faults.status(429, times=1, headers={"Retry-After": "1"})
    with pytest.raises(errors.RateLimitedError):
        one.status(job.id)
    paused_at = time.time()
    toy_sandbox.app.arrivals.clear()
    other.status(second.id)
    assert min(toy_sandbox.app.arrivals) >= paused_at + 0.7  # the pause, less the 429's own trip


def test_a_slot_taken_before_a_pause_elsewhere_waits_for_the_pause_to_end(
    paced: Callable[..., asyncjobs.Client], toy_sandbox: Any, ledger_target: str
) -> None:
    target = ledger_target
    client = paced(ledger=target, budget="2/s")
    job = client.submit("upper", text="x", duration=60)
    gate = client.provider.transport.gate
    assert gate is not None
    with Ledger(target) as elsewhere:
        for _ in range(3):  # the schedule is taken for the next 1.5 s
            elsewhere.take_slot(gate.key, 0.5, math.inf)
        poll = threading.Thread(target=client.status, args=(job.id,))
        toy_sandbox.app.arrivals.clear()
        poll.start()
        time.sleep(0.3)  # the poll holds a slot about 1.5 s ahead
        elsewhere.pause_budget(gate.key, 3.0)  # another process's 429
        paused_at = time.time()
        poll.join(timeout=10)
    [arrived] = toy_sandbox.app.arrivals
    assert arrived >= paused_at + 2.9  # not at its slot: after the pause


def test_aio_requests_keep_to_the_budget(toy_registered: Any, toy_sandbox: Any) -> None:
    import asyncio

    from asyncjobs import aio

    async def main() -> list[float]:
        settings = toy_sandbox.app.client_settings(toy_sandbox.url)
        async with aio.connect("toy", ledger=False, budget="30/s", **settings) as client:
            jobs = [await client.submit("upper", text="x", duration=60) for _ in range(6)]
            toy_sandbox.app.arrivals.clear()
            await asyncio.gather(*(client.status(j.id) for j in jobs * 5))
        return list(toy_sandbox.app.arrivals)

    times = asyncio.run(main())
    assert len(times) >= 6
    assert most_in_a_window(times, 0.5) <= 16  # 30/s: at most 15 (+1) in half a second
    assert max(times) - min(times) >= (len(times) - 1) / 30 * 0.9


def test_each_wait_for_the_budget_is_a_metric_point(
    paced: Callable[..., asyncjobs.Client], telemetry: Any
) -> None:
    client = paced(ledger=False, budget="50/s")
    job = client.submit("upper", text="x", duration=60)
    client.status(job.id)
    assert telemetry.total("asyncjobs.budget.wait", {"asyncjobs.provider": "toy"}) == 2
