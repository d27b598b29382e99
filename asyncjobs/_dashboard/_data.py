"""What the dashboard shows, read from the ledger: the filters a page is asked for (checked, with a
clear error), a page of jobs, a job, each provider's summary and the fleet. Nothing here renders
HTML; every value is handed to the templates as data, and escaped there."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from asyncjobs._ledger import Ledger, LedgerEntry
from asyncjobs._models import Status
from asyncjobs._text import duration_text, printable

__all__ = [
    "MAX_PAGE",
    "BadQuery",
    "Filters",
    "JobRow",
    "ProviderSummary",
    "job_row",
    "jobs_page",
    "provider_summaries",
    "row_data",
]

#: Rows a page shows at most.
MAX_PAGE = 200
#: The longest filter value taken (a provider, a kind, a search).
_MAX_TEXT = 200
_SORTS = ("newest", "oldest")
_SINCE = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}


class BadQuery(ValueError):
    """A page was asked for with a query parameter it cannot take; the message names it and says
    what it takes."""


@attrs.frozen
class Filters:
    """The filters of the jobs page, as its query parameters name them."""

    provider: str | None = None
    status: str | None = None
    kind: str | None = None
    since: str | None = None
    q: str | None = None
    sort: str = "newest"
    before: int | None = None
    after: int | None = None
    limit: int = 50

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Filters:
        """The filters of a query (``?status=failed&provider=convertapi``).

        Raises:
            BadQuery: a parameter is unknown or has a value it cannot take.
        """
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(args) - known)
        if unknown:
            raise BadQuery(
                f"unknown query parameter {unknown[0]!r}; the jobs page takes "
                + ", ".join(sorted(known))
            )
        values: dict[str, Any] = {}
        for name in ("provider", "kind", "q"):
            value = args.get(name, "").strip()
            if len(value) > _MAX_TEXT:
                raise BadQuery(f"{name} is longer than {_MAX_TEXT} characters")
            if value:
                values[name] = value
        status = args.get("status", "").strip()
        if status:
            if status not in {s.value for s in Status}:
                raise BadQuery(f"status must be pending, done or failed, not {status!r}")
            values["status"] = status
        sort = args.get("sort", "").strip()
        if sort:
            if sort not in _SORTS:
                raise BadQuery(f"sort must be newest or oldest, not {sort!r}")
            values["sort"] = sort
        since = args.get("since", "").strip()
        if since:
            if since not in _SINCE:
                raise BadQuery(f"since must be one of {', '.join(_SINCE)}, not {since!r}")
            values["since"] = since
        for name, low, high in (("before", 1, 2**62), ("after", 0, 2**62), ("limit", 1, MAX_PAGE)):
            text = args.get(name, "").strip()
            if not text:
                continue
            if not text.isdigit() or not low <= int(text) <= high:
                raise BadQuery(f"{name} must be a whole number from {low} to {high}, not {text!r}")
            values[name] = int(text)
        return cls(**values)

    def since_time(self, now: datetime | None = None) -> datetime | None:
        """The time ``since`` means, or ``None``."""
        if self.since is None:
            return None
        return (now or datetime.now(timezone.utc)) - _SINCE[self.since]

    def query(self, **changes: Any) -> dict[str, str]:
        """The query parameters of these filters (with ``changes``), for links."""
        values = {**attrs.asdict(self), **changes}
        if values.get("limit") == 50:
            values["limit"] = None
        if values.get("sort") == "newest":
            values["sort"] = None
        return {k: str(v) for k, v in values.items() if v is not None}


@attrs.frozen
class JobRow:
    """One job as a page shows it: every value plain text, escaped where it is shown."""

    place: int
    key: str
    provider: str
    job_id: str | None
    kind: str
    status: str
    raw_status: str
    state: str
    created: str
    updated: str
    duration: str
    cost: str
    error: str


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def job_row(place: int, entry: LedgerEntry) -> JobRow:
    """The row of ``entry`` (at the ledger's place ``place``)."""
    info = entry.info
    duration = ""
    cost = ""
    if info is not None:
        start = info.submitted_at
        end = info.completed_at
        if start is not None and end is not None:
            duration = duration_text(max(timedelta(0), end - start))
        if info.cost is not None:
            cost = f"{info.cost.amount:g} {info.cost.unit}"
    error = entry.error or (info.error if info is not None else None) or ""
    return JobRow(
        place=place,
        key=entry.key,
        provider=printable(entry.provider),
        job_id=None if entry.job_id is None else printable(entry.job_id),
        kind=printable(entry.kind),
        status=info.status.value if info is not None else "unknown",
        raw_status=printable(info.raw_status or "") if info is not None else entry.state,
        state=entry.state,
        created=_when(entry.created_at),
        updated=_when(entry.updated_at),
        duration=duration,
        cost=cost,
        error=printable(error)[:300],
    )


def row_data(row: JobRow) -> dict[str, Any]:
    """A row as the JSON API gives it."""
    return attrs.asdict(row)


@attrs.frozen
class JobsPage:
    """A page of jobs: its rows (in the order asked for), the query of the next page (``None``
    on the last), and the newest place shown (new jobs come after it)."""

    rows: tuple[JobRow, ...]
    next_query: Mapping[str, str] | None
    newest: int


def jobs_page(ledger: Ledger, filters: Filters, *, after: int | None = None) -> JobsPage:
    """The page of jobs the filters ask for (``after``: only those recorded after that place,
    newest first: what came since a page was shown)."""
    oldest = filters.sort == "oldest" and after is None
    found = ledger.page(
        provider=filters.provider,
        status=filters.status,
        kind=filters.kind,
        since=filters.since_time(),
        search=filters.q,
        before=filters.before,
        after=filters.after if after is None else after,
        limit=filters.limit + 1,
        oldest=oldest,
    )
    more = len(found) > filters.limit
    found = found[: filters.limit]
    rows = tuple(job_row(place, entry) for place, entry in found)
    newest = max((r.place for r in rows), default=after or 0)
    following = None
    if more and rows:
        cursor: dict[str, Any] = {"before": None, "after": None}
        cursor["after" if oldest else "before"] = rows[-1].place
        following = filters.query(**cursor)
    return JobsPage(rows, following, newest)


@attrs.frozen
class ProviderSummary:
    """One provider's jobs in numbers (``durations``: those of its last finished jobs, in
    seconds, shortest first: what the chart of their spread is drawn from)."""

    provider: str
    counts: Mapping[str, int]
    total: int
    failure_rate: str
    p50: str
    p95: str
    polls: str
    retries: str
    cost: str
    durations: tuple[float, ...] = ()


def _percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, math.ceil(share * len(sorted_values)) - 1))
    return sorted_values[index]


