"""MNIST from its four canonical IDX files (plain or .gz), verified by SHA-256, downloaded on demand.

The checksums are those of the *decompressed* IDX bytes: they are the same for every mirror,
whereas the gzip bytes depend on the compressor that wrote them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import DataArgumentError
from .download import download_from_mirrors
from .idx import parse_idx, read_bytes

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The (images, labels) file names of each split, without ``.gz``."""

SHA256_UNCOMPRESSED = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""SHA-256 of each decompressed IDX file."""

IDX_BYTES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
"""The size of each decompressed IDX file (Fashion-MNIST's are the same): the most
:func:`fovea.data.idx.read_bytes` inflates of it."""

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
"""Base URLs serving ``<name>.gz``, tried in order; ``$FOVEA_MNIST_MIRRORS`` overrides them."""

MIRRORS_ENV = "FOVEA_MNIST_MIRRORS"


def default_data_dir() -> Path:
    """``$FOVEA_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/fovea``, else ``~/.cache/fovea``."""
    env = os.environ.get("FOVEA_DATA_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "fovea"


def mirrors() -> list[str]:
    """The MNIST mirrors to try: ``$FOVEA_MNIST_MIRRORS`` (comma-separated) or :data:`MIRRORS`."""
    env = os.environ.get(MIRRORS_ENV)
    if env is not None and env.strip():
        return [m.strip() for m in env.split(",") if m.strip()]
    return list(MIRRORS)


def _check_sha256(data: bytes, name: str, path) -> None:
    expected = SHA256_UNCOMPRESSED[name]
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DataError(
            f"{path}: SHA-256 mismatch of the decompressed IDX data (expected {expected}, "
            f"got {got}); delete it to download again"
        )


def _load_verified(path: Path, name: str) -> np.ndarray:
    data = read_bytes(path, IDX_BYTES[name])
    _check_sha256(data, name, path)
    return parse_idx(data, path)


def _find(name: str, dirs) -> Path | None:
    for d in dirs:
        for candidate in (d / name, d / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _download(name: str, target: Path, progress: bool) -> Path:
    def verify(part):
        _check_sha256(read_bytes(part, IDX_BYTES[name]), name, part)

    target.mkdir(parents=True, exist_ok=True)
    return download_from_mirrors(
        mirrors(), f"{name}.gz", target / f"{name}.gz", progress=progress, verify=verify
    )


def _search_dirs(data_dir) -> tuple[list[Path], Path]:
    """(directories to look in, directory to download into)."""
    if data_dir is None:
        root = default_data_dir()
        return [root / "mnist", root], root / "mnist"
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DataError(f"data directory {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data directory {root} is not a directory")
    return [root, root / "mnist"], root


def load_mnist(split="train", data_dir=None, download=True, progress=True):
    """MNIST ``split`` ("train": 60,000, "test": 10,000) as (images uint8 (N,28,28), labels int64).

    Looks for the files in ``data_dir`` or its ``mnist`` subfolder (default:
    ``default_data_dir()/mnist``); missing files are downloaded there when ``download``.
    Every file is verified by the SHA-256 of its decompressed content; a missing, truncated,
    corrupt or mismatched file raises DataError naming it.
    """
    if split not in FILES:
        raise DataArgumentError(f"unknown MNIST split {split!r}; use 'train' or 'test'")
    dirs, target = _search_dirs(data_dir)
    arrays = []
    for name in FILES[split]:
        path = _find(name, dirs)
        if path is None:
            if not download:
                where = ", ".join(str(d) for d in dirs)
                raise DataError(
                    f"{target / name}: not found (looked for {name} and {name}.gz in {where}; "
                    "download=False)"
                )
            path = _download(name, target, progress)
        arrays.append((path, _load_verified(path, name)))
    (ipath, images), (lpath, labels) = arrays
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{ipath}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{lpath}: expected uint8 labels (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{ipath} holds {len(images)} images but {lpath} holds {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{lpath}: labels outside 0..9 (max {labels.max()})")
    return images, labels.astype(np.int64)
