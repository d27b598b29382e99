"""Every exception asyncjobs raises, under one base class.

Catch :class:`AsyncJobsError` to catch everything; catch a subclass to handle one situation. Each message
says what happened, to which job at which provider, and what to do next. No message, repr or attribute
ever holds a secret: messages built from a service's answer pass through the client's redactor first.

Every error travels between processes with its attributes: through :mod:`pickle`, and as JSON-safe
``args`` (``(message, {"asyncjobs.error": fields})``) from which its class builds it again,
``cls(*args)`` -- the form Celery's JSON result serializer stores and rebuilds an exception from.
"""

from __future__ import annotations

import enum
import functools
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

if TYPE_CHECKING:
    from ._models import JobInfo

__all__ = [
    "AsyncJobsError",
    "AuthenticationError",
    "ConfigurationError",
    "InvalidParameterError",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "LedgerError",
    "NotSupportedError",
    "ProviderError",
    "RateLimitedError",
    "RoutingError",
    "SaveError",
    "TransportError",
    "UnknownProviderError",
]


def _redact(text: str) -> str:
    # Imported late: the redactor's module imports nothing of ours, but errors must stay importable
    # first. Every live client's secrets are masked, whichever client built the message.
    from ._redaction import redact_all

    return redact_all(text)


def describe(provider: str | None, job_id: str | None) -> str:
    """Return "job 'x' at provider" (or the part that is known), for messages."""
    if provider and job_id:
        return f"job {job_id!r} at {provider}"
    if provider:
        return provider
    if job_id:
        return f"job {job_id!r}"
    return ""


#: The key of an error's attributes in its JSON-safe ``args`` (see :attr:`AsyncJobsError.args`).
STATE = "asyncjobs.error"

_Init = TypeVar("_Init", bound=Callable[..., None])


def _rebuildable(init: _Init) -> _Init:
    """``init``, which also takes an error's JSON-safe ``args`` (its message and attributes) and
    builds the same error from them: what ``cls(*error.args)`` calls."""

    @functools.wraps(init)
    def __init__(self: AsyncJobsError, *args: Any, **kwargs: Any) -> None:
        if (
            len(args) == 2
            and not kwargs
            and isinstance(args[0], str)
            and isinstance(args[1], Mapping)
            and isinstance(args[1].get(STATE), Mapping)
        ):
            Exception.__init__(self, args[0])
            self.message = args[0]
            for name, value in args[1][STATE].items():
                # attributes only, never a dunder or a private name, whatever the data says
                if isinstance(name, str) and name.isidentifier() and not name.startswith("_"):
                    setattr(self, name, _decoded(value))
            return
        init(self, *args, **kwargs)

    return __init__  # type: ignore[return-value]


