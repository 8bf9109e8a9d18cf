"""Run directories against hostile files, concurrent writers, crashes and silent failures:
every case ends in correct behaviour or a one-line error, and nothing is lost."""

from __future__ import annotations

import json
import os
import threading

import pytest
from test_checkpoint import make_trainer

import fovea
from fovea.cli import main
from fovea.data import DataLoader, TensorDataset
from fovea.errors import CheckpointError, TrainingDiverged
from fovea.serialization import write_json
from fovea.train.checkpoint import POINTER, load_checkpoint
from fovea.train.run import LOCK, RunDir
from fovea.train.trainer import Trainer

FAST = ["--model", "linear", "--epochs", "1", "--quiet", "--batch-size", "256"]


def one_line_error(capsys, code, status=2) -> str:
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def batches(rng):
    x = rng.standard_normal((24, 4)).astype("float32")
    return DataLoader(TensorDataset(x, rng.integers(0, 3, 24)), batch_size=8, seed=0)


# ---- symbolic links and paths out of the run directory ---------------------------------------
def test_create_does_not_truncate_through_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").symlink_to(victim)
    (run / "config.json").symlink_to(victim)
    RunDir(run).create({"a": 1})
    assert victim.read_text() == "precious"
    assert not (run / "metrics.jsonl").is_symlink()
    assert RunDir(run).config() == {"a": 1}


def test_append_metrics_refuses_a_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = RunDir(tmp_path / "run").create({})
    (run.path / "metrics.jsonl").unlink()
    (run.path / "metrics.jsonl").symlink_to(victim)
    with pytest.raises(CheckpointError, match="symbolic link"):
        run.append_metrics({"epoch": 1})
    with pytest.raises(CheckpointError, match="symbolic link"):
        run.metrics()
    assert victim.read_text() == "precious"


def test_reads_refuse_symlinked_run_files(tmp_path):
    other = RunDir(tmp_path / "other").create({"model": "linear"})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").symlink_to(other.path / "config.json")
    with pytest.raises(CheckpointError, match="symbolic link"):
        RunDir(run).config()


def _checkpointed(tmp_path, batches):
    make_trainer(tmp_path / "run").fit(batches, None, 1)
    return tmp_path / "run"


@pytest.mark.parametrize("arrays", ["../other/checkpoint-0001.safetensors",
                                    "/etc/passwd", "sub/checkpoint-0001.safetensors", "..",
                                    "", 7, None, ["x"]])
def test_checkpoint_arrays_entry_is_confined_to_the_run(tmp_path, batches, arrays):
    run = _checkpointed(tmp_path, batches)
    pointer = json.loads((run / POINTER).read_text())
    pointer["arrays"] = arrays
    (run / POINTER).write_text(json.dumps(pointer))
    with pytest.raises(CheckpointError, match="arrays entry"):
        load_checkpoint(run)


def test_checkpoint_from_another_run_is_refused_even_with_its_sha256(tmp_path, batches):
    other = _checkpointed(tmp_path / "o", batches)
    run = _checkpointed(tmp_path, batches)
    name = "checkpoint-0001.safetensors"
    (run / name).unlink()
    (run / name).symlink_to(other / name)  # same bytes, so the SHA-256 matches
    with pytest.raises(CheckpointError, match="symbolic link"):
        load_checkpoint(run)


# ---- existing runs, locks and stale temporary files -----------------------------------------
def test_out_naming_an_existing_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    line = one_line_error(capsys, main(["train", *FAST, "--out", str(out), "--seed", "3"]))
    assert "already holds a run" in line and "--overwrite" in line and "--resume" in line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert main(["train", *FAST, "--out", str(out), "--seed", "3", "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-0001.safetensors"]


def test_out_that_is_a_file(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("x")
    line = one_line_error(capsys, main(["train", *FAST, "--out", str(out)]))
    assert str(out) in line and "not a directory" in line
    assert out.read_text() == "x"


def test_overwrite_is_documented():
    from fovea.cli import build_parser
    from fovea.cli.train import add_train_parser  # noqa: F401 (the parser under test)

    parser = build_parser()
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert "--overwrite" in help_text
    readme = (os.path.dirname(__file__) + "/../README.md")
    assert "--overwrite" in open(readme).read()


def test_a_second_writer_gets_a_clear_error(tmp_path):
    run = RunDir(tmp_path / "run")
    held, release = threading.Event(), threading.Event()

    def first():
        with run.lock():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(CheckpointError, match="in use by another fovea process"):
            with run.lock():
                pass
    finally:
        release.set()
        thread.join()
    with run.lock():  # released with its holder
        pass


def test_a_locked_run_refuses_a_second_training(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).touch()
    import fcntl

    fd = os.open(out / LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        line = one_line_error(capsys, main(["train", *FAST, "--out", str(out)]))
        assert "in use by another fovea process" in line
    finally:
        os.close(fd)


def test_resume_removes_stale_temp_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out)]) == 0
    stale = out / ".checkpoint.json.0123456789abcdef.tmp"
    stale.write_bytes(b"half a write")
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    assert not stale.exists()
    assert json.loads((out / POINTER).read_text())["epoch"] == 2


