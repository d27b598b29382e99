"""Conversio's signed webhooks: the adapter verifies every call's HS256 JWT, registers the
receiver's URL through ``/webhooks``, and the sandbox signs, retries and registers as the service
does (the vendor's ``_webhooks.md``)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from asyncjobs_conversio.sandbox import ConversioSandbox
from asyncjobs_conversio.signature import KID_API_KEY, LEEWAY, MAX_AGE, Verifier, sign
from conversio_support import KEY, OTHER_KEY
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncjobs
from asyncjobs.sandbox import Sandbox

#: The token of the vendor's docs ("Security Signature"), signed with "a-secret" at 1485431682.
VENDOR_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IkNsaWVudCBTZWNyZXQiLCJ0eXAiOiJKV1QifQ.eyJqaXQiOiIzOTg1Y2JlMC1lM2J"
    "lLTExZTYtYThmMy04NTMzOTYyOGMzNGEiLCJpYXQiOjE0ODU0MzE2ODIsImlzcyI6IkNvbnZlcnNpbyJ9.WZYh7Wylj5vn"
    "GRWqrgeMXdeRjIqJc9V30nyEG7QHpvk"
)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _unsigned(claims: dict[str, Any]) -> str:
    """A token with ``alg: none`` and no signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': KID_API_KEY})}.{_b64(claims)}."


FORGED: dict[str, Callable[[], str | None]] = {
    "no Authorization header": lambda: None,
    "not a Bearer token": lambda: f"Basic {sign(KEY)}",
    "signed with a wrong key": lambda: f"Bearer {sign('not-the-api-key-0123456789')}",
    "another shop's key under the right kid": lambda: f"Bearer {sign(OTHER_KEY)}",
    "the right key under a kid it does not name": lambda: (
        f"Bearer {sign(KEY, kid='Client Secret')}"
    ),
    "alg none": lambda: (
        "Bearer " + _unsigned({"jti": "x", "iat": int(time.time()), "iss": "Conversio"})
    ),
    "expired": lambda: f"Bearer {sign(KEY, now=time.time() - MAX_AGE - LEEWAY - 5)}",
    "issued in the future": lambda: f"Bearer {sign(KEY, now=time.time() + LEEWAY + 60)}",
    "garbage": lambda: "Bearer a.b.c",
}


@pytest.fixture
def verifier() -> Verifier:
    """A verifier of the first shop's calls."""
    return Verifier({KID_API_KEY: KEY})


def test_the_vendors_example_token_verifies_under_its_secret() -> None:
    at_the_time = Verifier({"Client Secret": "a-secret"}, clock=lambda: 1485431690.0)
    assert at_the_time.verify(f"Bearer {VENDOR_TOKEN}")


@pytest.mark.parametrize("make", FORGED.values(), ids=FORGED.keys())
def test_a_forged_authorization_is_refused(verifier: Verifier, make: Callable[[], str]) -> None:
    assert not verifier.verify(make())


def test_a_token_is_accepted_once(verifier: Verifier) -> None:
    token = f"Bearer {sign(KEY)}"
    assert verifier.verify(token)
    assert not verifier.verify(token)


def test_a_small_clock_skew_is_forgiven(verifier: Verifier) -> None:
    assert verifier.verify(f"Bearer {sign(KEY, now=time.time() + LEEWAY / 2)}")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_no_stranger_header_verifies(header: str) -> None:
    assert not Verifier({KID_API_KEY: KEY}).verify(header)


# -- registration through /webhooks ---------------------------------------------------------------

HOOK = "http://127.0.0.1:9/hooks/conversio/whk_test"


def test_register_webhook_subscribes_async_job_completed(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    assert conversio_client.provider.register_webhook(HOOK) is True
    (hook,) = conversio_app.subscriptions.values()
    assert (hook["topic"], hook["endpoint"], hook["shop"]) == (
        "async-job/completed",
        HOOK,
        "shop-1",
    )


def test_register_webhook_twice_registers_once(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    conversio_client.provider.register_webhook(HOOK)
    assert conversio_client.provider.register_webhook(HOOK) is False
    assert len(conversio_app.subscriptions) == 1


@pytest.fixture
def api(conversio_box: Sandbox) -> Callable[..., requests.Response]:
    """A request to the sandbox's API with a shop's key."""

    def call(method: str, path: str, key: str = KEY, **kwargs: Any) -> requests.Response:
        url = f"{conversio_box.url}/api/v1/{path}"
        return requests.request(method, url, headers={"X-ApiKey": key}, timeout=5, **kwargs)

    return call


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"topic": "async-job/completed", "endpoint": HOOK}, 201),
        ({"topic": "async-job/finished", "endpoint": HOOK}, 400),
        ({"topic": "async-job/completed", "endpoint": "not a uri"}, 400),
        ({"topic": "async-job/completed"}, 400),
    ],
)
def test_the_sandbox_creates_webhooks_as_the_service_does(
    api: Callable[..., requests.Response], body: dict[str, str], status: int
) -> None:
    answer = api("POST", "webhooks", json=body)
    assert answer.status_code == status
    assert ("data" if status == 201 else "errors") in answer.json()


