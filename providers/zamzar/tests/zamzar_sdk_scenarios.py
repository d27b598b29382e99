"""The official Zamzar SDK (PyPI ``zamzar`` 2.0.2) against the sandbox: one scenario per test of the
SDK's own ``test/facade`` suite, making the same calls and expecting the same answers.

The SDK's tests cannot run as they are: they pin ``http://mock:8080/v1`` and reset the vendor's
WireMock server through its admin API between tests. Here each scenario gets a fresh sandbox started
with the mock's example data (``examples=True``), and the SDK is pointed at it through its own
``host`` option (``ZamzarClient(api_key, host=...)``). Where the mock's canned answers depart from the
service (every created job is the mock's job 1), the scenario says how it is adapted in its
docstring's second line. Used by ``test_zamzar_sdk.py`` and ``benchmarks/vendor_suites.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asyncjobs_zamzar.sandbox import DEFAULT_KEY, ZamzarSandbox

from asyncjobs.sandbox import Sandbox

__all__ = ["SCENARIOS", "run_scenario"]

Scenario = Callable[[Any, ZamzarSandbox, Path], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def _raises(exc: type[BaseException], call: Callable[[], Any]) -> None:
    try:
        call()
    except exc:
        return
    raise AssertionError(f"expected {exc.__name__}")


def _source(tmp: Path, name: str = "source.txt", text: str = "Hello, world!") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def run_scenario(name: str) -> None:
    """Run one scenario against a fresh sandbox (raises AssertionError or the SDK's error)."""
    from zamzar import ZamzarClient

    app = ZamzarSandbox(scale=1000.0, examples=True)
    try:
        with Sandbox(app) as box, tempfile.TemporaryDirectory() as tmp:
            sdk = ZamzarClient(api_key=DEFAULT_KEY, host=box.url + "/v1")
            SCENARIOS[name](sdk, app, Path(tmp))
    finally:
        app.close()


# -- account -------------------------------------------------------------------------------------


@scenario
def account_get(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    account = sdk.account.get()
    assert account.plan is not None
    assert account.credits_remaining is not None
    assert account.test_credits_remaining is not None


# -- files ---------------------------------------------------------------------------------------


@scenario
def files_find(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    assert sdk.files.find(1).id == 1


@scenario
def files_list(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    files = sdk.files.list()
    assert files.items
    assert all(f.id is not None for f in files.items)


@scenario
def files_list_and_page_forwards(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.pagination import after

    page = sdk.files.list(anchor=after(6), limit=2)
    assert [f.id for f in page.items] == [5, 4]
    page = page.next_page()
    assert [f.id for f in page.items] == [3, 2]
    page = page.next_page()
    assert [f.id for f in page.items][:1] == [1]


@scenario
def files_list_and_page_backwards(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.pagination import before

    page = sdk.files.list(anchor=before(1), limit=2)
    assert [f.id for f in page.items] == [3, 2]
    page = page.previous_page()
    assert [f.id for f in page.items] == [5, 4]
    page = page.previous_page()
    assert [f.id for f in page.items] == [7, 6]
    assert len(page.previous_page().items) == 0


@scenario
def files_delete(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.exceptions import NotFoundException

    assert sdk.files.delete(1).id == 1
    _raises(NotFoundException, lambda: sdk.files.find(1))


@scenario
def files_delete_non_existent(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.exceptions import NotFoundException

    _raises(NotFoundException, lambda: sdk.files.delete(999999))


@scenario
def files_download(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    sdk.files.download(1, tmp / "target")
    assert (tmp / "target").stat().st_size > 0


@scenario
def files_download_to_directory(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    (tmp / "dir").mkdir()
    sdk.files.download(1, tmp / "dir")
    assert len(list((tmp / "dir").iterdir())) == 1


@scenario
def files_upload(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    assert sdk.files.upload(_source(tmp, "source")).id is not None


# -- formats -------------------------------------------------------------------------------------


@scenario
def formats_find(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    found = sdk.formats.find("mp3")
    assert found.name == "mp3"
    assert found.targets


@scenario
def formats_list_and_page_both_ways(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.pagination import before

    assert all(f.name for f in sdk.formats.list().items)
    for current, step in (
        (sdk.formats.list(limit=50), "next_page"),
        (sdk.formats.list(anchor=before("zip"), limit=50), "previous_page"),
    ):
        pages = 0
        while current.items:
            pages += 1
            assert len(current.items) <= 50
            current = getattr(current, step)()
        assert pages > 1


# -- imports -------------------------------------------------------------------------------------


@scenario
def imports_find_list_and_page(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.pagination import before

    assert sdk.imports.find(1).id == 1
    assert all(i.id > 0 for i in sdk.imports.list().items)
    for current, step, size in (
        (sdk.imports.list(limit=2), "next_page", 2),
        (sdk.imports.list(anchor=before(1), limit=1), "previous_page", 1),
    ):
        pages = 0
        while current.items:
            pages += 1
            assert len(current.items) <= size
            current = getattr(current, step)()
        assert pages >= 2


@scenario
def imports_start_and_download(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    done = sdk.imports.start("s3://bucket-name/path/to/import").await_completion()
    done.imported_file.download(tmp / "imported.txt")
    assert (tmp / "imported.txt").stat().st_size > 0


@scenario
def imports_unknown_filename_needs_filename(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    _raises(ApiException, lambda: sdk.imports.start("https://www.example.com/unknown"))
    assert sdk.imports.start("https://www.example.com/unknown", "file.txt").id > 0


@scenario
def import_manager_await(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    assert sdk.imports.find(1).await_completion(throw_on_failure=True).has_succeeded()
    failed = sdk.imports.find(2).await_completion()
    assert failed.has_failed()
    assert failed.failure.code is not None
    assert failed.failure.message
    _raises(ApiException, lambda: sdk.imports.find(3).await_completion(throw_on_failure=True))


@scenario
def import_manager_throws_when_destroyed(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    found = sdk.imports.find(1)
    app.destroy("imports", 1)
    _raises(ApiException, found.await_completion)


# -- jobs ----------------------------------------------------------------------------------------


@scenario
def jobs_find_list_successful_and_page(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.pagination import before

    assert sdk.jobs.find(1).id == 1
    assert all(j.id > 0 for j in sdk.jobs.list().items)
    for current, step, size in (
        (sdk.jobs.list(limit=2), "next_page", 2),
        (sdk.jobs.list(anchor=before(1), limit=1), "previous_page", 1),
    ):
        pages = 0
        while current.items:
            pages += 1
            assert len(current.items) <= size
            current = getattr(current, step)()
        assert pages >= 2
    sdk.jobs.find(1).await_completion()
    successful = sdk.jobs.successful.list().items
    assert successful
    assert all(j.has_succeeded() for j in successful)


@scenario
def jobs_create(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    """Create from a local file.
    Adapted: the file is source.txt (the SDK test's "source" has no extension, which the mock
    accepts and the sandbox refuses for want of a source format)."""
    assert sdk.jobs.create(source=_source(tmp), target_format="pdf").id > 0


@scenario
def jobs_create_with_source_format_options_and_export(
    sdk: Any, app: ZamzarSandbox, tmp: Path
) -> None:
    job = sdk.jobs.create(
        source=_source(tmp, "source"),
        target_format="txt",
        source_format="pdf",
        options={"quality": 50, "ocr": True},
        export_url="s3://bucket-name/path/to/export",
    )
    assert job.id > 0
    assert job.model.options == {"quality": 50, "ocr": True}


@scenario
def jobs_create_from_url_and_existing_file(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    """Create from a URL (through an import, as the SDK does) and from a file id.
    Adapted: the existing file converted is example.mp3 (id 1) to txt; the SDK test's mp3 to jpg is
    a conversion Zamzar's format list does not offer."""
    assert sdk.jobs.create(source="https://www.example.com/logo.png", target_format="jpg").id > 0
    assert sdk.jobs.create(source=1, target_format="txt").id > 0


@scenario
def jobs_create_unsupported_target_format(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    _raises(ApiException, lambda: sdk.jobs.create(source=_source(tmp), target_format="unsupported"))


@scenario
def jobs_cancel(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    job = sdk.jobs.cancel(1)
    assert job.id == 1
    assert job.model.status == "cancelled"
    assert job.refresh().model.status == "cancelled"


@scenario
def jobs_infer_filename(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException
    from zamzar.facade.jobs_service import JobsService

    assert JobsService._infer_filename("https://example.com/file?query=param", "txt") == "file.txt"
    _raises(ApiException, lambda: JobsService._infer_filename("https://example.com/", None))


@scenario
def job_manager_await(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    done = sdk.jobs.find(1).await_completion(throw_on_failure=True)
    assert done.has_succeeded()
    assert done.failure is None
    with_exports = sdk.jobs.find(2).await_completion()
    assert with_exports.model.exports
    assert all(e.status in ("successful", "failed") for e in with_exports.model.exports)
    failed = sdk.jobs.find(3).await_completion()
    assert failed.has_failed()
    assert failed.failure.code is not None
    assert failed.failure.message
    _raises(ApiException, lambda: sdk.jobs.find(3).await_completion(throw_on_failure=True))


@scenario
def job_manager_throws_when_destroyed(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    job = sdk.jobs.find(1)
    app.destroy("jobs", 1)
    _raises(ApiException, job.await_completion)


@scenario
def job_manager_store_multi_file(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar import ApiException

    sdk.jobs.find(2).await_completion().store(tmp / "output")
    assert (tmp / "output").stat().st_size > 0
    assert len(list(tmp.glob("*.png"))) == 3
    other = tmp / "no-extract"
    other.mkdir()
    sdk.jobs.find(2).await_completion().store(
        other / "output.zip", extract_multiple_file_output=False
    )
    assert not list(other.glob("*.png"))
    _raises(ApiException, lambda: sdk.jobs.find(3).await_completion().store(tmp))


# -- the client ----------------------------------------------------------------------------------


@scenario
def client_convert_store_delete_all(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.exceptions import NotFoundException

    job = sdk.convert(
        source=_source(tmp, "source"),
        target_format="txt",
        source_format="pdf",
        options={"quality": "50", "ocr": "true"},
        export_url="s3://bucket-name/path/to/export",
    )
    job.store(tmp / "target")
    assert (tmp / "target").stat().st_size > 0
    job.delete_all_files()
    _raises(NotFoundException, lambda: sdk.files.find(job.source_file_id))
    for target in job.target_file_ids:
        _raises(NotFoundException, lambda t=target: sdk.files.find(t))


@scenario
def client_upload_convert_download_delete(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    """Upload, convert, download, delete.
    Adapted: the upload is source.pdf with content (the SDK test's empty, extension-less file
    converts only on the mock)."""
    from zamzar.exceptions import NotFoundException

    uploaded = sdk.upload(_source(tmp, "source.pdf"))
    job = sdk.convert(uploaded.id, "txt").await_completion()
    downloaded = sdk.download(job.target_file_ids[0], tmp / "target")
    uploaded.delete()
    downloaded.delete()
    assert (tmp / "target").stat().st_size > 0
    _raises(NotFoundException, lambda: sdk.files.find(job.source_file_id))
    _raises(NotFoundException, lambda: sdk.files.find(job.target_file_ids[0]))


@scenario
def client_multiple_target_files(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    from zamzar.exceptions import NotFoundException

    job = sdk.jobs.find(2).await_completion().store(tmp / "output").delete_all_files()
    assert len(list(tmp.glob("*.png"))) == 3
    _raises(NotFoundException, lambda: sdk.files.find(job.source_file_id))


@scenario
def client_convert_url_with_source_format(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    job = sdk.convert(
        source="https://example.org/unknown", source_format="pdf", target_format="txt"
    )
    job.store(tmp / "output")
    assert (tmp / "output").stat().st_size > 0


@scenario
def client_user_agent_and_credit_headers(sdk: Any, app: ZamzarSandbox, tmp: Path) -> None:
    """The SDK's user agent, and the credits it reads from the sandbox's headers.
    Adapted: read from a real answer instead of the SDK test's patched urllib3 connection."""
    assert sdk.last_production_credits_remaining is None
    sdk.jobs.list()
    assert sdk.last_production_credits_remaining == app.credits
    assert sdk.last_sandbox_credits_remaining == app.test_credits
    assert sdk.test_connection() is not None  # GET /v1/ (welcome)
