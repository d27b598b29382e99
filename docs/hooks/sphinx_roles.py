"""A Griffe extension for the API reference: Sphinx cross-reference roles become mkdocstrings links.

The docstrings write cross-references as Python programmers do, with Sphinx roles
(``:class:`JobInfo```, ``:meth:`~asyncjobs.Job.wait```, ``:func:`asyncjobs.connect```), which
mkdocstrings would show as raw text. This extension rewrites each role, when the package is loaded, into
an optional autorefs link to ``asyncjobs._models.JobInfo``: a dotted target is followed from the
package, a short one is looked up the way Python finds a name (the object's own members, then its
parents', following imports to where the name is defined). A target that is found nowhere
(``ValueError``), or that no page of the reference shows (a private helper), stays code, unlinked. A
``~`` shows only the last part of the name, as in Sphinx.

``mkdocs.yml`` loads it with the python handler's ``extensions`` option.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# (a target may be wrapped onto the next line of the docstring)
_ROLE = re.compile(
    r":(?:py:)?(class|meth|func|attr|mod|exc|data|obj|const):`(~?)([\w.]+(?:\s*\n\s*[\w.]+)*)(\(\))?`"
)
_CALLABLE = {"meth", "func"}


Node = griffe.Object | griffe.Alias


def _final(obj: Node) -> Node | None:
    """The object an alias (an import) stands for, or ``obj`` itself; ``None`` when unresolvable."""
    try:
        return obj.final_target if obj.is_alias else obj  # type: ignore[union-attr]
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _walk(start: Node, parts: list[str]) -> Node | None:
    """The object at ``start.<parts>``, following imports at each step."""
    obj: Node | None = _final(start)
    for part in parts:
        if obj is None:
            return None
        try:
            member = obj.members.get(part)
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        obj = None if member is None else _final(member)
    return obj


def _page_target(obj: Node) -> str:
    """Where the reference shows ``obj``: its own heading, or its class's for an attribute that has
    no docstring of its own (attrs fields are described in the class's Attributes section)."""
    if obj.is_attribute and obj.docstring is None and obj.parent is not None:
        return obj.parent.path
    return obj.path


def _resolve(scope: Node | None, target: str, package: griffe.Module) -> str | None:
    """The path ``target`` names as seen from ``scope`` (a dotted path from the package, else the
    object's members, then its parents'), or ``None`` when nothing has that name."""
    parts = target.split(".")
    if parts[0] == package.name:
        found = _walk(package, parts[1:])
        return _page_target(found) if found is not None else target
    while scope is not None:
        if parts[0] in scope.members:
            found = _walk(scope, parts)
            if found is not None:
                return _page_target(found)
        scope = scope.parent
    return None


def rewrite(text: str, scope: Node | None, package: griffe.Module) -> str:
    """``text`` with every Sphinx role written as an autorefs link (or code) for ``scope``."""

    def link(match: re.Match[str]) -> str:
        role, tilde, target, _ = match.groups()
        target = re.sub(r"\s+", "", target)
        title = target.rsplit(".", 1)[-1] if tilde else target
        if role in _CALLABLE:
            title += "()"
        path = _resolve(scope, target, package)
        if path is None:
            return f"`{title}`"
        # optional: a name the reference does not show (a private helper) stays code, unlinked
        return f'<autoref identifier="{path}" optional>`{title}`</autoref>'

    return _ROLE.sub(link, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of every docstring of a loaded package (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Once the whole package is loaded, so that every name can be looked up."""
        self._walk(pkg, pkg, set())

    def _walk(self, obj: griffe.Object, package: griffe.Module, done: set[str]) -> None:
        if obj.path in done:
            return
        done.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value, obj, package)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, package, done)  # type: ignore[arg-type]
