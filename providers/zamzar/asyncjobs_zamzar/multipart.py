"""A streaming ``multipart/form-data`` body: text fields, then at most one file field.

``requests``' ``files=`` reads the whole file into memory; this body hands the file on as the connection
reads it, so memory stays flat however large the upload. It is seekable (to its start) when the file
is, so the transport can rewind it before a retry.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Sequence
from typing import IO

__all__ = ["MultipartBody"]


def _quote(value: str) -> str:
    """A name or file name as a quoted-string of a form-data header: the escaping of the HTML
    standard's form encoding (``"``, CR and LF percent-encoded), the rest sent as UTF-8."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody(io.RawIOBase):
    """``fields`` as text parts, then ``file`` (``(field, filename, stream, size)``) as a file part.

    ``size`` is the number of bytes left in ``stream`` when known: the body then has a length
    (``Content-Length``); otherwise it is sent chunked. The stream is read from where it is, and is
    not closed.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        file: tuple[str, str, IO[bytes], int | None] | None = None,
    ) -> None:
        super().__init__()
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b"".join(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
                f"{value}\r\n"
            ).encode()
            for name, value in fields
        )
        self._stream: IO[bytes] | None = None
        self._start: int | None = 0
        size = 0
        if file is not None:
            field, filename, stream, size_left = file
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(field)}"; '
                f'filename="{_quote(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            self._stream = stream
            try:
                self._start = stream.tell() if stream.seekable() else None
            except (AttributeError, OSError, ValueError):
                self._start = None
            size = size_left if size_left is not None else -1
        self._head = head
        self._tail = (("\r\n" if file is not None else "") + f"--{boundary}--\r\n").encode()
        self._pos = 0
        self._in_file = 0
        self._file_done = file is None
        if size >= 0:
            #: read by requests to set Content-Length
            self.len = len(self._head) + size + len(self._tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._start is not None

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Rewind to the start (or stay put); no other move is supported."""
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence != os.SEEK_SET:
            raise io.UnsupportedOperation("a multipart body seeks from its start only")
        if offset == self._pos:
            return self._pos
        if offset != 0 or self._start is None:
            raise io.UnsupportedOperation("a multipart body can only be rewound to its start")
        if self._stream is not None:
            self._stream.seek(self._start)
            self._file_done = False
        self._pos = 0
        self._in_file = 0
        return 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (everything left when ``size`` is negative or ``None``)."""
        if size is None or size < 0:
            out = bytearray()
            while chunk := self.read(1 << 20):
                out += chunk
            return bytes(out)
        if size == 0:
            return b""
        head = len(self._head)
        if self._pos < head:
            chunk = self._head[self._pos : self._pos + size]
        elif not self._file_done:
            assert self._stream is not None
            chunk = self._stream.read(size)
            if not chunk:
                self._file_done = True
                return self.read(size)
            self._in_file += len(chunk)
        else:
            at = self._pos - head - self._in_file
            chunk = self._tail[at : at + size]
        self._pos += len(chunk)
        return chunk

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