def test_the_sandbox_refuses_a_second_webhook_of_one_topic_and_endpoint(
    api: Callable[..., requests.Response],
) -> None:
    body = {"topic": "async-job/completed", "endpoint": HOOK}
    assert api("POST", "webhooks", json=body).status_code == 201
    assert api("POST", "webhooks", json=body).status_code == 400


def test_a_shop_sees_and_deletes_only_its_own_webhooks(
    api: Callable[..., requests.Response],
) -> None:
    made = api("POST", "webhooks", json={"topic": "async-job/completed", "endpoint": HOOK}).json()
    hook_id = made["data"]["id"]
    assert api("GET", "webhooks", key=OTHER_KEY).json() == {"data": []}
    assert api("GET", f"webhooks/{hook_id}", key=OTHER_KEY).status_code == 404
    assert api("DELETE", f"webhooks/{hook_id}", key=OTHER_KEY).status_code == 404
    assert api("GET", "webhooks").json()["data"] == [made["data"]]
    assert api("DELETE", f"webhooks/{hook_id}").status_code == 204
    assert api("GET", "webhooks").json() == {"data": []}


# -- the sandbox's calls --------------------------------------------------------------------------


class Recorder:
    """A WSGI endpoint that records the calls it gets and answers each with the next status."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._statuses = list(statuses)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length))
        headers = {k[5:].lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        self.calls.append((headers, body))
        status = self._statuses.pop(0) if len(self._statuses) > 1 else self._statuses[0]
        start_response(f"{status} X", [("Content-Length", "0")])
        return [b""]


@pytest.fixture
def endpoint() -> Iterator[Callable[..., tuple[Recorder, str]]]:
    """Serve a :class:`Recorder` on 127.0.0.1: ``endpoint(statuses)`` -> (recorder, its URL)."""
    boxes: list[Sandbox] = []

    def make(*statuses: int) -> tuple[Recorder, str]:
        recorder = Recorder(statuses or (200,))
        boxes.append(Sandbox(recorder).__enter__())
        return recorder, boxes[-1].url + "/hook"

    yield make
    for box in boxes:
        box.__exit__(None, None, None)


def _until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_the_sandbox_signs_each_call_with_the_shops_api_key(
    conversio_client: asyncjobs.Client,
    conversio_app: ConversioSandbox,
    endpoint: Callable[..., tuple[Recorder, str]],
) -> None:
    recorder, url = endpoint()
    conversio_client.provider.register_webhook(url)
    conversio_client.submit("newsletter-recipients", newsletter="n1")
    _until(lambda: bool(recorder.calls))
    headers, body = recorder.calls[0]
    assert Verifier({KID_API_KEY: KEY}).verify(headers["authorization"])
    assert body["meta"]["topic"] == "async-job/completed"


def test_the_calls_ts_is_integer_milliseconds(
    conversio_client: asyncjobs.Client, endpoint: Callable[..., tuple[Recorder, str]]
) -> None:
    recorder, url = endpoint()
    conversio_client.provider.register_webhook(url)
    before = time.time() * 1000
    conversio_client.submit("newsletter-recipients", newsletter="n1")
    _until(lambda: bool(recorder.calls))
    ts = recorder.calls[0][1]["meta"]["ts"]
    assert isinstance(ts, int)
    assert before - 1000 < ts < time.time() * 1000 + 1000


def test_a_failed_call_is_retried_signed_anew_with_the_same_ts(
    conversio_client: asyncjobs.Client,
    conversio_app: ConversioSandbox,
    endpoint: Callable[..., tuple[Recorder, str]],
) -> None:
    recorder, url = endpoint(503, 500, 200)
    conversio_client.provider.register_webhook(url)
    conversio_client.submit("newsletter-recipients", newsletter="n1")
    _until(lambda: len(recorder.calls) == 3, seconds=10)  # 10 and 35 sandbox minutes later
    # the sender notes a call's outcome once its answer is back, after the endpoint saw it
    _until(lambda: len(conversio_app.webhooks.made) == 3, seconds=10)
    tokens = [headers["authorization"] for headers, _ in recorder.calls]
    assert len(set(tokens)) == 3
    assert len({body["meta"]["ts"] for _, body in recorder.calls}) == 1
    assert [outcome for _, _, outcome in conversio_app.webhooks.made] == ["503", "500", "200"]


def test_a_call_that_keeps_failing_is_made_seven_times(
    conversio_box: Sandbox, endpoint: Callable[..., tuple[Recorder, str]]
) -> None:
    app = conversio_box.app
    app.clock.scale = 100_000.0  # the retries of a day and 3 hours, in about a second
    recorder, url = endpoint(500)
    settings = app.client_settings(conversio_box.url)
    with asyncjobs.connect("conversio", ledger=False, **settings) as client:
        client.provider.register_webhook(url)
        client.submit("newsletter-recipients", newsletter="n1")
        _until(lambda: len(recorder.calls) == 7, seconds=10)
    assert app.webhooks.pending() == 0
