"""mnist-mini: a stratified MNIST subset shipped inside the package, so fovea runs offline.

10,000 train images (1,000 per class) and 2,000 test images (200 per class), built by
``scripts/build_mnist_mini.py``; ``assets/mnist-mini.json`` records its provenance and the
SHA-256 of each array, checked on load.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import open_regular
from .dataset import DataArgumentError

ASSET = Path(__file__).resolve().parent.parent / "assets" / "mnist-mini.npz"
PROVENANCE = ASSET.with_suffix(".json")
KEYS = ("train_images", "train_labels", "test_images", "test_labels")
MAX_ASSET_BYTES = 256 << 20
"""The most an mnist-mini file may hold, packed or unpacked (the packaged one is ~10 MB)."""


def array_sha256(arr: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and C-order bytes."""
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _expected_hashes(provenance: Path) -> dict:
    try:
        return json.loads(provenance.read_text())["sha256"]
    except FileNotFoundError:
        raise DataError(f"{provenance}: file not found (the mnist-mini checksums)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{provenance}: damaged ({exc})") from None


def load_mnist_mini(split="train", path=None):
    """mnist-mini ``split`` as (images uint8 (N, 28, 28), labels int64 (N,)).

    ``path`` defaults to the packaged asset; its checksums are read from the ``.json`` beside it.
    """
    if split not in ("train", "test"):
        raise DataArgumentError(f"unknown mnist-mini split {split!r}; use 'train' or 'test'")
    path = Path(path) if path is not None else ASSET
    keys = (f"{split}_images", f"{split}_labels")
    try:
        with open_regular(path, MAX_ASSET_BYTES, missing="file not found (rebuild it with "
                          "scripts/build_mnist_mini.py)") as f:
            # a member inflates to no more than its declared size: bound those first
            with zipfile.ZipFile(f) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_ASSET_BYTES:
                raise DataError(f"{path}: damaged asset, its arrays declare {unpacked} bytes")
            f.seek(0)
            with np.load(f, allow_pickle=False) as z:
                images, labels = (z[k] for k in keys)
    except KeyError as exc:
        raise DataError(f"{path}: damaged asset, missing array {exc}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: damaged asset ({exc})") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{path}: damaged asset, {keys[0]} is {images.dtype} {images.shape}, "
            "expected uint8 (N, 28, 28)"
        )
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise DataError(
            f"{path}: damaged asset, {keys[1]} is {labels.dtype} {labels.shape}, "
            f"expected uint8 ({len(images)},)"
        )
    expected = _expected_hashes(path.with_suffix(".json"))
    for key, arr in zip(keys, (images, labels)):
        if array_sha256(arr) != expected.get(key):
            raise DataError(f"{path}: damaged asset, {key} fails its SHA-256 check")
    return images, labels.astype(np.int64)
