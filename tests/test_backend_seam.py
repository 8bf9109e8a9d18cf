"""The backend seam: the same computations on the "fake" device (tests/fake_device.py, NumPy
arrays behind an array type that refuses to pass for a NumPy array) and on the CPU give the
same results, from the same seeds. A direct NumPy call on tensor data anywhere on these paths
raises TypeError on the fake device, so these tests fail if one is left."""

from __future__ import annotations

import numpy as np
import pytest
from fake_device import FAKE, FakeArray

import fovea
import fovea.nn.functional as F
from fovea import backend, kernels, nn, ops, optim
from fovea.filters import canny, correlate, gaussian_filter, gradient_magnitude
from fovea.kernels import sharing
from fovea.models import build_model

CPU = fovea.device("cpu")


def host(x):
    """A NumPy copy of a Tensor or array on either device."""
    return backend.to_numpy(x.data if isinstance(x, fovea.Tensor) else x).copy()


def assert_same(fake, cpu):
    """Results of the fake device and the CPU agree to rounding (the same NumPy code runs
    under both, so they are in fact equal)."""
    assert type(fake) is type(cpu) or isinstance(fake, (list, tuple))
    if isinstance(fake, (list, tuple)):
        assert len(fake) == len(cpu)
        for f, c in zip(fake, cpu):
            assert_same(f, c)
        return
    np.testing.assert_allclose(fake, cpu, rtol=1e-6, atol=1e-7)


def on_both(run):
    """run(device) on the fake device and on the CPU; the two results, compared. The CPU runs
    the NumPy path of fovea.kernels too (the compiled path, CPU-only, rounds differently and
    is compared with the NumPy path in tests/test_kernels_*.py), on one thread as the fake
    device does (a reduction split over channels on fovea's threads sums in another order)."""
    results = {FAKE: run(FAKE)}
    with kernels.forced("numpy"), sharing.using_threads(1):
        results[CPU] = run(CPU)
    assert_same(results[FAKE], results[CPU])
    return results[FAKE]


def _on(device, *tensors):
    for t in tensors:
        assert t.device == device
        assert isinstance(t.data, FakeArray) == (device == FAKE)


def test_lenet5_training_steps(tmp_path):
    """LeNet-5: forward, cross-entropy, backward and Adam steps; parameters, their gradients
    and Adam's state stay on the device."""

    def run(device):
        fovea.manual_seed(0)
        model = build_model("lenet5", (1, 28, 28), 10).to(device)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        data = np.random.default_rng(1)
        losses = []
        for _ in range(3):
            x = fovea.tensor(data.standard_normal((8, 1, 28, 28), dtype=np.float32),
                             device=device)
            y = fovea.tensor(data.integers(0, 10, 8), device=device)
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        params = list(model.parameters())
        _on(device, *params, *(p.grad for p in params))
        state = opt.state[id(params[0])]
        assert isinstance(state["exp_avg"], FakeArray) == (device == FAKE)
        with fovea.no_grad():
            logits = model.eval()(x)
        _on(device, logits)
        return losses, [host(p) for p in params], [host(p.grad) for p in params], host(logits)

    on_both(run)


@pytest.mark.parametrize("batch_last", [False, True])
def test_batchnorm_train_and_eval(batch_last):
    """BatchNorm2d in training (batch statistics, running statistics updated, backward) and
    in eval (running statistics), on a plain and on a batch-last (conv output) input."""

    def run(device):
        fovea.manual_seed(2)
        conv = nn.Conv2d(3, 4, 3, padding=1, device=device)
        bn = nn.BatchNorm2d(4, device=device)
        x = fovea.randn(5, 3, 6, 6, device=device)
        h = conv(x) if batch_last else fovea.randn(5, 4, 6, 6, device=device)
        out = bn(h)
        (out * out).sum().backward()
        _on(device, out, bn.weight.grad, bn.running_mean, bn.running_var)
        bn.eval()
        with fovea.no_grad():
            evaluated = bn(h)
        return (host(out), host(bn.weight.grad), host(bn.bias.grad), host(bn.running_mean),
                host(bn.running_var), host(evaluated), int(bn.num_batches_tracked.item()))

    on_both(run)


