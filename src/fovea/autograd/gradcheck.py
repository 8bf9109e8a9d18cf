"""Gradient checking: analytic gradients against central finite differences, in float64."""

from __future__ import annotations

import math

from .. import backend
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True):
    """Compare the analytic gradient of ``fn(*inputs)`` with central finite differences.

    Works in float64: floating inputs are converted first. ``fn`` returns a Tensor (any shape:
    a random projection of it is differentiated). Returns a dict with the worst element
    (``input``, ``index``, ``analytic``, ``numeric``, ``abs_err``) and ``ok``; raises
    GradcheckError with that report when a gradient is off by more than atol + rtol*|numeric|.
    """
    tensors = []
    for x in inputs:
        if isinstance(x, Tensor) and backend.is_floating(x.dtype):
            # a C-contiguous copy, so that perturbing its flat view perturbs the input
            xp = backend.namespace(x.data)
            data = xp.array(x.data, dtype=backend.float64, order="C", copy=True)
            tensors.append(Tensor(data, requires_grad=x.requires_grad))
        else:
            tensors.append(x)
    with enable_grad():
        out = fn(*tensors)
    xp = backend.namespace(out.data)
    draws = backend.rng(backend.device_of(out.data)).standard_normal(out.shape)
    proj = xp.asarray(draws, dtype=backend.float64)

    def value(*args):
        with no_grad():
            return float((fn(*args).data.astype(backend.float64) * proj).sum())

    for t in tensors:
        if isinstance(t, Tensor):
            t.grad = None
    (out * Tensor(proj)).sum().backward()

    worst = {"ok": True, "abs_err": 0.0, "excess": -1.0, "input": None, "index": None,
             "analytic": None, "numeric": None}
    for i, t in enumerate(tensors):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = xp.zeros(t.shape) if t.grad is None else t.grad.data
        flat = t.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = value(*tensors)
            flat[j] = orig - eps
            minus = value(*tensors)
            flat[j] = orig
            numeric = (plus - minus) / (2 * eps)
            a = float(analytic.reshape(-1)[j])
            err = abs(a - numeric)
            excess = err - (atol + rtol * abs(numeric))
            if math.isnan(excess):  # NaN in either gradient is a failure
                excess = float("inf")
            if excess > worst["excess"]:
                idx = tuple(int(k) for k in xp.unravel_index(j, t.shape))
                worst.update(input=i, index=idx, analytic=a, numeric=numeric, abs_err=err,
                             excess=excess)
    worst["ok"] = worst["excess"] <= 0
    if not worst["ok"] and raise_exception:
        raise GradcheckError(
            f"gradient of input {worst['input']} at {worst['index']}: analytic "
            f"{worst['analytic']:.6g}, numeric {worst['numeric']:.6g} "
            f"(abs error {worst['abs_err']:.3g})"
        )
    return worst
