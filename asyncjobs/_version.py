"""The version of asyncjobs: the installed ``asyncjobs-core`` distribution's, read from its metadata
once per process (when this module is first imported)."""

from __future__ import annotations

from importlib.metadata import Distribution, PackageNotFoundError

__all__ = ["__version__"]


def _installed() -> str:
    """``importlib.metadata.version("asyncjobs-core")``, without the e-mail parser it reads the
    whole metadata file with (about 1 ms of a first connect, which names the version in its
    User-Agent): the ``Version`` field is taken from the header lines, the same value."""
    try:
        dist = Distribution.from_name("asyncjobs-core")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
    header = (dist.read_text("METADATA") or "").partition("\n\n")[0]
    for line in header.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == "version" and value.strip():
            return value.strip()
    return dist.version  # no METADATA (an egg's PKG-INFO): as importlib.metadata reads it


__version__: str = _installed()
