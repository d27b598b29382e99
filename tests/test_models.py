"""Status, JobInfo, Result and ResultFile: values, JSON round trips, and saving files."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncjobs import JobInfo, Result, ResultFile, Status
from asyncjobs._serialize import info_from_json, info_to_json, result_from_json, result_to_json
from asyncjobs.errors import InvalidParameterError, NotSupportedError

aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)
text = st.text(max_size=20)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
infos = st.builds(
    JobInfo,
    provider=text,
    id=text,
    kind=text,
    status=st.sampled_from(Status),
    raw_status=st.none() | text,
    submitted_at=st.none() | aware,
    started_at=st.none() | aware,
    completed_at=st.none() | aware,
    error=st.none() | text,
    expires_at=st.none() | aware,
    meta=st.dictionaries(text, json_values, max_size=3),
)
files = st.builds(
    ResultFile,
    name=text,
    size=st.none() | st.integers(0, 2**40),
    url=st.none() | text,
    media_type=st.none() | text,
)
results = st.builds(
    Result,
    files=st.lists(files, max_size=3),
    raw=json_values,
    meta=st.dictionaries(text, json_values, max_size=3),
)


@given(infos)
def test_job_info_round_trips_through_json(info: JobInfo) -> None:
    assert info_from_json(info_to_json(info)) == info


@given(results)
def test_result_round_trips_through_json(result: Result) -> None:
    assert result_from_json(result_to_json(result)) == result


def test_status_is_a_string_enum_with_three_values() -> None:
    assert [s.value for s in Status] == ["pending", "done", "failed"]
    assert Status("done") is Status.DONE
    assert Status.DONE == "done"
    assert str(Status.FAILED) == "failed"


@pytest.mark.parametrize(
    ("status", "finished"), [(Status.PENDING, False), (Status.DONE, True), (Status.FAILED, True)]
)
def test_finished_is_true_for_done_and_failed(status: Status, finished: bool) -> None:
    assert JobInfo("p", "1", "k", status).finished is finished


def test_job_info_is_immutable_including_meta() -> None:
    info = JobInfo("p", "1", "k", "pending", meta={"a": 1})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.status = Status.DONE  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.meta["a"] = 2  # type: ignore[index]


def test_job_info_converts_a_status_word() -> None:
    assert JobInfo("p", "1", "k", "done").status is Status.DONE


def test_job_info_refuses_a_status_outside_the_three() -> None:
    with pytest.raises(ValueError):
        JobInfo("p", "1", "k", "Finished")


def test_job_info_is_hashable() -> None:
    info = JobInfo("p", "1", "k", "done", meta={"x": [1]}, expires_at=datetime.now(timezone.utc))
    assert {info: 1}[info] == 1


def test_result_file_with_data_reads_and_saves(tmp_path: Path) -> None:
    f = ResultFile("a.pdf", 3, data=b"abc")
    assert f.read() == b"abc"
    assert f.save(tmp_path).read_bytes() == b"abc"
    assert (tmp_path / "a.pdf").exists()


def test_result_saves_every_file_into_a_new_folder(tmp_path: Path) -> None:
    result = Result(files=[ResultFile("a.txt", data=b"A"), ResultFile("b.txt", data=b"B")])
    paths = result.save(tmp_path / "out" / "deeper")
    assert [p.read_bytes() for p in paths] == [b"A", b"B"]


def test_result_file_name_cannot_escape_the_folder(tmp_path: Path) -> None:
    result = Result(files=[ResultFile("../../evil.txt", data=b"x")])
    (path,) = result.save(tmp_path / "out")
    assert path == tmp_path / "out" / "evil.txt"


def test_a_failed_download_leaves_no_file(tmp_path: Path) -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("connection reset")
            return b"partial"

        def close(self) -> None:
            pass

    import contextlib

    f = ResultFile("a.bin", opener=lambda: contextlib.closing(Broken()))  # type: ignore[arg-type,return-value]
    with pytest.raises(OSError):
        f.save(tmp_path / "a.bin")
    assert list(tmp_path.iterdir()) == []


def test_a_result_file_rebuilt_from_json_says_how_to_get_content() -> None:
    f = result_from_json(result_to_json(Result(files=[ResultFile("a", data=b"x")]))).files[0]
    with pytest.raises(NotSupportedError, match=r"client\.result"):
        f.read()


def test_result_file_repr_shows_no_content() -> None:
    assert "secret-bytes" not in repr(ResultFile("a.pdf", 1, data=b"secret-bytes"))


@pytest.mark.parametrize("name", ["", ".", "..", "../..", "a/../"])
def test_a_result_file_name_that_names_no_file_is_saved_under_a_fallback(
    tmp_path: Path, name: str
) -> None:
    (path,) = Result(files=[ResultFile(name, data=b"x")]).save(tmp_path / "out")
    assert path == tmp_path / "out" / "file-1"
    assert path.read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("dest", [123, None, b"bytes-path"])
def test_saving_to_something_that_is_not_a_path_is_refused(dest: object) -> None:
    with pytest.raises(InvalidParameterError, match="destination"):
        Result(files=[ResultFile("a", data=b"x")]).save(dest)  # type: ignore[arg-type]
