"""What the lab's training experiments share: MNIST drawn by the seed, a plain SGD loop that
records the loss, gradient norms, loss-curve measures and figure helpers."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .. import backend, nn, optim
from ..autograd import Tensor, no_grad
from ..data import load_mnist, load_mnist_mini
from ..data.registry import DATASET_INFO, to_float_images
from ..errors import DataError
from ..nn import functional as F
from ..train.predict import predict_logits
from ..viz import _save
from .record import Context
from .registry import EXPERIMENTS

SHARED_MNIST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist"
"""The project's MNIST files (``../shared/data/mnist`` beside the repository), used in full mode."""

_MEAN, _STD = DATASET_INFO["mnist"]["mean"][0], DATASET_INFO["mnist"]["std"][0]


def _mnist(ctx: Context, split: str, n: int):
    """``n`` standardized images (n, 1, 28, 28) float32 and their labels, drawn by the seed:
    MNIST from the shared folder in full mode when present, else the packaged mnist-mini.
    Returns (images, labels, the data set's name)."""
    name, arrays = "mnist-mini", None
    if not ctx.quick and SHARED_MNIST.is_dir():
        try:
            arrays, name = load_mnist(split, data_dir=SHARED_MNIST, download=False,
                                      progress=False), "MNIST"
        except DataError:
            arrays = None
    if arrays is None:
        arrays = load_mnist_mini(split)
    images, labels = arrays
    pick = np.random.default_rng(ctx.seed).permutation(len(labels))[:n]
    x = (to_float_images(images[pick]) - np.float32(_MEAN)) / np.float32(_STD)
    return x.astype(np.float32), labels[pick].astype(np.int64), name


def _seed(ctx: Context, offset: int = 0) -> None:
    backend.manual_seed(ctx.seed + offset)


def _numpy(t) -> np.ndarray:
    return np.asarray(backend.to_numpy(t.data if isinstance(t, Tensor) else t))


def _train(model, x, y, steps: int, lr: float, batch: int, seed: int, momentum=0.9,
           probe=None, after_step=None):
    """``steps`` of SGD on random batches of (x, y); returns the loss of every step (a NaN or
    inf ends the run early: the rest are reported as inf). With ``probe`` = (images, labels),
    returns (step losses, the probe batch's loss after every step) instead: a fixed batch
    shows how the parameters move, without the noise of drawing batches. ``after_step(model)``
    is called after every optimizer step (a weight average, checkpoints)."""
    model.train()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    losses, probed = [], []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run overflows on purpose
        for _ in range(steps):
            idx = rng.integers(0, len(y), batch)
            loss = F.cross_entropy(model(Tensor(x[idx])), Tensor(y[idx]))
            value = float(loss.item())
            losses.append(value)
            if not math.isfinite(value):
                losses += [math.inf] * (steps - len(losses))
                probed += [math.inf] * (steps - len(probed))
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(model)
            if probe is not None:
                with no_grad():
                    probed.append(float(F.cross_entropy(model(Tensor(probe[0])),
                                                        Tensor(probe[1])).item()))
    return losses if probe is None else (losses, probed)


def _claim(name: str) -> str:
    """The claim an experiment was registered with (said once, in its decorator)."""
    return EXPERIMENTS[name].claim


def _linears(model) -> list:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def _label(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def _save_figure(ctx: Context, fig, name: str) -> str:
    """Save ``fig`` as ``name`` in the experiment's figure folder; returns the name."""
    _save(fig, ctx.figure_path(name))
    return name


def _accuracy(model, x, y) -> float:
    """The fraction of ``x`` whose highest logit (eval mode, batched) is the label ``y``."""
    return float((predict_logits(model, x).argmax(1) == y).mean())


def _grad_norms(model, x, y) -> list:
    """The Frobenius norm of dL/dW of every Linear layer, input side first, on one batch."""
    model.zero_grad()
    F.cross_entropy(model(Tensor(x)), Tensor(y)).backward()
    return [float(np.linalg.norm(_numpy(m.weight.grad))) for m in _linears(model)]


def _smooth(losses, width: int = 20) -> np.ndarray:
    """The running mean of the last ``width`` step losses (fewer at the start)."""
    c = np.cumsum(np.asarray(losses, dtype=np.float64))
    out = c.copy()
    out[width:] = c[width:] - c[:-width]
    return out / np.minimum(np.arange(1, len(c) + 1), width)


def _steps_to(curve: np.ndarray, level: float) -> int:
    """The first step (1-based) at which a smoothed loss curve is below ``level``; the curve's
    length + 1 if it never is."""
    below = np.flatnonzero(curve < level)
    return int(below[0]) + 1 if below.size else len(curve) + 1


def _best_time(fn, repeats: int, batch_seconds: float = 0.02) -> float:
    """Seconds per call of ``fn``: the best of ``repeats`` batches, each of enough calls to last
    about ``batch_seconds`` (one call alone is too short to time through a busy machine's
    noise)."""
    t = time.perf_counter()
    fn()
    calls = max(1, int(batch_seconds / max(time.perf_counter() - t, 1e-6)))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best
