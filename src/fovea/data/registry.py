"""Datasets by name and their metadata.

``load_dataset(name, split)`` for "mnist-mini", "mnist", "fashion-mnist", "cifar10", and
"folder:PATH" (a folder of images, one sub-folder per class: see :mod:`fovea.data.folder`).
The text datasets ("shakespeare", "text:PATH") are :mod:`fovea.data.text`'s (``load_text``);
their names are known here, so that an image loader asked for one says so.
``DATASET_INFO`` holds the metadata of the named datasets; ``dataset_info(name, data_dir)`` also
answers for "folder:PATH", whose statistics it computes from the folder's training images.

A folder's splits: ``PATH/train`` and ``PATH/test`` (or ``PATH/val``) when both are folders;
otherwise every image under PATH, of which a stratified, seeded 20% (per class,
:data:`FOLDER_TEST_FRACTION`, seed :data:`FOLDER_SPLIT_SEED`) is the test split and the rest
the training split. Images keep their size (they must all share it) and their mode is "auto"
("RGB" if any image is in colour); a test split is read in the training split's mode, and
must have its image size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import cifar as _cifar
from . import fashion as _fashion
from .dataset import DataArgumentError, TensorDataset
from .folder import IMG_EXTENSIONS, ImageFolder, walk
from .mini import load_mnist_mini
from .mnist import load_mnist
from .text import is_text_dataset

_MNIST_INFO = {
    "num_classes": 10,
    "input_shape": (1, 28, 28),
    "classes": tuple(str(d) for d in range(10)),
    "mean": (0.1307,),  # per channel, of pixels scaled to [0, 1] (full MNIST train set)
    "std": (0.3081,),
}

DATASET_INFO = {
    "mnist-mini": {**_MNIST_INFO, "splits": {"train": 10_000, "test": 2_000}},
    "mnist": {**_MNIST_INFO, "splits": {"train": 60_000, "test": 10_000}},
    "fashion-mnist": {
        "num_classes": 10,
        "input_shape": (1, 28, 28),
        "classes": _fashion.CLASSES,
        "mean": (0.2860,),  # the full Fashion-MNIST train set
        "std": (0.3530,),
        "splits": {"train": 60_000, "test": 10_000},
    },
    "cifar10": {
        "num_classes": 10,
        "input_shape": (3, 32, 32),
        "classes": _cifar.CLASSES,
        "mean": (0.4914, 0.4822, 0.4465),  # R, G, B of the full CIFAR-10 train set
        "std": (0.2470, 0.2435, 0.2616),
        "splits": {"train": 50_000, "test": 10_000},
    },
}
"""Per dataset: num_classes, input_shape (C, H, W), class names, per-channel mean/std, sizes."""

FOLDER_PREFIX = "folder:"
FOLDER_TEST_FRACTION = 0.2
FOLDER_SPLIT_SEED = 0
_FOLDER_CACHE_SIZE = 2
_folder_cache: dict = {}


def to_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) or (N, C, H, W) as float32 (N, C, H, W) scaled to [0, 1]."""
    out = images.astype(np.float32)
    if out.ndim == 3:
        out = out[:, None]
    out *= np.float32(1 / 255)
    return out


def folder_root(name) -> Path | None:
    """The PATH of a "folder:PATH" dataset name (None for any other name)."""
    if not isinstance(name, str) or not name.startswith(FOLDER_PREFIX):
        return None
    path = name[len(FOLDER_PREFIX):]
    if not path:
        raise DataArgumentError(f"dataset {name!r}: give the folder, as folder:PATH")
    return Path(path).expanduser()


