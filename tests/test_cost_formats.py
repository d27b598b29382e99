"""What a job cost and who converts what: ``asyncjobs.Cost``, ``asyncjobs.Formats`` and
``asyncjobs.formats``, the ledger's cost columns and ``Ledger.usage`` (both backends), the schema
step that added them, and the refusal of a conversion outside a complete format list before any
request."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asyncjobs_convertapi.provider import ConvertAPIProvider
from hypothesis import given
from hypothesis import strategies as st
from ledger_support import Raw

import asyncjobs
from asyncjobs import errors
from asyncjobs._ledger import MIGRATIONS, SCHEMA_VERSION, Ledger
from asyncjobs._registry import unregister
from asyncjobs.sandbox import Sandbox

# -- Cost ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "unit"),
    [
        (-1, "credits"),
        (math.nan, "credits"),
        (math.inf, "credits"),
        (True, "credits"),
        ("many", "credits"),
        (1, ""),
        (1, "  "),
        (1, None),
    ],
)
def test_a_cost_is_a_finite_amount_not_below_zero_in_a_named_unit(amount: Any, unit: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        asyncjobs.Cost(amount, unit)


def test_costs_add_up_within_a_unit_only() -> None:
    assert asyncjobs.Cost(2, "credits") + asyncjobs.Cost(1.5, "credits") == asyncjobs.Cost(
        3.5, "credits"
    )
    with pytest.raises(ValueError, match="per unit"):
        asyncjobs.Cost(1, "credits") + asyncjobs.Cost(1, "seconds")


def test_a_whole_cost_reads_without_a_decimal_point() -> None:
    assert str(asyncjobs.Cost(4, "credits")) == "4 credits"
    assert str(asyncjobs.Cost(0.25, "credits")) == "0.25 credits"


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["credits", "conversions"]))
def test_a_cost_survives_the_json_of_a_job_info(amount: int, unit: str) -> None:
    from asyncjobs._serialize import info_from_json, info_to_json

    info = asyncjobs.JobInfo("p", "j", "convert", "done", cost=asyncjobs.Cost(amount, unit))

    assert info_from_json(info_to_json(info)).cost == asyncjobs.Cost(amount, unit)


# -- Formats ------------------------------------------------------------------------------------


def test_a_format_table_is_keyed_in_lower_case_without_dots() -> None:
    table = asyncjobs.Formats({" .DOCX": ["PDF", ".png"]}, "a test")

    assert dict(table.table) == {"docx": frozenset({"pdf", "png"})}
    assert table.offers("Docx", ".PDF")
    assert list(table.pairs()) == [("docx", "pdf"), ("docx", "png")]


def test_only_a_complete_table_refuses_what_it_does_not_list() -> None:
    complete = asyncjobs.Formats({"docx": ["pdf"]}, "x")
    partial = asyncjobs.Formats({"docx": ["pdf"]}, "x", complete=False)

    assert complete.refuses("docx", "png")
    assert not partial.refuses("docx", "png")
    assert not complete.refuses("docx", "pdf")


def test_a_string_of_targets_is_refused_as_a_table() -> None:
    with pytest.raises(TypeError, match="list of formats"):
        asyncjobs.Formats({"docx": "pdf"})


def test_formats_lists_who_converts_what() -> None:
    found = {(c.source, c.target): c.providers for c in asyncjobs.formats(target="pdf")}

    assert "convertapi" in found[("docx", "pdf")]
    assert "groupdocs" in found[("docx", "pdf")]
    assert all(target == "pdf" for _, target in found)


def test_formats_refuses_what_is_not_a_format_name() -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        asyncjobs.formats(source="docx; DROP TABLE jobs")

    assert caught.value.parameter == "source"


class _StrictConvertAPI(ConvertAPIProvider):
    """ConvertAPI as if its list were complete and had docx to pdf only."""

    name = "strictconvert"

    @classmethod
    @functools.cache
    def formats(cls) -> asyncjobs.Formats:
        return asyncjobs.Formats({"docx": ["pdf"]}, "a test: docx to pdf only")


@pytest.fixture
def strict(convertapi_box: Sandbox, tmp_path: Path) -> Iterator[asyncjobs.Client]:
    asyncjobs.register("strictconvert", _StrictConvertAPI)
    try:
        settings = convertapi_box.app.client_settings(convertapi_box.url)
        with asyncjobs.connect(
            "strictconvert", ledger=tmp_path / "l.sqlite3", **settings
        ) as client:
            yield client
    finally:
        unregister("strictconvert")


def test_a_conversion_outside_a_complete_list_is_refused_before_any_request(
    strict: asyncjobs.Client, convertapi_box: Sandbox, tmp_path: Path
) -> None:
    source = tmp_path / "report.docx"
    source.write_bytes(b"x")
    before = convertapi_box.app.faults.seen

    with pytest.raises(errors.NotSupportedError) as caught:
        strict.submit("convert", source=source, to="png")

    assert "strictconvert does not convert docx to png" in str(caught.value)
    assert "convertapi" in str(caught.value)  # who offers it
    assert convertapi_box.app.faults.seen == before
    assert strict.ledger is not None
    assert list(strict.ledger.entries()) == []


# -- the ledger ---------------------------------------------------------------------------------


def _look(job_id: str, cost: asyncjobs.Cost | None, *, provider: str = "p") -> asyncjobs.JobInfo:
    return asyncjobs.JobInfo(provider, job_id, "convert", "done", cost=cost)


def test_the_ledger_keeps_a_jobs_cost(ledger: Ledger) -> None:
    ledger.seen(_look("j1", asyncjobs.Cost(3, "credits")))

    entry = ledger.get("p", "j1")

    assert entry is not None
    assert entry.info is not None
    assert entry.info.cost == asyncjobs.Cost(3, "credits")


def test_a_look_without_a_cost_keeps_the_one_known(ledger: Ledger) -> None:
    ledger.seen(_look("j1", asyncjobs.Cost(3, "credits")))
    ledger.seen(attrs_evolve(_look("j1", None), raw_status="later"))

    entry = ledger.get("p", "j1")

    assert entry is not None
    assert entry.info is not None
    assert entry.info.cost == asyncjobs.Cost(3, "credits")


def attrs_evolve(info: asyncjobs.JobInfo, **changes: Any) -> asyncjobs.JobInfo:
    import attrs

    return attrs.evolve(info, **changes)


def test_usage_sums_per_unit_and_counts_jobs_without_a_cost(ledger: Ledger) -> None:
    ledger.seen(_look("a", asyncjobs.Cost(2, "credits"), provider="zamzar"))
    ledger.seen(_look("b", asyncjobs.Cost(5, "credits"), provider="zamzar"))
    ledger.seen(_look("c", asyncjobs.Cost(1, "conversions"), provider="convertapi"))
    ledger.seen(_look("d", None, provider="groupdocs"))

    rows = [(r.group, r.unit, r.amount, r.jobs) for r in ledger.usage(by="provider")]

    assert rows == [
        ("convertapi", "conversions", 1.0, 1),
        ("groupdocs", None, None, 1),
        ("zamzar", "credits", 7.0, 2),
    ]


def test_usage_by_day_and_since(ledger: Ledger) -> None:
    ledger.seen(_look("a", asyncjobs.Cost(2, "credits")))
    today = datetime.now(timezone.utc).date().isoformat()

    assert [(r.group, r.amount) for r in ledger.usage(by="day")] == [(today, 2.0)]
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert ledger.usage(since=later) == []


def test_usage_refuses_an_unknown_grouping(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="provider, kind, day"):
        ledger.usage(by="jobs; DROP TABLE jobs")


def test_a_version_3_ledger_gains_cost_source_and_attempts_empty_on_its_rows(
    backend: str, ledger_target: str, raw_ledger: Raw
) -> None:
    raw_ledger.build(3)
    raw_ledger.run(
        [
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, status, created_at,"
            " updated_at) VALUES ('k', 'toy', 't1', 'upper', '{}', 'submitted', 'done', 1, 2)"
        ]
    )

    with Ledger(ledger_target) as ledger:
        entry = ledger.get("toy", "t1")

    assert raw_ledger.version() == SCHEMA_VERSION
    assert entry is not None
    assert entry.info is not None
    assert entry.info.cost is None
    assert entry.source is None
    assert entry.attempts == ()


def test_a_dialect_that_names_no_number_type_is_an_error_not_a_missing_column() -> None:
    from asyncjobs.ledger import ColumnType, Dialect

    partial = Dialect("partial", {ColumnType.TEXT: "TEXT", ColumnType.TIME: "REAL"})

    with pytest.raises(TypeError, match="names no number type"):
        partial.render_step(MIGRATIONS[3])
