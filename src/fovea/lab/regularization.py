"""The lab's §3.5 (training and testing error), §3.5.1 and §3.5.2: overfitting seen as the gap
between training and validation accuracy and early stopping on it, the L2 term in the loss
λΣw², and data augmentation against the size of the training set, on small subsets of MNIST
(mnist-mini in quick mode) trained with fovea's Trainer, EarlyStopping, weight_penalty and
RandomAffine."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .. import optim
from ..data import DataLoader, TensorDataset
from ..data.augment import Compose, RandomAffine
from ..models import MLP, LeNet5
from ..train.callbacks import EarlyStopping, weight_penalty
from ..train.predict import evaluate_arrays
from ..train.trainer import Trainer
from ..viz import _new_figure
from .common import _MEAN, _STD, _claim, _label, _mnist, _save_figure, _seed
from .record import Context, Result
from .registry import experiment

BATCH = 50
MLP_SIZES = (784, 512, 512, 10)
"""The net that can overfit a thousand images: 669,706 parameters."""


def _split(ctx: Context, n_train: int, n_val: int):
    """Disjoint training and validation images, both drawn from MNIST's training split."""
    x, y, data = _mnist(ctx, "train", n_train + n_val)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], data


def _fit(ctx: Context, model, x, y, epochs: int, lr: float, **trainer_options):
    """``epochs`` epochs of SGD (momentum 0.9, batch 50, the batches shuffled by the seed) with
    fovea's Trainer; ``trainer_options`` (l2, augment, transform, on_epoch_end) go to it."""
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    trainer = Trainer(model, opt, progress=False, log=None, **trainer_options)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, seed=ctx.seed)
    return trainer.fit(loader, None, epochs)


def _standard_error(accuracy: float, n: int) -> float:
    """The binomial standard error of an accuracy measured on ``n`` images."""
    return math.sqrt(accuracy * (1 - accuracy) / n)


# ---- §3.5 the gap and early stopping -------------------------------------------------------
@experiment("3.5", "Generally, we see that there is overfitting when the gap between training "
            "accuracy and validation accuracy starts to grow. … This will return a model that "
            "could not be overfitting, and it's a technique that should be always employed.",
            30, 12)
