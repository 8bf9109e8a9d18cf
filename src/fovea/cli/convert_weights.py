"""``fovea convert-weights IN.pth OUT.safetensors``: PyTorch weights to safetensors.

fovea never unpickles (a pickle runs code when loaded). A ``.pth`` file *is* a pickle, so this
command hands it to PyTorch's restricted unpickler (:mod:`fovea.torch_weights`:
``torch.load(..., weights_only=True)``), which rebuilds tensors, dicts, lists and numbers only
and refuses any other object. Load the result into a fovea model with

    model.load_state_dict(fovea.load_safetensors("OUT.safetensors"))

Needs PyTorch (``pip install torch==2.13.0``); bad input is one line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..torch_weights import convert_torch_weights


def add_convert_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert-weights", help="convert PyTorch weights (.pth state_dict) to safetensors",
        description="Convert a PyTorch state_dict (.pth/.pt, saved with torch.save) to "
                    "safetensors for fovea's load_state_dict. Loaded with torch.load("
                    "weights_only=True): tensors and containers only, never arbitrary "
                    "objects. Needs PyTorch.")
    p.add_argument("src", type=Path, metavar="IN.pth")
    p.add_argument("out", type=Path, metavar="OUT.safetensors")
    p.add_argument("--strip-prefix", default="", metavar="PREFIX",
                   help="remove PREFIX from the keys that start with it (e.g. 'module.' of "
                        "a DataParallel checkpoint)")
    p.set_defaults(func=cmd_convert_weights)
    return p


def cmd_convert_weights(args) -> int:
    arrays, skipped = convert_torch_weights(args.src, args.out, args.strip_prefix)
    if skipped:
        print(f"fovea convert-weights: skipped {len(skipped)} entries that are not tensors: "
              f"{', '.join(skipped[:8])}{' …' if len(skipped) > 8 else ''}", file=sys.stderr)
    count = sum(int(a.size) for a in arrays.values())
    print(f"wrote {args.out}: {len(arrays)} tensors ({count:,} values) from {args.src}")
    return 0
