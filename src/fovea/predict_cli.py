"""``fovea predict RUN_DIR IMAGE [IMAGE ...] [--top-k 5] [--json]``: classify image files.

Each image is read with :func:`fovea.filters.read_image` and brought to the run's input shape
(C, H, W) the way the training images were:

- pixels scaled to [0, 1] (8-bit by 255, 16-bit by 65535; float images taken as [0, 1] values
  and clipped);
- a colour image for a one-channel model becomes its luminance (ITU-R 601: 0.299 R +
  0.587 G + 0.114 B, as Pillow's "L"); a grayscale image for a three-channel model is
  repeated over the channels;
- resized to H × W with Pillow's bilinear filter when its size differs (no cropping: the
  aspect ratio is not kept);

then the run's own preprocessing (its normalization or fitted transform) is applied and the
model's softmax probabilities give the top-k classes, named by the dataset's class names
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

from .cli_types import positive_int
from .errors import FoveaError, ShapeError

EXIT_FAILED = 2
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


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
    p.set_defaults(func=cmd_predict)
    return p


def _scaled(pixels: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1]."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / np.float32(65535)
    out = pixels.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError("the image has NaN or infinite values")
    return np.clip(out, 0, 1)


def _resize(channel: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32))
    return np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.float32)


def to_input(pixels: np.ndarray, shape) -> np.ndarray:
    """An image array as read by read_image ((H, W) or (H, W, 3)) as a float32 (C, H, W)
    sample of the model's input ``shape`` (see the module docstring)."""
    c, h, w = (int(n) for n in shape)
    x = _scaled(np.asarray(pixels))
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 3 and x.shape[2] == 3:
        x = np.moveaxis(x, 2, 0)
    else:
        raise ShapeError(f"expected a grayscale or RGB image, got an array of shape "
                         f"{pixels.shape}")
    if c == 1 and x.shape[0] == 3:
        x = np.tensordot(_LUMA, x, axes=1)[None]
    elif c == 3 and x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    elif c != x.shape[0]:
        raise ShapeError(f"the model takes {c} channels; cannot convert a "
                         f"{x.shape[0]}-channel image")
    if x.shape[1:] != (h, w):
        x = np.stack([_resize(ch, h, w) for ch in x])
    return np.ascontiguousarray(x, dtype=np.float32)


def _reason(exc: Exception, image: Path) -> str:
    """The error's message without the path it starts with (the line names the image)."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for prefix in (f"{image}: ", f"{image.resolve()}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def cmd_predict(args) -> int:
    from .data import dataset_info
    from .filters.io import read_image
    from .train.session import load_run, predict_proba

    model, transform, config = load_run(args.run_dir)
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
