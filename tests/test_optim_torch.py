"""SGD and Adam follow PyTorch's parameter trajectory; optimizer state and grad semantics.

The same small model (Linear → ReLU → Linear) starts from identical weights in fovea and
torch and is trained on fixed random data; after every one of 25 steps the parameters must agree
to 1e-5 relative (max|a − b| ≤ 1e-5 · max(1, max|b|)).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close
from helpers import assert_continues_torch_state, assert_steps_leave_grads

import fovea
from fovea import nn, optim

torch = pytest.importorskip("torch")

RTOL = 1e-5
STEPS = 25


def assert_close(actual, expected, rtol=RTOL, what="value"):
    shared_assert_close(actual, expected, rtol, what)


def make_models(dtype=np.float32, seed=0):
    """The same MLP in torch and fovea, with torch's initial weights copied into fovea."""
    torch.manual_seed(seed)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    tmod = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 3)).to(tdt)
    fmod = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return fmod, tmod


def make_data(dtype=np.float32, loss="mse"):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 6)).astype(dtype)
    if loss == "mse":
        y = rng.standard_normal((16, 3)).astype(dtype)
    else:
        y = rng.integers(0, 3, 16).astype(np.int64)
    return x, y


def fovea_step(model, opt, x, y, loss="mse"):
    opt.zero_grad()
    out = model(fovea.tensor(x))
    fn = nn.MSELoss() if loss == "mse" else nn.CrossEntropyLoss()
    fn(out, fovea.tensor(y)).backward()
    opt.step()
    return [p.data.copy() for p in model.parameters()]


def torch_step(model, opt, x, y, loss="mse"):
    opt.zero_grad()
    out = model(torch.from_numpy(x))
    fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()
    fn(out, torch.from_numpy(y)).backward()
    opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def compare_trajectories(fopt_cls, topt_cls, kwargs, dtype=np.float32, loss="mse",
                         steps=STEPS, groups=None):
    fmod, tmod = make_models(dtype)
    x, y = make_data(dtype, loss)
    if groups is None:
        fopt = fopt_cls(fmod.parameters(), **kwargs)
        topt = topt_cls(tmod.parameters(), **kwargs)
    else:
        fopt = fopt_cls(groups(fmod), **kwargs)
        topt = topt_cls(groups(tmod), **kwargs)
    for step in range(steps):
        fparams = fovea_step(fmod, fopt, x, y, loss)
        tparams = torch_step(tmod, topt, x, y, loss)
        for i, (a, b) in enumerate(zip(fparams, tparams)):
            assert a.dtype == dtype
            assert_close(a, b, what=f"step {step + 1}, parameter {i}")
    return fmod, fopt


SGD_CASES = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True},
    {"lr": 0.01, "maximize": True},
    {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01, "maximize": True},
]

ADAM_CASES = [
    {"lr": 0.01},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "maximize": True},
    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05, "amsgrad": True},
]


def _ids(cases):
    return ["-".join(f"{k}={v}" for k, v in c.items()) for c in cases]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=_ids(SGD_CASES))
def test_sgd_trajectory(kwargs):
    compare_trajectories(optim.SGD, torch.optim.SGD, kwargs)


@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=_ids(ADAM_CASES))
def test_adam_trajectory(kwargs):
    compare_trajectories(optim.Adam, torch.optim.Adam, kwargs)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_trajectory_cross_entropy_float64(opt):
    if opt == "sgd":
        compare_trajectories(optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9},
                             dtype=np.float64, loss="ce")
    else:
        compare_trajectories(optim.Adam, torch.optim.Adam, {"lr": 0.01, "amsgrad": True},
                             dtype=np.float64, loss="ce")


def _two_groups(model):
    first, last = model[0], model[2]
    return [{"params": list(first.parameters())},
            {"params": list(last.parameters()), "lr": 0.005}]


@pytest.mark.parametrize("opt, kwargs", [
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("Adam", {"lr": 0.02}),
])
def test_two_param_groups(opt, kwargs):
    _fmod, fopt = compare_trajectories(getattr(optim, opt), getattr(torch.optim, opt), kwargs,
                                      groups=_two_groups, steps=10)
    assert [g["lr"] for g in fopt.param_groups] == [kwargs["lr"], 0.005]
    assert len(fopt.param_groups[0]["params"]) == 2


def test_lr_change_between_steps():
    """A scheduler sets group["lr"]; the next step must use it."""
    fmod, tmod = make_models()
    x, y = make_data()
    fopt = optim.SGD(fmod.parameters(), lr=0.1, momentum=0.5)
    topt = torch.optim.SGD(tmod.parameters(), lr=0.1, momentum=0.5)
    for step in range(10):
        for fg, tg in zip(fopt.param_groups, topt.param_groups):
            fg["lr"] = tg["lr"] = 0.1 * 0.8**step
        for a, b in zip(fovea_step(fmod, fopt, x, y), torch_step(tmod, topt, x, y)):
            assert_close(a, b)


def test_defaults_equal_torch():
    p = torch.nn.Parameter(torch.zeros(2))
    q = nn.Parameter(np.zeros(2, np.float32))
    for name in ("SGD", "Adam"):
        fdef = getattr(optim, name)([q]).defaults
        tdef = getattr(torch.optim, name)([p]).defaults
        for k, v in fdef.items():
            assert k in tdef and tdef[k] == v, (name, k)


# ---- optimizer state_dict ----------------------------------------------------------------------
OPT_CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("name, kwargs", OPT_CASES,
                         ids=[f"{n}-{_ids([k])[0]}" for n, k in OPT_CASES])
