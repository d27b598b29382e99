"""asyncjobs: one job interface over the REST APIs that run long work as async jobs.

>>> import asyncjobs
>>> client = asyncjobs.connect("convertapi")            # doctest: +SKIP
>>> job = client.submit("convert", source="report.docx", to="pdf")   # doctest: +SKIP
>>> job.result(timeout=600).save("out/")                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from . import errors
from .client import Client, connect
from .handles import Job, JobList
from .ledger import Ledger
from .models import JobInfo, Result, ResultFile, Status
from .provider import Capabilities, Kind, Param, PollPolicy, Provider, Setting
from .registry import available_providers, register
from .sources import Source
from .transport import RetryPolicy, Timeouts, Transport
from .waiting import as_completed, wait

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
    from .client import _status

    book = ledger or Ledger.default()
    wanted = None if status is None else _status(status)
    clients: dict[str, Client] = {}

    def factory(name: str) -> Any:
        def make() -> Client:
            if name not in clients:
                clients[name] = connect(name, ledger=book)
            return clients[name]

        return make

    return JobList(
        [
            Job(factory(e.provider), e.job_id, kind=e.kind, info=e.info, provider=e.provider)
            for e in book.entries(provider=provider, status=wanted)
            if e.job_id is not None
        ]
    )


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("asyncjobs")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module 'asyncjobs' has no attribute {name!r}")
