"""Adagrad, RMSprop and AdamW follow PyTorch's parameter trajectory; their state and dtypes.

As in test_optim_torch.py: the same small model (Linear → ReLU → Linear) starts from identical
weights in fovea and torch and is trained with cross-entropy on fixed random data; after every
one of 25 steps the parameters must agree to 1e-5 relative (max|a − b| ≤ 1e-5 · max(1, max|b|)).
The tests that need no torch (state_dict round trip, dtypes, grads left alone) run without it.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close
from helpers import assert_continues_torch_state, assert_steps_leave_grads

import fovea
from fovea import nn, optim

RTOL = 1e-5
STEPS = 25
NAMES = ["Adagrad", "RMSprop", "AdamW"]


def assert_close(actual, expected, rtol=RTOL, what="value"):
    shared_assert_close(actual, expected, rtol, what)


def make_model(dtype=np.float32, seed=0):
    """A fovea MLP with weights drawn from a seeded NumPy generator (no torch needed)."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)
    model.load_state_dict({k: rng.uniform(-0.5, 0.5, v.shape).astype(dtype)
                           for k, v in model.state_dict().items()})
    return model


def torch_copy(torch, fmod, dtype=np.float32):
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    tmod = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 3)).to(tdt)
    tmod.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in fmod.state_dict().items()})
    return tmod


def make_data(dtype=np.float32):
    rng = np.random.default_rng(1)
    return rng.standard_normal((16, 6)).astype(dtype), rng.integers(0, 3, 16).astype(np.int64)


def fovea_step(model, opt, x, y):
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(fovea.tensor(x)), fovea.tensor(y)).backward()
    opt.step()
    return [p.data.copy() for p in model.parameters()]


def torch_step(torch, model, opt, x, y):
    opt.zero_grad()
    torch.nn.CrossEntropyLoss()(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def _two_groups(model):
    return [{"params": list(model[0].parameters())},
            {"params": list(model[2].parameters()), "lr": 0.005}]


def compare_trajectories(name, kwargs, dtype=np.float32, steps=STEPS, groups=None,
                         torch_name=None):
    torch = pytest.importorskip("torch")
    fmod = make_model(dtype)
    tmod = torch_copy(torch, fmod, dtype)
    x, y = make_data(dtype)
    split = groups or (lambda m: m.parameters())
    fopt = getattr(optim, name)(split(fmod), **kwargs)
    topt = getattr(torch.optim, torch_name or name)(split(tmod), **kwargs)
    for step in range(steps):
        fparams = fovea_step(fmod, fopt, x, y)
        tparams = torch_step(torch, tmod, topt, x, y)
        for i, (a, b) in enumerate(zip(fparams, tparams)):
            assert a.dtype == dtype
            assert_close(a, b, what=f"step {step + 1}, parameter {i}")
    return fopt


def _ids(cases):
    return ["-".join(f"{k}={v}" for k, v in c.items()) for c in cases]


ADAGRAD_CASES = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "lr_decay": 0.05},
    {"lr": 0.05, "initial_accumulator_value": 0.1},
    {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.02, "initial_accumulator_value": 0.5,
     "eps": 1e-6},
    {"lr": 0.05, "maximize": True},
]

RMSPROP_CASES = [
    {},
    {"lr": 0.005, "alpha": 0.9},
    {"lr": 0.005, "weight_decay": 0.1},
    {"lr": 0.002, "momentum": 0.9},
    {"lr": 0.002, "centered": True},
    {"lr": 0.002, "centered": True, "momentum": 0.8, "weight_decay": 0.05, "eps": 1e-6},
    {"lr": 0.005, "maximize": True},
]

ADAMW_CASES = [
    {},
    {"lr": 0.01},
    {"lr": 0.01, "weight_decay": 0.0},
    {"lr": 0.01, "weight_decay": 0.5},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.2, "amsgrad": True},
    {"lr": 0.01, "maximize": True},
]


