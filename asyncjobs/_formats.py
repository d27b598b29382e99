"""Which conversions a provider offers: :class:`Formats`, declared by each conversion provider from
its vendor's published format list, and read by the core before any request."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from types import MappingProxyType

import attrs

from .errors import InvalidParameterError

__all__ = ["FORMAT_NAME", "Formats", "format_name", "is_format_name", "normal_format"]

#: What a format name is: lower-case letters and digits, with dots, hyphens or underscores inside
#: (``pdf``, ``tar.gz``, ``html5-1page``); never a path, a space or a separator of a URL.
FORMAT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,30}[a-z0-9])?")


def normal_format(name: str) -> str:
    """A format name as the table keys it: lower case, without a leading dot or spaces."""
    return name.strip().lstrip(".").lower()


def is_format_name(name: str) -> bool:
    """Whether ``name`` (normalized) is a format name (:data:`FORMAT_NAME`)."""
    return FORMAT_NAME.fullmatch(normal_format(name)) is not None


def format_name(value: object, parameter: str, *, provider: str | None = None) -> str:
    """``value`` normalized as a format name, the argument ``parameter`` of a call (to
    ``provider``, when one is named).

    Raises:
        InvalidParameterError: ``value`` is not a format name.
    """
    if not isinstance(value, str) or not is_format_name(value):
        where = f"{provider}: " if provider else ""
        raise InvalidParameterError(
            f"{where}{parameter} must be a format name such as 'pdf' or 'tar.gz', not {value!r}.",
            parameter=parameter,
            provider=provider,
        )
    return normal_format(value)


def _table(value: Mapping[str, Iterable[str]]) -> Mapping[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for source, targets in value.items():
        if isinstance(targets, str):
            raise TypeError(f"the targets of {source!r} must be a list of formats, not one string")
        names = [source, *targets]
        wrong = [n for n in names if not isinstance(n, str) or not is_format_name(n)]
        if wrong:
            raise ValueError(f"{wrong[0]!r} is not a format name such as 'pdf' or 'tar.gz'")
        found = table.setdefault(normal_format(source), set())
        found.update(normal_format(t) for t in targets)
    return MappingProxyType({k: frozenset(v) for k, v in sorted(table.items()) if v})


@attrs.frozen
class Formats:
    """The conversions one provider offers: each source format and the target formats it converts
    it to, as the vendor publishes them (format names in lower case, e.g. ``"docx"``).

    A provider declares them with :meth:`asyncjobs.provider.Provider.formats`; the core refuses a
    conversion outside them before any request (:class:`~asyncjobs.errors.NotSupportedError`,
    naming the providers that offer it), and :func:`asyncjobs.formats` lists them.

    Attributes:
        table: source format -> the target formats (read-only).
        source: where the list comes from (the vendor's page or endpoint), for people.
        complete: whether the table is the vendor's whole list. Only a complete table refuses a
            conversion before any request; a partial one (a part of the list, where the whole
            could not be read) lists what is known, and the service's own answer decides the
            rest (a refusal is ``NotSupportedError`` all the same, and a routed submit falls
            back on it).
    """

    table: Mapping[str, frozenset[str]] = attrs.field(converter=_table)
    source: str = ""
    complete: bool = True

    @classmethod
    def from_json(cls, package: str, resource: str) -> Formats:
        """Read a table shipped as package data: a JSON object ``{"source": "...", "complete":
        true, "formats": {"docx": ["pdf", ...], ...}}`` (``complete`` is true when absent)."""
        data = json.loads(resources.files(package).joinpath(resource).read_text("utf-8"))
        return cls(data["formats"], str(data.get("source", "")), bool(data.get("complete", True)))

    def offers(self, source: str, target: str) -> bool:
        """Whether the table lists the conversion of ``source`` to ``target``."""
        return normal_format(target) in self.table.get(normal_format(source), ())

    def refuses(self, source: str, target: str) -> bool:
        """Whether the provider is known not to convert ``source`` to ``target``: the table is
        complete and does not list it."""
        return self.complete and not self.offers(source, target)

    def targets(self, source: str) -> frozenset[str]:
        """The formats ``source`` converts to (empty when it is not a source format here)."""
        return self.table.get(normal_format(source), frozenset())

    def pairs(self) -> Iterator[tuple[str, str]]:
        """Every ``(source, target)`` conversion, sorted."""
        for source, targets in self.table.items():
            for target in sorted(targets):
                yield source, target

    def __len__(self) -> int:
        return sum(len(t) for t in self.table.values())

    def __repr__(self) -> str:
        part = "" if self.complete else ", a part of the vendor's list"
        return f"Formats({len(self.table)} source formats, {len(self)} conversions{part})"
