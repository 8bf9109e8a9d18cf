"""Datasets, the data loader, and MNIST (IDX files, download, the packaged mnist-mini).

``fovea.data.download.download(url, dest_path, ...)`` is the resumable, verified downloader.
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
from .datasets import DATASET_INFO, dataset_info, load_dataset
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
