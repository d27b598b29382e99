"""The log of the long-running commands (``worker``, ``webhooks serve``, ``dashboard``): their work
at INFO on stderr, ``-v`` for asyncjobs' DEBUG records, ``-v -v`` for every library's (urllib3,
waitress), ``--log-level LEVEL`` to choose asyncjobs' level outright.

Every line passes through the command's redactor whole (message, traceback, any library's record):
``-v -v`` turns on urllib3's DEBUG records, whose request lines carry URLs, and those URLs may carry
a webhook token or a secret in a query string.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable
from typing import IO

from ._output import Out, UsageError, cli_advice

__all__ = ["LEVELS", "add_log_options", "start_logging"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: A query string's values in a request line (``?Secret=...&Token=...``): masked whatever their name.
_QUERY_VALUE = re.compile(r"([?&][^=\s&\"'?#]+=)[^&\s\"'#]+")


def mask_query_values(text: str) -> str:
    """``text`` with the value of every query parameter of a URL in it masked (``?a=***&b=***``)."""
    return _QUERY_VALUE.sub(r"\1***", text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line (the message, its traceback, a library's record) is redacted by
    ``redact`` and shown without query values, its advice in the command line's terms."""

    def __init__(self, redact: Callable[[str], str], fmt: str, *, env_only: bool = False) -> None:
        super().__init__(fmt)
        self._redact = redact
        self._env_only = env_only

    def format(self, record: logging.LogRecord) -> str:
        text = self._redact(mask_query_values(super().format(record)))
        return cli_advice(text, env_only=self._env_only)


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``-v``/``--verbose`` (repeatable) and ``--log-level`` on a long-running command."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v asyncjobs' DEBUG records, -v -v every library's too (urllib3, waitress)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=None,
        metavar="LEVEL",
        help="asyncjobs' log level: DEBUG, INFO (the default), WARNING, ERROR or CRITICAL",
    )


def start_logging(
    args: argparse.Namespace, out: Out, stream: IO[str] | None = None, *, env_only: bool = False
) -> None:
    """Log to stderr as ``args`` asks: asyncjobs' loggers at ``--log-level`` (INFO; DEBUG with
    ``-v``), other libraries' at WARNING (DEBUG with ``-v -v``). ``env_only``: the command reads
    provider settings from the environment only, and its advice says so."""
    verbose = int(getattr(args, "verbose", 0) or 0)
    level = getattr(args, "log_level", None) or ("DEBUG" if verbose else "INFO")
    if level not in LEVELS:  # pragma: no cover - argparse's choices keep it out
        raise UsageError(f"--log-level must be one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        RedactingFormatter(
            out.redact, "%(asctime)s %(levelname)s %(name)s: %(message)s", env_only=env_only
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    logging.getLogger("asyncjobs").setLevel(level)
