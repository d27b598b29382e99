"""The official CloudConvert SDK (PyPI ``cloudconvert`` 2.1.0) against the sandbox: one scenario per
test of the SDK's integration suite (``tests/integration/testJobs.py``, ``testTasks.py``), making
the same calls and expecting what those tests expect, and a few calls the suite makes on the way.

The SDK's integration tests cannot run as they are: they call ``configure(api_key=SANDBOX_API_KEY,
sandbox=True)``, which pins the vendor's sandbox host. Here each scenario gets a fresh sandbox and
the SDK is pointed at it through its own ``configure(api_key=, sandbox=, endpoint=,
sync_endpoint=)``; nothing of the SDK is patched. The SDK keeps its client in a module global,
which :func:`run_scenario` restores afterwards. Used by ``test_cloudconvert_sdk.py`` and
``benchmarks/vendor_suites.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asyncjobs_cloudconvert.sandbox import CloudConvertSandbox

from asyncjobs.sandbox import Sandbox

__all__ = ["SCENARIOS", "run_scenario"]

Scenario = Callable[[Any, CloudConvertSandbox, str, Path], None]
SCENARIOS: dict[str, Scenario] = {}

#: The file the vendor's integration tests upload and import (its URL is passed to import/url as a
#: parameter and never fetched: the sandbox imports the URL's own bytes).
INPUT_URL = (
    "https://github.com/cloudconvert/cloudconvert-php/raw/master/tests/Integration/files/input.pdf"
)


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_scenario(name: str) -> None:
    """Run one scenario against a fresh sandbox (raises AssertionError or the SDK's error)."""
    import cloudconvert
    import cloudconvert.cloudconvertrestclient as rest

    app = CloudConvertSandbox(scale=1000.0)
    saved = rest.__client__
    try:
        with Sandbox(app) as box, tempfile.TemporaryDirectory() as tmp:
            cloudconvert.configure(
                api_key=app.secret, sandbox=True, endpoint=box.url, sync_endpoint=box.url + "/sync"
            )
            SCENARIOS[name](cloudconvert, app, box.url, Path(tmp))
    finally:
        rest.__client__ = saved
        app.close()


@scenario
def jobs_upload_and_download_files(sdk: Any, app: CloudConvertSandbox, url: str, tmp: Path) -> None:
    """testJobs.testUploadAndDownloadFiles: create a job (import/upload, export/url), find the
    import task, upload to its form, wait for the export on the sync API, download the file."""
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
    source = tmp / "input.pdf"
    source.write_bytes(b"%PDF-1.4 vendor integration test file stand-in\n")
    assert sdk.Task.upload(file_name=str(source), task=import_task) is True
    exported = sdk.Task.wait(id=tasks["export-it"]["id"])
    assert exported["status"] == "finished"
    file = exported["result"]["files"][0]
    assert file["filename"] == "input.pdf"
    (tmp / "out").mkdir()
    with _chdir(tmp):
        assert sdk.download(url=file["url"], filename="out/" + file["filename"]) == "out/input.pdf"
    assert (tmp / "out/input.pdf").read_bytes() == source.read_bytes()
    assert all("Authorization" not in h for h in app.upload_headers), "the key went to the form"


@scenario
def tasks_import_url_task(sdk: Any, app: CloudConvertSandbox, url: str, tmp: Path) -> None:
    """testTasks.testImportUrlTask: create an import/url task outside a job, wait for it on the
    sync API, delete it."""
    task = sdk.Task.create(operation="import/url", payload={"url": INPUT_URL})
    assert task["job_id"] is None
    waited = sdk.Task.wait(id=task["id"])
    assert waited["status"] == "finished"
    assert waited["result"]["files"][0]["filename"] == "input.pdf"
    assert sdk.Task.delete(id=waited["id"]) is True
    assert sdk.Task.find(id=waited["id"])["code"] == "NOT_FOUND"


@scenario
def jobs_wait_and_delete(sdk: Any, app: CloudConvertSandbox, url: str, tmp: Path) -> None:
    """The job calls the suite's teardown relies on: wait for a job on the sync API, delete it."""
    job = sdk.Job.create(payload={"tasks": {"in": {"operation": "import/url", "url": INPUT_URL}}})
    assert sdk.Job.wait(id=job["id"])["status"] == "finished"
    assert sdk.Job.delete(id=job["id"]) is True
    assert sdk.Job.show(id=job["id"])["code"] == "NOT_FOUND"


@scenario
def jobs_show_and_list(sdk: Any, app: CloudConvertSandbox, url: str, tmp: Path) -> None:
    """Job.show and Job.all (the listing the vendor's README shows), newest first."""
    first = sdk.Job.create(payload={"tasks": {"a": {"operation": "import/url", "url": INPUT_URL}}})
    second = sdk.Job.create(payload={"tasks": {"a": {"operation": "import/url", "url": INPUT_URL}}})
    assert sdk.Job.show(id=first["id"])["id"] == first["id"]
    listed = sdk.Job.all({"per_page": 10})
    assert [j["id"] for j in listed][:2] == [second["id"], first["id"]]


@scenario
def a_wrong_key_is_refused(sdk: Any, app: CloudConvertSandbox, url: str, tmp: Path) -> None:
    """The SDK surfaces the API's 401 body: code UNAUTHENTICATED."""
    sdk.configure(api_key="not-the-key", sandbox=True, endpoint=url)
    assert sdk.Job.show(id="x")["code"] == "UNAUTHENTICATED"
