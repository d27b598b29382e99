"""The asyncio API: the same verbs as the sync API, awaited.

::

    from asyncjobs import aio

    async with aio.connect("convertapi") as client:
        job = await client.submit("convert", source="a.docx", to="pdf")
        result = await job                      # = await job.result()
        done, not_done = await aio.wait([job], timeout=900)

Everything is shared with the sync API: the providers (synchronous plugins), the transport, the
ledger, the errors and the poll policies. Only waiting differs: every call that may touch the
network or the disk runs on a worker thread of its client's pool on the event loop (at most 16
threads per client and loop, whatever the number of jobs: a slow provider fills only its own
client's pool, never another's), while waiting, sleeping between polls and scheduling are done in
asyncio, so a sleeping job holds no thread and the event loop never blocks.

Cancelling a waiting task (``task.cancel()``, ``asyncio.timeout``) stops the wait at once and leaves
the job running at the provider. A poll already running on a worker thread cannot be interrupted: it
finishes by itself (bounded by its read timeout, or by the wait's deadline), its answer is still
recorded (``job.info``, the ledger), and no new poll of that job starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import sys
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import requests

from . import _aio, _aio_wait, errors
from ._budget import Budget
from ._client import Client, LedgerArg, check_timeout
from ._http import MAX_BODY, RetryPolicy, Timeouts
from ._http import deadline as deadline_scope
from ._job import Job, JobList, handles
from ._models import JobInfo, Status
from ._poll import finished_late, timed_out
from ._progress import Progress, make_progress
from ._redaction import get_logger
from ._results import Result
from ._routing import Router
from ._routing import connect as _connect_sync
from ._waiting import ReturnWhen, check_return_when, ends_wait, late
from .provider import PollPolicy

if TYPE_CHECKING:
    from ._progress import Reporter
    from ._webhooks import Receiver

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "AsyncJobList",
    "as_completed",
    "connect",
    "gather",
    "wait",
]

T = TypeVar("T")

_log = get_logger("asyncjobs.waiting")

#: The tasks of async status callbacks still running (asyncio keeps only weak references).
_CALLBACK_TASKS: set[asyncio.Task[object]] = set()


def _within(end: float | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with every request bounded by the monotonic deadline ``end`` (worker side)."""
    with deadline_scope(end):
        return fn(*args)


def _import_bars() -> None:
    """Import what a progress bar needs (disk I/O the first time), on a worker thread."""
    import importlib

    for name in ("ipykernel.kernelapp", "tqdm.std", "tqdm.auto"):
        if name.startswith("ipykernel") and "ipykernel" not in sys.modules:
            continue  # only a running kernel's module is looked at, never a new import
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            if name == "tqdm.std":  # its first bar makes a lock that imports multiprocessing
                module.tqdm.get_lock()


async def _reporter(progress: Progress, *, total: int | None, desc: str) -> Reporter:
    """A progress reporter. A bar is made on the loop's thread, where a notebook expects its
    widgets and output, once its modules are imported on a worker thread."""
    if progress is not False and not (callable(progress) and not isinstance(progress, bool)):
        await _aio.run(_import_bars)
    return make_progress(progress, total=total, desc=desc)


# -- connecting -------------------------------------------------------------------------------------


def connect(
    provider: str | list[str | Client] | tuple[str | Client, ...] | None = None,
    *,
    ledger: LedgerArg = None,
    timeout: Timeouts | float | None = None,
    retry: RetryPolicy | None = None,
    poll: PollPolicy | None = None,
    session: requests.Session | None = None,
    max_body: int = MAX_BODY,
    webhooks: Receiver | bool | None = None,
    budget: Budget | str | bool | None = None,
    **settings: Any,
) -> Connecting:
    """Connect to a provider, for asyncio: the same arguments as :func:`asyncjobs.connect`
    (a list of providers, in order of preference, gives a routed client whose ``submit`` falls
    back as :class:`asyncjobs.Router`'s does).

    Use it as ``async with aio.connect(...) as client:`` (the client is closed at the end), or
    ``client = await aio.connect(...)`` (then ``await client.aclose()``). The settings are checked,
    and the ledger opened, on a worker thread when awaited, before anything is sent; the errors
    are those of :func:`asyncjobs.connect`.

    Returns:
        An awaitable async context manager giving an :class:`AsyncClient`.
    """

    def make() -> Client | Router:
        return _connect_sync(
            provider,
            ledger=ledger,
            timeout=timeout,
            retry=retry,
            poll=poll,
            session=session,
            max_body=max_body,
            webhooks=webhooks,
            budget=budget,
            **settings,
        )

    return Connecting(make)


