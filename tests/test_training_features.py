"""Training features of issue 4 wired through the Trainer and `fovea train`: configuration
(TOML and flags), L1/L2 penalty, early stopping, EMA, checkpoints and resume after SIGKILL."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import kill_and_resume

import fovea
from fovea import nn
from fovea.cli import main
from fovea.serialization import load_safetensors
from fovea.train.callbacks import EMA, EarlyStopping, weight_penalty
from fovea.train.config import ConfigError, load_toml, resolve


def test_toml_and_flag_precedence(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('model = "mlp"\nepochs = 3\nhidden = [32, 16]\nbatch-size = 128\n'
                   'augment = "crop:pad=2"\nema = 0.99\n')
    file_opts = load_toml(cfg)
    assert file_opts == {"model": "mlp", "epochs": 3, "hidden": [32, 16], "batch_size": 128,
                         "augment": "crop:pad=2", "ema": 0.99}
    config = resolve(file_opts, {"epochs": 5, "lr": None})
    assert config["epochs"] == 5 and config["model"] == "mlp" and config["lr"] is None
    assert config["optimizer"] == "adam"  # a default


@pytest.mark.parametrize("text, match", [
    ('modle = "mlp"', "unknown key 'modle'"),
    ("epochs = 0", "epochs"),
    ("epochs = 2.5", "epochs"),
    ('epochs = "ten"', "epochs"),
    ('optimizer = "lbfgs"', "optimizer"),
    ("hidden = []", "hidden"),
    ("hidden = [0]", "hidden"),
    ("lr = -1.0", "lr"),
    ("download = 1", "download"),
    ("ema = 1.5", "ema"),
    ("epochs = ", "not valid TOML"),
])
def test_toml_errors_name_the_key(tmp_path, text, match):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError, match=match):
        load_toml(cfg)


def test_cli_config_errors_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('colour = "blue"\n')
    code = main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "colour" in err
    code = main(["train", "--config", str(tmp_path / "missing.toml"), "--quiet"])
    assert code == 2 and "missing.toml" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--early-stopping", "sometimes"])
    with pytest.raises(SystemExit):
        main(["train", "--ema", "2"])


def test_weight_penalty_values():
    lin = nn.Linear(3, 2)
    w = lin.weight.data
    p = weight_penalty(lin, l1=0.1, l2=0.01)
    expected = 0.01 * float((w.astype(np.float64) ** 2).sum()) + 0.1 * float(np.abs(w).sum())
    assert p.item() == pytest.approx(expected, rel=1e-5)
    p.backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), 0.02 * w + 0.1 * np.sign(w), rtol=1e-5)
    assert lin.bias.grad is None  # biases are not penalized
    assert weight_penalty(lin) is None


def _records(values, key):
    return [{"epoch": i + 1, "train_acc": 1.0, "val_acc": 0.9, "val_loss": 1.0, key: v}
            for i, v in enumerate(values)]


def test_early_stopping_val_loss_patience_and_restore():
    model = nn.Linear(2, 1)
    es = EarlyStopping("val_loss", patience=2, min_delta=0.01)
    losses = [1.0, 0.8, 0.795, 0.9, 0.7]
    stops = []
    for rec in _records(losses, "val_loss"):
        model.weight.data[...] = rec["epoch"]
        stops.append(es.update(rec, model))
        if stops[-1]:
            break
    assert stops == [False, False, False, True]
    assert es.best_epoch == 2 and es.stopped_epoch == 4
    es.restore(model)
    assert np.all(model.weight.data == 2)
    summary = es.summary()
    assert summary["epoch"] == 2 and "2 consecutive" in summary["reason"]


def test_early_stopping_gap_criterion():
    model = nn.Linear(2, 1)
    es = EarlyStopping("gap", patience=3)
    accs = [(0.80, 0.79), (0.85, 0.845), (0.90, 0.84), (0.93, 0.84), (0.96, 0.83)]
    stop = False
    for epoch, (tr, va) in enumerate(accs, 1):
        stop = es.update({"epoch": epoch, "train_acc": tr, "val_acc": va, "val_loss": 0}, model)
    assert stop and es.stopped_epoch == 5 and es.best_epoch == 2  # gap grew at 3, 4, 5


def test_ema_average():
    model = nn.Linear(2, 1, bias=False)
    model.weight.data[...] = 0
    ema = EMA(model, decay=0.5)
    for value in (2.0, 4.0):
        model.weight.data[...] = value
        ema.update(model)
    np.testing.assert_allclose(ema.shadow["weight"], 0.5 * (0.5 * 0 + 0.5 * 2) + 0.5 * 4)
    with ema.swapped_in(model):
        np.testing.assert_allclose(model.weight.data, 2.5)
    np.testing.assert_allclose(model.weight.data, 4.0)


TRAIN_ARGS = ["--model", "mlp", "--hidden", "64", "--epochs", "4", "--batch-size", "16",
              "--optimizer", "adam", "--dropout", "0.2", "--ema", "0.9",
              "--augment", "crop:pad=2", "--val-fraction", "0.1", "--preprocess", "standardize",
              "--quiet"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    # killed 0.3 s into epoch 3
    full, killed, at_kill = kill_and_resume(TRAIN_ARGS, tmp_path,
                                            lambda meta: meta["epoch"] >= 2, settle=0.3,
                                            timeout=600)
    assert at_kill["epoch"] < 4, "the run finished before it could be killed"
    a = load_safetensors(full / "model.safetensors")
    b = load_safetensors(killed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    ma = (full / "metrics.jsonl").read_text().splitlines()
    mb = (killed / "metrics.jsonl").read_text().splitlines()
    assert len(ma) == len(mb) == 4
    strip = [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in ma]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in mb]


def test_resume_refuses_other_options_and_missing_checkpoint(tmp_path, capsys):
    code = main(["train", "--resume", str(tmp_path), "--lr", "0.1"])
    assert code == 2 and "--lr" in capsys.readouterr().err
    code = main(["train", "--resume", str(tmp_path)])
    assert code == 2


def test_train_with_features_writes_early_stopping_and_penalty(tmp_path):
    out = tmp_path / "run"
    fovea.manual_seed(0)
    code = main(["train", "--model", "mlp", "--hidden", "32", "--epochs", "3", "--quiet",
                 "--batch-size", "256", "--l2", "1e-4", "--l1", "1e-5",
                 "--early-stopping", "val_acc", "--patience", "2", "--clip-grad-norm", "5",
                 "--lr-schedule", "step", "--lr-step", "1", "--out", str(out)])
    assert code == 0
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("train_penalty" in r and r["train_penalty"] > 0 for r in records)
    assert records[1]["lr"] == pytest.approx(records[0]["lr"] * 0.1)
    es = json.loads((out / "early_stopping.json").read_text())
    assert es["monitor"] == "val_acc" and 1 <= es["epoch"] <= 3
    config = json.loads((out / "config.json").read_text())
    assert config["l2"] == 1e-4 and config["early_stopping"] == "val_acc"


def test_ensemble_cli_reports_members_and_ensemble(tmp_path, capsys):
    out = tmp_path / "ens"
    code = main(["ensemble", "--members", "2", "--model", "mlp", "--hidden", "32", "--epochs",
                 "1", "--batch-size", "256", "--quiet", "--average-parameters", "--out",
                 str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning" in captured.err and "average" in captured.err
    result = json.loads((out / "ensemble.json").read_text())
    assert len(result["members"]) == 2 and result["n"] == 2000
    assert result["member_mean"] == pytest.approx(np.mean(result["members"]))
    for key in ("ensemble_mean_probs", "ensemble_majority_vote", "average_parameters"):
        assert 0 <= result[key] <= 1
    # what averaging independently trained networks does: their hidden units are not aligned,
    # so the averaged model is worse than any member (the ensemble of outputs is not)
    assert result["average_parameters"] < min(result["members"]) - 0.05
    assert (out / "member-0" / "model.safetensors").is_file()
    assert (out / "member-1" / "config.json").is_file()
    assert "members' mean accuracy" in captured.out


def test_preprocess_zca_run_evaluates_with_saved_statistics(tmp_path, capsys):
    out = tmp_path / "zca"
    assert main(["train", "--model", "linear", "--epochs", "1", "--batch-size", "256",
                 "--preprocess", "zca", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert (out / "preprocess.safetensors").is_file()
    recorded = json.loads((out / "test_metrics.json").read_text())["accuracy"]
    assert main(["evaluate", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(recorded)
    assert main(["evaluate", str(out), "--json", "--tta"]) == 0
    tta = json.loads(capsys.readouterr().out)
    assert tta["tta"] is True and 0.5 < tta["accuracy"] <= 1


def test_train_bn_dropout_augment_mixup_schedules(tmp_path):
    for schedule in ("onecycle", "plateau", "multistep", "exponential", "linear"):
        out = tmp_path / schedule
        assert main(["train", "--model", "mlp", "--hidden", "32", "--batchnorm", "--dropout",
                     "0.1", "--epochs", "2", "--batch-size", "512", "--quiet",
                     "--augment", "flip:p=0.5,mixup:alpha=0.2", "--optimizer", "sgd",
                     "--lr-schedule", schedule, "--lr-milestones", "1", "--out",
                     str(out)]) == 0
        records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        assert len(records) == 2
