"""How many polls of one wait may be in flight at once: all the pool's workers, or fewer while more
would not be answered any faster. I/O-free: a driver with a pool (the many-job scheduler, the aio
scheduler, the background scheduler, the fleet worker) hands it each poll's time and reads
:attr:`Limit.value` before it starts another poll."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ._policies import PollPolicy

__all__ = ["FEWEST", "Limit", "adaptive"]


def adaptive(policies: Iterable[PollPolicy | None]) -> bool:
    """Whether the polls of a wait may have an adaptive limit: when they all go to one client's
    service (``policies`` holds one policy per client of the wait) and it answers a poll at once
    (no hold), so the time of its polls tells how loaded it is."""
    found = list(policies)
    return len(found) == 1 and found[0] is not None and found[0].hold == 0


#: Polls answered on average in more than this many times the least time a poll took lately mean
#: that the service queues them: more at once would only wait longer (TCP Vegas's reading).
_QUEUEING = 2.0
#: The fewest polls the scheduler keeps in flight when the service queues them.
FEWEST = 1
#: Polls after which the least time is measured afresh (the service may have become slower).
_BASELINE_SPAN = 5000
#: Polls after which what a limit answered per second is measured afresh (the service may answer
#: more, or fewer, at once now).
_RATE_SPAN = 1000
#: The fewest polls a round of the limit takes (so that its answers per second mean something).
_ROUND = 32
#: One poll more in flight (``n + 1`` instead of ``n``) is worth keeping when it brings at least this
#: share of what it would to a service that answers side by side (``1/n`` more answers per second);
#: else the fewer are kept, since every poll in flight beyond what the service answers costs the
#: client CPU (a thread switch and a turn of the GIL) for little.
_WORTH = 0.25


def _worth(n: int, rate: float, more: float) -> bool:
    """Whether ``n + 1`` polls in flight answering ``more`` per second are worth it over ``n``
    answering ``rate``."""
    return more >= rate * (1 + _WORTH / n)


class Limit:
    """How many polls of one wait may be in flight: all its workers, or fewer while more would not
    be answered any faster.

    After each round of polls (:meth:`round_size` of them, made with the limit in use) the limit
    moves, a climb towards the fewest polls in flight beyond which one more is not worth it (it
    does not bring :data:`_WORTH` of the answers it would to a service answering side by side):

    * down to as many as the service answers at once (the limit times the least recent poll time
      over this round's mean), when one fewer was not tried yet and the mean was over
      :data:`_QUEUEING` times that least time (the service queues them);
    * down by one, when this limit was seen not to be worth it over one fewer, or (one fewer not
      tried yet) one more over this one;
    * up, when one more was seen to be worth it; or, not tried yet, when the service does not
      queue them;
    * else it stays.

    Never below :data:`FEWEST` nor above the workers. What a limit answered per second counts for
    :data:`_RATE_SPAN` polls, the least time for :data:`_BASELINE_SPAN`: then they are measured
    again, should the service have changed. Not ``adaptive``: always all the workers."""

    def __init__(self, most: int, *, adaptive: bool) -> None:
        self.most = most
        self.fewest = min(FEWEST, most)
        self.value = most
        self.adaptive = adaptive
        self._least = math.inf  # the least poll time of this span of polls
        self._before = math.inf  # ... of the span before
        self._count = 0
        self._round: list[float] = []
        self._round_began = 0.0
        # answers per second seen at each limit, and the poll count when last measured
        self._rates: dict[int, tuple[float, int]] = {}

    def round_size(self) -> int:
        """How many polls made at the limit make a round."""
        return max(4 * self.value, _ROUND)

    def sample(self, seconds: float, inflight: int, now: float) -> bool:
        """Take the time of one poll that succeeded with ``inflight`` polls out (itself included),
        ending at the monotonic time ``now``; True when the limit went up."""
        if not self.adaptive:
            return False
        self._count += 1
        if self._count % _BASELINE_SPAN == 0:
            self._before, self._least = self._least, math.inf
        self._least = min(self._least, seconds)
        if inflight < self.value:
            return False  # the limit was not what held polls back: its time says nothing of it
        if not self._round:
            self._round_began = now - seconds
        self._round.append(seconds)
        if len(self._round) < self.round_size():
            return False
        mean = sum(self._round) / len(self._round)
        rate = len(self._round) / max(now - self._round_began, 1e-9)
        self._round.clear()
        seen = self._rate(self.value)
        rate = rate if seen is None else (seen + rate) / 2
        self._rates[self.value] = (rate, self._count)
        base = min(self._least, self._before)
        queueing = mean > _QUEUEING * base
        fewer, more = self._rate(self.value - 1), self._rate(self.value + 1)
        more_is_no_better = more is not None and not _worth(self.value, rate, more)
        # one fewer: if this many were not worth it over it; not tried yet, if this many queue or
        # one more was not worth it
        if fewer is not None:
            down = not _worth(self.value - 1, fewer, rate)
        else:
            down = queueing or more_is_no_better
        if down and self.value > self.fewest:
            if fewer is None and queueing:
                # as many as the service answers at once: this many, times the share of a poll's
                # time it spent answering rather than queued (Little's law)
                at_once = math.ceil(self.value * base / mean)
                self.value = max(self.fewest, min(self.value - 1, at_once))
            else:
                self.value -= 1
            return False
        up = not more_is_no_better if more is not None else not queueing
        if up and self.value < self.most:
            self.value += 1
            return True
        return False

    def _rate(self, value: int) -> float | None:
        """The answers per second seen at the limit ``value`` within the last :data:`_RATE_SPAN`
        polls, if any."""
        seen = self._rates.get(value)
        if seen is None or self._count - seen[1] > _RATE_SPAN:
            return None
        return seen[0]
