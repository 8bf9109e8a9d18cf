"""The lab's chapter 3 (training neural networks): the notes' claims about activations,
preprocessing, initialization, batch norm and dropout rerun on MNIST (mnist-mini in quick mode)
with fovea's own MLP, preprocessors, initializers, optimizers and dropout layer."""

from __future__ import annotations

import math

import numpy as np

from .. import backend, nn
from ..autograd import Tensor, no_grad
from ..models import MLP
from ..nn import functional as F
from ..ops import sigmoid
from ..viz import _new_figure
from .common import (
    _MEAN,
    _STD,
    _claim,
    _grad_norms,
    _label,
    _linears,
    _mnist,
    _numpy,
    _save_figure,
    _seed,
    _smooth,
    _steps_to,
    _train,
)
from .record import Context, Result
from .registry import experiment


# ---- §3.1 sigmoid --------------------------------------------------------------------------
@experiment("3.1", "saturated neurons kill the gradient … σ(10) ≈ 0, ∂σ/∂x = σ(10)·(1 − σ(10)) "
            "= 0·(1 − 0) = 0 … the result of the gradient is mostly 0", 10, 3)
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
            "spread through depth)", 3, 2)
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


# ---- §3.5.1 dropout's test-time expectation ------------------------------------------------
class _ScaleAtTestDropout(nn.Module):
    """The notes' dropout: in training keep each unit with probability 1 − p without rescaling,
    at test multiply by 1 − p. Built from fovea's (inverted) Dropout times 1 − p: in training
    that is mask·x, in eval (Dropout the identity) (1 − p)·x."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.drop = nn.Dropout(p)

    def forward(self, x):
        return self.drop(x) * (1.0 - self.p)


def _scale_at_test(model, p: float):
    """``model`` (an MLP with Dropout) with its Dropout layers made scale-at-test ones."""
    model.layers = nn.Sequential(*[_ScaleAtTestDropout(p) if isinstance(m, nn.Dropout) else m
                                   for m in model.layers])
    return model


def _mc_errors(model, x, passes: int, seed: int):
    """Logits of ``passes`` training-mode forward passes (fresh masks each) of ``x`` and the
    eval-mode logits; returns (eval logits, the running Monte-Carlo means (passes, N, C))."""
    with no_grad():
        model.eval()
        reference = _numpy(model(Tensor(x)))
        model.train()
        backend.manual_seed(seed)
        samples = np.stack([_numpy(model(Tensor(x))) for _ in range(passes)])
    model.eval()
    running = np.cumsum(samples, axis=0, dtype=np.float64)
    running /= np.arange(1, passes + 1)[:, None, None]
    return reference, running


@experiment("3.5.1", "The behaviour of dropout is something that we want to have only during "
            "training, not during testing. We want to average out the randomness during test "
            "time … the expectation value at training time is just multiplied by the value of "
            "the dropout", 140, 8)
def dropout_expectation(ctx: Context) -> Result:
    p = 0.5
    hidden, steps, passes = (128, 150, 256) if ctx.quick else (512, 1500, 1024)
    x, y, data = _mnist(ctx, "train", 3000 if ctx.quick else 20000)
    xt, yt, _ = _mnist(ctx, "test", 500 if ctx.quick else 2000)
    numbers = {"p": p}

    def trained(sizes, seed_offset=0, scale_at_test=False):
        _seed(ctx, seed_offset)
        model = MLP(sizes, "relu", dropout=p)
        if scale_at_test:
            _scale_at_test(model, p)
        _train(model, x, y, steps, lr=0.05, batch=64, seed=ctx.seed + seed_offset)
        model.eval()
        return model

    ks = 2 ** np.arange(int(math.log2(passes)) + 1)
    curves = {}
    nets = {"one dropout layer": (784, hidden, 10), "two dropout layers": (784, hidden, hidden, 10)}
    models = {}
    for label, sizes in nets.items():
        model = models[label] = trained(sizes)
        reference, running = _mc_errors(model, xt, passes, ctx.seed + 100)
        err = np.sqrt(((running[ks - 1] - reference) ** 2).mean(axis=(1, 2)))
        curves[label] = err
        slope = float(np.polyfit(np.log(ks), np.log(err), 1)[0])
        numbers[f"{label}: RMS error K=1"] = float(err[0])
        numbers[f"{label}: RMS error K={passes}"] = float(err[-1])
        numbers[f"{label}: log-log slope of error vs K"] = slope
        numbers[f"{label}: argmax agreement MC(K={passes}) vs eval"] = float(
            (running[-1].argmax(1) == reference.argmax(1)).mean())
        numbers[f"{label}: eval test accuracy"] = float((reference.argmax(1) == yt).mean())

    # scale at test vs inverted: (i) the same function rewritten (W2' = W2 / (1 − p) gives the
    # same training-time outputs for every mask), (ii) trained from the same start and batches
    inverted = models["one dropout layer"]
    with no_grad():
        ref = _numpy(inverted(Tensor(xt)))
        converted = _scale_at_test(MLP(nets["one dropout layer"], "relu", dropout=p), p)
        state = {k: v.data.copy() for k, v in inverted.state_dict().items()}
        state["layers.4.weight"] = state["layers.4.weight"] / np.float32(1 - p)
        converted.load_state_dict({k: Tensor(v) for k, v in state.items()})
        converted.eval()
        out = _numpy(converted(Tensor(xt)))
    numbers["rewritten scale-at-test: max |logit difference| vs inverted"] = float(
        np.abs(out - ref).max())
    numbers["rewritten scale-at-test: prediction agreement"] = float(
        (out.argmax(1) == ref.argmax(1)).mean())
    own_net = trained(nets["one dropout layer"], scale_at_test=True)
    other_net = trained(nets["one dropout layer"], seed_offset=1)
    with no_grad():
        own, other_seed = _numpy(own_net(Tensor(xt))), _numpy(other_net(Tensor(xt)))
    numbers["trained scale-at-test: prediction agreement with inverted"] = float(
        (own.argmax(1) == ref.argmax(1)).mean())
    numbers["trained scale-at-test: test accuracy"] = float((own.argmax(1) == yt).mean())
    numbers["baseline: agreement of two inverted nets, different seeds"] = float(
        (other_seed.argmax(1) == ref.argmax(1)).mean())

    fig = _new_figure((5.5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for label, err in curves.items():
        ax.loglog(ks, err, marker="o", ms=3, label=label)
    first = curves["one dropout layer"][0]
    ax.loglog(ks, first / np.sqrt(ks), "k:", label="∝ 1/√K")
    _label(ax, "K (dropout masks averaged)", "RMS(MC mean − eval logits)",
           f"dropout p={p}: Monte-Carlo mean vs eval output")
    name = _save_figure(ctx, fig, "dropout_expectation.png")

    one, two = "one dropout layer", "two dropout layers"
    return Result(
        "dropout_expectation", "3.5.1", _claim("dropout_expectation"),
        f"ReLU MLPs 784-{hidden}-10 (one Dropout(p={p}) before the output layer) and "
        f"784-{hidden}-{hidden}-10 (two), trained {steps} SGD steps (lr 0.05, momentum 0.9, "
        f"batch 64) on {len(y)} {data} images with fovea's inverted dropout. On {len(yt)} test "
        f"images: the mean of K training-mode passes (fresh masks) against the eval-mode logits "
        f"for K = 1…{passes}. Scale-at-test dropout (mask without rescaling in training, × (1 − p)"
        f" at test) both as the inverted net rewritten (last weight / (1 − p)) and trained from "
        f"the same start and batches.",
        numbers, [name],
        f"holds: the Monte-Carlo mean converges to the eval output (RMS error "
        f"{numbers[one + ': RMS error K=1']:.3f} → {numbers[f'{one}: RMS error K={passes}']:.4f},"
        f" slope {numbers[one + ': log-log slope of error vs K']:.2f} ≈ −½) exactly when the "
        f"dropped units enter a linear layer, and levels off when they pass a further ReLU "
        f"(RMS {numbers[f'{two}: RMS error K={passes}']:.3f} at K={passes}, slope "
        f"{numbers[two + ': log-log slope of error vs K']:.2f}), where the rescaled output only "
        f"approximates the expectation; scale-at-test and inverted dropout are the same "
        f"function ({numbers['rewritten scale-at-test: prediction agreement']:.0%} agreement).")


# ---- §3.4 batch norm -----------------------------------------------------------------------
def _stable(losses) -> bool:
    """A run is stable when it stays finite and ends (the mean of its last tenth of steps)
    below both where it began and chance, ln 10."""
    tenth = max(1, len(losses) // 10)
    end = np.mean(losses[-tenth:])
    return bool(np.all(np.isfinite(losses)) and end < min(np.mean(losses[:tenth]), math.log(10)))


def _back_and_forth(curve) -> float:
    """How much a loss curve goes back and forth: the sum of its rises over the sum of its
    falls (0 for a steady descent, about 1 for wandering without progress)."""
    d = np.diff(np.asarray(curve, dtype=np.float64))
    return float(d[d > 0].sum() / max(-d[d < 0].sum(), 1e-12))


@experiment("3.4", "If we were able to normalize the data, then we would have a smoother "
            "learning.", 140, 10)
def batchnorm_stability(ctx: Context) -> Result:
    width, depth, steps = (128, 4, 60) if ctx.quick else (256, 6, 500)
    lrs = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    x, y, data = _mnist(ctx, "train", 3000 if ctx.quick else 20000)
    probe = _mnist(ctx, "test", 256)[:2]
    sizes = (784,) + (width,) * depth + (10,)
    numbers, runs, largest = {}, {}, {}
    for bn in (False, True):
        tag = "BN" if bn else "plain"
        largest[tag] = 0.0
        for lr in lrs:
            _seed(ctx)  # the same start (but for BN's own parameters) and the same batches
            losses, probed = _train(MLP(sizes, "relu", batchnorm=bn), x, y, steps, lr=lr,
                                    batch=64, seed=ctx.seed, momentum=0.0, probe=probe)
            runs[tag, lr] = probed
            tenth = max(1, steps // 10)
            numbers[f"{tag} lr={lr:g}: final loss"] = float(np.mean(losses[-tenth:]))
            if _stable(losses):
                largest[tag] = max(largest[tag], lr)
        numbers[f"{tag}: largest stable lr"] = largest[tag]
    # smoothness where both train: the plain net's largest stable learning rate
    common = largest["plain"]
    for tag in ("plain", "BN"):
        half = np.asarray(runs[tag, common][steps // 2:])
        numbers[f"{tag} lr={common:g}: variance of loss differences (second half)"] = float(
            np.var(np.diff(half)))
    for lr in lrs:  # the same measures at every rate where both train
        if not (_stable(runs["plain", lr]) and _stable(runs["BN", lr])):
            continue
        if lr != common:
            v = [np.var(np.diff(runs[tag, lr][steps // 2:])) for tag in ("plain", "BN")]
            numbers[f"lr={lr:g}: variance of loss differences, BN / plain"] = float(v[1] / v[0])
        for tag in ("plain", "BN"):
            numbers[f"{tag} lr={lr:g}: back-and-forth ratio"] = _back_and_forth(runs[tag, lr])
    var_plain = numbers[f"plain lr={common:g}: variance of loss differences (second half)"]
    var_bn = numbers[f"BN lr={common:g}: variance of loss differences (second half)"]
    numbers["variance of loss differences, BN / plain"] = var_bn / var_plain

    fig = _new_figure((10, 3.8))
    ax = fig.add_subplot(1, 2, 1)
    for tag in ("plain", "BN"):
        final = [numbers[f"{tag} lr={lr:g}: final loss"] for lr in lrs]
        ax.semilogx(lrs, np.minimum(np.nan_to_num(final, nan=1e3, posinf=1e3), 10), marker="o",
                    label=f"{tag} (largest stable {largest[tag]:g})")
    ax.axhline(math.log(10), color="gray", ls=":", label="chance, ln 10")
    _label(ax, "learning rate (SGD)", f"loss after {steps} steps (capped at 10)",
           "final loss against learning rate")
    ax = fig.add_subplot(1, 2, 2)
    for tag in ("plain", "BN"):
        ax.plot(runs[tag, common], label=tag)
    _label(ax, "step", "loss on a fixed test batch", f"loss curves at lr {common:g}")
    name = _save_figure(ctx, fig, "batchnorm_stability.png")

    ratios = [v for k, v in numbers.items()
              if k.endswith("variance of loss differences, BN / plain")]
    wider, at_edge = largest["BN"] > largest["plain"], var_bn < var_plain
    everywhere = all(r < 1 for r in ratios)
    if wider and at_edge and everywhere:
        why = "holds"
    elif wider or at_edge:
        why = "holds partly"
    else:
        why = "does not hold"
    rougher = [lr for lr in lrs
               if numbers.get(f"lr={lr:g}: variance of loss differences, BN / plain", 0) >= 1]
    caveat = ("" if not rougher else
              "; at " + ", ".join(f"{lr:g}" for lr in rougher) + " it is the plain net's loss "
              "that varies less, because it moves slowly (final loss " + ", ".join(
                  f"{numbers[f'plain lr={lr:g}: final loss']:.2f}" for lr in rougher) +
              " against BN's " + ", ".join(
                  f"{numbers[f'BN lr={lr:g}: final loss']:.2f}" for lr in rougher) + ")")
    both = [lr for lr in lrs if f"BN lr={lr:g}: back-and-forth ratio" in numbers]
    calmer = sum(numbers[f"BN lr={lr:g}: back-and-forth ratio"]
                 < numbers[f"plain lr={lr:g}: back-and-forth ratio"] for lr in both)
    numbers["rates where BN's loss goes back and forth less"] = f"{calmer} of {len(both)}"
    verdict = (f"{why}: the largest stable learning rate is {largest['BN']:g} with batch norm "
               f"against {largest['plain']:g} without, and at {common:g}, the plain net's "
               f"largest, the fixed batch's loss differences vary {var_bn / var_plain:.2g} times "
               f"as much with batch norm{caveat}; its back-and-forth ratio is lower with batch "
               f"norm at {calmer} of the {len(both)} rates both survive.")
    return Result(
        "batchnorm_stability", "3.4", _claim("batchnorm_stability"),
        f"ReLU MLPs with {depth} hidden layers of {width} units, with and without BatchNorm1d "
        f"before each activation, trained {steps} steps of plain SGD (batch 64, the same "
        f"batches and start) on {len(y)} {data} images at learning rates {lrs}. Stable: finite "
        f"and ending below both its start and chance (ln 10). Smoothness: the variance of the "
        f"step-to-step differences of the loss on a fixed batch of 256 test images over the second half of the run, at the "
        f"plain net's largest stable learning rate ({common:g}), and at every rate both "
        f"survive, with the back-and-forth ratio (sum of rises / sum of falls of that loss).",
        numbers, [name], verdict)


# ---- §3.2 preprocessing --------------------------------------------------------------------
@experiment("3.2", "3.2 Data Preprocessing / Generally the data can be (the notes stop there; "
            "rerun: centring, standardizing and whitening the inputs make the same network "
            "train faster than on raw pixels)", 20, 10)
def preprocessing(ctx: Context) -> Result:
    from ..data.preprocess import Center, Identity, PCAWhiten, Standardize

    hidden, steps = (32, 100) if ctx.quick else (256, 600)
    lrs = (0.03, 0.1) if ctx.quick else (0.01, 0.03, 0.1, 0.3)
    level = 0.5
    x, y, data = _mnist(ctx, "train", 2000 if ctx.quick else 20000)
    xt, yt, _ = _mnist(ctx, "test", 500 if ctx.quick else 2000)
    # back to raw [0, 1] pixels: each preprocessor is fitted on the training images only
    raw, raw_t = (a * np.float32(_STD) + np.float32(_MEAN) for a in (x, xt))
    kinds = {"raw [0, 1]": Identity(), "centred": Center(mode="image"),
             "standardized": Standardize(), "PCA-whitened": PCAWhiten(eps=0.1)}
    numbers, curves = {}, {}
    for label, prep in kinds.items():
        prep.fit(raw)
        xp, xtp = prep(raw).reshape(len(y), -1), prep(raw_t).reshape(len(yt), -1)
        best = None
        for lr in lrs:
            _seed(ctx)  # the same start and the same batches for every input
            model = MLP((784, hidden, 10), "relu")
            curve = _smooth(_train(model, xp, y, steps, lr=lr, batch=64, seed=ctx.seed))
            curves[label, lr] = curve
            final = float(curve[-1])
            numbers[f"{label} lr={lr:g}: training loss after {steps} steps"] = final
            numbers[f"{label} lr={lr:g}: steps to loss {level}"] = _steps_to(curve, level)
            if best is None or final < best[1]:
                with no_grad():
                    model.eval()
                    test = float(F.cross_entropy(model(Tensor(xtp)), Tensor(yt)).item())
                best = (lr, final, test)
        numbers[f"{label}: best lr"] = best[0]
        numbers[f"{label}: training loss after {steps} steps, best lr"] = best[1]
        numbers[f"{label}: test loss, best lr"] = best[2]
        numbers[f"{label}: steps to loss {level}, best lr"] = _steps_to(curves[label, best[0]],
                                                                        level)

    fig = _new_figure((10, 3.8))
    common = 0.03
    for i, (title, pick) in enumerate(((f"lr {common:g} for all", lambda lb: common),
                                       ("each at its best lr",
                                        lambda lb: numbers[f"{lb}: best lr"]))):
        ax = fig.add_subplot(1, 2, i + 1)
        for label in kinds:
            lr = pick(label)
            ax.plot(np.arange(1, steps + 1), curves[label, lr], label=f"{label} (lr {lr:g})")
        ax.axhline(level, color="gray", ls=":")
        ax.set_ylim(0, 2.5)
        _label(ax, "step", "training loss (running mean of 20)", title)
    name = _save_figure(ctx, fig, "preprocessing.png")

    key = f"training loss after {steps} steps"
    at = {lb: numbers[f"{lb} lr={common:g}: {key}"] for lb in kinds}
    best = {lb: numbers[f"{lb}: {key}, best lr"] for lb in kinds}
    reach = {lb: numbers[f"{lb}: steps to loss {level}, best lr"] for lb in kinds}
    test = {lb: numbers[f"{lb}: test loss, best lr"] for lb in kinds}
    faster = [lb for lb in kinds if lb != "raw [0, 1]"
              and best[lb] < best["raw [0, 1]"] and at[lb] < at["raw [0, 1]"]]
    why = ("holds" if len(faster) == 3 else "holds partly" if faster else "does not hold")
    slower = [lb for lb in kinds if lb != "raw [0, 1]" and lb not in faster]
    if slower:
        why += (": " + " and ".join(slower) + " input" + "s" * (len(slower) > 1)
                + " beat" + "s" * (len(slower) == 1) + " raw pixels only at "
                + ("its" if len(slower) == 1 else "their") + " best learning rate, not at a "
                "common one")
    return Result(
        "preprocessing", "3.2", _claim("preprocessing"),
        f"The same ReLU MLP 784-{hidden}-10 (same initial weights, same batches) trained "
        f"{steps} SGD steps (momentum 0.9, batch 64) on {len(y)} {data} images given as raw "
        f"pixels in [0, 1], centred (mean image subtracted), standardized (global mean and std) "
        f"or PCA-whitened (all 784 directions, ε = 0.1), each fitted on the training images "
        f"with fovea.data.preprocess, at learning rates {list(lrs)}. Speed: the running mean "
        f"(20 steps) of the training loss after {steps} steps and the steps it takes to fall "
        f"below {level}; the test loss of each input's best run on {len(yt)} test images.",
        numbers, [name],
        f"{why}: at lr {common:g} the loss after {steps} steps is "
        + ", ".join(f"{lb} {at[lb]:.3f}" for lb in kinds)
        + "; each at its best rate it is " + ", ".join(f"{best[lb]:.3f}" for lb in kinds)
        + f", reaching {level} after " + ", ".join(f"{reach[lb]}" for lb in kinds)
        + f" steps (same order); whitening's faster descent does not carry over to held-out "
        f"images (test loss {test['PCA-whitened']:.3f} against standardized's "
        f"{test['standardized']:.3f}), as it also scales up the directions of little variance.")
