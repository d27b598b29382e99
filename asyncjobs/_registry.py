"""Which providers exist: those registered in this process, and the plugins installed under the
entry-point group ``asyncjobs.providers`` (looked up on first use, imported only when connected to)."""

from __future__ import annotations

import importlib
import re
import threading
from importlib.metadata import EntryPoint, distributions

from .errors import ConfigurationError, InvalidParameterError, UnknownProviderError
from .provider import Provider

__all__ = [
    "available_providers",
    "get_provider_class",
    "import_object",
    "installed_entry_points",
    "register",
    "unregister",
]

GROUP = "asyncjobs.providers"
#: compiled on first use, by ``re``'s cache: a status never reads it
_NAME = r"^[a-z0-9][a-z0-9_.-]*$"

_lock = threading.RLock()
_registered: dict[str, type[Provider] | str] = {}
_loaded: dict[str, type[Provider]] = {}
_plugins: dict[str, EntryPoint] | None = None
_scanned: dict[str, dict[str, EntryPoint]] | None = None


def _entry_points() -> dict[str, EntryPoint]:
    global _plugins
    with _lock:
        if _plugins is None:
            _plugins = _scan().get(GROUP, {})
        return _plugins


def installed_entry_points(group: str) -> dict[str, EntryPoint]:
    """The installed entry points of an ``asyncjobs.*`` group by name (``asyncjobs.providers``,
    ``asyncjobs.ledgers``), from the scan that found the providers when there was one."""
    with _lock:
        return (_scanned if _scanned is not None else _scan()).get(group, {})


def _scan() -> dict[str, dict[str, EntryPoint]]:
    """Every ``asyncjobs.*`` group's entry points, each name taken from the first distribution on
    ``sys.path`` that declares it (as a shadowed copy of a distribution is, by imports).

    ``importlib.metadata.entry_points(group=...)`` parses every distribution's entry points and
    reads each one's metadata to drop duplicates: several milliseconds of a first ``connect`` in a
    large environment. Only the few files that name such a group are parsed here, once for all
    the groups."""
    global _scanned
    found: dict[str, dict[str, EntryPoint]] = {}
    for dist in distributions():
        text = dist.read_text("entry_points.txt")
        if text and "[asyncjobs." in text:
            for ep in dist.entry_points:
                if ep.group.startswith("asyncjobs."):
                    found.setdefault(ep.group, {}).setdefault(ep.name, ep)
    with _lock:
        _scanned = found
    return found


def register(name: str, provider: type[Provider] | str, *, replace: bool = False) -> None:
    """Make a provider available under ``name`` in this process.

    Args:
        name: lower-case letters, digits, ``-``, ``_`` and ``.``.
        provider: a :class:`~asyncjobs.Provider` subclass, or ``"package.module:Class"`` imported on
            first use.
        replace: allow taking a name that is already registered or installed.

    Raises:
        InvalidParameterError: the name or the provider is malformed.
        ConfigurationError: the name is taken and ``replace`` is false.
    """
    if not isinstance(name, str) or not re.match(_NAME, name):
        raise InvalidParameterError(
            f"provider name {name!r} must be lower-case letters, digits, '-', '_' or '.'",
            parameter="name",
        )
    if isinstance(provider, str):
        if ":" not in provider:
            raise InvalidParameterError(
                f"provider {provider!r} must be 'package.module:ClassName'", parameter="provider"
            )
    elif not (isinstance(provider, type) and issubclass(provider, Provider)):
        raise InvalidParameterError(
            f"provider must be a subclass of asyncjobs.Provider or 'module:Class', not {provider!r}",
            parameter="provider",
        )
    with _lock:
        if not replace and (name in _registered or name in _entry_points()):
            raise ConfigurationError(
                f"a provider named {name!r} is already registered; pass replace=True to replace it",
                provider=name,
            )
        _registered[name] = provider
        _loaded.pop(name, None)


def unregister(name: str) -> None:
    """Forget a provider registered with :func:`register` (installed plugins stay)."""
    with _lock:
        _registered.pop(name, None)
        _loaded.pop(name, None)


def available_providers() -> list[str]:
    """The names of the registered and installed providers, sorted."""
    with _lock:
        return sorted({*_registered, *_entry_points()})


def get_provider_class(name: str) -> type[Provider]:
    """The provider class for ``name``, importing its plugin when needed.

    Raises:
        UnknownProviderError: no provider has that name.
        ConfigurationError: the plugin failed to import, or is not a Provider subclass.
    """
    with _lock:
        if name in _loaded:
            return _loaded[name]
        target: type[Provider] | str | EntryPoint
        if name in _registered:
            target = _registered[name]
        elif name in _entry_points():
            target = _entry_points()[name]
        else:
            raise UnknownProviderError(name, available_providers())
        cls = _load(name, target)
        _loaded[name] = cls
        return cls


def import_object(spec: str) -> object:
    """Import ``"package.module:Name"`` (or ``"package.module:Outer.Name"``) and return the object.

    Raises:
        ImportError, AttributeError: as the import or the lookup does.
    """
    module_name, _, attr = spec.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in attr.strip().split("."):
        obj = getattr(obj, part)
    return obj


def _load(name: str, target: type[Provider] | str | EntryPoint) -> type[Provider]:
    if isinstance(target, type):
        return target
    # an entry point by its shape: the importlib_metadata backport's (which Airflow imports, and
    # which then answers for importlib.metadata's scan) is no subclass of the standard library's
    spec = target if isinstance(target, str) else target.value
    try:
        obj = import_object(spec)
    except Exception as exc:
        raise ConfigurationError(
            f"the provider {name!r} ({spec}, from {_origin(target)}) failed to import: "
            f"{type(exc).__name__}: {exc}. Reinstall that distribution or fix its code.",
            provider=name,
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Provider)):
        raise ConfigurationError(
            f"the provider {name!r} ({spec}, from {_origin(target)}) is not a subclass of "
            "asyncjobs.Provider",
            provider=name,
        )
    return obj


def _origin(target: str | EntryPoint) -> str:
    """Where a provider came from, for an error message (read only then: a distribution's name
    and version are parsed from its metadata)."""
    if isinstance(target, str):
        return "asyncjobs.register()"
    dist = target.dist
    return f"distribution {dist.name} {dist.version}" if dist else "an installed distribution"
