"""Datasets by name: ``load_dataset("mnist-mini" | "mnist", split)`` and their metadata."""

from __future__ import annotations

import numpy as np

from .dataset import DataArgumentError, TensorDataset
from .mini import load_mnist_mini
from .mnist import load_mnist

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
}
"""Per dataset: num_classes, input_shape (C, H, W), class names, per-channel mean/std, sizes."""


def to_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) as float32 (N, 1, H, W) scaled to [0, 1]."""
    out = images.astype(np.float32)[:, None]
    out *= np.float32(1 / 255)
    return out


def load_dataset(name, split="train", data_dir=None, download=True, progress=True):
    """Dataset ``name`` as a TensorDataset(images float32 (N,1,28,28) in [0, 1], labels int64).

    ``data_dir`` and ``download`` apply to datasets read from files ("mnist"); "mnist-mini"
    ships with the package.
    """
    if name == "mnist-mini":
        images, labels = load_mnist_mini(split)
    elif name == "mnist":
        images, labels = load_mnist(split, data_dir=data_dir, download=download, progress=progress)
    else:
        known = ", ".join(DATASET_INFO)
        raise DataArgumentError(f"unknown dataset {name!r}; known datasets: {known}")
    return TensorDataset(to_float_images(images), labels)
