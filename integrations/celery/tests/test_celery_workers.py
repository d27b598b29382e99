"""Workers lost and workers busy: a worker killed (SIGKILL, its pool processes too) while it holds
jobs loses none and doubles none; waits hold no slot between polls; every countdown stays below the
broker's visibility timeout. Each test starts its own workers on a Redis database of its own."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from asyncjobs_celery import job
from celery_support import CountingConversio, Group, eventually

from asyncjobs import errors

TIMEOUT = 60  # a hang guard only


def test_a_worker_killed_while_it_holds_jobs_loses_none_and_submits_each_once(
    group: Callable[..., Group], conversio: CountingConversio
) -> None:
    """Worker A holds every job: their next polls reserved (ETA messages, unacknowledged) and
    some polls out at the sandbox. A is killed whole; worker B, started after, gets every message
    back once the visibility timeout passes, and each job ends, once, from its one submit."""
    g = group(visibility_timeout=3, lease=1)
    conversio.duration = 250.0  # 2.5 s
    a = g.start("a")
    chains = [
        (job("conversio", "segments-export", segment="s1") | g.app.tasks["tests.handle"].s())()
        for _ in range(8)
    ]
    eventually(lambda: conversio.submits() == 8, TIMEOUT, "every job submitted")
    eventually(
        lambda: len({p for m, p in list(conversio.log) if m == "GET"}) == 8,
        TIMEOUT,
        "every job polled",
    )
    held = conversio.hold("GET", "/async-jobs/")
    assert held.arrived.wait(TIMEOUT)  # a poll is out: A is mid-poll
    assert g.redis.hlen("unacked") > 0  # and holds reserved polls
    a.kill()
    held.release()
    g.start("b")
    ends = [c.parent.get(timeout=TIMEOUT) for c in chains]
    handled = [c.get(timeout=TIMEOUT) for c in chains]
    assert all(e["info"]["status"] == "done" for e in ends)
    assert conversio.submits() == 8  # exactly one submit per job
    assert len({e["job_id"] for e in ends}) == 8
    for end, h in zip(ends, handled, strict=True):
        assert h["job_id"] == end["job_id"]
        assert g.redis.get(f"tests:handled:{end['job_id']}") == b"1"


def test_a_pool_process_killed_mid_poll_hands_its_message_back_and_the_job_goes_on(
    group: Callable[..., Group], conversio: CountingConversio
) -> None:
    """Only the pool processes die (the worker's main process lives on): the message of the poll
    that was out is handed back at once (reject_on_worker_lost; without it the task would be stored
    FAILURE with WorkerLostError), runs again once the dead copy's lease ends, and the job ends."""
    g = group(lease=1)  # the broker's visibility timeout (an hour) plays no part here
    conversio.duration = 200.0  # 2 s
    a = g.start("a", concurrency=2)
    chained = (
        job("conversio", "segments-export", segment="s1") | g.app.tasks["tests.handle"].s()
    )()
    eventually(lambda: any(m == "GET" for m, _ in list(conversio.log)), TIMEOUT, "a first poll")
    held = conversio.hold("GET", "/async-jobs/")
    assert held.arrived.wait(TIMEOUT)
    for pid in _children(a.proc.pid):
        os.kill(pid, signal.SIGKILL)
    held.release()
    end = chained.parent.get(timeout=TIMEOUT)
    assert chained.get(timeout=TIMEOUT)["job_id"] == end["job_id"]
    assert end["info"]["status"] == "done"
    assert conversio.submits() == 1
    assert a.proc.poll() is None  # the same worker went on
    assert "WorkerLostError" in a.text()  # the pool process was lost mid-task


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_worker_killed_after_the_submits_request_left_never_makes_a_second_job(
    group: Callable[..., Group], conversio: CountingConversio
) -> None:
    """The submit reached the service, its answer never came back: the message is delivered
    again, and the ledger says the first submit's outcome is unknown, so no second is sent."""
    g = group(visibility_timeout=3, lease=1)
    a = g.start("a")
    held = conversio.hold("POST", "/segments/")
    sent = job("conversio", "segments-export", segment="s1").delay()
    assert held.arrived.wait(TIMEOUT)
    a.kill()
    held.release()  # the service makes the job; nobody hears of it
    eventually(lambda: len(conversio.jobs) == 1, TIMEOUT, "the job made at the service")
    g.start("b")
    with pytest.raises(errors.TransportError) as caught:
        sent.get(timeout=TIMEOUT)
    assert "unknown outcome" in str(caught.value)
    assert conversio.submits() == 1


def test_no_worker_slot_is_held_between_polls(
    group: Callable[..., Group], conversio: CountingConversio
) -> None:
    """One worker with one slot, five jobs that run until the test ends them: each is polled again
    and again while the others are pending (a wait that held its slot would poll only one)."""
    g = group()
    conversio.duration = 1e9
    with g.workers("solo", concurrency=1):
        sent = [job("conversio", "segments-export", segment="s1").delay() for _ in range(5)]
        eventually(lambda: len(conversio.jobs) == 5, TIMEOUT, "every job submitted")
        made = list(conversio.jobs)
        eventually(
            lambda: all(conversio.looks(j) >= 3 for j in made),
            TIMEOUT,
            "every pending job polled three times",
        )
        with conversio._lock:
            for j in conversio.jobs.values():
                j["duration"] = 0.0  # every job done now
        assert sorted(r.get(timeout=TIMEOUT)["job_id"] for r in sent) == sorted(made)


def test_every_countdown_stays_below_the_visibility_timeout(
    group: Callable[..., Group], conversio: CountingConversio
) -> None:
    """The poll policy asks for a first poll after a minute; the broker hands an unacknowledged
    message out again after 4 s: each step is sent with a countdown of at most 2 s instead, so no
    message is held long enough to be delivered twice, and the job's end comes in seconds."""
    g = group(visibility_timeout=4, extra={"ASYNCJOBS_CELERY_TEST_POLL": "slow"})
    conversio.duration = 10.0
    with g.workers("w"):
        sent = job("conversio", "segments-export", segment="s1").delay()
        etas: list[datetime] = []
        while not sent.ready():  # every step message the worker holds, as it holds it
            seen = datetime.now(timezone.utc)
            for raw in g.redis.hvals("unacked"):
                eta = json.loads(raw)[0]["headers"].get("eta")
                if eta:
                    etas.append(datetime.fromisoformat(eta))
                    assert (etas[-1] - seen).total_seconds() <= 2.0
            time.sleep(0.05)
        end = sent.get(timeout=TIMEOUT)
    assert end["info"]["status"] == "done"
    assert etas  # steps were seen held, each due within half the visibility timeout
