"""The streamed multipart body every upload of a form is sent as (``asyncjobs.provider.MultipartBody``):
the same bytes however it is read, and again after a rewind; names that cannot break out of their
headers."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncjobs.provider import MultipartBody


def _expected(body: MultipartBody, content: bytes) -> bytes:
    return body._head + content + body._tail


def _read_in(body: MultipartBody, sizes: list[int]) -> bytes:
    out = b""
    for size in sizes:
        out += body.read(size)
    return out + body.read()


@given(
    content=st.binary(max_size=5000),
    sizes=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
)
def test_any_reads_return_the_head_the_file_and_the_tail(content: bytes, sizes: list[int]) -> None:
    body = MultipartBody(file=("file", "report.docx", io.BytesIO(content), len(content)))
    assert _read_in(body, sizes) == _expected(body, content)


@given(content=st.binary(max_size=5000), size=st.integers(min_value=1, max_value=3000))
def test_readinto_returns_the_same_bytes_as_read(content: bytes, size: int) -> None:
    body = MultipartBody(file=("file", "report.docx", io.BytesIO(content), len(content)))
    out = bytearray()
    buffer = bytearray(size)
    while n := body.readinto(memoryview(buffer)):
        out += buffer[:n]
    assert bytes(out) == _expected(body, content)


@given(content=st.binary(max_size=5000), first=st.integers(min_value=0, max_value=6000))
def test_a_rewound_body_is_read_again_whole(content: bytes, first: int) -> None:
    body = MultipartBody(file=("file", "report.docx", io.BytesIO(content), len(content)))
    body.read(first)
    assert body.seek(0) == 0
    assert body.read() == _expected(body, content)


def test_the_length_counts_the_head_the_file_and_the_tail() -> None:
    body = MultipartBody(file=("file", "a.txt", io.BytesIO(b"abc"), 3))
    assert body.len == len(body.read())


def test_the_file_name_cannot_break_out_of_its_header() -> None:
    body = MultipartBody(file=("file", 'a"\r\nX-Evil: 1.txt', io.BytesIO(b""), 0))
    head = body.read().split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Evil" not in head
    assert b'filename="a%22%0D%0AX-Evil: 1.txt"' in head


def test_seeking_anywhere_but_the_start_is_refused() -> None:
    body = MultipartBody(file=("file", "a.txt", io.BytesIO(b"abcdef"), 6))
    with pytest.raises(io.UnsupportedOperation):
        body.seek(3)


def test_fields_come_first_each_as_a_text_part() -> None:
    body = MultipartBody(
        [("target_format", "pdf"), ("a", "b")], ("f", "x.txt", io.BytesIO(b"hi"), 2)
    )
    text = body.read()
    assert text.index(b'name="target_format"') < text.index(b'name="a"') < text.index(b"filename")
    assert b"\r\n\r\npdf\r\n" in text
    assert body.len == len(text)


def test_a_form_of_fields_only_ends_after_them() -> None:
    body = MultipartBody([("source_file", "https://example.com/a.docx")])
    text = body.read()
    assert text.endswith(b"--\r\n")
    assert b"filename" not in text
    assert body.len == len(text)


def test_a_file_of_unknown_size_has_no_length() -> None:
    body = MultipartBody(file=("f", "x.txt", io.BytesIO(b"hi"), None))
    assert not hasattr(body, "len")


def test_the_body_parses_back_as_the_form_it_is() -> None:
    from werkzeug.formparser import parse_form_data
    from werkzeug.test import EnvironBuilder

    body = MultipartBody([("k", "v")], ("file", 'r\u00e9port "1".docx', io.BytesIO(b"DATA"), 4))
    data = body.read()
    environ = EnvironBuilder(
        method="POST", data=data, headers={"Content-Type": body.content_type}
    ).get_environ()
    _, form, files = parse_form_data(environ)
    assert form["k"] == "v"
    assert files["file"].read() == b"DATA"
