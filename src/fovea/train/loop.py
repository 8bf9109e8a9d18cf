"""The training loop: ``fit`` trains for some epochs, ``evaluate`` measures loss and accuracy."""

from __future__ import annotations

import time

from tqdm import tqdm

from ..autograd import Tensor, no_grad
from ..backend import xp


class Normalize:
    """x ↦ (x − mean) / std per channel, in float32; the statistics are stored with the run."""

    def __init__(self, mean, std):
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        shape = (1, len(self.mean), 1, 1)
        self._mean = xp.asarray(self.mean, dtype=xp.float32).reshape(shape)
        self._inv_std = (1 / xp.asarray(self.std, dtype=xp.float32)).reshape(shape)

    def __call__(self, x):
        return (x - self._mean) * self._inv_std

    def to_config(self) -> dict:
        return {"mean": self.mean, "std": self.std}


def _batch_tensors(batch, transform):
    x, y = batch
    x = xp.asarray(x)
    if transform is not None:
        x = transform(x)
    return Tensor(x), Tensor(xp.asarray(y))


def _correct(logits, y) -> int:
    return int((logits.data.argmax(axis=1) == y.data).sum())


def evaluate(model, loader, loss_fn=None, transform=None) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader`` (eval mode, no graph)."""
    from ..nn import CrossEntropyLoss

    loss_fn = loss_fn or CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with no_grad():
        for batch in loader:
            x, y = _batch_tensors(batch, transform)
            logits = model(x)
            total_loss += float(loss_fn(logits, y).item()) * len(y)
            correct += _correct(logits, y)
            n += len(y)
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return {"loss": total_loss / n, "accuracy": correct / n, "n": n}


def train_epoch(model, loader, optimizer, loss_fn, transform=None, progress=True, desc="train"):
    """One pass over ``loader`` with a progress bar showing the running loss and accuracy."""
    model.train()
    total_loss, correct, n = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch")
    for batch in bar:
        x, y = _batch_tensors(batch, transform)
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        k = len(y)
        total_loss += float(loss.item()) * k
        correct += _correct(logits, y)
        n += k
        bar.set_postfix(loss=f"{total_loss / n:.4f}", acc=f"{correct / n:.4f}", refresh=False)
    bar.close()
    return {"loss": total_loss / max(n, 1), "accuracy": correct / max(n, 1), "n": n}


def fit(model, train_loader, val_loader, optimizer, loss_fn, epochs: int, transform=None,
        progress: bool = True, on_epoch_end=None, log=print, scheduler=None) -> list:
    """Train for ``epochs`` epochs; after each, evaluate on ``val_loader`` and step the
    learning-rate ``scheduler`` (if any).

    Returns one record per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds, lr.
    ``on_epoch_end(record)`` is called after each epoch (the run directory appends metrics).
    """
    history = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        tr = train_epoch(model, train_loader, optimizer, loss_fn, transform, progress,
                         desc=f"epoch {epoch}/{epochs}")
        va = evaluate(model, val_loader, loss_fn, transform) if val_loader is not None else None
        record = {
            "epoch": epoch,
            "train_loss": tr["loss"],
            "train_acc": tr["accuracy"],
            "val_loss": va["loss"] if va else None,
            "val_acc": va["accuracy"] if va else None,
            "seconds": round(time.perf_counter() - t0, 3),
            "lr": lr,
        }
        if scheduler is not None:
            scheduler.step()
        history.append(record)
        if log is not None:
            val = f"  val loss {va['loss']:.4f} acc {va['accuracy']:.4f}" if va else ""
            log(f"epoch {epoch}/{epochs}  train loss {tr['loss']:.4f} acc {tr['accuracy']:.4f}"
                f"{val}  ({record['seconds']:.1f} s)")
        if on_epoch_end is not None:
            on_epoch_end(record)
    return history
