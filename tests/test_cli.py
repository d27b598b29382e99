"""The ``asyncjobs`` command, run as a subprocess (``python -m asyncjobs``) against the toy sandbox."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from toy_provider import ToyProvider, ToySandbox

import asyncjobs
from asyncjobs import Provider
from asyncjobs._ledger import SCHEMA_VERSION, Ledger
from asyncjobs.cli import duration_text
from asyncjobs.sandbox import Sandbox

TESTS = Path(__file__).parent
PLUGINS = (
    "toy=toy_provider:ToyProvider,othertoy=test_cli:OtherToy,"
    "nocancel=test_cli:NoCancelToy,sandboxed=test_cli:SandboxedToy"
)


class OtherToy(ToyProvider):
    """A second provider speaking the toy protocol (to ask one provider about another's job)."""

    name = "othertoy"


class NoCancelToy(ToyProvider):
    """The toy without a cancel endpoint."""

    name = "nocancel"
    capabilities = asyncjobs.Capabilities(list=True, poll=ToyProvider.capabilities.poll)

    def cancel(self, job_id: str) -> None:
        Provider.cancel(self, job_id)


class SandboxedToy(ToyProvider):
    """The toy with its sandbox declared, for ``asyncjobs sandbox``."""

    name = "sandboxed"
    sandbox = "toy_provider:ToySandbox"


Run = Callable[..., subprocess.CompletedProcess[str]]


def _env(home: Path, sandbox: Sandbox | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOY_", "ASYNCJOBS_"))}
    env.update(
        ASYNCJOBS_HOME=str(home),
        PYTHONPATH=os.pathsep.join(
            [str(TESTS), str(TESTS.parent)]
        ),  # this checkout, installed or not
        ASYNCJOBS_PROGRESS="0",
        ASYNCJOBS_PLUGINS=PLUGINS,
    )
    if sandbox is not None:
        env.update(TOY_KEY=ToySandbox.key, TOY_BASE_URL=sandbox.url)
    env.update(extra)
    return env


@pytest.fixture
def cli(toy_sandbox: Sandbox, asyncjobs_home: Path, tmp_path: Path) -> Run:
    """Run ``python -m asyncjobs ARGS`` with the toy provider and sandbox configured."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "asyncjobs", *args],
            capture_output=True,
            text=True,
            env=env or _env(asyncjobs_home, toy_sandbox),
            cwd=tmp_path,
            timeout=timeout,
            **kw,
        )

    return run


def _submit(cli: Run, text: str = "hello", duration: float = 0.05) -> str:
    proc = cli("submit", "toy", "upper", f"text={text}", f"duration:={duration}")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _age(home: Path, job_id: str, hours: float = 2) -> None:
    """Make the ledger believe the job finished ``hours`` ago (past the toy's 1 h lifetime)."""
    db = sqlite3.connect(home / "ledger.sqlite3")
    past = time.time() - hours * 3600
    db.execute(
        "UPDATE jobs SET status='done', raw_status='ok', completed_at=?, updated_at=?,"
        " finished_seen_at=? WHERE job_id=?",
        (past, past, past, job_id),
    )
    db.commit()
    db.close()


# -- providers ----------------------------------------------------------------------------------------


def test_providers_shows_kinds_capabilities_and_settings_with_secrets_masked(cli: Run) -> None:
    proc = cli("providers")
    assert proc.returncode == 0, proc.stderr
    assert "kind upper(text, duration?)" in proc.stdout
    assert "setting key ($TOY_KEY, secret) = *** [set]" in proc.stdout
    assert "can: cancel, list" in proc.stdout
    assert ToySandbox.key not in proc.stdout + proc.stderr


def test_providers_json(cli: Run) -> None:
    proc = cli("providers", "--json")
    assert proc.returncode == 0, proc.stderr
    toy = next(p for p in json.loads(proc.stdout)["providers"] if p["name"] == "toy")
    assert toy["capabilities"]["job_lifetime"] == 3600
    assert {s["name"]: (s["env"], s["value"]) for s in toy["settings"]}["key"] == ("TOY_KEY", "***")
    assert ToySandbox.key not in proc.stdout


# -- submit -------------------------------------------------------------------------------------------


def test_submit_prints_the_job_id_and_records_it(cli: Run, asyncjobs_home: Path) -> None:
    job_id = _submit(cli, "hello")
    with Ledger(asyncjobs_home / "ledger.sqlite3") as ledger:
        entry = ledger.get("toy", job_id)
    assert entry is not None
    assert entry.params == {"text": "hello", "duration": 0.05}


def test_submit_json(cli: Run) -> None:
    proc = cli("submit", "toy", "upper", "text=hi", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["provider"], doc["kind"], doc["status"]) == ("toy", "upper", "pending")


def test_submit_with_webhook_to_a_provider_without_webhooks_exits_2(cli: Run) -> None:
    proc = cli("submit", "toy", "upper", "text=hi", "--webhook", "https://example.org/hook")
    assert proc.returncode == 2
    assert "does not call webhooks" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("submit", "toy", "resize", "text=a"), "has no job kind 'resize'"),
        (("submit", "toy", "upper", "colour=red"), "takes no parameter 'colour'"),
        (("submit", "toy", "upper", "text"), "must be key=value"),
        (("submit", "nosuch", "upper", "text=a"), "no provider named 'nosuch'"),
        (("submit", "toy", "upper", "text=a", "--set", "colour=red"), "takes no setting 'colour'"),
        (("frobnicate",), "invalid choice"),
        (("wait", "toy", "t1", "--timeout", "-1"), "is not a number of seconds"),
        (("--plugin", "broken", "providers"), "must be NAME=package.module:Class"),
    ],
    ids=["kind", "param", "pair", "provider", "setting", "verb", "timeout", "plugin"],
)
def test_usage_errors_exit_2_with_one_line(cli: Run, args: tuple[str, ...], message: str) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_setting_exits_2_naming_the_variable(cli: Run, asyncjobs_home: Path) -> None:
    proc = cli("submit", "toy", "upper", "text=a", env=_env(asyncjobs_home, None))
    assert proc.returncode == 2
    assert "TOY_KEY" in proc.stderr


