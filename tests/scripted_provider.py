"""A provider whose jobs answer their polls from a script (the job id names it), recording when each
poll came: what the parity tests of the ways of waiting, and the engines' tests, run on."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, ClassVar

from asyncjobs import (
    Capabilities,
    JobInfo,
    Kind,
    Param,
    PollPolicy,
    Provider,
    Result,
    Status,
    errors,
)

#: One letter a poll: P pending, R pending with a retry_after of RETRY_AFTER seconds, D done,
#: F failed, T a transient error, N not found, X a bug (not an asyncjobs error). The last repeats.
SCRIPTS = {
    "plain": "PPD",
    "blips": "TPTPTPTPTPD",  # transient errors, never two in a row: a good look resets the count
    "outage": "TTTTTTD",  # more in a row than a wait allows
    "gone": "N",
    "bug": "PXD",
    "failed": "PF",
    "slowdown": "RD",
}
RETRY_AFTER = 0.3


class Scripted(Provider):
    """Answers each job's polls from its script (the job id names it) and records when."""

    name = "scripted"
    kinds = (Kind("run", (Param("script", required=True),)),)
    capabilities = Capabilities(
        poll=PollPolicy(initial=0.01, factor=1.0, cap=0.5, min_interval=0.0, fraction=10)
    )
    settings = ()

    polls: ClassVar[dict[str, list[float]]] = defaultdict(list)
    submits: ClassVar[list[str]] = []
    _ids = itertools.count(1)

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        new_id = f"{params['script']}-{next(self._ids)}"
        self.submits.append(new_id)
        return JobInfo(self.name, new_id, kind, Status.PENDING, raw_status="queued")

    def status(self, job_id: str) -> JobInfo:
        seen = self.polls[job_id]
        seen.append(time.monotonic())
        script = SCRIPTS[job_id.split("-")[0]]
        step = script[min(len(seen), len(script)) - 1]
        if step == "T":
            raise errors.TransportError("blip", provider=self.name, job_id=job_id)
        if step == "N":
            raise errors.JobNotFoundError("gone", provider=self.name, job_id=job_id, code=404)
        if step == "X":
            raise ValueError("a bug in the plugin")
        status = {"D": Status.DONE, "F": Status.FAILED}.get(step, Status.PENDING)
        meta = {"retry_after": RETRY_AFTER} if step == "R" else {}
        return JobInfo(self.name, job_id, "run", status, raw_status=step, meta=meta)

    def result(self, job_id: str) -> Result:
        return Result(files=())
