"""The dtype rules: fovea.tensor holds numbers only, load_state_dict casts only within a kind."""

import re

import numpy as np
import pytest

import fovea
from fovea import nn


@pytest.mark.parametrize("data", [
    np.array(["1.5", "2"]),
    np.array([b"ab"]),
    np.array([1.0, "x"], dtype=object),
    np.array([1.0, 2.0], dtype=object),
    np.array([1 + 2j]),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
])
def test_tensor_refuses_non_numeric_data(data):
    with pytest.raises(TypeError, match=re.escape(str(data.dtype))):
        fovea.tensor(data)
    with pytest.raises(TypeError, match=re.escape(str(data.dtype))):  # a cast does not launder it
        fovea.tensor(data, dtype=fovea.float32)


def test_tensor_refuses_non_numeric_dtype():
    with pytest.raises(TypeError, match="complex64"):
        fovea.tensor([1.0], dtype=np.complex64)


def test_tensor_keeps_numeric_rules():
    assert fovea.tensor([1.0, 2.0]).dtype == fovea.float32
    assert fovea.tensor([1.0], dtype=fovea.float64).dtype == fovea.float64
    assert fovea.tensor([1, 2]).dtype == np.int64
    assert fovea.tensor([True]).dtype == np.bool_
    assert fovea.tensor(np.arange(3, dtype=np.uint8)).dtype == np.uint8


def _state(model, key, value):
    state = {k: v.data.copy() for k, v in model.state_dict().items()}
    state[key] = value
    return state


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, np.int64, np.int8, object])
def test_load_state_dict_refuses_unsafe_cast_into_float(dtype):
    model = nn.Linear(3, 2)
    before = model.weight.data.copy()
    value = np.ones((2, 3), dtype=dtype)
    with pytest.raises(TypeError, match="weight"):
        model.load_state_dict(_state(model, "weight", value))
    np.testing.assert_array_equal(model.weight.data, before)  # nothing changed


def test_load_state_dict_casts_float64_into_float32():
    model = nn.Linear(3, 2)
    value = np.full((2, 3), 0.25, dtype=np.float64)
    model.load_state_dict(_state(model, "weight", value))
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, value.astype(np.float32))


def test_load_state_dict_integer_buffers():
    model = nn.BatchNorm1d(4)
    model.load_state_dict(_state(model, "num_batches_tracked", np.array(7, dtype=np.int32)))
    assert int(model.num_batches_tracked.data) == 7
    with pytest.raises(TypeError, match="num_batches_tracked"):
        model.load_state_dict(_state(model, "num_batches_tracked", np.array(7.5)))
