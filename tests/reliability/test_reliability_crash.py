"""Crash during submit: ``asyncjobs submit`` is killed (SIGKILL) while the service holds its submit
request. The ledger must keep the submission, ``asyncjobs list --all`` must show it, and the job must be
recovered where the provider allows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from reliability_kits import PAYLOAD, Env, Kit, expected_files, files_of
from reliability_matrix import Recorder
from test_reliability_secrets import ENV_NAMES, ENV_PREFIXES

import asyncjobs
from asyncjobs._ledger import SubmitState

HOLD = 1.0  # seconds the sandbox holds the submit request


def _environ(env: Env, home: Path) -> dict[str, str]:
    names = ENV_NAMES[env.kit.name]
    out = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    out.update({names[k]: v for k, v in env.settings.items() if k in names})
    out.update(ASYNCJOBS_HOME=str(home), ASYNCJOBS_PROGRESS="0")
    return out


def _submit_args(kit: Kit, source: Path) -> list[str]:
    if kit.name == "conversio":
        return ["submit", kit.name, "newsletter-recipients", "newsletter=n1"]
    return ["submit", kit.name, "convert", f"source={source}", "to=pdf"]


def test_killed_while_submitting(
    kit: Kit, make_env: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("crash", "killed mid-submit: ledger, `list --all`, recovery", kit.name)
    env = make_env(kit)
    home = tmp_path / "home"
    source = tmp_path / f"file.{kit.source_ext}"
    source.write_bytes(PAYLOAD)
    environ = _environ(env, home)
    env.app.faults.delay(HOLD, path=kit.submit_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", *_submit_args(kit, source)],
        env=environ,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert env.wait_until(lambda: env.requests("POST", kit.submit_path) == 1, timeout=20)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    env.ledger_path = home / "ledger.sqlite3"
    (entry,) = env.entries()
    assert entry.state == SubmitState.SUBMITTING, "the submission is in the ledger"
    assert entry.params, "with its parameters (what to submit again)"
    listed = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "list", "--all"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(kit.name)]
    assert "submitting" in row
    shown = " ".join(row.split()[:4])
    if entry.job_id:
        shown = shown.replace(entry.job_id, "<job id>")
    # the held request is handled once the hold ends: the service then has the job
    assert env.wait_until(lambda: kit.created(env.app) == 1, timeout=HOLD + 5)
    client = env.connect()
    if kit.idempotent_submit:
        assert entry.job_id is not None, "the client chose the id before the request left"
        job = client.job(entry.job_id)
        recovered = "`client.job(id)` finds the job and its result"
    elif kit.lists_jobs:
        assert entry.job_id is None
        (job,) = client.list()
        recovered = "no id; the service's own list (`client.list()`) finds the job"
        if kit.upload_after_create:
            # the file goes in a second request, to a form named by the answer the kill lost
            env.app.clock.advance(100)
            info = job.refresh()
            assert info.status is asyncjobs.Status.PENDING
            assert info.meta["tasks"]["import"] == "waiting"
            client.cancel(job.id)
            assert job.refresh().status is asyncjobs.Status.FAILED
            cell.say(
                f"ledger: `submitting`; `list --all` shows `{shown}`; {recovered} `waiting` for "
                "the file the killed process never sent (it never ends by itself): "
                "`client.cancel(id)` ends it, then submit again"
            )
            return
    else:
        assert entry.job_id is None
        cell.say(
            f"ledger: `submitting`, no id; `list --all` shows `{shown}`: the job may exist at "
            "GroupDocs (it does here) and cannot be found through the API (no list endpoint): "
            "check the GroupDocs dashboard before submitting again"
        )
        return
    result = job.result(timeout=10)
    dest = tmp_path / "out"
    result.save(dest)
    assert files_of(dest) == expected_files(kit, job.id)
    cell.say(f"ledger: `submitting`; `list --all` shows `{shown}`; {recovered}")
