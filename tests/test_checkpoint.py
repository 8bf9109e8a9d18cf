"""Checkpoint integrity: the arrays file is verified by the SHA-256 its pointer
(checkpoint.json) records, a missing or damaged one is a CheckpointError naming it, an older
arrays file is removed once a newer checkpoint is in place, and a crash between writing the
arrays and the pointer leaves the previous checkpoint loadable, by itself and by a resumed
Trainer."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fovea
from fovea.data import DataLoader, TensorDataset
from fovea.errors import CheckpointError
from fovea.train.checkpoint import load_checkpoint, save_checkpoint
from fovea.train.trainer import Trainer

POINTER = "checkpoint.json"


def arrays_of(epoch):
    return {"model.weight": np.full((3, 2), epoch, np.float32),
            "optim.0.momentum_buffer": np.arange(4, dtype=np.float32) * epoch}


def arrays_files(run_dir):
    return sorted(p.name for p in run_dir.glob("checkpoint-*.safetensors"))


def pointer_of(run_dir):
    return json.loads((run_dir / POINTER).read_text())


def assert_is_epoch(run_dir, epoch):
    arrays, meta = load_checkpoint(run_dir)
    assert meta["epoch"] == epoch and meta["note"] == f"epoch {epoch}"
    assert arrays.keys() == arrays_of(epoch).keys()
    for key, value in arrays_of(epoch).items():
        np.testing.assert_array_equal(arrays[key], value)


@pytest.fixture
def run_dir(tmp_path):
    """A run directory holding the checkpoint of epoch 1."""
    save_checkpoint(tmp_path, 1, arrays_of(1), {"note": "epoch 1"})
    return tmp_path


def crash_at_pointer_write(monkeypatch):
    """Make the atomic rename onto checkpoint.json fail, as a crash just before it would."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == POINTER:
            raise OSError("simulated crash before the pointer is written")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_save_and_load_round_trip(run_dir):
    assert_is_epoch(run_dir, 1)
    pointer = pointer_of(run_dir)
    assert pointer["arrays"] == "checkpoint-0001.safetensors"
    assert len(pointer["sha256"]) == 64


def test_wrong_sha256_in_the_pointer(run_dir):
    pointer = pointer_of(run_dir)
    pointer["sha256"] = "0" * 64
    (run_dir / POINTER).write_text(json.dumps(pointer))
    with pytest.raises(CheckpointError, match="SHA-256 does not match") as info:
        load_checkpoint(run_dir)
    assert "checkpoint-0001.safetensors" in str(info.value)


def test_changed_arrays_file(run_dir):
    """One flipped bit in the data of a still well-formed safetensors file."""
    path = run_dir / "checkpoint-0001.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 does not match"):
        load_checkpoint(run_dir)


def test_truncated_arrays_file(run_dir):
    path = run_dir / "checkpoint-0001.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 8])
    with pytest.raises(CheckpointError, match="SHA-256 does not match") as info:
        load_checkpoint(run_dir)
    assert str(path) in str(info.value)


def test_missing_arrays_file(run_dir):
    path = run_dir / "checkpoint-0001.safetensors"
    path.unlink()
    with pytest.raises(CheckpointError, match="missing") as info:
        load_checkpoint(run_dir)
    assert str(path) in str(info.value) and POINTER in str(info.value)


@pytest.mark.parametrize("pointer", [{"epoch": 1}, [1, 2], {"arrays": "x.safetensors"}])
def test_pointer_that_is_not_a_checkpoint(run_dir, pointer):
    (run_dir / POINTER).write_text(json.dumps(pointer))
    with pytest.raises(CheckpointError, match="not a fovea checkpoint"):
        load_checkpoint(run_dir)


def test_no_pointer(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_older_arrays_files_are_removed(run_dir):
    save_checkpoint(run_dir, 2, arrays_of(2), {"note": "epoch 2"})
    assert arrays_files(run_dir) == ["checkpoint-0002.safetensors"]
    save_checkpoint(run_dir, 3, arrays_of(3), {"note": "epoch 3"})
    assert arrays_files(run_dir) == ["checkpoint-0003.safetensors"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint-0003.safetensors", POINTER]
    assert_is_epoch(run_dir, 3)


def test_crash_before_the_pointer_keeps_the_previous_checkpoint(run_dir, monkeypatch):
    crash_at_pointer_write(monkeypatch)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(run_dir, 2, arrays_of(2), {"note": "epoch 2"})
    monkeypatch.undo()
    assert pointer_of(run_dir)["epoch"] == 1
    assert "checkpoint-0001.safetensors" in arrays_files(run_dir)
    assert_is_epoch(run_dir, 1)
    # the next checkpoint that completes replaces it and leaves no stray arrays file
    save_checkpoint(run_dir, 2, arrays_of(2), {"note": "epoch 2"})
    assert arrays_files(run_dir) == ["checkpoint-0002.safetensors"]
    assert_is_epoch(run_dir, 2)


# ---- through the Trainer: what `fovea train --resume` does ---------------------------------
def make_trainer(run_dir):
    fovea.manual_seed(0)
    model = fovea.nn.Linear(4, 3)
    optimizer = fovea.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return Trainer(model, optimizer, run_dir=run_dir, progress=False, log=None)


@pytest.fixture
def loader():
    rng = np.random.default_rng(0)
    data = TensorDataset(rng.standard_normal((24, 4)).astype(np.float32),
                         rng.integers(0, 3, 24))
    return DataLoader(data, batch_size=8, shuffle=True, seed=0)


def weights(trainer):
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


def test_trainer_resumes_the_last_complete_checkpoint_after_a_crash(tmp_path, loader,
                                                                    monkeypatch):
    trainer = make_trainer(tmp_path)
    trainer.fit(loader, None, 1)
    after_one = weights(trainer)
    crash_at_pointer_write(monkeypatch)
    with pytest.raises(OSError, match="simulated crash"):
        trainer.fit(loader, None, 2)
    monkeypatch.undo()
    # epoch 2 was trained and its arrays written; only the pointer is missing
    assert trainer.epoch == 2 and "checkpoint-0002.safetensors" in arrays_files(tmp_path)
    resumed = make_trainer(tmp_path)
    meta = resumed.resume(loader)
    assert meta["epoch"] == 1 and resumed.epoch == 1 and len(resumed.history) == 1
    for key, value in after_one.items():
        np.testing.assert_array_equal(weights(resumed)[key], value)
    # and it trains on from there into a complete checkpoint of epoch 2
    resumed.fit(loader, None, 2)
    assert arrays_files(tmp_path) == ["checkpoint-0002.safetensors"]
    assert load_checkpoint(tmp_path)[1]["epoch"] == 2


@pytest.mark.parametrize("damage", ["sha256", "truncate", "delete"])
def test_trainer_refuses_a_damaged_checkpoint(tmp_path, loader, damage):
    make_trainer(tmp_path).fit(loader, None, 1)
    path = tmp_path / "checkpoint-0001.safetensors"
    if damage == "sha256":
        pointer = pointer_of(tmp_path)
        pointer["sha256"] = pointer["sha256"][::-1]
        (tmp_path / POINTER).write_text(json.dumps(pointer))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-4])
    else:
        path.unlink()
    resumed = make_trainer(tmp_path)
    before = weights(resumed)
    with pytest.raises(CheckpointError, match="missing" if damage == "delete" else "SHA-256"):
        resumed.resume(loader)
    for key, value in before.items():  # nothing was loaded
        np.testing.assert_array_equal(weights(resumed)[key], value)
