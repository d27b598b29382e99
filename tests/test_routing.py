"""Several providers behind one client (``asyncjobs.connect([...])``): where a submit goes, when it
falls back, and what the ledger keeps of each attempt. End to end on the ConvertAPI and GroupDocs
sandboxes over 127.0.0.1; a provider is made to fail at submit by the sandbox's fault switches."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aio_support import AIO_POLL, AIO_RETRY

import asyncjobs
from asyncjobs import aio, errors
from asyncjobs._registry import get_provider_class
from asyncjobs._routing import falls_back, provider_names

DOCX = b"a document"
NO_RETRY = asyncjobs.RetryPolicy(max_tries=1)


@pytest.fixture(autouse=True)
def _faults_off(no_faults: None) -> None:
    """Every test here leaves the sandboxes' fault switches off."""


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[asyncjobs.Ledger]:
    with asyncjobs.Ledger(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _client(box: Any, ledger: asyncjobs.Ledger, **options: Any) -> asyncjobs.Client:
    return asyncjobs.connect(
        box.name, ledger=ledger, poll=AIO_POLL, retry=NO_RETRY, **box.settings, **options
    )


@pytest.fixture
def router(boxes: dict[str, Any], ledger: asyncjobs.Ledger) -> Iterator[asyncjobs.Router]:
    first, second = _client(boxes["convertapi"], ledger), _client(boxes["groupdocs"], ledger)
    with first, second, asyncjobs.connect([first, second]) as routed:
        yield routed


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "report.docx"
    path.write_bytes(DOCX)
    return path


def _requests_to(box: Any) -> int:
    return int(box.box.app.faults.seen)


# -- the fallback table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.NotSupportedError("no such conversion"), True),
        (errors.AuthenticationError("bad key", status_code=401), True),
        (errors.AuthenticationError("forbidden", status_code=403), True),
        (errors.ProviderError("out of credits", status_code=402), True),
        (errors.RateLimitedError("slow down", status_code=429), True),
        (errors.TransportError("refused", never_sent=True), True),
        (errors.InvalidParameterError("bad", parameter="to"), False),
        (errors.ProviderError("bad option", status_code=400), False),
        (errors.ProviderError("unprocessable", status_code=422), False),
        (errors.ProviderError("internal", status_code=500), False),
        (errors.TransportError("read timed out after sending"), False),
        (errors.LedgerError("disk full"), False),
    ],
)
def test_a_submit_falls_back_only_when_no_job_can_exist(
    error: errors.AsyncJobsError, expected: bool
) -> None:
    assert falls_back(error) is expected


# -- where a submit goes --------------------------------------------------------------------------


def test_a_routed_submit_goes_to_the_first_provider(router: asyncjobs.Router, source: Path) -> None:
    job = router.submit("convert", source=source, to="pdf")

    assert job.provider == "convertapi"
    assert job.wait(timeout=10).status is asyncjobs.Status.DONE


def test_refused_credentials_fall_back_to_the_next_provider(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path, ledger: asyncjobs.Ledger
) -> None:
    boxes["convertapi"].box.app.faults.status(
        401, path="/convert/", body={"Code": 4013, "Message": "Invalid user credentials."}
    )

    job = router.submit("convert", source=source, to="pdf")

    assert job.provider == "groupdocs"
    assert job.result(timeout=10).files
    refused = [e for e in ledger.entries() if e.provider == "convertapi"]
    assert [e.state for e in refused] == [asyncjobs.SubmitState.REJECTED]
    taken = ledger.get("groupdocs", job.id)
    assert taken is not None
    assert [a["provider"] for a in taken.attempts] == ["convertapi"]
    assert "Invalid user credentials" in taken.attempts[0]["error"]


