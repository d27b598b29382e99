"""``python -m benchmarks.vendor_suites``: the vendors' own SDK test suites, run against the sandboxes.

It downloads the source distributions of the official SDKs from the package index (``convertapi``
2.0.1, ``groupdocs-conversion-cloud`` 26.8 and ``cloudconvert`` 2.1.0) into a temporary folder,
starts the ConvertAPI and GroupDocs sandboxes on 127.0.0.1, points each suite at them by
configuration only, runs the suites with pytest in a subprocess and prints one table: every test,
its outcome, and for a test that cannot pass against an emulator, why. CloudConvert's tests that
need no server run as they are. The suites that cannot be pointed here by configuration (Zamzar's
pins ``mock:8080`` and WireMock's admin API; CloudConvert's integration tests pin the vendor's
sandbox host) are replayed as scenarios that drive the installed PyPI SDKs (``zamzar`` 2.0.2,
``cloudconvert`` 2.1.0) through their own host options against the Zamzar and CloudConvert
sandboxes (:data:`SCENARIO_SUITES`).

Configuration only, never a change to test logic:

- ConvertAPI: the sdist's live tests use a ``live`` fixture that the sdist does not ship (its README:
  "skipped unless ``CONVERT_API_SECRET`` holds an API token"). A ``conftest.py`` placed beside the tests
  provides it: it reads ``CONVERT_API_SECRET`` and ``CONVERT_API_BASE_URI`` and sets
  ``convertapi.api_credentials`` and ``convertapi.base_uri`` before each live test. The tests read
  ``examples/files/test.docx``: that file is copied there from the vendor test files.
- GroupDocs: the suite reads its credentials and base URL from ``test/test_settings.py`` (the file the
  vendor tells you to fill in); it is written with the sandbox's. Its documents are copied into
  ``test/test_files/``.

The vendor test files (``convertapi/test.docx``, ``groupdocs/WordProcessing/*.docx``) come from
``--files`` (default: ``$ASYNCJOBS_VENDOR_FILES``, else ``../shared/vendor-test-files`` beside the
repository). ``--sdists DIR`` uses source distributions already downloaded there instead of the
index. The exit status is 1 when a test not named in :data:`CANNOT_PASS` fails, so CI can run it.
Nothing is written outside the temporary folder, and no request leaves 127.0.0.1 (the suites' own
URLs, such as ``https://cdn.convertapi.com/...``, are sent to the sandbox as parameters, never fetched).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import attrs

__all__ = ["CANNOT_PASS", "SUITES", "Outcome", "Suite", "main", "run"]

REPO = Path(__file__).resolve().parent.parent


@attrs.frozen
class Suite:
    """One vendor SDK's published test suite."""

    name: str
    package: str
    version: str
    #: the test files to run, relative to the unpacked sdist
    tests: tuple[str, ...]


@attrs.frozen
class Outcome:
    """One test's outcome: ``passed``, ``failed``, ``error`` or ``skipped``."""

    suite: str
    test: str
    result: str
    detail: str = ""


SUITES = (
    Suite("convertapi", "convertapi", "2.0.1", ("tests/test_convertapi.py",)),
    Suite("groupdocs", "groupdocs-conversion-cloud", "26.8", ("test",)),
    # the CloudConvert tests that run as they are: they need no server (the webhook signature and
    # the signed URL are computed by the SDK). Its unit tests testJob.py and testTask.py mock HTTP
    # with requests_mock from fixture files the sdist does not ship, and its integration tests pin
    # the vendor's sandbox host: those are replayed as scenarios (SCENARIO_SUITES below).
    Suite(
        "cloudconvert",
        "cloudconvert",
        "2.1.0",
        ("tests/unit/testWebhookSignature.py", "tests/unit/testSignedUrl.py"),
    ),
)

#: Tests that cannot pass against an emulator, and why (none are known today).
CANNOT_PASS: dict[str, str] = {}

_CONVERTAPI_CONFTEST = '''\
"""Configuration written by asyncjobs' benchmarks.vendor_suites: the ``live`` fixture the sdist's
tests use but do not ship, pointing the SDK at CONVERT_API_BASE_URI with CONVERT_API_SECRET."""

import os

import pytest

import convertapi


@pytest.fixture
def live():
    secret = os.environ.get("CONVERT_API_SECRET")
    if not secret:
        pytest.skip("CONVERT_API_SECRET is not set")
    convertapi.api_credentials = secret
    convertapi.base_uri = os.environ.get("CONVERT_API_BASE_URI", convertapi.base_uri)
    convertapi.max_parallel_uploads = 10
'''

