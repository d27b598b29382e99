"""First use against the peers: a fresh process that imports, connects and makes one call.

For GroupDocs and ConvertAPI, each against its sandbox in its own process (``--pending``: the job
stays pending, so every call gets the same answer), three contenders run the same call in a fresh
interpreter, alternating, ``runs`` times each; the wall time of the whole process is taken
(interpreter start included; ``python -c pass`` is shown for reference):

- **floor**: ``import requests, attrs, cattrs`` (the packages asyncjobs is made of) and the same HTTP
  exchange by hand with ``requests`` -- GroupDocs: ``POST /connect/token`` then ``GET
  /v2.0/conversion/async?id=`` with the bearer token; ConvertAPI: ``GET /async/job/<id>`` with the
  secret as bearer token. No first use of asyncjobs can go under it.
- **asyncjobs**: ``import asyncjobs; asyncjobs.connect(provider, ledger=..., **settings)`` and one
  ``client.status(job_id)``, with the job already in the ledger (as a user's is).
- **SDK**: the vendor's own SDK making the call against the same sandbox, configured by its own
  options. GroupDocs (``groupdocs-conversion-cloud``): ``Configuration.api_base_url`` set to the
  sandbox, then ``AsyncApi.get_operation_status`` -- a token and one operation status, the same
  exchange. ConvertAPI (``convertapi`` 2.0.1): ``convertapi.base_uri`` and ``api_credentials`` set,
  then ``convertapi.user()`` (``GET /user``): the SDK has no call that polls an async job (its
  ``convert`` is synchronous), so its one authenticated call is the account lookup, which the
  sandbox emulates.

Target: asyncjobs' first use within 15 ms of the floor (the median of the paired differences, each
round's asyncjobs run minus the floor run next to it). The modules of every contender are loaded
from bytecode cached by the warm-up runs (in a temporary ``PYTHONPYCACHEPREFIX``), as they are once
installed; the adapters are this tree's (``providers/<name>`` on ``PYTHONPATH``).
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

__all__ = ["PROVIDERS", "TARGET_MS", "rows", "run"]

PROVIDERS = ("groupdocs", "convertapi")
#: first use may take this many milliseconds more than the floor
TARGET_MS = 15.0

#: what each vendor SDK's contender calls
SDK_CALLS = {
    "groupdocs": "groupdocs-conversion-cloud: token + AsyncApi.get_operation_status",
    "convertapi": "convertapi: user() (GET /user; the SDK has no async-job poll)",
}


def _env(pycache: str) -> dict[str, str]:
    paths = [str(ROOT), *(str(ROOT / "providers" / p) for p in PROVIDERS)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONPYCACHEPREFIX": pycache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed package's is
    env["ASYNCJOBS_PROGRESS"] = "0"
    return env


def _time(code: str, env: dict[str, str]) -> float:
    """Milliseconds of a fresh interpreter running ``code``, start to exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return (time.perf_counter() - start) * 1000


def _codes(provider: str, settings: dict[str, str], ledger: Path, job_id: str) -> dict[str, str]:
    """The three contenders' programs for one provider."""
    ours = (
        f"import asyncjobs; c = asyncjobs.connect({provider!r}, ledger={str(ledger)!r}, "
        f"**{settings!r}); c.status({job_id!r})"
    )
    if provider == "groupdocs":
        form = {
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        }
        floor = (
            "import requests, attrs, cattrs; s = requests.Session(); "
            f"t = s.post({settings['token_url']!r}, data={form!r}, "
            "headers={'Accept': 'application/json'}).json()['access_token']; "
            f"s.get({settings['base_url'] + '/conversion/async'!r}, params={{'id': {job_id!r}}}, "
            "headers={'Accept': 'application/json', 'Authorization': 'Bearer ' + t}).json()"
        )
        sdk = (
            "import groupdocs_conversion_cloud as gd; "
            f"cfg = gd.Configuration({settings['client_id']!r}, {settings['client_secret']!r}); "
            f"cfg.api_base_url = {settings['base_url'].rsplit('/v2.0', 1)[0]!r}; "
            f"gd.AsyncApi.from_config(cfg).get_operation_status("
            f"gd.GetOperationStatusRequest({job_id!r}))"
        )
    else:
        floor = (
            f"import requests, attrs, cattrs; requests.get({settings['base_url'] + '/async/job/'!r}"
            f" + {job_id!r}, headers={{'Accept': 'application/json', 'Authorization': "
            f"'Bearer ' + {settings['secret']!r}}}).content"
        )
        sdk = (
            f"import convertapi; convertapi.api_credentials = {settings['secret']!r}; "
            f"convertapi.base_uri = {settings['base_url'] + '/'!r}; convertapi.user()"
        )
    return {"floor": floor, "asyncjobs": ours, "sdk": sdk}


