"""The Trainer: epochs of augmented, regularized mini-batch descent with validation, early
stopping, weight averaging and a checkpoint after every epoch from which a killed run resumes
bit for bit. A run counted in iterations (``max_iters``, a language model's) is the same loop
whose "epochs" are the stretches of ``eval_interval`` iterations between evaluations."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
from tqdm import tqdm

from .. import backend, distributed
from ..autograd import Tensor
from ..distributed import is_main
from ..errors import CheckpointError, ShapeError, TrainingDiverged
from ..nn import CrossEntropyLoss
from ..nn.parallel import DistributedDataParallel
from ..nn.utils import clip_grad_norm_, clip_grad_value_
from .callbacks import EMA, EarlyStopping, snapshot, weight_penalty
from .checkpoint import load_checkpoint, save_checkpoint, split_prefix, with_prefix
from .predict import count_correct, evaluate, flatten_positions, model_device, to_batch

LN2 = math.log(2)


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss_fn`` (cross-entropy by default).

    Per batch: ``augment(images, labels) -> (images, targets)`` on the raw arrays (targets may
    become class probabilities, e.g. Mixup), ``transform`` (normalization/preprocessing), the
    data loss plus :func:`weight_penalty` (``l1``, ``l2``), backward, gradient clipping
    (``clip_grad_norm``, ``clip_grad_value``), the optimizer step, the EMA update and, for a
    per-batch ``scheduler`` (``batch_scheduler=True``, e.g. OneCycleLR), its step. Per epoch:
    validation, the epoch scheduler, ``early_stopping``, and a checkpoint in ``run_dir``.

    With ``max_iters`` the run is counted in iterations: the training loader yields batches
    without end (:class:`fovea.data.text.RandomWindows`), each epoch takes the next
    ``eval_interval`` of them (fewer for the last), and progress says "iter i/N".
    ``per_char`` reports the loss of a character model in nats and bits per character. A
    sequence model's logits (N, T, V) and targets (N, T) count each position as a sample.

    ``distributed``: one process of an MPI job (``mpiexec``; :mod:`fovea.distributed`). Every
    process draws the same global batch (same loader seed) and augments it alike, then takes
    its contiguous share; its loss is scaled by share·world_size/batch and the model, wrapped
    in DistributedDataParallel, averages the gradients over the processes, so each step is
    the one a single process takes on the whole batch. Epoch sums and validation are
    combined over the processes; only rank 0 writes checkpoints. With ``seed`` every process's
    own random stream (dropout masks) is reseeded from (seed, rank, epoch) at each epoch, so a
    resumed job draws what an uninterrupted one would.
    """

    def __init__(self, model, optimizer, loss_fn=None, *, transform=None, augment=None,
                 scheduler=None, batch_scheduler=False, l1=0.0, l2=0.0, clip_grad_norm=None,
                 clip_grad_value=None, early_stopping: EarlyStopping | None = None,
                 ema: EMA | None = None, run_dir=None, progress=True, log=print,
                 on_epoch_end=None, extra_state=None, max_iters=None, eval_interval=None,
                 per_char=False, distributed=False, seed=None):
        self.model, self.optimizer = model, optimizer
        self.distributed, self.seed = bool(distributed), seed
        self.net = DistributedDataParallel(model) if self.distributed else model
        self.device = model_device(model)  # where the batches go: the model's device
        self.writes = not self.distributed or is_main()
        self.loss_fn = loss_fn or CrossEntropyLoss()
        self.transform, self.augment = transform, augment
        self.scheduler, self.batch_scheduler = scheduler, batch_scheduler
        self.l1, self.l2 = l1, l2
        self.clip_grad_norm, self.clip_grad_value = clip_grad_norm, clip_grad_value
        self.early_stopping, self.ema = early_stopping, ema
        self.run_dir, self.progress, self.log = run_dir, progress, log
        self.on_epoch_end = on_epoch_end
        self.extra_state = extra_state or {}
        if max_iters is not None and not eval_interval:
            raise ValueError("a run of max_iters iterations needs an eval_interval")
        self.max_iters, self.eval_interval, self.per_char = max_iters, eval_interval, per_char
        self.history = []
        self.epoch = 0
        self.iteration = 0  # optimizer steps done (counted for iteration runs)
        self.saved_epoch = 0  # the epoch of the last checkpoint written or resumed from
        self.saved_iteration = 0

    # ---- one step and one epoch ------------------------------------------------------------
    def step(self, x, y) -> tuple:
        """One optimizer step on a batch of arrays; returns (data loss, penalty, correct, n)
        (this process's share of them in a distributed job)."""
        if self.augment is not None:
            x, y = self.augment(x, y)
        batch = len(y)
        if self.distributed:
            x, y = _share(x), _share(y)
            if len(y) == 0:  # fewer samples than processes: take part in the averaging
                self.optimizer.zero_grad()
                self.net.sync_gradients()
                self._update()
                return 0.0, 0.0, 0, 0
        share = len(y)
        x, y = to_batch(x, self.transform, self.device), to_batch(y, device=self.device)
        logits, y = flatten_positions(self.net(x), y)
        loss = self.loss_fn(logits, y)
        penalty = weight_penalty(self.model, self.l1, self.l2)
        total = loss if penalty is None else loss + penalty
        value = float(total.item())
        if not math.isfinite(value):  # before a step that would spread it into the weights
            self.diverged(f"the loss is {value}")
        if self.distributed and share * distributed.world_size() != batch:
            total = total * (share * distributed.world_size() / batch)
        self.optimizer.zero_grad()
        total.backward()
        self._update()
        return (value if penalty is None else float(loss.item()),
                0.0 if penalty is None else float(penalty.item()),
                count_correct(logits, y), len(y))

    def _update(self) -> None:
        """What follows the gradients: clipping, the optimizer step, the EMA, a per-batch
        schedule."""
        if self.clip_grad_value:
            clip_grad_value_(self.model.parameters(), self.clip_grad_value)
        if self.clip_grad_norm:
            clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        if self.scheduler is not None and self.batch_scheduler:
            self.scheduler.step()

    def train_epoch(self, loader, desc="train") -> dict:
        self.model.train()
        if self.distributed and self.seed is not None:
            backend.manual_seed(_stream_seed(self.seed, distributed.rank(), self.epoch))
        loss_sum = penalty_sum = 0.0
        correct = n = 0
        if self.max_iters is None:
            bar = tqdm(loader, desc=desc, leave=False, disable=not self.progress, unit="batch")
        else:
            todo = min(self.eval_interval, self.max_iters - self.iteration)
            bar = tqdm(itertools.islice(loader, todo), desc="iter", leave=False,
                       disable=not self.progress, unit="iter", initial=self.iteration,
                       total=self.max_iters)
        for x, y in bar:
            loss, penalty, c, k = self.step(x, y)
            self.iteration += 1
            loss_sum += loss * k
            penalty_sum += penalty * k
            correct += c
            n += k
            if self.per_char:
                bar.set_postfix(loss=f"{loss_sum / n:.4f}", bpc=f"{loss_sum / n / LN2:.4f}",
                                refresh=False)
            else:
                bar.set_postfix(loss=f"{loss_sum / n:.4f}", acc=f"{correct / n:.4f}",
                                refresh=False)
        bar.close()
        if self.distributed:
            loss_sum, penalty_sum, correct, n = distributed.sum_over_ranks(
                [loss_sum, penalty_sum, correct, n])
            correct, n = int(correct), int(n)
        d = max(n, 1)
        out = {"loss": loss_sum / d, "accuracy": correct / d, "n": n}
        if self.l1 or self.l2:
            out["penalty"] = penalty_sum / d
        return out

    # ---- the run --------------------------------------------------------------------------
    def fit(self, train_loader, val_loader, epochs: int | None = None) -> list:
        """Train until ``epochs`` epochs are done (counting those of a resumed checkpoint), or
        ``max_iters`` iterations in an iteration run, or early stopping says stop; returns the
        per-epoch records."""
        if self.max_iters is not None:
            left = max(0, self.max_iters - self.iteration)
            epochs = self.epoch + -(-left // self.eval_interval)
        while self.epoch < epochs:
            epoch = self.epoch + 1
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            tr = self.train_epoch(train_loader, desc=f"epoch {epoch}/{epochs}")
            if self.distributed:  # rank 0's BatchNorm statistics, evaluated and saved
                self.net.sync_buffers()
            va = (evaluate(self.model, val_loader, self.loss_fn, self.transform, self.ema,
                           shard=self.distributed)
                  if val_loader is not None else None)
            record = {
                "epoch": epoch, "train_loss": tr["loss"], "train_acc": tr["accuracy"],
                "val_loss": va["loss"] if va else None, "val_acc": va["accuracy"] if va else None,
                "seconds": round(time.perf_counter() - t0, 3), "lr": lr,
            }
            if "penalty" in tr:  # the regularization term, reported apart from the data loss
                record["train_penalty"] = tr["penalty"]
            if self.max_iters is not None:
                record["iter"] = self.iteration
            if self.per_char:
                record["train_bpc"] = tr["loss"] / LN2
                record["val_bpc"] = va["loss"] / LN2 if va else None
            if self.scheduler is not None and not self.batch_scheduler:
                if getattr(self.scheduler, "needs_metric", False):  # ReduceLROnPlateau
                    self.scheduler.step(record["val_loss"] if va else tr["loss"])
                else:
                    self.scheduler.step()
            self.history.append(record)
            self.epoch = epoch
            stop = False
            if self.early_stopping is not None and va is not None:
                stop = self.early_stopping.update(record, self.model)
            if self.log is not None:
                self.log(self._line(epoch, epochs, tr, va, record["seconds"]))
            if self.run_dir is not None:
                bad = [name for name, p in self.model.named_parameters()
                       if not bool(backend.namespace(p.data).isfinite(p.data).all())]
                if bad:  # never checkpoint NaN weights over the last finite ones
                    self.diverged(f"{bad[0]} holds non-finite values", epoch,
                                  self.iteration)
                if self.writes:
                    self.save_checkpoint(train_loader, stopped=stop)
                else:
                    self.saved_epoch, self.saved_iteration = self.epoch, self.iteration
            if self.on_epoch_end is not None:
                self.on_epoch_end(record)
            if stop:
                break
        if self.early_stopping is not None:
            self.early_stopping.restore(self.model)
        return self.history

    def _line(self, epoch, epochs, tr, va, seconds) -> str:
        """The log line of an epoch: loss and accuracy, or nats and bits per character."""
        def scores(name, m):
            if self.per_char:
                return (f"{name} loss {m['loss']:.4f} nats/char "
                        f"({m['loss'] / LN2:.4f} bits/char)")
            return f"{name} loss {m['loss']:.4f} acc {m['accuracy']:.4f}"

        where = (f"epoch {epoch}/{epochs}" if self.max_iters is None
                 else f"iter {self.iteration}/{self.max_iters}")
        val = f"  {scores('val', va)}" if va else ""
        return f"{where}  {scores('train', tr)}{val}  ({seconds:.1f} s)"

    def diverged(self, what: str, epoch=None, iteration=None):
        """Raise TrainingDiverged: ``what`` went non-finite in ``epoch`` (the current one), or
        at ``iteration`` (the current one) in an iteration run."""
        if self.max_iters is None:
            epoch = self.epoch + 1 if epoch is None else epoch
            where, saved, done = f"in epoch {epoch}", f"epoch {self.saved_epoch}", self.saved_epoch
        else:
            iteration = self.iteration + 1 if iteration is None else iteration
            where, saved = f"at iter {iteration}", f"iter {self.saved_iteration}"
            done = self.saved_epoch
        kept = ""
        if self.run_dir is not None:
            kept = (f"; the checkpoint of {saved} in {self.run_dir} is kept"
                    if done else "; no checkpoint was written")
        raise TrainingDiverged(f"training diverged {where}: {what}{kept}; lower the "
                               f"learning rate or clip the gradients")

    # ---- checkpoints ------------------------------------------------------------------------
    def state(self, train_loader) -> tuple:
        """(arrays, meta) of everything a resumed run needs to continue identically."""
        arrays = with_prefix("model", {k: v.data for k, v in self.model.state_dict().items()})
        opt = self.optimizer.state_dict()
        scalars = {}
        for idx, entry in opt["state"].items():
            for name, value in entry.items():
                if isinstance(value, Tensor):
                    arrays[f"optim.{idx}.{name}"] = value.data
                else:
                    scalars.setdefault(str(idx), {})[name] = value
        if self.ema is not None:
            arrays.update(with_prefix("ema", self.ema.state_dict()))
        es = self.early_stopping
        if es is not None and es.best_weights is not None:
            arrays.update(with_prefix("best", es.best_weights))
        meta = {
            "history": self.history,
            "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "early_stopping": es.state_dict() if es is not None else None,
            "rng": {"backend": backend.get_rng_state(),
                    "loader": train_loader.state_dict() if hasattr(train_loader, "state_dict")
                    else None,
                    "augment": self.augment.state_dict()
                    if hasattr(self.augment, "state_dict") else None},
            "iteration": self.iteration,
            **self.extra_state,
        }
        return arrays, meta

    def save_checkpoint(self, train_loader, stopped=False):
        arrays, meta = self.state(train_loader)
        meta["stopped"] = bool(stopped)
        path = save_checkpoint(self.run_dir, self.epoch, arrays, meta)
        self.saved_epoch, self.saved_iteration = self.epoch, self.iteration
        return path

    def resume(self, train_loader) -> dict:
        """Load the run directory's checkpoint into this trainer; returns its JSON part.
        CheckpointError, naming what differs, when the checkpoint is not this trainer's."""
        arrays, meta = load_checkpoint(self.run_dir)
        try:
            self.model.load_state_dict(split_prefix(arrays, "model"))
        except (KeyError, ShapeError, TypeError) as exc:
            raise CheckpointError(f"{self.run_dir}: the checkpoint's model does not fit this "
                                  f"one: {exc.args[0] if exc.args else exc}") from None
        try:
            self._resume_rest(train_loader, arrays, meta)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            detail = f"no {exc.args[0]!r} entry" if isinstance(exc, KeyError) else exc
            raise CheckpointError(f"{self.run_dir}: the checkpoint does not fit this "
                                  f"training setup ({detail})") from None
        self.saved_epoch, self.saved_iteration = self.epoch, self.iteration
        return meta

    def _resume_rest(self, train_loader, arrays, meta):
        opt_state = {}
        for key, value in arrays.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                opt_state.setdefault(int(idx), {})[name] = Tensor(value)
        for idx, entry in meta["optimizer"]["scalars"].items():
            opt_state.setdefault(int(idx), {}).update(entry)
        self.optimizer.load_state_dict({"state": opt_state,
                                        "param_groups": meta["optimizer"]["param_groups"]})
        if self.scheduler is not None and meta.get("scheduler") is not None:
            self.scheduler.load_state_dict(meta["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(split_prefix(arrays, "ema"))
        es = self.early_stopping
        if es is not None and meta.get("early_stopping") is not None:
            es.load_state_dict(meta["early_stopping"])
            best = {k: backend.to_device(v, self.device)
                    for k, v in split_prefix(arrays, "best").items()}
            es.best_weights = best or None
        rng = meta["rng"]
        backend.set_rng_state(rng["backend"])
        if rng.get("loader") is not None:
            train_loader.load_state_dict(rng["loader"])
        if rng.get("augment") is not None and self.augment is not None:
            self.augment.load_state_dict(rng["augment"])
        self.history = list(meta["history"])
        self.epoch = int(meta["epoch"])
        self.iteration = int(meta.get("iteration", 0))


def _share(a):
    """This process's contiguous share of a global batch: rows [n·r/W, n·(r+1)/W)."""
    n, r, w = len(a), distributed.rank(), distributed.world_size()
    return a[n * r // w:n * (r + 1) // w]


def _stream_seed(seed: int, rank: int, epoch: int) -> int:
    """The seed of a process's random stream in an epoch of a distributed job: distinct for
    every (seed, rank, epoch), and the same on a resumed job."""
    return int(np.random.SeedSequence([seed, rank, epoch]).generate_state(1)[0])


__all__ = ["Trainer", "snapshot"]