def test_dropout_draws_from_the_device_generator():
    """Dropout and Dropout2d masks come from the device's generator, seeded by manual_seed:
    the same masks as on the CPU, and the gradient is the mask."""

    def run(device):
        fovea.manual_seed(3)
        x = fovea.randn(6, 5, 4, 4, device=device, requires_grad=True)
        out = nn.Dropout(0.3)(x) + nn.Dropout2d(0.5)(x)
        out.sum().backward()
        _on(device, out, x.grad)
        with fovea.no_grad():
            same = nn.Dropout(0.3).eval()(x)
        return host(out), host(x.grad), host(same)

    on_both(run)


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
@pytest.mark.parametrize("boundary", ["reflect", "constant", "wrap"])
def test_filters_on_device_arrays(method, boundary):
    """gaussian_filter and correlate of device arrays ((H, W) and (N, C, H, W)) by every
    method: the result stays on the device and equals the CPU's."""

    def run(device):
        data = np.random.default_rng(4)
        image = backend.to_device(data.random((20, 17), dtype=np.float32), device)
        batch = backend.to_device(data.random((2, 3, 9, 11)), device)
        kernel = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])  # a host kernel, as users pass
        smooth = gaussian_filter(image, 1.5, boundary=boundary, method=method)
        edges = correlate(batch, kernel, boundary=boundary, shape="full", method=method)
        assert isinstance(smooth, FakeArray) == (device == FAKE)
        return host(smooth), host(edges)

    on_both(run)


def test_filter_gradients_and_canny_on_device():
    """A differentiable filter of a device Tensor (gradient w.r.t. image and kernel), the
    gradient magnitude and Canny's edge map."""

    def run(device):
        data = np.random.default_rng(5)
        image = fovea.tensor(data.random((12, 14)), device=device, requires_grad=True)
        kernel = fovea.tensor(data.random((3, 3)), device=device, requires_grad=True)
        out = correlate(image, kernel, boundary="mirror")
        (out * out).sum().backward()
        mag = gradient_magnitude(image.detach(), boundary="nearest")
        picture = backend.to_device(np.kron(data.random((6, 6)) > 0.5, np.ones((5, 5))),
                                    device)
        return host(out), host(image.grad), host(kernel.grad), host(mag), host(canny(picture))

    on_both(run)


def test_op_sweep():
    """Indexing (scatter-add backward), cat/stack/pad, reductions, softmax, norms, pooling,
    activations, gradient clipping and SGD with momentum, forward and backward."""

    def run(device):
        fovea.manual_seed(6)
        x = fovea.randn(4, 6, 5, 5, device=device, requires_grad=True)
        w = fovea.randn(6, device=device, requires_grad=True)
        idx = fovea.tensor([0, 2, 2, 3], device=device)
        y = (x[idx] * 2)[:, 1:].sum(dim=1)
        y = fovea.cat([y, F.avg_pool2d(x, 3, stride=1, padding=1)[:, 0]], dim=0)
        y = ops.pad(y, (1, 1)).flatten(1)
        y = fovea.stack([y.softmax(-1), y.log_softmax(-1), F.gelu(y), F.elu(y), y.sigmoid(),
                         y.tanh(), (y.abs() + 1).sqrt(), y.clamp(-0.5, 0.5)])
        z = F.layer_norm(x, (5, 5)) + F.group_norm(x, 3) + F.adaptive_avg_pool2d(x, (3, 2)).mean()
        z = F.max_pool2d(z, 3, stride=2, padding=1) * w.reshape(1, 6, 1, 1)
        loss = y.sum() + (z ** 2).mean() + fovea.where(y > 0, y, 0.0).sum() + y.max()
        loss.backward()
        params = [x, w]
        total = nn.utils.clip_grad_norm_(params, 1.0)
        opt = optim.SGD(params, lr=0.1, momentum=0.9)
        opt.step()
        opt.step()
        _on(device, loss, x.grad, w.grad, total, y.argmax(dim=1))
        return host(loss), host(x.grad), host(w.grad), host(x), host(total)

    on_both(run)


def test_seam_rejects_numpy_on_device_data():
    """What the tests above rely on: NumPy refuses fake-device data."""
    t = fovea.randn(3, device=FAKE)
    with pytest.raises(TypeError):
        np.exp(t.data)
    with pytest.raises(TypeError):
        np.asarray(t.data)
    with pytest.raises(TypeError):
        np.concatenate([t.data, t.data])
    with pytest.raises(TypeError):
        t.data + np.ones(3, np.float32)  # a host array in device arithmetic


