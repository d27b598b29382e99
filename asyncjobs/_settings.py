"""Resolving a provider's settings from keywords and the environment."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._http import origin
from .errors import ConfigurationError
from .provider import Provider, Setting

__all__ = ["Settings", "resolve_settings"]


class Settings(Mapping[str, Any]):
    """A provider's resolved settings: a read-only mapping whose ``repr`` masks secret values."""

    __slots__ = ("_secret_names", "_values")

    def __init__(self, values: Mapping[str, Any], secret_names: frozenset[str] = frozenset()):
        self._values = dict(values)
        self._secret_names = secret_names

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def secrets(self) -> list[str]:
        """The values of the secret settings that are set."""
        return [str(self._values[n]) for n in self._secret_names if self._values.get(n)]

    def __repr__(self) -> str:
        shown = {
            k: ("***" if k in self._secret_names and v is not None else v)
            for k, v in self._values.items()
        }
        return f"Settings({shown!r})"


def _describe(setting: Setting) -> str:
    if setting.env:
        return (
            f"pass {setting.name}=... to asyncjobs.connect() or set the environment variable "
            f"{setting.env}"
        )
    return f"pass {setting.name}=... to asyncjobs.connect()"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the name of ``known`` closest to a mistyped ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_settings(
    provider: type[Provider],
    given: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    keywords: Iterable[str] = (),
) -> Settings:
    """Resolve ``provider``'s settings: the keyword if given (and not ``None``), else its environment
    variable, else its default.

    ``keywords``: the other keywords the caller takes (``connect``'s ``timeout``...), offered too
    when an unknown name is close to one of them.

    Raises:
        ConfigurationError: a keyword names no setting of the provider, a required setting has no value,
            or a value is not one of the setting's ``choices``.
    """
    env = os.environ if environ is None else environ
    known = {s.name: s for s in provider.settings}
    unknown = sorted(set(given) - set(known))
    if unknown:
        near = did_you_mean(unknown[0], [*known, *keywords]) if len(unknown) == 1 else ""
        raise ConfigurationError(
            f"{provider.name} takes no setting {', '.join(map(repr, unknown))}{near}; its settings "
            f"are: {', '.join(known) or 'none'}.",
            provider=provider.name,
        )
    values: dict[str, Any] = {}
    for s in provider.settings:
        value = given.get(s.name)
        if value is None and s.env:
            value = env.get(s.env) or None
        if value is None:
            value = s.default
        if value is None and s.required:
            raise ConfigurationError(
                f"{provider.name} needs the setting {s.name!r}: {_describe(s)}.",
                provider=provider.name,
            )
        if value is not None and s.choices and value not in s.choices:
            raise ConfigurationError(
                f"{provider.name}: setting {s.name!r} must be one of "
                f"{', '.join(map(repr, s.choices))}, not {value!r}.",
                provider=provider.name,
            )
        if value is not None and s.secret:
            _check_secret(provider.name, s, value, from_env=s.name not in given)
        if (
            value is not None
            and s.url
            and not (isinstance(value, str) and value.startswith(("http://", "https://")))
        ):
            raise ConfigurationError(
                f"{provider.name}: setting {s.name!r} must be an http(s) URL, not {value!r}"
                + (f" (from {s.env})" if s.env and s.name not in given else "")
                + ".",
                provider=provider.name,
            )
        if value is not None and s.url and origin(value) is None:
            raise ConfigurationError(
                f"{provider.name}: setting {s.name!r} is not a URL asyncjobs sends to: it holds a "
                "user name or password, a backslash, white space or a control character, or a host "
                "that HTTP libraries read differently"
                + (f" (from {s.env})" if s.env and s.name not in given else "")
                + ". Give the plain https://host/path URL.",
                provider=provider.name,
            )
        values[s.name] = value
    return Settings(values, frozenset(s.name for s in provider.settings if s.secret))


def _secret_problem(value: str) -> str | None:
    """What keeps ``value`` from travelling as it is in an HTTP header or form, or ``None``."""
    if value.endswith(("\r\n", "\n", "\r")):
        return "ends with a newline (as `echo secret > file` leaves it)"
    if any(c in value for c in "\r\n"):
        return "holds a line break"
    if value != value.strip():
        return "starts or ends with white space, which HTTP drops"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "holds a control character"
    if any(ord(c) > 0x7E for c in value):
        return "holds a character that cannot travel in an HTTP header (only printable ASCII can)"
    return None


def _check_secret(provider: str, setting: Setting, value: object, *, from_env: bool) -> None:
    """Refuse a secret that could not be sent as it is; the message never holds the value.

    A secret is exactly what the user gave: it is refused, never stripped or re-encoded, so that a
    wrong value is found at connect time instead of as a confusing 401 later."""
    source = f"the environment variable {setting.env}" if from_env and setting.env else None
    where = f"setting {setting.name!r}" + (f" (from {source})" if source else "")
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{provider}: {where} must be a string, not {type(value).__name__}.",
            provider=provider,
        )
    problem = _secret_problem(value)
    if problem is not None:
        fix = f"set {setting.env} again" if source else f"pass {setting.name}= again"
        raise ConfigurationError(
            f"{provider}: {where} {problem}. Nothing was sent. Give the secret exactly as the "
            f"provider issued it ({fix}, e.g. without the trailing newline).",
            provider=provider,
        )
