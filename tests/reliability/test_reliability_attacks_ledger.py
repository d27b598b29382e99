"""Attacks on the ledger and the fleet (issue 28): a stale look from a worker that lost its lease, a
database that turns read-only, bytes a database cannot store, a job id issued again, a password that
URL parsers read differently. Real PostgreSQL servers and real ``asyncjobs worker`` processes where
the case needs them."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from asyncjobs_conversio.sandbox import ConversioSandbox
from fleet_support import Fleet, command, eventually, stop
from pg_support import read_only
from reliability_matrix import Recorder
from werkzeug import Request, Response

import asyncjobs
from asyncjobs import errors
from asyncjobs._ledger import Ledger, SubmitState
from asyncjobs._models import Status
from asyncjobs.sandbox import Sandbox

pytestmark = pytest.mark.slow

LEDGER = "ledger and fleet"


def test_a_worker_stopped_past_its_lease_cannot_undo_the_end_another_worker_saw(
    fleet: Fleet, cell: Recorder
) -> None:
    cell.at("attacks", "stale look after a lost lease", LEDGER)
    fleet.env["ASYNCJOBS_LEASE_SECONDS"] = "1"
    fleet.app.duration = 3600.0  # pending until the first worker has its answer
    fleet.app.hold = 0.0
    (submitted,) = fleet.submit(1)
    victim: list[int] = []
    original = fleet.app.poll

    def poll(request: Request, job_id: str) -> Response:
        # the first worker's "pending" answer leaves, and the worker is stopped before it reads
        # it; from now on the job is done at the service
        response: Response = original(request, job_id=job_id)
        if victim and response.status_code == 202 and not stopped:
            os.kill(victim[0], signal.SIGSTOP)
            stopped.append(True)
            fleet.app.jobs[job_id].duration = 0.0
        return response

    stopped: list[bool] = []
    fleet.app.poll = poll  # type: ignore[method-assign]
    first = fleet.worker()
    victim.append(first.pid)
    assert eventually(lambda: bool(stopped))
    second = fleet.worker()  # takes the job over once the first one's lease ran out
    with Ledger(fleet.url) as ledger:

        def status() -> Any:
            entry = ledger.get("convertapi", submitted)
            return entry.info.status if entry and entry.info else None

        assert eventually(lambda: status() is Status.DONE)
        first.send_signal(signal.SIGCONT)  # its older look arrives now
        stop(first)
        stop(second)
        history = [s for _, s, _ in ledger.history("convertapi", submitted)]
        cell.say(f"history {', '.join(s.value for s in history)}; the late look wrote nothing")
        assert status() is Status.DONE
        assert history == [Status.PENDING, Status.DONE]


def test_a_nul_in_a_provider_error_ends_the_job_once_through_a_worker(
    fleet: Fleet, cell: Recorder
) -> None:
    cell.at("attacks", "NUL in a provider's error", LEDGER)
    fleet.env["ASYNCJOBS_LEASE_SECONDS"] = "1"
    (job_id,) = fleet.submit(1)
    fleet.app.jobs[job_id].failure = (5001, "bad \x00 byte")
    worker = fleet.worker()
    with Ledger(fleet.url) as ledger:

        def entry() -> Any:
            return ledger.get("convertapi", job_id)

        assert eventually(lambda: entry().info.status is Status.FAILED)
        stats = stop(worker)
        history = [s for _, s, _ in ledger.history("convertapi", job_id)]
        error = entry().info.error
    cell.say(f"ended failed, recorded once, {stats['polls']} poll(s); NUL stored as U+FFFD")
    assert history[-1] is Status.FAILED
    assert history.count(Status.FAILED) == 1
    assert "bad \ufffd byte" in error
    assert fleet.app.jobs[job_id].polls == stats["polls"]


def _stderr_lines(proc: subprocess.Popen[str]) -> list[str]:
    """The lines ``proc`` writes to stderr from now on, collected by a thread as they come."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_a_worker_rides_out_a_database_that_turns_read_only(
    fleet: Fleet, postgres: str, cell: Recorder
) -> None:
    cell.at("attacks", "database turns read-only", LEDGER)
    fleet.env["ASYNCJOBS_LEASE_SECONDS"] = "1"
    fleet.app.duration = 2.0
    ids = fleet.submit(5)
    worker = fleet.worker()
    said = _stderr_lines(worker)
    with read_only(postgres, fleet.url):
        assert eventually(lambda: any("read-only" in line for line in said))
        assert worker.poll() is None, "".join(said)
    with Ledger(fleet.url) as ledger:

        def finished() -> int:
            return ledger.count(status=Status.DONE)

        assert eventually(lambda: finished() == len(ids), timeout=60), "".join(said)
    assert worker.poll() is None, "".join(said)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    cell.say("claims refused with a warning, backed off; all jobs done once writable")
    assert worker.returncode == 0, "".join(said)


