"""Fixtures of the reliability suite, and the collection of its matrix (see reliability_matrix.py).

Set ``ASYNCJOBS_MATRIX_OUT=docs/reliability.md`` to write the page at the end of the session
(``python tests/reliability/write_matrix.py`` does, running the whole suite).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from reliability_kits import KITS, Env, Kit
from reliability_matrix import OUT_ENV, Recorder, render, store


@pytest.fixture
def cell(request: pytest.FixtureRequest) -> Recorder:
    """Declares this test's cell of the matrix and what happened in it."""
    recorder = Recorder()
    request.node.stash[_RECORDER] = recorder
    return recorder


_RECORDER = pytest.StashKey[Recorder]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None or not recorder.cells:
        return report
    # a teardown that fails (an unraisable exception, a leaked thread...) turns the cell red too
    if report.when == "call" or (report.when in ("setup", "teardown") and not report.passed):
        for where, text in recorder.cells.items():
            if hasattr(report, "wasxfail"):
                store(where, text, "red", f"known bug: {report.wasxfail}")
            elif report.passed:
                store(where, text, "ok")
            elif report.failed:
                what = call.excinfo.typename if call.excinfo is not None else "error"
                store(where, text, "red", f"FAILED ({what})")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get(OUT_ENV)
    if out:
        Path(out).write_text(render(), encoding="utf-8")


@pytest.fixture(params=sorted(KITS))
def kit(request: pytest.FixtureRequest) -> Kit:
    """Each provider in turn."""
    return KITS[str(request.param)]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """Start sandboxes (stopped after the test): ``make_env(kit, **app_kwargs)``."""
    made: list[Env] = []

    def make(kit: Kit, **kwargs: object) -> Env:
        env = Env(kit, tmp_path / f"{kit.name}-{len(made)}", **kwargs)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
