"""The provider base class: its defaults, and the shared helpers every adapter uses."""

from __future__ import annotations

import attrs
import cattrs
import pytest
import responses
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import errors

BASE = "https://toy.example.test"


@attrs.frozen
class Body:
    id: str
    state: str


@pytest.fixture
def toy(toy_registered: type[ToyProvider]) -> asyncjobs.Client:
    return asyncjobs.connect("toy", key="key-for-tests", base_url=BASE, ledger=False)


@responses.activate
def test_decode_reads_a_body_into_the_wire_model(toy: asyncjobs.Client) -> None:
    responses.get(f"{BASE}/jobs/t1", json={"id": "t1", "state": "ok", "extra": 1})
    response = toy.provider.request("GET", "/jobs/t1")
    assert toy.provider.decode(response, Body, cattrs.Converter()) == Body("t1", "ok")


@pytest.mark.parametrize(
    "answer", [{"body": "{not json"}, {"json": ["a", "list"]}, {"json": {"id": "t1"}}]
)
@responses.activate
def test_decode_turns_a_malformed_body_into_a_transport_error(
    toy: asyncjobs.Client, answer: dict[str, object]
) -> None:
    responses.get(f"{BASE}/jobs/t1", **answer)  # type: ignore[arg-type]
    response = toy.provider.request("GET", "/jobs/t1", job_id="t1")
    with pytest.raises(errors.TransportError) as caught:
        toy.provider.decode(response, Body, cattrs.Converter(), job_id="t1")
    assert "'t1' at toy" in str(caught.value)
    assert "base_url" in str(caught.value)


@responses.activate
def test_relative_urls_are_joined_to_the_base_url(toy: asyncjobs.Client) -> None:
    responses.get(f"{BASE}/jobs", json={"jobs": []})
    toy.provider.request("GET", "jobs")
    toy.provider.request("GET", "/jobs")
    assert [c.request.url for c in responses.calls] == [f"{BASE}/jobs"] * 2


@responses.activate
def test_error_advice_can_be_the_providers_own(toy: asyncjobs.Client) -> None:
    responses.get(f"{BASE}/x", status=404, json={"message": "Not here."})
    response = toy.provider.request("GET", "/x", accept=(404,))
    error = toy.provider.transport.error_for(response, advice="Ask Toy support.")
    assert str(error).endswith(": Not here. Ask Toy support.")


def test_the_default_cancel_says_not_supported_naming_the_job() -> None:
    class Plain(asyncjobs.Provider):
        name = "plain"

    with pytest.raises(errors.NotSupportedError, match="'j1'"):
        Plain.cancel(Plain.__new__(Plain), "j1")


@pytest.mark.parametrize(
    ("status", "error"),
    [("failed", errors.JobFailedError), ("pending", errors.ProviderError), ("done", None)],
)
def test_require_done_lets_only_a_done_job_through(
    toy: asyncjobs.Client, status: str, error: type[Exception] | None
) -> None:
    info = asyncjobs.JobInfo("toy", "t1", "upper", status, raw_status="x", error="why")
    if error is None:
        toy.provider.require_done(info)
    else:
        with pytest.raises(error, match="'t1'"):
            toy.provider.require_done(info)
