"""The conformance kit over the ConvertAPI sandbox, once per async protocol."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from asyncjobs_convertapi.sandbox import expected_output

from asyncjobs.testing import JobCase, ProviderConformance

HELLO = b"hello world"


class TestConvertAPICurrentConformance(ProviderConformance):
    provider = "convertapi"
    timeout = 20.0
    success = JobCase(
        "convert",
        {"source": HELLO, "from_": "txt", "to": "pdf"},
        files={"file.pdf": expected_output("txt", "pdf", HELLO)},
    )

    @pytest.fixture
    def failure_case(self, tmp_path: Path) -> JobCase:
        path = tmp_path / "corrupt-report.docx"  # the sandbox fails documents named corrupt
        path.write_bytes(b"not really a docx")
        return JobCase("convert", {"source": path, "to": "pdf"}, error="damaged")


class TestConvertAPILegacyConformance(TestConvertAPICurrentConformance):
    client_options: ClassVar = {"protocol": "legacy"}
    unknown_id = "d3bd2056-4330-4cf3-9b18-483a2412dd6b"
