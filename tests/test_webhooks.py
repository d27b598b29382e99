"""Webhooks end to end, over real loopback HTTP: the sandboxes call the receiver (standalone on
waitress, mounted in Flask, in Starlette), the receiver confirms with one poll, and waiters wake."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from webhook_support import (
    KEY,
    QUICK_POLL,
    SLOW_POLL,
    Served,
    ServedASGI,
    free_port,
    polls,
    serve_in_subprocess,
    serve_refused,
    until,
)

import asyncjobs
from asyncjobs import aio, errors, webhooks
from asyncjobs.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
Connect = Callable[..., asyncjobs.Client]


def _submit(client: asyncjobs.Client, **kwargs: Any) -> asyncjobs.Job:
    return client.submit("convert", source=b"hello", from_="txt", to="pdf", **kwargs)


def _call(url: str, body: bytes | None = None, method: str = "POST", **headers: str) -> int:
    """One call to the receiver; its HTTP status."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# -- the same process ----------------------------------------------------------------------------


def test_a_waiter_is_woken_by_the_call_to_the_standalone_receiver(
    hooked: Connect, convertapi_box: Sandbox
) -> None:
    client = hooked()
    job = _submit(client, webhook=True)
    started = time.monotonic()
    info = job.wait(timeout=10)
    assert info.status is asyncjobs.Status.DONE
    assert time.monotonic() - started < 3  # polling alone would take 30 s
    (call,) = convertapi_box.app.webhook_calls
    assert call[0] == "POST"
    assert call[2] == "200"


def test_the_woken_waiter_polls_no_more(hooked: Connect, convertapi_box: Sandbox) -> None:
    client = hooked()
    job = _submit(client, webhook=True)
    job.wait(timeout=10)
    time.sleep(0.2)
    # the receiver's one confirming poll, and at most the wait's first look (which waits the
    # policy's first delay after the submit, so the call usually comes first): nothing else
    assert polls(convertapi_box.app, job.id) in (1, 2)


def test_the_job_url_carries_a_token_of_that_job(hooked: Connect, receiver: Any) -> None:
    client = hooked()
    job = _submit(client, webhook=True)
    job.wait(timeout=10)
    assert receiver.url_for("convertapi", job.id).startswith(receiver.public_url + "/convertapi/")
    assert receiver.url_for("convertapi", job.id) != receiver.url_for("convertapi", "other")


def test_asyncjobs_wait_over_many_jobs_is_woken(hooked: Connect) -> None:
    client = hooked()
    jobs = [_submit(client, webhook=True) for _ in range(5)]
    started = time.monotonic()
    done, not_done = asyncjobs.wait(jobs, timeout=10)
    assert not not_done
    assert len(done) == 5
    assert time.monotonic() - started < 3


def test_a_future_is_woken(hooked: Connect) -> None:
    client = hooked()
    job = _submit(client, webhook=True)
    started = time.monotonic()
    result = job.future().result(timeout=10)
    assert result.files
    assert time.monotonic() - started < 3


def test_an_aio_wait_is_woken(convertapi_box: Sandbox, receiver: Any, tmp_path: Path) -> None:
    settings = convertapi_box.app.client_settings(convertapi_box.url)

    async def main() -> float:
        async with aio.connect(
            "convertapi",
            webhooks=receiver,
            poll=SLOW_POLL,
            ledger=tmp_path / "l.sqlite3",
            **settings,
        ) as client:
            job = await client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
            started = time.monotonic()
            info = await job.wait(timeout=10)
            assert info.status is asyncjobs.Status.DONE
            return time.monotonic() - started

    assert asyncio.run(main()) < 3


