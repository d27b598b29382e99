"""The official SDK (PyPI groupdocs-conversion-cloud) against the sandbox: independent proof that the
sandbox speaks GroupDocs' protocol. The SDK changes logging globally; its changes are undone."""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import groupdocs_conversion_cloud as gd
import pytest
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox, expected_output

from asyncjobs.sandbox import Sandbox


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo what the SDK's Configuration does to logging (handlers, levels, http.client debug)."""
    names = ("groupdocs_conversion_cloud", "urllib3")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in names}
    debug = http.client.HTTPConnection.debuglevel
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
    http.client.HTTPConnection.debuglevel = debug


@pytest.fixture
def sdk_config(
    restore_logging: None, gd_box: Sandbox, gd_app: GroupDocsSandbox, tmp_path: Path
) -> Any:
    config = gd.Configuration(gd_app.client_id, gd_app.client_secret)
    config.api_base_url = gd_box.url
    config.temp_folder_path = str(tmp_path)
    return config


def test_the_sdk_uploads_converts_polls_and_downloads(
    sdk_config: Any, gd_app: GroupDocsSandbox, tmp_path: Path
) -> None:
    src = tmp_path / "four-pages.docx"
    src.write_bytes(b"four pages of words")
    files = gd.FileApi.from_config(sdk_config)
    uploaded = files.upload_file(gd.UploadFileRequest("WordProcessing/four-pages.docx", str(src)))
    assert uploaded.uploaded == ["WordProcessing/four-pages.docx"]
    assert not uploaded.errors

    api = gd.AsyncApi.from_config(sdk_config)
    settings = gd.ConvertSettings(
        file_path="WordProcessing/four-pages.docx", format="pdf", output_path="converted"
    )
    operation_id = api.start_convert_and_save(gd.StartConvertAndSaveRequest(settings))
    assert isinstance(operation_id, str)
    assert '"' not in operation_id
    for _ in range(500):
        result = api.get_operation_status(gd.GetOperationStatusRequest(operation_id))
        if result.status in ("Finished", "Failed"):
            break
        time.sleep(0.01)
    assert result.status == "Finished"
    assert result.result[0].path == "converted/four-pages.pdf"

    downloaded = files.download_file(gd.DownloadFileRequest(result.result[0].path))
    assert Path(downloaded).read_bytes() == expected_output(src.read_bytes(), "docx", "pdf")
    direct = api.get_operation_result(gd.GetOperationResultRequest(operation_id))
    assert Path(direct).read_bytes() == expected_output(src.read_bytes(), "docx", "pdf")
    assert gd_app.token_requests == 2  # the SDK fetches a token per API object


def test_the_sdk_starts_a_conversion_with_an_upload(sdk_config: Any, tmp_path: Path) -> None:
    src = tmp_path / "sheet.xlsx"
    src.write_bytes(b"cells")
    api = gd.AsyncApi.from_config(sdk_config)
    operation_id = api.start_convert(gd.StartConvertRequest(format="pdf", file=str(src)))
    for _ in range(500):
        result = api.get_operation_status(gd.GetOperationStatusRequest(operation_id))
        if result.status == "Finished":
            break
        time.sleep(0.01)
    assert result.method == "Convert"
    data = Path(api.get_operation_result(gd.GetOperationResultRequest(operation_id))).read_bytes()
    assert data == expected_output(b"cells", "xlsx", "pdf")


def test_the_sdk_reads_the_invalid_client_error(restore_logging: None, gd_box: Sandbox) -> None:
    config = gd.Configuration("nobody", "wrong-secret")
    config.api_base_url = gd_box.url
    api = gd.AsyncApi.from_config(config)
    with pytest.raises(gd.ApiException) as caught:
        api.get_operation_status(gd.GetOperationStatusRequest("x"))
    assert caught.value.code == 400
    assert caught.value.message == "invalid_client"
