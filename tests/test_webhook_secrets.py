"""The canary: the webhook key and the per-job tokens never show, in logs, reprs, the ledger, error
messages or the command's output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from webhook_support import KEY, QUICK_POLL

import asyncjobs
from asyncjobs import errors, webhooks
from asyncjobs.sandbox import Sandbox

Connect = Callable[..., asyncjobs.Client]


def _leaks(text: str, tokens: list[str]) -> list[str]:
    found = [t for t in tokens if t in text]
    if KEY in text:
        found.append("the key")
    if "whk_" in text:
        found.append("a token's prefix")
    return found


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_tokens_are_masked_by_their_shape_in_any_text(receiver: Any) -> None:
    url = receiver.url_for("convertapi", "j" * 32)
    assert asyncjobs.redact_all(f"called {url}?JobId=1") == (
        f"called {receiver.public_url}/convertapi/***?JobId=1"
    )


def test_the_key_is_redacted_while_the_receiver_lives(receiver: Any) -> None:
    assert asyncjobs.redact_all(f"key={KEY}") == "key=***"
    assert KEY not in repr(receiver)


def test_no_key_or_token_in_logs_reprs_ledger_or_errors(
    hooked: Connect,
    convertapi_box: Sandbox,
    receiver: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncjobs")
    client = hooked(poll=QUICK_POLL)
    tokens: list[str] = []
    texts: list[str] = [repr(receiver), repr(client)]
    for _ in range(3):
        job = client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
        tokens.append(_token(receiver.url_for("convertapi", job.id)))
        texts += [repr(job), repr(job.wait(timeout=10))]
    # a confirming poll that fails is logged; its message must hold no token
    job = client.submit("convert", source=b"hi", from_="txt", to="pdf")
    client._expecting.add(job.id)
    convertapi_box.app.faults.status(500, path="/async/job/", body={"Code": 5000, "Message": KEY})
    url = receiver.url_for("convertapi", job.id)
    tokens.append(_token(url))
    req = urllib.request.Request(url, data=json.dumps({"JobId": job.id}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5):
        pass
    # a submit whose answer is lost: the error names the job, never its webhook URL
    convertapi_box.app.faults.drop(path="/async/convert", times=10)
    with pytest.raises(errors.AsyncJobsError) as caught:
        client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
    texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(receiver.public_url + "/convertapi/whk_forged", b"{}", timeout=5)
    texts.append(refused.value.read().decode())
    import time

    time.sleep(0.5)  # the failing confirm's log line
    texts += [r.getMessage() for r in caplog.records]
    assert client.ledger is not None
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.glob("ledger.sqlite3*")]
    for text in texts:
        assert _leaks(text, tokens) == [], text[:300]


def test_no_key_or_token_in_the_commands_output(
    convertapi_box: Sandbox, receiver: Any, hooked: Connect, tmp_path: Path, asyncjobs_home: Path
) -> None:
    client = hooked()
    job = client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
    job.wait(timeout=10)
    tokens = [_token(receiver.url_for("convertapi", job.id))]
    env = {
        **os.environ,
        "ASYNCJOBS_WEBHOOK_URL": receiver.public_url,
        "ASYNCJOBS_WEBHOOK_KEY": KEY,
        "CONVERTAPI_SECRET": convertapi_box.app.secret,
        "CONVERTAPI_BASE_URL": convertapi_box.url,
    }
    ledger = str(tmp_path / "ledger.sqlite3")
    for args in (
        ["status", "convertapi", job.id, "--json"],
        ["list", "--local", "--json"],
        ["wait", "convertapi", job.id],
        ["webhooks", "serve", "--listen", "nonsense", "--public-url", receiver.public_url],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "asyncjobs", "--ledger", ledger, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert _leaks(done.stdout + done.stderr, tokens) == [], args


def test_a_receiver_from_the_environment_masks_its_key(
    monkeypatch: pytest.MonkeyPatch, convertapi_box: Sandbox
) -> None:
    monkeypatch.setenv("ASYNCJOBS_WEBHOOK_URL", "https://hooks.example.com/a")
    env_key = "an-entirely-other-key-from-the-environment"
    monkeypatch.setenv("ASYNCJOBS_WEBHOOK_KEY", env_key)
    with asyncjobs.connect(
        "convertapi", ledger=False, **convertapi_box.app.client_settings(convertapi_box.url)
    ) as client:
        assert env_key not in repr(client.webhooks)
        assert asyncjobs.redact_all(env_key) == "***"
    assert isinstance(client.webhooks, webhooks.Receiver)
