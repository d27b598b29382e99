"""Text and HTML views of jobs, job infos and results (for terminals and notebooks)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._models import JobInfo, Result, Status
from ._serialize import job_record

if TYPE_CHECKING:
    from ._job import Job

__all__ = ["expires_at", "info_html", "jobs_html", "jobs_text", "record", "result_html"]

_COLOURS = {Status.PENDING: "#b58900", Status.DONE: "#2e7d32", Status.FAILED: "#c62828"}
_COLUMNS = (
    "provider",
    "id",
    "kind",
    "status",
    "raw_status",
    "submitted_at",
    "completed_at",
    "error",
)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def expires_at(provider: str, info: JobInfo | None) -> datetime | None:
    """When the provider forgets the job, as the JobInfo says (the client fills ``expires_at``
    from the provider's job lifetime when the service does not say it)."""
    return None if info is None else info.expires_at


def record(job: Job) -> dict[str, Any]:
    """A plain dict of a job's last known state, with whether the provider has forgotten it (the
    one record, see :func:`asyncjobs._serialize.job_record`)."""
    return job_record(job.provider, job.id, job.kind, job.info)


def _cells(job: Job) -> list[str]:
    r = record(job)
    status = r["status"] or "unknown"
    return [
        r["provider"],
        r["id"],
        r["kind"] or "",
        f"{status} (expired)" if r["expired"] else status,
        r["raw_status"] or "",
        _when(r["submitted_at"]),
        _when(r["completed_at"]),
        (r["error"] or "")[:60],
    ]


def jobs_text(jobs: Sequence[Job]) -> str:
    """A fixed-width table of jobs."""
    if not jobs:
        return "JobList([])"
    rows = [list(_COLUMNS)] + [_cells(j) for j in jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _badge(status: Status | None) -> str:
    if status is None:
        return "<span>unknown</span>"
    colour = _COLOURS[status]
    return f'<span style="color:{colour};font-weight:bold">&#9679; {status.value}</span>'


def jobs_html(jobs: Sequence[Job]) -> str:
    """An HTML table of jobs, status in colour and words."""
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = []
    for j in jobs:
        cells = [html.escape(c) for c in _cells(j)]
        cells[3] = _badge(j.info.status if j.info else None) + (
            " <em>(expired)</em>" if cells[3].endswith("(expired)") else ""
        )
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def info_html(info: JobInfo) -> str:
    """An HTML summary of one JobInfo."""
    rows = [
        ("provider", html.escape(info.provider)),
        ("id", html.escape(info.id)),
        ("kind", html.escape(info.kind)),
        ("status", _badge(info.status)),
        ("raw status", html.escape(str(info.raw_status))),
        ("submitted", _when(info.submitted_at)),
        ("started", _when(info.started_at)),
        ("completed", _when(info.completed_at)),
        ("expires", _when(info.expires_at)),
        ("error", html.escape(info.error or "")),
    ]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def result_html(result: Result) -> str:
    """An HTML table of a result's files with their sizes."""
    rows = "".join(
        f"<tr><td>{html.escape(f.name)}</td><td>{_size(f.size)}</td>"
        f"<td>{html.escape(f.media_type or '')}</td></tr>"
        for f in result.files
    )
    return f"<table><thead><tr><th>file</th><th>size</th><th>type</th></tr></thead>{rows}</table>"
