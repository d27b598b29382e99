"""The PostgreSQL backend's own behaviour: its URL setting, its schema namespace, secrets, lost
connections, leases, claims and notifications (what every backend does runs in test_ledger.py on
both)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_support import let_in, read_only, shut_out, sql, unreachable

import asyncjobs
from asyncjobs import errors
from asyncjobs._ledger import SCHEMA_VERSION, Ledger
from asyncjobs._ledger._postgres import display_url, translate
from asyncjobs._models import JobInfo, Status


def _info(job_id: str = "j1", status: Status = Status.PENDING, **kw: Any) -> JobInfo:
    return JobInfo(provider="toy", id=job_id, kind="upper", status=status, **kw)


def _issued(ledger: Ledger, job_id: str = "j1") -> None:
    ledger.issued(ledger.begin("toy", "upper", {"text": job_id}), _info(job_id))


# -- the setting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "mysql://user@host/db",
        "postgresq://user@host/db",
        "host=localhost dbname=jobs",
        "",
        " /tmp/ledger.db",
        "/tmp/ledger.db\n",
        "postgresql:/no-slashes",
    ],
    ids=["other-scheme", "misspelt", "libpq-keywords", "empty", "padded", "newline", "no-slashes"],
)
def test_a_ledger_that_is_neither_a_path_nor_a_known_url_is_refused(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(errors.ConfigurationError, match="ledger"):
        Ledger(target)
    assert list(tmp_path.iterdir()) == []  # never made into a file of that name


def test_asyncjobs_ledger_names_the_ledger_of_connect_and_jobs(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger(pg_url) as ledger:
        _issued(ledger)
    monkeypatch.setenv("ASYNCJOBS_LEDGER", pg_url)
    assert [j.id for j in asyncjobs.jobs()] == ["j1"]
    with Ledger.open() as ledger:
        assert ledger.url is not None
        assert ledger.shared


def test_a_unix_socket_url_is_handed_to_psycopg_as_it_is(pg_url: str) -> None:
    assert "?host=/" in pg_url
    with Ledger(pg_url) as ledger:
        assert ledger.count() == 0


def test_a_server_that_is_not_there_is_a_configuration_error_naming_the_url(
    tmp_path: Path,
) -> None:
    url = f"postgresql://nobody:hunter2-canary@/db?host={tmp_path}"
    with pytest.raises(errors.ConfigurationError) as caught:
        Ledger(url)
    assert "postgresql://nobody:***@/db" in str(caught.value)
    assert "hunter2-canary" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw-canary@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?password=pw-canary&host=/s",
            "postgresql://u@h/db?password=***&host=/s",
        ),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_the_shown_url_never_carries_the_password(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_the_password_is_in_no_repr_message_or_row(postgres: str, pg_url: str) -> None:
    canary = "pw-canary-5u9t"
    user = f"u{int(time.time() * 1000) % 10**9}"
    sql(postgres, f"CREATE ROLE {user} LOGIN PASSWORD '{canary}' SUPERUSER")
    url = pg_url.replace("asyncjobs@", f"{user}:{canary}@")
    with Ledger(url) as ledger:
        _issued(ledger)
        assert canary not in repr(ledger)
        assert canary not in str(ledger.url)
        rows = sql(pg_url, "SELECT * FROM asyncjobs.jobs")
    assert rows
    assert canary not in repr(rows)


# -- the schema -------------------------------------------------------------------------------------


def test_a_new_database_gets_the_current_schema(pg_url: str) -> None:
    Ledger(pg_url).close()
    rows = dict(sql(pg_url, "SELECT name, value FROM asyncjobs.meta"))
    assert rows == {
        "application": "asyncjobs",
        "version": str(SCHEMA_VERSION),
        "numbering": "shared",
    }


def test_a_schema_of_another_application_is_refused_and_left_alone(pg_url: str) -> None:
    sql(pg_url, "CREATE SCHEMA asyncjobs")
    sql(pg_url, "CREATE TABLE asyncjobs.jobs (x int)")
    with pytest.raises(errors.ConfigurationError, match="other tables"):
        Ledger(pg_url)
    assert sql(pg_url, "SELECT count(*) FROM asyncjobs.jobs") == [(0,)]
    assert sql(pg_url, "SELECT to_regclass('asyncjobs.statuses')") == [(None,)]


def test_tables_of_the_user_outside_the_schema_are_untouched(pg_url: str) -> None:
    sql(pg_url, "CREATE TABLE public.jobs (mine text)")
    sql(pg_url, "INSERT INTO public.jobs VALUES ('keep me')")
    with Ledger(pg_url) as ledger:
        _issued(ledger)
    assert sql(pg_url, "SELECT mine FROM public.jobs") == [("keep me",)]


def test_ledgers_opened_at_once_migrate_once(new_database: Callable[[], str]) -> None:
    url = new_database()
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            Ledger(url).close()
        except BaseException as exc:  # pragma: no cover - what the test looks for
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_read_only_ledger_lists_and_refuses_writes(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        _issued(ledger)
    with Ledger(pg_url, read_only=True) as reader:
        assert [e.job_id for e in reader.entries()] == ["j1"]
        with pytest.raises(errors.ConfigurationError, match="read-only"):
            reader.begin("toy", "upper", {})


def test_a_database_that_turns_read_only_in_use_is_a_ledger_error_not_a_setting(
    postgres: str, pg_url: str
) -> None:
    with Ledger(pg_url) as ledger:
        _issued(ledger)
        with read_only(postgres, pg_url):
            with pytest.raises(errors.LedgerError, match="read-only now") as caught:
                ledger.begin("toy", "upper", {})
            assert not isinstance(caught.value, errors.ConfigurationError)
        ledger.begin("toy", "upper", {})  # writable again: the next write goes through
        assert ledger.count() == 2


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("a IS NOT :b", "a IS DISTINCT FROM %(b)s"),
        ("a IS NOT NULL AND b=?", "a IS NOT NULL AND b=%s"),
        ("ORDER BY rowid", "ORDER BY seq"),
        ("name LIKE 'x%'", "name LIKE 'x%%'"),
    ],
)
def test_the_sql_is_translated_to_postgresql(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


# -- a lost connection ------------------------------------------------------------------------------


def _terminate_others(url: str) -> int:
    rows = sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()",
    )
    return len(rows)


def test_a_lost_connection_is_opened_again_for_the_next_write(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        _issued(ledger, "a")
        assert _terminate_others(pg_url) >= 1
        _issued(ledger, "b")
        assert [e.job_id for e in ledger.entries()] == ["a", "b"]


def test_a_lost_connection_is_opened_again_for_the_next_read(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        _issued(ledger)
        _terminate_others(pg_url)
        entry = ledger.get("toy", "j1")
        assert entry is not None


def test_a_ledger_that_stays_unreachable_is_a_ledger_error(
    postgres: str, new_database: Callable[[], str]
) -> None:
    url = new_database()
    ledger = Ledger(url)
    ledger._store.retry_for = 0.3
    try:
        with (
            unreachable(postgres, url),
            pytest.raises(errors.LedgerError, match="could not open it again"),
        ):
            ledger.begin("toy", "upper", {})
    finally:
        ledger.close()


# -- leases -----------------------------------------------------------------------------------------


def test_the_first_poller_takes_the_lease_and_the_second_is_refused(pg_url: str) -> None:
    with Ledger(pg_url) as a, Ledger(pg_url) as b:
        _issued(a)
        assert a.lease("toy", "j1", "upper")
        assert not b.lease("toy", "j1", "upper")
        entry = b.get("toy", "j1")
        assert entry is not None
        assert entry.holder == a.holder


@pytest.fixture
def stale_lease(pg_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    """Ledgers ``a`` and ``b`` with half-second leases; ``a`` holds job j1's lease and its keeper
    has stopped (a crashed or late holder: nobody renews the lease)."""
    a = Ledger(pg_url, lease_seconds=0.5)
    b = Ledger(pg_url, lease_seconds=0.5)
    try:
        _issued(a)
        assert a.lease("toy", "j1", "upper")
        a._leases._stop.set()  # type: ignore[union-attr]
        yield a, b
    finally:
        b.close()
        a._store.close()


def test_a_lease_left_to_run_out_is_taken_over(stale_lease: tuple[Ledger, Ledger]) -> None:
    _, b = stale_lease
    time.sleep(0.7)
    assert b.lease("toy", "j1", "upper")


def test_a_lease_not_renewed_for_half_its_length_is_confirmed_before_a_poll(
    stale_lease: tuple[Ledger, Ledger],
) -> None:
    a, b = stale_lease
    time.sleep(0.3)
    assert a.touch("toy", "j1")  # confirmed in the ledger, so renewed
    time.sleep(0.3)
    assert not b.lease("toy", "j1", "upper")


def test_a_touch_without_confirm_sends_nothing_even_for_a_stale_lease(
    stale_lease: tuple[Ledger, Ledger],
) -> None:
    a, _ = stale_lease
    time.sleep(0.3)
    before = a._store.statements
    assert a.touch("toy", "j1", confirm=False)
    assert a._store.statements == before


def test_a_lease_that_ran_out_and_was_taken_over_is_not_touched(
    stale_lease: tuple[Ledger, Ledger],
) -> None:
    a, b = stale_lease
    time.sleep(0.7)
    assert b.lease("toy", "j1", "upper")
    assert not a.touch("toy", "j1")
    assert a.held() == set()


def test_a_lease_that_ran_out_is_not_taken_back_by_a_touch_after_its_job_finished(
    stale_lease: tuple[Ledger, Ledger],
) -> None:
    a, b = stale_lease
    time.sleep(0.7)
    assert b.lease("toy", "j1", "upper")
    b.seen(_info(status=Status.DONE))  # the new holder saw it finish: nobody holds it now
    assert not a.touch("toy", "j1")
    entry = b.get("toy", "j1")
    assert entry is not None
    assert entry.holder is None


def test_a_lease_in_use_is_kept_alive_past_its_length(pg_url: str) -> None:
    with Ledger(pg_url, lease_seconds=1.5) as a, Ledger(pg_url) as b:
        _issued(a)
        assert a.lease("toy", "j1", "upper")
        for _ in range(10):
            time.sleep(0.3)
            assert a.touch("toy", "j1")
        assert not b.lease("toy", "j1", "upper")


def test_a_finished_job_gives_its_lease_up(pg_url: str) -> None:
    with Ledger(pg_url) as a, Ledger(pg_url) as b:
        _issued(a)
        assert a.lease("toy", "j1", "upper")
        a.seen(_info(status=Status.DONE))
        entry = b.get("toy", "j1")
        assert entry is not None
        assert entry.holder is None
        assert a.held() == set()


def test_a_poller_that_lost_its_lease_cannot_write_over_the_new_holder(pg_url: str) -> None:
    with Ledger(pg_url) as a, Ledger(pg_url) as b:
        _issued(a)
        sql(
            pg_url,
            "UPDATE asyncjobs.jobs SET lease_holder=%s, lease_until=extract(epoch from now()) + 3600",
            (b.holder,),
        )
        a.seen(_info(status=Status.DONE, raw_status="stale"))
        entry = b.get("toy", "j1")
        assert entry is not None
        assert entry.info is not None
        assert entry.info.status is Status.PENDING


def test_closing_a_ledger_gives_up_its_leases(pg_url: str) -> None:
    a = Ledger(pg_url)
    _issued(a)
    assert a.lease("toy", "j1", "upper")
    a.close()
    with Ledger(pg_url) as b:
        assert b.lease("toy", "j1", "upper")


def test_workers_claiming_at_once_never_claim_one_job_twice(pg_url: str) -> None:
    with Ledger(pg_url) as setup:
        for i in range(200):
            _issued(setup, f"j{i}")
    claimed: list[list[str]] = []
    lock = threading.Lock()
    # a claimer that is done keeps its ledger open until all are: closing gives its leases up,
    # and the jobs are then free to claim again (as they should be)
    all_done = threading.Barrier(4)

    def claim() -> None:
        with Ledger(pg_url) as ledger:
            got: list[str] = []
            while True:
                infos = ledger.claim(["toy"], 7)
                if not infos:
                    break
                got += [i.id for i in infos]
            with lock:
                claimed.append(got)
            all_done.wait(60)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [j for got in claimed for j in got]
    assert sorted(every) == sorted(f"j{i}" for i in range(200))
    assert len(set(every)) == 200


def test_a_sqlite_ledger_has_no_workers(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        assert ledger.lease("toy", "j1", "upper")  # one machine: nothing to coordinate
        with pytest.raises(errors.ConfigurationError, match="postgresql://"):
            ledger.claim([], 10)


# -- notifications ----------------------------------------------------------------------------------


def test_a_status_written_elsewhere_is_notified(pg_url: str) -> None:
    seen: list[tuple[str, str]] = []
    arrived = threading.Event()

    def note(provider: str, job_id: str) -> None:
        seen.append((provider, job_id))
        arrived.set()

    with Ledger(pg_url) as writer, Ledger(pg_url) as watcher:
        _issued(writer)
        watcher.subscribe(note)
        watcher.wait_changed(0.5)  # the listener is connected
        writer.seen(_info(status=Status.DONE))
        assert arrived.wait(5)
        assert ("toy", "j1") in seen


def test_an_unchanged_status_is_not_notified(pg_url: str) -> None:
    seen: list[tuple[str, str]] = []
    with Ledger(pg_url) as writer, Ledger(pg_url) as watcher:
        _issued(writer)
        watcher.subscribe(lambda p, j: seen.append((p, j)))
        watcher.wait_changed(0.5)
        writer.seen(_info())  # as it was
        writer.seen(_info(job_id="j1"))
        time.sleep(0.5)
    assert seen == []


def test_wait_changed_returns_when_another_process_writes(pg_url: str) -> None:
    with Ledger(pg_url) as writer, Ledger(pg_url) as watcher:
        _issued(writer)
        watcher.wait_changed(0.5)
        threading.Timer(0.2, lambda: writer.seen(_info(status=Status.DONE))).start()
        start = time.monotonic()
        watcher.wait_changed(10)
        assert time.monotonic() - start < 5


def test_the_listener_reconnects_after_its_connection_is_killed(pg_url: str) -> None:
    arrived = threading.Event()
    with Ledger(pg_url) as writer, Ledger(pg_url) as watcher:
        _issued(writer)
        watcher.subscribe(lambda p, j: arrived.set())
        watcher.wait_changed(0.5)
        pid = watcher._store.listener_pid()
        assert pid is not None
        sql(pg_url, "SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while watcher._store.listener_pid() in (None, pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher._store.listener_pid() not in (None, pid)
        writer.seen(_info(status=Status.DONE))
        assert arrived.wait(5)


# -- the same guarantees as SQLite ------------------------------------------------------------------


#: a test of what a client does on a PostgreSQL ledger (``ledger_client``'s ledger is ``pg_url``)
ON_POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"])


@ON_POSTGRESQL
def test_no_secret_reaches_the_database(ledger_client: asyncjobs.Client, pg_url: str) -> None:
    from toy_provider import ToySandbox

    ok = ledger_client.submit("upper", text="hello", duration=0.05)
    bad = ledger_client.submit("upper", text="please fail", duration=0.05)
    ok.wait(timeout=10)
    bad.wait(timeout=10)
    rows = sql(pg_url, "SELECT j::text FROM asyncjobs.jobs j")
    rows += sql(pg_url, "SELECT s::text FROM asyncjobs.statuses s")
    assert len(rows) > 2
    assert all(ToySandbox.key not in text for (text,) in rows)


@ON_POSTGRESQL
def test_a_job_id_the_database_could_not_record_reaches_the_caller(
    ledger_client: asyncjobs.Client, postgres: str, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncjobs import _client

    assert ledger_client.ledger is not None
    ledger_client.ledger._store.retry_for = 0.2
    monkeypatch.setattr(_client, "_LEDGER_RETRIES", (0.05, 0.05))
    original = ledger_client.provider.submit

    def submit_then_lose_the_database(*args: Any, **kwargs: Any) -> JobInfo:
        info = original(*args, **kwargs)
        shut_out(postgres, pg_url)
        return info

    ledger_client.provider.submit = submit_then_lose_the_database  # type: ignore[method-assign]
    try:
        with pytest.raises(errors.LedgerError) as caught:
            ledger_client.submit("upper", text="hi")
    finally:
        let_in(postgres, pg_url)
    assert caught.value.job_id is not None
    assert caught.value.info is not None
    assert caught.value.job_id in str(caught.value)


def test_a_worker_on_a_sqlite_ledger_is_a_usage_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "worker", "--ledger", str(tmp_path / "l.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "postgresql://" in done.stderr
    assert not (tmp_path / "l.db").exists()


def test_jobs_a_closed_ledger_gave_up_are_claimed_again(pg_url: str) -> None:
    with Ledger(pg_url) as setup:
        _issued(setup)
    first = Ledger(pg_url)
    assert [i.id for i in first.claim(["toy"], 10)] == ["j1"]
    with Ledger(pg_url) as second:
        assert second.claim(["toy"], 10) == []  # leased
        first.close()
        assert [i.id for i in second.claim(["toy"], 10)] == ["j1"]
