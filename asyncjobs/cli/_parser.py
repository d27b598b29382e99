"""The command's parser: every verb with its options, and the common options."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asyncjobs._checks import MAX_SECONDS
from asyncjobs._models import Status
from asyncjobs._version import __version__

if TYPE_CHECKING:
    pass
from ._logs import add_log_options
from ._output import (
    PLUGINS_ENV,
    Out,
)
from ._verbs import (
    cmd_cancel,
    cmd_dashboard,
    cmd_demo,
    cmd_formats,
    cmd_list,
    cmd_providers,
    cmd_resubmit,
    cmd_result,
    cmd_sandbox,
    cmd_status,
    cmd_submit,
    cmd_usage,
    cmd_wait,
    cmd_webhooks,
    cmd_worker,
    parse_limit,
    parse_since,
)

# -- the parser --------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every verb takes, before or after the verb (the verb's copy leaves unset ones alone)."""
    default: Any = None if top else argparse.SUPPRESS
    flag: Any = False if top else argparse.SUPPRESS
    parser.add_argument(
        "--json",
        action="store_true",
        default=flag,
        help="print one JSON document on stdout, for scripts",
    )
    parser.add_argument(
        "--debug", action="store_true", default=flag, help="show the traceback of an error"
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=default,
        metavar="NAME=MODULE:CLASS",
        help=f"register a provider class (also ${PLUGINS_ENV}, comma-separated)",
    )
    parser.add_argument(
        "--ledger",
        default=default,
        metavar="PATH|URL",
        help="the ledger: a SQLite file, or a postgresql:// URL shared by many machines (default:"
        " $ASYNCJOBS_LEDGER, else $ASYNCJOBS_HOME/ledger.sqlite3)",
    )
    parser.add_argument(
        "--no-ledger", action="store_true", default=flag, help="do not record jobs in the ledger"
    )
    parser.add_argument(
        "--budget",
        default=default,
        metavar="RATE",
        help="the provider account's request budget, e.g. 20/s, 600/min, or 20/s,4 for at most 4"
        " at once, shared through the ledger (default: $<PROVIDER>_BUDGET, else the rate the"
        " service publishes; none to send unpaced)",
    )


def _provider_args(parser: argparse.ArgumentParser, *, job: bool = True) -> None:
    parser.add_argument(
        "provider",
        metavar="PROVIDER",
        help="a provider, or several comma-separated (submit: in order of preference, falling "
        "back; a job verb: the one the ledger has the job under)",
    )
    if job:
        parser.add_argument("job_id", metavar="JOB_ID")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a provider setting (else from its environment variable)",
    )


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]"), int(port)


