"""Softmax, log-softmax and the fused cross-entropy loss, all numerically stable."""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..backend import flush_denormals
from ..errors import ShapeError


def _shift(x, axis):
    """x − max x along axis (x itself when empty: nothing to shift, and max has no value)."""
    return x - x.max(axis=axis, keepdims=True) if x.size else x


def _log_softmax(x, axis):
    if not x.size:
        return x.copy()
    xp = backend.namespace(x)
    z = _shift(x, axis)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """log softmax(x)_i = x_i − log Σ_j e^{x_j} (shifted by max x for stability).

    d/dx = g − softmax(x) · Σ g.
    """

    def forward(self, x, dim=-1):
        self.dim = dim
        self.out = _log_softmax(x, dim)
        return self.out

    def backward(self, g):
        p = flush_denormals(backend.namespace(g).exp(self.out))
        return g - p * g.sum(axis=self.dim, keepdims=True)


class Softmax(Function):
    """softmax(x)_i = e^{x_i} / Σ_j e^{x_j};  d/dx = s · (g − Σ g·s)."""

    def forward(self, x, dim=-1):
        self.dim = dim
        e = flush_denormals(backend.namespace(x).exp(_shift(x, dim)))
        self.out = e / e.sum(axis=dim, keepdims=True)
        return self.out

    def backward(self, g):
        s = self.out
        return s * (g - (g * s).sum(axis=self.dim, keepdims=True))


class CrossEntropy(Function):
    """Cross-entropy from logits: loss_n = −w[y_n] · log softmax(x_n)[y_n].

    ``target`` holds class indices (N,), or class probabilities of the logits' shape.
    ``reduction`` is "mean" (weighted mean over non-ignored samples, as PyTorch), "sum" or
    "none". d/dx_n = (softmax(x_n) − onehot(y_n)) · w[y_n] / normaliser.
    """

    def forward(self, logits, target, weight=None, reduction="mean", ignore_index=-100,
                label_smoothing=0.0):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        xp = backend.namespace(logits)
        squeeze = logits.ndim == 1
        if squeeze:
            logits = logits[None]
            target = xp.asarray(target)[None]
        if logits.ndim != 2:
            raise ShapeError(f"cross_entropy expects logits (N, C) or (C,), got {logits.shape}")
        n, c = logits.shape
        logp = _log_softmax(logits, 1)
        dtype = logits.dtype
        if weight is not None:  # a float64 weight must not upcast float32 losses
            weight = xp.asarray(weight).astype(dtype, copy=False)
            if weight.shape != (c,):
                raise ShapeError(f"class weight must have shape ({c},), got {weight.shape}")
        self.valid = None  # the non-ignored samples (class-index targets only)
        if target.dtype.kind == "f":  # class probabilities
            if target.shape != logits.shape:
                raise ShapeError(
                    f"probability targets must have the logits' shape {logits.shape}, "
                    f"got {target.shape}"
                )
            probs = target.astype(dtype, copy=False)
            if label_smoothing:
                probs = probs * (1 - label_smoothing) + label_smoothing / c
            if weight is not None:
                probs = probs * weight
            # d loss/d target = −log softmax(x) · w · (1 − label_smoothing)
            self.target_coef = (1 - label_smoothing) * (1 if weight is None else weight)
            losses = -(probs * logp).sum(axis=1)
            norm = n
            self.coef = probs
        else:
            if target.shape != (n,):
                raise ShapeError(
                    f"class-index targets must have shape ({n},) for logits {logits.shape}, "
                    f"got {target.shape}"
                )
            valid = self.valid = target != ignore_index
            t = xp.where(valid, target, 0).astype(xp.intp)
            if xp.any((t < 0) | (t >= c)):
                bad = int(target[valid & ((target < 0) | (target >= c))][0])
                raise IndexError(f"target {bad} is out of range for {c} classes")
            w = xp.ones((), dtype=dtype) if weight is None else weight[t]
            w = xp.where(valid, w, xp.zeros((), dtype=dtype)).astype(dtype)
            rows = xp.arange(n)
            if label_smoothing:
                eps = label_smoothing
                probs = xp.full((n, c), eps / c, dtype=dtype)
                probs[rows, t] += 1 - eps
                cw = xp.ones((c,), dtype=dtype) if weight is None else weight
                probs = probs * cw * valid[:, None]
                losses = -(probs * logp).sum(axis=1)
                self.coef = probs
                norm = w.sum()
            else:
                losses = -logp[rows, t] * w
                self.coef = (t, w)
                norm = w.sum()
        self.logp, self.reduction, self.squeeze = logp, reduction, squeeze
        if reduction == "mean":
            # every sample ignored: 0/0, as PyTorch
            with backend.errstate(logits, divide="ignore", invalid="ignore"):
                self.scale = 1 / xp.asarray(norm, dtype=dtype)
                return (losses.sum() * self.scale).astype(dtype)
        if reduction == "sum":
            self.scale = xp.ones((), dtype=dtype)
            return losses.sum().astype(dtype)
        self.scale = None
        return losses[0] if squeeze else losses

    def backward(self, g):
        xp = backend.namespace(g)
        p = flush_denormals(xp.exp(self.logp))
        coef = self.coef
        gt = None
        if len(self.needs_grad) > 1 and self.needs_grad[1]:
            gt = -self.logp * self.target_coef
            gt = gt * (g * self.scale if self.scale is not None
                       else (g[None] if self.squeeze else g)[:, None])
            gt = gt[0] if self.squeeze else gt
        if isinstance(coef, tuple):  # class indices: softmax·w − onehot·w
            t, w = coef
            grad = p * w[:, None]
            grad[xp.arange(len(t)), t] -= w
        else:  # probabilities q (already weighted): softmax·Σq − q
            grad = p * coef.sum(axis=1, keepdims=True) - coef
        if self.scale is not None:
            with backend.errstate(g, invalid="ignore"):
                grad *= g * self.scale
            if self.valid is not None and not xp.isfinite(self.scale):
                grad[~self.valid] = 0  # PyTorch skips ignored samples even when norm is 0
        else:
            grad *= (g[None] if self.squeeze else g)[:, None]
        return (grad[0] if self.squeeze else grad), gt
