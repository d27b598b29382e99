"""The Conversio sandbox speaks the protocol of the seed, checked with plain ``requests``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from asyncjobs_conversio.sandbox import ConversioSandbox, csv_for

from asyncjobs.sandbox import Sandbox

KEY, OTHER = "sandbox-key-one", "sandbox-key-two"
WEEK = 7 * 24 * 3600


@pytest.fixture
def app() -> ConversioSandbox:
    """Sandbox time stands still unless a test advances it (scale 1, jobs of a minute)."""
    return ConversioSandbox(keys={KEY: "shop-1", OTHER: "shop-2"}, start_after=2, duration=60)


@pytest.fixture
def api(app: ConversioSandbox) -> Iterator[Any]:
    """``api(method, path, key=KEY, accept=JSON)`` -> response, against the served sandbox."""
    with Sandbox(app) as box, requests.Session() as session:

        def call(
            method: str, path: str, key: str = KEY, accept: str | None = "application/json"
        ) -> requests.Response:
            headers = {"X-ApiKey": key, **({"Accept": accept} if accept else {})}
            url = path if path.startswith("http") else f"{box.url}/api/v1{path}"
            return session.request(method, url, headers=headers, timeout=5)

        call.url = box.url  # type: ignore[attr-defined]
        yield call


def create(api: Any, path: str = "/newsletters/n1/recipients/async-export", key: str = KEY) -> str:
    response = api("POST", path, key=key)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/newsletters/n1/recipients/async-export", "newsletter-recipients"),
        ("/newsletters/n1/emails/async-export", "newsletter-emails"),
        ("/segments/s1/async-export", "segments-export"),
    ],
)
def test_export_endpoints_answer_201_with_a_pending_job(api: Any, path: str, kind: str) -> None:
    response = api("POST", path)
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["kind"], data["status"], len(data["id"])) == (kind, "pending", 24)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/newsletters/n9/recipients/async-export", "Newsletter n9 not found"),
        ("/newsletters/n9/emails/async-export", "Newsletter n9 not found"),
        ("/segments/s9/async-export", "Segment s9 not found"),
    ],
)
def test_unknown_newsletters_and_segments_answer_404(api: Any, path: str, message: str) -> None:
    response = api("POST", path)
    assert (response.status_code, response.json()) == (404, {"errors": [message]})


def test_configured_newsletters_exist() -> None:
    app = ConversioSandbox(keys={KEY: "shop"}, newsletters=["news-7"])
    with Sandbox(app) as box:
        response = requests.post(
            f"{box.url}/api/v1/newsletters/news-7/emails/async-export",
            headers={"X-ApiKey": KEY, "Accept": "application/json"},
            timeout=5,
        )
    assert response.status_code == 201


def test_a_job_is_pending_then_started_then_done(api: Any, app: ConversioSandbox) -> None:
    job_id = create(api)
    first = api("GET", f"/async-jobs/{job_id}").json()["data"]
    assert (first["status"], first["startedAt"], first["completedAt"]) == ("pending", None, None)
    app.clock.advance(3)
    running = api("GET", f"/async-jobs/{job_id}").json()["data"]
    assert running["status"] == "pending"
    assert running["startedAt"].endswith("Z")
    app.clock.advance(60)
    done = api("GET", f"/async-jobs/{job_id}").json()["data"]
    assert done["status"] == "done"
    assert done["completedAt"] > done["startedAt"]
    assert done["result"] == f"{api.url}/async-jobs/{job_id}.csv"
    assert "error" not in done


def test_a_fail_id_ends_failed_with_an_error(api: Any, app: ConversioSandbox) -> None:
    job_id = create(api, "/segments/s-fail/async-export")
    app.clock.advance(100)
    data = api("GET", f"/async-jobs/{job_id}").json()["data"]
    assert data["status"] == "failed"
    assert data["error"]
    assert "result" not in data


@pytest.mark.parametrize(
    ("path", "kind", "source"),
    [
        ("/newsletters/n1/recipients/async-export", "newsletter-recipients", "n1"),
        ("/newsletters/n1/emails/async-export", "newsletter-emails", "n1"),
        ("/segments/s1/async-export", "segments-export", "s1"),
    ],
)
def test_a_done_export_serves_its_csv_outside_the_api(
    api: Any, app: ConversioSandbox, path: str, kind: str, source: str
) -> None:
    job_id = create(api, path)
    app.clock.advance(100)
    response = api("GET", f"{api.url}/async-jobs/{job_id}.csv", accept=None)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.content == csv_for(kind, source)


def test_recipients_csv_is_exactly_one_address_per_line() -> None:
    assert csv_for("newsletter-recipients", "n1") == (
        b"email\nann+n1@example.com\nbob+n1@example.com\n"
    )


def test_csv_of_a_pending_job_is_404(api: Any) -> None:
    job_id = create(api)
    assert api("GET", f"{api.url}/async-jobs/{job_id}.csv").status_code == 404


def test_a_job_is_removed_a_week_after_it_finishes(api: Any, app: ConversioSandbox) -> None:
    job_id = create(api)
    app.clock.advance(62 + WEEK - 10)
    assert api("GET", f"/async-jobs/{job_id}").status_code == 200
    app.clock.advance(20)
    assert api("GET", f"/async-jobs/{job_id}").json() == {"errors": ["Async Job not found"]}
    assert api("GET", "/async-jobs").json() == {"data": []}
    assert api("GET", f"{api.url}/async-jobs/{job_id}.csv").status_code == 404


def test_list_shows_only_the_keys_own_jobs(api: Any) -> None:
    mine = create(api)
    theirs = create(api, key=OTHER)
    assert [j["id"] for j in api("GET", "/async-jobs").json()["data"]] == [mine]
    assert [j["id"] for j in api("GET", "/async-jobs", key=OTHER).json()["data"]] == [theirs]


def test_another_shops_job_is_404(api: Any, app: ConversioSandbox) -> None:
    job_id = create(api)
    app.clock.advance(100)
    assert api("GET", f"/async-jobs/{job_id}", key=OTHER).status_code == 404
    assert api("GET", f"{api.url}/async-jobs/{job_id}.csv", key=OTHER).status_code == 404


@pytest.mark.parametrize("accept", ["text/html", "text/csv, text/html", "application/json;q=0"])
def test_api_requests_whose_accept_excludes_json_answer_406(api: Any, accept: str) -> None:
    response = api("GET", "/async-jobs", accept=accept)
    assert response.status_code == 406
    assert response.json()["errors"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/*", "text/html, application/json"])
def test_api_requests_that_accept_json_or_anything_are_answered(
    api: Any, accept: str | None
) -> None:
    assert api("GET", "/async-jobs", accept=accept).status_code == 200


def test_a_wrong_key_answers_401(api: Any) -> None:
    response = api("GET", "/async-jobs", key="wrong")
    assert (response.status_code, response.json()) == (401, {"errors": ["Invalid API key"]})


def test_rate_limit_answers_429_for_the_next_requests(api: Any, app: ConversioSandbox) -> None:
    app.rate_limit(2)
    codes = [api("GET", "/async-jobs").status_code for _ in range(3)]
    assert codes == [429, 429, 200]


def test_unknown_routes_answer_in_conversios_error_shape(api: Any) -> None:
    response = api("DELETE", "/async-jobs/x")
    assert response.status_code == 405
    assert response.json()["errors"]


def test_inherited_faults_apply(api: Any, app: ConversioSandbox) -> None:
    app.faults.status(503, body={"errors": ["Service unavailable"]})
    assert api("GET", "/async-jobs").status_code == 503
    assert api("GET", "/async-jobs").status_code == 200


def test_client_settings_point_at_the_api_with_the_first_key(app: ConversioSandbox) -> None:
    assert app.client_settings("http://127.0.0.1:1") == {
        "api_key": KEY,
        "base_url": "http://127.0.0.1:1/api/v1",
    }
