"""The mass unsubscribe of a segment from a customer list (``DELETE /customer-lists/{id}/subscribers``):
at once when few, an async job when many, in the adapter and in the sandbox."""

from __future__ import annotations

import json

import pytest
import requests
from conversio_support import KEY

import asyncjobs
from asyncjobs.errors import InvalidParameterError, ProviderError
from asyncjobs.sandbox import Sandbox

SEGMENT = {"criteria": [{"criteriaName": "receipt.sent", "negate": True, "filters": []}]}


def test_a_large_segment_is_unsubscribed_by_an_async_job(
    conversio_client: asyncjobs.Client,
) -> None:
    job = conversio_client.submit("list-unsubscribe", list="l-big", segment=SEGMENT)
    assert job.kind == "list-unsubscribe"
    assert job.status() is asyncjobs.Status.PENDING
    result = job.result(timeout=30)
    assert json.loads(result.raw["result"]) == {"unsubscribed": 5000, "failed": 0}


def test_a_small_segment_is_unsubscribed_at_once_and_needs_no_poll(
    conversio_client: asyncjobs.Client, conversio_box: Sandbox
) -> None:
    job = conversio_client.submit("list-unsubscribe", list="l1", segment=json.dumps(SEGMENT))
    assert job.info is not None
    assert job.info.status is asyncjobs.Status.DONE
    assert job.info.meta["failed_reasons"] == []  # the service's reasons, as it answered
    polls = len(conversio_box.app.requests)
    assert job.result(timeout=5).raw == {"unsubscribed": 3, "failed": 0}
    assert job.status() is asyncjobs.Status.DONE
    assert len(conversio_box.app.requests) == polls  # answered from the id: no request


def test_the_segment_travels_as_the_json_of_an_object(conversio_box: Sandbox) -> None:
    url = f"{conversio_box.url}/api/v1/customer-lists/l-big/subscriptions"
    headers = {"X-ApiKey": KEY}
    started = requests.delete(
        url, params={"segment": json.dumps(SEGMENT)}, headers=headers, timeout=5
    )
    assert started.status_code == 202
    assert set(started.json()["data"]) == {"asyncJobId"}
    refused = requests.delete(url, params={"segment": "[1]"}, headers=headers, timeout=5)
    assert refused.status_code == 400
    assert refused.json() == {"errors": ["No segment provided"]}


@pytest.mark.parametrize("segment", [None, "", "not json", "[]", {}, 3])
def test_a_segment_that_is_not_an_object_is_refused_before_any_request(
    segment: object, conversio_client: asyncjobs.Client, conversio_box: Sandbox
) -> None:
    before = len(conversio_box.app.requests)
    with pytest.raises(InvalidParameterError, match="segment"):
        conversio_client.submit("list-unsubscribe", list="l1", segment=segment)
    assert len(conversio_box.app.requests) == before


def test_an_unknown_list_says_so(conversio_client: asyncjobs.Client) -> None:
    with pytest.raises(ProviderError, match="no customer list 'nope'"):
        conversio_client.submit("list-unsubscribe", list="nope", segment=SEGMENT)
