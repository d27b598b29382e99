"""``JobCase.files``: result files matched by exact name and bytes (as before), by a name pattern,
or by content alone -- exact bytes, a pattern found in them, or a predicate -- one file each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_conformance_toy import TestToyConformance

import asyncjobs
from asyncjobs.testing import JobCase

CSV = {"57b5aa3b046abfb053d80001.csv": b"email\nann@example.com\n"}


def _case(files: object) -> JobCase:
    return JobCase("export", {}, files=files)  # type: ignore[arg-type]


def test_exact_names_and_bytes_still_match() -> None:
    assert _case(dict(CSV)).mismatch(CSV) is None


def test_a_name_pattern_matches_a_file_named_after_its_job() -> None:
    assert (
        _case({re.compile(r"[0-9a-f]{24}\.csv"): b"email\nann@example.com\n"}).mismatch(CSV) is None
    )


def test_a_name_pattern_must_match_the_whole_name() -> None:
    assert _case({re.compile(r"[0-9a-f]{24}"): CSV["57b5aa3b046abfb053d80001.csv"]}).mismatch(CSV)


def test_files_may_be_matched_by_content_alone() -> None:
    assert _case([b"email\nann@example.com\n"]).mismatch(CSV) is None


def test_a_bytes_pattern_is_searched_in_the_content() -> None:
    assert _case([re.compile(rb"ann@example\.com")]).mismatch(CSV) is None


def test_a_predicate_is_given_the_content() -> None:
    assert _case([lambda data: data.startswith(b"email\n")]).mismatch(CSV) is None


def test_content_that_does_not_match_is_named_in_the_mismatch() -> None:
    why = _case({re.compile(r".*\.csv"): b"other"}).mismatch(CSV)
    assert why is not None
    assert "57b5aa3b046abfb053d80001.csv" in why


def test_each_expectation_needs_a_file_of_its_own() -> None:
    two = {"a.txt": b"A", "b.txt": b"AB"}
    assert _case([re.compile(rb"A"), b"A"]).mismatch(two) is None  # the pattern takes b.txt
    assert _case([b"A", b"A"]).mismatch(two) is not None


def test_a_file_more_than_expected_is_a_mismatch() -> None:
    assert _case([b"A"]).mismatch({"a.txt": b"A", "b.txt": b"B"}) is not None


def test_without_expectations_any_non_empty_file_will_do() -> None:
    assert _case(None).mismatch({"a.txt": b"A"}) is None
    assert _case(None).mismatch({"a.txt": b""}) is not None


def test_the_kit_checks_downloads_by_content(toy_client: asyncjobs.Client, tmp_path: Path) -> None:
    kit = TestToyConformance()
    case = JobCase("upper", {"text": "hello", "duration": 0.05}, files=[re.compile(rb"^HELLO$")])
    kit.test_result_files_download_with_the_right_bytes(toy_client, case, tmp_path)
    wrong = JobCase("upper", {"text": "hello", "duration": 0.05}, files=[b"hello"])
    with pytest.raises(AssertionError, match="no downloaded file meets"):
        kit.test_result_files_download_with_the_right_bytes(toy_client, wrong, tmp_path / "2")
