"""Bad input: every public entry point, given wrong types and values, raises a typed error before
the network -- the sandbox must see no request at all (or `responses`, with nothing registered, no
call)."""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses
from reliability_kits import KITS, PROVIDERS, Env, Kit
from reliability_matrix import Recorder

import asyncjobs
from asyncjobs.errors import (
    AsyncJobsError,
    ConfigurationError,
    InvalidParameterError,
    NotSupportedError,
    UnknownProviderError,
)

IPE = InvalidParameterError
TIMES = "\N{MULTIPLICATION SIGN}"
Call = tuple[str, Callable[[], object], type[AsyncJobsError]]


class Ctx:
    """What a row's calls work with: a sandbox, a client of it, a job handle and a file."""

    def __init__(self, env: Env, tmp: Path) -> None:
        self.env = env
        self.kit: Kit = env.kit
        self.tmp = tmp
        self.client = env.connect()
        self.job = self.client.job("a" * 24 if self.kit.name == "conversio" else "a" * 32)
        self.source = tmp / "report.docx"
        self.source.write_bytes(b"docx")

    def connect(self, **kwargs: Any) -> Callable[[], object]:
        return lambda: self.env.connect(**kwargs)


def row_connect_options(c: Ctx) -> list[Call]:
    return [
        ("timeout='x'", c.connect(timeout="x"), IPE),
        ("timeout=-1", c.connect(timeout=-1), IPE),
        ("timeout=True", c.connect(timeout=True), IPE),
        ("poll='fast'", c.connect(poll="fast"), IPE),
        ("ledger=123", c.connect(ledger=123), IPE),
    ]


def row_connect_retry(c: Ctx) -> list[Call]:
    return [("retry='x'", c.connect(retry="x"), IPE), ("retry=3", c.connect(retry=3), IPE)]


def row_connect_session(c: Ctx) -> list[Call]:
    return [("session='x'", c.connect(session="x"), IPE)]


def row_connect_settings(c: Ctx) -> list[Call]:
    secret = next(s.name for s in c.client.provider.settings if s.secret)
    return [
        ("an unknown setting", c.connect(colour="blue"), ConfigurationError),
        ("the secret missing", c.connect(**{secret: None}), ConfigurationError),
        ("base_url=123", c.connect(base_url=123), ConfigurationError),
        ("base_url='not a url'", c.connect(base_url="not a url"), ConfigurationError),
    ]


def row_submit_kind(c: Ctx) -> list[Call]:
    return [
        ("kind=123", lambda: c.client.submit(123), IPE),  # type: ignore[arg-type]
        ("kind='nope'", lambda: c.client.submit("nope"), IPE),
    ]


def row_submit_params(c: Ctx) -> list[Call]:
    s = c.client.submit
    if c.kit.name == "conversio":
        kind = "newsletter-recipients"
        return [
            ("newsletter missing", lambda: s(kind), IPE),
            ("newsletter=123", lambda: s(kind, newsletter=123), IPE),
            ("newsletter=''", lambda: s(kind, newsletter=""), IPE),
            ("newsletter='..'", lambda: s(kind, newsletter=".."), IPE),
            ("an unknown parameter", lambda: s(kind, newsletter="n1", colour=1), IPE),
            ("webhook=", lambda: s(kind, newsletter="n1", webhook="http://h/"), NotSupportedError),
        ]
    common: list[Call] = [
        ("source missing", lambda: s("convert", to="pdf"), IPE),
        ("source=123", lambda: s("convert", source=123, to="pdf"), IPE),
        ("a missing file", lambda: s("convert", source=c.tmp / "nope.docx", to="pdf"), IPE),
        ("a folder", lambda: s("convert", source=c.tmp, to="pdf"), IPE),
        ("bytes without from_", lambda: s("convert", source=b"x", to="pdf"), IPE),
        ("to=123", lambda: s("convert", source=c.source, to=123), IPE),
        ("to=''", lambda: s("convert", source=c.source, to=""), IPE),
    ]
    if c.kit.name == "cloudconvert":
        return [
            *common,
            ("tag=123", lambda: s("convert", source=c.source, to="pdf", tag=123), IPE),
            (
                "operation= (set by asyncjobs)",
                lambda: s("convert", source=c.source, to="pdf", operation="x"),
                IPE,
            ),
            (
                "timeout=nan (not JSON)",
                lambda: s("convert", source=c.source, to="pdf", timeout=float("nan")),
                IPE,
            ),
            (
                "webhook='ftp://h'",
                lambda: s("convert", source=c.source, to="pdf", webhook="ftp://h"),
                IPE,
            ),
            (
                "webhook=True without a receiver",
                lambda: s("convert", source=c.source, to="pdf", webhook=True),
                ConfigurationError,
            ),
        ]
    if c.kit.name == "zamzar":
        return [
            *common,
            ("options='x'", lambda: s("convert", source=c.source, to="pdf", options="x"), IPE),
            (
                "options={'target_format': ...}",
                lambda: s("convert", source=c.source, to="pdf", options={"target_format": "x"}),
                IPE,
            ),
            (
                "options={'a': nan}",
                lambda: s("convert", source=c.source, to="pdf", options={"a": float("nan")}),
                IPE,
            ),
            (
                "export_url=123",
                lambda: s("convert", source=c.source, to="pdf", export_url=123),
                IPE,
            ),
            (
                "an unknown parameter",
                lambda: s("convert", source=c.source, to="pdf", colour=1),
                IPE,
            ),
            (
                "webhook=",
                lambda: s("convert", source=c.source, to="pdf", webhook="http://h/"),
                NotSupportedError,
            ),
        ]
    if c.kit.name == "convertapi":
        return [
            *common,
            ("Timeout='x'", lambda: s("convert", source=c.source, to="pdf", Timeout="x"), IPE),
            ("StoreFile='y'", lambda: s("convert", source=c.source, to="pdf", StoreFile="y"), IPE),
            (
                "Secret= (reserved)",
                lambda: s("convert", source=c.source, to="pdf", Secret="s"),
                IPE,
            ),
            ("PageRange=[1]", lambda: s("convert", source=c.source, to="pdf", PageRange=[1]), IPE),
            (
                "webhook='ftp://h'",
                lambda: s("convert", source=c.source, to="pdf", webhook="ftp://h"),
                IPE,
            ),
            ("webhook=123", lambda: s("convert", source=c.source, to="pdf", webhook=123), IPE),
        ]
    return [
        *common,
        ("a URL source", lambda: s("convert", source="https://h/a.docx", to="pdf"), IPE),
        (
            "output_path='../x'",
            lambda: s("convert", source=c.source, to="pdf", output_path="../x"),
            IPE,
        ),
        (
            "load_options='x'",
            lambda: s("convert", source=c.source, to="pdf", load_options="x"),
            IPE,
        ),
        ("direct='yes'", lambda: s("convert", source=c.source, to="pdf", direct="yes"), IPE),
        ("an unknown parameter", lambda: s("convert", source=c.source, to="pdf", colour=1), IPE),
        (
            "webhook=",
            lambda: s("convert", source=c.source, to="pdf", webhook="http://h/"),
            NotSupportedError,
        ),
    ]


