"""Several providers behind one client: :class:`Router`, what ``asyncjobs.connect([...])`` gives.

A submit goes to the first provider, in the order given, that offers the job and is not cooling
down, and falls back to the next only when the failed submit cannot have created a job
(:func:`falls_back`, the one table of that rule). Every other verb goes to the job's own provider.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, overload

from . import errors
from ._budget import Budget
from ._client import Client, LedgerArg, check_id, open_ledger
from ._client import connect as connect_one
from ._formats import Formats
from ._http import MAX_BODY
from ._ledger import Ledger
from ._models import JobInfo, Status
from ._policies import PollPolicy, RetryPolicy, Timeouts
from ._redaction import get_logger
from ._text import printable

if TYPE_CHECKING:
    from ._job import Job, JobList
    from ._results import Result
    from ._webhooks import Receiver

__all__ = ["COOLDOWN", "Router", "connect", "falls_back", "provider_names"]

log = get_logger("asyncjobs._routing")

#: How long (seconds) a provider that failed a submit in a curable way is passed over by the
#: routed client that saw it (a 429's ``Retry-After`` counts instead when it is longer).
COOLDOWN = 60.0

#: The environment variable naming the providers of ``connect()`` without one, comma-separated.
PROVIDERS_ENV = "ASYNCJOBS_PROVIDERS"


def falls_back(exc: BaseException) -> bool:
    """Whether a submit that failed with ``exc`` cannot have created a job, so that a routed
    submit may try the next provider (the table in ``docs/routing.md``):

    - a conversion or option the provider does not offer (``NotSupportedError``): yes;
    - credentials refused (401/403), credits or quota (402), rate limited (429): yes;
    - a connection that never sent the request (refused, unresolved, timed out connecting): yes;
    - the caller's mistake (``InvalidParameterError``, another 4xx): no;
    - a 5xx or a timeout after the request was sent: no (the job may exist; see
      :meth:`Router.submit` for the one proof that lets it go on).
    """
    if isinstance(exc, errors.NotSupportedError):
        return True
    if isinstance(exc, (errors.AuthenticationError, errors.RateLimitedError)):
        return True
    if isinstance(exc, errors.TransportError):
        return exc.never_sent
    if isinstance(exc, errors.ProviderError):
        return exc.status_code in (401, 402, 403, 429)
    return False


def _cools(exc: BaseException) -> bool:
    """Whether the failure says the provider itself is unwell for a while (not the job)."""
    return falls_back(exc) and not isinstance(exc, errors.NotSupportedError)


def provider_names(value: str, *, parameter: str = "provider") -> list[str]:
    """A comma-separated list of provider names (``--provider a,b``, ``ASYNCJOBS_PROVIDERS``),
    stripped, without empty items or repeats.

    Raises:
        InvalidParameterError: no name in it.
    """
    names: list[str] = []
    for part in value.split(","):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    if not names:
        raise errors.InvalidParameterError(
            f"{parameter} names no provider: give one or more names, comma-separated "
            "(e.g. convertapi,zamzar).",
            parameter=parameter,
        )
    return names


class Router:
    """Several providers behind the verbs of one client, in order of preference.

    ``submit`` goes to the first provider that offers the job (its kind, and for ``"convert"``
    the conversion, when its format list is complete) and is not cooling down; it falls back to
    the next only when the failed submit cannot have created a job (:func:`falls_back`). A
    provider that failed in a curable way (credentials, credits, 429, unreachable) cools down
    for :data:`COOLDOWN` seconds in this client: it is tried after the others, not skipped.
    ``job.provider`` says who took a job; the ledger records the providers tried before it
    (:attr:`asyncjobs.LedgerEntry.attempts`), and each refused submission as its own entry.

    ``status``, ``result``, ``cancel``, ``job`` and ``resubmit`` go to the job's provider: the one
    named by ``provider=``, else the one the ledger knows the id at.

    Made by :func:`asyncjobs.connect` with a list. Safe to share between threads.

    Attributes:
        clients: the member clients, in order of preference.
    """

    def __init__(
        self,
        clients: Sequence[Client],
        *,
        ledger: Ledger | None = None,
        owned: Iterable[Client] = (),
        owns_ledger: bool = False,
        cooldown: float = COOLDOWN,
    ) -> None:
        self.clients: tuple[Client, ...] = tuple(clients)
        shared = {id(c.ledger): c.ledger for c in self.clients}
        #: the ledger every member writes to (``None`` when they write to different ones)
        self.ledger = ledger if ledger is not None or len(shared) != 1 else self.clients[0].ledger
        self.cooldown = cooldown
        self._owned = list(owned)
        self._owns_ledger = owns_ledger
        self._cool: dict[str, float] = {}
        self._lock = threading.Lock()
        by_name = {c.name: c for c in self.clients}
        for client in self.clients:
            for name, peer in by_name.items():
                if peer is not client:
                    client.peers.setdefault(name, peer)

    @property
    def name(self) -> str:
        """The member providers' names, comma-separated, in order of preference."""
        return ",".join(self.providers)

    @property
    def providers(self) -> tuple[str, ...]:
        """The member providers' names, in order of preference."""
        return tuple(c.name for c in self.clients)

    @property
    def poll_policy(self) -> PollPolicy:
        """The first member's poll policy (each job is polled by its own provider's)."""
        return self.clients[0].poll_policy

    def __repr__(self) -> str:
        return f"<asyncjobs.Router {self.name} ledger={self.ledger!r}>"

    def close(self) -> None:
        """Close the member clients this router connected (a client handed in is its owner's),
        and the ledger it opened."""
        for client in self._owned:
            client.close()
        if self.ledger is not None and self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- health -----------------------------------------------------------------------------------

    def cooling(self) -> dict[str, float]:
        """The providers cooling down after a curable failure, and the seconds left for each."""
        now = time.monotonic()
        with self._lock:
            return {n: round(t - now, 3) for n, t in self._cool.items() if t > now}

    def _cool_down(self, name: str, exc: BaseException) -> None:
        seconds = self.cooldown
        wait = getattr(exc, "retry_after", None)
        if isinstance(wait, (int, float)) and wait > seconds:
            seconds = min(float(wait), 3600.0)
        with self._lock:
            self._cool[name] = time.monotonic() + seconds

    def _order(self) -> list[Client]:
        cooling = self.cooling()
        healthy = [c for c in self.clients if c.name not in cooling]
        return healthy + [c for c in self.clients if c.name in cooling]

    # -- submit -----------------------------------------------------------------------------------

    def submit(self, kind: str, /, *, webhook: str | bool | None = None, **params: Any) -> Job:
        """Start a job at the first provider that offers it and is healthy, falling back to the
        next only when the failed submit cannot have created a job.

        A submit that failed after its request was sent (a 5xx, a timeout) is not sent elsewhere:
        the job may exist. The one exception is a provider whose submits carry a client-chosen id
        (``Capabilities.idempotent_submit``): the id is looked up, and the submit goes on to the
        next provider only when the provider does not know it (if it does, that job is returned).

        Returns:
            The job's handle; ``job.provider`` names the provider that took it.

        Raises:
            InvalidParameterError: the caller's mistake (before any request, or a 400/422 from the
                first provider that looked at it): never sent elsewhere.
            NotSupportedError: no member offers the kind or the conversion.
            RoutingError: every provider that offers it refused it curably (each named).
            ProviderError, TransportError: a failure that may have created a job.
        """
        tried: list[tuple[str, errors.AsyncJobsError]] = []
        attempts: list[dict[str, Any]] = []
        for client in self._order():
            try:
                client.kind(kind)
            except errors.InvalidParameterError as exc:
                tried.append((client.name, errors.NotSupportedError(exc.message)))
                continue
            try:
                return client.submit_with(kind, params, webhook=webhook, attempts=attempts)
            except errors.AsyncJobsError as exc:
                if not falls_back(exc):
                    found = self._created_after_all(client, exc)
                    if found is None:
                        raise
                    if not isinstance(found, bool):  # a Job
                        return found
                if _cools(exc):
                    self._cool_down(client.name, exc)
                log.info("%s: submit refused (%s); trying the next provider", client.name, exc)
                tried.append((client.name, exc))
                attempts.append(
                    {
                        "provider": client.name,
                        "error": client.provider.transport.redactor(str(exc))[:500],
                        "at": datetime.now(timezone.utc).isoformat(),
                    }
                )
        raise self._none_took(kind, params, tried)

    def _created_after_all(self, client: Client, exc: errors.AsyncJobsError) -> Job | bool | None:
        """After a submit that may have created a job: the job when it did (looked up by the
        client-chosen id), ``True`` when the provider proves it did not, ``None`` when unknown."""
        if not isinstance(exc, errors.ProviderError) or isinstance(
            exc, errors.InvalidParameterError
        ):
            return None
        ambiguous = isinstance(exc, errors.TransportError) or (exc.status_code or 0) >= 500
        job_id = exc.job_id
        if not ambiguous or job_id is None or not client.provider.capabilities.idempotent_submit:
            return None
        try:
            info = client.status(job_id)
        except errors.JobNotFoundError:
            return True
        except errors.AsyncJobsError:
            return None
        from ._job import Job  # here: connect needs no job handles

        return Job(client, info.id, kind=info.kind, info=info)

    def _none_took(
        self, kind: str, params: Mapping[str, Any], tried: list[tuple[str, errors.AsyncJobsError]]
    ) -> errors.AsyncJobsError:
        # what each service said, as printable text: a message is often printed or logged as is
        said = "; ".join(f"{name}: {printable(str(exc))}" for name, exc in tried)
        if all(isinstance(exc, errors.NotSupportedError) for _, exc in tried):
            what = (
                f"convert {params.get('from_') or 'this file'} to {params.get('to')}"
                if kind == "convert"
                else f"run a {kind!r} job"
            )
            return errors.NotSupportedError(
                f"none of {self.name} can {what}: {said}. asyncjobs formats shows who converts "
                "what."
            )
        return errors.RoutingError(
            f"no provider took the {kind!r} job, and none was created: {said}. Fix the "
            "credentials or credits named, or wait for the rate limits to pass.",
            attempts=tried,
        )

    # -- the job's own provider -------------------------------------------------------------------

    def client_of(self, job_id: str, provider: str | None = None) -> Client:
        """The member client of ``provider``, else of the provider the ledger knows ``job_id`` at.

        Raises:
            InvalidParameterError: ``provider`` is not a member, or the ledger does not say which
                member the job belongs to (pass ``provider=``).
        """
        check_id(job_id)
        if provider is not None:
            for client in self.clients:
                if client.name == provider:
                    return client
            raise errors.InvalidParameterError(
                f"provider {provider!r} is not one of this client's ({self.name}).",
                parameter="provider",
            )
        ledgers = {id(c.ledger): c.ledger for c in self.clients if c.ledger is not None}
        known = {e.provider for lg in ledgers.values() for e in lg.find(job_id)}
        members = [c for c in self.clients if c.name in known]
        if len(members) == 1:
            return members[0]
        why = "several of them" if members else "none of them in the ledger"
        raise errors.InvalidParameterError(
            f"job {job_id!r} is known to {why}; say whose it is with provider= (one of "
            f"{self.name}).",
            parameter="provider",
            job_id=job_id,
        )

    def status(self, job_id: str, *, provider: str | None = None) -> JobInfo:
        """One look at the job at its provider (see :meth:`client_of`)."""
        return self.client_of(job_id, provider).status(job_id)

    def result(
        self, job_id: str, timeout: float | None = None, *, provider: str | None = None
    ) -> Result:
        """Wait for the job and return its result (see :meth:`asyncjobs.Client.result`)."""
        return self.client_of(job_id, provider).result(job_id, timeout=timeout)

    def cancel(self, job_id: str, *, provider: str | None = None) -> None:
        """Cancel the job at its provider (see :meth:`asyncjobs.Client.cancel`)."""
        self.client_of(job_id, provider).cancel(job_id)

    def job(self, job_id: str, *, provider: str | None = None) -> Job:
        """A handle on an existing job of a member provider."""
        return self.client_of(job_id, provider).job(job_id)

    def resubmit(self, job_id: str, *, provider: str | None = None, to: str | None = None) -> Job:
        """Run a failed or lost job again (see :meth:`asyncjobs.Client.resubmit`): ``provider``
        says whose job it is (else the ledger does), ``to`` where to run it (its own provider
        when ``None``)."""
        return self.client_of(job_id, provider).resubmit(job_id, provider=to)

    def list(self, status: Status | str | None = None, kind: str | None = None) -> JobList[Job]:
        """Every member's jobs (see :meth:`asyncjobs.Client.list`), member by member."""
        from ._job import JobList  # here: connect needs no job handles

        jobs: list[Job] = []
        for client in self.clients:
            jobs.extend(client.list(status=status, kind=kind))
        return JobList(jobs)

    def formats(self) -> dict[str, Formats | None]:
        """Each member's declared format list (``None`` where it declares none)."""
        return {c.name: type(c.provider).formats() for c in self.clients}


