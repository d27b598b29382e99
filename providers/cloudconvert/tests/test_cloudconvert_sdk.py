"""The official CloudConvert SDK (PyPI ``cloudconvert`` 2.1.0) against the sandbox: the calls of its
integration tests (tests/integration/testJobs.py, testTasks.py), configured through the SDK's own
``configure(api_key=, sandbox=, endpoint=, sync_endpoint=)``. The SDK keeps its client in a module
global; every test restores it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudconvert
import cloudconvert.cloudconvertrestclient as rest
import pytest

from asyncjobs.sandbox import Sandbox


@pytest.fixture
def sdk(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(rest, "__client__", None)  # restored after the test
    cloudconvert.configure(
        api_key=sandbox.app.secret,
        sandbox=True,
        endpoint=sandbox.url,
        sync_endpoint=sandbox.url + "/sync",
    )
    return cloudconvert


def test_upload_and_download_files(
    sdk: Any, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """testJobs.testUploadAndDownloadFiles."""
    job = sdk.Job.create(
        payload={
            "tag": "integration-test-upload-download",
            "tasks": {
                "import-it": {"operation": "import/upload"},
                "export-it": {"input": "import-it", "operation": "export/url"},
            },
        }
    )
    tasks = {t["name"]: t for t in job["tasks"]}
    import_task = sdk.Task.find(id=tasks["import-it"]["id"])
    src = tmp_path / "input.pdf"
    src.write_bytes(b"%PDF-1.4 vendor test file stand-in")
    assert sdk.Task.upload(file_name=str(src), task=import_task) is True
    exported = sdk.Task.wait(id=tasks["export-it"]["id"])
    assert exported["status"] == "finished"
    file = exported["result"]["files"][0]
    assert file["filename"] == "input.pdf"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert sdk.download(url=file["url"], filename="out/" + file["filename"]) == "out/input.pdf"
    assert (tmp_path / "out/input.pdf").read_bytes() == src.read_bytes()
    assert sdk.Job.wait(id=job["id"])["status"] == "finished"
    assert sdk.Job.delete(id=job["id"]) is True
    uploads = sandbox.app.upload_headers
    assert uploads
    assert all("Authorization" not in h for h in uploads)


def test_import_url_task(sdk: Any) -> None:
    """testTasks.testImportUrlTask."""
    task = sdk.Task.create(
        operation="import/url",
        payload={
            "url": "https://github.com/cloudconvert/cloudconvert-php/raw/master/tests/Integration/files/input.pdf"
        },
    )
    assert task["job_id"] is None
    waited = sdk.Task.wait(id=task["id"])
    assert waited["status"] == "finished"
    assert waited["result"]["files"][0]["filename"] == "input.pdf"
    assert sdk.Task.delete(id=waited["id"]) is True
    assert sdk.Task.find(id=waited["id"])["code"] == "NOT_FOUND"


def test_show_list_and_the_account(sdk: Any) -> None:
    job = sdk.Job.create(
        payload={"tasks": {"a": {"operation": "import/url", "url": "https://x.example/a.docx"}}}
    )
    assert sdk.Job.show(id=job["id"])["id"] == job["id"]
    listed = sdk.Job.all({"per_page": 10})
    assert isinstance(listed, list)
    assert listed[0]["id"] == job["id"]


def test_a_wrong_key_is_refused(sdk: Any, sandbox: Sandbox) -> None:
    sdk.configure(api_key="wrong", sandbox=True, endpoint=sandbox.url)
    answer = sdk.Job.show(id="x")
    assert answer["code"] == "UNAUTHENTICATED"


def test_sdk_module_state_is_restored() -> None:
    assert (
        rest.__client__ is None
        or rest.__client__.endpoint == "https://api.sandbox.cloudconvert.com"
    )
    assert True
