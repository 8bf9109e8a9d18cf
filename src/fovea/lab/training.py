"""The lab's chapter 3 (training neural networks): the notes' claims about activations,
initialization, batch norm and dropout rerun on MNIST (mnist-mini in quick mode) with fovea's
own MLP, initializers, optimizers and dropout layer."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import backend, nn, optim
from ..autograd import Tensor, no_grad
from ..data import load_mnist, load_mnist_mini
from ..data.registry import DATASET_INFO, to_float_images
from ..errors import DataError
from ..models import MLP
from ..nn import functional as F
from ..ops import sigmoid
from ..viz import _new_figure, _save
from .record import Context, Result
from .registry import EXPERIMENTS, experiment

SHARED_MNIST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mnist"
"""The project's MNIST files (``../shared/data/mnist`` beside the repository), used in full mode."""

_MEAN, _STD = DATASET_INFO["mnist"]["mean"][0], DATASET_INFO["mnist"]["std"][0]


# ---- shared pieces -------------------------------------------------------------------------
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


def _train(model, x, y, steps: int, lr: float, batch: int, seed: int, momentum=0.9):
    """``steps`` of SGD on random batches of (x, y); returns the loss of every step (a NaN or
    inf ends the run early: the rest are reported as inf)."""
    model.train()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        idx = rng.integers(0, len(y), batch)
        loss = F.cross_entropy(model(Tensor(x[idx])), Tensor(y[idx]))
        value = float(loss.item())
        losses.append(value)
        if not math.isfinite(value):
            losses += [math.inf] * (steps - len(losses))
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


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


def _grad_norms(model, x, y) -> list:
    """The Frobenius norm of dL/dW of every Linear layer, input side first, on one batch."""
    model.zero_grad()
    F.cross_entropy(model(Tensor(x)), Tensor(y)).backward()
    return [float(np.linalg.norm(_numpy(m.weight.grad))) for m in _linears(model)]


# ---- §3.1 sigmoid --------------------------------------------------------------------------
@experiment("3.1", "σ(10) ≈ 0, ∂σ/∂x = σ(10)·(1 − σ(10)) = 0·(1 − 0) = 0 … the result of the "
            "gradient is mostly 0 … saturated neurons kill the gradient", 40, 6)
def sigmoid_saturation(ctx: Context) -> Result:
    # σ and σ' from fovea's autograd, against the closed form σ(1 − σ)
    points = Tensor(np.array([-10.0, 0.0, 10.0], np.float32), requires_grad=True)
    s = sigmoid(points)
    s.sum().backward()
    sig, dsig = _numpy(s).astype(float), _numpy(points.grad).astype(float)
    numbers = {}
    for v, sv, dv in zip((-10, 0, 10), sig, dsig):
        numbers[f"sigma({v})"] = float(sv)
        numbers[f"dsigma({v}) autograd"] = float(dv)
        numbers[f"dsigma({v}) sigma(1-sigma)"] = float(sv * (1 - sv))

    depth, width = (8, 64) if ctx.quick else (10, 256)
    n_batch, steps = (256, 60) if ctx.quick else (512, 600)
    x, y, data = _mnist(ctx, "train", 4000 if ctx.quick else 20000)
    xb, yb = x[:n_batch], y[:n_batch]
    sizes = (784,) + (width,) * depth + (10,)
    norms = {}
    for act, init, kind in (("sigmoid", nn.init.xavier_normal_, "Xavier"),
                            ("relu", nn.init.kaiming_normal_, "He")):
        _seed(ctx)
        model = MLP(sizes, act)
        for m in _linears(model):  # each with its textbook initialization, biases 0
            init(m.weight)
            nn.init.zeros_(m.bias)
        norms[act, "init"] = _grad_norms(model, xb, yb)
        losses = _train(model, x, y, steps, lr=0.05 if act == "relu" else 0.5, batch=64,
                        seed=ctx.seed)
        numbers[f"{act} training loss, first 10 steps"] = float(np.mean(losses[:10]))
        numbers[f"{act} training loss, last 10 steps"] = float(np.mean(losses[-10:]))
        norms[act, "trained"] = _grad_norms(model, xb, yb)
        numbers[f"{act} init"] = kind
    for (act, when), g in norms.items():
        numbers[f"{act} {when}: first-layer grad norm"] = g[0]
        numbers[f"{act} {when}: last-layer grad norm"] = g[-1]
        numbers[f"{act} {when}: first/last"] = g[0] / g[-1]
    numbers["sigmoid/relu first-layer grad norm at init"] = (norms["sigmoid", "init"][0]
                                                            / norms["relu", "init"][0])

    fig = _new_figure((10, 3.8))
    ax = fig.add_subplot(1, 2, 1)
    t = np.linspace(-12, 12, 400)
    st = 1 / (1 + np.exp(-t))
    ax.plot(t, st, label="σ(x)")
    ax.plot(t, st * (1 - st), label="σ'(x) = σ(1−σ)")
    ax.scatter([-10, 0, 10], dsig, color="C3", zorder=3, label="σ' at −10, 0, 10 (autograd)")
    ax.annotate(f"σ(10) = {sig[2]:.5f}\n(the notes: ≈ 0)", (10, sig[2]), (2.5, 0.65),
                arrowprops={"arrowstyle": "->"})
    ax.set_xlabel("x")
    ax.legend(fontsize=8, loc="center left")
    ax.set_title("sigmoid and its derivative")
    ax = fig.add_subplot(1, 2, 2)
    layers = np.arange(1, depth + 2)
    for (act, when), g in norms.items():
        ax.semilogy(layers, g, marker="o", ms=3, ls="-" if when == "init" else "--",
                    color="C0" if act == "sigmoid" else "C1", label=f"{act}, {when}")
    _label(ax, "layer (1 = input side)", "‖∂L/∂W‖",
           f"gradient norm per layer, {depth} hidden × {width}")
    name = _save_figure(ctx, fig, "sigmoid_saturation.png")

    ratio = numbers["sigmoid/relu first-layer grad norm at init"]
    return Result(
        "sigmoid_saturation", "3.1", _claim("sigmoid_saturation"),
        f"σ and σ' at −10, 0, 10 by fovea's autograd against σ(1−σ). Then MLPs of {depth} hidden "
        f"layers of {width} units on {data} (standardized pixels), sigmoid with Xavier-normal and "
        f"ReLU with He-normal weights (biases 0), the norm of each layer's weight gradient of "
        f"the cross-entropy on a batch of {n_batch} images at initialization and after {steps} "
        f"steps of SGD (momentum 0.9, batch 64).",
        numbers, [name],
        f"the notes slip: σ(10) = {sig[2]:.6f} ≈ 1, not 0 (only σ(−10) ≈ 0); σ'(±10) = "
        f"{dsig[2]:.2e} and σ'(0) = 0.25 as the formula says, and the conclusion holds: the "
        f"sigmoid net's first-layer gradient is {ratio:.1e} times the ReLU net's at "
        f"initialization.")


