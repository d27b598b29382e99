"""The verbs of the command: one function each, taking the parsed arguments and the output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from asyncjobs import _telemetry, errors
from asyncjobs._budget import Budget
from asyncjobs._catalog import declared, formats
from asyncjobs._client import Client, connect
from asyncjobs._formats import is_format_name
from asyncjobs._job import Job
from asyncjobs._ledger import Ledger, LedgerEntry, SubmitState, default_home
from asyncjobs._models import JobInfo, Status
from asyncjobs._poll import timed_out
from asyncjobs._redaction import MASK, get_logger
from asyncjobs._registry import available_providers, get_provider_class, register
from asyncjobs._results import Result
from asyncjobs._routing import Router, provider_names
from asyncjobs._routing import connect as route
from asyncjobs._serialize import job_record, jsonable
from asyncjobs._text import FIRST_COLUMNS, job_cells, printable, text_table
from asyncjobs.provider import Provider

if TYPE_CHECKING:
    from asyncjobs.sandbox import ProviderSandbox
from ._logs import start_logging
from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PLUGINS_ENV,
    Exit,
    Out,
    UsageError,
    cli_advice,
    duration_text,
    info_doc,
    json_default,
)

# -- plugins, settings, clients ----------------------------------------------------------------------


def load_plugins(specs: Sequence[str]) -> None:
    """Register ``name=module:Class`` specs (from ``$ASYNCJOBS_PLUGINS`` and ``--plugin``)."""
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        name, sep, target = spec.partition("=")
        if not sep or ":" not in target:
            raise UsageError(
                f"plugin {spec!r} must be NAME=package.module:Class (from --plugin or {PLUGINS_ENV})"
            )
        register(name.strip(), target.strip(), replace=True)


def _pairs(items: Sequence[str], what: str) -> dict[str, Any]:
    """``key=value`` (a string) or ``key:=json`` (a JSON value) items as a dict."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} must be key=value (or key:=JSON)")
        if key.endswith(":"):
            key = key[:-1]
            try:
                out[key] = json.loads(value)
            except ValueError:
                raise UsageError(f"{what} {key!r}: {value!r} is not JSON") from None
        else:
            out[key] = value
    return out


def _secret_values(cls: type[Provider], given: Mapping[str, Any]) -> list[str]:
    values = []
    for s in cls.settings:
        if s.secret:
            for v in (given.get(s.name), os.environ.get(s.env) if s.env else None):
                if v:
                    values.append(str(v))
    return values


def _ledger_arg(args: argparse.Namespace) -> Ledger | bool | None:
    if args.no_ledger:
        return False
    if args.ledger:
        return Ledger(args.ledger)
    return None


def _listed(values: Sequence[str] | None, option: str) -> list[str]:
    """Provider names given to a repeatable option, each value comma-separated or not
    (``--provider a,b --provider c``), in order, without repeats."""
    names: list[str] = []
    for value in values or ():
        for name in provider_names(value, parameter=option):
            if name not in names:
                names.append(name)
    return names


def _names(args: argparse.Namespace) -> list[str]:
    """The PROVIDER argument: one name, or several comma-separated (each checked)."""
    names = provider_names(args.provider, parameter="PROVIDER")
    for name in names:
        get_provider_class(name)  # an unknown name is a usage error
    return names


def _client(args: argparse.Namespace, out: Out, name: str | None = None) -> Client:
    """A client of one provider: ``name``; else PROVIDER, or for a comma-separated list and a
    JOB_ID, the provider of the list the ledger has the job under."""
    if name is None:
        names = _names(args)
        name = names[0] if len(names) == 1 else _owner(args, names)
    cls = get_provider_class(name)
    settings = _pairs(args.set or [], "--set")
    for secret in _secret_values(cls, settings):
        out.redactor.add(secret)
    client = connect(name, ledger=_ledger_arg(args), budget=_budget_arg(args), **settings)
    # a refused connection (the sandbox or service not running) is said at once, not after
    # seconds of retries; other transport errors are retried as in the library
    client.provider.transport.retry_refused = False
    return client


def _budget_arg(args: argparse.Namespace) -> Budget | bool | None:
    """``--budget``: a budget, ``False`` for ``none``, ``None`` when not given.

    Raises:
        UsageError: not a rate.
    """
    text = getattr(args, "budget", None)
    if text is None:
        return None
    if text.strip().lower() in ("none", "off"):
        return False
    try:
        return Budget.parse(text, where="--budget")
    except errors.InvalidParameterError as exc:
        raise UsageError(exc.message, parameter="--budget") from exc


def _owner(args: argparse.Namespace, names: Sequence[str]) -> str:
    """Which of ``names`` the ledger has ``args.job_id`` under."""
    job_id = getattr(args, "job_id", None)
    if job_id is None:
        raise UsageError(
            f"asyncjobs {args.verb} takes one PROVIDER, not a list", parameter="PROVIDER"
        )
    with _open_ledger(args) as ledger:
        known = sorted({e.provider for e in ledger.find(job_id) if e.provider in names})
    if len(known) != 1:
        why = f"under {', '.join(known)}" if known else "under none of them"
        raise UsageError(
            f"the ledger has job {job_id!r} {why}; name its provider: asyncjobs {args.verb} "
            f"PROVIDER {job_id}",
            parameter="PROVIDER",
            job_id=job_id,
        )
    return known[0]


