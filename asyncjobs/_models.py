"""The immutable values of the job interface: :class:`Status`, :class:`Cost` and :class:`JobInfo`.
A finished job's :class:`~asyncjobs._results.Result` is in :mod:`asyncjobs._results`, imported when
a result is read (a status does not build its classes)."""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import attrs

from ._text import info_html

__all__ = [
    "Cost",
    "JobInfo",
    "Status",
    "expired",
    "expiry",
]


class Status(str, enum.Enum):
    """The three statuses every job has, whatever its provider. The provider's own word is kept in
    :attr:`JobInfo.raw_status`."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for ``DONE`` and ``FAILED``: the job will not change any more."""
        return self is not Status.PENDING

    def __str__(self) -> str:
        return self.value


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _amount(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"a cost amount must be a number, not {type(value).__name__}")
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"a cost amount must be a finite number not below 0, not {value!r}")
    return amount


def _unit(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a cost unit must be a non-empty word such as 'credits', not {value!r}")
    return value.strip()


@attrs.frozen(order=False)
class Cost:
    """What a job cost, in the unit its provider bills in.

    Units differ between services (ConvertAPI bills conversion ``seconds``, CloudConvert and Zamzar
    ``credits``), so costs are added up per unit, never across units.

    Attributes:
        amount: how much, a finite number not below 0 (an integer number of credits is exact).
        unit: what it is counted in, e.g. ``"credits"``.
    """

    amount: float = attrs.field(converter=_amount)
    unit: str = attrs.field(converter=_unit)

    def __add__(self, other: object) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        if other.unit != self.unit:
            raise ValueError(f"cannot add {other.unit} to {self.unit}: sum costs per unit")
        return Cost(self.amount + other.amount, self.unit)

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount.is_integer() else self.amount
        return f"{amount} {self.unit}"


@attrs.frozen(repr=False)
class JobInfo:
    """One look at a job: what the provider said about it, normalized.

    Attributes:
        provider: the provider's registered name, e.g. ``"convertapi"``.
        id: the job id the provider knows the job by.
        kind: what the job does, e.g. ``"convert"``.
        status: :class:`Status`, normalized.
        raw_status: the provider's own word (or HTTP status) for it.
        submitted_at, started_at, completed_at: timezone-aware datetimes, when known.
        error: the provider's explanation, for a failed job.
        expires_at: when the provider will forget the job and its results, when known.
        meta: anything else the provider said that is worth keeping (read-only mapping).
        cost: what the job cost (:class:`Cost`), when the provider says; ``None`` otherwise.
    """

    provider: str
    id: str
    kind: str
    status: Status = attrs.field(converter=Status)
    raw_status: str | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    expires_at: datetime | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, hash=False)
    cost: Cost | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Cost))
    )

    @property
    def finished(self) -> bool:
        """True when the job is ``done`` or ``failed``."""
        return self.status.finished

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error else ""
        return (
            f"JobInfo({self.provider}:{self.id} {self.kind} {self.status.value}"
            f" raw_status={self.raw_status!r}{extra})"
        )

    def _repr_html_(self) -> str:
        return info_html(self)


def expiry(
    info: JobInfo | None, lifetime: timedelta | None, *, since: datetime | None = None
) -> datetime | None:
    """When the provider forgets a job: the ``expires_at`` its service said; else ``lifetime`` (the
    provider's ``Capabilities.job_lifetime``) after the job finished, its ``completed_at``, or else
    ``since`` (when it was first seen finished, or last seen: an estimate). ``None`` when that is
    unknown, or past the last date a ``datetime`` holds."""
    if info is not None and info.expires_at is not None:
        return info.expires_at
    base = (info.completed_at if info is not None else None) or since
    if lifetime is None or base is None:
        return None
    try:
        return base + lifetime
    except OverflowError:
        return None


def expired(expires_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a job its provider forgets at ``expires_at`` is forgotten at ``now`` (by default
    the current time); never when that time is unknown."""
    return expires_at is not None and expires_at <= (now or datetime.now(timezone.utc))


def check_dest(dest: object) -> str | os.PathLike[str]:
    if not isinstance(dest, (str, os.PathLike)):
        from .errors import InvalidParameterError

        raise InvalidParameterError(
            f"the destination must be a path (str or pathlib.Path), not {type(dest).__name__}",
            parameter="dest",
        )
    return dest
