"""The input of a ``"convert"`` job: one type for every form a user may hand over."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

import attrs

from ._formats import format_name
from .errors import InvalidParameterError

__all__ = ["Source", "prepare_convert"]


def _ext(name: str | None) -> str | None:
    if not name:
        return None
    suffix = PurePosixPath(name).suffix
    return suffix[1:].lower() or None if suffix else None


@attrs.frozen
class Source:
    """A document to convert: a local path, bytes, a binary file object or an ``http(s)`` URL.

    Build one with :meth:`from_value`; read it with :meth:`open`.
    """

    name: str | None = None
    url: str | None = None
    path: Path | None = None
    size: int | None = None
    data: bytes | None = attrs.field(default=None, repr=False)
    fileobj: IO[bytes] | None = attrs.field(default=None, repr=False, eq=False)

    @classmethod
    def from_value(cls, value: Any, *, parameter: str = "source") -> Source:
        """Make a :class:`Source` of what a user passed.

        Raises:
            InvalidParameterError: the value is of no accepted type, the file does not exist or is not
                a regular file, or a file object is opened in text mode.
        """
        if isinstance(value, Source):
            return value
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            if not parts.netloc:
                raise InvalidParameterError(
                    f"{parameter}={value!r} is not a usable URL: it has no host.",
                    parameter=parameter,
                )
            return cls(name=PurePosixPath(parts.path).name or None, url=value)
        if isinstance(value, (str, os.PathLike)):
            path = Path(value)
            if not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                raise InvalidParameterError(
                    f"{parameter}: {str(path)!r} {what}. Pass the path of an existing file, bytes, "
                    "a binary file object or an http(s) URL.",
                    parameter=parameter,
                )
            return cls(name=path.name, path=path, size=path.stat().st_size)
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            return cls(data=data, size=len(data))
        if hasattr(value, "read"):
            if isinstance(value, io.TextIOBase):
                raise InvalidParameterError(
                    f"{parameter} is a text-mode file; open it with 'rb'.", parameter=parameter
                )
            raw_name = getattr(value, "name", None)
            name = os.path.basename(raw_name) if isinstance(raw_name, str) and raw_name else None
            return cls(name=name, fileobj=value, size=_remaining(value))
        raise InvalidParameterError(
            f"{parameter} must be a path, pathlib.Path, bytes, a binary file object or an http(s) "
            f"URL, not {type(value).__name__}.",
            parameter=parameter,
        )

    @property
    def ext(self) -> str | None:
        """The lower-case extension of the file name, when there is one."""
        return _ext(self.name)

    @property
    def is_url(self) -> bool:
        """True for a remote source the service fetches itself."""
        return self.url is not None

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """Open the content for reading, as a stream. A caller's file object is not closed."""
        if self.path is not None:
            with self.path.open("rb") as f:
                yield f
        elif self.data is not None:
            yield io.BytesIO(self.data)
        elif self.fileobj is not None:
            yield self.fileobj
        else:
            raise InvalidParameterError(
                "a URL source has no local content to read", parameter="source"
            )

    def describe(self) -> dict[str, Any]:
        """A JSON-safe description for the ledger (never the content)."""
        if self.url is not None:
            return {"url": self.url}
        if self.path is not None:
            return {"path": str(self.path), "size": self.size}
        return {"name": self.name, "size": self.size, "type": "bytes" if self.data else "file"}


def _remaining(f: Any) -> int | None:
    try:
        pos = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(pos)
        return int(end - pos)
    except (AttributeError, OSError, ValueError):
        return None


def prepare_convert(params: Mapping[str, Any], *, provider: str) -> dict[str, Any]:
    """Normalize the shared parameters of a ``"convert"`` job: ``source`` becomes a :class:`Source`,
    ``to`` and ``from_`` become lower-case format names, ``from_`` inferred when absent.

    Raises:
        InvalidParameterError: a source of no accepted type or a missing file, an empty ``to``, or a
            ``from_`` that cannot be inferred.
    """
    out = dict(params)
    source = (
        out["source"] if isinstance(out["source"], Source) else Source.from_value(out["source"])
    )
    out["source"] = source
    out["to"] = format_name(out.get("to"), "to", provider=provider)
    if out.get("from_") is None:
        if not source.ext:
            raise InvalidParameterError(
                f"{provider}: cannot tell the source format (the source has no file name with an "
                "extension); pass from_='docx' (for example).",
                parameter="from_",
                provider=provider,
            )
        out["from_"] = source.ext
    else:
        out["from_"] = format_name(out["from_"], "from_", provider=provider)
    return out
