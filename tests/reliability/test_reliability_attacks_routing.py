"""Attacks on the routed client and what came with it: ``asyncjobs.connect([...])`` (fallback,
cooldown, ``RoutingError``), ``resubmit``, ``asyncjobs.formats()`` and the command's comma-separated
PROVIDER, and the two new providers' own surfaces (CloudConvert's signed webhooks, Zamzar's
redirected downloads). Every case runs against the providers' sandboxes over real HTTP on
127.0.0.1, with their fault switches; each fills a cell of the matrix's attacks section."""

from __future__ import annotations

import base64
import email.utils
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asyncjobs_cloudconvert.provider import SIGNATURE_HEADER, sign_webhook
from hostile import Hostile
from reliability_kits import KITS, PAYLOAD, Env
from reliability_matrix import Recorder
from test_reliability_secrets import ENV_NAMES, ENV_PREFIXES
from webhook_support import until, wsgi_call

import asyncjobs
from asyncjobs import errors
from asyncjobs._ledger import Ledger
from asyncjobs.cli import main as cli_main

ROUTING = "routing"
NO_RETRY = asyncjobs.RetryPolicy(max_tries=1)
#: What a hostile provider puts in its error message: markup, an ANSI colour, a terminal title
#: (OSC), a bell, a bidirectional override.
NASTY = "<script>alert(1)</script> \x1b[31mred\x1b[0m \x1b]0;owned\x07 \u202efdp.exe"
RAW_CONTROLS = ("\x1b", "\x07", "\u202e", "\x9b")


