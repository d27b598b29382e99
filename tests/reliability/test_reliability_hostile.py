"""Hostile servers: what a malicious or broken service (or a man in the middle of a redirect) can try,
and what asyncjobs does about it. Each test names its finding of the adversarial review (issue 12)
in the matrix's "hostile" section; the servers are the suite's own, on 127.0.0.1 (see hostile.py).
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import responses
from hostile import Hostile, Middleware, endless, gzip_bomb, nested_json
from reliability_kits import FAST_POLL, KITS, PAYLOAD, Env, Kit
from reliability_matrix import Recorder, render

import asyncjobs
from asyncjobs._http import Transport, origin, same_origin
from asyncjobs._ledger import Ledger
from asyncjobs._redaction import Redactor
from asyncjobs._results import Result, ResultFile
from asyncjobs.errors import (
    AsyncJobsError,
    AuthenticationError,
    ConfigurationError,
    InvalidParameterError,
    JobTimeoutError,
    LedgerError,
    ProviderError,
    SaveError,
    TransportError,
)

#: A secret with the characters that encodings change: '+' and '/' (URL and JSON escapes), '='.
CANARY = "CANARY+hostile/5e1f0c=9a77"
SECRET_KWARGS: dict[str, dict[str, Any]] = {
    "convertapi": {"secret": CANARY},
    "groupdocs": {"client_secret": CANARY},
    "conversio": {"keys": {CANARY: "shop-1"}},
    "cloudconvert": {"secret": CANARY},
    "zamzar": {"key": CANARY},
}
SECRET_SETTING = {
    "convertapi": "secret",
    "groupdocs": "client_secret",
    "conversio": "api_key",
    "cloudconvert": "secret",
    "zamzar": "secret",
}
SECRET_ENV = {
    "convertapi": "CONVERTAPI_SECRET",
    "groupdocs": "GROUPDOCS_CLIENT_SECRET",
    "conversio": "CONVERSIO_API_KEY",
    "cloudconvert": "CLOUDCONVERT_API_KEY",
    "zamzar": "ZAMZAR_API_KEY",
}
NO_RETRY = asyncjobs.RetryPolicy(max_tries=1)
REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    """A second server, on another port of 127.0.0.1: another origin."""
    server = Hostile()
    yield server
    server.close()


@pytest.fixture
def secret_env(kit: Kit, tmp_path: Path) -> Iterator[Env]:
    """The provider's sandbox with the canary as its secret."""
    env = Env(kit, tmp_path / "svc", **SECRET_KWARGS[kit.name])
    yield env
    env.close()


def canaries(env: Env) -> set[str]:
    """The canary, its encoded forms, and any access token the service issued."""
    found = {CANARY, quote_plus(CANARY), json.dumps(CANARY)[1:-1]}
    found |= set(getattr(env.app, "tokens", {}))
    if env.kit.name == "zamzar":  # HTTP Basic: the key's encoded form is a secret too
        found.add(base64.b64encode(f"{CANARY}:".encode()).decode())
    return found


def leaks(texts: list[str], secrets: set[str]) -> list[str]:
    return [t[:300] for t in texts if any(s in t for s in secrets)]


def finished_job(env: Env, client: asyncjobs.Client) -> asyncjobs.Job:
    job = env.kit.submit(client)
    env.app.clock.advance(100)
    job.wait(timeout=10, progress=False)
    return job


