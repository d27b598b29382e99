"""How values read, written once for every view: durations, times, sizes, the columns of a job
table, and the models' notebook HTML. A leaf: it imports no other asyncjobs module at run time, so
that the models can render themselves without importing anything above them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import JobInfo
    from ._results import Result

__all__ = [
    "FIRST_COLUMNS",
    "JOB_COLUMNS",
    "badge",
    "duration_text",
    "info_html",
    "job_cells",
    "printable",
    "result_html",
    "size_text",
    "text_table",
    "when_text",
]

#: The bidirectional overrides, embeddings, isolates and marks (U+202A-U+202E, U+2066-U+2069,
#: U+200E, U+200F): they make text read in another order than it is (``invoice\u202efdp.exe``
#: shows as ``invoiceexe.pdf``).
BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F))


def is_control(c: str) -> bool:
    """Whether ``c`` is a control character: C0 (ESC starts a terminal's CSI and OSC sequences,
    BEL rings), DEL, or C1 (0x9B is an 8-bit CSI)."""
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F


def _unsafe(c: str) -> bool:
    return (is_control(c) and c not in "\n\t") or c in BIDI


def printable(text: str) -> str:
    """``text`` safe to print in a terminal: every control character and bidirectional override
    shown as an escape (``\\x1b``, ``\\u202e``) instead of acting on the terminal; line feeds and
    tabs kept."""
    if not any(_unsafe(c) for c in text):
        return text
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) <= 0xFF else f"\\u{ord(c):04x}") if _unsafe(c) else c
        for c in text
    )


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_text(value: timedelta) -> str:
    """A duration as people write it: ``7 days``, ``1 hour 30 minutes``, ``45 seconds``,
    ``0.5 seconds`` (whole seconds from one second on)."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds:g} seconds"
    parts = []
    rest = round(seconds)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts)


def when_text(value: datetime | str | None, *, zone: bool = False) -> str:
    """A time as tables show it, in UTC to the second: ``2026-11-24 09:30:05`` (``... UTC`` with
    ``zone``); empty for ``None``. An ISO 8601 string (a JSON-ready record's) is read first."""
    if value is None or value == "":
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    text = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} UTC" if zone else text


def size_text(n: int | None) -> str:
    """A size in bytes as people read it: ``512 B``, ``1.5 KiB``, ``5.0 GiB``; ``?`` when unknown."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


# -- job tables --------------------------------------------------------------------------------------

#: The longest part of a job's error shown in a table cell.
ERROR_CELL = 60


def _status_cell(record: Mapping[str, Any], columns: Sequence[str], zone: bool) -> str:
    status = record.get("status") or "unknown"
    # a table without the expired column says it in the status
    return f"{status} (expired)" if record.get("expired") and "expired" not in columns else status


def _time_cell(name: str) -> Callable[[Mapping[str, Any], Sequence[str], bool], str]:
    return lambda record, columns, zone: when_text(record.get(name), zone=zone)


def _plain_cell(name: str) -> Callable[[Mapping[str, Any], Sequence[str], bool], str]:
    return lambda record, columns, zone: str(record.get(name) or "")


#: Every column a job table may show, in the order tables show them, and how its cell is written
#: from a job's record (``asyncjobs._serialize.job_record``, with datetimes or their ISO text).
#: The columns every table of jobs begins with (a terminal, a notebook, ``asyncjobs list``); each
#: table adds its own after them.
FIRST_COLUMNS = ("provider", "id", "kind", "status", "raw_status", "submitted_at")

JOB_COLUMNS: Mapping[str, Callable[[Mapping[str, Any], Sequence[str], bool], str]] = {
    "provider": _plain_cell("provider"),
    "id": _plain_cell("id"),
    "kind": _plain_cell("kind"),
    "status": _status_cell,
    "raw_status": _plain_cell("raw_status"),
    "submitted_at": _time_cell("submitted_at"),
    "started_at": _time_cell("started_at"),
    "completed_at": _time_cell("completed_at"),
    "expires_at": _time_cell("expires_at"),
    "expired": lambda record, columns, zone: "EXPIRED" if record.get("expired") else "",
    "error": lambda record, columns, zone: str(record.get("error") or "")[:ERROR_CELL],
    "polled_by": _plain_cell("polled_by"),
    "cost": lambda record, columns, zone: _cost_cell(record),
}


def _cost_cell(record: Mapping[str, Any]) -> str:
    amount, unit = record.get("cost"), record.get("cost_unit")
    if amount is None or not unit:
        return ""
    number = int(amount) if float(amount).is_integer() else amount
    return printable(f"{number} {unit}")


def job_cells(
    record: Mapping[str, Any], columns: Sequence[str], *, zone: bool = False
) -> list[str]:
    """The cells of one job's row under ``columns`` (names of :data:`JOB_COLUMNS`); times say
    ``UTC`` with ``zone``."""
    return [JOB_COLUMNS[name](record, columns, zone) for name in columns]


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells (the first the header) as a fixed-width table, columns two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


# -- the models' notebook HTML -----------------------------------------------------------------------

_COLOURS = {"pending": "#b58900", "done": "#2e7d32", "failed": "#c62828"}


def badge(status: str | None) -> str:
    """A status in colour and words, as HTML (``status`` is a :class:`~asyncjobs.Status` or its
    value)."""
    import html  # here: only notebooks render HTML

    if status is None:
        return "<span>unknown</span>"
    value = str(status)
    colour = _COLOURS[value]
    return f'<span style="color:{colour};font-weight:bold">&#9679; {html.escape(value)}</span>'


def info_html(info: JobInfo) -> str:
    """An HTML summary of one JobInfo (its ``_repr_html_``)."""
    import html  # here: only notebooks render HTML

    rows = [
        ("provider", html.escape(info.provider)),
        ("id", html.escape(info.id)),
        ("kind", html.escape(info.kind)),
        ("status", badge(info.status)),
        ("raw status", html.escape(str(info.raw_status))),
        ("submitted", when_text(info.submitted_at, zone=True)),
        ("started", when_text(info.started_at, zone=True)),
        ("completed", when_text(info.completed_at, zone=True)),
        ("expires", when_text(info.expires_at, zone=True)),
        ("error", html.escape(info.error or "")),
    ]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def result_html(result: Result) -> str:
    """An HTML table of a result's files with their sizes (its ``_repr_html_``)."""
    import html  # here: only notebooks render HTML

    rows = "".join(
        f"<tr><td>{html.escape(f.name)}</td><td>{size_text(f.size)}</td>"
        f"<td>{html.escape(f.media_type or '')}</td></tr>"
        for f in result.files
    )
    return f"<table><thead><tr><th>file</th><th>size</th><th>type</th></tr></thead>{rows}</table>"
