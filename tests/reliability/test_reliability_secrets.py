"""The secret canary: for every provider and every error path, with logging at DEBUG, the secret never
shows in a message, repr, _repr_html_, log record, request path or query, the ledger, the output of
the ``asyncjobs`` command (with --debug and --json too), or OpenTelemetry's spans and metrics."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
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
from telemetry_support import Recorded
from webhook_support import KEY

import asyncjobs
from asyncjobs._redaction import encodings
from asyncjobs._registry import get_provider_class
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


# -- telemetry --------------------------------------------------------------------------------------

#: The span names every provider's walk must give (besides ``asyncjobs.cancel`` and
#: ``asyncjobs.webhook`` where the provider can), so that the test cannot pass on nothing.
TELEMETRY_SPANS = {
    "asyncjobs.submit",
    "asyncjobs.poll",
    "asyncjobs.wait",
    "asyncjobs.result",
    "asyncjobs.download",
    "GET",
    "POST",
}


class _Walked:
    """What the telemetry walk did where providers differ."""

    def __init__(self) -> None:
        self.cancelled = False
        self.tokens: list[str] = []


def test_secret_never_reaches_telemetry(
    kit: Kit,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    telemetry: Recorded,
    request: pytest.FixtureRequest,
    cell: Recorder,
) -> None:
    cell.at("secrets", "OpenTelemetry spans, metrics and structured log records", kit.name)
    caplog.set_level(logging.DEBUG)
    env = _secret_env(tmp_path / "svc", kit)
    try:
        provider = get_provider_class(kit.name)
        webhooks = provider.capabilities.webhooks
        receiver = request.getfixturevalue("receiver") if webhooks else None
        walked = _walk_telemetry_paths(env, kit, receiver, telemetry)
        # the canary, and every other secret setting (CloudConvert's webhook signing secret)
        secrets = _canaries(env) | {
            env.settings[s.name] for s in provider.settings if s.secret and s.name in env.settings
        }
        canaries = set().union(*(encodings(c) for c in secrets))
    finally:
        env.close()
    # every path was taken, so that no leak can hide in a path never walked
    names = {s.name for s in telemetry.spans()}
    expected = set(TELEMETRY_SPANS)
    expected |= {"asyncjobs.cancel"} if walked.cancelled else set()
    expected |= {"asyncjobs.webhook"} if webhooks else set()
    assert expected <= names, sorted(expected - names)
    error_types = {
        str(attrs["error.type"])
        for s in telemetry.spans()
        if "error.type" in (attrs := s.attributes or {})
    }
    assert {"AuthenticationError", "401", str(_busy(kit)), "429", "500"} <= error_types, error_types
    waits = telemetry.spans("asyncjobs.wait")
    assert {(w.attributes or {}).get("asyncjobs.job.status") for w in waits} == {"done", "failed"}
    assert any(e.name == "retry" for s in telemetry.spans("asyncjobs.poll") for e in s.events)
    assert any(e.name == "exception" for s in telemetry.spans() for e in s.events)
    assert telemetry.total("asyncjobs.retries", {"asyncjobs.provider": kit.name}) >= 3
    events = {getattr(r, "job_event", None) for r in caplog.records}
    wanted = {"submitted", "ended", "retry"} | ({"cancelled"} if walked.cancelled else set())
    wanted |= {"webhook"} if webhooks else set()
    assert wanted <= events, sorted(str(e) for e in wanted - events)
    assert any(getattr(r, "error", None) for r in caplog.records if r.name == "asyncjobs.jobs")
    # ... and no form of the secret is in any of it
    texts = telemetry.texts()
    assert _leaks(texts, canaries) == []
    records = {r: _record_texts(r) for r in caplog.records}
    assert _leaks([t for found in records.values() for t in found], canaries) == []
    if receiver is not None:  # nor the receiver's key, nor a webhook token, in asyncjobs' own
        ours = [t for r, found in records.items() if r.name.startswith("asyncjobs") for t in found]
        assert _leaks(texts + ours, {KEY, *walked.tokens}) == []
    operations = ", ".join(n.removeprefix("asyncjobs.") for n in sorted(expected) if "." in n)
    cell.say(f"spans of {operations} and HTTP requests, metrics, log records: no secret")


def _walk_telemetry_paths(env: Env, kit: Kit, receiver: Any, telemetry: Recorded) -> _Walked:
    """Every path of one provider that telemetry reports on, the secret echoed where a service can
    echo it: a submit, a wait, the result and its files' downloads, a cancel, polls answered 503
    and 429 (retried), a poll answered 500, a job that failed, refused submits (a wrong secret, and
    a 401 echoing it), and a webhook call received."""
    app = env.app
    walked = _Walked()
    client = env.connect(webhooks=receiver) if receiver is not None else env.connect()
    job = kit.submit(client)
    job.wait(timeout=10)
    for file in job.result(timeout=10).files:
        assert file.read()
    if client.provider.capabilities.cancel:
        kit.submit(client).cancel()
        walked.cancelled = True
    # a poll retried after a 503 twice and a 429, each echoing the secret; one answered 500
    echoed = echo(kit.name)
    again = {"Retry-After": "0"}
    busy = _busy(kit)
    app.faults.status(busy, times=2, path=kit.poll_path, body=echoed, headers=again)
    app.faults.status(429, times=1, path=kit.poll_path, body=echoed, headers=again)
    client.status(job.id)
    app.faults.status(500, path=kit.poll_path, body=echoed)
    with contextlib.suppress(AsyncJobsError):  # ConvertAPI reads it as the job's failure
        client.status(job.id)
    app.faults.clear()
    # a job that failed, its error echoing the secret
    other = kit.submit(client)
    status, body = failed(kit.name, other.id)
    app.faults.status(status, path=kit.poll_path, body=body)
    with pytest.raises(JobFailedError):
        other.result(timeout=10)
    # refused submits: a wrong secret, and a 401 whose body echoes the secret
    wrong = env.connect(**{SECRET_SETTING[kit.name]: CANARY + "-wrong"})
    with pytest.raises(AuthenticationError):
        kit.submit(wrong)
    app.faults.status(401, times=5, path=kit.submit_path, body=echoed)
    with pytest.raises(AuthenticationError):
        kit.submit(client)
    app.faults.clear()
    if receiver is not None:  # the service calls the receiver when the job ends
        if client.provider.capabilities.account_webhook:  # Conversio: set once per account
            client.provider.register_webhook(receiver.url_for(kit.name))
        hooked = kit.submit(client, webhook=True)
        walked.tokens.append(receiver.url_for(kit.name, hooked.id).rsplit("/", 1)[1])
        walked.tokens.append(receiver.url_for(kit.name).rsplit("/", 1)[1])
        hooked.wait(timeout=10)
        assert env.wait_until(lambda: _accepted(telemetry, hooked.id), timeout=10)
        assert env.wait_until(lambda: receiver.queued == 0)  # its confirming poll is done
    return walked


def _record_texts(record: logging.LogRecord) -> list[str]:
    """A log record's message, and every field of it (the ``extra`` ones too), as text."""
    fields = list(record.__dict__.values())
    return [record.getMessage(), *map(str, fields), *map(repr, fields)]


def _busy(kit: Kit) -> int:
    """The status of a poll answer that is retried: 503, but for ConvertAPI, whose 503 on a poll
    means "another poll of the job is open" (the job is pending: no retry): a gateway's 502."""
    return 502 if kit.name == "convertapi" else 503


def _accepted(telemetry: Recorded, job_id: str) -> bool:
    """Whether the receiver accepted a webhook call for ``job_id`` (its span ended)."""
    return any(
        (s.attributes or {}).get("asyncjobs.job.id") == job_id
        and (s.attributes or {}).get("asyncjobs.webhook.outcome") == "accepted"
        for s in telemetry.spans("asyncjobs.webhook")
    )
