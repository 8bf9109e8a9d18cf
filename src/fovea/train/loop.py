"""The training loop: ``fit`` trains for some epochs, ``evaluate`` measures loss and accuracy."""

from __future__ import annotations

from .. import backend
from .trainer import Trainer
from .trainer import evaluate as trainer_evaluate


class Normalize:
    """x ↦ (x − mean) / std per channel, in float32; the statistics are stored with the run."""

    def __init__(self, mean, std):
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        shape = (1, len(self.mean), 1, 1)
        self._mean = backend.asarray(self.mean, dtype=backend.float32).reshape(shape)
        self._inv_std = (1 / backend.asarray(self.std, dtype=backend.float32)).reshape(shape)

    def __call__(self, x):
        return (x - self._mean) * self._inv_std

    def to_config(self) -> dict:
        return {"mean": self.mean, "std": self.std}


def evaluate(model, loader, loss_fn=None, transform=None) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader`` (eval mode, no graph)."""
    return trainer_evaluate(model, loader, loss_fn, transform)


def train_epoch(model, loader, optimizer, loss_fn, transform=None, progress=True, desc="train"):
    """One pass over ``loader`` with a progress bar showing the running loss and accuracy."""
    trainer = Trainer(model, optimizer, loss_fn, transform=transform, progress=progress,
                      log=None)
    return trainer.train_epoch(loader, desc)


def fit(model, train_loader, val_loader, optimizer, loss_fn, epochs: int, transform=None,
        progress: bool = True, on_epoch_end=None, log=print, scheduler=None) -> list:
    """Train for ``epochs`` epochs; after each, evaluate on ``val_loader`` and step the
    learning-rate ``scheduler`` (if any).

    Returns one record per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds, lr.
    ``on_epoch_end(record)`` is called after each epoch (the run directory appends metrics).
    :class:`~fovea.train.trainer.Trainer` offers the rest: augmentation, penalties, clipping,
    early stopping, EMA and checkpoints.
    """
    trainer = Trainer(model, optimizer, loss_fn, transform=transform, scheduler=scheduler,
                      progress=progress, log=log, on_epoch_end=on_epoch_end)
    return trainer.fit(train_loader, val_loader, epochs)
