"""The pytest plugin (``asyncjobs.pytest_plugin``, entry point ``pytest11``): an application's tests,
run in a child pytest that finds the plugin the way a user's run does, through its entry point;
what loading it costs a run that does not use it; and the fixtures used directly."""

# The fixtures are imported (this environment's installed metadata may lack the entry point) and
# then asked for by name, which ruff reads as redefinitions.
# ruff: noqa: F401, F811

from __future__ import annotations

import asyncio
import configparser
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import aio, errors
from asyncjobs._registry import unregister
from asyncjobs.pytest_plugin import (  # the fixtures, for this module's own direct use
    RunningSandbox,
    asyncjobs_client,
    asyncjobs_sandbox,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "testing-example" / "test_conversions.py"

#: One job per built-in provider, by what it takes.
JOBS: dict[str, dict[str, Any]] = {
    "convertapi": {"to": "pdf"},
    "groupdocs": {"to": "pdf"},
    "cloudconvert": {"to": "pdf"},
    "zamzar": {"to": "pdf"},
    "conversio": {},
}


def _submit(client: asyncjobs.Client, tmp_path: Path) -> asyncjobs.Job:
    if client.name == "conversio":
        return client.submit("newsletter-recipients", newsletter="n1")
    source = tmp_path / "report.docx"
    source.write_bytes(b"PK\x03\x04 a small document")
    return client.submit("convert", source=source, **JOBS[client.name])


# -- the entry point, as a user's pytest run finds it -------------------------------------------------


def _entry_point() -> str:
    """The ``pytest11`` entry point setup.cfg declares."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["options.entry_points"]["pytest11"].strip()


@pytest.fixture
def installed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A child pytest whose environment has the core's ``pytest11`` entry point as setup.cfg
    declares it (a distribution's metadata on its path), whatever this environment installed."""
    site = pytester.path / "site"
    info = site / "asyncjobs_pytest_entry-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: asyncjobs-pytest-entry\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(f"[pytest11]\n{_entry_point()}\n")
    paths = [str(site), *sys.path]
    monkeypatch.setenv("PYTHONPATH", ":".join(p for p in paths if p))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


def test_setup_cfg_declares_the_plugin_as_pytest11() -> None:
    assert _entry_point() == "asyncjobs = asyncjobs.pytest_plugin"


def test_an_applications_tests_run_on_the_fixtures(installed: pytest.Pytester) -> None:
    installed.makepyfile(test_conversions=EXAMPLE.read_text(encoding="utf-8"))
    run = installed.runpytest_subprocess("-p", "no:cacheprovider")
    run.assert_outcomes(passed=5)


def _loaded_by_import_asyncjobs() -> set[str]:
    code = (
        "import sys, asyncjobs; print(*sorted(m for m in sys.modules if m.startswith('asyncjobs')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_run_that_uses_no_fixture_imports_nothing_of_asyncjobs_but_the_plugin(
    installed: pytest.Pytester,
) -> None:
    installed.makepyfile(
        test_plain="""
        import sys

        LOADED = sorted(m for m in sys.modules if m.startswith("asyncjobs"))

        def test_plain():
            print("LOADED", *LOADED)
            print("WERKZEUG", "werkzeug" in sys.modules, "REQUESTS", "requests" in sys.modules)
        """
    )
    run = installed.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    run.assert_outcomes(passed=1)
    loaded = set(run.stdout.str().split("LOADED", 1)[1].splitlines()[0].split())
    assert "asyncjobs.pytest_plugin" in loaded  # through the entry point
    assert loaded <= _loaded_by_import_asyncjobs() | {"asyncjobs.pytest_plugin"}
    assert "WERKZEUG False REQUESTS False" in run.stdout.str()


def test_the_plugin_gives_no_test_a_fixture_it_did_not_ask_for(
    installed: pytest.Pytester,
) -> None:
    installed.makepyfile(
        test_plain="""
        def test_asks_for_nothing(request):
            assert not [f for f in request.fixturenames if f.startswith("asyncjobs")]
        """
    )
    installed.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_run_turns_the_plugin_off_by_its_entry_points_name(installed: pytest.Pytester) -> None:
    installed.makepyfile(test_off="def test_uses(asyncjobs_sandbox):\n    pass\n")
    run = installed.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncjobs")
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines(["*fixture 'asyncjobs_sandbox' not found*"])


def test_the_sandboxes_stop_with_the_test(installed: pytest.Pytester) -> None:
    installed.makepyfile(
        test_order="""
        import pytest, requests

        URLS = []

        def test_first(asyncjobs_sandbox):
            URLS.append(asyncjobs_sandbox("convertapi").url)

        def test_then(asyncjobs_sandbox):
            with pytest.raises(requests.ConnectionError):
                requests.get(URLS[0] + "/user", timeout=2)
        """
    )
    installed.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


# -- the fixtures, used directly ----------------------------------------------------------------------


def test_a_sandbox_gives_its_url_settings_switches_and_clock(asyncjobs_sandbox: Any) -> None:
    sandbox: RunningSandbox = asyncjobs_sandbox("convertapi", scale=50)
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.settings["base_url"].startswith(sandbox.url)
    assert sandbox.scale == sandbox.clock.scale == 50
    assert sandbox.faults is sandbox.app.faults
    assert sandbox.env()["CONVERTAPI_SECRET"] == sandbox.settings["secret"]


def test_a_client_has_a_ledger_of_its_own_in_the_tests_folder(
    asyncjobs_client: Any, tmp_path: Path
) -> None:
    job = _submit(asyncjobs_client("convertapi"), tmp_path)
    (path,) = tmp_path.glob("asyncjobs-ledger-*.sqlite3")
    ledger = asyncjobs.Ledger.open(path)
    try:
        assert ledger.get("convertapi", job.id) is not None
    finally:
        ledger.close()


@pytest.mark.parametrize("provider", sorted(JOBS))
def test_fail_next_makes_the_next_job_fail_at_every_built_in_provider(
    provider: str, asyncjobs_sandbox: Any, asyncjobs_client: Any, tmp_path: Path
) -> None:
    sandbox = asyncjobs_sandbox(provider)
    client = asyncjobs_client(sandbox)
    sandbox.fail_next()
    with pytest.raises(errors.JobFailedError):
        _submit(client, tmp_path).result(timeout=10)
    assert _submit(client, tmp_path).result(timeout=10) is not None  # only the next one


@pytest.mark.parametrize("provider", sorted(JOBS))
def test_a_frozen_sandbox_lets_every_built_in_providers_job_time_out(
    provider: str, asyncjobs_sandbox: Any, asyncjobs_client: Any, tmp_path: Path
) -> None:
    sandbox = asyncjobs_sandbox(provider)
    client = asyncjobs_client(sandbox)
    with sandbox.frozen():
        job = _submit(client, tmp_path)
        with pytest.raises(errors.JobTimeoutError):
            job.wait(timeout=0.3, progress=False)
    assert job.wait(timeout=10, progress=False).status is asyncjobs.Status.DONE


@pytest.mark.parametrize("provider", sorted(JOBS))
def test_a_lasting_rate_limit_raises_at_every_built_in_provider(
    provider: str, asyncjobs_sandbox: Any, asyncjobs_client: Any, tmp_path: Path
) -> None:
    sandbox = asyncjobs_sandbox(provider)
    client = asyncjobs_client(sandbox, retry=asyncjobs.RetryPolicy(max_tries=2, base=0.01))
    job = _submit(client, tmp_path)
    sandbox.rate_limit(times=10, retry_after=0)
    with pytest.raises(errors.RateLimitedError):
        client.status(job.id)


@pytest.fixture
def toy() -> Any:
    """A third party's provider (not one of the built-in ones), registered for the test."""
    asyncjobs.register("toy", ToyProvider, replace=True)
    yield "toy"
    unregister("toy")


def test_a_third_party_providers_sandbox_is_served_too(toy: str, asyncjobs_client: Any) -> None:
    job = asyncjobs_client(toy).submit("upper", text="abc")
    assert job.wait(timeout=10, progress=False).status is asyncjobs.Status.DONE


def test_a_sandbox_that_cannot_fail_a_job_on_demand_says_so(
    toy: str, asyncjobs_sandbox: Any
) -> None:
    with pytest.raises(NotImplementedError, match="fails_on_demand"):
        asyncjobs_sandbox(toy).fail_next()


def test_an_aio_client_is_given_with_aio_true(asyncjobs_client: Any, tmp_path: Path) -> None:
    client = asyncjobs_client("convertapi", aio=True)
    assert isinstance(client, aio.AsyncClient)
    source = tmp_path / "a.docx"
    source.write_bytes(b"PK\x03\x04 a")

    async def convert() -> list[str]:
        job = await client.submit("convert", source=source, to="pdf")
        return [f.name for f in (await job).files]

    assert asyncio.run(convert()) == ["a.pdf"]
