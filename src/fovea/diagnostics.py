"""Activation and gradient statistics per layer: the notes' initialization experiment.

``activation_stats(model, batch)`` runs one forward pass (and, when a loss can be formed, one
backward pass) and reports, for every leaf module, the mean and std of its output, the std
of the gradient flowing into that output, and how many of its units are saturated (sigmoid,
tanh) or dead (ReLU). A deep tanh MLP initialized with N(0, 0.01²) weights shows its
activations shrinking toward 0 layer after layer (and the gradients with them); Xavier
initialization keeps them spread::

    stats = activation_stats(model, x, nn.CrossEntropyLoss(), y)
    print(format_table(stats))
    plot_activation_stats(stats, "activations.png")
"""

from __future__ import annotations

import math
from pathlib import Path

from . import backend, nn
from .autograd import Tensor, enable_grad
from .viz import _new_figure, _save

SATURATION_MARGIN = 0.01
"""A sigmoid or tanh output is saturated within this fraction of its output range from
either bound: σ < 0.01 or σ > 0.99, |tanh| > 0.98 (the same pre-activations, since
tanh(x) = 2σ(2x) − 1)."""

_BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def _kind(module) -> str | None:
    """"relu", "sigmoid" or "tanh" for the activation modules, else None."""
    for cls, name in ((nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh")):
        if isinstance(module, cls):
            return name
    return None


def _leaves(model):
    """(dotted name, module) of every module without children, in named_modules order."""
    return [(name or type(model).__name__, m) for name, m in model.named_modules()
            if not m._modules]


def _moments(arr):
    """(mean, std) of an array as Python floats, accumulated in float64."""
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean(dtype=backend.float64)), float(arr.std(dtype=backend.float64))


def _form_loss(output, loss_fn, targets):
    """The scalar to backpropagate, or None when no loss can be formed."""
    if targets is not None and not isinstance(targets, Tensor):
        targets = Tensor(backend.namespace(targets).asarray(targets))
    if loss_fn is None:
        if targets is None:
            return None
        integer = targets.data.dtype.kind in "iu"
        loss_fn = nn.CrossEntropyLoss() if integer else nn.MSELoss()
    loss = loss_fn(output) if targets is None else loss_fn(output, targets)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise ValueError("activation_stats: the loss must be a one-element Tensor")
    return loss


def activation_stats(model, batch, loss_fn=None, targets=None) -> list:
    """Per-layer statistics of one forward (and backward) pass of ``model`` on ``batch``.

    ``batch`` is the input (a Tensor or an array), or an ``(inputs, targets)`` pair. The loss
    to backpropagate is ``loss_fn(output, targets)``; ``loss_fn(output)`` when there are no
    targets; CrossEntropyLoss (integer targets) or MSELoss (float targets) when only targets
    are given. Without either, only the forward pass runs and the gradient fields are None.

    Every leaf module has a forward hook while the pass runs (removed afterwards, even on an
    error); its Tensor outputs keep their gradient through ``retain_grad()``. The input
    is given ``requires_grad`` so that even a layer before the first parameter has one. The
    parameters' ``.grad`` are left as they were, and the model runs in its current mode
    (call ``model.eval()`` first for inference behaviour).

    Returns one dict per call of a leaf module, in the order the calls ran:

    - ``name`` (dotted, as in ``named_modules``; a second call of a module is "name#2"),
      ``type`` (class name), ``kind`` ("relu", "sigmoid", "tanh" or None), ``shape``;
    - ``mean``, ``std``: of the output values;
    - ``grad_mean``, ``grad_std``: of d(loss)/d(output) (None without a backward pass);
    - ``saturated``: for sigmoid and tanh, the fraction of output values within
      ``SATURATION_MARGIN`` of the output range from a bound (else None);
    - ``dead``: for ReLU, the fraction of units (output positions, all dimensions but the
      batch) that are exactly 0 for every sample of the batch (else None).
    """
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        batch, batch_targets = batch
        targets = batch_targets if targets is None else targets
    x = batch.data if isinstance(batch, Tensor) else backend.namespace(batch).asarray(batch)
    x = Tensor(x, requires_grad=x.dtype.kind == "f")

    leaves = _leaves(model)
    records = []  # (name, module, output tensor)
    calls = {}
    handles = []

    def recorder(name):
        def record(module, args, out):
            if isinstance(out, Tensor):
                calls[name] = calls.get(name, 0) + 1
                label = name if calls[name] == 1 else f"{name}#{calls[name]}"
                if out.requires_grad:
                    out.retain_grad()
                records.append((label, module, out))
        return record

    grads_before = [(p, p.grad) for p in model.parameters()]
    try:
        for name, module in leaves:
            handles.append(module.register_forward_hook(recorder(name)))
        with enable_grad():
            output = model(x)
            loss = _form_loss(output, loss_fn, targets) if isinstance(output, Tensor) else None
            if loss is not None and loss.requires_grad:
                loss.backward()
            else:
                loss = None
    finally:
        for handle in handles:
            handle.remove()
        for p, g in grads_before:
            p.grad = g

    stats = []
    for label, module, out in records:
        kind = _kind(module)
        data = out.data
        mean, std = _moments(data)
        grad = out.grad.data if loss is not None and out.grad is not None else None
        grad_mean, grad_std = _moments(grad) if grad is not None else (None, None)
        saturated = dead = None
        if kind in ("sigmoid", "tanh") and data.size:
            lo, hi = _BOUNDS[kind]
            margin = SATURATION_MARGIN * (hi - lo)
            saturated = float(((data <= lo + margin) | (data >= hi - margin)).mean())
        if kind == "relu" and data.size:
            units = data.reshape(data.shape[0], -1) if data.ndim > 1 else data.reshape(-1, 1)
            dead = float((units == 0).all(axis=0).mean())
        stats.append({
            "name": label, "type": type(module).__name__, "kind": kind,
            "shape": tuple(int(n) for n in data.shape),
            "mean": mean, "std": std, "grad_mean": grad_mean, "grad_std": grad_std,
            "saturated": saturated, "dead": dead,
        })
    for _, _, out in records:  # drop the retained gradients the pass left on the outputs
        out.grad = None
    return stats


def _fmt(value, width: int = 10) -> str:
    if value is None:
        return "-".rjust(width)
    if value != value:  # NaN
        return "nan".rjust(width)
    return f"{value:{width}.3g}" if value == 0 or 1e-2 <= abs(value) < 1e4 \
        else f"{value:{width}.2e}"


def format_table(stats) -> str:
    """The statistics as an aligned text table, one row per layer."""
    header = ("layer", "type", "output shape", "mean", "std", "grad mean", "grad std",
              "dead", "saturated")
    rows = []
    for s in stats:
        frac = {k: ("-" if s.get(k) is None else f"{s[k]:.1%}") for k in ("dead", "saturated")}
        rows.append((s["name"], s["type"], "×".join(str(n) for n in s["shape"]),
                     _fmt(s["mean"]), _fmt(s["std"]), _fmt(s.get("grad_mean")),
                     _fmt(s.get("grad_std")), frac["dead"], frac["saturated"]))
    widths = [max([len(h)] + [len(r[i].strip()) for r in rows]) for i, h in enumerate(header)]
    left = 3  # name, type and shape are left-aligned; numbers right-aligned

    def line(cells):
        return "  ".join(c.strip().ljust(w) if i < left else c.strip().rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def plot_activation_stats(stats, path, title: str | None = None) -> Path:
    """A PNG of the statistics, one column per layer: the output mean ± std; the output std
    and the gradient std on a log scale (where a collapse is a straight line); the
    dead/saturated fractions. Returns the path."""
    if not stats:
        raise ValueError("plot_activation_stats: no layers to plot")
    names = [f"{s['name']} {s['type']}" for s in stats]
    pos = list(range(len(stats)))
    fig = _new_figure((max(7.0, 0.42 * len(stats) + 2.5), 10.0))
    ax_act, ax_log, ax_frac = fig.subplots(3, 1, sharex=True)

    means = [s["mean"] for s in stats]
    stds = [s["std"] for s in stats]
    ax_act.errorbar(pos, means, yerr=stds, fmt="o", color="tab:blue", ecolor="tab:blue",
                    capsize=3, label="mean ± std")
    ax_act.axhline(0, color="0.6", linewidth=0.8)
    ax_act.set_ylabel("output value")
    ax_act.set_title("Output activations: mean ± std")
    ax_act.legend(loc="best", fontsize=8)

    def series(key):
        """Values on the log axis: NaN (a gap in the line) where missing or ≤ 0; the
        positions of exact zeros separately."""
        vals, zeros = [], []
        for p, s in zip(pos, stats):
            v = s.get(key)
            ok = v is not None and v == v and v > 0
            vals.append(v if ok else math.nan)
            if v == 0:
                zeros.append(p)
        return vals, zeros

    from matplotlib.transforms import blended_transform_factory  # optional dependency

    bottom = blended_transform_factory(ax_log.transData, ax_log.transAxes)
    has_grad = any(s.get("grad_std") is not None for s in stats)
    for key, colour, marker, label in (
            ("std", "tab:blue", "s", "output std"),
            ("grad_std", "tab:red", "o", "gradient std (d loss / d output)")):
        vals, zeros = series(key)
        if any(v == v for v in vals):
            ax_log.semilogy(pos, vals, marker=marker, color=colour, markersize=5, label=label)
        if zeros:
            ax_log.plot(zeros, [0.03] * len(zeros), marker="v", linestyle="none",
                        color=colour, markersize=7, transform=bottom,
                        label=f"{label.split(' (')[0]} exactly 0")
    if not has_grad:
        ax_log.text(0.5, 0.9, "no backward pass (no loss): no gradients", ha="center",
                    va="top", transform=ax_log.transAxes, color="0.4")
    ax_log.legend(loc="best", fontsize=8)
    ax_log.set_ylabel("std (log scale)")
    ax_log.set_title("Spread of the outputs and of the gradients flowing into them")

    dead = [(p, s["dead"]) for p, s in zip(pos, stats) if s.get("dead") is not None]
    sat = [(p, s["saturated"]) for p, s in zip(pos, stats) if s.get("saturated") is not None]
    width = 0.4 if dead and sat else 0.6
    shift = width / 2 if dead and sat else 0.0
    if dead:
        ax_frac.bar([p - shift for p, _ in dead], [v for _, v in dead], width,
                    color="tab:gray", label="dead (ReLU: 0 for every sample)")
    if sat:
        ax_frac.bar([p + shift for p, _ in sat], [v for _, v in sat], width,
                    color="tab:purple", label="saturated (sigmoid/tanh within 1% of a bound)")
    if dead or sat:
        ax_frac.legend(loc="upper right", fontsize=8)
    else:
        ax_frac.text(0.5, 0.5, "no ReLU, sigmoid or tanh layers", ha="center", va="center",
                     transform=ax_frac.transAxes, color="0.4")
    ax_frac.set_ylim(0, 1.15)
    ax_frac.set_ylabel("fraction")
    ax_frac.set_title("Dead and saturated units")
    ax_frac.set_xticks(pos)
    ax_frac.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax_frac.set_xlabel("layer (in the order the forward pass ran)")
    for ax in (ax_act, ax_log, ax_frac):
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