def error_texts(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for name in ("code", "request_id", "provider_message", "invalid_parameters", "info"):
        out.append(repr(getattr(exc, name, None)))
    return out


# -- 1. redirects never carry a credential to another origin -----------------------------------------

VERBS = ("submit", "status", "download", "list")


def _verb_path(kit: Kit, verb: str) -> str | None:
    if verb == "list":
        return kit.list_path or None
    return {"submit": kit.submit_path, "status": kit.poll_path, "download": kit.download_path}[verb]


VERB_CASES = [
    (name, verb) for name in sorted(KITS) for verb in VERBS if _verb_path(KITS[name], verb)
]


@pytest.mark.parametrize(("provider", "verb"), VERB_CASES)
def test_redirect_to_another_origin_carries_no_credential(
    provider: str, verb: str, hostile: Hostile, cell: Recorder, tmp_path: Path
) -> None:
    kit = KITS[provider]
    path = _verb_path(kit, verb)
    assert path is not None
    cell.at("hostile", f"redirect to another origin on {verb}", kit.name)
    env = Env(kit, tmp_path / "svc", **SECRET_KWARGS[kit.name])
    try:
        _redirect_everywhere(env, kit, verb, path, hostile, cell, tmp_path)
    finally:
        env.close()


def _redirect_everywhere(
    env: Env, kit: Kit, verb: str, path: str, hostile: Hostile, cell: Recorder, tmp_path: Path
) -> None:
    watch = Middleware(env.app)  # sees the headers of hops that come back to the sandbox's port
    env.timed.app = watch
    port = env.box.url.rsplit(":", 1)[1].split("/")[0]
    targets = [f"{hostile.url}/stolen", f"http://localhost:{port}/stolen"]
    outcomes: set[str] = set()
    texts: list[str] = []
    for status in REDIRECTS:
        for target in targets:
            client = env.connect(retry=NO_RETRY)
            job = None if verb == "submit" else finished_job(env, client)
            result = client.fetch_result(job.id) if job is not None and verb == "download" else None
            env.app.faults.status(status, path=path, headers={"Location": target})
            try:
                if verb == "submit":
                    kit.submit(client)
                elif verb == "status":
                    assert job is not None
                    job.refresh()
                elif verb == "download":
                    assert result is not None
                    result.save(tmp_path / f"out-{status}-{len(outcomes)}", overwrite=True)
                else:
                    client.list()
                outcomes.add("followed unsigned")
            except AsyncJobsError as exc:
                outcomes.add(type(exc).__name__)
                texts.extend(error_texts(exc))
            env.app.faults.clear()
    assert leaks(texts, canaries(env)) == []
    assert leaks(hostile.texts(), canaries(env)) == []
    stolen = [heads for p, heads in watch.seen if p.startswith("/stolen")]
    assert leaks(stolen, canaries(env)) == []  # localhost:P is another origin than 127.0.0.1:P
    cell.say(
        f"{len(REDIRECTS)} statuses, 2 targets each: {len(hostile.requests) + len(stolen)} hops reached "
        f"the other origin, none with the secret ({', '.join(sorted(outcomes))})"
    )


def test_same_origin_redirect_is_followed_and_signed(
    kit: Kit, secret_env: Env, cell: Recorder
) -> None:
    cell.at("hostile", "redirect within the origin (still works)", kit.name)
    env = secret_env
    client = env.connect(retry=NO_RETRY)
    job = finished_job(env, client)
    poll = next(p for _, m, p in reversed(env.timed.log) if kit.poll_path in p and m == "GET")
    env.app.faults.status(307, path=kit.poll_path, headers={"Location": env.box.url + poll})
    info = job.refresh()
    assert info.status is asyncjobs.Status.DONE
    cell.say("307 to the same origin: followed, signed again, the job read")


def test_redirect_loop_ends_in_a_typed_error(secret_env: Env, kit: Kit, cell: Recorder) -> None:
    cell.at("hostile", "redirect loop", kit.name)
    env = secret_env
    client = env.connect(retry=NO_RETRY)
    job = finished_job(env, client)
    here = env.box.url + "/loop"
    env.app.faults.status(302, times=50, headers={"Location": here})
    with pytest.raises(ProviderError, match="too many redirects"):
        job.refresh()
    cell.say("ProviderError after 10 hops")


# -- 2. the token request never follows a redirect ---------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_token_request_refuses_redirects(
    status: int, tmp_path: Path, hostile: Hostile, cell: Recorder
) -> None:
    cell.at("hostile", "token request redirected", "groupdocs")
    env = Env(KITS["groupdocs"], tmp_path / "svc", **SECRET_KWARGS["groupdocs"])
    try:
        env.app.faults.status(status, path="/connect/token", headers={"Location": hostile.url})
        client = env.connect(retry=NO_RETRY)
        with pytest.raises(AuthenticationError, match="token_url") as caught:
            KITS["groupdocs"].submit(client)
        assert hostile.requests == []
        assert leaks(error_texts(caught.value), canaries(env)) == []
        cell.say("301/302/307/308: AuthenticationError naming token_url; 0 requests elsewhere")
    finally:
        env.close()


# -- 3. one origin function, read as urllib3 reads URLs ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://v2.convertapi.com/async/job/1", "https://v2.convertapi.com:443"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"),
        ("HTTPS://Example.COM:443/", "https://example.com:443"),
        ("http://[::1]:9/x", "http://[::1]:9"),
        ("http://localhost:1\\@127.0.0.1:2/r.csv", None),
        ("http://user:pass@example.com/", None),
        ("http://example.com@evil.example/", None),
        ("http://example.com /x", None),
        ("http://exa\tmple.com/", None),
        ("http://example.com\r\nX: y", None),
        ("ftp://example.com/", None),
        ("//example.com/", None),
        ("http:///path", None),
        ("http://example.com:99999/", None),
        ("javascript:alert(1)", None),
    ],
)
def test_origin_reads_urls_as_the_connection_would(
    url: str, expected: str | None, cell: Recorder
) -> None:
    cell.at("hostile", "URLs that parsers read differently", "core")
    assert origin(url) == expected
    cell.say("backslash, userinfo, white space, control characters, odd ports: no origin")


