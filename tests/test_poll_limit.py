"""How many polls a wait over many jobs keeps in flight: all its workers while the service answers
as fast as ever, fewer while it queues them (its answers slow down as more are out)."""

from __future__ import annotations

import queue
import statistics
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

import asyncjobs
from asyncjobs import Capabilities, JobInfo, Kind, PollPolicy, Provider, Status
from asyncjobs._job import Job, policies
from asyncjobs._limit import FEWEST, Limit, adaptive
from asyncjobs._registry import unregister

FAST = 0.001


def _answers_at_once(jobs: list[Job]) -> bool:
    return adaptive(policies(jobs))


class Clock:
    """A monotonic clock the tests move."""

    def __init__(self) -> None:
        self.now = 0.0


def rounds(
    limit: Limit, seconds: float, count: int, clock: Clock | None = None, per_second: float = 0
) -> None:
    """``count`` rounds of polls taking ``seconds`` each, made with the limit in use. ``per_second``
    of them end each second (a service that answers one after another, however many are out); by
    default as many as are out end every ``seconds`` (a service that answers them side by side)."""
    clock = clock or Clock()
    for _ in range(count):
        for _ in range(limit.round_size()):
            clock.now += 1 / per_second if per_second else seconds / limit.value
            limit.sample(seconds, limit.value, clock.now)


def queued(most: int, slowdown: float, per_second: float = 1000) -> tuple[Limit, Clock]:
    """A limit of ``most`` that saw a round of polls answered ``FAST``, then one ``slowdown`` times
    slower (the service queueing them), ``per_second`` answered each second."""
    limit, clock = Limit(most, adaptive=True), Clock()
    rounds(limit, FAST, 1, clock, per_second=per_second)
    rounds(limit, FAST * slowdown, 1, clock, per_second=per_second)
    return limit, clock


def test_the_limit_starts_at_every_worker() -> None:
    assert Limit(8, adaptive=True).value == 8


def test_polls_answered_as_fast_as_ever_keep_every_worker_in_flight() -> None:
    limit = Limit(8, adaptive=True)
    rounds(limit, FAST, 50)
    assert limit.value == 8


def test_polls_slowed_by_queueing_bring_the_limit_to_what_the_service_answers_at_once() -> None:
    limit, _ = queued(8, 4)  # a quarter of each poll's time answering
    assert limit.value == 2


def test_the_limit_never_goes_below_the_fewest() -> None:
    limit, clock = queued(8, 50)
    rounds(limit, FAST * 50, 40, clock, per_second=1000)
    assert limit.value == FEWEST


def test_the_limit_rises_again_when_answers_are_fast_again() -> None:
    limit, clock = queued(8, 50)
    rounds(limit, FAST * 50, 40, clock, per_second=1000)
    assert limit.value == FEWEST
    rounds(limit, FAST, 100, clock)  # side by side again
    assert limit.value == 8


def test_fewer_in_flight_is_not_kept_when_it_answered_fewer_per_second() -> None:
    limit, clock = queued(2, 3)
    assert limit.value == 1
    rounds(limit, FAST, 1, clock, per_second=500)  # one at a time: no queue, but half the answers
    assert limit.value == 2
    rounds(limit, FAST * 3, 5, clock, per_second=1000)
    assert limit.value == 2


def test_fewer_in_flight_is_kept_when_it_answered_as_many_per_second() -> None:
    limit, clock = queued(3, 3)
    assert limit.value == 1
    rounds(limit, FAST, 1, clock, per_second=1000)  # no queue: two are tried
    assert limit.value == 2
    rounds(limit, FAST, 5, clock, per_second=1000)  # two answered no more than one
    assert limit.value == 1


def test_fewer_in_flight_is_tried_when_one_more_answered_no_more() -> None:
    limit, clock = queued(3, 2.5)  # two answered at once
    assert limit.value == 2
    rounds(limit, FAST, 1, clock, per_second=1000)  # no queue seen, but no more answers than 3
    assert limit.value == 1
    rounds(limit, FAST, 5, clock, per_second=1000)
    assert limit.value == 1


def test_a_second_poll_in_flight_is_not_kept_for_a_few_percent_more_answers() -> None:
    limit, clock = queued(2, 3, per_second=1100)
    assert limit.value == 1
    rounds(limit, FAST, 5, clock, per_second=1000)  # two answered only 10% more than one
    assert limit.value == 1


def test_polls_made_below_the_limit_do_not_move_it() -> None:
    limit = Limit(8, adaptive=True)
    rounds(limit, FAST, 1)
    for _ in range(100):
        limit.sample(FAST * 50, 3, time.monotonic())  # a few jobs due: the limit held nothing back
    assert limit.value == 8


def test_a_limit_that_is_not_adaptive_keeps_every_worker() -> None:
    limit = Limit(8, adaptive=False)
    rounds(limit, FAST, 1)
    rounds(limit, FAST * 50, 40)
    assert limit.value == 8


def test_the_least_time_is_measured_afresh_so_a_slower_service_is_not_starved() -> None:
    limit = Limit(4, adaptive=True)
    rounds(limit, FAST, 1)
    rounds(limit, FAST * 50, 3000)  # the service got slower for good, not busier
    assert limit.value == 4


