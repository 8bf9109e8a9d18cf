"""Devices with PyTorch's names: fovea.device, Tensor.device / .to / .cpu, Module.to, the
creation functions' device=, transfers through the backend, and a clear error for a device
this machine lacks ("cuda" without CuPy or a GPU)."""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest
from fake_device import FAKE, FakeArray, fakenp

import fovea
from fovea import backend, nn, optim
from fovea.errors import DeviceError, FoveaError

CPU = fovea.device("cpu")


def test_device_parses_and_compares_like_torch():
    d = fovea.device("cuda:1")
    assert (d.type, d.index) == ("cuda", 1) and str(d) == "cuda:1"
    assert repr(d) == "device(type='cuda', index=1)"
    assert d == fovea.device("cuda", 1) == fovea.device(d)
    assert d != fovea.device("cuda") and fovea.device("cuda").index is None
    assert (CPU.type, CPU.index, str(CPU), repr(CPU)) == ("cpu", None, "cpu", "device(type='cpu')")
    assert hash(fovea.device("cpu")) == hash(CPU) and len({CPU, fovea.device("cpu")}) == 1
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(AttributeError):
        d.index = 2


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "cuda:-1", "cpu:0:1", ""])
def test_bad_device_strings_are_value_errors(spec):
    with pytest.raises(ValueError, match="device"):
        fovea.device(spec)


def test_bad_device_arguments():
    with pytest.raises(ValueError):
        fovea.device("cuda:0", 1)
    with pytest.raises(TypeError):
        fovea.device(0)


def test_tensors_know_their_device_and_move():
    t = fovea.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert t.device == CPU
    assert t.to(CPU) is t and t.to("cpu") is t and t.cpu() is t and t.to(t.dtype) is t
    assert t.to("cpu:0") is t
    f = t.to(FAKE)
    assert f.device == FAKE and isinstance(f.data, FakeArray) and f.dtype == t.dtype
    g = f.to("fake", "float64")
    assert g.device == FAKE and g.dtype == np.float64
    h = g.to(device="cpu", dtype=fovea.float32)
    assert h.device == CPU and h.dtype == np.float32
    np.testing.assert_array_equal(h.detach().numpy(), [1.0, 2.0, 3.0])
    # transfers are differentiable: the gradient comes back to the source device
    (g * g).sum().backward()
    assert t.grad.device == CPU
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 4.0, 6.0])
    assert "device='fake'" in repr(f.detach()) and "device" not in repr(t.detach())


def test_to_keeps_dtype_conversions_as_before():
    t = fovea.tensor([1.5, 2.5])
    assert t.to("float64").dtype == np.float64 and t.to("double").dtype == np.float64
    assert t.double().dtype == np.float64 and t.long().dtype == np.int64
    with pytest.raises(TypeError):
        t.to("cpu", "fake")


def test_numpy_of_a_device_tensor_is_a_host_copy():
    f = fovea.tensor([[1, 2], [3, 4]], device=FAKE)
    a = f.numpy()
    assert type(a) is np.ndarray and a.dtype == np.int64
    a[0, 0] = 9
    assert f.tolist() == [[1, 2], [3, 4]]


def test_creation_functions_take_a_device():
    for make in (lambda d: fovea.zeros(2, 3, device=d), lambda d: fovea.ones((2, 3), device=d),
                 lambda d: fovea.full((2, 3), 7.0, device=d),
                 lambda d: fovea.arange(6, device=d).reshape(2, 3),
                 lambda d: fovea.tensor(np.ones((2, 3)), device=d)):
        fake, cpu = make(FAKE), make(None)
        assert fake.device == FAKE and cpu.device == CPU
        np.testing.assert_array_equal(backend.to_numpy(fake.data), cpu.numpy())
    assert fovea.zeros_like(fovea.ones(2, device=FAKE)).device == FAKE
    assert fovea.ones_like(fovea.ones(2), device="fake").device == FAKE


