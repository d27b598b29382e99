"""The ``asyncjobs`` command: the job verbs from a shell, for scripts and for trying things out.

``asyncjobs --help`` lists the verbs; ``docs/cli.md`` documents them. Exit codes: 0 success, 1 the job
failed, 2 usage or configuration error, 3 provider or transport error, 4 timeout (130 on Ctrl-C).
The parser lives in ``_parser``, the verbs in ``_verbs``, what they print in ``_output``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import traceback
from collections.abc import Sequence

from asyncjobs import errors

from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROVIDER,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    PLUGINS_ENV,
    Exit,
    Out,
    duration_text,
)
from ._parser import build_parser
from ._verbs import load_plugins

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PROVIDER",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "build_parser",
    "duration_text",
    "main",
]


# -- main ------------------------------------------------------------------------------------------


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, errors.JobFailedError):
        return EXIT_FAILED
    if isinstance(exc, errors.JobTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(exc, errors.ProviderError):
        return EXIT_PROVIDER
    if isinstance(exc, errors.AsyncJobsError):  # configuration, parameters, not supported, usage
        return EXIT_USAGE
    return EXIT_PROVIDER


#: Advice the library gives in Python terms, and the same advice on the command line.
_CLI_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"pass ledger=<path>, or ledger=False to run without one"),
        "pass --ledger PATH, or --no-ledger to run without one",
    ),
    (re.compile(r"or pass ledger=False"), "or pass --no-ledger"),
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


def _cli_advice(message: str) -> str:
    """``message`` with the library's advice (keywords of ``connect``...) given as options."""
    for pattern, replacement in _CLI_ADVICE:
        message = pattern.sub(replacement, message)
    return message


def _misplaced_options(argv: Sequence[str]) -> str | None:
    """A hint when an option of the provider verbs (``--set``) comes before the verb."""
    for arg in argv:
        if arg in _VERBS:
            return None
        if arg == "--set" or arg.startswith("--set="):
            return (
                "--set goes after the verb and the provider, e.g. asyncjobs submit PROVIDER KIND "
                "KEY=VALUE --set SETTING=VALUE"
            )
    return None


_VERBS = (
    "providers",
    "submit",
    "status",
    "wait",
    "result",
    "cancel",
    "list",
    "resubmit",
    "formats",
    "usage",
    "sandbox",
    "demo",
    "worker",
    "webhooks",
    "dashboard",
)


def _quiet_closed_pipe() -> None:
    """The reader of stdout went away (``asyncjobs list | head``): end quietly, with nothing more
    written to the closed pipe, not even at interpreter exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``asyncjobs`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    hint = _misplaced_options(argv)
    if hint is not None:
        parser.print_usage(sys.stderr)
        print(f"asyncjobs: error: {hint}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    out = Out(bool(args.json), sys.stdout, sys.stderr)
    try:
        load_plugins(os.environ.get(PLUGINS_ENV, "").split(",") + list(args.plugin or []))
        code: int = args.func(args, out)
        return code
    except Exit as done:
        return done.code
    except BrokenPipeError:
        _quiet_closed_pipe()
        return EXIT_OK
    except KeyboardInterrupt:
        out.note("asyncjobs: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        code = _exit_code(exc)
        if args.debug:
            out.note(out.redact("".join(traceback.format_exception(exc)).rstrip()))
        message = _cli_advice(" ".join(str(exc).split()) or type(exc).__name__)
        if not isinstance(exc, errors.AsyncJobsError):
            message = f"unexpected {type(exc).__name__}: {message} (run with --debug for details)"
        out.note(f"asyncjobs: error: {message}")
        out.doc(
            {
                "error": {
                    "type": type(exc).__name__,
                    "message": out.redact(message),
                    "exit_code": code,
                }
            }
        )
        return code
