"""The plugin contract: what a provider class declares and implements.

A provider translates one service's protocol, nothing more. The core gives it a :class:`~asyncjobs.
transport.Transport` (one ``requests.Session``, timeouts, retries, redaction, error mapping) and its
resolved settings; the core owns validation, the ledger, waiting and job handles.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from .errors import JobFailedError, NotSupportedError, ProviderError, TransportError, describe
from .models import Status

if TYPE_CHECKING:
    import cattrs
    import requests

    from .models import JobInfo, Result, ResultFile
    from .settings import Settings
    from .transport import ErrorDetails, Transport

__all__ = ["Capabilities", "Kind", "Param", "PollPolicy", "Provider", "Setting", "convert_kind"]

T = TypeVar("T")


@attrs.frozen
class PollPolicy:
    """How often to ask a provider about one job: exponential growth with full jitter, capped, never
    more often than ``min_interval``. A ``Retry-After`` from the service wins over the policy.

    Attributes:
        initial: the upper bound of the first delay, in seconds.
        factor: how much the upper bound grows after each poll.
        cap: the largest upper bound.
        min_interval: the smallest delay between two polls of one job.
    """

    initial: float = 1.0
    factor: float = 1.5
    cap: float = 30.0
    min_interval: float = 0.2

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before poll number ``attempt + 1`` (``attempt`` counts from 0)."""
        bound = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        draw = (rng or random).uniform(0.0, bound)
        return max(self.min_interval, draw)


@attrs.frozen
class Capabilities:
    """What a provider can do, and how its jobs behave.

    Attributes:
        cancel: the service can cancel a job.
        list: the service has an endpoint listing jobs (otherwise ``list`` comes from the ledger).
        webhooks: the service can call a URL when a job ends.
        idempotent_submit: submits carry a client-chosen job id, so a submit can be retried safely.
        poll: the :class:`PollPolicy` for this service.
        job_lifetime: how long the service keeps a finished job and its results, when known.
    """

    cancel: bool = False
    list: bool = False
    webhooks: bool = False
    idempotent_submit: bool = False
    poll: PollPolicy = PollPolicy()
    job_lifetime: timedelta | None = None


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
    #: "module:Class" of the provider's sandbox (a :class:`asyncjobs.sandbox.SandboxApp`), if it has one.
    sandbox: ClassVar[str | None] = None

    def __init__(self, config: Settings, transport: Transport) -> None:
        self.config = config
        self.transport = transport

    # -- hooks with defaults ----------------------------------------------------------------------

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
        from .transport import default_error_details

        return default_error_details(response)

    def auth(self) -> requests.auth.AuthBase | None:
        """The ``requests`` auth object to sign every request with, or ``None``."""
        return None

    def request(
        self, method: str, url: str, *, job_id: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send one request through the client's transport, signed with :meth:`auth`, with errors parsed
        by :meth:`parse_error`. ``url`` may be relative to the ``base_url`` setting. Keyword arguments
        are those of :meth:`asyncjobs.transport.Transport.request`."""
        if not url.startswith(("http://", "https://")):
            url = self.config["base_url"].rstrip("/") + "/" + url.lstrip("/")
        return self.transport.request(
            method, url, job_id=job_id, auth=self.auth(), error_parser=self.parse_error, **kwargs
        )

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
        """Open a result file's content as a stream. The default GETs ``file.url`` with :meth:`auth`."""
        if not file.url:
            raise NotSupportedError(f"{self.name}: result file {file.name!r} has no URL to fetch")
        with self.transport.stream(
            "GET", file.url, auth=self.auth(), error_parser=self.parse_error
        ) as stream:
            yield stream

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
        raise NotSupportedError(
            f"{self.name} cannot cancel jobs: the service has no cancel endpoint. Let job "
            f"{job_id!r} finish and ignore its result.",
            provider=self.name,
            job_id=job_id,
        )

    def list(self) -> Iterable[JobInfo]:
        """The jobs the service itself lists. The default, for services without a list endpoint, is
        none: the client merges in the ledger's jobs either way."""
        return ()

    def close(self) -> None:
        """Release what the provider holds (the transport is closed by the client)."""
