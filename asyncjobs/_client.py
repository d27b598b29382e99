"""The client: one provider, its transport and the ledger, behind the five verbs."""

from __future__ import annotations

import concurrent.futures
import contextlib
import operator
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import attrs
import requests

from . import _checks, _wake, errors
from ._deferred import collecting
from ._http import MAX_BODY, RetryPolicy, Timeouts, Transport
from ._job import Job, JobList
from ._ledger import Ledger, LedgerEntry, SubmitState
from ._models import JobInfo, Result, ResultFile, Status, expiry
from ._redaction import MASK, Redactor, get_logger, redact_value
from ._registry import get_provider_class
from ._settings import resolve_settings
from ._sources import Source
from ._text import duration_text
from .provider import Kind, PollPolicy, Provider

__all__ = ["Client", "connect", "jobs"]

if TYPE_CHECKING:
    from ._webhooks import Receiver

log = get_logger("asyncjobs._client")

LedgerArg = Ledger | str | os.PathLike[str] | bool | None


def _receiver(webhooks: object) -> Receiver | None:
    """``connect(webhooks=...)`` checked; the webhook machinery is imported only when a receiver
    is given or configured (a client without one does not pay for it on first use)."""
    if webhooks is False or (
        webhooks is None
        and not os.environ.get("ASYNCJOBS_WEBHOOK_URL")
        and not os.environ.get("ASYNCJOBS_WEBHOOK_KEY")
    ):
        return None
    from ._webhooks import check_receiver

    return check_receiver(webhooks)


def connect(
    provider: str,
    *,
    ledger: LedgerArg = None,
    timeout: Timeouts | float | None = None,
    retry: RetryPolicy | None = None,
    poll: PollPolicy | None = None,
    session: Any = None,
    max_body: int = MAX_BODY,
    webhooks: Receiver | bool | None = None,
    **settings: Any,
) -> Client:
    """Connect to a provider.

    Args:
        provider: a name from :func:`asyncjobs.available_providers`.
        ledger: ``None`` for the default ledger (``$ASYNCJOBS_LEDGER`` when set, else a SQLite file
            in ``$ASYNCJOBS_HOME`` or the user data folder), a path, a ``postgresql://`` URL (a
            ledger shared by many machines), a :class:`~asyncjobs.Ledger`, or ``False`` for none.
        timeout: a :class:`~asyncjobs._http.Timeouts`, or one number for both connect and read.
        retry: a :class:`~asyncjobs._http.RetryPolicy`.
        poll: a :class:`~asyncjobs.provider.PollPolicy` instead of the provider's own (e.g. faster
            polls against a sandbox).
        session: a ``requests.Session`` to send through (proxies, custom adapters).
        max_body: the largest answer read into memory, in bytes (16 MiB by default); a larger one
            is refused with TransportError. Result downloads are streamed and not bound by it.
        webhooks: an :class:`asyncjobs.webhooks.Receiver`, so that ``submit(webhook=True)``
            builds its URLs and the receiver's calls are confirmed through this client; ``None``
            for the one ``ASYNCJOBS_WEBHOOK_URL`` and ``ASYNCJOBS_WEBHOOK_KEY`` describe (none
            if unset); ``False`` for none.
        **settings: the provider's settings (``secret=``, ``base_url=``...); any not given are read
            from their environment variables.

    Returns:
        A :class:`Client`; close it (or use it as a context manager) when done.

    Raises:
        UnknownProviderError: no such provider.
        ConfigurationError: a setting is missing, unknown or wrong (a secret that could not travel
            as it is, e.g. one ending with a newline, is refused by name, never shown), or the
            ledger cannot be opened.
        InvalidParameterError: a timeout is not a positive number.
    """
    cls = get_provider_class(provider)
    config = resolve_settings(cls, settings)
    receiver = _receiver(webhooks)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise errors.InvalidParameterError(
            f"retry must be an asyncjobs.RetryPolicy, not {retry!r}", parameter="retry"
        )
    if session is not None and not isinstance(session, requests.Session):
        raise errors.InvalidParameterError(
            f"session must be a requests.Session, not {type(session).__name__}",
            parameter="session",
        )
    if timeout is None or isinstance(timeout, Timeouts):
        timeouts = timeout or Timeouts()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        seconds = _checks.seconds(timeout, "timeout")
        timeouts = Timeouts(connect=seconds, read=seconds)
    else:
        raise errors.InvalidParameterError(
            f"timeout must be a number of seconds or a Timeouts, not {timeout!r}",
            parameter="timeout",
        )
    transport = Transport(
        provider=cls.name or provider,
        timeouts=timeouts,
        retry=retry,
        redactor=Redactor(config.secrets),
        session=session,
        origins=cls.credential_origins(config),
        max_body=max_body,
    )
    if poll is not None and not isinstance(poll, PollPolicy):
        raise errors.InvalidParameterError(
            f"poll must be a PollPolicy, not {poll!r}", parameter="poll"
        )
    client = Client(
        cls(config, transport),
        ledger=_open_ledger(ledger),
        poll=poll,
        owns_ledger=not isinstance(ledger, Ledger),
    )
    if receiver is not None:
        client.webhooks = receiver
        receiver.attach(client)
    return client