#: A character of a password that URL readers split on differently, and whether libpq reads the URL
#: as its writer meant it (then the ledger opens; else it is refused, naming what to encode).
PASSWORD_CHARS = {
    "?": True,
    "#": True,
    "ä€": True,
    "/": False,
    "@": False,
    "%": False,
    " ": False,
}


def _forms(password: str, char: str) -> set[str]:
    """The password as a leak may show it: whole, percent-encoded, base64, and either side of the
    character that splits it."""
    forms = {password, quote(password, safe=""), base64.b64encode(password.encode()).decode()}
    return forms | set(password.split(char))


def _command(env: dict[str, str], *args: str) -> str:
    """``asyncjobs ARGS``' stdout and stderr; the command may fail (it is its output that counts)."""
    run = subprocess.run(
        [sys.executable, "-m", "asyncjobs", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.stdout + run.stderr


def _worker_banner(env: dict[str, str]) -> str:
    """What ``asyncjobs worker`` says when it starts (its banner, or its error), once stopped."""
    proc = command(env, "worker", "--provider", "convertapi")
    assert proc.stderr is not None
    first = proc.stderr.readline()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return first + out + err


@pytest.mark.parametrize("char", sorted(PASSWORD_CHARS))
def test_a_postgresql_password_shows_nowhere_however_url_readers_split_it(
    char: str,
    pg_url: str,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    cell: Recorder,
) -> None:
    cell.at("attacks", "PostgreSQL password URL parsers read differently", LEDGER)
    password = f"Pw{uuid.uuid4().hex[:6]}{char}canary{uuid.uuid4().hex[:6]}"
    url = pg_url.replace("asyncjobs@", f"asyncjobs:{password}@", 1)
    down = url.split("?host=")[0] + f"?host={tmp_path}/no-server-here"
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    if PASSWORD_CHARS[char]:
        with Ledger(url) as ledger:
            shown += [repr(ledger), str(ledger.url)]
            assert ledger.count() == 0  # the ledger works
    else:
        with pytest.raises(errors.ConfigurationError, match="percent-encode") as refused:
            Ledger(url)
        shown += [str(refused.value), repr(refused.value)]
    with pytest.raises(errors.ConfigurationError) as unreachable:
        Ledger(down)
    shown += [str(unreachable.value), repr(unreachable.value)]
    env = dict(os.environ, ASYNCJOBS_LEDGER=down, ASYNCJOBS_HOME=str(tmp_path / "home"))
    for args in (["list"], ["--json", "list"], ["--debug", "list"]):
        shown.append(_command(env, *args))
    shown.append(_worker_banner(dict(env, ASYNCJOBS_LEDGER=url)))
    shown.append(caplog.text)
    everything = "\n".join(shown)
    leaked = sorted(
        form for form in _forms(password, char) if len(form) >= 4 and form in everything
    )
    cell.say(
        "repr, url, worker banner, errors, `list` (plain, --json, --debug), logs: no form of it"
    )
    assert not leaked, everything
    assert "***" in everything or "percent-encode" in everything


def test_an_id_issued_again_after_a_restart_supersedes_the_older_job_visibly(
    ledger_target: str, tmp_path: Any, cell: Recorder
) -> None:
    cell.at("attacks", "job id issued again after a restart", LEDGER)
    ids = []
    for newsletter in ("n1", "n1"):  # the sandbox restarts between the two: ids start again
        app = ConversioSandbox(scale=1000)
        with Sandbox(app) as box:
            settings = app.client_settings(box.url)
            with asyncjobs.connect("conversio", ledger=ledger_target, **settings) as client:
                ids.append(client.submit("newsletter-recipients", newsletter=newsletter).id)
        app.close()
    assert ids[0] == ids[1]
    env = dict(os.environ, ASYNCJOBS_LEDGER=ledger_target, ASYNCJOBS_HOME=str(tmp_path / "h"))
    listed = json.loads(_command(env, "--json", "list", "--all"))["jobs"]
    with Ledger(ledger_target) as ledger:
        old, new = ledger.entries()
    cell.say(
        "the older row superseded (its id named in its error), the new one recorded; both listed"
    )
    assert (old.state, new.state) == (SubmitState.SUPERSEDED, SubmitState.SUBMITTED)
    assert ids[0] in (old.error or "")
    assert new.job_id == ids[0]
    assert len(listed) == 2
