"""The secret canary: for every provider and every error path, with logging at DEBUG, the secret never
shows in a message, repr, _repr_html_, log record, request path or query, the ledger, or the output of
the ``asyncjobs`` command (with --debug and --json too)."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_kits import KITS, Env, Kit
from reliability_matrix import Recorder

import asyncjobs
from asyncjobs.errors import (
    AsyncJobsError,
    AuthenticationError,
    JobFailedError,
    JobNotFoundError,
    ProviderError,
    RateLimitedError,
    TransportError,
)

CANARY = "CANARY-reliability-5e1f0c9a77"

#: The sandbox keyword that makes the canary the provider's secret.
SECRET_KWARGS: dict[str, dict[str, Any]] = {
    "convertapi": {"secret": CANARY},
    "groupdocs": {"client_secret": CANARY},
    "conversio": {"keys": {CANARY: "shop-1"}},
    "cloudconvert": {"secret": CANARY},
    "zamzar": {"key": CANARY},
}
#: The setting holding the secret (a wrong value of it is tried too).
SECRET_SETTING = {
    "convertapi": "secret",
    "groupdocs": "client_secret",
    "conversio": "api_key",
    "cloudconvert": "secret",
    "zamzar": "secret",
}


def echo(provider: str) -> dict[str, Any]:
    """An error body in the provider's shape that echoes the secret back (a careless service)."""
    said = f"rejected credentials {CANARY}"
    if provider == "convertapi":
        return {"Code": 4000, "Message": said, "InvalidParameters": {"Secret": [CANARY]}}
    if provider == "groupdocs":
        return {"requestId": "r1", "error": {"code": "bad", "message": said, "description": CANARY}}
    if provider == "cloudconvert":
        return {"message": said, "code": "UNAUTHENTICATED", "errors": {"key": [CANARY]}}
    if provider == "zamzar":
        return {"errors": [{"message": said, "code": 20, "context": {"parameter": CANARY}}]}
    return {"errors": [said]}


def failed(provider: str, job_id: str) -> tuple[int, dict[str, Any]]:
    """A poll answer saying the job failed, its error echoing the secret."""
    said = f"failed for {CANARY}"
    if provider == "convertapi":
        return 500, {"Code": 5001, "Message": said}
    if provider == "groupdocs":
        return 200, {"id": job_id, "status": "Failed", "error": said}
    if provider == "cloudconvert":
        task = {"id": "t1", "name": "convert", "operation": "convert", "status": "error"}
        return 200, {
            "data": {"id": job_id, "status": "error", "tasks": [{**task, "message": said}]}
        }
    if provider == "zamzar":
        return 200, {"id": int(job_id), "status": "failed", "failure": {"code": 2, "message": said}}
    return 200, {
        "data": {"id": job_id, "kind": "newsletter-recipients", "status": "failed", "error": said}
    }


def _texts(error: BaseException) -> list[str]:
    out = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for name in ("provider_message", "invalid_parameters", "info", "code"):
        out.append(repr(getattr(error, name, None)))
    info = getattr(error, "info", None)
    if info is not None:
        out += [repr(info), info._repr_html_(), str(info.error)]
    return out


def _secret_env(tmp: Path, kit: Kit, **app_kwargs: Any) -> Env:
    return Env(kit, tmp, **{**SECRET_KWARGS[kit.name], **app_kwargs})


def _leaks(texts: list[str], canaries: set[str]) -> list[str]:
    return [t[:200] for t in texts if any(c in t for c in canaries)]


def _canaries(env: Env) -> set[str]:
    found = {CANARY}
    found |= set(getattr(env.app, "tokens", {}))  # GroupDocs' access tokens are secrets too
    if env.kit.name == "zamzar":  # HTTP Basic: the key's encoded form is a secret too
        found.add(base64.b64encode(f"{CANARY}:".encode()).decode())
    return found


def test_secret_never_leaks_in_process(
    kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture, cell: Recorder
) -> None:
    cell.at("secrets", "messages, reprs and `_repr_html_` on every error path", kit.name)
    caplog.set_level(logging.DEBUG)
    env = _secret_env(tmp_path / "svc", kit)
    try:
        texts, paths = _walk_error_paths(env, kit, tmp_path)
        canaries = _canaries(env)
        assert len(canaries) >= 1
        assert _leaks(texts, canaries) == []
        cell.say(f"{len(texts)} texts checked, none holds the secret")
        cell.at("secrets", "log records at DEBUG", kit.name)
        records = [caplog.text] + [
            r.getMessage() + repr(r.args) + repr(r.__dict__) for r in caplog.records
        ]
        assert _leaks(records, canaries) == []
        cell.say(f"{len(caplog.records)} records checked, none holds the secret")
        cell.at("secrets", "request paths and query strings", kit.name)
        assert _leaks(paths, canaries) == []
        cell.say(f"{len(paths)} requests: the secret travels in headers only")
        cell.at("secrets", "ledger files (database, WAL)", kit.name)
        env.close_clients()
        blobs = {p.name: p.read_bytes() for p in tmp_path.glob("svc/ledger.sqlite3*")}
        assert blobs
        assert [n for n, b in blobs.items() if any(c.encode() in b for c in canaries)] == []
        cell.say(f"files: {', '.join(sorted(blobs))}; none holds the secret")
    finally:
        env.close()


