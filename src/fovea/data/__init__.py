"""Datasets, the data loader, preprocessing and augmentation, all on the host in NumPy.

- ``dataset``: the Dataset base classes (Dataset, TensorDataset, Subset);
- ``registry``: the datasets by name (``load_dataset``, ``dataset_info``, DATASET_INFO);
- ``mnist``, ``fashion``, ``cifar``, ``folder``, ``mini``, ``idx``: the readers behind them;
  ``download.download(url, dest_path, ...)`` is the resumable, verified downloader;
- ``loader``: DataLoader; ``preprocess``: Normalize and the fitted preprocessors;
  ``augment``: batch augmentation and test-time views.
"""

from .augment import (
                      AugmentError,
                      AugmentSpecError,
                      ColorJitter,
                      Compose,
                      CutMix,
                      Cutout,
                      Mixup,
                      RandomAffine,
                      RandomCrop,
                      RandomHorizontalFlip,
                      parse_augment,
                      predict_tta,
                      tta_views,
)
from .cifar import load_cifar10
from .dataset import DataArgumentError, Dataset, Subset, TensorDataset
from .fashion import load_fashion_mnist
from .folder import ImageFolder
from .idx import read_idx, write_idx
from .loader import DataLoader
from .mini import load_mnist_mini
from .mnist import default_data_dir, load_mnist
from .preprocess import (
                      Center,
                      Normalize,
                      NotFittedError,
                      PCAWhiten,
                      PreprocessError,
                      Standardize,
                      ZCAWhiten,
                      load_preprocessor,
                      make_preprocessor,
)
from .registry import DATASET_INFO, dataset_info, load_dataset

__all__ = [
    "AugmentError", "AugmentSpecError", "ColorJitter", "Compose", "CutMix", "Cutout", "Mixup",
    "RandomAffine", "RandomCrop", "RandomHorizontalFlip", "parse_augment", "predict_tta",
    "tta_views", "Center", "Normalize", "NotFittedError", "PCAWhiten", "PreprocessError",
    "Standardize", "ZCAWhiten", "load_preprocessor", "make_preprocessor",
    "DATASET_INFO", "dataset_info", "load_cifar10", "load_fashion_mnist", "ImageFolder",
    "DataArgumentError",
    "DataLoader",
    "Dataset",
    "Subset",
    "TensorDataset",
    "default_data_dir",
    "load_dataset",
    "load_mnist",
    "load_mnist_mini",
    "read_idx",
    "write_idx",
]
