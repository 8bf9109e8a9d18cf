"""Shared fixtures: a seeded NumPy generator, and fovea's global generator reseeded per test."""

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