def row_job_ids(c: Ctx) -> list[Call]:
    out: list[Call] = []
    for bad in (123, "", "  ", None):
        out += [
            (f"status({bad!r})", lambda b=bad: c.client.status(b), IPE),
            (f"result({bad!r})", lambda b=bad: c.client.result(b), IPE),
            (f"cancel({bad!r})", lambda b=bad: c.client.cancel(b), IPE),
            (f"job({bad!r})", lambda b=bad: c.client.job(b), IPE),
        ]
    if not c.client.provider.capabilities.cancel:
        out.append(("cancel(a job)", lambda: c.client.cancel(c.job.id), NotSupportedError))
    return out


def row_timeouts(c: Ctx) -> list[Call]:
    out: list[Call] = []
    for bad in (-1, 0, "x", True):
        out += [
            (f"result(timeout={bad!r})", lambda b=bad: c.client.result(c.job.id, timeout=b), IPE),
            (f"Job.wait(timeout={bad!r})", lambda b=bad: c.job.wait(timeout=b), IPE),
            (f"Job.result(timeout={bad!r})", lambda b=bad: c.job.result(timeout=b), IPE),
        ]
    return out


def row_list_status(c: Ctx) -> list[Call]:
    return [("list(status='bogus')", lambda: c.client.list(status="bogus"), IPE)]


def row_list_kind(c: Ctx) -> list[Call]:
    return [("list(kind=123)", lambda: c.client.list(kind=123), IPE)]  # type: ignore[arg-type]


def row_job_save(c: Ctx) -> list[Call]:
    return [
        ("Job.save(123)", lambda: c.job.save(123), IPE),  # type: ignore[arg-type]
        ("Job.save(None)", lambda: c.job.save(None), IPE),  # type: ignore[arg-type]
    ]


def row_wait(c: Ctx) -> list[Call]:
    j = c.job
    return [
        ("wait(timeout=-1)", lambda: asyncjobs.wait([j], timeout=-1), IPE),
        ("wait(return_when='x')", lambda: asyncjobs.wait([j], return_when="x"), IPE),  # type: ignore[arg-type]
        ("wait([1, 2])", lambda: asyncjobs.wait([1, 2]), IPE),  # type: ignore[list-item]
        ("wait(max_workers=0)", lambda: asyncjobs.wait([j], max_workers=0), IPE),
        ("as_completed(timeout=-1)", lambda: list(asyncjobs.as_completed([j], timeout=-1)), IPE),
        ("as_completed(['x'])", lambda: list(asyncjobs.as_completed(["x"])), IPE),  # type: ignore[list-item]
    ]


def row_wait_not_iterable(c: Ctx) -> list[Call]:
    return [
        ("wait(job)", lambda: asyncjobs.wait(c.job), IPE),  # type: ignore[arg-type]
        ("as_completed(job)", lambda: list(asyncjobs.as_completed(c.job)), IPE),  # type: ignore[arg-type]
    ]


