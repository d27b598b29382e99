"""The conformance kit over the GroupDocs sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox, expected_output

import asyncjobs
from asyncjobs.testing import JobCase, ProviderConformance


class TestGroupDocsConformance(ProviderConformance):
    timeout = 10.0

    @pytest.fixture
    def client(self, gd_client: asyncjobs.Client) -> asyncjobs.Client:
        return gd_client

    @pytest.fixture
    def sandbox_app(self, gd_app: GroupDocsSandbox) -> Any:
        return gd_app

    @pytest.fixture
    def success_case(self) -> JobCase:
        return JobCase(
            "convert",
            {"source": b"hello world", "from_": "docx", "to": "pdf"},
            files={"source.pdf": expected_output(b"hello world", "docx", "pdf")},
        )

    @pytest.fixture
    def failure_case(self) -> JobCase:
        return JobCase(
            "convert", {"source": b"corrupt data", "from_": "docx", "to": "pdf"}, error="corrupted"
        )

    @pytest.fixture
    def unknown_job_id(self) -> str:
        return "00000000-0000-0000-0000-000000000000"