def _job(provider: str, settings: dict[str, Any], ledger: Path, tmp: Path) -> str:
    """Submit one job (it stays pending) and see it once: the ledger is there, as a user's is."""
    import asyncjobs

    source = tmp / "report.docx"
    source.write_bytes(b"PK\x03\x04 a document")
    with asyncjobs.connect(provider, ledger=ledger, **settings) as client:
        job = client.submit("convert", source=source, to="pdf")
        client.status(job.id)
        return str(job.id)


def run(*, runs: int = 15) -> dict[str, Any]:
    """Measure; return the section's figures."""
    with (
        tempfile.TemporaryDirectory(prefix="asyncjobs-bench-first-") as tmp,
        tempfile.TemporaryDirectory(prefix="asyncjobs-bench-pycache-") as pycache,
        ServerProcess("groupdocs", "--pending") as groupdocs,
        ServerProcess("convertapi", "--pending") as convertapi,
    ):
        env = _env(pycache)
        codes: dict[str, str] = {"python": "pass"}
        for provider, server in (("groupdocs", groupdocs), ("convertapi", convertapi)):
            ledger = Path(tmp) / f"{provider}.sqlite3"
            job_id = _job(provider, server.settings, ledger, Path(tmp))
            for name, code in _codes(provider, server.settings, ledger, job_id).items():
                codes[f"{provider}/{name}"] = code
        for code in codes.values():  # warm-up: the bytecode and file caches
            _time(code, env)
        times: dict[str, list[float]] = {name: [] for name in codes}
        for _ in range(runs):
            for name, code in codes.items():
                times[name].append(_time(code, env))
    providers: dict[str, Any] = {}
    for provider in PROVIDERS:
        ours, floor = times[f"{provider}/asyncjobs"], times[f"{provider}/floor"]
        over = [a - f for a, f in zip(ours, floor, strict=True)]
        providers[provider] = {
            "ms": {name: summarize(times[f"{provider}/{name}"], 1) for name in _CONTENDERS},
            "over_floor_ms": summarize(over, 1),
            "sdk_call": SDK_CALLS[provider],
            "met": statistics.median(over) <= TARGET_MS,
        }
    return {
        "title": "First use",
        "setup": (
            f"a fresh interpreter per contender, alternating; {runs} runs each; sandboxes in their "
            "own processes"
        ),
        "python_ms": summarize(times["python"], 1),
        "providers": providers,
        "target": f"first use (import + connect + one status) <= the floor + {TARGET_MS:g} ms",
        "met": all(by["met"] for by in providers.values()),
    }


_CONTENDERS = ("floor", "asyncjobs", "sdk")


def rows(r: dict[str, Any], fig: Any, ok: Any) -> list[tuple[str, ...]]:
    """The section's rows of the benchmark table (``fig`` formats a figure, ``ok`` a verdict)."""
    out: list[tuple[str, ...]] = []
    for provider, by in r["providers"].items():
        ms = by["ms"]
        out.append(
            (
                "First use",
                f"{provider}: import + connect + one status, whole process, ms (python -c pass: "
                f"{r['python_ms']['median']:.0f} ms)",
                fig(ms["asyncjobs"], digits=0),
                f"floor (requests, attrs, cattrs + the same call) {fig(ms['floor'], digits=0)}; "
                f"SDK {fig(ms['sdk'], digits=0)} ({by['sdk_call']})",
                f"first use - floor {fig(by['over_floor_ms'], ' ms', 1)}",
                f"<= floor + {TARGET_MS:g} ms",
                ok(by["met"]),
            )
        )
    return out
