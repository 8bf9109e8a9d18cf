"""Fashion-MNIST (Zalando Research) from its four IDX files, verified, downloaded on demand.

The files have the same names and format as MNIST's (see :mod:`fovea.data.mnist`), so they live
in their own folder, ``<data dir>/fashion-mnist``.

Checksums: no trusted source publishes the SHA-256 of the *decompressed* Fashion-MNIST files,
and we do not invent one. What is published is about the ``.gz`` files as Zalando serves them:

- :data:`GZ_SHA256` (and the sizes in :data:`GZ_SIZE`): TensorFlow Datasets' table
  ``tensorflow_datasets/url_checksums/fashion_mnist.txt`` (SHA-256 and byte count of each
  ``.gz`` at ``fashion-mnist.s3-website.eu-central-1.amazonaws.com``);
- :data:`GZ_MD5`: the MD5 column of the Fashion-MNIST README (github.com/zalandoresearch/
  fashion-mnist), the same values torchvision's ``FashionMNIST.resources`` checks.

So the verification is:

- a download must be byte-identical to the published ``.gz`` (SHA-256, and MD5 as a cross
  check); a mirror serving anything else is rejected and the next one is tried;
- a local ``.gz`` that matches is verified; any other local file (the decompressed IDX, or a
  re-compressed ``.gz``) cannot be checked against a published value, so only its structure is
  checked — gzip CRC, IDX magic, shape (N, 28, 28), the split's count (60,000 / 10,000) and
  labels in 0..9 — and a warning says so, once per file. A file that decompresses to MNIST
  (its known SHA-256) is refused: the file names are the same, and the mix-up is easy.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import read_regular
from . import mnist as _mnist
from .dataset import DataArgumentError
from .download import download_from_mirrors
from .idx import parse_idx, read_bytes

FILES = _mnist.FILES
"""The (images, labels) file names of each split, without ``.gz`` (the same as MNIST's)."""

FOLDER = "fashion-mnist"
"""The folder under the data directory that holds the files."""

COUNTS = {"train": 60_000, "test": 10_000}
"""The number of images (and labels) of each split."""

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot")
"""The class names, by label."""

GZ_SHA256 = {
    "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
"""SHA-256 of each published ``.gz`` file (source: TensorFlow Datasets' url_checksums)."""

GZ_SIZE = {
    "train-images-idx3-ubyte": 26_421_880,
    "train-labels-idx1-ubyte": 29_515,
    "t10k-images-idx3-ubyte": 4_422_102,
    "t10k-labels-idx1-ubyte": 5_148,
}
"""Byte count of each published ``.gz`` file (same source); documentation, not checked."""

GZ_MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
"""MD5 of each published ``.gz`` file (source: the Fashion-MNIST README; torchvision)."""

MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]
"""Base URLs serving ``<name>.gz`` (Zalando's S3 bucket, then the dataset's own repository),
tried in order; ``$FOVEA_FASHION_MNIST_MIRRORS`` (comma-separated) overrides them. The S3
website endpoint is plain HTTP: the SHA-256 check is what makes a download trustworthy."""

MIRRORS_ENV = "FOVEA_FASHION_MNIST_MIRRORS"

_warned: set = set()


def mirrors() -> list[str]:
    """The mirrors to try: ``$FOVEA_FASHION_MNIST_MIRRORS`` (comma-separated) or :data:`MIRRORS`."""
    env = os.environ.get(MIRRORS_ENV)
    if env is not None and env.strip():
        return [m.strip() for m in env.split(",") if m.strip()]
    return list(MIRRORS)


def is_published_gz(raw: bytes, name: str) -> bool:
    """Whether ``raw`` are the bytes of the published ``<name>.gz`` (SHA-256, and MD5 where
    :data:`GZ_MD5` has it)."""
    if hashlib.sha256(raw).hexdigest() != GZ_SHA256[name]:
        return False
    md5 = GZ_MD5.get(name)
    return md5 is None or hashlib.md5(raw, usedforsecurity=False).hexdigest() == md5


def _check_structure(array: np.ndarray, name: str, split: str, path) -> None:
    n = COUNTS[split]
    if name.endswith("idx3-ubyte"):
        if array.dtype != np.uint8 or array.shape != (n, 28, 28):
            raise DataError(f"{path}: expected uint8 images ({n}, 28, 28), got "
                            f"{array.dtype} {array.shape}")
    else:
        if array.dtype != np.uint8 or array.shape != (n,):
            raise DataError(f"{path}: expected uint8 labels ({n},), got {array.dtype} "
                            f"{array.shape}")
        if array.size and array.max() > 9:
            raise DataError(f"{path}: labels outside 0..9 (max {array.max()})")


def _load_verified(path: Path, name: str, split: str) -> np.ndarray:
    """The array of ``path``: published bytes, or a sound structure (with a warning)."""
    size = _mnist.IDX_BYTES[name]
    data = read_bytes(path, size)  # a DataError for a missing, empty, truncated or corrupt file
    raw = read_regular(path, 2 * size)  # gzip may enlarge incompressible bytes a little
    published = raw[:2] == b"\x1f\x8b" and is_published_gz(raw, name)
    if not published:
        if hashlib.sha256(data).hexdigest() == _mnist.SHA256_UNCOMPRESSED.get(name):
            raise DataError(f"{path}: this is the MNIST file {name}, not Fashion-MNIST's "
                            f"(the two datasets use the same file names)")
    array = parse_idx(data, path)
    _check_structure(array, name, split, path)
    if not published and str(path) not in _warned:
        _warned.add(str(path))
        warnings.warn(
            f"{path}: not the published {name}.gz (its SHA-256 differs, or it is "
            "decompressed), so only its structure was checked; delete it to download the "
            "verified file", stacklevel=3)
    return array


def _find(name: str, folder: Path) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):  # the verifiable .gz first
        if candidate.is_file():
            return candidate
    return None


