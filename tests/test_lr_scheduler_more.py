"""MultiStepLR, ExponentialLR, LinearLR, OneCycleLR and ReduceLROnPlateau follow
torch.optim.lr_scheduler.

As in test_lr_scheduler.py, fovea's and torch's schedules run side by side (the lr read before
each step, as a training loop does) and every lr must agree to 1e-9 relative; OneCycleLR's
momentum (SGD) and β₁ (Adam) too. ReduceLROnPlateau is fed the same scripted metric sequence.
The state_dict tests save mid-run, pass the state through standard JSON, resume in fresh
objects and require the uninterrupted sequence exactly; they and the behaviour tests need no
torch.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fovea import nn, optim
from fovea.optim.lr_scheduler import (
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
)

STEPS = 35
RTOL = 1e-9
GROUPS = (0.1, 0.003)


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    """|a − b| ≤ rtol · |b|, with a tiny absolute floor for values that are (nearly) zero."""
    return abs(a - b) <= rtol * abs(b) + 1e-15


def fovea_optimizer(kind="sgd", groups=GROUPS):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    split = [{"params": model[0].parameters(), "lr": groups[0]},
             {"params": model[1].parameters(), "lr": groups[1]}]
    if kind == "sgd":
        return optim.SGD(split, lr=0.1, momentum=0.9)
    return getattr(optim, {"adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}[kind])(
        split, lr=0.1)


def torch_optimizer(torch, kind="sgd", groups=GROUPS):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    split = [{"params": model[0].parameters(), "lr": groups[0]},
             {"params": model[1].parameters(), "lr": groups[1]}]
    if kind == "sgd":
        return torch.optim.SGD(split, lr=0.1, momentum=0.9)
    return getattr(torch.optim, {"adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}[
        kind])(split, lr=0.1)


def record(opt) -> list:
    """lr, momentum and β₁, β₂ of every group (None where the optimizer has none)."""
    return [(g["lr"], g.get("momentum"), *(g.get("betas") or (None, None)))
            for g in opt.param_groups]


def run(opt, sched, steps=STEPS, metrics=None) -> list:
    seq = []
    for i in range(steps):
        seq.append(record(opt))
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
    seq.append(record(opt))
    return seq


def assert_same_sequence(ours, theirs):
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert len(a) == len(b)
        for g, (x, y) in enumerate(zip(a, b)):
            for what, u, v in zip(("lr", "momentum", "beta1", "beta2"), x, y):
                if v is None:
                    assert u is None or u == 0, (step, g, what)
                else:
                    assert close(u, v), f"step {step} group {g} {what}: fovea {u!r}, torch {v!r}"


def compare(make_f, make_t, kind="sgd", steps=STEPS, metrics=None, groups=GROUPS):
    torch = pytest.importorskip("torch")
    fopt = fovea_optimizer(kind, groups)
    topt = torch_optimizer(torch, kind, groups)
    fs, ts = make_f(fopt), make_t(topt, torch.optim.lr_scheduler)
    assert_same_sequence(run(fopt, fs, steps, metrics), run(topt, ts, steps, metrics))
    assert all(close(a, b) for a, b in zip(fs.get_last_lr(), ts.get_last_lr()))
    return fs, ts


# ---- epoch schedules against PyTorch ------------------------------------------------------------
@pytest.mark.parametrize("milestones, gamma", [
    ([3, 7, 12], 0.1), ([5, 5, 20], 0.5), ([0], 0.3), ([30, 10, 20], 0.7), ([40], 0.1), ([], 0.1),
])
def test_multisteplr_matches_torch(milestones, gamma):
    compare(lambda o: MultiStepLR(o, milestones, gamma),
            lambda o, ls: ls.MultiStepLR(o, milestones, gamma))


@pytest.mark.parametrize("gamma", [0.9, 0.5, 1.0, 0.99, 1.05])
def test_exponentiallr_matches_torch(gamma):
    compare(lambda o: ExponentialLR(o, gamma), lambda o, ls: ls.ExponentialLR(o, gamma))


@pytest.mark.parametrize("kwargs", [
    {}, {"start_factor": 0.1, "total_iters": 10}, {"start_factor": 1.0, "end_factor": 0.1,
                                                   "total_iters": 8},
    {"start_factor": 0.5, "end_factor": 0.5, "total_iters": 4},
    {"start_factor": 0.25, "end_factor": 0.0, "total_iters": 6},
    {"start_factor": 0.01, "total_iters": 50}, {"start_factor": 0.2, "total_iters": 1},
])
def test_linearlr_matches_torch(kwargs):
    compare(lambda o: LinearLR(o, **kwargs), lambda o, ls: ls.LinearLR(o, **kwargs))


# ---- OneCycleLR -------------------------------------------------------------------------------
ONECYCLE_CASES = [
    {"max_lr": 0.5, "total_steps": STEPS},
    {"max_lr": 0.5, "total_steps": STEPS, "anneal_strategy": "linear"},
    {"max_lr": 0.5, "total_steps": STEPS, "three_phase": True},
    {"max_lr": 0.5, "total_steps": STEPS, "three_phase": True, "anneal_strategy": "linear",
     "pct_start": 0.4},
    {"max_lr": [0.5, 0.02], "epochs": 5, "steps_per_epoch": 7, "pct_start": 0.25,
     "div_factor": 10.0, "final_div_factor": 100.0},
    {"max_lr": 0.5, "total_steps": STEPS, "base_momentum": [0.8, 0.7],
     "max_momentum": [0.9, 0.99]},
    {"max_lr": 0.5, "total_steps": STEPS, "cycle_momentum": False},
    {"max_lr": 0.3, "total_steps": STEPS, "pct_start": 0.0},
    {"max_lr": 0.3, "total_steps": STEPS, "pct_start": 1.0, "anneal_strategy": "linear"},
]
ONECYCLE_IDS = ["cos", "linear", "three-phase", "three-phase-linear", "epochs-per-group",
                "momentum-per-group", "no-momentum", "pct0", "pct1"]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("kwargs", ONECYCLE_CASES, ids=ONECYCLE_IDS)
def test_onecycle_matches_torch(kwargs, kind):
    """Every batch step until total_steps: lr and momentum (SGD) or betas (Adam)."""
    if kwargs.get("pct_start") == 1.0:  # torch divides by zero at the step to total_steps
        fs, _ = compare(lambda o: OneCycleLR(o, **kwargs),
                        lambda o, ls: ls.OneCycleLR(o, **kwargs), kind=kind, steps=STEPS - 1)
        fs.step()
        assert fs.get_last_lr() == pytest.approx([g["min_lr"] for g in fs.optimizer.param_groups])
        return
    fs, ts = compare(lambda o: OneCycleLR(o, **kwargs),
                     lambda o, ls: ls.OneCycleLR(o, **kwargs), kind=kind, steps=STEPS)
    for sched in (fs, ts):  # one step past total_steps is an error, in both
        with pytest.raises(ValueError):
            sched.step()


def test_onecycle_rmsprop_momentum_matches_torch():
    compare(lambda o: OneCycleLR(o, max_lr=0.05, total_steps=STEPS),
            lambda o, ls: ls.OneCycleLR(o, max_lr=0.05, total_steps=STEPS), kind="rmsprop")


def test_onecycle_needs_momentum_or_betas():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        torch.optim.lr_scheduler.OneCycleLR(torch_optimizer(torch, "adagrad"), 0.1, 10)
    with pytest.raises(ValueError):
        OneCycleLR(fovea_optimizer("adagrad"), 0.1, 10)
    OneCycleLR(fovea_optimizer("adagrad"), 0.1, 10, cycle_momentum=False)


def test_onecycle_shape():
    opt = fovea_optimizer(groups=(0.1, 0.1))
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=100, div_factor=20.0,
                       final_div_factor=1e3)
    seq = run(opt, sched, steps=99)
    lrs = [s[0][0] for s in seq]
    moms = [s[0][1] for s in seq]
    assert lrs[0] == pytest.approx(0.05) and moms[0] == pytest.approx(0.95)
    peak = int(np.argmax(lrs))
    assert peak == 29 and lrs[peak] == pytest.approx(1.0)
    assert moms[peak] == pytest.approx(0.85) and min(moms) == moms[peak]
    assert lrs[-1] == pytest.approx(0.05 / 1e3)
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    assert opt.param_groups[0]["max_lr"] == 1.0 and opt.param_groups[0]["initial_lr"] == 0.05
    with pytest.raises(ValueError):
        OneCycleLR(opt, max_lr=1.0)  # neither total_steps nor epochs and steps_per_epoch
    with pytest.raises(ValueError):
        OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError):
        OneCycleLR(opt, max_lr=[1.0], total_steps=10)  # one value for two groups


# ---- ReduceLROnPlateau ---------------------------------------------------------------------------
def scripted_metric(n=40):
    """Falls, then plateaus (with improvements too small for the default rel threshold),
    then falls again and wobbles."""
    seq = [1.0 / (1 + 0.3 * t) for t in range(8)]
    seq += [0.3, 0.30001, 0.29999, 0.29998, 0.3, 0.29997, 0.31, 0.2999]
    seq += [0.25, 0.2, 0.2, 0.21, 0.19, 0.195, 0.19, 0.191, 0.18, 0.18]
    seq += [0.18 - 1e-3 * k for k in range(n - len(seq))]
    return seq[:n]


PLATEAU_CASES = [
    {"patience": 2},
    {"patience": 0},
    {"patience": 1, "threshold": 0.05},
    {"patience": 1, "threshold": 0.005, "threshold_mode": "abs"},
    {"mode": "max", "patience": 2},
    {"mode": "max", "patience": 1, "threshold": 0.01, "threshold_mode": "abs"},
    {"patience": 1, "cooldown": 3},
    {"patience": 0, "factor": 0.5, "min_lr": 0.01},
    {"patience": 0, "factor": 0.5, "min_lr": [0.02, 1e-4]},
    {"patience": 0, "factor": 0.9, "eps": 1e-3},
    {},
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[
    "-".join(f"{k}={v}" for k, v in c.items()) or "defaults" for c in PLATEAU_CASES])
def test_plateau_matches_torch(kwargs):
    metrics = scripted_metric()
    if kwargs.get("mode") == "max":
        metrics = [1.0 - m for m in metrics]
    fs, ts = compare(lambda o: ReduceLROnPlateau(o, **kwargs),
                     lambda o, ls: ls.ReduceLROnPlateau(o, **kwargs),
                     steps=len(metrics), metrics=metrics)
    assert fs.best == ts.best and fs.last_epoch == ts.last_epoch
    assert fs.num_bad_epochs == ts.num_bad_epochs
    assert fs.cooldown_counter == ts.cooldown_counter


def test_plateau_behaviour():
    opt = fovea_optimizer(groups=(1.0, 0.5))
    sched = ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for _ in range(3):  # the first value is an improvement over +inf, then 2 bad epochs
        sched.step(1.0)
    assert sched.get_last_lr() == [1.0, 0.5]
    sched.step(1.0)  # the third bad epoch exceeds the patience
    assert sched.get_last_lr() == [0.5, 0.25] and sched.num_bad_epochs == 0
    sched.step(0.5)
    assert sched.best == 0.5
    assert sched.needs_metric and not ExponentialLR(fovea_optimizer(), 0.9).needs_metric
    with pytest.raises(ValueError):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError):
        ReduceLROnPlateau(opt, mode="median")
    with pytest.raises(ValueError):
        ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError):
        ReduceLROnPlateau(opt, min_lr=[0.1])


# ---- state_dict resume (no torch) --------------------------------------------------------------
RESUME = [
    ("MultiStepLR", "sgd", lambda o: MultiStepLR(o, [4, 9, 15, 15], 0.5), None),
    ("ExponentialLR", "sgd", lambda o: ExponentialLR(o, 0.93), None),
    ("LinearLR", "sgd", lambda o: LinearLR(o, 0.1, 1.0, 20), None),
    ("OneCycleLR-sgd", "sgd", lambda o: OneCycleLR(o, [0.5, 0.05], total_steps=STEPS), None),
    ("OneCycleLR-adam", "adam",
     lambda o: OneCycleLR(o, 0.5, total_steps=STEPS, three_phase=True), None),
    ("ReduceLROnPlateau", "sgd",
     lambda o: ReduceLROnPlateau(o, patience=1, cooldown=1, factor=0.5), scripted_metric(STEPS)),
    ("ReduceLROnPlateau-max", "sgd",
     lambda o: ReduceLROnPlateau(o, mode="max", patience=0), [-m for m in scripted_metric(STEPS)]),
]


@pytest.mark.parametrize("name, kind, make, metrics", RESUME, ids=[r[0] for r in RESUME])
@pytest.mark.parametrize("at", [0, 12])
def test_state_dict_resumes_the_same_sequence(name, kind, make, metrics, at):
    opt = fovea_optimizer(kind)
    full = run(opt, make(opt), metrics=metrics)

    opt = fovea_optimizer(kind)
    sched = make(opt)
    seq = run(opt, sched, steps=at, metrics=metrics)[:-1]
    opt_state = opt.state_dict()
    sched_state = json.loads(json.dumps(sched.state_dict(), allow_nan=False))  # standard JSON
    assert "optimizer" not in sched_state
    assert sched_state == sched.state_dict()  # JSON loses nothing (no tuples, no inf)

    opt2 = fovea_optimizer(kind)
    sched2 = make(opt2)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    assert sched2.state_dict() == sched_state
    assert sched2.get_last_lr() == sched.get_last_lr()
    rest = run(opt2, sched2, steps=STEPS - at,
               metrics=None if metrics is None else metrics[at:])
    assert seq + rest == full


def test_state_dict_is_a_snapshot():
    """Neither the saved nor the loaded state aliases the scheduler's own lists."""
    opt = fovea_optimizer()
    sched = MultiStepLR(opt, [2, 4])
    state = sched.state_dict()
    state["base_lrs"][0] = 1.0
    assert sched.base_lrs == list(GROUPS)
    sched.load_state_dict(state)
    state["base_lrs"][0] = 2.0
    assert sched.base_lrs == [1.0, GROUPS[1]]


def test_closed_forms():
    opt = fovea_optimizer(groups=(0.2, 0.02))
    seq = [s[0][0] for s in run(opt, LinearLR(opt, 0.25, 1.0, 4), steps=8)]
    assert seq == pytest.approx([0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2, 0.2, 0.2, 0.2])
    opt = fovea_optimizer(groups=(0.2, 0.02))
    seq = [s[1][0] for s in run(opt, MultiStepLR(opt, [2, 2, 5], 0.5), steps=6)]
    assert seq == pytest.approx([0.02, 0.02, 0.005, 0.005, 0.005, 0.0025, 0.0025])
    opt = fovea_optimizer(groups=(0.2, 0.02))
    sched = ExponentialLR(opt, 0.5)
    for _ in range(3):
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.025, 0.0025])
    assert math.isclose(opt.param_groups[0]["initial_lr"], 0.2)
    with pytest.raises(ValueError):
        LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError):
        LinearLR(opt, end_factor=1.5)