def _submitter(args: argparse.Namespace, out: Out) -> Client | Router:
    """A client of PROVIDER, or a routed client of the comma-separated list (each provider's
    settings from its environment variables)."""
    names = _names(args)
    if len(names) == 1:
        return _client(args, out, names[0])
    if args.set:
        raise UsageError(
            "--set gives one provider's settings; with a list of providers, each reads its "
            "settings from its environment variables",
            parameter="--set",
        )
    if getattr(args, "budget", None) is not None:
        raise UsageError(
            "--budget is one provider account's; with a list of providers, set each one's "
            "<PROVIDER>_BUDGET (e.g. CONVERTAPI_BUDGET=20/s)",
            parameter="--budget",
        )
    members: list[str | Client] = list(names)
    return route(members, ledger=_ledger_arg(args))


def _open_ledger(args: argparse.Namespace) -> Ledger:
    """The ledger to read; one that cannot be opened for writing (a read-only folder) is opened
    read-only, since reading is all this needs."""
    if args.no_ledger:
        raise UsageError("this verb reads the ledger; drop --no-ledger")
    target = args.ledger or os.environ.get("ASYNCJOBS_LEDGER") or None
    try:
        return Ledger.open(target)
    except errors.ConfigurationError as exc:
        if target is not None and Ledger.is_url(target):
            raise
        path = Path(target) if target else default_home() / "ledger.sqlite3"
        if not path.is_file():
            raise
        try:
            return Ledger(path, read_only=True)
        except errors.ConfigurationError:
            raise exc from None


def _lifetime(provider: str) -> timedelta | None:
    try:
        return get_provider_class(provider).capabilities.job_lifetime
    except errors.AsyncJobsError:  # a provider uninstalled since: no lifetime known
        return None


def _explain_missing(
    client: Client, job_id: str, verb: str, exc: errors.JobNotFoundError
) -> NoReturn:
    """Re-raise a JobNotFoundError with what the ledger knows: another provider's job, or none."""
    ledger = client.ledger
    if ledger is not None:
        entry = ledger.get(client.name, job_id)  # (an expired job: the client says so already)
        others = sorted({e.provider for e in ledger.find(job_id) if e.provider != client.name})
        if entry is None and others:
            raise UsageError(
                f"job {job_id!r} is not a job of {client.name}: the ledger has it under "
                f"{', '.join(others)}. Try: asyncjobs {verb} {others[0]} {job_id}",
                provider=client.name,
                job_id=job_id,
            ) from exc
        if entry is None:
            raise errors.JobNotFoundError(
                f"{exc} The ledger has no record of job {job_id!r} either: check the id and the "
                "provider.",
                provider=client.name,
                job_id=job_id,
                status_code=exc.status_code,
            ) from exc
    raise exc


@contextlib.contextmanager
def _about(client: Client, args: argparse.Namespace) -> Iterator[None]:
    """Explain a JobNotFoundError about ``args.job_id`` with what the ledger knows."""
    try:
        yield
    except errors.JobNotFoundError as exc:
        _explain_missing(client, args.job_id, args.verb, exc)


# -- the verbs ---------------------------------------------------------------------------------------


def cmd_providers(args: argparse.Namespace, out: Out) -> int:
    """Installed providers: kinds, capabilities and settings (secret values masked), and each one's
    request budget: the one in use and what its requests waited (from the ledger)."""
    docs: list[dict[str, Any]] = []
    uses = _budget_uses(args)
    given = _budget_arg(args)
    for name in available_providers():
        try:
            cls = get_provider_class(name)
        except errors.AsyncJobsError as exc:
            docs.append({"name": name, "error": str(exc)})
            out.line(f"{name}: cannot load: {exc}")
            continue
        caps = cls.capabilities
        settings = []
        for s in cls.settings:
            value = os.environ.get(s.env) if s.env else None
            shown = (MASK if s.secret else value) if value else None
            settings.append(
                {
                    "name": s.name,
                    "env": s.env,
                    "required": s.required,
                    "secret": s.secret,
                    "default": s.default,
                    "choices": list(s.choices),
                    "doc": s.doc,
                    "value": shown,
                }
            )
        kinds: list[dict[str, Any]] = [
            {
                "name": k.name,
                "doc": k.doc,
                "extra": k.extra,
                "params": [
                    {"name": p.name, "required": p.required, "doc": p.doc} for p in k.params
                ],
            }
            for k in cls.kinds
        ]
        capabilities = {
            "cancel": caps.cancel,
            "list": caps.list,
            "webhooks": caps.webhooks,
            "idempotent_submit": caps.idempotent_submit,
            "job_lifetime": None
            if caps.job_lifetime is None
            else caps.job_lifetime.total_seconds(),
            "cost_unit": caps.cost_unit,
        }
        table = cls.formats()
        formats_doc = (
            None
            if table is None
            else {"conversions": len(table), "complete": table.complete, "source": table.source}
        )
        budget = _budget_doc(name, cls, given, uses)
        docs.append(
            {
                "name": name,
                "kinds": kinds,
                "capabilities": capabilities,
                "settings": settings,
                "sandbox": cls.sandbox is not None,
                "formats": formats_doc,
                "budget": budget,
            }
        )
        out.line(f"{name}")
        flags = [c for c in ("cancel", "list", "webhooks") if capabilities[c]]
        out.line(
            f"  can: {', '.join(flags) or 'submit, status and result only'}; jobs live "
            f"{duration_text(caps.job_lifetime) if caps.job_lifetime else 'unknown'}; "
            f"sandbox: {'yes' if cls.sandbox else 'no'}; cost in "
            f"{caps.cost_unit or 'nothing (the service does not say)'}"
        )
        out.line(f"  budget: {_budget_text(budget)}")
        if table is not None:
            whole = "its vendor's whole list" if table.complete else "a part of its vendor's list"
            out.line(f"  formats: {len(table)} conversions, {whole} (asyncjobs formats)")
        for k in kinds:
            params = ", ".join(p["name"] + ("" if p["required"] else "?") for p in k["params"])
            out.line(f"  kind {k['name']}({params}{', ...' if k['extra'] else ''}): {k['doc']}")
        for st in settings:
            where = f"${st['env']}" if st["env"] else "--set only"
            state = (
                "set"
                if st["value"]
                else (
                    "default " + repr(st["default"])
                    if st["default"]
                    else ("REQUIRED, not set" if st["required"] else "not set")
                )
            )
            shown = f" = {st['value']}" if st["value"] else ""
            out.line(
                f"  setting {st['name']} ({where}{', secret' if st['secret'] else ''})"
                f"{shown} [{state}]"
            )
    if not docs:
        out.line(
            "no providers installed (from a checkout of the asyncjobs repository: "
            "pip install -e ./providers/convertapi, ...)"
        )
    out.doc({"providers": docs})
    return EXIT_OK