def _open_ledger(ledger: LedgerArg) -> Ledger | None:
    if ledger is False:
        return None
    if ledger is None or ledger is True:
        return Ledger.open()  # $ASYNCJOBS_LEDGER, else the default file
    if isinstance(ledger, Ledger):
        return ledger
    if isinstance(ledger, (str, os.PathLike)):
        return Ledger(ledger)
    raise errors.InvalidParameterError(
        f"ledger must be None, False, a path, a postgresql:// URL or a Ledger, not {ledger!r}",
        parameter="ledger",
    )


check_timeout = _checks.timeout  # kept for callers of the old name


class _Flight:
    """One poll of a job in flight; later callers wait for it and share its answer.

    A plain lock, held by the poll's owner until the answer is in, is what later callers wait on
    (an Event costs a Condition and two more objects for every status, when almost none is shared).
    """

    __slots__ = ("_held", "error", "info")

    def __init__(self) -> None:
        self._held = threading.Lock()
        self._held.acquire()
        self.info: JobInfo | None = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        """Until the owner has ended the poll."""
        with self._held:
            pass

    def end(self) -> None:
        """The answer (or the error) is in: wake the callers waiting for it."""
        self._held.release()


class _Known:
    """What a process last learnt of one job from its ledger and its provider: the ledger's entry
    as read, the provider's last look, and the status that look gave (times filled in, redacted).

    A status whose look is the same as the last one is answered from here, with no SQLite read; a
    look that changed anything (or an error) reads the entry again, since another process may have
    recorded something meanwhile (a cancel, when it first saw the job finished)."""

    __slots__ = ("entry", "info", "look")

    def __init__(self, entry: LedgerEntry | None, look: JobInfo | None, info: JobInfo) -> None:
        self.entry = entry
        self.look = look  # None: the job is cancelled here, and ``info`` is the ledger's word
        self.info = info


#: Jobs a process remembers per ledger (see :class:`_Known`); forgetting one costs a read.
_KNOWN_MEMORY = 20_000

#: Per ledger object, shared by every client of it in the process, so that one client's
#: ``cancel`` is seen by the next ``status`` of any other: (provider, job id) -> what is known.
_KNOWN: weakref.WeakKeyDictionary[Ledger, dict[tuple[str, str], _Known]] = (
    weakref.WeakKeyDictionary()
)


