"""A canary secret never appears in a message, a log record at DEBUG, a repr, or the ledger."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import errors
from asyncjobs._http import RetryPolicy, Transport
from asyncjobs._redaction import Redactor, _html_escape
from asyncjobs.sandbox import Sandbox

CANARY = "canary-7Hq2-Zx91-never-show"
BASE = "https://toy.example.test"


@pytest.fixture
def canary_client(toy_registered: type[ToyProvider], tmp_path: Path) -> asyncjobs.Client:
    return asyncjobs.connect(
        "toy",
        key=CANARY,
        base_url=BASE,
        ledger=tmp_path / "l.sqlite3",
        retry=RetryPolicy(max_tries=2, base=0.001, cap=0.001),
    )


def test_the_redactor_masks_every_secret_longest_first() -> None:
    r = Redactor([CANARY, CANARY[:10]])
    assert r(f"a {CANARY} b {CANARY[:10]} c") == "a *** b *** c"


def test_short_values_are_not_taken_for_secrets() -> None:
    assert Redactor(["ab"])("abc") == "abc"


def test_a_secret_learned_later_is_masked() -> None:
    r = Redactor()
    r.add("token-abcdef-123")
    assert "token-abcdef-123" not in r("Bearer token-abcdef-123")


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "json": {"message": f"key {CANARY} is wrong"}},
        {"status": 500, "json": {"code": 1, "message": f"echo {CANARY}"}},
        {"status": 404, "body": f"<html>{CANARY}</html>"},
        {"body": requests.ConnectionError(f"failed with header {CANARY}")},
        {"status": 429, "json": {"errors": [CANARY]}},
    ],
)
@responses.activate
def test_no_error_path_shows_the_secret(
    canary_client: asyncjobs.Client, caplog: pytest.LogCaptureFixture, answer: dict[str, object]
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.get(f"{BASE}/jobs/j1", **answer)  # type: ignore[arg-type]
    with pytest.raises(errors.AsyncJobsError) as caught:
        canary_client.status("j1")
    error = caught.value
    shown = [str(error), repr(error), str(vars(error)), caplog.text]
    shown += [r.getMessage() for r in caplog.records]
    assert all(CANARY not in s for s in shown)


def test_reprs_never_show_the_secret(canary_client: asyncjobs.Client) -> None:
    things = [
        canary_client,
        canary_client.provider,
        canary_client.provider.config,
        canary_client.provider.transport,
        canary_client.provider.transport.redactor,
    ]
    assert all(CANARY not in repr(t) for t in things)


def test_the_secret_travels_in_a_header_not_the_url(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = toy_sandbox.app.client_settings(toy_sandbox.url)
    with asyncjobs.connect("toy", ledger=tmp_path / "l.db", **settings) as client:
        client.submit("upper", text="x").wait(timeout=5)
    assert all(settings["key"] not in path for _, path in toy_sandbox.app.requests)


def test_the_ledger_never_holds_the_secret(
    toy_registered: type[ToyProvider], toy_sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = toy_sandbox.app.client_settings(toy_sandbox.url)
    with asyncjobs.connect("toy", ledger=tmp_path / "l.db", **settings) as client:
        client.submit("upper", text="x", duration=0.01).wait(timeout=5)
        client.submit("upper", text="fail", duration=0.01).wait(timeout=5)
    for f in tmp_path.glob("l.db*"):
        assert settings["key"].encode() not in f.read_bytes()


def test_log_records_of_other_modules_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    from asyncjobs._redaction import get_logger

    keep = Redactor([CANARY])
    caplog.set_level(logging.DEBUG)
    get_logger("asyncjobs.someplugin").debug("token is %s", CANARY)
    assert CANARY not in caplog.text
    assert keep  # the redactor must be alive for its secrets to be masked


def test_transport_errors_do_not_show_query_strings() -> None:
    t = Transport(provider="p", retry=RetryPolicy(max_tries=1))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/x", status=500)
        with pytest.raises(errors.ProviderError) as caught:
            t.request("GET", f"{BASE}/x?Secret=abc123xyz")
    assert "abc123xyz" not in str(caught.value)


@given(st.text())
def test_the_html_form_of_a_secret_is_what_html_escape_gives(text: str) -> None:
    assert _html_escape(text) == html.escape(text)


# -- a secret spelled like a word ------------------------------------------------------------------

WORDLIKE = st.from_regex(r"\A(?:[a-z]{4,16}|[A-Z][a-z]{3,15}|[A-Z]{4,16})\Z")
#: Where a value stands: the secret is masked there whatever it is.
VALUE_CONTEXTS = [
    "{}",
    "secret={}",
    "secret: {}",
    '{{"client_secret": "{}"}}',
    "client_secret='{}'",
    "Authorization: Bearer {}",
    "invalid key {}",
    "https://example.test/hooks/{}?a=1",
    "https://example.test/x?secret={}&a=1",
    "https://{}@example.test/",
    "<secret>{}</secret>",
    "[{}]",
]


def test_a_wordlike_secret_leaves_a_sentence_as_it_is() -> None:
    text = "the client id or client secret is wrong (check the client_secret settings)"
    assert Redactor(["wrong", "settings"])(text) == text


@pytest.mark.parametrize("context", VALUE_CONTEXTS)
def test_a_wordlike_secret_is_masked_where_it_stands_as_a_value(context: str) -> None:
    assert "wrong" not in Redactor(["wrong"])(context.format("wrong"))


def test_a_wordlike_secret_is_masked_as_a_whole_word_only() -> None:
    assert Redactor(["wrong"])("secret=wrongly") == "secret=wrongly"


def test_the_encoded_forms_of_a_wordlike_secret_are_masked_anywhere() -> None:
    assert Redactor(["wrong"])("the header said d3Jvbmc= twice") == "the header said *** twice"


@given(WORDLIKE, st.sampled_from(VALUE_CONTEXTS))
def test_any_wordlike_secret_is_masked_in_any_value_context(secret: str, context: str) -> None:
    assert secret not in Redactor([secret])(context.format(secret))


@given(WORDLIKE)
def test_any_wordlike_secret_leaves_prose_alone(secret: str) -> None:
    text = f"client id or client secret is {secret}. Try {secret} again, then {secret}s."
    assert Redactor([secret])(text) == text


@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_.", min_size=4, max_size=40
    ).filter(lambda s: any(c.isdigit() or c in "-_." for c in s)),
    st.text(max_size=30),
    st.text(max_size=30),
)
def test_a_secret_not_spelled_like_a_word_is_masked_anywhere(
    secret: str, before: str, after: str
) -> None:
    assert secret not in Redactor([secret])(before + secret + after)


def test_a_wrong_wordlike_secret_ends_in_authentication_error_that_reads_well() -> None:
    from asyncjobs.sandbox import serve_providers

    (running,) = serve_providers(["groupdocs"])
    try:
        settings = {**running.settings, "client_secret": "wrong"}
        with asyncjobs.connect("groupdocs", ledger=False, **settings) as client:
            with pytest.raises(errors.AuthenticationError) as caught:
                client.submit("convert", source=b"x", from_="txt", to="pdf")
    finally:
        running.stop()
    assert "client id or client secret is wrong" in str(caught.value)
