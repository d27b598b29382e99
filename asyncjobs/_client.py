"""The client: one provider, its transport and the ledger, behind the five verbs."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import attrs
import requests

from . import _checks, _tally, _telemetry, _wake, errors
from ._budget import Budget, Gate, account_key, budget_of
from ._deferred import collecting
from ._http import MAX_BODY, RetryPolicy, Timeouts, Transport
from ._ledger import Ledger, LedgerEntry, SubmitState
from ._looks import Looks
from ._models import JobInfo, Status, expiry
from ._redaction import MASK, Redactor, get_logger, redact_value
from ._registry import get_provider_class
from ._settings import resolve_settings
from ._sources import Source
from .provider import Kind, PollPolicy, Provider

__all__ = ["Client", "check_id", "connect", "status_of"]

if TYPE_CHECKING:
    import concurrent.futures

    from ._job import Job, JobList
    from ._results import Result, ResultFile
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


#: ``connect``'s own keywords, offered when a setting's name is mistyped (``timeouts=5``).
_CONNECT_KEYWORDS = (
    "ledger",
    "timeout",
    "retry",
    "poll",
    "session",
    "max_body",
    "webhooks",
    "budget",
)


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
    budget: Budget | str | bool | None = None,
    **settings: Any,
) -> Client:
    """Connect to one provider: :func:`asyncjobs.connect` with a provider name (the arguments,
    the result and the errors are documented there; a list of providers goes to the router)."""
    cls = get_provider_class(provider)
    config = resolve_settings(cls, settings, keywords=_CONNECT_KEYWORDS)
    pace = budget_for(cls, config, budget)
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
        ledger=open_ledger(ledger),
        poll=poll,
        owns_ledger=not isinstance(ledger, Ledger),
    )
    if pace is not None:
        origins = sorted(cls.credential_origins(config) or ())
        key = account_key(cls.name or provider, " ".join(origins), tuple(sorted(config.secrets)))
        transport.gate = Gate(pace, key, client.ledger, provider=cls.name or provider)
    if receiver is not None:
        client.webhooks = receiver
        receiver.attach(client)
    return client


def budget_for(cls: type[Provider], config: Mapping[str, Any], budget: object) -> Budget | None:
    """The request budget a client of ``cls`` keeps: ``budget`` when given (``False``: none),
    else ``$<PROVIDER>_BUDGET`` (``none`` for none), else the one the provider declares for its
    service -- unless the client talks to another ``base_url`` than the provider's default (a
    sandbox, a proxy of your own)."""
    if budget is not None:
        return budget_of(budget, where="budget")
    variable = f"{(cls.name or '').upper()}_BUDGET"
    text = os.environ.get(variable, "").strip()
    if text:
        return None if text.lower() in ("none", "off", "0") else Budget.parse(text, where=variable)
    declared = cls.capabilities.budget
    if declared is None:
        return None
    for setting in cls.settings:
        if (
            setting.name == "base_url"
            and setting.default is not None
            and config.get("base_url") not in (None, setting.default)
        ):
            return None  # not the service: a sandbox, a proxy of your own
    return declared


def open_ledger(ledger: LedgerArg) -> Ledger | None:
    """The ledger ``connect(ledger=...)`` means (``None`` when ``False``)."""
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
        self._looks = Looks(provider, ledger, self._stamp)
        self._watched = False  # a job of this client went to the background scheduler
        #: the clients this one hands work to by provider name (:meth:`peer`); a routed client
        #: fills it with its members
        self.peers: dict[str, Client] = {}
        self._own_peers: list[Client] = []
        self._peers_lock = threading.Lock()
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
        for peer in self._own_peers:
            peer.close()
        self._looks.close()
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
        return self.submit_with(kind, params, webhook=webhook)

    def submit_with(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        webhook: str | bool | None = None,
        attempts: Sequence[Mapping[str, Any]] = (),
        ref: str | None = None,
    ) -> Job:
        """:meth:`submit` with the parameters as a mapping, and ``attempts``: what came before this
        submission, recorded with it in the ledger (each provider a routed submit tried first, or
        the job a resubmit runs again; see :attr:`asyncjobs.LedgerEntry.attempts`); ``ref``: the
        caller's own reference of it, recorded too (see :func:`asyncjobs.engines.submit_once`)."""
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
        if kind == "convert":
            self._offers(prepared)
        job_id = self.provider.new_job_id()
        url: str | None = webhook if isinstance(webhook, str) else None
        expecting = webhook is True
        if expecting and self.webhooks is not None and not caps.account_webhook:
            # the job's own URL (a provider that issues its ids itself gets the provider's)
            url = self.webhooks.url_for(self.name, job_id)
        if expecting and job_id is not None:
            self._expecting.add(job_id)  # a call may come before submit returns
        with _telemetry.submitting(self.name, kind, self._redact) as op:
            info = self._send(kind, prepared, job_id, url, expecting, attempts, op.traceparent, ref)
            op.looked(info)
        _telemetry.remember(self.name, info.id, op.traceparent)
        _telemetry.submitted(info)
        from ._job import Job  # here: status and connect need no job handles

        return Job(self, info.id, kind=info.kind, info=info)

    def _send(
        self,
        kind: str,
        prepared: dict[str, Any],
        job_id: str | None,
        url: str | None,
        expecting: bool,
        attempts: Sequence[Mapping[str, Any]],
        traceparent: str | None,
        ref: str | None = None,
    ) -> JobInfo:
        """The submit itself, checks done: recorded in the ledger (``traceparent``: its span's
        context, kept with the job), sent, and its outcome recorded."""
        key = None
        if self.ledger is not None:
            redactor = self.provider.transport.redactor
            recorded = redact_value(_describe(prepared), redactor)
            kept = _kept_source(prepared.get("source"))
            key = self.ledger.begin(
                self.name,
                kind,
                recorded,  # type: ignore[arg-type]
                job_id,
                source=None if kept is None else redactor(kept),
                attempts=attempts,
                traceparent=traceparent,
                ref=ref,
            )
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
            if job_id is not None and isinstance(exc, errors.AsyncJobsError) and not exc.job_id:
                exc.job_id = job_id  # the client-chosen id: the job may exist under it
            if job_id is not None and not isinstance(exc, errors.TransportError):
                self._expecting.discard(job_id)
            refused = self._refused(exc, kind, prepared)
            if self.ledger is not None and key is not None:
                ambiguous = not isinstance(exc, errors.AsyncJobsError) or (
                    isinstance(exc, errors.TransportError)
                    or (isinstance(exc, errors.ProviderError) and (exc.status_code or 0) >= 500)
                )
                try:
                    self.ledger.failed(key, self._redact(str(refused or exc)), ambiguous=ambiguous)
                except errors.AsyncJobsError as ledger_exc:
                    log.warning("%s: could not record the failed submit: %s", self.name, ledger_exc)
            if refused is not None:
                raise refused from exc
            raise
        self._looks.forget(info.id)  # an id issued again is a new job: nothing known of the old one
        _tally.take(self.name, info.id)  # nor any count of its polls
        if expecting and not info.finished:
            self._expecting.add(info.id)
        elif expecting:
            self._expecting.discard(info.id)  # finished already (a synchronous answer)
        if self.ledger is not None and key is not None:
            self._record_issued(key, info)
        return info

    def _offers(self, prepared: Mapping[str, Any]) -> None:
        """Refuse, before any request, a conversion this provider's complete format list does not
        have (naming the installed providers that offer it)."""
        from ._catalog import refuse_unoffered  # here: a status never needs the catalog (a class)

        source, target = prepared.get("from_"), prepared.get("to")
        if isinstance(source, str) and isinstance(target, str):
            refuse_unoffered(self.name, type(self.provider).formats(), source, target)

    def resubmit(self, job_id: str, *, provider: str | None = None) -> Job:
        """Run the job ``job_id`` of this provider again, as a new job, from what the ledger kept
        of it: its kind, its parameters and its source (a path, read again, or a URL). The new
        submission records the old job in its :attr:`~asyncjobs.LedgerEntry.attempts`.

        Args:
            job_id: a job this client's provider issued, known to the ledger.
            provider: run it at another provider instead (its settings from the environment, or
                this client's peer of that name in a routed client); ``None`` for this one.

        Returns:
            The new job's handle.

        Raises:
            NotSupportedError: the source was given as bytes or a file object (the ledger keeps no
                content), or the client has no ledger.
            InvalidParameterError: the job is ``done`` or still ``pending`` (only a failed or lost
                job is run again), a kept parameter was masked as a secret, or the ledger does not
                know the job.
        """
        check_id(job_id)
        if self.ledger is None:
            raise errors.NotSupportedError(
                f"{errors.describe(self.name, job_id)}: resubmit reads the job from the ledger, and "
                "this client has none (ledger=False). Submit it again with client.submit(...).",
                provider=self.name,
                job_id=job_id,
            )
        entry = self.ledger.get(self.name, job_id)
        if entry is None:
            raise errors.InvalidParameterError(
                f"{errors.describe(self.name, job_id)} is not in the ledger, so what it was is not "
                "known. Submit it again with client.submit(...).",
                parameter="job_id",
                provider=self.name,
                job_id=job_id,
            )
        status = entry.info.status if entry.info is not None else None
        lost = False
        if status is not Status.FAILED and entry.state != SubmitState.CANCELLED:
            # the ledger's word may be old: a look says whether the job ended, or is lost
            try:
                status = self.status(job_id).status
            except errors.JobNotFoundError:
                lost = True
        kind, params = resubmission(entry, None if lost else status)
        target = self if provider is None or provider == self.name else self.peer(provider)
        before = [{"provider": self.name, "job_id": job_id, "resubmitted": True}]
        return target.submit_with(kind, params, attempts=before)

    def peer(self, provider: str) -> Client:
        """The client of ``provider`` that this client hands work to (a resubmit elsewhere): the
        routed client's member of that name when this client is one, else one connected with
        settings from the environment, sharing this client's ledger, closed with this client."""
        with self._peers_lock:
            found = self.peers.get(provider)
            if found is None:
                found = connect(provider, ledger=self.ledger if self.ledger is not None else False)
                self.peers[provider] = found
                self._own_peers.append(found)
        return found

    def _refused(
        self, exc: BaseException, kind: str, params: Mapping[str, Any]
    ) -> errors.NotSupportedError | None:
        """A submit the service answered "not found" is not about a job (none exists yet): the
        service does not offer what was asked (ConvertAPI: "Converter docx to xyz not found"). That
        is :class:`~asyncjobs.errors.NotSupportedError`, naming the conversion, never
        ``JobNotFoundError``; ``None`` for any other error."""
        if not isinstance(exc, errors.JobNotFoundError):
            return None
        source, target = params.get("from_"), params.get("to")
        if kind == "convert" and isinstance(target, str):
            what = f"convert {source or 'this file'} to {target}"
            advice = "Pick another target format, or a provider that converts it."
        else:
            what = f"run this {kind!r} job"
            advice = "Check the job's parameters against the provider's documentation."
        said = exc.provider_message or exc.message
        code = f" (code {exc.code})" if exc.code is not None else ""
        return errors.NotSupportedError(
            f"{self.name} does not {what}: it answered {exc.status_code or 'not found'}{code}: "
            f"{said} {advice}",
            provider=self.name,
        )

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
        return self._looks.elsewhere(job_id)

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

    def status(self, job_id: str) -> JobInfo:
        """One look at the job at the provider (shared with any poll of it already in flight).

        Raises:
            JobNotFoundError: unknown or expired job. ProviderError, TransportError.
        """
        check_id(job_id)
        info, fresh = self._looks.take(job_id)
        if fresh:
            self._seen(info)
            if info.finished:
                self._expecting.discard(job_id)
                _wake.report(self.name, job_id, info)  # wakes this process's waits of the job
        return info

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

    def result(self, job_id: str, timeout: float | None = None) -> Result:
        """Wait for the job to finish (up to ``timeout`` seconds) and return its result.

        Raises:
            JobFailedError: the job failed. JobTimeoutError: ``timeout`` passed first.
        """
        return self.job(job_id).result(timeout=timeout)

    def fetch_result(self, job_id: str) -> Result:
        """The result of a job known to be done, without waiting; its files are bound to this client."""
        check_id(job_id)
        with _telemetry.job_span("asyncjobs.result", self.name, job_id, self._redact) as op:
            result = self.provider.result(job_id)
            op.set("asyncjobs.result.files", len(result.files))
        return _bind(result, self._download(job_id))

    def _download(
        self, job_id: str
    ) -> Callable[[ResultFile], contextlib.AbstractContextManager[IO[bytes]]]:
        """How a result file of ``job_id`` is opened: by the provider, in a download span."""
        opener = self.provider.open_file

        def open_file(file: ResultFile) -> contextlib.AbstractContextManager[IO[bytes]]:
            return _telemetry.download(self.name, job_id, file.name, self._redact, opener(file))

        return open_file

    def cancel(self, job_id: str) -> None:
        """Cancel the job. The ledger records it cancelled: later looks (``status``, ``list``,
        :func:`asyncjobs.jobs`) show it ``failed`` with ``raw_status="cancelled"`` without asking
        the provider, which may have deleted it.

        Raises:
            NotSupportedError: the provider cannot cancel (before any request).
        """
        check_id(job_id)
        with _telemetry.job_span("asyncjobs.cancel", self.name, job_id, self._redact):
            self.provider.cancel(job_id)  # the default raises NotSupportedError, before any request
        _telemetry.cancelled(self.name, job_id, None)
        if self.ledger is not None:
            entry = self._looks.entry(job_id)
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
            self._looks.forget(job_id)  # the next look reads the ledger's word

    def list(self, status: Status | str | None = None, kind: str | None = None) -> JobList[Job]:
        """This provider's jobs: the service's own list (where it has one) merged with the ledger's.

        Args:
            status: keep only jobs with this status.
            kind: keep only jobs of this kind.
        """
        wanted = None if status is None else status_of(status)
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
        from ._job import Job, JobList  # here: status and connect need no job handles

        jobs = [
            Job(self, info.id, kind=info.kind, info=info)
            for info in found.values()
            if (wanted is None or info.status is wanted) and (kind is None or info.kind == kind)
        ]
        return JobList(jobs)

    def job(self, job_id: str) -> Job:
        """A handle on an existing job, e.g. one submitted by another process (from the ledger when it
        knows the job; nothing is sent until the handle is used)."""
        from ._job import Job  # here: status and connect need no job handles

        check_id(job_id)
        entry = self.ledger.get(self.name, job_id) if self.ledger is not None else None
        if entry is not None:
            _telemetry.remember(self.name, job_id, entry.traceparent)
            return Job(self, job_id, kind=entry.kind, info=entry.info)
        return Job(self, job_id)


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