class Connecting:
    """What :func:`connect` returns: await it for an :class:`AsyncClient`, or use it as an async
    context manager that closes the client at the end."""

    def __init__(self, make: Callable[[], Client | Router]) -> None:
        self._make = make
        self._client: AsyncClient | None = None

    async def _open(self) -> AsyncClient:
        return AsyncClient(await _aio.run(self._make), owns=True)

    def __await__(self) -> Generator[Any, None, AsyncClient]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncClient:
        self._client = await self._open()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()


# -- the client ---------------------------------------------------------------------------------------


class AsyncClient:
    """One provider's jobs, awaited: ``submit``, ``status``, ``result``, ``cancel``, ``list``, ``job``.

    Made by :func:`connect`, or around an existing :class:`asyncjobs.Client` (or
    :class:`asyncjobs.Router`) with ``AsyncClient(client)``: then both share everything, the
    one-poll-in-flight-per-job rule included (an async poll and a sync poll of one job share one
    request).

    Attributes:
        sync: the :class:`asyncjobs.Client` (or :class:`asyncjobs.Router`) underneath.
    """

    def __init__(self, client: Client | Router, *, owns: bool = False) -> None:
        if not isinstance(client, (Client, Router)):
            raise errors.InvalidParameterError(
                f"AsyncClient wraps an asyncjobs.Client or Router, not {type(client).__name__}",
                parameter="client",
            )
        self.sync = client
        self._owns = owns

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.sync.name

    @property
    def poll_policy(self) -> PollPolicy:
        """How often this client's jobs are polled."""
        return self.sync.poll_policy

    def __repr__(self) -> str:
        return f"<asyncjobs.aio.AsyncClient {self.name} ledger={self.sync.ledger!r}>"

    async def aclose(self) -> None:
        """Close the client (on a worker thread) if :func:`connect` made it; a wrapped client is
        left to its owner."""
        if self._owns:
            await _aio.run(self.sync.close)
            _aio.release(self.sync)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _wrap(self, job: Job) -> AsyncJob:
        return AsyncJob(self, job)

    async def submit(
        self, kind: str, /, *, webhook: str | bool | None = None, **params: Any
    ) -> AsyncJob:
        """Start a job; as :meth:`asyncjobs.Client.submit` (in the ledger before the request leaves).

        Raises:
            InvalidParameterError: before any request. ProviderError, TransportError, LedgerError.
        """
        call = functools.partial(self.sync.submit, kind, webhook=webhook, **params)
        return self._wrap(await _aio.run(call, owner=self.sync))

    async def status(self, job_id: str) -> JobInfo:
        """One look at the job at the provider (shared with any poll of it in flight)."""
        return await _aio.run(self.sync.status, job_id, owner=self.sync)

    async def result(self, job_id: str, timeout: float | None = None) -> Result:
        """Wait for the job and return its result (see :meth:`AsyncJob.result`)."""
        return await self.job(job_id).result(timeout=timeout)

    async def cancel(self, job_id: str) -> None:
        """Cancel the job (``NotSupportedError`` before any request where the provider cannot)."""
        await _aio.run(self.sync.cancel, job_id, owner=self.sync)

    async def list(
        self, status: Status | str | None = None, kind: str | None = None
    ) -> AsyncJobList:
        """This provider's jobs, as :meth:`asyncjobs.Client.list`, as :class:`AsyncJob` handles."""
        listed = await _aio.run(self.sync.list, status, kind, owner=self.sync)
        return AsyncJobList([self._wrap(j) for j in listed])

    def job(self, job_id: str) -> AsyncJob:
        """A handle on an existing job; nothing is sent and nothing is read (the ledger is read by
        the first look)."""
        from ._client import check_id

        check_id(job_id)
        if isinstance(self.sync, Router):
            return self._wrap(self.sync.job(job_id))  # the ledger says whose it is
        return self._wrap(Job(self.sync, job_id))


# -- the job handle -----------------------------------------------------------------------------------


