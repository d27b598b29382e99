"""What a new user met at the providers: a conversion a service does not offer is refused as such,
never reported as a job that was not found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_matrix import Recorder

import asyncjobs
from asyncjobs import errors
from asyncjobs.sandbox import Sandbox


def test_a_conversion_convertapi_does_not_offer_is_not_supported(
    convertapi_box: Sandbox, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "a conversion the service does not offer (to=xyz)", "providers")
    with asyncjobs.connect(
        "convertapi",
        ledger=tmp_path / "ledger.sqlite3",
        **convertapi_box.app.client_settings(convertapi_box.url),
    ) as client:
        with pytest.raises(errors.NotSupportedError) as refused:
            client.submit("convert", source=b"hello", from_="docx", to="xyz")
        message = str(refused.value)
        assert "does not convert docx to xyz" in message
        assert "4040" in message  # the service's own code
        [entry] = client.ledger.entries(provider="convertapi")  # type: ignore[union-attr]
        assert entry.state == asyncjobs.SubmitState.REJECTED
        assert entry.job_id is None or entry.info is None  # no job was ever issued
    cell.say("NotSupportedError naming docx to xyz and code 4040; the ledger says rejected")


@pytest.fixture
def groupdocs_box() -> Iterator[Sandbox]:
    from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

    app = GroupDocsSandbox(scale=1000.0)
    with Sandbox(app) as box:
        yield box
    app.close()


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"from_": "docx", "to": "xyz"}, "Conversion from 'docx' to 'xyz' is not supported"),
        ({"from_": "zzz", "to": "pdf"}, "File type 'zzz' is not supported"),
    ],
    ids=["to=xyz", "from_=zzz"],
)
def test_groupdocs_refuses_a_conversion_it_does_not_offer(
    params: dict[str, str], said: str, groupdocs_box: Sandbox, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "GroupDocs sandbox asked to=xyz or from_=zzz", "providers")
    with asyncjobs.connect(
        "groupdocs",
        ledger=tmp_path / "ledger.sqlite3",
        **groupdocs_box.app.client_settings(groupdocs_box.url),
    ) as client:
        with pytest.raises(errors.NotSupportedError, match=said):
            client.submit("convert", source=b"hello", **params)
        [entry] = client.ledger.entries(provider="groupdocs")  # type: ignore[union-attr]
        assert entry.state == asyncjobs.SubmitState.REJECTED
    assert not list((tmp_path / "out").glob("*"))  # nothing converted, nothing saved
    cell.say("refused with the service's 400 (`errorConversionNotSupported`): NotSupportedError")


def test_the_convertapi_sandbox_names_a_result_by_its_file_name_parameter(
    convertapi_box: Sandbox, tmp_path: Path, cell: Recorder
) -> None:
    cell.at("attacks", "ConvertAPI sandbox: FileName, /user, pdf/to/extract", "providers")
    with asyncjobs.connect(
        "convertapi", ledger=False, **convertapi_box.app.client_settings(convertapi_box.url)
    ) as client:
        job = client.submit(
            "convert", source=b"hello", from_="docx", to="pdf", FileName="report-final"
        )
        [path] = job.save(tmp_path, timeout=30)
        assert path.name == "report-final.pdf"
        extract = client.submit("convert", source=b"%PDF-1.4", from_="pdf", to="extract")
        [page] = extract.save(tmp_path / "pages", timeout=30)
        assert page.suffix == ".pdf"
    cell.say("`FileName` names the result, `pdf/to/extract` exists, `/user` as documented")


def test_the_convertapi_sandbox_user_answer_is_the_documented_one(convertapi_box: Sandbox) -> None:
    import requests

    app = convertapi_box.app
    answer = requests.get(
        f"{convertapi_box.url}/user",
        headers={"Authorization": f"Bearer {app.client_settings(convertapi_box.url)['secret']}"},
        timeout=5,
    ).json()
    assert {"Secret", "ApiKey", "Active", "FullName", "Email", "SecondsLeft"} <= set(answer)


def test_conversio_offers_the_mass_unsubscribe_of_a_segment(tmp_path: Path, cell: Recorder) -> None:
    from asyncjobs_conversio.sandbox import ConversioSandbox

    cell.at(
        "attacks", "Conversio: the mass unsubscribe of a segment (an async-job kind)", "providers"
    )
    segment = {"criteria": [{"criteriaName": "receipt.sent", "negate": True, "filters": []}]}
    with (
        Sandbox(ConversioSandbox(scale=1000)) as box,
        asyncjobs.connect(
            "conversio", ledger=tmp_path / "ledger.sqlite3", **box.app.client_settings(box.url)
        ) as client,
    ):
        job = client.submit("list-unsubscribe", list="l-big", segment=segment)
        assert job.wait(timeout=30, progress=False).status is asyncjobs.Status.DONE
        at_once = client.submit("list-unsubscribe", list="l1", segment=segment)
        assert at_once.info is not None
        assert at_once.info.status is asyncjobs.Status.DONE
    cell.say("`list-unsubscribe`: 202 `asyncJobId` polled to its end; 200 done at once, no poll")
