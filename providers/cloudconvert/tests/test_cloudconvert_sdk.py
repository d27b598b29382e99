"""The official CloudConvert SDK (PyPI ``cloudconvert`` 2.1.0) against the sandbox: every scenario of
``cloudconvert_sdk_scenarios`` (one per test of the SDK's integration suite). A missing SDK is a
failure, never a skip: it is in the core's ``test`` extra."""

from __future__ import annotations

import pytest
from cloudconvert_sdk_scenarios import SCENARIOS, run_scenario


def test_the_sdk_is_installed() -> None:
    import cloudconvert  # noqa: F401  (ImportError fails the test)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sdk_scenario(name: str) -> None:
    run_scenario(name)


def test_the_sdks_module_state_is_restored_after_a_scenario() -> None:
    import cloudconvert.cloudconvertrestclient as rest

    before = rest.__client__
    run_scenario("jobs_show_and_list")

    assert rest.__client__ is before
