"""Small file helpers shared by downloads: safe names, writing beside the destination, then renaming."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ._text import BIDI, is_control

__all__ = ["PART_PREFIX", "atomic_write", "remove_stale_parts", "safe_name", "unique_names"]

#: Every temporary download starts with this; a stale one (a killed download) is removed by the
#: next save into its folder.
PART_PREFIX = ".asyncjobs-"
PART_SUFFIX = ".part"
#: A ``.part`` file untouched for this long belongs to no live download (a live one writes at least
#: every read timeout).
STALE_PART = 15 * 60.0
#: The longest file name written, in bytes of UTF-8 (most file systems take 255).
MAX_NAME_BYTES = 200


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Names Windows keeps for devices, with any extension (``nul.csv`` is the device too).
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {
        f"{port}{n}"
        for port in ("COM", "LPT")
        for n in (*"123456789", "\u00b9", "\u00b2", "\u00b3")
    }
)
#: Characters no file name may hold on Windows (and that shells read specially elsewhere).
_FORBIDDEN = frozenset('<>:"|?*')


def _name_char(c: str) -> str:
    return "_" if is_control(c) or c in _FORBIDDEN or c in BIDI else c


def safe_name(name: object, fallback: str = "result") -> str:
    """A provider's file name made safe to write in a folder, the same on every system: its last
    part only; control characters (C0, DEL, C1), bidirectional overrides and the characters Windows
    forbids (``<>:"|?*``) replaced; a leading dot removed (so ``.bashrc`` is saved visibly as
    ``bashrc``); trailing dots and spaces removed (Windows drops them); a name Windows keeps for a
    device (``CON``, ``nul.csv``, ``COM1.txt``) prefixed with ``_``; at most
    :data:`MAX_NAME_BYTES` bytes (the extension kept); never '', '.' or '..'."""
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(_name_char(c) for c in text.replace("\\", "/"))
    base = text.rsplit("/", 1)[-1].strip()
    base = base.lstrip(".").strip().rstrip(". ")
    if base in ("", ".", ".."):
        return fallback
    if base.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        base = f"_{base}"
    if len(base.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = base.rpartition(".")
        if not dot or len(ext.encode("utf-8")) > 20:
            stem, ext = base, ""
        room = MAX_NAME_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
        short = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip()
        base = f"{short}.{ext}" if ext else short
    return base or fallback


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats made distinct, as file managers do: ``page.jpg``, ``page (2).jpg``."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in seen:
            n += 1
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def remove_stale_parts(folder: Path, *, older_than: float = STALE_PART) -> int:
    """Remove the temporary files of downloads that were killed (``.asyncjobs-*.part`` untouched for
    ``older_than`` seconds) from ``folder``; return how many went."""
    removed = 0
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not (entry.name.startswith(PART_PREFIX) and entry.name.endswith(PART_SUFFIX)):
                continue
            with contextlib.suppress(OSError):
                if (
                    entry.is_file(follow_symlinks=False)
                    and now - entry.stat().st_mtime > older_than
                ):
                    os.unlink(entry.path)
                    removed += 1
    return removed


@contextlib.contextmanager
def atomic_write(dest: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``dest`` for writing; move it to ``dest`` when the block ends
    without an error, delete it otherwise. A reader never sees a partial file at ``dest``.

    With ``overwrite`` false an existing ``dest`` is never replaced, not even one that appears while
    the download runs: :class:`FileExistsError` is raised and the download is thrown away.
    """
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and target.exists():
        raise FileExistsError(errno.EEXIST, "the file exists", str(target))
    stem = target.name.encode("utf-8")[:60].decode("utf-8", "ignore")
    fd, tmp = tempfile.mkstemp(
        prefix=f"{PART_PREFIX}{stem}.", suffix=PART_SUFFIX, dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file gets the usual mode
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the name was taken meanwhile: nothing is replaced
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