def test_a_provider_that_failed_curably_cools_down_in_that_client(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path
) -> None:
    boxes["convertapi"].box.app.faults.status(429, path="/convert/", times=5)
    router.submit("convert", source=source, to="pdf")
    before = _requests_to(boxes["convertapi"])

    again = router.submit("convert", source=source, to="pdf")

    assert again.provider == "groupdocs"
    assert _requests_to(boxes["convertapi"]) == before
    assert set(router.cooling()) == {"convertapi"}


def test_a_bad_parameter_is_not_sent_to_the_next_provider(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path
) -> None:
    boxes["convertapi"].box.app.faults.status(
        400, path="/convert/", body={"Code": 4000, "Message": "Parameter validation error."}
    )
    before = _requests_to(boxes["groupdocs"])

    with pytest.raises(errors.ProviderError) as caught:
        router.submit("convert", source=source, to="pdf")

    assert caught.value.provider == "convertapi"
    assert caught.value.status_code == 400
    assert _requests_to(boxes["groupdocs"]) == before


def test_a_mistake_found_before_any_request_is_raised_at_once(
    router: asyncjobs.Router, boxes: dict[str, Any], tmp_path: Path
) -> None:
    before = {n: _requests_to(b) for n, b in boxes.items()}

    with pytest.raises(errors.InvalidParameterError) as caught:
        router.submit("convert", source=tmp_path / "missing.docx", to="pdf")

    assert caught.value.parameter == "source"
    assert {n: _requests_to(b) for n, b in boxes.items()} == before


def test_a_5xx_after_the_request_was_sent_is_not_sent_elsewhere(
    boxes: dict[str, Any], ledger: asyncjobs.Ledger, source: Path
) -> None:
    boxes["groupdocs"].box.app.faults.status(500, path="/conversion/async", times=3)
    first, second = _client(boxes["groupdocs"], ledger), _client(boxes["convertapi"], ledger)
    before = _requests_to(boxes["convertapi"])
    with first, second, asyncjobs.connect([first, second]) as routed:
        with pytest.raises(errors.ProviderError) as caught:
            routed.submit("convert", source=source, to="pdf")

    assert caught.value.provider == "groupdocs"
    assert _requests_to(boxes["convertapi"]) == before


def test_a_5xx_falls_back_where_the_client_chosen_id_proves_no_job_exists(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path
) -> None:
    boxes["convertapi"].box.app.faults.status(500, path="/convert/")

    job = router.submit("convert", source=source, to="pdf")

    assert job.provider == "groupdocs"


