"""fovea.lab: the notes' claims rerun on real data, each an experiment that measures numbers,
draws figures and gives a verdict (:class:`Result`), registered by chapter in
:data:`EXPERIMENTS`."""

from __future__ import annotations

from .record import VERDICTS, Context, Result
from .registry import EXPERIMENTS, Experiment, experiment, ordered

__all__ = ["Context", "Result", "VERDICTS", "EXPERIMENTS", "Experiment", "experiment", "ordered"]

from . import (  # noqa: E402,F401 — importing registers the experiments
    activations,
    classifier,
    ensembles,
    filters,
    regularization,
    sequence,
    training,
)
