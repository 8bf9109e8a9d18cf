"""A run directory: config.json, metrics.jsonl (one JSON object per epoch), model.safetensors."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError
from ..serialization import (
    atomic_write_bytes,
    dumps,
    load_safetensors,
    read_json,
    save_safetensors,
    write_json,
)

CONFIG = "config.json"
METRICS = "metrics.jsonl"
MODEL = "model.safetensors"


class RunDir:
    """Reads and writes the files of one training run."""

    def __init__(self, path):
        self.path = Path(path)

    def create(self, config: dict) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / CONFIG, config)
        (self.path / METRICS).write_text("")
        return self

    def append_metrics(self, record: dict) -> None:
        with open(self.path / METRICS, "a") as f:
            f.write(dumps(record) + "\n")
            f.flush()

    def write_metrics(self, history: list) -> None:
        """Rewrite metrics.jsonl from the whole history, atomically (a resumed run rewrites
        what the killed one may have appended after its last checkpoint)."""
        text = "".join(dumps(record) + "\n" for record in history)
        atomic_write_bytes(self.path / METRICS, text.encode())

    def save_model(self, model) -> Path:
        return save_safetensors(model.state_dict(), self.path / MODEL)

    def config(self) -> dict:
        if not self.path.is_dir():
            raise CheckpointError(f"{self.path}: not a directory")
        if not (self.path / CONFIG).is_file():
            raise CheckpointError(f"{self.path}: not a run directory (no {CONFIG})")
        return read_json(self.path / CONFIG)

    def metrics(self) -> list:
        path = self.path / METRICS
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def load_model_state(self) -> dict:
        return load_safetensors(self.path / MODEL)
