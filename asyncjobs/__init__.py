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
    from . import engines, webhooks
    from ._budget import Budget
    from ._catalog import Conversion, formats
    from ._client import Client
    from ._formats import Formats
    from ._http import Transport
    from ._job import Job, JobList
    from ._ledger import Ledger, LedgerEntry, SubmitState
    from ._listing import jobs
    from ._models import Cost, JobInfo, Status
    from ._policies import PollPolicy, RetryPolicy, Timeouts
    from ._redaction import redact_all
    from ._registry import available_providers, register
    from ._results import Result, ResultFile
    from ._routing import Router, connect
    from ._sources import Source
    from ._version import __version__
    from ._waiting import as_completed, wait
    from ._worker import Worker, WorkerStats
    from .provider import Capabilities, Kind, Param, Provider, Setting

#: Public name -> the submodule defining it. They are imported on first use, so that ``import
#: asyncjobs`` stays cheap (requests, attrs, sqlite3 and the rest load when something needs them).
_LAZY = {
    "Budget": "_budget",
    "Client": "_client",
    "connect": "_routing",
    "Router": "_routing",
    "Conversion": "_catalog",
    "formats": "_catalog",
    "jobs": "_listing",
    "Job": "_job",
    "JobList": "_job",
    "Ledger": "_ledger",
    "LedgerEntry": "_ledger",
    "SubmitState": "_ledger",
    "Cost": "_models",
    "Formats": "_formats",
    "JobInfo": "_models",
    "Result": "_results",
    "ResultFile": "_results",
    "Status": "_models",
    "PollPolicy": "_policies",
    "RetryPolicy": "_policies",
    "Timeouts": "_policies",
    "redact_all": "_redaction",
    "available_providers": "_registry",
    "register": "_registry",
    "Source": "_sources",
    "Transport": "_http",
    "__version__": "_version",
    "as_completed": "_waiting",
    "wait": "_waiting",
    "Capabilities": "provider",
    "Kind": "provider",
    "Param": "provider",
    "Provider": "provider",
    "Setting": "provider",
    "Worker": "_worker",
    "WorkerStats": "_worker",
}

__all__ = [
    "Budget",
    "Capabilities",
    "Client",
    "Conversion",
    "Cost",
    "Formats",
    "Job",
    "JobInfo",
    "JobList",
    "Kind",
    "Ledger",
    "LedgerEntry",
    "Param",
    "PollPolicy",
    "Provider",
    "Result",
    "ResultFile",
    "RetryPolicy",
    "Router",
    "Setting",
    "Source",
    "Status",
    "SubmitState",
    "Timeouts",
    "Transport",
    "Worker",
    "WorkerStats",
    "__version__",
    "as_completed",
    "available_providers",
    "connect",
    "engines",
    "errors",
    "formats",
    "jobs",
    "redact_all",
    "register",
    "wait",
    "webhooks",
]

#: Public submodules reachable as attributes (``asyncjobs.webhooks.Receiver``), imported on first use.
_SUBMODULES = ("engines", "webhooks")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'asyncjobs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
