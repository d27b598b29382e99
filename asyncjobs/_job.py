"""Job handles (:class:`Job`) and lists of them (:class:`JobList`)."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _telemetry, _wake
from ._checks import timeout as check_timeout
from ._http import deadline
from ._http import deadline as deadline_scope
from ._models import JobInfo, Status, check_dest
from ._policies import PollPolicy
from ._poll import WAITS, Action, Poll, Rules, Step, changed, finished_late, timed_out
from ._progress import Progress, make_progress
from ._redaction import get_logger
from ._results import Result

if TYPE_CHECKING:
    import pandas

    from ._client import Client

__all__ = ["Job", "JobList"]

_log = get_logger("asyncjobs.waiting")

#: Guards the swap of a handle's :attr:`Job.info` (two drivers may bring looks of one handle at
#: once), so each change is told once; callbacks are called outside it.
_INFO_LOCK = threading.Lock()


class Job:
    """A handle on one job at one provider. Cheap to make (``client.job(id)``), usable from any
    process, hashable by provider and id.

    Attributes:
        id: the provider's job id.
        kind: the job's kind, when known.
        info: the last :class:`JobInfo` seen, or ``None`` before the first look.
        error: the error that ended the last wait for this one, when its polling failed for good
            (e.g. JobNotFoundError); ``None`` once a wait saw it end.
    """

    __slots__ = ("_client", "_info", "_provider", "_status_callbacks", "error", "id", "kind")

    def __init__(
        self,
        client: Client | Callable[[], Client],
        id: str,
        *,
        kind: str | None = None,
        info: JobInfo | None = None,
        provider: str | None = None,
    ) -> None:
        self._client = client
        self._provider = provider if provider is not None else getattr(client, "name", None)
        self.id = id
        self.kind = kind or (info.kind if info else None)
        self._info = info
        self._status_callbacks: tuple[Callable[[Job], object], ...] = ()
        self.error: BaseException | None = None

    @property
    def info(self) -> JobInfo | None:
        """The last :class:`JobInfo` seen, or ``None`` before the first look."""
        return self._info

    @info.setter
    def info(self, value: JobInfo | None) -> None:
        # every driver of the poll core brings its looks here: the one place status changes are seen
        if not self._status_callbacks:  # nobody to tell (the hot path of a many-job wait)
            self._info = value
            return
        with _INFO_LOCK:
            before, self._info = self._info, value
            callbacks = self._status_callbacks
        if callbacks and value is not None and changed(before, value):
            for fn in callbacks:
                _tell(fn, self)

    def add_status_callback(self, fn: Callable[[Job], object]) -> None:
        """Call ``fn(self)`` on every status change seen: each look at the job, by whatever polls
        it, whose status or ``raw_status`` differs from the last one this handle knew (the end
        included; the first look of a handle that knew none counts too).

        Nothing is polled for it: it rides on the looks something else makes -- :meth:`wait`,
        :meth:`result`, :meth:`status`, :func:`asyncjobs.wait`, :meth:`future`,
        :meth:`add_done_callback`, a webhook's news. Add a done callback or a future to have the
        job watched in the background. ``fn`` is called in the thread that brought the look (the
        waiting thread, or the background scheduler's), in the order callbacks were added, and
        that wait goes on when it returns: keep it quick. An error it raises is logged (logger
        ``asyncjobs.waiting``) and the others are called still.
        Callbacks belong to this handle (another handle on the same job has its own).

        Raises:
            InvalidParameterError: ``fn`` is not callable.
        """
        given: object = fn
        if not callable(given):
            from .errors import InvalidParameterError

            raise InvalidParameterError(f"fn must be callable, not {fn!r}", parameter="fn")
        with _INFO_LOCK:
            self._status_callbacks = (*self._status_callbacks, fn)

    @property
    def client(self) -> Client:
        """The client this job is reached through (connected on first use for jobs from the ledger)."""
        if callable(self._client) and not hasattr(self._client, "status"):
            self._client = self._client()
        return self._client  # type: ignore[return-value]

    @property
    def connected_client(self) -> Client | None:
        """The client, if it is made already (a job from the ledger connects on first use); never
        connects."""
        made = self._client
        return None if callable(made) and not hasattr(made, "status") else made  # type: ignore[return-value]

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self._provider if self._provider is not None else self.client.name

    def __repr__(self) -> str:
        status = self.info.status.value if self.info else "unknown"
        return f"<Job {self.provider}:{self.id} {self.kind or '?'} {status}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and (self.provider, self.id) == (other.provider, other.id)

    def __hash__(self) -> int:
        return hash((self.provider, self.id))

    def refresh(self) -> JobInfo:
        """Look at the job once; update and return :attr:`info`."""
        self.info = self.client.status(self.id)
        if self.kind is None:
            self.kind = self.info.kind
        return self.info

    def status(self) -> Status:
        """The job's status after one look at the provider."""
        return self.refresh().status

    def done(self) -> bool:
        """True when the job has finished (done or failed); looks again only while it is pending."""
        if self.info is not None and self.info.finished:
            return True
        return self.refresh().finished

    def wait(self, timeout: float | None = None, progress: Progress = None) -> JobInfo:
        """Poll until the job finishes, per the provider's poll policy.

        Args:
            timeout: seconds to wait at most; ``None`` waits as long as it takes.
            progress: ``None`` (a bar in terminals and notebooks), ``False``, ``True``, or a callable
                given each :class:`JobInfo` seen.

        Returns:
            The final :class:`JobInfo` (``done`` or ``failed``; this method does not raise on failure).

        Raises:
            JobTimeoutError: ``timeout`` passed first. InvalidParameterError: a bad timeout.
        """
        return wait_one(self, timeout=timeout, progress=progress)

    def result(self, timeout: float | None = None) -> Result:
        """Wait for the job, then return its :class:`Result`.

        Raises:
            JobFailedError: the job failed. JobTimeoutError: ``timeout`` passed first.
        """
        from .errors import JobFailedError, JobTimeoutError

        limit = check_timeout(timeout)
        end = None if limit is None else time.monotonic() + limit
        info = self.wait(timeout=timeout, progress=False)
        if info.status is Status.FAILED:
            raise JobFailedError(info)
        try:
            with deadline(end):  # fetching the result counts against the same timeout
                return self.client.fetch_result(self.id)
        except JobTimeoutError as exc:
            again = "Ask for it again: client.result(job_id)."
            raise finished_late(
                self.provider, self.id, limit, info, saving=False, again=again
            ) from exc

    def cancel(self) -> None:
        """Cancel the job (``NotSupportedError`` where the provider cannot)."""
        self.client.cancel(self.id)

    def resubmit(self, provider: str | None = None) -> Job:
        """Run this failed or lost job again, as a new job, from the source the ledger kept (a
        path, read again, or a URL), at its provider or at ``provider``. See
        :meth:`asyncjobs.Client.resubmit` for what is refused and why.

        Returns:
            The new job's handle (this one is left as it is).
        """
        return self.client.resubmit(self.id, provider=provider)

    def future(self) -> concurrent.futures.Future[Result]:
        """A :class:`concurrent.futures.Future` of the job's :class:`Result`, polled by the shared
        background scheduler (one thread and a bounded pool for every job of the process), so
        ``asyncio.wrap_future(job.future())`` works from any event loop.

        It ends with the result, with JobFailedError when the job fails, or with the error that
        ended its polling (e.g. JobNotFoundError). Cancelling the future stops polling for it; the
        job goes on at the provider. Closing the job's client cancels the future.
        """
        return self.client.watch(self, future=True)

    def add_done_callback(self, fn: Callable[[Job], object]) -> None:
        """Call ``fn(self)`` once when the job ends (done, failed, or polling ended with an error in
        :attr:`error`), from the scheduler's thread; at once, in this thread, if it already has.
        An error raised by ``fn`` is logged, not raised. Closing the job's client first drops the
        callback uncalled."""
        given: object = fn
        if not callable(given):
            from .errors import InvalidParameterError

            raise InvalidParameterError(f"fn must be callable, not {fn!r}", parameter="fn")
        self.client.watch(self, callback=fn)

    def save(
        self,
        dest: str | os.PathLike[str],
        timeout: float | None = None,
        *,
        overwrite: bool = False,
    ) -> list[Path]:
        """Wait for the job and download every result file into the folder ``dest``.

        ``timeout`` bounds the whole call: the wait, the result and the downloads (plus one read
        timeout at most). Files with the same name get distinct names (``page (2).jpg``); an
        existing file is never replaced unless ``overwrite`` is true.

        Raises:
            InvalidParameterError: ``dest`` is not a path (checked before any request).
            SaveError: a file exists (and not ``overwrite``), or the disk is full.
            JobFailedError, JobTimeoutError: as for :meth:`result`.
        """
        from .errors import JobTimeoutError

        check_dest(dest)
        limit = check_timeout(timeout)
        end = None if limit is None else time.monotonic() + limit
        result = self.result(timeout=timeout)
        try:
            with deadline(end):
                return result.save(dest, overwrite=overwrite)
        except JobTimeoutError as exc:
            raise finished_late(
                self.provider, self.id, limit, self.info, saving=True, again="Save it again."
            ) from exc

    def _repr_html_(self) -> str:
        from ._views import jobs_html

        return jobs_html([self])


#: The handles a :class:`JobList` holds: :class:`Job`, or :class:`asyncjobs.aio.AsyncJob`.
J = TypeVar("J")


class JobList(Sequence[J]):
    """A list of jobs that shows as a table (``repr``, ``_repr_html_``, :meth:`to_pandas`).

    ``JobList[Job]`` from the sync API, ``JobList[AsyncJob]`` from :mod:`asyncjobs.aio` (there as
    its subclass ``aio.AsyncJobList``); a slice is a list of the same handles."""

    def __init__(self, jobs: Iterable[J] = ()) -> None:
        self._jobs = list(jobs)

    @overload
    def __getitem__(self, index: int) -> J: ...
    @overload
    def __getitem__(self, index: slice) -> JobList[J]: ...
    def __getitem__(self, index: int | slice) -> J | JobList[J]:
        if isinstance(index, slice):
            return self._slice(self._jobs[index])
        return self._jobs[index]

    def _slice(self, jobs: list[J]) -> JobList[J]:
        return JobList(jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[J]:
        return iter(self._jobs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._jobs == list(other)

    __hash__ = None  # type: ignore[assignment]

    def _sync_jobs(self) -> list[Job]:
        """The sync handles of the jobs (an async handle's ``sync``), for the tables."""
        return [j if isinstance(j, Job) else j.sync for j in self._jobs]  # type: ignore[attr-defined]

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per job: provider, id, kind, status, raw_status, times, error."""
        from ._views import record

        return [record(j) for j in self._sync_jobs()]

    def to_pandas(self) -> pandas.DataFrame:
        """The jobs as a ``pandas.DataFrame`` (needs pandas: the ``pandas`` extra of ``asyncjobs-core``)."""
        try:
            import pandas as pd
        except ImportError:
            from .errors import NotSupportedError

            raise NotSupportedError(
                "JobList.to_pandas() needs pandas: pip install pandas"
            ) from None
        return pd.DataFrame.from_records(self.to_records())

    def __repr__(self) -> str:
        from ._views import jobs_text

        return jobs_text(self._sync_jobs())

    def _repr_html_(self) -> str:
        from ._views import jobs_html

        return jobs_html(self._sync_jobs())


# -- waiting for one job ------------------------------------------------------------------------------


H = TypeVar("H")


def handles(jobs: object, kind: type[H], name: str, one: str) -> list[H]:
    """``jobs`` as a list of ``kind`` handles without repeats, checked before anything is sent.

    Raises:
        InvalidParameterError: ``jobs`` is one handle (``one`` says what to call instead), not
            an iterable, or holds something else than ``name`` handles.
    """
    from .errors import InvalidParameterError

    if isinstance(jobs, kind) or not isinstance(jobs, Iterable):
        raise InvalidParameterError(
            f"expected an iterable of {name} handles, not {type(jobs).__name__}; for one job, "
            f"{one}",
            parameter="jobs",
        )
    found = list(dict.fromkeys(jobs))
    for j in found:
        if not isinstance(j, kind):
            raise InvalidParameterError(
                f"expected {name} handles, got {type(j).__name__}", parameter="jobs"
            )
    return found


def tracker(
    job: Job, *, rules: Rules = WAITS, deadline: float | None = None, since: float | None = None
) -> Poll:
    """The poll core's state of ``job`` for one wait (see :class:`asyncjobs._poll.Poll`), with its
    client's policy and whether a webhook call is expected for it. Nothing is connected here: for
    a job whose client is made on its first poll (a job from the ledger), the policy is looked up
    when it is first needed."""
    client = job.connected_client
    return Poll(
        None if client is None else client.poll_policy,
        rules=rules,
        deadline=deadline,
        since=time.time() if since is None else since,
        info=job.info,
        expecting=client is not None and client.expects_call(job.id),
        lookup=lambda: job.client.poll_policy,
        watch=_telemetry.watch(job.provider, job.id, job.kind),
    )


def _tell(fn: Callable[[Job], object], job: Job) -> None:
    """Call one status callback; what it raises is logged, never raised into the driver."""
    try:
        fn(job)
    except Exception:
        _log.exception("a status callback of job %s at %s raised", job.id, job.provider)


def policies(jobs: Iterable[Job]) -> list[PollPolicy | None]:
    """The poll policies of the clients ``jobs`` are polled through, one per client (``None`` for
    jobs whose client is not made yet): what :func:`asyncjobs._limit.adaptive` judges."""
    clients: dict[int, PollPolicy | None] = {}
    for job in jobs:
        client = job.connected_client
        if client is None:
            clients[0] = None
        elif id(client) not in clients:
            clients[id(client)] = client.poll_policy
    return list(clients.values())


def refresh_within(job: Job, end: float | None) -> JobInfo:
    """One look at ``job``, every request of it bounded by the monotonic deadline ``end``."""
    with deadline_scope(end):
        return job.refresh()


def settle(job: Job, step: Step) -> None:
    """Bring ``job``'s handle up to date with a step of the poll core (its end, or news)."""
    if step.info is not None and step.action is Action.ENDED:
        job.info = step.info
        if job.kind is None:
            job.kind = step.info.kind
        job.error = None
    elif step.action is Action.GAVE_UP:
        job.error = step.error


def wait_one(job: Job, *, timeout: float | None = None, progress: Progress = None) -> JobInfo:
    """Poll ``job`` until it finishes, in the caller's thread; see :meth:`Job.wait`."""
    limit = check_timeout(timeout)
    end = None if limit is None else time.monotonic() + limit
    reporter = make_progress(progress, total=None, desc=f"{job.provider}:{job.id}")
    poll = tracker(job, deadline=end)
    try:
        with _wake.listening([job]) as waiter:
            at = poll.first(time.monotonic(), time.time())
            while True:
                news = waiter.nap(max(0.0, at - time.monotonic())).get((job.provider, job.id))
                if news is not None:
                    step = poll.news(news, time.time())
                else:
                    result: JobInfo | BaseException
                    try:
                        result = refresh_within(job, end)
                    except Exception as exc:
                        result = exc
                    step = poll.step(result, time.monotonic(), time.time())
                if step.info is not None:
                    reporter.seen(step.info)
                if step.action is Action.AGAIN:
                    at = step.at
                    continue
                settle(job, step)
                if step.action is Action.ENDED:
                    assert step.info is not None
                    return step.info
                if step.action is Action.TIMED_OUT:
                    raise timed_out(job.provider, job.id, limit, job.info) from step.error
                assert step.error is not None
                raise step.error
    finally:
        poll.close()
        reporter.close()
