"""Fuzzing the answers: hypothesis makes status, result, submit, list, token and error bodies for every
provider, `responses` serves them, and parsing them must give a valid JobInfo / Result or raise an
AsyncJobsError -- never anything else."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability_matrix import Recorder

import asyncjobs
from asyncjobs.errors import AsyncJobsError

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written outside temporary folders
    suppress_health_check=[HealthCheck.too_slow],
)
QUICK = asyncjobs.RetryPolicy(max_tries=1)

# -- strategies -------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
MAX_DAY = "9999-12-31T23:59:59Z"
stamps = st.sampled_from(
    [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.1234567Z",
        "2024-05-01T10:00:00+02:00",
        "2024-05-01 10:00",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2024-13-45T99:99:99Z",
        "not a date",
        "",
    ]
)
urls = st.sampled_from(
    ["https://files.example/d/abc/out.pdf", "http://h/x.csv", "ftp://h/x", "", "https://h/", "/rel"]
)
names = st.sampled_from(["out.pdf", "", ".", "..", "a/b.pdf", "ü€.pdf", "x" * 300]) | st.text()


def fields(
    plausible: Mapping[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with the ``required`` keys (usually) and any subset of the others; each value mostly
    plausible, sometimes any JSON value."""
    value = {k: st.one_of(v, v, v, json_values) for k, v in plausible.items()}
    return st.fixed_dictionaries(
        {k: v for k, v in value.items() if k in required},
        optional={k: v for k, v in value.items() if k not in required},
    ) | st.fixed_dictionaries({}, optional=value)