def _seconds(text: str, *, no_limit: str = "") -> float:
    """A number of seconds on the command line: more than zero, finite, at most ``MAX_SECONDS``;
    one message for every way it can be wrong (``-5``, ``abc``, ``1e309``, ``99999999999999``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_SECONDS:  # NaN fails too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from more than 0 to {MAX_SECONDS:,.0f} (about 115 "
            f"days){no_limit}"
        )
    return value


def _timeout(text: str) -> float:
    """``--timeout``: seconds; leaving the option out means no limit."""
    return _seconds(text, no_limit="; leave --timeout out for no limit")


def _scale(text: str) -> float:
    """``--scale``: a positive factor."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a factor from more than 0 to {MAX_SECONDS:,.0f}"
        )
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``asyncjobs`` command."""
    parser = argparse.ArgumentParser(
        prog="asyncjobs",
        description="Submit, watch and collect async jobs of REST APIs (ConvertAPI, GroupDocs, "
        "Conversio and plugins).",
        epilog="exit codes: 0 success, 1 job failed, 2 usage or configuration error, 3 provider or "
        "transport error, 4 timeout",
    )
    parser.add_argument("--version", action="version", version=f"asyncjobs {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(
        name: str, func: Callable[[argparse.Namespace, Out], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _common(p, top=False)
        p.set_defaults(func=func)
        return p

    verb(
        "providers",
        cmd_providers,
        "list the installed providers, their kinds, capabilities and settings",
    )
    p = verb("submit", cmd_submit, "submit a job; prints its id")
    _provider_args(p, job=False)
    p.add_argument("kind", metavar="KIND")
    p.add_argument(
        "params",
        nargs="*",
        metavar="KEY=VALUE",
        help="job parameters (KEY:=JSON for numbers, lists...); for convert: "
        "source=PATH|URL to=pdf [from=docx]",
    )
    p.add_argument("--webhook", metavar="URL", help="a URL the provider calls when the job ends")
    p = verb(
        "resubmit",
        cmd_resubmit,
        "run a failed or lost job again, from the source the ledger kept; prints the new id",
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument(
        "--provider",
        dest="to",
        metavar="P",
        help="run it at this provider (settings from its environment; default: its own)",
    )
    p.add_argument(
        "--of", metavar="PROVIDER", help="whose job it is, when the ledger has the id at several"
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a provider setting")
    p = verb("formats", cmd_formats, "which installed providers convert what")
    p.add_argument("--from", dest="from_", metavar="FORMAT", help="only from this format")
    p.add_argument("--to", metavar="FORMAT", help="only to this format")
    p = verb("usage", cmd_usage, "what the ledger's jobs cost, summed per unit")
    p.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="only jobs submitted since WHEN: an ISO time or an age (30m, 2h, 7d)",
    )
    p.add_argument(
        "--by", choices=["provider", "kind", "day"], default="provider", help="group by (provider)"
    )
    p = verb("status", cmd_status, "one look at a job")
    _provider_args(p)
    p = verb("wait", cmd_wait, "wait until a job finishes (progress bar on a terminal)")
    _provider_args(p)
    p.add_argument("--timeout", type=_timeout, metavar="SECONDS", help="give up after (exit 4)")
    p = verb("result", cmd_result, "wait for a job, then save its result files")
    _provider_args(p)
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder (default: .)")
    p.add_argument("--timeout", type=_timeout, metavar="SECONDS", help="give up after (exit 4)")
    p.add_argument(
        "--force", action="store_true", help="replace files already in the folder (default: refuse)"
    )
    p = verb("cancel", cmd_cancel, "cancel a job")
    _provider_args(p)
    p = verb(
        "list", cmd_list, "a table of jobs (one provider's, or every provider's in the ledger)"
    )
    p.add_argument("provider", nargs="?", metavar="PROVIDER")
    p.add_argument("--status", choices=[s.value for s in Status])
    p.add_argument("--kind")
    p.add_argument(
        "--expired",
        action="store_true",
        default=None,
        help="only jobs past their provider's job lifetime",
    )
    p.add_argument("--live", dest="expired", action="store_false", help="only jobs not yet expired")
    p.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="only jobs submitted since WHEN: an ISO time (UTC unless it says) or an age (30m, 2h, 7d)",
    )
    p.add_argument(
        "--limit",
        type=parse_limit,
        metavar="N",
        help="only the N most recent jobs (shown oldest first)",
    )
    p.add_argument(
        "--local", action="store_true", help="the ledger only; ask no service (no settings needed)"
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="also submissions that got no job id (rejected, or outcome unknown)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a provider setting")
    p = verb(
        "sandbox",
        cmd_sandbox,
        "serve the installed providers' sandboxes on 127.0.0.1 and "
        "print their settings as environment variables, until Ctrl-C",
    )
    p.add_argument("providers", nargs="*", metavar="PROVIDER", help="default: every installed one")
    p.add_argument(
        "--scale",
        type=_scale,
        default=1.0,
        help="sandbox time runs this many times faster (default 1)",
    )
    p.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="N",
        help="the first sandbox listens on port N, the next on N+1... (in the order of the "
        "providers), so that the printed settings stay the same from start to start (default: "
        "free ports)",
    )
    p = verb(
        "worker",
        cmd_worker,
        "poll every pending job of a shared (PostgreSQL) ledger until SIGTERM or Ctrl-C",
    )
    p.add_argument(
        "--provider",
        action="append",
        metavar="NAME",
        help="poll only this provider's jobs (comma-separated or repeated for more; default: "
        "every installed one)",
    )
    p.add_argument(
        "--concurrency", type=_positive, default=8, metavar="N", help="polls in flight at most (8)"
    )
    p.add_argument(
        "--max-jobs", type=_positive, default=2000, metavar="N", help="jobs held at once (2000)"
    )
    p.add_argument(
        "--lease-seconds",
        type=_seconds,
        default=None,
        metavar="S",
        help="how long a lease outlives a killed worker ($ASYNCJOBS_LEASE_SECONDS, else 30)",
    )
    add_log_options(p)
    p = verb(
        "webhooks",
        cmd_webhooks,
        "serve the webhook receiver (asyncjobs webhooks serve --listen HOST:PORT --public-url "
        "URL); the key comes from $ASYNCJOBS_WEBHOOK_KEY, credentials from the providers' "
        "variables",
    )
    p.add_argument("action", choices=["serve"], metavar="serve")
    p.add_argument(
        "--listen",
        required=True,
        type=_listen,
        metavar="HOST:PORT",
        help="where to listen, e.g. 127.0.0.1:8080 behind a proxy (port 0: any free port)",
    )
    p.add_argument(
        "--public-url",
        required=True,
        metavar="URL",
        help="the URL the services call, as they see it (the proxy's), e.g. "
        "https://hooks.example.com/asyncjobs",
    )
    p.add_argument(
        "--provider",
        action="append",
        dest="providers",
        metavar="NAME",
        help="confirm calls for this provider only (comma-separated or repeatable; default: every "
        "installed provider with webhooks whose settings are set)",
    )
    p.add_argument("--threads", type=_positive, default=4, metavar="N", help="server threads (4)")
    add_log_options(p)
    p = verb(
        "dashboard",
        cmd_dashboard,
        "serve the web dashboard of the ledger (jobs, providers, the fleet); read-only without "
        "a token",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument(
        "--port",
        type=_port,
        default=8750,
        metavar="N",
        help="port to listen on (8750; 0: any free)",
    )
    p.add_argument(
        "--token",
        default=None,
        metavar="T",
        help="who holds it may cancel and resubmit jobs ($ASYNCJOBS_DASHBOARD_TOKEN; at least 16 "
        "characters); required to listen beyond loopback",
    )
    p.add_argument("--threads", type=_positive, default=4, metavar="N", help="server threads (4)")
    add_log_options(p)
    p = verb(
        "demo",
        cmd_demo,
        "convert a document on ConvertAPI and GroupDocs and export a "
        "Conversio list, all on local sandboxes",
    )
    p.add_argument(
        "-o",
        "--output",
        default="asyncjobs-demo",
        metavar="DIR",
        help="folder for the results (default: ./asyncjobs-demo)",
    )
    p.add_argument(
        "--scale",
        type=_scale,
        default=300.0,
        help="sandbox time runs this many times faster (default 300)",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="give up after (default 60)",
    )
    return parser
