"""Webhooks from the sandbox reach a receiver on 127.0.0.1: GET ?JobId= (legacy), POST JSON (current)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import asyncjobs


class Receiver:
    """A tiny HTTP server on 127.0.0.1 recording every call it gets."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.called = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                outer.calls.append(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": dict(parse_qsl(parts.query)),
                        "body": body,
                        "type": self.headers.get("Content-Type"),
                    }
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.called.set()

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhook_reaches_the_local_receiver(
    client: asyncjobs.Client, protocol: str, receiver: Receiver
) -> None:
    job = client.submit("convert", source=b"x", from_="txt", to="pdf", webhook=receiver.url)
    assert receiver.called.wait(5), "the sandbox called the webhook"
    (call,) = receiver.calls
    assert call["path"] == "/hook"
    if protocol == "legacy":
        assert (call["method"], call["query"], call["body"]) == ("GET", {"JobId": job.id}, b"")
    else:
        assert (call["method"], call["type"]) == ("POST", "application/json")
        assert json.loads(call["body"]) == {"JobId": job.id}
    assert client.status(job.id).status is asyncjobs.Status.DONE


def test_webhook_to_another_host_is_refused_by_the_sandbox(client: asyncjobs.Client) -> None:
    with pytest.raises(asyncjobs.errors.ProviderError) as caught:
        client.submit(
            "convert", source=b"x", from_="txt", to="pdf", webhook="https://example.com/hook"
        )
    assert "WebHook" in caught.value.invalid_parameters