def _budget_uses(args: argparse.Namespace) -> list[Any]:
    """The budgets the ledger paces (none when there is no ledger to read, or it fails)."""
    if args.no_ledger:
        return []
    target = args.ledger or os.environ.get("ASYNCJOBS_LEDGER") or None
    if target is None and not (default_home() / "ledger.sqlite3").is_file():
        return []
    try:
        with Ledger.open(target, read_only=True) as ledger:
            return ledger.budgets()
    except errors.AsyncJobsError:
        return []


def _budget_doc(
    name: str, cls: type[Provider], given: Budget | bool | None, uses: list[Any]
) -> dict[str, Any]:
    """A provider's request budget as ``providers`` shows it: the one a client would keep (with
    its source; ``given``: ``--budget``) and, per account the ledger paces, requests let through
    and time waited."""
    variable = f"{name.upper()}_BUDGET"
    rate: str | None
    if given is not None:
        rate, source = (str(given) if given else None), "--budget"
    elif os.environ.get(variable, "").strip():
        rate, source = os.environ[variable].strip(), f"${variable}"
    elif cls.capabilities.budget is not None:
        rate, source = str(cls.capabilities.budget), "published by the service"
    else:
        rate, source = None, None
    accounts = [
        {"requests": u.taken, "waited": round(u.waited, 3), "rate": u.rate,
         "paused_until": None if u.paused_until is None else u.paused_until.isoformat()}
        for u in uses
        if u.key.split(" ", 1)[0] == name
    ]  # fmt: skip
    return {"rate": rate, "source": source, "accounts": accounts}


def _budget_text(doc: Mapping[str, Any]) -> str:
    if doc["rate"] is None or doc["rate"].lower() in ("none", "off", "0"):
        head = "none (requests go unpaced; --budget or $<PROVIDER>_BUDGET sets one)"
    else:
        head = f"{doc['rate']} ({doc['source']})"
    for n, account in enumerate(doc["accounts"], 1):
        head += (
            f"; account {n}: {account['requests']} requests, waited {account['waited']:g}s in all"
        )
    return head


def cmd_submit(args: argparse.Namespace, out: Out) -> int:
    """Submit a job and print its id."""
    params = _pairs(args.params, "parameter")
    if "from" in params:
        params["from_"] = params.pop("from")
    with _submitter(args, out) as client:
        job = client.submit(args.kind, webhook=args.webhook, **params)
        info = job.info
        assert info is not None
        out.line(f"{info.id}")
        out.note(
            f"submitted {info.kind} job {info.id} at {job.provider}: {info.status.value}"
            f" ({info.raw_status})"
        )
        out.doc(info_doc(info))
    return EXIT_OK


def cmd_resubmit(args: argparse.Namespace, out: Out) -> int:
    """Run a failed or lost job again, from the source the ledger kept; print the new job's id."""
    with _open_ledger(args) as ledger:
        known = sorted({e.provider for e in ledger.find(args.job_id)})
    if args.of is not None:
        known = [n for n in known if n == args.of]
    if len(known) != 1:
        why = f"under {', '.join(known)}" if known else "nowhere"
        raise UsageError(
            f"the ledger has job {args.job_id!r} {why}"
            + ("; say whose it is with --of PROVIDER" if known else "; check the id and --ledger"),
            parameter="--of" if known else "JOB_ID",
            job_id=args.job_id,
        )
    with _client(args, out, known[0]) as client:
        job = client.resubmit(args.job_id, provider=args.to)
        info = job.info
        assert info is not None
        out.line(info.id)
        out.note(
            f"resubmitted {known[0]} job {args.job_id} as {info.kind} job {info.id} at "
            f"{job.provider}: {info.status.value}"
        )
        out.doc({**info_doc(info), "resubmits": {"provider": known[0], "id": args.job_id}})
    return EXIT_OK


