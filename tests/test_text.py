"""How values read, written once: durations, times, sizes, job-table cells; and when a job expires."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncjobs import JobInfo
from asyncjobs._models import expired, expiry
from asyncjobs._text import duration_text, job_cells, size_text, text_table, when_text

WHEN = datetime(2026, 11, 24, 9, 30, 5, 123456, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=7), "7 days"),
        (timedelta(days=2), "2 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=36), "1 day 12 hours"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=90), "1 hour 30 minutes"),
        (timedelta(seconds=61), "1 minute 1 second"),
        (timedelta(seconds=1.4), "1 second"),
        (timedelta(seconds=0.5), "0.5 seconds"),
        (timedelta(0), "0 seconds"),
    ],
)
def test_a_duration_reads_as_people_write_it(value: timedelta, text: str) -> None:
    assert duration_text(value) == text


@given(st.integers(min_value=1, max_value=10**9))
def test_a_durations_parts_add_up_to_it_largest_first(seconds: int) -> None:
    sizes = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
    words = duration_text(timedelta(seconds=seconds)).split()
    counts = [int(n) for n in words[::2]]
    units = [u.removesuffix("s") for u in words[1::2]]
    assert sum(n * sizes[u] for n, u in zip(counts, units, strict=True)) == seconds
    assert units == sorted(units, key=lambda u: -sizes[u])
    assert all(n > 0 for n in counts)


@pytest.mark.parametrize(
    ("value", "zone", "text"),
    [
        (WHEN, False, "2026-11-24 09:30:05"),
        (WHEN, True, "2026-11-24 09:30:05 UTC"),
        (WHEN.astimezone(timezone(timedelta(hours=2))), True, "2026-11-24 09:30:05 UTC"),
        (WHEN.isoformat(), False, "2026-11-24 09:30:05"),
        ("2026-11-24T11:30:05+02:00", False, "2026-11-24 09:30:05"),
        (None, True, ""),
    ],
)
def test_a_time_reads_in_utc_to_the_second(
    value: datetime | str | None, zone: bool, text: str
) -> None:
    assert when_text(value, zone=zone) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "?"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")],
)
def test_a_size_reads_in_binary_units(size: int | None, text: str) -> None:
    assert size_text(size) == text


RECORD: dict[str, Any] = {
    "provider": "toy",
    "id": "t1",
    "kind": "upper",
    "status": "done",
    "raw_status": None,
    "submitted_at": WHEN,
    "completed_at": None,
    "expires_at": WHEN.isoformat(),
    "expired": True,
    "error": "x" * 100,
    "polled_by": None,
}


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("provider", "toy"),
        ("raw_status", ""),
        ("submitted_at", "2026-11-24 09:30:05"),
        ("completed_at", ""),
        ("expires_at", "2026-11-24 09:30:05"),
        ("expired", "EXPIRED"),
        ("error", "x" * 60),
        ("polled_by", ""),
    ],
)
def test_a_job_tables_cells_are_written_from_the_record(column: str, cell: str) -> None:
    assert job_cells(RECORD, [column]) == [cell]


@pytest.mark.parametrize(
    ("columns", "status"),
    [(["status", "expired"], "done"), (["status"], "done (expired)")],
)
def test_a_table_without_the_expired_column_says_it_in_the_status(
    columns: list[str], status: str
) -> None:
    assert job_cells(RECORD, columns)[0] == status


def test_a_status_never_seen_reads_unknown() -> None:
    assert job_cells({**RECORD, "status": None, "expired": False}, ["status"]) == ["unknown"]


def test_a_text_table_pads_columns_two_spaces_apart() -> None:
    assert text_table([["a", "bb"], ["ccc", "d"]]) == "a    bb\nccc  d"


# -- expiry ------------------------------------------------------------------------------------------


def _info(**times: datetime | None) -> JobInfo:
    return JobInfo("toy", "t1", "upper", "done", **times)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("info", "lifetime", "since", "expected"),
    [
        (_info(expires_at=WHEN), HOUR, None, WHEN),  # the service's word wins
        (_info(expires_at=WHEN), None, None, WHEN),
        (_info(completed_at=WHEN), HOUR, None, WHEN + HOUR),
        (_info(completed_at=WHEN), HOUR, WHEN + HOUR, WHEN + HOUR),  # completed_at before since
        (_info(), HOUR, WHEN, WHEN + HOUR),  # an estimate from when it was seen
        (None, HOUR, WHEN, WHEN + HOUR),
        (_info(), HOUR, None, None),
        (_info(completed_at=WHEN), None, None, None),  # no lifetime known
        (_info(completed_at=WHEN), timedelta.max, None, None),  # past the calendar
    ],
)
def test_a_job_expires_its_providers_lifetime_after_it_finished(
    info: JobInfo | None,
    lifetime: timedelta | None,
    since: datetime | None,
    expected: datetime | None,
) -> None:
    assert expiry(info, lifetime, since=since) == expected


@pytest.mark.parametrize(
    ("expires_at", "now", "gone"),
    [
        (WHEN, WHEN - timedelta(seconds=1), False),
        (WHEN, WHEN, True),
        (WHEN, WHEN + timedelta(seconds=1), True),
        (None, WHEN, False),
    ],
)
def test_a_job_is_expired_from_its_expiry_on(
    expires_at: datetime | None, now: datetime, gone: bool
) -> None:
    assert expired(expires_at, now) is gone


def test_expired_defaults_to_now() -> None:
    now = datetime.now(timezone.utc)
    assert expired(now - HOUR) is True
    assert expired(now + HOUR) is False