def overfitting_early_stopping(ctx: Context) -> Result:
    n, n_val, epochs = (500, 2000, 60) if ctx.quick else (1000, 5000, 150)
    patience, lr = 5, 0.01
    x, y, xv, yv, data = _split(ctx, n, n_val)
    xt, yt, _ = _mnist(ctx, "test", 2000 if ctx.quick else 10000)
    _seed(ctx)
    model = MLP(MLP_SIZES, "relu")
    stoppers = {m: EarlyStopping(m, patience=patience) for m in EarlyStopping.MONITORS}
    history = []

    def watch(record):
        # eval-mode accuracy on the whole training subset, not the running mean of the epoch's
        # batches, so that train and validation are measured alike
        tr, va = evaluate_arrays(model, x, y), evaluate_arrays(model, xv, yv)
        rec = {"epoch": record["epoch"], "train_acc": tr["accuracy"], "train_loss": tr["loss"],
               "val_acc": va["accuracy"], "val_loss": va["loss"]}
        history.append(rec)
        for stopper in stoppers.values():  # each monitor sees the epochs until it says stop
            if stopper.stopped_epoch is None:
                stopper.update(rec, model)

    _fit(ctx, model, x, y, epochs, lr, on_epoch_end=watch)
    curve = {k: np.array([h[k] for h in history]) for k in history[0]}
    gap = curve["train_acc"] - curve["val_acc"]
    last_test = evaluate_arrays(model, xt, yt)["accuracy"]
    numbers = {"training images": n, "validation images": n_val, "test images": len(yt),
               "epochs": epochs, "patience": patience}
    full = int(np.argmax(curve["train_acc"] >= 1.0)) + 1 if curve["train_acc"].max() >= 1 else 0
    best_val = int(np.argmin(curve["val_loss"])) + 1
    low = int(np.argmin(gap))
    plateau = low + int(np.argmax(gap[low:] >= 0.9 * gap[-1])) + 1
    numbers.update({
        "gap at epoch 1": float(gap[0]), "smallest gap": float(gap[low]),
        "epoch of the smallest gap": low + 1, "gap at the last epoch": float(gap[-1]),
        "largest gap": float(gap.max()), "epoch of the largest gap": int(np.argmax(gap)) + 1,
        "first epoch after the smallest gap with 90% of the final gap": plateau,
        "first epoch at 100% training accuracy (0: never)": full,
        "lowest validation loss": float(curve["val_loss"].min()),
        "epoch of the lowest validation loss": best_val,
        "validation loss at the last epoch": float(curve["val_loss"][-1]),
        "best validation accuracy": float(curve["val_acc"].max()),
        "epoch of the best validation accuracy": int(np.argmax(curve["val_acc"])) + 1,
        "validation accuracy at the last epoch": float(curve["val_acc"][-1]),
        "last epoch: test accuracy": last_test,
    })
    for monitor, stopper in stoppers.items():
        stopper.restore(model)
        ran = stopper.stopped_epoch or epochs
        numbers[f"{monitor}: chosen epoch"] = stopper.best_epoch
        numbers[f"{monitor}: epochs run"] = ran
        numbers[f"{monitor}: epochs saved"] = epochs - ran
        test = evaluate_arrays(model, xt, yt)["accuracy"]
        numbers[f"{monitor}: test accuracy"] = test
        numbers[f"{monitor}: test accuracy − last epoch's"] = test - last_test
    se = _standard_error(last_test, len(yt))
    numbers["standard error of a test accuracy"] = se

    fig = _new_figure((13, 3.8))
    ep = np.arange(1, len(history) + 1)
    panels = (("accuracy", (("train_acc", "training"), ("val_acc", "validation"))),
              ("train − validation accuracy", ()),
              ("cross-entropy", (("train_loss", "training"), ("val_loss", "validation"))))
    titles = (f"MLP {'-'.join(map(str, MLP_SIZES))}, {n} {data} images",
              "the gap, and where each monitor chose (--) and stopped (:)",
              "the losses")
    for i, ((ylabel, series), title) in enumerate(zip(panels, titles)):
        ax = fig.add_subplot(1, 3, i + 1)
        if series:
            for key, label in series:
                ax.plot(ep, curve[key], label=label)
        else:
            ax.plot(ep, gap, color="C2", label="gap")
        ax.set_xscale("log")  # the epochs where the curves part are the first few
        if ylabel == "cross-entropy":
            ax.set_yscale("log")
        for j, (monitor, stopper) in enumerate(stoppers.items()):
            color = f"C{j + 3}"
            ax.axvline(stopper.best_epoch, color=color, ls="--", lw=1,
                       label=f"{monitor}: chosen {stopper.best_epoch}")
            if stopper.stopped_epoch:
                ax.axvline(stopper.stopped_epoch, color=color, ls=":", lw=1)
        _label(ax, "epoch", ylabel, title)
    name = _save_figure(ctx, fig, "overfitting_early_stopping.png")

    # (i) overfitting comes with a growing gap; (ii) early stopping (on val_loss) tests as
    # well as the last epoch for fewer epochs; (iii) the gap itself is a safe signal to stop on
    vl, g = "val_loss", "gap"
    overfits = (gap[-1] - gap[low] > 0.03
                and curve["val_loss"][-1] > 1.1 * curve["val_loss"].min())
    rises = curve["val_loss"][-1] > curve["val_loss"].min()
    worth = (numbers[f"{vl}: test accuracy − last epoch's"] >= -se
             and numbers[f"{vl}: epochs saved"] > 0)
    gap_safe = numbers[f"{g}: test accuracy − last epoch's"] >= -se
    why = ("holds" if overfits and worth and gap_safe
           else "holds partly" if overfits or worth else "does not hold")
    if stoppers[g].stopped_epoch is None:
        on_gap = (f"the notes' gap never grew {patience} epochs in a row, so it ran all "
                  f"{epochs}")
    else:
        on_gap = (f"stopping on the notes' gap {numbers[g + ': test accuracy']:.2%} at "
                  f"{numbers[g + ': epochs run']}")
        if not gap_safe:
            on_gap += (f", because the gap already grows while the validation accuracy still "
                       f"rises ({curve['val_acc'][stoppers[g].best_epoch - 1]:.1%} at its "
                       f"chosen epoch {stoppers[g].best_epoch}, {curve['val_acc'].max():.1%} "
                       f"at best)")
    saturated = (f"; training accuracy is 100% from epoch {full}, after which the gap can only "
                 f"follow the validation accuracy" if full else "")
    return Result(
        "overfitting_early_stopping", "3.5", _claim("overfitting_early_stopping"),
        f"fovea's MLP {'-'.join(map(str, MLP_SIZES))} (ReLU) trained {epochs} epochs of SGD "
        f"(lr {lr}, momentum 0.9, batch {BATCH}) with fovea's Trainer on {n} {data} training "
        f"images; after every epoch the accuracy and loss (eval mode) on those images and on "
        f"{n_val} held-out validation images drawn from the training split, and their gap. "
        f"fovea's EarlyStopping (patience {patience}) watches the epochs with each monitor — "
        f"val_loss, val_acc and the notes' gap (stop once it has grown {patience} epochs in a "
        f"row) — until it says stop; its chosen epoch's weights are restored and tested on "
        f"{len(yt)} test images against the last epoch's.",
        numbers, [name],
        f"{why}: the gap goes from {gap[low]:.3f} at epoch {low + 1} to {gap[-1]:.3f} (90% "
        f"of that by epoch {plateau}{saturated}), while the validation loss {'rises' if rises else 'moves'} "
        f"from its lowest at epoch {best_val} ({curve['val_loss'].min():.3f} → "
        f"{curve['val_loss'][-1]:.3f}); early stopping on val_loss picks epoch "
        f"{numbers[vl + ': chosen epoch']} and stops at {numbers[vl + ': epochs run']} of "
        f"{epochs} epochs, testing {numbers[vl + ': test accuracy']:.2%} against the last "
        f"epoch's {last_test:.2%} (±{se:.2%}), val_acc {numbers['val_acc: test accuracy']:.2%} "
        f"at {numbers['val_acc: epochs run']} epochs, and {on_gap}.")


