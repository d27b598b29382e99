"""A provider whose every word carries terminal control sequences (no HTTP: it answers from memory),
for the command line's terminal-safety tests; loaded by ``asyncjobs`` through ``ASYNCJOBS_PLUGINS``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from asyncjobs import (
    Capabilities,
    JobInfo,
    Kind,
    PollPolicy,
    Provider,
    Result,
    ResultFile,
    Status,
)
from asyncjobs.errors import JobNotFoundError

#: An OSC that retitles the window (ended by BEL), a CSI that clears the screen, an 8-bit CSI, and a
#: right-to-left override.
EVIL = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"
#: What must never reach a terminal as it is.
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


class TerminalProvider(Provider):
    """Issues ids, kinds, status words, errors and file names with control sequences in them."""

    name = "terminal"
    kinds = (Kind("run", ()),)
    capabilities = Capabilities(list=True, poll=PollPolicy(initial=0.01, cap=0.02))
    settings = ()

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        return JobInfo(self.name, f"j1{EVIL}", f"run{EVIL}", Status.PENDING, raw_status=EVIL)

    def status(self, job_id: str) -> JobInfo:
        if job_id.startswith("gone"):
            raise JobNotFoundError(
                f"terminal does not know {job_id!r}: {EVIL}",
                provider=self.name,
                job_id=job_id,
                code=f"404{EVIL}",
                provider_message=f"gone {EVIL}",
            )
        return JobInfo(
            self.name, job_id, f"run{EVIL}", Status.FAILED, raw_status=EVIL, error=f"broke {EVIL}"
        )

    def list(self) -> Iterable[JobInfo]:
        return [self.status(f"j1{EVIL}")]

    def result(self, job_id: str) -> Result:
        return Result(files=(ResultFile(f"out{EVIL}.txt", data=b"x"),))
