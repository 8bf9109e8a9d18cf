"""The command line is a package on top of the library: every ``fovea.cli`` module imports on
its own, and no library module imports ``fovea.cli`` (so there is no cycle through it)."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import fovea.cli

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "fovea"


def _cli_modules() -> list:
    return ["fovea.cli"] + [f"fovea.cli.{m.name}" for m in pkgutil.iter_modules(fovea.cli.__path__)
                            if m.name != "__main__"]


def test_every_cli_module_imports_first_in_a_fresh_interpreter():
    """Each module imported before anything else of fovea: a cycle would fail one of them."""
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    modules = _cli_modules()
    assert {"fovea.cli.args", "fovea.cli.train", "fovea.cli.filter", "fovea.cli.plot"} <= set(
        modules)
    for name in modules:
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                              text=True, env=env, timeout=120)
        assert proc.returncode == 0, f"import {name}:\n{proc.stderr}"


def _imported(path: Path, root: Path = SRC) -> set:
    """The absolute names ``path`` imports, modules and ``from`` names (relative imports
    resolved against its place under ``root``)."""
    package = list(path.relative_to(root).parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_no_library_module_imports_the_cli():
    library = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts]
    assert len(library) > 50
    offenders = {str(p.relative_to(SRC)): sorted(n for n in _imported(p)
                                                  if n == "fovea.cli" or
                                                  n.startswith("fovea.cli."))
                 for p in library}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scan_resolves_relative_imports(tmp_path):
    """The checker itself finds a relative import of the CLI two levels down."""
    module = tmp_path / "fovea" / "train" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("from ..cli import main\nfrom .. import cli\nfrom .run import RunDir\n"
                      "import fovea.cli.args\n")
    assert _imported(module, tmp_path) == {"fovea.cli", "fovea.cli.main", "fovea",
                                           "fovea.train.run", "fovea.train.run.RunDir",
                                           "fovea.cli.args"}
