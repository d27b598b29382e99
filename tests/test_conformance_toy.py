"""The conformance kit, run on the toy provider: the kit works before the real providers exist."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import requests
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import ResultFile
from asyncjobs._registry import unregister
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


class KeyInQueryToy(ToyProvider):
    """Sends its key in the query string too: every other check of the kit passes."""

    name = "key-in-query"

    def request(
        self, method: str, url: str, *, job_id: str | None = None, **kwargs: Any
    ) -> requests.Response:
        kwargs["params"] = {**(kwargs.get("params") or {}), "key": self.config["key"]}
        return super().request(method, url, job_id=job_id, **kwargs)


class KeyToAnyOriginToy(ToyProvider):
    """Downloads result files with its key in a header, wherever their URL points."""

    name = "key-to-any-origin"

    @contextlib.contextmanager
    def open_file(self, file: ResultFile) -> Iterator[IO[bytes]]:
        assert file.url is not None
        headers = {"X-Toy-Key": self.config["key"]}
        with self.transport.stream("GET", file.url, headers=headers) as stream:
            yield stream


@pytest.fixture
def leaky_client(
    request: pytest.FixtureRequest, toy_sandbox: Sandbox, tmp_path: Path
) -> Iterator[asyncjobs.Client]:
    """A client of the toy sandbox through the leaky provider class given as the parameter."""
    cls: type[ToyProvider] = request.param
    asyncjobs.register(cls.name, cls, replace=True)
    try:
        settings = toy_sandbox.app.client_settings(toy_sandbox.url)
        with asyncjobs.connect(cls.name, ledger=tmp_path / "l.db", **settings) as client:
            yield client
    finally:
        unregister(cls.name)


SUCCESS = JobCase("upper", {"text": "hello", "duration": 0.05}, files={"output.txt": b"HELLO"})


@pytest.mark.parametrize("leaky_client", [KeyInQueryToy], indirect=True)
def test_the_kit_fails_a_plugin_that_puts_its_key_in_a_url(
    leaky_client: asyncjobs.Client, tmp_path: Path
) -> None:
    kit = TestToyConformance()
    with pytest.raises(AssertionError, match="a secret setting's value went into a URL"):
        kit.test_no_secret_setting_appears_in_any_url(leaky_client, SUCCESS, "t999999", tmp_path)


@pytest.mark.parametrize("leaky_client", [KeyToAnyOriginToy], indirect=True)
def test_the_kit_fails_a_plugin_that_sends_its_key_to_another_origin(
    leaky_client: asyncjobs.Client,
) -> None:
    kit = TestToyConformance()
    with pytest.raises(AssertionError, match="another origin carried a secret"):
        kit.test_result_downloads_carry_credentials_only_to_the_plugins_own_origin(
            leaky_client, SUCCESS
        )
