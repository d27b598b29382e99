"""The notebook tour (docs/tour.ipynb) runs top to bottom against the sandboxes, in a real kernel."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

TOUR = Path(__file__).resolve().parent.parent / "docs" / "tour.ipynb"


@pytest.fixture
def jupyter_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jupyter and IPython write only under tmp_path, and the kernel is this interpreter."""
    for var in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(var, str(tmp_path / "jupyter" / var.lower()))
    spec = tmp_path / "jupyter" / "path" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "path"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the tour's own temporary folder goes here
    monkeypatch.delenv("ASYNCJOBS_PROGRESS", raising=False)  # the tour shows its progress bars


@pytest.fixture(scope="module")
def committed() -> Any:
    return nbformat.read(TOUR, as_version=4)


@pytest.fixture
def executed(jupyter_in_tmp: None, tmp_path: Path) -> Any:
    notebook = nbformat.read(TOUR, as_version=4)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return notebook


def _outputs(notebook: Any, starts: str) -> list[Any]:
    cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(starts)]
    assert len(cells) == 1, f"one code cell starts with {starts!r}"
    return list(cells[0].outputs)


def _text(outputs: list[Any], mime: str = "text/plain") -> str:
    parts = [o.get("text", "") for o in outputs if o.output_type == "stream"]
    parts += [o.data.get(mime, "") for o in outputs if "data" in o]
    return "".join(parts)


def test_committed_tour_is_valid_nbformat_4_without_outputs(committed: Any) -> None:
    nbformat.validate(committed)
    assert committed.nbformat == 4
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_tour_runs_top_to_bottom_against_the_sandboxes(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]

    # progress while waiting, then every job finished
    waited = _outputs(executed, "done, not_done = asyncjobs.wait(")
    assert "5/5" in _text(waited)
    assert "5 finished, 0 still running" in _text(waited)

    # the job table: plain and HTML, with a failed job and the provider's own words
    table_html = _text(_outputs(executed, "table = asyncjobs.jobs()"), "text/html")
    assert table_html.startswith("<table>")
    assert table_html.count("<tr>") == 6  # a header and five jobs
    assert "failed" in table_html and "500/5002" in table_html
    printed = _text(_outputs(executed, "print(table)"))
    assert printed.splitlines()[0].split()[:4] == ["provider", "id", "kind", "status"]

    # the pandas view
    counts = _text(_outputs(executed, "df = table.to_pandas()"))
    assert "groupdocs" in counts and "failed" in counts

    # results saved, and a failed job's error
    saved = _text(_outputs(executed, "saved = []"))
    assert "results/convertapi/report.pdf" in saved
    assert "JobFailedError" in _text(_outputs(executed, "try:"))

    # after the "restart": the ledger knows the pending export, another process lists it, and a
    # handle made from its id finishes it
    pending = _text(_outputs(executed, "pending = asyncjobs.jobs("))
    assert "segments-export" in pending and "pending" in pending
    listed = _text(_outputs(executed, "import subprocess"))
    assert "'conversio'" in listed and "'pending'" in listed
    picked = _text(_outputs(executed, "conversio = asyncjobs.connect("))
    assert "segments-export done> -> done" in picked
