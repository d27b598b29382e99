"""The shape of the package: a small public face over private machinery, an import graph that is a
tree, and plugins that import only the public modules."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "asyncjobs"
#: The modules a user or a plugin may import; everything else is an underscore module.
PUBLIC = {
    "__init__",
    "__main__",
    "engines",
    "errors",
    "provider",
    "pytest_plugin",
    "sandbox",
    "testing",
    "cli",
    "aio",
    "dashboard",
    "webhooks",
    "ledger",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["asyncjobs", *parts])


def _target(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` in ``package`` reads from, relative imports resolved."""
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join([*base, node.module] if node.module else base)
    return node.module or ""


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _face() -> set[str]:
    """The modules the package face names: those it imports, and those its lazy map
    (``_LAZY``) and ``_SUBMODULES`` import on first use of a name."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    named: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("_LAZY", "_SUBMODULES") for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            named.update(value.values() if isinstance(value, dict) else value)
    named.update(
        m.removeprefix("asyncjobs.") for m in _imports(PACKAGE / "__init__.py", face=set())
    )
    assert {"_client", "_models", "errors"} <= named, "the package face's lazy map was not read"
    return {f"asyncjobs.{m}" for m in named}


def _imports(path: Path, face: set[str] | None = None) -> set[str]:
    """The asyncjobs modules the file ``path`` imports at run time (see :func:`_imports_of`)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    return _imports_of(path.read_text(encoding="utf-8"), here, package, face)


def _imports_of(source: str, here: str, package: str, face: set[str] | None = None) -> set[str]:
    """The asyncjobs modules the module ``here`` (in ``package``) imports at run time: top-level
    and function-local imports, not those under ``if TYPE_CHECKING``. Importing the package face
    (``import asyncjobs``, or ``from asyncjobs import name`` / ``from . import name`` of a name
    that is not a submodule) counts as importing every module the face names (``face``, by default
    :func:`_face`): its lazy map imports them on first use."""
    tree = ast.parse(source)
    found: set[str] = set()
    everything = _FACE() if face is None else face

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            target = _target(node, package)
            if target.startswith("asyncjobs"):
                found.add(target)
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    if _exists(candidate):  # "from . import errors" imports a module
                        found.add(candidate)
                    elif target == "asyncjobs":  # a name of the face: whatever it may import
                        found.update(everything)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "asyncjobs":
                    found.update(everything)
                elif alias.name.startswith("asyncjobs"):
                    found.add(alias.name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(here)
    found.discard("asyncjobs")  # the face itself: counted as the modules it names
    return {m for m in found if _exists(m)}


_FACE = functools.cache(_face)


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:]) if "." in module else Path()
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        graph[_module_name(path)] = {m for m in _imports(path) if m != "asyncjobs"}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = walk(node)
            if found:
                return found
    return None


def test_the_import_graph_of_the_core_is_a_tree() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from . import errors", {"asyncjobs.errors"}),
        ("from ._models import JobInfo", {"asyncjobs._models"}),
        ("def f():\n    from ._views import jobs_html", {"asyncjobs._views"}),
        (
            "class A:\n    def _repr_html_(self):\n        from . import _views",
            {"asyncjobs._views"},
        ),
        ("if TYPE_CHECKING:\n    from ._job import Job", set()),
        ("from . import __version__", "face"),
        ("def f():\n    import asyncjobs", "face"),
        ("from asyncjobs import connect", "face"),
    ],
)
def test_the_import_finder_counts_run_time_imports(source: str, imported: set[str] | str) -> None:
    expected = _FACE() if imported == "face" else imported
    assert _imports_of(source, "asyncjobs._mine", "asyncjobs") == expected


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_public_modules_have_public_names() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    public = {m for m in modules if not m.startswith("_") or m in ("__init__", "__main__")}
    assert public <= PUBLIC, f"make private (underscore) or declare public: {public - PUBLIC}"


def test_the_package_only_re_exports() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    defined = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("__")
    ]
    assert defined == []


def test_the_package_all_is_sorted_and_complete() -> None:
    import asyncjobs

    assert list(asyncjobs.__all__) == sorted(asyncjobs.__all__)
    for name in asyncjobs.__all__:
        assert getattr(asyncjobs, name) is not None


_PLUGIN_SOURCES = [
    *sorted((ROOT / "providers").glob("*/asyncjobs_*/*.py")),
    *sorted((ROOT / "providers").glob("*/tests/*.py")),
    *sorted((ROOT / "docs" / "example-plugin").rglob("*.py")),
]
_PRIVATE_IMPORT = re.compile(r"^\s*(from|import)\s+asyncjobs\.(_\w+)", re.MULTILINE)


