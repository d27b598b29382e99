"""The W3C ``traceparent`` of a submit, kept with its job in the ledger (schema version 5) so that a
poll in another process, a fleet worker or a webhook receiver can link its spans to the submitter's
trace: what is kept and what is not (both backends), and the schema step that added it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ledger_support import Raw

import asyncjobs
from asyncjobs._ledger import SCHEMA_VERSION, Ledger, LedgerEntry
from asyncjobs._ledger._rows import traceparent_or_none

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

#: What is not a well-formed traceparent, each kept as None.
MALFORMED: list[Any] = [
    pytest.param("", id="empty"),
    pytest.param(f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01", id="trace-id-too-short"),
    pytest.param(f"00-{TRACE_ID}0-{PARENT_ID}-01", id="trace-id-too-long"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID[:-1]}-01", id="parent-id-too-short"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID}-1", id="flags-too-short"),
    pytest.param(f"0-{TRACE_ID}-{PARENT_ID}-01", id="version-too-short"),
    pytest.param(f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", id="uppercase-trace-id"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID.upper()}-01", id="uppercase-parent-id"),
    pytest.param(f"0A-{TRACE_ID}-{PARENT_ID}-01", id="uppercase-version"),
    pytest.param(f"00-{'0' * 32}-{PARENT_ID}-01", id="all-zero-trace-id"),
    pytest.param(f"00-{TRACE_ID}-{'0' * 16}-01", id="all-zero-parent-id"),
    pytest.param(f"ff-{TRACE_ID}-{PARENT_ID}-01", id="version-ff-forbidden"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID}-01-extra", id="version-00-with-more-fields"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID}-01\n", id="trailing-newline"),
    pytest.param(f" {TRACEPARENT}", id="leading-space"),
    pytest.param(f"00_{TRACE_ID}_{PARENT_ID}_01", id="other-separators"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID}-0\x00", id="nul"),
    pytest.param(f"00-{TRACE_ID}-{PARENT_ID}-\uff10\uff11", id="fullwidth-digits"),
    pytest.param("'; DROP TABLE jobs;--", id="sql"),
    pytest.param(TRACEPARENT.encode(), id="bytes"),
    pytest.param(1, id="int"),
    pytest.param({"traceparent": TRACEPARENT}, id="mapping"),
]


def _done(job_id: str = "j1") -> asyncjobs.JobInfo:
    return asyncjobs.JobInfo("p", job_id, "convert", "done")


# -- what the ledger keeps (both backends) --------------------------------------------------------

READERS: dict[str, Callable[[Ledger], list[LedgerEntry]]] = {
    "get": lambda ledger: [e for e in [ledger.get("p", "j1")] if e is not None],
    "find": lambda ledger: ledger.find("j1"),
    "entries": lambda ledger: ledger.entries(),
    "iter_entries": lambda ledger: list(ledger.iter_entries(limit=1)),
}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_a_traceparent_given_to_begin_is_on_the_entry_read_back(
    ledger: Ledger, read: Callable[[Ledger], list[LedgerEntry]]
) -> None:
    ledger.issued(ledger.begin("p", "convert", {}, traceparent=TRACEPARENT), _done())

    assert [e.traceparent for e in read(ledger)] == [TRACEPARENT]


def test_a_traceparent_is_on_the_entry_while_its_submit_is_in_flight(ledger: Ledger) -> None:
    ledger.begin("p", "convert", {}, traceparent=TRACEPARENT)

    assert [(e.job_id, e.traceparent) for e in ledger.entries()] == [(None, TRACEPARENT)]


def test_later_looks_at_the_job_keep_its_traceparent(ledger: Ledger) -> None:
    ledger.issued(
        ledger.begin("p", "convert", {}, traceparent=TRACEPARENT),
        asyncjobs.JobInfo("p", "j1", "convert", "pending"),
    )
    ledger.seen(_done())

    entry = ledger.get("p", "j1")

    assert entry is not None
    assert entry.info is not None
    assert entry.info.status is asyncjobs.Status.DONE
    assert entry.traceparent == TRACEPARENT


def test_a_submit_without_a_traceparent_keeps_none(ledger: Ledger) -> None:
    ledger.issued(ledger.begin("p", "convert", {}), _done())

    entry = ledger.get("p", "j1")

    assert entry is not None
    assert entry.traceparent is None


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_traceparent_is_kept_as_none_and_the_submit_recorded(
    ledger: Ledger, raw_ledger: Raw, value: Any
) -> None:
    ledger.issued(ledger.begin("p", "convert", {}, traceparent=value), _done())

    entry = ledger.get("p", "j1")

    assert entry is not None
    assert entry.traceparent is None
    assert raw_ledger.run(["SELECT count(*) FROM jobs WHERE traceparent IS NULL"]) == [(1,)]


def test_a_malformed_traceparent_written_behind_the_ledgers_back_reads_as_none(
    ledger: Ledger, raw_ledger: Raw
) -> None:
    ledger.issued(ledger.begin("p", "convert", {}, traceparent=TRACEPARENT), _done())
    raw_ledger.run(["UPDATE jobs SET traceparent = 'not a traceparent'"])

    entry = ledger.get("p", "j1")

    assert entry is not None
    assert entry.traceparent is None


# -- what a traceparent is -------------------------------------------------------------------------


@pytest.mark.parametrize("value", MALFORMED)
def test_what_is_not_a_well_formed_traceparent_is_none(value: Any) -> None:
    assert traceparent_or_none(value) is None


@pytest.mark.parametrize("flags", ["00", "01", "03", "ff"])
def test_a_version_00_traceparent_is_kept_as_it_is(flags: str) -> None:
    value = f"00-{TRACE_ID}-{PARENT_ID}-{flags}"

    assert traceparent_or_none(value) == value


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        pytest.param(f"01-{TRACE_ID}-{PARENT_ID}-01", TRACEPARENT, id="sampled"),
        pytest.param(f"01-{TRACE_ID}-{PARENT_ID}-00", TRACEPARENT[:-2] + "00", id="not-sampled"),
        pytest.param(f"cc-{TRACE_ID}-{PARENT_ID}-03-what-v204-adds", TRACEPARENT, id="more-fields"),
        pytest.param(f"fe-{TRACE_ID}-{PARENT_ID}-fe", TRACEPARENT[:-2] + "00", id="version-fe"),
    ],
)
def test_a_later_version_is_kept_as_the_version_00_value_of_its_known_fields(
    value: str, kept: str
) -> None:
    # W3C Trace Context, "Versioning of traceparent": a higher version is parsed for its trace-id,
    # parent-id and the sampled bit of its flags, nothing of its unknown fields is assumed, and the
    # value is made again in the highest version known (00)
    assert traceparent_or_none(value) == kept


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"01-{TRACE_ID}-{PARENT_ID}-0", id="shorter-than-55"),
        pytest.param(f"01-{TRACE_ID}-{PARENT_ID}-01x", id="flags-not-followed-by-a-dash"),
        pytest.param(f"01-{TRACE_ID}-{'0' * 16}-01-x", id="all-zero-parent-id"),
    ],
)
def test_a_later_version_that_does_not_read_as_version_00_is_none(value: str) -> None:
    assert traceparent_or_none(value) is None


_KEPT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@given(st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.floats()))
def test_anything_is_either_a_version_00_traceparent_or_none_never_an_error(value: Any) -> None:
    kept = traceparent_or_none(value)

    assert kept is None or _KEPT.fullmatch(kept)


# -- the schema step ---------------------------------------------------------------------------------


def test_a_version_4_ledger_gains_the_traceparent_column_none_on_its_rows(
    backend: str, ledger_target: str, raw_ledger: Raw
) -> None:
    raw_ledger.build(4)
    raw_ledger.run(
        [
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, status, created_at,"
            " updated_at, source) VALUES ('k', 'toy', 't1', 'upper', '{}', 'submitted', 'done', 1,"
            " 2, '/in/a.docx')"
        ]
    )

    with Ledger(ledger_target) as ledger:
        entry = ledger.get("toy", "t1")

    assert raw_ledger.version() == SCHEMA_VERSION
    assert "traceparent" in [c[0] for c in raw_ledger.columns()["jobs"]]
    assert entry is not None
    assert entry.source == "/in/a.docx"
    assert entry.traceparent is None
