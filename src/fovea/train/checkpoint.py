"""Checkpoints of a whole training state: arrays as safetensors, everything else as JSON.

A checkpoint is two files in the run directory: ``checkpoint-EEEE.safetensors`` (model,
optimizer, EMA and best-so-far arrays) and ``checkpoint.json`` (epoch, history, optimizer
hyper-parameters, scheduler, RNG states, ... and the name and SHA-256 of its arrays file).
Each file is written atomically (temp file, fsync, rename), the arrays first and the JSON last,
and an older arrays file is deleted only after the JSON that replaces it is in place: a crash
at any moment leaves the previous complete checkpoint or the new one, never a mix. The arrays
file named in ``checkpoint.json`` must be a plain file name in the run directory (no path, no
symbolic link): a checkpoint cannot point at another run's weights or any file elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import CheckpointError
from ..serialization import load_safetensors, own_file, read_json, save_safetensors, write_json

POINTER = "checkpoint.json"
ARRAYS_NAME = re.compile(r"checkpoint-[0-9]+\.safetensors")


def save_checkpoint(run_dir, epoch: int, arrays: dict, meta: dict) -> Path:
    """Write the checkpoint of ``epoch`` and remove the previous one's arrays file."""
    run_dir = Path(run_dir)
    name = f"checkpoint-{epoch:04d}.safetensors"
    path = save_safetensors(arrays, run_dir / name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    write_json(run_dir / POINTER, {**meta, "epoch": epoch, "arrays": name, "sha256": digest})
    for old in run_dir.glob("checkpoint-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return run_dir / POINTER


def load_checkpoint(run_dir):
    """(arrays, meta) of the run's checkpoint; CheckpointError if it is missing or damaged."""
    run_dir = Path(run_dir)
    pointer = run_dir / POINTER
    if not os.path.lexists(pointer):
        raise CheckpointError(f"{run_dir}: no checkpoint to resume from ({POINTER} is missing)")
    meta = read_json(pointer)
    try:
        name, expected = meta["arrays"], meta["sha256"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{pointer}: not a fovea checkpoint") from None
    if not isinstance(name, str) or not ARRAYS_NAME.fullmatch(name):
        raise CheckpointError(f"{pointer}: its arrays entry {name!r} is not a file name of "
                              f"the form checkpoint-EEEE.safetensors in the run directory")
    path = run_dir / name
    if not os.path.lexists(path):
        raise CheckpointError(f"{path}: missing (named by {pointer})")
    own_file(path)
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise CheckpointError(f"{path}: SHA-256 does not match {pointer}; the file is damaged")
    return load_safetensors(path), meta


def split_prefix(arrays: dict, prefix: str) -> dict:
    """The entries of ``arrays`` under ``prefix.``, with the prefix removed."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in arrays.items() if k.startswith(prefix + ".")}


def with_prefix(prefix: str, arrays: dict) -> dict:
    return {f"{prefix}.{k}": v for k, v in arrays.items()}
