"""The conformance kit over the ConvertAPI sandbox, once per async protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from asyncjobs_convertapi.sandbox import ConvertAPISandbox, expected_output
from convertapi_support import FAST_RETRY, SCALE

import asyncjobs
from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import JobCase, ProviderConformance


class _ConvertAPIConformance(ProviderConformance):
    protocol: ClassVar[str] = "current"
    timeout = 20.0

    @pytest.fixture
    def box(self) -> Iterator[Sandbox]:
        app = ConvertAPISandbox(scale=SCALE)
        with Sandbox(app) as served:
            yield served
        app.close()

    @pytest.fixture
    def client(self, box: Sandbox, tmp_path: Path) -> Iterator[asyncjobs.Client]:
        with asyncjobs.connect(
            "convertapi",
            ledger=tmp_path / "ledger.sqlite3",
            retry=FAST_RETRY,
            protocol=self.protocol,
            **box.app.client_settings(box.url),
        ) as c:
            yield c

    @pytest.fixture
    def sandbox_app(self, box: Sandbox) -> Any:
        return box.app

    @pytest.fixture
    def unknown_job_id(self) -> str:
        if self.protocol == "legacy":
            return "d3bd2056-4330-4cf3-9b18-483a2412dd6b"
        return "0123456789abcdef0123456789abcdef"

    @pytest.fixture
    def success_case(self) -> JobCase:
        return JobCase(
            "convert",
            {"source": b"hello world", "from_": "txt", "to": "pdf"},
            files={"file.pdf": expected_output("txt", "pdf", b"hello world")},
        )

    @pytest.fixture
    def failure_case(self, tmp_path: Path) -> JobCase:
        path = tmp_path / "corrupt-report.docx"
        path.write_bytes(b"not really a docx")
        return JobCase("convert", {"source": path, "to": "pdf"}, error="damaged")


class TestConvertAPICurrentConformance(_ConvertAPIConformance):
    protocol = "current"


class TestConvertAPILegacyConformance(_ConvertAPIConformance):
    protocol = "legacy"
