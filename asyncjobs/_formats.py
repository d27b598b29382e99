"""Which conversions a provider offers: :class:`Formats`, declared by each conversion provider from
its vendor's published format list, and read by the core before any request."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from types import MappingProxyType

import attrs

__all__ = ["Formats", "normal_format"]


def normal_format(name: str) -> str:
    """A format name as the table keys it: lower case, without a leading dot or spaces."""
    return name.strip().lstrip(".").lower()


def _table(value: Mapping[str, Iterable[str]]) -> Mapping[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for source, targets in value.items():
        if isinstance(targets, str):
            raise TypeError(f"the targets of {source!r} must be a list of formats, not one string")
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
    """

    table: Mapping[str, frozenset[str]] = attrs.field(converter=_table)
    source: str = ""

    @classmethod
    def from_json(cls, package: str, resource: str) -> Formats:
        """Read a table shipped as package data: a JSON object ``{"source": "...", "formats":
        {"docx": ["pdf", ...], ...}}``."""
        data = json.loads(resources.files(package).joinpath(resource).read_text("utf-8"))
        return cls(data["formats"], str(data.get("source", "")))

    def offers(self, source: str, target: str) -> bool:
        """Whether the provider converts ``source`` to ``target``."""
        return normal_format(target) in self.table.get(normal_format(source), ())

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
        return f"Formats({len(self.table)} source formats, {len(self)} conversions)"