def test_backslash_result_url_reaches_no_one(
    tmp_path: Path, hostile: Hostile, cell: Recorder
) -> None:
    cell.at("hostile", "URLs that parsers read differently", "conversio")
    env = Env(KITS["conversio"], tmp_path / "svc", **SECRET_KWARGS["conversio"])
    try:
        client = env.connect(retry=NO_RETRY)
        job = KITS["conversio"].submit(client)
        sandbox_port = env.box.url.rsplit(":", 1)[1]
        trap = f"http://localhost:{hostile.port}\\@127.0.0.1:{sandbox_port}/"
        env.app.jobs[job.id]["host"] = trap  # the service names a result URL that parses two ways
        env.app.clock.advance(100)
        result = job.result(timeout=10)
        with pytest.raises(TransportError, match="refusing to send"):
            result.save(tmp_path / "out")
        assert same_origin(result.files[0].url, env.settings["base_url"]) is False
        assert hostile.requests == []
        cell.say("result URL `http://localhost:P2\\@127.0.0.1:P1/`: refused, 0 requests to P2")
    finally:
        env.close()


def test_next_page_elsewhere_is_not_followed(
    tmp_path: Path, hostile: Hostile, cell: Recorder
) -> None:
    cell.at("hostile", "`nextPage` to another origin", "conversio")
    env = Env(KITS["conversio"], tmp_path / "svc", **SECRET_KWARGS["conversio"])
    try:
        client = env.connect(retry=NO_RETRY)
        KITS["conversio"].submit(client)
        middleware = Middleware(env.app)
        env.timed.app = middleware

        def add_next(body: bytes) -> bytes:
            data = json.loads(body)
            data["meta"] = {"nextPage": f"{hostile.url}\\@{env.box.url[7:]}/api/v1/async-jobs"}
            return json.dumps(data).encode()

        middleware.rewrite("/async-jobs", add_next)
        jobs = client.list()
        assert len(jobs) == 1
        assert hostile.requests == []
        cell.say("a `nextPage` that parses two ways is not followed; 0 requests elsewhere")
    finally:
        env.close()


# -- 4. secrets that cannot travel are refused at connect ----------------------------------------------

BAD_SECRETS = {
    "trailing newline": (CANARY + "\n", "ends with a newline"),
    "trailing CRLF": (CANARY + "\r\n", "ends with a newline"),
    "CR inside": (CANARY[:5] + "\r" + CANARY[5:], "line break"),
    "non-latin-1": (CANARY + "\N{EURO SIGN}", "cannot travel in an HTTP header"),
    "tab inside": (CANARY[:5] + "\t" + CANARY[5:], "control character"),
}


