"""The fault matrix: each fault case against each provider's sandbox, with its fault switches.

For every cell: the outcome is the right result or the right typed error (never a KeyError, TypeError,
AttributeError or bare requests exception), no submit is sent twice where that would double the work,
no job id is lost from the ledger, and a failed download leaves no partial file.
"""

from __future__ import annotations

import collections
import email.utils
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncjobs_convertapi.provider
import pytest
from reliability_kits import KITS, PROVIDERS, Env, Kit, expected_files, files_of, ids
from reliability_matrix import FAULT_CASES, NOT_APPLICABLE, Recorder

import asyncjobs
from asyncjobs._ledger import SubmitState
from asyncjobs.errors import (
    AsyncJobsError,
    JobNotFoundError,
    ProviderError,
    TransportError,
)
from asyncjobs.sandbox import Faults

TIMES = "\N{MULTIPLICATION SIGN}"
SHORT_READ = asyncjobs.Timeouts(connect=2.0, read=0.3)
HOLD = 1.0  # seconds a "read timeout" fault holds the request


class Ctx:
    """One cell's state: the environment, the submits made and the job ids the client got."""

    def __init__(self, env: Env, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = env
        self.kit: Kit = env.kit
        self.tmp = tmp
        self.monkeypatch = monkeypatch
        self.submits = 0
        self.got: set[str] = set()

    @property
    def app(self) -> Any:
        return self.env.app

    def submit(self, client: asyncjobs.Client) -> asyncjobs.Job:
        self.submits += 1
        job = self.kit.submit(client)
        self.got.add(job.id)
        return job

    def ready(self, **client_kwargs: Any) -> tuple[asyncjobs.Client, asyncjobs.Job]:
        """A submitted job, finished at the service (so every poll answers with a body)."""
        client = self.env.connect(**client_kwargs)
        job = self.submit(client)
        self.app.clock.advance(100)
        return client, job

    def check_saved(self, result: asyncjobs.Result, job_id: str, name: str = "out") -> None:
        dest = self.tmp / name
        result.save(dest)
        assert files_of(dest) == expected_files(self.kit, job_id)


def settle(job: asyncjobs.Job, tries: int = 6) -> tuple[asyncjobs.Result, list[AsyncJobsError]]:
    """``job.result()``, called again after each typed error (a user's retry loop). Anything that is
    not an AsyncJobsError escapes and fails the cell."""
    surfaced: list[AsyncJobsError] = []
    for _ in range(tries):
        try:
            return job.result(timeout=10), surfaced
        except AsyncJobsError as exc:
            surfaced.append(exc)
    raise AssertionError(f"no result after {tries} tries: {surfaced}")


def named(errors: list[AsyncJobsError]) -> list[str]:
    """Error classes with their HTTP status, e.g. ``ProviderError 500``."""
    out = []
    for e in errors:
        status = getattr(e, "status_code", None)
        shown = status and not isinstance(e, TransportError)  # a transport error's body was bad
        out.append(type(e).__name__ + (f" {status}" if shown else ""))
    return out


def said(errors: list[AsyncJobsError]) -> str:
    counts = collections.Counter(named(errors))
    return ", ".join(f"{n} {TIMES}{c}" if c > 1 else n for n, c in counts.items())


# -- polls ----------------------------------------------------------------------------------------

Arm = Callable[[Faults, str], None]


def poll_case(ctx: Ctx, arm: Arm, expect: list[str], **client_kwargs: Any) -> tuple[str, int]:
    """Arm a fault on the polls of a finished job, then get and save the result. Returns the
    outcome and the index in the request log where the fault was armed."""
    _, job = ctx.ready(**client_kwargs)
    mark = len(ctx.env.timed.log)
    arm(ctx.app.faults, ctx.kit.poll_path)
    result, surfaced = settle(job)
    assert named(surfaced) == expect
    ctx.check_saved(result, job.id)
    polls = sum(1 for _, _, p in ctx.env.timed.log[mark:] if ctx.kit.poll_path in p)
    if not surfaced:
        return f"right result; retried transparently ({polls} polls)", mark
    return f"{said(surfaced)}, then the right result on the next call", mark


def _gap_after(ctx: Ctx, mark: int) -> float:
    """Seconds between the first poll after ``mark`` (the faulted one) and the next."""
    times = [t for t, _, p in ctx.env.timed.log[mark:] if ctx.kit.poll_path in p]
    return times[1] - times[0]


def case_poll_reset(ctx: Ctx) -> str:
    return poll_case(ctx, lambda f, p: f.drop(times=2, path=p), [])[0]


def _burst(status: int, headers: dict[str, str] | None = None) -> Arm:
    def arm(faults: Faults, path: str) -> None:
        faults.status(status, times=3, path=path, body="Service trouble", headers=headers)

    return arm


def case_poll_500(ctx: Ctx) -> str:
    # Not retried (documented: only 502/503/504 are), so each look surfaces a typed error.
    return poll_case(ctx, _burst(500), ["ProviderError 500"] * 3)[0]


def case_poll_502(ctx: Ctx) -> str:
    return poll_case(ctx, _burst(502), [])[0]


def case_poll_503(ctx: Ctx) -> str:
    return poll_case(ctx, _burst(503, {"Retry-After": "0"}), [])[0]


def case_poll_504(ctx: Ctx) -> str:
    return poll_case(ctx, _burst(504), [])[0]


#: Retries that honour a service's Retry-After up to 2 s (every hint is clamped to the cap).
HINT_RETRY = asyncjobs.RetryPolicy(max_tries=5, base=0.001, cap=2.0, max_time=10)


def case_poll_429_seconds(ctx: Ctx) -> str:
    def arm(faults: Faults, path: str) -> None:
        faults.status(429, path=path, body="Slow down", headers={"Retry-After": "1"})

    outcome, mark = poll_case(ctx, arm, [], retry=HINT_RETRY)
    gap = _gap_after(ctx, mark)
    assert gap >= 0.9, f"Retry-After: 1 was not honoured (next poll after {gap:.2f}s)"
    return f"{outcome}; waited the 1 s asked"


def case_poll_429_date(ctx: Ctx) -> str:
    when = datetime.now(timezone.utc) + timedelta(seconds=1.5)

    def arm(faults: Faults, path: str) -> None:
        header = email.utils.format_datetime(when, usegmt=True)
        faults.status(429, path=path, body="Slow down", headers={"Retry-After": header})

    outcome, mark = poll_case(ctx, arm, [], retry=HINT_RETRY)
    gap = _gap_after(ctx, mark)
    # an HTTP date has whole seconds: the wait is 0.5 to 1.5 s
    assert gap >= 0.4, f"the Retry-After date was not honoured (next poll after {gap:.2f}s)"
    return f"{outcome}; waited until the date"


def case_poll_read_timeout(ctx: Ctx) -> str:
    # ConvertAPI polls allow for the service's 5 s hold on re-polls (HOLD_MARGIN on top of the read
    # timeout); the case takes the margin away to time out like the other providers.
    ctx.monkeypatch.setattr(asyncjobs_convertapi.provider, "HOLD_MARGIN", 0.0)
    outcome, _ = poll_case(ctx, lambda f, p: f.delay(HOLD, path=p), [], timeout=SHORT_READ)
    return outcome


def case_poll_malformed(ctx: Ctx) -> str:
    # a garbled answer is a TransportError on that poll; waiting polls again, as it does for any
    # transient error (up to five in a row), so the caller sees the result
    return poll_case(ctx, lambda f, p: f.malformed(path=p), [])[0]


def case_poll_truncated(ctx: Ctx) -> str:
    # ConvertAPI streams its polls (a done job's answer may be the file itself), so a cut body is
    # found when read, after the transport: a TransportError, which the wait retries. The others
    # read the body in the transport, which retries the GET itself.
    return poll_case(ctx, lambda f, p: f.truncate(path=p), [])[0]


def case_poll_401(ctx: Ctx) -> str:
    def arm(faults: Faults, path: str) -> None:
        faults.status(401, path=path, body="Unauthorized")

    # GroupDocs refreshes its token and replays the request once; a static secret cannot be.
    expect = [] if ctx.kit.name == "groupdocs" else ["AuthenticationError 401"]
    outcome, _ = poll_case(ctx, arm, expect)
    if ctx.kit.name == "groupdocs":
        assert ctx.app.tokens_issued == 2
        outcome += "; a new token was fetched"
    return outcome


def case_token_expiry(ctx: Ctx) -> str:
    _, job = ctx.ready()
    ctx.app.expire_tokens()
    result, surfaced = settle(job)
    assert surfaced == []
    ctx.check_saved(result, job.id)
    assert ctx.app.unauthorized >= 1
    assert ctx.app.tokens_issued == 2
    return "right result; the 401 refreshed the token and replayed the poll"


# -- submits --------------------------------------------------------------------------------------


def submit_case(ctx: Ctx, arm: Arm, *, created: int, **client_kwargs: Any) -> str:
    """Arm a fault on the submit request. An idempotent submit must get the job (retried with the
    same id, one job at the service); the others must report it typed, record it ``unknown``, send
    the submit once, and the service must hold ``created`` jobs (never more)."""
    client = ctx.env.connect(**client_kwargs)
    arm(ctx.app.faults, ctx.kit.submit_path)
    try:
        job: asyncjobs.Job | None = ctx.submit(client)
        error: AsyncJobsError | None = None
    except AsyncJobsError as exc:
        job, error = None, exc
        ctx.submits += 0  # counted by ctx.submit before it raised
    ctx.app.faults.clear()
    posts = ctx.env.requests("POST", ctx.kit.submit_path)
    if job is not None:
        # wait for a held request the service still handles after the client gave up
        ctx.env.wait_until(lambda: ctx.kit.created(ctx.app) >= 1, timeout=HOLD + 2)
        time.sleep(HOLD if "timeout" in client_kwargs else 0)
        assert ctx.kit.created(ctx.app) == 1, "the job was started twice"
        result, surfaced = settle(job)
        assert surfaced == []
        ctx.check_saved(result, job.id)
        how = (
            "with the same job id" if ctx.kit.idempotent_submit else "(refused, so safe to repeat)"
        )
        again = f"sent {posts} times {how}, " if posts > 1 else ""
        return f"right result; {again}one job at the service"
    assert isinstance(error, (TransportError, ProviderError)), repr(error)
    assert posts == 1, f"a non-idempotent submit was sent {posts} times"
    (entry,) = ctx.env.entries()
    assert entry.state == SubmitState.UNKNOWN
    assert entry.job_id is None
    assert entry.error, "the ledger must say why the outcome is unknown"
    assert ctx.env.wait_until(lambda: ctx.kit.created(ctx.app) == created, timeout=HOLD + 2)
    assert ctx.kit.created(ctx.app) == created
    outcome = (
        f"{said([error])}; sent once; ledger: `unknown`; {created} job at the service"
        if created
        else f"{said([error])}; sent once; ledger: `unknown`; no job at the service"
    )
    if created and ctx.kit.lists_jobs:
        listed = client.list()
        found = [j for j in listed if j.id not in ctx.got]
        assert len(found) == 1
        ctx.got.add(found[0].id)
        if ctx.kit.upload_after_create:
            return outcome + "; " + _left_waiting(ctx, client, found[0])
        result, _ = settle(found[0])
        ctx.check_saved(result, found[0].id)
        outcome += "; `client.list()` finds it and its result"
    return outcome


def _left_waiting(ctx: Ctx, client: asyncjobs.Client, job: asyncjobs.Job) -> str:
    """A job created by a submit whose answer was lost, at a service that takes the file in a
    second request (CloudConvert: the upload form was in the lost answer): it waits for a file
    that never comes. ``client.list()`` shows it; cancelling it ends it."""
    ctx.app.clock.advance(100)
    info = job.refresh()
    assert info.status is asyncjobs.Status.PENDING
    assert info.raw_status == "waiting"
    assert info.meta["tasks"]["import"] == "waiting"
    client.cancel(job.id)
    assert job.refresh().status is asyncjobs.Status.FAILED
    return (
        "`client.list()` finds it `waiting` for the file the lost answer's upload form was for "
        "(it never ends by itself); `client.cancel(id)` ends it, then submit again"
    )


def case_submit_reset(ctx: Ctx) -> str:
    return submit_case(ctx, lambda f, p: f.drop(path=p), created=0)


def case_submit_answer_lost(ctx: Ctx) -> str:
    return submit_case(ctx, lambda f, p: f.truncate(path=p), created=1)


def case_submit_503(ctx: Ctx) -> str:
    def arm(faults: Faults, path: str) -> None:
        faults.status(503, times=2, path=path, body="Busy", headers={"Retry-After": "0"})

    return submit_case(ctx, arm, created=0)


def case_submit_429(ctx: Ctx) -> str:
    def arm(faults: Faults, path: str) -> None:
        faults.status(429, times=2, path=path, body="Slow down", headers={"Retry-After": "0"})

    return submit_case(ctx, arm, created=1)


def case_submit_read_timeout(ctx: Ctx) -> str:
    return submit_case(ctx, lambda f, p: f.delay(HOLD, path=p), created=1, timeout=SHORT_READ)


# -- downloads, lifetimes, restarts ----------------------------------------------------------------


def case_download_truncated(ctx: Ctx) -> str:
    _, job = ctx.ready()
    result = job.result(timeout=10)
    ctx.env.timed.cut(ctx.kit.download_path)
    dest = ctx.tmp / "out"
    with pytest.raises(TransportError):
        result.save(dest)
    assert files_of(dest) == {}, "a partial file or a temporary leftover stayed behind"
    ctx.check_saved(result, job.id)
    return "TransportError; nothing left in the folder; the next save is whole"


def case_job_expiry(ctx: Ctx) -> str:
    _, job = ctx.ready()
    ctx.kit.expire(ctx.app)
    with pytest.raises(JobNotFoundError):
        job.result(timeout=10)
    done, _ = asyncjobs.wait([job], timeout=10)
    assert done == {job}
    assert isinstance(job.error, JobNotFoundError)
    return "JobNotFoundError (also in `job.error` after `asyncjobs.wait`); the ledger keeps it"


def case_restart_kept(ctx: Ctx) -> str:
    client = ctx.env.connect()
    job = ctx.submit(client)
    ctx.env.restart(keep_state=True)
    again = ctx.env.connect().job(job.id)
    assert again.kind == job.kind, "the ledger knows the job"
    result, surfaced = settle(again)
    assert surfaced == []
    ctx.check_saved(result, job.id)
    assert ctx.kit.created(ctx.app) == 1
    return "right result through `client.job(id)`"


def case_restart_lost(ctx: Ctx) -> str:
    client = ctx.env.connect()
    job = ctx.submit(client)
    ctx.env.restart(keep_state=False)
    again = ctx.env.connect().job(job.id)
    with pytest.raises(JobNotFoundError):
        again.result(timeout=10)
    (entry,) = ctx.env.entries()
    assert entry.job_id == job.id
    assert entry.state == SubmitState.SUBMITTED
    return "JobNotFoundError; the ledger keeps the job (what to submit again)"


CASES: dict[str, Callable[[Ctx], str]] = {
    "poll-reset": case_poll_reset,
    "poll-500": case_poll_500,
    "poll-502": case_poll_502,
    "poll-503": case_poll_503,
    "poll-504": case_poll_504,
    "poll-429-seconds": case_poll_429_seconds,
    "poll-429-date": case_poll_429_date,
    "poll-read-timeout": case_poll_read_timeout,
    "poll-malformed": case_poll_malformed,
    "poll-truncated": case_poll_truncated,
    "poll-401": case_poll_401,
    "token-expiry": case_token_expiry,
    "submit-reset": case_submit_reset,
    "submit-answer-lost": case_submit_answer_lost,
    "submit-503": case_submit_503,
    "submit-429": case_submit_429,
    "submit-read-timeout": case_submit_read_timeout,
    "download-truncated": case_download_truncated,
    "job-expiry": case_job_expiry,
    "restart-kept": case_restart_kept,
    "restart-lost": case_restart_lost,
}

#: Red cells: (case, provider) -> why (strict xfails: they fail the suite once fixed, to be flipped).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _params() -> list[Any]:
    out = []
    for case in FAULT_CASES:
        for provider in PROVIDERS:
            if (case, provider) in NOT_APPLICABLE:
                continue
            bug = KNOWN_BUGS.get((case, provider))
            marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
            out.append(pytest.param(case, provider, id=f"{case}-{provider}", marks=marks))
    return out


def test_cases_cover_the_page() -> None:
    assert list(CASES) == list(FAULT_CASES)


@pytest.mark.parametrize(("case", "provider"), _params())
def test_fault(
    case: str,
    provider: str,
    make_env: Callable[..., Env],
    cell: Recorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cell.at("faults", case, provider)
    ctx = Ctx(make_env(KITS[provider]), tmp_path, monkeypatch)
    outcome = CASES[case](ctx)
    cell.say(outcome)
    # No job lost: every id the client got is in the ledger; every submission was resolved.
    entries = ctx.env.entries()
    assert ctx.got <= ids(entries)
    assert len([e for e in entries if e.key]) >= ctx.submits
    assert [e.state for e in entries if e.state == SubmitState.SUBMITTING] == []
