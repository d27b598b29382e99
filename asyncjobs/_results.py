"""A finished job's values: :class:`Result`, its :class:`ResultFile` s, and the
:class:`WebhookRequest` a service's call is read from. Apart from :mod:`asyncjobs._models` so that a
status, which reads none of them, does not build their classes."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, cast

import attrs

from ._files import atomic_write, remove_stale_parts, safe_name, unique_names
from ._models import check_dest
from ._text import result_html

__all__ = ["Opener", "Result", "ResultFile", "WebhookRequest"]

#: A function that opens a result file's content as a binary stream.
Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]

_COPY_CHUNK = 1024 * 1024


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


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
                "Save into an empty folder, or pass overwrite=True to replace it.",
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
                    "or pass overwrite=True to replace it.",
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
