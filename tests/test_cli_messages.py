"""What the command says when something is wrong: in the command line's terms (options, variables),
never Python's (``connect(...)`` keywords, ``None``, ``True``), and at once."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import _env

from asyncjobs.sandbox import Sandbox

Run = Callable[..., subprocess.CompletedProcess[str]]

#: What only a Python caller can act on: keywords of connect(), Python's constants, its calls.
PYTHON_SPELLINGS = re.compile(
    r"asyncjobs\.\w+\(|\b\w+=(True|False|None)\b|\buse None\b|client\.job\(|=\.\.\. to "
)


def _no_python(text: str) -> None:
    assert PYTHON_SPELLINGS.search(text) is None, text


@pytest.fixture
def cli(toy_sandbox: Sandbox, asyncjobs_home: Path, tmp_path: Path) -> Run:
    """``python -m asyncjobs ARGS`` with the toy provider (see tests/test_cli.py) and its sandbox."""

    def run(*args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
        return subprocess.run(
            [sys.executable, "-m", "asyncjobs", *args],
            capture_output=True,
            text=True,
            env=env or _env(asyncjobs_home, toy_sandbox),
            cwd=tmp_path,
            timeout=60,
            **kw,
        )

    return run


def test_version_prints_the_version_and_exits_0(cli: Run) -> None:
    import asyncjobs

    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"asyncjobs {asyncjobs.__version__}"


@pytest.mark.parametrize("value", ["-5", "abc", "1e309", "99999999999999", "nan", "0"])
def test_every_wrong_timeout_gets_the_same_message_naming_the_option(cli: Run, value: str) -> None:
    done = cli("wait", "toy", "j1", f"--timeout={value}")
    assert done.returncode == 2
    [said] = [line for line in done.stderr.splitlines() if "error:" in line]
    assert said.endswith(
        f"argument --timeout: {value!r} is not a number of seconds from more than 0 to "
        "10,000,000 (about 115 days); leave --timeout out for no limit"
    )
    _no_python(done.stderr)


def test_a_negative_timeout_after_a_space_is_read_as_the_value(cli: Run) -> None:
    done = cli("wait", "toy", "j1", "--timeout", "-5")
    assert "argument --timeout: '-5' is not a number of seconds" in done.stderr


def test_a_mistyped_provider_gets_a_suggestion_before_any_advice(cli: Run) -> None:
    done = cli("status", "convertpai", "j1")
    assert done.returncode == 2
    assert "no provider named 'convertpai'; did you mean 'convertapi'? available" in done.stderr
    _no_python(done.stderr)


def test_an_unknown_provider_far_from_any_name_gets_install_advice(cli: Run) -> None:
    done = cli("status", "acme-conversions", "j1")
    assert "pip install" in done.stderr
    assert "--plugin NAME=MODULE:CLASS" in done.stderr
    _no_python(done.stderr)


def test_a_mistyped_setting_gets_a_suggestion(cli: Run) -> None:
    done = cli("status", "toy", "j1", "--set", "timeouts=5")
    assert done.returncode == 2
    assert "takes no setting 'timeouts' (did you mean 'timeout'?)" in done.stderr
    _no_python(done.stderr)


def test_a_missing_setting_is_asked_for_as_an_option(cli: Run, asyncjobs_home: Path) -> None:
    done = cli("status", "toy", "j1", env=_env(asyncjobs_home, None))
    assert done.returncode == 2
    assert "--set key=..." in done.stderr
    _no_python(done.stderr)


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def test_a_refused_connection_is_said_at_once_in_a_few_words(
    cli: Run, asyncjobs_home: Path
) -> None:
    env = _env(
        asyncjobs_home, None, TOY_KEY="k" * 8, TOY_BASE_URL=f"http://127.0.0.1:{_refused_port()}"
    )
    started = time.monotonic()
    done = cli("status", "toy", "j1", env=env)
    assert time.monotonic() - started < 3  # no seconds of retries (the interpreter's start aside)
    assert done.returncode == 3
    assert "the connection failed: Connection refused (ConnectionError)" in done.stderr
    assert "HTTPConnectionPool" not in done.stderr
    assert "NewConnectionError" not in done.stderr
    _no_python(done.stderr)


@pytest.fixture
def sandbox_at() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(home: Path, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncjobs", "sandbox", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(home, None),
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=10)


def test_sandbox_port_fixes_the_address_and_the_old_flags_still_work(
    sandbox_at: Callable[..., subprocess.Popen[str]], asyncjobs_home: Path
) -> None:
    port = _refused_port()
    proc = sandbox_at(asyncjobs_home, "sandboxed", "--scale", "10", "--port", str(port))
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first == f"# sandboxed sandbox at http://127.0.0.1:{port} (time x10)\n"


def test_sandbox_on_a_taken_port_says_which_option_to_change(
    sandbox_at: Callable[..., subprocess.Popen[str]], asyncjobs_home: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = sandbox_at(asyncjobs_home, "sandboxed", "--port", str(port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"--port {port}: cannot listen on 127.0.0.1" in err
    assert "leave --port out for free ones" in err
    assert "werkzeug" not in err.lower()
