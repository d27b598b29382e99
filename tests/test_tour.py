"""The notebook tour (docs/tour.ipynb) runs top to bottom against the sandboxes, in a real kernel, as the
docs build runs it (docs/hooks/tour.py), and leaves nothing behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

TOUR = Path(__file__).resolve().parent.parent / "docs" / "tour.ipynb"


@pytest.fixture(scope="module")
def executed(tour_run: tuple[Path, Path]) -> Any:
    """The tour as the docs build runs it (executed once per session, in tests/conftest.py)."""
    return nbformat.read(tour_run[0], as_version=4)


def _outputs(notebook: Any, starts: str) -> list[Any]:
    cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(starts)]
    assert len(cells) == 1, f"one code cell starts with {starts!r}"
    return list(cells[0].outputs)


def _text(outputs: list[Any], mime: str = "text/plain") -> str:
    parts = [o.get("text", "") for o in outputs if o.output_type == "stream"]
    parts += [o.data.get(mime, "") for o in outputs if "data" in o]
    return "".join(parts)


def test_committed_tour_is_valid_nbformat_4_without_outputs() -> None:
    committed = nbformat.read(TOUR, as_version=4)
    nbformat.validate(committed)
    assert committed.nbformat == 4
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_tour_runs_top_to_bottom_without_error(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


def test_tour_shows_progress_while_waiting(executed: Any) -> None:
    waited = _outputs(executed, "done, not_done = asyncjobs.wait(")
    assert "5/5" in _text(waited)
    assert "5 finished, 0 still running" in _text(waited)


def test_tour_shows_the_job_table_as_html_with_the_failed_job(executed: Any) -> None:
    table_html = _text(_outputs(executed, "table = asyncjobs.jobs()"), "text/html")
    assert table_html.startswith("<table>")
    assert table_html.count("<tr>") == 6  # a header and five jobs
    assert "500/5002" in table_html  # ConvertAPI's own word for the failed conversion


def test_tour_prints_the_job_table_as_text(executed: Any) -> None:
    printed = _text(_outputs(executed, "print(table)"))
    assert printed.splitlines()[0].split()[:4] == ["provider", "id", "kind", "status"]
    assert len(printed.splitlines()) == 6


def test_tour_counts_jobs_with_pandas(executed: Any) -> None:
    counts = _text(_outputs(executed, "df = table.to_pandas()"))
    assert re.search(r"convertapi\s+done\s+1\s+failed\s+1", counts), counts


def test_tour_saves_the_results(executed: Any) -> None:
    saved = _text(_outputs(executed, "saved = []"))
    assert "('results/convertapi/report.pdf', 107)" in saved
    assert "results/conversio/" in saved


def test_tour_shows_a_failed_jobs_error(executed: Any) -> None:
    assert "JobFailedError - job " in _text(_outputs(executed, "try:"))


def test_tour_finds_the_pending_job_in_the_ledger_after_the_restart(executed: Any) -> None:
    pending = _text(_outputs(executed, "pending = asyncjobs.jobs("))
    assert "segments-export  pending" in pending


def test_tour_lists_the_jobs_from_another_process(executed: Any) -> None:
    listed = _text(_outputs(executed, "import json\nimport subprocess"))
    assert "'pending')" in listed


def test_tour_finishes_the_job_through_a_handle_made_from_its_id(executed: Any) -> None:
    picked = _text(_outputs(executed, "conversio = asyncjobs.connect("))
    assert "segments-export done> -> done" in picked


def test_tour_leaves_no_temporary_folder_behind(executed: Any, tour_run: tuple[Path, Path]) -> None:
    _, tmp = tour_run  # the tour's TMPDIR
    assert list(tmp.glob("asyncjobs-tour-*")) == []


def test_tour_awaits_jobs_at_the_top_level_of_a_cell(executed: Any) -> None:
    awaited = _text(_outputs(executed, "from asyncjobs import aio"))
    assert "2 awaited jobs done:" in awaited
    assert "2/2" in awaited  # the progress bar of the async wait, in the notebook
    assert "report.pdf" in awaited