def cmd_formats(args: argparse.Namespace, out: Out) -> int:
    """Which installed providers convert what, from each one's declared format list."""
    for option, value in (("--from", args.from_), ("--to", args.to)):
        if value is not None and not is_format_name(value):
            raise UsageError(
                f"{option} must be a format name such as 'pdf', not {value!r}", parameter=option
            )
    found = formats(args.from_, args.to)
    partial = sorted(n for n, t in declared().items() if not t.complete)
    doc = {
        "conversions": [
            {"from": c.source, "to": c.target, "providers": list(c.providers)} for c in found
        ],
        "partial_lists": partial,
    }
    if not found:
        out.line("no installed provider lists that conversion")
    else:
        rows = [["from", "to", "providers"]]
        rows += [[c.source, c.target, ", ".join(c.providers)] for c in found]
        out.line(text_table(rows))
    if partial:
        out.note(
            f"the lists of {', '.join(partial)} are a part of their vendors' (they may convert more)"
        )
    out.doc(doc)
    return EXIT_OK


def cmd_usage(args: argparse.Namespace, out: Out) -> int:
    """What the jobs in the ledger cost, summed per unit, by provider, kind or day."""
    with _open_ledger(args) as ledger:
        rows = ledger.usage(since=args.since, by=args.by)
    doc = {
        "by": args.by,
        "since": args.since.isoformat() if args.since else None,
        "usage": [attrs.asdict(r) for r in rows],
    }
    if not rows:
        out.line("no jobs")
    else:
        table = [[args.by, "amount", "unit", "jobs"]]
        for r in rows:
            amount = "" if r.amount is None else f"{r.amount:g}"
            table.append([printable(r.group), amount, r.unit or "(not known)", str(r.jobs)])
        out.line(text_table(table))
    out.doc(doc)
    return EXIT_OK


def _status_code(info: JobInfo) -> int:
    return EXIT_FAILED if info.status is Status.FAILED else EXIT_OK


def _show_info(out: Out, client: Client, info: JobInfo) -> None:
    entry = client.ledger.get(client.name, info.id) if client.ledger is not None else None
    doc = info_doc(info, entry, client.provider.capabilities.job_lifetime)
    out.line(f"{info.provider} {info.id} {info.kind}: {info.status.value} ({info.raw_status})")
    for key in ("submitted_at", "started_at", "completed_at", "expires_at"):
        if doc[key]:
            out.line(f"  {key.replace('_', ' ')}: {doc[key]}")
    if info.error:
        out.line(f"  error: {info.error}")
    out.doc(doc)


def cmd_status(args: argparse.Namespace, out: Out) -> int:
    """One look at the job."""
    with _client(args, out) as client, _about(client, args):
        info = client.status(args.job_id)
        _show_info(out, client, info)
        return _status_code(info)


@contextlib.contextmanager
def _resumable(args: argparse.Namespace, out: Out) -> Iterator[None]:
    """A wait that ends early (a timeout, Ctrl-C) says that the job goes on, and how to resume it."""
    resume = f"asyncjobs {args.verb} {args.provider} {args.job_id}"
    if args.verb == "result" and args.output != ".":
        resume += f" -o {shlex.quote(args.output)}"
    try:
        yield
    except errors.JobTimeoutError as exc:
        again = f"`{resume}` picks it up again"
        limit = args.timeout or 0
        raise timed_out(args.provider, args.job_id, limit, exc.info, again=again) from exc
    except KeyboardInterrupt:
        out.note(
            f"asyncjobs: interrupted; job {args.job_id} goes on at {args.provider}: `{resume}` "
            "picks it up again."
        )
        raise Exit(EXIT_INTERRUPTED) from None


def cmd_wait(args: argparse.Namespace, out: Out) -> int:
    """Wait for the job to finish, with a progress bar on a terminal."""
    with _client(args, out) as client, _about(client, args), _resumable(args, out):
        job = client.job(args.job_id)
        info = job.wait(timeout=args.timeout, progress=False if out.json else None)
        _show_info(out, client, info)
        return _status_code(info)


def _save(result: Result, dest: Path, *, overwrite: bool = False) -> list[Path]:
    try:
        return result.save(dest, overwrite=overwrite)
    except errors.SaveError:
        raise  # says what to do (--force for a file that is there)
    except OSError as exc:
        raise UsageError(
            f"cannot write the result into {str(dest)!r}: {exc.strerror or exc}"
        ) from exc


def cmd_result(args: argparse.Namespace, out: Out) -> int:
    """Wait for the job, then save its files into a folder."""
    with _client(args, out) as client, _about(client, args), _resumable(args, out):
        job = client.job(args.job_id)
        if not out.json:  # the bar; result() then finds the job finished
            job.wait(timeout=args.timeout, progress=None)
        result = job.result(timeout=args.timeout)
        paths = _save(result, Path(args.output), overwrite=args.force)
        for p in paths:
            out.line(str(p))
        out.note(
            f"saved {len(paths)} file(s) of job {args.job_id} at {client.name} into {args.output}"
        )
        out.doc(
            {
                "provider": client.name,
                "id": args.job_id,
                "files": [
                    {"name": f.name, "size": f.size, "media_type": f.media_type, "path": str(p)}
                    for f, p in zip(result.files, paths, strict=True)
                ],
            }
        )
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, out: Out) -> int:
    """Cancel the job."""
    with _client(args, out) as client, _about(client, args):
        client.cancel(args.job_id)
        out.line(f"cancelled job {args.job_id} at {client.name}")
        out.doc({"provider": client.name, "id": args.job_id, "cancelled": True})
    return EXIT_OK


