"""The exact HTTP of the GroupDocs adapter, pinned with `responses`: every request and every answer."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

import pytest
import responses
from asyncjobs_groupdocs import StorageFile
from asyncjobs_groupdocs.provider import _warned, parse_time, status_of
from groupdocs_support import API, TOKEN_URL
from responses import matchers

import asyncjobs
from asyncjobs.errors import (
    AuthenticationError,
    InvalidParameterError,
    JobFailedError,
    JobNotFoundError,
    NotSupportedError,
    ProviderError,
    RateLimitedError,
)
from asyncjobs.provider import TokenAuth

OP = "ecbfa56b-3545-4620-86a0-4c500c8ac38e"
TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "my-client-id",
    "client_secret": "my-client-secret-canary",
}


def add_token(
    rsps: responses.RequestsMock, token: str = "tok-one-1234", expires_in: int = 3600
) -> None:
    rsps.post(
        TOKEN_URL,
        json={"access_token": token, "expires_in": expires_in, "token_type": "Bearer"},
        match=[
            matchers.urlencoded_params_matcher(TOKEN_FORM),
            matchers.header_matcher({"Accept": "application/json"}),
        ],
    )


def bearer(token: str) -> Any:
    return matchers.header_matcher({"Authorization": f"Bearer {token}"})


def status_body(status: Any = "Finished", **more: Any) -> dict[str, Any]:
    return {
        "id": OP,
        "method": "ConvertAndSave",
        "status": status,
        "created": "2024-05-01T10:00:00.1234567Z",
        **more,
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- OAuth ----------------------------------------------------------------------------------------


@responses.activate
def test_token_is_fetched_with_client_credentials_and_sent_as_bearer(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async",
        json=status_body(),
        match=[bearer("tok-one-1234"), matchers.query_param_matcher({"id": OP})],
    )
    assert api_client.status(OP).status is asyncjobs.Status.DONE
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]


@responses.activate
def test_token_is_cached_between_requests(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body(), match=[bearer("tok-one-1234")])
    for _ in range(3):
        api_client.status(OP)
    assert sum(c.request.url == TOKEN_URL for c in responses.calls) == 1


@responses.activate
def test_token_is_refreshed_before_expires_in_runs_out(api_client: Any) -> None:
    clock = FakeClock()
    provider = api_client.provider
    provider.tokens = TokenAuth(
        provider._fetch_token, clock=clock, on_token=provider.transport.redactor.add
    )
    add_token(responses.mock, "tok-one-1234", expires_in=600)
    responses.get(f"{API}/conversion/async", json=status_body(), match=[bearer("tok-one-1234")])
    api_client.status(OP)
    clock.now += 600 - 60 - 1  # inside the margin: 10 % of 600 s = 60 s
    api_client.status(OP)
    assert provider.tokens.fetches == 1
    responses.replace(
        responses.POST, TOKEN_URL, json={"access_token": "tok-two-5678", "expires_in": 600}
    )
    responses.replace(
        responses.GET, f"{API}/conversion/async", json=status_body(), match=[bearer("tok-two-5678")]
    )
    clock.now += 2  # past the refresh point, before the real expiry
    api_client.status(OP)
    assert provider.tokens.fetches == 2


@responses.activate
def test_a_401_refreshes_the_token_and_replays_the_request_once(api_client: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "tok-old-1111", "expires_in": 3600})
    responses.post(TOKEN_URL, json={"access_token": "tok-new-2222", "expires_in": 3600})
    responses.get(f"{API}/conversion/async", status=401, match=[bearer("tok-old-1111")])
    responses.get(f"{API}/conversion/async", json=status_body(), match=[bearer("tok-new-2222")])
    assert api_client.status(OP).status is asyncjobs.Status.DONE
    assert [(c.request.method, c.response.status_code) for c in responses.calls] == [
        ("POST", 200),
        ("GET", 401),
        ("POST", 200),
        ("GET", 200),
    ]


@responses.activate
def test_a_second_401_raises_authentication_error_without_looping(api_client: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "tok-old-1111", "expires_in": 3600})
    responses.get(
        f"{API}/conversion/async",
        status=401,
        headers={
            "WWW-Authenticate": 'Bearer error="invalid_token", '
            'error_description="The token expired"'
        },
    )
    with pytest.raises(AuthenticationError) as caught:
        api_client.status(OP)
    assert len(responses.calls) == 4  # token, 401, token, 401
    assert "The token expired" in str(caught.value)


@responses.activate
@pytest.mark.parametrize("status", [400, 401])
def test_invalid_client_says_the_client_id_or_secret_is_wrong(api_client: Any, status: int) -> None:
    responses.post(TOKEN_URL, json={"error": "invalid_client"}, status=status)
    with pytest.raises(AuthenticationError) as caught:
        api_client.status(OP)
    assert caught.value.code == "invalid_client"
    assert "client id or client secret is wrong" in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_429_from_the_token_endpoint_waits_for_retry_after(api_client: Any) -> None:
    responses.post(
        TOKEN_URL, json={"error": "too_many_requests"}, status=429, headers={"Retry-After": "0"}
    )
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body())
    api_client.status(OP)
    assert [c.response.status_code for c in responses.calls] == [429, 200, 200]


@responses.activate
def test_a_token_endpoint_that_keeps_answering_429_raises_rate_limited(api_client: Any) -> None:
    responses.post(
        TOKEN_URL, json={"error": "too_many_requests"}, status=429, headers={"Retry-After": "0"}
    )
    with pytest.raises(RateLimitedError) as caught:
        api_client.status(OP)
    assert caught.value.retry_after == 0
    assert len(responses.calls) == 3  # QUICK_RETRY.max_tries


@responses.activate
def test_each_fresh_token_is_redacted(api_client: Any) -> None:
    add_token(responses.mock, "tok-secret-value-xyz")
    responses.get(f"{API}/conversion/async", json=status_body())
    api_client.status(OP)
    assert api_client.provider.transport.redactor("a tok-secret-value-xyz b") == "a *** b"


def test_fifty_threads_across_an_expiry_fetch_one_token() -> None:
    clock = FakeClock()
    fetched: list[int] = []
    gate = threading.Event()

    def fetch() -> tuple[str, float | None]:
        gate.wait(1)
        fetched.append(1)
        return f"tok-{len(fetched)}", 100.0

    cache = TokenAuth(fetch, clock=clock)
    gate.set()
    assert cache.get() == "tok-1"
    clock.now += 1000
    gate.clear()
    start = threading.Barrier(50)
    got: list[str] = []

    def worker() -> None:
        start.wait()
        got.append(cache.get())

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(fetched) == 2
    assert set(got) == {"tok-2"}


# -- submit -----------------------------------------------------------------------------------------


def _multipart(body: Any) -> tuple[str, bytes]:
    body = body.read() if hasattr(body, "read") else body
    head, _, rest = body.partition(b"\r\n\r\n")
    content = rest.rsplit(b"\r\n--", 1)[0]
    return head.decode(), content


@responses.activate
def test_a_local_source_is_uploaded_then_converted(api_client: Any, tmp_path: Any) -> None:
    src = tmp_path / "report.docx"
    src.write_bytes(b"docx bytes")
    add_token(responses.mock)
    upload = f"{API}/conversion/storage/file/in%2Freport.docx"
    responses.put(
        upload, json={"uploaded": ["in/report.docx"], "errors": []}, match=[bearer("tok-one-1234")]
    )
    responses.post(
        f"{API}/conversion/async",
        body=f'"{OP}"',
        content_type="application/json",
        match=[
            bearer("tok-one-1234"),
            matchers.json_params_matcher(
                {
                    "FilePath": "in/report.docx",
                    "Format": "pdf",
                    "OutputPath": "out",
                    "LoadOptions": {"Password": "pw-1234"},
                    "ConvertOptions": {"FromPage": 1, "PagesCount": 2},
                }
            ),
        ],
    )
    job = api_client.submit(
        "convert",
        source=src,
        to="pdf",
        upload_path="in/report.docx",
        output_path="out",
        load_options={"Password": "pw-1234"},
        convert_options={"FromPage": 1, "PagesCount": 2},
    )
    assert job.id == OP
    assert job.info.status is asyncjobs.Status.PENDING
    sent = responses.calls[1].request
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    head, content = _multipart(sent.body)
    assert 'name="file"; filename="report.docx"' in head
    assert content == b"docx bytes"


@responses.activate
def test_the_default_paths_are_unique_per_job(api_client: Any) -> None:
    add_token(responses.mock)
    responses.put(
        re.compile(
            re.escape(API) + r"/conversion/storage/file/asyncjobs%2F\w+%2F"
            r"source\.txt"
        ),
        json={"uploaded": [], "errors": []},
    )
    responses.post(f"{API}/conversion/async", json=OP)
    job = api_client.submit("convert", source=b"abc", from_="txt", to="pdf")
    settings = json.loads(responses.calls[-1].request.body)
    assert settings["FilePath"].startswith("asyncjobs/")
    assert settings["FilePath"].endswith("/source.txt")
    assert settings["OutputPath"] == settings["FilePath"].rsplit("/", 1)[0] + "/converted"
    assert job.info.meta["file_path"] == settings["FilePath"]


@responses.activate
def test_the_storage_setting_goes_in_storage_name(tmp_path: Any) -> None:
    with asyncjobs.connect(
        "groupdocs", client_id="id-1", client_secret="secret-1", storage="MyStorage", ledger=False
    ) as client:
        responses.post(TOKEN_URL, json={"access_token": "tok-one-1234", "expires_in": 60})
        responses.put(
            f"{API}/conversion/storage/file/a%2Fb.txt",
            match=[matchers.query_param_matcher({"storageName": "MyStorage"})],
            json={"uploaded": ["a/b.txt"], "errors": []},
        )
        responses.post(
            f"{API}/conversion/async",
            json=OP,
            match=[
                matchers.json_params_matcher(
                    {
                        "FilePath": "a/b.txt",
                        "Format": "pdf",
                        "StorageName": "MyStorage",
                        "OutputPath": "o",
                    }
                )
            ],
        )
        client.submit(
            "convert", source=b"x", from_="txt", to="pdf", upload_path="a/b.txt", output_path="o"
        )


@responses.activate
def test_a_storage_file_is_converted_without_upload(api_client: Any) -> None:
    add_token(responses.mock)
    responses.post(
        f"{API}/conversion/async",
        json=OP,
        match=[
            matchers.json_params_matcher(
                {"FilePath": "folder/a.docx", "Format": "pdf", "OutputPath": "converted"}
            )
        ],
    )
    job = api_client.submit(
        "convert", source=StorageFile("folder/a.docx"), to="pdf", output_path="converted"
    )
    assert job.id == OP
    assert len(responses.calls) == 2


@responses.activate
def test_direct_sends_the_file_in_put_conversion_async(api_client: Any) -> None:
    add_token(responses.mock)
    responses.put(
        f"{API}/conversion/async",
        json=OP,
        match=[matchers.query_param_matcher({"format": "pdf", "fromPage": "2", "pagesCount": "1"})],
    )
    job = api_client.submit(
        "convert",
        source=b"abc",
        from_="docx",
        to="pdf",
        direct=True,
        convert_options={"FromPage": 2, "PagesCount": 1},
    )
    assert job.id == OP
    head, content = _multipart(responses.calls[1].request.body)
    assert 'filename="source.docx"' in head
    assert content == b"abc"


@responses.activate
def test_a_direct_start_is_not_retried_on_503(api_client: Any) -> None:
    add_token(responses.mock)
    responses.put(f"{API}/conversion/async", status=503, json={"code": "x", "message": "busy"})
    with pytest.raises(ProviderError):
        api_client.submit("convert", source=b"abc", from_="docx", to="pdf", direct=True)
    assert len(responses.calls) == 2


@responses.activate
def test_an_upload_answered_200_with_errors_is_an_error(api_client: Any) -> None:
    add_token(responses.mock)
    responses.put(
        f"{API}/conversion/storage/file/a%2Fb.txt",
        json={
            "uploaded": [],
            "errors": [
                {"code": "errorUploadFailed", "message": "Quota exceeded", "description": "no room"}
            ],
        },
    )
    with pytest.raises(ProviderError) as caught:
        api_client.submit("convert", source=b"x", from_="txt", to="pdf", upload_path="a/b.txt")
    assert caught.value.code == "errorUploadFailed"
    assert "Quota exceeded" in str(caught.value)
    assert len(responses.calls) == 2  # no conversion started


@responses.activate
def test_a_missing_storage_file_is_named(api_client: Any) -> None:
    add_token(responses.mock)
    responses.post(
        f"{API}/conversion/async",
        status=404,
        json={
            "requestId": "r-1",
            "error": {
                "code": "errorItemNotFound",
                "message": "The specified key does not exist.",
                "description": "The specified key does not exist.",
                "dateTime": "2024-05-01T10:00:00Z",
                "innerError": None,
            },
        },
    )
    with pytest.raises(ProviderError) as caught:
        api_client.submit("convert", source=StorageFile("folder/gone.docx"), to="pdf")
    assert "'folder/gone.docx' does not exist" in str(caught.value)
    assert caught.value.request_id == "r-1"
    assert "groupdocs" in str(caught.value)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"source": "https://example.com/a.docx", "to": "pdf"}, "source"),
        ({"source": b"x", "from_": "txt", "to": "pdf", "direct": "yes"}, "direct"),
        (
            {"source": b"x", "from_": "txt", "to": "pdf", "direct": True, "output_path": "o"},
            "output_path",
        ),
        (
            {
                "source": b"x",
                "from_": "txt",
                "to": "pdf",
                "direct": True,
                "convert_options": {"Dpi": 3},
            },
            "convert_options",
        ),
        ({"source": b"x", "from_": "txt", "to": "pdf", "load_options": ["a"]}, "load_options"),
        (
            {"source": b"x", "from_": "txt", "to": "pdf", "upload_path": "../etc/x.txt"},
            "upload_path",
        ),
        ({"source": b"x", "from_": "txt", "to": "pdf", "upload_path": "a/b.docx"}, "upload_path"),
        ({"source": StorageFile("a/b.docx"), "from_": "txt", "to": "pdf"}, "from_"),
        (
            {"source": StorageFile("a/b.docx"), "to": "pdf", "upload_path": "a/c.docx"},
            "upload_path",
        ),
        ({"source": b"x", "from_": "txt", "to": "pdf", "no_such": 1}, "no_such"),
    ],
)
@responses.activate
def test_bad_parameters_fail_before_any_request(
    api_client: Any, params: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        api_client.submit("convert", **params)
    assert caught.value.parameter == parameter
    assert len(responses.calls) == 0


def test_storage_file_refuses_a_path_with_dot_dot() -> None:
    with pytest.raises(InvalidParameterError):
        StorageFile("a/../b.docx")


# -- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "word"),
    [
        ("Created", "pending", "Created"),
        ("Started", "pending", "Started"),
        ("Finished", "done", "Finished"),
        ("Failed", "failed", "Failed"),
        ("Canceled", "failed", "Canceled"),
        (0, "pending", "0"),
        (1, "pending", "1"),
        (2, "failed", "2"),
        (3, "failed", "3"),
        (4, "done", "4"),
        ("4", "done", "4"),
        ("finished", "done", "finished"),
    ],
)
def test_status_mapping_keeps_the_providers_own_word(raw: Any, status: str, word: str) -> None:
    assert status_of(raw) == (asyncjobs.Status(status), word)


@responses.activate
def test_a_status_sent_as_a_digit_is_raw_status_the_digit(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body(4))
    info = api_client.status(OP)
    assert (info.status, info.raw_status) == (asyncjobs.Status.DONE, "4")


@responses.activate
def test_a_canceled_operation_sent_as_3_is_failed_with_a_message(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body(3))
    info = api_client.status(OP)
    assert (info.status, info.raw_status) == (asyncjobs.Status.FAILED, "3")
    assert "canceled" in (info.error or "")


@responses.activate
@pytest.mark.parametrize("case", [str.lower, str.title])
def test_status_reads_camel_and_pascal_keys(api_client: Any, case: Any) -> None:
    add_token(responses.mock)
    body = {
        "Id": OP,
        "Status": "Failed",
        "Created": "2024-05-01T10:00:00Z",
        "Started": "2024-05-01T10:00:01Z",
        "Failed": "2024-05-01T10:00:02.5+02:00",
        "Error": "Document is corrupted",
    }
    keyed = {(k[:1].lower() + k[1:]) if case is str.lower else k: v for k, v in body.items()}
    responses.get(f"{API}/conversion/async", json=keyed)
    info = api_client.status(OP)
    assert info.status is asyncjobs.Status.FAILED
    assert info.error == "Document is corrupted"
    assert info.started_at is not None
    assert info.started_at.second == 1
    assert info.completed_at is not None
    assert info.completed_at.utcoffset().total_seconds() == 7200


@responses.activate
def test_an_unknown_status_is_pending_and_logged_once(
    api_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _warned.discard("Paused")
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body("Paused"))
    with caplog.at_level(logging.WARNING, logger="asyncjobs.groupdocs"):
        infos = [api_client.status(OP) for _ in range(3)]
    assert {(i.status, i.raw_status) for i in infos} == {(asyncjobs.Status.PENDING, "Paused")}
    assert sum("Paused" in r.getMessage() for r in caplog.records) == 1


@responses.activate
def test_a_canceled_operation_is_failed_with_a_message(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async", json=status_body("Canceled", canceled="2024-05-01T10:01:00Z")
    )
    info = api_client.status(OP)
    assert info.status is asyncjobs.Status.FAILED
    assert "canceled" in (info.error or "")


@responses.activate
def test_an_unknown_operation_raises_job_not_found(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async",
        status=404,
        json={
            "requestId": "r-2",
            "error": {"code": "errorOperationNotFound", "message": "Operation not found"},
        },
    )
    with pytest.raises(JobNotFoundError) as caught:
        api_client.status(OP)
    assert caught.value.code == "errorOperationNotFound"
    assert OP in str(caught.value)


@responses.activate
def test_the_code_message_error_shape_is_read(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async",
        status=400,
        json={"code": "errorInvalidInputData", "message": "Bad id"},
    )
    with pytest.raises(ProviderError) as caught:
        api_client.status(OP)
    assert caught.value.code == "errorInvalidInputData"
    assert "Bad id" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00.1234567Z", "2024-05-01T10:00:00.123456+00:00"),
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00+00:00"),
        ("2024-05-01 10:00:00+0130", "2024-05-01T10:00:00+01:30"),
        ("yesterday", None),
        (None, None),
        (17, None),
    ],
)
def test_parse_time(text: Any, expected: str | None) -> None:
    parsed = parse_time(text)
    assert (parsed.isoformat() if parsed else None) == expected


# -- result -----------------------------------------------------------------------------------------


@responses.activate
def test_result_files_are_downloaded_from_storage(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async",
        json=status_body(
            result=[
                {"name": "a.pdf", "size": 3, "path": "out/a.pdf", "url": "https://elsewhere/a.pdf"}
            ]
        ),
    )
    responses.get(
        f"{API}/conversion/storage/file/out%2Fa.pdf", body=b"PDF", match=[bearer("tok-one-1234")]
    )
    result = api_client.provider.result(OP)
    assert [(f.name, f.size, f.media_type) for f in result.files] == [
        ("a.pdf", 3, "application/pdf")
    ]
    assert api_client.fetch_result(OP).files[0].read() == b"PDF"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("Storage:converted/a.pdf", "converted%2Fa.pdf"),
        ("storage:/converted/a.pdf", "converted%2Fa.pdf"),
        (
            "https://api.groupdocs.cloud/v2.0/conversion/storage/file/converted/a.pdf",
            "converted%2Fa.pdf",
        ),
        (
            "https://api.groupdocs.cloud/v2.0/conversion/storage/file/out%2Fa%20b.pdf",
            "out%2Fa%20b.pdf",
        ),
    ],
)
@responses.activate
def test_a_result_item_without_path_is_found_in_storage_by_its_url(
    api_client: Any, url: str, path: str
) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async", json=status_body(result=[{"name": "a.pdf", "url": url}])
    )
    responses.get(f"{API}/conversion/storage/file/{path}", body=b"PDF")
    assert api_client.fetch_result(OP).files[0].read() == b"PDF"


@responses.activate
def test_a_result_item_whose_url_names_no_storage_path_uses_the_result_endpoint(
    api_client: Any,
) -> None:
    add_token(responses.mock)
    responses.get(
        f"{API}/conversion/async",
        json=status_body(result=[{"name": "a.pdf", "url": "https://cdn.example.com/a.pdf"}]),
    )
    result = api_client.provider.result(OP)
    assert result.files[0].url == f"{API}/conversion/async/result?id={OP}"


def test_a_list_source_is_refused_before_any_request(api_client: Any) -> None:
    with pytest.raises(InvalidParameterError, match="one file per job"):
        api_client.submit("convert", source=[b"a", b"b"], from_="docx", to="pdf")


@responses.activate
def test_result_without_listed_files_uses_the_result_endpoint(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body(result=[]))
    responses.get(
        f"{API}/conversion/async/result",
        body=b"bytes",
        match=[matchers.query_param_matcher({"id": OP})],
    )
    result = api_client.fetch_result(OP)
    assert [f.name for f in result.files] == [OP]
    assert result.files[0].read() == b"bytes"


@responses.activate
def test_a_download_refused_with_401_refreshes_and_replays(api_client: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "tok-old-1111", "expires_in": 3600})
    responses.post(TOKEN_URL, json={"access_token": "tok-new-2222", "expires_in": 3600})
    responses.get(
        f"{API}/conversion/async", json=status_body(result=[{"name": "a.pdf", "path": "a.pdf"}])
    )
    responses.get(
        f"{API}/conversion/storage/file/a.pdf", status=401, match=[bearer("tok-old-1111")]
    )
    responses.get(
        f"{API}/conversion/storage/file/a.pdf", body=b"ok", match=[bearer("tok-new-2222")]
    )
    assert api_client.fetch_result(OP).files[0].read() == b"ok"


@responses.activate
def test_result_of_a_failed_operation_raises_job_failed(api_client: Any) -> None:
    add_token(responses.mock)
    responses.get(f"{API}/conversion/async", json=status_body("Failed", error="corrupt"))
    with pytest.raises(JobFailedError):
        api_client.provider.result(OP)


@responses.activate
def test_cancel_says_groupdocs_has_no_cancel(api_client: Any) -> None:
    with pytest.raises(NotSupportedError) as caught:
        api_client.cancel(OP)
    assert "groupdocs cannot cancel" in str(caught.value)
    assert len(responses.calls) == 0
