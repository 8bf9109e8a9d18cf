"""nn.init.layer_weights: a new layer's weights drawn once, in the default dtype, with the
distributions WEIGHT_INITS names (PyTorch's default, torchvision's kaiming fan_out, N(0, 0.01²))."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fovea
from fovea.nn import init


def test_torch_default_is_uniform_with_the_fan_in_bound(seeded):
    w, b = init.layer_weights((64, 32, 3, 3), 32 * 9, 64 * 9)
    bound = 1 / math.sqrt(32 * 9)
    assert w.dtype == np.float32 and w.shape == (64, 32, 3, 3) and b.shape == (64,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound  # U(−a, a) has std a/√3
    assert np.abs(b).max() <= bound and b.std() > 0


@pytest.mark.parametrize("name,std", [("kaiming_out", math.sqrt(2 / (64 * 9))), ("normal", 0.01)])
def test_normal_inits_and_zero_bias(seeded, name, std):
    w, b = init.layer_weights((64, 32, 3, 3), 32 * 9, 64 * 9, name)
    assert w.dtype == np.float32 and abs(w.std() / std - 1) < 0.03 and abs(w.mean()) < 0.03 * std
    assert b.dtype == np.float32 and not b.any()
    assert init.layer_weights((4, 3), 3, 4, name, bias=False)[1] is None


def test_default_dtype_and_the_same_draws_for_the_same_seed():
    fovea.manual_seed(5)
    a, _ = init.layer_weights((8, 3), 3, 8)
    fovea.set_default_dtype(fovea.float64)
    try:
        fovea.manual_seed(5)
        b, _ = init.layer_weights((8, 3), 3, 8)
    finally:
        fovea.set_default_dtype(fovea.float32)
    assert b.dtype == np.float64
    fovea.manual_seed(5)
    np.testing.assert_array_equal(init.layer_weights((8, 3), 3, 8)[0], a)


def test_unknown_init_is_named():
    with pytest.raises(ValueError, match=r"'xavier'.*torch, kaiming_out, normal"):
        init.layer_weights((4, 3), 3, 4, "xavier")
