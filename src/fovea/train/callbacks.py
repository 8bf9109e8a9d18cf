"""Early stopping, weight averaging (EMA) and the L1/L2 penalty: what the training loop adds to
plain gradient descent (notes ch. 3: "early stopping should always be employed")."""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor


def snapshot(model) -> dict:
    """A copy of the model's state_dict arrays (parameters and buffers)."""
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def average_states(states, weights=None) -> dict:
    """The weighted mean Σ wᵢ·θᵢ of state dicts (name -> array or Tensor; equal weights by
    default) for their floating-point entries; the others (BatchNorm's step counter) are the
    first state's. Meaningful along one run or from a shared start: independently trained
    networks' hidden units are not aligned, and their average is usually a much worse model."""
    states = list(states)
    if not states:
        raise ValueError("average_states: no states to average")
    weights = [1.0 / len(states)] * len(states) if weights is None else list(weights)
    if len(weights) != len(states):
        raise ValueError(f"average_states: {len(weights)} weights for {len(states)} states")
    arrays = [{k: v.data if isinstance(v, Tensor) else v for k, v in s.items()} for s in states]
    out = {}
    for k, first in arrays[0].items():
        if first.dtype.kind != "f":
            out[k] = first.copy()
            continue
        total = sum(first.dtype.type(w) * a[k] for w, a in zip(weights, arrays))
        out[k] = total.astype(first.dtype, copy=False)
    return out


class EarlyStopping:
    """Stop when the monitored quantity has not improved for ``patience`` epochs, and give back
    the weights of the best epoch.

    monitor: "val_loss" (lower is better), "val_acc" (higher is better), or "gap" — the notes'
    own criterion: stop once the train−val accuracy gap has grown for ``patience`` consecutive
    epochs (by more than ``min_delta`` each time); the chosen epoch is the last one before the
    gap began to grow. ``min_delta`` is the smallest change that counts as an improvement.
    """

    MONITORS = ("val_loss", "val_acc", "gap")

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True):
        if monitor not in self.MONITORS:
            raise ValueError(f"early stopping monitor must be one of {', '.join(self.MONITORS)}, "
                             f"got {monitor!r}")
        if int(patience) < 1 or min_delta < 0:
            raise ValueError(f"patience must be ≥ 1 and min_delta ≥ 0, got {patience}, "
                             f"{min_delta}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best = restore_best
        self.best = None          # best monitored value (val_loss/val_acc) or last gap
        self.best_epoch = None
        self.bad_epochs = 0
        self.stopped_epoch = None
        self.best_weights = None

    def _value(self, record):
        if self.monitor == "gap":
            return record["train_acc"] - record["val_acc"]
        value = record.get(self.monitor)
        if value is None:
            raise ValueError(f"early stopping on {self.monitor} needs a validation split")
        return value

    def update(self, record: dict, model) -> bool:
        """Take one epoch's record; return True when training should stop."""
        value, epoch = self._value(record), record["epoch"]
        if self.monitor == "gap":
            grew = self.best is not None and value > self.best + self.min_delta
            self.best = value
            improved = not grew
        elif self.best is None:
            improved = True
        elif self.monitor == "val_loss":
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:
            if self.monitor != "gap":
                self.best = value
            self.best_epoch, self.bad_epochs = epoch, 0
            if self.restore_best:
                self.best_weights = snapshot(model)
        else:
            self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def restore(self, model) -> None:
        """Load the best epoch's weights back into ``model`` (if they were kept)."""
        if self.restore_best and self.best_weights is not None:
            model.load_state_dict(self.best_weights)

    def summary(self) -> dict:
        """The chosen epoch and why: written to the run directory as early_stopping.json."""
        if self.stopped_epoch is not None:
            what = ("the train−val accuracy gap grew" if self.monitor == "gap"
                    else f"{self.monitor} did not improve by more than {self.min_delta}")
            reason = f"{what} for {self.patience} consecutive epochs"
        else:
            reason = "ran all epochs"
        return {"epoch": self.best_epoch, "reason": reason, "monitor": self.monitor,
                "best": self.best if self.monitor != "gap" else None,
                "stopped_at": self.stopped_epoch, "patience": self.patience,
                "min_delta": self.min_delta, "restored_best_weights": self.restore_best}

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("best", "best_epoch", "bad_epochs",
                                              "stopped_epoch")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


class EMA:
    """An exponential moving average of the weights along one run (Polyak averaging):
    θ̄ ← d·θ̄ + (1 − d)·θ after every optimizer step. Buffers (BatchNorm statistics) are
    copied, not averaged. ``swapped_in(model)`` evaluates with the averaged weights."""

    def __init__(self, model, decay: float = 0.999):
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow = {name: p.data.copy() for name, p in model.named_parameters()}

    def update(self, model) -> None:
        d = self.decay
        for name, p in model.named_parameters():
            s = self.shadow[name]
            s *= s.dtype.type(d)
            s += s.dtype.type(1 - d) * p.data

    def copy_to(self, model) -> None:
        """Write the averaged weights into ``model`` (for the final model of a run)."""
        for name, p in model.named_parameters():
            backend.namespace(p.data).copyto(p.data, self.shadow[name])

    def swapped_in(self, model):
        return _Swap(self, model)

    def state_dict(self) -> dict:
        return dict(self.shadow)

    def load_state_dict(self, arrays: dict) -> None:
        for name in self.shadow:
            shadow = self.shadow[name]
            array = backend.to_device(arrays[name], backend.device_of(shadow))
            self.shadow[name] = backend.namespace(shadow).array(array, dtype=shadow.dtype)


class _Swap:
    def __init__(self, ema, model):
        self.ema, self.model = ema, model

    def __enter__(self):
        self.saved = {name: p.data.copy() for name, p in self.model.named_parameters()}
        self.ema.copy_to(self.model)
        return self.model

    def __exit__(self, *exc):
        for name, p in self.model.named_parameters():
            backend.namespace(p.data).copyto(p.data, self.saved[name])
        return False


def weight_penalty(model, l1: float = 0.0, l2: float = 0.0):
    """The regularization term added to the data loss: l2·Σw² + l1·Σ|w| over the weights
    (parameters with two or more dimensions; biases and normalization scales are not
    penalized). None when both are 0."""
    if not (l1 or l2):
        return None
    total = None
    for p in model.parameters():
        if p.ndim < 2:
            continue
        term = None
        if l2:
            term = (p * p).sum() * l2
        if l1:
            t1 = p.abs().sum() * l1
            term = t1 if term is None else term + t1
        total = term if total is None else total + term
    return total


def finite_or_none(x):
    return x if x is None or math.isfinite(x) else None