ROWS: dict[str, Callable[[Ctx], list[Call]]] = {
    "connect: timeout, poll, ledger": row_connect_options,
    "connect: retry": row_connect_retry,
    "connect: session": row_connect_session,
    "connect: settings": row_connect_settings,
    "submit: kind": row_submit_kind,
    "submit: parameters": row_submit_params,
    "status / result / cancel / job: job id": row_job_ids,
    "result / Job.wait / Job.result: timeout": row_timeouts,
    "list: status": row_list_status,
    "list: kind": row_list_kind,
    "Job.save: dest": row_job_save,
    "wait / as_completed: arguments": row_wait,
    "wait / as_completed: not a list of jobs": row_wait_not_iterable,
}

#: Red cells: (row, provider) -> the bug (strict xfails, flipped once the core is fixed).
_BUGS: dict[str, str] = {}
KNOWN_BUGS: dict[tuple[str, str], str] = {
    (r, p): why for r, why in _BUGS.items() for p in PROVIDERS
}


def _params() -> list[Any]:
    out = []
    for row in ROWS:
        for provider in PROVIDERS:
            bug = KNOWN_BUGS.get((row, provider))
            marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
            out.append(pytest.param(row, provider, id=f"{row}-{provider}", marks=marks))
    return out


def _check(calls: list[Call]) -> tuple[list[str], collections.Counter[str]]:
    wrong: list[str] = []
    raised: collections.Counter[str] = collections.Counter()
    for what, call, cls in calls:
        try:
            call()
        except cls as exc:
            raised[type(exc).__name__] += 1
        except BaseException as exc:  # the point is to see what escapes
            wrong.append(f"{what}: {type(exc).__name__}: {exc}"[:160])
        else:
            wrong.append(f"{what}: no error")
    return wrong, raised


@pytest.mark.parametrize(("row", "provider"), _params())
def test_bad_input(
    row: str,
    provider: str,
    make_env: Callable[..., Env],
    tmp_path: Path,
    cell: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cell.at("input", row, provider)
    for var in (
        "CONVERTAPI_SECRET",
        "GROUPDOCS_CLIENT_SECRET",
        "CONVERSIO_API_KEY",
        "CLOUDCONVERT_API_KEY",
        "ZAMZAR_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    env = make_env(KITS[provider])
    ctx = Ctx(env, tmp_path)
    calls = ROWS[row](ctx)
    wrong, raised = _check(calls)
    sent = [p for _, _, p in env.timed.log]
    cell.say(
        f"{len(calls)} calls: "
        + ", ".join(f"{n} {TIMES}{k}" for n, k in sorted(raised.items()))
        + ("; no request" if not sent else f"; {len(sent)} requests sent")
    )
    assert wrong == []
    assert sent == [], "a request left before the input was checked"


# -- the provider-independent entry points -----------------------------------------------------------

CORE_ROWS: dict[str, Callable[[Path], list[Call]]] = {
    "connect: provider name": lambda tmp: [
        ("connect('nope')", lambda: asyncjobs.connect("nope"), UnknownProviderError),
        ("connect(123)", lambda: asyncjobs.connect(123), IPE),  # type: ignore[call-overload]
    ],
    "register": lambda tmp: [
        ("register(123, ...)", lambda: asyncjobs.register(123, "m:C"), IPE),  # type: ignore[arg-type]
        ("register('Bad Name', ...)", lambda: asyncjobs.register("Bad Name", "m:C"), IPE),
        ("register('x', 123)", lambda: asyncjobs.register("x", 123), IPE),  # type: ignore[arg-type]
        ("register('x', 'no-colon')", lambda: asyncjobs.register("x", "no-colon"), IPE),
        (
            "register('convertapi', ...)",
            lambda: asyncjobs.register("convertapi", "m:C"),
            ConfigurationError,
        ),
    ],
    "jobs: status": lambda tmp: [
        ("jobs(status='bogus')", lambda: asyncjobs.jobs(status="bogus"), IPE),
    ],
    "Result.save: dest": lambda tmp: [
        (
            "Result.save(123)",
            lambda: asyncjobs.Result(files=(asyncjobs.ResultFile("a.txt", data=b"x"),)).save(123),  # type: ignore[arg-type]
            IPE,
        ),
    ],
}

CORE_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            r,
            id=r,
            marks=[pytest.mark.xfail(reason=CORE_BUGS[r], strict=True)] if r in CORE_BUGS else [],
        )
        for r in CORE_ROWS
    ],
)
def test_bad_input_core(row: str, tmp_path: Path, cell: Recorder) -> None:
    cell.at("input", row, "core")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        calls = CORE_ROWS[row](tmp_path)
        wrong, raised = _check(calls)
        sent = len(mock.calls)
    cell.say(
        f"{len(calls)} calls: "
        + ", ".join(f"{n} {TIMES}{k}" for n, k in sorted(raised.items()))
        + ("; no request" if not sent else f"; {sent} requests sent")
    )
    assert wrong == []
    assert sent == 0