def test_resume_with_fewer_epochs_than_done(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST[:2], "--epochs", "2", *FAST[4:], "--out", str(out)]) == 0
    capsys.readouterr()
    line = one_line_error(capsys, main(["train", "--resume", str(out), "--epochs", "1"]))
    assert "below the 2 epochs" in line


# ---- silent wrong results -------------------------------------------------------------------
def test_empty_training_split_is_an_error(tmp_path, capsys):
    line = one_line_error(capsys, main(["train", *FAST, "--val-fraction", "0.99999999",
                                        "--out", str(tmp_path / "run")]))
    assert "no training images" in line


def test_divergence_stops_and_keeps_the_last_finite_checkpoint(tmp_path, batches):
    trainer = make_trainer(tmp_path)
    trainer.fit(batches, None, 1)
    kept = (tmp_path / "checkpoint-0001.safetensors").read_bytes()
    trainer.optimizer.param_groups[0]["lr"] = 1e308
    with pytest.raises(TrainingDiverged, match="epoch 2.*checkpoint of epoch 1"):
        trainer.fit(batches, None, 3)
    assert json.loads((tmp_path / POINTER).read_text())["epoch"] == 1
    assert (tmp_path / "checkpoint-0001.safetensors").read_bytes() == kept


def test_divergence_in_the_cli(tmp_path, capsys):
    out = tmp_path / "run"
    line = one_line_error(capsys, main(["train", *FAST, "--lr", "1e308", "--optimizer", "sgd",
                                        "--out", str(out)]))
    assert "diverged" in line
    assert not (out / "model.safetensors").exists()


# ---- mismatched checkpoints -----------------------------------------------------------------
def test_resume_with_another_models_checkpoint(tmp_path, batches):
    make_trainer(tmp_path).fit(batches, None, 1)
    model = fovea.nn.Linear(5, 3)
    other = Trainer(model, fovea.optim.SGD(model.parameters(), lr=0.1), run_dir=tmp_path,
                    progress=False, log=None)
    with pytest.raises(CheckpointError, match="weight"):
        other.resume(batches)


def test_resume_with_a_checkpoint_missing_its_optimizer(tmp_path, batches):
    make_trainer(tmp_path).fit(batches, None, 1)
    pointer = json.loads((tmp_path / POINTER).read_text())
    del pointer["optimizer"]
    write_json(tmp_path / POINTER, pointer)
    with pytest.raises(CheckpointError, match="optimizer"):
        make_trainer(tmp_path).resume(batches)


# ---- one line for every failure ---------------------------------------------------------------
def test_memory_error_is_one_line(tmp_path, capsys, monkeypatch):
    import fovea.cli.train as cli_train

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.45 TiB for an array with shape (10**12,)")

    monkeypatch.setattr(cli_train, "train_run", exhausted)
    line = one_line_error(capsys, main(["train", *FAST, "--out", str(tmp_path / "r")]))
    assert "out of memory" in line and "TiB" in line


def test_interrupt_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import fovea.cli.train as cli_train

    out = tmp_path / "run"
    real = cli_train.train_run

    def interrupted(config, out, **kwargs):
        real(dict(config, epochs=1), out, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_train, "train_run", interrupted)
    line = one_line_error(capsys, main(["train", *FAST, "--out", str(out)]), status=130)
    assert f"fovea train --resume {out}" in line


def test_os_error_names_the_path(tmp_path, capsys, monkeypatch):
    import errno

    import fovea.serialization as ser

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "run"
    monkeypatch.setattr(ser.os, "fsync", lambda fd: full(fd, b""))
    line = one_line_error(capsys, main(["train", *FAST, "--out", str(out)]))
    assert str(out) in line and "No space left on device" in line
    assert not list(out.glob(".*.tmp"))


def test_a_run_that_fails_before_writing_leaves_no_directory(tmp_path, capsys):
    out = tmp_path / "run"
    one_line_error(capsys, main(["train", *FAST, "--val-fraction", "0.99999999",
                                 "--out", str(out)]))
    assert not out.exists()


def test_evaluate_a_run_whose_weights_have_the_wrong_dtype(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out)]) == 0
    capsys.readouterr()
    state = RunDir(out).load_model_state()
    fovea.save_safetensors({k: v.astype("complex64") for k, v in state.items()},
                           out / "model.safetensors")
    line = one_line_error(capsys, main(["evaluate", str(out)]))
    assert "complex64" in line
