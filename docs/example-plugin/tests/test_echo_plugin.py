"""The Echo provider as a plugin: found through its distribution's entry point, and its own checks."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from asyncjobs_echo import EchoProvider
from asyncjobs_echo.sandbox import EchoSandbox

import asyncjobs
from asyncjobs.errors import AuthenticationError, InvalidParameterError
from asyncjobs.sandbox import Sandbox


def test_entry_point_belongs_to_the_asyncjobs_echo_distribution() -> None:
    found = {ep.name: ep for ep in entry_points(group="asyncjobs.providers")}
    assert "echo" in found
    assert found["echo"].value == "asyncjobs_echo.provider:EchoProvider"
    assert found["echo"].dist is not None
    assert found["echo"].dist.name == "asyncjobs-echo"


def test_asyncjobs_finds_the_provider_through_the_entry_point(echo_box: Sandbox) -> None:
    assert "echo" in asyncjobs.available_providers()
    settings = echo_box.app.client_settings(echo_box.url)
    with asyncjobs.connect("echo", ledger=False, **settings) as client:
        assert type(client.provider) is EchoProvider


def test_connect_reads_the_settings_from_the_environment(
    echo_box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in echo_box.app.client_settings(echo_box.url).items():
        monkeypatch.setenv(f"ECHO_{name.upper()}", value)
    with asyncjobs.connect("echo", ledger=False) as client:
        assert client.list() == []


@pytest.mark.parametrize("text", ["", 42, "x" * 10_001])
def test_bad_text_is_refused_before_any_request(
    echo_client: asyncjobs.Client, echo_app: EchoSandbox, text: object
) -> None:
    with pytest.raises(InvalidParameterError, match="text"):
        echo_client.submit("shout", text=text)
    assert echo_app.requests == []


def test_result_file_has_the_size_the_service_gave(echo_client: asyncjobs.Client) -> None:
    result = echo_client.submit("shout", text="abc").result(timeout=10)
    assert [(f.size, f.read()) for f in result.files] == [(3, b"ABC")]


def test_wrong_token_is_an_authentication_error_without_the_token(echo_box: Sandbox) -> None:
    canary = "echo-canary-token-3141592653"
    with asyncjobs.connect("echo", token=canary, base_url=echo_box.url, ledger=False) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.submit("shout", text="hi")
    assert "missing or wrong token" in str(caught.value)
    assert canary not in str(caught.value)
    assert canary not in repr(caught.value)
    assert canary not in repr(client)