def _encoded(value: Any) -> Any:
    """An attribute's value as JSON-safe data: plain JSON as it is; a tuple, a datetime, an enum
    member, an attrs instance of asyncjobs (a JobInfo, a Cost) and a nested error tagged; anything
    else as its repr (lossy)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _encoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encoded(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encoded(v) for v in value]}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    kind = type(value)
    if isinstance(value, AsyncJobsError):
        message, state = value.args  # already JSON-safe
        return {"$error": [kind.__module__, kind.__qualname__, message, state[STATE]]}
    if isinstance(value, enum.Enum) and _ours(kind.__module__):
        return {"$enum": [kind.__module__, kind.__qualname__, _encoded(value.value)]}
    if attrs.has(kind) and _ours(kind.__module__):
        fields = {f.name: _encoded(getattr(value, f.name)) for f in attrs.fields(kind) if f.init}
        return {"$attrs": [kind.__module__, kind.__qualname__, fields]}
    return repr(value)


def _ours(module: str) -> bool:
    return module == "asyncjobs" or module.startswith("asyncjobs.")


def _class(module: str, name: str) -> Any:
    """The class ``name`` of ``module``: a module of asyncjobs is imported when it is not yet (what
    unpickling does); another module only if this process already imported it."""
    found: Any = sys.modules.get(module)
    if found is None and _ours(module):
        found = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def _decoded(value: Any) -> Any:
    """:func:`_encoded`'s data as the attribute's value again."""
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((tag, data),) = value.items()
        if tag == "$tuple":
            return tuple(_decoded(v) for v in data)
        if tag == "$datetime":
            return datetime.fromisoformat(data)
        if tag == "$enum":
            cls = _class(data[0], data[1]) if _ours(str(data[0])) else None
            if isinstance(cls, type) and issubclass(cls, enum.Enum):
                return cls(_decoded(data[2]))
            return _decoded(data[2])
        if tag == "$attrs":
            cls = _class(data[0], data[1]) if _ours(str(data[0])) else None  # ours, none else
            fields = {k: _decoded(v) for k, v in data[2].items()}
            return cls(**fields) if cls is not None and attrs.has(cls) else fields
        if tag == "$error":
            error: Any = _class(data[0], data[1])
            if not (isinstance(error, type) and issubclass(error, AsyncJobsError)):
                error = AsyncJobsError  # a plugin's error whose module is not imported here
            return error(data[2], {STATE: data[3]})
    return {k: _decoded(v) for k, v in value.items()}


class AsyncJobsError(Exception):
    """Base class of every error raised by asyncjobs and its providers."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # every class builds itself again from its args
            setattr(cls, "__init__", _rebuildable(cls.__dict__["__init__"]))  # noqa: B010

    @_rebuildable
    def __init__(self, message: str, *, provider: str | None = None, job_id: str | None = None):
        message = _redact(message)
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.job_id = job_id

    @property
    def args(self) -> tuple[Any, ...]:
        """``(message, {"asyncjobs.error": attributes})``, JSON-safe: ``type(error)(*args)`` is the
        same error again, in another process (Celery's JSON results store an exception so)."""
        fields = {name: _encoded(value) for name, value in self._attributes().items()}
        return (self.message, {STATE: fields})

    @args.setter
    def args(self, value: tuple[Any, ...]) -> None:
        BaseException.args.__set__(self, value)  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle takes the same road as JSON: a JobInfo's read-only meta does not pickle
        return (type(self), self.args)

    def _attributes(self) -> dict[str, Any]:
        """The error's attributes but its message (an OSError's ``errno`` and ``filename`` too,
        which live outside ``__dict__``)."""
        found = {k: v for k, v in vars(self).items() if k != "message" and not k.startswith("_")}
        if isinstance(self, OSError):
            found.update(errno=self.errno, filename=self.filename)
        return found

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(AsyncJobsError):
    """Raised when a client cannot be built from its settings: a required setting (a secret, a base URL)
    is missing from both the arguments and the environment, a setting is unknown, or has a wrong value.
    Raised before any request is sent."""


class InvalidParameterError(AsyncJobsError, ValueError):
    """Raised before any request is sent when a call's arguments are wrong: an unknown job kind, an
    unknown or missing parameter, a source file that does not exist, a non-positive timeout.

    ``parameter`` names the offending argument. It is also a :class:`ValueError`.
    """

    def __init__(
        self,
        message: str,
        *,
        parameter: str | None = None,
        provider: str | None = None,
        job_id: str | None = None,
    ):
        super().__init__(message, provider=provider, job_id=job_id)
        self.parameter = parameter


class UnknownProviderError(AsyncJobsError, LookupError):
    """Raised by :func:`asyncjobs.connect` and friends when no provider of that name is installed or
    registered. ``available`` lists the names that do exist."""

    def __init__(self, name: str, available: Sequence[str]):
        import difflib

        names = ", ".join(available) or "none"
        close = difflib.get_close_matches(str(name), list(available), n=1, cutoff=0.75)
        # a typo, most likely: the suggestion first, the advice to install after it
        guess = f" did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"no provider named {name!r};{guess} available providers: {names}. Install the "
            "provider's distribution (no release is published yet: from a checkout of the "
            "asyncjobs repository, for example `pip install -e ./providers/convertapi`) or call "
            "asyncjobs.register(name, ProviderClass).",
            provider=name,
        )
        self.name = name
        self.available = tuple(available)


class NotSupportedError(AsyncJobsError):
    """Raised when a provider cannot do what was asked, for example cancel a job on a service that has
    no cancel endpoint. Raised before any request is sent."""


