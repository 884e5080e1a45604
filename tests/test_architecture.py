"""The shape of the source: imports only go down (bot → train → engine, and inside bot/ from
the top folders to the base), no import circle among the project's modules (imports for type
checking count: the dependency is real), and no module over 300 lines. Built from the files with
`ast`: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "train", "bot")
MAX_LINES = 300
LAYERS = {"engine": 0, "train": 1, "bot": 2}
# import names that map onto a folder of the tree (pyproject.toml's package-dir, setup.py)
MAPPED = {"nonebot_plugin_cangtou": "bot.adapters.qq"}
# inside bot/: a folder imports its own rank or below, never above
BOT_LAYERS = {"base": 0, "store": 1, "serving": 1, "cards": 1, "operations": 2, "chat": 3,
              "adapters": 4, "cli": 4, "runtime": 4}  # fmt: skip


def modules() -> dict[str, Path]:
    """'bot.cli.poem' → its file, for every module of the source packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports, wherever the import statement is: a function body
    counts (it runs too), and so does `if TYPE_CHECKING:` (the types are a real dependency)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])  # fmt: skip
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            for mapped, folder in MAPPED.items():
                if target == mapped or target.startswith(mapped + "."):
                    target = folder + target[len(mapped) :]
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as the list of modules around it), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "bot.chat.handlers" in graph["bot.chat.dispatch"]
    assert "bot.chat.daily" in graph["bot.chat.commands"]
    assert "bot.cli.serving" in graph["bot.cli"]


def test_type_only_imports_count(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a.b\n")
    assert imported("m", source, {"a.b", "m"}) == {"a.b"}


def test_no_import_circle_among_the_projects_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_imports_only_go_down():
    upward = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        if LAYERS[target.split(".")[0]] > LAYERS[name.split(".")[0]]
    ]
    assert upward == []


def bot_layer(name: str) -> int:
    parts = name.split(".")
    return BOT_LAYERS[parts[1]] if len(parts) > 1 and parts[1] in BOT_LAYERS else 4


def test_inside_bot_imports_only_go_down():
    graph = import_graph()
    assert set(BOT_LAYERS) == {
        p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }  # every folder has its layer
    upward = [
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.startswith("bot.")
        for target in targets
        if target.startswith("bot.") and bot_layer(target) > bot_layer(name)
    ]
    assert upward == []


def test_the_qq_plugin_is_one_package_under_its_import_name():
    """bot/adapters/qq is the import package nonebot_plugin_cangtou: imported under its folder
    name too, its matchers would be registered twice. Inside, imports are relative; outside,
    the plugin is loaded by name (bot.adapters.onebot_server)."""
    graph = import_graph()
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                assert not node.module.startswith("bot.adapters.qq"), f"{name}: {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("bot.adapters.qq") for a in node.names), name
    assert "bot.runtime.services" in graph["bot.adapters.qq.service"]  # relative imports resolve
    assert "bot.adapters.qq.config" in graph["bot.adapters.qq.service"]
    assert graph["bot.adapters.qq.matchers"] >= {"bot.adapters.qq.service", "bot.chat.commands"}


def test_core_does_not_import_its_handlers():
    """The handlers use the core's services; the dispatcher above both knows the handlers."""
    graph = import_graph()
    below = {"bot.chat.handlers", "bot.chat.commands", "bot.chat.poem_commands",
             "bot.chat.inline", "bot.chat.daily", "bot.chat.dispatch"}  # fmt: skip
    assert not graph["bot.chat.core"] & below
    assert "bot.chat.core" in graph["bot.chat.handlers"]


def test_every_bot_folder_says_what_it_holds_and_may_import():
    for init in sorted((ROOT / "bot").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert len(doc.splitlines()) >= 2 and "import" in doc, init


def test_no_flat_module_is_left_in_bot():
    """bot/ holds folders only (APScheduler's stored job paths are migrated, not shimmed)."""
    flat = sorted(p.name for p in (ROOT / "bot").glob("*.py") if p.name != "__init__.py")
    assert flat == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_source_module_over_300_lines(package):
    long = {
        str(path.relative_to(ROOT)): n
        for name, path in modules().items()
        if name.split(".")[0] == package
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"
