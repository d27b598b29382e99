"""The jobs of a ledger as a list: :func:`asyncjobs.jobs`, read as it is used."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

from ._client import Client, connect, status_of
from ._job import Job, JobList
from ._ledger import Ledger
from ._models import Status

__all__ = ["jobs"]


def jobs(
    provider: str | None = None, status: Status | str | None = None, *, ledger: Ledger | None = None
) -> JobList[Job]:
    """The jobs in the ledger, across providers, oldest first.

    The list is read from the ledger as it is used: ``len`` is a count, iterating streams the
    jobs in batches (memory stays flat over any number), and indexing reads the one job asked
    for; a slice, a ``repr`` or :meth:`~asyncjobs.JobList.to_pandas` reads them all. Each job's
    client is connected on first use, with settings from the environment.

    Args:
        provider: keep only this provider's jobs.
        status: keep only jobs last seen with this status.
        ledger: the ledger to read (the default one when ``None``).
    """
    book = ledger or Ledger.open()
    wanted = None if status is None else status_of(status)
    return _LedgerJobList(book, provider, wanted)


class _LedgerJobList(JobList[Job]):
    """A :class:`JobList` streamed from a ledger (see :func:`jobs`)."""

    def __init__(self, ledger: Ledger, provider: str | None, status: Status | None) -> None:
        self._ledger = ledger
        self._query: dict[str, Any] = {"provider": provider, "status": status}
        self._all: list[Job] | None = None
        self._clients: dict[str, Client] = {}
        self._factories: dict[str, Callable[[], Client]] = {}

    def _factory(self, name: str) -> Callable[[], Client]:
        make = self._factories.get(name)
        if make is None:

            def make() -> Client:
                if name not in self._clients:
                    self._clients[name] = connect(name, ledger=self._ledger)
                return self._clients[name]

            self._factories[name] = make
        return make

    def _book(self) -> Ledger:
        """The ledger to read: the one given, or (once it is closed) the same file, read-only."""
        if self._ledger.closed:
            self._ledger = self._ledger.reopened(read_only=True)
        return self._ledger

    def _handles(self, **window: Any) -> Iterator[Job]:
        factory = self._factory
        for i in self._book().iter_infos(**self._query, **window):
            yield Job(factory(i.provider), i.id, kind=i.kind, info=i, provider=i.provider)

    @property
    def _jobs(self) -> list[Job]:  # type: ignore[override]
        if self._all is None:
            self._all = list(self._handles())
        return self._all

    def __len__(self) -> int:
        if self._all is not None:
            return len(self._all)
        return self._book().count_infos(**self._query)

    def __iter__(self) -> Iterator[Job]:
        if self._all is not None:
            return iter(self._all)
        return self._handles()

    def __getitem__(self, index: Any) -> Any:
        if self._all is not None or isinstance(index, slice):
            return super().__getitem__(index)
        i = operator.index(index)
        if i < 0:
            i += len(self)
        found = list(self._handles(offset=i, limit=1)) if i >= 0 else []
        if not found:
            raise IndexError("JobList index out of range")
        return found[0]
