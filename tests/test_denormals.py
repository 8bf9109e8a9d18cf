"""Softmax-family ops flush denormal probabilities to zero, so confident predictions do not
send denormal gradients into the GEMMs below (an order of magnitude slower on CPUs)."""

import numpy as np

import fovea
import fovea.nn.functional as F


def _has_denormals(a):
    a = np.abs(np.asarray(a))
    return bool(((a > 0) & (a < np.finfo(a.dtype).tiny)).any())


def test_cross_entropy_gradient_has_no_denormals():
    logits = fovea.tensor([[100.0, 0.0, -1.0], [0.0, 95.0, 3.0]], requires_grad=True)
    loss = F.cross_entropy(logits, fovea.tensor([0, 1]))
    loss.backward()
    assert np.isfinite(loss.item())
    assert not _has_denormals(logits.grad.numpy())


def test_softmax_and_log_softmax_have_no_denormals():
    x = fovea.tensor([[100.0, 0.0, 10.0]], requires_grad=True)
    s = F.softmax(x, dim=1)
    assert not _has_denormals(s.detach().numpy())
    assert s.detach().numpy()[0, 1] == 0.0
    F.log_softmax(x, dim=1).sum().backward()
    assert not _has_denormals(x.grad.numpy())
