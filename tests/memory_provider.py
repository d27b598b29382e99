"""An in-memory provider (no HTTP) for testing the scheduler and the client's bookkeeping."""

from __future__ import annotations

import itertools
import threading
import time
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
    ResultFile,
    Status,
)


class MemoryProvider(Provider):
    """Jobs finish ``duration`` seconds after submit; ``fail=True`` makes them fail. Records which
    threads polled, and the most polls of one job seen in flight at once."""

    name = "memory"
    kinds = (Kind("sleep", (Param("duration", required=True), Param("fail"))),)
    capabilities = Capabilities(
        poll=PollPolicy(initial=0.02, factor=1.5, cap=0.2, min_interval=0.01)
    )
    settings = ()

    poll_threads: ClassVar[set[str]] = set()
    max_concurrent_polls_of_one_job: ClassVar[int] = 0
    polls: ClassVar[int] = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._ids = itertools.count(1)
        self.jobs: dict[str, tuple[float, float, bool]] = {}
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()
        self.submit_hook: Any = None

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        if self.submit_hook is not None:
            self.submit_hook()
        new_id = f"m{next(self._ids)}"
        self.jobs[new_id] = (time.monotonic(), float(params["duration"]), bool(params.get("fail")))
        return JobInfo(self.name, new_id, kind, Status.PENDING, raw_status="queued")

    def status(self, job_id: str) -> JobInfo:
        cls = type(self)
        with self._lock:
            cls.polls += 1
            cls.poll_threads.add(threading.current_thread().name)
            self._inflight[job_id] = self._inflight.get(job_id, 0) + 1
            cls.max_concurrent_polls_of_one_job = max(
                cls.max_concurrent_polls_of_one_job, self._inflight[job_id]
            )
        try:
            time.sleep(0.002)  # a poll takes a little time, so overlaps would show
            start, duration, fail = self.jobs[job_id]
            if time.monotonic() - start < duration:
                return JobInfo(self.name, job_id, "sleep", Status.PENDING, raw_status="running")
            if fail:
                return JobInfo(
                    self.name, job_id, "sleep", Status.FAILED, raw_status="broken", error="it broke"
                )
            return JobInfo(self.name, job_id, "sleep", Status.DONE, raw_status="ok")
        finally:
            with self._lock:
                self._inflight[job_id] -= 1

    def result(self, job_id: str) -> Result:
        return Result(files=(ResultFile(f"{job_id}.txt", data=job_id.encode()),))

    @classmethod
    def reset(cls) -> None:
        cls.poll_threads = set()
        cls.max_concurrent_polls_of_one_job = 0
        cls.polls = 0
