"""The immutable values of the job interface: :class:`Status`, :class:`JobInfo`, :class:`Result` and
:class:`ResultFile`. They hold data only; downloading goes through the client that made them."""

from __future__ import annotations

import contextlib
import enum
import io
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import attrs

from .files import atomic_write

__all__ = ["JobInfo", "Result", "ResultFile", "Status"]

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
        from .views import info_html

        return info_html(self)


def safe_name(name: str, fallback: str = "result") -> str:
    """The last part of a provider's file name, safe to write in a folder (never '', '.' or '..')."""
    base = Path(str(name).replace("\\", "/")).name
    return fallback if base in ("", ".", "..") else base


def _check_dest(dest: object) -> str | os.PathLike[str]:
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
            yield stream

    def read(self) -> bytes:
        """Return the whole content. For large files prefer :meth:`save` or :meth:`open`."""
        with self.open() as stream:
            return stream.read()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the content to ``path`` (a file, or a folder to put ``name`` in), streaming in chunks.

        The content goes to a temporary file beside the destination, renamed into place only when the
        download is complete: a failed download never leaves a partial file.

        Returns:
            The path written.
        """
        dest = Path(_check_dest(path))
        if dest.is_dir():
            dest = dest / safe_name(self.name)
        with self.open() as stream, atomic_write(dest) as out:
            shutil.copyfileobj(stream, out, _COPY_CHUNK)
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

    def save(self, dest: str | os.PathLike[str]) -> list[Path]:
        """Save every file into the folder ``dest`` (created when missing).

        Returns:
            The paths written, in the order of :attr:`files`.
        """
        folder = Path(_check_dest(dest))
        folder.mkdir(parents=True, exist_ok=True)
        return [
            f.save(folder / safe_name(f.name, f"file-{n}")) for n, f in enumerate(self.files, 1)
        ]

    def _repr_html_(self) -> str:
        from .views import result_html

        return result_html(self)
