"""Resolving settings: keywords, environment variables, defaults, and the errors when they are wrong."""

from __future__ import annotations

import pytest
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs._settings import resolve_settings
from asyncjobs.errors import ConfigurationError
from asyncjobs.provider import Provider, Setting

CANARY = "canary-secret-7f3a9c"


class Chooser(Provider):
    name = "chooser"
    settings = (
        Setting("mode", choices=("a", "b"), default="a"),
        Setting("token", env="CHOOSER_TOKEN", secret=True),
    )


def test_a_keyword_wins_over_the_environment() -> None:
    s = resolve_settings(ToyProvider, {"key": "k1", "base_url": "http://u"}, {"TOY_KEY": "k2"})
    assert s["key"] == "k1"


def test_the_environment_fills_a_missing_keyword() -> None:
    s = resolve_settings(ToyProvider, {"base_url": "http://u"}, {"TOY_KEY": "from-env"})
    assert s["key"] == "from-env"


def test_a_default_fills_what_is_missing_everywhere() -> None:
    assert resolve_settings(Chooser, {}, {})["mode"] == "a"


def test_a_missing_required_setting_names_it_and_its_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(ToyProvider, {"base_url": "http://u"}, {})
    assert "'key'" in str(caught.value)
    assert "TOY_KEY" in str(caught.value)


def test_connect_raises_for_a_missing_credential_before_any_request(
    toy_registered: type[ToyProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOY_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="TOY_KEY"):
        asyncjobs.connect("toy", base_url="http://127.0.0.1:9", ledger=False)


def test_an_unknown_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(ToyProvider, {"base_url": "http://u", "key": "k", "sekret": "x"}, {})
    assert "'sekret'" in str(caught.value)
    assert "key" in str(caught.value)


def test_a_value_outside_the_choices_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'a', 'b'"):
        resolve_settings(Chooser, {"mode": "c"}, {})


def test_settings_repr_masks_secrets() -> None:
    s = resolve_settings(Chooser, {"token": CANARY}, {})
    assert CANARY not in repr(s)
    assert s.secrets == [CANARY]


@pytest.mark.parametrize("value", ["ftp://x", "127.0.0.1:8080", "", 42])
def test_a_url_setting_must_be_an_http_url(value: object) -> None:
    with pytest.raises(ConfigurationError, match="must be an http\\(s\\) URL"):
        resolve_settings(ToyProvider, {"key": "k", "base_url": value}, {})


def test_a_bad_url_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="TOY_BASE_URL"):
        resolve_settings(ToyProvider, {"key": "k"}, {"TOY_BASE_URL": "localhost:1"})
