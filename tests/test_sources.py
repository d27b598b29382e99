"""Sources of a "convert" job: every accepted form, and clear errors for the rest."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from asyncjobs import Source, errors
from asyncjobs._sources import prepare_convert


def test_a_path_string_and_a_path_object_are_read(tmp_path: Path) -> None:
    f = tmp_path / "Report.DOCX"
    f.write_bytes(b"doc")
    for value in (str(f), f):
        s = Source.from_value(value)
        assert (s.name, s.ext, s.size) == ("Report.DOCX", "docx", 3)
        with s.open() as stream:
            assert stream.read() == b"doc"


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidParameterError, match="does not exist") as caught:
        Source.from_value(tmp_path / "nope.docx")
    assert caught.value.parameter == "source"


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidParameterError, match="is not a file"):
        Source.from_value(tmp_path)


def test_bytes_have_no_name() -> None:
    s = Source.from_value(b"abc")
    assert (s.name, s.size, s.ext) == (None, 3, None)


def test_a_named_file_object_gives_its_base_name(tmp_path: Path) -> None:
    f = tmp_path / "in.odt"
    f.write_bytes(b"12345")
    with f.open("rb") as handle:
        handle.read(2)
        s = Source.from_value(handle)
        assert (s.name, s.size) == ("in.odt", 3)


def test_a_text_mode_file_is_refused() -> None:
    with pytest.raises(errors.InvalidParameterError, match="'rb'"):
        Source.from_value(io.StringIO("x"))


@pytest.mark.parametrize(
    ("url", "name"),
    [("https://example.com/a/b.pptx", "b.pptx"), ("http://example.com/", None)],
)
def test_a_url_is_kept_for_the_service_to_fetch(url: str, name: str | None) -> None:
    s = Source.from_value(url)
    assert s.is_url
    assert s.url == url
    assert s.name == name


def test_a_url_without_a_host_is_refused() -> None:
    with pytest.raises(errors.InvalidParameterError, match="no host"):
        Source.from_value("https:///nohost")


@pytest.mark.parametrize("value", [3, None, 1.5, ["a"], object()])
def test_other_types_are_refused_naming_the_accepted_ones(value: object) -> None:
    with pytest.raises(errors.InvalidParameterError, match="bytes"):
        Source.from_value(value)


def test_describe_never_holds_content() -> None:
    assert Source.from_value(b"secret content").describe() == {
        "name": None,
        "size": 14,
        "type": "bytes",
    }


def test_prepare_convert_infers_from_the_extension(tmp_path: Path) -> None:
    f = tmp_path / "a.DocX"
    f.write_bytes(b"x")
    assert prepare_convert({"source": f, "to": ".PDF"}, provider="p")["from_"] == "docx"


@pytest.mark.parametrize("to", ["", None, "p d f", 5])
def test_prepare_convert_refuses_a_bad_target_format(to: object) -> None:
    with pytest.raises(errors.InvalidParameterError, match="to must be"):
        prepare_convert({"source": b"x", "to": to, "from_": "txt"}, provider="p")