def provider_summaries(ledger: Ledger) -> list[ProviderSummary]:
    """Every provider in the ledger: jobs by status, failure rate, durations (p50/p95 of its last
    finished jobs), status requests and requests sent again per finished job (as counted: a
    floor), and cost (summed per unit)."""
    counts = ledger.status_counts()
    polled = ledger.poll_counts()
    costs: dict[str, list[str]] = {}
    for usage in ledger.usage(by="provider"):
        if usage.unit is not None and usage.amount is not None:
            costs.setdefault(usage.group, []).append(f"{usage.amount:g} {usage.unit}")
    out = []
    for provider in sorted(counts):
        by_status = counts[provider]
        finished = by_status.get("done", 0) + by_status.get("failed", 0)
        durations = sorted(ledger.durations(provider))
        p50 = p95 = ""
        if durations:
            p50 = duration_text(timedelta(seconds=_percentile(durations, 0.5)))
            p95 = duration_text(timedelta(seconds=_percentile(durations, 0.95)))
        out.append(
            ProviderSummary(
                provider=printable(provider),
                counts=by_status,
                total=sum(by_status.values()),
                failure_rate=f"{by_status.get('failed', 0) / finished:.1%}" if finished else "",
                p50=p50,
                p95=p95,
                polls=f"{polled[provider][0]:.1f}" if provider in polled else "",
                retries=f"{polled[provider][1]:.2f}" if provider in polled else "",
                cost=", ".join(costs.get(provider, [])),
                durations=tuple(durations),
            )
        )
    return out


def details_text(entry: LedgerEntry) -> str:
    """What the provider said of the job beyond its status (its ``meta``: codes, progress,
    request ids) as indented JSON, or ``""``."""
    if entry.info is None or not entry.info.meta:
        return ""
    return printable(json.dumps(dict(entry.info.meta), indent=2, default=str, ensure_ascii=False))


def params_text(entry: LedgerEntry) -> str:
    """A job's recorded parameters (no secrets are recorded) as indented JSON."""
    return printable(json.dumps(dict(entry.params), indent=2, default=str, ensure_ascii=False))
