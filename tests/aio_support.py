"""What the asyncio tests share (a module of its own: test files never import conftest): quick
policies, a recorder of I/O on one thread, and a recorder of the threads started."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import asyncjobs

AIO_POLL = asyncjobs.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)
AIO_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.01, max_time=5)


class LoopIO:
    """Records the audited I/O events (files, sockets, SQLite) that fire on one thread while
    ``watching`` it. The audit hook, which cannot be removed, is installed once per process."""

    EVENTS = frozenset(
        {
            "open",
            "socket.connect",
            "socket.getaddrinfo",
            "socket.gethostbyname",
            "socket.sendto",
            "socket.sendmsg",
            "sqlite3.connect",
            "os.remove",
            "os.rename",
            "os.mkdir",
            "os.listdir",
            "os.scandir",
            "shutil.copyfile",
        }
    )
    #: C calls that do network or SQLite work on an already open connection (no audit event)
    CALLS = frozenset({"sendall", "recv_into", "execute", "executemany", "commit", "getaddrinfo"})
    _installed = False
    _active: LoopIO | None = None

    def __init__(self) -> None:
        self.thread: int | None = None
        self.seen: list[str] = []

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        active = cls._active
        if active is not None and event in cls.EVENTS and threading.get_ident() == active.thread:
            active.seen.append(f"{event} {str(args)[:120]}")

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") in self.CALLS:
            owner = getattr(arg, "__self__", None)
            self.seen.append(f"call {type(owner).__name__}.{arg.__name__}")

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Record the I/O of the calling thread inside the block."""
        if not LoopIO._installed:
            sys.addaudithook(LoopIO._hook)
            LoopIO._installed = True
        self.thread = threading.get_ident()
        LoopIO._active = self
        sys.setprofile(self._profile)
        try:
            yield
        finally:
            sys.setprofile(None)
            LoopIO._active = None


class ThreadStarts:
    """Every thread started while recording (``threading.setprofile`` runs in each new thread as
    it starts: deterministic, no sampling)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._lock = threading.Lock()

    def _first(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)  # once per thread: note it, then get out of its way
        with self._lock:
            self.started.append(threading.current_thread().name)

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        threading.setprofile(self._first)
        try:
            yield
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]
