"""The client: bad input refused before any request, the ledger written first, the verbs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from memory_provider import MemoryProvider

import asyncjobs
from asyncjobs import Status, errors
from asyncjobs._ledger import SubmitState
from asyncjobs.sandbox import Sandbox


def test_unknown_kind_names_the_kinds_there_are(memory_client: asyncjobs.Client) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        memory_client.submit("convert", source="a.docx", to="pdf")
    assert "'sleep'" in str(caught.value)
    assert caught.value.parameter == "kind"


def test_unknown_parameter_is_refused_with_the_known_ones(memory_client: asyncjobs.Client) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        memory_client.submit("sleep", duration=1, colour="red")
    assert "'colour'" in str(caught.value)
    assert "duration" in str(caught.value)


def test_missing_parameter_is_named(memory_client: asyncjobs.Client) -> None:
    with pytest.raises(errors.InvalidParameterError, match="'duration'"):
        memory_client.submit("sleep")


def test_bad_input_sends_nothing_and_records_nothing(memory_client: asyncjobs.Client) -> None:
    with pytest.raises(errors.InvalidParameterError):
        memory_client.submit("sleep", nope=1)
    assert memory_client.provider.jobs == {}  # type: ignore[attr-defined]
    assert memory_client.ledger is not None
    assert memory_client.ledger.entries() == []


def test_webhook_on_a_provider_without_webhooks_is_not_supported(
    memory_client: asyncjobs.Client,
) -> None:
    with pytest.raises(errors.NotSupportedError, match="webhooks"):
        memory_client.submit("sleep", duration=1, webhook="http://127.0.0.1/hook")


def test_the_job_is_in_the_ledger_before_the_request_leaves(
    memory_client: asyncjobs.Client,
) -> None:
    seen: list[list[str]] = []
    ledger = memory_client.ledger
    assert ledger is not None
    memory_client.provider.submit_hook = lambda: seen.append(  # type: ignore[attr-defined]
        [e.state for e in ledger.entries()]
    )
    job = memory_client.submit("sleep", duration=0)
    assert seen == [[SubmitState.SUBMITTING]]
    entry = ledger.get("memory", job.id)
    assert entry is not None
    assert entry.state == SubmitState.SUBMITTED
    assert entry.params == {"duration": 0}


def test_an_ambiguous_submit_failure_is_kept_as_unknown(memory_client: asyncjobs.Client) -> None:
    def lost() -> None:
        raise errors.TransportError("connection reset", provider="memory")

    memory_client.provider.submit_hook = lost  # type: ignore[attr-defined]
    with pytest.raises(errors.TransportError):
        memory_client.submit("sleep", duration=0)
    assert memory_client.ledger is not None
    (entry,) = memory_client.ledger.entries()
    assert entry.state == SubmitState.UNKNOWN
    assert entry.job_id is None  # no id was issued; the user must look the job up or resubmit


def test_a_refused_submit_is_kept_as_rejected(memory_client: asyncjobs.Client) -> None:
    def refused() -> None:
        raise errors.ProviderError("bad", provider="memory", status_code=400)

    memory_client.provider.submit_hook = refused  # type: ignore[attr-defined]
    with pytest.raises(errors.ProviderError):
        memory_client.submit("sleep", duration=0)
    assert memory_client.ledger is not None
    assert [e.state for e in memory_client.ledger.entries()] == [SubmitState.REJECTED]


def test_every_status_seen_is_recorded(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0.05)
    job.wait(timeout=5)
    assert memory_client.ledger is not None
    history = [s for _, s, _ in memory_client.ledger.history("memory", job.id)]
    assert history[0] is Status.PENDING
    assert history[-1] is Status.DONE


def test_ledger_false_keeps_no_ledger(tmp_path: Path, asyncjobs_home: Path) -> None:
    asyncjobs.register("memory", MemoryProvider, replace=True)
    with asyncjobs.connect("memory", ledger=False) as client:
        client.submit("sleep", duration=0)
        assert client.ledger is None
    assert not asyncjobs_home.exists()


def test_the_default_ledger_lives_in_asyncjobs_home(asyncjobs_home: Path) -> None:
    asyncjobs.register("memory", MemoryProvider, replace=True)
    with asyncjobs.connect("memory") as client:
        client.submit("sleep", duration=0)
    assert (asyncjobs_home / "ledger.sqlite3").exists()


def test_job_gives_a_handle_from_an_id(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0)
    again = memory_client.job(job.id)
    assert again == job
    assert again.kind == "sleep"
    assert again.result(timeout=5).files[0].read() == job.id.encode()


@pytest.mark.parametrize("job_id", ["", "  ", None, 7])
def test_a_bad_job_id_is_refused(memory_client: asyncjobs.Client, job_id: object) -> None:
    with pytest.raises(errors.InvalidParameterError, match="job_id"):
        memory_client.status(job_id)  # type: ignore[arg-type]


def test_cancel_on_a_provider_without_cancel_is_not_supported(
    memory_client: asyncjobs.Client,
) -> None:
    job = memory_client.submit("sleep", duration=1)
    with pytest.raises(errors.NotSupportedError, match="cannot cancel"):
        job.cancel()


def test_list_comes_from_the_ledger_for_providers_without_a_list(
    memory_client: asyncjobs.Client,
) -> None:
    a = memory_client.submit("sleep", duration=0)
    b = memory_client.submit("sleep", duration=60)
    a.wait(timeout=5)
    assert [j.id for j in memory_client.list()] == [a.id, b.id]
    assert [j.id for j in memory_client.list(status="done")] == [a.id]
    assert [j.id for j in memory_client.list(status=Status.PENDING, kind="sleep")] == [b.id]


def test_list_merges_the_service_list_with_the_ledger_without_duplicates(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    mine = toy_client.submit("upper", text="a")
    toy_sandbox.app.jobs["elsewhere"] = {  # type: ignore[attr-defined]
        "id": "elsewhere",
        "text": "b",
        "state": "queued",
        "duration": 0.0,
        "created": 0.0,
    }
    ids = [j.id for j in toy_client.list()]
    assert sorted(ids) == sorted([mine.id, "elsewhere"])


def test_list_refuses_an_unknown_status(memory_client: asyncjobs.Client) -> None:
    with pytest.raises(errors.InvalidParameterError, match="status"):
        memory_client.list(status="finished")


def test_jobs_lists_the_ledger_across_providers(memory_client: asyncjobs.Client) -> None:
    memory_client.submit("sleep", duration=0)
    assert memory_client.ledger is not None
    listed = asyncjobs.jobs(ledger=memory_client.ledger)
    assert [j.provider for j in listed] == ["memory"]
    assert asyncjobs.jobs(provider="other", ledger=memory_client.ledger) == []


def test_job_list_shows_as_a_table(memory_client: asyncjobs.Client) -> None:
    job = memory_client.submit("sleep", duration=0)
    listed = memory_client.list()
    text = repr(listed)
    assert text.splitlines()[0].split()[:4] == ["provider", "id", "kind", "status"]
    assert job.id in text
    assert "<table>" in listed._repr_html_()
    assert listed.to_records()[0]["id"] == job.id


@pytest.mark.parametrize(
    ("timeout", "ok"), [(5, True), (0.5, True), (0, False), (-1, False), ("3", False)]
)
def test_connect_checks_the_timeout(toy_registered: object, timeout: object, ok: bool) -> None:
    settings = {"key": "k" * 8, "base_url": "http://127.0.0.1:9", "ledger": False}
    if ok:
        asyncjobs.connect("toy", timeout=timeout, **settings).close()  # type: ignore[arg-type]
    else:
        with pytest.raises(errors.InvalidParameterError, match="timeout"):
            asyncjobs.connect("toy", timeout=timeout, **settings)  # type: ignore[arg-type]


def test_source_file_object_without_name_needs_from(tmp_path: Path) -> None:
    from asyncjobs._sources import prepare_convert

    with pytest.raises(errors.InvalidParameterError, match="from_"):
        prepare_convert({"source": io.BytesIO(b"x"), "to": "pdf"}, provider="p")
    out = prepare_convert({"source": io.BytesIO(b"x"), "to": "PDF", "from_": "docx"}, provider="p")
    assert (out["to"], out["from_"]) == ("pdf", "docx")


def test_a_job_gone_past_its_lifetime_is_said_to_have_expired(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="a", duration=0)
    job.wait(timeout=5)
    del toy_sandbox.app.jobs[job.id]  # type: ignore[attr-defined]
    assert toy_client.ledger is not None
    with toy_client.ledger._tx() as db:  # finished two hours ago; toy keeps jobs one hour
        db.execute(
            "UPDATE jobs SET created_at = created_at - 7200, updated_at = updated_at - 7200,"
            " finished_seen_at = finished_seen_at - 7200, completed_at = completed_at - 7200,"
            " expires_at = expires_at - 7200"
        )
    with pytest.raises(errors.JobNotFoundError) as caught:
        toy_client.status(job.id)
    message = str(caught.value)
    assert "has expired" in message
    assert "keeps jobs for 1 hour" in message
    assert "Submit the job again" in message


def test_a_job_unknown_within_its_lifetime_is_simply_not_found(
    toy_client: asyncjobs.Client,
) -> None:
    with pytest.raises(errors.JobNotFoundError) as caught:
        toy_client.status("t424242")
    assert "expired" not in str(caught.value).split("answered")[0]
    assert caught.value.status_code == 404


def test_connect_takes_a_poll_policy_for_its_jobs(toy_registered: object) -> None:
    policy = asyncjobs.PollPolicy(initial=0.01, cap=0.01, min_interval=0.001)
    client = asyncjobs.connect(
        "toy", key="k" * 8, base_url="http://127.0.0.1:9", ledger=False, poll=policy
    )
    assert client.poll_policy is policy


def test_connect_refuses_a_poll_that_is_not_a_policy(toy_registered: object) -> None:
    with pytest.raises(errors.InvalidParameterError, match="PollPolicy"):
        asyncjobs.connect("toy", key="k" * 8, base_url="http://x", ledger=False, poll=1)  # type: ignore[arg-type]


def test_submitted_at_is_known_even_when_the_provider_does_not_say(
    memory_client: asyncjobs.Client,
) -> None:
    job = memory_client.submit("sleep", duration=0)
    assert job.info is not None
    assert job.info.submitted_at is not None


def test_a_cancelled_job_is_remembered_by_any_provider_that_can_cancel(
    toy_client: asyncjobs.Client, toy_sandbox: Sandbox
) -> None:
    job = toy_client.submit("upper", text="a", duration=60)
    job.cancel()
    info = toy_client.status(job.id)
    assert (info.status, info.raw_status) == (asyncjobs.Status.FAILED, "cancelled")
    assert [j.id for j in toy_client.list(status="pending")] == []
    assert [j.id for j in asyncjobs.jobs(status="pending", ledger=toy_client.ledger)] == []
    assert toy_client.ledger is not None
    entry = toy_client.ledger.get("toy", job.id)
    assert entry is not None
    assert entry.state == "cancelled"
