"""The lab's §3.5 model ensembles: K networks trained apart (their own initial weights and batch
orders) and the average of their predictions against one network, in a strong and a weak
regime; then what averaging their parameters instead does, against averaging parameters along
one run (EMA, the last checkpoints) or over copies fine-tuned from a shared start. MNIST
(mnist-mini in quick mode), fovea's MLP."""

from __future__ import annotations

import numpy as np

from ..models import MLP
from ..train.callbacks import EMA, average_states, snapshot
from ..train.predict import majority_vote, predict_proba
from ..viz import _new_figure
from .common import _claim, _label, _mnist, _save_figure, _seed, _train
from .record import Context, Result
from .registry import experiment

_LR, _BATCH = 0.05, 64
_ABOUT_TWO = (1.0, 3.0)
"""The gain in accuracy points read as "~2%"."""


def _net(ctx: Context, sizes, init: int):
    """A ReLU MLP of ``sizes`` with the initial weights of seed ``ctx.seed + init``."""
    _seed(ctx, init)
    return MLP(sizes, "relu")


def _fit(model, x, y, steps: int, batches: int, decay=False, after_step=None):
    """``steps`` of SGD (lr 0.05, momentum 0.9, batch 64) in the batch order of seed
    ``batches``; with ``decay`` then a third as many at lr 0.005 (a step decay)."""
    _train(model, x, y, steps, lr=_LR, batch=_BATCH, seed=batches, after_step=after_step)
    if decay:
        _train(model, x, y, steps // 3, lr=_LR / 10, batch=_BATCH, seed=batches + 7919)
    return model


def _accuracy(probs, labels) -> np.ndarray:
    """The accuracy of probabilities (..., N, C) against ``labels`` (N,): shape (...)."""
    return (probs.argmax(-1) == labels).mean(-1)


def _ensemble_curves(probs, labels, orders):
    """Test accuracy of the first k = 1…K members' mean probabilities and majority vote, each
    the mean over the member orderings ``orders`` (R, K) (members are exchangeable: the mean
    over orderings is the expected accuracy of a k-member ensemble, with less noise)."""
    k_max = len(probs)
    mean_probs, vote = np.zeros(k_max), np.zeros(k_max)
    for order in orders:
        p = probs[order]
        mean_probs += _accuracy(np.cumsum(p, axis=0), labels)  # k × the mean of the first k
        vote += [np.mean(majority_vote(p[:k]) == labels) for k in range(1, k_max + 1)]
    return mean_probs / len(orders), vote / len(orders)


# ---- §3.5 the ensemble's gain --------------------------------------------------------------
@experiment("3.5", "If we had the possibility of training multiple models, we can use the model "
            "ensemble technique … This would grant, usually a ~2% performance improvement", 90, 30)
def ensembles(ctx: Context) -> Result:
    k_max, n_perms = 10, 2
    regimes = ({"strong": ((784, 128, 10), 10000, 1500), "weak": ((784, 16, 10), 5000, 1000)}
               if ctx.quick else
               {"strong": ((784, 256, 10), 60000, 3000), "weak": ((784, 16, 10), 5000, 1000)})
    xt, yt, data = _mnist(ctx, "test", 10000)
    # the cyclic shifts of random orderings: every member is the i-th equally often
    rng = np.random.default_rng(ctx.seed)
    orders = np.stack([np.roll(perm, s) for perm in [rng.permutation(k_max)
                                                     for _ in range(n_perms)]
                       for s in range(k_max)])
    numbers, curves, described, titles = {}, {}, [], {}
    for tag, (sizes, n, steps) in regimes.items():
        x, y, _ = _mnist(ctx, "train", n)
        probs = np.stack([predict_proba(_fit(_net(ctx, sizes, i), x, y, steps, ctx.seed + i,
                                             decay=True), xt) for i in range(k_max)])
        members = _accuracy(probs, yt)
        mean_probs, vote = _ensemble_curves(probs, yt, orders)
        single = float(members.mean())
        numbers[f"{tag}: mean member accuracy"] = single
        numbers[f"{tag}: worst member"] = float(members.min())
        numbers[f"{tag}: best member"] = float(members.max())
        for k in range(1, k_max + 1):
            numbers[f"{tag}: ensemble of {k}, mean probabilities"] = float(mean_probs[k - 1])
            numbers[f"{tag}: ensemble of {k}, majority vote"] = float(vote[k - 1])
        for k in (2, 5, 10):
            numbers[f"{tag}: gain at k={k} (points)"] = 100 * float(mean_probs[k - 1] - single)
            numbers[f"{tag}: vote gain at k={k} (points)"] = 100 * float(vote[k - 1] - single)
        numbers[f"{tag}: ensemble of {k_max} minus best member (points)"] = 100 * float(
            mean_probs[-1] - members.max())
        numbers[f"{tag}: error cut by the ensemble of {k_max}"] = float(
            1 - (1 - mean_probs[-1]) / (1 - single))
        curves[tag] = (members, mean_probs, vote)
        titles[tag] = f"{tag}: MLP {'-'.join(map(str, sizes))}, {n} training images"
        described.append(f"{titles[tag]}, {steps} steps at lr {_LR:g} then {steps // 3} at "
                         f"{_LR / 10:g}")

    fig = _new_figure((10, 3.8))
    ks = np.arange(1, k_max + 1)
    for i, (tag, (members, mean_probs, vote)) in enumerate(curves.items()):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.axhspan(100 * members.min(), 100 * members.max(), color="gray", alpha=0.2,
                   label="member range")
        ax.axhline(100 * members.mean(), color="gray", ls="--", label="mean member")
        ax.plot(ks, 100 * mean_probs, marker="o", ms=3, label="mean of probabilities")
        ax.plot(ks, 100 * vote, marker="s", ms=3, label="majority vote")
        ax.set_xticks(ks)
        _label(ax, "k (members averaged)", "test accuracy (%)", titles[tag])
    name = _save_figure(ctx, fig, "ensembles.png")

    gain = {tag: numbers[f"{tag}: gain at k={k_max} (points)"] for tag in regimes}
    about = [tag for tag in regimes if _ABOUT_TWO[0] <= gain[tag] <= _ABOUT_TWO[1]]
    why = ("holds" if len(about) == len(regimes) else "holds partly" if about else
           "does not hold")
    clauses = [f"{tag}: {numbers[f'{tag}: mean member accuracy']:.2%} → "
               f"{numbers[f'{tag}: ensemble of {k_max}, mean probabilities']:.2%} "
               f"(+{gain[tag]:.2f} points; +{numbers[f'{tag}: gain at k=2 (points)']:.2f} at "
               f"k=2, +{numbers[f'{tag}: gain at k=5 (points)']:.2f} at k=5)" for tag in regimes]
    if about and len(about) < len(regimes):
        where = (f"~2 points (read as {_ABOUT_TWO[0]:g}–{_ABOUT_TWO[1]:g}) is the gain in the "
                 f"{' and '.join(about)} regime only")
    elif about:
        where = f"~2 points (read as {_ABOUT_TWO[0]:g}–{_ABOUT_TWO[1]:g}) in every regime"
    else:
        where = f"no regime gains {_ABOUT_TWO[0]:g}–{_ABOUT_TWO[1]:g} points"
    cuts = " and ".join(f"{numbers[f'{tag}: error cut by the ensemble of {k_max}']:.0%} "
                        f"({tag})" for tag in regimes)
    weakest = min(regimes, key=lambda tag: numbers[f"{tag}: mean member accuracy"])
    trend = ("the weaker the members, the larger the gain in points" if
             weakest == max(regimes, key=gain.get) else
             "the gain in points does not follow the members' weakness")
    early = " and ".join(f"{numbers[f'{tag}: gain at k=5 (points)'] / gain[tag]:.0%}"
                         for tag in regimes)
    verdict = (f"{why}: averaging the predictions of {k_max} members lifts the test accuracy "
               f"— {'; '.join(clauses)} — so {where}; {trend} (the ensemble cuts the error by "
               f"{cuts}), and 5 members give {early} of the {k_max}-member gain.")
    return Result(
        "ensembles", "3.5", _claim("ensembles"),
        f"{k_max} members of one architecture per regime, each with its own initial weights and "
        f"batch order (seed + i), trained with SGD (momentum 0.9, batch 64) on the same {data} "
        f"images — {'; '.join(described)}. On {len(yt)} {data} test images: the accuracy of "
        f"the mean of the first k members' softmax probabilities and of their majority vote "
        f"(ties to the larger mean probability), k = 1…{k_max}, each averaged over the "
        f"{len(orders)} cyclic shifts of {n_perms} random orderings of the members, against the mean single-member accuracy. The "
        f"notes say the parameters are averaged; an ensemble averages predictions (what "
        f"averaging parameters does is the parameter_averaging experiment).",
        numbers, [name], verdict)


# ---- §3.5 averaging parameters -------------------------------------------------------------
def _run_with_averages(ctx: Context, sizes, x, y, t0: int, t1: int, decay: float, n_ckpt: int):
    """Member 0's run (init seed + 0, batches seed + 0, t0 + t1 steps) and what is kept along it:
    its initial weights, its weights at step t0 (the shared start), an EMA of its weights over
    the last t1 steps and ``n_ckpt`` checkpoints evenly over them (the last is the final)."""
    model = _net(ctx, sizes, 0)
    kept = {"init": snapshot(model), "checkpoints": [], "step": 0}
    every = t1 // n_ckpt

    def after_step(m):
        kept["step"] += 1
        step = kept["step"] - t0
        if step == 0:
            kept["fork"], kept["ema"] = snapshot(m), EMA(m, decay)
        elif step > 0:
            kept["ema"].update(m)
            if (t1 - step) % every == 0 and t1 - step < every * n_ckpt:
                kept["checkpoints"].append(snapshot(m))

    _fit(model, x, y, t0 + t1, ctx.seed, after_step=after_step)
    kept["final"] = snapshot(model)
    return model, kept


@experiment("3.5", "By training multiple models, we would have for each model different "
            "parameters, and at test time we would average the parameters of each model", 110, 15)
def parameter_averaging(ctx: Context) -> Result:
    k = 4 if ctx.quick else 5
    sizes, n, t0, t1 = (((784, 128, 128, 10), 10000, 600, 300) if ctx.quick else
                        ((784, 256, 256, 10), 60000, 2000, 1000))
    decay, n_ckpt = 1 - 3 / t1, 5
    x, y, data = _mnist(ctx, "train", n)
    xt, yt, _ = _mnist(ctx, "test", 10000)
    model, kept = _run_with_averages(ctx, sizes, x, y, t0, t1, decay, n_ckpt)
    groups = {"independent": [kept["final"]], "shared start": [], "shared init": []}
    for i in range(k):
        if i:  # its own initial weights and batch order, trained as long as member 0
            groups["independent"].append(snapshot(_fit(_net(ctx, sizes, i), x, y, t0 + t1,
                                                        ctx.seed + i)))
        model.load_state_dict(kept["fork"])  # member 0 at step t0, then its own batch order
        groups["shared start"].append(snapshot(_fit(model, x, y, t1, ctx.seed + k + i)))
        model.load_state_dict(kept["init"])  # member 0's initial weights, its own batch order
        groups["shared init"].append(snapshot(_fit(model, x, y, t0 + t1, ctx.seed + 2 * k + i)))

    def probs(state):
        model.load_state_dict(state)
        return predict_proba(model, xt)

    def accuracy(state) -> float:
        return float(_accuracy(probs(state), yt))

    numbers = {}
    for tag, states in groups.items():
        numbers[f"{tag}: mean member accuracy"] = float(np.mean([accuracy(s) for s in states]))
        numbers[f"{tag}: parameters of 2 averaged"] = accuracy(average_states(states[:2]))
        numbers[f"{tag}: parameters of {k} averaged"] = accuracy(average_states(states))
        numbers[f"{tag}: predictions of {k} averaged"] = float(_accuracy(
            np.mean([probs(s) for s in states], axis=0), yt))
    ema = dict(kept["final"], **kept["ema"].state_dict())
    numbers["one run: final weights"] = accuracy(kept["final"])
    numbers["one run: EMA of the weights"] = accuracy(ema)
    numbers[f"one run: mean of the last {n_ckpt} checkpoints"] = accuracy(
        average_states(kept["checkpoints"]))
    ts = np.linspace(0, 1, 11)
    paths = {tag: [accuracy(average_states(states[:2], (1 - t, t))) for t in ts]
             for tag, states in groups.items()}
    for tag, path in paths.items():
        numbers[f"{tag}: lowest accuracy between two members"] = float(min(path))
        numbers[f"{tag}: accuracy at the midpoint of two members"] = float(path[len(ts) // 2])

    fig = _new_figure((11, 4))
    ax = fig.add_subplot(1, 2, 1)
    for tag, path in paths.items():
        ax.plot(ts, 100 * np.asarray(path), marker="o", ms=3, label=tag)
    ax.axhline(10, color="gray", ls=":", label="chance")
    _label(ax, "t  in  (1 − t)·θ_A + t·θ_B", "test accuracy (%)",
           "between the parameters of two members")
    ax = fig.add_subplot(1, 2, 2)
    bars = {"independent: one member": numbers["independent: mean member accuracy"],
            f"independent: predictions of {k}": numbers[f"independent: predictions of {k} averaged"],
            "independent: parameters of 2": numbers["independent: parameters of 2 averaged"],
            f"independent: parameters of {k}": numbers[f"independent: parameters of {k} averaged"],
            f"shared start: parameters of {k}": numbers[f"shared start: parameters of {k} averaged"],
            f"shared init: parameters of {k}": numbers[f"shared init: parameters of {k} averaged"],
            "one run: final weights": numbers["one run: final weights"],
            "one run: EMA": numbers["one run: EMA of the weights"],
            f"one run: last {n_ckpt} checkpoints":
                numbers[f"one run: mean of the last {n_ckpt} checkpoints"]}
    pos = np.arange(len(bars))
    ax.barh(pos, [100 * v for v in bars.values()], color=["C0", "C2", "C3", "C3", "C1", "C1",
                                                          "C4", "C4", "C4"])
    for p, v in zip(pos, bars.values()):
        ax.text(100 * v + 1, p, f"{v:.1%}", va="center", fontsize=7)
    ax.set_yticks(pos)
    ax.set_yticklabels(list(bars), fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("averaging predictions or parameters")
    name = _save_figure(ctx, fig, "parameter_averaging.png")

    single = numbers["independent: mean member accuracy"]
    averaged = numbers[f"independent: parameters of {k} averaged"]
    fails = averaged < single - 0.1
    head = ("the notes slip: averaging the parameters of independently trained nets is not an "
            "ensemble" if fails else "holds: averaging the parameters of independently trained "
            "nets keeps their accuracy")
    verdict = (
        f"{head} — {k} of them (members {single:.1%}) average to {averaged:.1%} test accuracy "
        f"(two of them: {numbers['independent: parameters of 2 averaged']:.1%}), while averaging their predictions gives "
        f"{numbers[f'independent: predictions of {k} averaged']:.1%}: the ensemble's gain is "
        f"the averaged predictions'; parameters average well along one run (EMA "
        f"{numbers['one run: EMA of the weights']:.1%}, the last {n_ckpt} checkpoints "
        f"{numbers[f'one run: mean of the last {n_ckpt} checkpoints']:.1%}, against the final "
        f"weights' {numbers['one run: final weights']:.1%}) and over copies fine-tuned from a "
        f"shared start ({numbers[f'shared start: parameters of {k} averaged']:.1%}; from shared "
        f"initial weights {numbers[f'shared init: parameters of {k} averaged']:.1%}).")
    return Result(
        "parameter_averaging", "3.5", _claim("parameter_averaging"),
        f"ReLU MLPs {'-'.join(map(str, sizes))} trained with SGD (lr {_LR:g}, momentum 0.9, "
        f"batch 64) on {n} {data} images, in three groups of {k}: independent (own initial "
        f"weights and batch order, {t0 + t1} steps), shared start (member 0's weights at step "
        f"{t0}, then {t1} steps in their own batch order) and shared init (member 0's initial "
        f"weights, their own batch order, {t0 + t1} steps). Along member 0's run: an EMA of "
        f"the weights (decay {decay:g}) and the mean of {n_ckpt} checkpoints over the last "
        f"{t1} steps. On {len(yt)} test images: the accuracy of each group's averaged "
        f"parameters (fovea.train.callbacks.average_states) and averaged predictions, and "
        f"along (1 − t)·θ_A + t·θ_B between two members of each group.",
        numbers, [name], verdict)
