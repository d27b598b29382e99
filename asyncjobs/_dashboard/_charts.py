"""Charts drawn on the server as SVG: no script, no request outside the page's origin. Every label
is escaped here (the SVG is inserted into the page as markup)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

__all__ = ["duration_histogram", "jobs_over_time"]

_W, _H, _PAD = 640, 160, 24


#: The charts' colours, as presentation attributes: an SVG shown as an image does not see the
#: page's style sheet, and the Content-Security-Policy allows no inline <style>.
_FILL = {"started": "#33507a", "ended": "#9db4d6", "duration": "#33507a"}
_TEXT = 'font-size="11" font-family="sans-serif" fill="#555"'


def _svg(body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H + _PAD}" role="img"'
        f' class="chart"><title>{html.escape(title)}</title>{body}</svg>'
    )


def jobs_over_time(
    jobs: Sequence[tuple[float, float | None, str | None]],
    *,
    now: datetime | None = None,
    span: timedelta = timedelta(days=1),
    buckets: int = 24,
) -> str:
    """Jobs submitted and ended in each of ``buckets`` slices of the last ``span``: two bars a
    slice (started, ended)."""
    end = (now or datetime.now(timezone.utc)).timestamp()
    start = end - span.total_seconds()
    width = span.total_seconds() / buckets
    started = [0] * buckets
    ended = [0] * buckets
    for created, completed, _ in jobs:
        if start <= created < end:
            started[min(buckets - 1, int((created - start) / width))] += 1
        if completed is not None and start <= completed < end:
            ended[min(buckets - 1, int((completed - start) / width))] += 1
    top = max([1, *started, *ended])
    slot = _W / buckets
    bars = []
    for i in range(buckets):
        for j, (values, css) in enumerate(((started, "started"), (ended, "ended"))):
            h = _H * values[i] / top
            x = i * slot + 2 + j * (slot - 4) / 2
            bars.append(
                f'<rect class="{css}" fill="{_FILL[css]}" x="{x:.1f}" y="{_H - h:.1f}" width="{(slot - 4) / 2:.1f}"'
                f' height="{h:.1f}"><title>{values[i]} {css}</title></rect>'
            )
    label = (
        f'<text {_TEXT} x="0" y="{_H + 16}">{html.escape(_stamp(start))}</text>'
        f'<text {_TEXT} x="{_W}" y="{_H + 16}" text-anchor="end">{html.escape(_stamp(end))}</text>'
        f'<text {_TEXT} x="{_W / 2}" y="{_H + 16}" text-anchor="middle">max {top} per'
        f" {html.escape(_span_text(width))}</text>"
    )
    return _svg("".join(bars) + label, "jobs started and ended over time")


def duration_histogram(durations: Sequence[float], *, bins: int = 20) -> str:
    """The spread of jobs' durations: how many ended within each slice of the range seen."""
    if not durations:
        return _svg(f'<text {_TEXT} x="0" y="{_H / 2}">no finished jobs yet</text>', "durations")
    high = max(durations) or 1.0
    counts = [0] * bins
    for d in durations:
        counts[min(bins - 1, int(d / high * bins))] += 1
    top = max(counts)
    slot = _W / bins
    bars = [
        f'<rect class="duration" fill="{_FILL["duration"]}" x="{i * slot + 1:.1f}" y="{_H - _H * n / top:.1f}"'
        f' width="{slot - 2:.1f}" height="{_H * n / top:.1f}"><title>{n} jobs</title></rect>'
        for i, n in enumerate(counts)
    ]
    label = (
        f'<text {_TEXT} x="0" y="{_H + 16}">0 s</text>'
        f'<text {_TEXT} x="{_W}" y="{_H + 16}" text-anchor="end">{high:.3g} s</text>'
    )
    return _svg("".join(bars) + label, "durations of finished jobs")


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%m-%d %H:%M UTC")


def _span_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
