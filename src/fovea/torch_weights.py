"""PyTorch weights files (``.pth``, ``.pt``) as NumPy arrays: the one place fovea reads a pickle.

A ``.pth`` file *is* a pickle, and unpickling runs code, so it goes only to PyTorch's restricted
unpickler, ``torch.load(path, map_location="cpu", weights_only=True)``, which rebuilds tensors,
dicts, lists and numbers and refuses any other object. A bare state_dict or a checkpoint dict
holding one under "state_dict" or "model" is accepted; every tensor becomes a contiguous NumPy
array. fovea follows PyTorch's state_dict names, so a torchvision-style model maps key for key:

    arrays, _ = load_torch_state_dict("weights.pth")
    model.load_state_dict(arrays)

PyTorch is imported only when a file is read (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import FoveaError
from .serialization import save_safetensors

WRAPPER_KEYS = ("state_dict", "model")


class ConvertError(FoveaError, ValueError):
    """A weights file that cannot be converted; the message names it."""


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


def _load_error(path, exc) -> ConvertError:
    """The ConvertError for a file torch.load refused, quoting the line of torch's message
    that says what is wrong with the file (not its advice about weights_only)."""
    text = str(exc)
    if text.startswith("Weights only load failed"):
        lines = [line.strip() for line in text.splitlines()[1:] if line.strip()]
        marker = [i for i, line in enumerate(lines) if line.endswith("WeightsUnpickler error:")]
        detail = lines[marker[0] + 1] if marker and marker[0] + 1 < len(lines) else \
            (lines[0] if lines else "")
        if "global" in detail.lower():  # "Unsupported global", "unsupported GLOBAL"
            # torch's advice to retry with weights_only=False is not ours to give: name the
            # object it refused instead
            return ConvertError(f"{path}: holds objects other than tensors, refused by the "
                                f"restricted unpickler ({detail})")
        return ConvertError(f"{path}: not a PyTorch weights file (its pickle is damaged or "
                            f"foreign: {detail or 'unreadable'})")
    if isinstance(exc, (KeyError, IndexError, EOFError)):  # the legacy format's parser
        return ConvertError(f"{path}: not a PyTorch weights file (neither the zip archive "
                            f"torch.save writes nor a readable legacy pickle)")
    return ConvertError(f"{path}: not a PyTorch weights file ({_first_line(exc)})")


def load_torch_state_dict(path) -> tuple[dict, list]:
    """(name → NumPy array of every tensor, the names of the entries that are not tensors) of
    a PyTorch weights file, loaded with ``weights_only=True`` (see the module docstring)."""
    torch = _torch()
    path = Path(path)
    if not path.exists():
        raise ConvertError(f"{path}: no such file")
    if path.is_dir():
        raise ConvertError(f"{path}: is a directory")
    try:
        with warnings.catch_warnings():  # torch's deprecation notes are not the user's concern
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        raise _load_error(path, exc) from None
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
    return arrays, skipped


def _to_numpy(torch, path, name, t) -> np.ndarray:
    if t.is_sparse or t.is_quantized or getattr(t, "is_nested", False):
        raise ConvertError(f"{path}: {name} is a sparse, quantized or nested tensor; convert "
                           f"it to a dense one first")
    t = t.detach().cpu().contiguous()
    try:
        arr = t.numpy()
    except TypeError:  # a dtype NumPy lacks
        if not t.is_floating_point():
            raise ConvertError(f"{path}: {name} is {t.dtype}, which has no NumPy "
                               f"equivalent") from None
        arr = t.float().numpy()  # bfloat16, float8: float32 holds every value exactly
    # np.array, not ascontiguousarray: that turns a 0-d tensor (num_batches_tracked) into (1,)
    return np.array(arr, order="C", copy=True)


def strip_prefix(arrays: dict, prefix: str, source="") -> dict:
    """``arrays`` with ``prefix`` removed from the keys that start with it (e.g. "module." of a
    DataParallel checkpoint); ConvertError when two keys would become one."""
    renamed = {}
    for name, arr in arrays.items():
        new = name[len(prefix):] if name.startswith(prefix) else name
        if new in renamed:
            raise ConvertError(f"{source}: stripping {prefix!r} makes two keys {new!r}")
        renamed[new] = arr
    return renamed


def convert_torch_weights(src, out, prefix: str = "") -> tuple[dict, list]:
    """Read the PyTorch weights file ``src``, strip ``prefix`` from its keys and write the
    arrays to ``out`` as safetensors (atomically); (the arrays written, the names skipped as
    not tensors)."""
    src, out = Path(src), Path(out)
    arrays, skipped = load_torch_state_dict(src)
    if prefix:
        arrays = strip_prefix(arrays, prefix, src)
    if out.is_dir():
        raise ConvertError(f"{out}: is a directory")
    try:
        save_safetensors(arrays, out, metadata={"converted_from": src.name})
    except OSError as exc:
        raise ConvertError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return arrays, skipped
