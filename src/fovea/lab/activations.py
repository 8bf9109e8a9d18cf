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
from ..ops import sigmoid
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


class _CentredSigmoid(nn.Module):
    """σ(x) − ½ (= ½·tanh(x/2)): the sigmoid's shape and slope, its outputs centred on zero.
    The next layer's bias absorbs the shift, so only how the weights learn can differ."""

    def forward(self, x):
        return sigmoid(x) - 0.5


_FEEDS = ("sigmoid", "sigmoid − ½", "tanh")
"""What feeds the second layer in part (a) and (c) of :func:`not_zero_centred`."""


def _two_layer_mlp(width: int, feed: str, ctx: Context):
    """MLP 784-width-width-10 with the ``feed`` activation, Xavier-normal weights and biases 0,
    the same draw for every activation."""
    _seed(ctx)
    model = MLP((784, width, width, 10), "tanh" if feed == "tanh" else "sigmoid")
    if feed == "sigmoid − ½":
        model.layers = nn.Sequential(*[_CentredSigmoid() if isinstance(m, nn.Sigmoid) else m
                                       for m in model.layers])
    for m in _linears(model):
        nn.init.xavier_normal_(m.weight)
        nn.init.zeros_(m.bias)
    return model


def _sign_agreement(ctx: Context, x, y, width: int, n_batch: int, steps: int) -> dict:
    """Part (a): how often the per-example gradient rows of the second layer have one sign, at
    initialization and after ``steps`` SGD steps, for each of :data:`_FEEDS`."""
    numbers = {}
    for feed in _FEEDS:
        model = _two_layer_mlp(width, feed, ctx)
        for when in ("init", "trained"):
            if when == "trained":
                _train(model, x, y, steps, lr=0.1, batch=64, seed=ctx.seed)
            per_example, dw = _per_example_gradients(model, x[:n_batch], y[:n_batch])
            numbers[f"{feed} {when}: per-example rows of one sign"] = float(
                _one_signed(per_example).mean())
            numbers[f"{feed} {when}: batch-gradient rows of one sign"] = float(
                _one_signed(dw).mean())
            numbers[f"{feed} {when}: max |Σ per-example − autograd ∂L/∂W|"] = float(
                np.abs(per_example.sum(0) - dw).max())
    return numbers


