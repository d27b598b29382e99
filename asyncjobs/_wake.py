"""Wake-ups: waits sleep here instead of in ``time.sleep``, so that news of a job's end wakes them.

A wait (``job.wait``, ``asyncjobs.wait``, the aio waits, ``Job.future()``) listens on the jobs it
waits for with a :class:`Waiter` and naps on it between polls. News comes from two places:

* this process: every poll a client makes that finds a job finished is :func:`report`-ed (the
  webhook receiver's confirming poll among them), and wakes every waiter of that job at once;
* other processes, through the ledger: for a job whose client has a webhook receiver and a ledger,
  one watcher thread per ledger sleeps in :meth:`~asyncjobs._ledger.Ledger.wait_changed` and, after
  each change, re-reads the entries of the jobs being waited on (``ledger.get``) and reports those
  now finished.

Only finished jobs are reported: a waiter woken by news never needs to poll again. Nothing depends
on news arriving: a nap ends after its delay anyway, and the wait polls per its policy.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ._models import JobInfo
from ._redaction import get_logger

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures as cf

    from ._job import Job
    from ._ledger import Ledger

__all__ = ["Waiter", "listening", "poke", "report", "subscribe", "waited"]

Key = tuple[str, str]

_log = get_logger("asyncjobs.waiting")

#: Longest sleep of a ledger watcher in ``wait_changed`` before it looks again anyway.
WATCH_TIMEOUT = 1.0


class Waiter:
    """What one wait sleeps on: woken when any job it listens to is reported finished."""

    __slots__ = ("_event", "_lock", "_news", "_rings")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._news: dict[Key, JobInfo] = {}
        self._rings: list[Callable[[], None]] = []

    def wake(self, key: Key, info: JobInfo | None) -> None:
        """Report that the job ``key`` is finished, as ``info`` shows (from any thread); with
        ``None``, only that it may have changed: the nap ends, and the wait looks again."""
        with self._lock:
            if info is not None:
                self._news[key] = info
            rings = list(self._rings)
        self._event.set()
        for ring in rings:
            try:
                ring()
            except Exception:  # a closed event loop, say: the nap ends on its own
                _log.debug("a wake-up could not be delivered", exc_info=True)

    def pending(self) -> bool:
        """Whether news has come since the last :meth:`take`."""
        return self._event.is_set()

    def take(self) -> dict[Key, JobInfo]:
        """The news since the last take (and the waiter is quiet again)."""
        with self._lock:
            news, self._news = self._news, {}
            self._event.clear()
        return news

    def nap(self, seconds: float) -> dict[Key, JobInfo]:
        """Sleep up to ``seconds``, less when news comes; return the news (empty if none)."""
        self._event.wait(max(0.0, seconds))
        return self.take()

    def alarm(self) -> cf.Future[None]:
        """A future that completes on the next news (at once if some is waiting): a scheduler
        waits on it beside its polls with ``concurrent.futures.wait``."""
        import concurrent.futures as cf  # here: only a scheduler's wait needs it (about 1 ms)

        fut: cf.Future[None] = cf.Future()

        def ring() -> None:
            with contextlib.suppress(cf.InvalidStateError):
                fut.set_result(None)

        with self._lock:
            self._rings.append(ring)
            pending = bool(self._news)
        if pending:
            ring()
        fut.add_done_callback(lambda _: self._forget(ring))
        return fut

    def ring_me(self, ring: Callable[[], None]) -> Callable[[], None]:
        """Call ``ring()`` (from the reporting thread) on every news until the returned function
        is called."""
        with self._lock:
            self._rings.append(ring)
        return lambda: self._forget(ring)

    def _forget(self, ring: Callable[[], None]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._rings.remove(ring)

    async def anap(self, seconds: float) -> dict[Key, JobInfo]:
        """:meth:`nap` for asyncio: the task sleeps, no thread does."""
        import asyncio  # loaded already by whoever awaits this; not by a sync first use

        if not self._event.is_set():
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()

            def done() -> None:
                if not fut.done():
                    fut.set_result(None)

            def ring() -> None:
                loop.call_soon_threadsafe(done)

            timer = loop.call_later(max(0.0, seconds), done)
            stop = self.ring_me(ring)
            try:
                if not self._event.is_set():
                    await fut
            finally:
                stop()
                timer.cancel()
        return self.take()


# -- the registry of this process: (provider, job id) -> the waiters listening -------------------

_lock = threading.Lock()
_waiters: dict[Key, list[Waiter]] = {}


def report(provider: str, job_id: str, info: JobInfo) -> None:
    """Wake every waiter of the job: ``info`` shows it finished (other news is not reported)."""
    if not info.finished:
        return
    key = (provider, job_id)
    with _lock:
        found = list(_waiters.get(key, ()))
    for waiter in found:
        waiter.wake(key, info)


def poke(provider: str, job_id: str) -> None:
    """Wake every waiter of the job to look again now (the ledger says another process recorded
    a change of it), without news of its end."""
    key = (provider, job_id)
    with _lock:
        found = list(_waiters.get(key, ()))
    for waiter in found:
        waiter.wake(key, None)


def waited(provider: str, job_id: str) -> bool:
    """Whether a wait of this process is listening to the job."""
    with _lock:
        return (provider, job_id) in _waiters


def _key(job: Job) -> Key:
    return (job.provider, job.id)


def subscribe(waiter: Waiter, jobs: Iterable[Job]) -> Callable[[], None]:
    """Listen to ``jobs`` with ``waiter``; return the function that stops it (call it once)."""
    handles = list(jobs)
    keys = [_key(j) for j in handles]
    with _lock:
        for key in keys:
            _waiters.setdefault(key, []).append(waiter)
    watched = _watch(handles)

    def stop() -> None:
        with _lock:
            for key in keys:
                found = _waiters.get(key)
                if found is not None:
                    with contextlib.suppress(ValueError):
                        found.remove(waiter)
                    if not found:
                        del _waiters[key]
        for watcher, key in watched:
            watcher.drop(key)

    return stop


@contextlib.contextmanager
def listening(jobs: Iterable[Job], waiter: Waiter | None = None) -> Iterator[Waiter]:
    """Listen to ``jobs`` with ``waiter`` (a new one unless given) for the ``with`` block."""
    waiter = waiter or Waiter()
    stop = subscribe(waiter, jobs)
    try:
        yield waiter
    finally:
        stop()


# -- other processes: through the ledger -------------------------------------------------------------


class _Watcher:
    """One thread per ledger, alive while jobs are watched: after each change another connection
    may have committed, it re-reads the watched jobs' entries and reports those now finished."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.keys: dict[Key, int] = {}
        self.thread: threading.Thread | None = None

    def add(self, key: Key) -> None:
        # called with _watch_lock held
        self.keys[key] = self.keys.get(key, 0) + 1
        if self.thread is None:
            self.thread = threading.Thread(
                target=self._run, name="asyncjobs-ledger-watch", daemon=True
            )
            self.thread.start()

    def drop(self, key: Key) -> None:
        with _watch_lock:
            left = self.keys.get(key, 0) - 1
            if left > 0:
                self.keys[key] = left
            else:
                self.keys.pop(key, None)

    def _run(self) -> None:
        while True:
            with _watch_lock:
                if not self.keys or self.ledger.closed:
                    self.thread = None
                    _watchers.pop(id(self.ledger), None)
                    return
            try:
                self.ledger.wait_changed(WATCH_TIMEOUT)
                with _watch_lock:
                    keys = list(self.keys)
                for provider, job_id in keys:
                    entry = self.ledger.get(provider, job_id)
                    if entry is not None and entry.info is not None and entry.info.finished:
                        report(provider, job_id, entry.info)
            except Exception as exc:  # closed (sqlite3 says so in its own words), damaged, locked
                # best effort: the waits poll on their own timers whatever happens here
                _log.debug("the ledger watcher stops: %s", exc)
                with _watch_lock:
                    self.thread = None
                    _watchers.pop(id(self.ledger), None)
                return


_watch_lock = threading.Lock()
_watchers: dict[int, _Watcher] = {}


def _watch(jobs: list[Job]) -> list[tuple[_Watcher, Key]]:
    """Watch the ledger for those of ``jobs`` whose client expects webhook calls (it has a
    receiver) and has a ledger another process may write their news into."""
    watched: list[tuple[_Watcher, Key]] = []
    for job in jobs:
        client = job.connected_client
        if client is None:
            continue  # a job from the ledger not connected yet: polling serves it
        ledger = client.ledger
        if client.webhooks is None or ledger is None:
            continue
        with _watch_lock:
            watcher = _watchers.get(id(ledger))
            if watcher is None or watcher.ledger is not ledger:
                watcher = _watchers[id(ledger)] = _Watcher(ledger)
            watcher.add(_key(job))
        watched.append((watcher, _key(job)))
    return watched
