"""The benchmark command runs end to end with ``--smoke`` (tiny sizes and counts) and writes JSON with
every section. No timing is asserted: CI machines vary; the figures are for docs/performance.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {
    "status",
    "scheduler",
    "many_jobs",
    "aio",
    "notice",
    "webhooks",
    "large_files",
    "import",
    "first_use",
    "ledger",
    "fleet",
    "fleet_scale",
    "budget",
    "telemetry",
    "dashboard",
    "celery",
}


def test_the_benchmark_command_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["sections"]) == SECTIONS
    assert results["smoke"] is True
    for name, section in results["sections"].items():
        assert isinstance(section["met"], bool), name
        assert section["target"], name
    assert "| Benchmark |" in done.stdout