class AsyncJob:
    """A handle on one job, awaited. ``await job`` is ``await job.result()``.

    Attributes:
        sync: the :class:`asyncjobs.Job` underneath (the same job, for the sync API).
    """

    __slots__ = ("_client", "sync")

    def __init__(self, client: AsyncClient, job: Job) -> None:
        self._client = client
        self.sync = job

    @property
    def client(self) -> AsyncClient:
        """The client this job is reached through."""
        return self._client

    @property
    def id(self) -> str:
        """The provider's job id."""
        return self.sync.id

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.sync.provider

    @property
    def kind(self) -> str | None:
        """The job's kind, when known."""
        return self.sync.kind

    @property
    def info(self) -> JobInfo | None:
        """The last :class:`JobInfo` seen, or ``None`` before the first look."""
        return self.sync.info

    @property
    def error(self) -> BaseException | None:
        """The error that ended the last wait over many jobs for this one."""
        return self.sync.error

    @error.setter
    def error(self, value: BaseException | None) -> None:
        self.sync.error = value

    def __repr__(self) -> str:
        status = self.info.status.value if self.info else "unknown"
        return f"<AsyncJob {self.provider}:{self.id} {self.kind or '?'} {status}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncJob) and self.sync == other.sync

    def __hash__(self) -> int:
        return hash(self.sync)

    def __await__(self) -> Generator[Any, None, Result]:
        return self.result().__await__()

    def _repr_html_(self) -> str:
        return self.sync._repr_html_()

    def add_status_callback(self, fn: Callable[[AsyncJob], object]) -> None:
        """Call ``fn(self)`` on every status change seen, on the event loop this is called from;
        ``fn`` may be a plain function or a coroutine function (run as a task of that loop, not
        awaited by the wait that saw the change).

        The rule is :meth:`asyncjobs.Job.add_status_callback`'s: a look by whatever polls the job
        (``await job``, :meth:`wait`, :func:`asyncjobs.aio.wait`, :meth:`refresh`, ...) whose status
        or ``raw_status`` differs from the last one known, without polling more for it. An error
        ``fn`` raises (or its coroutine) is logged (logger ``asyncjobs.waiting``), never raised.

        Raises:
            InvalidParameterError: ``fn`` is not callable. RuntimeError: no event loop is running.
        """
        given: object = fn
        if not callable(given):
            raise errors.InvalidParameterError(f"fn must be callable, not {fn!r}", parameter="fn")
        loop = asyncio.get_running_loop()

        def on_loop() -> None:
            try:
                value = fn(self)
                if inspect.isawaitable(value):
                    task = loop.create_task(_awaited(value, self))
                    _CALLBACK_TASKS.add(task)
                    task.add_done_callback(_CALLBACK_TASKS.discard)
            except Exception:
                _log.exception("a status callback of job %s at %s raised", self.id, self.provider)

        def hop(_: Job) -> None:
            try:
                here = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            if here is loop:
                on_loop()
            elif not loop.is_closed():  # a look from a worker thread: told on the loop, in order
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(on_loop)

        self.sync.add_status_callback(hop)

    async def refresh(self) -> JobInfo:
        """Look at the job once; update and return :attr:`info`."""
        return await _aio.run(self.sync.refresh, owner=self.sync.connected_client)

    async def status(self) -> Status:
        """The job's status after one look at the provider."""
        return (await self.refresh()).status

    async def done(self) -> bool:
        """True when the job has finished; looks again only while it is pending."""
        if self.info is not None and self.info.finished:
            return True
        return (await self.refresh()).finished

    async def wait(self, timeout: float | None = None, progress: Progress = None) -> JobInfo:
        """Poll until the job finishes, per the provider's poll policy (as :meth:`asyncjobs.Job.wait`).

        Cancelling the waiting task stops the wait and leaves the job running at the provider; a
        poll already on its worker thread makes no new attempt.

        Returns:
            The final :class:`JobInfo` (done or failed; no error on failure).

        Raises:
            JobTimeoutError: ``timeout`` passed first. InvalidParameterError: a bad timeout.
        """
        limit = check_timeout(timeout)
        end = None if limit is None else time.monotonic() + limit
        job = self.sync
        reporter = await _reporter(progress, total=None, desc=f"{job.provider}:{job.id}")
        scheduler = _aio_wait.Scheduler([self], end, reporter)
        try:
            await scheduler.start()
            ended = await scheduler.next()
        finally:
            await scheduler.stop()
            reporter.close()
        if ended is None:
            raise timed_out(job.provider, job.id, limit, job.info)
        if job.error is not None:
            raise job.error
        assert job.info is not None
        return job.info

    async def result(self, timeout: float | None = None) -> Result:
        """Wait for the job, then return its :class:`Result` (as :meth:`asyncjobs.Job.result`).

        Raises:
            JobFailedError: the job failed. JobTimeoutError: ``timeout`` passed first.
        """
        limit = check_timeout(timeout)
        end = None if limit is None else time.monotonic() + limit
        info = await self.wait(timeout=timeout, progress=False)
        return await _fetch(self, info, end, limit)

    async def resubmit(self, provider: str | None = None) -> AsyncJob:
        """Run this failed or lost job again, as :meth:`asyncjobs.Job.resubmit` does; the new job's
        handle."""
        job = await _aio.run(self.sync.resubmit, provider, owner=self.sync.connected_client)
        return AsyncJob(self._client, job)

    async def cancel(self) -> None:
        """Cancel the job (``NotSupportedError`` where the provider cannot)."""
        await _aio.run(self.sync.cancel, owner=self.sync.connected_client)

    async def save(
        self,
        dest: str | os.PathLike[str],
        timeout: float | None = None,
        *,
        overwrite: bool = False,
    ) -> list[Path]:
        """Wait for the job and download every result file into the folder ``dest`` (on a worker
        thread), as :meth:`asyncjobs.Job.save`; ``timeout`` bounds the whole call.

        Raises:
            InvalidParameterError: ``dest`` is not a path. SaveError. JobFailedError,
                JobTimeoutError.
        """
        from ._models import check_dest

        check_dest(dest)
        limit = check_timeout(timeout)
        end = None if limit is None else time.monotonic() + limit
        result = await self.result(timeout=timeout)
        save = functools.partial(result.save, dest, overwrite=overwrite)
        try:
            return await _aio.run(_within, end, save, owner=self.sync.connected_client)
        except errors.JobTimeoutError as exc:
            raise finished_late(
                self.provider, self.id, limit, self.info, saving=True, again="Save it again."
            ) from exc


