"""The lab's §3.1 continued: the sigmoid's second problem, outputs not centred on zero (every
per-example weight gradient of the layer it feeds has one sign, so those weights can only move
all up or all down together), and the activations that replaced it trained side by side on
MNIST (mnist-mini in quick mode) with fovea's MLP, initializers and SGD."""

from __future__ import annotations

import numpy as np

from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..data.preprocess import Center
from ..models import MLP
from ..nn import functional as F
from ..viz import _new_figure
from .common import (
    _MEAN,
    _STD,
    _accuracy,
    _claim,
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


# ---- §3.1 not zero-centred -----------------------------------------------------------------
def _one_signed(rows: np.ndarray) -> np.ndarray:
    """Whether each row (last axis) is all positive or all negative, its zeros left out (a
    raw pixel at 0 gives no gradient to its weight); a row of zeros only counts as not."""
    some = (rows != 0).any(-1)
    return some & (~(rows < 0).any(-1) | ~(rows > 0).any(-1))


def _per_example_gradients(model, x, y):
    """The per-example gradients of the second Linear layer's weights on a batch, with no loop
    over the examples: a = W h + b gives ∂L_n/∂W = (∂L/∂a_n) ⊗ h_n, the outer product of the
    gradient of the layer's output (kept by autograd) and its input h, the first hidden
    layer's activations. Returns (per-example (N, out, in), autograd's ∂L/∂W (out, in))."""
    model.zero_grad()
    second = _linears(model)[1]
    h, out, a = Tensor(x), None, None
    for layer in model.layers:
        if layer is second:
            a = out = layer(h)
            a.retain_grad()
        elif a is None:
            h = layer(h)
        else:
            out = layer(out)
    F.cross_entropy(out, Tensor(y)).backward()
    grad_a, inputs = _numpy(a.grad), _numpy(h)
    return grad_a[:, :, None] * inputs[:, None, :], _numpy(second.weight.grad)


def _row_path(x, y, steps: int, lr: float, batch: int, seed: int, probe, every: int,
              watch: tuple):
    """Softmax regression (fovea's Linear, weights and biases from 0) trained ``steps`` steps of
    plain SGD on random batches of (x, y) — flattened pixels — recording how its weight rows
    move. Returns a dict: the probe set's loss every ``every`` steps (and at 0), the fraction of
    row updates that are one-signed, each row's path length over its displacement (mean over
    the 10 rows), the two ``watch`` = (row, (pixel, pixel)) weights at every step, and the
    fraction of their joint moves that go into the ++ or −− quadrant."""
    model = nn.Linear(x.shape[1], 10)
    for p in (model.weight, model.bias):
        nn.init.zeros_(p)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    rng = np.random.default_rng(seed)
    row, pixels = watch
    w = _numpy(model.weight).copy()
    start, path, one_signed, moved = w.copy(), np.zeros(len(w)), 0, 0
    pair, curve = [w[row, list(pixels)]], []

    def probe_loss():
        with no_grad():
            return float(F.cross_entropy(model(Tensor(probe[0])), Tensor(probe[1])).item())
    curve.append(probe_loss())
    for t in range(1, steps + 1):
        idx = rng.integers(0, len(y), batch)
        loss = F.cross_entropy(model(Tensor(x[idx])), Tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        new = _numpy(model.weight).copy()
        step = new - w
        path += np.linalg.norm(step, axis=1)
        some = (step != 0).any(1)
        one_signed += int(_one_signed(step).sum())
        moved += int(some.sum())
        w = new
        pair.append(w[row, list(pixels)])
        if t % every == 0:
            curve.append(probe_loss())
    pair = np.asarray(pair, dtype=np.float64)
    d = np.diff(pair, axis=0)
    both = (d != 0).all(1)
    return {"curve": np.asarray(curve), "one-signed": one_signed / max(moved, 1),
            "path/displacement": float(np.mean(path / np.linalg.norm(w - start, axis=1))),
            "pair": pair, "same-sign moves": float((d[both, 0] * d[both, 1] > 0).mean())}


@experiment("3.1", "The second problem with the sigmoid function is that the outputs of the "
            "sigmoid are not centered in zero.", 60, 20)
def not_zero_centred(ctx: Context) -> Result:
    numbers = {}
    # (a) the premise: a layer fed by sigmoid outputs gets one-signed per-example gradients
    width, n_batch, train_steps = (128, 256, 100) if ctx.quick else (256, 256, 500)
    x, y, data = _mnist(ctx, "train", 3000 if ctx.quick else 20000)
    xb, yb = x[:n_batch], y[:n_batch]
    for act in ("sigmoid", "tanh"):
        _seed(ctx)
        model = MLP((784, width, width, 10), act)
        for m in _linears(model):
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)
        for when in ("init", "trained"):
            if when == "trained":
                _train(model, x, y, train_steps, lr=0.1, batch=64, seed=ctx.seed)
            per_example, dw = _per_example_gradients(model, xb, yb)
            numbers[f"{act} {when}: per-example rows of one sign"] = float(
                _one_signed(per_example).mean())
            numbers[f"{act} {when}: batch-gradient rows of one sign"] = float(
                _one_signed(dw).mean())
            numbers[f"{act} {when}: max |Σ per-example − autograd ∂L/∂W|"] = float(
                np.abs(per_example.sum(0) - dw).max())

    # (b) the cost: softmax regression on raw [0, 1] pixels (all positive) against centred ones
    raw = (x * np.float32(_STD) + np.float32(_MEAN)).reshape(len(y), -1)
    center = Center(mode="image")
    center.fit(raw)
    inputs = {"raw": raw, "centred": center(raw)}
    steps, every = (3000, 50) if ctx.quick else (15000, 250)
    lrs, level = (0.01, 0.03, 0.1), 0.5
    probe_n = 1000
    # the watched weights: row 0 (digit 0), the pixel most typical of 0s (mean over 0s − mean
    # over the rest largest; its weight must grow) and the most typical of the rest (must fall)
    contrast = raw[y == 0].mean(0) - raw[y != 0].mean(0)
    watch = (0, (int(contrast.argmax()), int(contrast.argmin())))
    runs = {}
    for batch in (1, 64):
        for lr in lrs:
            for label, xs in inputs.items():
                run = _row_path(xs, y, steps if batch == 1 else steps // 10, lr, batch,
                                ctx.seed, (xs[:probe_n], y[:probe_n]),
                                every if batch == 1 else every // 10, watch)
                runs[batch, lr, label] = run
                key = f"batch {batch} lr={lr:g} {label}"
                numbers[f"{key}: row updates of one sign"] = run["one-signed"]
                numbers[f"{key}: path / displacement"] = run["path/displacement"]
                numbers[f"{key}: watched pair's moves in ++/−−"] = run["same-sign moves"]
                numbers[f"{key}: final probe loss"] = float(run["curve"][-1])
                reach = _steps_to(run["curve"], level)
                numbers[f"{key}: steps to probe loss {level}"] = (
                    (reach - 1) * (every if batch == 1 else every // 10)
                    if reach <= len(run["curve"]) else -1)

    fig = _new_figure((14, 3.8))
    ax = fig.add_subplot(1, 3, 1)
    groups = [(act, when) for act in ("sigmoid", "tanh") for when in ("init", "trained")]
    at = np.arange(len(groups))
    for shift, (what, color) in zip((-0.2, 0.2), (("per-example", "C0"), ("batch-gradient", "C1"))):
        heights = [numbers[f"{act} {when}: {what} rows of one sign"] for act, when in groups]
        bars = ax.bar(at + shift, heights, 0.4, color=color, label=f"{what} rows")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(at, [f"{act}\n{when}" for act, when in groups])
    ax.set_ylim(0, 1.1)
    _label(ax, "input of layer 2", "∂L/∂W rows of one sign",
           f"layer 2 of 784-{width}-{width}-10, {n_batch} images")
    ax = fig.add_subplot(1, 3, 2)
    show_lr, shown = 0.1, 300
    for label, color in (("raw", "C3"), ("centred", "C2")):
        run = runs[1, show_lr, label]
        pair = run["pair"][:shown + 1]
        ax.plot(pair[:, 0], pair[:, 1], color=color, lw=0.8, marker=".", ms=2,
                label=f"{label} pixels ({run['same-sign moves']:.0%} of joint moves ++/−−)")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    _label(ax, f"w[0, pixel {watch[1][0]}] (typical of 0s)",
           f"w[0, pixel {watch[1][1]}] (typical of others)",
           f"two weights of class 0, first {shown} steps (batch 1, lr {show_lr:g})")
    ax = fig.add_subplot(1, 3, 3)
    for i, lr in enumerate(lrs):
        for label, ls in (("raw", "-"), ("centred", "--")):
            curve = runs[1, lr, label]["curve"]
            ax.plot(np.arange(len(curve)) * every, curve, color=f"C{i}", ls=ls,
                    label=f"{label}, lr {lr:g}")
    ax.axhline(level, color="gray", ls=":")
    ax.set_ylim(0, 2.5)
    _label(ax, "step (batch 1)", f"loss on {probe_n} training images", "softmax regression")
    name = _save_figure(ctx, fig, "not_zero_centred.png")

    return Result(
        "not_zero_centred", "3.1", _claim("not_zero_centred"),
        f"(a) MLPs 784-{width}-{width}-10 with sigmoid or tanh (Xavier-normal weights, biases "
        f"0) on {data} (standardized pixels): the per-example gradients of the second layer's "
        f"weights on {n_batch} images, outer products of ∂L/∂a (autograd) and the layer's "
        f"input, at initialization and after {train_steps} SGD steps; a row (one example, one "
        f"neuron) counts when all its nonzero entries share a sign. (b) Softmax regression "
        f"(weights from 0) on {len(y)} images as raw pixels in [0, 1] (all positive, like "
        f"sigmoid outputs) or centred (mean image subtracted), plain SGD with batch 1 "
        f"({steps} steps) and batch 64 ({steps // 10} steps) at learning rates {list(lrs)}: "
        f"the fraction of one-signed row updates, each row's path length over its net "
        f"displacement, the moves of two weights of class 0 (the pixel most typical of 0s and "
        f"the one most typical of the other digits), and the loss on {probe_n} training images.",
        numbers, [name], _zero_centred_verdict(numbers, lrs, level))


def _zero_centred_verdict(numbers: dict, lrs, level: float) -> str:
    """The premise (one-signed per-example gradients after sigmoid and raw pixels, not after
    tanh and centred pixels) and its cost (raw pixels slower and more roundabout)."""
    sig = min(numbers[f"sigmoid {w}: per-example rows of one sign"] for w in ("init", "trained"))
    tanh = max(numbers[f"tanh {w}: per-example rows of one sign"] for w in ("init", "trained"))
    raw = min(numbers[f"batch 1 lr={lr:g} raw: row updates of one sign"] for lr in lrs)
    cen = max(numbers[f"batch 1 lr={lr:g} centred: row updates of one sign"] for lr in lrs)
    premise = sig > 0.95 and raw > 0.95 and tanh < 0.05 and cen < 0.05

    def reach(batch, lr, label):
        step = numbers[f"batch {batch} lr={lr:g} {label}: steps to probe loss {level}"]
        return np.inf if step < 0 else step

    def ratio(batch, lr, label):
        return numbers[f"batch {batch} lr={lr:g} {label}: path / displacement"]
    slower = [lr for lr in lrs if reach(1, lr, "raw") > reach(1, lr, "centred")]
    longer = [(b, lr) for b in (1, 64) for lr in lrs if ratio(b, lr, "raw") > ratio(b, lr,
                                                                                  "centred")]
    if premise and len(slower) == len(lrs) and len(longer) == 2 * len(lrs):
        why = "holds"
    elif premise and (slower or longer):
        why = "holds partly"
    else:
        why = "does not hold"
    top = lrs[-1]
    sig_batch = numbers["sigmoid init: batch-gradient rows of one sign"]
    # the speed gap as raw steps over centred steps, per example and in batches of 64
    gaps = [reach(b, top, "raw") / reach(b, top, "centred") for b in (1, 64)]
    narrows = "narrows" if gaps[1] < gaps[0] else "does not narrow"

    def steps(batch, lr, label):
        return "never" if reach(batch, lr, label) == np.inf else f"{reach(batch, lr, label):.0f}"
    return (f"{why}: every per-example weight-gradient row of a layer fed by sigmoid outputs has "
            f"one sign ({sig:.0%}; {tanh:.0%} after tanh), as does every per-example update of "
            f"softmax regression on raw pixels ({raw:.0%}; {cen:.0%} centred); with batch 1 "
            f"raw pixels are slower at {len(slower)} of {len(lrs)} learning rates (loss {level} "
            f"after " + ", ".join(f"{steps(1, lr, 'raw')} against {steps(1, lr, 'centred')}"
                                   for lr in lrs)
            + " steps at lr " + ", ".join(f"{lr:g}" for lr in lrs) + "), and the weights' "
            f"path is longer for its displacement in {len(longer)} of {2 * len(lrs)} runs "
            f"({ratio(1, top, 'raw'):.1f} against {ratio(1, top, 'centred'):.1f} at batch 1, lr "
            f"{top:g}); in batches of 64, {sig_batch:.0%} of the sigmoid layer's batch-gradient "
            f"rows are one-signed and the gap in speed {narrows} ({steps(64, top, 'raw')} "
            f"against {steps(64, top, 'centred')} steps at lr {top:g}).")


# ---- §3.1 the activations side by side -----------------------------------------------------
_ACTIVATIONS = (  # each with its textbook initialization
    ("sigmoid", "Xavier", nn.init.xavier_normal_),
    ("tanh", "Xavier", nn.init.xavier_normal_),
    ("relu", "He", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ("gelu", "He", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
)


@experiment("3.1", "Nowadays, there is a set of activation functions that are considered to be "
            "the avant-garde of deep learning … The sigmoid function was very popular back in "
            "the days … However, it has 3 main problems, which led to the abandonment of this "
            "function.", 150, 15)
def activation_curves(ctx: Context) -> Result:
    sizes = (784, 64, 64, 64, 10) if ctx.quick else (784, 256, 256, 256, 10)
    steps = 400 if ctx.quick else 2000
    lrs, common, level = (0.01, 0.03, 0.1, 0.3, 1.0), 0.03, 0.5
    x, y, data = _mnist(ctx, "train", 3000 if ctx.quick else 60000)
    xt, yt, _ = _mnist(ctx, "test", 1000 if ctx.quick else 10000)
    numbers, curves, best = {}, {}, {}
    for act, kind, init in _ACTIVATIONS:
        numbers[f"{act} init"] = kind
        for lr in lrs:
            _seed(ctx)  # the same draw of weights (then rescaled by the init) and batches
            model = MLP(sizes, act)
            for m in _linears(model):
                init(m.weight)
                nn.init.zeros_(m.bias)
            curve = curves[act, lr] = _smooth(_train(model, x, y, steps, lr=lr, batch=64,
                                                     seed=ctx.seed))
            final = float(curve[-1])
            numbers[f"{act} lr={lr:g}: training loss after {steps} steps"] = (
                final if np.isfinite(final) else "diverged")
            numbers[f"{act} lr={lr:g}: steps to loss {level}"] = _steps_to(curve, level)
            if np.isfinite(final) and (act not in best or final < best[act][1]):
                best[act] = (lr, final, _accuracy(model, xt, yt))
            if lr == common:
                numbers[f"{act} lr={lr:g}: test accuracy"] = _accuracy(model, xt, yt)
        lr, final, acc = best[act]
        numbers[f"{act}: best lr"] = lr
        numbers[f"{act} best lr: training loss after {steps} steps"] = final
        numbers[f"{act} best lr: steps to loss {level}"] = _steps_to(curves[act, lr], level)
        numbers[f"{act} best lr: test accuracy"] = acc

    fig = _new_figure((10, 3.8))
    for i, (title, pick) in enumerate(((f"lr {common:g} for all", lambda a: common),
                                       ("each at its best lr", lambda a: best[a][0]))):
        ax = fig.add_subplot(1, 2, i + 1)
        for act, kind, _ in _ACTIVATIONS:
            lr = pick(act)
            ax.plot(np.arange(1, steps + 1), curves[act, lr],
                    label=f"{act}, {kind} (lr {lr:g})")
        ax.axhline(level, color="gray", ls=":")
        ax.set_ylim(0, 2.5)
        _label(ax, "step", "training loss (running mean of 20)", title)
    name = _save_figure(ctx, fig, "activation_curves.png")

    acts = [a for a, _, _ in _ACTIVATIONS]
    verdicts = []
    for setting, key in ((f"lr {common:g}", f"lr={common:g}"), ("each one's best lr", "best lr")):
        loss = {a: numbers[f"{a} {key}: training loss after {steps} steps"] for a in acts}
        loss = {a: np.inf if v == "diverged" else v for a, v in loss.items()}
        reach = {a: numbers[f"{a} {key}: steps to loss {level}"] for a in acts}
        acc = {a: numbers[f"{a} {key}: test accuracy"] for a in acts}
        slowest = max(acts, key=lambda a: (reach[a], loss[a]))
        beaten = all(loss[a] < loss["sigmoid"] and acc[a] > acc["sigmoid"]
                     for a in ("relu", "gelu"))
        verdicts.append((setting, slowest == "sigmoid", beaten, loss, reach, acc))
    score = sum(s + b for _, s, b, *_ in verdicts)
    why = "holds" if score == 4 else "holds partly" if score else "does not hold"

    def said(setting, slowest_ok, beaten, loss, reach, acc):
        slowest = "sigmoid is" if slowest_ok else "sigmoid is not"
        beat = "beat" if beaten else "do not both beat"
        return (f"at {setting} {slowest} the slowest and ReLU and GELU {beat} it (loss "
                f"{level} after " + ", ".join(f"{a} {_reached(reach[a], steps)}" for a in acts)
                + " steps; final loss " + ", ".join(f"{loss[a]:.3f}" for a in acts)
                + "; test accuracy " + ", ".join(f"{acc[a]:.1%}" for a in acts) + ")")
    return Result(
        "activation_curves", "3.1", _claim("activation_curves"),
        f"The same MLP {'-'.join(map(str, sizes))} trained on {len(y)} {data} images "
        f"(standardized) with sigmoid or tanh (Xavier-normal weights) and ReLU or GELU "
        f"(He-normal), biases 0, the same initial draw and batches, {steps} steps of SGD "
        f"(momentum 0.9, batch 64) at learning rates {list(lrs)}. Speed: the running mean (20 "
        f"steps) of the training loss after {steps} steps and the steps it takes to fall below "
        f"{level}; accuracy on {len(yt)} test images, at the common rate {common:g} and at each "
        f"activation's best rate (lowest final training loss).",
        numbers, [name], f"{why}: " + "; ".join(said(*v) for v in verdicts) + ".")


def _reached(step: int, steps: int) -> str:
    return str(step) if step <= steps else "never"
