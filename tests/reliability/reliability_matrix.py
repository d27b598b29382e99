"""The reliability matrix: what each test of the suite showed, collected while the suite runs, and
rendered as ``docs/reliability.md``.

A test declares its cell (section, row, column) and says what happened (:class:`Recorder`); the
suite's ``conftest.py`` adds whether the test passed, failed or is a known failure (a strict xfail),
and writes the page at the end of the session when ``ASYNCJOBS_MATRIX_OUT`` names a file.
"""

from __future__ import annotations

import attrs
from reliability_kits import PROVIDERS

#: Environment variable naming the markdown file to write at the end of the session.
OUT_ENV = "ASYNCJOBS_MATRIX_OUT"


@attrs.define
class Cell:
    """One cell: what the test said happened, and how the test ended."""

    text: str = ""
    state: str = "not run"  # "ok" | "red" | "not run"
    reason: str = ""


#: section -> (row, column) -> cell, filled while the suite runs
RESULTS: dict[str, dict[tuple[str, str], Cell]] = {}


class Recorder:
    """Handed to a test (the ``cell`` fixture): ``cell.at(section, row, column)``, then
    ``cell.say(text)`` with what happened there. A test may fill several cells; each takes the
    test's outcome."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str, str], str] = {}
        self._last: tuple[str, str, str] | None = None

    def at(self, section: str, row: str, column: str) -> None:
        """Declare a cell this test fills."""
        self._last = (section, row, column)
        self.cells.setdefault(self._last, "")

    def say(self, text: str) -> None:
        """What happened in the cell declared last, in a few words."""
        assert self._last is not None, "declare the cell first"
        self.cells[self._last] = text


def store(where: tuple[str, str, str], text: str, state: str, reason: str = "") -> None:
    """Keep a finished test's cell. Several tests may share a cell (the cases of one row): once
    one of them is red, the cell stays red whatever the others do after it."""
    section, row, column = where
    cells = RESULTS.setdefault(section, {})
    kept = cells.get((row, column))
    if kept is not None and kept.state == "red" and state != "red":
        return
    cells[(row, column)] = Cell(text, state, reason)


# -- the page ---------------------------------------------------------------------------------------

#: The columns of the attacks section: which surface a case attacks.
ATTACK_COLUMNS = ("ledger and fleet", "webhooks", "command line", "aio", "providers", "routing")

#: The fault cases, in the order of the page: id -> (title, what is done to the service).
FAULT_CASES: dict[str, tuple[str, str]] = {
    "poll-reset": (
        "connection reset on polls",
        "the service closes the connection without answering, twice",
    ),
    "poll-500": ("burst of 500 on polls", "three polls answered 500 with a non-JSON body"),
    "poll-502": ("burst of 502 on polls", "three polls answered 502"),
    "poll-503": ("burst of 503 on polls", "three polls answered 503 (`Retry-After: 0`)"),
    "poll-504": ("burst of 504 on polls", "three polls answered 504"),
    "poll-429-seconds": ("429, Retry-After in seconds", "a poll answered 429 `Retry-After: 1`"),
    "poll-429-date": (
        "429, Retry-After as a date",
        "a poll answered 429 with `Retry-After` an HTTP date 1.5 s ahead",
    ),
    "poll-read-timeout": (
        "read timeout on a poll",
        "a poll held 1 s against a 0.3 s read timeout",
    ),
    "poll-malformed": ("malformed JSON on a poll", 'a poll answered 200 `{"status": "pend`'),
    "poll-truncated": (
        "truncated status answer",
        "a poll's answer cut in half, then the connection dropped",
    ),
    "poll-401": ("401 on a poll", "a poll answered 401 (credentials refused or token expired)"),
    "token-expiry": ("token expiry mid-run", "every access token expires between submit and poll"),
    "submit-reset": (
        "connection reset on submit",
        "the submit's connection closed before the service read it",
    ),
    "submit-answer-lost": (
        "submit answer lost",
        "the service starts the job, then its answer is cut and the connection dropped",
    ),
    "submit-503": ("burst of 503 on submit", "two submits answered 503 (`Retry-After: 0`)"),
    "submit-429": ("429 on submit", "two submits answered 429 (`Retry-After: 0`)"),
    "submit-read-timeout": (
        "read timeout on submit",
        "the submit held 1 s against a 0.3 s read timeout (the service still starts the job)",
    ),
    "download-truncated": (
        "truncated download",
        "the result file's body cut in half, then the connection dropped",
    ),
    "job-expiry": ("job expiry", "the job outlives the provider's job lifetime before the poll"),
    "restart-kept": (
        "restart, state kept",
        "server stopped after submit, the same service served again at the same address; a new "
        "client (same ledger) picks the job up",
    ),
    "restart-lost": (
        "restart, state lost",
        "server stopped after submit, a fresh service (no jobs, tokens or files) served at the "
        "same address; a new client (same ledger) asks for the job",
    ),
}

#: Cells that do not apply, with the reason shown in the matrix.
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    ("token-expiry", "convertapi"): "n/a: a static secret, no tokens (401 row above)",
    ("token-expiry", "conversio"): "n/a: a static API key, no tokens (401 row above)",
    ("token-expiry", "cloudconvert"): "n/a: a static API key, no tokens (401 row above)",
    ("token-expiry", "zamzar"): "n/a: a static API key, no tokens (401 row above)",
}

_MARK = {"ok": "✅", "red": "❌", "not run": "⬜"}


def _cell_text(cell: Cell | None, missing: str) -> str:
    if cell is None:
        return missing
    if cell.state == "red":
        text = (
            cell.reason if cell.reason.startswith("known bug") else f"{cell.text} — {cell.reason}"
        )
    else:
        text = cell.text or "passed"
    return f"{_MARK[cell.state]} {text}".replace("|", "\\|").replace("\n", " ")


def _table(
    section: str,
    rows: list[tuple[str, str]],
    columns: tuple[str, ...],
    *,
    missing: str = "—",
) -> list[str]:
    found = RESULTS.get(section, {})
    lines = ["| case | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row_id, title in rows:
        cells = []
        for column in columns:
            if (row_id, column) in NOT_APPLICABLE and (row_id, column) not in found:
                cells.append("— " + NOT_APPLICABLE[(row_id, column)])
            else:
                cells.append(_cell_text(found.get((row_id, column)), missing))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def _rows_of(section: str, column: str | None = None) -> list[tuple[str, str]]:
    """The rows of a section in the order the suite ran them (only those with ``column``)."""
    rows = [row for row, col in RESULTS.get(section, {}) if column in (None, col)]
    return [(r, r) for r in dict.fromkeys(rows)]


def _count(section: str | None = None) -> tuple[int, int]:
    cells = [c for s, found in RESULTS.items() if section in (None, s) for c in found.values()]
    return sum(c.state == "ok" for c in cells), sum(c.state == "red" for c in cells)


def _reds() -> list[str]:
    out = []
    for section, found in RESULTS.items():
        for (row, column), c in found.items():
            if c.state == "red":
                out.append(f"- {section} / {row} / {column}: {c.reason}")
    return out or ["None."]


def render() -> str:
    """The page ``docs/reliability.md``, from the results collected."""
    ok, red = _count()
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by the reliability suite (tests/reliability/); do not edit by hand.",
        "     Regenerate: python tests/reliability/write_matrix.py -->",
        "",
        "asyncjobs is meant to keep working when the services it talks to misbehave, to refuse "
        "bad input clearly, to lose no job and to leak no secret. This page is the proof, case by "
        "case: every cell below is one test of `tests/reliability/`, run against the providers' "
        "sandboxes (local emulators of the services, on 127.0.0.1, with their fault switches) or "
        "against `responses`. It is written by the suite itself, so it says what the code does, "
        f"not what we hope. This run: **{ok} cells green, {red} red**.",
        "",
        "✅ the guarantee holds · ❌ it does not (a known bug, named in the cell) · — does not "
        "apply",
        "",
        "## What each guarantee means",
        "",
        "- **Right result or right typed error.** Under every fault, a call returns what it would "
        "have returned without the fault, or raises an `asyncjobs.errors.AsyncJobsError` "
        "subclass that says what happened. Never a `KeyError`, `TypeError`, `AttributeError` or a "
        "bare `requests` exception. When a typed error surfaces, calling again once the service "
        "has recovered gives the right result.",
        "- **No doubled work.** A submit is repeated only where repeating it cannot start a second "
        "job (ConvertAPI, whose job id the client chooses). Elsewhere an ambiguous failure is "
        "reported, never retried: the suite counts the submit requests the service received and "
        "the jobs it created.",
        "- **No lost job.** Every job id the client ever got is in the ledger; a submission whose "
        "answer was lost is in the ledger as `unknown` (never left as `submitting` by a process "
        "that lived on), so the user knows to look before submitting again.",
        "- **No partial file.** A download that fails leaves nothing at its destination: files "
        "are written beside it and renamed into place only when complete; the folder is checked "
        "for partial files and temporary leftovers.",
        "- **Bad input fails first.** Every public entry point given a wrong type or value raises "
        "a typed error before any request (the sandbox must see no request at all).",
        "- **No secret leaks.** With logging at DEBUG, a distinctive secret (the canary) never "
        "appears in an error message or repr, a log record, a `_repr_html_`, the ledger files, "
        "the output of the `asyncjobs` command (with `--debug` and `--json` too), or "
        "OpenTelemetry's spans and metrics.",
        "",
        "## Fault matrix",
        "",
        "Each case runs once per provider: submit the provider's typical job (a ConvertAPI, a "
        "GroupDocs and a Zamzar conversion of a small text file to PDF, a CloudConvert conversion "
        "of a small .docx to PDF, a Conversio newsletter-recipients export), switch the fault on, then ask for the result (`job.result()`, called again "
        "after a typed error) and save it. Clients use fast polls and retries (`PollPolicy` and "
        "`RetryPolicy` with millisecond delays, 5 tries); the sandboxes run 1000 times faster "
        "than life. Polls are made after the job finished at the service, so that every poll "
        "fault hits an answer with a body.",
        "",
        *_table(
            "faults", [(k, v[0]) for k, v in FAULT_CASES.items()], PROVIDERS, missing="⬜ not run"
        ),
        "",
        "A typed error that surfaces on a poll (a 500, an unreadable answer) is raised by "
        "`job.result()` at once, and the job stays `pending` in the ledger: the next call gets the "
        "result. `asyncjobs.wait` and `as_completed` retry transient poll errors (`TransportError`, "
        "`RateLimitedError`) five times themselves; a 500 is not retried anywhere (only 502, 503 and "
        "504 are, as `docs/concepts.md` says).",
        "",
        "### The cases",
        "",
        *[f"- **{title}**: {how}." for title, how in FAULT_CASES.values()],
        "",
        '**What "restart" means.** All five services keep their jobs in durable storage, so a '
        "real restart (a deploy, a crash of one node) keeps them: that is *restart, state kept* "
        "(the same sandbox app, its jobs, tokens and files, served again at the same address; the "
        "client's base URL does not change). *Restart, state lost* is the disaster case: the "
        "service comes back empty. For GroupDocs that also means the old access tokens are "
        "unknown, and the stored files are gone. The new client is a new process in effect: it "
        "finds the job through the ledger (`client.job(id)`).",
        "",
        "**Job expiry.** ConvertAPI forgets a job 2 hours after it was created, Conversio a week "
        "after it finished (the sandbox clock is moved forward). GroupDocs documents no lifetime; "
        "its case removes the operation from the sandbox, as the service would once it purges it. "
        "CloudConvert deletes a job 24 hours after it ended; its sandbox has no expiry, so the case "
        "deletes the jobs, tasks and files. Zamzar states no lifetime and answers an expired job "
        "410; its sandbox has none, so the case makes its polls answer 410.",
        "",
        "**CloudConvert's two-step submit.** A CloudConvert submit creates the job, then sends the "
        "file to the upload form that the creation's answer names. When that answer is lost (cut, "
        "timed out, the process killed), the job exists and waits for a file that never comes: "
        "`client.list()` finds it `waiting`, it never ends by itself, and `client.cancel(id)` ends "
        "it before the job is submitted again. The cells say so.",
        "",
        "## Fuzzing the answers",
        "",
        "Hypothesis generates status, result, submit, token and error bodies — arbitrary JSON "
        "values, the right shape with wrong types, missing keys, huge numbers, unicode — and "
        "`responses` serves them to each adapter. Parsing them must return a valid `JobInfo` / "
        "`Result` or raise an `AsyncJobsError`, nothing else.",
        "",
        *_table("fuzz", _rows_of("fuzz"), PROVIDERS),
        "",
        "## Secret canary",
        "",
        "Each provider's secret setting (ConvertAPI's secret, GroupDocs' client secret and the "
        "access tokens it is issued, Conversio's, CloudConvert's and Zamzar's API keys, and "
        "Zamzar's key in its HTTP Basic form) is a canary, and the service echoes it "
        "back in its error messages. Then every error path is walked with logging at DEBUG; "
        "for telemetry, with OpenTelemetry's SDK recording too, every operation it reports on "
        "(submit, wait, result and downloads, cancel, retried polls, a failed job, refused "
        "submits, a webhook call received).",
        "",
        *_table("secrets", _rows_of("secrets"), PROVIDERS),
        "",
        "## Bad input",
        "",
        "Each public entry point is called with wrong types and values against a sandbox that "
        "must see no request at all.",
        "",
        *_table("input", _rows_of("input", PROVIDERS[0]), PROVIDERS),
        "",
        "The entry points that take no provider, against `responses` with nothing registered:",
        "",
        *_table("input", _rows_of("input", "core"), ("core",)),
        "",
        "## Hostile servers",
        "",
        "What a malicious or broken service, or whoever a redirect points at, can try (the "
        "adversarial review's findings, each kept fixed by the test of its row). The servers are "
        "the suite's own on 127.0.0.1: a second server on another port (another origin) that "
        "records every request, `localhost` at the sandbox's own port (another origin too), "
        "answers that drip a byte every 0.3 s, a gzip bomb, JSON nested 200,000 deep, an "
        "endless download, a real full disk (a 512 KiB tmpfs). The canary secret holds `+`, `/` "
        "and `=`, so that its URL-encoded and JSON-escaped forms differ from it.",
        "",
        *_table("hostile", _rows_of("hostile"), (*PROVIDERS, "core")),
        "",
        "**What the rules are.** A credential (whatever a provider's `auth` adds, a secret "
        "setting) goes only to the provider's credential origins (the origin of `base_url`), "
        "on every hop: the transport follows redirects itself, signs only hops at those origins, "
        "and refuses a hop to another origin that would carry a body. URLs that HTTP libraries "
        "read differently (a backslash, a user name, white space, control characters) are never "
        "sent to. Every answer read into memory is capped (`connect(max_body=...)`, 16 MiB), "
        "downloads are held to the size the provider declared, and every waiting call "
        "(`wait`, `result`, `save`, `asyncjobs.wait`, `--timeout`) ends within its timeout plus "
        "one read timeout. Service hints (`Retry-After`) are clamped to the policy's cap.",
        "",
        "**Tracebacks with locals.** A traceback rendered with the values of local variables "
        "(`traceback.TracebackException(capture_locals=True)`, `rich`'s `show_locals`, some error "
        "trackers such as Sentry with `include_local_variables`) shows whatever the frames held, "
        "and the frames of a request hold its credentials: a `HeaderAuth`'s value, the settings, "
        "a GroupDocs token. asyncjobs cannot redact what such a renderer reads directly. Turn "
        "locals off for asyncjobs' frames (Sentry: `include_local_variables=False`; rich: "
        "`show_locals=False`), or scrub with the tracker's own hook (e.g. Sentry's "
        "`before_send`) using `asyncjobs.redact_all`, which masks every live client's "
        "secrets in any text.",
        "",
        "## Attacks on the new surfaces",
        "",
        "The PostgreSQL ledger, the fleet's workers, the webhook receiver, the asyncio API and the "
        "command line, attacked on purpose: a password that URL parsers read differently, a stale "
        "look from a worker that lost its lease, a database that turns read-only, bytes a database "
        "cannot store, a replayed or forged webhook call, slow clients, control characters in "
        "what a provider says; and the routed client (`asyncjobs.connect([...])`: fallback, "
        "cooldown, `RoutingError`), `resubmit`, `asyncjobs formats`, a comma-separated PROVIDER, "
        "CloudConvert's signed webhooks and Zamzar's redirected downloads. Each row is one test, "
        "against real PostgreSQL servers, real worker processes, the providers' sandboxes on "
        "127.0.0.1 and the served receiver where the case needs them.",
        "",
        *_table("attacks", _rows_of("attacks"), ATTACK_COLUMNS),
        "",
        "## Crash during submit",
        "",
        "`asyncjobs submit` runs as a child process; the sandbox holds its submit request, and the "
        "child is killed with SIGKILL while it waits for the answer. Then the ledger is read, "
        "`asyncjobs list --all` is run, and the job is recovered where the provider allows.",
        "",
        *_table("crash", _rows_of("crash"), PROVIDERS),
        "",
        "## Red cells",
        "",
        "Each red cell is a strict expected failure (`xfail(strict=True)`) naming its bug: once the "
        "bug is fixed the test passes, the suite fails, and the mark is removed.",
        "",
        *_reds(),
        "",
    ]
    return "\n".join(lines)
