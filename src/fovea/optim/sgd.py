"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's update rule:

        d = ∇ + λ·θ;  b ← μ·b + (1 − τ)·d (b = d at the first step);
        d ← d + μ·b (Nesterov) or d ← b;  θ ← θ − η·d
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid momentum {momentum} or weight_decay {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def step(self) -> None:
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            nesterov = group["nesterov"]
            for p, d in self._params_with_grad(group):
                xp = backend.namespace(p.data)
                dt = p.data.dtype.type
                if mom:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = xp.array(d, copy=True)
                    else:
                        buf *= dt(mom)
                        buf += dt(1 - damp) * d if damp else d
                    d = d + dt(mom) * buf if nesterov else buf
                p.data -= dt(lr) * d
