"""A streaming ``multipart/form-data`` body: text fields, then at most one file, read as the
connection asks for them.

``requests``' ``files=`` reads the whole file into memory; this body hands the file on as it is read,
so memory stays flat however large the upload. It is seekable (to its start) when the file is, so the
transport can rewind it for a retry and a provider can replay it after a token refresh. Every
provider that uploads a form uses it (GroupDocs' storage, Zamzar's jobs, CloudConvert's upload form).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from typing import IO

__all__ = ["MultipartBody", "form_quote"]


def form_quote(value: str) -> str:
    """A name or file name as the quoted string of a form-data header, escaped as the HTML
    standard's form encoding does (``"``, CR and LF percent-encoded; the rest sent as UTF-8): a
    name can never end its header or start another."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody(io.RawIOBase):
    """``fields`` as text parts, then ``file`` as a file part, as one binary stream.

    Args:
        fields: ``(name, value)`` pairs, sent in order as text parts.
        file: ``(field, filename, stream, size)``: the file part's field name, the file name sent,
            the content (read from its current position, never closed) and the bytes left in it
            when known (then the body has a ``len``, and the request a ``Content-Length``;
            otherwise it is sent chunked); ``None`` for a form of text fields only.
        media_type: the file part's ``Content-Type``.

    Attributes:
        content_type: the request's ``Content-Type`` (with the boundary).
    """

    def __init__(
        self,
        fields: Iterable[tuple[str, str]] = (),
        file: tuple[str, str, IO[bytes], int | None] | None = None,
        *,
        media_type: str = "application/octet-stream",
    ) -> None:
        import uuid  # here: only an upload needs it, and a status is none

        super().__init__()
        boundary = "asyncjobs-" + uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{form_quote(name)}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in fields
        )
        self._stream: IO[bytes] | None = None
        self._start: int | None = 0
        size: int | None = 0
        if file is not None:
            field, filename, stream, size = file
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{form_quote(field)}"; '
                f'filename="{form_quote(filename)}"\r\nContent-Type: {media_type}\r\n\r\n'
            ).encode()
            self._stream = stream
            try:
                self._start = stream.tell() if stream.seekable() else None
            except (AttributeError, OSError, ValueError):
                self._start = None
        self._head = head
        self._tail = (("\r\n" if file is not None else "") + f"--{boundary}--\r\n").encode()
        self._pos = 0
        self._in_file = 0  # bytes of the file read so far
        self._file_done = file is None
        if size is not None:
            #: read by requests' super_len to set Content-Length
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
        if self._stream is not None:
            self._stream.seek(self._start)
            self._file_done = False
        self._pos = 0
        self._in_file = 0
        return 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or ``None``). The file's
        part is handed on as the file's own read returns it: through :meth:`readinto` every block
        of an upload was copied twice more, a third of a 4 GiB upload's time on the client."""
        if size is not None and size > 0 and len(self._head) <= self._pos and not self._file_done:
            assert self._stream is not None
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
            assert self._stream is not None
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