@overload
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
) -> Client: ...
@overload
def connect(
    provider: list[str | Client] | tuple[str | Client, ...] | None = None,
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
) -> Router: ...
def connect(
    provider: str | list[str | Client] | tuple[str | Client, ...] | None = None,
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
) -> Client | Router:
    """Connect to a provider, or to several behind one client.

    Args:
        provider: a provider name (see :func:`asyncjobs.available_providers`) for a
            :class:`~asyncjobs.Client`; or a list, in order of preference, of names (settings from
            the environment) and connected clients (their own settings) for a :class:`Router`;
            or ``None`` for the list in ``$ASYNCJOBS_PROVIDERS`` (comma-separated).
        ledger: ``None`` for the default ledger (``$ASYNCJOBS_LEDGER`` when set, else a SQLite file
            in ``$ASYNCJOBS_HOME`` or the user data folder), a path, a ``postgresql://`` URL (a
            ledger shared by many machines), a :class:`~asyncjobs.Ledger`, or ``False`` for none.
            A list's members connected by name share it.
        timeout: a :class:`~asyncjobs.Timeouts`, or one number for both connect and read.
        retry: a :class:`~asyncjobs.RetryPolicy`.
        poll: a :class:`~asyncjobs.PollPolicy` instead of the provider's own (e.g. faster polls
            against a sandbox).
        session: a ``requests.Session`` to send through (proxies, custom adapters).
        max_body: the largest answer read into memory, in bytes (16 MiB by default); a larger one
            is refused with TransportError. Result downloads are streamed and not bound by it.
        webhooks: an :class:`asyncjobs.webhooks.Receiver`, so that ``submit(webhook=True)``
            builds its URLs and the receiver's calls are confirmed through this client; ``None``
            for the one ``ASYNCJOBS_WEBHOOK_URL`` and ``ASYNCJOBS_WEBHOOK_KEY`` describe (none
            if unset); ``False`` for none.
        budget: the provider account's request budget: an :class:`~asyncjobs.Budget` or its
            text (``"20/s"``, ``"600/min"``, ``"20/s,4"`` for at most 4 at once); ``None`` for
            ``$<PROVIDER>_BUDGET`` (e.g. ``CONVERTAPI_BUDGET=20/s``), else the rate the service
            publishes (when the client talks to the service itself), else none; ``False`` for
            none. Every request waits for it, shared by every thread, process and machine on the
            same ledger (by the process with ``ledger=False``). A list takes none: its members
            read theirs from the environment, or connect them yourself.
        **settings: one provider's settings (``secret=``, ``base_url=``...); any not given are
            read from their environment variables. A list takes none: each provider named in it
            reads its settings from the environment (connect it yourself for settings of your
            own, and put the client in the list).

    Returns:
        A :class:`~asyncjobs.Client` for one provider, a :class:`Router` for a list; close it (or
        use it as a context manager) when done.

    Raises:
        UnknownProviderError: no such provider.
        ConfigurationError: a setting is missing, unknown or wrong (a secret that could not travel
            as it is, e.g. one ending with a newline, is refused by name, never shown), or the
            ledger cannot be opened.
        InvalidParameterError: a timeout is not a positive number; for a list: an empty one, an
            item neither a name nor a client, a name twice, or a provider setting.
    """
    options: dict[str, Any] = {
        "timeout": timeout,
        "retry": retry,
        "poll": poll,
        "session": session,
        "max_body": max_body,
        "webhooks": webhooks,
    }
    if isinstance(provider, str):
        return connect_one(provider, ledger=ledger, budget=budget, **options, **settings)
    if provider is None:
        listed = os.environ.get(PROVIDERS_ENV, "")
        if not listed.strip():
            raise errors.InvalidParameterError(
                f"connect() needs a provider name or a list of them, or ${PROVIDERS_ENV} set "
                "(e.g. convertapi,zamzar).",
                parameter="provider",
            )
        provider = list(provider_names(listed, parameter=PROVIDERS_ENV))
    if not isinstance(provider, (list, tuple)) or not provider:
        raise errors.InvalidParameterError(
            "provider must be a provider name or a non-empty list of names and clients, not "
            f"{provider!r}",
            parameter="provider",
        )
    if budget is not None:
        raise errors.InvalidParameterError(
            "connect([...]) takes no budget: a budget is one provider account's; set "
            "<PROVIDER>_BUDGET for the members named in the list, or put "
            "asyncjobs.connect(name, budget=...) in it.",
            parameter="budget",
        )
    if settings:
        first = sorted(settings)[0]
        raise errors.InvalidParameterError(
            f"connect([...]) takes no provider setting ({', '.join(sorted(settings))}): each "
            "provider named in the list reads its settings from the environment; for settings of "
            "your own, put asyncjobs.connect(name, ...) in the list.",
            parameter=first,
        )
    for item in provider:
        if not isinstance(item, (str, Client)):
            raise errors.InvalidParameterError(
                f"each provider must be a name or an asyncjobs.Client, not {type(item).__name__}",
                parameter="provider",
            )
    names = [i if isinstance(i, str) else i.name for i in provider]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise errors.InvalidParameterError(
            f"provider {twice[0]!r} is in the list twice; a routed client has one client per "
            "provider.",
            parameter="provider",
        )
    shared = open_ledger(ledger) if any(isinstance(i, str) for i in provider) else None
    clients: list[Client] = []
    owned: list[Client] = []
    try:
        for item in provider:
            if isinstance(item, Client):
                clients.append(item)
                continue
            client = connect_one(item, ledger=shared if shared is not None else False, **options)
            clients.append(client)
            owned.append(client)
    except BaseException:
        for client in owned:
            client.close()
        if shared is not None and not isinstance(ledger, Ledger):
            shared.close()
        raise
    # the router closes only the ledger it opened (never its members', nor one handed in)
    owns = shared is not None and not isinstance(ledger, Ledger)
    return Router(clients, ledger=shared, owned=owned, owns_ledger=owns)