class Client:
    """One provider's jobs: ``submit``, ``status``, ``result``, ``cancel``, ``list`` and ``job``.

    Made by :func:`asyncjobs.connect`. Safe to share between threads. At most one poll of a job is in
    flight at a time: concurrent ``status`` calls for one job share one request.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        ledger: Ledger | None = None,
        poll: PollPolicy | None = None,
        owns_ledger: bool = False,
    ) -> None:
        self.provider = provider
        self.ledger = ledger
        #: how often jobs of this client are polled (the provider's policy unless overridden)
        self.poll_policy = poll or provider.capabilities.poll
        self._owns_ledger = owns_ledger  # closing the client closes the ledger
        #: the webhook receiver whose calls this client confirms (``connect(webhooks=...)``)
        self.webhooks: Receiver | None = None
        #: ids of this client's jobs submitted with ``webhook=True`` and not seen finished yet
        self._expecting: set[str] = set()
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()
        # jobs whose last look came from the ledger because another poller holds their lease, and
        # the events their waiters sleep on until the ledger says they changed
        self._elsewhere: set[str] = set()
        self._subscribed = False
        self._watched = False  # a job of this client went to the background scheduler
        self._known: dict[tuple[str, str], _Known] | None = None
        if ledger is not None:
            self._known = _KNOWN.get(ledger)
            if self._known is None:
                self._known = _KNOWN.setdefault(ledger, {})
        provider.look_through(self.status)  # a result that needs a look: the one-flight rule

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.provider.name

    def __repr__(self) -> str:
        return f"<asyncjobs.Client {self.name} ledger={self.ledger!r}>"

    def close(self) -> None:
        """Close the provider and its HTTP connections, and the ledger if ``connect`` opened it.

        The background scheduler stops watching this client's jobs: the futures of
        :meth:`Job.future` not yet resolved are cancelled and their done callbacks are not called
        (the jobs go on at the provider)."""
        if self._watched:
            from ._background import release

            release(self)
        if self.webhooks is not None:
            self.webhooks.detach(self)
        if self._subscribed and self.ledger is not None:
            self.ledger.unsubscribe(self._changed)
        self.provider.close()
        self.provider.transport.close()
        if self.ledger is not None and self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- validation -------------------------------------------------------------------------------

    def kind(self, kind: str) -> Kind:
        """The :class:`~asyncjobs.provider.Kind` named ``kind``.

        Raises:
            InvalidParameterError: the provider has no such kind.
        """
        for k in self.provider.kinds:
            if k.name == kind:
                return k
        names = ", ".join(repr(k.name) for k in self.provider.kinds) or "none"
        raise errors.InvalidParameterError(
            f"{self.name} has no job kind {kind!r}; its kinds are: {names}.",
            parameter="kind",
            provider=self.name,
        )

    def _check(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.kind(kind)
        declared = set(spec.param_names)
        if not spec.extra:
            unknown = sorted(set(params) - declared)
            if unknown:
                raise errors.InvalidParameterError(
                    f"{self.name} {kind!r} takes no parameter {', '.join(map(repr, unknown))}; it "
                    f"takes: {', '.join(spec.param_names) or 'none'}.",
                    parameter=unknown[0],
                    provider=self.name,
                )
        for p in spec.params:
            if p.required and params.get(p.name) is None:
                raise errors.InvalidParameterError(
                    f"{self.name} {kind!r} needs the parameter {p.name!r} ({p.doc}).",
                    parameter=p.name,
                    provider=self.name,
                )
        return self.provider.prepare(kind, params)

    # -- the verbs --------------------------------------------------------------------------------

    def submit(self, kind: str, /, *, webhook: str | bool | None = None, **params: Any) -> Job:
        """Start a job of ``kind`` with ``params``; it is in the ledger before the request leaves.

        ``webhook=True`` has the service call this client's webhook receiver when the job ends
        (the URL is the receiver's, with a token of this job; for a service whose webhook is set
        per account, the job is only marked as expecting a call); ``webhook="https://..."``
        passes a URL of your own as it is.

        Returns:
            A :class:`~asyncjobs.Job` handle, normally ``pending``.

        Raises:
            InvalidParameterError: unknown kind or parameter, missing parameter, bad source (before any
                request).
            NotSupportedError: ``webhook`` given to a provider without webhooks (before any
                request), or a URL of your own to a provider whose webhook is set per account.
            ConfigurationError: ``webhook=True`` on a client without a webhook receiver.
            ProviderError: the service refused the job; TransportError: the outcome is unknown (the
                ledger keeps the attempt as ``unknown``).
        """
        if not isinstance(kind, str):
            raise errors.InvalidParameterError(
                f"kind must be a string, not {type(kind).__name__}", parameter="kind"
            )
        caps = self.provider.capabilities
        if webhook is not None and webhook is not False:
            if not caps.webhooks:
                raise errors.NotSupportedError(
                    f"{self.name} does not call webhooks; poll with job.wait() instead.",
                    provider=self.name,
                )
            if webhook is True:
                if self.webhooks is None:
                    raise errors.ConfigurationError(
                        f"{self.name}: webhook=True needs a webhook receiver: connect(..., "
                        "webhooks=asyncjobs.webhooks.Receiver(public_url, key)), or set "
                        "ASYNCJOBS_WEBHOOK_URL and ASYNCJOBS_WEBHOOK_KEY.",
                        provider=self.name,
                    )
            elif not isinstance(webhook, str) or not webhook.startswith(("http://", "https://")):
                raise errors.InvalidParameterError(
                    f"webhook must be an http(s) URL or True, not {webhook!r}", parameter="webhook"
                )
            elif caps.account_webhook:
                raise errors.NotSupportedError(
                    f"{self.name} calls one webhook per account, set in its own settings, not one "
                    "per job: register receiver.url_for("
                    f"{self.name!r}) there and submit with webhook=True.",
                    provider=self.name,
                )
        prepared = self._check(kind, dict(params))
        job_id = self.provider.new_job_id()
        url: str | None = webhook if isinstance(webhook, str) else None
        expecting = webhook is True
        if expecting and self.webhooks is not None and not caps.account_webhook:
            # the job's own URL (a provider that issues its ids itself gets the provider's)
            url = self.webhooks.url_for(self.name, job_id)
        if expecting and job_id is not None:
            self._expecting.add(job_id)  # a call may come before submit returns
        key = None
        if self.ledger is not None:
            recorded = redact_value(_describe(prepared), self.provider.transport.redactor)
            key = self.ledger.begin(self.name, kind, recorded, job_id)  # type: ignore[arg-type]
        sent_at = datetime.now(timezone.utc)
        try:
            info = self.provider.submit(kind, prepared, job_id=job_id, webhook=url)
            if not isinstance(info.id, str) or not info.id.strip():
                raise errors.TransportError(
                    f"{self.name} accepted the {kind!r} job but answered no job id. The job may "
                    "exist: look for it (client.list(), the provider's own console) before "
                    "submitting again.",
                    provider=self.name,
                )
            if info.submitted_at is None:  # the provider did not say; we know when we sent it
                info = attrs.evolve(info, submitted_at=sent_at)
            info = self._stamp(info)
        except BaseException as exc:
            if job_id is not None and not isinstance(exc, errors.TransportError):
                self._expecting.discard(job_id)
            if self.ledger is not None and key is not None:
                ambiguous = not isinstance(exc, errors.AsyncJobsError) or (
                    isinstance(exc, errors.TransportError)
                    or (isinstance(exc, errors.ProviderError) and (exc.status_code or 0) >= 500)
                )
                try:
                    self.ledger.failed(key, self._redact(str(exc)), ambiguous=ambiguous)
                except errors.AsyncJobsError as ledger_exc:
                    log.warning("%s: could not record the failed submit: %s", self.name, ledger_exc)
            raise
        self._forget(info.id)  # an id issued again is a new job: nothing known of the old one
        if expecting and not info.finished:
            self._expecting.add(info.id)
        elif expecting:
            self._expecting.discard(info.id)  # finished already (a synchronous answer)
        if self.ledger is not None and key is not None:
            self._record_issued(key, info)
        log.debug("%s: submitted %s job %s", self.name, kind, info.id)
        return Job(self, info.id, kind=info.kind, info=info)

    def _record_issued(self, key: str, info: JobInfo) -> None:
        """Write the id the service issued, trying again for a few seconds; if the ledger still
        fails, raise LedgerError carrying the id, so that the job is never lost to the caller."""
        assert self.ledger is not None
        last: errors.AsyncJobsError | None = None
        for delay in _LEDGER_RETRIES:
            try:
                self.ledger.issued(key, info)
                return
            except (errors.LedgerError, errors.ConfigurationError) as exc:
                last = exc
                time.sleep(delay)
        log.warning(
            "%s: job %s was submitted, but the ledger could not record it: %s",
            self.name,
            info.id,
            last,
        )
        raise errors.LedgerError(
            f"{errors.describe(self.name, info.id)} was submitted and runs at the provider, but the "
            f"ledger could not record it ({last}). Keep the job id: the job is error.job_id and "
            "error.info; free the disk or fix the ledger, then pick it up with client.job(job_id).",
            provider=self.name,
            job_id=info.id,
            info=info,
        ) from last

    def _redact(self, text: str) -> str:
        return self.provider.transport.redactor(text)

    def _stamp(self, info: JobInfo) -> JobInfo:
        """Every JobInfo a provider returns passes here: what the service wrote in it (the raw
        status, the error, meta) is redacted before anyone stores or shows it, and ``expires_at``
        is filled from the provider's job lifetime when the service says when the job ended."""
        redact = self.provider.transport.redactor
        raw = None if info.raw_status is None else redact(str(info.raw_status))
        error = None if info.error is None else redact.clip(str(info.error), 2000)
        meta = info.meta
        if meta:
            meta = cast(Mapping[str, Any], redact_value(dict(meta), redact))
        expires = expiry(info, self.provider.capabilities.job_lifetime)
        if (raw, error, meta, expires) == (info.raw_status, info.error, info.meta, info.expires_at):
            return info
        return attrs.evolve(info, raw_status=raw, error=error, meta=meta, expires_at=expires)

    def expects_call(self, job_id: str) -> bool:
        """Whether a webhook call is expected for the job (submitted with ``webhook=True`` through
        this client's receiver, and not seen finished yet): its polls are then only a safety net."""
        return self.webhooks is not None and job_id in self._expecting

    def polled_elsewhere(self, job_id: str) -> bool:
        """Whether the job's last look came from a shared ledger because another poller holds its
        lease (the job is that poller's to poll)."""
        return job_id in self._elsewhere

    def watch(
        self,
        job: Job,
        *,
        future: bool = False,
        callback: Callable[[Job], object] | None = None,
    ) -> concurrent.futures.Future[Result]:
        """Hand ``job`` to the process's background scheduler: what :meth:`Job.future` and
        :meth:`Job.add_done_callback` call (use those)."""
        from ._background import watch

        self._watched = True
        return watch(job, future=future, callback=callback)

    def _entry(self, job_id: str) -> LedgerEntry | None:
        """The ledger's entry of ``job_id``; a ledger that cannot be read costs a warning here."""
        if self.ledger is None:
            return None
        try:
            return self.ledger.get(self.name, job_id)
        except errors.LedgerError as exc:
            log.warning("%s: job %s: the ledger could not be read: %s", self.name, job_id, exc)
            return None

    def _seen(self, info: JobInfo) -> None:
        """Record a look in the ledger; a ledger that fails here costs a warning, not the poll.
        Inside :func:`deferred_writes` (the many-job scheduler's polls) the look is collected
        instead, and written with the others of the scheduler's pass in one transaction."""
        if self.ledger is None:
            return
        bucket = collecting()
        if bucket is not None:
            bucket.append((self, info))
            return
        try:
            self.ledger.seen(info)
        except (errors.LedgerError, errors.ConfigurationError) as exc:
            log.warning(
                "%s: job %s: the ledger could not record a status: %s", self.name, info.id, exc
            )

    def status(self, job_id: str) -> JobInfo:
        """One look at the job at the provider (shared with any poll of it already in flight).

        Raises:
            JobNotFoundError: unknown or expired job. ProviderError, TransportError.
        """
        check_id(job_id)
        with self._flights_lock:
            flight = self._flights.get(job_id)
            owner = flight is None
            if flight is None:
                flight = self._flights[job_id] = _Flight()
        if not owner:
            flight.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.info is not None
            return flight.info
        try:
            if self.ledger is not None and self.ledger.shared:
                info, cancelled = self._look_shared(job_id)
            else:
                info, cancelled = self._look(job_id)
            flight.info = info
            if cancelled:
                return info  # the ledger's own word: nothing new to record
        except errors.JobNotFoundError as exc:
            self._forget(job_id)
            entry = self._entry(job_id)
            cancelled_info = _cancelled(entry)
            if cancelled_info is not None:  # cancelled meanwhile (another process): its word stands
                flight.info = cancelled_info
                return cancelled_info
            explained = flight.error = self._explain_missing(exc, job_id, entry)
            if explained is exc:
                raise
            raise explained from exc
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._flights_lock:
                del self._flights[job_id]
            flight.end()
        self._seen(info)
        if info.finished:
            self._expecting.discard(job_id)
            _wake.report(self.name, job_id, info)  # wakes this process's waits of the job
        return info

    def _look_shared(self, job_id: str) -> tuple[JobInfo, bool]:
        """:meth:`_look` on a shared ledger, where other machines write too: the entry is read
        every time (nothing remembered), and the job's lease is taken before the provider is
        asked. True with the ledger's word for a job cancelled, or polled by another poller."""
        entry = self._entry(job_id)
        ended = _cancelled(entry)
        if ended is not None:
            return ended, True
        held = self._leased(job_id, entry)
        if held is not None:
            return held, True
        return self._stamp(_times(self.provider.status(job_id), entry)), False

    def _leased(self, job_id: str, entry: LedgerEntry | None) -> JobInfo | None:
        """Take the job's lease before polling it (a shared ledger: one poller per job across
        every machine). ``None`` when this client may poll; else the job as the ledger has it,
        from the poller that holds the lease.

        Raises:
            LedgerError: the ledger stayed unreachable: no lease, so no poll.
        """
        assert self.ledger is not None
        kind = entry.kind if entry is not None else self.provider.kinds[0].name
        if job_id in self._elsewhere and entry is not None and entry.info and entry.info.finished:
            self._elsewhere.discard(job_id)  # its poller saw it finish: nothing left to poll
            return entry.info
        if self.ledger.lease(self.name, job_id, kind):
            self._elsewhere.discard(job_id)
            return None
        self._elsewhere.add(job_id)
        self._subscribe()
        entry = self.ledger.get(self.name, job_id) or entry
        if entry is not None and entry.info is not None:
            return entry.info
        return JobInfo(provider=self.name, id=job_id, kind=kind, status=Status.PENDING)

    def _subscribe(self) -> None:
        if not self._subscribed and self.ledger is not None:
            self._subscribed = True
            self.ledger.subscribe(self._changed)

    def _changed(self, provider: str, job_id: str) -> None:
        """The ledger says another process recorded a change of a job (its listener thread): the
        waits of this process on that job learn that it finished, or look again."""
        if provider != self.name or self.ledger is None or not _wake.waited(provider, job_id):
            return
        try:
            entry = self.ledger.get(provider, job_id)
        except errors.LedgerError:
            entry = None
        if entry is not None and entry.info is not None and entry.info.finished:
            self._elsewhere.discard(job_id)
            _wake.report(provider, job_id, entry.info)  # its poller saw it end: no look needed
        else:
            _wake.poke(provider, job_id)

    def _look(self, job_id: str) -> tuple[JobInfo, bool]:
        """The provider's look at ``job_id`` with the times the ledger knows (see :func:`_times`),
        stamped, and False; or, for a job cancelled here, the ledger's status and True (the
        provider, which may have deleted the job, is not asked).

        The ledger's entry is read once and remembered (:class:`_Known`): a look equal to the last
        one gives the same status again without touching SQLite; a look that differs reads the
        entry again first, so that what another process recorded meanwhile is used."""
        known = self._known
        if known is None:  # no ledger: nothing to read
            return self._stamp(_times(self.provider.status(job_id), None)), False
        key = (self.name, job_id)
        last = known.get(key)
        if last is None:
            entry = self._entry(job_id)
        elif last.look is None:
            return last.info, True  # cancelled here (remembered)
        else:
            entry = last.entry
        ended = _cancelled(entry)
        if ended is not None:
            self._remember(key, _Known(entry, None, ended))
            return ended, True
        look = self.provider.status(job_id)
        if last is not None:
            if look == last.look:
                return last.info, False
            entry = self._entry(job_id)  # changed: what did the ledger record meanwhile?
            ended = _cancelled(entry)
            if ended is not None:
                self._remember(key, _Known(entry, None, ended))
                return ended, True
        info = self._stamp(_times(look, entry))
        self._remember(key, _Known(entry, look, info))
        return info, False

    def _remember(self, key: tuple[str, str], what: _Known) -> None:
        # Plain dict operations (atomic under the GIL): a race costs at most one more read.
        known = self._known
        if known is None:
            return
        known.pop(key, None)
        known[key] = what
        if len(known) > _KNOWN_MEMORY:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del known[next(iter(known))]

    def _forget(self, job_id: str) -> None:
        """Drop what is remembered of ``job_id`` (its next look reads the ledger)."""
        if self._known is not None:
            self._known.pop((self.name, job_id), None)

    def _explain_missing(
        self, error: errors.JobNotFoundError, job_id: str, entry: LedgerEntry | None
    ) -> errors.JobNotFoundError:
        """Say plainly when a job is gone because it outlived the provider's job lifetime
        (``entry`` is the ledger's, read just now)."""
        lifetime = self.provider.capabilities.job_lifetime
        if entry is None or not entry.expired(lifetime):
            return error
        expired_at = entry.expires_at(lifetime)
        kept = f"{self.name} keeps jobs for {_span(lifetime)}; " if lifetime else ""
        return errors.JobNotFoundError(
            f"job {job_id!r} at {self.name} has expired: {kept}this one's time ran out on "
            f"{expired_at:%Y-%m-%d %H:%M} UTC, so its status and result are gone. Submit the job "
            f"again. ({error.message})",
            provider=self.name,
            job_id=job_id,
            status_code=error.status_code,
            code=error.code,
            provider_message=error.provider_message,
            request_id=error.request_id,
        )

    def result(self, job_id: str, timeout: float | None = None) -> Result:
        """Wait for the job to finish (up to ``timeout`` seconds) and return its result.

        Raises:
            JobFailedError: the job failed. JobTimeoutError: ``timeout`` passed first.
        """
        return self.job(job_id).result(timeout=timeout)

    def fetch_result(self, job_id: str) -> Result:
        """The result of a job known to be done, without waiting; its files are bound to this client."""
        check_id(job_id)
        result = self.provider.result(job_id)
        return _bind(result, self.provider.open_file)

    def cancel(self, job_id: str) -> None:
        """Cancel the job. The ledger records it cancelled: later looks (``status``, ``list``,
        :func:`asyncjobs.jobs`) show it ``failed`` with ``raw_status="cancelled"`` without asking
        the provider, which may have deleted it.

        Raises:
            NotSupportedError: the provider cannot cancel (before any request).
        """
        check_id(job_id)
        self.provider.cancel(job_id)  # the default raises NotSupportedError, before any request
        if self.ledger is not None:
            entry = self._entry(job_id)
            now = datetime.now(timezone.utc)
            info = JobInfo(
                provider=self.name,
                id=job_id,
                kind=entry.kind if entry is not None else self.provider.kinds[0].name,
                status=Status.FAILED,
                raw_status="cancelled",
                submitted_at=entry.info.submitted_at if entry and entry.info else None,
                completed_at=now,
                error=f"cancelled with cancel() on {now:%Y-%m-%d %H:%M} UTC",
            )
            try:
                self.ledger.cancelled(info)
            except errors.LedgerError as exc:  # the cancel itself went through
                log.warning("%s: job %s was cancelled; the ledger could not record it: %s",
                            self.name, job_id, exc)  # fmt: skip
            self._forget(job_id)  # the next look reads the ledger's word

    def list(self, status: Status | str | None = None, kind: str | None = None) -> JobList[Job]:
        """This provider's jobs: the service's own list (where it has one) merged with the ledger's.

        Args:
            status: keep only jobs with this status.
            kind: keep only jobs of this kind.
        """
        wanted = None if status is None else _status(status)
        if kind is not None and not isinstance(kind, str):
            raise errors.InvalidParameterError(
                f"kind must be a string or None, not {kind!r}", parameter="kind"
            )
        found: dict[str, JobInfo] = {}
        cancelled: set[str] = set()
        if self.ledger is not None:
            for entry in self.ledger.entries(provider=self.name):
                if entry.info is not None:
                    found[entry.info.id] = entry.info
                    if entry.state == SubmitState.CANCELLED:
                        cancelled.add(entry.info.id)
        if self.provider.capabilities.list:
            for listed in self.provider.list():
                if listed.id in cancelled:
                    continue  # cancelled here: the ledger's word stands
                info = self._stamp(listed)
                found[info.id] = info
                self._seen(info)
        jobs = [
            Job(self, info.id, kind=info.kind, info=info)
            for info in found.values()
            if (wanted is None or info.status is wanted) and (kind is None or info.kind == kind)
        ]
        return JobList(jobs)

    def job(self, job_id: str) -> Job:
        """A handle on an existing job, e.g. one submitted by another process (from the ledger when it
        knows the job; nothing is sent until the handle is used)."""
        check_id(job_id)
        entry = self.ledger.get(self.name, job_id) if self.ledger is not None else None
        if entry is not None:
            return Job(self, job_id, kind=entry.kind, info=entry.info)
        return Job(self, job_id)


