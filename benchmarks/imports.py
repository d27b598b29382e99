"""Import time: ``python -c "import asyncjobs"`` against ``python -c "import requests"``.

Each command runs ``runs`` times in a fresh interpreter, alternating, and the wall time of the whole
process is taken (interpreter start included; ``python -c pass`` is shown for reference). ``import
asyncjobs`` loads only the package and its errors: every public name is imported on first use
(module ``__getattr__``), providers only when connected to. The first use costs what the core needs
(requests, attrs, cattrs, sqlite3): that is shown as ``import asyncjobs; asyncjobs.connect``.
Every contender's modules are loaded from bytecode cached by the warm-up runs (in a temporary
``PYTHONPYCACHEPREFIX``), as they are once installed.

First use, as issue 16 counts it (``connect`` + one status, the whole process): against Conversio's
sandbox in its own process, with one job already submitted and the ledger already there (as a
user's is), a fresh interpreter runs ``asyncjobs.connect(...)`` and ``client.status(job_id)``, against
one that runs ``import requests`` and one ``requests.get`` of the same URL with the same headers,
reading its JSON. Alternating, ``runs`` times each. A third contender shows the floor no first use
of asyncjobs can go under: that GET after ``import requests, attrs, cattrs``, the packages its
models and wire converters are made of.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import ROOT, ServerProcess, summarize

COMMANDS = {
    "python": "pass",
    "requests": "import requests",
    "asyncjobs": "import asyncjobs",
    "asyncjobs_connect": "import asyncjobs; asyncjobs.connect",
}


def _time(code: str, pycache: str) -> float:
    """Wall time of a fresh interpreter running ``code``. Compiled modules are cached in
    ``pycache`` (a temporary folder for the run), as an installed package's are: pip compiles at
    install time, but with ``PYTHONDONTWRITEBYTECODE`` set asyncjobs (installed editable, never
    compiled by pip) would be compiled from source in every process while requests loaded its
    bytecode -- not what a user's first use costs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": pycache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


FIRST_USE_TARGET = 1.3


def _alternate(codes: dict[str, str], runs: int, pycache: str) -> dict[str, list[float]]:
    """Milliseconds of each of ``codes``, ``runs`` times, alternating, after one warm-up run each
    (the file and bytecode caches)."""
    for code in codes.values():
        _time(code, pycache)
    times: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, code in codes.items():
            times[name].append(_time(code, pycache) * 1000)
    return times


def _first_use(runs: int, pycache: str) -> dict[str, Any]:
    """``connect`` + one status in a fresh process, against ``import requests`` + one GET."""
    import requests

    import asyncjobs

    with (
        tempfile.TemporaryDirectory(prefix="asyncjobs-bench-") as tmp,
        ServerProcess("conversio") as server,
    ):
        ledger = Path(tmp) / "ledger.sqlite3"
        with asyncjobs.connect("conversio", ledger=ledger, **server.settings) as client:
            job = client.submit("segments-export", segment="s1")
            sent: list[requests.PreparedRequest] = []
            hooks = client.provider.transport.session.hooks["response"]
            hooks.append(lambda response, *args, **kwargs: sent.append(response.request))
            client.status(job.id)
        request = sent[-1]
        codes = {
            "asyncjobs": (
                f"import asyncjobs; c = asyncjobs.connect('conversio', ledger={str(ledger)!r}, "
                f"**{server.settings!r}); c.status({job.id!r})"
            ),
            "requests": (
                f"import requests; requests.get({str(request.url)!r}, "
                f"headers={dict(request.headers)!r}).json()"
            ),
            # the floor: the same GET after importing the two packages every model needs
            "floor": (
                f"import requests, attrs, cattrs; requests.get({str(request.url)!r}, "
                f"headers={dict(request.headers)!r}).json()"
            ),
        }
        times = _alternate(codes, runs, pycache)
    ratios = [a / r for a, r in zip(times["asyncjobs"], times["requests"], strict=True)]
    floors = [f / r for f, r in zip(times["floor"], times["requests"], strict=True)]
    return {
        "ms": {name: summarize(values, 1) for name, values in times.items()},
        "ratio": summarize(ratios, 3),
        "ratio_floor": summarize(floors, 3),
        "met": statistics.median(ratios) <= FIRST_USE_TARGET,
        "codes": {name: code.split(";")[0] + "; ..." for name, code in codes.items()},
    }


def run(*, runs: int = 20) -> dict[str, Any]:
    """Measure; return the section's figures."""
    with tempfile.TemporaryDirectory(prefix="asyncjobs-bench-pycache-") as pycache:
        return _run(runs, pycache)


def _run(runs: int, pycache: str) -> dict[str, Any]:
    times = _alternate(COMMANDS, runs, pycache)
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
        "first_use": _first_use(runs, pycache),
        "target": (
            "import asyncjobs <= 1.5 x import requests; first use (connect + one status) "
            f"<= {FIRST_USE_TARGET} x import requests + one GET"
        ),
        "met": ratio <= 1.5,
    }
