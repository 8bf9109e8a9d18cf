"""The one inference path: a model's logits over host images in batches (eval mode, no graph),
their softmax probabilities and test-time augmentation, the loss and accuracy of a loader or
of arrays, and an image file's pixels brought to a model's input.

A host batch becomes the model's input Tensor in one place, :func:`to_batch`; a model output
comes back to the host in one call, ``backend.to_numpy(tensor.data)``.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import numpy as np

from .. import backend, distributed
from ..autograd import Tensor, no_grad
from ..backend import to_device, to_numpy
from ..data.augment import predict_tta
from ..errors import ShapeError
from ..filters.color import luminance, to_unit_range
from ..nn import CrossEntropyLoss
from ..ops import clamp, cross_entropy, log, softmax

BATCH_SIZE = 500

__all__ = ["BATCH_SIZE", "to_batch", "model_device", "inference", "predict_logits", "predict_proba",
           "majority_vote", "flatten_positions", "count_correct", "evaluate", "evaluate_arrays", "to_input"]


def to_batch(x, transform=None, device=None) -> Tensor:
    """A host array (a batch of images or labels) as a Tensor for the model: through
    ``transform`` (normalization, preprocessing: host code, as the data layer) when given,
    then moved to ``device`` (the CPU by default)."""
    if transform is not None:
        x = transform(x)
    return Tensor(to_device(x, device))


def model_device(model):
    """The device of ``model``'s parameters (the CPU for a model without any): where its
    input batches go."""
    for p in model.parameters():
        return backend.device_of(p.data)
    return backend.CPU


@contextmanager
def inference(model):
    """Inside the block ``model`` is in eval mode and no graph is recorded; its mode is
    restored after it."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield model
    finally:
        model.train(was_training)


def _outputs(model, images, transform, batch_size, head=None) -> np.ndarray:
    """``head(model(batch))`` (or the logits) of every batch of ``images``, on the host."""
    if len(images) == 0:
        raise ValueError("no images to predict")
    parts = []
    device = model_device(model)
    with inference(model):
        for start in range(0, len(images), batch_size):
            out = model(to_batch(images[start:start + batch_size], transform, device))
            parts.append(to_numpy((out if head is None else head(out)).data))
    return np.concatenate(parts)


def predict_logits(model, images, transform=None, batch_size=BATCH_SIZE) -> np.ndarray:
    """Logits (N, classes) of host ``images`` (N, C, H, W), ``batch_size`` at a time through
    ``transform``, in eval mode without a graph; a host array."""
    return _outputs(model, images, transform, batch_size)


def predict_proba(model, images, transform=None, batch_size=BATCH_SIZE, tta=False):
    """Softmax probabilities (N, classes) for host ``images`` (N, C, H, W) in [0, 1]; with
    ``tta`` averaged over their flipped and shifted views (:func:`fovea.data.tta_views`)."""
    if tta:
        return predict_tta(lambda view: predict_logits(model, view, transform, batch_size),
                           images)
    return _outputs(model, images, transform, batch_size, head=lambda z: softmax(z, dim=1))


def majority_vote(probs) -> np.ndarray:
    """The class most members predict, from their probabilities (members, N, classes); a tie
    goes to the class with the larger mean probability. Returns (N,) class indices."""
    probs = np.asarray(probs)
    counts = (probs.argmax(-1)[..., None] == np.arange(probs.shape[-1])).sum(0)
    return np.argmax(counts + 1e-3 * probs.mean(0), axis=-1)


def flatten_positions(logits, targets) -> tuple:
    """A sequence model's logits (N, T, V) and targets (N, T) as (N·T, V) and (N·T,): every
    position is a sample of the loss and the accuracy (nanoGPT's ``view(-1, V)``). Other
    shapes pass through."""
    if logits.ndim == 3 and targets.ndim == 2:
        return logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    return logits, targets


def count_correct(logits, targets) -> int:
    """Correct argmax predictions; soft targets (probabilities) count by their argmax."""
    t = targets.data
    if t.ndim == 2:
        t = t.argmax(axis=1)
    return int((logits.data.argmax(axis=1) == t).sum())


