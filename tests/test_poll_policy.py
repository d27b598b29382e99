"""The poll policy: exponential, capped, never later than a fixed fraction of the job's age, with a
jitter between half and all of the bound; the many-job scheduler's first poll of a fresh job."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

import pytest

import asyncjobs
from asyncjobs import PollPolicy
from asyncjobs._job import Job, tracker
from asyncjobs._models import JobInfo, Status


def test_the_bound_is_the_least_of_exponential_cap_and_fraction_of_age() -> None:
    policy = PollPolicy(initial=1, factor=2, cap=100, min_interval=0.1, fraction=0.4)
    assert policy.bound(0) == 1
    assert policy.bound(5) == 32
    assert policy.bound(10) == 100
    assert policy.bound(10, age=10) == pytest.approx(4)  # 0.4 of its age
    assert policy.bound(10, age=1000) == 100  # capped
    assert policy.bound(10, age=0.5) == 1  # a young job: never under initial
    assert policy.bound(0, age=1000) == 1  # and never over the exponential bound


@pytest.mark.parametrize("age", [None, 0.0, 3.0, 30.0, 3000.0])
def test_delays_are_drawn_between_half_and_all_of_the_bound(age: float | None) -> None:
    policy = PollPolicy(initial=1, factor=1.5, cap=10, min_interval=0.2, fraction=0.4)
    rng = random.Random(7)
    for attempt in range(12):
        bound = policy.bound(attempt, age)
        delays = [policy.delay(attempt, rng, age=age) for _ in range(300)]
        assert all(max(0.2, bound / 2) <= d <= max(0.2, bound) for d in delays)
        assert min(delays) < 0.6 * bound or bound / 2 < 0.2  # spread over the range
        assert max(delays) > 0.9 * bound or bound < 0.2


def test_a_job_is_never_polled_later_than_the_fraction_of_its_age() -> None:
    policy = PollPolicy(initial=1, factor=1.5, cap=30, min_interval=0.2, fraction=0.4)
    rng = random.Random(3)
    age, attempt = 0.0, 0
    while age < 600:
        delay = policy.delay(attempt, rng, age=age)
        assert delay <= max(policy.initial, 0.4 * age) + 1e-9
        age += delay
        attempt += 1


@pytest.mark.parametrize("fraction", [0, -1, 11, float("nan"), True, "0.4"])
def test_a_bad_fraction_is_refused(fraction: object) -> None:
    with pytest.raises(asyncjobs.errors.InvalidParameterError):
        PollPolicy(fraction=fraction)  # type: ignore[arg-type]


class _Client:
    name = "toy"
    poll_policy = PollPolicy(initial=2, factor=1.5, cap=10, min_interval=0.1)

    def expects_call(self, job_id: str) -> bool:
        return False


def _first_poll(job: Job) -> float:
    """Seconds from now to the job's first poll, as the poll core has it."""
    now = time.monotonic()
    return tracker(job).first(now, time.time()) - now


def _job(submitted: datetime | None, status: Status = Status.PENDING) -> Job:
    info = JobInfo(
        provider="toy", id="j", kind="k", status=status, raw_status="x", submitted_at=submitted
    )
    return Job(_Client(), "j", info=info)  # type: ignore[arg-type]


def test_the_scheduler_waits_the_first_delay_for_a_job_just_submitted() -> None:
    now = datetime.now(timezone.utc)
    first = _first_poll(_job(now))
    assert 0.9 <= first <= 2.0  # between half and all of `initial`, less the moment since


def test_the_scheduler_polls_at_once_a_job_it_does_not_know_fresh() -> None:
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    assert _first_poll(_job(old)) == 0
    assert _first_poll(_job(None)) == 0
    assert _first_poll(_job(datetime.now(timezone.utc), Status.DONE)) == 0
    assert _first_poll(Job(_Client(), "j")) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("hold", [-1, float("inf"), True, "5"])
def test_a_bad_hold_is_refused(hold: object) -> None:
    with pytest.raises(asyncjobs.errors.InvalidParameterError, match=r"poll\.hold"):
        PollPolicy(hold=hold)  # type: ignore[arg-type]


def test_a_service_answers_at_once_unless_its_policy_says_it_holds_polls() -> None:
    assert PollPolicy().hold == 0
