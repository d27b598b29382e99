"""The official ConvertAPI SDK (PyPI ``convertapi``) against the sandbox: independent proof that the
sandbox speaks the service's protocol. The SDK keeps its configuration in module globals; every test
restores them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import convertapi
import pytest
from asyncjobs_convertapi.sandbox import expected_output

from asyncjobs.sandbox import Sandbox


@pytest.fixture
def sdk(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK pointed at the sandbox (its module state restored afterwards)."""
    monkeypatch.setattr(convertapi, "api_credentials", sandbox.app.secret)
    monkeypatch.setattr(convertapi, "base_uri", sandbox.url + "/")
    return convertapi


def test_sdk_converts_a_local_file(sdk: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    src = tmp_path / "memo.docx"
    src.write_bytes(b"memo body")
    result = sdk.convert("pdf", {"File": str(src)})
    out = tmp_path / "out"
    out.mkdir()
    (saved,) = result.save_files(str(out))
    assert Path(saved).name == "memo.pdf"
    assert Path(saved).read_bytes() == expected_output("docx", "pdf", b"memo body")
    assert result.conversion_cost == 1
    assert [m + " " + p.split("/")[1] for m, p in sandbox.app.requests] == [
        "POST upload",
        "POST convert",
        "GET d",
    ]


def test_sdk_sees_the_sandbox_errors(sdk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convertapi, "api_credentials", "wrong-secret")
    with pytest.raises(convertapi.ApiError) as caught:
        sdk.user()
    assert caught.value.code == 4010


def test_sdk_reads_the_account(sdk: Any) -> None:
    assert sdk.user()["Active"] is True


def test_sdk_module_state_is_restored() -> None:
    assert convertapi.base_uri == "https://v2.convertapi.com/"
    assert convertapi.api_credentials is None
