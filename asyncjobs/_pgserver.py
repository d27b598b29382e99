"""A throw-away PostgreSQL server for tests and benchmarks: ``initdb`` into a temporary folder, started
with ``pg_ctl`` on a Unix socket in that folder (no TCP port), ``fsync`` off, stopped and deleted at
the end. Run as root (CI), the server runs as the ``postgres`` user through ``runuser``, because
``initdb`` refuses root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from .errors import ConfigurationError

__all__ = ["find_binaries", "postgres_server"]

_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/opt/postgresql*/bin")


def find_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None`` when none is found."""
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    for pattern in _SEARCH:
        candidates += [Path(p) for p in sorted(glob.glob(pattern), reverse=True)]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _run(command: list[str], *, as_postgres: bool, log: Path | None = None) -> None:
    if as_postgres:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise ConfigurationError(
            f"{Path(command[-1] if as_postgres else command[0]).name}: "
            f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}{tail}"
        )


@contextlib.contextmanager
def postgres_server(*, max_connections: int = 200) -> Iterator[str]:
    """Start a PostgreSQL server of its own and yield a libpq URL of its ``postgres`` database
    (user ``asyncjobs``, trust authentication, Unix socket only).

    Raises:
        ConfigurationError: no server binaries were found, or the server would not start.
    """
    folder = find_binaries()
    if folder is None:
        raise ConfigurationError(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found on PATH or in "
            "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)"
        )
    as_postgres = os.geteuid() == 0
    if as_postgres:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ConfigurationError(
                "running as root, the server runs as the 'postgres' user (initdb refuses root), "
                "and there is none: create it (useradd --system postgres) or run as another user"
            ) from None
    # as root, in the system's temporary folder: the postgres user must reach it, and a $TMPDIR
    # inside root's own folders (pytest's tmp_path) is closed to it
    tmp = Path(tempfile.mkdtemp(prefix="ajpg-", dir="/tmp" if as_postgres else None))
    data, sock, log = tmp / "data", tmp / "s", tmp / "log"
    sock.mkdir()
    if as_postgres:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")
    started = False
    try:
        initdb = [str(folder / "initdb"), "-D", str(data), "-U", "asyncjobs", "--auth=trust"]
        _run([*initdb, "-E", "UTF8", "--no-sync", "--no-instructions"], as_postgres=as_postgres)
        options = (
            f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
            f" -c max_connections={max_connections} -c shared_buffers=64MB"
        )
        pg_ctl = [str(folder / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log)]
        _run([*pg_ctl, "-w", "-t", "60", "start"], as_postgres=as_postgres, log=log)
        started = True
        yield f"postgresql://asyncjobs@/postgres?host={quote(str(sock), safe='/')}"
    finally:
        if started:
            with contextlib.suppress(ConfigurationError, subprocess.TimeoutExpired):
                _run(
                    [str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                    as_postgres=as_postgres,
                )
        shutil.rmtree(tmp, ignore_errors=True)