_LIST_COLUMNS = (*FIRST_COLUMNS, "expires_at", "expired", "cost", "error", "polled_by")


#: What a listing's row holds (its columns, and the cost's unit beside its amount).
_LIST_ROW = frozenset((*_LIST_COLUMNS, "cost_unit"))


def _list_rows(jobs: Sequence[tuple[Job, LedgerEntry | None]]) -> list[dict[str, Any]]:
    """The listing's records (the one record of each job), as JSON-ready dicts; for a job the
    ledger knows, its estimate of when the provider forgets the job."""
    rows = []
    now = datetime.now(timezone.utc)
    for job, entry in jobs:
        expires = entry.expires_at(_lifetime(job.provider)) if entry is not None else None
        record = job_record(
            job.provider,
            job.id,
            job.kind or (entry.kind if entry else ""),
            job.info,
            state=entry.state if entry else None,
            created_at=entry.created_at if entry else None,
            error=entry.error if entry else None,
            expires_at=expires,
            now=now,
        )
        row = {k: v for k, v in jsonable(record).items() if k in _LIST_ROW}
        # on a shared ledger: the poller (a worker, a waiter) that holds the job's lease
        leased = entry is not None and entry.lease_until is not None and entry.lease_until > now
        row["polled_by"] = entry.holder if leased and entry is not None else None
        rows.append(row)
    return rows


#: Rows of a streamed listing whose widths set the table's columns.
_LIST_BLOCK = 1000


def _list_columns(ledgers: Sequence[Ledger | None]) -> tuple[str, ...]:
    """The listing's columns: ``polled_by`` only where a poller can hold a lease on another
    machine's behalf, a shared (PostgreSQL) ledger; on a SQLite file it is always empty."""
    if any(ledger is not None and ledger.shared for ledger in ledgers):
        return _LIST_COLUMNS
    return tuple(c for c in _LIST_COLUMNS if c != "polled_by")


def _print_rows(
    rows: Iterator[dict[str, Any]], out: Out, columns: Sequence[str] = _LIST_COLUMNS
) -> None:
    """Print the listing as it is read: the column widths come from the first block of rows (a
    longer value further down pushes its line out, but never holds the output back); JSON is
    written row by row too, as one document (with every key, ``polled_by`` included)."""
    if out.json:
        out.stdout.write('{\n  "jobs": [')
        first = True
        for row in rows:
            text = json.dumps(row, default=json_default)
            out.stdout.write(("\n    " if first else ",\n    ") + out.redact(text))
            first = False
        out.stdout.write("\n  ]\n}\n" if not first else "]\n}\n")
        out.stdout.flush()
        return
    head: list[list[str]] = [list(columns)]
    widths: list[int] | None = None

    def emit(cells: list[str]) -> None:
        assert widths is not None
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        out.stdout.write(out.redact(line) + "\n")

    for row in rows:
        if widths is None:
            head.append(job_cells(row, columns))
            if len(head) <= _LIST_BLOCK:
                continue
        if widths is None:
            widths = [max(len(r[i]) for r in head) for i in range(len(head[0]))]
            for cells in head:
                emit(cells)
            out.stdout.flush()
        else:
            emit(job_cells(row, columns))
    if widths is None:
        if len(head) == 1:
            out.line("no jobs")
            return
        out.line(text_table(head))
    out.stdout.flush()


