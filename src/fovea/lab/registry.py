"""The lab's experiments by name, in the notes' order: each a function ``f(ctx: Context) ->
Result`` registered with its section, the claim it reruns and its estimated time in seconds
(full and ``--quick``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    section: str
    claim: str
    run: Callable
    seconds_full: float
    seconds_quick: float


EXPERIMENTS: dict = {}
"""name -> Experiment, filled by the :func:`experiment` decorator as the chapter modules load."""


def _section_key(section: str):
    return tuple(int(part) if part.isdigit() else 0 for part in section.split("."))


def experiment(section: str, claim: str, seconds_full: float, seconds_quick: float):
    """Register the decorated function as the experiment named after it."""
    def register(fn):
        if fn.__name__ in EXPERIMENTS:
            raise ValueError(f"two lab experiments named {fn.__name__!r}")
        EXPERIMENTS[fn.__name__] = Experiment(fn.__name__, section, claim, fn, seconds_full,
                                              seconds_quick)
        return fn
    return register


def ordered() -> list:
    """The experiments in the notes' order (by section, then registration)."""
    return sorted(EXPERIMENTS.values(), key=lambda e: _section_key(e.section))
