"""The exact HTTP of the Zamzar adapter, against ``responses``: paths, the Basic auth header, the
multipart fields, the status table, the errors array, cost, multi-file results, paging, redirects."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from asyncjobs_zamzar.provider import STATUS_WORDS, ZamzarProvider
from zamzar_support import FAST_POLL, FAST_RETRY

import asyncjobs
from asyncjobs import Cost, Status
from asyncjobs.errors import (
    AuthenticationError,
    InvalidParameterError,
    JobNotFoundError,
    NotSupportedError,
    ProviderError,
    RateLimitedError,
)

BASE = "https://api.zamzar.com/v1"
KEY = "GiVUYsF4A8ssq93FR48H"
BASIC = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()

JOB_INIT = {
    "id": 15,
    "key": KEY,
    "status": "initialising",
    "sandbox": False,
    "created_at": "2024-01-01T14:15:22Z",
    "finished_at": None,
    "source_file": {"id": 2, "name": "portrait.gif", "size": 90571},
    "target_files": [],
    "target_format": "png",
    "credit_cost": 1,
}


def job(**changes: Any) -> dict[str, Any]:
    return {**JOB_INIT, **changes}


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(tmp_path: Path) -> Iterator[asyncjobs.Client]:
    c = asyncjobs.connect(
        "zamzar",
        secret=KEY,
        ledger=tmp_path / "ledger.sqlite3",
        retry=FAST_RETRY,
        poll=FAST_POLL,
        budget=False,  # the adapter's HTTP alone: the live API's 5/s is checked below
    )
    yield c
    c.close()


def test_a_client_of_the_live_api_keeps_its_published_rate(tmp_path: Path) -> None:
    with asyncjobs.connect("zamzar", secret=KEY, ledger=False) as live:
        gate = live.provider.transport.gate
        assert gate is not None
        assert gate.budget == asyncjobs.Budget(rate=5)


def _parts(request: Any) -> dict[str, tuple[str | None, bytes]]:
    """The multipart body's parts: name -> (filename, content)."""
    body = request.body
    data = body.read() if hasattr(body, "read") else body
    ctype = request.headers["Content-Type"]
    boundary = ctype.split("boundary=")[1].encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in data.split(b"--" + boundary)[1:-1]:
        head, _, content = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.split(b"\r\n")[0].decode()
        name = disposition.split('name="')[1].split('"')[0]
        filename = (
            disposition.split('filename="')[1].split('"')[0] if "filename=" in disposition else None
        )
        parts[name] = (filename, content)
    return parts


def test_submit_streams_the_file_as_multipart_with_basic_auth(
    api: responses.RequestsMock, client: asyncjobs.Client, tmp_path: Path
) -> None:
    api.post(f"{BASE}/jobs", json=job(), status=201)
    src = tmp_path / "portrait.gif"
    src.write_bytes(b"GIF89a...")
    submitted = client.submit("convert", source=src, to="png", options={"quality": 50})
    (call,) = api.calls
    assert call.request.headers["Authorization"] == BASIC
    assert KEY not in call.request.url
    parts = _parts(call.request)
    assert parts["source_file"] == ("portrait.gif", b"GIF89a...")
    assert parts["target_format"] == (None, b"png")
    assert parts["source_format"] == (None, b"gif")
    assert json.loads(parts["options"][1]) == {"quality": 50}
    assert "export_url" not in parts
    assert submitted.id == "15"
    assert submitted.info.status is Status.PENDING
    assert submitted.info.cost == Cost(1, "credits")


