"""The package's shape: stages import one way, never in a circle, and the torch-free stages stay
free of torch. Read from the source with `ast`, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "ctcocr"

# What each stage may import, besides itself. The order is the architecture: core at the bottom,
# cli at the top (docs/layout.md draws it).
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "decoding": {"core"},
    "network": {"core", "data"},
    "runtime": {"core", "data", "decoding", "network"},  # network: the torch backend, lazily
    "evaluation": {"core", "data", "decoding", "runtime"},
    "training": {"core", "data", "decoding", "network", "runtime", "evaluation"},
    "export": {"core", "data", "decoding", "network", "runtime", "evaluation"},
    "serve": {"core", "data", "decoding", "runtime"},
    "cli": {"core", "data", "decoding", "network", "runtime", "evaluation", "training", "export"}
    | {"serve"},
    "__init__": {"core", "decoding", "runtime"},
    "__main__": {"cli"},
}
TORCH_FREE = ("core", "data", "decoding", "runtime")
# runtime's torch backend is imported only when a run folder is opened (Recognizer does it lazily)
TORCH_MODULES = {"ctcocr.runtime.torch_backend"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imports_of(path: Path, top_level_only: bool) -> list[tuple[int, str]]:
    """(line, module) of every ctcocr import in `path`; with top_level_only, those that run
    when the module is imported (not inside functions or `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = True
            if top_level_only and inner:
                continue
            if isinstance(child, ast.ImportFrom) and (child.module or "").startswith("ctcocr"):
                module = child.module or ""
                for alias in child.names:  # `from ctcocr.x import module` names a module
                    candidate = f"{module}.{alias.name}"
                    is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(
                        ".py"
                    ).exists() or (PACKAGE.parent / Path(*candidate.split("."))).is_dir()
                    found.append((child.lineno, candidate if is_module else module))
            elif isinstance(child, ast.Import):
                found.extend(
                    (child.lineno, a.name) for a in child.names if a.name.startswith("ctcocr")
                )
            visit(child, inner)

    visit(tree, False)
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_stage_is_known():
    stages = {stage_of(module_name(p)) for p in sources()}
    assert stages <= set(ALLOWED), f"stages without a place in ALLOWED: {stages - set(ALLOWED)}"


def test_imports_run_one_way():
    wrong = []
    for path in sources():
        stage = stage_of(module_name(path))
        for line, module in imports_of(path, top_level_only=False):
            target = stage_of(module)
            if target != stage and target not in ALLOWED[stage]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} {stage} imports {module}")
    assert not wrong, "imports that run against the stage order:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sources():
        name = module_name(path)
        for _, module in imports_of(path, top_level_only=True):
            if module != name:
                graph[name].add(module)
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_two_classes_share_a_name():
    where: dict[str, list[str]] = defaultdict(list)
    for path in sources():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(module_name(path))
    shared = {name: modules for name, modules in where.items() if len(modules) > 1}
    assert not shared, f"classes defined in more than one module: {shared}"


@pytest.mark.parametrize("stage", TORCH_FREE)
def test_torch_free_stages_never_import_torch(stage):
    modules = [module_name(p) for p in sources() if stage_of(module_name(p)) == stage]
    modules = [m for m in modules if m not in TORCH_MODULES]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
