"""``fovea convert-weights IN.pth OUT.safetensors``: PyTorch weights to safetensors.

fovea never unpickles (a pickle runs code when loaded). A ``.pth`` file *is* a pickle, so this
command — the one place fovea reads one — hands it to PyTorch's restricted unpickler,
``torch.load(path, map_location="cpu", weights_only=True)``, which rebuilds tensors, dicts,
lists and numbers only and refuses any other object. It accepts a bare state_dict or a
checkpoint dict holding one under "state_dict" or "model"; every tensor becomes a contiguous
NumPy array written as safetensors (atomically). Load the result into a fovea model with

    model.load_state_dict(fovea.load_safetensors("OUT.safetensors"))

fovea follows PyTorch's state_dict names, so a torchvision-style model maps key for key.
PyTorch is imported only here (``pip install torch==2.13.0``); bad input is one line, exit
status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import FoveaError

WRAPPER_KEYS = ("state_dict", "model")


class ConvertError(FoveaError, ValueError):
    """A weights file that cannot be converted; the message names it."""


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


def _torch():
    try:
        import torch
    except ImportError:
        raise ConvertError("convert-weights needs PyTorch (pip install torch==2.13.0)") \
            from None
    return torch


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_torch_state_dict(path) -> dict:
    """The tensors of a PyTorch weights file as name → NumPy array, loaded with
    ``weights_only=True`` (see the module docstring)."""
    torch = _torch()
    path = Path(path)
    if not path.exists():
        raise ConvertError(f"{path}: no such file")
    if path.is_dir():
        raise ConvertError(f"{path}: is a directory")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        text = str(exc)
        if text.startswith("Weights only load failed"):
            # torch's advice to retry with weights_only=False is not ours to give: name the
            # object it refused instead
            detail = [line.strip() for line in text.splitlines()[1:] if line.strip()]
            raise ConvertError(f"{path}: holds objects other than tensors, refused by the "
                               f"restricted unpickler"
                               f"{f' ({detail[0]})' if detail else ''}") from None
        raise ConvertError(f"{path}: not a PyTorch weights file ({_first_line(exc)})") \
            from None
    if not isinstance(obj, Mapping):
        raise ConvertError(f"{path}: holds a {type(obj).__name__}, not a state_dict (a dict "
                           f"of tensors)")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(torch.is_tensor(v) for v in inner.values()):
            obj = inner
            break
    arrays, skipped = {}, []
    for name, value in obj.items():
        if not torch.is_tensor(value):
            skipped.append(str(name))
            continue
        arrays[str(name)] = _to_numpy(torch, path, str(name), value)
    if not arrays:
        keys = ", ".join(map(str, list(obj)[:8]))
        raise ConvertError(f"{path}: no tensors found (keys: {keys or 'none'}); expected a "
                           f"state_dict, or a dict with one under 'state_dict' or 'model'")
    if skipped:
        print(f"fovea convert-weights: skipped {len(skipped)} entries that are not tensors: "
              f"{', '.join(skipped[:8])}{' …' if len(skipped) > 8 else ''}", file=sys.stderr)
    return arrays


def _to_numpy(torch, path, name, t) -> np.ndarray:
    if t.is_sparse or t.is_quantized or getattr(t, "is_nested", False):
        raise ConvertError(f"{path}: {name} is a sparse, quantized or nested tensor; convert "
                           f"it to a dense one first")
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
        t = t.float()
    # np.array, not ascontiguousarray: that turns a 0-d tensor (num_batches_tracked) into (1,)
    return np.array(t.contiguous().numpy(), order="C", copy=True)


def cmd_convert_weights(args) -> int:
    from .serialization import save_safetensors

    arrays = load_torch_state_dict(args.src)
    if args.strip_prefix:
        renamed = {}
        for name, arr in arrays.items():
            new = name[len(args.strip_prefix):] if name.startswith(args.strip_prefix) else name
            if new in renamed:
                raise ConvertError(f"{args.src}: stripping {args.strip_prefix!r} makes two "
                                   f"keys {new!r}")
            renamed[new] = arr
        arrays = renamed
    if args.out.is_dir():
        raise ConvertError(f"{args.out}: is a directory")
    try:
        save_safetensors(arrays, args.out, metadata={"converted_from": args.src.name})
    except OSError as exc:
        raise ConvertError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    count = sum(int(a.size) for a in arrays.values())
    print(f"wrote {args.out}: {len(arrays)} tensors ({count:,} values) from {args.src}")
    return 0
