"""benchmarks.vendor_suites without the network: how it configures the suites and reads their reports
(the run itself, which downloads the sdists, is CI's ``python -m benchmarks.vendor_suites``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import vendor_suites

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="test.apis.test_info_api.TestInfoApi" name="test_a" />
<testcase classname="test.apis.test_info_api.TestInfoApi" name="test_b">
  <failure message="ApiException: (NotFound)&#10;more">trace</failure></testcase>
<testcase classname="test.apis.test_info_api.TestInfoApi" name="test_c" />
<testcase classname="test.apis.test_info_api.TestInfoApi" name="test_c">
  <error message="failed on teardown">trace</error></testcase>
</testsuite></testsuites>
"""


def test_outcomes_are_read_per_test_the_worst_phase_winning(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(REPORT)
    outcomes = vendor_suites._outcomes("groupdocs", report)
    assert [(o.test, o.result, o.detail) for o in outcomes] == [
        ("TestInfoApi::test_a", "passed", ""),
        ("TestInfoApi::test_b", "failed", "ApiException: (NotFound)"),
        ("TestInfoApi::test_c", "error", "failed on teardown"),
    ]


def test_a_suite_that_wrote_no_report_is_one_error(tmp_path: Path) -> None:
    (only,) = vendor_suites._outcomes("convertapi", tmp_path / "missing.xml")
    assert only.result == "error"


def test_the_table_counts_passes_per_suite() -> None:
    table = vendor_suites._table(
        [
            vendor_suites.Outcome("convertapi", "t::a", "passed"),
            vendor_suites.Outcome("convertapi", "t::b", "failed", "boom"),
        ]
    )
    assert "convertapi: 1 of 2 passed" in table
    assert "boom" in table


class _App:
    secret = "s3cret"

    def client_settings(self, url: str) -> dict[str, str]:
        return {"client_id": "id", "client_secret": "key"}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "vendor-files"
    (root / "convertapi").mkdir(parents=True)
    (root / "convertapi/test.docx").write_bytes(b"docx")
    (root / "groupdocs/WordProcessing").mkdir(parents=True)
    (root / "groupdocs/WordProcessing/one-page.docx").write_bytes(b"docx")
    return root


def test_convertapi_is_configured_by_a_conftest_and_environment(
    tmp_path: Path, files: Path
) -> None:
    root = tmp_path / "convertapi-2.0.1"
    (root / "tests").mkdir(parents=True)
    suite = vendor_suites.SUITES[0]
    env = vendor_suites._configure(suite, root, files, _App(), "http://127.0.0.1:1")
    assert env["CONVERT_API_SECRET"] == "s3cret"
    assert env["CONVERT_API_BASE_URI"] == "http://127.0.0.1:1/"
    assert "def live():" in (root / "tests/conftest.py").read_text()
    assert (root / "examples/files/test.docx").read_bytes() == b"docx"


def test_groupdocs_is_configured_by_its_settings_file(tmp_path: Path, files: Path) -> None:
    root = tmp_path / "groupdocs_conversion_cloud-26.8"
    (root / "test").mkdir(parents=True)
    suite = vendor_suites.SUITES[1]
    vendor_suites._configure(suite, root, files, _App(), "http://127.0.0.1:2/")
    settings = (root / "test/test_settings.py").read_text()
    assert "APP_SID = 'id'" in settings
    assert "API_BASE_URL = 'http://127.0.0.1:2'" in settings
    assert (root / "test/test_files/WordProcessing/one-page.docx").is_file()
