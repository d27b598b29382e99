"""The adapter against the ConvertAPI sandbox over loopback HTTP, and the sandbox's own protocol."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from asyncjobs_convertapi import FileId
from asyncjobs_convertapi.sandbox import ConvertAPISandbox, expected_output
from convertapi_support import ClientFactory

import asyncjobs
from asyncjobs import Status
from asyncjobs.errors import (
    AuthenticationError,
    JobNotFoundError,
    ProviderError,
    RateLimitedError,
)
from asyncjobs.sandbox import Sandbox


@pytest.fixture
def slow_box() -> Iterator[Sandbox]:
    """A sandbox whose clock runs at 100x: a 5 s hold takes 50 ms, a 2 s job 20 ms."""
    app = ConvertAPISandbox(scale=100)
    with Sandbox(app) as box:
        yield box
    app.close()


@pytest.fixture
def still_box() -> Iterator[Sandbox]:
    """A sandbox at wall speed: jobs stay pending until its clock is advanced."""
    app = ConvertAPISandbox(scale=1, hold=0)
    with Sandbox(app) as box:
        yield box
    app.close()


def auth(box: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {box.app.secret}"}


# -- the job lifecycle through the adapter ------------------------------------------------------


def test_job_is_pending_until_its_conversion_time_passes(
    still_box: Sandbox, connect_to: ClientFactory
) -> None:
    client = connect_to(still_box, "current")
    job = client.submit("convert", source=b"abc", from_="txt", to="pdf")
    assert client.status(job.id).status is Status.PENDING
    still_box.app.clock.advance(3)
    assert client.status(job.id).status is Status.DONE


def test_result_bytes_are_the_deterministic_conversion(
    client: asyncjobs.Client, tmp_path: Path
) -> None:
    src = tmp_path / "report.docx"
    src.write_bytes(b"some docx" * 1000)
    result = client.submit("convert", source=src, to="pdf").result(timeout=10)
    assert [f.name for f in result.files] == ["report.pdf"]
    assert result.files[0].read() == expected_output("docx", "pdf", src.read_bytes())


def test_store_file_false_returns_inline_file_data(client: asyncjobs.Client) -> None:
    result = client.submit("convert", source=b"x", from_="txt", to="pdf", StoreFile=False).result(
        timeout=10
    )
    assert result.files[0].url is None
    assert result.files[0].read() == expected_output("txt", "pdf", b"x")


def test_cost_or_time_is_kept_in_result_meta(client: asyncjobs.Client, protocol: str) -> None:
    meta = client.submit("convert", source=b"x", from_="txt", to="pdf").result(timeout=10).meta
    assert set(meta) == {"ConversionCost"}, "semi-async (legacy) answers are today's answers"


def test_url_source_is_converted_without_upload(client: asyncjobs.Client, sandbox: Sandbox) -> None:
    url = "https://example.com/docs/letter.docx"
    result = client.submit("convert", source=url, to="pdf").result(timeout=10)
    assert ("POST", "/upload") not in sandbox.app.requests
    assert result.files[0].name == "letter.pdf"


def test_uploaded_file_id_can_be_the_source(client: asyncjobs.Client, sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/upload",
        data=b"data",
        headers={**auth(sandbox), "Content-Disposition": 'inline; filename="n.txt"'},
        timeout=5,
    ).json()
    job = client.submit("convert", source=FileId(answer["FileId"], name="n.txt"), to="pdf")
    assert job.result(timeout=10).files[0].read() == expected_output("txt", "pdf", b"data")


def test_unknown_file_id_fails_the_submit_with_5009(
    sandbox: Sandbox, connect_to: ClientFactory
) -> None:
    with pytest.raises(ProviderError) as caught:
        connect_to(sandbox, "current").submit(
            "convert", source=FileId("nope", name="a.docx"), to="pdf"
        )
    assert caught.value.code == 5009


def test_unknown_file_id_fails_a_legacy_job_at_once_with_5009(
    sandbox: Sandbox, connect_to: ClientFactory
) -> None:
    job = connect_to(sandbox, "legacy").submit(
        "convert", source=FileId("nope", name="a.docx"), to="pdf"
    )
    assert job.info is not None
    assert (job.info.status, job.info.raw_status) == (Status.FAILED, "500/5009")


@pytest.mark.parametrize(
    ("word", "code"), [("corrupt", 5002), ("password", 5003), ("timeout", 5000), ("fail", 5001)]
)
def test_jobs_fail_on_demand_by_source_name(
    client: asyncjobs.Client, tmp_path: Path, word: str, code: int
) -> None:
    src = tmp_path / f"a-{word}.docx"
    src.write_bytes(b"x")
    info = client.submit("convert", source=src, to="pdf").wait(timeout=10, progress=False)
    assert info.status is Status.FAILED
    assert info.raw_status == f"500/{code}"


def test_expired_job_is_not_found(
    still_box: Sandbox, protocol: str, connect_to: ClientFactory
) -> None:
    client = connect_to(still_box, protocol)
    job = client.submit("convert", source=b"x", from_="txt", to="pdf")
    still_box.app.clock.advance(2 * 3600)
    with pytest.raises(JobNotFoundError, match="2 hours"):
        client.status(job.id)


def test_cancelled_job_is_gone(client: asyncjobs.Client) -> None:
    job = client.submit("convert", source=b"x", from_="txt", to="pdf")
    job.cancel()
    info = client.status(job.id)
    assert (info.status, info.raw_status) == (Status.FAILED, "cancelled")
    with pytest.raises(JobNotFoundError):
        job.cancel()


def test_finished_job_can_be_polled_again(client: asyncjobs.Client) -> None:
    job = client.submit("convert", source=b"x", from_="txt", to="pdf")
    job.wait(timeout=10, progress=False)
    assert client.status(job.id).status is Status.DONE


# -- polls: the hold and the concurrent-poll 503 --------------------------------------------------


def test_repolls_are_held_five_sandbox_seconds(
    slow_box: Sandbox, connect_to: ClientFactory
) -> None:
    client = connect_to(slow_box)
    job = client.submit("convert", source=b"x", from_="txt", to="pdf")
    start = time.monotonic()
    client.status(job.id)
    first = time.monotonic() - start
    start = time.monotonic()
    client.status(job.id)
    second = time.monotonic() - start
    assert second >= 0.05 > first


def test_a_concurrent_poll_of_one_job_gets_503_and_reads_as_pending(
    protocol: str, connect_to: ClientFactory
) -> None:
    app = ConvertAPISandbox(scale=100, hold=50)  # re-polls held 0.5 s of wall time
    with Sandbox(app) as box:
        client = connect_to(box, protocol)
        job = client.submit("convert", source=b"x", from_="txt", to="pdf")
        client.status(job.id)  # the first poll is not held; the next ones are
        infos: list[asyncjobs.JobInfo] = []
        # provider.status bypasses the client's single flight on purpose
        threads = [
            threading.Thread(target=lambda: infos.append(client.provider.status(job.id)))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    busy = [i for i in infos if i.raw_status == "503"]
    assert len(busy) == 1
    assert busy[0].status is Status.PENDING
    assert busy[0].meta["retry_after"] == 5.0


def test_client_status_shares_one_poll_between_threads(
    slow_box: Sandbox, connect_to: ClientFactory
) -> None:
    client = connect_to(slow_box)
    job = client.submit("convert", source=b"x", from_="txt", to="pdf")
    client.status(job.id)
    infos: list[asyncjobs.JobInfo] = []
    threads = [
        threading.Thread(target=lambda: infos.append(client.status(job.id))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(i.raw_status != "503" for i in infos)


# -- submits: idempotence, throttling, auth -------------------------------------------------------


def test_a_submit_retried_after_a_broken_answer_converts_once(
    client: asyncjobs.Client, sandbox: Sandbox, protocol: str
) -> None:
    path = "/async/convert" if protocol == "current" else "/convert"
    sandbox.app.faults.truncate(path=path)
    job = client.submit("convert", source=b"x", from_="txt", to="pdf")
    assert sandbox.app.conversions == 1
    # current: retried with the same JobId; legacy (semi-async): recovered by polling the JobId
    sent = 2 if protocol == "current" else 1
    assert [p for _, p in sandbox.app.requests].count(f"{path}/txt/to/pdf") == sent
    assert job.result(timeout=10).files


def test_throttled_submit_raises_rate_limited(client: asyncjobs.Client, sandbox: Sandbox) -> None:
    sandbox.app.faults.status(
        503,
        times=3,
        path="/convert",
        body={"Code": 5030, "Message": "Too many requests."},
        headers={"Retry-After": "0.01"},
    )
    with pytest.raises(RateLimitedError) as caught:
        client.submit("convert", source=b"x", from_="txt", to="pdf")
    assert caught.value.retry_after == 0.01
    assert caught.value.code == 5030


def test_wrong_secret_is_4010(sandbox: Sandbox, connect_to: ClientFactory) -> None:
    client = connect_to(sandbox, secret="not-the-sandbox-secret")
    with pytest.raises(AuthenticationError) as caught:
        client.submit("convert", source=b"x", from_="txt", to="pdf")
    assert caught.value.code == 4010
    assert "secret is wrong" in str(caught.value)


def test_missing_credentials_are_4013(sandbox: Sandbox) -> None:
    answer = requests.get(f"{sandbox.url}/user", timeout=5)
    assert (answer.status_code, answer.json()["Code"]) == (401, 4013)


def test_user_endpoint_answers_the_account(sandbox: Sandbox) -> None:
    assert requests.get(f"{sandbox.url}/user", headers=auth(sandbox), timeout=5).json()["Active"]


# -- the sandbox's protocol, spoken directly --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "invalid"),
    [
        ("/async/convert/txt/to/pdf", {"Timeout": "5"}, "Timeout"),
        ("/async/convert/txt/to/pdf", {"Timeout": "1201"}, "Timeout"),
        ("/async/convert/txt/to/pdf", {"JobId": "d3bd2056-4330-4cf3-9b18-483a2412dd6b"}, "JobId"),
        ("/convert/txt/to/pdf", {"JobId": "abc", "Async": "true"}, "JobId"),
        ("/async/convert/txt/to/pdf", {"WebHook": "http://example.com/x"}, "WebHook"),
        ("/async/convert/txt/to/pdf", {"StoreFile": "maybe"}, "StoreFile"),
    ],
)
def test_invalid_parameters_are_400_4000_naming_them(
    sandbox: Sandbox, path: str, params: dict[str, str], invalid: str
) -> None:
    answer = requests.post(
        sandbox.url + path,
        params=params,
        data={"File": "https://e.com/a.txt"},
        headers=auth(sandbox),
        timeout=5,
    )
    body = answer.json()
    assert (answer.status_code, body["Code"]) == (400, 4000)
    assert list(body["InvalidParameters"]) == [invalid]


def test_missing_file_is_400_naming_file(sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/async/convert/txt/to/pdf", headers=auth(sandbox), timeout=5
    )
    assert answer.json()["InvalidParameters"] == {"File": ["The File field is required."]}


def test_upload_accepts_multipart_file_data(sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/upload",
        files={"FileData": ("m.docx", b"m")},
        headers=auth(sandbox),
        timeout=5,
    ).json()
    assert (answer["FileName"], answer["FileExt"]) == ("m.docx", "docx")


def test_upload_accepts_a_url(sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/upload",
        params={"url": "https://e.com/x/y.pptx"},
        headers=auth(sandbox),
        timeout=5,
    ).json()
    assert answer["FileName"] == "y.pptx"


def test_upload_accepts_a_filename_query_parameter(sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/upload",
        params={"filename": "q.txt"},
        data=b"q",
        headers=auth(sandbox),
        timeout=5,
    ).json()
    assert answer["FileExt"] == "txt"


def test_upload_without_a_name_is_4001(sandbox: Sandbox) -> None:
    answer = requests.post(f"{sandbox.url}/upload", data=b"q", headers=auth(sandbox), timeout=5)
    assert (answer.status_code, answer.json()["Code"]) == (400, 4001)


def test_synchronous_conversion_answers_the_result(sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/convert/txt/to/pdf",
        files={"File": ("s.txt", b"sync")},
        data={"StoreFile": "false"},
        headers=auth(sandbox),
        timeout=5,
    )
    (file,) = answer.json()["Files"]
    assert base64.b64decode(file["FileData"]) == expected_output("txt", "pdf", b"sync")


def test_semi_async_conversion_can_be_recovered_through_the_job(sandbox: Sandbox) -> None:
    job_id = "d3bd2056-4330-4cf3-9b18-483a2412dd6b"
    sync = requests.post(
        f"{sandbox.url}/convert/txt/to/pdf",
        data={"File": "https://e.com/a.txt", "JobId": job_id, "StoreFile": "true"},
        headers=auth(sandbox),
        timeout=5,
    ).json()
    polled = requests.get(f"{sandbox.url}/job/{job_id}", headers=auth(sandbox), timeout=5).json()
    assert polled == sync


def test_downloads_of_unknown_files_are_404(sandbox: Sandbox) -> None:
    assert requests.get(f"{sandbox.url}/d/nope/x.pdf", timeout=5).status_code == 404


def test_result_files_can_be_deleted(client: asyncjobs.Client, sandbox: Sandbox) -> None:
    result = client.submit("convert", source=b"x", from_="txt", to="pdf").result(timeout=10)
    file_id = result.raw["Files"][0]["FileId"]
    deleted = requests.delete(f"{sandbox.url}/d/{file_id}", headers=auth(sandbox), timeout=5)
    assert deleted.status_code == 200
    assert requests.get(result.files[0].url or "", timeout=5).status_code == 404


def test_unknown_routes_answer_in_the_error_shape(sandbox: Sandbox) -> None:
    answer = requests.get(f"{sandbox.url}/nowhere", headers=auth(sandbox), timeout=5)
    assert answer.status_code == 404
    assert "Message" in answer.json()


def test_large_upload_is_streamed_and_hashed(client: asyncjobs.Client, tmp_path: Path) -> None:
    src = tmp_path / "big.docx"
    with src.open("wb") as f:
        f.write(b"\x5a" * (8 * 1024 * 1024 + 3))
    result = client.submit("convert", source=src, to="pdf").result(timeout=10)
    assert result.files[0].read() == expected_output("docx", "pdf", src.read_bytes())


def test_padded_output_downloads_whole(client: asyncjobs.Client, tmp_path: Path) -> None:
    result = client.submit(
        "convert", source=b"x", from_="txt", to="pdf", SandboxOutputSize=3 * 1024 * 1024 + 7
    ).result(timeout=10)
    (saved,) = result.save(tmp_path / "out")
    data = saved.read_bytes()
    assert len(data) == 3 * 1024 * 1024 + 7
    assert data.startswith(expected_output("txt", "pdf", b"x"))


# -- what the vendor's own SDK suite needs: sources, converters, credentials ------------------------


def convert(box: Sandbox, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", auth(box))
    return requests.post(box.url + path, timeout=5, **kwargs)


def test_form_job_id_and_webhook_are_ignored_on_async_convert(sandbox: Sandbox) -> None:
    answer = convert(
        sandbox,
        "/async/convert/txt/to/pdf",
        data={"File": "https://e.com/a.txt", "JobId": "x", "WebHook": "http://127.0.0.1:9/h"},
    )
    job_id = answer.json()["JobId"]
    assert job_id != "x"
    assert sandbox.app.jobs[job_id].webhook is None


def test_async_true_is_answered_synchronously_as_the_service_does_today(sandbox: Sandbox) -> None:
    answer = convert(
        sandbox,
        "/convert/txt/to/pdf",
        params={"Async": "true"},
        data={"File": "https://e.com/a.txt"},
    )
    assert [f["FileName"] for f in answer.json()["Files"]] == ["a.pdf"]


def test_honour_async_gives_the_seeds_job_id_answer() -> None:
    app = ConvertAPISandbox(scale=1000, honour_async=True)
    with Sandbox(app) as box:
        answer = convert(
            box,
            "/convert/txt/to/pdf",
            params={"Async": "true"},
            data={"File": "https://e.com/a.txt"},
        )
        assert set(answer.json()) == {"JobId"}
    app.close()


@pytest.mark.parametrize(
    "path", ["/convert/exe/to/pdf", "/convert/docx/to/exe", "/async/convert/pdf/to/zip"]
)
def test_unknown_converters_are_404_in_the_services_shape(sandbox: Sandbox, path: str) -> None:
    answer = convert(sandbox, path, data={"File": "https://e.com/a.docx"})
    assert (answer.status_code, answer.json()["Code"]) == (404, 4040)
    assert "Converter" in answer.json()["Message"]


@pytest.mark.parametrize("how", ["header", "Secret", "auth"])
def test_credentials_in_the_header_secret_or_auth_query(sandbox: Sandbox, how: str) -> None:
    secret = sandbox.app.secret
    headers = auth(sandbox) if how == "header" else {}
    params = {} if how == "header" else {how: secret}
    answer = requests.get(f"{sandbox.url}/user", headers=headers, params=params, timeout=5)
    assert answer.status_code == 200


def test_url_converts_a_web_page(sandbox: Sandbox) -> None:
    answer = convert(sandbox, "/convert/web/to/pdf", data={"Url": "https://example.com/page"})
    assert [f["FileName"] for f in answer.json()["Files"]] == ["page.pdf"]


@pytest.mark.parametrize(
    ("path", "names"),
    [("/convert/pdf/to/merge", ["a.pdf"]), ("/convert/any/to/zip", ["a.zip"])],
)
def test_many_files_make_one(sandbox: Sandbox, path: str, names: list[str]) -> None:
    files = {f"Files[{i}]": f"https://e.com/{n}.pdf" for i, n in enumerate("abc")}
    answer = convert(sandbox, path, data=files)
    assert [f["FileName"] for f in answer.json()["Files"]] == names


def test_merge_of_one_file_is_refused(sandbox: Sandbox) -> None:
    answer = convert(sandbox, "/convert/pdf/to/merge", data={"Files[0]": "https://e.com/a.pdf"})
    assert (answer.status_code, list(answer.json()["InvalidParameters"])) == (400, ["Files"])


def test_split_makes_one_file_per_page(sandbox: Sandbox) -> None:
    pdf = b"%PDF-1.4 /Type /Pages /Type /Page x /Type/Page y /Type /Page z"
    answer = convert(
        sandbox,
        "/convert/pdf/to/split",
        data=pdf,
        headers={
            **auth(sandbox),
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="doc.pdf"',
        },
    )
    assert [f["FileName"] for f in answer.json()["Files"]] == [
        "doc-1.pdf",
        "doc-2.pdf",
        "doc-3.pdf",
    ]


def test_a_raw_body_with_content_disposition_is_the_file_on_async_convert(
    sandbox: Sandbox,
) -> None:
    answer = convert(
        sandbox,
        "/async/convert/docx/to/pdf",
        data=b"raw docx",
        headers={
            **auth(sandbox),
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="r.docx"',
        },
    )
    job = sandbox.app.jobs[answer.json()["JobId"]]
    assert (job.input.name, job.input.size) == ("r.docx", 8)


def test_a_raw_body_without_a_name_is_400_4001(sandbox: Sandbox) -> None:
    answer = convert(
        sandbox,
        "/convert/docx/to/pdf",
        data=b"raw",
        headers={**auth(sandbox), "Content-Type": "application/octet-stream"},
    )
    assert (answer.status_code, answer.json()["Code"]) == (400, 4001)


def test_the_json_parameters_body(sandbox: Sandbox) -> None:
    body = {
        "Parameters": [
            {
                "Name": "File",
                "FileValue": {"Name": "j.txt", "Data": base64.b64encode(b"hi").decode()},
            },
            {"Name": "StoreFile", "Value": True},
        ]
    }
    answer = convert(sandbox, "/convert/txt/to/pdf", json=body)
    (file,) = answer.json()["Files"]
    assert file["FileName"] == "j.pdf"
    assert requests.get(file["Url"], timeout=5).content == expected_output("txt", "pdf", b"hi")


def test_the_json_parameters_body_takes_several_file_values(sandbox: Sandbox) -> None:
    values = [{"Url": "https://e.com/a.pdf"}, {"Url": "https://e.com/b.pdf"}]
    body = {"Parameters": [{"Name": "Files", "FileValues": values}]}
    answer = convert(sandbox, "/convert/pdf/to/merge", json=body)
    assert [f["FileName"] for f in answer.json()["Files"]] == ["a.pdf"]


def test_a_file_value_without_data_url_or_id_is_400_4005(sandbox: Sandbox) -> None:
    body = {"Parameters": [{"Name": "File", "FileValue": {"Name": "x.txt"}}]}
    answer = convert(sandbox, "/convert/txt/to/pdf", json=body)
    assert (answer.status_code, answer.json()["Code"]) == (400, 4005)


def test_a_broken_json_body_is_400_4002(sandbox: Sandbox) -> None:
    answer = convert(
        sandbox,
        "/convert/txt/to/pdf",
        data=b"{nope",
        headers={**auth(sandbox), "Content-Type": "application/json"},
    )
    assert (answer.status_code, answer.json()["Code"]) == (400, 4002)


def test_raw_results_polls_are_the_file_and_the_adapter_takes_them(
    connect_to: ClientFactory,
) -> None:
    app = ConvertAPISandbox(scale=1000, duration=0.0, raw_results=True)
    with Sandbox(app) as box:
        client = connect_to(box, "current")
        result = client.submit("convert", source=b"raw", from_="txt", to="pdf").result(timeout=10)
        (file,) = result.files
        assert (file.name, file.media_type) == ("file.pdf", "application/pdf")
        assert file.read() == expected_output("txt", "pdf", b"raw")
    app.close()


def test_the_adapter_merges_a_list_of_files_through_the_sandbox(client: asyncjobs.Client) -> None:
    result = client.submit("convert", source=[b"a", b"b"], from_="pdf", to="merge").result(
        timeout=10
    )
    assert [f.name for f in result.files] == ["file.pdf"]
