"""The one cattrs converter for asyncjobs' own JSON (the ledger, ``--json`` output): :class:`JobInfo`
and :class:`Result` to and from JSON-ready data. A provider's wire format has its own converter in its
package; this one is only for asyncjobs' own representation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from ._models import JobInfo, Status, expired
from ._results import Result, ResultFile

__all__ = [
    "converter",
    "info_from_json",
    "info_to_json",
    "job_record",
    "jsonable",
    "result_from_json",
    "result_to_json",
]

converter = make_converter()
converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
converter.register_structure_hook(Status, lambda v, _: Status(v))
# result files rebuilt from JSON carry no content or opener: fetch them again through a client
converter.register_unstructure_hook(
    ResultFile,
    make_dict_unstructure_fn(
        ResultFile, converter, _data=override(omit=True), _opener=override(omit=True)
    ),
)
converter.register_structure_hook(
    ResultFile,
    make_dict_structure_fn(
        ResultFile, converter, _data=override(omit=True), _opener=override(omit=True)
    ),
)


def info_to_json(info: JobInfo) -> str:
    """Serialize a :class:`JobInfo` to a JSON string."""
    return json.dumps(converter.unstructure(info), default=str)


def info_from_json(text: str) -> JobInfo:
    """Rebuild a :class:`JobInfo` from :func:`info_to_json`'s output."""
    return converter.structure(json.loads(text), JobInfo)


def result_to_json(result: Result) -> str:
    """Serialize a :class:`Result` to a JSON string (file contents are not included)."""
    return json.dumps(converter.unstructure(result), default=str)


def result_from_json(text: str) -> Result:
    """Rebuild a :class:`Result` from :func:`result_to_json`'s output."""
    return converter.structure(json.loads(text), Result)


def job_record(
    provider: str,
    job_id: str,
    kind: str | None,
    info: JobInfo | None,
    *,
    state: str | None = None,
    created_at: datetime | None = None,
    error: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The one record of a job's last known state, for tables, ``to_records()``, ``--json`` and the
    command's listings: provider, id, kind, status (the ledger's ``state`` when no status was ever
    seen), raw_status, times, error, ``expires_at`` (the JobInfo's, unless the ledger gives a
    better estimate) and whether that has passed, and meta. Times are datetimes; see
    :func:`jsonable`."""
    expires = expires_at if expires_at is not None else (info.expires_at if info else None)
    return {
        "provider": provider,
        "id": job_id,
        "kind": kind,
        "status": info.status.value if info else state,
        "raw_status": info.raw_status if info else None,
        "submitted_at": (info.submitted_at if info else None) or created_at,
        "started_at": info.started_at if info else None,
        "completed_at": info.completed_at if info else None,
        "error": (info.error if info else None) or error,
        "expires_at": expires,
        "expired": expired(expires, now),
        "cost": info.cost.amount if info and info.cost else None,
        "cost_unit": info.cost.unit if info and info.cost else None,
        "meta": dict(info.meta) if info else {},
    }


def jsonable(value: Any) -> Any:
    """``value`` (a record, a list of them) with datetimes as ISO 8601 in UTC, durations as
    seconds, and mappings as dicts: what ``json.dumps`` takes."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
