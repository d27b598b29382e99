"""The immutable values of the job interface: :class:`Status`, :class:`JobInfo`, :class:`Result` and
:class:`ResultFile`. They hold data only; downloading goes through the client that made them."""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, cast

import attrs

from ._files import atomic_write, remove_stale_parts, safe_name, unique_names
from ._text import info_html, result_html

__all__ = [
    "Cost",
    "JobInfo",
    "Result",
    "ResultFile",
    "Status",
    "WebhookRequest",
    "expired",
    "expiry",
]

#: A function that opens a result file's content as a binary stream.
Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]

_COPY_CHUNK = 1024 * 1024


class Status(str, enum.Enum):
    """The three statuses every job has, whatever its provider. The provider's own word is kept in
    :attr:`JobInfo.raw_status`."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for ``DONE`` and ``FAILED``: the job will not change any more."""
        return self is not Status.PENDING

    def __str__(self) -> str:
        return self.value


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _amount(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"a cost amount must be a number, not {type(value).__name__}")
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"a cost amount must be a finite number not below 0, not {value!r}")
    return amount


def _unit(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a cost unit must be a non-empty word such as 'credits', not {value!r}")
    return value.strip()


@attrs.frozen(order=False)
class Cost:
    """What a job cost, in the unit its provider bills in.

    Units differ between services (ConvertAPI bills conversion ``seconds``, CloudConvert and Zamzar
    ``credits``), so costs are added up per unit, never across units.

    Attributes:
        amount: how much, a finite number not below 0 (an integer number of credits is exact).
        unit: what it is counted in, e.g. ``"credits"``.
    """

    amount: float = attrs.field(converter=_amount)
    unit: str = attrs.field(converter=_unit)

    def __add__(self, other: object) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        if other.unit != self.unit:
            raise ValueError(f"cannot add {other.unit} to {self.unit}: sum costs per unit")
        return Cost(self.amount + other.amount, self.unit)

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount.is_integer() else self.amount
        return f"{amount} {self.unit}"


@attrs.frozen(repr=False)
class JobInfo:
    """One look at a job: what the provider said about it, normalized.

    Attributes:
        provider: the provider's registered name, e.g. ``"convertapi"``.
        id: the job id the provider knows the job by.
        kind: what the job does, e.g. ``"convert"``.
        status: :class:`Status`, normalized.
        raw_status: the provider's own word (or HTTP status) for it.
        submitted_at, started_at, completed_at: timezone-aware datetimes, when known.
        error: the provider's explanation, for a failed job.
        expires_at: when the provider will forget the job and its results, when known.
        meta: anything else the provider said that is worth keeping (read-only mapping).
        cost: what the job cost (:class:`Cost`), when the provider says; ``None`` otherwise.
    """

    provider: str
    id: str
    kind: str
    status: Status = attrs.field(converter=Status)
    raw_status: str | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    expires_at: datetime | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, hash=False)
    cost: Cost | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Cost))
    )

    @property
    def finished(self) -> bool:
        """True when the job is ``done`` or ``failed``."""
        return self.status.finished

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error else ""
        return (
            f"JobInfo({self.provider}:{self.id} {self.kind} {self.status.value}"
            f" raw_status={self.raw_status!r}{extra})"
        )

    def _repr_html_(self) -> str:
        return info_html(self)


def expiry(
    info: JobInfo | None, lifetime: timedelta | None, *, since: datetime | None = None
) -> datetime | None:
    """When the provider forgets a job: the ``expires_at`` its service said; else ``lifetime`` (the
    provider's ``Capabilities.job_lifetime``) after the job finished, its ``completed_at``, or else
    ``since`` (when it was first seen finished, or last seen: an estimate). ``None`` when that is
    unknown, or past the last date a ``datetime`` holds."""
    if info is not None and info.expires_at is not None:
        return info.expires_at
    base = (info.completed_at if info is not None else None) or since
    if lifetime is None or base is None:
        return None
    try:
        return base + lifetime
    except OverflowError:
        return None