def _walk_error_paths(env: Env, kit: Kit, tmp: Path) -> tuple[list[str], list[str]]:
    """Every error path of one provider; returns the texts shown to users and the request paths."""
    app = env.app
    texts: list[str] = []
    caught: list[AsyncJobsError] = []

    def expect(cls: type[AsyncJobsError], call: Callable[[], object]) -> None:
        with pytest.raises(cls) as raised:
            call()
        caught.append(raised.value)

    def look(call: Callable[[], object]) -> None:
        try:
            value = call()
        except AsyncJobsError as exc:
            caught.append(exc)
        else:  # ConvertAPI reads a 5xx with its error body as the job's failure
            texts.extend([repr(value), getattr(value, "error", "") or ""])

    client = env.connect()
    texts += [repr(client), repr(client.provider), repr(client.provider.config)]
    texts += [repr(client.provider.transport), repr(client.provider.auth())]
    job = kit.submit(client)
    app.clock.advance(100)
    result = job.result(timeout=10)
    texts += [repr(job), job._repr_html_(), repr(result), result._repr_html_()]
    assert job.info is not None
    texts += [repr(job.info), job.info._repr_html_()]
    # the service refuses a submit, echoing the secret
    app.faults.status(400, path=kit.submit_path, body=echo(kit.name))
    expect(ProviderError, lambda: kit.submit(client))
    # a poll answered 500 echoing the secret; 429 until the retries run out; reset; malformed
    app.faults.status(500, path=kit.poll_path, body=echo(kit.name))
    look(lambda: client.status(job.id))
    app.faults.status(
        429, times=5, path=kit.poll_path, body=echo(kit.name), headers={"Retry-After": "0"}
    )
    expect(RateLimitedError, lambda: client.status(job.id))
    app.faults.drop(times=5, path=kit.poll_path)
    expect(TransportError, lambda: client.status(job.id))
    app.faults.malformed(path=kit.poll_path)
    expect(TransportError, lambda: client.status(job.id))
    # a job that failed, its error echoing the secret (kept in the ledger too)
    other = kit.submit(client)
    status, body = failed(kit.name, other.id)
    app.faults.status(status, path=kit.poll_path, body=body)
    expect(JobFailedError, lambda: other.result(timeout=10))
    texts += [repr(other), other._repr_html_()]
    # unknown job, cut download, a wrong secret
    expect(
        JobNotFoundError, lambda: client.status("0" * 24 if kit.name == "conversio" else "a" * 32)
    )
    env.timed.cut(kit.download_path)
    expect(TransportError, lambda: result.save(tmp / "out"))
    wrong = env.connect(**{SECRET_SETTING[kit.name]: CANARY + "-wrong"})
    expect(AuthenticationError, lambda: kit.submit(wrong))
    listed = client.list()
    texts += [repr(listed), listed._repr_html_(), repr(asyncjobs.jobs())]
    for error in caught:
        texts += _texts(error)
    paths = [p for _, _, p in env.timed.log]
    return texts, paths


# -- the command ------------------------------------------------------------------------------------

ENV_NAMES = {
    "convertapi": {"secret": "CONVERTAPI_SECRET", "base_url": "CONVERTAPI_BASE_URL"},
    "groupdocs": {
        "client_id": "GROUPDOCS_CLIENT_ID",
        "client_secret": "GROUPDOCS_CLIENT_SECRET",
        "base_url": "GROUPDOCS_BASE_URL",
        "token_url": "GROUPDOCS_TOKEN_URL",
    },
    "conversio": {"api_key": "CONVERSIO_API_KEY", "base_url": "CONVERSIO_BASE_URL"},
    "cloudconvert": {
        "secret": "CLOUDCONVERT_API_KEY",
        "base_url": "CLOUDCONVERT_BASE_URL",
        "webhook_secret": "CLOUDCONVERT_WEBHOOK_SECRET",
    },
    "zamzar": {"secret": "ZAMZAR_API_KEY", "base_url": "ZAMZAR_BASE_URL"},
}
#: The prefixes of every provider's variables (none is inherited from the calling shell).
ENV_PREFIXES = ("ASYNCJOBS_", "CONVERTAPI_", "GROUPDOCS_", "CONVERSIO_", "CLOUDCONVERT_", "ZAMZAR_")
VARIANTS: tuple[tuple[str, ...], ...] = ((), ("--debug", "--json"))


