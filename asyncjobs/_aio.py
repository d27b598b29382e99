"""The machinery under :mod:`asyncjobs.aio`: bounded worker pools per event loop, one per client.

Providers are synchronous plugins; every call that may touch the network or the disk (a provider's
HTTP, the ledger, saving files, importing a progress bar) runs on a worker thread of the event
loop's pool, never on the loop's own thread. Waiting, sleeping and scheduling stay in asyncio: a job
sleeping between polls holds no thread. A pool has at most :data:`MAX_WORKERS` threads whatever the
number of jobs, and calls beyond that queue in asyncio (not in the pool), so a cancelled waiter's
queued call never starts.

Each client has a pool of its own on each loop (a bulkhead): a provider that answers slowly fills
only its own client's workers, and another client's calls on the same loop go on at once. Calls
that belong to no client (importing a progress bar, connecting) share the loop's own pool.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import contextlib
import contextvars
import functools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor  # imported now: the loop thread imports nothing
from typing import Any, TypeVar

from ._http import POOL_SIZE

__all__ = ["MAX_WORKERS", "Workers", "release", "run", "workers"]

#: Worker threads per event loop, at most: one per connection a client's own session keeps.
MAX_WORKERS = POOL_SIZE
#: The name prefix of the worker threads.
THREAD_PREFIX = "asyncjobs-aio"

T = TypeVar("T")


class Workers:
    """The worker pool of one event loop: at most ``size`` calls run at once; the rest wait in
    asyncio for a free slot (first come, first served).

    It keeps only a weak reference to its loop: once the loop is gone, the pool is collected and its
    idle threads end.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = MAX_WORKERS) -> None:
        self.size = size
        self._loop = weakref.ref(loop)
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=THREAD_PREFIX)
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lock = threading.Lock()
        #: calls running on a worker thread now (a cancelled waiter's call included, until it ends)
        self.running = 0

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back()  # granted, then cancelled before it could run: pass it on
            raise

    def _give_back(self) -> None:
        """A slot is free (on the loop's thread)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def _ended(self, done: asyncio.Future[Any], future: cf.Future[Any]) -> None:
        """A call ended (on its worker thread): one wake-up of the loop hands its outcome over
        and frees its slot."""
        with self._lock:
            self.running -= 1
        loop = self._loop()
        if loop is None:
            return
        # a closed loop refuses the call: nobody waits for a slot any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._hand_over, done, future)

    def _hand_over(self, done: asyncio.Future[Any], future: cf.Future[Any]) -> None:
        """On the loop's thread: the slot is free, and the caller (if it still waits) gets the
        call's outcome."""
        self._give_back()
        if done.done():
            return  # the caller was cancelled
        if future.cancelled():
            done.cancel()
        elif (error := future.exception()) is not None:
            done.set_exception(error)
        else:
            done.set_result(future.result())

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread, in a copy of the caller's context (so a
        :func:`asyncjobs._http.deadline` scope reaches it), and return its result.

        Cancelling the caller stops the wait at once; a call already running on its thread cannot
        be interrupted and ends by itself (its requests are bounded by their timeouts and by the
        deadline in the context), and a call not started yet never starts.
        """
        loop = asyncio.get_running_loop()
        await self._acquire(loop)
        context = contextvars.copy_context()
        done: asyncio.Future[T] = loop.create_future()
        try:
            with self._lock:
                self.running += 1
            future = self._pool.submit(context.run, fn, *args)
        except BaseException:
            with self._lock:
                self.running -= 1
            self._give_back()
            raise
        future.add_done_callback(functools.partial(self._ended, done))
        try:
            return await done
        except asyncio.CancelledError:
            future.cancel()  # not started yet: it never starts (and its slot comes back)
            raise

    def shutdown(self) -> None:
        """Let the idle threads end (calls still running finish first, in their threads)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Workers] = weakref.WeakKeyDictionary()
_OWNED: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[object, Workers]
] = weakref.WeakKeyDictionary()


def workers(owner: object | None = None) -> Workers:
    """The worker pool of ``owner`` (a client) on the running event loop, or the loop's own pool
    for calls of no client; made on first use, gone with the loop or the owner."""
    loop = asyncio.get_running_loop()
    if owner is None:
        pool = _POOLS.get(loop)
        if pool is None:
            pool = _POOLS[loop] = Workers(loop)
        return pool
    pools = _OWNED.get(loop)
    if pools is None:
        pools = _OWNED[loop] = weakref.WeakKeyDictionary()
    found = pools.get(owner)
    if found is None:
        found = pools[owner] = Workers(loop)
    return found


def release(owner: object) -> None:
    """Let the idle threads of ``owner``'s pool on the running loop end (its client closed)."""
    pools = _OWNED.get(asyncio.get_running_loop())
    found = None if pools is None else pools.pop(owner, None)
    if found is not None:
        found.shutdown()


async def run(fn: Callable[..., T], /, *args: Any, owner: object | None = None) -> T:
    """Run ``fn(*args)`` on ``owner``'s worker pool of the running loop (see :meth:`Workers.run`
    and :func:`workers`)."""
    return await workers(owner).run(fn, *args)
