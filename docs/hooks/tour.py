"""MkDocs hook: publish the tour notebook (``docs/tour.ipynb``) executed, as the page ``tour/``.

The notebook is committed without outputs. At build time this hook runs it top to bottom in a python3
kernel of the building interpreter, against the sandboxes (no account, no network), and writes it as a
Markdown page: the code, then what each cell printed and showed (the progress bar's last state, the job
tables as HTML). ``$ASYNCJOBS_DOCS_TOUR`` may name a copy already executed (the test suite executes the
tour once, checks it, and builds the site from that copy), and then nothing runs twice.

Jupyter's, IPython's and the tour's own files go into a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

TOUR = "tour.ipynb"
PAGE = "tour.md"
#: an executed copy of the tour to publish instead of executing it again
EXECUTED_ENV = "ASYNCJOBS_DOCS_TOUR"

#: Executes a notebook with nbclient, in a child process: loading the kernel's spec imports ipykernel,
#: which would make the parent look like a notebook to asyncjobs afterwards.
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
src, dst, cwd = sys.argv[1:]
notebook = nbformat.read(src, as_version=4)
NotebookClient(
    notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": cwd}}
).execute()
nbformat.write(notebook, dst)
"""


def execute(source: Path, executed: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the notebook ``source`` into ``executed``; everything it writes goes under ``tmp``."""
    env = {k: v for k, v in os.environ.items() if k != "ASYNCJOBS_PROGRESS"}  # bars on
    for var in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        env[var] = str(tmp / "jupyter" / var.lower())
    spec = tmp / "jupyter" / "path" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    env["JUPYTER_PATH"] = str(tmp / "jupyter" / "path")
    env["TMPDIR"] = str(tmp)  # the tour's own temporary folder goes here
    env["ASYNCJOBS_HOME"] = str(tmp / "home")
    workdir = tmp / "cwd"
    workdir.mkdir()
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(source), str(executed), str(workdir)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _terminal(text: str) -> str:
    """What a terminal shows of ``text``: each line's last carriage-return redraw, no colours."""
    lines = [line.rsplit("\r", 1)[-1] for line in _ANSI.sub("", text).split("\n")]
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _fence(text: str) -> str:
    return f"```text\n{text}\n```\n"


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        text = _terminal(_joined(output.get("text", "")))
        return _fence(text) if text else ""
    if kind == "error":
        return _fence(_terminal("\n".join(output.get("traceback", []))))
    data = output.get("data", {})
    if "text/html" in data:
        return f'<div class="tour-output">\n{_joined(data["text/html"]).strip()}\n</div>\n'
    if "text/plain" in data:
        return _fence(html.unescape(_joined(data["text/plain"])).rstrip())
    return ""


def _coalesced(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive writes to one stream as one output (a bar redraws itself in many writes)."""
    out: list[dict[str, Any]] = []
    for output in outputs:
        last = out[-1] if out else None
        if (
            last is not None
            and output.get("output_type") == "stream" == last.get("output_type")
            and output.get("name") == last.get("name")
        ):
            last["text"] = _joined(last["text"]) + _joined(output.get("text", ""))
        else:
            out.append(dict(output))
    return out


def to_markdown(notebook: dict[str, Any]) -> str:
    """The executed notebook as a Markdown page: its text, its code, and the outputs of each cell."""
    parts = []
    for cell in notebook["cells"]:
        source = _joined(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            parts.append(source.strip() + "\n")
            if not parts[1:]:  # after the title: where the notebook itself is
                parts.append(
                    f"This page is the notebook [`{TOUR}`]({TOUR}) as the documentation build ran it. "
                    "Download it to run it yourself.\n"
                )
        elif cell["cell_type"] == "code":
            parts.append(f"```python\n{source.rstrip()}\n```\n")
            parts.extend(filter(None, (_output(o) for o in _coalesced(cell.get("outputs", [])))))
    return "\n".join(parts)


def _executed_tour(docs_dir: Path) -> dict[str, Any]:
    given = os.environ.get(EXECUTED_ENV)
    if given:
        return dict(json.loads(Path(given).read_text(encoding="utf-8")))
    with tempfile.TemporaryDirectory(prefix="asyncjobs-docs-tour-") as tmp:
        executed = Path(tmp) / "executed.ipynb"
        done = execute(docs_dir / TOUR, executed, Path(tmp))
        if done.returncode != 0:
            raise RuntimeError(f"the tour notebook failed to run:\n{done.stderr[-4000:]}")
        return dict(json.loads(executed.read_text(encoding="utf-8")))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the executed tour as the page ``tour.md`` (the raw notebook stays, to download)."""
    notebook = _executed_tour(Path(config["docs_dir"]))
    files.append(File.generated(config, PAGE, content=to_markdown(notebook)))
    return files
