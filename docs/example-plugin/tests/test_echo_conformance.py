"""The conformance kit over the Echo sandbox: the proof that the provider keeps the job contract."""

from __future__ import annotations

import pytest
from asyncjobs_echo.sandbox import EchoSandbox

import asyncjobs
from asyncjobs.testing import JobCase, ProviderConformance


class TestEchoConformance(ProviderConformance):
    timeout = 10.0

    @pytest.fixture
    def client(self, echo_client: asyncjobs.Client) -> asyncjobs.Client:
        return echo_client

    @pytest.fixture
    def sandbox_app(self, echo_app: EchoSandbox) -> EchoSandbox:
        return echo_app

    @pytest.fixture
    def success_case(self) -> JobCase:
        return JobCase(
            "shout", {"text": "hello, world"}, files={"echo-000001.txt": b"HELLO, WORLD"}
        )

    @pytest.fixture
    def failure_case(self) -> JobCase:
        return JobCase("shout", {"text": "please fail"}, error="asked to fail")

    @pytest.fixture
    def unknown_job_id(self) -> str:
        return "echo-999999"