# ---- §3.5.1 the L2 term --------------------------------------------------------------------
LAMBDAS = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def _weight_norm(model) -> float:
    """‖w‖ = √(Σw²) over the weights weight_penalty penalizes (biases excluded)."""
    return math.sqrt(float(weight_penalty(model, l2=1.0).item()))


def _rank(values) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


@experiment("3.5.1", "Regularization can be achieved in multiple ways: with an extra term in "
            "the loss function", 90, 30)
def l2_regularization(ctx: Context) -> Result:
    n, n_val, epochs, lr = (500, 2000, 50, 0.01) if ctx.quick else (1000, 5000, 150, 0.01)
    x, y, xv, yv, data = _split(ctx, n, n_val)
    xt, yt, _ = _mnist(ctx, "test", 2000 if ctx.quick else 10000)
    numbers = {"training images": n, "validation images": n_val, "test images": len(yt),
               "epochs": epochs}
    rows = {}
    for lam in LAMBDAS:
        _seed(ctx)  # the same start and the same batches for every λ
        model = MLP(MLP_SIZES, "relu")
        _fit(ctx, model, x, y, epochs, lr, l2=lam)
        tr, va, te = (evaluate_arrays(model, a, b) for a, b in ((x, y), (xv, yv), (xt, yt)))
        rows[lam] = {"train accuracy": tr["accuracy"], "validation accuracy": va["accuracy"],
                     "test accuracy": te["accuracy"], "gap": tr["accuracy"] - va["accuracy"],
                     "training data loss": tr["loss"], "validation loss": va["loss"],
                     "loss gap": va["loss"] - tr["loss"], "weight norm": _weight_norm(model)}
        for key, value in rows[lam].items():
            numbers[f"λ={lam:g}: {key}"] = value
    positive = LAMBDAS[1:]
    base, top = rows[0.0], rows[LAMBDAS[-1]]
    best = max(positive, key=lambda lam: rows[lam]["validation accuracy"])
    best_loss = min(positive, key=lambda lam: rows[lam]["validation loss"])
    val_gain = rows[best]["validation accuracy"] - base["validation accuracy"]
    test_gain = rows[best]["test accuracy"] - base["test accuracy"]
    gaps = [rows[lam]["gap"] for lam in LAMBDAS]
    rho = float(np.corrcoef(_rank(LAMBDAS), _rank(gaps))[0, 1])
    se = _standard_error(base["validation accuracy"], n_val)
    numbers.update({"best λ > 0 (by validation accuracy)": best,
                    "best λ: validation accuracy gain over λ=0": val_gain,
                    "best λ: test accuracy gain over λ=0": test_gain,
                    "best λ > 0 (by validation loss)": best_loss,
                    "rank correlation of λ and the gap": rho,
                    "standard error of a validation accuracy": se})

    fig = _new_figure((13, 3.8))
    lams = np.array(positive)
    panels = (("accuracy", ("train accuracy", "validation accuracy", "test accuracy"),
               f"L2 penalty, {n} {data} images, {epochs} epochs"),
              ("train − validation accuracy", ("gap",), "the gap (dotted: λ=0)"),
              ("cross-entropy", ("training data loss", "validation loss"), "the losses"))
    for i, (ylabel, keys, title) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        for j, key in enumerate(keys):
            color = f"C{j}" if len(keys) > 1 else "C2"
            ax.semilogx(lams, [rows[lam][key] for lam in positive], marker="o", color=color,
                        label=key)
            ax.axhline(base[key], color=color, ls=":", lw=1, label=f"{key}, λ=0")
        if i == 0:
            ax.axvline(best, color="gray", ls="--", lw=1, label=f"best λ {best:g}")
        if i == 2:
            ax.set_yscale("log")
        _label(ax, "λ (loss + λΣw²)", ylabel, title)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
    name = _save_figure(ctx, fig, "l2_regularization.png")

    # the accuracy gap shrinking with λ and a better validation accuracy are the claim; a lower
    # validation loss alone is regularization that the accuracy does not show
    shrinks = gaps[-1] < gaps[0] - 0.02 and rho < -0.5
    helps = val_gain > se
    loss_helps = rows[best_loss]["validation loss"] < base["validation loss"]
    why = ("holds" if shrinks and helps else "holds partly" if shrinks or helps or loss_helps
           else "does not hold")
    train_drop = base["train accuracy"] - top["train accuracy"]
    how = ("as the training accuracy falls" if train_drop > (gaps[0] - gaps[-1]) / 2
           else "as the validation accuracy rises")
    beyond = "beyond" if val_gain > se else "within"
    joint = "and" if shrinks else "but"
    return Result(
        "l2_regularization", "3.5.1", _claim("l2_regularization"),
        f"fovea's MLP {'-'.join(map(str, MLP_SIZES))} (ReLU), the same start and batches, "
        f"trained {epochs} epochs of SGD (lr {lr}, momentum 0.9, batch {BATCH}) with fovea's "
        f"Trainer on {n} {data} training images, the loss being the cross-entropy plus "
        f"fovea.train.callbacks.weight_penalty's λΣw² over the weights (biases not penalized; "
        f"its gradient 2λw is SGD's weight_decay=2λ), for λ in {list(LAMBDAS)}. After "
        f"training: accuracy and loss on the training images, on {n_val} validation images "
        f"drawn from the training split and on {len(yt)} test images, the gap (train − "
        f"validation accuracy) and the weight norm √Σw². The best λ > 0 is chosen on "
        f"validation accuracy.",
        numbers, [name],
        f"{why}: the term shrinks the weights (‖w‖ {base['weight norm']:.1f} at λ=0, "
        f"{rows[best_loss]['weight norm']:.1f} at λ={best_loss:g}, {top['weight norm']:.1f} at "
        f"λ={LAMBDAS[-1]:g}) and lowers the validation loss ({base['validation loss']:.3f} → "
        f"{rows[best_loss]['validation loss']:.3f} at λ={best_loss:g}), {joint} the accuracy gap "
        f"goes from {gaps[0]:.3f} to {gaps[-1]:.3f} at λ={LAMBDAS[-1]:g} (rank correlation "
        f"with λ {rho:.2f}) {how} (training {base['train accuracy']:.1%} → "
        f"{top['train accuracy']:.1%}, validation {base['validation accuracy']:.1%} → "
        f"{top['validation accuracy']:.1%}), and the best λ={best:g} changes the validation "
        f"accuracy by {val_gain:+.2%} ({beyond} one standard error, ±{se:.2%}) and the test "
        f"accuracy by {test_gain:+.2%}.")


