"""Write tests/golden/core.npz: PyTorch's results for the core conv2d / linear / cross_entropy
checks, so that tests/test_golden.py keeps checking fovea where PyTorch is not installed.

Inputs come from a seeded NumPy generator and are stored float32. PyTorch computes in float64
from those exact values; each case stores the forward output and the gradients of the sum of
the output times a fixed random projection ``proj`` (the upstream gradient), with respect to
every floating input. Everything is saved with numpy.savez_compressed, no pickled objects: the
case list is a JSON string stored as a NumPy unicode scalar under the key ``meta``.

    python scripts/make_golden.py [--out tests/golden/core.npz]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240611
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "core.npz"

# name, op, input shapes (None: absent), parameters
CONV = [
    ("conv_basic", (2, 3, 16, 16), (6, 3, 3, 3), True,
     {"stride": 1, "padding": 1, "dilation": 1, "groups": 1}),
    ("conv_strided_groups", (2, 8, 9, 11), (8, 4, 3, 2), False,
     {"stride": 2, "padding": [2, 1], "dilation": 1, "groups": 2}),
    ("conv_dilated", (2, 4, 10, 10), (6, 4, 3, 3), True,
     {"stride": 1, "padding": 2, "dilation": 2, "groups": 1}),
    ("conv_depthwise_5x5", (3, 4, 12, 9), (4, 1, 5, 5), True,
     {"stride": [1, 2], "padding": [2, 0], "dilation": 1, "groups": 4}),
]
LINEAR = [
    ("linear_3d_bias", (4, 7, 16), (10, 16), True),
    ("linear_2d_nobias", (8, 16), (5, 16), False),
]
CROSS_ENTROPY = [  # name, probability targets, class weight, parameters
    ("ce_mean", False, False, {"reduction": "mean"}),
    ("ce_weight_ignore", False, True, {"reduction": "mean", "ignore_index": 3}),
    ("ce_smoothing_sum", False, True, {"reduction": "sum", "label_smoothing": 0.1}),
    ("ce_smoothing_ignore_none", False, False,
     {"reduction": "none", "label_smoothing": 0.2, "ignore_index": 1}),
    ("ce_probs_mean", True, False, {"reduction": "mean"}),
    ("ce_probs_weight_smoothing", True, True, {"reduction": "mean", "label_smoothing": 0.1}),
]
N_CE, C_CE = 16, 10


def _f32(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _run(fn, inputs: dict, rng, arrays: dict, name: str) -> None:
    """Forward fn on float64 leaves; backward of sum(out · proj); store all under name__key."""
    leaves = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in inputs.items()}
    out = fn(**leaves)
    proj = rng.standard_normal(tuple(out.shape)).astype(np.float32)
    (out * torch.from_numpy(proj.astype(np.float64))).sum().backward()
    for k, v in inputs.items():
        arrays[f"{name}__{k}"] = v
        arrays[f"{name}__grad_{k}"] = leaves[k].grad.numpy().astype(np.float32)
    arrays[f"{name}__proj"] = proj
    arrays[f"{name}__out"] = out.detach().numpy().astype(np.float32)


def build() -> dict:
    rng = np.random.default_rng(SEED)
    arrays, cases = {}, []
    for name, xs, ws, bias, params in CONV:
        inputs = {"x": _f32(rng, *xs), "weight": _f32(rng, *ws, scale=0.3)}
        if bias:
            inputs["bias"] = _f32(rng, ws[0])
        _run(lambda x, weight, bias=None, p=params: F.conv2d(x, weight, bias, **p), inputs, rng,
             arrays, name)
        cases.append({"name": name, "op": "conv2d", "inputs": sorted(inputs), "params": params})
    for name, xs, ws, bias in LINEAR:
        inputs = {"x": _f32(rng, *xs), "weight": _f32(rng, *ws)}
        if bias:
            inputs["bias"] = _f32(rng, ws[0])
        _run(F.linear, inputs, rng, arrays, name)
        cases.append({"name": name, "op": "linear", "inputs": sorted(inputs), "params": {}})
    for name, probs, weighted, params in CROSS_ENTROPY:
        logits = _f32(rng, N_CE, C_CE, scale=2.0)
        if probs:
            e = np.exp(rng.standard_normal((N_CE, C_CE)))
            target = (e / e.sum(1, keepdims=True)).astype(np.float32)
        else:
            target = rng.integers(0, C_CE, N_CE).astype(np.int64)
            target[::4] = 3  # some samples of the ignored / weighted class
            target[::5] = 1
        arrays[f"{name}__target"] = target
        weight = None
        if weighted:
            weight = rng.uniform(0.2, 2.0, C_CE).astype(np.float32)
            arrays[f"{name}__weight"] = weight
        t = torch.from_numpy(target.astype(np.float64) if probs else target)
        w = None if weight is None else torch.from_numpy(weight.astype(np.float64))
        _run(lambda logits, t=t, w=w, p=params: F.cross_entropy(logits, t, weight=w, **p),
             {"logits": logits}, rng, arrays, name)
        cases.append({"name": name, "op": "cross_entropy", "inputs": ["logits"],
                      "weighted": weighted, "params": params})
    meta = {"seed": SEED, "torch": torch.__version__, "cases": cases}
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    arrays = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} kB, {len(arrays)} arrays)")


if __name__ == "__main__":
    main()