def evaluate(model, loader, loss_fn=None, transform=None, ema=None, shard=False) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader`` (eval mode, no graph); with ``ema``
    the averaged weights are evaluated. With ``shard`` each process of a distributed job
    evaluates every world_size-th batch and the sums are combined: every process gets the
    whole loader's metrics."""
    if ema is not None:
        with ema.swapped_in(model):
            return evaluate(model, loader, loss_fn, transform, shard=shard)
    loss_fn = loss_fn or CrossEntropyLoss()
    total_loss, correct, n = 0.0, 0, 0
    batches = loader
    if shard and distributed.world_size() > 1:
        batches = itertools.islice(loader, distributed.rank(), None, distributed.world_size())
    device = model_device(model)
    with inference(model):
        for x, y in batches:
            x, y = to_batch(x, transform, device), to_batch(y, device=device)
            logits, y = flatten_positions(model(x), y)
            total_loss += float(loss_fn(logits, y).item()) * len(y)
            correct += count_correct(logits, y)
            n += len(y)
    if shard:
        total_loss, correct, n = distributed.sum_over_ranks([total_loss, correct, n])
        correct, n = int(correct), int(n)
    if n == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return {"loss": total_loss / n, "accuracy": correct / n, "n": n}


def evaluate_arrays(model, images, labels, transform=None, batch_size=BATCH_SIZE,
                    tta=False) -> dict:
    """Cross-entropy loss, accuracy and count of ``model`` on host ``images`` and class
    ``labels``. With ``tta`` both come from the probabilities averaged over the test-time views:
    the loss is −log of the mean probability of the true class."""
    if tta:
        probs = predict_proba(model, images, transform, batch_size, tta=True)
        # log-probabilities are their own log_softmax, so cross_entropy takes them as logits;
        # the clamp keeps a probability that rounded to zero finite
        scores = log(clamp(to_batch(probs), min=float(np.finfo(probs.dtype).tiny)))
        predicted = probs.argmax(axis=1)
    else:
        logits = predict_logits(model, images, transform, batch_size)
        scores = to_batch(logits)
        predicted = logits.argmax(axis=1)
    loss = float(cross_entropy(scores, to_batch(labels)).item())
    return {"loss": loss, "accuracy": float((predicted == labels).mean()), "n": int(len(labels))}


# ---- an image file's pixels as a model's input ---------------------------------------------
def _resize(channel: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image  # Pillow loads when an image is resized, as in fovea.filters.io

    im = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32))
    return np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.float32)


def to_input(pixels: np.ndarray, shape) -> np.ndarray:
    """An image as :func:`fovea.filters.read_image` gives it ((H, W) or (H, W, 3)) as a float32
    (C, H, W) sample of a model's input ``shape``, the way the training images were made:

    - pixels scaled to [0, 1] (8-bit by 255, 16-bit by 65535; float images taken as [0, 1]
      values and clipped);
    - a colour image for a one-channel model becomes its luminance (ITU-R 601: 0.299 R +
      0.587 G + 0.114 B, as Pillow's "L"); a grayscale image for a three-channel model is
      repeated over the channels;
    - resized to H × W with Pillow's bilinear filter when its size differs (no cropping: the
      aspect ratio is not kept).
    """
    c, h, w = (int(n) for n in shape)
    x = to_unit_range(np.asarray(pixels))
    if not np.isfinite(x).all():
        raise ValueError("the image has NaN or infinite values")
    x = np.clip(x, 0, 1)
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
        x = luminance(x, axis=0)[None]
    elif c == 3 and x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    elif c != x.shape[0]:
        raise ShapeError(f"the model takes {c} channels; cannot convert a "
                         f"{x.shape[0]}-channel image")
    if x.shape[1:] != (h, w):
        x = np.stack([_resize(ch, h, w) for ch in x])
    return np.ascontiguousarray(x, dtype=np.float32)
