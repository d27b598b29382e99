"""The ledger on every backend (each test runs on SQLite and on PostgreSQL): schema versions and
migrations, what it records, expiry, many writers, resuming, listing. What only one backend does is in
test_ledger_sqlite.py (the file) and test_ledger_postgres.py (leases, notifications, claims)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_support import Raw, content
from toy_provider import ToyProvider, ToySandbox

import asyncjobs
from asyncjobs import errors
from asyncjobs._ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, LedgerEntry, SubmitState
from asyncjobs._ledger._postgres import POSTGRESQL
from asyncjobs._ledger._sqlite import SQLITE
from asyncjobs._models import JobInfo, Status
from asyncjobs.sandbox import Sandbox

TESTS = Path(__file__).parent
QUICK = asyncjobs.RetryPolicy(max_tries=3, base=0.01, cap=0.05, max_time=5)


def _subprocess_env(home: Path, sandbox: Sandbox) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ASYNCJOBS_HOME=str(home),
        PYTHONPATH=str(TESTS),
        ASYNCJOBS_PROGRESS="0",
        TOY_KEY=ToySandbox.key,
        TOY_BASE_URL=sandbox.url,
    )
    return env


def _info(status: Status = Status.PENDING, **kw: Any) -> JobInfo:
    return JobInfo(
        provider="toy",
        id=kw.pop("id", "t1"),
        kind="upper",
        status=status,
        raw_status=status.value,
        **kw,
    )


# -- schema versions (both backends) --------------------------------------------------------------------

DATA = TESTS / "data"
DIALECTS = {"sqlite": SQLITE, "postgresql": POSTGRESQL}


def _write_release_before(backend: str, target: str, raw: Raw) -> None:
    """A ledger as asyncjobs 0.1 left it (tests/data/make_old_ledgers.py made the fixtures)."""
    if backend == "sqlite":
        shutil.copyfile(DATA / "ledger-v3.sqlite3", target)
    else:
        raw.run((DATA / "ledger-pg-v1.sql").read_text())


def test_a_new_ledger_has_the_current_schema_version(ledger: Ledger, raw_ledger: Raw) -> None:
    assert raw_ledger.version() == SCHEMA_VERSION == len(MIGRATIONS)


def test_a_ledger_of_the_release_before_opens_with_nothing_lost(
    backend: str, ledger_target: str, raw_ledger: Raw
) -> None:
    _write_release_before(backend, ledger_target, raw_ledger)
    with Ledger(ledger_target) as ledger:
        assert content(ledger) == json.loads((DATA / "ledger-v3.json").read_text())
    assert raw_ledger.version() == SCHEMA_VERSION


def test_a_ledger_of_the_release_before_has_the_schema_of_a_new_one(
    backend: str,
    ledger_target: str,
    raw_ledger: Raw,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    _write_release_before(backend, ledger_target, raw_ledger)
    Ledger(ledger_target).close()
    new_target = (
        str(tmp_path / "new.sqlite3")
        if backend == "sqlite"
        else request.getfixturevalue("new_database")()
    )
    Ledger(new_target).close()
    new = Raw(backend, new_target)
    assert raw_ledger.columns() == new.columns()
    assert raw_ledger.indexes() == new.indexes()


def test_a_version_1_ledger_is_migrated_keeping_its_jobs(
    backend: str, ledger_target: str, raw_ledger: Raw
) -> None:
    if backend == "postgresql":
        raw_ledger.run(["CREATE SCHEMA asyncjobs"])
    raw_ledger.run(DIALECTS[backend].render_step(MIGRATIONS[0]))
    raw_ledger.set_version(1)
    raw_ledger.run(
        [
            "INSERT INTO jobs (key, provider, job_id, kind, params, state, status, created_at,"
            " updated_at) VALUES ('k', 'toy', 't1', 'upper', '{}', 'submitted', 'done', 1, 2)",
            "INSERT INTO statuses (key, seen_at, status, raw_status) VALUES"
            " ('k', 5, 'pending', 'queued'), ('k', 9, 'done', 'ok')",
        ]
    )
    with Ledger(ledger_target) as ledger:
        entry = ledger.get("toy", "t1")
        history = ledger.history("toy", "t1")
    assert entry is not None
    assert entry.info is not None
    assert entry.info.status is Status.DONE
    assert entry.finished_seen_at == datetime.fromtimestamp(9, timezone.utc)
    assert [status for _, status, _ in history] == [Status.PENDING, Status.DONE]
    assert raw_ledger.version() == SCHEMA_VERSION


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_a_ledger_of_a_newer_schema_is_refused_by_name_and_left_alone(
    ledger_target: str, raw_ledger: Raw, read_only: bool
) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.seen(_info())
    raw_ledger.set_version(SCHEMA_VERSION + 1)
    before = raw_ledger.dump()
    with pytest.raises(errors.ConfigurationError) as caught:
        Ledger(ledger_target, read_only=read_only)
    message = str(caught.value)
    assert "written by a newer asyncjobs" in message
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this asyncjobs understands" in message
    assert f"({SCHEMA_VERSION})" in message
    assert "Upgrade asyncjobs-core" in message
    assert raw_ledger.dump() == before


# -- what it records ------------------------------------------------------------------------------------


def test_job_is_in_the_ledger_before_its_submit_request_leaves(
    ledger_client: asyncjobs.Client,
) -> None:
    seen: list[LedgerEntry] = []
    original = ledger_client.provider.submit

    def spy(*args: Any, **kwargs: Any) -> JobInfo:
        assert ledger_client.ledger is not None
        seen.extend(ledger_client.ledger.entries())
        return original(*args, **kwargs)

    ledger_client.provider.submit = spy  # type: ignore[method-assign]
    ledger_client.submit("upper", text="hi")
    assert [(e.state, e.params) for e in seen] == [(SubmitState.SUBMITTING, {"text": "hi"})]


def test_every_status_change_seen_is_recorded(ledger_client: asyncjobs.Client) -> None:
    job = ledger_client.submit("upper", text="hi", duration=0.2)
    job.wait(timeout=10)
    assert ledger_client.ledger is not None
    history = ledger_client.ledger.history("toy", job.id)
    assert next(s for _, s, _ in history) is Status.PENDING
    assert history[-1][1:] == (Status.DONE, "ok")


def _as_stored(text: str) -> str:
    """What no backend can store (NUL, lone surrogates) as U+FFFD, the rest as it is."""
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


#: Text as a provider may send it: NUL and lone surrogates included.
ANY_TEXT = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff"])), min_size=1
).map("".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(error=ANY_TEXT, raw=ANY_TEXT, said=ANY_TEXT)
def test_whatever_text_a_provider_sends_the_end_of_the_job_is_recorded(
    ledger: Ledger, error: str, raw: str, said: str
) -> None:
    job_id = f"t-{ledger.count()}"
    ledger.issued(ledger.begin("toy", "upper", {"text": said}), _info(id=job_id))
    failed = attrs.evolve(_info(Status.FAILED, id=job_id), raw_status=raw, error=error)
    ledger.seen(attrs.evolve(failed, meta={"said": said}))
    entry = ledger.get("toy", job_id)
    assert entry is not None
    assert entry.info is not None
    assert entry.info.status is Status.FAILED
    assert (entry.info.error, entry.info.raw_status) == (_as_stored(error), _as_stored(raw))
    assert "\x00" not in (entry.info.error or "") + (entry.info.raw_status or "")
    assert [s for _, s, _ in ledger.history("toy", job_id)] == [Status.PENDING, Status.FAILED]


def test_a_provider_error_holding_a_nul_ends_the_job_through_client_status(
    ledger_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = ledger_client.submit("upper", text="hi", duration=3600)
    app: Any = toy_sandbox.app
    app.jobs[job.id].update(state="error", message="bad\x00byte\ud800")
    assert ledger_client.status(job.id).status is Status.FAILED
    assert ledger_client.ledger is not None
    entry = ledger_client.ledger.get("toy", job.id)
    assert entry is not None
    assert entry.info is not None
    assert (entry.info.status, entry.info.error) == (Status.FAILED, "bad\ufffdbyte\ufffd")


def test_refused_submit_is_kept_as_rejected(
    ledger_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    toy_sandbox.app.faults.status(400, body={"code": "bad", "message": "no"}, path="/jobs")
    with pytest.raises(errors.ProviderError):
        ledger_client.submit("upper", text="hi")
    assert ledger_client.ledger is not None
    (entry,) = ledger_client.ledger.entries()
    assert (entry.state, entry.job_id, entry.info) == (SubmitState.REJECTED, None, None)
    assert entry.error is not None
    assert "no" in entry.error


def test_find_returns_the_job_at_every_provider(ledger_target: str) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.seen(_info())
        ledger.seen(attrs_evolve(_info(), provider="other"))
        assert sorted(e.provider for e in ledger.find("t1")) == ["other", "toy"]
        assert ledger.find("t2") == []


def attrs_evolve(info: JobInfo, **changes: Any) -> JobInfo:
    import attrs

    return attrs.evolve(info, **changes)


def test_first_finished_sighting_is_kept(ledger_target: str) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.seen(_info(Status.PENDING))
        ledger.seen(_info(Status.DONE))
        first = ledger.get("toy", "t1")
        time.sleep(0.01)
        ledger.seen(_info(Status.DONE))
        again = ledger.get("toy", "t1")
    assert first is not None
    assert again is not None
    assert first.finished_seen_at is not None
    assert again.finished_seen_at == first.finished_seen_at


def test_id_issued_again_supersedes_the_older_entry(ledger_target: str) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.issued(ledger.begin("toy", "upper", {"text": "old"}), _info(Status.DONE))
        ledger.issued(ledger.begin("toy", "upper", {"text": "new"}), _info(Status.PENDING))
        entry = ledger.get("toy", "t1")
        old, new = ledger.entries()
    assert entry is not None
    assert entry.params == {"text": "new"}
    assert (old.state, old.job_id) == (SubmitState.SUPERSEDED, None)
    assert old.error is not None
    assert "'t1' again" in old.error
    assert new == entry


@pytest.mark.parametrize("end", [Status.DONE, Status.FAILED])
def test_an_older_pending_look_never_undoes_a_finished_job(ledger_target: str, end: Status) -> None:
    with Ledger(ledger_target) as late, Ledger(ledger_target) as first:
        late.issued(late.begin("toy", "upper", {}), _info())
        if late.shared:  # the late poller's lease is gone (ran out); the other one took it
            assert late.lease("toy", "t1", "upper")
            late.release("toy", "t1")
            assert first.lease("toy", "t1", "upper")
        first.seen(_info(end))  # the new holder saw the end (the write clears the lease)
        late.seen(_info(meta={"progress": 50}))  # the late poller's older look
        entry = first.get("toy", "t1")
        history = first.history("toy", "t1")
    assert entry is not None
    assert entry.info is not None
    assert entry.info.status is end
    assert [s for _, s, _ in history] == [Status.PENDING, end]


def test_client_chosen_id_used_again_supersedes_the_older_entry(ledger_target: str) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.begin("toy", "upper", {}, job_id="c1")
        ledger.begin("toy", "upper", {}, job_id="c1")
        assert [e.state for e in ledger.entries()] == [
            SubmitState.SUPERSEDED,
            SubmitState.SUBMITTING,
        ]


# -- expiry -----------------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def _entry(info: JobInfo | None, **kw: Any) -> LedgerEntry:
    return LedgerEntry(
        key="k",
        provider="toy",
        kind="upper",
        job_id=kw.pop("job_id", "t1"),
        params={},
        state="submitted",
        info=info,
        created_at=T0,
        **kw,
    )


@pytest.mark.parametrize(
    ("entry", "lifetime", "expected"),
    [
        (_entry(_info(Status.DONE, expires_at=T0 + 5 * HOUR)), HOUR, T0 + 5 * HOUR),
        (_entry(_info(Status.DONE, completed_at=T0 + HOUR)), HOUR, T0 + 2 * HOUR),
        (_entry(_info(Status.DONE), finished_seen_at=T0 + 3 * HOUR), HOUR, T0 + 4 * HOUR),
        (_entry(_info(Status.PENDING), updated_at=T0 + 2 * HOUR), HOUR, T0 + 3 * HOUR),
        (_entry(None), HOUR, T0 + HOUR),
        (_entry(_info(Status.DONE, completed_at=T0)), None, None),
        (_entry(None, job_id=None), HOUR, None),
    ],
    ids=[
        "provider-said",
        "completed",
        "first-seen-finished",
        "pending-last-look",
        "no-status",
        "lifetime-unknown",
        "no-job",
    ],
)
def test_expires_at(
    entry: LedgerEntry, lifetime: timedelta | None, expected: datetime | None
) -> None:
    assert entry.expires_at(lifetime) == expected


def test_expired_compares_with_now() -> None:
    entry = _entry(_info(Status.DONE, completed_at=T0))
    assert entry.expired(HOUR, now=T0 + 2 * HOUR)
    assert not entry.expired(HOUR, now=T0 + HOUR / 2)
    assert not entry.expired(None, now=T0 + 1000 * HOUR)


# -- many writers -----------------------------------------------------------------------------------


WRITER = textwrap.dedent("""
    import sys
    import asyncjobs
    from toy_provider import ToyProvider

    asyncjobs.register("toy", ToyProvider, replace=True)
    with asyncjobs.connect("toy") as client:
        for i in range(int(sys.argv[1])):
            client.submit("upper", text=f"{sys.argv[2]}-{i}", duration=3600)
