"""``fovea plot RUN_DIR [--out DIR]``: the plots of a training run.

Writes into DIR (default: the run directory itself)

- ``curves.png``     loss and accuracy per epoch, train and validation, the accuracy gap
                     shaded, and the early-stopping epoch (from ``early_stopping.json``,
                     key "epoch", when the run has one);
- ``lr.png``         the learning rate per epoch;
- ``confusion.png``  the confusion matrix of the saved model on the run's test split;
- ``filters.png``    the first Conv2d layer's filters (models with a convolution);
- ``templates.png``  the class templates (the linear classifier);

and prints each path. A bad run directory is a one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import FoveaError

EARLY_STOPPING = "early_stopping.json"
BATCH_SIZE = 500


def add_plot_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plot", help="draw a run's learning curves, confusion matrix, "
                                           "filters and templates")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the PNG files (default: the run directory)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="override the data directory recorded in the run")
    p.set_defaults(func=cmd_plot)
    return p


def _metrics(run) -> list:
    try:
        return run.metrics()
    except (ValueError, UnicodeDecodeError) as exc:
        raise FoveaError(f"{run.path / 'metrics.jsonl'}: not JSON Lines ({exc})") from None


def _early_stop_epoch(run_path: Path):
    """The "epoch" recorded in early_stopping.json, or None (absent or unreadable: warned)."""
    path = run_path / EARLY_STOPPING
    if not path.is_file():
        return None
    try:
        epoch = json.loads(path.read_text()).get("epoch")
        if epoch is None:
            return None
        if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
            raise ValueError(f"epoch is {epoch!r}")
        return epoch
    except (OSError, ValueError, AttributeError) as exc:
        print(f"fovea plot: warning: ignoring {path} ({exc})", file=sys.stderr)
        return None


def run_transform(run, config):
    """The input transform the run trained with: (x − mean)/std per channel from
    ``config["normalize"]``, or the run's saved preprocessing where the training session
    records another kind (``fovea.train.session.load_transform``)."""
    from .train import Normalize

    try:
        from .train.session import load_transform
    except ImportError:  # an older tree: normalization is the only preprocessing
        load_transform = None
    try:
        if load_transform is not None:
            return load_transform(run, config)
        norm = config.get("normalize")
        return Normalize(norm["mean"], norm["std"]) if norm else None
    except (KeyError, TypeError) as exc:
        raise FoveaError(f"{run.path}: config.json has no usable input normalization "
                         f"({exc})") from None


def _predict_test(model, config, data_dir, transform):
    """(true labels, predicted labels) of the run's test split, transformed as in training,
    in batches of 500 without a graph."""
    from .autograd import Tensor, no_grad
    from .backend import to_device, to_numpy
    from .data import load_dataset

    dataset = load_dataset(config["dataset"], config.get("test_split", "test"),
                           data_dir=data_dir, progress=False)
    images, labels = dataset.arrays[0], dataset.arrays[1]
    preds = []
    model.eval()
    with no_grad():
        for start in range(0, len(images), BATCH_SIZE):
            x = to_device(images[start:start + BATCH_SIZE])
            if transform is not None:
                x = transform(x)
            logits = model(Tensor(x))
            preds.append(to_numpy(logits.data.argmax(axis=1)))
    return labels, np.concatenate(preds) if preds else np.zeros(0, np.int64)


def cmd_plot(args) -> int:
    from . import viz
    from .cli import load_run_model
    from .data import dataset_info
    from .models import LinearClassifier
    from .nn import Conv2d
    from .train import RunDir

    run = RunDir(args.run_dir)
    run.config()  # a bad run directory fails here, on one line
    metrics = _metrics(run)
    model, config = load_run_model(run)
    out = Path(args.out) if args.out is not None else run.path
    if out.exists() and not out.is_dir():
        raise FoveaError(f"{out}: not a directory")
    name = f"{config.get('model', '?')} on {config.get('dataset', '?')}"
    try:
        info = dataset_info(config.get("dataset"), config.get("data_dir"))
    except (FoveaError, OSError, ValueError):  # class names are a nicety: indices will do
        info = {}
    num_classes = int(config["num_classes"])
    classes = list(info.get("classes", ()))
    if len(classes) != num_classes:
        classes = [str(i) for i in range(num_classes)]

    # everything that can fail on bad input runs before the first file is written
    transform = run_transform(run, config)
    data_dir = str(args.data_dir) if args.data_dir is not None else config.get("data_dir")
    y_true, y_pred = _predict_test(model, config, data_dir, transform)
    matrix = viz.confusion_matrix(y_true, y_pred, num_classes)
    early_stop = _early_stop_epoch(run.path)

    written = []
    if metrics:
        written.append(viz.plot_learning_curves(
            metrics, out / "curves.png", early_stop_epoch=early_stop,
            title=f"Learning curves: {name}"))
        schedule = config.get("lr_schedule")
        written.append(viz.plot_lr(metrics, out / "lr.png", title=f"Learning rate: {name}"
                                   + (f" ({schedule} schedule)" if schedule else "")))
    else:
        print(f"fovea plot: warning: {run.path / 'metrics.jsonl'} has no epochs; "
              "skipping curves.png and lr.png", file=sys.stderr)

    written.append(viz.plot_confusion_matrix(
        matrix, classes, out / "confusion.png",
        title=f"{name} test: accuracy {matrix.trace() / max(matrix.sum(), 1):.2%} "
              f"({int(matrix.sum())} images)"))

    conv = next(((n, m) for n, m in model.named_modules() if isinstance(m, Conv2d)), None)
    if conv is not None:
        layer, conv = conv
        o, c, kh, kw = conv.weight.shape
        written.append(viz.plot_filters(
            conv.weight, out / "filters.png",
            title=f"{name}: first convolution ({layer}), {o} filters of {c}×{kh}×{kw}\n"
                  "each min-max scaled on its own"))
    if isinstance(model, LinearClassifier):
        written.append(viz.plot_templates(model.templates(), classes, out / "templates.png",
                                          title=f"{name}: class templates (rows of W)"))
    for path in written:
        print(path)
    return 0