@pytest.mark.parametrize("kwargs", ADAGRAD_CASES, ids=_ids(ADAGRAD_CASES))
def test_adagrad_trajectory(kwargs):
    compare_trajectories("Adagrad", kwargs)


@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=_ids(RMSPROP_CASES))
def test_rmsprop_trajectory(kwargs):
    compare_trajectories("RMSprop", kwargs)


@pytest.mark.parametrize("kwargs", ADAMW_CASES, ids=_ids(ADAMW_CASES))
def test_adamw_trajectory(kwargs):
    compare_trajectories("AdamW", kwargs)


def test_adam_decoupled_flag_is_adamw():
    """Adam(decoupled_weight_decay=True) is AdamW, in fovea as in torch; plain Adam's decay
    stays coupled."""
    kwargs = {"lr": 0.01, "weight_decay": 0.3, "decoupled_weight_decay": True}
    compare_trajectories("Adam", kwargs)
    fopt = compare_trajectories("Adam", {"lr": 0.01, "weight_decay": 0.3}, steps=5)
    assert fopt.param_groups[0]["decoupled_weight_decay"] is False
    assert optim.AdamW([nn.Parameter(np.zeros(2, np.float32))]).defaults[
        "decoupled_weight_decay"] is True
    assert issubclass(optim.AdamW, optim.Adam)


@pytest.mark.parametrize("name, kwargs", [
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.5, "centered": True}),
    ("AdamW", {"lr": 0.02, "amsgrad": True}),
])
def test_float64_and_two_param_groups(name, kwargs):
    compare_trajectories(name, kwargs, dtype=np.float64, steps=10)
    fopt = compare_trajectories(name, kwargs, groups=_two_groups, steps=10)
    assert [g["lr"] for g in fopt.param_groups] == [kwargs["lr"], 0.005]


def test_aliases_and_defaults_equal_torch():
    torch = pytest.importorskip("torch")
    assert optim.AdaGrad is optim.Adagrad and optim.RMSProp is optim.RMSprop
    p = torch.nn.Parameter(torch.zeros(2))
    q = nn.Parameter(np.zeros(2, np.float32))
    for name in NAMES + ["Adam"]:
        fdef = getattr(optim, name)([q]).defaults
        tdef = getattr(torch.optim, name)([p]).defaults
        for k, v in fdef.items():
            assert k in tdef and tdef[k] == v, (name, k)


def test_lr_change_between_steps():
    """A scheduler sets group["lr"]; the next step must use it (AdamW's decay too)."""
    torch = pytest.importorskip("torch")
    for name in NAMES:
        fmod = make_model()
        tmod = torch_copy(torch, fmod)
        x, y = make_data()
        fopt = getattr(optim, name)(fmod.parameters(), lr=0.01, weight_decay=0.1)
        topt = getattr(torch.optim, name)(tmod.parameters(), lr=0.01, weight_decay=0.1)
        for step in range(8):
            for fg, tg in zip(fopt.param_groups, topt.param_groups):
                fg["lr"] = tg["lr"] = 0.01 * 0.7**step
            for a, b in zip(fovea_step(fmod, fopt, x, y), torch_step(torch, tmod, topt, x, y)):
                assert_close(a, b, what=name)


# ---- state_dict ---------------------------------------------------------------------------------
STATE_CASES = [
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.005}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}),
]
STATE_IDS = [f"{n}-{_ids([k])[0]}" for n, k in STATE_CASES]


@pytest.mark.parametrize("name, kwargs", STATE_CASES, ids=STATE_IDS)
def test_state_dict_round_trip(name, kwargs):
    """5 steps, save, fresh model and optimizer, load, 5 more == 10 uninterrupted."""
    cls = getattr(optim, name)
    x, y = make_data()
    ref = make_model()
    ref_opt = cls(_two_groups(ref), **kwargs)
    for _ in range(10):
        expected = fovea_step(ref, ref_opt, x, y)

    model = make_model()
    opt = cls(_two_groups(model), **kwargs)
    for _ in range(5):
        fovea_step(model, opt, x, y)
    saved_opt = opt.state_dict()
    saved_model = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    fovea_step(model, opt, x, y)  # training on must not change what was saved
    assert sorted(saved_opt["state"]) == [0, 1, 2, 3]
    assert all(s["step"] == 5 for s in saved_opt["state"].values())

    model2 = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    model2.load_state_dict(saved_model)
    opt2 = cls(_two_groups(model2), lr=123.0)
    opt2.load_state_dict(saved_opt)
    assert [g["lr"] for g in opt2.param_groups] == [kwargs["lr"], 0.005]
    for _ in range(5):
        got = fovea_step(model2, opt2, x, y)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32
    for s in opt2.state.values():
        assert all(v.dtype == np.float32 for v in s.values() if hasattr(v, "dtype"))


