"""The sandbox over real HTTP: what it answers, and what it refuses as the service does."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from asyncjobs_cloudconvert.sandbox import CloudConvertSandbox, expected_output

from asyncjobs.sandbox import Sandbox


@pytest.fixture
def api(sandbox: Sandbox) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sandbox.app.secret}"
    return s


def graph(src: str = "docx", name: str = "a.docx") -> dict[str, Any]:
    return {
        "tasks": {
            "in": {"operation": "import/url", "url": f"https://files.example/{name}"},
            "conv": {
                "operation": "convert",
                "input": "in",
                "input_format": src,
                "output_format": "pdf",
            },
            "out": {"operation": "export/url", "input": ["conv"]},
        },
        "tag": "t1",
    }


def finished(api: requests.Session, url: str, job_id: str) -> dict[str, Any]:
    for _ in range(500):
        data: dict[str, Any] = api.get(f"{url}/v2/jobs/{job_id}").json()["data"]
        if data["status"] in ("finished", "error"):
            return data
        time.sleep(0.005)
    raise AssertionError("the job did not end")


def test_a_job_runs_its_graph_and_exports_the_converted_file(
    sandbox: Sandbox, api: requests.Session
) -> None:
    made = api.post(f"{sandbox.url}/v2/jobs", json=graph())
    assert made.status_code == 201
    job = finished(api, sandbox.url, made.json()["data"]["id"])
    assert job["status"] == "finished"
    assert job["tag"] == "t1"
    export = next(t for t in job["tasks"] if t["name"] == "out")
    (file,) = export["result"]["files"]
    assert file["filename"] == "a.pdf"
    body = requests.get(file["url"]).content  # no key: a signed storage URL
    assert body == expected_output("docx", "pdf", b"https://files.example/a.docx")
    assert file["size"] == len(body)
    assert sum(t["credits"] or 0 for t in job["tasks"]) == 1


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("Bearer wrong", 401), ("Basic x", 401)])
def test_the_api_refuses_a_missing_or_wrong_key(
    sandbox: Sandbox, key: str | None, status: int
) -> None:
    headers = {"Authorization": key} if key else {}
    answer = requests.get(f"{sandbox.url}/v2/jobs", headers=headers)
    assert answer.status_code == status
    assert answer.json()["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tasks"),
        (
            {"tasks": {"bad name!": {"operation": "import/url", "url": "https://x/a"}}},
            "tasks.bad name!",
        ),
        ({"tasks": {"a": {"operation": "import/s3"}}}, "tasks.a.operation"),
        ({"tasks": {"a": {"operation": "import/url", "url": "ftp://x/a"}}}, "tasks.a.url"),
        (
            {"tasks": {"c": {"operation": "convert", "input": "nope", "output_format": "pdf"}}},
            "tasks.c.input",
        ),
        (graph("docx") | {"webhook_url": "javascript:alert(1)"}, "webhook_url"),
    ],
)
def test_invalid_jobs_are_refused_with_422_naming_the_field(
    sandbox: Sandbox, api: requests.Session, body: dict[str, Any], field: str
) -> None:
    answer = api.post(f"{sandbox.url}/v2/jobs", json=body)
    assert answer.status_code == 422
    err = answer.json()
    assert err["code"] == "INVALID_DATA"
    assert field in err["errors"]


def test_an_unsupported_conversion_is_refused_at_creation(
    sandbox: Sandbox, api: requests.Session
) -> None:
    answer = api.post(f"{sandbox.url}/v2/jobs", json=graph("xyz"))
    assert answer.status_code == 422
    assert answer.json()["errors"]["tasks.conv.output_format"] == [
        "Converting xyz to pdf is not supported."
    ]


def test_credits_used_up_answers_402(api: requests.Session) -> None:
    app = CloudConvertSandbox(scale=1000, credits=0)
    with Sandbox(app) as box:
        api.headers["Authorization"] = f"Bearer {app.secret}"
        answer = api.post(f"{box.url}/v2/jobs", json=graph())
    app.close()
    assert answer.status_code == 402
    assert answer.json()["code"] == "CREDITS_EXCEEDED"


def test_a_damaged_file_fails_the_job_and_its_dependents(
    sandbox: Sandbox, api: requests.Session
) -> None:
    made = api.post(f"{sandbox.url}/v2/jobs", json=graph(name="corrupt.docx")).json()["data"]
    job = finished(api, sandbox.url, made["id"])
    codes = {t["name"]: t["code"] for t in job["tasks"]}
    assert job["status"] == "error"
    assert codes == {"in": None, "conv": "CONVERSION_FAILED", "out": "INPUT_TASK_FAILED"}


def test_the_upload_form_takes_its_own_parameters_only(
    sandbox: Sandbox, api: requests.Session
) -> None:
    body = {
        "tasks": {
            "up": {"operation": "import/upload"},
            "out": {"operation": "export/url", "input": "up"},
        }
    }
    job = api.post(f"{sandbox.url}/v2/jobs", json=body).json()["data"]
    up = next(t for t in job["tasks"] if t["name"] == "up")
    assert job["status"] == "waiting"
    assert up["status"] == "waiting"
    form = up["result"]["form"]
    forged = {**form["parameters"], "signature": "0" * 40}
    assert (
        requests.post(form["url"], data=forged, files={"file": ("a.pdf", b"x")}).status_code == 403
    )
    assert requests.post(form["url"], data=form["parameters"]).status_code == 400
    ok = requests.post(
        form["url"], data=form["parameters"], files={"file": ("<script>x.pdf", b"pdf!")}
    )
    assert ok.status_code == 201
    again = requests.post(form["url"], data=form["parameters"], files={"file": ("a.pdf", b"x")})
    assert again.status_code == 409
    done = finished(api, sandbox.url, job["id"])
    (file,) = next(t for t in done["tasks"] if t["name"] == "out")["result"]["files"]
    assert file["filename"] == "<script>x.pdf"
    assert requests.get(file["url"]).content == b"pdf!"


def test_listing_filters_and_pages(sandbox: Sandbox, api: requests.Session) -> None:
    ids = [api.post(f"{sandbox.url}/v2/jobs", json=graph()).json()["data"]["id"] for _ in range(3)]
    api.post(f"{sandbox.url}/v2/jobs", json=graph() | {"tag": "other"})
    first = api.get(f"{sandbox.url}/v2/jobs", params={"filter[tag]": "t1", "per_page": 2}).json()
    assert [j["id"] for j in first["data"]] == ids[::-1][:2]
    assert first["meta"]["per_page"] == 2
    assert first["links"]["prev"] is None
    second = api.get(first["links"]["next"]).json()
    assert [j["id"] for j in second["data"]] == [ids[0]]
    assert second["links"]["next"] is None
    assert "tasks" not in first["data"][0]
    assert api.get(f"{sandbox.url}/v2/jobs", params={"per_page": 1000}).status_code == 422


def test_cancel_ends_a_waiting_task_and_refuses_an_ended_one(
    sandbox: Sandbox, api: requests.Session
) -> None:
    body = {
        "tasks": {
            "up": {"operation": "import/upload"},
            "out": {"operation": "export/url", "input": "up"},
        }
    }
    job = api.post(f"{sandbox.url}/v2/jobs", json=body).json()["data"]
    up = next(t for t in job["tasks"] if t["name"] == "up")
    answer = api.post(f"{sandbox.url}/v2/tasks/{up['id']}/cancel")
    assert answer.status_code == 200
    assert answer.json()["data"]["status"] == "error"
    refused = api.post(f"{sandbox.url}/v2/tasks/{up['id']}/cancel")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"status": ["Cannot change status: task already completed."]}
    assert finished(api, sandbox.url, job["id"])["status"] == "error"


def test_delete_removes_the_job(sandbox: Sandbox, api: requests.Session) -> None:
    job_id = api.post(f"{sandbox.url}/v2/jobs", json=graph()).json()["data"]["id"]
    assert api.delete(f"{sandbox.url}/v2/jobs/{job_id}").status_code == 204
    assert api.get(f"{sandbox.url}/v2/jobs/{job_id}").status_code == 404
    assert api.delete(f"{sandbox.url}/v2/jobs/{job_id}").status_code == 404


def test_formats_are_served_from_the_shipped_list(sandbox: Sandbox, api: requests.Session) -> None:
    everything = api.get(f"{sandbox.url}/v2/convert/formats").json()["data"]
    assert {"operation": "convert", "input_format": "docx", "output_format": "pdf"} in everything
    only = api.get(
        f"{sandbox.url}/v2/convert/formats", params={"filter[input_format]": "mp4"}
    ).json()
    assert [f["output_format"] for f in only["data"]] == ["mp4"]


def test_the_sync_api_holds_until_the_job_ends(sandbox: Sandbox, api: requests.Session) -> None:
    job_id = api.post(f"{sandbox.url}/v2/jobs", json=graph()).json()["data"]["id"]
    assert api.get(f"{sandbox.url}/sync/v2/jobs/{job_id}").json()["data"]["status"] == "finished"


def test_faults_answer_the_vendors_429(sandbox: Sandbox, api: requests.Session) -> None:
    sandbox.app.faults.status(
        429, path="/v2/jobs", headers={"Retry-After": "3"}, body={"message": "Too Many Attempts."}
    )
    answer = api.get(f"{sandbox.url}/v2/jobs")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