def _fingerprint(root: Path) -> str:
    """A digest of every file's path, size and modification time under ``root``."""
    h = hashlib.sha256()
    for dirpath, filenames in walk(root):
        for f in filenames:
            try:
                st = os.stat(os.path.join(dirpath, f))
            except OSError:
                continue
            h.update(f"{os.path.relpath(dirpath, root)}/{f}\0{st.st_size}\0"
                     f"{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _split_dirs(root: Path):
    """(train folder, test folder) when ``root`` has both, else None."""
    train = root / "train"
    if not train.is_dir():
        return None
    for name in ("test", "val"):
        if (root / name).is_dir():
            return train, root / name
    return None


def _stratified_test_mask(labels: np.ndarray, num_classes: int) -> np.ndarray:
    rng = np.random.default_rng(FOLDER_SPLIT_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        n_test = int(round(len(idx) * FOLDER_TEST_FRACTION))
        test[rng.permutation(idx)[:n_test]] = True
    return test


def _read_folder(root: Path) -> dict:
    if not root.exists():
        raise DataError(f"{root}: no such folder (dataset folder:{root})")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (dataset folder:{root})")
    dirs = _split_dirs(root)
    if dirs is not None:
        train = ImageFolder(dirs[0], extensions=IMG_EXTENSIONS)
        test = ImageFolder(dirs[1], mode=train.mode, classes=train.classes)
        tr_shape, te_shape = train.arrays[0].shape[1:], test.arrays[0].shape[1:]
        if tr_shape[1:] != te_shape[1:]:
            raise DataError(f"{test.samples[0][0]}: test images are {te_shape[1]}×"
                            f"{te_shape[2]}, the training images ({dirs[0]}) "
                            f"{tr_shape[1]}×{tr_shape[2]}")
        splits = {"train": train.arrays, "test": test.arrays}
        classes, mode = train.classes, train.mode
    else:
        full = ImageFolder(root)
        images, labels = full.arrays
        test = _stratified_test_mask(labels, len(full.classes))
        splits = {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}
        classes, mode = full.classes, full.mode
    return {"splits": splits, "classes": tuple(classes), "mode": mode}


def _load_folder(root: Path) -> dict:
    """The folder's splits, read once per content (cached on its files' sizes and times)."""
    try:
        key = (str(root.resolve()), _fingerprint(root) if root.is_dir() else "")
    except OSError:
        key = None
    if key is not None and key in _folder_cache:
        return _folder_cache[key]
    entry = _read_folder(root)
    if key is not None:
        _folder_cache[key] = entry
        while len(_folder_cache) > _FOLDER_CACHE_SIZE:
            _folder_cache.pop(next(iter(_folder_cache)))
    return entry


def _folder_info(root: Path) -> dict:
    entry = _load_folder(root)
    images = entry["splits"]["train"][0]
    if "mean" not in entry:
        if len(images):
            mean = images.mean(axis=(0, 2, 3), dtype=np.float64)
            std = images.std(axis=(0, 2, 3), dtype=np.float64)
        else:
            mean = std = np.ones(images.shape[1])
        entry["mean"] = tuple(float(m) for m in mean)
        # a constant channel: any std gives 0 after centring, 1 avoids dividing by 0
        entry["std"] = tuple(float(s) if s > 1e-6 else 1.0 for s in std)
    return {
        "num_classes": len(entry["classes"]),
        "input_shape": tuple(int(d) for d in images.shape[1:]),
        "classes": entry["classes"],
        "mean": entry["mean"],
        "std": entry["std"],
        "splits": {k: int(len(v[1])) for k, v in entry["splits"].items()},
        "mode": entry["mode"],
        "root": str(root),
    }


def dataset_info(name, data_dir=None) -> dict:
    """The metadata of dataset ``name`` (as :data:`DATASET_INFO`), also for "folder:PATH": its
    classes, input shape, split sizes and the per-channel mean/std of its training images
    (reading the folder once per process). ``data_dir`` is not needed by the named datasets,
    whose statistics are those of their full training sets."""
    root = folder_root(name)
    if root is not None:
        return _folder_info(root)
    if name in DATASET_INFO:
        return dict(DATASET_INFO[name])
    if is_text_dataset(name):
        raise _not_images(name)
    raise DataArgumentError(f"unknown dataset {name!r}; known datasets: {_known()}")


def _known() -> str:
    return ", ".join([*DATASET_INFO, "folder:PATH"])


def _not_images(name) -> DataArgumentError:
    return DataArgumentError(f"{name} is a text dataset (load it with "
                             f"fovea.data.text.load_text); the image datasets: {_known()}")


def load_dataset(name, split="train", data_dir=None, download=True, progress=True):
    """Dataset ``name`` as a TensorDataset(images float32 (N, C, H, W) in [0, 1], labels int64).

    ``name``: "mnist-mini" (ships with the package), "mnist", "fashion-mnist", "cifar10" (read
    from ``data_dir``, downloaded when missing and ``download``), or "folder:PATH" (see the
    module docstring for its splits). ``split``: "train" or "test".
    """
    root = folder_root(name)
    if root is not None:
        if split not in ("train", "test"):
            raise DataArgumentError(f"unknown split {split!r} of {name}; use 'train' or 'test'")
        images, labels = _load_folder(root)["splits"][split]
        return TensorDataset(images.copy(), labels.copy())  # the cache stays intact
    if name == "mnist-mini":
        images, labels = load_mnist_mini(split)
    elif name == "mnist":
        images, labels = load_mnist(split, data_dir=data_dir, download=download, progress=progress)
    elif name == "fashion-mnist":
        images, labels = _fashion.load_fashion_mnist(split, data_dir=data_dir, download=download,
                                                     progress=progress)
    elif name == "cifar10":
        images, labels = _cifar.load_cifar10(split, data_dir=data_dir, download=download,
                                             progress=progress)
    elif is_text_dataset(name):
        raise _not_images(name)
    else:
        raise DataArgumentError(f"unknown dataset {name!r}; known datasets: {_known()}")
    return TensorDataset(to_float_images(images), labels)
