"""The conformance kit, run on the toy provider: the kit works before the real providers exist."""

from __future__ import annotations

from typing import Any

import pytest

import asyncjobs
from asyncjobs.sandbox import Sandbox
from asyncjobs.testing import JobCase, ProviderConformance


class TestToyConformance(ProviderConformance):
    timeout = 10.0

    @pytest.fixture
    def client(self, toy_client: asyncjobs.Client) -> asyncjobs.Client:
        return toy_client

    @pytest.fixture
    def sandbox_app(self, toy_sandbox: Sandbox) -> Any:
        return toy_sandbox.app

    @pytest.fixture
    def success_case(self) -> JobCase:
        return JobCase("upper", {"text": "hello", "duration": 0.05}, files={"output.txt": b"HELLO"})

    @pytest.fixture
    def failure_case(self) -> JobCase:
        return JobCase("upper", {"text": "please fail", "duration": 0.05}, error="asked to fail")

    @pytest.fixture
    def unknown_job_id(self) -> str:
        return "t999999"
