"""The poll core's rules, without I/O: what follows each outcome of a poll, at a given time."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncjobs import JobInfo, PollPolicy, Status, errors
from asyncjobs._poll import FLEET, WAITS, Action, Outcome, Poll, Rules, classify

POLICY = PollPolicy(initial=1.0, factor=2.0, cap=8.0, min_interval=0.1, fraction=0.5)
NOW, WALL = 100.0, 1_000_000.0


def look(status: Status = Status.PENDING, **meta: object) -> JobInfo:
    return JobInfo("p", "j", "k", status, raw_status=status.value, meta=meta)


def blip(retry_after: float | None = None) -> errors.RateLimitedError:
    return errors.RateLimitedError("busy", provider="p", job_id="j", retry_after=retry_after)


def poll(rules: Rules = WAITS, **kwargs: object) -> Poll:
    return Poll(POLICY, rules=rules, since=WALL, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (errors.JobTimeoutError("late"), Outcome.TIMEOUT),
        (errors.JobNotFoundError("gone"), Outcome.NOT_FOUND),
        (errors.TransportError("reset"), Outcome.TRANSIENT),
        (errors.RateLimitedError("busy"), Outcome.TRANSIENT),
        (errors.AuthenticationError("no"), Outcome.ERROR),
        (errors.LedgerError("full"), Outcome.ERROR),
        (ValueError("bug"), Outcome.CRASH),
    ],
)
def test_each_error_of_a_poll_is_one_kind_of_outcome(
    error: BaseException, outcome: Outcome
) -> None:
    assert classify(error) is outcome


def test_a_pending_look_is_polled_again_within_the_policys_bound() -> None:
    step = poll().step(look(), NOW, WALL)
    assert step.action is Action.AGAIN
    assert NOW + POLICY.initial / 2 <= step.at <= NOW + POLICY.initial


@pytest.mark.parametrize("status", [Status.DONE, Status.FAILED])
def test_a_finished_look_ends_the_job(status: Status) -> None:
    step = poll().step(look(status), NOW, WALL)
    assert (step.action, step.info) == (Action.ENDED, look(status))


def test_transient_errors_in_a_row_end_the_wait_at_the_limit() -> None:
    p = poll()
    steps = [p.step(blip(), NOW, WALL) for _ in range(WAITS.max_errors or 0)]
    assert [s.action for s in steps[:-1]] == [Action.AGAIN] * (len(steps) - 1)
    assert steps[-1].action is Action.GAVE_UP


def test_a_good_look_resets_the_count_of_transient_errors() -> None:
    p = poll()
    for _ in range(3 * (WAITS.max_errors or 0)):
        assert p.step(blip(), NOW, WALL).action is Action.AGAIN
        assert p.step(look(), NOW, WALL).action is Action.AGAIN


def test_the_fleet_never_gives_up_on_transient_errors() -> None:
    p = poll(FLEET)
    assert all(p.step(blip(), NOW, WALL).action is Action.AGAIN for _ in range(50))


@pytest.mark.parametrize(("rules", "strikes"), [(WAITS, 1), (FLEET, 3)])
def test_not_found_ends_polling_after_the_rules_strikes(rules: Rules, strikes: int) -> None:
    p = poll(rules)
    gone = errors.JobNotFoundError("gone")
    actions = [p.step(gone, NOW, WALL).action for _ in range(strikes)]
    assert actions == [Action.AGAIN] * (strikes - 1) + [Action.GAVE_UP]


def test_a_bug_ends_a_callers_wait_and_the_fleet_polls_again_at_the_cap() -> None:
    bug = ValueError("bug")
    assert poll().step(bug, NOW, WALL).action is Action.CRASHED
    step = poll(FLEET).step(bug, NOW, WALL)
    assert step.action is Action.AGAIN
    assert step.error is bug
    assert NOW + POLICY.cap / 2 <= step.at <= NOW + POLICY.cap


@pytest.mark.parametrize(("hint", "delay"), [(3.0, 3.0), (1e9, POLICY.cap), (0.0, 0.1)])
def test_a_retry_after_wins_clamped_between_the_least_interval_and_the_cap(
    hint: float, delay: float
) -> None:
    assert poll().step(blip(hint), NOW, WALL).at == pytest.approx(NOW + delay)
    assert poll().step(look(retry_after=hint), NOW, WALL).at == pytest.approx(NOW + delay)


@pytest.mark.parametrize("hint", [float("nan"), -1.0, True, "5"])
def test_an_unusable_retry_after_is_ignored(hint: object) -> None:
    step = poll().step(look(retry_after=hint), NOW, WALL)
    assert NOW + POLICY.initial / 2 <= step.at <= NOW + POLICY.initial


def test_a_job_expecting_a_webhook_call_is_polled_at_the_cap() -> None:
    step = poll(expecting=True).step(look(), NOW, WALL)
    assert NOW + POLICY.cap / 2 <= step.at <= NOW + POLICY.cap


def test_the_deadline_times_the_wait_out_and_bounds_the_next_poll() -> None:
    assert poll(deadline=NOW + 0.3).step(look(), NOW, WALL).at == NOW + 0.3
    late = poll(deadline=NOW).step(look(), NOW, WALL)
    assert (late.action, late.info) == (Action.TIMED_OUT, look())
    cause = blip()
    assert poll(deadline=NOW).step(cause, NOW, WALL).error is cause
    timeout = errors.JobTimeoutError("late")
    assert poll().step(timeout, NOW, WALL).action is Action.TIMED_OUT


def test_news_that_came_while_a_poll_was_out_wins_over_its_pending_look_or_error() -> None:
    for outcome in (look(), blip(), ValueError("bug")):
        p = poll()
        p.tell(look(Status.DONE))
        step = p.step(outcome, NOW, WALL)
        assert (step.action, step.info) == (Action.ENDED, look(Status.DONE))


def test_a_just_submitted_job_is_first_polled_after_the_first_delay() -> None:
    submitted = datetime.fromtimestamp(WALL, timezone.utc)
    info = JobInfo("p", "j", "k", Status.PENDING, submitted_at=submitted)
    first = poll(info=info).first(NOW, WALL)
    assert NOW + POLICY.initial / 2 <= first <= NOW + POLICY.initial
    assert poll(info=info).first(NOW, WALL + 3600) == NOW  # known for an hour: at once
    assert poll().first(NOW, WALL) == NOW  # nothing known: at once


def test_a_missing_policy_is_looked_up_when_first_needed() -> None:
    asked: list[int] = []

    def lookup() -> PollPolicy:
        asked.append(1)
        return POLICY

    p = Poll(None, since=WALL, lookup=lookup)
    assert p.first(NOW, WALL) == NOW
    assert asked == []
    assert p.step(look(), NOW, WALL).at <= NOW + POLICY.initial
    assert asked == [1]


@given(
    attempts=st.integers(0, 40),
    age=st.floats(0, 10_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_delay_is_later_than_the_fraction_of_the_jobs_age(
    attempts: int, age: float, seed: int
) -> None:
    p = Poll(POLICY, since=WALL - age, rng=random.Random(seed))
    p.attempt = attempts
    delay = p.delay(None, WALL)
    assert POLICY.min_interval <= delay <= max(POLICY.initial, POLICY.fraction * age) + 1e-9