@pytest.fixture
def envs(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """Sandboxes of the named providers (stopped after the test): ``envs(name, **app_kwargs)``."""
    made: list[Env] = []

    def make(name: str, **kwargs: Any) -> Env:
        env = Env(KITS[name], tmp_path / f"{name}-{len(made)}", **kwargs)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def routed(ledger: Path, *members: Env, **kwargs: Any) -> asyncjobs.Router:
    """A routed client over the sandboxes, in order, sharing one ledger; no retries."""
    clients = [env.connect(ledger=ledger, retry=NO_RETRY, **kwargs) for env in members]
    return asyncjobs.connect(list(clients))


def docx(tmp: Path) -> Path:
    """A source every provider here converts to PDF (CloudConvert's sandbox has no txt)."""
    path = tmp / "report.docx"
    path.write_bytes(PAYLOAD)
    return path


def command_env(home: Path, *members: Env, **extra: str) -> dict[str, str]:
    """The environment of an ``asyncjobs`` child: each member's settings in its variables."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    for env in members:
        names = ENV_NAMES[env.kit.name]
        out.update({names[k]: v for k, v in env.settings.items() if k in names})
    out.update(ASYNCJOBS_HOME=str(home), ASYNCJOBS_PROGRESS="0", **extra)
    return out


def run(environ: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncjobs", *args],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- cooldown -------------------------------------------------------------------------------------

FAR = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(days=3650), usegmt=True)


@pytest.mark.parametrize("hint", ["99999999999", "1e300", FAR], ids=["1e11 s", "1e300", "in 2036"])
def test_an_absurd_retry_after_at_submit_cools_a_provider_at_most_an_hour(
    hint: str, envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "absurd `Retry-After` on a 429 at submit", ROUTING)
    zamzar, cloudconvert = envs("zamzar"), envs("cloudconvert")
    zamzar.app.faults.status(
        429, path=zamzar.kit.submit_path, body="Slow down", headers={"Retry-After": hint}
    )
    with routed(tmp_path / "ledger.sqlite3", zamzar, cloudconvert) as client:
        job = client.submit("convert", source=docx(tmp_path), to="pdf")
        cooling = client.cooling()
    assert job.provider == "cloudconvert"
    assert list(cooling) == ["zamzar"]
    assert 0 < cooling["zamzar"] <= 3600.0
    assert (zamzar.kit.created(zamzar.app), cloudconvert.kit.created(cloudconvert.app)) == (0, 1)
    cell.say("1e11 s, 1e300, a date in 2036: cooled ≤ 1 hour; CloudConvert took the job")


# -- what a provider says, on the way to a terminal --------------------------------------------------


def _refuse_nastily(*members: Env) -> None:
    """Each member refuses every submit with 401, its message carrying NASTY."""
    bodies = {
        "zamzar": {"errors": [{"message": NASTY, "code": 20}]},
        "cloudconvert": {"message": NASTY, "code": "UNAUTHENTICATED"},
        "convertapi": {"Code": 4010, "Message": NASTY},
    }
    for env in members:
        env.app.faults.status(401, times=10, path=env.kit.submit_path, body=bodies[env.kit.name])


def test_markup_and_controls_in_provider_errors_reach_a_routing_error_as_printable_text(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "`<script>`, ANSI, BIDI in what refusing providers say", ROUTING)
    zamzar, cloudconvert = envs("zamzar"), envs("cloudconvert")
    _refuse_nastily(zamzar, cloudconvert)
    with routed(tmp_path / "ledger.sqlite3", zamzar, cloudconvert) as client:
        with pytest.raises(errors.RoutingError) as refused:
            client.submit("convert", source=docx(tmp_path), to="pdf")
    texts = [str(refused.value), repr(refused.value)]
    attempts = refused.value.attempts
    assert [name for name, _ in attempts] == ["zamzar", "cloudconvert"]
    assert all(isinstance(exc, errors.AuthenticationError) for _, exc in attempts)
    assert [t for t in texts if any(c in t for c in RAW_CONTROLS)] == []
    assert "<script>" in str(refused.value)  # shown as text, neither dropped nor rendered
    cell.say("both named; ESC, BEL, U+202E shown as escapes; `<script>` is plain text")


def test_markup_and_controls_in_provider_errors_reach_the_command_line_as_printable_text(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "`<script>`, ANSI, BIDI in what refusing providers say", "command line")
    zamzar, cloudconvert = envs("zamzar"), envs("cloudconvert")
    environ = command_env(tmp_path / "home", zamzar, cloudconvert)
    for variant in ((), ("--json",)):
        _refuse_nastily(zamzar, cloudconvert)
        done = run(
            environ, tmp_path, *variant, "submit", "zamzar,cloudconvert", "convert",
            f"source={docx(tmp_path)}", "to=pdf",
        )  # fmt: skip
        zamzar.app.faults.clear()
        cloudconvert.app.faults.clear()
        assert done.returncode != 0
        both = done.stdout + done.stderr
        assert [c for c in RAW_CONTROLS if c in both] == [], both
        assert "zamzar" in both
        assert "cloudconvert" in both
        assert "Traceback" not in both
    cell.say("`asyncjobs submit zamzar,cloudconvert`: ESC, BEL, U+202E escaped, also in `--json`")


# -- job ids that are SQL ------------------------------------------------------------------------------

SQL_IDS = ["x' OR '1'='1", "1; DROP TABLE jobs; --", "%", "' UNION SELECT * FROM jobs --"]


@pytest.fixture
def one_job_each(envs: Callable[..., Env], tmp_path: Path) -> tuple[Env, Env, Path, list[str]]:
    """Zamzar and CloudConvert sandboxes, and a ledger holding one finished job at each."""
    zamzar, cloudconvert = envs("zamzar"), envs("cloudconvert")
    ledger = tmp_path / "home" / "ledger.sqlite3"
    made = []
    for env in (zamzar, cloudconvert):
        client = env.connect(ledger=ledger)
        job = env.kit.submit(client)
        env.app.clock.advance(100)
        job.wait(timeout=10, progress=False)
        made.append(job.id)
        client.close()
    return zamzar, cloudconvert, ledger, made


@pytest.mark.parametrize("job_id", SQL_IDS)
def test_sql_in_a_job_id_reads_no_other_job_through_a_routed_client(
    job_id: str, one_job_each: tuple[Env, Env, Path, list[str]], cell: Recorder
) -> None:
    cell.at("attacks", "SQL in a job id: `status`, `result`, `resubmit`", ROUTING)
    zamzar, cloudconvert, ledger, made = one_job_each
    seen = len(zamzar.timed.log) + len(cloudconvert.timed.log)
    with routed(ledger, zamzar, cloudconvert) as client:
        for call in (client.status, client.result, client.job, client.resubmit):
            with pytest.raises(errors.InvalidParameterError) as refused:
                call(job_id)
            assert refused.value.parameter == "provider"
            assert "known to none of them" in str(refused.value)
    assert len(zamzar.timed.log) + len(cloudconvert.timed.log) == seen, "a request was sent"
    with Ledger(ledger) as book:
        assert sorted(e.job_id or "" for e in book.entries()) == sorted(made)
    cell.say("InvalidParameterError naming `provider` (known to none); no request; ledger intact")


@pytest.mark.parametrize("job_id", SQL_IDS)
def test_sql_in_a_job_id_reads_no_other_job_from_the_command_line(
    job_id: str, one_job_each: tuple[Env, Env, Path, list[str]], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "SQL in a job id: `status a,b ID`, `resubmit ID`", "command line")
    zamzar, cloudconvert, ledger, made = one_job_each
    environ = command_env(ledger.parent, zamzar, cloudconvert)
    seen = len(zamzar.timed.log) + len(cloudconvert.timed.log)
    for args in (
        ("status", "zamzar,cloudconvert", job_id),
        ("resubmit", job_id),
        ("--json", "resubmit", job_id),
    ):
        done = run(environ, tmp_path, *args)
        assert done.returncode == 2, done.stderr  # a usage error, typed
        both = done.stdout + done.stderr
        assert "Traceback" not in both
        assert "none of them" in both or "nowhere" in both, both  # the lookup matched nothing
        assert made[1] not in both, both  # CloudConvert's job (Zamzar's id is a small number)
    assert len(zamzar.timed.log) + len(cloudconvert.timed.log) == seen, "a request was sent"
    with Ledger(ledger) as book:
        assert len(book.entries()) == 2
    cell.say("exit 2 (the ledger has it nowhere); no other job shown, no request, ledger intact")


# -- format names that are not format names ------------------------------------------------------

BAD_FORMATS = ["../../etc/passwd", "pdf;rm", "PDF\x00", "pdf\r\nX-Evil: 1", "pdf%2F.."]


@pytest.mark.parametrize("name", BAD_FORMATS, ids=repr)
def test_a_bad_format_name_is_refused_by_formats_naming_source_or_target(
    name: str, cell: Recorder
) -> None:
    cell.at("attacks", "format names `../../etc/passwd`, `pdf;rm`, `PDF\\x00`", "providers")
    for parameter in ("source", "target"):
        with pytest.raises(errors.InvalidParameterError) as refused:
            asyncjobs.formats(**{parameter: name})
        assert refused.value.parameter == parameter
    cell.say("`asyncjobs.formats()`, `submit(to=)`: InvalidParameterError naming the argument")


@pytest.mark.parametrize("name", BAD_FORMATS, ids=repr)
def test_a_bad_format_name_is_refused_by_submit_before_any_request(
    name: str, envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "format names `../../etc/passwd`, `pdf;rm`, `PDF\\x00`", ROUTING)
    members = [envs(n) for n in ("convertapi", "zamzar", "cloudconvert")]
    source = docx(tmp_path)
    with routed(tmp_path / "ledger.sqlite3", *members) as client:
        for to, from_ in ((name, None), ("pdf", name)):
            with pytest.raises(errors.InvalidParameterError) as refused:
                client.submit("convert", source=source, to=to, from_=from_)
            assert refused.value.parameter == ("to" if from_ is None else "from_")
        for member in client.clients:
            with pytest.raises(errors.InvalidParameterError) as refused:
                member.submit("convert", source=source, to=name)
            assert refused.value.parameter == "to"
    assert [env.timed.log for env in members] == [[], [], []], "a request was sent"
    cell.say("routed and single clients: InvalidParameterError naming `to`/`from_`; no request")


@pytest.mark.parametrize("option", ["--from", "--to"])
@pytest.mark.parametrize("name", BAD_FORMATS, ids=repr)
def test_a_bad_format_name_is_refused_by_the_formats_command_naming_its_option(
    name: str, option: str, capsys: pytest.CaptureFixture[str], cell: Recorder
) -> None:
    cell.at("attacks", "format names `../../etc/passwd`, `pdf;rm`, `PDF\\x00`", "command line")
    # in-process: a NUL cannot be passed in a child's argv
    for extra in ((), ("--json",)):
        code = cli_main([*extra, "formats", option, name])
        out, err = capsys.readouterr()
        assert code == 2
        assert option in out + err, out + err
        assert "\x00" not in out + err
        assert "\r" not in out + err
    cell.say("`asyncjobs formats --from X`: exit 2 naming `--from` (`--to`), NUL and CR escaped")


# -- no double job -------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "answer lost"])
def test_a_submit_that_may_have_made_a_job_is_never_sent_to_a_second_provider(
    fault: str, envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "5xx or lost answer after the submit was sent", ROUTING)
    zamzar, cloudconvert = envs("zamzar"), envs("cloudconvert")
    if fault == "500":
        zamzar.app.faults.status(500, path=zamzar.kit.submit_path, body="Internal error")
    else:
        zamzar.timed.cut(zamzar.kit.submit_path)  # the job is made, its answer cut
    with routed(tmp_path / "ledger.sqlite3", zamzar, cloudconvert) as client:
        with pytest.raises((errors.ProviderError, errors.TransportError)) as raised:
            client.submit("convert", source=docx(tmp_path), to="pdf")
        assert not isinstance(raised.value, errors.RoutingError)
        assert client.cooling() == {}
    made = 0 if fault == "500" else 1
    assert zamzar.kit.created(zamzar.app) == made
    assert cloudconvert.kit.created(cloudconvert.app) == 0
    assert cloudconvert.timed.log == [], "the submit was sent to the second provider"
    cell.say("Zamzar 500 or its answer cut: raised as is; CloudConvert got no request; no 2nd job")


def test_a_provider_that_proves_the_job_absent_by_its_own_id_falls_back(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "5xx at a provider whose client chose the id (ConvertAPI)", ROUTING)
    convertapi, zamzar = envs("convertapi"), envs("zamzar")
    convertapi.app.faults.status(500, times=5, path=convertapi.kit.submit_path, body="Oops")
    with routed(tmp_path / "ledger.sqlite3", convertapi, zamzar) as client:
        job = client.submit("convert", source=docx(tmp_path), to="pdf")
    assert job.provider == "zamzar"
    assert (convertapi.kit.created(convertapi.app), zamzar.kit.created(zamzar.app)) == (0, 1)
    assert convertapi.requests("GET", convertapi.kit.poll_path) >= 1, "the id was not looked up"
    cell.say("500, its id looked up (404): Zamzar took the job; one job in all")


def test_a_provider_that_finds_the_job_by_its_own_id_keeps_it(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "5xx at a provider whose client chose the id (ConvertAPI)", ROUTING)
    convertapi, zamzar = envs("convertapi"), envs("zamzar")
    convertapi.timed.cut(convertapi.kit.submit_path)  # the job starts, its answer is cut
    with routed(tmp_path / "ledger.sqlite3", convertapi, zamzar) as client:
        job = client.submit("convert", source=docx(tmp_path), to="pdf")
    assert job.provider == "convertapi"
    assert (convertapi.kit.created(convertapi.app), zamzar.kit.created(zamzar.app)) == (1, 0)
    assert zamzar.timed.log == []
    cell.say("answer cut, the id found: that job returned; Zamzar got no request")


# -- secrets of every member ---------------------------------------------------------------------

CANARIES = {
    "convertapi": "CANARY-convertapi-3f9a1c",
    "zamzar": "CANARY-zamzar-7b2e4d",
    "cloudconvert": "CANARY-cloudconvert-c81d05",
}
SECRET_KWARGS = {"convertapi": "secret", "zamzar": "key", "cloudconvert": "secret"}


def _canaried(envs: Callable[..., Env]) -> list[Env]:
    members = [envs(n, **{SECRET_KWARGS[n]: c}) for n, c in CANARIES.items()]
    echo = {
        "convertapi": lambda c: {"Code": 4010, "Message": f"bad secret {c}"},
        "zamzar": lambda c: {"errors": [{"message": f"bad key {c}", "code": 20}]},
        "cloudconvert": lambda c: {"message": f"bad key {c}", "code": "UNAUTHENTICATED"},
    }
    for env in members:
        body = echo[env.kit.name](CANARIES[env.kit.name])
        env.app.faults.status(401, times=10, path=env.kit.submit_path, body=body)
    return members


def _secret_forms() -> set[str]:
    forms = set(CANARIES.values())
    forms.add(base64.b64encode(f"{CANARIES['zamzar']}:".encode()).decode())  # HTTP Basic
    return forms


def _leaks(texts: list[str]) -> list[str]:
    return [t[:300] for t in texts if any(s in t for s in _secret_forms())]


def test_no_members_secret_shows_in_a_routing_error_or_the_ledger(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "every member's secret echoed back by the refusing services", ROUTING)
    members = _canaried(envs)
    ledger = tmp_path / "ledger.sqlite3"
    with routed(ledger, *members) as client:
        with pytest.raises(errors.RoutingError) as refused:
            client.submit("convert", source=docx(tmp_path), to="pdf")
        texts = [str(refused.value), repr(refused.value), repr(client)]
        texts += [
            f"{exc} {exc!r} {getattr(exc, 'provider_message', None)}"
            for _, exc in refused.value.attempts
        ]
    with Ledger(ledger) as book:
        entries = book.entries()
        texts += [f"{e.error} {e.attempts!r} {e!r}" for e in entries]
    assert len(entries) == 3
    assert [e.state for e in entries] == [asyncjobs.SubmitState.REJECTED] * 3
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite3*"))
    assert _leaks(texts) == []
    assert [s for s in _secret_forms() if s.encode() in blobs] == []
    cell.say("3 canaries echoed in 401s: none in RoutingError, its attempts, the ledger files")


def test_no_members_secret_shows_in_the_commands_output(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "every member's secret echoed back by the refusing services", "command line")
    members = _canaried(envs)
    home = tmp_path / "home"
    environ = command_env(home, *members)
    outputs = []
    for variant in ((), ("--debug", "--json")):
        done = run(
            environ, tmp_path, *variant, "submit", "convertapi,zamzar,cloudconvert", "convert",
            f"source={docx(tmp_path)}", "to=pdf",
        )  # fmt: skip
        assert done.returncode != 0
        outputs.append(done.stdout + done.stderr)
        listed = run(environ, tmp_path, *variant, "list", "--all")
        outputs.append(listed.stdout + listed.stderr)
    blobs = b"".join(p.read_bytes() for p in home.glob("ledger.sqlite3*"))
    assert _leaks(outputs) == []
    assert [s for s in _secret_forms() if s.encode() in blobs] == []
    assert "zamzar" in outputs[0]
    cell.say("`submit a,b,c` and `list --all` (also `--debug --json`): no canary, no Basic form")


# -- CloudConvert's signed webhooks --------------------------------------------------------------


def _cloudconvert_forgeries(body: bytes, api_key: str) -> dict[str, dict[str, str]]:
    return {
        "absent": {},
        "empty": {SIGNATURE_HEADER: ""},
        "forged": {SIGNATURE_HEADER: "f" * 64},
        "other key": {SIGNATURE_HEADER: sign_webhook(body, "attacker-signing-secret")},
        "the API key": {SIGNATURE_HEADER: sign_webhook(body, api_key)},
        "another body": {SIGNATURE_HEADER: sign_webhook(body + b" ", "x")},
    }


@pytest.mark.parametrize(
    "case", ["absent", "empty", "forged", "other key", "the API key", "another body"]
)
def test_a_cloudconvert_webhook_without_its_signature_triggers_no_poll(
    case: str, envs: Callable[..., Env], bare_receiver: Any, tmp_path: Path, cell: Recorder
) -> None:
    cell.at(
        "attacks", "CloudConvert webhook with a forged, absent or other-key signature", "webhooks"
    )
    env = envs("cloudconvert")
    slow = asyncjobs.PollPolicy(initial=600.0, cap=600.0, min_interval=0.0)
    client = env.connect(webhooks=bare_receiver, poll=slow)
    job = client.submit("convert", source=docx(tmp_path), to="pdf", webhook=True)
    body = json.dumps({"event": "job.finished", "job": {"id": job.id}}).encode()
    headers = _cloudconvert_forgeries(body, env.settings["secret"])[case]
    before = env.requests("GET", f"/v2/jobs/{job.id}")
    url = bare_receiver.url_for("cloudconvert", job.id)
    status = wsgi_call(bare_receiver, url, body, **{k.lower(): v for k, v in headers.items()})
    until(lambda: bare_receiver.queued == 0)
    assert status == "404 Not Found"
    assert env.requests("GET", f"/v2/jobs/{job.id}") == before
    # the genuine signature does wake the job: the receiver is listening
    genuine = {SIGNATURE_HEADER.lower(): sign_webhook(body, env.settings["webhook_secret"])}
    assert wsgi_call(bare_receiver, url, body, **genuine) != "404 Not Found"
    until(lambda: env.requests("GET", f"/v2/jobs/{job.id}") > before)
    cell.say("absent, empty, forged, other key, the API key, another body: 404, no poll")


# -- Zamzar's redirected downloads --------------------------------------------------------------


def test_a_zamzar_download_redirected_to_storage_carries_no_credentials(
    envs: Callable[..., Env], tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "Zamzar download redirected to another origin (its storage)", "providers")
    stored = KITS["zamzar"].expected()["file.pdf"]  # what the job's file holds, kept elsewhere
    storage = Hostile(lambda seen: (200, {"Content-Type": "application/pdf"}, [stored]))
    key = "CANARY-zamzar-storage-41aa"
    try:
        env = envs("zamzar", key=key)
        client = env.connect()
        job = env.kit.submit(client)
        env.app.clock.advance(100)
        result = job.result(timeout=10)
        env.app.faults.status(
            307, path=env.kit.download_path, headers={"Location": f"{storage.url}/s3/file.pdf"}
        )
        [saved] = result.save(tmp_path / "out")
        assert saved.read_bytes() == stored  # the redirect was followed, as the service means
        [hop] = storage.requests
        assert hop.path == "/s3/file.pdf"
        basic = base64.b64encode(f"{key}:".encode()).decode()
        assert "authorization" not in {h.lower() for h in hop.headers}
        assert [s for s in (key, basic) if s in hop.text()] == []
    finally:
        storage.close()
    cell.say("307 to another origin: followed with no Authorization, no key; the file saved")
