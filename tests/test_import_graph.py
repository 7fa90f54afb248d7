"""Imports run one way (STYLE.md, "The shape of our house"): storage below citizens and web,
everything below bot, and no cycle between modules. Read from the source with `ast`, so an
import inside a function or under TYPE_CHECKING counts like any other."""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "citizens", "web", "bot")
LAYER = {"storage": 0, "citizens": 1, "web": 2, "bot": 3}
"""Who may import whom: a module imports only from its own layer or the ones below.
web/ is above citizens/ (its endpoints check citizens and queue their sessions)."""


def module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `module` imports, wherever in the file the import stands."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                yield target


Graph = dict[str, set[str]]
"""Each module and the project modules it imports."""


def import_graph() -> Graph:
    known = module_names()
    return {module: set(imported(module, path, known)) for module, path in known.items()}


def upward(graph: Graph) -> list[str]:
    return sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if LAYER[a.split(".")[0]] < LAYER[b.split(".")[0]]
    )


def cycle(graph: Graph) -> list[str]:
    """One import cycle (its modules, the first repeated at the end), or [] when none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return []


def test_every_import_points_down() -> None:
    assert upward(import_graph()) == []


def test_no_module_imports_itself_back() -> None:
    assert cycle(import_graph()) == []


def test_a_cycle_is_seen() -> None:
    graph = import_graph()
    graph["bot.delivery.card"].add("bot.telegram.cards")  # as it was before issue 21
    graph["bot.telegram.cards"].add("bot.delivery.card")
    assert set(cycle(graph)) == {"bot.delivery.card", "bot.telegram.cards"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from bot.settings import Settings\n", ["storage.x -> bot.settings"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import web.app\n",
            ["storage.x -> web.app"],
        ),
        ("from storage import models\n", []),
    ],
)
def test_the_graph_sees_imports_anywhere_in_a_module(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    """The check itself: a late or type-only import is an arrow all the same."""
    path = tmp_path / "x.py"
    path.write_text(source)
    known = module_names() | {"storage.x": path}
    assert upward({"storage.x": set(imported("storage.x", path, known))}) == expected
