"""The Conversio client against its sandbox over loopback HTTP, faults included."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncjobs_conversio.sandbox import ConversioSandbox, csv_for

import asyncjobs
from asyncjobs import Status
from asyncjobs.errors import AuthenticationError, JobNotFoundError, TransportError
from asyncjobs.sandbox import Sandbox

WEEK = 7 * 24 * 3600


@pytest.mark.parametrize(
    ("kind", "params", "source"),
    [
        ("newsletter-emails", {"newsletter": "n1"}, "n1"),
        ("segments-export", {"segment": "s1"}, "s1"),
    ],
)
def test_each_kind_saves_its_csv(
    conversio_client: asyncjobs.Client,
    tmp_path: Path,
    kind: str,
    params: dict[str, str],
    source: str,
) -> None:
    job = conversio_client.submit(kind, **params)
    (path,) = job.save(tmp_path / "out", timeout=10)
    assert path.name == f"{job.id}.csv"
    assert path.read_bytes() == csv_for(kind, source)


def test_done_job_has_start_and_completion_times(conversio_client: asyncjobs.Client) -> None:
    info = conversio_client.submit("newsletter-recipients", newsletter="n1").wait(
        timeout=10, progress=False
    )
    assert info.started_at
    assert info.completed_at
    assert info.started_at < info.completed_at
    assert (
        info.expires_at == info.completed_at + conversio_client.provider.capabilities.job_lifetime
    )


def test_expired_job_is_not_found_saying_jobs_last_a_week(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    job = conversio_client.submit("newsletter-recipients", newsletter="n1")
    job.wait(timeout=10, progress=False)
    conversio_app.clock.advance(WEEK + 1)
    with pytest.raises(JobNotFoundError, match="a week after they finish") as caught:
        job.refresh()
    assert caught.value.job_id == job.id


def test_rate_limited_submit_is_retried_once_the_limit_passes(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    conversio_app.rate_limit(2)
    job = conversio_client.submit("newsletter-recipients", newsletter="n1")
    posts = [r for r in conversio_app.requests if r[0] == "POST"]
    assert len(posts) == 3
    assert len(conversio_app.jobs) == 1
    assert job.id in conversio_app.jobs


def test_each_key_lists_only_its_shops_jobs(
    conversio_client: asyncjobs.Client, conversio_box: Sandbox, tmp_path: Path
) -> None:
    mine = conversio_client.submit("newsletter-recipients", newsletter="n1")
    other_key = list(conversio_box.app.keys)[1]
    with asyncjobs.connect(
        "conversio",
        api_key=other_key,
        ledger=tmp_path / "other.sqlite3",
        base_url=conversio_box.url + "/api/v1",
    ) as other:
        theirs = other.submit("segments-export", segment="s1")
        assert [j.id for j in other.list()] == [theirs.id]
        with pytest.raises(JobNotFoundError):
            other.status(mine.id)
    assert [j.id for j in conversio_client.list()] == [mine.id]


def test_list_keeps_ledger_jobs_the_service_has_removed(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    old = conversio_client.submit("newsletter-recipients", newsletter="n1")
    old.wait(timeout=10, progress=False)
    conversio_app.clock.advance(WEEK + 1)
    new = conversio_client.submit("newsletter-recipients", newsletter="n1")
    listed = conversio_client.list()
    assert [j.id for j in listed] == [old.id, new.id]
    assert listed[0].info is not None
    assert listed[0].info.status is Status.DONE


def test_wrong_key_is_an_authentication_error(conversio_box: Sandbox) -> None:
    with asyncjobs.connect(
        "conversio", api_key="not-a-key", ledger=False, base_url=conversio_box.url + "/api/v1"
    ) as client:
        with pytest.raises(AuthenticationError, match="Invalid API key"):
            client.list()


def test_malformed_status_body_is_a_transport_error(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    job = conversio_client.submit("newsletter-recipients", newsletter="n1")
    conversio_app.faults.malformed(path="/async-jobs/")
    with pytest.raises(TransportError, match=job.id):
        job.refresh()


def test_truncated_csv_download_is_a_transport_error(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox, tmp_path: Path
) -> None:
    result = conversio_client.submit("newsletter-recipients", newsletter="n1").result(timeout=10)
    conversio_app.faults.truncate(path=".csv")
    with pytest.raises(TransportError, match="broke off"):
        result.save(tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.csv"))


def test_dropped_status_connection_is_retried(
    conversio_client: asyncjobs.Client, conversio_app: ConversioSandbox
) -> None:
    job = conversio_client.submit("newsletter-recipients", newsletter="n1")
    conversio_app.faults.drop(path="/async-jobs/")
    assert job.refresh().id == job.id
