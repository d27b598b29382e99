"""asyncjobs: one job interface over the REST APIs that run long work as async jobs.

>>> import asyncjobs
>>> client = asyncjobs.connect("convertapi")            # doctest: +SKIP
>>> job = client.submit("convert", source="report.docx", to="pdf")   # doctest: +SKIP
>>> job.result(timeout=600).save("out/")                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .client import Client, connect
    from .handles import Job, JobList
    from .ledger import Ledger
    from .models import JobInfo, Result, ResultFile, Status
    from .provider import Capabilities, Kind, Param, PollPolicy, Provider, Setting
    from .registry import available_providers, register
    from .sources import Source
    from .transport import RetryPolicy, Timeouts, Transport
    from .waiting import as_completed, wait

#: Public name -> the submodule defining it. They are imported on first use, so that ``import
#: asyncjobs`` stays cheap (requests, attrs, sqlite3 and the rest load when something needs them).
_LAZY = {
    "Client": "client",
    "connect": "client",
    "Job": "handles",
    "JobList": "handles",
    "Ledger": "ledger",
    "JobInfo": "models",
    "Result": "models",
    "ResultFile": "models",
    "Status": "models",
    "Capabilities": "provider",
    "Kind": "provider",
    "Param": "provider",
    "PollPolicy": "provider",
    "Provider": "provider",
    "Setting": "provider",
    "available_providers": "registry",
    "register": "registry",
    "Source": "sources",
    "RetryPolicy": "transport",
    "Timeouts": "transport",
    "Transport": "transport",
    "as_completed": "waiting",
    "wait": "waiting",
}

__all__ = [
    "Capabilities",
    "Client",
    "Job",
    "JobInfo",
    "JobList",
    "Kind",
    "Ledger",
    "Param",
    "PollPolicy",
    "Provider",
    "Result",
    "ResultFile",
    "RetryPolicy",
    "Setting",
    "Source",
    "Status",
    "Timeouts",
    "Transport",
    "__version__",
    "as_completed",
    "available_providers",
    "connect",
    "errors",
    "jobs",
    "register",
    "wait",
]


def jobs(
    provider: str | None = None, status: Status | str | None = None, *, ledger: Ledger | None = None
) -> JobList:
    """The jobs in the ledger, across providers, oldest first.

    Each job's client is connected on first use, with settings from the environment.

    Args:
        provider: keep only this provider's jobs.
        status: keep only jobs last seen with this status.
        ledger: the ledger to read (the default one when ``None``).
    """
    from .client import _status, connect
    from .handles import Job, JobList
    from .ledger import Ledger, gc_paused

    book = ledger or Ledger.default()
    wanted = None if status is None else _status(status)
    clients: dict[str, Client] = {}
    factories: dict[str, Any] = {}  # one per provider, shared by its jobs

    def factory(name: str) -> Any:
        make = factories.get(name)
        if make is None:

            def make() -> Client:
                if name not in clients:
                    clients[name] = connect(name, ledger=book)
                return clients[name]

            factories[name] = make
        return make

    infos = book.infos(provider=provider, status=wanted)
    with gc_paused():
        return JobList(
            [
                Job(factory(i.provider), i.id, kind=i.kind, info=i, provider=i.provider)
                for i in infos
            ]
        )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("asyncjobs")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module 'asyncjobs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
