"""Request budgets: how fast (and how many at once) the requests to one provider account may go,
shared by every thread, process and machine on the same ledger.

A :class:`Budget` is a rate (``rate`` requests per ``per`` seconds) and an optional concurrency
limit. Requests are *paced*, not counted in windows: each takes the next slot of the account's
schedule, one ``per / rate`` after the last one given out (or now, when the schedule is idle), so
that no window of ``per`` seconds sees more than ``rate + 1`` requests at the server -- a sliding
window of 20 a second can let 22 through in some second; a pace cannot. The schedule is one row
of the ledger (:meth:`asyncjobs.Ledger.take_slot`), taken in one statement on the database's own
clock, so every process and machine that shares the ledger shares it; without a ledger it is
shared by the process. A rate-limited answer (429) pauses the schedule for everyone until the
pause it asks for ends.

The transport asks :class:`Gate` before each request attempt: it waits for its slot within the
call's deadline (a budget delays, it never raises; a deadline that comes first ends the call as
the deadline does), and it holds one of the account's concurrent places while the request runs --
a place of the ledger's, shared like the pace (:meth:`asyncjobs.Ledger.take_place`).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import attrs

from . import _telemetry, errors

if TYPE_CHECKING:
    from ._ledger import Ledger

__all__ = ["Budget", "Gate", "account_key", "budget_of"]

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
          "h": 3600.0, "hour": 3600.0}  # fmt: skip
#: A rate as text (compiled on first use, by ``re``'s cache: a status never reads it).
_TEXT = r"^\s*(?P<rate>\d+(?:\.\d+)?)\s*/\s*(?P<unit>[a-z]+)\s*(?:,\s*(?P<concurrency>\d+)\s*)?$"
#: The longest pause a rate-limited answer imposes on everyone (a hostile Retry-After is capped).
MAX_PAUSE = 300.0
#: Seconds before its slot a request waiting for it looks for a pause set since the slot was taken
#: (one read of the ledger): a 429 seen anywhere stops every process sharing the budget within it.
PAUSE_NOTICE = 0.2
#: The share of a budget's rate the pace uses: a request delayed on its way to the service (a busy
#: machine, the GIL, the network) by up to about two slots' time still never puts more than
#: ``rate + 1`` requests in a window of ``per`` seconds there.
PACE_SHARE = 0.95
#: Seconds a request holds a concurrent place of a budget shared through the ledger at most (its
#: deadline's time, plus a minute): a process that died gives its places up so.
PLACE_HOLD = 600.0


def _positive(name: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise errors.InvalidParameterError(
                f"Budget {name} must be a positive finite number, not {value!r}",
                parameter="budget",
            )

    return check


def _concurrency(instance: Any, attribute: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.InvalidParameterError(
            f"Budget concurrency must be None or a whole number of at least 1, not {value!r}",
            parameter="budget",
        )


@attrs.frozen
class Budget:
    """How fast requests to one provider account may go: ``rate`` requests every ``per``
    seconds, paced evenly, and at most ``concurrency`` at once (``None``: no limit).

    ``Budget(rate=20)`` is 20 a second; ``Budget(rate=600, per=60)`` 600 a minute, that is one
    every 0.1 s. Pass one to :func:`asyncjobs.connect` (``budget=``), or its text: ``"20/s"``,
    ``"600/min"``, ``"1000/h"``, with ``",4"`` for at most 4 at once.
    """

    rate: float = attrs.field(validator=_positive("rate"))
    per: float = attrs.field(default=1.0, validator=_positive("per"))
    concurrency: int | None = attrs.field(default=None, validator=_concurrency)

    @property
    def interval(self) -> float:
        """Seconds between two requests' slots."""
        return self.per / self.rate

    @classmethod
    def parse(cls, text: str, *, where: str = "budget") -> Budget:
        """A budget from its text (``"20/s"``, ``"600/min"``, ``"20/s,4"``); ``where`` names the
        argument, flag or variable it came from, for the error.

        Raises:
            InvalidParameterError: the text is not a budget.
        """
        refused = errors.InvalidParameterError(
            f"{where} must be a rate like '20/s', '600/min' or '1000/h' (with ',N' for at most N "
            f"requests at once), not {text!r}",
            parameter="budget",
        )
        found = re.match(_TEXT, text.lower()) if isinstance(text, str) else None
        unit = _UNITS.get(found.group("unit")) if found else None
        if found is None or unit is None:
            raise refused
        concurrency = found.group("concurrency")
        try:
            return cls(
                rate=float(found.group("rate")),
                per=unit,
                concurrency=None if concurrency is None else int(concurrency),
            )
        except errors.InvalidParameterError:
            raise refused from None

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.per)
        rate = f"{self.rate:g}/{unit}" if unit else f"{self.rate:g}/{self.per:g}s"
        return rate if self.concurrency is None else f"{rate},{self.concurrency}"


