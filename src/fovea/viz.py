"""Plots of a run: learning curves, the learning rate, the confusion matrix, the first layer's
filters and the linear classifier's class templates.

Every ``plot_*`` function writes one PNG (creating its folder) and returns its path. Figures
are drawn with matplotlib's Agg canvas directly (no pyplot, no display, no global state), so
plotting works on a headless machine and from threads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .autograd import Tensor
from .backend import to_numpy

DPI = 110


def _new_figure(figsize):
    # matplotlib is imported when the first figure is drawn: it is a slow import, and most
    # uses of fovea never plot
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def _array(values) -> np.ndarray:
    """A NumPy array of a Tensor, a backend array or a nested list."""
    if isinstance(values, Tensor):
        values = values.data
    return np.asarray(values if isinstance(values, (list, tuple)) else to_numpy(values))


# ---- confusion matrix ----------------------------------------------------------------------
def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts C[i, j] of samples of true class i predicted as class j, as int64 (K, K).

    One ``bincount`` over ``K·true + pred``; labels must be integers in [0, num_classes).
    """
    t = _array(y_true).ravel()
    p = _array(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: {t.size} true labels but {p.size} predictions")
    k = int(num_classes)
    if k < 1:
        raise ValueError(f"confusion_matrix: num_classes must be positive, got {num_classes}")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.dtype.kind not in "iub" or arr.min() < 0 or arr.max() >= k):
            raise ValueError(f"confusion_matrix: {name} must hold integer labels in "
                             f"[0, {k}), got values from {arr.min()} to {arr.max()}")
    index = t.astype(np.int64) * k + p.astype(np.int64)
    return np.bincount(index, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(matrix, class_names, path, normalize: str | None = None,
                          title: str | None = None) -> Path:
    """The confusion matrix as a heat map, true class down, predicted class across, with the
    count in every cell.

    ``normalize``: None colours by count; "true" by the fraction of each true class (rows
    sum to 1, the diagonal is each class's recall), "pred" by the fraction of each
    prediction (columns sum to 1: precision), "all" by the fraction of all samples. The
    normalized value is written under the count.
    """
    m = _array(matrix).astype(np.int64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion_matrix: need a square matrix, got shape {m.shape}")
    k = m.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i)
                                                                           for i in range(k)]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for {k} classes")
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            shown = m / m.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            shown = m / m.sum(axis=0, keepdims=True)
        elif normalize == "all":
            shown = m / m.sum()
        else:
            shown = m.astype(np.float64)
    shown = np.nan_to_num(shown)

    side = max(4.5, 0.55 * k + 2.0)
    fig = _new_figure((side + 1.0, side))
    ax = fig.add_subplot()
    vmax = shown.max() if shown.max() > 0 else 1.0
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label({None: "count", "true": "fraction of true class",
                   "pred": "fraction of predicted class", "all": "fraction of all"}[normalize])
    fontsize = max(5, min(10, int(85 / k)))
    for i in range(k):
        for j in range(k):
            text = f"{m[i, j]}" if normalize is None else f"{m[i, j]}\n{shown[i, j]:.0%}"
            colour = "white" if shown[i, j] > 0.55 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=fontsize)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(names, rotation=45 if max(len(n) for n in names) > 2 else 0,
                       ha="right" if max(len(n) for n in names) > 2 else "center")
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(m.sum())
    acc = np.trace(m) / total if total else float("nan")
    ax.set_title(title or f"Confusion matrix ({total} samples, accuracy {acc:.2%})")
    return _save(fig, path)


# ---- learning curves --------------------------------------------------------------------------
def _series(metrics, key):
    """(epochs, values) of the records that have a number under ``key``."""
    xs, ys = [], []
    for i, rec in enumerate(metrics, 1):
        v = rec.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            xs.append(rec.get("epoch", i))
            ys.append(float(v))
    return xs, ys


