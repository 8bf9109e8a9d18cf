"""A training run on another device than the CPU, through the backend seam: the "fake" device
(tests/fake_device.py: NumPy arrays behind a type fovea has never seen, refusing every implicit
conversion, as CuPy's arrays do). The run's model, batches, optimizer state, EMA, checkpoints
and resume go through the seam, and the results equal the CPU run's; the run's files load on
the CPU."""

from __future__ import annotations

import numpy as np
import pytest
from fake_device import FAKE, FakeArray

from fovea import kernels
from fovea.kernels import sharing
from fovea.serialization import load_safetensors
from fovea.train.config import resolve
from fovea.train.session import load_run, train_run, training_device


def config(**kw):
    base = dict(model="lenet5", dataset="mnist-mini", epochs=2, batch_size=128, seed=0,
                ema=0.99, early_stopping="val_loss", patience=3)
    base.update(kw)
    return resolve({}, base)


def test_a_run_on_another_device_equals_the_cpu_run_and_loads_on_the_cpu(tmp_path):
    # the CPU run on the NumPy kernels and one thread, as the fake device runs: the compiled
    # kernels (the direct convolution's dot products) and GEMMs and reductions split over
    # fovea's threads sum in other orders, which two epochs of training amplify
    with kernels.forced("numpy"), sharing.using_threads(1):
        cpu = train_run(config(device="cpu"), tmp_path / "cpu", progress=False)
        fake = train_run(config(device="fake"), tmp_path / "fake", progress=False)
    assert fake["accuracy"] == pytest.approx(cpu["accuracy"], abs=1e-9)
    a = load_safetensors(tmp_path / "cpu" / "model.safetensors")
    b = load_safetensors(tmp_path / "fake" / "model.safetensors")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
    model, _, _ = load_run(tmp_path / "fake")  # written from host copies: loads on the CPU
    assert all(isinstance(p.data, np.ndarray) for p in model.parameters())


def test_resume_on_the_device_continues_the_run(tmp_path):
    # a constant rate: the schedule of a 1-epoch run is not the first half of a 2-epoch one
    whole = train_run(config(device="fake", epochs=2, lr_schedule="constant"),
                      tmp_path / "whole", progress=False)
    train_run(config(device="fake", epochs=1, lr_schedule="constant"), tmp_path / "part",
              progress=False)
    part = config(device="fake", epochs=2, lr_schedule="constant")
    resumed = train_run(part, tmp_path / "part", resume=True, progress=False)
    assert resumed["accuracy"] == pytest.approx(whole["accuracy"], abs=1e-9)


def test_the_model_trains_on_the_device(tmp_path, monkeypatch):
    seen = []
    from fovea.train import trainer as trainer_module

    step = trainer_module.Trainer.step

    def spy(self, x, y):
        seen.append(all(type(p.data) is FakeArray for p in self.model.parameters()))
        return step(self, x, y)
    monkeypatch.setattr(trainer_module.Trainer, "step", spy)
    train_run(config(device="fake", epochs=1, ema=None, early_stopping="none"),
              tmp_path / "r", progress=False)
    assert seen and all(seen)


def test_device_option(capsys):
    from fovea.cli import main

    assert training_device({"device": "auto"}).type in ("cpu", "cuda")
    assert training_device({"device": "fake"}) == FAKE
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--device", "tpu"])
    assert exit_.value.code == 2 and "--device" in capsys.readouterr().err


def test_evaluate_and_predict_on_the_device(tmp_path, capsys):
    import json

    from fovea.cli import main

    run = tmp_path / "r"
    train_run(config(device="cpu", epochs=1, ema=None, early_stopping="none"), run,
              progress=False)
    results = {}
    for device in ("cpu", "fake"):
        assert main(["evaluate", str(run), "--json", "--device", device]) == 0
        results[device] = json.loads(capsys.readouterr().out)
    assert results["fake"]["accuracy"] == results["cpu"]["accuracy"]
    assert results["fake"]["loss"] == pytest.approx(results["cpu"]["loss"], rel=1e-6)
