"""The sandbox's answers, checked against the vendor's mock server examples and OpenAPI document:
status codes, error bodies and codes, headers, paging, job lifecycle, multi-file output."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from asyncjobs_zamzar.sandbox import DEFAULT_KEY, ZamzarSandbox, expected_output

from asyncjobs.sandbox import Sandbox

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{DEFAULT_KEY}:".encode()).decode()}


@pytest.fixture
def box() -> Iterator[Sandbox]:
    app = ZamzarSandbox(scale=1000, duration=0.0, credits=3)
    with Sandbox(app) as served:
        yield served
    app.close()


def get(box: Sandbox, path: str, **kw: Any) -> requests.Response:
    return requests.get(box.url + "/v1" + path, headers=kw.pop("headers", AUTH), timeout=5, **kw)


def post_job(box: Sandbox, **fields: Any) -> requests.Response:
    files = fields.pop("files", None)
    return requests.post(box.url + "/v1/jobs", headers=AUTH, data=fields, files=files, timeout=5)


def test_a_bad_or_missing_key_is_401_code_20(box: Sandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"}):
        r = get(box, "/jobs", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"errors": [{"message": "API key was missing or invalid", "code": 20}]}
    assert get(box, "/account", headers={"Authorization": f"Bearer {DEFAULT_KEY}"}).ok


def test_account_and_credit_headers(box: Sandbox) -> None:
    r = get(box, "/account")
    assert set(r.json()) == {"test_credits_remaining", "credits_remaining", "plan"}
    assert r.headers["Zamzar-Credits-Remaining"] == "3"
    assert "Zamzar-Test-Credits-Remaining" in r.headers
    assert "X-RateLimit-Limit" in r.headers


def test_refusals_are_422_with_the_vendors_bodies(box: Sandbox) -> None:
    r = post_job(box, target_format="unsupported", files={"source_file": ("a.txt", b"x")})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "message": "an invalid value was specified for a parameter",
        "code": 11,
        "context": {
            "parameter": "target_format",
            "reason": "unsupported is not a supported format",
        },
    }
    r = post_job(box, target_format="pdf")
    assert r.status_code == 422
    assert r.json()["errors"][0]["context"] == {"parameter": "source_file"}
    assert r.json()["errors"][0]["code"] == 10


def test_credits_run_out_with_402(box: Sandbox) -> None:
    for _ in range(3):
        assert (
            post_job(box, target_format="pdf", files={"source_file": ("a.txt", b"x")}).status_code
            == 201
        )
    r = post_job(box, target_format="pdf", files={"source_file": ("a.txt", b"x")})
    assert r.status_code == 402
    assert r.json()["errors"]


def test_a_job_lifecycle_and_its_files(box: Sandbox) -> None:
    created = post_job(box, target_format="png", files={"source_file": ("deck.pdf", b"p1\fp2")})
    assert created.status_code == 201
    body = get(box, f"/jobs/{created.json()['id']}").json()
    assert body["status"] == "successful"
    assert body["credit_cost"] == 1
    names = [f["name"] for f in body["target_files"]]
    assert names == ["deck-0.png", "deck-1.png", "deck.zip"]
    content = get(box, f"/files/{body['target_files'][0]['id']}/content")
    assert content.content == expected_output("pdf", "png", b"p1")
    assert content.headers["Content-Disposition"] == 'attachment; filename="deck-0.png"'
    bundle = get(box, f"/files/{body['target_files'][2]['id']}/content").content
    assert sorted(zipfile.ZipFile(io.BytesIO(bundle)).namelist()) == ["deck-0.png", "deck-1.png"]


def test_unknown_things_are_404_code_21(box: Sandbox) -> None:
    for path in ("/jobs/999", "/jobs/abc", "/files/999", "/imports/5", "/formats/nope"):
        r = get(box, path)
        assert r.status_code == 404
        assert r.json() == {"errors": [{"message": "resource does not exist", "code": 21}]}


def test_paging_of_the_examples_matches_the_vendors_sdk_tests() -> None:
    app = ZamzarSandbox(scale=1000, examples=True)
    with Sandbox(app) as served:
        page = get(served, "/files", params={"after": 6, "limit": 2}).json()
        assert [f["id"] for f in page["data"]] == [5, 4]
        assert page["paging"] == {"total_count": 8, "first": 5, "last": 4, "limit": 2}
        assert [
            f["id"] for f in get(served, "/files", params={"before": 1, "limit": 2}).json()["data"]
        ] == [3, 2]
        formats = get(served, "/formats", params={"limit": 50}).json()
        assert len(formats["data"]) == 50
        assert formats["paging"]["first"] == "3g2"
        looks = [get(served, "/jobs/1").json()["status"] for _ in range(4)]
        assert looks == ["initialising", "converting", "successful", "successful"]
    app.close()


def test_cancel_a_running_job(box: Sandbox) -> None:
    app = ZamzarSandbox(scale=1, duration=60)
    with Sandbox(app) as served:
        created = post_job(
            served, target_format="pdf", files={"source_file": ("a.txt", b"x")}
        ).json()
        r = requests.delete(f"{served.url}/v1/jobs/{created['id']}", headers=AUTH, timeout=5)
        assert r.json()["status"] == "cancelled"
        assert get(served, f"/jobs/{created['id']}").json()["status"] == "cancelled"
    app.close()
