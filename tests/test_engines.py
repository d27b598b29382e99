"""asyncjobs.engines: a wait an engine carries between runs (its state as JSON), one step at a time,
and a submit an engine may run again without making a second job. That the steps reach the same
ends after the same polls as every other way of waiting is tests/test_poll_parity.py's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripted_provider import SCRIPTS, Scripted

import asyncjobs
from asyncjobs import Capabilities, JobInfo, PollPolicy, Status, engines, errors
from asyncjobs._ledger import Ledger, SubmitState
from asyncjobs._registry import unregister


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[asyncjobs.Client]:
    asyncjobs.register("scripted", Scripted, replace=True)
    Scripted.polls.clear()
    Scripted.submits.clear()
    with asyncjobs.connect("scripted", ledger=tmp_path / "ledger.sqlite3") as client:
        yield client
    unregister("scripted")


def _state(**changes: Any) -> dict[str, Any]:
    state = engines.PollState("scripted", "plain-1", "run", since=1000.0, deadline=1060.0)
    return {**state.to_dict(), **changes}


def test_a_state_travels_as_json_and_comes_back_equal() -> None:
    state = engines.PollState(
        "scripted", "plain-1", "run", since=1000.5, deadline=None, attempt=3, errors=1
    )
    assert engines.PollState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ("plain-1", "expected a mapping"),
        (_state(extra=1), "unknown fields ['extra']"),
        ({"provider": "scripted", "job_id": "x", "kind": None}, "since missing"),
        (_state(provider=""), "provider must be a non-empty string"),
        (_state(since=float("nan")), "since must be a finite number"),
        (_state(deadline="soon"), "deadline must be a finite number"),
        (_state(attempt=-1), "attempt must be a non-negative int"),
        (_state(errors=True), "errors must be a non-negative int"),
        (_state(expecting="yes"), "expecting must be true or false"),
    ],
)
def test_a_state_that_is_not_one_is_refused_naming_what_is_wrong(data: Any, named: str) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        engines.PollState.from_dict(data)
    assert caught.value.parameter == "state"
    assert named in str(caught.value)


def test_a_step_with_the_state_of_another_job_is_refused_before_any_request(
    scripted: asyncjobs.Client,
) -> None:
    job = scripted.submit("run", script="plain")
    other = engines.PollState("scripted", "plain-999", "run", since=time.time())
    with pytest.raises(errors.InvalidParameterError, match="not of job"):
        engines.step(job, other)
    assert Scripted.polls[job.id] == []


def test_start_sends_no_request_and_waits_the_policys_first_delay(
    scripted: asyncjobs.Client,
) -> None:
    job = scripted.submit("run", script="plain")
    turn = engines.start(job, timeout=5)
    assert not turn.over
    assert turn.delay is not None
    assert 0 <= turn.delay <= 0.01
    assert turn.state.deadline == pytest.approx(turn.state.since + 5)
    assert Scripted.polls[job.id] == []


def test_a_step_past_the_deadline_ends_the_wait_with_a_timeout(
    scripted: asyncjobs.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCRIPTS, "forever", "P")
    job = scripted.submit("run", script="forever")
    state = engines.start(job, timeout=0.05).state
    time.sleep(0.06)
    turn = engines.step(job, state)
    assert turn.over
    assert isinstance(turn.error, errors.JobTimeoutError)
    assert job.id in str(turn.error)
    assert "engines.start" in str(turn.error)


def test_a_failed_job_ends_the_wait_with_job_failed_error(scripted: asyncjobs.Client) -> None:
    job = scripted.submit("run", script="failed")
    turn = engines.start(job)
    while not turn.over:
        turn = engines.step(job, turn.state)
    assert isinstance(turn.error, errors.JobFailedError)
    assert turn.info is not None
    assert turn.info.status is Status.FAILED
    assert turn.to_dict()["error"]["type"] == "JobFailedError"


def test_a_turn_is_json_safe(scripted: asyncjobs.Client) -> None:
    job = scripted.submit("run", script="plain")
    turn = engines.step(job, engines.start(job).state)
    data = json.loads(json.dumps(turn.to_dict()))
    assert data["info"]["status"] == "pending"
    assert engines.info_from_dict(data["info"]) == turn.info


def test_a_job_expecting_a_webhook_call_reads_the_ledger_between_polls_at_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCRIPTS, "forever", "P")
    policy = PollPolicy(initial=0.01, factor=2.0, cap=1.0, min_interval=0.0)
    monkeypatch.setattr(Scripted, "capabilities", Capabilities(poll=policy))
    asyncjobs.register("scripted", Scripted, replace=True)
    try:
        with asyncjobs.connect("scripted", ledger=tmp_path / "l.sqlite3") as client:
            job = client.submit("run", script="forever")
            state = engines.PollState("scripted", job.id, "run", since=time.time(), expecting=True)
            turn = engines.step(job, state)  # the first: the provider, once
            assert len(Scripted.polls[job.id]) == 1
            assert turn.state.look_at - time.time() >= policy.cap / 2 - 0.05  # next look: the cap
            assert turn.delay is not None
            assert turn.delay <= 0.02  # the ledger: at the policy's own pace
            turn = engines.step(job, turn.state)
            assert len(Scripted.polls[job.id]) == 1  # a ledger read, no request
            assert not turn.over
    finally:
        unregister("scripted")


def test_news_a_receiver_recorded_ends_a_wait_expecting_a_call_with_no_request(
    scripted: asyncjobs.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCRIPTS, "forever", "P")
    job = scripted.submit("run", script="forever")
    turn = engines.step(job, attrs_evolve(engines.start(job).state, expecting=True))
    assert scripted.ledger is not None
    scripted.ledger.seen(JobInfo("scripted", job.id, "run", Status.DONE, raw_status="D"))
    turn = engines.step(job, turn.state)
    assert turn.over
    assert turn.error is None
    assert turn.info is not None
    assert turn.info.raw_status == "D"
    assert len(Scripted.polls[job.id]) == 1


def attrs_evolve(state: engines.PollState, **changes: Any) -> engines.PollState:
    return engines.PollState.from_dict({**state.to_dict(), **changes})


def test_a_submit_run_again_with_its_ref_resumes_the_job_it_made(
    scripted: asyncjobs.Client,
) -> None:
    first = engines.submit_once(scripted, "run", {"script": "plain"}, ref="celery:t-1")
    again = engines.submit_once(scripted, "run", {"script": "plain"}, ref="celery:t-1")
    assert again.id == first.id
    assert len(Scripted.submits) == 1
    other = engines.submit_once(scripted, "run", {"script": "plain"}, ref="celery:t-2")
    assert other.id != first.id
    assert len(Scripted.submits) == 2


def test_a_submit_whose_job_failed_is_made_again_under_the_same_ref(
    scripted: asyncjobs.Client,
) -> None:
    first = engines.submit_once(scripted, "run", {"script": "failed"}, ref="airflow:d/t/r/-1")
    assert first.wait(timeout=5, progress=False).status is Status.FAILED
    again = engines.submit_once(scripted, "run", {"script": "failed"}, ref="airflow:d/t/r/-1")
    assert again.id != first.id
    assert len(Scripted.submits) == 2


@pytest.mark.parametrize("state", [SubmitState.SUBMITTING, SubmitState.UNKNOWN])
def test_a_submit_whose_earlier_outcome_is_unknown_is_not_sent_again(
    scripted: asyncjobs.Client, state: str
) -> None:
    ledger = scripted.ledger
    assert ledger is not None
    key = ledger.begin("scripted", "run", {"script": "plain"}, ref="celery:lost")
    if state == SubmitState.UNKNOWN:
        ledger.failed(key, "the answer was lost", ambiguous=True)
    with pytest.raises(errors.TransportError, match="unknown outcome"):
        engines.submit_once(scripted, "run", {"script": "plain"}, ref="celery:lost")
    assert Scripted.submits == []


def test_a_refused_submit_is_sent_again_under_the_same_ref(scripted: asyncjobs.Client) -> None:
    ledger = scripted.ledger
    assert ledger is not None
    key = ledger.begin("scripted", "run", {"script": "plain"}, ref="celery:refused")
    ledger.failed(key, "401", ambiguous=False)
    engines.submit_once(scripted, "run", {"script": "plain"}, ref="celery:refused")
    assert len(Scripted.submits) == 1


@pytest.mark.parametrize("ref", ["", "   ", "x" * 501, "a\x00b", 7])
def test_a_bad_ref_is_refused_before_any_request(scripted: asyncjobs.Client, ref: Any) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        engines.submit_once(scripted, "run", {"script": "plain"}, ref=ref)
    assert caught.value.parameter == "ref"
    assert Scripted.submits == []


def test_submit_once_without_a_ledger_says_it_needs_one(tmp_path: Path) -> None:
    asyncjobs.register("scripted", Scripted, replace=True)
    try:
        with asyncjobs.connect("scripted", ledger=False) as client:
            with pytest.raises(errors.ConfigurationError, match="ledger"):
                engines.submit_once(client, "run", {"script": "plain"}, ref="celery:t")
    finally:
        unregister("scripted")


@pytest.mark.slow
def test_a_step_on_a_shared_ledger_gives_the_lease_up_and_reads_the_ledger_while_another_holds_it(
    pg_url: str,
) -> None:
    asyncjobs.register("scripted", Scripted, replace=True)
    Scripted.polls.clear()
    SCRIPTS["forever"] = "P"
    other = Ledger(pg_url)
    try:
        with asyncjobs.connect("scripted", ledger=pg_url) as client:
            job = client.submit("run", script="forever")
            turn = engines.step(job, engines.start(job).state)
            assert len(Scripted.polls[job.id]) == 1
            entry = other.get("scripted", job.id)
            assert entry is not None
            assert entry.holder is None
            assert other.lease("scripted", job.id, "run")  # another poller takes it
            turn = engines.step(client.job(job.id), turn.state)
            assert len(Scripted.polls[job.id]) == 1  # the ledger's word, not a request
            assert not turn.over
    finally:
        SCRIPTS.pop("forever", None)
        other.close()
        unregister("scripted")