_GROUPDOCS_SETTINGS = '''\
"""Configuration written by asyncjobs' benchmarks.vendor_suites: the sandbox's credentials."""


class TestSettings:
    APP_SID = {client_id!r}
    APP_KEY = {client_secret!r}
    API_BASE_URL = {base_url!r}
'''


def _files_dir(given: str | None) -> Path:
    path = Path(
        given
        or os.environ.get("ASYNCJOBS_VENDOR_FILES")
        or REPO.parent / "shared/vendor-test-files"
    )
    if not (path / "convertapi/test.docx").is_file():
        raise SystemExit(
            f"vendor test files not found in {str(path)!r}: pass --files DIR (it must hold "
            "convertapi/test.docx and groupdocs/WordProcessing/*.docx)"
        )
    return path


def _sdist(suite: Suite, work: Path, sdists: Path | None) -> Path:
    """Unpack the suite's sdist (downloaded from the index unless found in ``sdists``)."""
    stem = f"{suite.package.replace('-', '_')}-{suite.version}"
    folder = sdists or work / "downloads"
    found = [p for p in folder.glob("*.tar.gz") if p.name.lower() == f"{stem}.tar.gz".lower()]
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"{suite.package}=={suite.version}",
                "-d",
                str(folder),
            ],
            check=True,
        )
        found = [p for p in folder.glob("*.tar.gz") if p.name.lower() == f"{stem}.tar.gz".lower()]
    if not found:
        raise SystemExit(f"no sdist of {suite.package} {suite.version} in {str(folder)!r}")
    with tarfile.open(found[0]) as tar:
        try:
            tar.extractall(work / suite.name, filter="data")
        except TypeError:  # a Python without extraction filters (before 3.10.12 / 3.11.4)
            names = tar.getnames()
            if any(n.startswith(("/", "..")) or "/../" in n for n in names):
                raise SystemExit(
                    f"refusing {found[0].name}: it has paths outside its folder"
                ) from None
            tar.extractall(work / suite.name)  # paths checked above
    (root,) = (work / suite.name).iterdir()
    return root


@contextmanager
def _sandboxes() -> Iterator[dict[str, tuple[object, str]]]:
    """The ConvertAPI and GroupDocs sandboxes served on 127.0.0.1: ``{name: (app, url)}``."""
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox
    from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

    from asyncjobs.sandbox import Sandbox

    with ExitStack() as stack:
        convertapi = ConvertAPISandbox(scale=1000.0)
        groupdocs = GroupDocsSandbox(scale=1000.0)
        stack.callback(convertapi.close)
        stack.callback(groupdocs.close)
        a = stack.enter_context(Sandbox(convertapi))
        g = stack.enter_context(Sandbox(groupdocs))
        yield {"convertapi": (convertapi, a.url), "groupdocs": (groupdocs, g.url)}


def _configure(suite: Suite, root: Path, files: Path, app: object, url: str) -> dict[str, str]:
    """Put the suite's configuration in place; return the environment it reads."""
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    if suite.name == "cloudconvert":
        return env  # its tests that run as they are need no server and no setting
    if suite.name == "convertapi":
        (root / "tests/conftest.py").write_text(_CONVERTAPI_CONFTEST)
        (root / "examples/files").mkdir(parents=True, exist_ok=True)
        shutil.copy(files / "convertapi/test.docx", root / "examples/files/test.docx")
        env["CONVERT_API_SECRET"] = str(app.secret)  # type: ignore[attr-defined]
        env["CONVERT_API_BASE_URI"] = url.rstrip("/") + "/"
    else:
        settings = app.client_settings(url)  # type: ignore[attr-defined]
        (root / "test/test_settings.py").write_text(
            _GROUPDOCS_SETTINGS.format(
                client_id=settings["client_id"],
                client_secret=settings["client_secret"],
                base_url=url.rstrip("/"),
            )
        )
        shutil.copytree(files / "groupdocs", root / "test/test_files", dirs_exist_ok=True)
    return env


