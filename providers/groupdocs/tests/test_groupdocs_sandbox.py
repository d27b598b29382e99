"""The adapter against the sandbox over real loopback HTTP: tokens, storage, both starts, faults."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from asyncjobs_groupdocs import StorageFile
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox, expected_output
from groupdocs_support import FAST_POLL

import asyncjobs
from asyncjobs.errors import AuthenticationError, ProviderError, RateLimitedError
from asyncjobs.sandbox import Sandbox


def test_fifty_threads_across_a_token_expiry_cause_one_token_request(
    gd_client: asyncjobs.Client, gd_app: GroupDocsSandbox
) -> None:
    jobs = [
        gd_client.submit("convert", source=b"x%d" % i, from_="txt", to="pdf") for i in range(50)
    ]
    assert gd_app.token_requests == 1
    gd_app.expire_tokens()
    start = threading.Barrier(50)
    seen: list[asyncjobs.JobInfo] = []

    def poll(job: asyncjobs.Job) -> None:
        start.wait()
        seen.append(gd_client.status(job.id))

    threads = [threading.Thread(target=poll, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 50
    assert gd_app.token_requests == 2  # exactly one across the expiry


def test_an_expired_token_is_refreshed_and_the_upload_replayed(
    gd_client: asyncjobs.Client, gd_app: GroupDocsSandbox, tmp_path: Path
) -> None:
    gd_client.submit("convert", source=b"warm", from_="txt", to="pdf")
    gd_app.clock.advance(gd_app.token_lifetime + 1)
    src = tmp_path / "big.docx"
    src.write_bytes(b"z" * 3_000_000)
    job = gd_client.submit("convert", source=src, to="pdf")
    assert gd_app.unauthorized == 1
    assert gd_app.tokens_issued == 2
    assert job.result(timeout=10).files[0].read() == expected_output(
        src.read_bytes(), "docx", "pdf"
    )


def test_a_file_object_without_a_name_is_streamed(gd_client: asyncjobs.Client) -> None:
    import io

    job = gd_client.submit("convert", source=io.BytesIO(b"stream me"), from_="pptx", to="png")
    files = job.result(timeout=10).files
    assert [(f.name, f.read()) for f in files] == [
        ("source.png", expected_output(b"stream me", "pptx", "png"))
    ]


def test_direct_conversion_result_comes_from_the_result_endpoint(
    gd_client: asyncjobs.Client, gd_app: GroupDocsSandbox
) -> None:
    job = gd_client.submit("convert", source=b"direct", from_="docx", to="pdf", direct=True)
    files = job.result(timeout=10).files
    assert files[0].read() == expected_output(b"direct", "docx", "pdf")
    assert ("GET", "/v2.0/conversion/async/result") in gd_app.requests


def test_a_storage_file_converts_in_place(
    gd_client: asyncjobs.Client, gd_app: GroupDocsSandbox
) -> None:
    first = gd_client.submit(
        "convert",
        source=b"abc",
        from_="docx",
        to="pdf",
        upload_path="docs/in.docx",
        output_path="docs/out",
    )
    first.wait(timeout=10)
    job = gd_client.submit(
        "convert", source=StorageFile("docs/in.docx"), to="html", output_path="docs/html"
    )
    files = job.result(timeout=10).files
    assert [(f.name, f.read()) for f in files] == [
        ("in.html", expected_output(b"abc", "docx", "html"))
    ]


def test_a_canceled_operation_ends_failed_instead_of_looping(gd_client: asyncjobs.Client) -> None:
    job = gd_client.submit(
        "convert", source=b"abc", from_="docx", to="pdf", upload_path="x/please-cancel.docx"
    )
    info = job.wait(timeout=10)
    assert (info.status, info.raw_status) == (asyncjobs.Status.FAILED, "Canceled")


def test_an_upload_with_errors_fails_the_submit(gd_client: asyncjobs.Client) -> None:
    with pytest.raises(ProviderError) as caught:
        gd_client.submit(
            "convert", source=b"abc", from_="docx", to="pdf", upload_path="upload-error/a.docx"
        )
    assert caught.value.code == "errorUploadFailed"


def test_a_missing_storage_file_is_named(gd_client: asyncjobs.Client) -> None:
    with pytest.raises(ProviderError) as caught:
        gd_client.submit("convert", source=StorageFile("nowhere/a.docx"), to="pdf")
    assert "'nowhere/a.docx' does not exist" in str(caught.value)


def test_a_503_on_status_is_retried(gd_client: asyncjobs.Client, gd_app: GroupDocsSandbox) -> None:
    job = gd_client.submit("convert", source=b"abc", from_="docx", to="pdf")
    gd_app.faults.status(503, path="/conversion/async", body={"code": "busy", "message": "busy"})
    assert job.wait(timeout=10).status is asyncjobs.Status.DONE


def test_wrong_credentials_raise_and_repeated_failures_lock_out(
    gd_box: Sandbox, gd_app: GroupDocsSandbox
) -> None:
    settings = {**gd_app.client_settings(gd_box.url), "client_secret": "wrong-secret"}
    gd_app.failed_token_window = 1e6  # sandbox seconds: wall-clock jitter cannot empty it
    gd_app.lockout_seconds = 1000.0  # one wall second at scale 1000
    once = asyncjobs.RetryPolicy(max_tries=1)
    with asyncjobs.connect("groupdocs", ledger=False, retry=once, **settings) as client:
        for _ in range(gd_app.failed_token_limit):
            with pytest.raises(AuthenticationError, match="client id or client secret is wrong"):
                client.status("any")
        with pytest.raises(RateLimitedError) as caught:
            client.status("any")
    assert caught.value.retry_after == 1
    assert gd_app.failed_token_requests == gd_app.failed_token_limit


def test_the_sandbox_refuses_api_calls_without_a_token(gd_box: Sandbox) -> None:
    answer = requests.get(gd_box.url + "/v2.0/conversion/async?id=x", timeout=5)
    assert answer.status_code == 401
    assert "invalid_token" in answer.headers["WWW-Authenticate"]


def test_the_sandbox_lists_folders_and_checks_existence(
    gd_client: asyncjobs.Client, gd_app: GroupDocsSandbox, gd_box: Sandbox
) -> None:
    gd_client.submit("convert", source=b"abc", from_="docx", to="pdf", upload_path="f/a.docx")
    token = gd_client.provider.tokens.get()
    auth = {"Authorization": f"Bearer {token}"}
    base = gd_box.url + "/v2.0/conversion/storage"
    listed = requests.get(base + "/folder/f", headers=auth, timeout=5).json()
    assert [(e["name"], e["size"], e["path"]) for e in listed["value"]] == [
        ("a.docx", 3, "f/a.docx")
    ]
    assert requests.get(base + "/exist/f%2Fa.docx", headers=auth, timeout=5).json() == {
        "exists": True,
        "isFolder": False,
    }
    assert requests.delete(base + "/file/f%2Fa.docx", headers=auth, timeout=5).status_code == 200
    assert requests.get(base + "/exist/f/a.docx", headers=auth, timeout=5).json()["exists"] is False


def test_client_settings_point_at_the_routes(gd_app: GroupDocsSandbox) -> None:
    assert gd_app.client_settings("http://h:1/") == {
        "client_id": gd_app.client_id,
        "client_secret": gd_app.client_secret,
        "base_url": "http://h:1/v2.0",
        "token_url": "http://h:1/connect/token",
    }


def test_demo_settings_connect(tmp_path: Path) -> None:
    app = GroupDocsSandbox(scale=1000, root=tmp_path / "s")
    with (
        Sandbox(app) as box,
        asyncjobs.connect(
            "groupdocs", ledger=False, poll=FAST_POLL, **app.client_settings(box.url)
        ) as client,
    ):
        info = client.submit("convert", source=b"a", from_="txt", to="pdf").wait(timeout=10)
    assert info.status is asyncjobs.Status.DONE
