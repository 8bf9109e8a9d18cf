"""The command line: end to end on mnist-mini, and every bad-input case gives one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fovea.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_cli(*args, cwd=None):
    """Run ``python -m fovea.cli`` in a real subprocess: exit code, stdout, stderr."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "fovea.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, err):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error" in lines[0]


@pytest.mark.slow
def test_train_default_reaches_95_percent_and_evaluate_agrees(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("train", "--out", str(out), "--quiet")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    result = json.loads((out / "test_metrics.json").read_text())
    assert result["accuracy"] >= 0.95, result
    assert f"{result['accuracy']:.4f}" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "lenet5" and config["dataset"] == "mnist-mini"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == config["epochs"]
    for i, line in enumerate(lines, 1):
        rec = json.loads(line)
        assert set(rec) >= {"epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                            "seconds", "lr"}
        assert rec["epoch"] == i
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))

    code, stdout, stderr = run_cli("evaluate", str(out), "--json")
    assert code == 0, stderr
    ev = json.loads(stdout)
    assert ev["accuracy"] == pytest.approx(result["accuracy"])
    assert ev["loss"] == pytest.approx(result["loss"], rel=1e-5)
    assert ev["n"] == 2000


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_train_other_models_one_epoch(tmp_path, capsys, model):
    out = tmp_path / model
    code = main(["train", "--model", model, "--epochs", "1", "--out", str(out), "--quiet",
                 "--optimizer", "sgd", "--batch-size", "128"])
    assert code == 0
    acc = json.loads((out / "test_metrics.json").read_text())["accuracy"]
    assert acc > 0.8
    assert main(["evaluate", str(out)]) == 0
    assert "accuracy" in capsys.readouterr().out


BAD_TRAIN_ARGS = [
    ["--model", "resnet9000"],
    ["--dataset", "imagenet"],
    ["--epochs", "abc"],
    ["--epochs", "0"],
    ["--epochs", "-3"],
    ["--batch-size", "0"],
    ["--batch-size", "2.5"],
    ["--lr", "-0.1"],
    ["--lr", "nan"],
    ["--lr", "fast"],
    ["--momentum", "-1"],
    ["--weight-decay", "x"],
    ["--val-fraction", "1.5"],
    ["--seed", "-1"],
    ["--hidden", "0"],
    ["--no-such-option"],
]


@pytest.mark.parametrize("args", BAD_TRAIN_ARGS, ids=lambda a: " ".join(a))
def test_train_bad_arguments_one_line(capsys, args, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", str(tmp_path / "r"), *args])
    assert_one_line_error(info.value.code, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_train_missing_data_directory(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code = main(["train", "--dataset", "mnist", "--data-dir", str(missing), "--out",
                 str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert str(missing) in err


def test_train_empty_data_directory_without_download(capsys, tmp_path):
    code = main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--no-download",
                 "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "train-images-idx3-ubyte" in err


def test_evaluate_not_a_run_directory(capsys, tmp_path):
    code = main(["evaluate", str(tmp_path)])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "not a run directory" in err


def test_evaluate_missing_directory(capsys, tmp_path):
    code = main(["evaluate", str(tmp_path / "nope")])
    assert_one_line_error(code, capsys.readouterr().err)


def test_evaluate_corrupt_model_file(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "linear", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    (out / "model.safetensors").write_bytes(b"\x00garbage")
    code = main(["evaluate", str(out)])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "model.safetensors" in err


def test_evaluate_corrupt_config(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{not json")
    code = main(["evaluate", str(out)])
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    assert "config.json" in err


def test_no_traceback_in_a_real_process(tmp_path):
    code, _, err = run_cli("evaluate", str(tmp_path))
    assert_one_line_error(code, err)
    code, _, err = run_cli("train", "--epochs", "zero")
    assert_one_line_error(code, err)
    code, _, err = run_cli()
    assert_one_line_error(code, err)
