"""The exact HTTP of the CloudConvert adapter, pinned with ``responses``: the job body it builds, the
upload to the form (without the API key), status and error mapping, cost, multi-file results,
paging and cancel."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder

import asyncjobs
from asyncjobs import Cost, Status
from asyncjobs.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidParameterError,
    JobFailedError,
    JobNotFoundError,
    ProviderError,
    RateLimitedError,
)

BASE = "https://api.cloudconvert.com/v2"
KEY = "test-api-key-for-responses"
FORM = "https://upload.cloudconvert.example/storage/abc/?s=xyz"
JOB = "cd82535b-0614-4b23-bbba-b24ab0e892f7"
RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.002, max_time=5)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def connect(**kwargs: Any) -> asyncjobs.Client:
    kwargs.setdefault("ledger", False)
    return asyncjobs.connect("cloudconvert", secret=KEY, retry=RETRY, **kwargs)


@pytest.fixture
def client() -> Iterator[asyncjobs.Client]:
    with connect() as c:
        yield c


def task(name: str, operation: str, status: str, **more: Any) -> dict[str, Any]:
    return {"id": f"t-{name}", "name": name, "operation": operation, "status": status, **more}


def job(status: str, *tasks: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"data": {"id": JOB, "status": status, "tag": None, "tasks": list(tasks), **more}}


def created(form: bool = True) -> dict[str, Any]:
    upload = task("import", "import/upload", "waiting")
    if form:
        upload["result"] = {
            "form": {"url": FORM, "parameters": {"expires": 1559588529, "signature": "79fd"}}
        }
    return job(
        "waiting",
        upload,
        task("convert", "convert", "waiting"),
        task("export", "export/url", "waiting"),
    )


def finished(*files: dict[str, Any], credits: int = 2) -> dict[str, Any]:
    return job(
        "finished",
        task("import", "import/upload", "finished", credits=0),
        task("convert", "convert", "finished", credits=credits),
        task("export", "export/url", "finished", result={"files": list(files)}),
        created_at="2019-05-30T10:53:01+00:00",
        ended_at="2019-05-30T10:53:23+00:00",
    )


def multipart(call: Any) -> tuple[dict[str, str], dict[str, bytes], dict[str, str]]:
    body = call.request.body
    data = body.read() if hasattr(body, "read") else body
    env = EnvironBuilder(
        method="POST",
        input_stream=io.BytesIO(data),
        content_length=len(data),
        content_type=call.request.headers["Content-Type"],
    ).get_environ()
    _, form, files = parse_form_data(env)
    names = {k: f.filename or "" for k, f in files.items()}
    return dict(form), {k: f.read() for k, f in files.items()}, names


# -- submit -----------------------------------------------------------------------------------------


def test_submit_of_bytes_builds_the_task_graph_and_uploads_to_the_form(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(f"{BASE}/jobs", json=created(), status=201)
    mock.post(FORM, status=201)
    job_ = client.submit("convert", source=b"hello", from_="docx", to="pdf", pages="1-2")
    assert job_.id == JOB
    assert job_.info is not None
    assert job_.info.status is Status.PENDING
    create, upload = mock.calls
    assert create.request.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(create.request.body) == {
        "tasks": {
            "import": {"operation": "import/upload"},
            "convert": {
                "operation": "convert",
                "input": ["import"],
                "input_format": "docx",
                "output_format": "pdf",
                "pages": "1-2",
            },
            "export": {"operation": "export/url", "input": ["convert"]},
        }
    }
    assert "Authorization" not in upload.request.headers  # the form is the storage's
    assert KEY not in str(upload.request.headers)
    fields, files, names = multipart(upload)
    assert fields == {"expires": "1559588529", "signature": "79fd"}
    assert files == {"file": b"hello"}
    assert names == {"file": "file.docx"}


def test_submit_of_a_path_streams_it_with_a_length(
    client: asyncjobs.Client, mock: responses.RequestsMock, tmp_path: Any
) -> None:
    src = tmp_path / 'odd "name"\r\n<script>.docx'
    src.write_bytes(b"x" * 10_000)
    mock.post(f"{BASE}/jobs", json=created(), status=201)
    mock.post(FORM, status=201)
    client.submit("convert", source=src, to="pdf", tag="order-7")
    create, upload = mock.calls
    assert json.loads(create.request.body)["tag"] == "order-7"
    assert "tag" not in json.loads(create.request.body)["tasks"]["convert"]
    assert int(upload.request.headers["Content-Length"]) > 10_000
    _, files, names = multipart(upload)
    assert files["file"] == b"x" * 10_000
    assert "\n" not in names["file"]  # the name cannot end its header or start another
    assert names["file"].startswith('odd "name"')


def test_submit_of_a_url_imports_it_and_uploads_nothing(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(f"{BASE}/jobs", json=job("processing", task("import", "import/url", "finished")))
    client.submit("convert", source="https://files.example.com/a/report.docx", to="pdf")
    (create,) = mock.calls
    assert json.loads(create.request.body)["tasks"]["import"] == {
        "operation": "import/url",
        "url": "https://files.example.com/a/report.docx",
        "filename": "report.docx",
    }


def test_the_form_is_asked_for_when_the_job_answer_lacks_it(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(f"{BASE}/jobs", json=created(form=False), status=201)
    shown = task("import", "import/upload", "waiting", result={"form": {"url": FORM}})
    mock.get(f"{BASE}/tasks/t-import", json={"data": shown})
    mock.post(FORM, status=201)
    client.submit("convert", source=b"x", from_="docx", to="pdf")
    assert [c.request.method for c in mock.calls] == ["POST", "GET", "POST"]


def test_a_refused_upload_names_the_created_job(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(f"{BASE}/jobs", json=created(), status=201)
    mock.post(FORM, status=403, body="Invalid signature.")
    with pytest.raises(ProviderError) as caught:
        client.submit("convert", source=b"x", from_="docx", to="pdf")
    assert JOB in str(caught.value)
    assert "cancel" in str(caught.value)


def test_the_webhook_url_goes_into_the_job(mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/jobs", json=job("processing", task("import", "import/url", "finished")))
    with connect(webhook_secret="whsec") as c:
        c.submit(
            "convert", source="https://x.example/a.docx", to="pdf", webhook="https://h.example/cc"
        )
    assert json.loads(mock.calls[0].request.body)["webhook_url"] == "https://h.example/cc"


def test_a_webhook_without_a_signing_secret_is_refused_before_any_request(
    client: asyncjobs.Client,
) -> None:
    with pytest.raises(ConfigurationError, match="webhook_secret"):
        client.submit(
            "convert", source="https://x.example/a.docx", to="pdf", webhook="https://h.example/"
        )


@pytest.mark.parametrize("name", ["input", "operation", "input_format", "output_format", "tasks"])
def test_options_that_would_break_the_graph_are_refused(
    client: asyncjobs.Client, name: str
) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        client.submit("convert", source=b"x", from_="docx", to="pdf", **{name: "x"})


def test_options_json_cannot_carry_are_refused(client: asyncjobs.Client) -> None:
    with pytest.raises(InvalidParameterError, match="JSON"):
        client.submit("convert", source=b"x", from_="docx", to="pdf", pages=object())
    with pytest.raises(InvalidParameterError):
        client.submit("convert", source=b"x", from_="docx", to="pdf", quality=float("nan"))


def test_formats_come_from_the_shipped_list() -> None:
    from asyncjobs_cloudconvert import CloudConvertProvider

    formats = CloudConvertProvider.formats()
    assert formats.offers("docx", "pdf")
    assert "convert/formats" in formats.source


# -- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("waiting", Status.PENDING),
        ("processing", Status.PENDING),
        ("finished", Status.DONE),
        ("error", Status.FAILED),
        ("something-new", Status.PENDING),
    ],
)
def test_job_status_words_map_to_normalized_statuses(
    client: asyncjobs.Client, mock: responses.RequestsMock, word: str, status: Status
) -> None:
    mock.get(f"{BASE}/jobs/{JOB}", json=job(word))
    info = client.status(JOB)
    assert info.status is status
    assert info.raw_status == word


def test_a_failed_job_reports_the_first_cause_not_the_dependents(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    body = job(
        "error",
        task(
            "export",
            "export/url",
            "error",
            code="INPUT_TASK_FAILED",
            message="Input task has failed",
        ),
        task(
            "import",
            "import/url",
            "error",
            code="SANDBOX_FILE_NOT_ALLOWED",
            message="The file file.mp4 is not whitelisted",
        ),
    )
    mock.get(f"{BASE}/jobs/{JOB}", json=body)
    info = client.status(JOB)
    assert info.status is Status.FAILED
    assert info.error is not None
    assert "SANDBOX_FILE_NOT_ALLOWED" in info.error
    assert "whitelisted" in info.error
    assert info.meta["code"] == "SANDBOX_FILE_NOT_ALLOWED"


def test_cost_is_the_sum_of_the_tasks_credits_once_the_job_ended(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/jobs/{JOB}", json=job("processing", task("c", "convert", "processing")))
    mock.get(f"{BASE}/jobs/{JOB}", json=finished(credits=3))
    assert client.status(JOB).cost is None
    info = client.status(JOB)
    assert info.cost == Cost(3, "credits")
    assert info.completed_at is not None
    assert info.submitted_at is not None


def test_a_job_without_credits_has_no_known_cost(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/jobs/{JOB}", json=job("finished", task("e", "export/url", "finished")))
    assert client.status(JOB).cost is None


def test_a_negative_credit_count_is_no_cost_and_no_crash(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    # found by the reliability suite's fuzzing: Cost(-3) raised a bare ValueError from status()
    mock.get(
        f"{BASE}/jobs/{JOB}", json=job("finished", task("c", "convert", "finished", credits=-3))
    )
    assert client.status(JOB).cost is None
    mock.get(
        f"{BASE}/jobs/{JOB}",
        json=job(
            "finished",
            task("c", "convert", "finished", credits=2),
            task("d", "convert", "finished", credits=-1),
        ),
    )
    assert client.status(JOB).cost == Cost(2, "credits")


# -- result -----------------------------------------------------------------------------------------


def test_result_has_every_file_of_every_export_task(
    client: asyncjobs.Client, mock: responses.RequestsMock, tmp_path: Any
) -> None:
    body = finished(
        {"filename": "page-1.png", "url": "https://storage.example/1/page-1.png?sig=a", "size": 3},
        {
            "filename": "../page-2.png",
            "url": "https://storage.example/1/page-2.png?sig=b",
            "size": 3,
        },
    )
    body["data"]["tasks"].append(
        task(
            "export2",
            "export/url",
            "finished",
            result={"files": [{"filename": "x.pdf", "url": "https://storage.example/x.pdf"}]},
        )
    )
    mock.get(f"{BASE}/jobs/{JOB}", json=body)
    mock.get("https://storage.example/1/page-1.png", body=b"one")
    mock.get("https://storage.example/1/page-2.png", body=b"two")
    result = client.result(JOB)
    assert [f.name for f in result.files] == ["page-1.png", "page-2.png", "x.pdf"]
    assert result.meta["credits"] == 2
    assert result.files[0].read() == b"one"
    assert result.files[1].read() == b"two"
    downloads = [c for c in mock.calls if "storage.example" in c.request.url]
    assert len(downloads) == 2
    for call in downloads:
        assert "Authorization" not in call.request.headers  # signed storage URLs


def test_result_of_a_failed_job_raises(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(
        f"{BASE}/jobs/{JOB}",
        json=job("error", task("c", "convert", "error", code="X", message="bad")),
    )
    with pytest.raises(JobFailedError):
        client.result(JOB, timeout=1)


# -- errors -----------------------------------------------------------------------------------------


def test_a_validation_error_names_the_fields(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(
        f"{BASE}/jobs",
        status=422,
        json={
            "message": "The given data was invalid.",
            "code": "INVALID_DATA",
            "errors": {"tasks.convert.output_format": ["Converting docx to pdf is not supported."]},
        },
    )
    with pytest.raises(ProviderError) as caught:
        client.submit("convert", source="https://x.example/a.docx", to="pdf")
    err = caught.value
    assert err.status_code == 422
    assert err.code == "INVALID_DATA"
    assert err.invalid_parameters == {
        "tasks.convert.output_format": ("Converting docx to pdf is not supported.",)
    }


def test_credits_used_up_is_a_provider_error_with_the_vendor_code(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(
        f"{BASE}/jobs",
        status=402,
        json={
            "message": "Your account has run out of conversion minutes",
            "code": "CREDITS_EXCEEDED",
        },
    )
    with pytest.raises(ProviderError) as caught:
        client.submit("convert", source="https://x.example/a.docx", to="pdf")
    assert caught.value.code == "CREDITS_EXCEEDED"
    assert caught.value.status_code == 402
    assert len(mock.calls) == 1  # a submit is never repeated


def test_a_bad_key_is_an_authentication_error_with_advice(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(
        f"{BASE}/jobs/{JOB}",
        status=401,
        json={"message": "Unauthenticated.", "code": "UNAUTHENTICATED"},
    )
    with pytest.raises(AuthenticationError, match="CLOUDCONVERT_API_KEY"):
        client.status(JOB)


def test_an_unknown_job_is_job_not_found(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(
        f"{BASE}/jobs/{JOB}", status=404, json={"message": "Job not found.", "code": "NOT_FOUND"}
    )
    with pytest.raises(JobNotFoundError):
        client.status(JOB)


def test_429_is_retried_on_reads_after_retry_after(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(
        f"{BASE}/jobs/{JOB}",
        status=429,
        headers={"Retry-After": "0"},
        json={"message": "Too Many Attempts."},
    )
    mock.get(f"{BASE}/jobs/{JOB}", json=job("processing"))
    assert client.status(JOB).status is Status.PENDING


def test_429_on_a_submit_is_rate_limited(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.post(
        f"{BASE}/jobs",
        status=429,
        headers={"Retry-After": "7"},
        json={"message": "Too Many Attempts."},
    )
    with pytest.raises(RateLimitedError) as caught:
        client.submit("convert", source="https://x.example/a.docx", to="pdf")
    assert caught.value.retry_after == 7


def test_a_non_json_answer_is_a_transport_error_not_a_crash(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/jobs/{JOB}", body="<html>gateway</html>")
    with pytest.raises(asyncjobs.errors.TransportError):
        client.status(JOB)


# -- cancel, list -----------------------------------------------------------------------------------


def test_cancel_cancels_the_tasks_still_running(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    mock.get(
        f"{BASE}/jobs/{JOB}",
        json=job(
            "processing",
            task("import", "import/url", "finished"),
            task("convert", "convert", "processing"),
            task("export", "export/url", "waiting"),
        ),
    )
    mock.post(f"{BASE}/tasks/t-convert/cancel", json={"data": task("convert", "convert", "error")})
    mock.post(
        f"{BASE}/tasks/t-export/cancel",
        status=400,
        json={
            "message": "The given data was invalid.",
            "code": "INVALID_DATA",
            "errors": {"status": ["Cannot change status: task already completed."]},
        },
    )
    client.cancel(JOB)
    assert [urlsplit(c.request.url).path for c in mock.calls] == [
        f"/v2/jobs/{JOB}",
        "/v2/tasks/t-convert/cancel",
        "/v2/tasks/t-export/cancel",
    ]


def test_list_follows_next_links_on_the_api_origin_only(
    client: asyncjobs.Client, mock: responses.RequestsMock
) -> None:
    def page(ids: list[str], next_: str | None) -> dict[str, Any]:
        return {
            "data": [{"id": i, "status": "finished"} for i in ids],
            "links": {"first": f"{BASE}/jobs?page=1", "last": None, "prev": None, "next": next_},
            "meta": {"current_page": 1, "per_page": 100},
        }

    mock.get(f"{BASE}/jobs", json=page(["a", "b"], f"{BASE}/jobs?per_page=100&page=2"))
    mock.get(f"{BASE}/jobs", json=page(["c"], "https://evil.example/v2/jobs?page=3"))
    listed = client.provider.list()
    assert [i.id for i in listed] == ["a", "b", "c"]
    assert parse_qs(urlsplit(mock.calls[0].request.url).query) == {"per_page": ["100"]}
    assert parse_qs(urlsplit(mock.calls[1].request.url).query) == {
        "per_page": ["100"],
        "page": ["2"],
    }