@pytest.mark.parametrize(
    ("provider", "expected"), [("conversio", True), ("groupdocs", True), ("convertapi", False)]
)
def test_only_a_service_that_answers_at_once_gets_an_adaptive_limit(
    provider: str, expected: bool, provider_sandboxes: dict[str, Any]
) -> None:
    with asyncjobs.connect(
        provider, ledger=False, **provider_sandboxes[provider].settings
    ) as client:
        assert _answers_at_once([client.job("a"), client.job("b")]) is expected


def test_jobs_of_two_clients_keep_every_worker(provider_sandboxes: dict[str, Any]) -> None:
    settings = provider_sandboxes["conversio"].settings
    with (
        asyncjobs.connect("conversio", ledger=False, **settings) as one,
        asyncjobs.connect("conversio", ledger=False, **settings) as other,
    ):
        assert not _answers_at_once([one.job("a"), other.job("b")])


# -- a wait over many jobs, against a service that queues its polls and one that does not ----------


class NeverEnding(Provider):
    """Jobs that never end, each poll answered at once (pending)."""

    kinds = (Kind("job"),)
    settings = ()

    def submit(
        self, kind: str, params: Mapping[str, Any], *, job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:  # fmt: skip
        raise NotImplementedError

    def status(self, job_id: str) -> JobInfo:
        return JobInfo(self.name, job_id, "job", Status.PENDING, raw_status="running")


class CountingService(NeverEnding):
    """Jobs that never end; each poll takes 5 ms at one of ``desks`` desks, polls waiting their
    turn in the order they came (``None``: a desk for every poll, a service answering side by
    side). Records how many polls were out as each came in."""

    name = "counting"
    capabilities = Capabilities(
        poll=PollPolicy(initial=0.01, factor=1.0, cap=0.01, min_interval=0.0, fraction=10)
    )
    desks: ClassVar[int | None] = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.out = 0
        self.seen: list[int] = []
        self._count = threading.Lock()
        self._line: queue.Queue[threading.Event | None] = queue.Queue()
        self._desks = [threading.Thread(target=self._desk) for _ in range(self.desks or 0)]
        for desk in self._desks:
            desk.start()

    def _desk(self) -> None:
        while (turn := self._line.get()) is not None:
            time.sleep(0.005)
            turn.set()

    def status(self, job_id: str) -> JobInfo:
        with self._count:
            self.out += 1
            self.seen.append(self.out)
        try:
            if self._desks:
                turn = threading.Event()
                self._line.put(turn)
                turn.wait()
            else:
                time.sleep(0.005)
            return super().status(job_id)
        finally:
            with self._count:
                self.out -= 1

    def close(self) -> None:
        for _ in self._desks:
            self._line.put(None)
        for desk in self._desks:
            desk.join()


@pytest.fixture
def counting() -> Iterator[type[CountingService]]:
    asyncjobs.register("counting", CountingService, replace=True)
    try:
        yield CountingService
    finally:
        unregister("counting")


def polls_out_late_in_a_wait(
    desks: int | None, monkeypatch: pytest.MonkeyPatch, workers: int = 8
) -> float:
    """The median number of polls out as each came in, over the second half of a 1.5 s wait
    over 200 jobs."""
    monkeypatch.setattr(CountingService, "desks", desks)
    with asyncjobs.connect("counting", ledger=False) as client:
        jobs = [client.job(f"j{n}") for n in range(200)]
        asyncjobs.wait(jobs, timeout=1.5, max_workers=workers)
        seen = client.provider.seen  # type: ignore[attr-defined]
    return statistics.median(seen[len(seen) // 2 :])


def test_a_service_that_queues_polls_gets_fewer_at_once(
    counting: type[CountingService], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert polls_out_late_in_a_wait(1, monkeypatch) < 2


def test_a_service_that_answers_four_at_once_gets_about_four(
    counting: type[CountingService], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert 3 <= polls_out_late_in_a_wait(4, monkeypatch, workers=16) <= 6


def test_a_service_that_answers_polls_side_by_side_gets_every_worker(
    counting: type[CountingService], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert polls_out_late_in_a_wait(None, monkeypatch) >= 6


# -- workers waiting for the next job to be due ------------------------------------------------------


class InstantService(NeverEnding):
    """Every job due again 50-100 ms after its poll."""

    name = "instant"
    capabilities = Capabilities(
        poll=PollPolicy(initial=0.1, factor=1.0, cap=0.1, min_interval=0.01)
    )


class CountingCondition(threading.Condition):
    """A condition that counts the times its waiters woke."""

    wakes = 0

    def wait(self, timeout: float | None = None) -> bool:
        try:
            return super().wait(timeout)
        finally:
            CountingCondition.wakes += 1


def test_a_job_coming_due_wakes_one_waiting_worker_not_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asyncjobs import _waiting

    real_init = _waiting._Board.__init__

    def init(self: Any, *args: Any) -> None:
        real_init(self, *args)
        self._work = CountingCondition(self._lock)

    monkeypatch.setattr(_waiting._Board, "__init__", init)
    monkeypatch.setattr(CountingCondition, "wakes", 0)
    asyncjobs.register("instant", InstantService, replace=True)
    try:
        with asyncjobs.connect("instant", ledger=False) as client:
            polls = 0
            real_status = client.status

            def counted(job_id: str) -> JobInfo:
                nonlocal polls
                polls += 1
                return real_status(job_id)

            monkeypatch.setattr(client, "status", counted)
            jobs = [client.job(f"j{n}") for n in range(20)]
            asyncjobs.wait(jobs, timeout=1.0, max_workers=8)
    finally:
        unregister("instant")
    assert polls > 100
    assert CountingCondition.wakes <= 3 * polls