def budget_of(value: object, *, where: str = "budget") -> Budget | None:
    """What ``connect(budget=...)`` means: a :class:`Budget`, its text, or ``None``/``False``
    for none.

    Raises:
        InvalidParameterError: anything else.
    """
    if value is None or value is False:
        return None
    if isinstance(value, Budget):
        return value
    if isinstance(value, str):
        return Budget.parse(value, where=where)
    raise errors.InvalidParameterError(
        f"{where} must be an asyncjobs.Budget, a rate like '20/s', or None, not {value!r}",
        parameter="budget",
    )


def account_key(provider: str, origin: str, secrets: tuple[str, ...]) -> str:
    """The name of a provider account's budget: the provider, the service's origin and a digest
    of the account's credentials -- one-way and salted, so the name tells nothing of the secret
    (no secret goes into it, whole or in part) while two accounts of one service keep two
    budgets."""
    digest = hashlib.blake2b(digest_size=8, person=b"asyncjobs-budget")
    for secret in secrets:
        digest.update(secret.encode("utf-8", "surrogatepass") + b"\0")
    return f"{provider} {origin} {digest.hexdigest()}"


class _Schedule:
    """One account's pace in this process (no ledger, or a ledger that cannot keep one)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slot = 0.0  # wall-clock time of the last slot given out
        self.paused_until = 0.0

    def take(self, interval: float, max_wait: float) -> float | None:
        with self.lock:
            now = time.time()
            slot = max(self.slot + interval, now, self.paused_until)
            if slot - now > max_wait:
                return None
            self.slot = slot
            return slot - now

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.time() + seconds)


_SCHEDULES: dict[str, _Schedule] = {}
_SEMAPHORES: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_REGISTRY_LOCK = threading.Lock()


def _schedule(key: str) -> _Schedule:
    with _REGISTRY_LOCK:
        found = _SCHEDULES.get(key)
        if found is None:
            found = _SCHEDULES[key] = _Schedule()
        return found


def _semaphore(key: str, places: int) -> threading.BoundedSemaphore:
    with _REGISTRY_LOCK:
        found = _SEMAPHORES.get((key, places))
        if found is None:
            found = _SEMAPHORES[(key, places)] = threading.BoundedSemaphore(places)
        return found


class Gate:
    """Where every request of one client waits for its budget (see the module's docstring).

    Args:
        budget: the account's budget.
        key: the account's budget name (:func:`account_key`).
        ledger: the ledger whose schedule is shared, or ``None`` for this process's.
        provider: the provider's name (metrics).
    """

    def __init__(
        self, budget: Budget, key: str, ledger: Ledger | None, *, provider: str = ""
    ) -> None:
        self.budget = budget
        self.provider = provider
        self.key = key
        self._ledger = ledger
        self._local = _schedule(key)
        self._interval = budget.interval / PACE_SHARE
        places = budget.concurrency
        self._places = None if places is None else _semaphore(key, places)
        #: seconds this client's requests waited for their slots, in all
        self.waited = 0.0

    def __repr__(self) -> str:
        return f"<Gate {self.budget} shared={'ledger' if self._ledger else 'process'}>"

    def _take(self, max_wait: float) -> float | None:
        """Seconds to the next slot, taken; ``None`` when it is further than ``max_wait``."""
        if self._ledger is not None:
            try:
                return self._ledger.take_slot(
                    self.key, self._interval, max_wait, rate=self.budget.rate / self.budget.per
                )
            except errors.LedgerError:
                pass  # a ledger that fails for a moment: this process keeps the pace alone
        return self._local.take(self._interval, max_wait)

    @contextmanager
    def entered(
        self, end: float | None, gone: threading.Event | None, late: Callable[[], BaseException]
    ) -> Iterator[float]:
        """Wait for a slot (and a place), then run the block; yields the seconds waited.

        ``end`` is the call's monotonic deadline: a slot further than it is not taken, and
        ``late()`` is raised (the deadline's own error); ``gone`` ends the wait early when set (a
        wait that was abandoned), raising ``late()`` too."""
        started = time.monotonic()
        max_wait = math.inf if end is None else max(0.0, end - started)
        wait = self._take(max_wait)
        if wait is None:
            raise late()
        at = time.monotonic() + wait
        # A slot is taken ahead of time; a pause set since (a 429 another thread or process
        # saw) voids it: it is looked for PAUSE_NOTICE before the slot, and a new one is taken.
        while at - time.monotonic() > PAUSE_NOTICE:
            self._sleep(at - time.monotonic() - PAUSE_NOTICE, gone, late)
            if self._paused_for() <= PAUSE_NOTICE:
                break
            again = self._take(math.inf if end is None else max(0.0, end - time.monotonic()))
            if again is None:
                raise late()
            at = time.monotonic() + again
        self._sleep(at - time.monotonic(), gone, late)
        places = self._places
        if places is not None:
            left = None if end is None else max(0.0, end - time.monotonic())
            if not places.acquire(timeout=left):  # None: until a place frees
                raise late()
        token = None
        try:
            if places is not None:
                token = self._shared_place(end, gone, late)
            waited = time.monotonic() - started
            self.waited += waited
            _telemetry.budget_waited(self.provider, waited)
            yield waited
        finally:
            if token is not None and self._ledger is not None:
                with suppress(errors.LedgerError):  # else it is given up when its hold ends
                    self._ledger.give_place(token)
            if places is not None:
                places.release()

    def _shared_place(
        self, end: float | None, gone: threading.Event | None, late: Callable[[], BaseException]
    ) -> str | None:
        """One of the account's concurrent places across every process on the ledger (this
        process's own place is taken already): its token, or ``None`` without a ledger (or one
        that fails: the process keeps its own count alone meanwhile). Waits, looking again at
        growing intervals, until one frees or the deadline."""
        ledger, concurrency = self._ledger, self.budget.concurrency
        if ledger is None or concurrency is None:
            return None
        delay = 0.005
        while True:
            now = time.monotonic()
            hold = PLACE_HOLD if end is None else min(PLACE_HOLD, max(1.0, end - now) + 60.0)
            try:
                token = ledger.take_place(self.key, concurrency, hold)
            except errors.LedgerError:
                return None
            if token is not None:
                return token
            if end is not None and now + delay > end:
                raise late()
            self._sleep(delay, gone, late)
            delay = min(delay * 2, 0.1)

    @staticmethod
    def _sleep(
        seconds: float, gone: threading.Event | None, late: Callable[[], BaseException]
    ) -> None:
        if seconds <= 0:
            return
        if gone is None:
            time.sleep(seconds)
        elif gone.wait(seconds):
            raise late()

    def _paused_for(self) -> float:
        """Seconds the account is paused for from now: in this process, or (the ledger's word)
        by any process sharing it."""
        paused = self._local.paused_until - time.time()
        if self._ledger is not None:
            with suppress(errors.LedgerError):
                paused = max(paused, self._ledger.budget_paused(self.key))
        return paused

    def pause(self, seconds: float | None) -> None:
        """A rate-limited answer: nobody sharing the budget sends before ``seconds`` have
        passed (1 s when the service did not say; at most :data:`MAX_PAUSE`)."""
        pause = min(MAX_PAUSE, max(0.0, 1.0 if seconds is None else float(seconds)))
        self._local.pause(pause)
        if self._ledger is not None:
            with suppress(errors.LedgerError):
                self._ledger.pause_budget(self.key, pause)
