"""Ledger rows, read and written in one place: the entry a row is (:class:`LedgerEntry`), the
columns every query reads, and their decoding into entries and :class:`JobInfo` (a damaged row is
skipped with a warning, or shown as a ``damaged`` entry), a look's values as they are written, and a
submit's W3C ``traceparent`` as it is kept (:func:`traceparent_or_none`)."""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import attrs

from asyncjobs._models import Cost, JobInfo, Status
from asyncjobs._redaction import get_logger

log = get_logger("asyncjobs._ledger")

__all__ = [
    "ENTRY_COLUMNS",
    "INFO_COLUMNS",
    "USAGE_GROUPS",
    "LedgerEntry",
    "SubmitState",
    "decode_entries",
    "decode_infos",
    "from_timestamp",
    "gc_paused",
    "info_values",
    "storable",
    "timestamp",
    "traceparent_or_none",
]

#: The columns of ``jobs`` an entry is read from, in the order :func:`decode_entries` takes them.
ENTRY_COLUMNS = (
    "key, provider, kind, job_id, params, state, created_at, status, raw_status, error,"
    " submitted_at, started_at, completed_at, expires_at, meta, updated_at, finished_seen_at,"
    " lease_holder, lease_until, cost_amount, cost_unit, source, attempts, traceparent, ref"
)

#: The columns of ``jobs`` a JobInfo is read from, in the order :func:`decode_infos` takes them.
INFO_COLUMNS = (
    "provider, job_id, kind, status, raw_status, error, submitted_at, started_at,"
    " completed_at, expires_at, meta, cost_amount, cost_unit"
)


#: What :meth:`Ledger.usage` can group by.
USAGE_GROUPS = ("provider", "kind", "day")


class SubmitState:
    """Where a submission stands in the ledger."""

    #: recorded, the request is leaving or left, no answer yet
    SUBMITTING = "submitting"
    #: the provider issued (or accepted) a job id
    SUBMITTED = "submitted"
    #: the provider refused the submit: no job exists
    REJECTED = "rejected"
    #: the answer was lost: the job may or may not exist at the provider
    UNKNOWN = "unknown"
    #: the provider later issued this job's id to another job (it had forgotten this one); the old
    #: id is kept in the entry's ``error``
    SUPERSEDED = "superseded"
    #: the job was cancelled through asyncjobs (the provider may since have forgotten it); its last
    #: status is ``failed`` with ``raw_status="cancelled"``
    CANCELLED = "cancelled"
    #: not a state the ledger writes: a row that cannot be read (an unknown status word, meta that
    #: is not JSON, text in a time column), shown by ``asyncjobs list --all`` and skipped elsewhere
    DAMAGED = "damaged"


