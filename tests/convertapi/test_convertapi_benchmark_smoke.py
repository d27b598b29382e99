"""The large-file benchmark runs end to end at a tiny size (the real run is by hand: 1 GiB)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "convertapi_large_file.py"


def test_benchmark_runs_at_one_mib(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("convertapi_large_file", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--size-mib", "1", "--workdir", str(tmp_path)])
    assert figures["size_mib"] == 1
    assert figures["upload_seconds"] > 0
    assert figures["download_seconds"] > 0
    assert "upload" in capsys.readouterr().out