# ---- §3.3 initialization -------------------------------------------------------------------
_INITS = (
    ("std 0.01", lambda w: nn.init.normal_(w, 0.0, 0.01)),
    ("std 1.0", lambda w: nn.init.normal_(w, 0.0, 1.0)),
    ("Xavier", lambda w: nn.init.xavier_normal_(w)),
    ("He", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
)


@experiment("3.3", "3.3 Weight Initialization (the notes give the heading only; rerun: the "
            "weights' scale decides whether activations collapse, saturate or keep their "
            "spread through depth)", 10, 3)
def init_activations(ctx: Context) -> Result:
    depth, width, n = (10, 128, 256) if ctx.quick else (10, 256, 1000)
    x, _, data = _mnist(ctx, "train", n)
    stds, means = {}, {}
    numbers = {}
    for act in ("tanh", "relu"):
        for label, init in _INITS:
            _seed(ctx)
            model = MLP((784,) + (width,) * depth + (10,), act)
            for m in _linears(model):
                init(m.weight)
                nn.init.zeros_(m.bias)
            h = Tensor(x)
            s, mu = [], []
            with no_grad():
                for layer in model.layers:
                    h = layer(h)
                    if isinstance(layer, (nn.Tanh, nn.ReLU)):
                        a = _numpy(h)
                        s.append(float(a.std()))
                        mu.append(float(a.mean()))
                        if act == "tanh" and len(s) == depth:
                            numbers[f"tanh {label}: saturated fraction (|a|>0.99) at layer "
                                    f"{depth}"] = float((np.abs(a) > 0.99).mean())
            stds[act, label], means[act, label] = s, mu
            numbers[f"{act} {label}: std layer 1"] = s[0]
            numbers[f"{act} {label}: std layer {depth}"] = s[-1]
            numbers[f"{act} {label}: mean layer {depth}"] = mu[-1]

    fig = _new_figure((10, 3.8))
    for i, act in enumerate(("tanh", "relu")):
        ax = fig.add_subplot(1, 2, i + 1)
        for label, _ in _INITS:
            ax.semilogy(np.arange(1, depth + 1), np.maximum(stds[act, label], 1e-30),
                        marker="o", ms=3, label=label)
        _label(ax, "hidden layer", "std of activations", f"{act}, {depth} × {width}")
    name = _save_figure(ctx, fig, "init_activations.png")

    he = stds["relu", "He"]
    numbers["relu He: std layer 10 / layer 1"] = he[-1] / he[0]
    return Result(
        "init_activations", "3.3", _claim("init_activations"),
        f"{n} standardized {data} images through MLPs of {depth} hidden layers of {width} units "
        f"(tanh or ReLU, biases 0), weights N(0, 0.01²), N(0, 1), Xavier-normal (gain 1) or "
        f"He-normal (√(2/fan_in)); the mean and std of every hidden layer's activations.",
        numbers, [name],
        f"holds: std 0.01 collapses the activations (tanh {stds['tanh', 'std 0.01'][-1]:.1e}, "
        f"ReLU {stds['relu', 'std 0.01'][-1]:.1e} at layer {depth}), std 1.0 saturates tanh and "
        f"blows up ReLU ({stds['relu', 'std 1.0'][-1]:.1e}), Xavier keeps tanh alive and He "
        f"keeps ReLU's std within a factor {max(he) / min(he):.2f} over depth.")
