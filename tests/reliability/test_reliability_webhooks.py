"""Attacks on the webhook receiver (issue 28, finding 8): replayed calls, floods of unknown ids,
slow clients, forged lists of ids, and keys without entropy. Each test fills a cell of the
reliability matrix's attacks section, column ``webhooks``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_matrix import Recorder

from asyncjobs import errors, webhooks

PUBLIC = "https://hooks.example.com/asyncjobs"

# -- keys without entropy --------------------------------------------------------------------------

WEAK_KEYS = {
    "16 spaces": " " * 16,
    "one character repeated": "a" * 40,
    "two characters alternating": "ab" * 20,
    "a short word repeated": "password" * 4,
}


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_a_key_without_entropy_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        webhooks.Receiver(PUBLIC, key)
    message = str(caught.value)
    assert "ASYNCJOBS_WEBHOOK_KEY" in message
    assert "secrets.token_urlsafe(32)" in message
    assert key.strip() == "" or key[:8] not in message


@settings(max_examples=50, deadline=None)
@given(char=st.characters(codec="utf-8"), length=st.integers(16, 200))
def test_any_key_of_one_repeated_character_is_refused(char: str, length: int) -> None:
    with pytest.raises(errors.ConfigurationError, match="too easy to guess|16 characters"):
        webhooks.Receiver(PUBLIC, char * length)


def test_a_random_key_is_accepted() -> None:
    import secrets

    assert webhooks.Receiver(PUBLIC, secrets.token_urlsafe(32)).public_url == PUBLIC


def test_serve_refuses_a_key_of_spaces_naming_the_setting(tmp_path: Path, cell: Recorder) -> None:
    cell.at("attacks", "webhook key without entropy", "webhooks")
    key = " " * 16
    env = {**os.environ, "ASYNCJOBS_HOME": str(tmp_path), "ASYNCJOBS_WEBHOOK_KEY": key}
    done = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "webhooks", "serve", "--listen", "127.0.0.1:0"]
        + ["--public-url", PUBLIC, "--no-ledger"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "ASYNCJOBS_WEBHOOK_KEY" in done.stderr
    assert "token_urlsafe" in done.stderr
    cell.say("16 spaces, one repeated character: refused (exit 2), the setting named, not echoed")