def _epoch_axis(ax, metrics):
    epochs = [rec.get("epoch", i) for i, rec in enumerate(metrics, 1)]
    if epochs:
        lo, hi = min(epochs), max(epochs)
        pad = 0.5 if hi == lo else 0.02 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)
        if hi - lo < 15:  # integer ticks: epochs, not 2.5
            ax.set_xticks(range(int(lo), int(hi) + 1))
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)


def plot_learning_curves(metrics, path, early_stop_epoch=None, title: str | None = None) -> Path:
    """Loss (left) and accuracy (right) per epoch, train and validation, from metrics.jsonl
    records (``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``).

    The gap between train and validation accuracy is shaded (the notes' sign of overfitting:
    a gap that keeps growing); ``early_stop_epoch`` draws a vertical line at that epoch.
    The train values are means over the epoch's batches while the model was still learning,
    the validation values are measured at its end: early on, validation can lie above train.
    """
    metrics = list(metrics)
    if not metrics:
        raise ValueError("plot_learning_curves: no metrics records")
    fig = _new_figure((11.0, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    marker = "o" if len(metrics) <= 30 else None

    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            xs, ys = _series(metrics, f"{split}_{key}")
            if xs:
                name = "train" if split == "train" else "validation"
                ax.plot(xs, ys, color=colour, marker=marker, markersize=4, label=name)
        ax.set_ylabel(label)
        _epoch_axis(ax, metrics)

    # shade the train − validation accuracy gap, over the epochs that have both
    both = [(rec.get("epoch", i), float(rec["train_acc"]), float(rec["val_acc"]))
            for i, rec in enumerate(metrics, 1)
            if rec.get("train_acc") is not None and rec.get("val_acc") is not None]
    if both:
        xs, tr, va = (list(c) for c in zip(*both))
        if len(xs) == 1:  # one epoch: a short band so the gap is visible at all
            xs = [xs[0] - 0.15, xs[0] + 0.15]
            tr, va = tr * 2, va * 2
        over = [t >= v for t, v in zip(tr, va)]
        end_gap = both[-1][1] - both[-1][2]
        if any(over):
            ax_acc.fill_between(xs, tr, va, where=over, interpolate=True, color="tab:red",
                                alpha=0.18, linewidth=0,
                                label=f"gap, train above val ({end_gap:+.3f} at the end)")
        if not all(over):
            ax_acc.fill_between(xs, tr, va, where=[not o for o in over], interpolate=True,
                                color="0.5", alpha=0.18, linewidth=0,
                                label="gap, val above train" if any(over)
                                else f"gap, val above train ({end_gap:+.3f} at the end)")

    if early_stop_epoch is not None:
        for ax in (ax_loss, ax_acc):
            ax.axvline(early_stop_epoch, color="tab:green", linestyle="--", linewidth=1.2,
                       label=f"early stop (epoch {early_stop_epoch})")
    ax_loss.set_title("Loss")
    ax_acc.set_title("Accuracy")
    ax_loss.legend(loc="best", fontsize=8)
    ax_acc.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_lr(metrics, path, title: str | None = None) -> Path:
    """The learning rate of each epoch (constant within an epoch: drawn as steps); a log
    axis when it spans more than two decades."""
    xs, ys = _series(list(metrics), "lr")
    if not xs:
        raise ValueError("plot_lr: no learning rates in the metrics")
    fig = _new_figure((6.5, 3.8))
    ax = fig.add_subplot()
    # epoch k runs at one rate: a step from k − ½ to k + ½, centred on its tick
    ax.step([x - 0.5 for x in xs] + [xs[-1] + 0.5], ys + [ys[-1]], where="post",
            color="tab:blue")
    ax.plot(xs, ys, "o", color="tab:blue", markersize=4)
    positive = [y for y in ys if y > 0]
    if positive and len(positive) == len(ys) and max(ys) / min(ys) > 100:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0, top=max(ys) * 1.1 if max(ys) > 0 else 1)
    ax.set_xlim(xs[0] - 0.6, xs[-1] + 0.6)
    if xs[-1] - xs[0] < 15:
        ax.set_xticks(range(int(xs[0]), int(xs[-1]) + 1))
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(title or "Learning rate per epoch")
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


# ---- weights as images ------------------------------------------------------------------------
def _grid(n, aspect=1.0):
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    return math.ceil(n / cols), cols


def plot_filters(weight, path, title: str | None = None) -> Path:
    """A convolution layer's weights (O, C, kh, kw) as a grid of images, each filter min-max
    scaled to [0, 1] on its own: C = 3 as RGB, C = 1 in gray; any other C as one row of C
    gray channel images per filter."""
    w = _array(weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: need weights (O, C, kh, kw), got shape {w.shape}")
    o, c, kh, kw = w.shape
    lo = w.reshape(o, -1).min(axis=1).reshape(o, 1, 1, 1)
    span = w.reshape(o, -1).max(axis=1).reshape(o, 1, 1, 1) - lo
    scaled = np.where(span > 0, (w - lo) / np.where(span > 0, span, 1), 0.5)

    if c in (1, 3):
        rows, cols = _grid(o)
        cell = max(0.9, min(1.6, 8.0 / cols))
        fig = _new_figure((cols * cell, rows * cell + 0.6))
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for i, ax in enumerate(axes):
            ax.set_axis_off()
            if i >= o:
                continue
            if c == 3:
                ax.imshow(scaled[i].transpose(1, 2, 0), interpolation="nearest")
            else:
                ax.imshow(scaled[i, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(str(i), fontsize=8)
    else:
        cell = max(0.5, min(1.2, 9.0 / c))
        fig = _new_figure((c * cell + 0.6, o * cell + 0.6))
        axes = fig.subplots(o, c, squeeze=False)
        for i in range(o):
            for j in range(c):
                ax = axes[i, j]
                ax.imshow(scaled[i, j], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(str(i), fontsize=7, rotation=0, ha="right", va="center")
                if i == 0:
                    ax.set_title(f"in {j}", fontsize=7)
    kind = {1: "gray", 3: "RGB"}.get(c, "one gray image per input channel")
    fig.suptitle(title or f"{o} filters of {c}×{kh}×{kw} (each min-max scaled; {kind})",
                 fontsize=10)
    return _save(fig, path)


def plot_templates(weight_rows_as_images, class_names, path, title: str | None = None) -> Path:
    """The linear classifier's class templates: row k of W reshaped to the image, (K, C, H, W)
    or (K, H, W). One channel is drawn with a diverging colormap centred at 0 (red: the pixel
    raises the class score, blue: lowers it) on one scale shared by all classes; three
    channels as RGB with 0 at mid-gray, scaled by the largest |weight|."""
    t = _array(weight_rows_as_images).astype(np.float64)
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError("plot_templates: need templates (K, H, W), (K, 1, H, W) or "
                         f"(K, 3, H, W), got shape {t.shape}")
    k = t.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i)
                                                                           for i in range(k)]
    if len(names) != k:
        raise ValueError(f"plot_templates: {len(names)} class names for {k} templates")
    bound = float(np.abs(t).max()) or 1.0
    cols = min(k, 5)
    rows = math.ceil(k / cols)
    fig = _new_figure((cols * 1.9 + (0.9 if t.shape[1] == 1 else 0), rows * 2.1 + 0.5))
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= k:
            continue
        if t.shape[1] == 1:
            im = ax.imshow(t[i, 0], cmap="RdBu_r", vmin=-bound, vmax=bound,
                           interpolation="nearest")
        else:
            ax.imshow(np.clip(0.5 + t[i].transpose(1, 2, 0) / (2 * bound), 0, 1),
                      interpolation="nearest")
        ax.set_title(names[i], fontsize=10)
    if im is not None:
        bar = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
        bar.set_label("weight")
    kind = "red +, blue −" if t.shape[1] == 1 else "RGB, 0 at mid-gray"
    fig.suptitle(title or f"Linear classifier: class templates (rows of W; {kind})",
                 fontsize=11)
    return _save(fig, path)
