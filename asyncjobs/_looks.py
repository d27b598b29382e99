"""A client's looks at its jobs: at most one look at a job in flight at a time (later callers
share its answer), what was last learnt of each job from the ledger and the provider (so that a look
equal to the last one costs no ledger read), and, on a shared ledger, the job's lease before its
poll and the ledger's word for a job another poller holds."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import Any

import attrs

from . import _tally, _telemetry, _wake, errors
from ._ledger import Ledger, LedgerEntry, SubmitState
from ._models import JobInfo, Status
from ._redaction import get_logger
from ._text import duration_text
from .provider import Provider

__all__ = ["Looks"]

log = get_logger("asyncjobs._client")


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


class Looks:
    """The looks of one client at its provider's jobs (see the module's docstring).

    Args:
        provider: the client's provider.
        ledger: the client's ledger, if any.
        stamp: what every look from the provider passes through before anyone sees it (the
            client redacts it and fills in its expiry).
    """

    def __init__(self, provider: Provider, ledger: Ledger | None, stamp: Any) -> None:
        self.provider = provider
        self.ledger = ledger
        self.name = provider.name
        self._stamp = stamp
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()
        # jobs whose last look came from the ledger because another poller holds their lease
        self._elsewhere: set[str] = set()
        self._subscribed = False
        self._redact = provider.transport.redactor
        # without a ledger, what this client learnt is its own (a status change is still told once)
        self._known: dict[tuple[str, str], _Known] = {}
        if ledger is not None:
            known = _KNOWN.get(ledger)
            if known is None:
                known = _KNOWN.setdefault(ledger, {})
            self._known = known

    def close(self) -> None:
        """Stop listening to the ledger's news."""
        if self._subscribed and self.ledger is not None:
            self.ledger.unsubscribe(self._changed)

    def elsewhere(self, job_id: str) -> bool:
        """Whether the job's last look came from a shared ledger because another poller holds its
        lease."""
        return job_id in self._elsewhere

    def entry(self, job_id: str) -> LedgerEntry | None:
        """The ledger's entry of ``job_id``; a ledger that cannot be read costs a warning here."""
        if self.ledger is None:
            return None
        try:
            entry = self.ledger.get(self.name, job_id)
        except errors.LedgerError as exc:
            log.warning("%s: job %s: the ledger could not be read: %s", self.name, job_id, exc)
            return None
        if entry is not None and entry.traceparent is not None:
            _telemetry.remember(self.name, job_id, entry.traceparent)
        return entry

    def take(self, job_id: str) -> tuple[JobInfo, bool]:
        """One look at the job, shared with any look of it already in flight; and whether it is
        this call's own, new look (for the client to record in its ledger and report) rather than
        another call's, or the ledger's word (a job cancelled, or polled by another poller).

        Raises:
            JobNotFoundError: unknown or expired job. ProviderError, TransportError.
        """
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
            return flight.info, False
        try:
            if self.ledger is not None and self.ledger.shared:
                info, cancelled = self._look_shared(job_id)
            else:
                info, cancelled = self._look(job_id)
            flight.info = info
            if cancelled:
                return info, False  # the ledger's own word: nothing new to record
        except errors.JobNotFoundError as exc:
            self.forget(job_id)
            entry = self.entry(job_id)
            cancelled_info = _cancelled(entry)
            if cancelled_info is not None:  # cancelled meanwhile (another process): its word stands
                flight.info = cancelled_info
                return cancelled_info, False
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
        return info, True

    def _look_shared(self, job_id: str) -> tuple[JobInfo, bool]:
        """:meth:`_look` on a shared ledger, where other machines write too: the entry is read
        every time (nothing remembered), and the job's lease is taken before the provider is
        asked. True with the ledger's word for a job cancelled, or polled by another poller."""
        entry = self.entry(job_id)
        ended = _cancelled(entry)
        if ended is not None:
            return ended, True
        held = self._leased(job_id, entry)
        if held is not None:
            return held, True
        info = self._stamp(_times(self._ask(job_id, entry), entry))
        _telemetry.changed(entry.info if entry is not None else None, info)
        return info, False

    def _ask(self, job_id: str, entry: LedgerEntry | None) -> JobInfo:
        """The provider's look at the job, as it answered, in an ``asyncjobs.poll`` span (joined
        to the job's trace through the ledger's ``traceparent``; its attributes redacted),
        counted and timed."""
        kind = entry.kind if entry is not None else None
        traceparent = entry.traceparent if entry is not None else None
        error: BaseException | None = None
        started = time.monotonic()
        try:
            with _telemetry.job_span(
                "asyncjobs.poll",
                self.name,
                job_id,
                self._redact,
                kind=kind,
                traceparent=traceparent,
            ) as op:
                look = self.provider.status(job_id)
                op.looked(look)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _telemetry.polled(self.name, time.monotonic() - started, error)
            _tally.polled(self.name, job_id)
        return look

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
        key = (self.name, job_id)
        last = known.get(key)
        if last is None:
            entry = self.entry(job_id)
        elif last.look is None:
            return last.info, True  # cancelled here (remembered)
        else:
            entry = last.entry
        ended = _cancelled(entry)
        if ended is not None:
            self._remember(key, _Known(entry, None, ended))
            return ended, True
        look = self._ask(job_id, entry)
        if last is not None:
            if look == last.look:
                return last.info, False
            entry = self.entry(job_id)  # changed: what did the ledger record meanwhile?
            ended = _cancelled(entry)
            if ended is not None:
                self._remember(key, _Known(entry, None, ended))
                return ended, True
        info = self._stamp(_times(look, entry))
        previous = last.info if last is not None else entry.info if entry is not None else None
        _telemetry.changed(previous, info)
        self._remember(key, _Known(entry, look, info))
        return info, False

    def _remember(self, key: tuple[str, str], what: _Known) -> None:
        # Plain dict operations (atomic under the GIL): a race costs at most one more read.
        known = self._known
        known.pop(key, None)
        known[key] = what
        if len(known) > _KNOWN_MEMORY:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del known[next(iter(known))]

    def forget(self, job_id: str) -> None:
        """Drop what is remembered of ``job_id`` (its next look reads the ledger)."""
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
        kept = f"{self.name} keeps jobs for {duration_text(lifetime)}; " if lifetime else ""
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
