"""The streamed multipart body of a storage upload: the same bytes however it is read, and again
after a rewind."""

from __future__ import annotations

import io

import pytest
from asyncjobs_groupdocs.multipart import MultipartFile
from hypothesis import given
from hypothesis import strategies as st


def _expected(body: MultipartFile, content: bytes) -> bytes:
    return body._head + content + body._tail


def _read_in(body: MultipartFile, sizes: list[int]) -> bytes:
    out = b""
    for size in sizes:
        out += body.read(size)
    return out + body.read()


@given(
    content=st.binary(max_size=5000),
    sizes=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
)
def test_any_reads_return_the_head_the_file_and_the_tail(content: bytes, sizes: list[int]) -> None:
    body = MultipartFile("file", "report.docx", io.BytesIO(content), len(content))
    assert _read_in(body, sizes) == _expected(body, content)


@given(content=st.binary(max_size=5000), size=st.integers(min_value=1, max_value=3000))
def test_readinto_returns_the_same_bytes_as_read(content: bytes, size: int) -> None:
    body = MultipartFile("file", "report.docx", io.BytesIO(content), len(content))
    out = bytearray()
    buffer = bytearray(size)
    while n := body.readinto(memoryview(buffer)):
        out += buffer[:n]
    assert bytes(out) == _expected(body, content)


@given(content=st.binary(max_size=5000), first=st.integers(min_value=0, max_value=6000))
def test_a_rewound_body_is_read_again_whole(content: bytes, first: int) -> None:
    body = MultipartFile("file", "report.docx", io.BytesIO(content), len(content))
    body.read(first)
    assert body.seek(0) == 0
    assert body.read() == _expected(body, content)


def test_the_length_counts_the_head_the_file_and_the_tail() -> None:
    body = MultipartFile("file", "a.txt", io.BytesIO(b"abc"), 3)
    assert body.len == len(body.read())


def test_the_file_name_cannot_break_out_of_its_header() -> None:
    body = MultipartFile("file", 'a"\r\nX-Evil: 1.txt', io.BytesIO(b""), 0)
    head = body.read().split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Evil" not in head
    assert b'filename="a\\"  X-Evil: 1.txt"' in head


def test_seeking_anywhere_but_the_start_is_refused() -> None:
    body = MultipartFile("file", "a.txt", io.BytesIO(b"abcdef"), 6)
    with pytest.raises(io.UnsupportedOperation):
        body.seek(3)