def test_setting_given_with_set_is_used(
    cli: Run, asyncjobs_home: Path, toy_sandbox: Sandbox
) -> None:
    env = _env(asyncjobs_home, None, TOY_KEY=ToySandbox.key)
    proc = cli("submit", "toy", "upper", "text=a", "--set", f"base_url={toy_sandbox.url}", env=env)
    assert proc.returncode == 0, proc.stderr


def test_wrong_secret_exits_3_and_is_never_printed(
    cli: Run, asyncjobs_home: Path, toy_sandbox: Sandbox
) -> None:
    canary = "cli-canary-secret-5551234"
    proc = cli("submit", "toy", "upper", "text=a", "--set", f"key={canary}", "--debug", "--json")
    assert proc.returncode == 3
    assert canary not in proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["error"]["exit_code"] == 3


# -- status, wait, result, cancel ----------------------------------------------------------------------


def test_status_of_a_pending_job(cli: Run) -> None:
    job_id = _submit(cli, duration=3600)
    proc = cli("status", "toy", job_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"toy {job_id} upper: pending (")


def test_status_json_of_a_failed_job_exits_1(cli: Run) -> None:
    job_id = _submit(cli, "please fail", duration=0.01)
    time.sleep(0.05)
    proc = cli("status", "toy", job_id, "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert (doc["status"], doc["raw_status"], doc["expired"]) == ("failed", "error", False)
    assert "asked to fail" in doc["error"]


def test_wait_until_done(cli: Run) -> None:
    job_id = _submit(cli, duration=0.3)
    proc = cli("wait", "toy", job_id, "--timeout", "20")
    assert proc.returncode == 0, proc.stderr
    assert f"toy {job_id} upper: done (ok)" in proc.stdout


def test_wait_timeout_exits_4(cli: Run) -> None:
    job_id = _submit(cli, duration=3600)
    proc = cli("wait", "toy", job_id, "--timeout", "0.3")
    assert proc.returncode == 4
    assert "still pending" in proc.stderr


def test_wait_for_a_failed_job_exits_1(cli: Run) -> None:
    job_id = _submit(cli, "please fail")
    proc = cli("wait", "toy", job_id, "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["status"] == "failed"


def test_result_saves_the_files_into_the_folder(cli: Run, tmp_path: Path) -> None:
    job_id = _submit(cli, "hello")
    proc = cli("result", "toy", job_id, "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "output.txt").read_bytes() == b"HELLO"
    assert proc.stdout.strip() == str(tmp_path / "out" / "output.txt")


def test_result_never_replaces_a_file_unless_forced(cli: Run, tmp_path: Path) -> None:
    job_id = _submit(cli, "hello")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "output.txt").write_bytes(b"mine")
    refused = cli("result", "toy", job_id, "-o", str(tmp_path / "out"))
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert "overwrite=True" not in refused.stderr
    assert (tmp_path / "out" / "output.txt").read_bytes() == b"mine"
    forced = cli("result", "toy", job_id, "-o", str(tmp_path / "out"), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "out" / "output.txt").read_bytes() == b"HELLO"


def test_result_json(cli: Run, tmp_path: Path) -> None:
    job_id = _submit(cli, "hello")
    proc = cli("result", "toy", job_id, "-o", "out", "--json")
    assert proc.returncode == 0, proc.stderr
    (file,) = json.loads(proc.stdout)["files"]
    assert (file["name"], Path(tmp_path / file["path"]).read_text()) == ("output.txt", "HELLO")


def test_result_of_a_failed_job_exits_1(cli: Run, tmp_path: Path) -> None:
    job_id = _submit(cli, "please fail")
    proc = cli("result", "toy", job_id, "-o", "out")
    assert proc.returncode == 1
    assert f"job {job_id!r} at toy failed: the text asked to fail" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cancel(cli: Run, toy_sandbox: Sandbox) -> None:
    job_id = _submit(cli, duration=3600)
    proc = cli("cancel", "toy", job_id)
    assert proc.returncode == 0, proc.stderr
    assert job_id not in toy_sandbox.app.jobs


def test_cancel_where_the_provider_cannot_exits_2(cli: Run, toy_sandbox: Sandbox) -> None:
    job_id = _submit(cli, duration=3600)
    proc = cli("cancel", "nocancel", job_id, "--json")
    assert proc.returncode == 2
    assert "nocancel cannot cancel a job" in proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "NotSupportedError"
    assert job_id in toy_sandbox.app.jobs


def test_unknown_job_id_exits_3_saying_the_ledger_does_not_know_it_either(cli: Run) -> None:
    proc = cli("status", "toy", "t424242")
    assert proc.returncode == 3
    assert "no record of job 't424242'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_job_of_another_provider_exits_2_naming_that_provider(
    cli: Run, asyncjobs_home: Path
) -> None:
    job_id = _submit(cli)
    with Sandbox(ToySandbox()) as elsewhere:
        proc = cli("status", "othertoy", job_id, "--set", f"base_url={elsewhere.url}")
    assert proc.returncode == 2
    assert "not a job of othertoy: the ledger has it under toy" in proc.stderr


def test_debug_shows_the_traceback(cli: Run) -> None:
    proc = cli("--debug", "status", "toy", "t424242")
    assert proc.returncode == 3
    assert "Traceback (most recent call last)" in proc.stderr


# -- list and expiry ----------------------------------------------------------------------------------


def test_list_shows_a_table_of_the_ledger_across_providers(cli: Run) -> None:
    first, second = _submit(cli, "a"), _submit(cli, "b")
    proc = cli("list")
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split() == [
        "provider",
        "id",
        "kind",
        "status",
        "raw_status",
        "submitted_at",
        "expires_at",
        "expired",
        "cost",
        "error",
    ]  # no polled_by: on a SQLite ledger no worker of another machine holds a job
    assert [r.split()[:2] for r in rows] == [["toy", first], ["toy", second]]


def test_list_of_a_provider_merges_the_service_list(
    cli: Run, toy_registered: type[ToyProvider], toy_sandbox: Sandbox
) -> None:
    mine = _submit(cli)
    with asyncjobs.connect(
        "toy", ledger=False, **toy_sandbox.app.client_settings(toy_sandbox.url)
    ) as other:
        theirs = other.submit("upper", text="not in the ledger").id
    proc = cli("list", "toy", "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(j["id"] for j in json.loads(proc.stdout)["jobs"]) == sorted([mine, theirs])


def test_list_filters_by_status_and_kind(cli: Run) -> None:
    _submit(cli, duration=3600)
    failed = _submit(cli, "please fail")
    assert cli("wait", "toy", failed).returncode == 1
    proc = cli("list", "--status", "failed", "--kind", "upper", "--json")
    assert [j["id"] for j in json.loads(proc.stdout)["jobs"]] == [failed]
    assert json.loads(cli("list", "--kind", "other", "--json").stdout)["jobs"] == []


def test_list_marks_jobs_past_the_provider_lifetime_as_expired(
    cli: Run, asyncjobs_home: Path
) -> None:
    old, new = _submit(cli, "old"), _submit(cli, "new")
    _age(asyncjobs_home, old)
    proc = cli("list", "--json")
    flags = {j["id"]: j["expired"] for j in json.loads(proc.stdout)["jobs"]}
    assert flags == {old: True, new: False}
    table = cli("list", "--local", "toy").stdout
    assert "EXPIRED" in next(line for line in table.splitlines() if f" {old} " in line)
    only = json.loads(cli("list", "--expired", "--json").stdout)["jobs"]
    assert [j["id"] for j in only] == [old]


def test_result_of_an_expired_job_says_it_expired(
    cli: Run, asyncjobs_home: Path, toy_sandbox: Sandbox
) -> None:
    job_id = _submit(cli)
    _age(asyncjobs_home, job_id)
    del toy_sandbox.app.jobs[job_id]  # the service forgot it, as it does after the lifetime
    proc = cli("result", "toy", job_id, "-o", "out")
    assert proc.returncode == 3
    assert f"job {job_id!r} at toy has expired" in proc.stderr
    assert "keeps jobs for 1 hour" in proc.stderr


def test_list_all_shows_submissions_without_a_job_id(cli: Run, toy_sandbox: Sandbox) -> None:
    toy_sandbox.app.faults.status(400, body={"code": "bad", "message": "refused"}, path="/jobs")
    assert cli("submit", "toy", "upper", "text=a").returncode == 3
    assert json.loads(cli("list", "--json").stdout)["jobs"] == []
    (row,) = json.loads(cli("list", "--all", "--json").stdout)["jobs"]
    assert (row["id"], row["status"]) == ("-", "rejected")
    assert "refused" in row["error"]


# -- bad ledgers -------------------------------------------------------------------------------------


def test_file_that_is_not_a_ledger_exits_2_and_is_left_alone(
    cli: Run, asyncjobs_home: Path
) -> None:
    asyncjobs_home.mkdir(parents=True)
    path = asyncjobs_home / "ledger.sqlite3"
    path.write_text("not a database at all\n" * 100)
    proc = cli("list")
    assert proc.returncode == 2
    assert "is not an asyncjobs ledger" in proc.stderr
    assert path.read_text() == "not a database at all\n" * 100
    assert cli("submit", "toy", "upper", "text=a").returncode == 2


def test_ledger_from_a_newer_schema_exits_2(cli: Run, asyncjobs_home: Path) -> None:
    _submit(cli)
    db = sqlite3.connect(asyncjobs_home / "ledger.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    proc = cli("list")
    assert proc.returncode == 2
    assert "newer than this asyncjobs understands" in proc.stderr


def test_read_only_ledger_folder_exits_2_and_keeps_the_ledger(
    cli: Run, asyncjobs_home: Path, tmp_path: Path
) -> None:
    job_id = _submit(cli)
    Ledger(asyncjobs_home / "ledger.sqlite3").close()  # checkpoints the WAL into the file
    before = (asyncjobs_home / "ledger.sqlite3").read_bytes()
    asyncjobs_home.chmod(0o555)
    (asyncjobs_home / "ledger.sqlite3").chmod(0o444)
    try:
        proc = cli("submit", "toy", "upper", "text=a", preexec_fn=_without_root_override)
    finally:
        asyncjobs_home.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert "ledger" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (asyncjobs_home / "ledger.sqlite3").read_bytes() == before
    with Ledger(asyncjobs_home / "ledger.sqlite3") as ledger:
        assert [e.job_id for e in ledger.entries()] == [job_id]


def _without_root_override() -> None:
    """In the child: drop root's power to write anywhere (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH from
    the bounding set), so that file permissions apply to it as to an ordinary user."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


# -- sandbox -----------------------------------------------------------------------------------------


@pytest.fixture
def sandbox_proc(asyncjobs_home: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", "sandbox", "sandboxed", "--scale", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_env(asyncjobs_home, None),
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def test_sandbox_prints_settings_as_environment_and_serves_until_interrupted(
    sandbox_proc: subprocess.Popen[str], cli: Run, asyncjobs_home: Path
) -> None:
    assert sandbox_proc.stdout is not None
    lines = [sandbox_proc.stdout.readline() for _ in range(3)]
    assert lines[0].startswith("# sandboxed sandbox at http://127.0.0.1:")
    env = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines[1:])
    assert set(env) == {"TOY_KEY", "TOY_BASE_URL"}
    proc = cli(
        "submit", "sandboxed", "upper", "text=via sandbox", env=_env(asyncjobs_home, None, **env)
    )
    assert proc.returncode == 0, proc.stderr
    sandbox_proc.send_signal(signal.SIGINT)
    assert sandbox_proc.wait(timeout=10) == 0


# -- demo --------------------------------------------------------------------------------------------


#: The providers this repository ships, each with a sandbox and a demo job.
FIVE = ("convertapi", "groupdocs", "conversio", "cloudconvert", "zamzar")


def test_demo_runs_every_provider_on_its_sandbox(asyncjobs_home: Path, tmp_path: Path) -> None:
    assert set(FIVE) <= set(asyncjobs.available_providers())
    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "demo", "-o", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=_env(asyncjobs_home, None),
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "demo"
    for provider in FIVE:
        files = list((out / provider).iterdir())
        assert files, provider
        assert all(f.stat().st_size > 0 for f in files), provider
        assert provider in proc.stdout
    assert "done: 6 jobs" in proc.stdout  # the five providers and the example plugin
    assert not (asyncjobs_home / "ledger.sqlite3").exists()  # the demo keeps its own ledger


def test_status_json_fills_submitted_at_for_a_provider_that_does_not_say(
    cli: Run, asyncjobs_home: Path, toy_sandbox: Sandbox
) -> None:
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox

    app = ConvertAPISandbox(scale=1, duration=3600)  # stays pending
    with Sandbox(app) as box:
        settings = app.client_settings(box.url)
        with asyncjobs.connect(
            "convertapi", ledger=asyncjobs_home / "ledger.sqlite3", **settings
        ) as client:
            job = client.submit("convert", source=b"x", from_="txt", to="pdf")
        env = _env(
            asyncjobs_home,
            toy_sandbox,
            CONVERTAPI_SECRET=settings["secret"],
            CONVERTAPI_BASE_URL=settings["base_url"],
        )
        proc = cli("status", "convertapi", job.id, "--json", env=env)
    app.close()
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "pending"
    assert doc["submitted_at"] is not None


# -- what a newcomer meets: quiet pipes, command-line advice, durations --------------------------------


def test_a_closed_pipe_ends_quietly(toy_sandbox: Sandbox, asyncjobs_home: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before a byte is written, as `| head` is after its lines
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "asyncjobs", "list"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(asyncjobs_home, toy_sandbox),
            timeout=60,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_wait_timeout_says_how_to_resume_on_the_command_line(cli: Run) -> None:
    job_id = _submit(cli, duration=3600)
    proc = cli("wait", "toy", job_id, "--timeout", "0.3")
    assert proc.returncode == 4
    assert f"`asyncjobs wait toy {job_id}` picks it up again" in proc.stderr
    assert "client.job" not in proc.stderr


def test_ctrl_c_while_waiting_says_the_job_goes_on_and_how_to_resume(
    toy_sandbox: Sandbox, cli: Run, asyncjobs_home: Path
) -> None:
    job_id = _submit(cli, duration=3600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", "wait", "toy", job_id],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(asyncjobs_home, toy_sandbox),
    )
    deadline = time.monotonic() + 30
    while not any(job_id in path for method, path in toy_sandbox.app.requests if method == "GET"):
        assert time.monotonic() < deadline, "the command never polled the job"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert f"job {job_id} goes on at toy: `asyncjobs wait toy {job_id}` picks it up again" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("setup", "args", "advice"),
    [
        ("not-a-ledger", ("submit", "toy", "upper", "text=a"), "--no-ledger"),
        ("not-a-ledger", ("list",), "pass --ledger PATH, or --no-ledger to run without one"),
        ("no-key", ("submit", "toy", "upper", "text=a"), "pass --set key=... (after the provider)"),
        ("none", ("submit", "nosuch", "upper"), "register a class with --plugin NAME=MODULE:CLASS"),
    ],
    ids=["ledger-submit", "ledger-list", "setting", "provider"],
)
def test_advice_is_given_as_command_line_options(
    cli: Run, asyncjobs_home: Path, setup: str, args: tuple[str, ...], advice: str
) -> None:
    env = None
    if setup == "not-a-ledger":
        asyncjobs_home.mkdir(parents=True)
        (asyncjobs_home / "ledger.sqlite3").write_text("not a database at all\n" * 100)
    elif setup == "no-key":
        env = _env(asyncjobs_home, None, TOY_BASE_URL="http://127.0.0.1:9")
    proc = cli(*args, env=env)
    assert proc.returncode == 2
    assert advice in proc.stderr
    for python_advice in ("ledger=False", "ledger=<path>", "asyncjobs.connect(", "register("):
        assert python_advice not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--set", "key=k", "submit", "toy", "upper", "text=a"),
        ("--json", "--set=key=k", "status", "toy", "t1"),
    ],
    ids=["set", "set="],
)
def test_set_before_the_verb_gets_a_hint_where_it_belongs(cli: Run, args: tuple[str, ...]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert "--set goes after the verb and the provider" in proc.stderr


def test_providers_writes_the_job_lifetime_as_people_do(cli: Run) -> None:
    proc = cli("providers")
    assert proc.returncode == 0, proc.stderr
    assert "jobs live 1 hour; sandbox" in proc.stdout
    assert "0:00" not in proc.stdout


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=7), "7 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=24), "1 day"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (timedelta(minutes=2, seconds=1), "2 minutes 1 second"),
        (timedelta(seconds=45), "45 seconds"),
        (timedelta(seconds=0.5), "0.5 seconds"),
    ],
)
def test_durations_read_as_people_write_them(value: timedelta, text: str) -> None:
    assert duration_text(value) == text


def test_a_ledger_in_a_read_only_folder_can_be_listed(cli: Run, asyncjobs_home: Path) -> None:
    job_id = _submit(cli)
    Ledger(asyncjobs_home / "ledger.sqlite3").close()  # checkpoints the WAL into the file
    before = (asyncjobs_home / "ledger.sqlite3").read_bytes()
    asyncjobs_home.chmod(0o555)
    (asyncjobs_home / "ledger.sqlite3").chmod(0o444)
    try:
        proc = cli("list", "--json", preexec_fn=_without_root_override)
    finally:
        asyncjobs_home.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert [row["id"] for row in json.loads(proc.stdout)["jobs"]] == [job_id]
    assert (asyncjobs_home / "ledger.sqlite3").read_bytes() == before


@pytest.mark.parametrize("args", [("list",), ("submit", "toy", "upper", "text=a")])
def test_asyncjobs_home_that_is_a_file_says_so(
    cli: Run, asyncjobs_home: Path, args: tuple[str, ...]
) -> None:
    asyncjobs_home.parent.mkdir(parents=True, exist_ok=True)
    asyncjobs_home.write_text("a file\n")
    proc = cli(*args)
    assert proc.returncode == 2
    assert f"ASYNCJOBS_HOME points at a file, not a folder: {str(asyncjobs_home)!r}" in proc.stderr


def test_demo_shows_its_progress_bar_on_a_terminal(asyncjobs_home: Path, tmp_path: Path) -> None:
    import pty

    master, slave = pty.openpty()
    env = {k: v for k, v in _env(asyncjobs_home, None).items() if k != "ASYNCJOBS_PROGRESS"}
    chunks: list[bytes] = []

    def drain() -> None:
        with contextlib.suppress(OSError):  # EIO once the child closed the terminal
            while chunk := os.read(master, 4096):
                chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "asyncjobs", "demo", "-o", str(tmp_path / "demo")],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            cwd=tmp_path,
            timeout=120,
            env=env,
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, terminal
    assert "jobs: 100%" in terminal
    assert "6/6" in terminal  # the five providers and the example plugin


def test_the_misplaced_option_hint_knows_every_verb() -> None:
    from asyncjobs.cli import _VERBS, build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(_VERBS) == set(sub.choices)


# -- request budgets -----------------------------------------------------------------------------


def test_a_budget_that_is_no_rate_is_a_usage_error_naming_the_flag(cli: Run) -> None:
    proc = cli("--budget", "lots", "submit", "toy", "upper", "text=x")
    assert proc.returncode == 2
    assert "--budget must be a rate like '20/s'" in proc.stderr


def test_a_budget_for_a_list_of_providers_is_refused(cli: Run) -> None:
    proc = cli("--budget", "5/s", "submit", "toy,nocancel", "upper", "text=x")
    assert proc.returncode == 2
    assert "--budget is one provider account's" in proc.stderr


def _budget_line(stdout: str, provider: str) -> str:
    lines = stdout.splitlines()
    block = lines[lines.index(provider) + 1 :]
    return next(line for line in block if line.startswith("  budget: "))


def test_providers_shows_the_budget_and_what_its_requests_waited(cli: Run) -> None:
    assert cli("--budget", "50/s", "submit", "toy", "upper", "text=x").returncode == 0
    line = _budget_line(cli("--budget", "50/s", "providers").stdout, "toy")
    assert line.startswith("  budget: 50/s (--budget); account 1: 1 requests, waited ")
    untold = _budget_line(cli("providers").stdout, "toy")
    assert untold.startswith("  budget: none (requests go unpaced")
