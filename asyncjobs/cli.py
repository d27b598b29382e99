"""The ``asyncjobs`` command: the job verbs from a shell, for scripts and for trying things out.

``asyncjobs --help`` lists the verbs; ``docs/cli.md`` documents them. Exit codes: 0 success, 1 the job
failed, 2 usage or configuration error, 3 provider or transport error, 4 timeout (130 on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import threading
import traceback
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, NoReturn

from . import errors
from ._client import Client, connect
from ._job import Job
from ._ledger import Ledger, LedgerEntry, SubmitState, default_home
from ._models import JobInfo, Result, Status
from ._redaction import MASK
from .provider import Provider

if TYPE_CHECKING:
    from .sandbox import ProviderSandbox
from ._registry import available_providers, get_provider_class, register

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PROVIDER", "EXIT_TIMEOUT", "EXIT_USAGE", "main"]

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
DEMO_PROVIDERS = ("convertapi", "groupdocs", "conversio")


#: A command line that cannot be run as given (exit code 2).
UsageError = errors.InvalidParameterError


class _Exit(Exception):
    """Ends the command with ``code`` after its output was printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# -- output ------------------------------------------------------------------------------------------


class _Out:
    """Where a verb writes: text for people, or one JSON document for scripts."""

    def __init__(self, as_json: bool, stdout: IO[str], stderr: IO[str]) -> None:
        self.json = as_json
        self.stdout = stdout
        self.stderr = stderr
        self.secrets: list[str] = []

    def redact(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            if len(s) >= 4:
                text = text.replace(s, MASK)
        return text

    def line(self, text: str = "") -> None:
        """A line of text output (ignored in JSON mode)."""
        if not self.json:
            print(self.redact(text), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        """A line for people on stderr (both modes)."""
        print(self.redact(text), file=self.stderr, flush=True)

    def doc(self, value: Any) -> None:
        """The JSON document of the verb (ignored in text mode)."""
        if self.json:
            text = json.dumps(value, indent=2, default=_json_default, sort_keys=False)
            print(self.redact(text), file=self.stdout, flush=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_text(value: timedelta) -> str:
    """A duration as people write it: ``7 days``, ``1 hour 30 minutes``, ``45 seconds``, ``0.5 seconds``."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds:g} seconds"
    parts = []
    rest = round(seconds)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _info_doc(
    info: JobInfo, entry: LedgerEntry | None = None, lifetime: timedelta | None = None
) -> dict[str, Any]:
    expires = entry.expires_at(lifetime) if entry is not None else info.expires_at
    return {
        "provider": info.provider,
        "id": info.id,
        "kind": info.kind,
        "status": info.status.value,
        "raw_status": info.raw_status,
        "submitted_at": _iso(info.submitted_at),
        "started_at": _iso(info.started_at),
        "completed_at": _iso(info.completed_at),
        "error": info.error,
        "expires_at": _iso(expires),
        "expired": bool(expires is not None and expires <= datetime.now(timezone.utc)),
        "meta": dict(info.meta),
    }


# -- plugins, settings, clients ----------------------------------------------------------------------


def _load_plugins(specs: Sequence[str]) -> None:
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


def _client(args: argparse.Namespace, out: _Out) -> Client:
    cls = get_provider_class(args.provider)
    settings = _pairs(args.set or [], "--set")
    out.secrets.extend(_secret_values(cls, settings))
    return connect(args.provider, ledger=_ledger_arg(args), **settings)


def _open_ledger(args: argparse.Namespace) -> Ledger:
    """The ledger to read; one that cannot be opened for writing (a read-only folder) is opened
    read-only, since reading is all this needs."""
    if args.no_ledger:
        raise UsageError("this verb reads the ledger; drop --no-ledger")
    try:
        return Ledger(args.ledger) if args.ledger else Ledger.default()
    except errors.ConfigurationError as exc:
        path = Path(args.ledger) if args.ledger else default_home() / "ledger.sqlite3"
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


def cmd_providers(args: argparse.Namespace, out: _Out) -> int:
    """Installed providers: kinds, capabilities and settings (secret values masked)."""
    docs: list[dict[str, Any]] = []
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
        }
        docs.append(
            {
                "name": name,
                "kinds": kinds,
                "capabilities": capabilities,
                "settings": settings,
                "sandbox": cls.sandbox is not None,
            }
        )
        out.line(f"{name}")
        flags = [c for c in ("cancel", "list", "webhooks") if capabilities[c]]
        out.line(
            f"  can: {', '.join(flags) or 'submit, status and result only'}; jobs live "
            f"{duration_text(caps.job_lifetime) if caps.job_lifetime else 'unknown'}; "
            f"sandbox: {'yes' if cls.sandbox else 'no'}"
        )
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


def cmd_submit(args: argparse.Namespace, out: _Out) -> int:
    """Submit a job and print its id."""
    params = _pairs(args.params, "parameter")
    if "from" in params:
        params["from_"] = params.pop("from")
    with _client(args, out) as client:
        job = client.submit(args.kind, webhook=args.webhook, **params)
        info = job.info
        assert info is not None
        out.line(f"{info.id}")
        out.note(
            f"submitted {info.kind} job {info.id} at {client.name}: {info.status.value}"
            f" ({info.raw_status})"
        )
        out.doc(_info_doc(info))
    return EXIT_OK


def _status_code(info: JobInfo) -> int:
    return EXIT_FAILED if info.status is Status.FAILED else EXIT_OK


def _show_info(out: _Out, client: Client, info: JobInfo) -> None:
    entry = client.ledger.get(client.name, info.id) if client.ledger is not None else None
    doc = _info_doc(info, entry, client.provider.capabilities.job_lifetime)
    out.line(f"{info.provider} {info.id} {info.kind}: {info.status.value} ({info.raw_status})")
    for key in ("submitted_at", "started_at", "completed_at", "expires_at"):
        if doc[key]:
            out.line(f"  {key.replace('_', ' ')}: {doc[key]}")
    if info.error:
        out.line(f"  error: {info.error}")
    out.doc(doc)


def cmd_status(args: argparse.Namespace, out: _Out) -> int:
    """One look at the job."""
    with _client(args, out) as client, _about(client, args):
        info = client.status(args.job_id)
        _show_info(out, client, info)
        return _status_code(info)


@contextlib.contextmanager
def _resumable(args: argparse.Namespace, out: _Out) -> Iterator[None]:
    """A wait that ends early (a timeout, Ctrl-C) says that the job goes on, and how to resume it."""
    resume = f"asyncjobs {args.verb} {args.provider} {args.job_id}"
    if args.verb == "result" and args.output != ".":
        resume += f" -o {shlex.quote(args.output)}"
    try:
        yield
    except errors.JobTimeoutError as exc:
        info = exc.info
        state = f"still {info.status.value} ({info.raw_status})" if info else "not finished"
        raise errors.JobTimeoutError(
            f"job {args.job_id!r} at {args.provider} was {state} after {args.timeout or 0:g}s. It goes "
            f"on at the provider: `{resume}` picks it up again.",
            provider=args.provider,
            job_id=args.job_id,
            info=info,
        ) from exc
    except KeyboardInterrupt:
        out.note(
            f"asyncjobs: interrupted; job {args.job_id} goes on at {args.provider}: `{resume}` "
            "picks it up again."
        )
        raise _Exit(EXIT_INTERRUPTED) from None


def cmd_wait(args: argparse.Namespace, out: _Out) -> int:
    """Wait for the job to finish, with a progress bar on a terminal."""
    with _client(args, out) as client, _about(client, args), _resumable(args, out):
        job = client.job(args.job_id)
        info = job.wait(timeout=args.timeout, progress=False if out.json else None)
        _show_info(out, client, info)
        return _status_code(info)


def _save(result: Result, dest: Path) -> list[Path]:
    try:
        return result.save(dest)
    except OSError as exc:
        raise UsageError(
            f"cannot write the result into {str(dest)!r}: {exc.strerror or exc}"
        ) from exc


def cmd_result(args: argparse.Namespace, out: _Out) -> int:
    """Wait for the job, then save its files into a folder."""
    with _client(args, out) as client, _about(client, args), _resumable(args, out):
        job = client.job(args.job_id)
        if not out.json:  # the bar; result() then finds the job finished
            job.wait(timeout=args.timeout, progress=None)
        result = job.result(timeout=args.timeout)
        paths = _save(result, Path(args.output))
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


def cmd_cancel(args: argparse.Namespace, out: _Out) -> int:
    """Cancel the job."""
    with _client(args, out) as client, _about(client, args):
        client.cancel(args.job_id)
        out.line(f"cancelled job {args.job_id} at {client.name}")
        out.doc({"provider": client.name, "id": args.job_id, "cancelled": True})
    return EXIT_OK


_LIST_COLUMNS = (
    "provider",
    "id",
    "kind",
    "status",
    "raw_status",
    "submitted_at",
    "expires_at",
    "expired",
    "error",
)


def _list_rows(
    jobs: Sequence[tuple[str, str, str, JobInfo | None, LedgerEntry | None, bool]],
) -> list[dict[str, Any]]:
    rows = []
    now = datetime.now(timezone.utc)
    for provider, job_id, kind, info, entry, listed in jobs:
        lifetime = _lifetime(provider)
        expires = (
            entry.expires_at(lifetime)
            if entry is not None
            else info.expires_at
            if info is not None
            else None
        )
        # a job the service just listed is there, whatever the ledger estimates
        expired = bool(expires is not None and expires <= now and not listed)
        rows.append(
            {
                "provider": provider,
                "id": job_id,
                "kind": kind,
                "status": info.status.value if info else (entry.state if entry else None),
                "raw_status": info.raw_status if info else None,
                "submitted_at": _iso(
                    (info.submitted_at if info else None) or (entry.created_at if entry else None)
                ),
                "expires_at": _iso(expires),
                "expired": expired,
                "error": (info.error if info else None) or (entry.error if entry else None),
            }
        )
    return rows


def _list_cells(r: dict[str, Any]) -> list[str]:
    return [
        r["provider"],
        r["id"],
        r["kind"],
        r["status"] or "unknown",
        r["raw_status"] or "",
        (r["submitted_at"] or "")[:19].replace("T", " "),
        (r["expires_at"] or "")[:19].replace("T", " "),
        "EXPIRED" if r["expired"] else "",
        (r["error"] or "")[:60],
    ]


#: Rows of a streamed listing whose widths set the table's columns.
_LIST_BLOCK = 1000


def _print_rows(rows: Iterator[dict[str, Any]], out: _Out) -> None:
    """Print the listing as it is read: the column widths come from the first block of rows (a
    longer value further down pushes its line out, but never holds the output back); JSON is
    written row by row too, as one document."""
    if out.json:
        out.stdout.write('{\n  "jobs": [')
        first = True
        for row in rows:
            text = json.dumps(row, default=_json_default)
            out.stdout.write(("\n    " if first else ",\n    ") + out.redact(text))
            first = False
        out.stdout.write("\n  ]\n}\n" if not first else "]\n}\n")
        out.stdout.flush()
        return
    head: list[list[str]] = [list(_LIST_COLUMNS)]
    widths: list[int] | None = None

    def emit(cells: list[str]) -> None:
        assert widths is not None
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        out.stdout.write(out.redact(line) + "\n")

    for row in rows:
        if widths is None:
            head.append(_list_cells(row))
            if len(head) <= _LIST_BLOCK:
                continue
        if widths is None:
            widths = [max(len(r[i]) for r in head) for i in range(len(head[0]))]
            for cells in head:
                emit(cells)
            out.stdout.flush()
        else:
            emit(_list_cells(row))
    if widths is None:
        if len(head) == 1:
            out.line("no jobs")
            return
        out.line(_table(head))
    out.stdout.flush()


def _since(text: str) -> datetime:
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


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a number of jobs: {text!r}")
    return value


def cmd_list(args: argparse.Namespace, out: _Out) -> int:
    """A table of jobs: one provider's (its own list merged with the ledger), or the whole ledger.

    The whole ledger is streamed: rows are printed as they are read, so the first appears at once
    and memory stays flat over any number of jobs."""
    since: datetime | None = getattr(args, "since", None)
    limit: int | None = getattr(args, "limit", None)
    items: list[tuple[str, str, str, JobInfo | None, LedgerEntry | None, bool]] = []
    if args.provider and not args.local:
        with _client(args, out) as client:
            found: dict[str, tuple[JobInfo | None, LedgerEntry | None, bool]] = {}
            ledger = client.ledger
            if ledger is not None:
                for known in ledger.iter_entries(provider=client.name):
                    if known.job_id is not None:
                        found[known.job_id] = (known.info, known, False)
            if client.provider.capabilities.list:
                listed: list[JobInfo] = list(client.provider.list())
                for seen in listed:
                    if ledger is not None:
                        ledger.seen(seen)
                    entry = ledger.get(client.name, seen.id) if ledger is not None else None
                    found[seen.id] = (seen, entry, True)
            for job_id, (info, row, was_listed) in found.items():
                kind = info.kind if info is not None else (row.kind if row else "")
                if args.kind is not None and kind != args.kind:
                    continue
                if args.status is not None and (info is None or info.status.value != args.status):
                    continue
                if since is not None:
                    when = (info.submitted_at if info else None) or (
                        row.created_at if row else None
                    )
                    if when is None or when < since:
                        continue
                items.append((client.name, job_id, kind, info, row, was_listed))
        if limit is not None:
            items = items[len(items) - limit :] if limit else []
        rows = [
            r for r in _list_rows(items) if args.expired is None or r["expired"] is args.expired
        ]
        _print_rows(iter(rows), out)
        return EXIT_OK
    if args.provider:
        get_provider_class(args.provider)  # an unknown name is a usage error, not an empty list
    with _open_ledger(args) as ledger:

        def streamed() -> Iterator[dict[str, Any]]:
            for entry in ledger.iter_entries(
                provider=args.provider,
                status=args.status,
                kind=args.kind,
                since=since,
                limit=limit,
            ):
                if (entry.job_id is None or entry.state == SubmitState.DAMAGED) and not args.all:
                    continue
                item = (entry.provider, entry.job_id or "-", entry.kind, entry.info, entry, False)
                [row] = _list_rows([item])
                if args.expired is None or row["expired"] is args.expired:
                    yield row

        _print_rows(streamed(), out)
    return EXIT_OK


# -- sandboxes ---------------------------------------------------------------------------------------


def _start_sandboxes(names: Sequence[str], scale: float, *, strict: bool) -> list[ProviderSandbox]:
    try:
        from .sandbox import serve_providers
    except ImportError as exc:
        raise errors.ConfigurationError(
            f"the sandboxes need werkzeug: pip install werkzeug ({exc})"
        ) from exc
    return serve_providers(names, scale=scale, strict=strict)


def _stop_on_term() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)


def cmd_sandbox(args: argparse.Namespace, out: _Out) -> int:
    """Serve the sandboxes of the installed providers on 127.0.0.1 until Ctrl-C."""
    names = args.providers or available_providers()
    running = _start_sandboxes(names, args.scale, strict=bool(args.providers))
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


def _demo_jobs(
    running: Mapping[str, ProviderSandbox], clients: Mapping[str, Client], sample: Path
) -> list[Job]:
    jobs = [
        clients["convertapi"].submit("convert", source=sample, to="pdf"),
        clients["groupdocs"].submit("convert", source=sample, to="pdf"),
    ]
    app = running["conversio"].box.app
    newsletter = next(iter(getattr(app, "newsletters", None) or ["n1"]))
    jobs.append(clients["conversio"].submit("newsletter-recipients", newsletter=newsletter))
    return jobs


def cmd_demo(args: argparse.Namespace, out: _Out) -> int:
    """Convert a document on ConvertAPI and GroupDocs and run a Conversio export, on the sandboxes."""
    installed = set(available_providers())
    missing = [p for p in DEMO_PROVIDERS if p not in installed]
    if missing:
        raise errors.ConfigurationError(
            f"the demo needs the providers {', '.join(DEMO_PROVIDERS)}; missing: "
            f"{', '.join(missing)} (from a checkout of the asyncjobs repository: pip install "
            f"{' '.join('-e ./providers/' + m for m in missing)})"
        )
    dest = Path(args.output)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder {str(dest)!r}: {exc.strerror or exc}") from exc
    running = {r.name: r for r in _start_sandboxes(DEMO_PROVIDERS, args.scale, strict=True)}
    clients: dict[str, Client] = {}
    try:
        with Ledger(dest / "ledger.sqlite3") as ledger:
            for name, r in running.items():
                out.note(f"{name}: sandbox at {r.box.url}")
                settings: dict[str, Any] = dict(r.settings)
                clients[name] = connect(name, ledger=ledger, **settings)
            sample = _sample_docx(dest / "sample.docx")
            jobs = _demo_jobs(running, clients, sample)
            for job in jobs:
                out.note(f"submitted {job.provider} {job.kind} job {job.id}")
            from ._waiting import wait

            _, not_done = wait(jobs, timeout=args.timeout, progress=False if out.json else None)
            if not_done:
                raise errors.JobTimeoutError(
                    f"{len(not_done)} demo job(s) had not finished after {args.timeout:g}s"
                )
            rows = _list_rows(
                [
                    (j.provider, j.id, j.kind or "", j.info, ledger.get(j.provider, j.id), False)
                    for j in jobs
                ]
            )
            out.line(
                _table(
                    [list(_LIST_COLUMNS[:5])]
                    + [
                        [r["provider"], r["id"], r["kind"], r["status"], r["raw_status"] or ""]
                        for r in rows
                    ]
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
                paths = _save(job.client.fetch_result(job.id), dest / job.provider)
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
        metavar="PATH",
        help="the ledger file (default: $ASYNCJOBS_HOME/ledger.sqlite3)",
    )
    parser.add_argument(
        "--no-ledger", action="store_true", default=flag, help="do not record jobs in the ledger"
    )


def _provider_args(parser: argparse.ArgumentParser, *, job: bool = True) -> None:
    parser.add_argument("provider", metavar="PROVIDER")
    if job:
        parser.add_argument("job_id", metavar="JOB_ID")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a provider setting (else from its environment variable)",
    )


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
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
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(
        name: str, func: Callable[[argparse.Namespace, _Out], int], help: str
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
    p = verb("status", cmd_status, "one look at a job")
    _provider_args(p)
    p = verb("wait", cmd_wait, "wait until a job finishes (progress bar on a terminal)")
    _provider_args(p)
    p.add_argument("--timeout", type=_timeout, metavar="SECONDS", help="give up after (exit 4)")
    p = verb("result", cmd_result, "wait for a job, then save its result files")
    _provider_args(p)
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder (default: .)")
    p.add_argument("--timeout", type=_timeout, metavar="SECONDS", help="give up after (exit 4)")
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
        type=_since,
        metavar="WHEN",
        help="only jobs submitted since WHEN: an ISO time (UTC unless it says) or an age (30m, 2h, 7d)",
    )
    p.add_argument(
        "--limit", type=_limit, metavar="N", help="only the N most recent jobs (shown oldest first)"
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
        type=_timeout,
        default=1.0,
        help="sandbox time runs this many times faster (default 1)",
    )
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
        type=_timeout,
        default=300.0,
        help="sandbox time runs this many times faster (default 300)",
    )
    p.add_argument(
        "--timeout",
        type=_timeout,
        default=60.0,
        metavar="SECONDS",
        help="give up after (default 60)",
    )
    return parser


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


_VERBS = ("providers", "submit", "status", "wait", "result", "cancel", "list", "sandbox", "demo")


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
    out = _Out(bool(args.json), sys.stdout, sys.stderr)
    try:
        _load_plugins(os.environ.get(PLUGINS_ENV, "").split(",") + list(args.plugin or []))
        code: int = args.func(args, out)
        return code
    except _Exit as done:
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
