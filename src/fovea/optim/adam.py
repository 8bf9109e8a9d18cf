"""Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), with optional AMSGrad, as PyTorch
implements them. Both share one update; they differ only in how weight decay enters it."""

from __future__ import annotations

import math

from .. import backend
from .optimizer import Optimizer


class Adam(Optimizer):
    """PyTorch's update rule (gradient negated first when ``maximize``):

        coupled (Adam):       g = ∇ + λ·θ
        decoupled (AdamW):    θ ← (1 − η·λ)·θ;  g = ∇
        m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  v̂ = max(v̂, v) if AMSGrad else v
        θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

    ``decoupled_weight_decay=True`` makes this AdamW, as in PyTorch (≥ 2.6), where
    ``AdamW`` is ``Adam`` with that flag set and a default ``weight_decay`` of 1e-2.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid betas {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"invalid eps {eps} or weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def step(self) -> None:
        default_decoupled = self.defaults["decoupled_weight_decay"]
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            wd, amsgrad = group["weight_decay"], group["amsgrad"]
            decoupled = group.get("decoupled_weight_decay", default_decoupled)
            for p, g in self._params_with_grad(group, coupled_decay=not decoupled):
                xp = backend.namespace(p.data)
                dt = p.data.dtype.type
                if wd and decoupled:
                    p.data *= dt(1 - lr * wd)
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(p.data)
                    state["exp_avg_sq"] = xp.zeros_like(p.data)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = xp.zeros_like(p.data)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m *= dt(b1)
                m += dt(1 - b1) * g
                v *= dt(b2)
                v += dt(1 - b2) * (g * g)
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]
                    xp.maximum(vmax, v, out=vmax)
                    v = vmax
                bias1 = 1 - b1**t
                bias2_sqrt = math.sqrt(1 - b2**t)
                denom = xp.sqrt(v)
                denom /= dt(bias2_sqrt)
                denom += dt(eps)
                p.data -= dt(lr / bias1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: θ ← (1 − η·λ)·θ before the Adam step, so the decay
    never enters the moment estimates. PyTorch's defaults (``weight_decay=1e-2``)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
