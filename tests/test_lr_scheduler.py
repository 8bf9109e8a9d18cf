"""Learning-rate schedules: StepLR and CosineAnnealingLR follow torch.optim.lr_scheduler.

The schedulers are stepped once per epoch, as PyTorch's. The comparison tests run fovea's and
torch's schedules side by side for 30 epochs and require every lr to agree to 1e-9 relative;
the other tests (get_last_lr, state_dict resume, parameter groups) need no torch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fovea
from fovea import nn, optim
from fovea.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR

EPOCHS = 30
RTOL = 1e-9


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    """|a − b| ≤ rtol · |b|, with a tiny absolute floor for values that are (nearly) zero."""
    return abs(a - b) <= rtol * abs(b) + 1e-15


def fovea_optimizer(lr=0.1, groups=None):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    if groups is None:
        return optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return optim.SGD([{"params": model[0].parameters(), "lr": groups[0]},
                      {"params": model[1].parameters(), "lr": groups[1]}], lr=lr)


def fovea_sequence(make_scheduler, epochs=EPOCHS, groups=None):
    """The lr of every group in each epoch: read before the epoch's step, as fit does."""
    opt = fovea_optimizer(groups=groups)
    sched = make_scheduler(opt)
    seq = []
    for _ in range(epochs):
        seq.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return seq


def torch_sequence(torch, make_scheduler, epochs=EPOCHS, groups=None):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    if groups is None:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": groups[0]},
                               {"params": model[1].parameters(), "lr": groups[1]}], lr=0.1)
    sched = make_scheduler(opt)
    seq = []
    for _ in range(epochs):
        seq.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return seq


def assert_same_sequence(ours, theirs):
    assert len(ours) == len(theirs)
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        assert len(a) == len(b)
        for g, (x, y) in enumerate(zip(a, b)):
            assert close(x, y), f"epoch {epoch} group {g}: fovea lr {x!r}, torch lr {y!r}"


# ---- against PyTorch ------------------------------------------------------------------------

@pytest.mark.parametrize("step_size,gamma", [(1, 0.9), (3, 0.1), (7, 0.5), (40, 0.1)])
def test_steplr_matches_torch(step_size, gamma):
    torch = pytest.importorskip("torch")
    ours = fovea_sequence(lambda o: StepLR(o, step_size=step_size, gamma=gamma))
    theirs = torch_sequence(
        torch, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma))
    assert_same_sequence(ours, theirs)


@pytest.mark.parametrize("t_max,eta_min", [(10, 0.0), (30, 0.0), (7, 1e-3), (30, 0.01),
                                           (1, 0.0), (50, 1e-4)])
def test_cosine_matches_torch(t_max, eta_min):
    torch = pytest.importorskip("torch")
    ours = fovea_sequence(lambda o: CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min))
    theirs = torch_sequence(
        torch,
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min))
    assert_same_sequence(ours, theirs)


def test_two_groups_match_torch():
    torch = pytest.importorskip("torch")
    groups = (0.1, 0.003)
    for make_f, make_t in [
        (lambda o: StepLR(o, 4, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 4, 0.5)),
        (lambda o: CosineAnnealingLR(o, 12, 1e-4),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 12, 1e-4)),
    ]:
        ours = fovea_sequence(make_f, groups=groups)
        theirs = torch_sequence(torch, make_t, groups=groups)
        assert_same_sequence(ours, theirs)


def test_get_last_lr_matches_torch():
    torch = pytest.importorskip("torch")
    fopt = fovea_optimizer(groups=(0.2, 0.05))
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    topt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.2},
                            {"params": model[1].parameters(), "lr": 0.05}])
    fs = CosineAnnealingLR(fopt, T_max=9, eta_min=0.001)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=9, eta_min=0.001)
    for _ in range(EPOCHS):
        a, b = fs.get_last_lr(), ts.get_last_lr()
        assert len(a) == len(b) == 2
        assert all(close(x, y) for x, y in zip(a, b)), (a, b)
        fopt.step()
        topt.step()
        fs.step()
        ts.step()


# ---- behaviour (no torch needed) ---------------------------------------------------------------

