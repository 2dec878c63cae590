"""The house as README's layout describes it: imports between the rooms go one way, no module imports itself back
through others, and the wheel holds every package of every room. Read from the source (ast and pyproject.toml),
so these checks take well under a second and need no build and no network."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]
# Folder at the repository root -> the import name it installs as.
ROOMS = {
    "spine": "tunesmith",
    "trainer": "tunesmith.trainer",
    "packager": "tunesmith.packager",
    "modelfiles": "tunesmith.modelfiles",
    "server": "tunesmith.server",
    "publish": "tunesmith.publish",
}
# The spine's modules any room may import: they import no room themselves.
LEAVES = {
    "tunesmith",
    "tunesmith.errors",
    "tunesmith.progress",
    "tunesmith.files",
    "tunesmith.user_files",
    "tunesmith.tokenizer_folder",
    "tunesmith.config",
    "tunesmith.overrides",
    "tunesmith.structs",
    "tunesmith.stamps",
    "tunesmith.embedded_base",
    "tunesmith.run_project",
}
# Which rooms each room may import (README, Development: the layout table). The spine (spine/) may import all.
MAY_IMPORT = {
    "server": {"publish", "packager", "modelfiles"},
    "publish": {"packager"},
    "trainer": {"modelfiles"},
    "packager": {"modelfiles"},
    "modelfiles": set(),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, name in ROOMS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [part for part in path.relative_to(ROOT / folder).with_suffix("").parts if part != "__init__"]
            modules[".".join([name, *parts])] = path
    return modules


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Our modules `path` imports, at its top or inside a function (a lazy import is an arrow too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif node.module in MODULES:
                    found.add(node.module)
    return found


GRAPH = {module: _imports(path) - {module} for module, path in MODULES.items()}


def _room(module: str) -> str:
    part = module.split(".")[1] if "." in module else ""
    return part if part in MAY_IMPORT else "tunesmith"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reads_every_room():
    assert {_room(module) for module in MODULES} == {"tunesmith", *MAY_IMPORT}
    assert GRAPH["tunesmith.publish.release"] >= {"tunesmith.packager.package_folder", "tunesmith.publish.hub"}


def test_no_module_imports_itself_back_through_others():
    assert _cycles(GRAPH) == []


def test_a_cycle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_rooms_import_only_the_rooms_below_them_and_the_spines_leaves():
    wrong = []
    for module, imported in GRAPH.items():
        room = _room(module)
        if room == "tunesmith" and module not in LEAVES:
            continue
        allowed = set() if room == "tunesmith" else MAY_IMPORT[room]
        for other in imported:
            other_room = _room(other)
            if other_room != room and other not in LEAVES and other_room not in allowed:
                wrong.append(f"{module} imports {other}")
            if module in LEAVES and other not in LEAVES:
                wrong.append(f"{module}, a leaf of the spine, imports {other}, which is not one")
    assert wrong == []


def test_the_wheel_lists_every_package_of_every_room():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: folder for folder, name in ROOMS.items()}
    listed = set(setuptools["packages"])
    on_disk = set()
    for folder, name in ROOMS.items():
        for path in (ROOT / folder).rglob("*.py"):
            assert (path.parent / "__init__.py").is_file(), f"{path.parent} holds Python but no __init__.py"
            parts = path.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join([name, *parts]))
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    for package in listed - on_disk:  # folders of data files only
        room = max((name for name in ROOMS.values() if package.startswith(f"{name}.")), key=len)
        folder = ROOT / setuptools["package-dir"][room] / Path(*package.removeprefix(f"{room}.").split("."))
        assert folder.is_dir() and any(folder.iterdir()), f"{package} is listed but {folder} is empty or missing"
