"""The command line under attack: control sequences in what a provider says never reach the terminal
as they are, and saved files never get names that deceive or that Windows cannot hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_matrix import Recorder
from terminal_provider import EVIL, RAW

from asyncjobs import Result, ResultFile
from asyncjobs._files import safe_name
from asyncjobs._text import printable

HERE = Path(__file__).parent


def _asyncjobs(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCJOBS_")}
    env.update(
        ASYNCJOBS_HOME=str(home),
        ASYNCJOBS_PROGRESS="0",
        ASYNCJOBS_PLUGINS="terminal=terminal_provider:TerminalProvider",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(
        [sys.executable, "-m", "asyncjobs", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _clean(proc: subprocess.CompletedProcess[str]) -> None:
    for stream in (proc.stdout, proc.stderr):
        for raw in RAW:
            assert raw not in stream, f"{raw!r} printed as it is: {stream!r}"


@pytest.mark.parametrize(
    "args",
    [
        ("submit", "terminal", "run"),
        ("status", "terminal", f"j1{EVIL}"),
        ("list", "terminal"),
        ("status", "terminal", "gone"),
        ("wait", "terminal", f"j1{EVIL}", "--timeout", "5"),
    ],
    ids=["submit", "status", "list", "error line", "wait"],
)
def test_control_sequences_from_a_provider_are_printed_as_escapes(
    args: tuple[str, ...], tmp_path: Path, cell: Recorder
) -> None:
    where = "the error line" if args[-1] == "gone" else f"`asyncjobs {args[0]}`"
    cell.at("attacks", f"ESC, OSC, BEL, 8-bit CSI, U+202E in {where}", "command line")
    if args[0] == "list":
        _asyncjobs(tmp_path, "submit", "terminal", "run")
    proc = _asyncjobs(tmp_path, *args)
    _clean(proc)
    assert "\\x1b" in proc.stdout + proc.stderr  # shown, as an escape
    cell.say("printed as `\\x1b`, `\\x07`, `\\x9b`, `\\u202e`; `--json` escapes them as JSON")


def test_the_json_output_escapes_control_sequences(tmp_path: Path) -> None:
    proc = _asyncjobs(tmp_path, "--json", "status", "terminal", f"j1{EVIL}")
    _clean(proc)
    assert "\\u001b" in proc.stdout


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),
        ("a\x9bb\x85c.txt", "a_b_c.txt"),
        ("CON", "_CON"),
        ("nul.csv", "_nul.csv"),
        ("COM1.txt", "_COM1.txt"),
        ("lpt9", "_lpt9"),
        ("report.", "report"),
        ("report. . ", "report"),
        ('what: "x" <y>?.pdf', "what_ _x_ _y__.pdf"),
        ("console.txt", "console.txt"),
    ],
)
def test_saved_file_names_neither_deceive_nor_break_windows(
    name: str, saved: str, tmp_path: Path, cell: Recorder
) -> None:
    cell.at(
        "attacks", "saved names with U+202E, C1 controls, CON, nul.csv, a trailing dot", "providers"
    )
    [path] = Result(files=(ResultFile(name, data=b"x"),)).save(tmp_path)
    assert path.name == saved
    cell.say("overrides and controls replaced, device names prefixed, trailing dots dropped")


@given(st.text())
def test_a_saved_name_is_always_printable_and_never_a_device(name: str) -> None:
    safe = safe_name(name)
    assert printable(safe) == safe
    assert safe not in ("", ".", "..")
    assert not safe.endswith((".", " "))
    assert "/" not in safe
    assert "\\" not in safe
    assert safe.split(".", 1)[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@given(st.text())
def test_printable_text_has_no_control_character_but_line_feed_and_tab(text: str) -> None:
    shown = printable(text)
    assert all(c in "\n\t" or (ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F) for c in shown)
    assert not any(c in shown for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