async def _awaited(value: Any, job: AsyncJob) -> object:
    """Await an async status callback's coroutine, logging what it raises."""
    try:
        return await value
    except Exception:
        _log.exception("a status callback of job %s at %s raised", job.id, job.provider)
        return None


async def _fetch(job: AsyncJob, info: JobInfo, end: float | None, limit: float | None) -> Result:
    """The result of ``job``, which ended as ``info``, fetched by the monotonic deadline
    ``end`` (the wait's ``limit`` seconds after it began).

    Raises:
        JobFailedError: the job failed. JobTimeoutError: the deadline passed first.
    """
    if info.status is Status.FAILED:
        raise errors.JobFailedError(info)
    try:
        client = job.sync.client
        return await _aio.run(_within, end, client.fetch_result, job.id, owner=client)
    except errors.JobTimeoutError as exc:
        again = "Ask for it again: await client.result(job_id)."
        raise finished_late(job.provider, job.id, limit, info, saving=False, again=again) from exc


class AsyncJobList(JobList[AsyncJob]):
    """A :class:`asyncjobs.JobList` of :class:`AsyncJob` handles: it shows as the same table, and
    a slice of it is one too."""

    @property
    def sync(self) -> JobList[Job]:
        """The same jobs as a :class:`asyncjobs.JobList` of sync handles."""
        return JobList([j.sync for j in self._jobs])

    def _slice(self, jobs: list[AsyncJob]) -> AsyncJobList:
        return AsyncJobList(jobs)


# -- many jobs ----------------------------------------------------------------------------------------


def _handles(jobs: Iterable[AsyncJob]) -> list[AsyncJob]:
    return handles(jobs, AsyncJob, "aio.AsyncJob", "await job.wait()")


async def _completed(
    jobs: list[AsyncJob], end: float | None, progress: Progress
) -> AsyncGenerator[AsyncJob | None, None]:
    """Yield each job as it ends (an error in ``job.error`` included); yield ``None`` once if the
    monotonic deadline ``end`` passes first, then stop. The jobs not finished yet are polled by one
    scheduler (a heap of due polls, no task per job) through the loop's bounded worker pool; it
    stops when this generator closes."""
    reporter = await _reporter(progress, total=len(jobs), desc="jobs")
    try:
        pending: list[AsyncJob] = []
        for j in jobs:
            if j.info is not None and j.info.finished:
                reporter.advance()
                yield j
            else:
                pending.append(j)
        if not pending:
            return
        scheduler = _aio_wait.Scheduler(pending, end, reporter)
        try:
            await scheduler.start()
            while (job := await scheduler.next()) is not None:
                reporter.advance()
                yield job
            if scheduler.late:
                yield None
        finally:
            await scheduler.stop()
    finally:
        reporter.close()


def _deadline(timeout: float | None) -> float | None:
    """The monotonic deadline ``timeout`` seconds from now (checked first)."""
    limit = check_timeout(timeout)
    return None if limit is None else time.monotonic() + limit


