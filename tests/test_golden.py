"""fovea's conv2d / linear / cross_entropy against PyTorch results stored in tests/golden/core.npz
(written by scripts/make_golden.py), so these core checks run where PyTorch is absent.

This module must not import torch. Each case is checked in float32 (≤ 1e-4 relative, as the
live PyTorch comparisons) and in float64 (tighter: the stored references are float32-rounded
values of a float64 computation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close

import fovea
from fovea.ops import conv2d, cross_entropy, linear

GOLDEN = Path(__file__).resolve().parent / "golden" / "core.npz"


def _load():
    with np.load(GOLDEN, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("meta"))), arrays


META, ARRAYS = _load()
CASES = {c["name"]: c for c in META["cases"]}


def assert_close(actual, expected, tol, what):
    shared_assert_close(actual, expected, tol, what)


def _fn(case, dtype):
    name, params = case["name"], dict(case["params"])
    if case["op"] == "conv2d":
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return lambda x, weight, bias=None: conv2d(x, weight, bias, **params)
    if case["op"] == "linear":
        return linear
    target = ARRAYS[f"{name}__target"]
    if target.dtype.kind == "f":
        target = target.astype(dtype)
    weight = ARRAYS.get(f"{name}__weight")
    weight = None if weight is None else fovea.tensor(weight.astype(dtype))
    return lambda logits: cross_entropy(logits, target, weight=weight, **params)


def test_golden_file_is_complete():
    assert GOLDEN.stat().st_size < 200_000
    assert {c["op"] for c in CASES.values()} == {"conv2d", "linear", "cross_entropy"}
    for name, case in CASES.items():
        for key in ["out", "proj"] + case["inputs"] + [f"grad_{k}" for k in case["inputs"]]:
            assert f"{name}__{key}" in ARRAYS, f"{name}__{key} missing"


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-5)],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch_reference(name, dtype, tol):
    case = CASES[name]
    leaves = {k: fovea.tensor(ARRAYS[f"{name}__{k}"].astype(dtype), requires_grad=True)
              for k in case["inputs"]}
    out = _fn(case, dtype)(**leaves)
    assert out.dtype == dtype
    assert_close(out.detach().numpy(), ARRAYS[f"{name}__out"], tol, f"{name} output")
    out.backward(ARRAYS[f"{name}__proj"].astype(dtype))
    for k, t in leaves.items():
        assert t.grad is not None and t.grad.dtype == dtype
        assert_close(t.grad.numpy(), ARRAYS[f"{name}__grad_{k}"], tol, f"{name} grad of {k}")


@pytest.mark.skipif(os.environ.get("FOVEA_GOLDEN_CHILD") == "1", reason="already the child run")
def test_runs_without_torch(tmp_path):
    """Run this module in a fresh interpreter where ``import torch`` fails."""
    root = Path(__file__).resolve().parents[1]
    code = ("import sys, pytest; sys.modules['torch'] = None; "
            f"sys.exit(pytest.main([{str(Path(__file__))!r}, '-q', '-p', 'no:cacheprovider']))")
    env = dict(os.environ, FOVEA_GOLDEN_CHILD="1",
               PYTHONPATH=os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
