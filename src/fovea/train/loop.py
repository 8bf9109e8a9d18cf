"""The training loop: ``fit`` trains for some epochs, ``evaluate`` (from :mod:`.predict`)
measures loss and accuracy."""

from __future__ import annotations

from .predict import evaluate
from .trainer import Trainer

__all__ = ["evaluate", "fit", "train_epoch"]




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