def test_state_dict_round_trip(name, kwargs):
    """5 steps, save, fresh optimizer (and fresh model), load, 5 more == 10 uninterrupted."""
    cls = getattr(optim, name)
    x, y = make_data()

    ref, _ = make_models()
    ref_opt = cls(_two_groups(ref), **kwargs)
    for _ in range(10):
        expected = fovea_step(ref, ref_opt, x, y)

    model, _ = make_models()
    opt = cls(_two_groups(model), **kwargs)
    for _ in range(5):
        fovea_step(model, opt, x, y)
    saved_opt = opt.state_dict()
    saved_model = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    fovea_step(model, opt, x, y)  # training on must not change what was saved
    assert sorted(saved_opt["state"]) == [0, 1, 2, 3]
    assert [g["params"] for g in saved_opt["param_groups"]] == [[0, 1], [2, 3]]

    # the same model, a fresh optimizer
    model.load_state_dict(saved_model)
    opt2 = cls(_two_groups(model), lr=123.0)
    opt2.load_state_dict(saved_opt)
    assert opt2.param_groups[1]["lr"] == 0.005 and opt2.param_groups[0]["lr"] == kwargs["lr"]
    for _ in range(5):
        got = fovea_step(model, opt2, x, y)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)

    # a fresh model and optimizer (parameters mapped by their index)
    model3 = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    model3.load_state_dict(saved_model)
    opt3 = cls(_two_groups(model3), **kwargs)
    opt3.load_state_dict(saved_opt)
    for _ in range(5):
        got = fovea_step(model3, opt3, x, y)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32
    for s in opt3.state.values():
        assert all(v.dtype == np.float32 for v in s.values() if hasattr(v, "dtype"))


def test_load_state_dict_rejects_other_layout():
    model, _ = make_models()
    opt = optim.Adam(model.parameters())
    fovea_step(model, opt, *make_data())
    other = optim.Adam(_two_groups(model))
    with pytest.raises(ValueError):
        other.load_state_dict(opt.state_dict())


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
])
def test_load_torch_optimizer_state(name, kwargs):
    """A torch optimizer's state_dict (tensors as arrays) continues the same trajectory."""
    fmod, tmod = make_models()
    x, y = make_data()
    assert_continues_torch_state(torch, name, kwargs, fmod, tmod,
                                 lambda m, o: fovea_step(m, o, x, y),
                                 lambda m, o: torch_step(m, o, x, y), RTOL)


# ---- gradients and dtypes -------------------------------------------------------------------
@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    model, _ = make_models()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = make_data()
    fovea_step(model, opt, x, y)
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad(set_to_none=set_to_none)
    for p in model.parameters():
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad.shape == p.shape and p.grad.dtype == p.dtype
            assert not p.grad.data.any()
    # step after zero_grad: set_to_none skips every parameter, zeros change nothing either
    before = [p.data.copy() for p in model.parameters()]
    opt.step()
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.data)


def test_zero_grad_default_sets_none_and_leaves_missing_grads():
    model, _ = make_models()
    opt = optim.Adam(model.parameters())
    opt.zero_grad(set_to_none=False)  # no grads yet: they stay None
    assert all(p.grad is None for p in model.parameters())
    nn.MSELoss()(model(fovea.tensor(make_data()[0])), fovea.zeros(16, 3)).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_params_without_grad_are_skipped(name):
    """Parameters whose grad is None are not updated (not even by weight decay), as PyTorch."""
    a = nn.Parameter(np.ones(3, np.float32))
    b = nn.Parameter(np.ones(3, np.float32))
    opt = getattr(optim, name)([a, b], lr=0.1, weight_decay=0.5)
    (a * a).sum().backward()
    opt.step()
    assert not np.allclose(a.data, 1.0)
    np.testing.assert_array_equal(b.data, np.ones(3, np.float32))
    assert id(b) not in opt.state or not opt.state[id(b)]


OPTIONS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.1, "maximize": True}),
]


@pytest.mark.parametrize("name, kwargs", OPTIONS, ids=[f"{n}-{_ids([k])[0]}" for n, k in OPTIONS])
def test_step_does_not_modify_grad(name, kwargs):
    model, _ = make_models()
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    x, y = make_data()
    nn.MSELoss()(model(fovea.tensor(x)), fovea.tensor(y)).backward()
    assert_steps_leave_grads(model, opt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", OPTIONS, ids=[f"{n}-{_ids([k])[0]}" for n, k in OPTIONS])
def test_dtype_preserved(name, kwargs, dtype):
    model, _ = make_models(dtype)
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    x, y = make_data(dtype)
    for _ in range(3):
        fovea_step(model, opt, x, y)
    for p in model.parameters():
        assert p.dtype == dtype
        for v in opt.state.get(id(p), {}).values():
            if hasattr(v, "dtype"):
                assert v.dtype == dtype


def test_invalid_hyperparameters():
    p = [nn.Parameter(np.zeros(2, np.float32))]
    with pytest.raises(ValueError):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.Adam(p, betas=(1.0, 0.999))
    with pytest.raises(ValueError):
        optim.Adam(p, lr=-0.1)
    with pytest.raises(ValueError):
        optim.Adam([])


def test_param_arguments():
    a = nn.Parameter(np.ones(3, np.float32))
    b = nn.Parameter(np.ones(2, np.float32))
    with pytest.raises(TypeError):
        optim.SGD(a, lr=0.1)  # a bare tensor, not an iterable of them
    with pytest.raises(ValueError):
        optim.SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1)
    opt = optim.Adam([{"params": a}, {"params": (p for p in [b]), "lr": 0.5}], lr=0.1)
    assert [len(g["params"]) for g in opt.param_groups] == [1, 1]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