def test_steplr_closed_form():
    seq = fovea_sequence(lambda o: StepLR(o, step_size=5, gamma=0.5))
    expected = [0.1 * 0.5 ** (e // 5) for e in range(EPOCHS)]
    assert all(close(s[0], x, 1e-12) for s, x in zip(seq, expected))


def test_cosine_closed_form_endpoints():
    opt = fovea_optimizer(lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    assert sched.get_last_lr() == [pytest.approx(0.1)]
    lrs = []
    for _ in range(10):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[-1] == pytest.approx(0.001, rel=1e-12)
    assert all(a > b for a, b in zip(lrs, lrs[1:])), "the lr must fall monotonically to eta_min"
    mid = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * 5 / 10)) / 2
    assert lrs[4] == pytest.approx(mid, rel=1e-12)


def test_get_last_lr_reflects_optimizer_and_is_a_list():
    opt = fovea_optimizer(groups=(0.3, 0.03))
    sched = StepLR(opt, step_size=2, gamma=0.1)
    for epoch in range(7):
        last = sched.get_last_lr()
        assert isinstance(last, list) and len(last) == 2
        assert last == [g["lr"] for g in opt.param_groups]
        factor = 0.1 ** (epoch // 2)
        assert close(last[0], 0.3 * factor, 1e-12) and close(last[1], 0.03 * factor, 1e-12)
        sched.step()


def test_initial_lr_recorded_and_base_lrs_per_group():
    opt = fovea_optimizer(groups=(0.5, 0.01))
    sched = CosineAnnealingLR(opt, T_max=4)
    assert sched.base_lrs == [0.5, 0.01]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.5, 0.01]
    assert sched.last_epoch == 0
    for _ in range(4):
        sched.step()
    assert sched.last_epoch == 4
    assert sched.get_last_lr() == [pytest.approx(0.0, abs=1e-15)] * 2
    # the ratio of the groups' lrs stays that of their base lrs (eta_min = 0)
    sched2 = CosineAnnealingLR(fovea_optimizer(groups=(0.5, 0.01)), T_max=8)
    for _ in range(3):
        sched2.step()
    a, b = sched2.get_last_lr()
    assert a / b == pytest.approx(50.0, rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, step_size=3, gamma=0.7),
    lambda o: CosineAnnealingLR(o, T_max=11, eta_min=0.002),
], ids=["StepLR", "CosineAnnealingLR"])
def test_state_dict_resumes_the_same_sequence(make):
    full = fovea_sequence(make, epochs=EPOCHS, groups=(0.1, 0.02))

    # train for 12 epochs, save the optimizer and the scheduler ...
    opt = fovea_optimizer(groups=(0.1, 0.02))
    sched = make(opt)
    seq = []
    for _ in range(12):
        seq.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in sched_state
    assert sched_state["last_epoch"] == 12
    # the state is plain data (JSON-friendly), no reference to the optimizer
    assert all(isinstance(v, (int, float, list)) for v in sched_state.values())

    # ... and resume in fresh objects
    opt2 = fovea_optimizer(groups=(0.1, 0.02))
    sched2 = make(opt2)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    assert sched2.last_epoch == 12
    assert sched2.get_last_lr() == sched.get_last_lr()
    for _ in range(EPOCHS - 12):
        seq.append([g["lr"] for g in opt2.param_groups])
        opt2.step()
        sched2.step()
    assert seq == full  # bit-identical: the schedules are closed forms of the epoch


def test_state_dict_resume_without_optimizer_state():
    """The next lr after a resume depends only on the scheduler's state (closed form)."""
    full = fovea_sequence(lambda o: StepLR(o, 4, 0.5), epochs=10)
    opt = fovea_optimizer()
    sched = StepLR(opt, 4, 0.5)
    for _ in range(6):
        sched.step()
    state = sched.state_dict()
    opt2 = fovea_optimizer()
    sched2 = StepLR(opt2, 4, 0.5)
    sched2.load_state_dict(state)
    sched2.step()
    assert opt2.param_groups[0]["lr"] == full[7][0]


def test_steps_change_optimizer_updates():
    """The optimizer uses the lr the scheduler set: a zero-lr epoch leaves weights alone."""
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=1)  # lr: 1.0 at epoch 0, 0.0 at epoch 1
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)
    before = model.weight.data.copy()
    model.weight.grad = fovea.tensor(np.ones_like(before))
    opt.step()
    np.testing.assert_allclose(model.weight.data, before, atol=1e-12)


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        LRScheduler(fovea_optimizer())
