"""The sandbox runner: many connections, clean stops, the job clock and the fault switches."""

from __future__ import annotations

import concurrent.futures as cf
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

import asyncjobs
from asyncjobs.sandbox import JobClock, Sandbox, SandboxApp, json_response, serve_providers


class Echo(SandboxApp):
    url_map = Map(
        [
            Rule("/echo/<word>", endpoint="echo"),
            Rule("/slow", endpoint="slow"),
            Rule("/big", endpoint="big"),
        ]
    )

    def client_settings(self, base_url: str) -> dict[str, str]:
        return {"base_url": base_url}

    def echo(self, request: Request, word: str) -> Response:
        return json_response({"word": word})

    def slow(self, request: Request) -> Response:
        time.sleep(0.5)
        return json_response({"slow": True})

    def big(self, request: Request) -> Response:
        return Response(b"x" * 100_000)


@pytest.fixture
def box() -> Sandbox:
    with Sandbox(Echo()) as served:
        yield served


def test_serves_on_loopback_at_a_free_port(box: Sandbox) -> None:
    assert box.url.startswith("http://127.0.0.1:")
    assert requests.get(f"{box.url}/echo/hi", timeout=5).json() == {"word": "hi"}


def test_unknown_routes_answer_404_json(box: Sandbox) -> None:
    r = requests.get(f"{box.url}/nope", timeout=5)
    assert r.status_code == 404
    assert "message" in r.json()


def test_sixty_four_connections_are_served_at_once(box: Sandbox) -> None:
    started = time.monotonic()
    with cf.ThreadPoolExecutor(64) as pool:
        answers = list(
            pool.map(lambda _: requests.get(f"{box.url}/slow", timeout=30).json(), range(64))
        )
    assert answers == [{"slow": True}] * 64
    assert time.monotonic() - started < 8  # 64 x 0.5 s would take 32 s one at a time


def test_stop_closes_the_port() -> None:
    served = Sandbox(Echo()).start()
    port = int(served.url.rsplit(":", 1)[1])
    served.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_status_fault_answers_n_times_then_stops(box: Sandbox) -> None:
    box.app.faults.status(503, times=2, body={"message": "busy"}, headers={"Retry-After": "1"})
    codes = [requests.get(f"{box.url}/echo/a", timeout=5).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_a_fault_can_target_a_path(box: Sandbox) -> None:
    box.app.faults.status(500, path="/echo/b")
    assert requests.get(f"{box.url}/echo/a", timeout=5).status_code == 200
    assert requests.get(f"{box.url}/echo/b", timeout=5).status_code == 500


def test_drop_closes_the_connection_without_an_answer(box: Sandbox) -> None:
    box.app.faults.drop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{box.url}/echo/a", timeout=5)
    assert requests.get(f"{box.url}/echo/a", timeout=5).ok


def test_malformed_answers_broken_json(box: Sandbox) -> None:
    box.app.faults.malformed()
    with pytest.raises(ValueError):
        requests.get(f"{box.url}/echo/a", timeout=5).json()


def test_truncate_sends_half_the_body(box: Sandbox) -> None:
    box.app.faults.truncate()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{box.url}/big", timeout=5).content  # noqa: B018


def test_delay_holds_the_answer(box: Sandbox) -> None:
    box.app.faults.delay(0.3)
    started = time.monotonic()
    requests.get(f"{box.url}/echo/a", timeout=5)
    assert time.monotonic() - started >= 0.3


def test_the_clock_runs_at_its_scale() -> None:
    clock = JobClock(scale=100)
    start = clock.now()
    time.sleep(0.05)
    assert 4 <= clock.now() - start <= 30


def test_the_clock_can_jump_forward() -> None:
    clock = JobClock(scale=1)
    start = clock.now()
    clock.advance(7200)
    assert clock.now() - start >= 7200


def test_the_clock_refuses_a_non_positive_scale() -> None:
    with pytest.raises(ValueError):
        JobClock(scale=0)


def test_serve_providers_starts_each_providers_sandbox_with_its_settings(
    toy_registered: object,
) -> None:
    from asyncjobs.sandbox import serve_providers

    (running,) = serve_providers(["toy"], scale=10)
    try:
        assert running.settings["base_url"] == running.box.url
        assert running.env() == {
            "TOY_KEY": running.settings["key"],
            "TOY_BASE_URL": running.box.url,
        }
        assert requests.get(f"{running.box.url}/jobs", timeout=5).status_code == 401
    finally:
        running.stop()


def test_serve_providers_refuses_a_provider_without_a_sandbox(
    toy_registered: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toy_provider import ToyProvider

    from asyncjobs.errors import InvalidParameterError
    from asyncjobs.sandbox import serve_providers

    monkeypatch.setattr(ToyProvider, "sandbox", None)
    with pytest.raises(InvalidParameterError, match="ships no sandbox"):
        serve_providers(["toy"])
    assert serve_providers(["toy"], strict=False) == []


def test_serve_providers_refuses_a_non_positive_scale() -> None:
    from asyncjobs.errors import InvalidParameterError
    from asyncjobs.sandbox import serve_providers

    with pytest.raises(InvalidParameterError, match="scale"):
        serve_providers([], scale=0)


def test_the_clocks_wall_time_is_the_wall_clock_at_any_scale() -> None:
    clock = JobClock(scale=20)
    time.sleep(0.2)  # four sandbox seconds
    now = clock.now()
    assert now - time.time() > 3  # sandbox time runs ahead: durations are shortened...
    assert abs(clock.wall(now) - time.time()) < 0.1  # ...but the clock it shows is not moved
    assert abs(clock.utcnow().timestamp() - time.time()) < 0.1


def test_the_clocks_wall_time_follows_a_jump_forward() -> None:
    clock = JobClock(scale=20)
    clock.advance(3600)
    assert abs(clock.wall(clock.now()) - (time.time() + 3600)) < 0.1


#: A job each built-in provider (and the example plugin) runs on its sandbox.
_SHORT_JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "groupdocs": ("convert", {"source": b"PK\x03\x04 doc", "from_": "docx", "to": "pdf"}),
    "conversio": ("segments-export", {"segment": "s1"}),
    "echo": ("shout", {"text": "hello"}),
}


@pytest.mark.parametrize("name", sorted(_SHORT_JOBS))
def test_a_sandbox_at_scale_20_shows_wall_clock_times(name: str, tmp_path: Path) -> None:
    kind, params = _SHORT_JOBS[name]
    (running,) = serve_providers([name], scale=20)
    try:
        before = datetime.now(timezone.utc)
        with asyncjobs.connect(name, ledger=tmp_path / "l.db", **running.settings) as client:
            job = client.submit(kind, **params)
            time.sleep(0.3)  # six sandbox seconds
            info = client.status(job.id)
        after = datetime.now(timezone.utc)
    finally:
        running.stop()
    times = [t for t in (info.submitted_at, info.started_at, info.completed_at) if t is not None]
    assert times, info
    slack = timedelta(seconds=1)  # the services' stamps are rounded; the clocks are not
    assert all(before - slack <= t <= after + slack for t in times), (before, times, after)
