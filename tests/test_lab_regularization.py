"""fovea.lab.regularization: §3.5's gap and early stopping, §3.5.1's L2 term and §3.5.2's data
augmentation in quick mode point the way the claims say, and are the same for the same seed."""

import numpy as np
import pytest
import test_lab_training

from fovea.data.augment import Compose, RandomAffine
from fovea.lab import Context
from fovea.lab.common import _MEAN, _STD, _mnist, _seed
from fovea.lab.regularization import LAMBDAS, _fit, _standardized, _weight_norm
from fovea.models import MLP, LeNet5
from fovea.train.callbacks import EarlyStopping, snapshot

# the quick-mode runs cached per module, and the checks every lab record passes
run, results = test_lab_training.run, test_lab_training.results
check_record = test_lab_training.check_record


def test_overfitting_early_stopping(results):
    r = results("overfitting_early_stopping")
    check_record(r)
    n = r.numbers
    # the net fits its 500 images, the gap grows and the validation loss turns back up
    assert n["first epoch at 100% training accuracy (0: never)"] > 0
    assert n["gap at the last epoch"] > n["smallest gap"] + 0.03
    assert n["validation loss at the last epoch"] > 1.1 * n["lowest validation loss"]
    # early stopping on the validation loss stops well before the end and tests as well
    assert n["val_loss: epochs saved"] > n["epochs"] / 2
    assert n["val_loss: test accuracy − last epoch's"] > -0.02
    for monitor in EarlyStopping.MONITORS:
        ran = n[f"{monitor}: epochs run"]
        assert ran + n[f"{monitor}: epochs saved"] == n["epochs"]
        if ran < n["epochs"]:  # stopped: the chosen epoch is `patience` epochs before
            assert n[f"{monitor}: chosen epoch"] == ran - n["patience"]


def test_l2_regularization(results):
    r = results("l2_regularization")
    check_record(r)
    n = r.numbers
    norms = [n[f"λ={lam:g}: weight norm"] for lam in LAMBDAS]
    data_loss = [n[f"λ={lam:g}: training data loss"] for lam in LAMBDAS]
    assert all(b < a for a, b in zip(norms, norms[1:]))  # the term shrinks the weights
    assert all(b > a for a, b in zip(data_loss, data_loss[1:]))  # at the data loss's cost
    # the largest λ underfits: training accuracy falls and the gap with it
    assert n["λ=0.1: train accuracy"] < n["λ=0: train accuracy"] - 0.05
    assert n["λ=0.1: gap"] < n["λ=0: gap"]
    # some λ > 0 gives a lower validation loss than none
    best = n["best λ > 0 (by validation loss)"]
    assert n[f"λ={best:g}: validation loss"] < n["λ=0: validation loss"]


def test_augmentation_data_size(results):
    r = results("augmentation_data_size")
    check_record(r)
    n = r.numbers
    sizes = (100, 500, 2500)
    gains = [n[f"n={s}: gain"] for s in sizes]
    assert gains[0] > 0.03  # augmentation helps where data are scarce
    assert gains[-1] < gains[0] / 2  # and much less with 25 times the data
    for s in sizes:
        assert n[f"n={s}: epochs"] * s == n["steps per run"] * 50
    # more data helps either way
    for tag in ("plain", "augmented"):
        assert n[f"n=2500 {tag}: test accuracy"] > n[f"n=100 {tag}: test accuracy"]


def test_weight_norm_is_the_norm_of_the_weights():
    model = MLP((6, 5, 3))
    weights = [p.data for p in model.parameters() if p.ndim == 2]
    expected = np.sqrt(sum(float((w.astype(np.float64) ** 2).sum()) for w in weights))
    assert _weight_norm(model) == pytest.approx(expected, rel=1e-5)


def _augmented_lenet(ctx, augment_seed):
    x, y, _ = _mnist(ctx, "train", 100)
    raw = x * np.float32(_STD) + np.float32(_MEAN)
    _seed(ctx)
    model = LeNet5()
    augment = Compose([RandomAffine(degrees=10, translate=0.1)], generator=augment_seed)
    _fit(ctx, model, raw, y, 2, 0.02, augment=augment, transform=_standardized)
    return snapshot(model)


def test_augmented_training_repeats_for_a_seed(tmp_path):
    ctx = Context(0, True, tmp_path)
    a, b, other = (_augmented_lenet(ctx, s) for s in (1, 1, 2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # the augmentation's draws reach the weights: another augmentation seed, other weights
    assert any(not np.array_equal(a[k], other[k]) for k in a)


def test_same_seed_same_numbers(tmp_path, results):
    name = "overfitting_early_stopping"
    assert run(name, tmp_path / "again").numbers == results(name).numbers