def test_an_unreachable_provider_falls_back(
    boxes: dict[str, Any], ledger: asyncjobs.Ledger, source: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings = {**boxes["convertapi"].settings, "base_url": closed}
    down = asyncjobs.connect("convertapi", ledger=ledger, retry=NO_RETRY, **settings)
    up = _client(boxes["groupdocs"], ledger)
    with down, up, asyncjobs.connect([down, up]) as routed:
        job = routed.submit("convert", source=source, to="pdf")

    assert job.provider == "groupdocs"


def test_when_every_provider_refuses_the_error_names_each(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path
) -> None:
    boxes["convertapi"].box.app.faults.status(401, path="/convert/")
    boxes["groupdocs"].box.app.faults.status(401, path="/connect/token", times=10)

    with pytest.raises(errors.RoutingError) as caught:
        router.submit("convert", source=source, to="pdf")

    assert [name for name, _ in caught.value.attempts] == ["convertapi", "groupdocs"]
    assert "convertapi:" in str(caught.value)
    assert "groupdocs:" in str(caught.value)


def test_a_conversion_no_member_offers_is_not_supported(
    router: asyncjobs.Router, tmp_path: Path
) -> None:
    odd = tmp_path / "drawing.xyz"
    odd.write_bytes(b"?")

    with pytest.raises(errors.NotSupportedError) as caught:
        router.submit("convert", source=odd, to="pdf")

    assert "convertapi" in str(caught.value)
    assert "groupdocs" in str(caught.value)


# -- the other verbs go to the job's provider -----------------------------------------------------


def test_the_ledger_says_whose_job_an_id_is(router: asyncjobs.Router, source: Path) -> None:
    job = router.submit("convert", source=source, to="pdf")

    assert router.status(job.id).provider == "convertapi"
    assert router.job(job.id).provider == "convertapi"
    assert router.result(job.id, timeout=10).files


def test_an_id_the_ledger_does_not_know_needs_its_provider(router: asyncjobs.Router) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        router.status("no-such-job")

    assert caught.value.parameter == "provider"
    with pytest.raises(errors.JobNotFoundError):
        router.status("no-such-job", provider="groupdocs")


def test_a_routed_list_holds_every_members_jobs(router: asyncjobs.Router, source: Path) -> None:
    router.submit("convert", source=source, to="pdf").wait(timeout=10)

    assert {j.provider for j in router.list()} >= {"convertapi"}


# -- connecting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "options", "parameter"),
    [
        ([], {}, "provider"),
        (["convertapi", "convertapi"], {}, "provider"),
        (["convertapi", 3], {}, "provider"),
        (["convertapi", "groupdocs"], {"secret": "s"}, "secret"),
    ],
)
def test_a_wrong_list_is_refused_before_anything_connects(
    provider: Any, options: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        asyncjobs.connect(provider, ledger=False, **options)

    assert caught.value.parameter == parameter


def test_names_in_the_list_read_their_settings_from_the_environment(
    boxes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: Path
) -> None:
    for r in boxes.values():
        for setting in get_provider_class(r.name).settings:
            if setting.name in r.settings and setting.env:
                monkeypatch.setenv(setting.env, r.settings[setting.name])
    monkeypatch.setenv("ASYNCJOBS_PROVIDERS", " groupdocs, convertapi,,groupdocs ")

    with asyncjobs.connect(ledger=tmp_path / "l.sqlite3", poll=AIO_POLL) as routed:
        assert routed.providers == ("groupdocs", "convertapi")
        job = routed.submit("convert", source=source, to="pdf")

    assert job.provider == "groupdocs"


def test_a_comma_list_keeps_its_order_without_repeats() -> None:
    assert provider_names(" zamzar,convertapi, zamzar ,") == ["zamzar", "convertapi"]
    with pytest.raises(errors.InvalidParameterError):
        provider_names(" , ", parameter="--provider")


def test_aio_routes_and_falls_back_alike(
    boxes: dict[str, Any], source: Path, tmp_path: Path
) -> None:
    boxes["convertapi"].box.app.faults.status(402, path="/convert/")

    async def main() -> tuple[str, int]:
        ledger = tmp_path / "aio.sqlite3"
        first = _client(boxes["convertapi"], asyncjobs.Ledger(ledger))
        second = _client(boxes["groupdocs"], asyncjobs.Ledger(ledger))
        async with aio.connect([first, second]) as client:
            job = await client.submit("convert", source=source, to="pdf")
            result = await job.result(timeout=10)
        first.close()
        second.close()
        return job.provider, len(result.files)

    provider, files = asyncio.run(main())

    assert (provider, files) == ("groupdocs", 1)
    assert AIO_RETRY  # the shared test policies are importable here


# -- resubmit -------------------------------------------------------------------------------------


def test_a_failed_job_is_resubmitted_at_another_provider_from_its_kept_path(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path, ledger: asyncjobs.Ledger
) -> None:
    failed = router.submit("convert", source=source, to="pdf")
    boxes["convertapi"].box.app.faults.status(
        500, path="/job/", times=50, body={"Code": 5001, "Message": "Conversion failed."}
    )
    assert failed.wait(timeout=10).status is asyncjobs.Status.FAILED

    again = failed.resubmit(provider="groupdocs")

    assert again.provider == "groupdocs"
    assert again.wait(timeout=10).status is asyncjobs.Status.DONE
    entry = ledger.get("groupdocs", again.id)
    assert entry is not None
    assert entry.source == str(source.resolve())
    assert dict(entry.attempts[0]) == {
        "provider": "convertapi",
        "job_id": failed.id,
        "resubmitted": True,
    }


def test_a_job_given_as_a_file_object_cannot_be_resubmitted(router: asyncjobs.Router) -> None:
    content = io.BytesIO(DOCX)
    content.name = "corrupt-upload.docx"  # failed by the ConvertAPI sandbox
    failed = router.submit("convert", source=content, to="pdf")
    failed.wait(timeout=10)

    with pytest.raises(errors.NotSupportedError, match="bytes or a file object"):
        failed.resubmit()


def test_a_done_job_is_not_resubmitted(router: asyncjobs.Router, source: Path) -> None:
    done = router.submit("convert", source=source, to="pdf")
    done.wait(timeout=10)

    with pytest.raises(errors.InvalidParameterError, match="is done"):
        done.resubmit()


def test_a_pending_job_is_not_resubmitted(
    boxes: dict[str, Any], ledger: asyncjobs.Ledger, source: Path
) -> None:
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox

    from asyncjobs.sandbox import Sandbox

    app = ConvertAPISandbox(scale=1, duration=3600)  # stays pending
    with (
        Sandbox(app) as box,
        asyncjobs.connect(
            "convertapi", ledger=ledger, retry=NO_RETRY, **app.client_settings(box.url)
        ) as client,
    ):
        pending = client.submit("convert", source=source, to="pdf")

        with pytest.raises(errors.InvalidParameterError, match="still pending"):
            pending.resubmit()
    app.close()


def test_a_job_its_provider_no_longer_knows_is_lost_and_resubmitted(
    router: asyncjobs.Router, boxes: dict[str, Any], source: Path
) -> None:
    job = router.submit("convert", source=source, to="pdf")
    boxes["convertapi"].box.app.faults.status(
        404, path="/job/", body={"Code": 5004, "Message": "Job not found."}
    )

    again = job.resubmit()

    assert again.provider == "convertapi"
    assert again.id != job.id


FAULTS = {
    "401": (401, {"Code": 4013, "Message": "Invalid user credentials."}),
    "402": (402, {"Code": 4020, "Message": "Not enough conversions left."}),
    "429": (429, {"Code": 4290, "Message": "Too many requests."}),
    "400": (400, {"Code": 4000, "Message": "Parameter validation error."}),
    "500": (500, {"Code": 5000, "Message": "Internal error."}),
}


def _outcome(call: Any) -> str:
    try:
        job = call()
    except errors.AsyncJobsError as exc:
        return type(exc).__name__
    return str(job.provider)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_sync_and_aio_routed_submits_decide_alike(
    boxes: dict[str, Any], ledger: asyncjobs.Ledger, source: Path, fault: str
) -> None:
    status, body = FAULTS[fault]
    convertapi = boxes["convertapi"].box.app
    first, second = _client(boxes["convertapi"], ledger), _client(boxes["groupdocs"], ledger)
    outcomes = []
    with first, second:
        convertapi.faults.status(status, path="/convert/", body=body)
        with asyncjobs.connect([first, second]) as routed:
            outcomes.append(_outcome(lambda: routed.submit("convert", source=source, to="pdf")))

        async def aio_submit() -> str:
            async with aio.connect([first, second]) as routed:
                try:
                    job = await routed.submit("convert", source=source, to="pdf")
                except errors.AsyncJobsError as exc:
                    return type(exc).__name__
                return job.provider

        convertapi.faults.status(status, path="/convert/", body=body)
        outcomes.append(asyncio.run(aio_submit()))

    expected = {"400": "ProviderError"}.get(fault, "groupdocs")
    assert outcomes == [expected, expected]


def test_closing_a_router_of_clients_leaves_their_ledger_open(
    boxes: dict[str, Any], ledger: asyncjobs.Ledger
) -> None:
    first, second = _client(boxes["convertapi"], ledger), _client(boxes["groupdocs"], ledger)
    with first, second:
        asyncjobs.connect([first, second]).close()

        assert not ledger.closed
