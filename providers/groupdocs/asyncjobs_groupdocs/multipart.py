"""A streaming ``multipart/form-data`` body with one file field.

``requests``' ``files=`` reads the whole file into memory; this body reads the file as the connection
asks for it, so memory stays flat however large the upload. It is a seekable binary stream when the
file is, so the transport can rewind it for a retry and the adapter can replay it after a token refresh.
"""

from __future__ import annotations

import io
import os
import uuid
from typing import IO

__all__ = ["MultipartFile"]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


class MultipartFile(io.RawIOBase):
    """The body ``--b\\r\\nContent-Disposition: form-data; name=field; filename=...\\r\\n\\r\\n<file>\\r\\n--b--``.

    Args:
        field: the form field's name (GroupDocs: ``file``).
        filename: the file name sent (GroupDocs reads the source format from its extension).
        stream: the content, read from its current position; it is not closed.
        size: the bytes left in ``stream``, when known (then the body has a ``Content-Length``;
            otherwise it is sent chunked).
    """

    def __init__(self, field: str, filename: str, stream: IO[bytes], size: int | None) -> None:
        super().__init__()
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(field)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._stream = stream
        self._size = size
        try:
            self._start: int | None = stream.tell() if stream.seekable() else None
        except (AttributeError, OSError, ValueError):
            self._start = None
        self._pos = 0
        self._in_file = 0  # bytes of the file read so far
        self._file_done = False
        if size is not None:
            # read by requests' super_len to set Content-Length
            self.len = len(self._head) + size + len(self._tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._start is not None

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset``; only rewinding to the start (or staying put) is supported."""
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence != os.SEEK_SET:
            raise io.UnsupportedOperation("a multipart body seeks from its start only")
        if offset == self._pos:
            return self._pos
        if offset != 0 or self._start is None:
            raise io.UnsupportedOperation("a multipart body can only be rewound to its start")
        self._stream.seek(self._start)
        self._pos = 0
        self._in_file = 0
        self._file_done = False
        return 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or ``None``). The file's
        part is handed on as the file's own read returns it: through :meth:`readinto` every block
        of an upload was copied twice more, a third of a 4 GiB upload's time on the client."""
        if size is not None and size > 0 and len(self._head) <= self._pos and not self._file_done:
            chunk = self._stream.read(size)
            if chunk:
                self._in_file += len(chunk)
                self._pos += len(chunk)
                return chunk
            self._file_done = True
        return super().read(-1 if size is None else size) or b""

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if want == 0:
            return 0
        head = len(self._head)
        if self._pos < head:
            chunk = self._head[self._pos : self._pos + want]
        elif not self._file_done:
            chunk = self._stream.read(want)
            if not chunk:
                self._file_done = True
                return self.readinto(buffer)
            self._in_file += len(chunk)
        else:
            tail_at = self._pos - head - self._in_file
            chunk = self._tail[tail_at : tail_at + want]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)