async def as_completed(
    jobs: Iterable[AsyncJob], timeout: float | None = None, *, progress: Progress = False
) -> AsyncIterator[AsyncJob]:
    """Yield each job as it finishes, whichever finishes first (``async for``).

    All jobs are polled from the event loop through its bounded worker pool; no thread per job. A
    job whose poll ended with a permanent error is yielded with it in ``job.error``.

    Raises:
        JobTimeoutError: ``timeout`` seconds passed before every job finished.
    """
    handles = _handles(jobs)
    async with contextlib.aclosing(_completed(handles, _deadline(timeout), progress)) as ending:
        async for job in ending:
            if job is None:
                raise late(handles, timeout)
            yield job


async def wait(
    jobs: Iterable[AsyncJob],
    timeout: float | None = None,
    return_when: ReturnWhen = "ALL_COMPLETED",
    *,
    progress: Progress = None,
) -> tuple[set[AsyncJob], set[AsyncJob]]:
    """Wait for many jobs at once from the event loop (as :func:`asyncjobs.wait`).

    Args:
        jobs: the :class:`AsyncJob` handles, from any clients.
        timeout: seconds to wait at most; no error when it passes.
        return_when: ``"ALL_COMPLETED"``, ``"FIRST_COMPLETED"`` or ``"FIRST_FAILED"``.
        progress: as for :meth:`AsyncJob.wait`; a bar counts finished jobs.

    Returns:
        ``(done, not_done)``: sets of jobs. A job whose poll failed for good is in ``done`` with
        the error in ``job.error``. The jobs not done go on at their providers.
    """
    check_return_when(return_when)
    handles = _handles(jobs)
    done: set[AsyncJob] = set()
    async with contextlib.aclosing(_completed(handles, _deadline(timeout), progress)) as ending:
        async for job in ending:
            if job is None:
                break
            done.add(job)
            if ends_wait(job, return_when):
                break
    return done, {j for j in handles if j not in done}


@overload
async def gather(
    *jobs: AsyncJob, timeout: float | None = ..., return_exceptions: Literal[False] = ...
) -> list[Result]: ...
@overload
async def gather(
    *jobs: AsyncJob, timeout: float | None = ..., return_exceptions: Literal[True]
) -> list[Result | BaseException]: ...
async def gather(
    *jobs: AsyncJob, timeout: float | None = None, return_exceptions: bool = False
) -> list[Result] | list[Result | BaseException]:
    """The results of ``jobs``, in order, as :func:`asyncio.gather` of each ``job.result()``.

    The jobs are polled by one scheduler, as :func:`wait` polls them (no task per job); a job's
    result is fetched as soon as it is done. With ``return_exceptions=False`` the first error
    (JobFailedError, JobTimeoutError, the error that ended a job's polling...) is raised and the
    other waits stop (the jobs go on at their providers); with ``True`` errors take their job's
    place in the list. ``timeout`` bounds the whole call.
    """
    for j in jobs:
        if not isinstance(j, AsyncJob):
            raise errors.InvalidParameterError(
                f"gather takes aio.AsyncJob handles, not {type(j).__name__}", parameter="jobs"
            )
    limit = check_timeout(timeout)
    end = None if limit is None else time.monotonic() + limit
    handles = list(dict.fromkeys(jobs))
    fetches: dict[AsyncJob, asyncio.Future[Result]] = {}
    loop = asyncio.get_running_loop()

    def ended(job: AsyncJob) -> asyncio.Future[Result]:
        """The result of a job that ended: fetched in a task, or its error at once."""
        info = job.info
        if job.error is None and info is not None and info.status is not Status.FAILED:
            return asyncio.ensure_future(_fetch(job, info, end, limit))
        fut: asyncio.Future[Result] = loop.create_future()
        error = job.error or (errors.JobFailedError(info) if info is not None else None)
        fut.set_exception(error or errors.AsyncJobsError(f"job {job.id!r}: no status"))
        return fut

    def raise_first_error() -> None:
        for fut in fetches.values():
            if fut.done() and not fut.cancelled() and (error := fut.exception()) is not None:
                raise error

    try:
        async with contextlib.aclosing(_completed(handles, end, False)) as ending:
            async for job in ending:
                if job is None:
                    break
                fetches[job] = ended(job)
                if not return_exceptions:
                    raise_first_error()
        outcomes: list[Result | BaseException] = []
        for j in jobs:
            fetch = fetches.get(j)
            try:
                if fetch is None:
                    raise timed_out(j.provider, j.id, limit, j.info)
                outcomes.append(await fetch)
            except Exception as exc:
                if not return_exceptions:
                    raise
                outcomes.append(exc)
        return outcomes
    finally:
        for fut in fetches.values():
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: an error not raised is not reported as lost
            fut.cancel()  # after an error: the other fetches stop too