class ProviderError(AsyncJobsError):
    """Raised when a service answered with an error.

    Attributes: ``status_code`` (HTTP status, or ``None`` when no answer came), ``code`` (the provider's
    own error code when it has one), ``message`` (the whole explanation), ``provider_message`` (the
    provider's own words), ``request_id`` (for the provider's support), ``invalid_parameters`` (parameter
    name to the provider's complaints, where the provider names them).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        job_id: str | None = None,
        status_code: int | None = None,
        code: str | int | None = None,
        provider_message: str | None = None,
        request_id: str | None = None,
        invalid_parameters: Mapping[str, Sequence[str]] | None = None,
    ):
        super().__init__(message, provider=provider, job_id=job_id)
        self.status_code = status_code
        # every string a service sent passes the redactor before it is kept
        self.code = _redact(code) if isinstance(code, str) else code
        self.provider_message = None if provider_message is None else _redact(provider_message)
        self.request_id = None if request_id is None else _redact(request_id)
        self.invalid_parameters: Mapping[str, Sequence[str]] = {
            _redact(str(k)): tuple(_redact(str(v)) for v in vs)
            for k, vs in (invalid_parameters or {}).items()
        }


class AuthenticationError(ProviderError):
    """Raised when the service refused the credentials (HTTP 401 or 403, or an OAuth ``invalid_client``).
    The message says which setting to check; it never contains the credential."""


class RateLimitedError(ProviderError):
    """Raised when the service kept answering "too many requests" (HTTP 429, or ConvertAPI's 503 on a
    conversion request) after the transport's retries ran out. ``retry_after`` is the delay in seconds the
    service asked for, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class JobNotFoundError(ProviderError):
    """Raised when the service does not know the job: the id is wrong, belongs to another account, or the
    job has expired and was removed (each provider's job lifetime is in its ``capabilities``)."""


class TransportError(ProviderError):
    """Raised when no usable answer came: the connection failed or was reset, a timeout passed, or the
    body could not be read or parsed, after the transport's retries ran out.

    For a submit that is not idempotent this means the outcome is unknown: the ledger keeps the attempt
    so that the job can be found or submitted again on purpose, never doubled silently.

    ``never_sent`` is true when the request provably never reached the service (the connection
    was refused, the name did not resolve, the connection timed out before it was made): then no
    job can exist, and a routed submit falls back to the next provider.
    """

    def __init__(self, message: str, *, never_sent: bool = False, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.never_sent = never_sent


class RoutingError(ProviderError):
    """Raised by a routed client's ``submit`` (``asyncjobs.connect([...])``) when every provider it
    tried refused the job in a way that let it try the next (credentials, credits, rate limits,
    a conversion it does not offer, a connection that never sent the request), so that no job was
    created anywhere. ``attempts`` holds each provider's name and its error, in the order tried;
    the message names each."""

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[tuple[str, AsyncJobsError]] = (),
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.attempts = tuple(attempts)


class JobFailedError(AsyncJobsError):
    """Raised by ``Job.result`` and ``Client.result`` when the job ended ``failed``. ``info`` is the last
    :class:`~asyncjobs.JobInfo`, with the provider's ``error`` and ``raw_status``."""

    def __init__(self, info: JobInfo):
        reason = info.error or f"status {info.raw_status!r}"
        super().__init__(
            f"job {info.id!r} at {info.provider} failed: {reason}. Check the job's input and "
            "parameters, then submit it again.",
            provider=info.provider,
            job_id=info.id,
        )
        self.info = info


class JobTimeoutError(AsyncJobsError, TimeoutError):
    """Raised when waiting for a job took longer than the ``timeout`` given. The job goes on at the
    provider: wait again, or pick it up later with ``client.job(job_id)``. ``info`` is the last status
    seen, when one was."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        job_id: str | None = None,
        info: JobInfo | None = None,
    ):
        super().__init__(message, provider=provider, job_id=job_id)
        self.info = info


class LedgerError(AsyncJobsError):
    """Raised when the ledger fails while in use: a write or read of a ledger that opened fine (a full
    disk, a folder turned read-only, a lost database connection). ``job_id`` is the id the service
    issued when the failure came after the submit was answered: the job exists at the provider, and
    the id is never lost. Bad ledger *settings* (a path that cannot be a ledger, a newer schema) are a
    :class:`ConfigurationError` instead. ``info`` is the job's first JobInfo when the submit had
    been answered."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        job_id: str | None = None,
        info: JobInfo | None = None,
    ):
        super().__init__(message, provider=provider, job_id=job_id)
        self.info = info


class SaveError(AsyncJobsError, OSError):
    """Raised when a result cannot be written to disk: the file exists (pass ``overwrite=True``, or
    ``--force`` on the command line), the disk is full, or the folder cannot be written. Nothing
    partial is left at the destination. It is also an :class:`OSError` (``errno`` set when the
    system said)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        errno: int | None = None,
        provider: str | None = None,
        job_id: str | None = None,
    ):
        AsyncJobsError.__init__(self, message, provider=provider, job_id=job_id)
        self.errno = errno
        self.filename = path
        self.path = path

    def __str__(self) -> str:
        return self.message
