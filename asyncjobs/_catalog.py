"""Who converts what: :func:`formats` over every installed provider's declared :class:`Formats`, and
the refusal of a conversion a provider is known not to offer, naming those that do."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from . import errors
from ._formats import Formats, format_name
from ._registry import available_providers, get_provider_class

__all__ = ["Conversion", "declared", "formats", "offered_by", "refuse_unoffered"]


@attrs.frozen
class Conversion:
    """One conversion and the providers that declare it.

    Attributes:
        source: the source format, e.g. ``"docx"``.
        target: the target format, e.g. ``"pdf"``.
        providers: the names of the providers that offer it, sorted.
    """

    source: str
    target: str
    providers: tuple[str, ...]


def declared(names: Iterable[str] | None = None) -> dict[str, Formats]:
    """The declared formats of the providers ``names`` (every installed one when ``None``); a
    provider that declares none, or cannot be loaded, is left out."""
    out: dict[str, Formats] = {}
    for name in available_providers() if names is None else names:
        try:
            table = get_provider_class(name).formats()
        except errors.AsyncJobsError:
            continue
        if table is not None:
            out[name] = table
    return out


def formats(source: str | None = None, target: str | None = None) -> list[Conversion]:
    """Which installed providers convert what, from each provider's declared list.

    Args:
        source: only conversions from this format (e.g. ``"docx"``); all when ``None``.
        target: only conversions to this format (e.g. ``"pdf"``); all when ``None``.

    Returns:
        One :class:`Conversion` per ``(source, target)`` pair, sorted, each naming the providers
        that offer it. A provider whose list is a part of the vendor's (``Formats.complete`` is
        false) may convert more than it lists.
    """
    want_source = None if source is None else format_name(source, "source")
    want_target = None if target is None else format_name(target, "target")
    found: dict[tuple[str, str], list[str]] = {}
    for name, table in sorted(declared().items()):
        for src, dst in table.pairs():
            if (want_source is None or src == want_source) and (
                want_target is None or dst == want_target
            ):
                found.setdefault((src, dst), []).append(name)
    return [Conversion(s, t, tuple(p)) for (s, t), p in sorted(found.items())]


def offered_by(source: str, target: str, *, among: Iterable[str] | None = None) -> list[str]:
    """The providers (of ``among``, else every installed one) whose list has the conversion."""
    return [n for n, t in sorted(declared(among).items()) if t.offers(source, target)]


def refuse_unoffered(provider: str, table: Formats | None, source: str, target: str) -> None:
    """Raise :class:`~asyncjobs.errors.NotSupportedError` before any request when ``provider``'s
    complete list does not have the conversion, naming the installed providers that offer it."""
    if table is None or not table.refuses(source, target):
        return
    others = [n for n in offered_by(source, target) if n != provider]
    where = (
        f" It is offered by: {', '.join(others)} (connect to one of them, or to a list such as "
        f"asyncjobs.connect([{provider!r}, {others[0]!r}]) to fall back)."
        if others
        else " No installed provider lists it (asyncjobs formats shows who converts what)."
    )
    raise errors.NotSupportedError(
        f"{provider} does not convert {source} to {target}: its format list does not have it.{where}",
        provider=provider,
    )