""")


@pytest.mark.slow
def test_four_processes_writing_at_once_lose_nothing(
    toy_sandbox: Sandbox, asyncjobs_home: Path, ledger_target: str
) -> None:
    env = dict(_subprocess_env(asyncjobs_home, toy_sandbox), ASYNCJOBS_LEDGER=ledger_target)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, "500", f"p{n}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e.decode()[-2000:] for _, e in outputs]
    assert all(b"locked" not in e for _, e in outputs)
    with Ledger(ledger_target) as ledger:
        entries = ledger.entries()
    assert len(entries) == 2000
    assert {e.state for e in entries} == {SubmitState.SUBMITTED}
    assert len({e.job_id for e in entries}) == 2000
    assert {e.params["text"] for e in entries} == {
        f"p{n}-{i}" for n in range(4) for i in range(500)
    }
    assert len(toy_sandbox.app.jobs) == 2000


# -- resuming ---------------------------------------------------------------------------------------


RESUMER = textwrap.dedent("""
    import json, sys
    import asyncjobs
    from toy_provider import ToyProvider

    asyncjobs.register("toy", ToyProvider, replace=True)
    with asyncjobs.connect("toy") as client:
        job = client.job(sys.argv[1])
        out = {"kind": job.kind, "known": job.info.status.value if job.info else None}
        out["status"] = job.status().value
        out["waited"] = job.wait(timeout=20, progress=False).status.value
        out["result"] = job.result(timeout=20).files[0].read().decode()
        other = client.job(sys.argv[2])
        other.cancel()
        out["listed"] = sorted(j.id for j in asyncjobs.jobs(provider="toy"))
        print(json.dumps(out))