def test_layer_and_optimizer_sweep():
    """Strided, grouped and phase-split convolution, local response norm, the remaining
    activations, global pooling, weighted and smoothed cross-entropy, init schemes and the
    other optimizers."""

    def run(device):
        fovea.manual_seed(8)
        x = fovea.randn(4, 4, 15, 15, device=device, requires_grad=True)
        conv = nn.Conv2d(4, 8, 7, stride=2, padding=3, groups=2, device=device)
        prelu = nn.PReLU(8, device=device)
        h = prelu(nn.LocalResponseNorm(3)(conv(x)))
        h = nn.Maxout(2)(F.silu(h) + F.softplus(h) + F.hardtanh(h) + F.leaky_relu(h))
        h = h * F.gelu(h, approximate="tanh") + fovea.maximum(h, 0.5) / (h.exp() + 2) ** 1.5
        pooled = F.adaptive_avg_pool2d(h, 1).flatten(1)
        weight = fovea.tensor([1.0, 2.0, 0.5, 1.0], device=device)
        target = fovea.tensor([0, 3, 3, 1], device=device)
        loss = F.cross_entropy(pooled, target, weight=weight, label_smoothing=0.1)
        loss = loss + F.cross_entropy(pooled, pooled.detach().softmax(-1))
        loss = loss + F.mse_loss(pooled.max(dim=1)[0], pooled.amin(dim=1).expand(4))
        loss.backward()
        params = list(conv.parameters()) + list(prelu.parameters())
        nn.utils.clip_grad_value_(params, 0.01)
        for make in (lambda p: optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True),
                     lambda p: optim.Adagrad(p, lr=0.1),
                     lambda p: optim.AdamW(p, lr=0.01, amsgrad=True)):
            make(params).step()
        w = fovea.zeros(6, 5, device=device)
        inits = []
        for init in (nn.init.orthogonal_, nn.init.trunc_normal_, nn.init.xavier_normal_,
                     nn.init.kaiming_normal_, nn.init.eye_):
            inits.append(host(init(w)))
        inits.append(host(nn.init.dirac_(fovea.zeros(4, 2, 3, 3, device=device), groups=2)))
        _on(device, loss, x.grad, *params, w)
        return host(loss), host(x.grad), [host(p) for p in params], inits

    on_both(run)


def test_bigram_generation_on_device():
    """A language model's prefill/decode take host token ids and give host logits whatever
    device its weights are on; sampled text agrees with the CPU's."""
    from fovea.models import BigramLM
    from fovea.train.generate import generate

    def run(device):
        fovea.manual_seed(0)
        model = BigramLM(7).to(device)
        _on(device, model.token_embedding_table.weight)
        with fovea.no_grad():
            logits, cache = model.prefill(np.array([[1, 2, 3]]))
        assert type(logits) is np.ndarray and logits.shape == (1, 7)
        return generate(model, [1, 2, 3], 20, temperature=1.0, top_k=4, seed=5)

    on_both(run)


@pytest.mark.parametrize("batch, size, m", [(2, 9, 2), (16, 16, 4)])
def test_winograd_convolution_on_device(batch, size, m, monkeypatch):
    """A 3×3 convolution with enough channels for the Winograd path, forward and backward."""
    calls = []
    correlate_ = ops.winograd.correlate
    monkeypatch.setattr(ops.winograd, "correlate",
                        lambda *a, **k: calls.append(a[-1].m) or correlate_(*a, **k))

    def run(device):
        fovea.manual_seed(3)
        x = fovea.randn(batch, 16, size, size, device=device, requires_grad=True)
        conv = nn.Conv2d(16, 16, 3, padding=1, device=device)
        loss = (conv(x) ** 2).mean()
        loss.backward()
        _on(device, loss, x.grad, conv.weight.grad)
        return host(loss), host(x.grad), host(conv.weight.grad), host(conv.bias.grad)

    on_both(run)
    assert calls == [m, m]  # the Winograd path ran, with F(m×m, 3×3), on both devices


def test_direct_convolution_on_device(monkeypatch):
    """A convolution of one input channel (the direct path), forward and backward: on the
    device its kernels run their NumPy reference, written against the array's namespace."""
    calls = []
    correlate_ = ops.direct_conv.correlate
    monkeypatch.setattr(ops.direct_conv, "correlate",
                        lambda *a: calls.append(type(a[0])) or correlate_(*a))

    def run(device):
        fovea.manual_seed(4)
        x = fovea.randn(3, 1, 9, 8, device=device, requires_grad=True)
        conv = nn.Conv2d(1, 4, (5, 3), padding=(2, 0), device=device)
        loss = (conv(x) ** 2).mean()
        loss.backward()
        _on(device, loss, x.grad, conv.weight.grad, conv.bias.grad)
        return host(loss), host(x.grad), host(conv.weight.grad), host(conv.bias.grad)

    on_both(run)
    assert calls == [FakeArray, np.ndarray]  # the direct path ran on both devices