def _run_suite(suite: Suite, root: Path, env: dict[str, str]) -> list[Outcome]:
    report = root / "report.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *suite.tests,
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-o",
        "addopts=",
        f"--junitxml={report}",
        "--rootdir",
        str(root),
    ]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(root)
    subprocess.run(
        command, cwd=root, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return _outcomes(suite.name, report)


def _outcomes(name: str, report: Path) -> list[Outcome]:
    if not report.is_file():
        return [Outcome(name, "<suite>", "error", "pytest wrote no report")]
    # a test that fails in its call and again in its teardown is reported twice: the worst counts
    rank = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
    out: dict[str, Outcome] = {}
    for case in ET.parse(report).iter("testcase"):
        test = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name', '')}"
        result, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                result = "failed" if tag == "failure" else tag
                message = (node.get("message") or "").strip()
                detail = message.splitlines()[0][:100] if message else ""
                break
        seen = out.get(test)
        if seen is None or rank[result] > rank[seen.result]:
            out[test] = Outcome(name, test, result, detail)
    return list(out.values())


def run(files: Path, sdists: Path | None = None, only: Sequence[str] = ()) -> list[Outcome]:
    """Run the suites (all, or those named in ``only``) and return every test's outcome."""
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="asyncjobs-vendor-suites-") as tmp:
        work = Path(tmp)
        with _sandboxes() as boxes:
            for suite in SUITES:
                if only and suite.name not in only:
                    continue
                root = _sdist(suite, work, sdists)
                app, url = boxes.get(suite.name, (None, ""))
                env = _configure(suite, root, files, app, url)
                outcomes.extend(_run_suite(suite, root, env))
    for name, module in SCENARIO_SUITES.items():
        if not only or name in only:
            outcomes.extend(_run_scenarios(name, module))
    return outcomes


#: Suites that cannot run as they are, replayed as scenarios that drive the vendor's PyPI SDK
#: through its own host options against the sandbox, in process (suite name -> the scenarios'
#: module in ``providers/<name>/tests``):
#:
#: - ``zamzar``: the SDK's suite pins ``mock:8080`` and the WireMock admin API of the vendor's mock;
#:   one scenario per test of its ``test/facade`` suite, with the mock's example answers;
#: - ``cloudconvert-sdk``: its integration tests call ``configure(sandbox=True)`` with the vendor's
#:   key, which pins the vendor's sandbox host; one scenario per integration test, plus the job calls
#:   they rely on.
SCENARIO_SUITES = {
    "zamzar": "zamzar_sdk_scenarios",
    "cloudconvert-sdk": "cloudconvert_sdk_scenarios",
}
ZAMZAR_SUITE = "zamzar"


def _run_scenarios(name: str, module_name: str) -> list[Outcome]:
    """Every scenario's outcome (the SDK missing is an error, never a skip)."""
    provider = name.split("-", 1)[0]
    sys.path.insert(0, str(REPO / f"providers/{provider}/tests"))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return [Outcome(name, "<suite>", "error", f"cannot import: {exc}"[:100])]
    finally:
        sys.path.pop(0)
    outcomes = []
    for scenario in sorted(module.SCENARIOS):
        try:
            module.run_scenario(scenario)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:100]
            outcomes.append(Outcome(name, scenario, "failed", detail))
        else:
            outcomes.append(Outcome(name, scenario, "passed"))
    return outcomes


def _table(outcomes: Sequence[Outcome]) -> str:
    rows = [("suite", "test", "result", "reason / detail")]
    for o in outcomes:
        reason = CANNOT_PASS.get(f"{o.suite}:{o.test}", o.detail if o.result != "passed" else "")
        rows.append((o.suite, o.test, o.result, reason))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 15)
    for name in sorted({o.suite for o in outcomes}):
        mine = [o for o in outcomes if o.suite == name]
        passed = sum(o.result == "passed" for o in mine)
        lines.append(f"{name}: {passed} of {len(mine)} passed")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: run, print the table, exit 1 on an unexplained failure."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vendor_suites", description=__doc__)
    parser.add_argument("--files", help="the vendor test files (convertapi/, groupdocs/)")
    parser.add_argument("--sdists", help="a folder with the sdists already downloaded")
    parser.add_argument(
        "--only",
        action="append",
        choices=[*(s.name for s in SUITES), *SCENARIO_SUITES],
        default=[],
    )
    args = parser.parse_args(argv)
    outcomes = run(
        _files_dir(args.files), Path(args.sdists) if args.sdists else None, tuple(args.only)
    )
    print(_table(outcomes))
    unexplained = [
        o
        for o in outcomes
        if o.result in ("failed", "error") and f"{o.suite}:{o.test}" not in CANNOT_PASS
    ]
    return 1 if unexplained or not outcomes else 0


if __name__ == "__main__":
    raise SystemExit(main())