@pytest.mark.parametrize("case", sorted(BAD_SECRETS))
def test_secret_that_cannot_travel_is_refused_by_name(
    kit: Kit, case: str, tmp_path: Path, cell: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell.at("hostile", "secret with a newline or a non-header character", kit.name)
    value, why = BAD_SECRETS[case]
    env = Env(kit, tmp_path / "svc")
    try:
        seen = len(env.timed.log)
        settings = {**env.settings, SECRET_SETTING[kit.name]: value}
        with pytest.raises(ConfigurationError, match=why) as caught:
            asyncjobs.connect(kit.name, ledger=env.ledger_path, **settings)
        assert SECRET_SETTING[kit.name] in str(caught.value)
        assert leaks(error_texts(caught.value), {CANARY, CANARY[:5], CANARY[5:]}) == []
        # from the environment, the variable is named
        monkeypatch.setenv(SECRET_ENV[kit.name], value)
        del settings[SECRET_SETTING[kit.name]]
        with pytest.raises(ConfigurationError, match=SECRET_ENV[kit.name]):
            asyncjobs.connect(kit.name, ledger=env.ledger_path, **settings)
        assert len(env.timed.log) == seen
        assert not env.ledger_path.exists() or Ledger(env.ledger_path).entries() == []
        cell.say("ConfigurationError naming the setting and its variable; no request, no row")
    finally:
        env.close()


def test_cli_refuses_a_secret_with_a_newline_without_showing_it(
    tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "secret with a newline or a non-header character", "core")
    env = {
        **os.environ,
        "ASYNCJOBS_HOME": str(tmp_path / "home"),
        "CONVERTAPI_SECRET": CANARY + "\n",
        "CONVERTAPI_BASE_URL": "http://127.0.0.1:9",
    }
    src = tmp_path / "a.txt"
    src.write_bytes(PAYLOAD)
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "asyncjobs", *extra, "submit", "convertapi", "convert",
             f"source={src}", "to=pdf"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        both = done.stdout + done.stderr
        assert "CONVERTAPI_SECRET" in both
        assert "newline" in both
        assert CANARY not in both
        assert "Traceback" not in both
    cell.say("exit 2 naming CONVERTAPI_SECRET, with and without --json; the value never shown")


# -- 5, 6. redaction before truncation, and of encoded forms -----------------------------------------


@pytest.mark.parametrize("offset", [280, 295, 298, 299])
@responses.activate
def test_redaction_runs_before_truncation(offset: int, cell: Recorder) -> None:
    cell.at("hostile", "long error body ending in the secret", "core")
    body = "x" * offset + CANARY + " and more"
    responses.get("https://api.example.com/job/1", status=400, body=body)
    t = Transport(provider="acme", redactor=Redactor([CANARY]), retry=NO_RETRY)
    with pytest.raises(ProviderError) as caught:
        t.request("GET", "https://api.example.com/job/1", job_id="1")
    assert leaks(error_texts(caught.value), {CANARY[:4]}) == []  # no four characters of it
    cell.say("secret cut at the 300-character limit: masked whole, no prefix left")


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(lambda c: f"client_secret={quote_plus(c)}&grant_type=x", id="form-encoded"),
        pytest.param(lambda c: json.dumps({"error_description": c.replace("/", "\\/")}), id="json"),
    ],
)
def test_token_endpoint_echoing_the_form_body_leaks_nothing(
    echo: Callable[[str], str], tmp_path: Path, cell: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    cell.at("hostile", "secret echoed URL-encoded or JSON-escaped", "groupdocs")
    caplog.set_level(logging.DEBUG)
    env = Env(KITS["groupdocs"], tmp_path / "svc", **SECRET_KWARGS["groupdocs"])
    try:
        env.app.faults.status(400, path="/connect/token", body=echo(CANARY))
        client = env.connect(retry=NO_RETRY)
        with pytest.raises(AsyncJobsError) as caught:
            KITS["groupdocs"].submit(client)
        forms = {CANARY, quote_plus(CANARY), CANARY.replace("/", "\\/")}
        assert leaks([*error_texts(caught.value), caplog.text], forms) == []
        cell.say("form-encoded (`%2B`, `%2F`) and JSON-escaped (`\\/`) forms masked")
    finally:
        env.close()


# -- 7. every string the service returns is redacted ---------------------------------------------------


def test_error_attributes_are_redacted(kit: Kit, secret_env: Env, cell: Recorder) -> None:
    cell.at("hostile", "secret in error code, request id, raw status, meta", kit.name)
    env = secret_env
    client = env.connect(retry=NO_RETRY)
    job = finished_job(env, client)
    shapes: dict[str, dict[str, Any]] = {
        "convertapi": {"Code": 4000, "Message": CANARY, "InvalidParameters": {CANARY: [CANARY]}},
        "groupdocs": {"requestId": CANARY, "error": {"code": CANARY, "message": CANARY}},
        "conversio": {"errors": [CANARY], "code": CANARY, "requestId": CANARY},
        "cloudconvert": {"message": CANARY, "code": CANARY, "errors": {CANARY: [CANARY]}},
        "zamzar": {"errors": [{"message": CANARY, "code": 11, "context": {"parameter": CANARY}}]},
    }
    env.app.faults.status(400, path=kit.poll_path, body=shapes[kit.name])
    with pytest.raises(ProviderError) as caught:
        job.refresh()
    exc = caught.value
    assert leaks(error_texts(exc), canaries(env)) == []
    for attr in ("code", "request_id", "provider_message"):
        assert CANARY not in str(getattr(exc, attr))
    cell.say("code, request_id, provider_message, invalid_parameters: masked")


def test_status_words_and_meta_are_redacted_before_the_ledger(
    tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "secret in error code, request id, raw status, meta", "groupdocs")
    env = Env(KITS["groupdocs"], tmp_path / "svc", **SECRET_KWARGS["groupdocs"])
    try:
        client = env.connect(retry=NO_RETRY)
        job = KITS["groupdocs"].submit(client)
        env.app.faults.status(
            200, path=KITS["groupdocs"].poll_path,
            body={"id": job.id, "status": f"Weird-{CANARY}", "error": f"no {CANARY}"},
        )  # fmt: skip
        info = job.refresh()
        assert CANARY not in repr(info)
        assert CANARY not in str(info.raw_status)
        env.close_clients()
        blobs = b"".join(p.read_bytes() for p in (tmp_path / "svc").glob("ledger.sqlite3*"))
        assert CANARY.encode() not in blobs
        cell.say("raw_status and error masked in the JobInfo and the ledger files")
    finally:
        env.close()


@pytest.mark.parametrize(
    "body",
    [{"code": 500, "message": "Internal Server Error"}, {"Code": "x", "Message": "gateway"}],
)
def test_gateway_json_500_does_not_fail_a_convertapi_job(
    body: dict[str, Any], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "a gateway's JSON 500 on a poll", "convertapi")
    env = Env(KITS["convertapi"], tmp_path / "svc")
    try:
        client = env.connect(retry=NO_RETRY)
        job = KITS["convertapi"].submit(client)
        env.app.faults.status(500, path=KITS["convertapi"].poll_path, body=body)
        with pytest.raises(ProviderError):
            job.refresh()
        assert job.info is not None
        assert job.info.status is asyncjobs.Status.PENDING
        env.app.clock.advance(100)
        assert job.wait(timeout=10, progress=False).status is asyncjobs.Status.DONE
        cell.say("ProviderError, the job stays pending; only ConvertAPI's own shape fails a job")
    finally:
        env.close()


# -- 8. deeply nested JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400, 500])
def test_deeply_nested_json_is_a_transport_error(
    kit: Kit, status: int, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "JSON nested 200,000 deep", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        client = env.connect(retry=NO_RETRY)
        job = finished_job(env, client)
        env.app.faults.status(
            status, path=kit.poll_path, body=nested_json(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with pytest.raises(ProviderError):  # TransportError for a 200, the status's error else
            job.refresh()
        cell.say("status answers (200, 400, 500): a typed error, never RecursionError")
    finally:
        env.close()


# -- 9. Retry-After hints, clamped, and retries within the caller's deadline ---------------------------


@pytest.mark.parametrize("hint", ["1000000000", "inf", "-5", "nan", "soon", "1e400"])
def test_absurd_retry_after_is_clamped(kit: Kit, hint: str, tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "absurd `Retry-After`", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        retry = asyncjobs.RetryPolicy(max_tries=3, base=0.01, cap=0.05, max_time=5)
        client = env.connect(retry=retry)
        job = kit.submit(client)
        env.app.clock.advance(100)
        env.app.faults.status(429, times=2, path=kit.poll_path, headers={"Retry-After": hint})
        started = time.monotonic()
        info = job.wait(timeout=20, progress=False)
        assert info.status is asyncjobs.Status.DONE
        assert time.monotonic() - started < 5
        cell.say("1e9, inf, -5, nan, garbage: each wait clamped to the policy's cap")
    finally:
        env.close()


def test_retries_end_at_the_callers_deadline(kit: Kit, tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "retries past the caller's deadline", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        retry = asyncjobs.RetryPolicy(max_tries=10, base=0.01, cap=10, max_time=60)
        client = env.connect(retry=retry, poll=FAST_POLL)
        job = kit.submit(client)
        env.app.faults.status(429, times=20, path=kit.poll_path, headers={"Retry-After": "5"})
        started = time.monotonic()
        with pytest.raises(JobTimeoutError):
            job.wait(timeout=1, progress=False)
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, elapsed
        cell.say(f"`Retry-After: 5` under `wait(timeout=1)`: JobTimeoutError after {elapsed:.2f}s")
    finally:
        env.close()


# -- 10. a dripping server cannot stretch a timeout ----------------------------------------------------


@pytest.mark.parametrize("call", ["result", "wait", "save", "asyncjobs.wait"])
def test_dripping_answer_cannot_stretch_a_timeout(
    kit: Kit, call: str, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "answer dripping a byte every 0.3 s", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        read = 1.0
        client = env.connect(timeout=asyncjobs.Timeouts(connect=2, read=read), poll=FAST_POLL)
        job = kit.submit(client)
        env.app.clock.advance(100)
        middleware = Middleware(env.app)
        env.timed.app = middleware
        target = kit.download_path if call == "save" else kit.poll_path
        if call == "save":
            job.wait(timeout=10, progress=False)
        middleware.drip(target, 0.3)
        calls: dict[str, Callable[[], object]] = {
            "result": lambda: job.result(timeout=2),
            "wait": lambda: job.wait(timeout=2, progress=False),
            "save": lambda: job.save(tmp_path / "out", timeout=2),
            "asyncjobs.wait": lambda: next(asyncjobs.as_completed([job], timeout=2)),
        }
        started = time.monotonic()
        with pytest.raises(JobTimeoutError):
            calls[call]()
        elapsed = time.monotonic() - started
        assert elapsed < 2 + read + 0.5, elapsed
        assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
        cell.say(
            "result, wait, save, asyncjobs.wait: JobTimeoutError within timeout + read timeout"
        )
    finally:
        env.close()


def test_cli_timeout_holds_against_a_dripping_server(tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "answer dripping a byte every 0.3 s", "core")
    body = json.dumps({"data": {"id": "a" * 24, "kind": "x", "status": "pending"}}).encode()
    server = Hostile(lambda seen: (200, {"Content-Type": "application/json"}, _drip_all(body)))
    try:
        env = {
            **os.environ,
            "ASYNCJOBS_HOME": str(tmp_path / "home"),
            "CONVERSIO_API_KEY": "k" * 20,
            "CONVERSIO_BASE_URL": server.url + "/api/v1",
        }
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "asyncjobs", "wait", "conversio", "a" * 24, "--timeout", "2"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert done.returncode == 4, done.stderr
        assert elapsed < 10, elapsed  # 2 s, one read of a drip, and the process's start
        cell.say(f"`asyncjobs wait --timeout 2`: exit 4 after {elapsed:.1f}s (process included)")
    finally:
        server.close()


def _drip_all(body: bytes) -> Iterator[bytes]:
    for i in range(len(body)):
        yield body[i : i + 1]
        time.sleep(0.3)


# -- 11. bounded bodies: a bomb in memory, an endless download on disk --------------------------------


def test_gzip_bomb_status_answer_is_refused(kit: Kit, tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "gzip bomb as a status answer", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        client = env.connect(retry=NO_RETRY, max_body=1024 * 1024)
        job = finished_job(env, client)
        env.app.faults.status(
            200, path=kit.poll_path, body=gzip_bomb(8 * 1024 * 1024),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )  # fmt: skip
        with pytest.raises(TransportError, match="larger than"):
            job.refresh()
        cell.say("8 MiB expanded from 8 KiB against a 1 MiB cap: TransportError, nothing held")
    finally:
        env.close()


def test_default_body_cap_is_16_mib() -> None:
    assert asyncjobs.connect.__kwdefaults__["max_body"] == 16 * 1024 * 1024


def _convertapi_result(url: str, size: int) -> dict[str, Any]:
    return {"Files": [{"FileName": "out.pdf", "FileSize": size, "Url": url}]}


@pytest.mark.parametrize(
    ("served", "declared", "what"),
    [
        (lambda: endless(), 100, "past"),
        (lambda: iter([b"x" * 60]), 100, "ended after 60"),
    ],
    ids=["endless", "short-chunked"],
)
def test_download_is_held_to_its_declared_size(
    served: Callable[[], Iterator[bytes]],
    declared: int,
    what: str,
    tmp_path: Path,
    cell: Recorder,
) -> None:
    cell.at("hostile", "download longer or shorter than declared", "convertapi")
    server = Hostile(lambda seen: (200, {"Content-Type": "application/pdf"}, served()))
    base = "https://v2.convertapi.com"
    try:
        with responses.RequestsMock() as mock:
            mock.add_passthru(server.url)
            mock.get(
                f"{base}/async/job/{'j' * 32}", json=_convertapi_result(server.url + "/f", declared)
            )
            client = asyncjobs.connect("convertapi", secret="s" * 16, ledger=False, retry=NO_RETRY)
            job = client.job("j" * 32)
            with pytest.raises(TransportError, match=what):
                job.save(tmp_path / "out")
        assert [p.name for p in (tmp_path / "out").iterdir()] == []
        cell.say("endless body stopped past FileSize 100; a chunked body ending at 60: error")
    finally:
        server.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs, for a real ENOSPC (mounting needs root, as CI has)."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the full-disk case: {done.stderr!r}")
        pytest.skip("mounting a small tmpfs needs root")
    yield where
    subprocess.run(["umount", str(where)], check=False)


def test_full_disk_on_save_is_a_save_error(small_disk: Path, cell: Recorder) -> None:
    cell.at("hostile", "disk full while saving", "core")
    result = Result(files=[ResultFile("big.bin", data=b"x" * (1024 * 1024))])
    with pytest.raises(SaveError, match="disk is full") as caught:
        result.save(small_disk)
    assert isinstance(caught.value, OSError)
    assert list(small_disk.iterdir()) == []
    cell.say("ENOSPC on a real 512 KiB tmpfs: SaveError (an OSError), no partial file left")


# -- 12. the job id survives a failing ledger ---------------------------------------------------------


def test_job_id_survives_a_full_ledger(
    kit: Kit, small_disk: Path, tmp_path: Path, cell: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    cell.at("hostile", "disk full between the ledger's write and the answer", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        client = env.connect(retry=NO_RETRY, ledger=small_disk / "ledger.sqlite3")
        path = kit.submit_path

        def fill_disk(app: Any) -> Any:
            def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
                if path in environ.get("PATH_INFO", "") and environ["REQUEST_METHOD"] == "POST":
                    with contextlib.suppress(OSError), open(small_disk / "filler", "wb") as f:
                        for _ in range(1024):
                            f.write(b"\0" * 4096)
                            f.flush()
                return app(environ, start_response)

            return call

        env.timed.app = fill_disk(env.app)
        with pytest.raises(LedgerError) as caught:
            kit.submit(client)
        job_id = caught.value.job_id
        assert job_id is not None
        assert job_id in str(caught.value)
        assert caught.value.info is not None
        assert caught.value.info.id == job_id
        assert job_id in caplog.text
        assert kit.created(env.app) == 1
        (small_disk / "filler").unlink()
        cell.say("real ENOSPC: LedgerError carrying the issued id and its JobInfo; id logged")
    finally:
        env.close()


def test_failing_ledger_on_a_poll_costs_a_warning(
    kit: Kit, tmp_path: Path, cell: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    cell.at("hostile", "ledger failing on a poll", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        client = env.connect(retry=NO_RETRY)
        job = kit.submit(client)
        env.app.clock.advance(100)
        assert client.ledger is not None
        client.ledger._store.db.execute("PRAGMA query_only=ON")  # every write now fails
        with caplog.at_level(logging.WARNING):
            info = job.wait(timeout=10, progress=False)
        assert info.status is asyncjobs.Status.DONE
        assert "could not record a status" in caplog.text
        cell.say("the poll returns its status; the ledger's failure is a logged warning")
    finally:
        env.close()


# -- 13, 15, 16. saving: distinct names, no overwrite, stale parts, odd names ------------------------


def _files(*names: str) -> Result:
    return Result(files=[ResultFile(n, data=n.encode()) for n in names])


@pytest.mark.parametrize(
    ("names", "saved"),
    [
        (("page.jpg", "page.jpg", "page.jpg"), ["page.jpg", "page (2).jpg", "page (3).jpg"]),
        (("a/out.pdf", "b/out.pdf"), ["out.pdf", "out (2).pdf"]),
        ((".bashrc", "..", ""), ["bashrc", "file-2", "file-3"]),
        (("a\x00b.pdf",), ["a_b.pdf"]),
    ],
)
def test_result_files_get_distinct_safe_names(
    names: tuple[str, ...], saved: list[str], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "result files with the same, hidden or odd names", "core")
    paths = _files(*names).save(tmp_path / "out")
    assert [p.name for p in paths] == saved
    assert [p.read_bytes() for p in paths] == [n.encode() for n in names]
    cell.say("`page (2).jpg`, `out (2).pdf`, `.bashrc` → `bashrc`, NUL replaced")


def test_long_names_are_shortened_keeping_the_extension(tmp_path: Path) -> None:
    [path] = _files("é" * 300 + ".pdf").save(tmp_path)
    assert path.suffix == ".pdf"
    assert len(path.name.encode()) <= 200


def test_saving_never_overwrites_unless_asked(tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "saving over an existing file", "core")
    (tmp_path / "out.pdf").write_bytes(b"mine")
    with pytest.raises(SaveError, match="overwrite=True"):
        _files("out.pdf").save(tmp_path)
    assert (tmp_path / "out.pdf").read_bytes() == b"mine"
    _files("out.pdf").save(tmp_path, overwrite=True)
    assert (tmp_path / "out.pdf").read_bytes() == b"out.pdf"
    cell.say("SaveError naming overwrite=True; the file kept until asked")


def test_stale_part_files_are_removed_by_the_next_save(tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "`.part` files left by a killed download", "core")
    stale = tmp_path / ".asyncjobs-out.pdf.abc123.part"
    fresh = tmp_path / ".asyncjobs-other.pdf.def456.part"
    mine = tmp_path / ".notes.part"
    for p in (stale, fresh, mine):
        p.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(mine, (old, old))
    _files("out.pdf").save(tmp_path)
    assert not stale.exists()
    assert fresh.exists()
    assert mine.exists()
    cell.say("an hour-old `.asyncjobs-*.part` removed; a live one and the user's own kept")


# -- 14. dot segments are not job ids ---------------------------------------------------------------


@pytest.mark.parametrize("job_id", [".", "..", " .. "])
def test_dot_segments_are_not_job_ids(
    kit: Kit, job_id: str, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "job ids `.` and `..`", kit.name)
    env = Env(kit, tmp_path / "svc")
    try:
        client = env.connect()
        seen = len(env.timed.log)
        for call in (client.status, client.cancel, client.job, client.fetch_result):
            with pytest.raises(InvalidParameterError, match="not a job id"):
                call(job_id)
        assert len(env.timed.log) == seen
        cell.say("status, cancel, job, fetch_result: InvalidParameterError, no request")
    finally:
        env.close()


# -- 17. a damaged ledger row ----------------------------------------------------------------------


def test_damaged_ledger_rows_are_skipped(
    tmp_path: Path, cell: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    cell.at("hostile", "damaged ledger rows", "core")
    path = tmp_path / "home" / "ledger.sqlite3"
    with Ledger(path) as ledger:
        for n in range(4):
            info = asyncjobs.JobInfo("conversio", f"job-{n}", "x", "pending", raw_status="pending")
            ledger.seen(info)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET status='exploded' WHERE job_id='job-1'")
        db.execute("UPDATE jobs SET meta='{not json' WHERE job_id='job-2'")
        db.execute("UPDATE jobs SET submitted_at='yesterday' WHERE job_id='job-3'")
    with caplog.at_level(logging.WARNING):
        jobs = asyncjobs.jobs(ledger=Ledger(path))
    assert [j.id for j in jobs] == ["job-0"]
    assert "damaged" in caplog.text
    env = {**os.environ, "ASYNCJOBS_HOME": str(tmp_path / "home")}
    plain = subprocess.run([sys.executable, "-m", "asyncjobs", "list"], capture_output=True,
                           text=True, env=env, timeout=60)  # fmt: skip
    every = subprocess.run([sys.executable, "-m", "asyncjobs", "list", "--all"],
                           capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert every.returncode == 0, every.stderr
    assert "job-0" in plain.stdout
    assert "job-1" not in plain.stdout
    assert len([line for line in every.stdout.splitlines() if "damaged" in line]) == 3
    cell.say("3 bad rows: skipped with a warning; `asyncjobs list --all` shows them as damaged")


# -- 18. numbers that mean nothing --------------------------------------------------------------------

ABSURD = [float("nan"), float("inf"), -1.0, 0.0, 1e300, True, "10"]


@pytest.mark.parametrize("value", ABSURD, ids=repr)
def test_absurd_durations_are_refused_at_construction(value: Any, cell: Recorder) -> None:
    cell.at("hostile", "`nan`, `inf`, `1e300` as durations", "core")
    builders: list[Callable[[], object]] = [
        lambda: asyncjobs.Timeouts(connect=value),
        lambda: asyncjobs.Timeouts(read=value),
        lambda: asyncjobs.RetryPolicy(max_time=value),
        lambda: asyncjobs.PollPolicy(initial=value),
        lambda: asyncjobs.PollPolicy(cap=value),
    ]
    if not (isinstance(value, float) and value == 0.0):
        builders += [
            lambda: asyncjobs.RetryPolicy(cap=value),
            lambda: asyncjobs.PollPolicy(min_interval=value),
        ]
    for build in builders:
        with pytest.raises(InvalidParameterError):
            build()
    cell.say("Timeouts, RetryPolicy, PollPolicy: InvalidParameterError when built")


@pytest.mark.parametrize("value", ABSURD, ids=repr)
def test_absurd_timeouts_are_refused_before_any_request(
    value: Any, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "`nan`, `inf`, `1e300` as durations", "convertapi")
    env = Env(KITS["convertapi"], tmp_path / "svc")
    try:
        client = env.connect()
        job = client.job("a" * 32)
        seen = len(env.timed.log)
        calls: list[Callable[[], object]] = [
            lambda: job.wait(timeout=value),
            lambda: job.result(timeout=value),
            lambda: job.save(tmp_path / "x", timeout=value),
            lambda: asyncjobs.wait([job], timeout=value),
            lambda: asyncjobs.connect("convertapi", ledger=False, timeout=value, **env.settings),
        ]
        for call in calls:
            with pytest.raises(InvalidParameterError):
                call()
        assert len(env.timed.log) == seen
        cell.say("wait, result, save, asyncjobs.wait, connect: refused, no request")
    finally:
        env.close()


# -- 19. one poll in flight, for results too --------------------------------------------------------


def test_concurrent_fetch_result_shares_one_poll(tmp_path: Path, cell: Recorder) -> None:
    cell.at("hostile", "ten concurrent result fetches", "convertapi")
    env = Env(KITS["convertapi"], tmp_path / "svc")
    try:
        submitter = env.connect()
        job = KITS["convertapi"].submit(submitter)
        env.app.clock.advance(100)
        client = env.connect()  # a fresh client: no cached result, every fetch needs a look
        mark = len(env.timed.log)
        barrier = threading.Barrier(10)

        def fetch() -> Result:
            barrier.wait()
            return client.fetch_result(job.id)

        with cf.ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: fetch(), range(10)))
        polls = [p for _, _, p in env.timed.log[mark:] if KITS["convertapi"].poll_path in p]
        assert all(r.files for r in results)
        assert len(polls) <= 2, polls  # the first flight, and at most one after it ended
        cell.say(f"10 threads: {len(polls)} poll(s) sent, never two at once (no 503)")
    finally:
        env.close()


# -- 21. token lifetimes and nested secret-looking options -------------------------------------------


@pytest.mark.parametrize("lifetime", ["NaN", "Infinity", "-1", "0", "1e308"])
def test_odd_token_lifetime_does_not_ask_for_a_token_per_request(
    lifetime: str, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "token `expires_in: NaN`", "groupdocs")
    env = Env(KITS["groupdocs"], tmp_path / "svc")
    try:
        middleware = Middleware(env.app)
        env.timed.app = middleware

        def odd(body: bytes) -> bytes:
            data = json.loads(body)
            text = json.dumps({**data, "expires_in": 0})
            return text.replace('"expires_in": 0', f'"expires_in": {lifetime}').encode()

        middleware.rewrite("/connect/token", odd)
        client = env.connect(retry=NO_RETRY)
        job = KITS["groupdocs"].submit(client)
        for _ in range(5):
            job.refresh()
        tokens = [p for _, _, p in env.timed.log if "/connect/token" in p]
        assert len(tokens) == 1
        cell.say("NaN, Infinity, -1, 0, 1e308: one token for all requests (default lifetime)")
    finally:
        env.close()


def test_nested_secret_looking_options_stay_out_of_the_ledger(
    tmp_path: Path, cell: Recorder
) -> None:
    cell.at("hostile", "secret-looking options, nested", "core")
    from asyncjobs._client import _describe

    described = _describe(
        {"options": {"nested": {"ApiKey": CANARY, "pages": [1, 2]}, "password": CANARY},
         "list": [{"token": CANARY}], "to": "pdf"}
    )  # fmt: skip
    assert CANARY not in json.dumps(described)
    assert described["options"]["nested"]["pages"] == [1, 2]
    assert described["to"] == "pdf"
    cell.say("ApiKey, password, token at any depth: `***` in the ledger")


# -- 22. tracebacks with locals --------------------------------------------------------------------


def test_reliability_page_says_how_tracebacks_with_locals_can_show_secrets() -> None:
    assert "capture_locals=True" in render()
    assert "include_local_variables=False" in render()


def test_transport_refuses_to_send_to_an_unsafe_url() -> None:
    t = Transport(provider="acme", retry=NO_RETRY)
    with pytest.raises(TransportError, match="refusing"):
        t.request("GET", "http://a\\@b/")
