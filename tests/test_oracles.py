"""FOVEA_REQUIRE_ORACLES=1 (make test, CI) turns a skip for a missing oracle into a failure
that names it; without it the same tests skip. Checked on a probe suite that uses this
directory's conftest.py, in a fresh interpreter where ``import torch`` raises ImportError."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

PROBE_MODULE = """
import pytest
torch = pytest.importorskip("torch")

def test_uses_torch():
    assert torch.ones(1).item() == 1
"""

PROBE_TESTS = """
import pytest
from helpers import skip_missing

def test_importorskip_in_the_test():
    pytest.importorskip("torch")

def test_torch_fixture(torch):
    pass

def test_skip_missing():
    skip_missing("the full MNIST")

def test_other_skip_stays_a_skip():
    pytest.skip("not this platform")

def test_passes():
    pass
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A probe suite with a hidden torch; ``probe(require)`` runs it: (returncode, output)."""
    root = tmp_path_factory.mktemp("probe")
    suite = root / "suite"
    suite.mkdir()
    for name in ("conftest.py", "helpers.py"):
        shutil.copy(HERE / name, suite / name)
    (suite / "test_probe_module.py").write_text(PROBE_MODULE)
    (suite / "test_probe.py").write_text(PROBE_TESTS)
    shim = root / "shim" / "torch"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(  # what Python raises for a package not installed
        'raise ModuleNotFoundError("torch is hidden by test_oracles", name="torch")\n')
    path = [str(shim.parent), str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]

    def run(require):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        env.pop("FOVEA_REQUIRE_ORACLES", None)
        if require:
            env["FOVEA_REQUIRE_ORACLES"] = "1"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p",
                               "no:cacheprovider", "--continue-on-collection-errors", str(suite)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300)
        return proc.returncode, proc.stdout + proc.stderr

    return run


def test_without_the_variable_missing_oracles_skip(probe):
    code, out = probe(require=False)
    assert code == 0, out
    assert "1 passed, 5 skipped" in out, out
    assert "could not import 'torch'" in out and "oracle missing: the full MNIST" in out


def test_with_the_variable_missing_oracles_fail(probe):
    code, out = probe(require=True)
    assert code != 0, out
    for name in ("test_importorskip_in_the_test", "test_torch_fixture", "test_skip_missing"):
        assert f"test_probe.py::{name}" in out, out
    assert "ERROR" in out and "test_probe_module.py" in out, out  # the module-level skip
    assert "FOVEA_REQUIRE_ORACLES=1: torch is missing" in out, out
    assert "FOVEA_REQUIRE_ORACLES=1: the full MNIST is missing" in out, out
    assert "1 passed, 1 skipped" in out, out  # pytest.skip for another reason still skips
    assert "not this platform" in out, out