def _download(name: str, split: str, target: Path, progress: bool) -> Path:
    def verify(part):
        size = _mnist.IDX_BYTES[name]
        _check_structure(parse_idx(read_bytes(part, size), part), name, split, part)
        md5 = GZ_MD5.get(name)
        if md5 is not None and hashlib.md5(read_regular(part, 2 * size),
                                           usedforsecurity=False).hexdigest() != md5:
            raise DataError(f"{part}: MD5 mismatch (expected {md5})")

    target.mkdir(parents=True, exist_ok=True)
    return download_from_mirrors(mirrors(), f"{name}.gz", target / f"{name}.gz",
                                 expected_sha256=GZ_SHA256[name], progress=progress,
                                 verify=verify)


def fashion_dir(data_dir=None) -> Path:
    """The folder of the files: ``<data_dir>/fashion-mnist`` (default data dir: see
    :func:`fovea.data.mnist.default_data_dir`). DataError if ``data_dir`` does not exist."""
    if data_dir is None:
        return _mnist.default_data_dir() / FOLDER
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DataError(f"data directory {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data directory {root} is not a directory")
    return root / FOLDER


def load_fashion_mnist(split="train", data_dir=None, download=True, progress=True):
    """Fashion-MNIST ``split`` ("train": 60,000, "test": 10,000) as (images uint8 (N, 28, 28),
    labels int64), read from ``<data_dir>/fashion-mnist`` (``<name>.gz`` or ``<name>``) and
    downloaded there when missing and ``download``. See the module docstring for how files are
    verified; any bad file raises DataError naming it."""
    if split not in FILES:
        raise DataArgumentError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    folder = fashion_dir(data_dir)
    arrays = []
    for name in FILES[split]:
        path = _find(name, folder)
        if path is None:
            if not download:
                raise DataError(f"{folder / name}: not found (looked for {name}.gz and {name} "
                                f"in {folder}; download=False)")
            path = _download(name, split, folder, progress)
        arrays.append((path, _load_verified(path, name, split)))
    (ipath, images), (lpath, labels) = arrays
    if len(images) != len(labels):  # only when COUNTS is changed between the two files
        raise DataError(f"{ipath} holds {len(images)} images but {lpath} holds "
                        f"{len(labels)} labels")
    return images, labels.astype(np.int64)