def _command_env(env: Env, home: Path, **override: str) -> dict[str, str]:
    names = ENV_NAMES[env.kit.name]
    out = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    out.update({names[k]: v for k, v in env.settings.items() if k in names})
    out.update(override)
    out.update(ASYNCJOBS_HOME=str(home), ASYNCJOBS_PROGRESS="0")
    return out


def _run(args: list[str], environ: dict[str, str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "asyncjobs", *args],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def _command_runs(kit: Kit, tmp: Path) -> tuple[list[tuple[str, int, str]], set[str], list[bytes]]:
    """Run the command on each error path of one provider; returns (name, exit code, output)."""
    home = tmp / "home"
    env = _secret_env(tmp / "svc", kit)
    runs: list[tuple[str, int, str]] = []
    try:
        client = env.connect(ledger=home / "ledger.sqlite3")
        job = kit.submit(client)
        env.app.clock.advance(100)
        job.wait(timeout=10, progress=False)
        env.close_clients()
        base = _command_env(env, home)
        unknown = "0" * 24 if kit.name == "conversio" else "a" * 32
        source = tmp / f"in.{kit.source_ext}"
        submit = (
            ["submit", kit.name, "newsletter-recipients", "newsletter=n1"]
            if kit.name == "conversio"
            else ["submit", kit.name, "convert", f"source={source}", "to=pdf"]
        )
        source.write_bytes(b"canary input")
        wrong = {ENV_NAMES[kit.name][SECRET_SETTING[kit.name]]: CANARY + "-wrong"}
        cases: list[tuple[str, list[str], Callable[[], None], dict[str, str]]] = [
            ("status, unknown job", ["status", kit.name, unknown], lambda: None, base),
            (
                "status, 500 echoing the secret",
                ["status", kit.name, job.id],
                lambda: env.app.faults.status(500, path=kit.poll_path, body=echo(kit.name)),
                base,
            ),
            (
                "result, cut download",
                ["result", kit.name, job.id, "-o", str(tmp / "out")],
                lambda: env.timed.cut(kit.download_path),
                base,
            ),
            (
                "list, 500 echoing the secret",
                ["list", kit.name],
                lambda: env.app.faults.status(500, body=echo(kit.name)),
                base,
            ),
            (
                "submit, refused echoing the secret",
                submit,
                lambda: env.app.faults.status(400, path=kit.submit_path, body=echo(kit.name)),
                base,
            ),
            ("status, wrong secret", ["status", kit.name, job.id], lambda: None, {**base, **wrong}),
        ]
        for name, args, arm, environ in cases:
            for variant in VARIANTS:
                arm()
                code, output = _run([*variant, *args], environ, tmp)
                env.app.faults.clear()
                runs.append((f"{name} {' '.join(variant)}".strip(), code, output))
        canaries = _canaries(env)
        ledgers = [p.read_bytes() for p in home.glob("ledger.sqlite3*")]
    finally:
        env.close()
    return runs, canaries, ledgers


def test_secret_never_leaks_from_the_command(tmp_path: Path, cell: Recorder) -> None:
    # the providers' runs go side by side (each against its own sandbox)
    with cf.ThreadPoolExecutor(max_workers=len(KITS)) as pool:
        futures = {name: pool.submit(_command_runs, KITS[name], tmp_path / name) for name in KITS}
        outcomes = {name: f.result() for name, f in futures.items()}
    failures = []
    for name, (runs, canaries, ledgers) in outcomes.items():
        cell.at("secrets", "`asyncjobs` output on error paths (also `--debug --json`)", name)
        leaked = [(what, out[:300]) for what, _, out in runs if any(c in out for c in canaries)]
        leaked += [("ledger", "") for blob in ledgers if any(c.encode() in blob for c in canaries)]
        errors = sorted({what.split(",")[0] for what, code, _ in runs if code != 0})
        cell.say(
            f"{len(runs)} runs ({', '.join(errors)} failing as they should), no secret in the "
            "output or the ledger"
        )
        failures += [(name, *leak) for leak in leaked]
        assert all(code != 0 for what, code, _ in runs if "list" not in what), runs
    assert failures == []
