"""Status overhead: ``client.status(id)`` against a bare ``requests.Session.get`` of the same request,
for every provider, on the sandbox's HTTP/1.1 keep-alive server (in its own process), as production
servers answer.

For each provider one job that never finishes (ConvertAPI: its empty ``202``, no poll hold) is asked
about ``calls`` times by each side, interleaved call by call, so that both see the same machine. The
bare side replays exactly the request asyncjobs sent (URL and headers, the credential included) and
reads the body (parsing JSON where there is one); asyncjobs also checks the id, shares concurrent
polls, maps errors, decodes the body into a ``JobInfo`` and records the status in a ledger (a SQLite
file in a temporary folder). New connections are counted on each side (urllib3's pools): after the
first call, a client that reuses its connection opens none.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from ._common import ServerProcess, summarize

PROVIDERS = ("convertapi", "groupdocs", "conversio", "cloudconvert", "zamzar")
TARGET = 1.05


def submit_job(client: Any) -> Any:
    if client.name == "conversio":
        return client.submit("segments-export", segment="s1")
    if client.name == "convertapi":
        return client.submit("convert", source=b"hello", from_="txt", to="pdf")
    return client.submit("convert", source=b"hello world", from_="docx", to="pdf")


def _connections(session: requests.Session) -> int:
    total = 0
    for adapter in session.adapters.values():
        for pool in list(adapter.poolmanager.pools._container.values()):  # type: ignore[attr-defined]
            total += pool.num_connections
    return total


def _one_run(
    client: Any,
    job_id: str,
    session: requests.Session,
    request: requests.PreparedRequest,
    calls: int,
) -> dict[str, float]:
    url, headers = str(request.url), dict(request.headers)
    ours = bare = 0.0
    clock = time.perf_counter
    our_session = client.provider.transport.session
    ours_before, bare_before = _connections(our_session), _connections(session)
    for _ in range(calls):
        start = clock()
        client.status(job_id)
        middle = clock()
        response = session.get(url, headers=headers)
        if response.status_code >= 400:
            raise RuntimeError(f"bare GET answered {response.status_code}")
        if response.content:
            response.json()
        end = clock()
        ours += middle - start
        bare += end - middle
    return {
        "asyncjobs_us": ours / calls * 1e6,
        "bare_us": bare / calls * 1e6,
        "ratio": ours / bare,
        "asyncjobs_new_connections_per_call": (_connections(our_session) - ours_before) / calls,
        "bare_new_connections_per_call": (_connections(session) - bare_before) / calls,
    }


def _provider(name: str, calls: int, repeats: int, warmup: int, tmp: Path) -> dict[str, Any]:
    import asyncjobs

    with (
        ServerProcess(name, "--pending") as server,
        asyncjobs.connect(name, ledger=tmp / f"{name}.sqlite3", **server.settings) as client,
        requests.Session() as session,
    ):
        job = submit_job(client)
        sent: list[requests.PreparedRequest] = []

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            sent.append(response.request)

        hooks = client.provider.transport.session.hooks["response"]
        hooks.append(hook)
        client.status(job.id)
        hooks.remove(hook)
        request = sent[-1]
        _one_run(client, job.id, session, request, warmup)
        runs = [_one_run(client, job.id, session, request, calls) for _ in range(repeats)]
    ratio = summarize([r["ratio"] for r in runs])
    return {
        "asyncjobs_us_per_call": summarize([r["asyncjobs_us"] for r in runs], 1),
        "bare_us_per_call": summarize([r["bare_us"] for r in runs], 1),
        "ratio": ratio,
        "asyncjobs_new_connections_per_call": max(
            r["asyncjobs_new_connections_per_call"] for r in runs
        ),
        "bare_new_connections_per_call": max(r["bare_new_connections_per_call"] for r in runs),
        "met": ratio["median"] <= TARGET
        and max(r["asyncjobs_new_connections_per_call"] for r in runs) == 0,
    }


def run(*, calls: int = 2000, repeats: int = 5, warmup: int = 50) -> dict[str, Any]:
    """Measure; return the section's figures."""
    with tempfile.TemporaryDirectory(prefix="asyncjobs-bench-") as tmp:
        by = {name: _provider(name, calls, repeats, warmup, Path(tmp)) for name in PROVIDERS}
    return {
        "title": "Status overhead",
        "setup": (
            "each provider's sandbox (jobs pending, no poll hold) on its keep-alive server in its "
            f"own process; {calls} calls each side, interleaved; {repeats} runs"
        ),
        "calls": calls,
        "repeats": repeats,
        "providers": by,
        "target": f"ratio <= {TARGET:.2f}, 0 new connections per call after the first",
        "met": all(r["met"] for r in by.values()),
    }
