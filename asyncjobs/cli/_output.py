"""What the command prints: text for people or one JSON document, always through the redactor;
tables, times and durations as people read them; the exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import IO, Any, cast

from asyncjobs import errors
from asyncjobs._ledger import LedgerEntry
from asyncjobs._models import JobInfo
from asyncjobs._redaction import Redactor, redact_all
from asyncjobs._serialize import job_record, jsonable
from asyncjobs._text import duration_text, printable

__all__ = ["duration_text"]  # re-exported by asyncjobs.cli


#: The job (or command) succeeded.
EXIT_OK = 0
#: The job failed.
EXIT_FAILED = 1
#: Usage or configuration error: bad arguments, settings, ledger, unknown provider or kind.
EXIT_USAGE = 2
#: The provider answered with an error, or no usable answer came (transport).
EXIT_PROVIDER = 3
#: The wait timed out; the job goes on at the provider.
EXIT_TIMEOUT = 4
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130

PLUGINS_ENV = "ASYNCJOBS_PLUGINS"


#: A command line that cannot be run as given (exit code 2).
UsageError = errors.InvalidParameterError


class Exit(Exception):
    """Ends the command with ``code`` after its output was printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


#: Advice the library gives in Python terms, and the same advice on the command line.
_CLI_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"pass ledger=<path>, or ledger=False to run without one"),
        "pass --ledger PATH, or --no-ledger to run without one",
    ),
    (re.compile(r"or pass ledger=False"), "or pass --no-ledger"),
    (re.compile(r"pass overwrite=True"), "pass --force"),
    (
        re.compile(r"pass (\w+)=\.\.\. to asyncjobs\.connect\(\)"),
        r"pass --set \1=... (after the provider)",
    ),
    (
        re.compile(r"pick (it|them) up later with client\.job\(job_id\)"),
        r"pick \1 up later with asyncjobs wait PROVIDER JOB_ID",
    ),
    (
        re.compile(r"or call asyncjobs\.register\(name, ProviderClass\)"),
        "or register a class with --plugin NAME=MODULE:CLASS",
    ),
)


#: The same advice for a command that reads provider settings from the environment only (``worker``,
#: ``webhooks serve``: they take no ``--set``).
_ENV_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"pass \w+=\.\.\. to asyncjobs\.connect\(\) or set the environment variable"),
        "set the environment variable",
    ),
    (
        re.compile(r"pass (\w+)=\.\.\. to asyncjobs\.connect\(\)"),
        r"this command reads settings from the environment only, and \1 has no variable",
    ),
)


def cli_advice(message: str, *, env_only: bool = False) -> str:
    """``message`` with the library's advice (keywords of ``connect``...) given as options, or, for
    a command that takes settings from the environment only, as environment variables."""
    for pattern, replacement in (*(_ENV_ADVICE if env_only else ()), *_CLI_ADVICE):
        message = pattern.sub(replacement, message)
    return message


# -- output ------------------------------------------------------------------------------------------


class Out:
    """Where a verb writes: text for people, or one JSON document for scripts."""

    def __init__(self, as_json: bool, stdout: IO[str], stderr: IO[str]) -> None:
        self.json = as_json
        self.stdout = stdout
        self.stderr = stderr
        #: the secrets given on this command line (--set, the environment), with every client's
        self.redactor = Redactor()

    def redact(self, text: str) -> str:
        """``text`` without any secret: those of this command line and of every live client."""
        return redact_all(self.redactor(text))

    def line(self, text: str = "") -> None:
        """A line of text output (ignored in JSON mode); what a service said in it cannot act on
        the terminal (see :func:`asyncjobs._text.printable`)."""
        if not self.json:
            print(printable(self.redact(text)), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        """A line for people on stderr (both modes), made printable as :meth:`line` is."""
        print(printable(self.redact(text)), file=self.stderr, flush=True)

    def doc(self, value: Any) -> None:
        """The JSON document of the verb (ignored in text mode)."""
        if self.json:
            text = json.dumps(value, indent=2, default=json_default, sort_keys=False)
            print(self.redact(text), file=self.stdout, flush=True)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def info_doc(
    info: JobInfo, entry: LedgerEntry | None = None, lifetime: timedelta | None = None
) -> dict[str, Any]:
    """A job's ``--json`` document: the one record (see ``asyncjobs._serialize.job_record``)."""
    expires = entry.expires_at(lifetime) if entry is not None else None
    record = job_record(info.provider, info.id, info.kind, info, expires_at=expires)
    return cast(dict[str, Any], jsonable(record))
