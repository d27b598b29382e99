"""The exact HTTP of the Conversio adapter, pinned with ``responses``: every request and answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responses import matchers

import asyncjobs
from asyncjobs import Status
from asyncjobs.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidParameterError,
    JobFailedError,
    JobNotFoundError,
    NotSupportedError,
    ProviderError,
    RateLimitedError,
    TransportError,
)

API = "https://commerce.campaignmonitor.com/api/v1"
OLD_API = "https://app.conversio.com/api/v1"
KEY = "adapter-test-key-42"
HEADERS = {"X-ApiKey": KEY, "Accept": "application/json"}
JOB_ID = "57b5aa3b046abfb053d80b52"
CSV_URL = f"https://commerce.campaignmonitor.com/async-jobs/{JOB_ID}.csv"
OLD_CSV_URL = f"https://app.conversio.com/async-jobs/{JOB_ID}.csv"
# the seed's examples, verbatim
DONE = {
    "id": JOB_ID,
    "kind": "newsletter-recipients",
    "status": "done",
    "startedAt": "2017-01-03T16:32:27.741Z",
    "completedAt": "2017-01-03T16:37:20.417Z",
    "result": CSV_URL,
}
PENDING = {"id": "57b5aa3b046abfb053d80b54", "kind": "newsletter-recipients", "status": "pending"}
FAILED = {
    "id": "57b5aa3b046abfb053d80b57",
    "kind": "newsletter-recipients",
    "status": "failed",
    "startedAt": "2017-01-02T05:33:22.123Z",
    "completedAt": "2017-01-02T05:33:45.412Z",
    "error": "Something terrible has happened. Get in touch with support tout de suite!",
}
QUICK = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.001, max_time=5)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Every request must be registered, and every registered answer used."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client(tmp_path: Path) -> Iterator[asyncjobs.Client]:
    """A client of the real base URL (answered by ``responses``), with a ledger in tmp_path."""
    with asyncjobs.connect(
        "conversio", api_key=KEY, ledger=tmp_path / "ledger.sqlite3", retry=QUICK
    ) as c:
        yield c


def job_url(job_id: str = JOB_ID) -> str:
    return f"{API}/async-jobs/{job_id}"


def add(
    http: responses.RequestsMock,
    method: str,
    url: str,
    status: int = 200,
    json: Any = None,
    **kwargs: Any,
) -> None:
    http.add(
        method, url, status=status, json=json, match=[matchers.header_matcher(HEADERS)], **kwargs
    )


# -- settings and capabilities --------------------------------------------------------------------


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERSIO_API_KEY", "from-env-key")
    monkeypatch.setenv("CONVERSIO_BASE_URL", "http://127.0.0.1:1/api/v1")
    with asyncjobs.connect("conversio", ledger=False) as c:
        assert c.provider.config["api_key"] == "from-env-key"
        assert c.provider.config["base_url"] == "http://127.0.0.1:1/api/v1"


def test_base_url_defaults_to_cm_commerce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVERSIO_BASE_URL", raising=False)
    with asyncjobs.connect("conversio", api_key=KEY, ledger=False) as c:
        assert c.provider.config["base_url"] == API


def test_missing_api_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVERSIO_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="CONVERSIO_API_KEY"):
        asyncjobs.connect("conversio", ledger=False)


def test_capabilities_describe_the_service(client: asyncjobs.Client) -> None:
    caps = type(client.provider).capabilities
    assert (caps.cancel, caps.list, caps.webhooks, caps.idempotent_submit) == (
        False,
        True,
        True,  # one account-level webhook, async-job/completed
        False,
    )
    assert caps.job_lifetime == timedelta(days=7)


def test_poll_policy_starts_at_one_second_and_caps_at_thirty(client: asyncjobs.Client) -> None:
    poll = type(client.provider).capabilities.poll
    assert (poll.initial, poll.cap, poll.fraction) == (1.0, 30.0, 0.4)


# -- submit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "path"),
    [
        ("newsletter-recipients", {"newsletter": "n1"}, "/newsletters/n1/recipients/async-export"),
        ("newsletter-emails", {"newsletter": "n1"}, "/newsletters/n1/emails/async-export"),
        ("segments-export", {"segment": "s1"}, "/segments/s1/async-export"),
    ],
)
def test_submit_posts_to_the_kinds_endpoint_without_a_body(
    http: responses.RequestsMock,
    client: asyncjobs.Client,
    kind: str,
    params: dict[str, str],
    path: str,
) -> None:
    add(http, "POST", API + path, 201, {"data": {"id": "j1", "kind": kind, "status": "pending"}})
    job = client.submit(kind, **params)
    assert (job.id, job.kind, job.info and job.info.status) == ("j1", kind, Status.PENDING)
    assert not http.calls[0].request.body


def test_submit_quotes_the_id_into_one_path_segment(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(
        http,
        "POST",
        f"{API}/newsletters/a%2Fb%20c%3F/recipients/async-export",
        201,
        {"data": {"id": "j1", "kind": "newsletter-recipients", "status": "pending"}},
    )
    client.submit("newsletter-recipients", newsletter="a/b c?")
    assert (
        http.calls[0].request.path_url == "/api/v1/newsletters/a%2Fb%20c%3F/recipients/async-export"
    )


@pytest.mark.parametrize("bad", ["", "   ", ".", "..", 7, b"n1", ["n1"]])
def test_bad_ids_are_refused_before_any_request(
    http: responses.RequestsMock, client: asyncjobs.Client, bad: object
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        client.submit("newsletter-recipients", newsletter=bad)
    assert caught.value.parameter == "newsletter"
    assert not http.calls


def test_missing_segment_is_refused_before_any_request(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    with pytest.raises(InvalidParameterError, match="segment"):
        client.submit("segments-export")
    assert not http.calls


def test_unknown_newsletter_is_a_provider_error_naming_it(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(
        http,
        "POST",
        f"{API}/newsletters/n9/emails/async-export",
        404,
        {"errors": ["Newsletter not found"]},
    )
    with pytest.raises(ProviderError) as caught:
        client.submit("newsletter-emails", newsletter="n9")
    assert not isinstance(caught.value, JobNotFoundError)
    assert "newsletter 'n9'" in str(caught.value)
    assert caught.value.status_code == 404
    assert caught.value.provider_message == "Newsletter not found"


def test_unknown_segment_is_a_provider_error_naming_it(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "POST", f"{API}/segments/s9/async-export", 404, {"errors": ["Segment not found"]})
    with pytest.raises(ProviderError, match="segment 's9'") as caught:
        client.submit("segments-export", segment="s9")
    assert not isinstance(caught.value, JobNotFoundError)


def test_submit_is_retried_after_429(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    url = f"{API}/segments/s1/async-export"
    add(http, "POST", url, 429, {"errors": ["Rate limit exceeded"]})
    add(
        http,
        "POST",
        url,
        201,
        {"data": {"id": "j1", "kind": "segments-export", "status": "pending"}},
    )
    assert client.submit("segments-export", segment="s1").id == "j1"
    assert len(http.calls) == 2


# -- status ---------------------------------------------------------------------------------------


def test_status_of_a_done_job_carries_times_result_and_expiry(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": DONE})
    info = client.status(JOB_ID)
    utc = timezone.utc
    assert (info.status, info.raw_status, info.kind) == (
        Status.DONE,
        "done",
        "newsletter-recipients",
    )
    assert info.started_at == datetime(2017, 1, 3, 16, 32, 27, 741000, utc)
    assert info.completed_at == datetime(2017, 1, 3, 16, 37, 20, 417000, utc)
    assert info.expires_at == datetime(2017, 1, 10, 16, 37, 20, 417000, utc)
    assert info.meta["result"] == CSV_URL


def test_status_of_a_failed_job_carries_the_error(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(FAILED["id"]), json={"data": FAILED})
    info = client.status(FAILED["id"])
    assert (info.status, info.error) == (Status.FAILED, FAILED["error"])


def test_status_of_a_pending_job_has_no_times(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(
        http,
        "GET",
        job_url(PENDING["id"]),
        json={"data": {**PENDING, "startedAt": None, "completedAt": None}},
    )
    info = client.status(PENDING["id"])
    assert (info.status, info.started_at, info.completed_at, info.expires_at) == (
        Status.PENDING,
        None,
        None,
        None,
    )


def test_unknown_kinds_from_the_service_are_kept(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(
        http,
        "GET",
        job_url(),
        json={"data": {**PENDING, "id": JOB_ID, "kind": "customer-list-unsubscribe"}},
    )
    assert client.status(JOB_ID).kind == "customer-list-unsubscribe"


def test_partner_app_is_kept_in_meta(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": {**DONE, "partnerApp": "app-7"}})
    assert client.status(JOB_ID).meta["partner_app"] == "app-7"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    word=st.text(min_size=1, max_size=20).filter(lambda w: w not in {"pending", "done", "failed"})
)
def test_unknown_status_words_read_as_pending_and_are_kept(
    client: asyncjobs.Client, word: str
) -> None:
    with responses.RequestsMock() as http:
        add(http, "GET", job_url(), json={"data": {**PENDING, "id": JOB_ID, "status": word}})
        info = client.status(JOB_ID)
    assert (info.status, info.raw_status) == (Status.PENDING, word)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(job_id=st.text(min_size=1, max_size=30).filter(lambda s: s.strip() not in ("", ".", "..")))
def test_any_job_id_stays_one_path_segment(client: asyncjobs.Client, job_id: str) -> None:
    from urllib.parse import quote, unquote

    with responses.RequestsMock() as http:
        add(http, "GET", job_url(quote(job_id, safe="")), json={"data": {**PENDING, "id": job_id}})
        client.status(job_id)
        path = http.calls[0].request.path_url
    segment = path.removeprefix("/api/v1/async-jobs/")
    assert "/" not in segment
    assert "?" not in segment
    assert unquote(segment) == job_id


def test_status_404_is_job_not_found_saying_jobs_expire_after_a_week(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), 404, {"errors": ["Async Job not found"]})
    with pytest.raises(JobNotFoundError) as caught:
        client.status(JOB_ID)
    message = str(caught.value)
    assert JOB_ID in message
    assert "conversio" in message
    assert "another shop" in message
    assert "expired" in message
    assert "a week after they finish" in message
    assert caught.value.provider_message == "Async Job not found"


def test_401_is_an_authentication_error_with_the_services_message(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), 401, {"errors": ["Invalid API key"]})
    with pytest.raises(AuthenticationError, match="Invalid API key"):
        client.status(JOB_ID)


def test_error_messages_are_joined(http: responses.RequestsMock, client: asyncjobs.Client) -> None:
    add(http, "GET", job_url(), 400, {"errors": ["first problem", "second problem"]})
    with pytest.raises(ProviderError) as caught:
        client.status(JOB_ID)
    assert caught.value.provider_message == "first problem; second problem"
    assert "first problem; second problem" in str(caught.value)


def test_an_error_body_that_is_not_json_is_kept_as_text(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    http.add("GET", job_url(), status=500, body="upstream exploded")  # 500 is not retried
    with pytest.raises(ProviderError, match="upstream exploded"):
        client.status(JOB_ID)


def test_status_is_retried_after_429(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), 429, {"errors": ["Rate limit exceeded"]})
    add(http, "GET", job_url(), json={"data": DONE})
    assert client.status(JOB_ID).status is Status.DONE


def test_429_that_persists_is_rate_limited(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    for _ in range(3):
        add(http, "GET", job_url(), 429, {"errors": ["Rate limit exceeded"]})
    with pytest.raises(RateLimitedError, match="Rate limit exceeded"):
        client.status(JOB_ID)


@pytest.mark.parametrize(
    "body",
    [
        '{"data": {"id"',
        "[]",
        '{"data": {"id": "x"}}',
        '{"data": {"id": "x", "kind": "k", "status": "done", "startedAt": "yesterday"}}',
    ],
)
def test_a_body_that_is_not_a_job_is_a_transport_error(
    http: responses.RequestsMock, client: asyncjobs.Client, body: str
) -> None:
    http.add("GET", job_url(), body=body, content_type="application/json")
    with pytest.raises(TransportError, match=JOB_ID):
        client.status(JOB_ID)


# -- list -----------------------------------------------------------------------------------------


def test_list_reads_every_job_of_the_shop(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", f"{API}/async-jobs", json={"data": [DONE, PENDING, FAILED]})
    infos = list(client.provider.list())
    assert [(i.id, i.status) for i in infos] == [
        (DONE["id"], Status.DONE),
        (PENDING["id"], Status.PENDING),
        (FAILED["id"], Status.FAILED),
    ]


def test_list_follows_next_page(http: responses.RequestsMock, client: asyncjobs.Client) -> None:
    page2 = f"{API}/async-jobs?page=2&limit=1"
    add(http, "GET", f"{API}/async-jobs", json={"data": [DONE], "meta": {"nextPage": page2}})
    http.add(
        "GET",
        page2,
        json={"data": [PENDING], "meta": {"page": 2, "nextPage": None}},
        match=[
            matchers.header_matcher(HEADERS),
            matchers.query_param_matcher({"page": "2", "limit": "1"}),
        ],
    )
    assert [i.id for i in client.provider.list()] == [DONE["id"], PENDING["id"]]


def test_list_stops_when_next_page_loops(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(
        http,
        "GET",
        f"{API}/async-jobs",
        json={"data": [DONE], "meta": {"nextPage": f"{API}/async-jobs"}},
    )
    assert [i.id for i in client.provider.list()] == [DONE["id"]]
    assert len(http.calls) == 1


def test_list_does_not_follow_next_page_to_another_host(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(
        http,
        "GET",
        f"{API}/async-jobs",
        json={"data": [DONE], "meta": {"nextPage": "https://elsewhere.example/jobs?page=2"}},
    )
    assert [i.id for i in client.provider.list()] == [DONE["id"]]
    assert len(http.calls) == 1


def test_client_list_merges_the_ledger_and_the_service_without_duplicates(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    for job_id in ("mine-1", "mine-2"):
        add(
            http,
            "POST",
            f"{API}/newsletters/n1/recipients/async-export",
            201,
            {"data": {"id": job_id, "kind": "newsletter-recipients", "status": "pending"}},
        )
        client.submit("newsletter-recipients", newsletter="n1")
    # the service lists mine-1 (now done) and a job made elsewhere; mine-2 has expired there
    add(
        http,
        "GET",
        f"{API}/async-jobs",
        json={"data": [{**DONE, "id": "mine-1"}, {**PENDING, "id": "other"}]},
    )
    listed = client.list()
    assert sorted(j.id for j in listed) == ["mine-1", "mine-2", "other"]
    assert {j.id: j.info and j.info.status for j in listed}["mine-1"] is Status.DONE


def test_client_list_filters_by_status(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", f"{API}/async-jobs", json={"data": [DONE, PENDING, FAILED]})
    assert [j.id for j in client.list(status="failed")] == [FAILED["id"]]


# -- result ---------------------------------------------------------------------------------------


def test_result_is_the_csv_named_after_the_url(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": DONE})
    result = client.fetch_result(JOB_ID)
    (file,) = result.files
    assert (file.name, file.url, file.media_type) == (f"{JOB_ID}.csv", CSV_URL, "text/csv")
    assert result.raw == DONE


def test_result_name_falls_back_to_the_job_id(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": {**DONE, "result": "https://app.conversio.com/"}})
    assert client.fetch_result(JOB_ID).files[0].name == f"{JOB_ID}.csv"


def test_result_that_is_not_a_url_stays_raw(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": {**DONE, "result": "42 subscriptions removed"}})
    result = client.fetch_result(JOB_ID)
    assert result.files == ()
    assert result.raw["result"] == "42 subscriptions removed"


def test_result_of_a_failed_job_raises_job_failed(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(FAILED["id"]), json={"data": FAILED})
    with pytest.raises(JobFailedError, match="Something terrible"):
        client.fetch_result(FAILED["id"])


def test_result_of_a_pending_job_says_to_wait(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(PENDING["id"]), json={"data": PENDING})
    with pytest.raises(ProviderError, match="still pending"):
        client.fetch_result(PENDING["id"])


def test_csv_on_the_service_host_is_downloaded_with_the_key(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": DONE})
    http.add(
        "GET",
        CSV_URL,
        body=b"email\na@example.com\n",
        content_type="text/csv",
        match=[matchers.header_matcher({"X-ApiKey": KEY, "Accept": "text/csv, application/json"})],
    )
    assert client.fetch_result(JOB_ID).files[0].read() == b"email\na@example.com\n"


def test_csv_on_another_host_is_downloaded_without_the_key(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    elsewhere = "https://files.example.com/exports/x.csv"
    add(http, "GET", job_url(), json={"data": {**DONE, "result": elsewhere}})
    http.add("GET", elsewhere, body=b"email\n", content_type="text/csv")
    file = client.fetch_result(JOB_ID).files[0]
    assert (file.name, file.read()) == ("x.csv", b"email\n")
    assert "X-ApiKey" not in http.calls[-1].request.headers


def test_csv_on_the_old_conversio_host_gets_no_key_when_the_api_is_cm_commerce(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": {**DONE, "result": OLD_CSV_URL}})
    http.add("GET", OLD_CSV_URL, body=b"email\n", content_type="text/csv")
    client.fetch_result(JOB_ID).files[0].read()
    assert "X-ApiKey" not in http.calls[-1].request.headers


def test_the_old_conversio_host_works_through_base_url_with_its_csv_keyed(
    http: responses.RequestsMock, tmp_path: Path
) -> None:
    http.add(
        "GET", f"{OLD_API}/async-jobs/{JOB_ID}", json={"data": {**DONE, "result": OLD_CSV_URL}}
    )
    http.add("GET", OLD_CSV_URL, body=b"email\n", content_type="text/csv")
    with asyncjobs.connect("conversio", api_key=KEY, base_url=OLD_API, ledger=False) as old:
        old.fetch_result(JOB_ID).files[0].read()
    assert http.calls[-1].request.headers["X-ApiKey"] == KEY


def test_csv_over_plain_http_on_the_same_host_gets_no_key(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    insecure = f"http://commerce.campaignmonitor.com/async-jobs/{JOB_ID}.csv"
    add(http, "GET", job_url(), json={"data": {**DONE, "result": insecure}})
    http.add("GET", insecure, body=b"email\n")
    client.fetch_result(JOB_ID).files[0].read()
    assert "X-ApiKey" not in http.calls[-1].request.headers


def test_csv_that_is_gone_is_a_provider_error(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    add(http, "GET", job_url(), json={"data": DONE})
    http.add("GET", CSV_URL, status=404, json={"errors": ["File not found"]})
    with pytest.raises(ProviderError, match="File not found"):
        client.fetch_result(JOB_ID).files[0].read()


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_is_not_supported_and_sends_nothing(
    http: responses.RequestsMock, client: asyncjobs.Client
) -> None:
    with pytest.raises(NotSupportedError, match=r"(?i)conversio cannot cancel a job") as caught:
        client.cancel(JOB_ID)
    assert JOB_ID in str(caught.value)
    assert not http.calls
