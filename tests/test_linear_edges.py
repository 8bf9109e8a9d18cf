"""nn.Linear on empty features, empty outputs and 0-d input: PyTorch's results or a ShapeError."""

import numpy as np
import pytest

import fovea
from fovea import nn
from fovea.errors import ShapeError


@pytest.mark.parametrize("fin, fout, shape", [(0, 3, (2, 0)), (3, 0, (2, 3)), (0, 0, (4, 0)),
                                              (3, 2, (0, 3)), (0, 3, (5, 2, 0))])
def test_zero_size_linear_matches_torch(torch, fin, fout, shape):
    layer = nn.Linear(fin, fout)
    x = fovea.zeros(*shape, requires_grad=True)
    y = layer(x)
    ref = torch.nn.functional.linear(torch.zeros(shape), torch.tensor(layer.weight.detach().numpy()),
                                     torch.tensor(layer.bias.detach().numpy()))
    assert y.shape == tuple(ref.shape)
    np.testing.assert_array_equal(y.detach().numpy(), ref.detach().numpy())
    y.sum().backward()
    assert x.grad.shape == shape and layer.weight.grad.shape == (fout, fin)
    np.testing.assert_array_equal(layer.bias.grad.numpy(), np.full(fout, np.prod(shape[:-1])))


def test_zero_d_input_is_a_shape_error():
    with pytest.raises(ShapeError, match="0-d"):
        nn.Linear(3, 2)(fovea.tensor(1.0))
