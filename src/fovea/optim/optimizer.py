"""The Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict."""

from __future__ import annotations

import copy

from .. import backend
from ..autograd import Tensor


class Optimizer:
    """Holds ``param_groups`` (dicts of hyper-parameters with a "params" list) and ``state``
    (per-parameter arrays such as momentum buffers), as PyTorch's optimizers do."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, not a Tensor; "
                            "wrap it in a list")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        seen = set()
        for g in groups:
            g = dict(g)
            ps = g["params"]
            g["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
            ids = {id(p) for p in g["params"]}
            if ids & seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen |= ids
            for key, value in self.defaults.items():
                g.setdefault(key, value)
            self._check(g)
            self.param_groups.append(g)
        self.state = {}

    def _check(self, group: dict) -> None:
        if group.get("lr", 0) < 0:
            raise ValueError(f"invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = Tensor._wrap(backend.namespace(p.grad.data).zeros_like(p.grad.data))

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _params_with_grad(self, group, coupled_decay: bool = True):
        """(parameter, descent gradient) for each parameter of ``group`` that has a gradient:
        ∇, negated when the group maximizes, plus λ·θ for coupled weight decay (PyTorch's
        order). Never modifies ``p.grad``."""
        wd = group.get("weight_decay", 0)
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.data
            if group.get("maximize"):
                g = -g
            if wd and coupled_decay:
                g = g + p.data.dtype.type(wd) * p.data
            yield p, g

    def state_dict(self) -> dict:
        """{"state": {index: {name: Tensor or number}}, "param_groups": [...]} where each
        group lists its parameters by index, as PyTorch."""
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self.state.get(id(p))
                if s:
                    state[index[id(p)]] = {
                        k: Tensor._wrap(v.copy()) if hasattr(v, "shape") else v
                        for k, v in s.items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)
        ):
            raise ValueError("optimizer state_dict does not match this optimizer's parameters")
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[i] = p
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[id(p)] = {k: _state_value(v, p) for k, v in s.items()}


def _state_value(v, p):
    """A saved state entry as this optimizer keeps it: arrays copied in the dtype and onto the
    device of the parameter ``p``; 0-d arrays (PyTorch's float32 ``step`` tensor) as Python
    numbers, so that 1 − βᵗ is
    computed in double precision as PyTorch does."""
    if isinstance(v, Tensor):
        v = v.data
    if not hasattr(v, "shape"):
        return v
    if v.ndim == 0:
        v = v.item()
        return int(v) if isinstance(v, float) and v.is_integer() else v
    return backend.namespace(p.data).array(backend.to_device(v, p.device), dtype=p.dtype)
