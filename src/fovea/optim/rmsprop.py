"""RMSprop (Hinton), with optional momentum and the centered variant, as PyTorch implements
it."""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """PyTorch's update rule (gradient negated first when ``maximize``):

        g = ∇ + λ·θ;  v ← αv + (1 − α)g²
        centered:  ḡ ← ḡ + (1 − α)(g − ḡ);  d = √(v − ḡ²) + ε,   else d = √v + ε
        momentum μ > 0:  b ← μb + g/d;  θ ← θ − η·b,   else θ ← θ − η·g/d
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        for name, value in (("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay),
                            ("momentum", momentum)):
            if value < 0:
                raise ValueError(f"invalid {name} {value}")
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      maximize=maximize))

    def step(self) -> None:
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            mom, centered = group["momentum"], group["centered"]
            for p, g in self._params_with_grad(group):
                xp = backend.namespace(p.data)
                dt = p.data.dtype.type
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = xp.zeros_like(p.data)
                state["step"] += 1
                v = state["square_avg"]
                v *= dt(alpha)
                v += dt(1 - alpha) * (g * g)
                if centered:
                    gavg = state.get("grad_avg")
                    if gavg is None:
                        gavg = state["grad_avg"] = xp.zeros_like(p.data)
                    gavg += dt(1 - alpha) * (g - gavg)  # torch's lerp_(g, 1 − α)
                    avg = v - gavg * gavg
                    xp.sqrt(avg, out=avg)
                else:
                    avg = xp.sqrt(v)
                avg += dt(eps)
                if mom > 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = xp.zeros_like(p.data)
                    buf *= dt(mom)
                    buf += g / avg
                    p.data -= dt(lr) * buf
                else:
                    p.data -= dt(lr) * (g / avg)


RMSProp = RMSprop