def _cancelled(entry: LedgerEntry | None) -> JobInfo | None:
    """The status the ledger records for a job cancelled through asyncjobs, else ``None``."""
    if entry is not None and entry.state == SubmitState.CANCELLED:
        return entry.info
    return None


def _times(info: JobInfo, entry: LedgerEntry | None) -> JobInfo:
    """Fill in the times a provider did not say from what the ledger knows: ``submitted_at`` (when
    the submit was sent) and, for a finished job, ``completed_at`` (when it was first seen
    finished) -- never the time of this look when the ledger knows better."""
    changes: dict[str, Any] = {}
    known = entry.info if entry is not None else None
    if info.submitted_at is None and known is not None and known.submitted_at is not None:
        # recorded by submit(); a job the ledger only saw later has no submit time to give
        changes["submitted_at"] = known.submitted_at
    if info.finished and info.completed_at is None:
        changes["completed_at"] = (
            (known.completed_at if known is not None and known.finished else None)
            or (entry.finished_seen_at if entry is not None else None)
            or datetime.now(timezone.utc)
        )
    return attrs.evolve(info, **changes) if changes else info


def _span(delta: timedelta) -> str:
    return duration_text(delta)


def check_id(job_id: object) -> None:
    if not isinstance(job_id, str) or not job_id.strip():
        raise errors.InvalidParameterError(
            f"job_id must be a non-empty string, not {job_id!r}", parameter="job_id"
        )
    if job_id.strip() in (".", ".."):
        raise errors.InvalidParameterError(
            f"job_id {job_id!r} is not a job id: no provider issues '.' or '..' (they would name "
            "another URL path). Check where the id came from.",
            parameter="job_id",
        )


