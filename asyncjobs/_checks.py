"""Checks of numbers given by users: durations and counts (finite, positive, not absurd)."""

from __future__ import annotations

import math

from . import errors

#: The longest duration any timeout, delay or policy field may be, in seconds (about 115 days):
#: past it a number is a mistake (``1e300``, ``inf``), and ``None`` already means "no limit".
MAX_SECONDS = 1e7


def seconds(value: object, parameter: str, *, zero: bool = False) -> float:
    """``value`` as a float number of seconds: finite, positive (or zero when ``zero``), at most
    :data:`MAX_SECONDS`.

    Raises:
        InvalidParameterError: naming ``parameter`` and what is wrong with the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.InvalidParameterError(
            f"{parameter} must be a number of seconds, not {type(value).__name__} {value!r}",
            parameter=parameter,
        )
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise errors.InvalidParameterError(
            f"{parameter} must be a finite number of seconds, not {value!r} (use None for no limit "
            "where a limit is optional)",
            parameter=parameter,
        )
    if number < 0 or (number == 0 and not zero):
        need = "zero or more" if zero else "more than zero"
        raise errors.InvalidParameterError(
            f"{parameter} must be {need} seconds, not {value!r}", parameter=parameter
        )
    if number > MAX_SECONDS:
        raise errors.InvalidParameterError(
            f"{parameter} is {value!r} seconds, more than {MAX_SECONDS:g} (about 115 days); use "
            "None for no limit where a limit is optional",
            parameter=parameter,
        )
    return number


def count(value: object, parameter: str, *, least: int = 1, most: int = 1_000_000) -> int:
    """``value`` as a whole number from ``least`` to ``most``.

    Raises:
        InvalidParameterError: naming ``parameter``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise errors.InvalidParameterError(
            f"{parameter} must be a whole number from {least} to {most}, not {value!r}",
            parameter=parameter,
        )
    return value


def factor(value: object, parameter: str) -> float:
    """A growth factor: a finite number from 1 to 100."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 1 <= value <= 100
    ):
        raise errors.InvalidParameterError(
            f"{parameter} must be a number from 1 to 100, not {value!r}", parameter=parameter
        )
    return float(value)


def timeout(value: object) -> float | None:
    """A waiting call's ``timeout``: ``None`` (no limit) or a finite positive number of seconds (at
    most about 115 days); ``nan``, ``inf`` and ``1e300`` are refused.

    Raises:
        InvalidParameterError: naming ``timeout``.
    """
    return None if value is None else seconds(value, "timeout")
