"""The policies a client runs by: :class:`Timeouts` for each request, :class:`RetryPolicy` for a
failed request, :class:`PollPolicy` for how often a job is asked about. Every field is checked when a
policy is built (finite, positive, not absurd), so a bad number fails before any request."""

from __future__ import annotations

import random

import attrs

from . import _checks, errors

__all__ = ["PollPolicy", "RetryPolicy", "Timeouts"]


@attrs.frozen
class Timeouts:
    """Connect and read timeouts, in seconds, for every request of a client."""

    connect: float = 10.0
    read: float = 60.0

    def __attrs_post_init__(self) -> None:
        for name in ("connect", "read"):
            _checks.seconds(getattr(self, name), f"timeout.{name}")

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair ``requests`` takes."""
        return (self.connect, self.read)


@attrs.frozen
class RetryPolicy:
    """How the transport retries a failed request.

    Retried: connection errors (when the request may be repeated, or when it never left), 429 (the
    request was refused, so repeating it is safe), and ``statuses`` for requests that may be repeated.
    Delays grow exponentially with full jitter (a draw from zero), capped; a ``Retry-After`` from
    the service wins.

    Attributes:
        max_tries: attempts in all, the first included (1 turns retries off).
        max_time: seconds after which no new attempt starts.
        base, factor, cap: the exponential delay's first bound, growth and largest bound, in seconds.
        statuses: HTTP statuses retried on requests that may be repeated.
    """

    max_tries: int = 5
    max_time: float = 60.0
    base: float = 0.5
    factor: float = 2.0
    cap: float = 10.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def __attrs_post_init__(self) -> None:
        _checks.count(self.max_tries, "retry.max_tries", most=1000)
        _checks.seconds(self.max_time, "retry.max_time")
        _checks.seconds(self.base, "retry.base", zero=True)
        _checks.factor(self.factor, "retry.factor")
        _checks.seconds(self.cap, "retry.cap", zero=True)
        if not all(isinstance(s, int) and 100 <= s <= 599 for s in self.statuses):
            raise errors.InvalidParameterError(
                f"retry.statuses must be HTTP statuses (100 to 599), not {set(self.statuses)!r}",
                parameter="retry.statuses",
            )


@attrs.frozen
class PollPolicy:
    """How often to ask a provider about one job.

    The bound of the next delay grows exponentially from ``initial`` by ``factor`` per poll, up to
    ``cap``; and it is never more than ``fraction`` of the job's age (its time since it was
    submitted), though never less than ``initial`` for a young job -- so a job is noticed finished
    at most about ``fraction`` of its age late, whatever its length. The delay is drawn between
    half and all of the bound (a bounded jitter: many jobs spread out, none waits past its
    bound), and is never less than ``min_interval``. A ``Retry-After`` from the service wins over
    the policy (clamped to ``cap``).

    Attributes:
        initial: the bound of the first delay, in seconds (and the least age bound).
        factor: how much the exponential bound grows after each poll.
        cap: the largest bound.
        min_interval: the smallest delay between two polls of one job.
        fraction: the largest delay as a fraction of the job's age (0 < fraction <= 10).
        hold: the longest the service keeps a poll open, waiting for the job to end before it
            answers (ConvertAPI: about 5 s); 0 for a service that answers at once. A poll's time
            then says nothing of the service's load, so the many-job scheduler keeps all its
            workers in flight instead of sending fewer polls at once when they slow down.
    """

    initial: float = 1.0
    factor: float = 1.5
    cap: float = 30.0
    min_interval: float = 0.2
    fraction: float = 0.4
    hold: float = 0.0

    def __attrs_post_init__(self) -> None:
        _checks.seconds(self.initial, "poll.initial")
        _checks.factor(self.factor, "poll.factor")
        _checks.seconds(self.cap, "poll.cap")
        _checks.seconds(self.min_interval, "poll.min_interval", zero=True)
        _checks.seconds(self.hold, "poll.hold", zero=True)
        if (
            isinstance(self.fraction, bool)
            or not isinstance(self.fraction, (int, float))
            or not 0 < self.fraction <= 10
        ):
            raise errors.InvalidParameterError(
                f"poll.fraction must be a number above 0 and at most 10, not {self.fraction!r}",
                parameter="poll.fraction",
            )

    def bound(self, attempt: int, age: float | None = None) -> float:
        """The largest delay before poll number ``attempt + 1`` of a job ``age`` seconds old
        (``None``: unknown, only the exponential bound and the cap apply)."""
        bound = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        if age is not None:
            bound = min(bound, max(self.initial, self.fraction * max(0.0, age)))
        return bound

    def delay(
        self, attempt: int, rng: random.Random | None = None, *, age: float | None = None
    ) -> float:
        """The delay before poll number ``attempt + 1`` (``attempt`` counts from 0) of a job
        ``age`` seconds old: drawn between half and all of :meth:`bound`, at least
        ``min_interval``."""
        bound = self.bound(attempt, age)
        draw = (rng or random).uniform(bound / 2, bound)
        return max(self.min_interval, draw)