def test_every_device_draws_from_its_own_generator_seeded_by_manual_seed():
    fovea.manual_seed(7)
    a, b = fovea.randn(4, 5, device=FAKE), fovea.rand(3, device=FAKE)
    c = fovea.randn(4, 5)
    # the CPU's generator is its own: the fake device's draws did not advance it
    assert np.array_equal(c.numpy(), a.numpy())
    fovea.manual_seed(7)
    assert np.array_equal(fovea.randn(4, 5, device=FAKE).numpy(), a.numpy())
    assert np.array_equal(fovea.rand(3, device=FAKE).numpy(), b.numpy())


def test_module_to_moves_parameters_gradients_and_buffers():
    fovea.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(fovea.randn(5, 3)).sum().backward()
    assert model.to(FAKE) is model
    tensors = [*model.parameters(), *model.buffers(), *(p.grad for p in model.parameters())]
    assert all(t.device == FAKE for t in tensors)
    model.to("cpu", "float64")
    assert all(t.device == CPU for t in model.parameters())
    assert model[0].weight.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert model.float()[0].weight.dtype == np.float32


def test_layers_are_made_on_a_device():
    layers = [nn.Linear(3, 2, device=FAKE), nn.Conv2d(1, 2, 3, device="fake"),
              nn.BatchNorm2d(2, device=FAKE), nn.LayerNorm(4, device=FAKE),
              nn.GroupNorm(1, 2, device=FAKE), nn.PReLU(device=FAKE)]
    for layer in layers:
        assert all(t.device == FAKE for t in [*layer.parameters(), *layer.buffers()])


def test_state_dicts_load_across_devices():
    fovea.manual_seed(1)
    source = nn.Linear(3, 2)
    target = nn.Linear(3, 2, device=FAKE)
    target.load_state_dict(source.state_dict())
    assert target.weight.device == FAKE
    np.testing.assert_array_equal(target.weight.detach().numpy(), source.weight.detach().numpy())
    target.load_state_dict({k: v.numpy() for k, v in source.state_dict().items()})
    opt = optim.SGD(source.parameters(), lr=0.1, momentum=0.9)
    source(fovea.randn(4, 3)).sum().backward()
    opt.step()
    fake_opt = optim.SGD(target.parameters(), lr=0.1, momentum=0.9)
    fake_opt.load_state_dict(opt.state_dict())
    buf = fake_opt.state[id(target.weight)]["momentum_buffer"]
    assert isinstance(buf, FakeArray)


def test_backend_lookups_and_transfers():
    a = np.arange(3.0)
    f = backend.to_device(a, FAKE)
    assert backend.namespace(f) is fakenp and backend.namespace(a) is np
    assert backend.namespace(2.0, None) is np and backend.namespace(None, f) is fakenp
    assert backend.device_of(f) == FAKE and backend.device_of(a) == CPU
    assert backend.to_device(f, FAKE) is f and backend.to_device(a) is a
    assert backend.to_numpy(a) is a
    back = backend.to_device(f, "cpu")
    assert type(back) is np.ndarray and np.array_equal(back, a)
    assert backend.get(FAKE).name == "fake" and backend.get().name == "cpu"
    with backend.on("fake") as xp:
        assert xp is fakenp
    assert set(backend.registered()) >= {"cpu", "fake"}


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed: 'cuda' may exist here")
def test_cuda_without_cupy_is_a_clear_error():
    t = fovea.ones(2)
    for ask in (lambda: t.to("cuda"), t.cuda, lambda: fovea.zeros(2, device="cuda:0"),
                lambda: nn.Linear(2, 2).to("cuda"), lambda: backend.rng("cuda")):
        with pytest.raises(DeviceError, match="device 'cuda' needs CuPy and an NVIDIA GPU"):
            ask()
    assert issubclass(DeviceError, FoveaError) and issubclass(DeviceError, RuntimeError)