def _pixel_runs(ctx: Context, x, y, steps: int, every: int, lrs, level: float, probe_n: int):
    """Part (b): softmax regression on raw [0, 1] pixels against centred ones, batch 1 for
    ``steps`` steps and batch 64 for a tenth of them. Returns (numbers, runs by (batch, lr,
    input), the watched (row, pixels))."""
    raw = (x * np.float32(_STD) + np.float32(_MEAN)).reshape(len(y), -1)
    center = Center(mode="image")
    center.fit(raw)
    inputs = {"raw": raw, "centred": center(raw)}
    # the watched weights: row 0 (digit 0), the pixel most typical of 0s (mean over 0s − mean
    # over the rest largest; its weight must grow) and the most typical of the rest (must fall)
    contrast = raw[y == 0].mean(0) - raw[y != 0].mean(0)
    watch = (0, (int(contrast.argmax()), int(contrast.argmin())))
    numbers, runs = {}, {}
    for batch, n_steps, n_every in ((1, steps, every), (64, steps // 10, every // 10)):
        for lr in lrs:
            for label, xs in inputs.items():
                run = runs[batch, lr, label] = _row_path(
                    xs, y, n_steps, lr, batch, ctx.seed, (xs[:probe_n], y[:probe_n]), n_every,
                    watch)
                key = f"batch {batch} lr={lr:g} {label}"
                numbers[f"{key}: row updates of one sign"] = run["one-signed"]
                numbers[f"{key}: path / displacement"] = run["path/displacement"]
                numbers[f"{key}: watched pair's moves in ++/−−"] = run["same-sign moves"]
                numbers[f"{key}: final probe loss"] = float(run["curve"][-1])
                reach = _steps_to(_smooth(run["curve"], 5), level)
                numbers[f"{key}: steps to probe loss {level}"] = (
                    (reach - 1) * n_every if reach <= len(run["curve"]) else -1)
    return numbers, runs, watch


def _centring_runs(ctx: Context, x, y, width: int, steps: int, lrs, level: float):
    """Part (c): the MLP of part (a) with sigmoid against σ − ½, plain SGD (batch 64, the same
    start and batches). Returns (numbers, smoothed loss curves by (feed, lr))."""
    numbers, curves = {}, {}
    for feed in _FEEDS[:2]:
        for lr in lrs:
            curve = curves[feed, lr] = _smooth(_train(_two_layer_mlp(width, feed, ctx), x, y,
                                                      steps, lr=lr, batch=64, seed=ctx.seed,
                                                      momentum=0.0))
            final = float(curve[-1])
            numbers[f"MLP {feed} lr={lr:g}: final training loss"] = (
                final if np.isfinite(final) else "diverged")
            reach = _steps_to(curve, level)
            numbers[f"MLP {feed} lr={lr:g}: steps to loss {level}"] = (
                reach if reach <= steps else -1)
    return numbers, curves


@experiment("3.1", "The second problem with the sigmoid function is that the outputs of the "
            "sigmoid are not centered in zero.", 90, 15)
def not_zero_centred(ctx: Context) -> Result:
    width, n_batch, train_steps = (128, 256, 100) if ctx.quick else (256, 256, 500)
    steps, every = (3000, 25) if ctx.quick else (15000, 100)
    mlp_steps = 300 if ctx.quick else 1000
    lrs, mlp_lrs, level, probe_n = (0.01, 0.03, 0.1), (0.1, 0.3, 1.0, 3.0), 0.5, 1000
    x, y, data = _mnist(ctx, "train", 3000 if ctx.quick else 20000)
    numbers = _sign_agreement(ctx, x, y, width, n_batch, train_steps)
    pixels, runs, watch = _pixel_runs(ctx, x, y, steps, every, lrs, level, probe_n)
    centring, curves = _centring_runs(ctx, x, y, width, mlp_steps, mlp_lrs, level)
    numbers.update(pixels)
    numbers.update(centring)

    fig = _new_figure((11, 8))
    ax = fig.add_subplot(2, 2, 1)
    groups = [(feed, when) for feed in _FEEDS for when in ("init", "trained")]
    at = np.arange(len(groups))
    for shift, (what, color) in zip((-0.2, 0.2), (("per-example", "C0"), ("batch-gradient", "C1"))):
        heights = [numbers[f"{feed} {when}: {what} rows of one sign"] for feed, when in groups]
        bars = ax.bar(at + shift, heights, 0.4, color=color, label=f"{what} rows")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(at, [f"{feed}\n{when}" for feed, when in groups], fontsize=8)
    ax.set_ylim(0, 1.15)
    _label(ax, "what feeds layer 2", "∂L/∂W rows of one sign",
           f"(a) layer 2 of 784-{width}-{width}-10, {n_batch} images")
    ax = fig.add_subplot(2, 2, 2)
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
           f"(b) two weights of class 0, first {shown} steps (batch 1, lr {show_lr:g})")
    ax = fig.add_subplot(2, 2, 3)
    for i, lr in enumerate(lrs):
        for label, ls in (("raw", "-"), ("centred", "--")):
            curve = runs[1, lr, label]["curve"]
            ax.plot(np.arange(len(curve)) * every, curve, color=f"C{i}", ls=ls,
                    label=f"{label}, lr {lr:g}")
    ax.axhline(level, color="gray", ls=":")
    ax.set_ylim(0, 2.5)
    _label(ax, "step (batch 1)", f"loss on {probe_n} training images",
           "(b) softmax regression, raw or centred pixels")
    ax = fig.add_subplot(2, 2, 4)
    for i, lr in enumerate(mlp_lrs):
        for feed, ls in (("sigmoid", "-"), ("sigmoid − ½", "--")):
            ax.plot(np.arange(1, mlp_steps + 1), curves[feed, lr], color=f"C{i}", ls=ls,
                    label=f"{feed}, lr {lr:g}")
    ax.axhline(level, color="gray", ls=":")
    ax.set_ylim(0, 2.5)
    _label(ax, "step (batch 64)", "training loss (running mean of 20)",
           f"(c) MLP 784-{width}-{width}-10, plain SGD")
    name = _save_figure(ctx, fig, "not_zero_centred.png")

    return Result(
        "not_zero_centred", "3.1", _claim("not_zero_centred"),
        f"(a) MLPs 784-{width}-{width}-10 with sigmoid, σ − ½ (the sigmoid centred) or tanh "
        f"(Xavier-normal weights, biases 0) on {data} (standardized pixels): the per-example "
        f"gradients of the second layer's weights on {n_batch} images, outer products of ∂L/∂a "
        f"(autograd) and the layer's input, at initialization and after {train_steps} SGD "
        f"steps; a row (one example, one neuron) counts when all its nonzero entries share a "
        f"sign. (b) Softmax regression (weights from 0) on {len(y)} images as raw pixels in "
        f"[0, 1] (all positive, like sigmoid outputs) or centred (mean image subtracted), plain "
        f"SGD with batch 1 ({steps} steps) and batch 64 ({steps // 10} steps) at learning rates "
        f"{list(lrs)}: the fraction of one-signed row updates, each row's path length over its "
        f"net displacement, the moves of two weights of class 0 (the pixel most typical of 0s "
        f"and the one most typical of the other digits), and the steps until the loss on "
        f"{probe_n} training images (mean of 5 probes) falls below {level}. (c) The MLP of (a) "
        f"with sigmoid against σ − ½, {mlp_steps} steps of plain SGD (batch 64, the same start "
        f"and batches) at learning rates {list(mlp_lrs)}: the steps until the training loss "
        f"(running mean of 20) falls below {level}.",
        numbers, [name], _zero_centred_verdict(numbers, lrs, mlp_lrs, level))


def _zero_centred_verdict(numbers: dict, lrs, mlp_lrs, level: float) -> str:
    """The premise (one-signed per-example gradients after the sigmoid and raw pixels, not after
    σ − ½, tanh or centred pixels) and its cost (raw pixels and sigmoid outputs train slower,
    raw pixels along a more roundabout path)."""
    def share(key):
        return [numbers[f"{key}: per-example rows of one sign"] for key in
                (f"{key} init", f"{key} trained")]
    sig, half, tanh = min(share("sigmoid")), max(share("sigmoid − ½")), max(share("tanh"))
    raw = min(numbers[f"batch 1 lr={lr:g} raw: row updates of one sign"] for lr in lrs)
    cen = max(numbers[f"batch 1 lr={lr:g} centred: row updates of one sign"] for lr in lrs)
    premise = min(sig, raw) > 0.95 and max(half, tanh, cen) < 0.05

    def reach(key):
        step = numbers[key]
        return np.inf if step < 0 else step

    def steps(key):
        return "never" if reach(key) == np.inf else f"{reach(key):.0f}"

    def pixel(batch, lr, label):
        return f"batch {batch} lr={lr:g} {label}: steps to probe loss {level}"

    def mlp(feed, lr):
        return f"MLP {feed} lr={lr:g}: steps to loss {level}"

    def ratio(batch, lr, label):
        return numbers[f"batch {batch} lr={lr:g} {label}: path / displacement"]
    def pace(key, final_key):
        """Steps to the level, then (for runs that tie, e.g. both never get there) the final
        loss: larger is slower."""
        final = numbers[final_key]
        return reach(key), np.inf if final == "diverged" else final

    def pixel_pace(lr, label):
        return pace(pixel(1, lr, label), f"batch 1 lr={lr:g} {label}: final probe loss")

    def mlp_pace(feed, lr):
        return pace(mlp(feed, lr), f"MLP {feed} lr={lr:g}: final training loss")
    slower = [lr for lr in lrs if pixel_pace(lr, "raw") > pixel_pace(lr, "centred")]
    longer = [(b, lr) for b in (1, 64) for lr in lrs
              if ratio(b, lr, "raw") > ratio(b, lr, "centred")]
    mlp_slower = [lr for lr in mlp_lrs if mlp_pace("sigmoid", lr) > mlp_pace("sigmoid − ½", lr)]
    costs = (len(slower) == len(lrs), len(longer) == 2 * len(lrs),
             len(mlp_slower) == len(mlp_lrs))
    why = ("holds" if premise and all(costs) else
           "holds partly" if premise and (slower or longer or mlp_slower) else "does not hold")
    top = lrs[-1]
    batch_sig = [numbers[f"sigmoid {w}: batch-gradient rows of one sign"]
                 for w in ("init", "trained")]
    return (f"{why}: per-example weight-gradient rows of a layer fed by sigmoid outputs are "
            f"one-signed {sig:.0%} of the time (σ − ½ {half:.0%}, tanh {tanh:.0%}), as are "
            f"per-example updates of softmax regression on raw pixels ({raw:.0%}; centred "
            f"{cen:.0%}); with batch 1 raw pixels reach loss {level} later at {len(slower)} of "
            f"{len(lrs)} learning rates ("
            + ", ".join(f"{steps(pixel(1, lr, 'raw'))}/{steps(pixel(1, lr, 'centred'))}"
                        for lr in lrs)
            + " steps raw/centred) along a path longer for its displacement in "
            f"{len(longer)} of {2 * len(lrs)} runs (at batch 1 "
            + ", ".join(f"{ratio(1, lr, 'raw'):.1f}/{ratio(1, lr, 'centred'):.1f}"
                        for lr in lrs)
            + f"); summed over a batch the signs partly mix ({batch_sig[0]:.0%} of the sigmoid "
            f"layer's batch-gradient rows are one-signed at initialization, {batch_sig[1]:.0%} "
            f"after training) and with batches of 64 raw pixels reach "
            f"{level} after {steps(pixel(64, top, 'raw'))} steps against "
            f"{steps(pixel(64, top, 'centred'))} at lr {top:g}, while the sigmoid MLP trains "
            f"slower than the same MLP with σ − ½ at {len(mlp_slower)} of {len(mlp_lrs)} rates "
            f"(a tie goes by the final loss; "
            + ", ".join(f"{steps(mlp('sigmoid', lr))}/{steps(mlp('sigmoid − ½', lr))}"
                        for lr in mlp_lrs)
            + " steps).")


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
            "function.", 180, 15)
def activation_curves(ctx: Context) -> Result:
    sizes = (784, 64, 64, 64, 10) if ctx.quick else (784, 256, 256, 256, 10)
    steps = 400 if ctx.quick else 2000
    lrs, common, level = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0), 0.03, 0.5
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
