"""Which backend holds a ledger: a plain path is SQLite; a URL names its backend by its scheme, the
name of an entry point of the group ``asyncjobs.ledgers`` (``sqlite``, ``postgresql`` and its alias
``postgres`` are built in). A backend's module is imported only when a ledger of it is opened: a
SQLite user never imports psycopg.
"""

from __future__ import annotations

import os
import re
import threading
from typing import cast

from asyncjobs.errors import ConfigurationError

from ._store import StoreClass

__all__ = ["GROUP", "PATH_BACKEND", "available_backends", "backend_of", "store_class"]

#: The entry-point group of ledger backends: ``scheme = package.module:StoreClass``.
GROUP = "asyncjobs.ledgers"
#: The backend of a ledger given as a plain path.
PATH_BACKEND = "sqlite"

# The built-in backends, as setup.cfg registers them: used where the installed metadata lacks them
# (a checkout put on sys.path without being installed, an install older than the entry points).
_BUILT_IN = {
    "sqlite": "asyncjobs._ledger._sqlite:SQLiteStore",
    "postgresql": "asyncjobs._ledger._postgres:PostgresStore",
    "postgres": "asyncjobs._ledger._postgres:PostgresStore",
}

_lock = threading.Lock()
_loaded: dict[str, StoreClass] = {}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _specs() -> dict[str, str]:
    """Every backend's name and ``module:Class``: the installed ones over the built-in ones."""
    from asyncjobs._registry import installed_entry_points

    installed = {name: ep.value for name, ep in installed_entry_points(GROUP).items()}
    return {**_BUILT_IN, **installed}


def available_backends() -> list[str]:
    """The names (URL schemes) of the ledger backends installed, sorted."""
    return sorted(_specs())


def backend_of(target: object) -> tuple[str, str]:
    """The backend of a ledger target and the target as it is handed to it: ``("sqlite", path)`` for a
    path (``str`` or ``os.PathLike``), ``(scheme, url)`` for a URL, its scheme in lower case.

    Raises:
        ConfigurationError: ``target`` is neither a path nor a URL of an installed backend (an
            empty or padded string, a libpq ``key=value`` string, an unknown scheme).
    """
    if isinstance(target, os.PathLike):
        return PATH_BACKEND, os.fspath(target)
    if not isinstance(target, str):
        raise ConfigurationError(
            f"a ledger is a path or a postgresql:// URL, not {type(target).__name__}"
        )
    text = target.strip()
    if not text or text != target or any(ord(c) < 32 for c in text):
        raise ConfigurationError(
            "a ledger is a path or a postgresql:// URL; this one is empty, padded with spaces or "
            "holds control characters. Set ASYNCJOBS_LEDGER, ledger= or --ledger to a path or URL."
        )
    scheme = _SCHEME.match(text)
    if scheme:
        name = scheme.group(1).lower()
        specs = _specs()
        if name in specs and name != PATH_BACKEND:
            return name, text
        urls = ", ".join(f"{n}://" for n in sorted(specs) if n != PATH_BACKEND)
        raise ConfigurationError(
            f"no ledger backend is installed for {scheme.group(1)}:// URLs (installed: {urls}; a "
            "SQLite ledger is given as a plain path). Install the distribution that provides "
            f"that backend (the entry-point group {GROUP}), or fix the URL."
        )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", text) or re.search(r"\w=\S", text):
        raise ConfigurationError(
            "a ledger is a path or a postgresql:// URL; this looks like neither (a libpq"
            " key=value string or a URL without //): write it as postgresql://user@host/db"
        )
    return PATH_BACKEND, text


def store_class(name: str) -> StoreClass:
    """The store class of the backend ``name``, imported on first use.

    Raises:
        ConfigurationError: no backend has that name, or its module failed to import, or it is
            not a class.
    """
    with _lock:
        if name in _loaded:
            return _loaded[name]
    from asyncjobs._registry import import_object

    specs = _specs()
    spec = specs.get(name)
    if spec is None:
        raise ConfigurationError(
            f"no ledger backend is named {name!r} (installed: {', '.join(sorted(specs))})"
        )
    try:
        found = import_object(spec)
    except Exception as exc:
        raise ConfigurationError(
            f"the ledger backend {name!r} ({spec}) failed to import: {type(exc).__name__}: {exc}. "
            "Reinstall the distribution that provides it."
        ) from exc
    if not isinstance(found, type):
        raise ConfigurationError(
            f"the ledger backend {name!r} ({spec}) is not a class implementing the ledger's Store"
        )
    cls = cast(StoreClass, found)
    with _lock:
        _loaded[name] = cls
    return cls
