"""Text and HTML tables of jobs (a :class:`~asyncjobs.JobList`'s ``repr`` and ``_repr_html_``),
from each job's record; the cells and the models' own HTML are :mod:`asyncjobs._text`'s."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._serialize import job_record
from ._text import FIRST_COLUMNS, badge, job_cells, text_table

if TYPE_CHECKING:
    from ._job import Job

__all__ = ["COLUMNS", "jobs_html", "jobs_text", "record"]

#: The columns of a job table in a terminal or a notebook (a job past its provider's lifetime says
#: ``(expired)`` in its status).
COLUMNS = (*FIRST_COLUMNS, "completed_at", "cost", "error")
_STATUS = COLUMNS.index("status")


def record(job: Job) -> dict[str, Any]:
    """A plain dict of a job's last known state, with whether the provider has forgotten it (the
    one record, see :func:`asyncjobs._serialize.job_record`)."""
    return job_record(job.provider, job.id, job.kind, job.info)


def _cells(job: Job) -> list[str]:
    return job_cells(record(job), COLUMNS, zone=True)


def jobs_text(jobs: Sequence[Job]) -> str:
    """A fixed-width table of jobs."""
    if not jobs:
        return "JobList([])"
    return text_table([list(COLUMNS)] + [_cells(j) for j in jobs])


def jobs_html(jobs: Sequence[Job]) -> str:
    """An HTML table of jobs, status in colour and words."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = []
    for j in jobs:
        cells = [html.escape(c) for c in _cells(j)]
        cells[_STATUS] = badge(j.info.status if j.info else None) + (
            " <em>(expired)</em>" if cells[_STATUS].endswith("(expired)") else ""
        )
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
