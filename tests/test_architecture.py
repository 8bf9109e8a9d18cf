"""The architecture of docs/architecture.md, enforced: the import-linter contracts in
pyproject.toml (layers point down, no cycles between sibling packages) hold, a planted upward
import breaks them, and no module of fovea is part of an import cycle at import time."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "fovea"


def lint_imports(src: Path) -> subprocess.CompletedProcess:
    """import-linter over the fovea package found in ``src``, with the repo's contracts."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    return subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=src, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def _contract_layers():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_every_module_of_fovea_has_a_layer():
    children = {f"fovea.{p.stem if p.suffix else p.name}" for p in PACKAGE.iterdir()
                if (p.suffix == ".py" and p.stem != "__init__")
                or (p.is_dir() and (p / "__init__.py").exists())}
    assert children == _contract_layers()


def test_layer_contracts_hold():
    result = lint_imports(SRC)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("ops/shape.py", "from ..nn import Module  # noqa"),       # ops → nn: a layer up
    ("data/loader.py", "from ..filters import convolve  # noqa"),  # data ↔ filters: siblings
])
def test_a_planted_upward_import_breaks_the_contracts(tmp_path, module, upward):
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "fovea", ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "fovea" / module
    path.write_text(path.read_text() + "\n" + upward + "\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


# ---- import-time cycles ---------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (SRC / name.replace(".", "/") / "__init__.py").exists()


def _is_module(name: str) -> bool:
    return _is_package(name) or (SRC / (name.replace(".", "/") + ".py")).exists()


def _top_level_imports(tree):
    """Import statements that run when the module is imported: at module level, inside
    module-level if/try/with blocks and class bodies; not in functions, nor under
    ``if TYPE_CHECKING``."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, (ast.Try, ast.With, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def import_time_graph() -> dict[str, set[str]]:
    """Module → the fovea modules it imports while it is being imported."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in _top_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("fovea"))
                continue
            if node.level:
                base = package.split(".")
                base = ".".join(base[:len(base) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not source.startswith("fovea"):
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{source}.{alias.name}"
                targets.add(sub if _is_module(sub) else source)
        graph[name] = {t for t in targets if t != name}
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None (iterative depth-first search)."""
    state = {}
    for start in sorted(graph):
        if start in state:
            continue
        path, iters = [start], [iter(sorted(graph[start]))]
        state[start] = "open"
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                iters.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state and nxt in graph:
                state[nxt] = "open"
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt])))
    return None


def test_no_import_cycle_at_import_time():
    cycle = find_cycle(import_time_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_and_submodule_imports():
    graph = import_time_graph()
    assert "fovea.backend" in graph["fovea.autograd.tensor"]  # from .. import backend
    assert "fovea.autograd" in graph["fovea.ops.shape"] or any(
        t.startswith("fovea.autograd") for t in graph["fovea.ops.shape"])
    assert "fovea.ops" not in graph["fovea.autograd.tensor"]  # imported at first use only
