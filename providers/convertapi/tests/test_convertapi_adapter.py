"""The exact HTTP of the ConvertAPI adapter, pinned with ``responses``: every path, header, query and
body it sends, and every answer it can get."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from asyncjobs_convertapi import FileId
from asyncjobs_convertapi.provider import BUSY_DELAY, HOLD_MARGIN, _disposition
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.http import parse_options_header

import asyncjobs
from asyncjobs import Status
from asyncjobs.errors import (
    AuthenticationError,
    InvalidParameterError,
    JobFailedError,
    JobNotFoundError,
    ProviderError,
    RateLimitedError,
    TransportError,
)

BASE = "https://v2.convertapi.com"
SECRET = "test-secret-for-responses"
JOB = "abcdefghijklmnopqrstuvwxyz012345"
LEGACY_JOB = "d3bd2056-4330-4cf3-9b18-483a2412dd6b"
RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.002, max_time=5)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def connect(protocol: str = "current", **kwargs: Any) -> asyncjobs.Client:
    kwargs.setdefault("ledger", False)
    return asyncjobs.connect("convertapi", secret=SECRET, protocol=protocol, retry=RETRY, **kwargs)


@pytest.fixture
def client() -> Iterator[asyncjobs.Client]:
    with connect() as c:
        yield c


@pytest.fixture
def legacy() -> Iterator[asyncjobs.Client]:
    with connect("legacy") as c:
        yield c


def form(call: Any) -> dict[str, str]:
    body = call.request.body
    return dict(parse_qsl(body if isinstance(body, str) else body.decode()))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def query(call: Any) -> dict[str, str]:
    return query_of(call.request.url)


def path(call: Any) -> str:
    return urlsplit(call.request.url).path


def add_upload(mock: responses.RequestsMock, file_id: str = "f1") -> None:
    mock.post(f"{BASE}/upload", json={"FileId": file_id, "FileName": "a.docx", "FileExt": "docx"})


RESULT = {
    "ConversionCost": 4,
    "Files": [
        {
            "FileName": "report.pdf",
            "FileExt": "pdf",
            "FileSize": 5,
            "FileId": "r1",
            "Url": f"{BASE}/d/r1/report.pdf",
        }
    ],
}


# -- settings and ids ---------------------------------------------------------------------------


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERTAPI_SECRET", "env-secret-value")
    monkeypatch.setenv("CONVERTAPI_BASE_URL", "http://127.0.0.1:9")
    with asyncjobs.connect("convertapi", ledger=False) as c:
        assert c.provider.config["base_url"] == "http://127.0.0.1:9"
        assert c.provider.config["protocol"] == "current"


def test_missing_secret_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVERTAPI_SECRET", raising=False)
    with pytest.raises(asyncjobs.errors.ConfigurationError, match="CONVERTAPI_SECRET"):
        asyncjobs.connect("convertapi", ledger=False)


def test_unknown_protocol_is_a_configuration_error() -> None:
    with pytest.raises(asyncjobs.errors.ConfigurationError, match="protocol"):
        connect("v3")


def test_capabilities() -> None:
    caps = asyncjobs.connect("convertapi", secret="x" * 8, ledger=False).provider.capabilities
    assert (caps.cancel, caps.list, caps.webhooks, caps.idempotent_submit) == (
        True,
        False,
        True,
        True,
    )
    assert caps.job_lifetime is not None
    assert caps.job_lifetime.total_seconds() == 7200


def test_current_job_ids_are_32_lowercase_letters_and_digits(client: asyncjobs.Client) -> None:
    ids = {client.provider.new_job_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[a-z0-9]{32}", i or "") for i in ids)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda n: "/" not in n and "\\" not in n))
def test_upload_file_names_survive_content_disposition(name: str) -> None:
    header = _disposition(name)
    header.encode("ascii")  # an HTTP header value must be plain ASCII
    assert parse_options_header(header)[1]["filename"] == name


def test_legacy_job_ids_are_rfc4122_uuid4(legacy: asyncjobs.Client) -> None:
    value = legacy.provider.new_job_id()
    assert value is not None
    assert uuid.UUID(value).version == 4
    assert str(uuid.UUID(value)) == value


# -- submit -------------------------------------------------------------------------------------


def test_submit_uploads_a_local_file_as_a_raw_streamed_body(
    mock: responses.RequestsMock,
    client: asyncjobs.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = tmp_path / "report.docx"
    src.write_bytes(b"DOCX BYTES")
    session = client.provider.transport.session
    sent: list[Any] = []
    real = session.request

    def spy(method: str, url: str, **kwargs: Any) -> Any:
        sent.append(kwargs.get("data"))
        return real(method, url, **kwargs)

    monkeypatch.setattr(session, "request", spy)
    add_upload(mock)
    mock.post(f"{BASE}/async/convert/docx/to/pdf", json={"JobId": JOB})
    client.submit("convert", source=src, to="pdf")
    upload = mock.calls[0]
    assert path(upload) == "/upload"
    assert not urlsplit(upload.request.url).query
    assert upload.request.headers["Content-Disposition"] == 'inline; filename="report.docx"'
    assert upload.request.headers["Content-Type"] == "application/octet-stream"
    assert upload.request.headers["Authorization"] == f"Bearer {SECRET}"
    assert upload.request.body == b"DOCX BYTES"
    assert hasattr(sent[0], "read"), "the open file goes to requests as data=, streamed"


def test_submit_current_sends_the_job_id_in_the_query_and_parameters_as_form_fields(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add_upload(mock, "file-id-1")

    def echo(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"JobId": query_of(request.url)["JobId"]})

    mock.add_callback(
        "POST", f"{BASE}/async/convert/txt/to/pdf", callback=echo, content_type="application/json"
    )
    job = client.submit("convert", source=b"hi", from_="txt", to="pdf")
    call = mock.calls[1]
    assert call.request.method == "POST"
    assert path(call) == "/async/convert/txt/to/pdf"
    assert query(call) == {"JobId": job.id}
    assert form(call) == {"File": "file-id-1", "StoreFile": "true"}
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.request.headers["Authorization"] == f"Bearer {SECRET}"
    assert re.fullmatch(r"[a-z0-9]{32}", job.id)
    assert job.info is not None
    assert job.info.status is Status.PENDING


def test_submit_legacy_sends_the_semi_async_form_with_a_uuid4(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    add_upload(mock)
    mock.post(f"{BASE}/convert/txt/to/pdf", json={"JobId": LEGACY_JOB})
    legacy.submit("convert", source=b"hi", from_="txt", to="pdf")
    q = query(mock.calls[1])
    assert set(q) == {"JobId"}, "Async=true is no longer honoured by the service: not sent"
    assert uuid.UUID(q["JobId"]).version == 4


def test_submit_legacy_answered_with_a_job_id_is_pending_and_polled_at_job(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/convert/docx/to/pdf", json={"JobId": LEGACY_JOB})
    mock.get(f"{BASE}/job/{LEGACY_JOB}", status=202)
    job = legacy.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    assert (job.id, job.info.status if job.info else None) == (LEGACY_JOB, Status.PENDING)
    assert job.status() is Status.PENDING


def test_submit_legacy_answered_with_the_result_is_done_at_once_without_a_poll(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/convert/docx/to/pdf", json=RESULT)
    job = legacy.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    assert job.info is not None
    assert (job.info.status, job.info.raw_status) == (Status.DONE, "200")
    assert job.info.completed_at is not None
    assert job.id == query(mock.calls[0])["JobId"]
    assert [f.name for f in legacy.fetch_result(job.id).files] == ["report.pdf"]
    assert len(mock.calls) == 1, "the result was kept: no poll"


def test_submit_legacy_past_the_read_timeout_is_submitted_and_polled_at_job(
    mock: responses.RequestsMock,
) -> None:
    mock.post(f"{BASE}/convert/docx/to/pdf", body=requests.ReadTimeout("slow"))
    with connect("legacy") as legacy:
        job = legacy.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
        sent = query(mock.calls[0])["JobId"]
        assert job.id == sent
        assert job.info is not None
        assert (job.info.status, job.info.raw_status) == (Status.PENDING, "submitted")
        assert len(mock.calls) == 1, "a semi-async request is not sent twice"
        mock.get(f"{BASE}/job/{sent}", json=RESULT)
        assert job.status() is Status.DONE


def test_submit_legacy_answered_202_is_pending_under_its_job_id(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/convert/docx/to/pdf", status=202)
    job = legacy.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    assert job.id == query(mock.calls[0])["JobId"]
    assert job.info is not None
    assert (job.info.status, job.info.raw_status) == (Status.PENDING, "202")


def test_submit_legacy_with_a_broken_answer_raises_transport_error(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/convert/docx/to/pdf", body="{not json", content_type="application/json")
    with pytest.raises(TransportError):
        legacy.submit("convert", source=FileId("u", name="a.docx"), to="pdf")


def test_bytes_without_a_name_upload_as_file_dot_format(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add_upload(mock)
    mock.post(f"{BASE}/async/convert/txt/to/pdf", json={"JobId": JOB})
    client.submit("convert", source=b"hi", from_="txt", to="pdf")
    assert mock.calls[0].request.headers["Content-Disposition"] == 'inline; filename="file.txt"'


def test_a_non_ascii_file_name_is_sent_as_filename_star(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add_upload(mock)
    mock.post(f"{BASE}/async/convert/docx/to/pdf", json={"JobId": JOB})
    f = io.BytesIO(b"x")
    f.name = "rapport é.docx"
    client.submit("convert", source=f, to="pdf")
    assert mock.calls[0].request.headers["Content-Disposition"] == (
        "inline; filename=\"rapport _.docx\"; filename*=UTF-8''rapport%20%C3%A9.docx"
    )


def test_url_source_is_sent_as_file_without_upload(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/async/convert/docx/to/pdf", json={"JobId": JOB})
    client.submit("convert", source="https://example.com/a/b.docx", to="pdf")
    assert len(mock.calls) == 1
    assert form(mock.calls[0])["File"] == "https://example.com/a/b.docx"


def test_file_id_source_is_sent_as_file_and_names_the_format(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/async/convert/xlsx/to/pdf", json={"JobId": JOB})
    client.submit("convert", source=FileId("up-1", name="sheet.xlsx"), to="pdf")
    assert form(mock.calls[0])["File"] == "up-1"


def test_file_id_without_a_name_needs_from_(client: asyncjobs.Client) -> None:
    with pytest.raises(InvalidParameterError, match="from_"):
        client.submit("convert", source=FileId("up-1"), to="pdf")


def test_converter_parameters_pass_through_by_name(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/async/convert/docx/to/pdf", json={"JobId": JOB})
    client.submit(
        "convert",
        source=FileId("u", name="a.docx"),
        to="pdf",
        PageRange="1-2",
        StoreFile=False,
        Timeout=60,
        Quality=90,
    )
    assert form(mock.calls[0]) == {
        "File": "u",
        "StoreFile": "false",
        "PageRange": "1-2",
        "Timeout": "60",
        "Quality": "90",
    }


@pytest.mark.parametrize(
    ("protocol", "url"),
    [("current", f"{BASE}/async/convert/docx/to/pdf"), ("legacy", f"{BASE}/convert/docx/to/pdf")],
)
def test_webhook_is_sent_in_the_query_string_not_the_form(
    mock: responses.RequestsMock, protocol: str, url: str
) -> None:
    mock.post(url, json={"JobId": LEGACY_JOB})
    with connect(protocol) as c:
        c.submit(
            "convert",
            source=FileId("u", name="a.docx"),
            to="pdf",
            webhook="https://example.com/hook?x=1",
        )
    assert query(mock.calls[0])["WebHook"] == "https://example.com/hook?x=1"
    assert "WebHook" not in form(mock.calls[0])


# -- several files, web pages -------------------------------------------------------------------


def test_a_list_source_is_sent_as_files_i_each_uploaded(
    mock: responses.RequestsMock, client: asyncjobs.Client, tmp_path: Path
) -> None:
    paths = []
    for n in "abc":
        paths.append(tmp_path / f"{n}.pdf")
        paths[-1].write_bytes(n.encode())
    for n in "abc":
        add_upload(mock, f"up-{n}")
    mock.post(f"{BASE}/async/convert/pdf/to/merge", json={"JobId": JOB})
    client.submit("convert", source=paths, from_="pdf", to="merge")
    assert form(mock.calls[3]) == {
        "Files[0]": "up-a",
        "Files[1]": "up-b",
        "Files[2]": "up-c",
        "StoreFile": "true",
    }


def test_a_list_mixes_urls_file_ids_and_local_files(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add_upload(mock, "up-1")
    mock.post(f"{BASE}/async/convert/any/to/zip", json={"JobId": JOB})
    client.submit(
        "convert",
        source=["https://example.com/x.docx", FileId("f-2", name="y.xlsx"), b"raw"],
        from_="any",
        to="zip",
    )
    sent = form(mock.calls[1])
    assert (sent["Files[0]"], sent["Files[1]"], sent["Files[2]"]) == (
        "https://example.com/x.docx",
        "f-2",
        "up-1",
    )
    assert "File" not in sent


def test_a_list_of_one_format_infers_from_(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/async/convert/pdf/to/merge", json={"JobId": JOB})
    client.submit(
        "convert", source=[FileId("a", name="a.pdf"), FileId("b", name="b.PDF")], to="merge"
    )
    assert path(mock.calls[0]) == "/async/convert/pdf/to/merge"


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ([], "empty list"),
        ([FileId("a", name="a.pdf"), FileId("b", name="b.docx")], "from_"),
        ([[FileId("a", name="a.pdf")]], "flat"),
        ([42], "source must be"),
    ],
)
def test_bad_lists_fail_before_any_request(
    client: asyncjobs.Client, source: list[Any], match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        client.submit("convert", source=source, to="merge")


def test_a_web_page_is_sent_as_url(mock: responses.RequestsMock, client: asyncjobs.Client) -> None:
    mock.post(f"{BASE}/async/convert/web/to/pdf", json={"JobId": JOB})
    client.submit("convert", source="https://example.com/page", from_="web", to="pdf")
    assert form(mock.calls[0]) == {"Url": "https://example.com/page", "StoreFile": "true"}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"Timeout": 5}, "Timeout"),
        ({"Timeout": 1201}, "Timeout"),
        ({"Timeout": "60"}, "Timeout"),
        ({"Timeout": True}, "Timeout"),
        ({"StoreFile": "yes"}, "StoreFile"),
        ({"File": "x"}, "File"),
        ({"JobId": "x"}, "JobId"),
        ({"Secret": "x"}, "Secret"),
        ({"WebHook": "x"}, "WebHook"),
        ({"Url": "https://example.com"}, "Url"),
        ({"Files[0]": "x"}, "Files[0]"),
        ({"auth": "x"}, "auth"),
        ({"PageRange": [1, 2]}, "PageRange"),
        ({"to": ""}, "to"),
        ({"source": 12}, "source"),
    ],
)
def test_bad_parameters_fail_before_any_request(
    mock: responses.RequestsMock, client: asyncjobs.Client, params: dict[str, Any], parameter: str
) -> None:
    full = {"source": FileId("u", name="a.docx"), "to": "pdf", **params}
    with pytest.raises(InvalidParameterError) as caught:
        client.submit("convert", **full)
    assert caught.value.parameter == parameter
    assert len(mock.calls) == 0


def test_submit_is_retried_on_503_with_the_same_job_id(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    url = f"{BASE}/async/convert/docx/to/pdf"
    mock.post(url, status=503, json={"Code": 5030, "Message": "Throttled."})
    mock.post(url, json={"JobId": JOB})
    client.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    assert len(mock.calls) == 2
    assert query(mock.calls[0]) == query(mock.calls[1])
    assert form(mock.calls[0]) == form(mock.calls[1])


def test_submit_throttled_until_retries_run_out_raises_rate_limited(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    url = f"{BASE}/async/convert/docx/to/pdf"
    for _ in range(3):
        mock.post(
            url,
            status=503,
            json={"Code": 5030, "Message": "Too many."},
            headers={"Retry-After": "0.001"},
        )
    with pytest.raises(RateLimitedError) as caught:
        client.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    err = caught.value
    assert err.status_code == 503
    assert err.code == 5030
    assert err.retry_after == 0.001
    assert err.provider == "convertapi"
    assert err.job_id
    assert "Too many." in str(err)


def test_submit_with_an_unreadable_answer_raises_transport_error(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/async/convert/docx/to/pdf", body="<html>oops</html>")
    with pytest.raises(TransportError, match="is not the JSON convertapi sends"):
        client.submit("convert", source=FileId("u", name="a.docx"), to="pdf")


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (4010, "secret is wrong"),
        (4011, "token is invalid"),
        (4012, "JWT"),
        (4013, "no credentials"),
        (4014, "balance is zero"),
        (4015, "inactive"),
    ],
)
def test_401_codes_raise_authentication_error_saying_what_they_mean(
    mock: responses.RequestsMock, client: asyncjobs.Client, code: int, meaning: str
) -> None:
    mock.post(
        f"{BASE}/async/convert/docx/to/pdf",
        status=401,
        json={"Code": code, "Message": "Authentication failed."},
    )
    with pytest.raises(AuthenticationError) as caught:
        client.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    assert caught.value.code == code
    assert meaning in str(caught.value)
    assert f"code {code}" in str(caught.value)


def test_400_names_the_invalid_parameters(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(
        f"{BASE}/async/convert/docx/to/pdf",
        status=400,
        json={
            "Code": 4000,
            "Message": "Parameter validation error.",
            "InvalidParameters": {"PageRange": ["The PageRange is not valid."]},
        },
    )
    with pytest.raises(ProviderError) as caught:
        client.submit("convert", source=FileId("u", name="a.docx"), to="pdf", PageRange="z")
    assert caught.value.code == 4000
    assert dict(caught.value.invalid_parameters) == {"PageRange": ("The PageRange is not valid.",)}
    assert "PageRange: The PageRange is not valid." in str(caught.value)


def test_415_says_the_file_is_unsupported(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(
        f"{BASE}/async/convert/exe/to/pdf",
        status=415,
        json={"Code": 4150, "Message": "The file type is not supported."},
    )
    with pytest.raises(ProviderError) as caught:
        client.submit("convert", source=FileId("u", name="a.exe"), to="pdf")
    assert caught.value.status_code == 415
    assert "not supported" in str(caught.value)


def test_a_non_json_error_body_is_kept_as_text(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/async/convert/docx/to/pdf", status=400, body="Bad thing")
    with pytest.raises(ProviderError, match="Bad thing"):
        client.submit("convert", source=FileId("u", name="a.docx"), to="pdf")


# -- status -------------------------------------------------------------------------------------


def test_poll_current_is_get_async_job_with_the_hold_in_the_read_timeout(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=202)
    client.status(JOB)
    call = mock.calls[0]
    assert call.request.method == "GET"
    assert path(call) == f"/async/job/{JOB}"
    assert call.request.headers["Authorization"] == f"Bearer {SECRET}"
    t = client.provider.transport.timeouts
    assert call.request.req_kwargs["timeout"] == (t.connect, t.read + HOLD_MARGIN)


def test_poll_asks_for_json(mock: responses.RequestsMock, client: asyncjobs.Client) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=202)
    client.status(JOB)
    assert mock.calls[0].request.headers["Accept"] == "application/json"


def test_poll_200_declared_json_that_does_not_decode_is_a_transport_error_not_a_file(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", body=b"%PDF-1.4 not json", content_type="application/json")
    with pytest.raises(TransportError):
        client.status(JOB)


@pytest.mark.parametrize("body", [{}, {"status": "ok"}, {"ConversionCost": 1}])
def test_poll_200_json_without_files_is_a_transport_error_not_a_done_job(
    mock: responses.RequestsMock, client: asyncjobs.Client, body: dict[str, object]
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", json=body)
    with pytest.raises(TransportError, match="without the conversion's Files"):
        client.status(JOB)


def test_poll_legacy_is_get_job(mock: responses.RequestsMock, legacy: asyncjobs.Client) -> None:
    mock.get(f"{BASE}/job/{LEGACY_JOB}", status=202)
    assert legacy.status(LEGACY_JOB).status is Status.PENDING


@pytest.mark.parametrize(
    ("status", "headers", "expected", "raw", "retry_after"),
    [
        (202, {}, Status.PENDING, "202", None),
        (503, {"Retry-After": "3"}, Status.PENDING, "503", 3.0),
        (503, {}, Status.PENDING, "503", BUSY_DELAY),
    ],
)
def test_poll_answers_that_mean_pending(
    mock: responses.RequestsMock,
    client: asyncjobs.Client,
    status: int,
    headers: dict[str, str],
    expected: Status,
    raw: str,
    retry_after: float | None,
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=status, headers=headers)
    info = client.status(JOB)
    assert (info.status, info.raw_status, info.meta.get("retry_after")) == (
        expected,
        raw,
        retry_after,
    )
    assert len(mock.calls) == 1, "a 503 on a poll is an answer, not retried"


def test_poll_200_json_is_done(mock: responses.RequestsMock, client: asyncjobs.Client) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", json=RESULT)
    info = client.status(JOB)
    assert info.status is Status.DONE
    assert info.raw_status == "200"


@pytest.mark.parametrize(
    ("code", "message"),
    [(5001, "Conversion failed."), (5002, "The file is damaged."), (5003, "Password-protected.")],
)
def test_poll_500_is_failed_with_the_providers_code_and_message(
    mock: responses.RequestsMock, client: asyncjobs.Client, code: int, message: str
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=500, json={"Code": code, "Message": message})
    info = client.status(JOB)
    assert info.status is Status.FAILED
    assert info.raw_status == f"500/{code}"
    assert info.meta["code"] == code
    assert message in (info.error or "")
    assert str(code) in (info.error or "")


def test_poll_404_is_job_not_found_saying_unknown_or_expired(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=404, json={"Code": 4040, "Message": "Not found."})
    with pytest.raises(JobNotFoundError) as caught:
        client.status(JOB)
    assert caught.value.job_id == JOB
    assert "2 hours" in str(caught.value)
    assert "unknown" in str(caught.value)


def test_poll_502_is_retried_then_raised(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    for _ in range(3):
        mock.get(f"{BASE}/async/job/{JOB}", status=502)
    with pytest.raises(ProviderError) as caught:
        client.status(JOB)
    assert caught.value.status_code == 502
    assert len(mock.calls) == 3


# -- result -------------------------------------------------------------------------------------


def test_result_uses_the_answer_of_the_poll_that_saw_it_done(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", json=RESULT)
    mock.get(f"{BASE}/d/r1/report.pdf", body=b"%PDF-")
    result = client.result(JOB, timeout=5)
    assert [c.request.method + " " + path(c) for c in mock.calls] == [
        f"GET /async/job/{JOB}",
        "GET /d/r1/report.pdf",
    ][: len(mock.calls)]
    (file,) = result.files
    assert (file.name, file.size, file.url, file.media_type) == (
        "report.pdf",
        5,
        f"{BASE}/d/r1/report.pdf",
        "application/pdf",
    )
    assert result.meta == {"ConversionCost": 4}
    assert file.read() == b"%PDF-"
    assert [path(c) for c in mock.calls] == [f"/async/job/{JOB}", "/d/r1/report.pdf"]
    assert mock.calls[1].request.headers["Authorization"] == f"Bearer {SECRET}"


def test_result_file_on_another_host_is_fetched_without_the_secret(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    body = {"Files": [{"FileName": "a.pdf", "Url": "https://cdn.example.com/a.pdf"}]}
    mock.get(f"{BASE}/async/job/{JOB}", json=body)
    mock.get("https://cdn.example.com/a.pdf", body=b"PDF")
    assert client.result(JOB, timeout=5).files[0].read() == b"PDF"
    assert "Authorization" not in mock.calls[1].request.headers


def test_result_with_inline_file_data_and_conversion_time(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    data = b"\x00PNG bytes"
    body = {
        "ConversionTime": 3,
        "Files": [
            {
                "FileName": "p1.png",
                "FileExt": "png",
                "FileSize": len(data),
                "FileData": base64.b64encode(data).decode(),
            },
            {"FileName": "p2.png", "FileData": base64.b64encode(b"two").decode()},
        ],
    }
    mock.get(f"{BASE}/async/job/{JOB}", json=body)
    result = client.result(JOB, timeout=5)
    assert [f.read() for f in result.files] == [data, b"two"]
    assert [f.media_type for f in result.files] == ["image/png", "image/png"]
    assert result.meta == {"ConversionTime": 3}
    assert len(mock.calls) == 1


def test_result_with_bad_base64_raises_transport_error(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    body = {"Files": [{"FileName": "p.png", "FileData": "!!not base64!!"}]}
    mock.get(f"{BASE}/async/job/{JOB}", json=body)
    with pytest.raises(TransportError, match="base64"):
        client.result(JOB, timeout=5)


def test_poll_200_with_a_raw_file_body_is_done_and_fetched_from_the_job_url(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    headers = {"Content-Disposition": 'attachment; filename="out.pdf"'}
    mock.get(
        f"{BASE}/async/job/{JOB}", body=b"%PDF raw", content_type="application/pdf", headers=headers
    )
    mock.get(
        f"{BASE}/async/job/{JOB}", body=b"%PDF raw", content_type="application/pdf", headers=headers
    )
    result = client.result(JOB, timeout=5)
    (file,) = result.files
    assert (file.name, file.media_type, file.url) == (
        "out.pdf",
        "application/pdf",
        f"{BASE}/async/job/{JOB}",
    )
    assert file.read() == b"%PDF raw"


def test_raw_body_without_a_name_is_named_from_its_media_type(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", body=b"%PDF", content_type="application/pdf")
    assert client.status(JOB).status is Status.DONE
    assert client.provider.result(JOB).files[0].name == f"{JOB}.pdf"


def test_result_of_a_job_not_seen_done_polls_it(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", json=RESULT)
    assert client.provider.result(JOB).files[0].name == "report.pdf"


def test_result_of_a_failed_job_raises_job_failed(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=500, json={"Code": 5001, "Message": "Nope."})
    with pytest.raises(JobFailedError, match="Nope"):
        client.provider.result(JOB)


def test_result_of_a_pending_job_raises_provider_error(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.get(f"{BASE}/async/job/{JOB}", status=202)
    with pytest.raises(ProviderError, match="is still pending"):
        client.provider.result(JOB)


# -- cancel, list -------------------------------------------------------------------------------


def test_cancel_current_is_delete_async_job(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.delete(f"{BASE}/async/job/{JOB}")
    client.cancel(JOB)
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"


def test_cancel_legacy_is_delete_job(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    mock.delete(f"{BASE}/job/{LEGACY_JOB}")
    legacy.cancel(LEGACY_JOB)


def test_cancel_unknown_job_raises_job_not_found(
    mock: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    mock.delete(f"{BASE}/async/job/{JOB}", status=404, json={"Code": 4040, "Message": "Gone."})
    with pytest.raises(JobNotFoundError, match="Gone"):
        client.cancel(JOB)


def test_the_service_lists_nothing_itself(client: asyncjobs.Client) -> None:
    assert list(client.provider.list()) == []


# -- what the ledger remembers: cancels, times --------------------------------------------------


@pytest.fixture
def booked(tmp_path: Path) -> Iterator[asyncjobs.Client]:
    """A client with a ledger, for what is remembered between looks."""
    with connect(ledger=tmp_path / "ledger.sqlite3") as c:
        yield c


def submitted(mock: responses.RequestsMock, c: asyncjobs.Client) -> asyncjobs.Job:
    mock.post(f"{BASE}/async/convert/docx/to/pdf", json={"JobId": JOB})
    return c.submit("convert", source=FileId("u", name="a.docx"), to="pdf")


def test_a_cancelled_job_reads_failed_cancelled_without_asking_the_service(
    mock: responses.RequestsMock, booked: asyncjobs.Client
) -> None:
    job = submitted(mock, booked)
    mock.delete(f"{BASE}/async/job/{JOB}")
    job.cancel()
    info = booked.status(JOB)
    assert (info.status, info.raw_status) == (Status.FAILED, "cancelled")
    assert len(mock.calls) == 2, "no poll of a deleted job"


def test_a_cancelled_job_is_listed_failed_not_pending(
    mock: responses.RequestsMock, booked: asyncjobs.Client
) -> None:
    submitted(mock, booked)
    mock.delete(f"{BASE}/async/job/{JOB}")
    booked.cancel(JOB)
    assert [j.id for j in booked.list(status="pending")] == []
    assert [j.info.raw_status for j in booked.list(status="failed") if j.info] == ["cancelled"]
    assert [j.id for j in asyncjobs.jobs(status="pending", ledger=booked.ledger)] == []


def test_a_cancel_the_service_refused_is_not_recorded(
    mock: responses.RequestsMock, booked: asyncjobs.Client
) -> None:
    submitted(mock, booked)
    mock.delete(f"{BASE}/async/job/{JOB}", status=500, json={"Code": 5000, "Message": "No."})
    with pytest.raises(ProviderError):
        booked.cancel(JOB)
    mock.get(f"{BASE}/async/job/{JOB}", status=202)
    assert booked.status(JOB).status is Status.PENDING


def test_completed_at_is_when_the_job_was_first_seen_done_not_each_look(
    mock: responses.RequestsMock, booked: asyncjobs.Client
) -> None:
    submitted(mock, booked)
    mock.get(f"{BASE}/async/job/{JOB}", json=RESULT)
    first = booked.status(JOB).completed_at
    second = booked.status(JOB).completed_at
    assert first is not None
    assert second == first


def test_status_fills_submitted_at_from_the_ledger(
    mock: responses.RequestsMock, booked: asyncjobs.Client
) -> None:
    job = submitted(mock, booked)
    mock.get(f"{BASE}/async/job/{JOB}", status=202)
    assert job.info is not None
    assert booked.status(JOB).submitted_at == job.info.submitted_at


def test_submit_legacy_answered_with_a_failed_conversion_is_failed_at_once(
    mock: responses.RequestsMock, legacy: asyncjobs.Client
) -> None:
    mock.post(f"{BASE}/convert/docx/to/pdf", status=500, json={"Code": 5002, "Message": "Damaged."})
    job = legacy.submit("convert", source=FileId("u", name="a.docx"), to="pdf")
    assert job.info is not None
    assert (job.info.status, job.info.raw_status) == (Status.FAILED, "500/5002")
    assert "Damaged" in (job.info.error or "")
