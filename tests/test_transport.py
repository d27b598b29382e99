"""The transport: retries and their bounds, Retry-After, timeouts, error mapping, streaming."""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncjobs import errors
from asyncjobs._details import ErrorDetails
from asyncjobs._http import RetryPolicy, Timeouts, Transport, parse_retry_after

URL = "https://api.example.test/v1/jobs/j1"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the delays the retry loop asks for, without sleeping."""
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    return slept


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(provider="acme", retry=RetryPolicy(max_tries=4, base=0.1, cap=25.0, max_time=30))
    yield t
    t.close()


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@responses.activate
def test_a_get_is_retried_on_retryable_statuses(
    transport: Transport, sleeps: list[float], status: int
) -> None:
    responses.get(URL, status=status)
    responses.get(URL, json={"ok": True})
    assert transport.request("GET", URL).json() == {"ok": True}
    assert len(responses.calls) == 2
    assert len(sleeps) == 1


@responses.activate
def test_retries_stop_after_max_tries(transport: Transport, sleeps: list[float]) -> None:
    responses.get(URL, status=503, json={"message": "busy"})
    with pytest.raises(errors.ProviderError) as caught:
        transport.request("GET", URL)
    assert len(responses.calls) == 4
    assert caught.value.status_code == 503
    assert len(sleeps) == 3


@responses.activate
def test_a_request_retrying_when_its_transport_is_closed_is_not_sent_again(
    transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses.get(URL, status=503, json={"message": "busy"})
    monkeypatch.setattr("time.sleep", lambda seconds: transport.close())  # closed in the pause
    with pytest.raises(errors.ProviderError) as caught:
        transport.request("GET", URL)
    assert caught.value.status_code == 503
    assert len(responses.calls) == 1


@responses.activate
def test_retry_delays_use_full_jitter_under_an_exponential_cap(sleeps: list[float]) -> None:
    t = Transport(provider="acme", retry=RetryPolicy(max_tries=6, base=1.0, factor=2.0, cap=4.0))
    responses.get(URL, status=502)
    with pytest.raises(errors.ProviderError):
        t.request("GET", URL)
    bounds = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == len(bounds)
    assert all(0 <= s <= b for s, b in zip(sleeps, bounds, strict=True))


@responses.activate
def test_a_post_is_not_retried_on_503(transport: Transport, sleeps: list[float]) -> None:
    responses.post(URL, status=503)
    with pytest.raises(errors.ProviderError):
        transport.request("POST", URL)
    assert len(responses.calls) == 1


@responses.activate
def test_a_post_marked_idempotent_is_retried(transport: Transport, sleeps: list[float]) -> None:
    responses.post(URL, status=503)
    responses.post(URL, json={})
    transport.request("POST", URL, idempotent=True)
    assert len(responses.calls) == 2


@responses.activate
def test_a_post_is_retried_on_429_because_it_was_refused(
    transport: Transport, sleeps: list[float]
) -> None:
    responses.post(URL, status=429)
    responses.post(URL, json={})
    transport.request("POST", URL)
    assert len(responses.calls) == 2


@responses.activate
def test_retry_after_in_seconds_is_honoured(transport: Transport, sleeps: list[float]) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(URL, json={})
    transport.request("GET", URL)
    assert sleeps == [7.0]


@responses.activate
def test_retry_after_as_an_http_date_is_honoured(transport: Transport, sleeps: list[float]) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=20)
    responses.get(URL, status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    responses.get(URL, json={})
    transport.request("GET", URL)
    assert len(sleeps) == 1
    assert 17 <= sleeps[0] <= 20


@pytest.mark.parametrize("header", ["1000000000", "1e300", "86400"])
@responses.activate
def test_retry_after_is_clamped_to_the_policys_cap(
    transport: Transport, sleeps: list[float], header: str
) -> None:
    responses.get(URL, status=429, headers={"Retry-After": header})
    responses.get(URL, json={})
    transport.request("GET", URL)
    assert sleeps == [transport.retry.cap]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", None),
        ("nan", None),
        ("-inf", None),
        ("5", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_reads_a_future_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60.0


@responses.activate
def test_the_final_429_is_a_rate_limited_error_with_retry_after(sleeps: list[float]) -> None:
    t = Transport(provider="acme", retry=RetryPolicy(max_tries=2))
    responses.get(URL, status=429, headers={"Retry-After": "3"}, json={"message": "slow down"})
    with pytest.raises(errors.RateLimitedError) as caught:
        t.request("GET", URL)
    assert caught.value.retry_after == 3.0
    assert "slow down" in str(caught.value)


@responses.activate
def test_connection_errors_are_retried_then_reported(
    transport: Transport, sleeps: list[float]
) -> None:
    responses.get(URL, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(errors.TransportError) as caught:
        transport.request("GET", URL, job_id="j1")
    assert len(responses.calls) == 4
    assert "j1" in str(caught.value)
    assert "acme" in str(caught.value)


@responses.activate
def test_a_post_is_not_retried_after_a_connection_error(
    transport: Transport, sleeps: list[float]
) -> None:
    responses.post(URL, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(errors.TransportError):
        transport.request("POST", URL)
    assert len(responses.calls) == 1


@responses.activate
def test_a_file_body_is_rewound_before_a_retry(transport: Transport, sleeps: list[float]) -> None:
    bodies: list[bytes] = []

    def record(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = request.body
        bodies.append(body.read() if hasattr(body, "read") else body)  # type: ignore[union-attr,arg-type]
        return (503, {}, "") if len(bodies) == 1 else (200, {}, "{}")

    responses.add_callback(responses.PUT, URL, callback=record)
    transport.request("PUT", URL, data=io.BytesIO(b"payload"))
    assert bodies == [b"payload", b"payload"]


def test_max_time_bounds_the_retries() -> None:
    t = Transport(
        provider="acme", retry=RetryPolicy(max_tries=100, base=0.05, cap=0.05, max_time=0.3)
    )
    with responses.RequestsMock() as mock:
        mock.get(URL, status=503)
        with pytest.raises(errors.ProviderError):
            t.request("GET", URL)
        assert 2 <= len(mock.calls) < 100


def test_the_pause_of_an_abandoned_wait_ends_at_once(sleeps: list[float]) -> None:
    from asyncjobs._http import abandoned_when

    t = Transport(provider="acme", retry=RetryPolicy(max_tries=3, cap=30.0, max_time=60))
    gone = threading.Event()
    with responses.RequestsMock() as mock, abandoned_when(gone):
        mock.get(URL, status=503, headers={"Retry-After": "30"})
        threading.Timer(0.2, gone.set).start()
        began = time.monotonic()
        with pytest.raises(errors.JobTimeoutError, match="not sent again"):
            t.request("GET", URL)
        assert time.monotonic() - began < 10
        assert len(mock.calls) == 1


@responses.activate
def test_each_retry_is_logged_with_its_pause(
    transport: Transport, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(URL, json={})
    with caplog.at_level(logging.INFO, logger="asyncjobs.http"):
        transport.request("GET", URL)
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        f"acme: retrying GET {URL} in 7.00s after attempt 1: acme answered HTTP 429 "
    )


#: One status-like GET through a transport in a fresh interpreter, answered by ``responses``
#: (503 first when asked to), then whether backoff was imported.
_ONE_CALL = """
import sys, responses
from asyncjobs._http import RetryPolicy, Transport
url = "https://api.example.test/v1/jobs/j1"
with responses.RequestsMock() as mock:
    if sys.argv[1] == "retry":
        mock.get(url, status=503)
    mock.get(url, json={"status": "done"})
    t = Transport(provider="acme", retry=RetryPolicy(base=0.001, cap=0.001))
    assert t.request("GET", url).json() == {"status": "done"}
