"""activation_stats: the notes' claims about activations and initialization, measured.

- A deep tanh MLP with N(0, 0.01²) weights: the activations collapse to 0 layer by layer;
  with Xavier they stay spread.
- A sigmoid MLP with large weights: almost every unit saturated, and the gradient through
  each saturated layer shrinks ("saturated neurons kill the gradient").
- A ReLU layer with a large negative bias: dead units, which pass no gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea import nn
from fovea.diagnostics import activation_stats, format_table, plot_activation_stats
from fovea.models import LeNet5
from fovea.nn import init

DEPTH, WIDTH, BATCH = 10, 256, 200


def deep_mlp(activation, weight_init, depth=DEPTH, width=WIDTH, bias=0.0):
    """``depth`` × (Linear(width, width), activation), weights by ``weight_init``, biases
    constant (0: the classic experiment has no bias to keep the signal alive)."""
    layers = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        weight_init(lin.weight)
        init.constant_(lin.bias, bias)
        layers += [lin, activation()]
    return nn.Sequential(*layers)


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((BATCH, WIDTH)).astype(np.float32)


def _of(stats, kind):
    return [s for s in stats if s["kind"] == kind]


def _mean_square(out):
    return (out * out).mean()


def test_tanh_small_weights_collapse_xavier_stays_spread(x):
    fovea.manual_seed(0)
    small = activation_stats(deep_mlp(nn.Tanh, lambda w: init.normal_(w, 0.0, 0.01)), x,
                             loss_fn=_mean_square)
    xavier = activation_stats(deep_mlp(nn.Tanh, init.xavier_normal_), x, loss_fn=_mean_square)
    assert len(small) == len(xavier) == 2 * DEPTH

    small_std = [s["std"] for s in _of(small, "tanh")]
    assert len(small_std) == DEPTH
    # each layer multiplies the spread by about 0.01·√256 = 0.16: down by >1e6 after ten
    assert all(b < 0.25 * a for a, b in zip(small_std, small_std[1:])), small_std
    assert small_std[0] > 0.1 and small_std[-1] < 1e-6
    assert all(abs(s["mean"]) < 0.01 for s in _of(small, "tanh"))
    assert all(s["saturated"] == 0 for s in _of(small, "tanh"))
    # the gradients reaching the first layers vanish with them
    assert small[0]["grad_std"] < 1e-15

    xavier_std = [s["std"] for s in _of(xavier, "tanh")]
    assert all(0.15 < s < 0.8 for s in xavier_std), xavier_std
    assert xavier_std[-1] > 0.3 * xavier_std[0]
    assert all(s["saturated"] < 0.05 for s in _of(xavier, "tanh"))
    assert xavier[0]["grad_std"] > 1e-8


def test_sigmoid_large_weights_saturate_and_kill_the_gradient(x):
    fovea.manual_seed(1)
    y = np.random.default_rng(1).integers(0, WIDTH, BATCH)
    big = activation_stats(deep_mlp(nn.Sigmoid, lambda w: init.normal_(w, 0.0, 5.0), depth=4),
                           x, targets=y)  # integer targets: cross-entropy
    sat = [s["saturated"] for s in _of(big, "sigmoid")]
    assert len(sat) == 4 and all(s > 0.9 for s in sat), sat
    assert all(s["dead"] is None for s in big)
    # d loss / d (pre-activation) over d loss / d (sigmoid output): σ' ≤ 0.25, ~0 saturated
    ratios = [big[i - 1]["grad_std"] / big[i]["grad_std"] for i in range(1, len(big), 2)]
    assert all(r < 0.1 for r in ratios), ratios

    fovea.manual_seed(1)
    ok = activation_stats(deep_mlp(nn.Sigmoid, init.xavier_normal_, depth=4), x, targets=y)
    assert all(s["saturated"] < 0.01 for s in _of(ok, "sigmoid"))
    ratios = [ok[i - 1]["grad_std"] / ok[i]["grad_std"] for i in range(1, len(ok), 2)]
    assert all(0.15 < r <= 0.25 for r in ratios), ratios


def test_relu_negative_bias_dead_units(x):
    fovea.manual_seed(2)
    net = nn.Sequential(nn.Linear(WIDTH, 128), nn.ReLU(), nn.Linear(128, 10))
    init.constant_(net[0].bias, -10.0)
    y = np.random.default_rng(2).integers(0, 10, BATCH)
    stats = activation_stats(net, (x, y))  # an (inputs, targets) pair
    relu = stats[1]
    assert relu["kind"] == "relu" and relu["dead"] > 0.95
    assert relu["mean"] < 1e-3 and relu["saturated"] is None
    assert stats[0]["grad_std"] < 1e-3 * stats[1]["grad_std"]  # dead units pass no gradient

    init.zeros_(net[0].bias)
    alive = activation_stats(net, (x, y))
    assert alive[1]["dead"] == 0.0
    assert alive[0]["grad_std"] > 0.1 * alive[1]["grad_std"]


def test_dead_counts_units_not_values():
    """A unit is dead only when it is 0 for every sample; a unit 0 for half is alive."""
    lin = nn.Linear(2, 4)
    lin.weight.data[...] = np.array([[1, 0], [-1, 0], [0, 1], [0, 0]], np.float32)
    lin.bias.data[...] = np.array([0, 0, -5, -1], np.float32)
    net = nn.Sequential(lin, nn.ReLU())
    x = np.array([[1, 1], [-1, 2]], np.float32)
    stats = activation_stats(net, x)
    # unit 0: 1, 0 (alive); unit 1: 0, 1 (alive); unit 2: 0, 0 (dead); unit 3: 0, 0 (dead)
    assert stats[1]["dead"] == 0.5
    assert stats[1]["grad_std"] is None  # no loss: forward only


def test_saturation_margin():
    net = nn.Sequential(nn.Identity(), nn.Tanh())
    x = np.arctanh(np.array([[0.0, 0.5, 0.97, 0.985, -0.99, -0.5, 0.1, 0.2]], np.float32))
    stats = activation_stats(net, x)
    assert stats[1]["saturated"] == pytest.approx(2 / 8)  # |tanh| > 0.98: 0.985, −0.99


def test_lenet_names_order_shapes_and_grads():
    fovea.manual_seed(3)
    model = LeNet5()
    x = np.random.default_rng(3).random((8, 1, 28, 28), dtype=np.float32)
    y = np.arange(8) % 10
    for p in model.parameters():
        p.grad = None
    keep = model.classifier[1].weight
    keep.grad = fovea.Tensor(np.full(keep.shape, 7.0, np.float32))
    stats = activation_stats(model, x, nn.CrossEntropyLoss(), y)
    names = [n for n, m in model.named_modules() if not m._modules]
    assert [s["name"] for s in stats] == names
    assert names[0] == "features.0" and names[-1] == "classifier.5"
    assert [s["shape"] for s in stats][:3] == [(8, 6, 28, 28)] * 2 + [(8, 6, 14, 14)]
    assert stats[-1]["shape"] == (8, 10)
    assert {s["type"] for s in stats} >= {"Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"}
    assert all(s["grad_std"] is not None and s["grad_std"] > 0 for s in stats)
    for s in stats:
        assert set(s) == {"name", "type", "kind", "shape", "mean", "std", "grad_mean",
                          "grad_std", "saturated", "dead"}
        assert (s["dead"] is not None) == (s["type"] == "ReLU")
    # the parameters' gradients are as they were
    assert np.all(keep.grad.data == 7.0)
    assert all(p.grad is None for p in model.parameters() if p is not keep)


def _no_wrappers(model):
    return all("forward" not in m.__dict__ for m in model.modules())


def test_forward_restored_after_success_and_error():
    fovea.manual_seed(4)
    model = LeNet5()
    before = {id(m): type(m).forward for m in model.modules()}
    activation_stats(model, np.zeros((2, 1, 28, 28), np.float32))
    assert _no_wrappers(model)
    with pytest.raises(Exception):  # noqa: B017 - any shape error of the layers
        activation_stats(model, np.zeros((2, 3, 28, 28), np.float32))
    assert _no_wrappers(model)
    assert all(m.forward.__func__ is before[id(m)] for m in model.modules())

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    net = nn.Sequential(nn.Linear(3, 3), Boom())
    with pytest.raises(RuntimeError, match="boom"):
        activation_stats(net, np.zeros((2, 3), np.float32))
    assert _no_wrappers(net)
    out = net[0](fovea.Tensor(np.ones((1, 3), np.float32)))
    assert out.shape == (1, 3)


def test_existing_instance_forward_kept():
    lin = nn.Linear(2, 2)
    calls = []
    original = lin.forward

    def traced(x):
        calls.append(1)
        return original(x)

    object.__setattr__(lin, "forward", traced)
    stats = activation_stats(nn.Sequential(lin, nn.ReLU()), np.ones((3, 2), np.float32))
    assert len(stats) == 2 and calls == [1]
    assert lin.__dict__["forward"] is traced


def test_shared_module_called_twice():
    relu = nn.ReLU()
    lin = nn.Linear(4, 4)
    net = nn.Sequential(lin, relu, nn.Linear(4, 4), relu)
    stats = activation_stats(net, np.ones((2, 4), np.float32))
    assert [s["name"] for s in stats] == ["0", "1", "2", "1#2"]


def test_format_table(x):
    fovea.manual_seed(5)
    net = nn.Sequential(nn.Linear(WIDTH, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh())
    stats = activation_stats(net, x[:16], loss_fn=_mean_square)
    table = format_table(stats)
    lines = table.splitlines()
    assert len(lines) == 2 + len(stats)
    assert lines[0].split()[:3] == ["layer", "type", "output"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[3].split()[:3] == ["1", "ReLU", "16×32"]
    assert lines[3].rstrip().endswith("-") and "%" in lines[3]
    assert lines[4].split()[-2] == "-"  # a Linear layer: neither dead nor saturated
    assert "%" in lines[5].split()[-1]  # tanh: saturated
    widths = {len(line) for line in lines[2:]}
    assert len(widths) <= 2  # aligned (the last column may be right-trimmed)
    forward_only = format_table(activation_stats(net, x[:4]))
    assert "-" in forward_only.splitlines()[2].split()[5:7]


def test_plot_activation_stats(tmp_path, x):
    fovea.manual_seed(6)
    net = deep_mlp(nn.Tanh, lambda w: init.normal_(w, 0.0, 0.01), depth=4, width=WIDTH)
    stats = activation_stats(net, x[:32], loss_fn=_mean_square)
    path = plot_activation_stats(stats, tmp_path / "sub" / "act.png", title="tanh, std 0.01")
    assert path == tmp_path / "sub" / "act.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # forward only, ReLU with dead units: still draws
    net = nn.Sequential(nn.Linear(WIDTH, 8), nn.ReLU())
    init.constant_(net[0].bias, -50.0)
    path = plot_activation_stats(activation_stats(net, x[:8]), tmp_path / "relu.png")
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError):
        plot_activation_stats([], tmp_path / "empty.png")
