"""The conformance kit over the Conversio sandbox."""

from __future__ import annotations

import pytest
from asyncjobs_conversio.sandbox import ConversioSandbox

import asyncjobs
from asyncjobs.testing import JobCase, ProviderConformance


class TestConversioConformance(ProviderConformance):
    timeout = 10.0

    @pytest.fixture
    def client(self, conversio_client: asyncjobs.Client) -> asyncjobs.Client:
        return conversio_client

    @pytest.fixture
    def sandbox_app(self, conversio_app: ConversioSandbox) -> ConversioSandbox:
        return conversio_app

    @pytest.fixture
    def success_case(self) -> JobCase:
        return JobCase(
            "newsletter-recipients",
            {"newsletter": "n1"},
            files={
                "57b5aa3b046abfb053d80001.csv": b"email\nann+n1@example.com\nbob+n1@example.com\n"
            },
        )

    @pytest.fixture
    def failure_case(self) -> JobCase:
        return JobCase("segments-export", {"segment": "s-fail"}, error="failed on purpose")

    @pytest.fixture
    def unknown_job_id(self) -> str:
        return "57b5aa3b046abfb053d8ffff"