@attrs.frozen
class LedgerEntry:
    """One submission as the ledger holds it.

    Attributes:
        key: the ledger's own id of the submission.
        provider, kind: as submitted.
        job_id: the provider's id, or ``None`` when none was issued (yet).
        params: the parameters as recorded (JSON-safe, no secrets).
        state: a :class:`SubmitState` value.
        info: the last :class:`JobInfo` seen, when a job id exists.
        created_at: when the submission was recorded.
        updated_at: when the ledger last recorded something new of the job (a status or any field
            of it that changed, or the submit's outcome); a status seen again unchanged is not
            written, so it does not move this.
        finished_seen_at: when the ledger first saw the job ``done`` or ``failed``.
        error: why the submit failed (``rejected``/``unknown``), or the job's last error.
        holder: on a shared (PostgreSQL) ledger, who polls the job (``host:pid:tag``), while its
            lease lasts (``lease_until``, the database's clock); ``None`` when nobody does.
        source: the path or URL of a ``"convert"`` job's source, kept so that the job can be
            resubmitted; ``None`` when it was given as bytes or a file object (never kept).
        attempts: what came before this submission: each provider a routed submit tried first
            (``{"provider", "error", "at"}``), or the job it resubmits (``{"provider", "job_id",
            "resubmitted": true}``).
        traceparent: the W3C ``traceparent`` of the trace the submit ran in (OpenTelemetry), so that
            a poll in another process, a fleet worker or a webhook receiver can link its spans to
            the submitter's trace; ``None`` when there was none, or it was not a well-formed one
            (see :func:`traceparent_or_none`), and on the rows written before schema version 5.
        ref: the caller's own reference of the submission (an engine's key of it, such as
            ``"celery:<task id>"``), by which a submit run again finds the job it already made
            (see :func:`asyncjobs.engines.submit_once`); ``None`` when none was given.
    """

    key: str
    provider: str
    kind: str
    job_id: str | None
    params: Mapping[str, Any]
    state: str
    info: JobInfo | None
    created_at: datetime
    updated_at: datetime | None = None
    finished_seen_at: datetime | None = None
    error: str | None = None
    holder: str | None = None
    lease_until: datetime | None = None
    source: str | None = None
    attempts: tuple[Mapping[str, Any], ...] = ()
    traceparent: str | None = None
    ref: str | None = None

    def expires_at(self, lifetime: timedelta | None) -> datetime | None:
        """When the provider forgets this job: the ``expires_at`` it said, else ``lifetime`` (the
        provider's ``Capabilities.job_lifetime``) after the job finished (its ``completed_at``, else when
        the ledger first saw it finished). For a job last seen pending it is an estimate: ``lifetime``
        after the last look. ``None`` when unknown or when no job exists."""
        if self.job_id is None:
            return None
        if self.info is not None and self.info.expires_at is not None:
            return self.info.expires_at
        if lifetime is None:
            return None
        base = (
            (self.info.completed_at if self.info is not None else None)
            or self.finished_seen_at
            or self.updated_at
            or self.created_at
        )
        return base + lifetime

    def expired(self, lifetime: timedelta | None, now: datetime | None = None) -> bool:
        """Whether the job is past its :meth:`expires_at` (``now`` defaults to the current time)."""
        when = self.expires_at(lifetime)
        return when is not None and when <= (now or datetime.now(timezone.utc))