@pytest.mark.parametrize("path", _PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_public_modules(path: Path) -> None:
    found = _PRIVATE_IMPORT.findall(path.read_text(encoding="utf-8"))
    assert found == [], f"{path.name} imports private modules: {[m for _, m in found]}"


def test_docs_listings_import_only_public_modules() -> None:
    for page in sorted((ROOT / "docs").rglob("*.md")):
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        for block in blocks:
            assert _PRIVATE_IMPORT.findall(block) == [], page.name


_LISTING = re.compile(r"<!-- (listing|excerpt): (\S+) -->\n```python\n(.*?)```", re.S)


def test_the_plugin_guide_listings_are_the_files_they_show() -> None:
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    found = _LISTING.findall(page)
    assert len(found) >= 4
    for kind, path, block in found:
        text = (ROOT / path).read_text(encoding="utf-8")
        if kind == "listing":
            assert block == text, f"the listing of {path} differs from the file: copy it again"
        else:
            assert block.strip() in text, f"the excerpt of {path} is not a part of the file"


def test_the_testing_page_listing_is_the_file_it_shows() -> None:
    page = (ROOT / "docs" / "testing-your-application.md").read_text(encoding="utf-8")
    found = _LISTING.findall(page)
    assert [path for _, path, _ in found] == ["docs/testing-example/test_conversions.py"]
    for _, path, block in found:
        assert block == (ROOT / path).read_text(encoding="utf-8"), f"copy {path} again"


# -- private attributes --------------------------------------------------------------------------

#: IPython's display protocol (``_repr_html_``, ``_repr_markdown_``, ...): public names that start
#: with an underscore. No private name of the standard library (``sys._getframe``...) is used.
_PROTOCOL = re.compile(r"_repr_\w+_")


def _own_names(tree: ast.Module) -> set[str]:
    """The names a module defines at its top level (classes, functions, assignments; not imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(_bound(target))
    return names


def _bound(target: ast.expr) -> set[str]:
    """The names an assignment to ``target`` binds (``a``, ``a, b``; not ``a.x`` nor ``a[0]``)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return {n for e in target.elts for n in _bound(e)}
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    return set()


def _private_reads(source: str) -> list[str]:
    """Every ``<expr>._name`` (read or written; dunders and the display protocol aside) in
    ``source`` whose ``<expr>`` is not ``self``, ``cls``, ``super()`` or a name the module itself
    defines at its top level: another object's private state, reached around its methods."""
    tree = ast.parse(source)
    own = _own_names(tree) | {"self", "cls"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if (node.attr.startswith("__") and node.attr.endswith("__")) or _PROTOCOL.fullmatch(
            node.attr
        ):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in own:
            continue
        if (
            isinstance(base, ast.Call)
            and isinstance(base.func, ast.Name)
            and base.func.id == "super"
        ):
            continue
        found.append(ast.unparse(node))
    return found


def _all_private_reads() -> set[str]:
    return {
        f"{path.relative_to(ROOT).as_posix()}: {read}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for read in _private_reads(path.read_text(encoding="utf-8"))
    }


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("self._x", []),
        ("cls._x", []),
        ("super()._x()", []),
        ("class A: ...\nA._x", []),
        ("_LOCK = 1\n_LOCK._x", []),
        ("obj.__dict__", []),
        ("obj.sync._repr_html_()", []),
        ("obj._x", ["obj._x"]),
        ("obj._x = 1", ["obj._x"]),
        ("self.ledger._store", ["self.ledger._store"]),
        ("import sys\nsys._getframe()", ["sys._getframe"]),
        ("from m import A\nA._x", ["A._x"]),
    ],
)
def test_the_private_read_finder(source: str, found: list[str]) -> None:
    assert _private_reads(source) == found


def _private_imports(path: Path) -> list[str]:
    """Names starting with ``_`` that ``path`` imports from another asyncjobs module (private
    modules themselves aside: they are the package's machinery, imported by name)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = _target(node, package)
        if not target.startswith("asyncjobs"):
            continue
        for alias in node.names:
            name = alias.name
            private = name.startswith("_") and not name.startswith("__")
            if private and not _exists(f"{target}.{name}"):
                found.append(f"{target}.{name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = [
        f"{path.relative_to(ROOT).as_posix()}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in _private_imports(path)
    ]
    assert found == [], "give the name a public spelling in its module:\n" + "\n".join(found)


def test_no_module_reads_another_objects_private_attributes() -> None:
    found = sorted(_all_private_reads())
    assert found == [], "declare a method instead of reaching into private state:\n" + "\n".join(
        found
    )
