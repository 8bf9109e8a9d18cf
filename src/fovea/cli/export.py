"""``fovea export RUN_DIR OUT.onnx``: a trained run's model as an ONNX file.

The run's model is rebuilt from its config, its weights loaded, and traced on an example batch
of the run's input shape (see :mod:`fovea.onnx`). The graph takes the *preprocessed*
images — the run's input transform (normalization, whitening) is not part of it: scale the
pixels to [0, 1] and apply the transform the command prints before feeding the graph. Where
onnxruntime is installed the exported graph is checked against the model before the file is
written. Needs the onnx package (``pip install onnx``); bad input is one line, exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import FoveaError
from ..onnx import DEFAULT_OPSET, compare_onnxruntime, serialize
from ..serialization import atomic_write_bytes
from ..train.session import load_run

TOLERANCE = 1e-4  # largest |onnxruntime − fovea| relative to the largest |logit|
EXAMPLE_BATCH = 2


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    description = ("Export a run's model to ONNX (input \"input\" (batch, C, H, W) float32 "
                   "with a dynamic batch, output \"logits\"). The run's preprocessing is NOT "
                   "in the graph: feed it images scaled to [0, 1] and then transformed as the "
                   "command prints.")
    p = subparsers.add_parser("export", help="export a run's model to ONNX (without the run's "
                                             "preprocessing)", description=description)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("out", type=Path, metavar="OUT.onnx")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset version (default 17)")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the onnxruntime comparison (done when onnxruntime is installed)")
    p.set_defaults(func=cmd_export)
    return p


def describe_preprocessing(config: dict) -> str:
    """How a run's inputs are prepared, in words (pixels scaled to [0, 1], then the transform)."""
    name = config.get("preprocess", "normalize")
    if name == "none":
        return "scale pixels to [0, 1] (no other preprocessing)"
    if name == "normalize":
        norm = config.get("normalize", {})
        return (f"scale pixels to [0, 1], then per channel (x - mean) / std with mean "
                f"{norm.get('mean')} and std {norm.get('std')}")
    kind = config.get("preprocessing", {}).get("kind", name)
    return (f"scale pixels to [0, 1], then the run's fitted {kind!r} preprocessing "
            f"(its statistics are in preprocess.safetensors)")


def cmd_export(args) -> int:
    model, transform, config = load_run(args.run_dir)
    try:
        shape = tuple(int(n) for n in config["input_shape"])
    except (KeyError, TypeError, ValueError):
        raise FoveaError(f"{args.run_dir}: config.json has no valid input_shape") from None
    images = np.random.default_rng(0).random((EXAMPLE_BATCH, *shape), dtype=np.float32)
    example = transform(images) if transform is not None else images
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    proto, data = serialize(model, example, opset)
    check = None
    if args.check:
        try:
            import onnxruntime  # noqa: F401  (optional: only whether it is installed)
        except ImportError:
            check = "not checked (onnxruntime is not installed)"
        else:
            diff = compare_onnxruntime(data, model, example)
            if not diff <= TOLERANCE:
                raise FoveaError(f"the exported graph disagrees with the model (max difference "
                                 f"{diff:.2g} of the largest logit); nothing written")
            check = (f"onnxruntime agrees with fovea (max difference {diff:.1e} of the largest "
                     f"logit)")
    out = args.out
    if out.is_dir():
        raise FoveaError(f"{out}: is a directory")
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise FoveaError(f"{out}: cannot write ({exc.strerror or exc})") from None
    out_dims = [d.dim_value or d.dim_param for d in
                proto.graph.output[0].type.tensor_type.shape.dim]
    in_dims = ["batch", *np.shape(example)[1:]]
    print(f"wrote {out}: {config.get('model', type(model).__name__)}, opset {opset}, input "
          f"\"input\" ({', '.join(map(str, in_dims))}) float32, output \"logits\" "
          f"({', '.join(map(str, out_dims))})")
    print(f"note: the run's preprocessing is not in the graph; before feeding it, "
          f"{describe_preprocessing(config)}")
    if check:
        print(check)
    return 0
