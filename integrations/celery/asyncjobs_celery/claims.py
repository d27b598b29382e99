"""Claims: which copy of a task's message may run each step of a job's wait.

A job's wait is a sequence of steps (0: the submit or the wait's start, then one poll each), every
step one message of the same task id. A broker delivers a message at least once: Redis hands an
unacknowledged message out again when its visibility timeout passes, and a worker killed (or a
pool process lost) hands it back. So two copies of one step may arrive, at the same time or one
after the other. Before a step runs, its copy claims the step:

* ``TAKEN``: this copy runs the step, under a lease of ``lease`` seconds;
* ``DUPLICATE``: the step (or a later one) was already run: the copy is dropped, doing nothing;
* ``BUSY``: another copy holds the step's lease now: this copy comes back when the lease ends
  (if the holder died, this copy then takes the step; if it finished, this copy is a duplicate).

After a step hands the wait on (the next step's message sent), it is marked :meth:`done`; at the
end of the wait the whole wait is marked ended, so that every later copy is a duplicate. The marks
are kept ``keep`` seconds after the last change, longer than any copy can linger.

Two stores: :class:`RedisClaims` (the default when the app's result backend or broker is Redis: one
atomic script per claim, on the server's clock) and :class:`SQLiteClaims` (one machine: a file
shared by its worker processes).
"""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["ENDED", "Claim", "Claims", "RedisClaims", "SQLiteClaims"]

#: The step number that marks a wait ended (every step is below it).
ENDED = 2**52


class Claim(enum.Enum):
    """What a claim of a step found."""

    #: this copy runs the step
    TAKEN = "taken"
    #: the step (or a later one) was run already: drop this copy
    DUPLICATE = "duplicate"
    #: another copy holds the step now: come back when its lease ends
    BUSY = "busy"


@runtime_checkable
class Claims(Protocol):
    """Where the claims of every wait's steps are kept (shared by every worker of the app)."""

    def claim(self, key: str, step: int, lease: float, keep: float) -> tuple[Claim, float]:
        """Claim ``step`` of the wait ``key`` for ``lease`` seconds; returns what was found, and
        with ``BUSY`` the seconds left of the holder's lease."""

    def done(self, key: str, step: int, keep: float) -> None:
        """``step`` of ``key`` handed the wait on (:data:`ENDED`: the wait is over): copies of it,
        and of earlier steps, are duplicates from now on."""

    def release(self, key: str, step: int) -> None:
        """Give up the lease of ``step`` without marking it done (its message goes back to the
        broker and runs again)."""


_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local step = tonumber(ARGV[1])
if step <= tonumber(redis.call('HGET', KEYS[1], 'done') or '-1') then return {0, 0} end
local running = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
if running > step then return {0, 0} end
if running == step then
  local till = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
  if till > now then return {1, till - now} end
end
redis.call('HSET', KEYS[1], 'step', step, 'until', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {2, 0}
"""

_DONE = """
local step = tonumber(ARGV[1])
if step > tonumber(redis.call('HGET', KEYS[1], 'done') or '-1') then
  redis.call('HSET', KEYS[1], 'done', step)
end
if tonumber(redis.call('HGET', KEYS[1], 'step') or '-1') <= step then
  redis.call('HSET', KEYS[1], 'until', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_RELEASE = """
if tonumber(redis.call('HGET', KEYS[1], 'step') or '-1') == tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'until', 0)
end
return 1
"""

_FOUND = {0: Claim.DUPLICATE, 1: Claim.BUSY, 2: Claim.TAKEN}


class RedisClaims:
    """Claims in Redis: one hash per wait (``<prefix><task id>``), changed by atomic scripts that
    read the server's clock, so that the workers' clocks need not agree.

    Args:
        client: a ``redis.Redis`` client (the app's result backend's, by default).
        prefix: the keys' prefix.
    """

    def __init__(self, client: Any, *, prefix: str = "asyncjobs-celery:") -> None:
        self.client = client
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._done = client.register_script(_DONE)
        self._release = client.register_script(_RELEASE)

    def claim(self, key: str, step: int, lease: float, keep: float) -> tuple[Claim, float]:
        """See :meth:`Claims.claim`."""
        found, left = self._claim(
            keys=[self.prefix + key], args=[step, _ms(lease), _ms(max(keep, lease))]
        )
        return _FOUND[int(found)], int(left) / 1000.0

    def done(self, key: str, step: int, keep: float) -> None:
        """See :meth:`Claims.done`."""
        self._done(keys=[self.prefix + key], args=[step, _ms(keep)])

    def release(self, key: str, step: int) -> None:
        """See :meth:`Claims.release`."""
        self._release(keys=[self.prefix + key], args=[step])

    def __repr__(self) -> str:
        return f"RedisClaims(prefix={self.prefix!r})"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class SQLiteClaims:
    """Claims in an SQLite file: for workers on one machine only (every worker process of the app
    must open the same file). Use :class:`RedisClaims` (or a store of your own) across machines.

    Args:
        path: the file (made when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():  # not across a fork
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, done INTEGER NOT NULL, "
                "step INTEGER NOT NULL, until REAL NOT NULL, expires REAL NOT NULL)"
            )
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def _row(self, db: sqlite3.Connection, key: str, now: float) -> tuple[int, int, float]:
        row = db.execute(
            "SELECT done, step, until FROM claims WHERE key = ? AND expires > ?", (key, now)
        ).fetchone()
        return (-1, -1, 0.0) if row is None else (int(row[0]), int(row[1]), float(row[2]))

    def claim(self, key: str, step: int, lease: float, keep: float) -> tuple[Claim, float]:
        """See :meth:`Claims.claim`."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            done, running, until = self._row(db, key, now)
            if step <= done or running > step:
                return Claim.DUPLICATE, 0.0
            if running == step and until > now:
                return Claim.BUSY, until - now
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                (key, done, step, now + lease, now + max(keep, lease)),
            )
            if step == 0:  # now and then, forget the waits nobody can copy any more
                db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
            return Claim.TAKEN, 0.0
        finally:
            db.execute("COMMIT")

    def done(self, key: str, step: int, keep: float) -> None:
        """See :meth:`Claims.done`."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            done, running, until = self._row(db, key, now)
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                (key, max(done, step), running, 0.0 if running <= step else until, now + keep),
            )
        finally:
            db.execute("COMMIT")

    def release(self, key: str, step: int) -> None:
        """See :meth:`Claims.release`."""
        self._db().execute("UPDATE claims SET until = 0 WHERE key = ? AND step = ?", (key, step))

    def __repr__(self) -> str:
        return f"SQLiteClaims({str(self.path)!r})"