#: Parameter names whose values are never written to the ledger, at any depth (case ignored;
#: compiled on first use, by ``re``'s cache: a status never reads it).
_SECRET_KEY = (
    r"secret|password|passwd|passphrase|token|api[-_]?key|auth|credential|private[-_]?key|signature"
)


def status_of(value: Status | str) -> Status:
    """``value`` as a :class:`Status`, checked."""
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
        if (
            re.search(_SECRET_KEY, str(k), re.IGNORECASE)
            and v is not None
            and not isinstance(v, (bool, Source))
        ):
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


def _kept_source(source: object) -> str | None:
    """The source a resubmit can read again: a URL, or the absolute path of a file; ``None`` for
    bytes and file objects (their content is never kept)."""
    if not isinstance(source, Source):
        return None
    if source.url is not None:
        return source.url
    if source.path is not None:
        return str(source.path.resolve())
    return None


def resubmission(entry: LedgerEntry, status: Status | None) -> tuple[str, dict[str, Any]]:
    """The kind and parameters to run the ledger's ``entry`` again with, its job's ``status``
    being what the provider said last (``None`` when the provider does not know the job: lost).

    Raises:
        InvalidParameterError: the job is done or pending, or a parameter was masked.
        NotSupportedError: its source was bytes or a file object.
    """
    what = errors.describe(entry.provider, entry.job_id)
    if status is Status.DONE:
        raise errors.InvalidParameterError(
            f"{what} is done: its result is there to fetch (job.result()); only a failed or lost "
            "job is resubmitted.",
            parameter="job_id",
            provider=entry.provider,
            job_id=entry.job_id,
        )
    if status is Status.PENDING:
        raise errors.InvalidParameterError(
            f"{what} is still pending: wait for it, or cancel it first (job.cancel()); only a "
            "failed or lost job is resubmitted.",
            parameter="job_id",
            provider=entry.provider,
            job_id=entry.job_id,
        )
    params = dict(entry.params)
    if "source" in params:
        if entry.source is None:
            raise errors.NotSupportedError(
                f"{what} cannot be resubmitted: its source was given as bytes or a file object, "
                "and the ledger keeps no content. Submit it again with the content.",
                provider=entry.provider,
                job_id=entry.job_id,
            )
        params["source"] = entry.source
    masked = sorted(k for k, v in params.items() if v == MASK)
    if masked:
        raise errors.InvalidParameterError(
            f"{what} cannot be resubmitted: the ledger masked its parameter {masked[0]!r} (it "
            "looked secret). Submit it again with client.submit(...).",
            parameter=masked[0],
            provider=entry.provider,
            job_id=entry.job_id,
        )
    return entry.kind, params


def _bind(
    result: Result, opener: Callable[[ResultFile], contextlib.AbstractContextManager[IO[bytes]]]
) -> Result:
    return attrs.evolve(result, files=tuple(f.bound(opener) for f in result.files))
