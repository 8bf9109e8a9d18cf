"""``fovea predict RUN_DIR IMAGE [IMAGE ...] [--top-k 5] [--json]``: classify image files.

Each image is read with :func:`fovea.filters.read_image` and brought to the run's input shape
(C, H, W) the way the training images were (:func:`fovea.train.predict.to_input`: pixels
scaled to [0, 1], luminance or repeated channels, a bilinear resize), then the run's own
preprocessing (its normalization or fitted transform) is applied and the model's softmax
probabilities give the top-k classes, named by the dataset's class names
(``fovea.data.DATASET_INFO``) when it has them. The MNIST models expect a light digit on a dark
background, as in the dataset.

An image that cannot be read prints ``IMAGE: error: …`` on stderr and the others are still
classified; the exit status is 0 when every image was, 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..data import dataset_info
from ..errors import FoveaError
from ..filters.io import read_image
from ..train.predict import predict_proba, to_input
from ..train.session import load_run, training_device
from .args import add_device_option, positive_int

EXIT_FAILED = 2


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "predict", help="classify image files with a run's model",
        description="Classify image files with a trained run's model: each image is "
                    "converted to the run's input shape (channels, bilinear resize, pixels "
                    "in [0, 1]) and preprocessed as in training; prints the top-k classes "
                    "with their probabilities.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--top-k", type=positive_int, default=5,
                   help="how many classes to print per image (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    add_device_option(p)
    p.set_defaults(func=cmd_predict)
    return p


def _reason(exc: Exception, image: Path) -> str:
    """The error's message without the path it starts with (the line names the image)."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for prefix in (f"{image}: ", f"{image.resolve()}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def cmd_predict(args) -> int:
    model, transform, config = load_run(args.run_dir)
    model.to(training_device({"device": args.device}))
    shape = config.get("input_shape")
    if not isinstance(shape, list) or len(shape) != 3:
        raise FoveaError(f"{args.run_dir}: predict needs a model of images (C, H, W); the run's "
                         f"input_shape is {shape!r}")
    try:  # class names from the dataset (folders included); indices when unavailable
        classes = dataset_info(config.get("dataset"), config.get("data_dir")).get("classes")
    except (FoveaError, OSError, ValueError):
        classes = None
    failed, good, samples = 0, [], []
    for image in args.images:
        try:
            samples.append(to_input(read_image(image), shape))
            good.append(image)
        except (FoveaError, OSError, ValueError) as exc:
            failed += 1
            print(f"{image}: error: {_reason(exc, image)}", file=sys.stderr)
    if samples:
        probs = predict_proba(model, np.stack(samples), transform)
        k = min(args.top_k, probs.shape[1])
        for image, p in zip(good, probs):
            top = np.argsort(-p, kind="stable")[:k]
            rows = [{"class": int(i), "name": _name(classes, i),
                     "probability": float(p[i])} for i in top]
            if args.json:
                print(json.dumps({"image": str(image), "predictions": rows}))
            else:
                print(f"{image}:")
                width = max(len(r["name"]) for r in rows)
                for rank, r in enumerate(rows, 1):
                    print(f"  {rank}. {r['name']:<{width}}  {r['probability']:.4f}")
    sys.stdout.flush()
    return EXIT_FAILED if failed else 0


def _name(classes, i) -> str:
    if classes is not None and 0 <= int(i) < len(classes):
        return str(classes[int(i)])
    return str(int(i))
