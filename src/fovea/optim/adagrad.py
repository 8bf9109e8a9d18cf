"""AdaGrad (Duchi, Hazan & Singer), as PyTorch implements it."""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """PyTorch's update rule (gradient negated first when ``maximize``):

        g = ∇ + λ·θ;  η_t = η / (1 + (t − 1)·lr_decay)
        s ← s + g² (s starts at ``initial_accumulator_value``);  θ ← θ − η_t · g / (√s + ε)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        for name, value in (("lr_decay", lr_decay), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value),
                            ("eps", eps)):
            if value < 0:
                raise ValueError(f"invalid {name} {value}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      maximize=maximize))

    def step(self) -> None:
        for group in self.param_groups:
            lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
            for p, g in self._params_with_grad(group):
                xp = backend.namespace(p.data)
                dt = p.data.dtype.type
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["sum"] = xp.full_like(p.data, group["initial_accumulator_value"])
                state["step"] += 1
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                s = state["sum"]
                s += g * g
                std = xp.sqrt(s)
                std += dt(eps)
                p.data -= dt(clr) * (g / std)


AdaGrad = Adagrad