def test_aio_wait_over_many_jobs_is_woken(
    convertapi_box: Sandbox, receiver: Any, tmp_path: Path
) -> None:
    settings = convertapi_box.app.client_settings(convertapi_box.url)

    async def main() -> float:
        async with aio.connect(
            "convertapi", webhooks=receiver, poll=SLOW_POLL, ledger=False, **settings
        ) as client:
            jobs = [
                await client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
                for _ in range(4)
            ]
            started = time.monotonic()
            _done, not_done = await aio.wait(jobs, timeout=10)
            assert not not_done
            return time.monotonic() - started

    assert asyncio.run(main()) < 3


def test_the_legacy_get_call_is_understood(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked()
    job = _submit(client)  # no webhook: the sandbox will not call
    url = receiver.url_for("convertapi", job.id) + "?JobId=" + job.id
    client._expecting.add(job.id)
    started = time.monotonic()
    assert _call(url, method="GET") == 200
    until(lambda: polls(convertapi_box.app, job.id) == 1)
    assert time.monotonic() - started < 2


def test_the_legacy_sandbox_calls_with_get_and_job_id(
    hooked: Connect, convertapi_box: Sandbox
) -> None:
    client = hooked(protocol="legacy")
    job = _submit(client, webhook=True)  # semi-async: done when the answer comes
    until(lambda: bool(convertapi_box.app.webhook_calls))
    ((method, url, outcome),) = convertapi_box.app.webhook_calls
    assert method == "GET"
    assert url.endswith("?JobId=" + job.id)
    assert outcome == "200"


def test_a_user_url_is_passed_as_it_is(hooked: Connect, convertapi_box: Sandbox) -> None:
    other = Served()
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return []

    other.app = app
    try:
        client = hooked(poll=QUICK_POLL)
        _submit(client, webhook=other.url + "/mine").wait(timeout=10)
        until(lambda: seen == ["/mine"])
    finally:
        other.stop()


# -- mounted in web frameworks -------------------------------------------------------------------


def test_mounted_in_flask_the_receiver_wakes_the_waiter(
    convertapi_box: Sandbox, tmp_path: Path
) -> None:
    import flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    served = Served()
    receiver = webhooks.Receiver(served.url + "/hooks/asyncjobs", KEY)
    site = flask.Flask("site")

    @site.get("/")
    def index() -> str:
        return "the site"

    site.wsgi_app = DispatcherMiddleware(site.wsgi_app, {"/hooks/asyncjobs": receiver})  # type: ignore[method-assign]
    served.app = site
    try:
        with asyncjobs.connect(
            "convertapi",
            webhooks=receiver,
            poll=SLOW_POLL,
            ledger=tmp_path / "l.sqlite3",
            **convertapi_box.app.client_settings(convertapi_box.url),
        ) as client:
            job = _submit(client, webhook=True)
            started = time.monotonic()
            assert job.wait(timeout=10).status is asyncjobs.Status.DONE
            assert time.monotonic() - started < 3
        assert urllib.request.urlopen(served.url + "/").read() == b"the site"
    finally:
        served.stop()
        receiver.close()


def test_mounted_in_starlette_the_receiver_wakes_the_waiter(
    convertapi_box: Sandbox, tmp_path: Path
) -> None:
    from a2wsgi import WSGIMiddleware
    from starlette.applications import Starlette
    from starlette.routing import Mount

    port = free_port()
    receiver = webhooks.Receiver(f"http://127.0.0.1:{port}/hooks", KEY)
    site = Starlette(routes=[Mount("/hooks", app=WSGIMiddleware(receiver))])  # type: ignore[arg-type]
    served = ServedASGI(site, port=port)
    try:
        with asyncjobs.connect(
            "convertapi",
            webhooks=receiver,
            poll=SLOW_POLL,
            ledger=tmp_path / "l.sqlite3",
            **convertapi_box.app.client_settings(convertapi_box.url),
        ) as client:
            job = _submit(client, webhook=True)
            started = time.monotonic()
            assert job.wait(timeout=10).status is asyncjobs.Status.DONE
            assert time.monotonic() - started < 3
        assert convertapi_box.app.webhook_calls[0][2] == "200"
    finally:
        served.stop()
        receiver.close()


# -- another process ------------------------------------------------------------------------------


def test_a_waiter_in_another_process_is_woken_through_the_ledger(
    convertapi_box: Sandbox, tmp_path: Path, asyncjobs_home: Path
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}/hooks"
    ledger = tmp_path / "shared.sqlite3"
    asyncjobs.Ledger(ledger).close()
    proc = serve_in_subprocess(convertapi_box, public, port, ledger, asyncjobs_home)
    try:
        # this process only builds URLs: the receiver it knows is served by the other one
        here = webhooks.Receiver(public, KEY)
        with asyncjobs.connect(
            "convertapi",
            webhooks=here,
            poll=SLOW_POLL,
            ledger=ledger,
            **convertapi_box.app.client_settings(convertapi_box.url),
        ) as client:
            job = _submit(client, webhook=True)
            started = time.monotonic()
            assert job.wait(timeout=10).status is asyncjobs.Status.DONE
            assert time.monotonic() - started < 3
            # the server's poll only: this wait's first poll (after the first delay) never came due
            assert polls(convertapi_box.app, job.id) == 1
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert KEY not in out + err


# -- security and robustness ---------------------------------------------------------------------


def test_a_thousand_forged_tokens_trigger_no_poll(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked(poll=asyncjobs.PollPolicy(initial=60, cap=60, min_interval=60))
    job = _submit(client)
    client._expecting.add(job.id)
    body = json.dumps({"JobId": job.id}).encode()
    answers = set()
    for _ in range(1000):
        forged = f"{receiver.public_url}/convertapi/whk_{secrets.token_urlsafe(32)}"
        answers.add(_call(forged, body))
    answers.add(_call(f"{receiver.public_url}/convertapi/", body))
    answers.add(_call(f"{receiver.public_url}/convertapi", body))
    assert answers == {404}
    time.sleep(0.3)
    assert polls(convertapi_box.app, job.id) == 0


def test_a_token_of_another_job_triggers_nothing(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked()
    job = _submit(client)
    client._expecting.add(job.id)
    url = receiver.url_for("convertapi", "someotherjob")
    assert _call(url, json.dumps({"JobId": job.id}).encode()) == 404
    time.sleep(0.3)
    assert polls(convertapi_box.app, job.id) == 0


def test_a_dropped_call_still_ends_in_done_through_polling(
    hooked: Connect, convertapi_box: Sandbox
) -> None:
    convertapi_box.app.webhooks.drop()
    client = hooked(poll=QUICK_POLL)
    job = _submit(client, webhook=True)
    assert job.wait(timeout=10).status is asyncjobs.Status.DONE
    assert [c[2] for c in convertapi_box.app.webhook_calls] == ["dropped"]


def test_a_late_call_still_ends_in_done_through_polling(
    hooked: Connect, convertapi_box: Sandbox
) -> None:
    convertapi_box.app.webhooks.delay(30)
    client = hooked(poll=QUICK_POLL)
    job = _submit(client, webhook=True)
    assert job.wait(timeout=10).status is asyncjobs.Status.DONE
    assert convertapi_box.app.webhooks.pending() == 1


def test_a_call_for_an_unknown_job_is_harmless(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked()
    unknown = "0" * 32
    assert (
        _call(receiver.url_for("convertapi", unknown), json.dumps({"JobId": unknown}).encode())
        == 200
    )
    time.sleep(0.3)
    assert polls(convertapi_box.app, unknown) == 0
    assert client.ledger is not None
    assert client.ledger.get("convertapi", unknown) is None


def test_a_repeated_call_for_a_finished_job_is_answered_and_ignored(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked()
    job = _submit(client, webhook=True)
    job.wait(timeout=10)
    time.sleep(0.2)
    before = polls(convertapi_box.app, job.id)
    url = receiver.url_for("convertapi", job.id)
    assert _call(url, json.dumps({"JobId": job.id}).encode()) == 200
    time.sleep(0.3)
    assert polls(convertapi_box.app, job.id) == before


def test_the_receiver_answers_within_a_second_when_the_provider_hangs(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked()
    job = _submit(client)
    client._expecting.add(job.id)
    convertapi_box.app.faults.delay(3, path="/async/job/")
    started = time.monotonic()
    assert (
        _call(receiver.url_for("convertapi", job.id), json.dumps({"JobId": job.id}).encode()) == 200
    )
    assert time.monotonic() - started < 1


def test_a_body_over_the_cap_is_refused_unread(receiver: Any, hooked: Connect) -> None:
    hooked()
    url = receiver.url_for("convertapi", "x" * 32)
    assert _call(url, b"{" + b" " * (webhooks.MAX_BODY + 1) + b"}") == 413


def test_a_method_no_service_uses_is_refused(receiver: Any, hooked: Connect) -> None:
    hooked()
    assert _call(receiver.url_for("convertapi", "x" * 32), method="DELETE") == 405


def test_a_provider_nobody_connected_is_not_found(receiver: Any) -> None:
    assert _call(receiver.url_for("convertapi", "x" * 32), b"{}") == 404


def test_a_wsgi_mount_routes_below_script_name(receiver: Any, hooked: Connect) -> None:
    client = hooked()
    job = _submit(client)
    path = receiver.url_for("convertapi", job.id).split("/hooks", 1)[1]
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/somewhere/else",
        "PATH_INFO": path,
        "QUERY_STRING": f"JobId={job.id}",
    }
    receiver(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"]


# -- what each provider supports -----------------------------------------------------------------


def test_groupdocs_webhook_true_is_not_supported_before_any_request(
    provider_sandboxes: dict[str, Any], receiver: Any, tmp_path: Path
) -> None:
    groupdocs = provider_sandboxes["groupdocs"]
    before = len(groupdocs.box.app.requests)
    with asyncjobs.connect(
        "groupdocs", webhooks=receiver, ledger=tmp_path / "l.sqlite3", **groupdocs.settings
    ) as client:
        with pytest.raises(errors.NotSupportedError, match="webhooks"):
            client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
    assert len(groupdocs.box.app.requests) == before


def test_webhook_true_without_a_receiver_is_a_configuration_error(
    convertapi_box: Sandbox, tmp_path: Path
) -> None:
    with asyncjobs.connect(
        "convertapi", ledger=False, **convertapi_box.app.client_settings(convertapi_box.url)
    ) as client:
        with pytest.raises(errors.ConfigurationError, match="receiver"):
            _submit(client, webhook=True)
    assert convertapi_box.app.requests == []


def test_the_environment_describes_the_receiver(
    convertapi_box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCJOBS_WEBHOOK_URL", "https://hooks.example.com/asyncjobs")
    monkeypatch.setenv("ASYNCJOBS_WEBHOOK_KEY", KEY)
    settings = convertapi_box.app.client_settings(convertapi_box.url)
    with asyncjobs.connect("convertapi", ledger=False, **settings) as client:
        assert client.webhooks is not None
        assert client.webhooks.public_url == "https://hooks.example.com/asyncjobs"
    with asyncjobs.connect("convertapi", ledger=False, webhooks=False, **settings) as client:
        assert client.webhooks is None


def test_half_the_environment_is_a_configuration_error(
    convertapi_box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCJOBS_WEBHOOK_URL", "https://hooks.example.com/asyncjobs")
    monkeypatch.delenv("ASYNCJOBS_WEBHOOK_KEY", raising=False)
    with pytest.raises(errors.ConfigurationError, match="ASYNCJOBS_WEBHOOK_KEY"):
        asyncjobs.connect(
            "convertapi", ledger=False, **convertapi_box.app.client_settings(convertapi_box.url)
        )


def test_a_short_key_is_refused() -> None:
    with pytest.raises(errors.ConfigurationError, match="16 characters"):
        webhooks.Receiver("https://hooks.example.com/x", "short")


def test_conversio_sends_async_job_completed_to_the_account_url(
    conversio_box: Sandbox, receiver: Any, tmp_path: Path
) -> None:
    conversio_box.app.webhook = receiver.url_for("conversio")
    with asyncjobs.connect(
        "conversio",
        webhooks=receiver,
        poll=SLOW_POLL,
        ledger=tmp_path / "l.sqlite3",
        **conversio_box.app.client_settings(conversio_box.url),
    ) as client:
        job = client.submit("newsletter-recipients", newsletter="n1", webhook=True)
        started = time.monotonic()
        assert job.wait(timeout=10).status is asyncjobs.Status.DONE
        assert time.monotonic() - started < 3
    # the sender notes the call's outcome once its answer is back, which may be after the wake-up
    deadline = time.monotonic() + 5
    while not conversio_box.app.webhooks.made and time.monotonic() < deadline:
        time.sleep(0.01)
    ((method, url, outcome),) = conversio_box.app.webhooks.made
    assert (method, url, outcome) == ("POST", receiver.url_for("conversio"), "200")


def test_conversio_takes_no_url_of_ones_own_per_job(conversio_box: Sandbox, receiver: Any) -> None:
    with asyncjobs.connect(
        "conversio",
        webhooks=receiver,
        ledger=False,
        **conversio_box.app.client_settings(conversio_box.url),
    ) as client:
        with pytest.raises(errors.NotSupportedError, match="url_for"):
            client.submit("newsletter-recipients", newsletter="n1", webhook="https://x.example/h")
    assert conversio_box.app.requests == []


def _signed(box: Sandbox) -> dict[str, str]:
    """The ``Authorization`` header Conversio signs a call with, under the box's first key."""
    from asyncjobs_conversio.signature import sign

    return {"Authorization": f"Bearer {sign(box.app.client_settings(box.url)['api_key'])}"}


def test_a_conversio_call_for_a_job_nobody_submitted_costs_no_poll(
    conversio_box: Sandbox, receiver: Any, tmp_path: Path
) -> None:
    with asyncjobs.connect(
        "conversio",
        webhooks=receiver,
        ledger=tmp_path / "l.sqlite3",
        **conversio_box.app.client_settings(conversio_box.url),
    ):
        body = {"meta": {"topic": "async-job/completed", "ts": 1}, "data": {"asyncJobId": "abc"}}
        signed = _signed(conversio_box)
        assert _call(receiver.url_for("conversio"), json.dumps(body).encode(), **signed) == 200
        time.sleep(0.3)
    assert conversio_box.app.requests == []


def test_a_conversio_body_it_cannot_read_is_a_bad_request(
    conversio_box: Sandbox, receiver: Any
) -> None:
    with asyncjobs.connect(
        "conversio",
        webhooks=receiver,
        ledger=False,
        **conversio_box.app.client_settings(conversio_box.url),
    ):
        assert _call(receiver.url_for("conversio"), b"not json", **_signed(conversio_box)) == 400
        assert _call(receiver.url_for("conversio") + "x", b"not json") == 404


def test_the_providers_own_token_opens_no_per_job_calls(
    hooked: Connect, convertapi_box: Sandbox, receiver: Any
) -> None:
    client = hooked()
    job = _submit(client)
    client._expecting.add(job.id)
    body = json.dumps({"JobId": job.id}).encode()
    assert _call(receiver.url_for("convertapi"), body) == 404
    time.sleep(0.3)
    assert polls(convertapi_box.app, job.id) == 0


def test_serve_without_the_key_exits_2_and_says_which_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ASYNCJOBS_WEBHOOK_KEY"}
    done = serve_refused(
        {**env, "ASYNCJOBS_HOME": str(tmp_path)},
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "https://hooks.example.com/a",
    )
    assert done.returncode == 2
    assert "ASYNCJOBS_WEBHOOK_KEY" in done.stderr