def parse_since(text: str) -> datetime:
    """``--since``: an ISO date or time (UTC unless it says), or an age: ``90s``, ``30m``, ``2h``,
    ``7d``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip()
    if value[-1:].lower() in units and value[:-1].replace(".", "", 1).isdigit():
        return datetime.now(timezone.utc) - timedelta(
            seconds=float(value[:-1]) * units[value[-1].lower()]
        )
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (an ISO date or time like 2026-01-31T12:00, or an age: 90s, "
            "30m, 2h, 7d)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def parse_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a number of jobs: {text!r}")
    return value


def _no_client() -> Client:
    raise errors.ConfigurationError("a job read from the ledger only, for its listing")


def cmd_list(args: argparse.Namespace, out: Out) -> int:
    """A table of jobs: one provider's (``Client.list``: its own list merged with the ledger), or
    the whole ledger.

    The whole ledger is streamed: rows are printed as they are read, so the first appears at once
    and memory stays flat over any number of jobs."""
    since: datetime | None = getattr(args, "since", None)
    limit: int | None = getattr(args, "limit", None)
    names = _names(args) if args.provider else None
    if names and not args.local:
        if len(names) > 1 and args.set:
            raise UsageError("--set gives one provider's settings, not a list's", parameter="--set")
        items: list[tuple[Job, LedgerEntry | None]] = []
        ledgers: list[Ledger | None] = []
        for name in names:
            with _client(args, out, name) as client:
                ledgers.append(client.ledger)
                for job in client.list(status=args.status, kind=args.kind):
                    entry = client.ledger.get(client.name, job.id) if client.ledger else None
                    if since is not None:
                        when = (job.info.submitted_at if job.info else None) or (
                            entry.created_at if entry else None
                        )
                        if when is None or when < since:
                            continue
                    items.append((job, entry))
        if limit is not None:
            items = items[len(items) - limit :] if limit else []
        rows = [
            r for r in _list_rows(items) if args.expired is None or r["expired"] is args.expired
        ]
        _print_rows(iter(rows), out, _list_columns(ledgers))
        return EXIT_OK
    with _open_ledger(args) as ledger:

        def streamed() -> Iterator[dict[str, Any]]:
            for entry in ledger.iter_entries(
                provider=names[0] if names and len(names) == 1 else None,
                status=args.status,
                kind=args.kind,
                since=since,
                limit=limit,
            ):
                if (entry.job_id is None or entry.state == SubmitState.DAMAGED) and not args.all:
                    continue
                if names and entry.provider not in names:
                    continue
                job = Job(_no_client, entry.job_id or "-", kind=entry.kind, info=entry.info,
                          provider=entry.provider)  # fmt: skip
                [row] = _list_rows([(job, entry)])
                if args.expired is None or row["expired"] is args.expired:
                    yield row

        _print_rows(streamed(), out, _list_columns([ledger]))
    return EXIT_OK


# -- sandboxes ---------------------------------------------------------------------------------------


def _start_sandboxes(
    names: Sequence[str], scale: float, *, strict: bool, port: int = 0
) -> list[ProviderSandbox]:
    try:
        from asyncjobs.sandbox import serve_providers
    except ImportError as exc:
        raise errors.ConfigurationError(
            f"the sandboxes need werkzeug: pip install werkzeug ({exc})"
        ) from exc
    try:
        return serve_providers(names, scale=scale, strict=strict, port=port)
    except OSError as exc:  # the port is taken
        raise UsageError(
            f"--port {port}: cannot listen on 127.0.0.1 from port {port} on ({exc.strerror or exc})"
            "; pick other ports, or leave --port out for free ones"
        ) from exc


def _stop_on_term() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)


def cmd_sandbox(args: argparse.Namespace, out: Out) -> int:
    """Serve the sandboxes of the installed providers on 127.0.0.1 until Ctrl-C."""
    chosen = _listed(args.providers, "PROVIDER")
    names = chosen or available_providers()
    running = _start_sandboxes(names, args.scale, strict=bool(chosen), port=args.port)
    if not running:
        raise UsageError("no installed provider ships a sandbox")
    try:
        _stop_on_term()
        doc: dict[str, Any] = {}
        for r in running:
            # Sandbox credentials are the emulator's own fixed values, not anyone's secret.
            out.line(f"# {r.name} sandbox at {r.box.url} (time x{args.scale:g})")
            for env, value in r.env().items():
                out.line(f"export {env}={value}")
            doc[r.name] = {"url": r.box.url, "settings": r.settings, "env": r.env()}
        out.doc({"sandboxes": doc, "scale": args.scale})
        out.note("sandboxes running; press Ctrl-C to stop")
        stop = threading.Event()
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        out.note("stopped")
    finally:
        for r in running:
            r.stop()
    return EXIT_OK


def cmd_worker(args: argparse.Namespace, out: Out) -> int:
    """Poll every pending job of a shared (PostgreSQL) ledger until SIGTERM or Ctrl-C; then finish
    the polls in flight, give up the leases and exit 0."""
    from asyncjobs._worker import Worker

    if args.no_ledger:
        raise UsageError("a worker polls the jobs of a shared ledger; drop --no-ledger")
    target = args.ledger or os.environ.get("ASYNCJOBS_LEDGER") or None
    if target is None or not Ledger.is_url(target):
        raise UsageError(
            "a worker needs a shared ledger: pass --ledger postgresql://... or set "
            "ASYNCJOBS_LEDGER to one (a SQLite file is one machine's)"
        )
    providers = _listed(args.provider, "--provider")
    for name in providers:
        get_provider_class(name)  # an unknown name is a usage error
    start_logging(args, out, env_only=True)
    _telemetry.configure_from_environment("asyncjobs-worker")
    with Ledger(target, lease_seconds=args.lease_seconds) as ledger:
        budget = _budget_arg(args)
        worker = Worker(
            ledger,
            providers,
            concurrency=args.concurrency,
            max_jobs=args.max_jobs,
            connect_client=lambda name, book: connect(name, ledger=book, budget=budget),
        )
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        out.note(
            f"worker {worker.name}: polling the pending jobs of {', '.join(worker.providers)} in "
            f"{ledger.url}; SIGTERM or Ctrl-C stops it"
        )
        try:
            stats = worker.run(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    out.note(
        f"worker {worker.name}: stopped after {stats.polls} polls; {stats.finished} jobs seen "
        f"finished, {stats.errors} poll errors"
    )
    out.doc({"worker": worker.name, **attrs.asdict(stats)})
    return EXIT_OK


def _sample_docx(path: Path) -> Path:
    """A small, valid .docx (Office Open XML) with two paragraphs."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    paragraphs = "".join(
        f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
        for text in ("asyncjobs demo", "One job interface over REST APIs that run async jobs.")
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<w:document xmlns:w="{ns}"><w:body>{paragraphs}</w:body></w:document>'
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return path


