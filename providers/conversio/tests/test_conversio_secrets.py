"""Canary: the Conversio API key never shows in a message, a repr, a log record or a URL."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from asyncjobs_conversio.sandbox import ConversioSandbox
from conversio_support import QUICK_POLL

import asyncjobs
from asyncjobs.errors import AsyncJobsError
from asyncjobs.sandbox import Sandbox

CANARY = "cv-CANARY-7f3e9b21d4c8a605"
WRONG_CANARY = "cv-WRONG-CANARY-55aa33cc11"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_api_key_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = ConversioSandbox(scale=1000, keys={CANARY: "shop"})
    quick = asyncjobs.RetryPolicy(max_tries=2, base=0.001, cap=0.001, max_time=2)
    seen: list[object] = []
    with Sandbox(app) as box:
        base = box.url + "/api/v1"
        with asyncjobs.connect(
            "conversio",
            api_key=CANARY,
            base_url=base,
            retry=quick,
            poll=QUICK_POLL,
            ledger=tmp_path / "ledger.sqlite3",
        ) as client:
            seen += [
                client,
                client.provider,
                client.provider.config,
                client.provider.auth(),
                client.provider.transport,
            ]
            failing = client.submit("newsletter-recipients", newsletter="n-fail")
            done = client.submit("newsletter-recipients", newsletter="n1")
            seen += [done.result(timeout=10), done.info]
            actions = [
                lambda: client.submit("segments-export", segment="nope"),
                lambda: client.status("unknown-job"),
                lambda: (app.rate_limit(5), client.status(done.id)),
                lambda: (app.faults.malformed(path="/async-jobs/"), client.status(done.id)),
                lambda: client.cancel(done.id),
                lambda: failing.result(timeout=10),
                lambda: client.submit("segments-export", segment=""),
            ]
            for action in actions:
                with pytest.raises(AsyncJobsError) as caught:
                    action()
                seen.append(caught.value)
        with asyncjobs.connect(
            "conversio", api_key=WRONG_CANARY, base_url=base, ledger=False, retry=quick
        ) as wrong:
            with pytest.raises(AsyncJobsError) as caught:
                wrong.list()
            seen += [caught.value, wrong.provider.config]
    with asyncjobs.connect(
        "conversio",
        api_key=CANARY,
        ledger=False,
        retry=quick,
        base_url=f"http://127.0.0.1:{_free_port()}/api/v1",
    ) as closed:
        with pytest.raises(AsyncJobsError) as caught:
            closed.list()
        seen.append(caught.value)

    texts = [caplog.text, (tmp_path / "ledger.sqlite3").read_bytes().decode("latin-1")]
    texts += [t for obj in seen for t in (str(obj), repr(obj))]
    texts += [f"{m} {p}" for m, p in app.requests]
    assert len(seen) > 12
    for text in texts:
        assert CANARY not in text
        assert WRONG_CANARY not in text
