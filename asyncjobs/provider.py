"""The plugin contract: what a provider class declares and implements.

A provider translates one service's protocol, nothing more. The core gives it a :class:`~asyncjobs.
transport.Transport` (one ``requests.Session``, timeouts, retries, redaction, error mapping) and its
resolved settings; the core owns validation, the ledger, waiting and job handles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from ._budget import Budget
from ._formats import Formats
from ._http import (
    HeaderAuth,
    TokenAuth,
    Transport,
    default_error_details,
    origin,
    parse_retry_after,
    path_segment,
    same_origin,
)
from ._models import Cost, JobInfo, Status
from ._multipart import MultipartBody
from ._policies import PollPolicy, RetryPolicy, Timeouts
from ._redaction import get_logger
from ._sources import Source, prepare_convert
from ._text import duration_text
from ._wire import WireConverter, wire_converter
from .errors import (
    AuthenticationError,
    JobFailedError,
    NotSupportedError,
    ProviderError,
    TransportError,
    describe,
)

_log = get_logger("asyncjobs.provider")
#: provider name -> the unknown status words already logged
_UNKNOWN_WORDS: dict[str, set[str]] = {}


def _lower_words(cls: type[Provider]) -> dict[str, Status]:
    cached: dict[str, Status] | None = cls.__dict__.get("_status_words_lower")
    if cached is None:
        cached = {str(k).strip().lower(): Status(v) for k, v in cls.status_words.items()}
        cls._status_words_lower = cached  # type: ignore[attr-defined]
    return cached


def _rewinder(body: Any) -> Callable[[], bool]:
    """A function that rewinds ``body`` for a replay and says whether it could."""
    if not hasattr(body, "read"):
        return lambda: True
    try:
        start = body.tell() if body.seekable() else None
    except (AttributeError, OSError, ValueError):
        start = None
    if start is None:
        return lambda: False

    def rewind() -> bool:
        body.seek(start)
        return True

    return rewind


if TYPE_CHECKING:
    import cattrs
    import requests

    from ._details import ErrorDetails
    from ._results import Result, ResultFile, WebhookRequest
    from ._settings import Settings

#: re-exported names imported when first read (with ``ErrorDetails``): a status reads none of them,
#: so a first status does not build their classes
_RESULTS = ("Result", "ResultFile", "WebhookRequest")


def __getattr__(name: str) -> Any:
    value: Any
    if name == "ErrorDetails":
        from . import _details  # here: only when the name is first read

        value = _details.ErrorDetails
    elif name in _RESULTS:
        from . import _results  # here: only when one of the names is first read

        value = getattr(_results, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups are plain attribute reads
    return value


__all__ = [
    "Budget",
    "Capabilities",
    "Cost",
    "ErrorDetails",
    "Formats",
    "HeaderAuth",
    "JobInfo",
    "Kind",
    "MultipartBody",
    "Param",
    "PollPolicy",
    "Provider",
    "Result",
    "ResultFile",
    "RetryPolicy",
    "Setting",
    "Source",
    "Status",
    "Timeouts",
    "TokenAuth",
    "Transport",
    "WebhookRequest",
    "WireConverter",
    "convert_kind",
    "default_error_details",
    "get_logger",
    "origin",
    "parse_retry_after",
    "path_segment",
    "prepare_convert",
    "same_origin",
    "wire_converter",
]

T = TypeVar("T")


@attrs.frozen
class Capabilities:
    """What a provider can do, and how its jobs behave.

    Attributes:
        cancel: the service can cancel a job.
        list: the service has an endpoint listing jobs (otherwise ``list`` comes from the ledger).
        webhooks: the service can call a URL when a job ends (``submit(..., webhook=...)``;
            the receiver reads the calls with :meth:`Provider.read_webhook`).
        account_webhook: the service's webhook URL is set once per account, in its own settings
            (the user registers ``receiver.url_for(name)`` there), not passed with each submit;
            ``submit(webhook=True)`` then only marks the job as expecting a call.
        idempotent_submit: submits carry a client-chosen job id, so a submit can be retried safely.
        poll: the :class:`PollPolicy` for this service.
        job_lifetime: how long the service keeps a finished job and its results, when known.
        cost_unit: the unit the service bills in and reports on its jobs (``JobInfo.cost``), e.g.
            ``"credits"``; ``None`` for a service that does not say what a job cost.
        budget: the request rate (and concurrency) the service publishes for an account, as a
            :class:`Budget`; clients of the service (its default ``base_url``) keep to it unless
            the user sets another. ``None`` when the service publishes none.
    """

    cancel: bool = False
    list: bool = False
    webhooks: bool = False
    account_webhook: bool = False
    idempotent_submit: bool = False
    poll: PollPolicy = attrs.field(factory=PollPolicy)
    job_lifetime: timedelta | None = None
    cost_unit: str | None = None
    budget: Budget | None = None


@attrs.frozen
class Setting:
    """One setting a provider takes, e.g. its secret or base URL.

    Attributes:
        name: the keyword of :func:`asyncjobs.connect`.
        env: the environment variable read when the keyword is not given.
        required: whether a client cannot be built without it.
        secret: whether it must never be shown (it is redacted everywhere).
        default: the value when neither keyword nor environment gives one.
        choices: the allowed values, when the set is closed.
        url: whether the value must be an ``http(s)`` URL (base URLs, token endpoints).
        doc: one line for humans.
    """

    name: str
    env: str | None = None
    required: bool = False
    secret: bool = False
    default: str | None = None
    choices: tuple[str, ...] = ()
    url: bool = False
    doc: str = ""


@attrs.frozen
class Param:
    """One parameter of a job kind."""

    name: str
    required: bool = False
    doc: str = ""


@attrs.frozen
class Kind:
    """A kind of job a provider accepts.

    Attributes:
        name: the kind's name, e.g. ``"convert"``.
        params: the parameters it takes by name.
        extra: whether other parameters are accepted and passed through to the service as they are
            (e.g. ConvertAPI's converter options).
        doc: one line for humans.
    """

    name: str
    params: tuple[Param, ...] = ()
    extra: bool = False
    doc: str = ""

    @property
    def param_names(self) -> tuple[str, ...]:
        """The names of the declared parameters."""
        return tuple(p.name for p in self.params)


def convert_kind(*more: Param, extra: bool = True, doc: str = "") -> Kind:
    """The ``"convert"`` kind shared by every conversion provider: ``source``, ``to`` and ``from_``, plus
    the provider's own parameters ``more``."""
    return Kind(
        "convert",
        (
            Param("source", required=True, doc="path, Path, bytes, binary file or http(s) URL"),
            Param("to", required=True, doc="target format, e.g. 'pdf'"),
            Param("from_", doc="source format; inferred from the file name or URL when absent"),
            *more,
        ),
        extra=extra,
        doc=doc or "Convert a document from one format to another.",
    )


class Provider:
    """Base class of every provider. Subclass it, set ``name``, ``kinds``, ``capabilities`` and
    ``settings``, and implement ``submit``, ``status`` and ``result`` (``cancel`` and ``list`` where the
    service has them).

    An instance is made by :func:`asyncjobs.connect` with the resolved settings and the client's
    transport; it must not build an HTTP session of its own.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[Kind, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: Headers sent with every API request (e.g. ``{"Accept": "application/json"}``).
    headers: ClassVar[Mapping[str, str]] = {}
    #: Headers sent with every result download (the default :meth:`open_file`).
    download_headers: ClassVar[Mapping[str, str]] = {}
    #: The service's own "what to do next" per error class, e.g. ``{JobNotFoundError: "Jobs are
    #: removed a week after they finish."}``; the generic sentence otherwise.
    advice: ClassVar[Mapping[type[ProviderError], str]] = {}
    #: The service's status words (matched without regard to case) -> :class:`Status`. A word not
    #: in it reads as ``pending`` and is logged once (see :meth:`status_of`).
    status_words: ClassVar[Mapping[str, Status]] = {}
    #: "module:Class" of the provider's sandbox (a :class:`asyncjobs.sandbox.SandboxApp`), if it has one.
    sandbox: ClassVar[str | None] = None

    def __init__(self, config: Settings, transport: Transport) -> None:
        self.config = config
        self.transport = transport
        self._poll: Callable[[str], JobInfo] | None = None

    def look_through(self, status: Callable[[str], JobInfo]) -> None:
        """Route :meth:`poll` through ``status``: the core's client calls this with its own
        ``status``, so that a look a provider takes for a result obeys the client's
        one-poll-in-flight rule and is recorded in its ledger. Plugins need not call it."""
        self._poll = status

    @classmethod
    def credential_origins(cls, config: Mapping[str, Any]) -> frozenset[str]:
        """The origins (``scheme://host:port``) this provider's credentials may be sent to. The
        transport signs a request, and each redirect hop of it, only when its URL is at one of
        them. The default is the origin of the ``base_url`` setting (or, for a provider without
        one, of each URL setting); a provider whose files sit on a CDN that needs the credential
        too adds that origin here."""
        from ._http import origin

        urls = [s.name for s in cls.settings if s.url]
        names = ["base_url"] if "base_url" in urls else urls
        found = {origin(config.get(n)) for n in names if config.get(n)}
        return frozenset(o for o in found if o is not None)

    def url(self, path: str) -> str:
        """``path`` joined to the ``base_url`` setting (an absolute URL is returned as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        return str(self.config["base_url"]).rstrip("/") + "/" + path.lstrip("/")

    def status_of(self, word: object) -> Status:
        """The :class:`Status` of one of the service's status words, by :attr:`status_words`. An
        unknown word is ``pending`` (the job is asked about again; it never ends a wait wrongly),
        and is logged once per provider and word so that the table can be completed."""
        key = str(word).strip().lower()
        words = _lower_words(type(self))
        found = words.get(key)
        if found is not None:
            return found
        seen = _UNKNOWN_WORDS.setdefault(self.name, set())
        if key not in seen and len(seen) < 100:
            seen.add(key)
            _log.warning(
                "%s: unknown status word %r read as pending; please report it", self.name, word
            )
        return Status.PENDING

    def poll(self, job_id: str) -> JobInfo:
        """One look at the job through the client, so that the client's one-poll-in-flight rule and
        its ledger see it: call this (not :meth:`status`) from :meth:`result` when a result needs a
        fresh look."""
        return (self._poll or self.status)(job_id)

    # -- hooks with defaults ----------------------------------------------------------------------

    @classmethod
    def formats(cls) -> Formats | None:
        """The conversions this provider offers (its vendor's published list), or ``None`` for a
        provider that does not convert or does not declare them. The core refuses a ``"convert"``
        outside them before any request, and routes around it. Load the table lazily (e.g.
        ``functools.cache`` over :meth:`Formats.from_json`): it is read only when needed."""
        return None

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Check and normalize a submit's parameters, without any network. Raise
        :class:`~asyncjobs.errors.InvalidParameterError` naming what is wrong. The core has already
        checked the kind and the parameter names."""
        return params

    def new_job_id(self) -> str | None:
        """A client-chosen job id for the next submit, for services that take one; ``None`` otherwise."""
        return None

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Read the service's error body. The default understands the common JSON shapes."""
        from ._http import default_error_details

        return default_error_details(response)

    def auth(self) -> requests.auth.AuthBase | TokenAuth | None:
        """What signs every request: a ``requests`` auth object (e.g. a :class:`HeaderAuth`), a
        :class:`TokenAuth` (short-lived tokens, refreshed by the base class), or ``None``."""
        return None

    def request(
        self, method: str, url: str, *, job_id: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send one request through the client's transport, signed with :meth:`auth`, with errors
        parsed by :meth:`parse_error` and explained by :attr:`advice`, and :attr:`headers` added.
        ``url`` may be relative to the ``base_url`` setting. With a :class:`TokenAuth`, a request
        refused with 401 is replayed once with a fresh token. Keyword arguments are those of
        :meth:`asyncjobs.provider.Transport.request`."""
        if self.headers:
            kwargs["headers"] = {**self.headers, **(kwargs.get("headers") or {})}
        kwargs.setdefault("error_parser", self.parse_error)
        kwargs.setdefault("advice", self.advice)
        target = self.url(url)
        body = kwargs.get("data")
        return self._signed(
            lambda auth: self.transport.request(method, target, job_id=job_id, auth=auth, **kwargs),
            _rewinder(body),
        )

    def _signed(self, send: Callable[[Any], T], rewind: Callable[[], bool]) -> T:
        """``send(auth)`` with :meth:`auth`; for a :class:`TokenAuth`, the token of the moment, and
        after a 401 a fresh token and one replay (when the body can be sent again)."""
        auth = self.auth()
        if not isinstance(auth, TokenAuth):
            return send(auth)
        token = auth.get()
        try:
            return send(auth.signer(token))
        except AuthenticationError as exc:
            if exc.status_code != 401 or not rewind():
                raise
            _log.info(
                "%s: the access token was refused (HTTP 401); refreshing it and replaying the "
                "request once",
                self.name,
            )
            auth.invalidate(token)
            return send(auth.signer(auth.get()))

    def token_auth(self, fetch: Callable[[], tuple[str, float | None]]) -> TokenAuth:
        """A :class:`TokenAuth` whose every new token is added to the client's redactor."""
        return TokenAuth(fetch, on_token=self.transport.redactor.add)

    def require_done(self, info: JobInfo) -> None:
        """Check, in ``result``, that the job is done before its result is fetched.

        Raises:
            JobFailedError: the job failed (it carries ``info``).
            ProviderError: the job is still pending; wait for it first.
        """
        if info.status is Status.FAILED:
            raise JobFailedError(info)
        if info.status is not Status.DONE:
            raise ProviderError(
                f"{describe(self.name, info.id)} is still {info.status.value} "
                f"({info.raw_status}): wait for it first (job.result(timeout=...) does).",
                provider=self.name,
                job_id=info.id,
            )

    def decode(
        self,
        response: requests.Response,
        cls: type[T],
        converter: cattrs.Converter,
        *,
        job_id: str | None = None,
    ) -> T:
        """Read ``response``'s JSON body into ``cls`` with the provider's wire ``converter``.

        Raises:
            TransportError: the body is not JSON of the expected shape (a truncated or garbled
                answer, or a base_url pointing at something else) -- never a KeyError or TypeError.
        """
        import requests
        from cattrs.errors import BaseValidationError

        try:
            return converter.structure(response.json(), cls)
        except (
            RecursionError,  # JSON nested beyond what the parser takes
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            BaseValidationError,
            requests.RequestException,  # a streamed body cut while it was read
        ) as exc:
            where = describe(self.name, job_id)
            raise TransportError(
                self.transport.redactor(
                    f"{where}: the answer to {response.request.method} "
                    f"{response.url.split('?', 1)[0]} (HTTP {response.status_code}) is not the "
                    f"JSON {self.name} sends ({type(exc).__name__}). Try again; if it persists, "
                    "check the base_url setting."
                ),
                provider=self.name,
                job_id=job_id,
                status_code=response.status_code,
            ) from exc

    @contextlib.contextmanager
    def open_file(self, file: ResultFile) -> Iterator[IO[bytes]]:
        """Open a result file's content as a stream. The default GETs ``file.url`` with
        :meth:`auth` and :attr:`download_headers` (the transport sends the credentials only to
        :meth:`credential_origins`; a :class:`TokenAuth` is refreshed once on a 401)."""
        if not file.url:
            raise NotSupportedError(f"{self.name}: result file {file.name!r} has no URL to fetch")
        url = file.url
        headers = dict(self.download_headers) or None
        with contextlib.ExitStack() as stack:
            yield self._signed(
                lambda auth: stack.enter_context(
                    self.transport.stream(
                        "GET",
                        url,
                        auth=auth,
                        error_parser=self.parse_error,
                        advice=self.advice,
                        headers=headers,
                    )
                ),
                lambda: True,
            )

    # -- the contract -----------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        """Start a job; return its first :class:`~asyncjobs.JobInfo` (normally ``pending``)."""
        raise NotImplementedError

    def status(self, job_id: str) -> JobInfo:
        """One look at the job."""
        raise NotImplementedError

    def result(self, job_id: str) -> Result:
        """The result of a ``done`` job."""
        raise NotImplementedError

    def cancel(self, job_id: str) -> None:
        """Cancel the job. The default raises :class:`~asyncjobs.errors.NotSupportedError`."""
        lifetime = self.capabilities.job_lifetime
        kept = (
            f" ({self.name} removes it {duration_text(lifetime)} after it finishes)"
            if lifetime
            else ""
        )
        raise NotSupportedError(
            f"{self.name} cannot cancel a job: the service has no cancel or delete endpoint. Job "
            f"{job_id!r} runs to its end; ignore its result{kept}.",
            provider=self.name,
            job_id=job_id,
        )

    def read_webhook(self, request: WebhookRequest) -> Sequence[str]:
        """The ids of the jobs a webhook call from the service is about (usually one), read from
        ``request`` without any network. Only a provider whose ``capabilities.webhooks`` is true
        is called; the default reads nothing (every call is then answered 404).

        The call is a hint, never trusted: the receiver has checked its token, and it polls each
        job once to learn what happened. Translate the protocol only; raise ``ValueError`` (or
        return ``[]``) for a body that is not one of the service's calls.
        """
        return ()

    def register_webhook(self, url: str) -> bool:
        """Register ``url`` (``receiver.url_for(name)``) as the account's webhook with the service,
        for a provider whose webhook is set per account (``capabilities.account_webhook``) and
        whose service offers an endpoint for it; ``asyncjobs webhooks serve --register`` calls
        it. Return True when it was registered, False when it was already. The default raises
        :class:`~asyncjobs.errors.NotSupportedError`: register the URL in the service's settings.
        """
        raise NotSupportedError(
            f"{self.name} offers no way to register a webhook through its API: register "
            f"receiver.url_for({self.name!r}) in the service's own settings.",
            provider=self.name,
        )

    def list(self) -> Iterable[JobInfo]:
        """The jobs the service itself lists. The default, for services without a list endpoint, is
        none: the client merges in the ledger's jobs either way."""
        return ()

    def close(self) -> None:
        """Release what the provider holds (the transport is closed by the client)."""
