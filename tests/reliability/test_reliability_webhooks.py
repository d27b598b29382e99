"""Attacks on the webhook receiver (issue 28, finding 8): replayed calls, floods of unknown ids,
slow clients, forged lists of ids, and keys without entropy. Each test fills a cell of the
reliability matrix's attacks section, column ``webhooks``."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_matrix import Recorder
from webhook_support import (
    KEY,
    connect_hooked,
    free_port,
    polls,
    serve_in_subprocess,
    serve_refused,
    until,
    wsgi_call,
)

import asyncjobs
from asyncjobs import errors, webhooks
from asyncjobs.sandbox import Sandbox

PUBLIC = "https://hooks.example.com/asyncjobs"
#: The receiver may poll a job again after the policy's ``initial`` delay.
ONE_MINUTE = asyncjobs.PollPolicy(initial=60.0, cap=60.0, min_interval=0.0)
Connect = Callable[..., asyncjobs.Client]


@pytest.fixture
def pending(slow_convertapi_box: Sandbox, tmp_path: Path) -> Iterator[Connect]:
    """Connect ConvertAPI clients (jobs pending for a minute) to a receiver; keywords override."""
    made: list[asyncjobs.Client] = []

    def connect(receiver: Any, **kwargs: Any) -> asyncjobs.Client:
        settings = slow_convertapi_box.app.client_settings(slow_convertapi_box.url)
        kwargs = {"poll": ONE_MINUTE, "ledger": tmp_path / "ledger.sqlite3", **kwargs}
        made.append(asyncjobs.connect("convertapi", webhooks=receiver, **settings, **kwargs))
        return made[-1]

    yield connect
    for client in made:
        client.close()


def _expecting(client: asyncjobs.Client) -> asyncjobs.Job:
    """A pending job of ``client`` that expects a call."""
    return client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)


def _body(job_id: str) -> bytes:
    return json.dumps({"JobId": job_id}).encode()


# -- replayed calls --------------------------------------------------------------------------------


def test_a_call_replayed_100_times_costs_one_poll_per_poll_interval(
    pending: Connect, bare_receiver: Any, slow_convertapi_box: Sandbox, cell: Recorder
) -> None:
    cell.at("attacks", "one valid call replayed 100 times", "webhooks")
    job = _expecting(pending(bare_receiver))
    url = bare_receiver.url_for("convertapi", job.id)
    answers = set()
    for _ in range(100):
        answers.add(wsgi_call(bare_receiver, url, _body(job.id)))
        until(lambda: bare_receiver.queued == 0)  # each confirming poll done before the next call
    assert answers == {"200 OK"}
    assert polls(slow_convertapi_box.app, job.id) == 1
    cell.say("100 replays answered 200: one confirming poll per job per poll interval")


def test_a_call_after_the_poll_interval_is_confirmed_again(
    pending: Connect, bare_receiver: Any, slow_convertapi_box: Sandbox
) -> None:
    policy = asyncjobs.PollPolicy(initial=0.3, cap=60.0, min_interval=0.0)
    job = _expecting(pending(bare_receiver, poll=policy))
    url = bare_receiver.url_for("convertapi", job.id)
    assert wsgi_call(bare_receiver, url, _body(job.id)) == "200 OK"
    until(lambda: polls(slow_convertapi_box.app, job.id) == 1)
    assert wsgi_call(bare_receiver, url, _body(job.id)) == "200 OK"
    until(lambda: bare_receiver.queued == 0)
    assert polls(slow_convertapi_box.app, job.id) == 1  # within the interval
    until(
        lambda: (
            wsgi_call(bare_receiver, url, _body(job.id)) == "200 OK"
            and (polls(slow_convertapi_box.app, job.id) == 2)
        )
    )


# -- floods of unknown ids -------------------------------------------------------------------------


@pytest.fixture
def stalled_ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[asyncjobs.Client], None]]:
    """Make a client's ledger a database that is down: the receiver's confirming polls hang on it
    (until the test ends), and every other read fails at once."""
    release = threading.Event()

    def stall(client: asyncjobs.Client) -> None:
        def get(provider: str, job_id: str) -> None:
            if threading.current_thread().name.startswith("asyncjobs-webhook"):
                release.wait(30)
            raise errors.LedgerError("the database is down", provider=provider, job_id=job_id)

        assert client.ledger is not None
        monkeypatch.setattr(client.ledger, "get", get)

    yield stall
    release.set()


def test_calls_for_thousands_of_unknown_ids_queue_at_most_max_queued(
    pending: Connect,
    bare_receiver: Any,
    stalled_ledger: Callable[[asyncjobs.Client], None],
    cell: Recorder,
) -> None:
    cell.at("attacks", "calls for thousands of unknown ids, database down", "webhooks")
    stalled_ledger(pending(bare_receiver))
    peak = 0
    for n in range(webhooks.MAX_QUEUED + 1000):
        job_id = f"{n:032x}"
        url = bare_receiver.url_for("convertapi", job_id)
        assert wsgi_call(bare_receiver, url, _body(job_id)) == "200 OK"
        peak = max(peak, bare_receiver.queued)
    assert peak == webhooks.MAX_QUEUED
    cell.say(f"{webhooks.MAX_QUEUED + 1000} calls answered 200; {webhooks.MAX_QUEUED} queued")


def test_over_the_bound_a_job_this_process_expects_is_still_confirmed(
    pending: Connect, bare_receiver: Any, stalled_ledger: Callable[[asyncjobs.Client], None]
) -> None:
    receiver = webhooks.Receiver(bare_receiver.public_url, "x" + KEY_TAIL, max_queued=8)
    client = pending(receiver)
    stalled_ledger(client)
    try:
        for n in range(20):
            job_id = f"{n:032x}"
            wsgi_call(receiver, receiver.url_for("convertapi", job_id), _body(job_id))
        assert receiver.queued == 8
        job = _expecting(client)
        assert wsgi_call(receiver, receiver.url_for("convertapi", job.id), _body(job.id)) == (
            "200 OK"
        )
        assert receiver.queued == 9
    finally:
        receiver.close()


def test_an_id_longer_than_max_id_length_is_not_read(
    pending: Connect, bare_receiver: Any, slow_convertapi_box: Sandbox
) -> None:
    pending(bare_receiver)
    long_id = "a" * (webhooks.MAX_ID_LENGTH + 1)
    url = bare_receiver.url_for("convertapi", long_id)
    assert wsgi_call(bare_receiver, url, _body(long_id)) == "404 Not Found"
    assert bare_receiver.queued == 0


# -- forged lists of ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "answer"),
    [
        (0, "200 OK"),
        (webhooks.MAX_IDS_PER_CALL - 1, "200 OK"),
        (webhooks.MAX_IDS_PER_CALL, "404 Not Found"),
        (14_999, "404 Not Found"),
    ],
)
def test_only_the_first_ids_of_a_call_are_read(
    pending: Connect, bare_receiver: Any, position: int, answer: str, cell: Recorder
) -> None:
    cell.at("attacks", "a forged call listing 15,000 job ids", "webhooks")
    job = _expecting(pending(bare_receiver))
    ids = [f"{n:032x}" for n in range(15_000)]
    ids[position] = job.id
    query = "&".join(f"JobId={i}" for i in ids)
    url = bare_receiver.url_for("convertapi", job.id)
    assert wsgi_call(bare_receiver, url, query=query) == answer
    cell.say(f"only the first {webhooks.MAX_IDS_PER_CALL} ids are read, before any per-id work")


KEY_TAIL = "-receiver-key-for-the-bound-0f3c9a"

# -- keys without entropy --------------------------------------------------------------------------

WEAK_KEYS = {
    "16 spaces": " " * 16,
    "one character repeated": "a" * 40,
    "two characters alternating": "ab" * 20,
    "a short word repeated": "password" * 4,
}


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_a_key_without_entropy_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        webhooks.Receiver(PUBLIC, key)
    message = str(caught.value)
    assert "ASYNCJOBS_WEBHOOK_KEY" in message
    assert "secrets.token_urlsafe(32)" in message
    assert key.strip() == "" or key[:8] not in message


@settings(max_examples=50, deadline=None)
@given(char=st.characters(codec="utf-8"), length=st.integers(16, 200))
def test_any_key_of_one_repeated_character_is_refused(char: str, length: int) -> None:
    with pytest.raises(errors.ConfigurationError, match=r"too easy to guess|16 characters"):
        webhooks.Receiver(PUBLIC, char * length)


def test_a_random_key_is_accepted() -> None:
    import secrets

    assert webhooks.Receiver(PUBLIC, secrets.token_urlsafe(32)).public_url == PUBLIC


def test_serve_refuses_a_key_of_spaces_naming_the_setting(tmp_path: Path, cell: Recorder) -> None:
    cell.at("attacks", "webhook key without entropy", "webhooks")
    key = " " * 16
    env = {**os.environ, "ASYNCJOBS_HOME": str(tmp_path), "ASYNCJOBS_WEBHOOK_KEY": key}
    done = serve_refused(env, "--listen", "127.0.0.1:0", "--public-url", PUBLIC, "--no-ledger")
    assert done.returncode == 2
    assert "ASYNCJOBS_WEBHOOK_KEY" in done.stderr
    assert "token_urlsafe" in done.stderr
    cell.say("16 spaces, one repeated character: refused (exit 2), the setting named, not echoed")


# -- slow clients ----------------------------------------------------------------------------------

SLOW_CLIENTS = 300


def test_a_real_call_gets_through_while_300_slow_clients_hold_connections(
    convertapi_box: Sandbox, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", f"{SLOW_CLIENTS} slow connections to `webhooks serve`", "webhooks")
    port = free_port()
    public = f"http://127.0.0.1:{port}/hooks"
    ledger = tmp_path / "ledger.sqlite3"
    asyncjobs.Ledger(ledger).close()
    proc = serve_in_subprocess(convertapi_box, public, port, ledger, tmp_path / "home")
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):  # each sends half a request and then nothing
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.sendall(b"POST /hooks/convertapi/whk_x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(conn)
        job_id = "f" * 32
        url = webhooks.Receiver(public, KEY).url_for("convertapi", job_id)
        started = time.monotonic()
        request = urllib.request.Request(url, data=_body(job_id), method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        took = time.monotonic() - started
        assert took < 2
    finally:
        for conn in slow:
            conn.close()
        proc.terminate()
        proc.communicate(timeout=10)
    cell.say(f"a real call answered in {took:.2f} s beside {SLOW_CLIENTS} slow connections")


# -- Conversio's signed calls ----------------------------------------------------------------------


def _forged(key: str) -> dict[str, Callable[[], dict[str, str]]]:
    from asyncjobs_conversio.signature import LEEWAY, MAX_AGE, sign

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    replayed = sign(key)
    unsigned = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "none", "kid": "API Key"}, {"jti": "j", "iat": int(time.time())})
    )
    return {
        "missing header": dict,
        "wrong key": lambda: bearer(sign("a-wrong-key-0123456789")),
        "alg none": lambda: bearer(unsigned + "."),
        "another secret under the right kid": lambda: bearer(sign(key + "-other")),
        "expired": lambda: bearer(sign(key, now=time.time() - MAX_AGE - LEEWAY - 5)),
        "replayed jti": lambda: bearer(replayed),
    }


FORGED_CASES = (
    "missing header",
    "wrong key",
    "alg none",
    "another secret under the right kid",
    "expired",
    "replayed jti",
)


@pytest.mark.parametrize("case", FORGED_CASES)
def test_a_forged_conversio_call_triggers_no_poll(
    conversio_box: Sandbox, receiver: Any, tmp_path: Path, case: str, cell: Recorder
) -> None:
    cell.at("attacks", "forged Conversio signatures", "webhooks")
    settings = conversio_box.app.client_settings(conversio_box.url)
    forged = _forged(settings["api_key"])
    with connect_hooked("conversio", receiver, settings, tmp_path / "l.sqlite3") as client:
        job = client.submit("newsletter-recipients", newsletter="n1", webhook=True)
        body = {"meta": {"topic": "async-job/completed", "ts": 1}, "data": {"asyncJobId": job.id}}
        url = receiver.url_for("conversio")
        if case == "replayed jti":  # the genuine call once, then again
            wsgi_call(receiver, url, json.dumps(body).encode(), **_headers(forged[case]()))
            until(lambda: receiver.queued == 0)
            before = polls(conversio_box.app, job.id)
            receiver_key = "x" + KEY_TAIL  # a fresh receiver: no poll interval in the way
            fresh = webhooks.Receiver(receiver.public_url, receiver_key)
            client.webhooks = fresh
            fresh.attach(client)
            target, url = fresh, fresh.url_for("conversio")
        else:
            before, target = 0, receiver
        status = wsgi_call(target, url, json.dumps(body).encode(), **_headers(forged[case]()))
        until(lambda: target.queued == 0)
        assert status == "404 Not Found"
        assert polls(conversio_box.app, job.id) == before
    cell.say("no header, wrong key, alg none, other secret, expired, replayed jti: 404, no poll")


def _headers(headers: dict[str, str]) -> dict[str, str]:
    """HTTP headers as ``wsgi_call`` takes them (``Authorization`` -> ``authorization``)."""
    return {name.lower(): value for name, value in headers.items()}


def test_the_conversio_sandbox_retries_after_a_5xx_and_the_retry_wakes_the_job(
    hook_server: Any, receiver: Any, tmp_path: Path, cell: Recorder
) -> None:
    from asyncjobs_conversio.sandbox import ConversioSandbox

    cell.at("attacks", "Conversio sandbox: signed calls, retries, registration", "providers")
    refused: list[int] = []

    def flaky(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not refused:  # the receiver's host fails once, as a deploy would
            refused.append(503)
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        return receiver(environ, start_response)

    hook_server.app = flaky
    app = ConversioSandbox(scale=2000.0, start_after=0.0, duration=200.0)  # 0.1 s; retry 0.3 s
    with Sandbox(app) as box:
        settings = app.client_settings(box.url)
        with connect_hooked("conversio", receiver, settings, tmp_path / "l.sqlite3") as client:
            assert client.provider.register_webhook(receiver.url_for("conversio")) is True
            job = client.submit("newsletter-recipients", newsletter="n1", webhook=True)
            started = time.monotonic()
            assert job.wait(timeout=10).status is asyncjobs.Status.DONE
            assert time.monotonic() - started < 3  # polling alone: 30 s
        # the sender notes a call's outcome once its answer is back, maybe after the wake-up
        deadline = time.monotonic() + 5
        while len(app.webhooks.made) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        app.close()
    assert [outcome for _, _, outcome in app.webhooks.made] == ["503", "200"]
    cell.say("registered via POST /webhooks; signed call, 503, signed retry accepted, job woken")
