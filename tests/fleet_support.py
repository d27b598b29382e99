"""A fleet on one PostgreSQL ledger, for the tests that run real ``asyncjobs worker`` processes: the
ConvertAPI sandbox, the ledger's URL, the environment that connects a process to both, and the
processes started (tests/conftest.py's ``fleet`` fixture kills what is left)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from asyncjobs_convertapi.sandbox import ConvertAPISandbox

import asyncjobs
from asyncjobs._ledger import Ledger
from asyncjobs.sandbox import Sandbox

#: Jobs last about this long at the sandbox (real seconds), so workers find them pending.
DURATION = 1.0


@attrs.define
class Fleet:
    """The sandbox, the ledger URL and the environment that connects a process to both."""

    app: ConvertAPISandbox
    box: Sandbox
    url: str
    env: dict[str, str]
    tmp: Path
    procs: list[subprocess.Popen[str]] = attrs.Factory(list)

    def client(self, **kw: Any) -> asyncjobs.Client:
        return asyncjobs.connect(
            "convertapi",
            ledger=kw.pop("ledger", self.url),
            **self.app.client_settings(self.box.url),
        )

    def submit(self, n: int) -> list[str]:
        with self.client() as client:
            return [
                client.submit("convert", source=b"page %d" % i, from_="txt", to="pdf").id
                for i in range(n)
            ]

    def worker(self, *args: str) -> subprocess.Popen[str]:
        # stderr is read only at the end: no line per job ended (a full pipe would stop the worker)
        proc = command(
            self.env, "--json", "worker", "--concurrency", "8", "--log-level", "WARNING", *args
        )
        self.procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()  # it prints its name once it polls
        assert "polling the pending jobs" in line, line + proc.stderr.read()
        return proc

    def waiter(self, ids: list[str], *, one: bool = False) -> subprocess.Popen[str]:
        path = self.tmp / f"ids-{len(self.procs)}.json"
        path.write_text(json.dumps(ids))
        proc = subprocess.Popen(
            [sys.executable, "-c", WAITER, str(path), "one" if one else "many"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def statuses(self) -> Counter[str]:
        with Ledger(self.url) as ledger:
            return Counter(e.info.status.value if e.info else e.state for e in ledger.entries())


def command(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``asyncjobs ARGS`` started with ``env``, its stdout and stderr piped (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


WAITER = textwrap.dedent("""
    import json, sys, time
    import asyncjobs
    ids = json.load(open(sys.argv[1]))
    with asyncjobs.connect("convertapi") as client:
        if sys.argv[2] == "one":
            info = client.job(ids[0]).wait(timeout=120)
            print(json.dumps({"returned_at": time.time(), "status": info.status.value}))
        else:
            done, not_done = asyncjobs.wait([client.job(i) for i in ids], timeout=240)
            print(json.dumps({"done": len(done), "not_done": len(not_done),
                              "states": sorted({j.info.status.value for j in done})}))
""")


def output(proc: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    """What a process printed (one JSON document), once it exited with 0."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return dict(json.loads(out))


def stop(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop a worker as SIGTERM does; what it printed (its stats)."""
    proc.send_signal(signal.SIGTERM)
    return output(proc, timeout=60)


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Whether ``check()`` became true within ``timeout`` seconds (asked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
