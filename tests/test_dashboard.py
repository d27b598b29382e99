"""The dashboard as a WSGI application: its pages and JSON API read the ledger, its filters are
query parameters (a bad one is a 400 naming it), hostile values stay text, no secret reaches a
page, and only the token's holder may cancel or resubmit. The browser's view is
tests/test_dashboard_browser.py's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toy_provider import ToySandbox
from werkzeug.test import Client as WSGIClient

import asyncjobs
from asyncjobs import JobInfo, Status, errors
from asyncjobs._ledger import Ledger
from asyncjobs.dashboard import Dashboard
from asyncjobs.sandbox import Sandbox

TOKEN = "dashboard-token-canary-5f1e2d3c"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite3") as book:
        yield book


def _record(ledger: Ledger, job_id: str, status: Status, **fields: Any) -> None:
    key = ledger.begin("toy", "upper", {"text": fields.pop("text", "hi")})
    ledger.issued(key, JobInfo("toy", job_id, "upper", Status.PENDING, raw_status="queued"))
    if status is not Status.PENDING:
        ledger.seen(JobInfo("toy", job_id, "upper", status, **fields))


@pytest.fixture
def filled(ledger: Ledger) -> Ledger:
    for n in range(5):
        _record(ledger, f"job-{n}", Status.DONE, raw_status="ok")
    _record(
        ledger,
        "job-broken",
        Status.FAILED,
        raw_status="error",
        error="the input was empty",
        meta={"code": "E_EMPTY_INPUT", "request_id": "r-17"},
    )
    _record(ledger, "job-waiting", Status.PENDING)
    return ledger


def _client(ledger: Ledger, token: str | None = None, **kwargs: Any) -> WSGIClient:
    return WSGIClient(Dashboard(ledger, token, **kwargs))


def test_the_jobs_page_lists_the_ledgers_jobs_newest_first(filled: Ledger) -> None:
    page = _client(filled).get("/")
    assert page.status_code == 200
    ids = re.findall(r'<a href="/jobs/toy/([^"]+)">', page.text)
    assert ids == ["job-waiting", "job-broken", "job-4", "job-3", "job-2", "job-1", "job-0"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["job-broken"]),
        ("status=pending", ["job-waiting"]),
        ("q=job-3", ["job-3"]),
        ("provider=nobody", []),
        ("limit=2", ["job-waiting", "job-broken"]),
        ("sort=oldest&limit=2", ["job-0", "job-1"]),
        ("sort=oldest&after=2&limit=2", ["job-2", "job-3"]),
    ],
)
def test_filters_are_query_parameters(filled: Ledger, query: str, expected: list[str]) -> None:
    page = _client(filled).get(f"/?{query}")
    assert re.findall(r'<a href="/jobs/toy/([^"]+)">', page.text) == expected


@pytest.mark.parametrize("order", ["", "&sort=oldest"])
def test_the_next_page_link_pages_through_every_job_once(filled: Ledger, order: str) -> None:
    client = _client(filled)
    seen: list[str] = []
    url = "/?limit=3" + order
    while url:
        page = client.get(url)
        seen += re.findall(r'<a href="/jobs/toy/([^"]+)">', page.text)
        older = re.search(r'<a id="older" href="([^"]+)">', page.text)
        url = older.group(1).replace("&amp;", "&") if older else ""
    assert len(seen) == len(set(seen)) == 7
    assert (seen[0] == "job-0") == bool(order)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=lost", "status must be pending, done or failed"),
        ("since=1y", "since must be one of 1h, 24h, 7d"),
        ("limit=0", "limit must be a whole number from 1 to 200"),
        ("before=abc", "before must be a whole number"),
        ("colour=red", "unknown query parameter 'colour'"),
        ("sort=slowest", "sort must be newest or oldest"),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(filled: Ledger, query: str, named: str) -> None:
    page = _client(filled).get(f"/?{query}")
    assert page.status_code == 400
    assert named.replace("'", "&#39;") in page.text
    api = _client(filled).get(f"/api/jobs?{query}")
    assert api.status_code == 400
    assert named in api.json["error"]


def test_a_job_page_shows_its_timeline_parameters_and_error(filled: Ledger) -> None:
    page = _client(filled).get("/jobs/toy/job-broken")
    assert page.status_code == 200
    assert "the input was empty" in page.text
    assert "&#34;code&#34;: &#34;E_EMPTY_INPUT&#34;" in page.text  # the provider's own code
    assert re.search(r"<li><time>[^<]+</time> <span class=\"status-pending\">pending", page.text)
    assert re.search(r"<span class=\"status-failed\">failed</span> error", page.text)
    assert "&#34;text&#34;: &#34;hi&#34;" in page.text


def test_an_unknown_job_is_a_404_that_says_so(filled: Ledger) -> None:
    page = _client(filled).get("/jobs/toy/nope")
    assert page.status_code == 404
    assert "no job &#39;nope&#39; at toy in this ledger" in page.text


def test_the_providers_page_counts_and_rates(filled: Ledger) -> None:
    page = _client(filled).get("/providers")
    cells = re.findall(r"<td>([^<]*)</td>", page.text)
    assert cells[:5] == ["7", "1", "5", "1", "16.7%"]
    assert "<svg" in page.text


def test_the_fleet_page_of_a_sqlite_ledger_says_workers_need_postgresql(filled: Ledger) -> None:
    assert "workers need a shared PostgreSQL ledger" in _client(filled).get("/fleet").text


@pytest.mark.slow
def test_the_fleet_page_lists_who_holds_leases(pg_url: str) -> None:
    with Ledger(pg_url) as book:
        _record(book, "job-held", Status.PENDING)
        assert book.lease("toy", "job-held", "upper")
        page = _client(book).get("/fleet")
        assert book.holder in page.text
        assert re.search(r"<td>1</td>", page.text)


def test_the_changes_api_gives_changed_rows_and_jobs_recorded_after_the_page(
    filled: Ledger,
) -> None:
    client = _client(filled)
    first = client.get("/api/jobs?limit=1").json["jobs"][0]
    assert first["job_id"] == "job-waiting"
    filled.seen(JobInfo("toy", "job-waiting", "upper", Status.DONE, raw_status="ok"))
    _record(filled, "job-new", Status.PENDING)
    changes = client.get(f"/api/changes?keys={first['key']}&after={first['place']}").json
    assert [r["status"] for r in changes["rows"]] == ["done"]
    assert [r["job_id"] for r in changes["new"]] == ["job-new"]
    assert changes["newest"] > first["place"]


def test_every_page_forbids_inline_scripts_and_outside_requests(filled: Ledger) -> None:
    for url in ("/", "/providers", "/fleet", "/jobs/toy/job-1", "/nowhere"):
        headers = _client(filled).get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_hostile_values_from_a_provider_stay_text_on_every_page(ledger: Ledger) -> None:
    key = ledger.begin("toy", "upper", {"text": HOSTILE, HOSTILE: HOSTILE})
    ledger.issued(key, JobInfo("toy", "evil", "upper", Status.PENDING, raw_status=HOSTILE))
    ledger.seen(JobInfo("toy", "evil", "upper", Status.FAILED, raw_status=HOSTILE, error=HOSTILE))
    client = _client(ledger)
    for url in ("/", "/jobs/toy/evil", "/providers", "/?q=%3Cscript%3E"):
        text = client.get(url).text
        assert "<script>alert" not in text
        assert "<img src=x" not in text
        assert "onerror=alert" not in text or "&lt;img" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/jobs/toy/evil").text
    assert json.loads(client.get("/api/jobs/toy/evil").text)["error"] == HOSTILE


def test_a_token_shorter_than_16_characters_is_refused(ledger: Ledger) -> None:
    with pytest.raises(errors.InvalidParameterError) as caught:
        Dashboard(ledger, token="short")
    assert caught.value.parameter == "token"


# -- actions ----------------------------------------------------------------------------------


@pytest.fixture
def toy_dashboard(
    toy_registered: Any, toy_sandbox: Sandbox, ledger: Ledger
) -> Iterator[tuple[WSGIClient, asyncjobs.Job, ToySandbox]]:
    settings = toy_sandbox.app.client_settings(toy_sandbox.url)

    def connect(name: str, book: Ledger) -> asyncjobs.Client:
        return asyncjobs.connect(name, ledger=book, **settings)

    with connect("toy", ledger) as client:
        job = client.submit("upper", text="slow", duration=30)
        dashboard = Dashboard(ledger, TOKEN, connect=connect)
        try:
            app = toy_sandbox.app
            assert isinstance(app, ToySandbox)
            yield WSGIClient(dashboard), job, app
        finally:
            dashboard.close()


def test_a_read_only_dashboard_refuses_every_action(filled: Ledger) -> None:
    client = _client(filled)
    answer = client.post("/api/jobs/toy/job-1/cancel", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 403
    assert client.get("/signin").status_code == 403


def test_an_action_without_the_token_is_refused(toy_dashboard: Any) -> None:
    client, job, box = toy_dashboard
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        answer = client.post(f"/api/jobs/toy/{job.id}/cancel", headers=headers)
        assert answer.status_code == 401
    assert job.id in box.jobs  # not cancelled (the toy service forgets a cancelled job)


def test_the_token_holder_cancels_through_the_api(toy_dashboard: Any) -> None:
    client, job, box = toy_dashboard
    answer = client.post(
        f"/api/jobs/toy/{job.id}/cancel", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200
    assert answer.json["ok"] is True
    assert job.id not in box.jobs  # the toy service forgets a cancelled job


def test_a_form_action_needs_a_session_and_its_csrf_token(toy_dashboard: Any) -> None:
    client, job, _ = toy_dashboard
    refused = client.post(f"/jobs/toy/{job.id}/cancel", data={"csrf": "guess"})
    assert refused.status_code == 403
    assert client.post("/signin", data={"token": "not-the-token-00000"}).status_code == 403
    signed = client.post("/signin", data={"token": TOKEN})
    assert signed.status_code == 303
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    page = client.get(f"/jobs/toy/{job.id}").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    assert client.post(f"/jobs/toy/{job.id}/cancel", data={"csrf": "0" * 64}).status_code == 403
    done = client.post(f"/jobs/toy/{job.id}/cancel", data={"csrf": csrf.group(1)})
    assert done.status_code == 303
    assert "cancelled" in client.get(done.headers["Location"]).text


def test_a_resubmit_whose_kept_source_is_gone_says_so(toy_dashboard: Any, ledger: Ledger) -> None:
    client, job, _ = toy_dashboard
    answer = client.post(
        f"/api/jobs/toy/{job.id}/resubmit", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 409
    assert answer.json["ok"] is False
    assert "pending" in answer.json["message"] or "failed" in answer.json["message"]


def test_no_secret_reaches_a_page_or_the_api(toy_dashboard: Any) -> None:
    client, job, _ = toy_dashboard
    client.post("/signin", data={"token": TOKEN})
    texts = [
        client.get(url).get_data(as_text=True)
        for url in ("/", f"/jobs/toy/{job.id}", "/providers", "/fleet", "/api/jobs")
    ]
    for text in texts:
        assert ToySandbox.key not in text
        assert TOKEN not in text


# -- the command ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 listens beyond this machine: give a --token"),
        (["--token", "short"], "--token must be at least 16 characters"),
        (["--port", "99999"], "is not a port number"),
        (["--no-ledger"], "drop --no-ledger"),
    ],
)
def test_the_command_refuses_what_it_cannot_serve_in_its_own_spelling(
    args: list[str], named: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "dashboard", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert named in proc.stderr
    assert "token=" not in proc.stderr  # the command line's spelling, not Python's


def test_the_jobs_chart_is_an_image_of_its_own_drawn_from_the_ledger(filled: Ledger) -> None:
    page = _client(filled).get("/")
    assert '<img src="/charts/jobs.svg"' in page.text
    chart = _client(filled).get("/charts/jobs.svg")
    assert chart.mimetype == "image/svg+xml"
    assert "<title>7 started</title>" in chart.text
    assert "<style" not in chart.text  # the policy allows no inline style


def test_a_resubmit_whose_kept_source_path_is_gone_says_so(
    provider_sandboxes: dict[str, Any], ledger: Ledger, tmp_path: Path
) -> None:
    box = provider_sandboxes["convertapi"]
    settings = box.box.app.client_settings(box.box.url)

    def connect(name: str, book: Ledger) -> asyncjobs.Client:
        return asyncjobs.connect(name, ledger=book, **settings)

    source = tmp_path / "report.docx"
    source.write_bytes(b"PK\x03\x04 a document")
    with connect("convertapi", ledger) as client:
        job = client.submit("convert", source=source, to="pdf")
    ledger.seen(JobInfo("convertapi", job.id, "convert", Status.FAILED, raw_status="Failed"))
    source.unlink()
    dashboard = Dashboard(ledger, TOKEN, connect=connect)
    try:
        answer = WSGIClient(dashboard).post(
            f"/api/jobs/convertapi/{job.id}/resubmit", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    finally:
        dashboard.close()
    assert answer.status_code == 409
    assert str(source) in answer.json["message"]
    assert "does not exist on the dashboard's host" in answer.json["message"]


def test_the_providers_page_shows_polls_and_retries_per_finished_job(ledger: Ledger) -> None:
    from asyncjobs import _tally

    for n, polls in enumerate((2, 6)):
        key = ledger.begin("toy", "upper", {})
        ledger.issued(key, JobInfo("toy", f"j{n}", "upper", Status.PENDING))
        for _ in range(polls):
            _tally.polled("toy", f"j{n}")
        ledger.seen(JobInfo("toy", f"j{n}", "upper", Status.DONE, raw_status="ok"))
    _tally.retried("toy", "j1")
    ledger.seen(JobInfo("toy", "j1", "upper", Status.FAILED, raw_status="error"))
    page = _client(ledger).get("/providers").text
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert cells[7:9] == ["4.0", "0.50"]
    assert '<dd id="counts">6 / 1</dd>' in _client(ledger).get("/jobs/toy/j1").text