@pytest.mark.parametrize("name, kwargs", STATE_CASES, ids=STATE_IDS)
def test_load_torch_optimizer_state(name, kwargs):
    """A torch optimizer's state_dict (same state names) continues the same trajectory."""
    torch = pytest.importorskip("torch")
    fmod = make_model()
    x, y = make_data()
    assert_continues_torch_state(
        torch, name, kwargs, fmod, torch_copy(torch, fmod),
        lambda m, o: fovea_step(m, o, x, y), lambda m, o: torch_step(torch, m, o, x, y), RTOL)


# ---- gradients, dtypes, arguments ------------------------------------------------------------
OPTIONS = [
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.1}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
]
OPTION_IDS = [f"{n}-{_ids([k])[0]}" for n, k in OPTIONS]


@pytest.mark.parametrize("name, kwargs", OPTIONS, ids=OPTION_IDS)
def test_step_does_not_modify_grad(name, kwargs):
    model = make_model()
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    x, y = make_data()
    nn.CrossEntropyLoss()(model(fovea.tensor(x)), fovea.tensor(y)).backward()
    assert_steps_leave_grads(model, opt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", OPTIONS, ids=OPTION_IDS)
def test_dtype_preserved(name, kwargs, dtype):
    model = make_model(dtype)
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    x, y = make_data(dtype)
    for _ in range(3):
        fovea_step(model, opt, x, y)
    for p in model.parameters():
        assert p.dtype == dtype
        state = opt.state[id(p)]
        assert state["step"] == 3
        for v in state.values():
            if hasattr(v, "dtype"):
                assert v.dtype == dtype


@pytest.mark.parametrize("name", NAMES)
def test_params_without_grad_are_skipped(name):
    """No grad, no update (not even AdamW's decoupled decay), no state, as PyTorch."""
    a = nn.Parameter(np.ones(3, np.float32))
    b = nn.Parameter(np.ones(3, np.float32))
    opt = getattr(optim, name)([a, b], lr=0.1, weight_decay=0.5)
    (a * a).sum().backward()
    opt.step()
    assert not np.allclose(a.data, 1.0)
    np.testing.assert_array_equal(b.data, np.ones(3, np.float32))
    assert id(b) not in opt.state


def test_invalid_hyperparameters():
    p = [nn.Parameter(np.zeros(2, np.float32))]
    bad = [
        ("Adagrad", {"lr": -1.0}), ("Adagrad", {"lr_decay": -0.1}),
        ("Adagrad", {"weight_decay": -0.1}), ("Adagrad", {"initial_accumulator_value": -1.0}),
        ("Adagrad", {"eps": -1e-10}),
        ("RMSprop", {"lr": -1.0}), ("RMSprop", {"alpha": -0.1}), ("RMSprop", {"eps": -1.0}),
        ("RMSprop", {"momentum": -0.5}), ("RMSprop", {"weight_decay": -0.1}),
        ("AdamW", {"lr": -1.0}), ("AdamW", {"betas": (0.9, 1.0)}), ("AdamW", {"eps": -1.0}),
        ("AdamW", {"weight_decay": -0.1}),
    ]
    for name, kwargs in bad:
        with pytest.raises(ValueError):
            getattr(optim, name)(p, **kwargs)
    for name in NAMES:
        with pytest.raises(ValueError):
            getattr(optim, name)([])
