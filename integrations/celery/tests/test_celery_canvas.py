"""Jobs through real Celery workers (prefork, four pool processes each) on a real Redis: chains,
chords, the typed errors, duplicates of messages, and the canary secret nowhere."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from typing import Any

import asyncjobs_celery
import pytest
from asyncjobs_celery import job
from celery import chord, group
from celery.result import AsyncResult
from celery_support import CANARY, CountingConversio, Group, eventually, job_ids

from asyncjobs import errors
from asyncjobs._redaction import encodings

Pool = tuple[Group, list[Any]]
TIMEOUT = 30  # a hang guard only


def _settled(g: Group) -> bool:
    """No message waits in the queue, and none is reserved unacknowledged."""
    return g.redis.llen("celery") == 0 and g.redis.hlen("unacked") == 0


def test_a_chain_hands_the_jobs_end_to_the_next_task(pool: Pool, conversio: Any) -> None:
    g, _ = pool
    result = (job("conversio", "segments-export", segment="s1") | g.app.tasks["tests.handle"].s())()
    handled = result.get(timeout=TIMEOUT)
    end = result.parent.get(timeout=TIMEOUT)
    assert end["info"]["status"] == "done"
    assert end["provider"] == "conversio"
    assert handled == {"job_id": end["job_id"], "files": [f"{end['job_id']}.csv"]}
    assert end["files"][0]["media_type"] == "text/csv"
    assert conversio.looks(end["job_id"]) == end["polls"] + 1  # its polls, and the result's fetch


def test_the_signatures_own_id_gives_the_end_from_anywhere(pool: Pool, conversio: Any) -> None:
    g, _ = pool
    sent = job("conversio", "segments-export", segment="s1").delay()
    end = AsyncResult(sent.id, app=g.app).get(timeout=TIMEOUT)
    assert end["job_id"] in job_ids(json.dumps(end))
    assert AsyncResult(sent.id, app=g.app).state == "SUCCESS"


def test_a_chord_of_several_jobs_gets_every_end_in_order(pool: Pool, conversio: Any) -> None:
    g, _ = pool
    header = [job("conversio", "segments-export", segment="s1") for _ in range(5)]
    result = chord(header)(g.app.tasks["tests.collect"].s())
    ids = result.get(timeout=TIMEOUT)
    ends = [r.get(timeout=TIMEOUT) for r in result.parent.results]
    assert ids == [end["job_id"] for end in ends]
    assert len(set(ids)) == 5


def test_a_group_of_jobs_gives_each_end(pool: Pool, conversio: Any) -> None:
    conversio.duration = 20.0
    ends = group(job("conversio", "segments-export", segment="s1") for _ in range(3))()
    assert [e["info"]["status"] for e in ends.get(timeout=TIMEOUT)] == ["done"] * 3


def test_a_job_failed_at_the_provider_raises_job_failed_error_through_get(
    pool: Pool, conversio: Any
) -> None:
    g, _ = pool
    sent = job("conversio", "segments-export", segment="s-fail").delay()
    with pytest.raises(errors.JobFailedError) as caught:
        AsyncResult(sent.id, app=g.app).get(timeout=TIMEOUT)
    error = caught.value
    assert error.provider == "conversio"
    assert error.job_id in job_ids(str(error))
    assert error.info.status.value == "failed"
    assert error.info.error == "Export of s-fail failed on purpose"
    assert "failed on purpose" in str(error)


def test_a_failed_job_in_a_chain_stops_it_and_calls_the_errback(pool: Pool, conversio: Any) -> None:
    g, _ = pool
    chained = (
        job("conversio", "segments-export", segment="s-fail") | g.app.tasks["tests.handle"].s()
    )
    result = chained()
    with pytest.raises(errors.JobFailedError):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"  # the next task never ran: it carries the job's error


def test_a_wrong_parameter_arrives_as_invalid_parameter_error_naming_it(
    pool: Pool, conversio: Any
) -> None:
    sent = job("conversio", "segments-export", segment="s1", colour="red").delay()
    with pytest.raises(errors.InvalidParameterError) as caught:
        sent.get(timeout=TIMEOUT)
    assert caught.value.parameter == "colour"
    assert conversio.submits() == 0


def test_submit_then_wait_is_the_same_in_two_tasks(pool: Pool, conversio: Any) -> None:
    g, _ = pool
    tasks = asyncjobs_celery.register(g.app)  # the tasks already there, returned
    submitted = tasks.submit.s("conversio", "segments-export", {"segment": "s1"})
    end = (submitted | tasks.wait.s())().get(timeout=TIMEOUT)
    assert end["info"]["status"] == "done"


def test_a_job_submitted_elsewhere_is_waited_for_by_its_id(pool: Pool, conversio: Any) -> None:
    g, _ = pool
    tasks = asyncjobs_celery.register(g.app)
    made = tasks.submit.delay("conversio", "segments-export", {"segment": "s1"}).get(
        timeout=TIMEOUT
    )
    end = tasks.wait.delay("conversio", made["job_id"]).get(timeout=TIMEOUT)
    assert end["job_id"] == made["job_id"]
    assert conversio.submits() == 1


def test_a_waiting_job_tells_which_job_it_waits_for(pool: Pool, conversio: Any) -> None:
    conversio.duration = 300.0  # three seconds
    sent = job("conversio", "segments-export", segment="s1").delay()
    eventually(lambda: sent.state == asyncjobs_celery.WAITING, TIMEOUT, "state WAITING")
    waiting = dict(sent.info)
    assert waiting["provider"] == "conversio"
    assert waiting["kind"] == "segments-export"
    assert sent.get(timeout=TIMEOUT)["job_id"] == waiting["job_id"]


def test_duplicates_of_every_poll_message_neither_poll_nor_end_twice(
    pool: Pool, conversio: CountingConversio
) -> None:
    """Every message the workers hold is put back in the queue while they still hold it (what
    Redis does when a visibility timeout passes): each copy finds its step run, or running, and
    does nothing; every job is polled by one chain, and ends once."""
    g, workers = pool
    conversio.duration = 150.0  # 1.5 s
    results = [
        (job("conversio", "segments-export", segment="s1") | g.app.tasks["tests.handle"].s())()
        for _ in range(6)
    ]
    copies = 0
    for pause in (0.3, 0.4, 0.4):  # three rounds, while the jobs run
        time.sleep(pause)
        for raw in g.redis.hvals("unacked"):
            message, _exchange, routing_key = json.loads(raw)
            g.redis.lpush(routing_key or "celery", json.dumps(message))
            copies += 1
        eventually(lambda: g.redis.llen("celery") == 0, TIMEOUT, "copies taken")
    assert copies >= 6
    handled = [r.get(timeout=TIMEOUT) for r in results]
    eventually(lambda: _settled(g), TIMEOUT, "every copy done with")
    for r, h in zip(results, handled, strict=True):
        end = r.parent.get(timeout=TIMEOUT)
        assert g.redis.get(f"tests:handled:{end['job_id']}") == b"1"  # its chain went on once
        assert conversio.looks(end["job_id"]) == end["polls"] + 1  # no copy polled
        assert h["job_id"] == end["job_id"]
    assert conversio.submits() == 6
    logs = "".join(w.text() for w in workers)
    assert re.search(r"step [1-9]\d* already run: this copy is dropped", logs)


def test_the_secret_is_in_no_message_result_or_log_line(
    pool: Pool, conversio: CountingConversio
) -> None:
    g, running = pool
    conversio.duration = 100.0
    results = [
        (job("conversio", "segments-export", segment="s1") | g.app.tasks["tests.handle"].s())(),
        job("conversio", "segments-export", segment="s-fail").delay(),
    ]
    eventually(lambda: g.redis.hlen("unacked") > 0, TIMEOUT, "messages in flight")
    seen = [_everything(g)]  # while messages are in flight
    results[0].get(timeout=TIMEOUT)
    with pytest.raises(errors.JobFailedError):
        results[1].get(timeout=TIMEOUT)
    eventually(lambda: _settled(g), TIMEOUT, "every message done with")
    seen.append(_everything(g))  # results, claims
    seen += [w.text() for w in running]
    assert "DEBUG" in seen[-1]  # the workers log everything
    forms = encodings(CANARY)
    for text in seen:
        assert not [f for f in forms if f in text]


def _everything(g: Group) -> str:
    """Every key and value in the group's Redis database, message bodies decoded."""
    out: list[str] = []
    for key in g.redis.scan_iter():
        kind = g.redis.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [g.redis.get(key) or b""]
        elif kind == "list":
            values = g.redis.lrange(key, 0, -1)
        elif kind == "hash":
            values = [k + b"=" + v for k, v in g.redis.hgetall(key).items()]
        elif kind == "zset":
            values = g.redis.zrange(key, 0, -1)
        elif kind == "set":
            values = list(g.redis.smembers(key))
        out.append(key.decode(errors="replace"))
        for value in values:
            text = value.decode(errors="replace")
            out.append(text)
            out.extend(_bodies(text))
    return "\n".join(out)


def _bodies(text: str) -> list[str]:
    """The decoded bodies of the Celery messages in ``text`` (a queue's entry or an unacked one)."""
    found: list[str] = []
    for start in range(len(text)):
        if text.startswith('"body": "', start):
            end = text.index('"', start + 9)
            with contextlib.suppress(ValueError):
                found.append(base64.b64decode(text[start + 9 : end]).decode(errors="replace"))
    return found
