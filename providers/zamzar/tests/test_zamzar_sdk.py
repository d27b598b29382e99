"""The official Zamzar SDK (PyPI ``zamzar`` 2.0.2) against the sandbox: every scenario of
``zamzar_sdk_scenarios`` (one per test of the SDK's own suite). A missing SDK is a failure, never a
skip: it is in the provider's ``test`` extra."""

from __future__ import annotations

import pytest
from zamzar_sdk_scenarios import SCENARIOS, run_scenario


def test_the_sdk_is_installed() -> None:
    import zamzar  # noqa: F401  (ImportError fails the test)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sdk_scenario(name: str) -> None:
    run_scenario(name)
