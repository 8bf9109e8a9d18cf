"""Shared fixtures: a seeded NumPy generator, fovea's global generator reseeded per test, a
trained run directory for the commands that read one (export, predict), and PyTorch.

Oracles: the tests compare fovea with PyTorch, scipy, onnxruntime and the full MNIST in
../shared/data/mnist, and skip where one is absent (``pytest.importorskip``, or
``helpers.skip_missing``). With ``FOVEA_REQUIRE_ORACLES=1`` (set by ``make test`` and CI) such a
skip is a failure that names what is missing, so a broken install cannot pass by skipping.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from helpers import MISSING_ORACLE

import fovea

REQUIRE_ORACLES = "FOVEA_REQUIRE_ORACLES"

_MISSING = re.compile(rf"(?:Skipped: )?(?:could not import '([^']+)'|{MISSING_ORACLE}: (.*))")


def missing_oracle(report) -> str | None:
    """What a skipped test or module lacks, when it skipped for lack of an oracle: the module
    ``pytest.importorskip`` could not import, or what ``helpers.skip_missing`` named."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    match = _MISSING.match(report.longrepr[2])
    return match and (match.group(1) or match.group(2))


def _require_oracles(report):
    if os.environ.get(REQUIRE_ORACLES) == "1" and (what := missing_oracle(report)):
        report.outcome = "failed"
        report.longrepr = (f"{REQUIRE_ORACLES}=1: {what} is missing, so this cannot run "
                           f"(unset {REQUIRE_ORACLES} to skip it) [{report.longrepr[2]}]")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _require_oracles(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _require_oracles(report)
    return report


@pytest.fixture
def torch():
    """PyTorch, the reference of the comparison tests."""
    return pytest.importorskip("torch")


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
