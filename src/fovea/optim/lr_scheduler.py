"""Learning-rate schedules with PyTorch's names and values.

Call ``scheduler.step()`` after the optimizer's step: once per epoch for StepLR, MultiStepLR,
ExponentialLR, LinearLR and CosineAnnealingLR; once per *batch* for OneCycleLR; once per epoch
with the monitored value for ReduceLROnPlateau (``scheduler.step(val_loss)``).

The epoch schedules are closed forms of the step count (``lr_at(base_lr, epoch)``), so a
schedule resumed from its ``state_dict`` continues exactly, whatever the optimizer's lr was.
PyTorch computes most of them recursively from the current lr; the two agree to rounding
(about 1e-15 relative after 30 steps). Every ``state_dict()`` is plain data (numbers, strings,
lists, dicts), ready for JSON.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_right

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR",
           "CosineAnnealingLR", "WarmupCosineLR", "OneCycleLR", "ReduceLROnPlateau"]


class LRScheduler:
    """Sets each parameter group's ``lr`` from its ``initial_lr`` and the step count.

    Subclasses define ``lr_at(base_lr, epoch)``, or override ``get_lr()`` when a group needs
    more than its base lr (OneCycleLR). ``needs_metric`` tells a training loop whether
    ``step`` takes the monitored value (only ReduceLROnPlateau's does).
    """

    needs_metric = False

    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_lr(self) -> list:
        """Each group's lr at step ``last_epoch``."""
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def step(self) -> None:
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def get_last_lr(self) -> list:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "optimizer"})

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(copy.deepcopy(dict(state)))


class StepLR(LRScheduler):
    """lr = base · γ^⌊epoch / step_size⌋"""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base · γ^(number of milestones ≤ epoch); a milestone listed twice counts twice."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = base · γ^epoch"""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma**epoch


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the factor: lr = base · (s + (e − s)·min(epoch, T) / T)
    with s = ``start_factor``, e = ``end_factor``, T = ``total_iters``; constant after T."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                          * min(self.total_iters, epoch) / self.total_iters)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min)·(1 + cos(π·epoch / T_max)) / 2 (SGDR without restarts)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class WarmupCosineLR(LRScheduler):
    """Linear warm-up, then cosine decay to ``min_lr``, then constant: nanoGPT's ``get_lr``,
    stepped once per iteration (W = ``warmup_iters``, D = ``lr_decay_iters``)::

        it < W:       lr = base · (it + 1) / (W + 1)
        W ≤ it ≤ D:   lr = min_lr + (base − min_lr)·(1 + cos(π·(it − W) / (D − W))) / 2
        it > D:       lr = min_lr

    ``min_lr`` is absolute (as CosineAnnealingLR's ``eta_min``), the same for every group.
    """

    def __init__(self, optimizer, warmup_iters: int, lr_decay_iters: int, min_lr: float = 0.0,
                 last_epoch: int = -1):
        if warmup_iters < 0 or lr_decay_iters < warmup_iters:
            raise ValueError(f"expected 0 ≤ warmup_iters ≤ lr_decay_iters, got warmup_iters "
                             f"{warmup_iters} and lr_decay_iters {lr_decay_iters}")
        if min_lr < 0:
            raise ValueError(f"min_lr must be ≥ 0, got {min_lr}")
        self.warmup_iters, self.lr_decay_iters = int(warmup_iters), int(lr_decay_iters)
        self.min_lr = float(min_lr)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        warmup, decay = self.warmup_iters, self.lr_decay_iters
        if epoch < warmup:
            return base_lr * (epoch + 1) / (warmup + 1)
        if epoch > decay:
            return self.min_lr
        ratio = (epoch - warmup) / (decay - warmup) if decay > warmup else 1.0
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))


def _per_group(name, optimizer, value) -> list:
    """``value`` for every parameter group: a list/tuple of one per group, or one number."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"expected {n} values for {name}, got {len(value)}")
        return list(value)
    return [value] * n


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per batch, as PyTorch's.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (or ``epochs · steps_per_epoch``), then anneals to
    ``initial_lr / final_div_factor``; ``three_phase`` comes back down to the initial lr
    symmetrically before annealing. With ``cycle_momentum`` the momentum (SGD, RMSprop) or β₁
    (Adam) moves inversely between ``max_momentum`` and ``base_momentum``. Annealing is
    cosine (``"cos"``) or ``"linear"``; stepping past ``total_steps`` raises ValueError.
    (With ``pct_start=1.0`` the step to ``total_steps`` gives the final lr, where PyTorch
    divides by zero.)
    As PyTorch, the group dicts get ``initial_lr``, ``max_lr``, ``min_lr`` (and
    ``max_momentum``, ``base_momentum``), which the schedule reads.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"expected a positive integer total_steps, got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(v, int) or v <= 0:
                    raise ValueError(f"expected a positive integer {name}, got {v}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("define either total_steps or (epochs and steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"expected a float pct_start in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        n = self.total_steps
        up = float(pct_start * n) - 1
        if three_phase:
            self._schedule_phases = [
                _phase(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * n) - 2, "max_lr", "initial_lr",
                       "base_momentum", "max_momentum"),
                _phase(n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                _phase(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, top in zip(groups, _per_group("max_lr", optimizer, max_lr)):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        self.use_beta1 = False
        if cycle_momentum:
            defaults = optimizer.defaults
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError("cycle_momentum needs an optimizer with momentum or betas")
            self.use_beta1 = "betas" in defaults
            if last_epoch == -1:
                for group, hi, lo in zip(groups,
                                         _per_group("max_momentum", optimizer, max_momentum),
                                         _per_group("base_momentum", optimizer, base_momentum)):
                    self._set_momentum(group, hi)
                    group["max_momentum"], group["base_momentum"] = hi, lo
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        """Each group's lr at step ``last_epoch``; sets its momentum or β₁ as a side effect."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"tried to step {step} times; total_steps is {self.total_steps}")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == last:
                    # a phase of length 0 (pct_start=1: the last step) is complete
                    pct = (step - start) / (end - start) if end != start else 1.0
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]],
                                            pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct))
                    break
                start = end
        return lrs


def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum) -> dict:
    return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr,
            "start_momentum": start_momentum, "end_momentum": end_momentum}


class ReduceLROnPlateau(LRScheduler):
    """Multiply every group's lr by ``factor`` when ``step(metric)`` has not improved for more
    than ``patience`` epochs, as PyTorch's.

    "Improved" means below best·(1 − threshold) (``mode="min"``, ``threshold_mode="rel"``),
    below best − threshold (``"abs"``), or above best·(1 + threshold) / best + threshold for
    ``mode="max"``. After a reduction, ``cooldown`` epochs pass before bad epochs count
    again. An lr never drops below its ``min_lr`` (one number, or one per group), and a change
    smaller than ``eps`` is skipped.
    """

    needs_metric = True

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0.0, eps: float = 1e-8):
        if factor >= 1.0:
            raise ValueError("factor must be < 1.0")
        if mode not in ("min", "max"):
            raise ValueError(f"unknown mode {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"unknown threshold_mode {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience, self.cooldown, self.eps = patience, cooldown, eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.last_epoch = 0
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def mode_worse(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics) -> None:  # noqa: D102 - documented on the class
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise RuntimeError(f"min_lr has {len(self.min_lrs)} values but the optimizer "
                                   f"now has {len(groups)} parameter groups")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def state_dict(self) -> dict:
        """Plain data; ``best`` is None until a first metric (standard JSON has no infinity)."""
        state = super().state_dict()
        if state["best"] == self.mode_worse:
            state["best"] = None
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if self.best is None:
            self.best = self.mode_worse