def test_submit_a_url_and_a_file_object(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    api.post(f"{BASE}/jobs", json=job(), status=201)
    client.submit(
        "convert", source="https://www.example.com/logo.png", to="jpg", export_url="s3://b/out/"
    )
    parts = _parts(api.calls[0].request)
    assert parts["source_file"] == (None, b"https://www.example.com/logo.png")
    assert parts["export_url"] == (None, b"s3://b/out/")
    import io

    stream = io.BytesIO(b"%PDF-1.4")
    client.submit("convert", source=stream, from_="pdf", to="txt")
    parts = _parts(api.calls[1].request)
    assert parts["source_file"] == ("file.pdf", b"%PDF-1.4")


def test_hostile_file_names_stay_one_header(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    api.post(f"{BASE}/jobs", json=job(), status=201)
    import io

    stream = io.BytesIO(b"x")
    stream.name = 'a"\r\nX-Evil: 1<script>.txt'
    client.submit("convert", source=stream, to="pdf")
    raw = api.calls[0].request.body
    data = raw.read() if hasattr(raw, "read") else raw
    assert b"\r\nX-Evil" not in data
    assert b"<script>" in data  # sent as the name it is, quoted


@pytest.mark.parametrize(("word", "status"), sorted(STATUS_WORDS.items()))
def test_status_words(
    api: responses.RequestsMock, client: asyncjobs.Client, word: str, status: Status
) -> None:
    api.get(f"{BASE}/jobs/15", json=job(status=word))
    info = client.status("15")
    assert info.status is status
    assert info.raw_status == word
    if word == "cancelled":
        assert info.error == "the job was cancelled"


def test_failure_is_the_error_and_cost_is_kept(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    api.get(
        f"{BASE}/jobs/15",
        json=job(
            status="failed",
            failure={"code": 2, "message": "The source file was too small to convert."},
            credit_cost=3,
        ),
    )
    info = client.status("15")
    assert info.status is Status.FAILED
    assert info.error == "The source file was too small to convert. (code 2)"
    assert info.cost == Cost(3, "credits")
    assert info.meta["failure_code"] == 2


def test_unknown_status_word_is_pending(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    api.get(f"{BASE}/jobs/15", json=job(status="queued-somewhere-new"))
    assert client.status("15").status is Status.PENDING


def test_multi_file_result_lists_every_target_file(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    targets = [
        {"id": 4, "name": "example-0.png", "size": 55342},
        {"id": 5, "name": "example-1.png", "size": 4},
        {"id": 6, "name": "example-2.png", "size": 71021},
        {"id": 7, "name": "example.zip", "size": 74457},
    ]
    api.get(
        f"{BASE}/jobs/2",
        json=job(
            id=2, status="successful", target_files=targets, finished_at="2024-01-01T14:16:00Z"
        ),
    )
    api.get(f"{BASE}/files/5/content", body=b"PNG1", content_type="application/octet-stream")
    result = client.result("2", timeout=5)
    assert [(f.name, f.size) for f in result.files] == [(t["name"], t["size"]) for t in targets]
    assert result.files[0].url == f"{BASE}/files/4/content"
    assert result.files[0].media_type == "image/png"
    assert result.files[1].read() == b"PNG1"
    download = api.calls[-1].request
    assert download.headers["Authorization"] == BASIC


def test_content_redirect_to_storage_carries_no_credentials(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    api.get(
        f"{BASE}/jobs/2",
        json=job(id=2, status="successful", target_files=[{"id": 9, "name": "a.pdf", "size": 3}]),
    )
    api.get(
        f"{BASE}/files/9/content",
        status=307,
        headers={"Location": "https://storage.example.net/f/9"},
    )
    api.get("https://storage.example.net/f/9", body=b"PDF")
    (file,) = client.result("2", timeout=5).files
    assert file.read() == b"PDF"
    storage = api.calls[-1].request
    assert storage.url == "https://storage.example.net/f/9"
    assert "Authorization" not in storage.headers


def test_the_errors_array_is_read(api: responses.RequestsMock, client: asyncjobs.Client) -> None:
    api.post(
        f"{BASE}/jobs",
        status=422,
        json={
            "errors": [
                {
                    "message": "no value was specified for a mandatory parameter",
                    "code": 10,
                    "context": {"parameter": "source_file"},
                }
            ]
        },
    )
    with pytest.raises(ProviderError) as caught:
        client.submit("convert", source=b"x", from_="txt", to="pdf")
    err = caught.value
    assert err.status_code == 422
    assert err.code == 10
    assert err.invalid_parameters == {
        "source_file": ("no value was specified for a mandatory parameter",)
    }


def test_unsupported_target_is_not_supported(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    api.post(
        f"{BASE}/jobs",
        status=422,
        json={
            "errors": [
                {
                    "message": "an invalid value was specified for a parameter",
                    "code": 11,
                    "context": {
                        "parameter": "target_format",
                        "reason": "pdf is not a supported format",
                    },
                }
            ]
        },
    )
    with pytest.raises(NotSupportedError, match="does not convert txt to pdf"):
        client.submit("convert", source=b"x", from_="txt", to="pdf")


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            401,
            {"errors": [{"message": "API key was missing or invalid", "code": 20}]},
            AuthenticationError,
        ),
        (404, {"errors": [{"message": "resource does not exist", "code": 21}]}, JobNotFoundError),
        (410, {"errors": [{"message": "resource has expired", "code": 21}]}, JobNotFoundError),
        (429, {"errors": [{"message": "too many requests", "code": 24}]}, RateLimitedError),
    ],
)
def test_error_classes(
    api: responses.RequestsMock, client: asyncjobs.Client, status: int, body: Any, cls: type
) -> None:
    api.get(f"{BASE}/jobs/15", status=status, json=body, headers={"Retry-After": "1e12"})
    with pytest.raises(cls) as caught:
        client.status("15")
    assert caught.value.code == body["errors"][0]["code"]
    if cls is RateLimitedError:
        assert caught.value.retry_after is not None
        assert caught.value.retry_after < 1e12


def test_402_says_credits(api: responses.RequestsMock, client: asyncjobs.Client) -> None:
    api.post(
        f"{BASE}/jobs",
        status=402,
        json={"errors": [{"message": "insufficient credits", "code": 30}]},
    )
    with pytest.raises(ProviderError, match="conversion credits") as caught:
        client.submit("convert", source=b"x", from_="txt", to="pdf")
    assert caught.value.status_code == 402
    assert len(api.calls) == 1, "a submit is never sent twice"


def test_cancel_is_delete(api: responses.RequestsMock, client: asyncjobs.Client) -> None:
    api.delete(f"{BASE}/jobs/15", json=job(status="cancelled"))
    client.cancel("15")
    assert api.calls[0].request.method == "DELETE"


def test_list_pages_with_after(api: responses.RequestsMock, client: asyncjobs.Client) -> None:
    first = [job(id=n, status="successful") for n in range(100, 50, -1)]
    api.get(
        f"{BASE}/jobs",
        match=[responses.matchers.query_param_matcher({"limit": "50"})],
        json={"data": first, "paging": {"total_count": 52, "first": 100, "last": 51, "limit": 50}},
    )
    api.get(
        f"{BASE}/jobs",
        match=[responses.matchers.query_param_matcher({"limit": "50", "after": "51"})],
        json={
            "data": [job(id=50), job(id=49)],
            "paging": {"total_count": 52, "first": 50, "last": 49, "limit": 50},
        },
    )
    ids = {j.id for j in client.provider.list()}
    assert ids == {str(n) for n in range(49, 101)}


@pytest.mark.parametrize("item", [{"id": "x", "status": 1}, {"status": "successful"}, 3])
def test_a_job_list_item_of_another_shape_is_a_provider_error(
    item: Any, api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    # found by the reliability suite's fuzzing: a bare ValueError escaped client.list()
    api.get(f"{BASE}/jobs", json={"data": [job(id=9), item]})
    with pytest.raises(ProviderError, match="job list"):
        client.list()


def test_an_unknown_parameter_is_refused_before_any_request(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    # found by the reliability suite: `export_ur=` (a typo) was dropped unseen and the job made
    with pytest.raises(InvalidParameterError, match="export_ur"):
        client.submit("convert", source=b"x", from_="txt", to="pdf", export_ur="s3://b/")
    assert len(api.calls) == 0


def test_options_are_checked_before_any_request(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    for bad in ({"target_format": "x"}, ["a"], {"x": object()}):
        with pytest.raises(InvalidParameterError):
            client.submit("convert", source=b"x", from_="txt", to="pdf", options=bad)
    with pytest.raises(InvalidParameterError):
        client.submit("convert", source=b"x", from_="txt", to="pdf", export_url=3)
    assert len(api.calls) == 0


def test_capabilities_and_formats() -> None:
    caps = ZamzarProvider.capabilities
    assert caps.webhooks is False
    assert caps.cancel
    assert caps.list
    assert caps.cost_unit == "credits"
    formats = ZamzarProvider.formats()
    assert formats is ZamzarProvider.formats()
    assert formats.offers("docx", "pdf")
    assert formats.offers("mp3", "txt")
    assert not formats.offers("mp3", "docx")
    assert "zamzar-mock" in formats.source


def test_webhook_is_refused_before_any_request(
    api: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    with pytest.raises(NotSupportedError):
        client.submit("convert", source=b"x", from_="txt", to="pdf", webhook=True)
    assert len(api.calls) == 0