def bodies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape with wrong bits, sometimes any JSON value at all."""
    return st.one_of(shaped, shaped, json_values)


# ConvertAPI
ca_file = fields(
    {
        "FileName": names,
        "FileExt": st.text(max_size=5),
        "FileSize": st.integers(min_value=-5, max_value=10**20),
        "FileId": st.text(max_size=10),
        "Url": urls,
        "FileData": st.sampled_from(["aGVsbG8=", "not base64!", ""]) | st.text(max_size=10),
    },
    required=("FileName",),
)
ca_result = bodies(
    fields(
        {
            "Files": st.lists(ca_file, max_size=3),
            "ConversionCost": st.integers(),
            "ConversionTime": st.integers(),
        },
        required=("Files",),
    )
)
ca_error = bodies(
    fields(
        {
            "Code": st.integers(min_value=0, max_value=10**6),
            "Message": st.text(),
            "InvalidParameters": st.dictionaries(st.text(max_size=5), st.lists(st.text())),
        }
    )
)
ca_started = bodies(fields({"JobId": st.text(max_size=40)}, required=("JobId",)))
ca_uploaded = bodies(
    fields({"FileId": st.text(max_size=40), "FileName": names}, required=("FileId",))
)

# GroupDocs
gd_status_words = st.sampled_from(
    ["Created", "Started", "Finished", "Failed", "Canceled", 0, 1, 2, 3, 4, 5, -1, "4", "Weird"]
)
gd_item = fields(
    {"name": names, "size": st.integers(min_value=-5, max_value=10**20), "path": names, "url": urls}
)
gd_operation = bodies(
    fields(
        {
            "id": st.text(max_size=10),
            "method": st.text(max_size=10),
            "status": gd_status_words,
            "created": stamps,
            "started": stamps,
            "finished": stamps,
            "failed": stamps,
            "canceled": stamps,
            "error": st.text(),
            "result": st.lists(gd_item, max_size=3),
        },
        required=("status", "result"),
    )
)
gd_token = bodies(
    fields(
        {
            "access_token": st.text(max_size=30),
            "expires_in": st.integers(min_value=-10, max_value=10**12) | st.floats(-1e9, 1e9),
            "token_type": st.text(max_size=8),
        },
        required=("access_token",),
    )
)
gd_error = bodies(
    fields(
        {
            "requestId": st.text(max_size=10),
            "error": fields(
                {"code": st.text(max_size=10), "message": st.text(), "description": st.text()}
            )
            | st.sampled_from(["invalid_client", "unauthorized_client", "other"]),
            "errors": st.lists(json_values, max_size=2),
            "code": st.text(max_size=10),
            "message": st.text(),
            "error_description": st.text(),
        }
    )
)
gd_started = st.one_of(st.text(max_size=40), json_values)
gd_upload = bodies(
    fields({"uploaded": st.lists(st.text(max_size=8)), "errors": st.lists(json_values, max_size=2)})
)

# Conversio
cv_job = fields(
    {
        "id": st.text(max_size=24),
        "kind": st.sampled_from(["newsletter-recipients", "segments-export"]) | st.text(),
        "status": st.sampled_from(["pending", "done", "failed", "DONE", "weird"]),
        "startedAt": stamps,
        "completedAt": stamps,
        "error": st.text(),
        "result": urls,
        "partnerApp": st.text(max_size=8),
    },
    required=("id", "kind", "status"),
)
cv_body = bodies(fields({"data": cv_job}, required=("data",)))
cv_list = bodies(
    fields(
        {"data": st.lists(cv_job, max_size=3), "meta": fields({"nextPage": urls})},
        required=("data",),
    )
)
cv_error = bodies(fields({"errors": st.lists(json_values, max_size=3)}))
error_statuses = st.sampled_from([400, 401, 403, 404, 406, 409, 422, 429, 500, 501, 503, 599])


# -- checks -----------------------------------------------------------------------------------------


def _aware(value: datetime | None) -> bool:
    return value is None or (isinstance(value, datetime) and value.tzinfo is not None)


def valid_info(info: Any, provider: str) -> None:
    """A JobInfo a user can rely on."""
    assert isinstance(info, asyncjobs.JobInfo)
    assert info.provider == provider
    assert isinstance(info.id, str)
    assert info.id.strip()
    assert isinstance(info.kind, str)
    assert isinstance(info.status, asyncjobs.Status)
    assert info.raw_status is None or isinstance(info.raw_status, str)
    assert info.error is None or isinstance(info.error, str)
    for when in (info.submitted_at, info.started_at, info.completed_at, info.expires_at):
        assert _aware(when)
    assert isinstance(info.meta, Mapping)
    repr(info)
    info._repr_html_()


def valid_result(result: Any) -> None:
    """A Result a user can save."""
    assert isinstance(result, asyncjobs.Result)
    for f in result.files:
        assert isinstance(f, asyncjobs.ResultFile)
        assert isinstance(f.name, str)
        assert f.name.strip() not in ("", ".", "..")
        assert f.size is None or (isinstance(f.size, int) and f.size >= 0)
        assert f.url is None or isinstance(f.url, str)
    repr(result)
    result._repr_html_()


def outcome(call: Callable[[], Any], check: Callable[[Any], None]) -> str:
    """``"value"`` or ``"error"``; anything else escaping fails the example."""
    try:
        value = call()
    except AsyncJobsError:
        return "error"
    check(value)
    return "value"


def serve(mock: responses.RequestsMock, method: str, pattern: str, body: Any, status: int) -> None:
    mock.add(
        method,
        re.compile(pattern),
        body=json.dumps(body),
        status=status,
        content_type="application/json",
    )


@pytest.fixture
def fuzz_client() -> Iterator[Callable[..., asyncjobs.Client]]:
    made: list[asyncjobs.Client] = []

    def make(name: str, **settings_: Any) -> asyncjobs.Client:
        client = asyncjobs.connect(name, ledger=False, retry=QUICK, **settings_)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _record(cell: Recorder, seen: set[str]) -> None:
    cell.say(f"{FUZZ.max_examples} bodies: " + " or ".join(sorted(seen)) + ", nothing else")


# -- ConvertAPI -------------------------------------------------------------------------------------

CA = "https://v2.convertapi.com"
CA_JOB = "a" * 32


def test_fuzz_convertapi_status_and_result(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "status and result bodies", "convertapi")
    client = fuzz_client("convertapi", secret="fuzz-secret")
    seen: set[str] = set()

    @FUZZ
    @given(body=ca_result, status=st.sampled_from([200, 200, 202, 500, 503]))
    @example(body={"Files": [{"FileName": "", "Url": "https://h/x"}]}, status=200)
    @example(body={"Files": [{"FileName": "..", "Url": "https://h/x", "FileSize": -3}]}, status=200)
    def run(body: Any, status: int) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{CA}/async/job/.*", body, status)
            seen.add(outcome(lambda: client.status(CA_JOB), lambda i: valid_info(i, "convertapi")))
            seen.add(outcome(lambda: client.fetch_result(CA_JOB), valid_result))

    run()
    _record(cell, seen)


def test_fuzz_convertapi_submit(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "submit bodies (Conversio: and its list)", "convertapi")
    client = fuzz_client("convertapi", secret="fuzz-secret")
    seen: set[str] = set()

    @FUZZ
    @given(uploaded=ca_uploaded, started=ca_started)
    @example(uploaded={"FileId": "f1"}, started={"JobId": ""})
    def run(uploaded: Any, started: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{CA}/upload", uploaded, 200)
            serve(mock, "POST", rf"{CA}/async/convert/.*", started, 200)

            def submit() -> asyncjobs.JobInfo:
                job = client.submit("convert", source=b"x", from_="txt", to="pdf")
                assert job.info is not None
                return job.info

            seen.add(outcome(submit, lambda i: valid_info(i, "convertapi")))

    run()
    _record(cell, seen)


def test_fuzz_convertapi_errors(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "error bodies", "convertapi")
    client = fuzz_client("convertapi", secret="fuzz-secret")
    seen: set[str] = set()

    @FUZZ
    @given(body=ca_error, status=error_statuses)
    def run(body: Any, status: int) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{CA}/async/job/.*", body, status)
            serve(mock, "POST", rf"{CA}/.*", body, status)
            serve(mock, "DELETE", rf"{CA}/.*", body, status)
            seen.add(outcome(lambda: client.status(CA_JOB), lambda i: valid_info(i, "convertapi")))
            seen.add(
                outcome(
                    lambda: client.submit("convert", source=b"x", from_="txt", to="pdf"),
                    lambda j: None,
                )
            )
            seen.add(outcome(lambda: client.cancel(CA_JOB), lambda _: None))

    run()
    _record(cell, seen)


# -- GroupDocs --------------------------------------------------------------------------------------

GD = "https://api.groupdocs.cloud"
GOOD_TOKEN = {"access_token": "fuzz-token-0123", "expires_in": 3600}


def _gd_client(fuzz_client: Any) -> asyncjobs.Client:
    return fuzz_client("groupdocs", client_id="fuzz-id", client_secret="fuzz-secret")


def test_fuzz_groupdocs_status_and_result(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "status and result bodies", "groupdocs")
    client = _gd_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(body=gd_operation)
    @example(body={"status": False, "result": []})
    @example(body={"status": "²", "result": []})
    @example(body={"status": "Finished", "result": [{"name": "", "path": "..", "size": -1}]})
    def run(body: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{GD}/connect/token", GOOD_TOKEN, 200)
            serve(mock, "GET", rf"{GD}/v2.0/conversion/async.*", body, 200)
            seen.add(outcome(lambda: client.status("op-1"), lambda i: valid_info(i, "groupdocs")))
            seen.add(outcome(lambda: client.fetch_result("op-1"), valid_result))

    run()
    _record(cell, seen)


def test_fuzz_groupdocs_submit(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "submit bodies (Conversio: and its list)", "groupdocs")
    client = _gd_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(uploaded=gd_upload, started=gd_started)
    def run(uploaded: Any, started: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{GD}/connect/token", GOOD_TOKEN, 200)
            serve(mock, "PUT", rf"{GD}/v2.0/conversion/storage/file/.*", uploaded, 200)
            serve(mock, "POST", rf"{GD}/v2.0/conversion/async", started, 200)

            def submit() -> asyncjobs.JobInfo:
                job = client.submit("convert", source=b"x", from_="txt", to="pdf")
                assert job.info is not None
                return job.info

            seen.add(outcome(submit, lambda i: valid_info(i, "groupdocs")))

    run()
    _record(cell, seen)


def test_fuzz_groupdocs_token(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "token bodies", "groupdocs")
    seen: set[str] = set()

    @FUZZ
    @given(body=gd_token, status=st.sampled_from([200, 200, 400, 401, 429, 500]))
    def run(body: Any, status: int) -> None:
        client = _gd_client(fuzz_client)  # a new client: a new token each time
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{GD}/connect/token", body, status)
            serve(mock, "GET", rf"{GD}/v2.0/conversion/async.*", {"status": "Started"}, 200)
            seen.add(outcome(lambda: client.status("op-1"), lambda i: valid_info(i, "groupdocs")))
        client.close()

    run()
    _record(cell, seen)


def test_fuzz_groupdocs_errors(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "error bodies", "groupdocs")
    client = _gd_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(body=gd_error, status=error_statuses)
    def run(body: Any, status: int) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{GD}/connect/token", GOOD_TOKEN, 200)
            serve(mock, "GET", rf"{GD}/v2.0/.*", body, status)
            serve(mock, "PUT", rf"{GD}/v2.0/.*", body, status)
            seen.add(outcome(lambda: client.status("op-1"), lambda i: valid_info(i, "groupdocs")))
            seen.add(
                outcome(
                    lambda: client.submit("convert", source=b"x", from_="txt", to="pdf"),
                    lambda j: None,
                )
            )

    run()
    _record(cell, seen)


# -- Conversio --------------------------------------------------------------------------------------

CV = "https://commerce.campaignmonitor.com/api/v1"  # the default base_url


def test_fuzz_conversio_status_and_result(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "status and result bodies", "conversio")
    client = fuzz_client("conversio", api_key="fuzz-key")
    seen: set[str] = set()

    @FUZZ
    @given(body=cv_body)
    @example(body={"data": {"id": "j", "kind": "k", "status": "done", "completedAt": MAX_DAY}})
    @example(body={"data": {"id": "", "kind": "k", "status": "done"}})
    def run(body: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{CV}/async-jobs/.*", body, 200)
            seen.add(outcome(lambda: client.status("j1"), lambda i: valid_info(i, "conversio")))
            seen.add(outcome(lambda: client.fetch_result("j1"), valid_result))

    run()
    _record(cell, seen)


def test_fuzz_conversio_submit_and_list(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "submit bodies (Conversio: and its list)", "conversio")
    client = fuzz_client("conversio", api_key="fuzz-key")
    seen: set[str] = set()

    def listed(jobs: Any) -> None:
        for job in jobs:
            assert job.info is not None
            valid_info(job.info, "conversio")

    @FUZZ
    @given(created=cv_body, listing=cv_list)
    def run(created: Any, listing: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{CV}/newsletters/.*", created, 201)
            serve(mock, "GET", rf"{CV}/async-jobs", listing, 200)

            def submit() -> asyncjobs.JobInfo:
                job = client.submit("newsletter-recipients", newsletter="n1")
                assert job.info is not None
                return job.info

            seen.add(outcome(submit, lambda i: valid_info(i, "conversio")))
            seen.add(outcome(client.list, listed))

    run()
    _record(cell, seen)


def test_fuzz_conversio_errors(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "error bodies", "conversio")
    client = fuzz_client("conversio", api_key="fuzz-key")
    seen: set[str] = set()

    @FUZZ
    @given(body=cv_error, status=error_statuses)
    def run(body: Any, status: int) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{CV}/.*", body, status)
            serve(mock, "POST", rf"{CV}/.*", body, status)
            seen.add(outcome(lambda: client.status("j1"), lambda i: valid_info(i, "conversio")))
            seen.add(
                outcome(
                    lambda: client.submit("newsletter-recipients", newsletter="n1"), lambda j: None
                )
            )
            seen.add(outcome(client.list, lambda _: None))

    run()
    _record(cell, seen)


# -- CloudConvert -----------------------------------------------------------------------------------

CC = "https://api.cloudconvert.com/v2"  # the default base_url
CC_JOB = "6559c6f5-0a8c-4a55-9f5b-2d5f2e1b7a01"
cc_task_words = st.sampled_from(["waiting", "processing", "finished", "error", "queued", "weird"])
cc_file = fields(
    {
        "filename": names,
        "url": urls,
        "size": st.integers(min_value=-5, max_value=10**20),
        "dir": st.text(max_size=5),
    },
    required=("filename",),
)
cc_task = fields(
    {
        "id": st.text(max_size=10),
        "name": st.sampled_from(["import", "convert", "export"]) | st.text(max_size=8),
        "operation": st.sampled_from(["import/upload", "convert", "export/url"]) | st.text(),
        "status": cc_task_words,
        "message": st.text(),
        "code": st.text(max_size=10),
        "credits": st.integers(min_value=-5, max_value=10**20),
        "created_at": stamps,
        "ended_at": stamps,
        "result": fields(
            {
                "files": st.lists(cc_file, max_size=3),
                "form": fields({"url": urls, "parameters": st.dictionaries(st.text(), scalars)}),
            }
        ),
    },
    required=("id", "operation", "status"),
)
cc_job = fields(
    {
        "id": st.text(max_size=40),
        "status": cc_task_words,
        "tag": st.text(max_size=8),
        "created_at": stamps,
        "started_at": stamps,
        "ended_at": stamps,
        "tasks": st.lists(cc_task, max_size=3),
    },
    required=("id", "tasks"),
)
cc_body = bodies(fields({"data": cc_job}, required=("data",)))
cc_list = bodies(
    fields(
        {"data": st.lists(cc_job, max_size=3), "links": fields({"next": urls})},
        required=("data",),
    )
)
cc_error = bodies(
    fields(
        {
            "message": st.text(),
            "code": st.text(max_size=10),
            "errors": st.dictionaries(st.text(max_size=5), st.lists(st.text(), max_size=2)),
        }
    )
)


def _cc_client(fuzz_client: Any) -> asyncjobs.Client:
    return fuzz_client("cloudconvert", secret="fuzz-secret")


def test_fuzz_cloudconvert_status_and_result(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "status and result bodies", "cloudconvert")
    client = _cc_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(body=cc_body)
    @example(body={"data": {"id": CC_JOB, "status": "finished", "tasks": []}})
    @example(
        body={
            "data": {
                "id": CC_JOB,
                "status": "finished",
                "tasks": [
                    {"id": "t", "operation": "export/url", "status": "finished", "credits": -3,
                     "result": {"files": [{"filename": "..", "url": "https://h/x", "size": -1}]}}
                ],
            }
        }
    )  # fmt: skip
    def run(body: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{CC}/jobs/.*", body, 200)
            seen.add(
                outcome(lambda: client.status(CC_JOB), lambda i: valid_info(i, "cloudconvert"))
            )
            seen.add(outcome(lambda: client.fetch_result(CC_JOB), valid_result))

    run()
    _record(cell, seen)


def test_fuzz_cloudconvert_submit_and_list(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "submit bodies (Conversio: and its list)", "cloudconvert")
    client = _cc_client(fuzz_client)
    seen: set[str] = set()

    def listed(jobs: Any) -> None:
        for job in jobs:
            assert job.info is not None
            valid_info(job.info, "cloudconvert")

    @FUZZ
    @given(created=cc_body, listing=cc_list)
    def run(created: Any, listing: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{CC}/jobs", created, 201)
            serve(mock, "GET", rf"{CC}/tasks/.*", {"data": {}}, 200)
            serve(mock, "GET", rf"{CC}/jobs(\?.*)?$", listing, 200)

            def submit() -> asyncjobs.JobInfo:
                job = client.submit("convert", source=b"x", from_="docx", to="pdf")
                assert job.info is not None
                return job.info

            seen.add(outcome(submit, lambda i: valid_info(i, "cloudconvert")))
            seen.add(outcome(client.list, listed))

    run()
    _record(cell, seen)


def test_fuzz_cloudconvert_errors(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "error bodies", "cloudconvert")
    client = _cc_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(body=cc_error, status=error_statuses)
    def run(body: Any, status: int) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{CC}/.*", body, status)
            serve(mock, "POST", rf"{CC}/.*", body, status)
            seen.add(
                outcome(lambda: client.status(CC_JOB), lambda i: valid_info(i, "cloudconvert"))
            )
            seen.add(
                outcome(
                    lambda: client.submit("convert", source=b"x", from_="docx", to="pdf"),
                    lambda j: None,
                )
            )
            seen.add(outcome(lambda: client.cancel(CC_JOB), lambda _: None))
            seen.add(outcome(client.list, lambda _: None))

    run()
    _record(cell, seen)


# -- Zamzar -----------------------------------------------------------------------------------------

ZZ = "https://api.zamzar.com/v1"  # the default base_url
zz_words = st.sampled_from(
    ["initialising", "converting", "successful", "failed", "cancelled", "SUCCESSFUL", "weird", ""]
)
zz_ids = st.integers(min_value=-5, max_value=10**20)
zz_file = fields(
    {
        "id": zz_ids,
        "name": names,
        "size": st.integers(min_value=-5, max_value=10**20),
        "format": st.text(max_size=5),
        "created_at": stamps,
    },
    required=("id", "name"),
)
zz_job = fields(
    {
        "id": zz_ids,
        "key": st.text(max_size=8),
        "status": zz_words,
        "failure": fields({"code": st.integers(), "message": st.text()}),
        "sandbox": st.booleans(),
        "created_at": stamps,
        "finished_at": stamps,
        "source_file": zz_file,
        "target_files": st.lists(zz_file, max_size=3),
        "target_format": st.text(max_size=5),
        "credit_cost": st.integers(min_value=-5, max_value=10**20),
        "export_url": urls,
        "exports": st.lists(fields({"id": zz_ids, "url": urls, "status": zz_words}), max_size=2),
        "options": st.dictionaries(st.text(max_size=5), scalars, max_size=2),
    },
    required=("id", "status"),
)
zz_body = bodies(zz_job)
zz_list = bodies(
    fields(
        {
            "data": st.lists(zz_job, max_size=3),
            "paging": fields({"total_count": zz_ids, "first": zz_ids, "last": zz_ids}),
        },
        required=("data",),
    )
)
zz_error = bodies(
    fields(
        {
            "errors": st.lists(
                fields(
                    {
                        "message": st.text(),
                        "code": st.integers(),
                        "context": st.dictionaries(
                            st.sampled_from(["parameter", "reason"]) | st.text(max_size=5),
                            scalars,
                        ),
                    }
                ),
                max_size=3,
            )
        }
    )
)


def _zz_client(fuzz_client: Any) -> asyncjobs.Client:
    return fuzz_client("zamzar", secret="fuzz-secret")


def test_fuzz_zamzar_status_and_result(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "status and result bodies", "zamzar")
    client = _zz_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(body=zz_body)
    @example(body={"id": 7, "status": "successful", "target_files": [{"id": 1, "name": ".."}]})
    @example(body={"id": -1, "status": "successful", "credit_cost": -2})
    def run(body: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{ZZ}/jobs/.*", body, 200)
            seen.add(outcome(lambda: client.status("7"), lambda i: valid_info(i, "zamzar")))
            seen.add(outcome(lambda: client.fetch_result("7"), valid_result))

    run()
    _record(cell, seen)


def test_fuzz_zamzar_submit_and_list(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "submit bodies (Conversio: and its list)", "zamzar")
    client = _zz_client(fuzz_client)
    seen: set[str] = set()

    def listed(jobs: Any) -> None:
        for job in jobs:
            assert job.info is not None
            valid_info(job.info, "zamzar")

    @FUZZ
    @given(created=zz_body, listing=zz_list)
    def run(created: Any, listing: Any) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "POST", rf"{ZZ}/jobs", created, 201)
            serve(mock, "GET", rf"{ZZ}/jobs(\?.*)?$", listing, 200)

            def submit() -> asyncjobs.JobInfo:
                job = client.submit("convert", source=b"x", from_="txt", to="pdf")
                assert job.info is not None
                return job.info

            seen.add(outcome(submit, lambda i: valid_info(i, "zamzar")))
            seen.add(outcome(client.list, listed))

    run()
    _record(cell, seen)


def test_fuzz_zamzar_errors(fuzz_client: Any, cell: Recorder) -> None:
    cell.at("fuzz", "error bodies", "zamzar")
    client = _zz_client(fuzz_client)
    seen: set[str] = set()

    @FUZZ
    @given(body=zz_error, status=error_statuses)
    def run(body: Any, status: int) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            serve(mock, "GET", rf"{ZZ}/.*", body, status)
            serve(mock, "POST", rf"{ZZ}/.*", body, status)
            serve(mock, "DELETE", rf"{ZZ}/.*", body, status)
            seen.add(outcome(lambda: client.status("7"), lambda i: valid_info(i, "zamzar")))
            seen.add(
                outcome(
                    lambda: client.submit("convert", source=b"x", from_="txt", to="pdf"),
                    lambda j: None,
                )
            )
            seen.add(outcome(lambda: client.cancel("7"), lambda _: None))
            seen.add(outcome(client.list, lambda _: None))

    run()
    _record(cell, seen)
