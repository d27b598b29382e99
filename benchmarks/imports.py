"""Import time: ``python -c "import asyncjobs"`` against ``python -c "import requests"``.

Each command runs ``runs`` times in a fresh interpreter, alternating, and the wall time of the whole
process is taken (interpreter start included; ``python -c pass`` is shown for reference). ``import
asyncjobs`` loads only the package and its errors: every public name is imported on first use
(module ``__getattr__``), providers only when connected to. The first use costs what the core needs
(requests, attrs, cattrs, backoff, sqlite3): that is shown as ``import asyncjobs; asyncjobs.connect``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

from ._common import ROOT, summarize

COMMANDS = {
    "python": "pass",
    "requests": "import requests",
    "asyncjobs": "import asyncjobs",
    "asyncjobs_connect": "import asyncjobs; asyncjobs.connect",
}


def _time(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def run(*, runs: int = 20) -> dict[str, Any]:
    """Measure; return the section's figures."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for code in COMMANDS.values():
        _time(code)  # warm the file cache
    for _ in range(runs):
        for name, code in COMMANDS.items():
            times[name].append(_time(code) * 1000)
    ratios = [a / r for a, r in zip(times["asyncjobs"], times["requests"], strict=True)]
    ratio = statistics.median(ratios)
    return {
        "title": "Import",
        "setup": f"a fresh interpreter per import, alternating; {runs} runs each",
        "ms": {name: summarize(values, 1) for name, values in times.items()},
        "ratio": summarize(ratios, 3),
        "ratio_first_use": summarize(
            [a / r for a, r in zip(times["asyncjobs_connect"], times["requests"], strict=True)],
            3,
        ),
        "target": "import asyncjobs <= 1.5 x import requests",
        "met": ratio <= 1.5,
    }