# ---- §3.5.2 data augmentation --------------------------------------------------------------
def _standardized(raw: np.ndarray) -> np.ndarray:
    return ((raw - np.float32(_MEAN)) / np.float32(_STD)).astype(np.float32)


SMALLEST_RUNS = 3
"""Seeds averaged at the smallest training set of augmentation_data_size."""


@experiment("3.5.2", "One last regularization method is to perform what is called data "
            "augmentation. (the notes stop there; rerun: augmentation helps most when the "
            "training data are scarce)", 110, 35)
def augmentation_data_size(ctx: Context) -> Result:
    """At the smallest size the gain is a mean over SMALLEST_RUNS seeds: one run of 250 epochs
    on 100 images moves by several points with its seed, or with the rounding of its sums
    (the gain at seed 0 was +0.3 points or +7.4 points on two BLAS thread counts)."""
    # every size divides steps × batch, so each run is whole epochs of exactly `steps` steps
    sizes, steps = ((100, 500, 2500), 500) if ctx.quick else ((250, 1000, 5000, 20000), 2000)
    lr = 0.02
    x, y, data = _mnist(ctx, "train", max(sizes))
    xt, yt, _ = _mnist(ctx, "test", 2000 if ctx.quick else 10000)
    raw = x * np.float32(_STD) + np.float32(_MEAN)  # augment the [0, 1] pixels: 0 enters
    numbers = {"steps per run": steps, "test images": len(yt),
               f"runs per setting at n={sizes[0]}": SMALLEST_RUNS}
    test, by_seed = {}, {}
    for n in sizes:
        runs = SMALLEST_RUNS if n == sizes[0] else 1
        for augmented in (False, True):
            tests, trains = [], []
            for r in range(runs):  # seeds ctx.seed, ctx.seed + 1, …
                run = replace(ctx, seed=ctx.seed + r)
                _seed(run)  # the same start and the same batch order with and without
                model = LeNet5()
                augment = (Compose([RandomAffine(degrees=10, translate=0.1, scale=(0.9, 1.1))],
                                   generator=run.seed + 1) if augmented else None)
                _fit(run, model, raw[:n], y[:n], steps * BATCH // n, lr, augment=augment,
                     transform=_standardized)
                tests.append(evaluate_arrays(model, xt, yt)["accuracy"])
                trains.append(evaluate_arrays(model, x[:n], y[:n])["accuracy"])
            tag = "augmented" if augmented else "plain"
            test[n, augmented] = float(np.mean(tests))
            numbers[f"n={n} {tag}: test accuracy"] = test[n, augmented]
            numbers[f"n={n} {tag}: training accuracy"] = float(np.mean(trains))
            if runs > 1:
                by_seed[augmented] = tests
        numbers[f"n={n}: epochs"] = steps * BATCH // n
        numbers[f"n={n}: gain"] = test[n, True] - test[n, False]
    seed_gains = np.subtract(by_seed[True], by_seed[False])
    for r, g in enumerate(seed_gains):
        numbers[f"n={sizes[0]}: gain, seed {ctx.seed + r}"] = float(g)
    gains = [numbers[f"n={n}: gain"] for n in sizes]
    se = _standard_error(test[sizes[0], False], len(yt))
    numbers["standard error of a test accuracy (smallest set, plain)"] = se

    fig = _new_figure((10, 3.8))
    ax = fig.add_subplot(1, 2, 1)
    for augmented, label in ((False, "plain"), (True, "augmented (RandomAffine)")):
        ax.semilogx(sizes, [test[n, augmented] for n in sizes], marker="o", label=label)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    _label(ax, "training images", "test accuracy", f"LeNet-5, {steps} SGD steps, {data}")
    ax = fig.add_subplot(1, 2, 2)
    ax.semilogx(sizes, gains, marker="o", color="C2", label="augmented − plain")
    ax.axhline(0, color="gray", ls=":")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    _label(ax, "training images", "test accuracy gain", "the gain of augmentation")
    name = _save_figure(ctx, fig, "augmentation_data_size.png")

    helps = gains[0] > 0
    shrinks = gains[-1] < gains[0] / 2
    steady = all(b <= a for a, b in zip(gains, gains[1:]))
    why = "holds" if helps and shrinks else "holds partly" if helps else "does not hold"
    big = sizes[-1]
    turns = ("" if gains[-1] >= 0 else
             f", and a loss at {big}, where the augmented net also fits its own training images "
             f"less ({numbers[f'n={big} augmented: training accuracy']:.1%} against "
             f"{numbers[f'n={big} plain: training accuracy']:.1%} in {steps * BATCH // big} "
             f"epochs)")
    return Result(
        "augmentation_data_size", "3.5.2", _claim("augmentation_data_size"),
        f"fovea's LeNet5 trained {steps} steps of SGD (lr {lr}, momentum 0.9, batch {BATCH}; "
        f"whole epochs, the same start and batch order) with fovea's Trainer on the first "
        f"{', '.join(map(str, sizes))} of a seeded draw of {data} training images, with and "
        f"without augmentation of every batch by fovea.data.augment.RandomAffine (rotation "
        f"±10°, translation ±10%, scale 0.9–1.1, seeded; on the [0, 1] pixels, then "
        f"standardized); test accuracy on {len(yt)} test images, at {sizes[0]} images the "
        f"mean over seeds {ctx.seed}–{ctx.seed + SMALLEST_RUNS - 1}.",
        numbers, [name],
        f"{why}: augmentation adds " + ", ".join(
            f"{g:+.2%} at {n}" for g, n in zip(gains, sizes))
        + f" images (±{se:.2%} at the smallest for one run; there, by seed, "
        + ", ".join(f"{g:+.2%}" for g in seed_gains) + "), the gain"
        + (" shrinking at every step" if steady else " shrinking overall, not at every step"
           if shrinks else " not shrinking to half")
        + f" as the data grow ({test[sizes[0], False]:.2%} → {test[sizes[0], True]:.2%} at "
        f"{sizes[0]}, {test[sizes[-1], False]:.2%} → {test[sizes[-1], True]:.2%} at "
        f"{sizes[-1]}){turns}.")
