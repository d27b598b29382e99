"""Status overhead: ``client.status(id)`` against a bare ``requests.Session.get`` of the same URL.

Conversio's sandbox (it holds no poll) runs in its own process. One job that never finishes is asked
about ``calls`` times by each side, interleaved call by call, so that both see the same machine. The
bare side sends the same headers (the API key and ``Accept: application/json``) and parses the JSON
body too; asyncjobs also checks the id, shares concurrent polls, builds the auth, maps errors, decodes
the body into a ``JobInfo`` and records the status in a ledger (a SQLite file in a temporary folder).
The werkzeug server closes every connection, so each request opens a TCP connection on both sides.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from ._common import ServerProcess, summarize

PROVIDER = "conversio"


def _one_run(
    client: Any, job_id: str, session: requests.Session, url: str, calls: int
) -> dict[str, float]:
    headers = {"X-ApiKey": client.provider.config["api_key"], "Accept": "application/json"}
    ours = bare = 0.0
    clock = time.perf_counter
    for _ in range(calls):
        start = clock()
        client.status(job_id)
        middle = clock()
        response = session.get(url, headers=headers)
        response.raise_for_status()
        response.json()
        end = clock()
        ours += middle - start
        bare += end - middle
    return {"asyncjobs_us": ours / calls * 1e6, "bare_us": bare / calls * 1e6, "ratio": ours / bare}


def run(*, calls: int = 2000, repeats: int = 5, warmup: int = 50) -> dict[str, Any]:
    """Measure; return the section's figures."""
    import asyncjobs

    with (
        ServerProcess(PROVIDER) as server,
        tempfile.TemporaryDirectory(prefix="asyncjobs-bench-") as tmp,
        asyncjobs.connect(
            PROVIDER, ledger=Path(tmp) / "ledger.sqlite3", **server.settings
        ) as client,
        requests.Session() as session,
    ):
        job = client.submit("segments-export", segment="s1")
        url = server.settings["base_url"] + "/async-jobs/" + job.id
        _one_run(client, job.id, session, url, warmup)
        runs = [_one_run(client, job.id, session, url, calls) for _ in range(repeats)]
    ratio = summarize([r["ratio"] for r in runs])
    return {
        "title": "Status overhead",
        "setup": (
            f"{PROVIDER} sandbox (no poll hold) in its own process; {calls} calls each, "
            f"interleaved; {repeats} runs"
        ),
        "provider": PROVIDER,
        "calls": calls,
        "asyncjobs_us_per_call": summarize([r["asyncjobs_us"] for r in runs], 1),
        "bare_us_per_call": summarize([r["bare_us"] for r in runs], 1),
        "ratio": ratio,
        "target": "ratio <= 1.10",
        "met": ratio["median"] <= 1.10,
    }