def cmd_demo(args: argparse.Namespace, out: Out) -> int:
    """Run each installed provider's demo case (declared by its sandbox) on the sandboxes."""
    names = [n for n in available_providers() if get_provider_class(n).sandbox]
    if not names:
        raise errors.ConfigurationError(
            "the demo runs on the providers' sandboxes, and no installed provider ships one (from "
            "a checkout of the asyncjobs repository: pip install -e ./providers/convertapi, ...)"
        )
    dest = Path(args.output)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder {str(dest)!r}: {exc.strerror or exc}") from exc
    running = {r.name: r for r in _start_sandboxes(names, args.scale, strict=False)}
    clients: dict[str, Client] = {}
    try:
        with Ledger(dest / "ledger.sqlite3") as ledger:
            for name, r in running.items():
                out.note(f"{name}: sandbox at {r.box.url}")
                settings: dict[str, Any] = dict(r.settings)
                clients[name] = connect(name, ledger=ledger, **settings)
            sample = _sample_docx(dest / "sample.docx")
            submitted = (r.box.app.demo_job(clients[n], sample) for n, r in running.items())
            jobs = [job for job in submitted if job is not None]
            for job in jobs:
                out.note(f"submitted {job.provider} {job.kind} job {job.id}")
            from asyncjobs._waiting import wait

            _, not_done = wait(jobs, timeout=args.timeout, progress=False if out.json else None)
            if not_done:
                raise errors.JobTimeoutError(
                    f"{len(not_done)} demo job(s) had not finished after {args.timeout:g}s"
                )
            rows = _list_rows([(j, ledger.get(j.provider, j.id)) for j in jobs])
            out.line(
                text_table(
                    [list(_LIST_COLUMNS[:5])] + [job_cells(r, _LIST_COLUMNS[:5]) for r in rows]
                )
            )
            saved: dict[str, list[str]] = {}
            code = EXIT_OK
            for job in jobs:
                if job.error is not None:
                    raise job.error
                assert job.info is not None
                if job.info.status is Status.FAILED:
                    out.note(f"{job.provider} job {job.id} failed: {job.info.error}")
                    code = EXIT_FAILED
                    continue
                # the demo's own folder: a second run replaces the first one's files
                paths = _save(job.client.fetch_result(job.id), dest / job.provider, overwrite=True)
                saved[job.provider] = [str(p) for p in paths]
                for p in paths:
                    out.line(f"saved {p} ({p.stat().st_size} bytes)")
            out.line(f"done: {len(jobs)} jobs, results in {dest}")
            out.doc({"jobs": rows, "files": saved, "output": str(dest)})
            return code
    finally:
        for c in clients.values():
            c.close()
        for r in running.values():
            r.stop()


# -- webhooks ----------------------------------------------------------------------------------------


def _serve_ledger(args: argparse.Namespace) -> Ledger:
    """The ledger the receiver records to (waiters in other processes watch it)."""
    if args.no_ledger:
        raise UsageError(
            "webhooks serve records what it confirms in the ledger that waiters watch; drop "
            "--no-ledger"
        )
    return Ledger.open(args.ledger)  # --ledger, else $ASYNCJOBS_LEDGER, else the default file


#: waitress's limits for ``webhooks serve``. Its defaults (100 connections, idle ones closed after
#: 120 s) let 110 slow clients lock the receiver out. A service's call is one small request sent
#: at once, so an idle connection is closed after 10 s (checked every 2 s), a few thousand may be
#: open (poll() rather than select(), which stops at 1,024 descriptors), and headers are capped.
#: Clients that trickle bytes are not cut off by waitress: expose it behind a reverse proxy.
SERVE_LIMITS: dict[str, Any] = {
    "connection_limit": 2000,
    "channel_timeout": 10,
    "cleanup_interval": 2,
    "asyncore_use_poll": True,
    "backlog": 2048,
    "max_request_header_size": 16 * 1024,
}


def _open_files_for(connections: int) -> int:
    """Raise this process's limit of open files towards what ``connections`` need (as far as the
    hard limit allows); the connections it then allows."""
    try:
        import resource
    except ImportError:  # not on Windows: no such limit to raise
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256  # the ledger, the clients' sessions, the sandbox of a test...
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    return connections if soft == resource.RLIM_INFINITY else max(1, min(connections, soft - 256))


def _waitress(
    create_server: Callable[..., Any],
    app: Any,
    host: str,
    port: int,
    threads: int,
    **options: Any,
) -> tuple[Any, str]:
    """A waitress server of ``app`` with :data:`SERVE_LIMITS` (``options`` on top), and the
    address it listens on."""
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="asyncjobs",
        clear_untrusted_proxy_headers=True,
        **{**SERVE_LIMITS, **options},
    )
    return server, f"http://{host}:{getattr(server, 'effective_port', port)}"


def _serve_until_stopped(server: Any, out: Out) -> None:
    """Run ``server`` until Ctrl-C or SIGTERM, then close it."""
    _stop_on_term()
    try:
        server.run()
    except KeyboardInterrupt:
        out.note("stopped")
    finally:
        server.close()