class _JSONParams(Mapping[str, Any]):
    """A submission's parameters as recorded (JSON), parsed on first use: a listing of many jobs
    rarely reads them, and parsing them all was a fifth of its cost."""

    __slots__ = ("_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._value: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._value is None:
            try:
                value = json.loads(self._text) if self._text != "{}" else {}
            except (ValueError, TypeError, RecursionError):
                value = None
            self._value = value if isinstance(value, dict) else {"damaged": str(self._text)[:100]}
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(self._data())


def timestamp(value: datetime | None) -> float | None:
    """A time as the ledger stores it: seconds since the epoch."""
    return None if value is None else value.timestamp()


def from_timestamp(value: float | None) -> datetime | None:
    """A time the ledger stored, in UTC."""
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


_STATUSES = {s.value: s for s in Status}


#: What no backend can store in a text column: NUL (PostgreSQL refuses it) and lone surrogates
#: (not UTF-8, so neither driver can send them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str | None) -> str | None:
    """``text`` as every backend can store it: NUL and lone surrogates become U+FFFD (the
    replacement character), the rest is kept. What a provider says is recorded, whatever bytes it
    sends: a job whose error held a NUL stayed pending, polled again every lease."""
    if text is None or not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub("\ufffd", text)


#: A W3C ``traceparent`` (Trace Context, https://www.w3.org/TR/trace-context/#traceparent-header):
#: version, trace-id, parent-id and trace-flags, in lowercase hex only. A version after ``00`` may
#: carry more fields after the flags, each after a dash (the spec's future versions are additive).
#: compiled on first use, by ``re``'s cache: a status never reads it
_TRACEPARENT = r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?"
_ZERO_TRACE_ID = "0" * 32
_ZERO_PARENT_ID = "0" * 16


def traceparent_or_none(value: object) -> str | None:
    """``value`` as the ledger keeps a submit's W3C ``traceparent``, or ``None`` when it is not a
    well-formed one: not a string, a field of the wrong length, hex that is not lowercase, the
    version ``ff`` (forbidden), an all-zero trace-id or parent-id, or anything after the flags of a
    version ``00`` value. Never an error: tracing must never cost a submit.

    A value of a later version is read as the spec says a version-``00`` implementation reads it
    (its trace-id, parent-id and the sampled bit of its flags; nothing of its unknown fields) and is
    kept as the version-``00`` value they make, the newest version this asyncjobs knows."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(_TRACEPARENT, value, re.S)
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_PARENT_ID:
        return None
    if version != "00":
        # only the sampled bit is known across versions: another version's other bits may mean
        # something else there
        flags = f"{int(flags, 16) & 0x01:02x}"
    return f"00-{trace_id}-{parent_id}-{flags}"


def info_values(info: JobInfo) -> dict[str, Any]:
    """A look's columns as named SQL values, every text as the backends can store it
    (:func:`storable`; meta is JSON with every non-ASCII character escaped)."""
    return {
        "provider": info.provider,
        "job_id": info.id,
        "status": info.status.value,
        "raw_status": storable(info.raw_status),
        "error": storable(info.error),
        "meta": storable(json.dumps(dict(info.meta), default=str)) if info.meta else None,
        "submitted_at": timestamp(info.submitted_at),
        "started_at": timestamp(info.started_at),
        "completed_at": timestamp(info.completed_at),
        "expires_at": timestamp(info.expires_at),
        "finished": info.finished,
        "cost_amount": None if info.cost is None else info.cost.amount,
        "cost_unit": None if info.cost is None else info.cost.unit,
    }


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects are built at once (listing 100,000
    jobs otherwise runs it dozens of times over objects that all stay alive)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode_infos(rows: Sequence[tuple[Any, ...]]) -> list[JobInfo]:
    """Rows of :data:`INFO_COLUMNS` as JobInfo; a damaged row is skipped, with a warning."""
    build = _InfoBuilder()
    with gc_paused():
        try:
            return [build(*row) for row in rows]
        except _ROW_ERRORS:
            pass  # a damaged row: build again, one row at a time, skipping it
        out = []
        for row in rows:
            try:
                out.append(build(*row))
            except _ROW_ERRORS as exc:
                _warn_damaged(row[0], row[1], exc)
        return out


def decode_entries(rows: Sequence[tuple[Any, ...]]) -> list[LedgerEntry]:
    """Rows of :data:`ENTRY_COLUMNS` as entries. Listing reads many rows, so this loop is kept lean: the
    same meta JSON is parsed once (JobInfo copies it), and timestamps are converted inline."""
    if len(rows) > 1000:
        with gc_paused():
            return _build(rows)
    return _build(rows)


class _InfoBuilder:
    """Builds JobInfo from ledger columns; the same meta JSON text is parsed once for many rows."""

    __slots__ = ("_metas",)

    def __init__(self) -> None:
        self._metas: dict[str, Any] = {}

    def __call__(
        self,
        provider: str,
        job_id: str,
        kind: str,
        status: str,
        raw_status: str | None,
        error: str | None,
        submitted_at: float | None,
        started_at: float | None,
        completed_at: float | None,
        expires_at: float | None,
        meta: str | None,
        cost_amount: float | None = None,
        cost_unit: str | None = None,
    ) -> JobInfo:
        utc, stamp = timezone.utc, datetime.fromtimestamp
        parsed: Any = {}
        if meta:
            parsed = self._metas.get(meta)
            if parsed is None:
                parsed = json.loads(meta)
                if len(self._metas) < 4096:
                    self._metas[meta] = parsed
        return JobInfo(
            provider=provider,
            id=job_id,
            kind=kind,
            status=_STATUSES.get(status) or Status(status),
            raw_status=raw_status,
            submitted_at=None if submitted_at is None else stamp(submitted_at, utc),
            started_at=None if started_at is None else stamp(started_at, utc),
            completed_at=None if completed_at is None else stamp(completed_at, utc),
            error=error,
            expires_at=None if expires_at is None else stamp(expires_at, utc),
            meta=parsed,
            cost=None if cost_amount is None or not cost_unit else Cost(cost_amount, cost_unit),
        )


#: What reading a damaged row raises (a value the ledger never writes).
_ROW_ERRORS = (ValueError, TypeError, OverflowError, OSError, KeyError, RecursionError)


def _warn_damaged(provider: Any, job_id: Any, exc: BaseException) -> None:
    log.warning(
        "the ledger has a damaged row (%s job %r): %s: %s; it is skipped (asyncjobs list --all "
        "shows it)",
        provider,
        job_id,
        type(exc).__name__,
        exc,
    )


def _build(rows: Sequence[tuple[Any, ...]]) -> list[LedgerEntry]:
    try:
        return _build_rows(rows)
    except _ROW_ERRORS:
        pass
    out: list[LedgerEntry] = []
    for row in rows:
        try:
            out.extend(_build_rows([row]))
        except _ROW_ERRORS as exc:
            _warn_damaged(row[1], row[3], exc)
            out.append(_damaged(row, exc))
    return out


def _damaged(row: tuple[Any, ...], exc: BaseException) -> LedgerEntry:
    """A row that cannot be read, as an entry that says so (no JobInfo)."""
    key, provider, kind, job_id = (str(v) if v is not None else None for v in row[:4])
    when = row[6] if isinstance(row[6], (int, float)) else None
    try:
        created = datetime.fromtimestamp(when, timezone.utc) if when is not None else None
    except (OverflowError, OSError, ValueError):
        created = None
    return LedgerEntry(
        key=key or "",
        provider=provider or "?",
        kind=kind or "?",
        job_id=job_id,
        params=_JSONParams("{}"),
        state=SubmitState.DAMAGED,
        info=None,
        created_at=created or datetime.fromtimestamp(0, timezone.utc),
        updated_at=None,
        finished_seen_at=None,
        error=f"damaged ledger row: {type(exc).__name__}: {exc}"[:300],
    )


def _build_rows(rows: Sequence[tuple[Any, ...]]) -> list[LedgerEntry]:
    utc = timezone.utc
    stamp = datetime.fromtimestamp
    info_of = _InfoBuilder()
    out = []
    for (
        key,
        provider,
        kind,
        job_id,
        params,
        state,
        created_at,
        status,
        raw_status,
        error,
        submitted_at,
        started_at,
        completed_at,
        expires_at,
        meta,
        updated_at,
        finished_seen_at,
        lease_holder,
        lease_until,
        cost_amount,
        cost_unit,
        source,
        attempts,
        traceparent,
        ref,
    ) in rows:
        info = None
        if job_id is not None and status is not None:
            info = info_of(
                provider,
                job_id,
                kind,
                status,
                raw_status,
                error,
                submitted_at,
                started_at,
                completed_at,
                expires_at,
                meta,
                cost_amount,
                cost_unit,
            )
        out.append(
            LedgerEntry(
                key=key,
                provider=provider,
                kind=kind,
                job_id=job_id,
                params=_JSONParams(params),
                state=state,
                info=info,
                created_at=datetime.now(utc) if created_at is None else stamp(created_at, utc),
                updated_at=None if updated_at is None else stamp(updated_at, utc),
                finished_seen_at=(
                    None if finished_seen_at is None else stamp(finished_seen_at, utc)
                ),
                error=error,
                holder=lease_holder,
                lease_until=None if lease_until is None else stamp(lease_until, utc),
                source=source,
                attempts=_attempts(attempts),
                # checked again: a value written behind the ledger's back is not a trace context
                traceparent=None if traceparent is None else traceparent_or_none(traceparent),
                ref=ref,
            )
        )
    return out


def _attempts(text: str | None) -> tuple[Mapping[str, Any], ...]:
    if not text:
        return ()
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError("the attempts column is not a JSON list")
    return tuple(MappingProxyType(a) for a in value if isinstance(a, dict))
