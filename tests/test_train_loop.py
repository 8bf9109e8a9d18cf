"""The training loop on a small mnist-mini subset: fit's records, evaluate, Normalize, RunDir.

Training runs are kept tiny (1,000 images, a linear classifier, two epochs: well under a second
each) so that the file stays fast.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import fovea
import fovea.nn.functional as F
from fovea import nn, optim
from fovea.data import DataLoader, TensorDataset, load_dataset
from fovea.errors import CheckpointError
from fovea.models import MLP, LeNet5, LinearClassifier
from fovea.optim.lr_scheduler import StepLR
from fovea.train import Normalize, RunDir, evaluate, fit, train_epoch

RECORD_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr"}
MEAN, STD = (0.1307,), (0.3081,)


@pytest.fixture(scope="module")
def mini():
    """(train, val) TensorDatasets: 1,000 training and 500 validation images of mnist-mini."""
    tr = load_dataset("mnist-mini", "train")
    te = load_dataset("mnist-mini", "test")
    return (TensorDataset(tr.arrays[0][:1000], tr.arrays[1][:1000]),
            TensorDataset(te.arrays[0][:500], te.arrays[1][:500]))


def run_fit(mini, epochs=2, seed=0, lr=0.01, scheduler=None, model_fn=LinearClassifier, **kw):
    train, val = mini
    fovea.manual_seed(seed)
    model = model_fn()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = scheduler(opt) if scheduler else None
    history = fit(model, DataLoader(train, 50, shuffle=True, seed=seed),
                  DataLoader(val, 100), opt, nn.CrossEntropyLoss(), epochs,
                  transform=Normalize(MEAN, STD), progress=False, log=None, scheduler=sched,
                  **kw)
    return model, history


# ---- fit ----------------------------------------------------------------------------------------

def test_fit_records_and_learning(mini):
    calls = []
    _, history = run_fit(mini, on_epoch_end=calls.append)
    assert len(history) == 2
    for i, rec in enumerate(history, start=1):
        assert set(rec) == RECORD_KEYS
        assert rec["epoch"] == i
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr"):
            assert isinstance(rec[key], float), (key, type(rec[key]))
        assert 0.0 <= rec["train_acc"] <= 1.0 and 0.0 <= rec["val_acc"] <= 1.0
        assert rec["seconds"] >= 0 and rec["lr"] == 0.01
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["val_acc"] > 0.75  # far above chance after two epochs
    # on_epoch_end gets each record, in order, once per epoch
    assert calls == history
    # the records are JSON-serializable (the run directory appends them as JSON Lines)
    assert json.loads(json.dumps(history)) == history


def test_fit_logs_one_line_per_epoch(mini):
    train, _ = mini
    lines = []
    fovea.manual_seed(0)
    model = LinearClassifier()
    small = TensorDataset(train.arrays[0][:200], train.arrays[1][:200])
    fit(model, DataLoader(small, 100), DataLoader(small, 100),
        optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss(), 3, progress=False,
        log=lines.append)
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3") and "val" in lines[0]


def test_fit_without_validation(mini):
    train, _ = mini
    fovea.manual_seed(0)
    model = LinearClassifier()
    small = TensorDataset(train.arrays[0][:200], train.arrays[1][:200])
    history = fit(model, DataLoader(small, 100), None, optim.SGD(model.parameters(), lr=0.01),
                  nn.CrossEntropyLoss(), 1, progress=False, log=None)
    assert len(history) == 1
    assert history[0]["val_loss"] is None and history[0]["val_acc"] is None


def test_scheduler_changes_recorded_lr(mini):
    _, history = run_fit(mini, epochs=3, scheduler=lambda o: StepLR(o, step_size=1, gamma=0.5))
    assert [rec["lr"] for rec in history] == pytest.approx([0.01, 0.005, 0.0025], rel=1e-12)


def test_fit_is_reproducible(mini):
    a, ha = run_fit(mini, seed=7)
    b, hb = run_fit(mini, seed=7)
    for key, t in a.state_dict().items():
        np.testing.assert_array_equal(t.data, b.state_dict()[key].data, err_msg=key)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in ha]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in hb]
    # and a different seed gives different weights
    c, _ = run_fit(mini, seed=8, epochs=1)
    assert not np.array_equal(c.fc.weight.data, a.fc.weight.data)


def test_fit_mlp_learns(mini):
    _, history = run_fit(mini, epochs=2, model_fn=lambda: MLP((784, 32, 10)))
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_acc"] > 0.7


def test_progress_false_prints_nothing(mini, capfd):
    train, _ = mini
    fovea.manual_seed(0)
    model = LinearClassifier()
    small = TensorDataset(train.arrays[0][:200], train.arrays[1][:200])
    loader = DataLoader(small, 50)
    fit(model, loader, loader, optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss(), 2,
        progress=False, log=None)
    train_epoch(model, loader, optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss(),
                progress=False)
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""


def test_train_epoch_counts_and_mode(mini):
    train, _ = mini
    fovea.manual_seed(0)
    model = LinearClassifier().eval()
    small = TensorDataset(train.arrays[0][:230], train.arrays[1][:230])
    opt = optim.SGD(model.parameters(), lr=0.01)
    out = train_epoch(model, DataLoader(small, 50), opt, nn.CrossEntropyLoss(), progress=False)
    assert out["n"] == 230 and model.training
    out = train_epoch(model, DataLoader(small, 50, drop_last=True), opt, nn.CrossEntropyLoss(),
                      progress=False)
    assert out["n"] == 200
    assert set(out) == {"loss", "accuracy", "n"}


# ---- evaluate -----------------------------------------------------------------------------------

def manual_metrics(model, x, y, transform=None):
    with fovea.no_grad():
        xs = transform(x) if transform else x
        logits = model.eval()(fovea.tensor(xs)).data.astype(np.float64)
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(y)), y].mean()
    acc = float((logits.argmax(axis=1) == y).mean())
    return loss, acc


@pytest.mark.parametrize("batch_size", [64, 500, 7])
def test_evaluate_matches_manual(mini, batch_size):
    _, val = mini
    fovea.manual_seed(0)
    model = MLP((784, 16, 10))
    x, y = val.arrays
    norm = Normalize(MEAN, STD)
    result = evaluate(model, DataLoader(val, batch_size), transform=norm)
    loss, acc = manual_metrics(model, x, y, norm)
    assert set(result) == {"loss", "accuracy", "n"}
    assert result["n"] == len(y) == 500
    assert result["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert result["loss"] == pytest.approx(loss, rel=1e-5)


def test_evaluate_with_explicit_loss(mini):
    _, val = mini
    fovea.manual_seed(0)
    model = LinearClassifier()
    r1 = evaluate(model, DataLoader(val, 100))
    r2 = evaluate(model, DataLoader(val, 100), loss_fn=F.cross_entropy)
    assert r1["loss"] == pytest.approx(r2["loss"], rel=1e-6)
    assert r1["accuracy"] == r2["accuracy"]


class ModeSpy(nn.Module):
    """A linear classifier that records the mode it was called in."""

    def __init__(self):
        super().__init__()
        self.inner = LinearClassifier()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return self.inner(x)


@pytest.mark.parametrize("start_training", [True, False])
def test_evaluate_uses_eval_mode_and_restores_it(mini, start_training):
    _, val = mini
    fovea.manual_seed(0)
    model = ModeSpy()
    model.train(start_training)
    evaluate(model, DataLoader(val, 250))
    assert model.seen == [False, False]
    assert model.training is start_training
    assert all(m.training is start_training for m in model.modules())


def test_evaluate_builds_no_graph(mini):
    _, val = mini
    fovea.manual_seed(0)
    model = LinearClassifier()
    evaluate(model, DataLoader(val, 250))
    assert all(p.grad is None for p in model.parameters())


def test_evaluate_empty_loader_raises():
    model = LinearClassifier()
    empty = TensorDataset(np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError):
        evaluate(model, DataLoader(empty, 10))
    assert model.training


# ---- Normalize ----------------------------------------------------------------------------------

def test_normalize_per_channel(rng):
    mean, std = (0.5, 0.25, 0.1), (0.2, 0.5, 0.3)
    norm = Normalize(mean, std)
    x = rng.random((4, 3, 5, 6), dtype=np.float32)
    out = norm(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    expected = (x.astype(np.float64) - np.array(mean)[None, :, None, None]) \
        / np.array(std)[None, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (x[:, c] - np.float32(mean[c])) / np.float32(std[c]),
                                   rtol=1e-6, atol=1e-6)
    assert norm.to_config() == {"mean": list(mean), "std": list(std)}
    assert Normalize(**norm.to_config()).to_config() == norm.to_config()


def test_normalize_mnist_stays_float32(mini):
    train, _ = mini
    x = train.arrays[0][:64]
    out = Normalize(MEAN, STD)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (x - np.float32(0.1307)) / np.float32(0.3081), rtol=1e-6,
                               atol=1e-6)
    # numpy scalar statistics are accepted and kept as Python floats
    n = Normalize(np.array([0.1307], np.float32), np.array([0.3081]))
    assert all(type(v) is float for v in n.mean + n.std)
    assert n(x).dtype == np.float32


# ---- RunDir -------------------------------------------------------------------------------------

def test_rundir_round_trip(tmp_path):
    run = RunDir(tmp_path / "run")
    config = {"model": "lenet5", "epochs": 2, "lr": 0.05,
              "normalize": {"mean": [0.1], "std": [0.3]}}
    assert run.create(config) is run
    assert run.config() == config
    assert run.metrics() == []
    records = [{"epoch": 1, "train_loss": 1.5, "val_acc": 0.5, "lr": 0.1},
               {"epoch": 2, "train_loss": 0.9, "val_acc": None, "lr": 0.05}]
    for r in records:
        run.append_metrics(r)
    assert run.metrics() == records
    assert RunDir(tmp_path / "run").metrics() == records  # read back by a fresh object
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records

    fovea.manual_seed(0)
    model = LeNet5()
    path = run.save_model(model)
    assert path.is_file()
    state = run.load_model_state()
    assert sorted(state) == sorted(model.state_dict())  # safetensors orders keys itself
    fresh = LeNet5()
    fresh.load_state_dict(state)
    for key, t in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key].data, t.data)


def test_rundir_fit_appends_metrics(tmp_path, mini):
    run = RunDir(tmp_path / "run").create({"model": "linear"})
    model, history = run_fit(mini, epochs=2, on_epoch_end=run.append_metrics)
    assert run.metrics() == history


def test_rundir_create_resets_metrics(tmp_path):
    run = RunDir(tmp_path).create({"a": 1})
    run.append_metrics({"epoch": 1})
    run.create({"a": 2})
    assert run.metrics() == [] and run.config() == {"a": 2}


def test_rundir_config_errors(tmp_path):
    with pytest.raises(CheckpointError) as info:
        RunDir(tmp_path).config()  # a directory without config.json
    assert str(tmp_path) in str(info.value)
    with pytest.raises(CheckpointError):
        RunDir(tmp_path / "does-not-exist").config()
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError) as info:
        RunDir(tmp_path).config()
    assert "config.json" in str(info.value)


def test_rundir_missing_model_raises(tmp_path):
    run = RunDir(tmp_path).create({})
    with pytest.raises(CheckpointError) as info:
        run.load_model_state()
    assert "model.safetensors" in str(info.value)