def cmd_webhooks(args: argparse.Namespace, out: Out) -> int:
    """``webhooks serve``: the receiver on waitress, confirming calls through its own clients."""
    from asyncjobs.webhooks import Receiver

    try:
        from waitress.server import create_server
    except ImportError as exc:
        raise errors.ConfigurationError(
            "webhooks serve needs waitress: pip install waitress (the webhooks extra; in a "
            "checkout of the repository: pip install -e '.[webhooks]')"
        ) from exc
    key = os.environ.get("ASYNCJOBS_WEBHOOK_KEY")
    if not key:
        raise errors.ConfigurationError(
            "webhooks serve needs the key the tokens are made with: set ASYNCJOBS_WEBHOOK_KEY "
            "(the same value as the processes that submit)"
        )
    out.redactor.add(key)
    if args.threads < 1:
        raise UsageError("--threads must be at least 1")
    receiver = Receiver(args.public_url, key)
    start_logging(args, out, env_only=True)
    _telemetry.configure_from_environment("asyncjobs-webhooks")
    ledger = _serve_ledger(args)
    clients: list[Client] = []
    chosen = _listed(args.providers, "--provider")
    names = chosen or available_providers()
    try:
        for name in names:
            cls = get_provider_class(name)
            if not cls.capabilities.webhooks:
                if chosen:
                    raise UsageError(f"{name} does not call webhooks")
                continue
            for secret in _secret_values(cls, {}):
                out.redactor.add(secret)
            try:
                clients.append(connect(name, ledger=ledger, webhooks=receiver))
            except errors.ConfigurationError as exc:
                if chosen:
                    raise
                out.note(f"{name}: not served ({cli_advice(str(exc), env_only=True)})")
        if not clients:
            raise UsageError(
                "no provider with webhooks could be connected: set their credentials in the "
                "environment (see asyncjobs providers)"
            )
        host, port = args.listen
        server, where = _waitress(
            create_server,
            receiver,
            host,
            port,
            args.threads,
            max_request_body_size=receiver.max_body,
            connection_limit=_open_files_for(SERVE_LIMITS["connection_limit"]),
        )
        served = [c.name for c in clients]
        out.line(f"listening on {where} for {receiver.public_url}/<provider>/<token>")
        out.line(f"providers: {', '.join(served)}; ledger: {ledger!r}")
        out.doc({"listen": where, "public_url": receiver.public_url, "providers": served})
        _serve_until_stopped(server, out)
    finally:
        receiver.close()
        for client in clients:
            client.close()
        ledger.close()
    return EXIT_OK


def _access_log(app: Any, logger: str) -> Any:
    """``app`` logging an access line per request at INFO on ``logger``: method, path (no query
    string), status, milliseconds."""
    log = get_logger(logger)

    def logged(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.monotonic()
        seen: list[str] = []

        def start(status: str, headers: Any, *exc_info: Any) -> Any:
            seen.append(status)
            return start_response(status, headers, *exc_info)

        try:
            return app(environ, start)
        finally:
            method = str(environ.get("REQUEST_METHOD") or "GET")[:16]
            path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
            code = seen[-1][:3] if seen else "-"
            ms = (time.monotonic() - started) * 1000
            log.info(
                "%s %s %s %.0fms",
                printable(method),
                printable(path[:200]),
                code,
                ms,
                extra={"method": method, "path": path[:200], "status_code": code},
            )

    return logged


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_dashboard(args: argparse.Namespace, out: Out) -> int:
    """``dashboard``: the web dashboard of the ledger on waitress."""
    try:
        from waitress.server import create_server

        from asyncjobs._dashboard._auth import MIN_TOKEN
        from asyncjobs.dashboard import Dashboard
    except ImportError as exc:
        raise errors.ConfigurationError(
            "asyncjobs dashboard needs the dashboard extra: pip install 'asyncjobs-core[dashboard]' "
            "(in a checkout of the repository: pip install -e '.[dashboard]')"
        ) from exc
    token = args.token or os.environ.get("ASYNCJOBS_DASHBOARD_TOKEN") or None
    if token is not None:
        out.redactor.add(token)
        if len(token) < MIN_TOKEN:
            raise UsageError(
                f"--token must be at least {MIN_TOKEN} characters (a long random one: python -c 'import "
                "secrets; print(secrets.token_urlsafe(32))')"
            )
    if token is None and not _loopback(args.host):
        raise UsageError(
            f"--host {args.host} listens beyond this machine: give a --token (or set "
            "ASYNCJOBS_DASHBOARD_TOKEN), or listen on 127.0.0.1"
        )
    if args.no_ledger:
        raise UsageError("the dashboard shows the ledger; drop --no-ledger")
    ledger = Ledger.open(args.ledger)
    app = Dashboard(ledger, token)
    start_logging(args, out)
    try:
        server, where = _waitress(
            create_server,
            _access_log(app, "asyncjobs.dashboard"),
            args.host,
            args.port,
            args.threads,
        )
        mode = "read-only" if token is None else "actions need the token"
        out.line(f"dashboard on {where} ({mode}); ledger: {ledger!r}")
        out.doc({"listen": where, "read_only": token is None})
        _serve_until_stopped(server, out)
    finally:
        app.close()
        ledger.close()
    return EXIT_OK
