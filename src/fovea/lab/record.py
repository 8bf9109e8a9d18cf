"""One experiment of the lab and what it returns: the claim of the notes it reruns, how, the
numbers it measured, its figures and a verdict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("holds", "holds partly", "does not hold", "the notes slip")
"""A verdict starts with one of these; "the notes slip: …" names the slip."""


@dataclass(frozen=True)
class Context:
    """What an experiment is given: its ``seed``, whether to run ``quick`` (small data, seconds)
    or in full, and ``figure_dir``, where it saves its figures (PNG) by file name."""

    seed: int
    quick: bool
    figure_dir: Path

    def figure_path(self, name: str) -> Path:
        """Where the figure ``name`` (a file name such as "sigmoid_gradient.png") goes."""
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        return self.figure_dir / name


@dataclass
class Result:
    """An experiment's record: ``name`` (its function's name), ``section`` (the notes' section,
    e.g. "3.1"), ``claim`` (quoted from the notes), ``method`` (one paragraph: data, model, what
    is varied), ``numbers`` (a flat dict of measured values), ``figures`` (file names in the
    figure directory), ``verdict`` (one of :data:`VERDICTS`, then ": " or " — " and one sentence
    of why) and ``seconds`` (filled in by the runner)."""

    name: str
    section: str
    claim: str
    method: str
    numbers: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    verdict: str = ""
    seconds: float = 0.0

    def __post_init__(self):
        if not self.verdict.startswith(VERDICTS):
            raise ValueError(f"experiment {self.name}: a verdict starts with one of "
                             f"{', '.join(VERDICTS)}; got {self.verdict!r}")
        for key, value in self.numbers.items():
            if not isinstance(value, (int, float, str)):  # JSON's scalars (bool is an int)
                raise ValueError(f"experiment {self.name}: numbers[{key!r}] must be a number "
                                 f"or a string (a flat dict), got {type(value).__name__}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> Result:
        return cls(**{f.name: obj[f.name] for f in dataclasses.fields(cls)})
