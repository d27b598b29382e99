"""The ``asyncjobs`` command: the job verbs from a shell, for scripts and for trying things out.

``asyncjobs --help`` lists the verbs; ``docs/cli.md`` documents them. Exit codes: 0 success, 1 the job
failed, 2 usage or configuration error, 3 provider or transport error, 4 timeout (130 on Ctrl-C).
The parser lives in ``_parser``, the verbs in ``_verbs``, what they print in ``_output``.
"""

from __future__ import annotations

import contextlib
import os
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
    cli_advice,
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


#: The verbs that read provider settings from the environment only (they take no --set).
_ENV_ONLY_VERBS = ("worker", "webhooks")


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
        message = cli_advice(
            " ".join(str(exc).split()) or type(exc).__name__,
            env_only=args.verb in _ENV_ONLY_VERBS,
        )
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