#: Pauses between tries of recording an issued job id in a failing ledger, in seconds.
_LEDGER_RETRIES = (0.05, 0.2, 0.5, 1.0, 0.0)

#: Parameter names whose values are never written to the ledger, at any depth.
_SECRET_KEY = re.compile(
    r"secret|password|passwd|passphrase|token|api[-_]?key|auth|credential|private[-_]?key|signature",
    re.IGNORECASE,
)


def _status(value: Status | str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise errors.InvalidParameterError(
            f"status must be one of 'pending', 'done', 'failed', not {value!r}", parameter="status"
        ) from None


def _describe(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as the ledger keeps them: JSON-safe, with secret-looking keys masked at any depth."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if _SECRET_KEY.search(str(k)) and v is not None and not isinstance(v, (bool, Source)):
            out[k] = MASK
        elif isinstance(v, Mapping):
            out[k] = _describe(v)
        elif isinstance(v, (list, tuple)):
            out[k] = [
                _describe(x) if isinstance(x, Mapping) else _describe({"_": x})["_"] for x in v
            ]
        elif isinstance(v, Source):
            out[k] = v.describe()
        elif isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, Path):
            out[k] = str(v)
        elif hasattr(v, "describe"):
            out[k] = v.describe()
        elif isinstance(v, (bytes, bytearray)):
            out[k] = {"bytes": len(v)}
        else:
            out[k] = repr(v)[:200]
    return out


def _bind(
    result: Result, opener: Callable[[ResultFile], contextlib.AbstractContextManager[IO[bytes]]]
) -> Result:
    return attrs.evolve(result, files=tuple(f.bound(opener) for f in result.files))


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
    wanted = None if status is None else _status(status)
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