""")


def test_job_is_resumed_in_a_new_process(
    toy_registered: type[ToyProvider],
    toy_sandbox: Sandbox,
    asyncjobs_home: Path,
    ledger_target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASYNCJOBS_LEDGER", ledger_target)
    with asyncjobs.connect(
        "toy", retry=QUICK, **toy_sandbox.app.client_settings(toy_sandbox.url)
    ) as client:
        job = client.submit("upper", text="resume me", duration=0.5)
        other = client.submit("upper", text="cancel me", duration=3600)
    proc = subprocess.run(
        [sys.executable, "-c", RESUMER, job.id, other.id],
        env=dict(_subprocess_env(asyncjobs_home, toy_sandbox), ASYNCJOBS_LEDGER=ledger_target),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {
        "kind": "upper",
        "known": "pending",
        "status": out["status"],
        "waited": "done",
        "result": "RESUME ME",
        "listed": sorted([job.id, other.id]),
    }
    assert other.id not in toy_sandbox.app.jobs


def test_jobs_lists_the_ledger_across_providers(ledger_target: str) -> None:
    with Ledger(ledger_target) as ledger:
        ledger.seen(_info(Status.DONE))
        ledger.seen(attrs_evolve(_info(Status.FAILED), provider="other", id="o1"))
        everything = asyncjobs.jobs(ledger=ledger)
        failed = asyncjobs.jobs(status="failed", ledger=ledger)
        toy = asyncjobs.jobs(provider="toy", ledger=ledger)
    assert [(j.provider, j.id) for j in everything] == [("toy", "t1"), ("other", "o1")]
    assert [j.id for j in failed] == ["o1"]
    assert [j.id for j in toy] == ["t1"]


def test_infos_lists_the_last_info_of_jobs_with_an_id_in_recorded_order(ledger_target: str) -> None:
    from datetime import datetime, timezone

    from asyncjobs import JobInfo, Status

    ledger = Ledger(ledger_target)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    a = ledger.begin("p", "k", {}, "a")
    ledger.issued(a, JobInfo("p", "a", "k", "pending", submitted_at=when, meta={"m": [1]}))
    ledger.begin("p", "k", {}, None)  # no id issued: not a job yet
    b = ledger.begin("q", "k", {}, "b")
    ledger.issued(b, JobInfo("q", "b", "k", "done", completed_at=when))
    infos = ledger.infos()
    assert [(i.provider, i.id, i.status) for i in infos] == [
        ("p", "a", Status.PENDING),
        ("q", "b", Status.DONE),
    ]
    assert infos[0].submitted_at == when
    assert infos[0].meta == {"m": [1]}
    assert [i.id for i in ledger.infos(provider="q")] == ["b"]
    assert [i.id for i in ledger.infos(status="pending")] == ["a"]


def test_entry_params_read_back_as_recorded(ledger_target: str) -> None:
    ledger = Ledger(ledger_target)
    ledger.begin("p", "k", {"source": {"path": "/a.docx", "size": 3}, "to": "pdf"}, "j")
    (entry,) = ledger.entries()
    assert entry.params == {"source": {"path": "/a.docx", "size": 3}, "to": "pdf"}
    assert entry.params["to"] == "pdf"
    assert dict(entry.params) == {"source": {"path": "/a.docx", "size": 3}, "to": "pdf"}
