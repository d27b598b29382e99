"""Canary: the client secret and access tokens never appear in messages, logs or reprs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

import asyncjobs
from asyncjobs.errors import AsyncJobsError
from asyncjobs.sandbox import Sandbox

CANARY = "canary-Secret-7f3a9c1e5b"


def test_secret_and_tokens_never_leak(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = GroupDocsSandbox(scale=1000, root=tmp_path / "s", client_secret=CANARY)
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG), Sandbox(app) as box:
        settings = app.client_settings(box.url)
        with asyncjobs.connect("groupdocs", ledger=tmp_path / "l.db", **settings) as client:
            job = client.submit(
                "convert",
                source=b"x",
                from_="txt",
                to="pdf",
                load_options={"Password": "pw-canary-123"},
            )
            token = client.provider.tokens.get()
            app.expire_tokens()
            client.status(job.id)  # a 401, a refresh, a replay
            seen += [
                repr(client),
                repr(client.provider),
                repr(client.provider.config),
                repr(client.provider.tokens),
                repr(client.provider.auth()),
            ]
            seen += [repr(e) for e in client.ledger.entries()]  # type: ignore[union-attr]
            app.faults.status(401, path="/conversion/async", times=2)
            for call in (
                lambda: client.status(job.id),
                lambda: client.submit(
                    "convert", source=b"x", from_="txt", to="pdf", upload_path="upload-error/a.txt"
                ),
            ):
                with pytest.raises(AsyncJobsError) as caught:
                    call()
                seen += [str(caught.value), repr(caught.value)]
        bad = {**settings, "client_secret": CANARY + "-wrong"}
        with asyncjobs.connect("groupdocs", ledger=False, **bad) as client:
            with pytest.raises(AsyncJobsError) as caught:
                client.status("x")
            seen += [str(caught.value), repr(caught.value), repr(client.provider.config)]
    seen += [r.getMessage() for r in caplog.records]
    text = "\n".join(seen)
    assert "pw-canary-123" not in text
    assert CANARY not in text
    assert token not in text
    assert app.tokens_issued == 3  # first, after expiry, after the injected 401
