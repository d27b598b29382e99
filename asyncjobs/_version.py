"""The version of asyncjobs: the installed ``asyncjobs-core`` distribution's, read from its metadata
once per process (when this module is first imported)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("asyncjobs-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
