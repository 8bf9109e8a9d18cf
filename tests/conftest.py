"""Shared fixtures: a seeded NumPy generator, fovea's global generator reseeded per test, and
a trained run directory for the commands that read one (export, predict)."""

from __future__ import annotations

import numpy as np
import pytest

import fovea


@pytest.fixture
def rng():
    """A fresh NumPy generator with a fixed seed (independent of fovea's global one)."""
    return np.random.default_rng(1234)


@pytest.fixture
def seeded():
    """Reseed fovea's global generator (used by fovea.randn and gradcheck's projection)."""
    fovea.manual_seed(0)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A linear model trained one epoch on mnist-mini, saved as a run directory. Shared by
    the tests that only read it."""
    from fovea.train.config import resolve
    from fovea.train.session import train_run

    out = tmp_path_factory.mktemp("run") / "linear"
    config = resolve({}, {"model": "linear", "epochs": 1, "val_fraction": 0.0, "seed": 0})
    train_run(config, out, progress=False)
    return out