print("backoff" in sys.modules)
"""


@pytest.mark.parametrize(("first", "imported"), [("ok", "False"), ("retry", "True")])
def test_backoff_is_imported_by_the_first_retry_only(first: str, imported: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ONE_CALL, first],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == imported


@pytest.mark.parametrize(
    ("status", "job_id", "cls"),
    [
        (401, None, errors.AuthenticationError),
        (403, "j1", errors.AuthenticationError),
        (404, "j1", errors.JobNotFoundError),
        (404, None, errors.ProviderError),
        (400, "j1", errors.ProviderError),
        (500, "j1", errors.ProviderError),
    ],
)
@responses.activate
def test_statuses_map_to_the_error_hierarchy(
    transport: Transport, status: int, job_id: str | None, cls: type[Exception]
) -> None:
    responses.get(URL, status=status, json={"code": "E1", "message": "said the service"})
    with pytest.raises(cls) as caught:
        transport.request("GET", URL, job_id=job_id)
    error = caught.value
    assert type(error) is cls
    assert isinstance(error, errors.ProviderError)
    assert error.code == "E1"
    assert error.provider_message == "said the service"
    assert "said the service" in str(error)
    assert "acme" in str(error)


@pytest.mark.parametrize(
    ("body", "code", "message", "request_id"),
    [
        ({"code": 7, "message": "m"}, 7, "m", None),
        ({"Code": 4013, "Message": "M"}, 4013, "M", None),
        ({"requestId": "r1", "error": {"code": "c", "message": "inner"}}, "c", "inner", "r1"),
        ({"error": "invalid_client"}, None, "invalid_client", None),
        ({"errors": ["a", "b"]}, None, "a; b", None),
    ],
)
@responses.activate
def test_common_error_body_shapes_are_read(
    transport: Transport,
    body: dict[str, object],
    code: object,
    message: str,
    request_id: str | None,
) -> None:
    responses.get(URL, status=400, json=body)
    with pytest.raises(errors.ProviderError) as caught:
        transport.request("GET", URL)
    assert (caught.value.code, caught.value.provider_message, caught.value.request_id) == (
        code,
        message,
        request_id,
    )


@responses.activate
def test_a_responses_json_is_parsed_once(
    transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses.get(URL, json={"data": {"id": "j1"}})
    response = transport.request("GET", URL)
    parsed: list[object] = []
    real = requests.Response.json

    def counting(self: requests.Response, **kwargs: object) -> object:
        parsed.append(self)
        return real(self, **kwargs)

    monkeypatch.setattr(requests.Response, "json", counting)
    first = response.json()
    assert response.json() is first == {"data": {"id": "j1"}}
    assert len(parsed) == 1


@responses.activate
def test_accepted_statuses_are_returned_not_raised(transport: Transport) -> None:
    responses.get(URL, status=404)
    assert transport.request("GET", URL, accept={404}).status_code == 404


def test_an_invalid_timeout_is_refused() -> None:
    with pytest.raises(errors.InvalidParameterError):
        Timeouts(connect=0)
    with pytest.raises(errors.InvalidParameterError):
        Timeouts(read=-1)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    stop.set()
    thread.join()
    for s in accepted:
        s.close()
    server.close()


def test_the_read_timeout_ends_a_silent_answer(silent_server: str) -> None:
    t = Transport(
        provider="acme", timeouts=Timeouts(connect=1, read=0.2), retry=RetryPolicy(max_tries=1)
    )
    with pytest.raises(errors.TransportError, match="did not answer in time"):
        t.request("GET", silent_server)


@responses.activate
def test_the_connect_timeout_is_reported_as_such(transport: Transport, sleeps: list[float]) -> None:
    responses.get(URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(errors.TransportError, match="connection timed out"):
        transport.request("GET", URL)


@responses.activate
def test_timeouts_are_passed_to_requests(transport: Transport) -> None:
    seen: list[object] = []
    responses.add_callback(responses.GET, URL, callback=lambda r: (200, {}, "{}"))
    original = transport.session.request

    def spy(*args: object, **kwargs: object) -> requests.Response:
        seen.append(kwargs["timeout"])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    transport.session.request = spy  # type: ignore[method-assign]
    transport.request("GET", URL)
    transport.request("GET", URL, timeout=99)
    assert seen == [(10.0, 60.0), (10.0, 99.0)]


@responses.activate
def test_stream_reads_a_body_in_chunks(transport: Transport) -> None:
    body = bytes(range(256)) * 10_000
    responses.get(URL, body=body, headers={"Content-Length": str(len(body))})
    with transport.stream("GET", URL) as stream:
        first = stream.read(1000)
        rest = stream.read()
    assert first + rest == body


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=20_000),
    reads=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=9000)), max_size=12),
)
def test_stream_reads_return_the_body_in_order_however_they_are_sized(
    body: bytes, reads: list[tuple[bool, int]]
) -> None:
    transport = Transport(provider="acme")
    with responses.RequestsMock() as mock:
        mock.get(URL, body=body, headers={"Content-Length": str(len(body))})
        with transport.stream("GET", URL) as stream:
            got = b""
            for whole, size in reads:
                part = stream.read(size) if whole else stream.read1(size)  # type: ignore[attr-defined]
                assert len(part) <= size
                if whole:
                    assert len(part) == min(size, len(body) - len(got))
                got += part
            got += stream.read()
    assert got == body


@responses.activate
def test_a_truncated_download_is_an_error_for_read1_too(transport: Transport) -> None:
    responses.get(
        URL, body=b"short", headers={"Content-Length": "100"}, auto_calculate_content_length=False
    )
    with transport.stream("GET", URL) as stream:
        read1 = stream.read1  # type: ignore[attr-defined]
        assert read1(64) == b"short"
        with pytest.raises(errors.TransportError, match="broke off"):
            read1(64)


@responses.activate
def test_a_truncated_download_is_an_error(transport: Transport) -> None:
    responses.get(
        URL, body=b"short", headers={"Content-Length": "100"}, auto_calculate_content_length=False
    )
    with pytest.raises(errors.TransportError, match="broke off"):
        with transport.stream("GET", URL) as stream:
            stream.read()


def test_a_post_is_retried_when_no_connection_could_be_opened(sleeps: list[float]) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = Transport(provider="acme", retry=RetryPolicy(max_tries=3, base=0.001, cap=0.001))
    with pytest.raises(errors.TransportError):
        t.request("POST", f"http://127.0.0.1:{port}/jobs")
    assert len(sleeps) == 2  # refused connections never reached the service: safe to retry


@responses.activate
def test_a_provider_can_name_the_error_class_of_a_status(sleeps: list[float]) -> None:
    t = Transport(provider="acme", retry=RetryPolicy(max_tries=2))
    responses.post(URL, status=503, headers={"Retry-After": "4"})
    with pytest.raises(errors.RateLimitedError) as caught:
        t.request("POST", URL, idempotent=True, error_classes={503: errors.RateLimitedError})
    assert caught.value.retry_after == 4.0
    assert len(responses.calls) == 2


@responses.activate
def test_invalid_parameters_are_named_and_redacted(transport: Transport) -> None:
    transport.redactor.add("hunter2-canary")
    responses.get(
        URL,
        status=400,
        json={
            "Code": 4000,
            "Message": "Invalid.",
            "InvalidParameters": {"Timeout": ["must be between 10 and 1200 (hunter2-canary)"]},
        },
    )

    def parser(r: requests.Response) -> ErrorDetails:
        body = r.json()
        return ErrorDetails(
            body["Code"],
            body["Message"],
            None,
            {k: tuple(v) for k, v in body["InvalidParameters"].items()},
        )

    with pytest.raises(errors.ProviderError) as caught:
        transport.request("GET", URL, error_parser=parser)
    assert "Invalid parameters: Timeout: must be between 10 and 1200" in str(caught.value)
    assert "hunter2-canary" not in str(caught.value.invalid_parameters)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("a/b", "a%2Fb"),
        ("a?b#c", "a%3Fb%23c"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("a.b", "a.b"),
    ],
)
def test_path_segment_keeps_a_value_one_segment(value: str, expected: str) -> None:
    from asyncjobs._http import path_segment

    assert path_segment(value) == expected


def test_header_auth_sets_its_header_and_hides_the_value_in_its_repr() -> None:
    from asyncjobs._http import HeaderAuth

    request = requests.Request("GET", URL).prepare()
    HeaderAuth.bearer("tok-canary-1234")(request)
    assert request.headers["Authorization"] == "Bearer tok-canary-1234"
    assert "tok-canary-1234" not in repr(HeaderAuth.bearer("tok-canary-1234"))
    assert repr(HeaderAuth("X-ApiKey", "k-canary")) == "HeaderAuth(X-ApiKey: ***)"
