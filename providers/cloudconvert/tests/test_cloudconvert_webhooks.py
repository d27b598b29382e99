"""Webhooks: calls signed with the signing secret are read; forged, unsigned or otherwise signed
calls trigger nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import cloudconvert
import pytest
from asyncjobs_cloudconvert import sign_webhook, verify_webhook
from cloudconvert_support import ClientFactory

import asyncjobs
from asyncjobs import Status
from asyncjobs.provider import WebhookRequest
from asyncjobs.sandbox import Sandbox
from asyncjobs.webhooks import Receiver

JOB = "c677ccf7-8876-4f48-bb96-0ab8e0d88cd7"
BODY = json.dumps(
    {"event": "job.finished", "job": {"id": JOB, "status": "finished", "tasks": []}}
).encode()


def request(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["cloudconvert-signature"] = signature
    return WebhookRequest(method="POST", headers=headers, body=body)


@pytest.fixture
def provider(sandbox: Sandbox, connect_to: ClientFactory) -> Any:
    return connect_to(sandbox).provider


def test_a_signed_call_names_its_job(provider: Any, sandbox: Sandbox) -> None:
    signature = sign_webhook(BODY, sandbox.app.signing_secret)
    assert provider.read_webhook(request(BODY, signature)) == [JOB]
    assert provider.read_webhook(request(BODY, signature.upper())) == [JOB]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "0" * 64,
        "not hex",
        sign_webhook(BODY, "another-secret"),
        sign_webhook(BODY + b" ", "x"),
    ],
)
def test_an_unsigned_or_forged_call_names_nothing(provider: Any, signature: str | None) -> None:
    assert provider.read_webhook(request(BODY, signature)) == []


def test_a_call_signed_for_another_body_names_nothing(provider: Any, sandbox: Sandbox) -> None:
    other = BODY.replace(b"c677", b"dead")
    assert (
        provider.read_webhook(request(other, sign_webhook(BODY, sandbox.app.signing_secret))) == []
    )


def test_job_created_events_name_nothing(provider: Any, sandbox: Sandbox) -> None:
    body = BODY.replace(b"job.finished", b"job.created")
    assert (
        provider.read_webhook(request(body, sign_webhook(body, sandbox.app.signing_secret))) == []
    )


def test_without_a_signing_secret_nothing_verifies() -> None:
    assert not verify_webhook(BODY, sign_webhook(BODY, ""), None)
    assert not verify_webhook(BODY, sign_webhook(BODY, ""), "")


def test_our_signature_is_the_one_the_vendor_sdk_verifies() -> None:
    # the vendor SDK's own unit test: Webhook.verify("cloudconvert", <sig>, "90sffs0d8fs0f9sf0")
    sig = "5c4c0691bce8a1a2af738b7073fe0627e792734813358c5f88a658819dd0a6d2"
    assert sign_webhook(b"cloudconvert", "90sffs0d8fs0f9sf0") == sig
    assert cloudconvert.Webhook.verify(BODY.decode(), sign_webhook(BODY, "s3"), "s3")


@pytest.fixture
def served_receiver() -> Iterator[tuple[Receiver, str]]:
    holder: dict[str, Any] = {}
    with Sandbox(lambda env, start: holder["app"](env, start)) as box:
        receiver = holder["app"] = Receiver(box.url + "/hooks", "test-webhook-key-0123456789abcdef")
        yield receiver, box.url
        receiver.close()


def test_the_sandbox_calls_the_job_webhook_signed_and_the_job_ends(
    sandbox: Sandbox, connect_to: ClientFactory, served_receiver: tuple[Receiver, str]
) -> None:
    receiver, _ = served_receiver
    client = connect_to(sandbox, webhooks=receiver)
    job = client.submit("convert", source=b"x", from_="docx", to="pdf", webhook=True)
    assert job.wait(timeout=10, progress=False).status is Status.DONE
    for _ in range(400):
        if sandbox.app.webhooks.made:
            break
        time.sleep(0.01)
    ((method, url, outcome),) = sandbox.app.webhooks.made
    assert method == "POST"
    assert outcome == "200"
    assert url == receiver.url_for("cloudconvert")


def test_a_forged_call_to_the_receiver_polls_nothing(
    sandbox: Sandbox, connect_to: ClientFactory, served_receiver: tuple[Receiver, str]
) -> None:
    import requests

    receiver, _ = served_receiver
    client = connect_to(sandbox, webhooks=receiver)
    job = client.submit("convert", source=b"x", from_="docx", to="pdf")
    job.wait(timeout=10, progress=False)
    seen = len(sandbox.app.requests)
    body = json.dumps({"event": "job.finished", "job": {"id": job.id}}).encode()
    for signature in ("", "f" * 64, sign_webhook(body, "attacker")):
        answer = requests.post(
            receiver.url_for("cloudconvert"),
            data=body,
            headers={"Content-Type": "application/json", "CloudConvert-Signature": signature},
        )
        assert answer.status_code == 404
    assert len(sandbox.app.requests) == seen  # nothing was polled
    assert isinstance(client, asyncjobs.Client)
