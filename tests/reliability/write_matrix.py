"""Run the reliability suite and write its matrix to ``docs/reliability.md``.

    python tests/reliability/write_matrix.py [OUTPUT]

The same as ``ASYNCJOBS_MATRIX_OUT=docs/reliability.md python -m pytest tests/reliability``. The page
is written whatever the outcome (a red cell says so); the exit code is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "reliability.md"
    env = {**os.environ, "ASYNCJOBS_MATRIX_OUT": str(out.resolve())}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability"]
    code = subprocess.call(command, cwd=ROOT, env=env)
    print(f"wrote {out}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