def expired(expires_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a job its provider forgets at ``expires_at`` is forgotten at ``now`` (by default
    the current time); never when that time is unknown."""
    return expires_at is not None and expires_at <= (now or datetime.now(timezone.utc))


def check_dest(dest: object) -> str | os.PathLike[str]:
    if not isinstance(dest, (str, os.PathLike)):
        from .errors import InvalidParameterError

        raise InvalidParameterError(
            f"the destination must be a path (str or pathlib.Path), not {type(dest).__name__}",
            parameter="dest",
        )
    return dest


def _closing_bytes(data: bytes) -> contextlib.AbstractContextManager[IO[bytes]]:
    return contextlib.closing(io.BytesIO(data))


@attrs.frozen
class ResultFile:
    """One file a finished job produced.

    Attributes:
        name: the file name the provider gave it.
        size: its size in bytes, when the provider said.
        url: where the provider serves it, when it does (may need the client's credentials).
        media_type: its media type, e.g. ``"application/pdf"`` or ``"text/csv"``, when known.
    """

    name: str
    size: int | None = None
    url: str | None = None
    media_type: str | None = None
    _data: bytes | None = attrs.field(default=None, repr=False, eq=False, alias="data")
    _opener: Opener | None = attrs.field(default=None, repr=False, eq=False, alias="opener")

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """Open the file's content as a binary stream, downloading as it is read.

        Raises:
            NotSupportedError: the file has no content attached and no way to fetch it (a file rebuilt
                from JSON; fetch the result again through a client).
            ProviderError: the download failed.
        """
        if self._data is not None:
            with _closing_bytes(self._data) as stream:
                yield stream
            return
        if self._opener is None:
            from .errors import NotSupportedError

            raise NotSupportedError(
                f"result file {self.name!r} is not bound to a client; get it again with "
                "client.result(job_id)."
            )
        with self._opener() as stream:
            yield (
                stream
                if self.size is None
                else cast(IO[bytes], _Sized(stream, self.name, self.size))
            )

    def bound(self, opener: Callable[[ResultFile], Any]) -> ResultFile:
        """This file, its content fetched by ``opener(file)`` (a context manager giving a binary
        stream) unless it has content or a way to fetch it already: a client binds the files of a
        result it returns to its own downloads."""
        if self._data is not None or self._opener is not None:
            return self
        return attrs.evolve(self, opener=functools.partial(opener, self))

    def read(self) -> bytes:
        """Return the whole content. For large files prefer :meth:`save` or :meth:`open`."""
        with self.open() as stream:
            return stream.read()

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the content to ``path`` (a file, or a folder to put a safe form of ``name`` in),
        streaming in chunks.

        The content goes to a temporary file beside the destination, moved into place only when the
        download is complete and as long as the provider declared (``size``): a failed, short or
        overlong download never leaves a partial file. An existing file is replaced only when
        ``overwrite`` is true.

        Returns:
            The path written.

        Raises:
            SaveError: the file exists (and not ``overwrite``), the disk is full, or the folder
                cannot be written. TransportError: the download failed or had the wrong size.
        """
        dest = Path(check_dest(path))
        if dest.is_dir():
            dest = dest / safe_name(self.name)
        remove_stale_parts(dest.parent)
        try:
            with atomic_write(dest, overwrite=overwrite) as out, self.open() as stream:
                # read1 hands on each block as it arrives; read(n) would first gather n bytes
                read = getattr(stream, "read1", None) or stream.read
                while chunk := read(_COPY_CHUNK):
                    out.write(chunk)
        except FileExistsError:
            from .errors import SaveError

            raise SaveError(
                f"{str(dest)!r} exists, so the result file {self.name!r} was not saved over it. "
                "Save into an empty folder, or pass overwrite=True (asyncjobs result --force) to "
                "replace it.",
                path=str(dest),
                errno=errno.EEXIST,
            ) from None
        except OSError as exc:
            from .errors import AsyncJobsError, SaveError

            if isinstance(exc, AsyncJobsError):
                raise
            why = {
                errno.ENOSPC: "the disk is full",
                errno.EDQUOT: "the disk quota is used up",
                errno.EACCES: "the folder cannot be written",
                errno.EROFS: "the file system is read-only",
            }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
            raise SaveError(
                f"cannot save the result file {self.name!r} to {str(dest)!r}: {why}. Nothing "
                "partial was kept; free the space or choose another folder, then save again.",
                path=str(dest),
                errno=exc.errno,
            ) from exc
        return dest


def _files(files: Iterable[ResultFile]) -> tuple[ResultFile, ...]:
    return tuple(files)


@attrs.frozen(repr=False)
class Result:
    """The outcome of a finished job.

    Attributes:
        files: the files the job produced (possibly none).
        raw: the provider's answer, as parsed JSON, for anything the normalized view leaves out.
        meta: extra facts, e.g. ConvertAPI's ``ConversionCost``.
    """

    files: tuple[ResultFile, ...] = attrs.field(factory=tuple, converter=_files)
    raw: Any = attrs.field(default=None, hash=False)
    meta: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, hash=False)

    def __repr__(self) -> str:
        names = ", ".join(
            f"{f.name} ({f.size} bytes)" if f.size is not None else f.name for f in self.files
        )
        return f"Result([{names}])"

    def save(self, dest: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
        """Save every file into the folder ``dest`` (created when missing).

        Names are made safe (see :func:`~asyncjobs._files.safe_name`) and distinct: two files called
        ``page.jpg`` (or ``a/out.pdf`` and ``b/out.pdf``) become ``page.jpg`` and ``page (2).jpg``.
        No existing file is replaced unless ``overwrite`` is true; that is checked for every file
        before the first download.

        Returns:
            The paths written, in the order of :attr:`files`.

        Raises:
            SaveError: a file exists (and not ``overwrite``), or the disk is full.
        """
        folder = Path(check_dest(dest))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from .errors import SaveError

            raise SaveError(
                f"cannot create the folder {str(folder)!r}: {exc.strerror or exc}.",
                path=str(folder),
                errno=exc.errno,
            ) from exc
        names = unique_names([safe_name(f.name, f"file-{n}") for n, f in enumerate(self.files, 1)])
        targets = [folder / name for name in names]
        if not overwrite:
            taken = [t for t in targets if t.exists()]
            if taken:
                from .errors import SaveError

                raise SaveError(
                    f"{str(taken[0])!r} exists, so nothing was saved. Save into an empty folder, "
                    "or pass overwrite=True (asyncjobs result --force) to replace it.",
                    path=str(taken[0]),
                    errno=errno.EEXIST,
                )
        return [f.save(t, overwrite=overwrite) for f, t in zip(self.files, targets, strict=True)]

    def _repr_html_(self) -> str:
        return result_html(self)


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class WebhookRequest:
    """One call a service made to the webhook receiver, as a provider's
    :meth:`~asyncjobs.provider.Provider.read_webhook` sees it: already verified as ours by its
    token (which is not shown here), body size-capped, nothing parsed yet.

    Attributes:
        method: the HTTP method, upper case (``"GET"``, ``"POST"``).
        query: the query string's parameters: name -> every value given, in order.
        headers: the request headers, names in lower case.
        body: the raw body (at most the receiver's ``max_body`` bytes).
    """

    method: str
    query: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_frozen_map)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    body: bytes = b""

    def json(self) -> Any:
        """The body read as JSON.

        Raises:
            ValueError: the body is not JSON (the receiver answers such a call 400).
        """
        import json

        return json.loads(self.body.decode("utf-8"))


class _Sized(io.RawIOBase):
    """A result stream checked against the size its provider declared: a body that runs past it is
    stopped, and one that ends short of it is an error, never a smaller file."""

    def __init__(self, stream: IO[bytes], name: str, size: int) -> None:
        self._stream = stream
        self._name = name
        self._size = size
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (the rest when negative), checked against the declared size."""
        if size is None or size < 0:
            return self.readall()
        return self._checked(self._stream.read, size)

    def read1(self, size: int = -1) -> bytes:
        """What the stream has ready, up to ``size`` bytes, checked against the declared size
        (a download's blocks go on as they arrive, without being gathered first)."""
        if size is None or size < 0:
            size = _COPY_CHUNK
        return self._checked(getattr(self._stream, "read1", None) or self._stream.read, size)

    def _checked(self, read: Callable[[int], bytes], size: int) -> bytes:
        if size == 0:
            return b""
        # read one byte past the declared size, to learn that the body is longer
        data = read(min(size, self._size - self._seen + 1))
        n = len(data)
        self._seen += n
        if self._seen > self._size:
            raise self._wrong(f"went past the {self._size} bytes declared for it")
        if n == 0 and self._seen < self._size:
            raise self._wrong(f"ended after {self._seen} of the {self._size} bytes declared")
        return data

    def _wrong(self, what: str) -> Exception:
        from .errors import TransportError

        return TransportError(
            f"the download of result file {self._name!r} {what}, so nothing was kept. Fetch "
            "the result again; if it persists, report it to the provider."
        )
