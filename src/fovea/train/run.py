"""A run directory: config.json, metrics.jsonl (one JSON object per epoch), model.safetensors,
checkpoints, and the lock file that keeps a second process from writing into it.

A run directory holds only its own files: every file is written by an atomic rename (which
replaces a symbolic link rather than writing through it) or opened with O_NOFOLLOW, and a
symbolic link where a run file belongs is refused.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None

from ..errors import CheckpointError
from ..serialization import (
    NOFOLLOW,
    TMP_SUFFIX,
    atomic_write_bytes,
    dumps,
    load_safetensors,
    own_file,
    read_json,
    read_own_file,
    save_safetensors,
    with_path,
    write_json,
)
from .checkpoint import ARRAYS_NAME, POINTER

CONFIG = "config.json"
METRICS = "metrics.jsonl"
MODEL = "model.safetensors"
LOCK = ".lock"
RUN_FILES = (CONFIG, METRICS, MODEL, POINTER, "test_metrics.json",
             "early_stopping.json", "preprocess.safetensors", "vocab.json", "val_metrics.json")
"""The files a training run writes (with ``checkpoint-*.safetensors``): what ``--overwrite``
replaces."""


class RunDir:
    """Reads and writes the files of one training run."""

    def __init__(self, path):
        self.path = Path(path)

    def create(self, config: dict) -> RunDir:
        """Start the run afresh: config.json written and metrics.jsonl emptied (a symbolic link
        in their place is replaced, never written through)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / CONFIG, config)
        atomic_write_bytes(self.path / METRICS, b"")
        return self

    def entries(self) -> list:
        """The names in the directory other than its lock file."""
        return sorted(name for name in os.listdir(self.path) if name != LOCK)

    def prepare_new(self, overwrite: bool = False) -> None:
        """Make the directory of a new run, refusing one that already holds files unless
        ``overwrite`` (then the previous run's files are removed); hold :meth:`lock` first."""
        entries = self.entries()
        if entries and not overwrite:
            what = "a run" if CONFIG in entries else "files"
            hint = f"continue it with `fovea train --resume {self.path}`, " \
                if POINTER in entries else ""
            raise CheckpointError(f"{self.path}: already holds {what}; {hint}pass --overwrite "
                                  f"to replace it, or choose another --out")
        for name in entries:
            if name in RUN_FILES or name.endswith(TMP_SUFFIX) or ARRAYS_NAME.fullmatch(name):
                _unlink(self.path / name)

    def remove_stale_temp_files(self) -> list:
        """Delete the temporary files of atomic writes a crash interrupted; their names."""
        stale = [n for n in self.entries() if n.startswith(".") and n.endswith(TMP_SUFFIX)]
        for name in stale:
            _unlink(self.path / name)
        return stale

    @contextmanager
    def lock(self):
        """Hold an exclusive lock on the run (flock on its ``.lock`` file) while writing it; a
        second process gets a CheckpointError instead of interleaving its files."""
        if self.path.exists() and not self.path.is_dir():
            raise CheckpointError(f"{self.path}: exists and is not a directory")
        created = not os.path.lexists(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o666)
        except OSError as exc:
            if os.path.islink(self.path / LOCK):
                own_file(self.path / LOCK)
            raise with_path(exc, self.path) from None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise CheckpointError(f"{self.path}: in use by another fovea process "
                                          f"(it holds {LOCK}); wait for it to finish or "
                                          f"choose another --out") from None
            yield self
        except BaseException:
            if created and not self.entries():  # a run that failed before writing anything
                _unlink(self.path / LOCK)
                self.path.rmdir()
            raise
        finally:
            os.close(fd)  # releases the lock

    def append_metrics(self, record: dict) -> None:
        try:
            fd = os.open(self.path / METRICS, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW,
                         0o666)
        except OSError as exc:
            if os.path.islink(self.path / METRICS):
                own_file(self.path / METRICS)
            raise with_path(exc, self.path / METRICS) from None
        with os.fdopen(fd, "a") as f:
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
        if not os.path.lexists(self.path / CONFIG):
            raise CheckpointError(f"{self.path}: not a run directory (no {CONFIG})")
        return read_json(self.path / CONFIG)

    def metrics(self) -> list:
        path = self.path / METRICS
        if not os.path.lexists(path):
            return []
        text = read_own_file(path).decode("utf-8", errors="replace")
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: not JSON lines ({exc})") from None

    def load_model_state(self) -> dict:
        return load_safetensors(own_file(self.path / MODEL))


def _unlink(path) -> None:
    """Remove ``path`` (a symbolic link itself, never its target)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise CheckpointError(f"{path}: a directory where a run file belongs") from None
    except OSError as exc:
        raise with_path(exc, path) from None
