"""The runtime library's modules import one another in layers, never in a cycle, and never
the compiler: read from their source (ast), so imports made only for type checking
(``if TYPE_CHECKING:``) and inside functions count too.

The layers, bottom up: errors, spec, manifest and types; the invocation; state; calls,
replies and exclusive; the context; dispatch; the HTTP endpoint; the application (whose
``serve`` runs the endpoint); the package's ``__init__`` re-exports them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import sfidl.runtime

PACKAGE = Path(sfidl.runtime.__file__).parent
SOURCES = PACKAGE.parent  # the sfidl package
# What the runtime may import of sfidl beside itself: the wire vocabulary it shares with the
# compiler (which must not import the compiler either: checked through it).
SHARED = {"sfidl", "sfidl.wire"}
COMPILER = ("sfidl.gen", "sfidl.check", "sfidl.parse", "sfidl.model", "sfidl.compiler")


def module_file(module: str) -> Path | None:
    """The source file of an sfidl module, or None when there is none (not an sfidl module)."""
    parts = module.split(".")
    if parts[0] != "sfidl":
        return None
    base = SOURCES.parent.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCES.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """The sfidl modules the source file ``path`` imports."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    return imported_by(path.read_text(), package)


def imported_by(source: str, package: str) -> set[str]:
    """The sfidl modules ``source``, a module of ``package``, imports anywhere (a package's
    submodule when ``from package import name`` names one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if module_file(submodule) is not None else base)
    return {name for name in found if module_file(name) is not None}


def runtime_graph() -> dict[str, set[str]]:
    """Each runtime module and the runtime modules it imports."""
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        graph[module_name(path)] = {
            name for name in imported(path) if name.startswith("sfidl.runtime.")
        }
    return graph


def cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle of the graph (its first module repeated at the end), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            found = visit(target, path + [module])
            if found is not None:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found is not None:
            return found
    return None


def reached(start: set[str]) -> Iterator[tuple[str, str]]:
    """(module, importer) for every sfidl module imported, directly or not, from ``start``."""
    seen = set(start)
    todo = sorted(start)
    while todo:
        module = todo.pop()
        path = module_file(module)
        assert path is not None
        for name in sorted(imported(path) - seen):
            seen.add(name)
            todo.append(name)
            yield name, module


def test_the_runtime_modules_import_one_another_without_a_cycle() -> None:
    graph = runtime_graph()
    assert "sfidl.runtime.invocation" in graph["sfidl.runtime.dispatch"]  # it reads them
    found = cycle(graph)
    assert found is None, "an import cycle: " + " -> ".join(found or ())


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_for_type_checking_and_inside_functions_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sfidl.runtime.context import Context\n"
        "def f():\n    from sfidl.runtime import app, Never\n"
        "from . import calls\n"
        "import statefun\n"
    )
    assert imported_by(source, "sfidl.runtime") == {
        "sfidl.runtime.context",
        "sfidl.runtime.app",
        "sfidl.runtime",
        "sfidl.runtime.calls",
    }


def test_the_runtime_never_imports_the_compiler() -> None:
    start = {module_name(path) for path in PACKAGE.glob("*.py")}
    outside = {
        module: importer
        for module, importer in reached(start)
        if not module.startswith("sfidl.runtime")
    }
    assert set(outside) <= SHARED, {m: i for m, i in outside.items() if m not in SHARED}
    assert not [m for m in outside if m.startswith(COMPILER)]
