"""torchvision's architectures (AlexNet, VGG, ResNet) and their CIFAR-sized variants, and the
adaptive average pooling they end with.

torchvision is not a dependency: the PyTorch references below mirror its model code (layout,
attribute names, forward), so that state_dict keys and shapes, and with the same weights the
logits and gradients, can be compared. The big models are built once per module (VGG-16 alone
draws 138M numbers).
"""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea import nn
from fovea.autograd import gradcheck
from fovea.errors import ShapeError
from fovea.models import (
    MODEL_NAMES,
    VGG,
    VGGCIFAR,
    AlexNet,
    AlexNetCIFAR,
    ResNet,
    alexnet,
    alexnet_cifar,
    build_model,
    resnet18,
    resnet18_cifar,
    resnet34,
    vgg11,
    vgg11_bn,
    vgg11_bn_cifar,
    vgg16,
    vgg16_bn_cifar,
)
from fovea.nn import functional as F
from fovea.train.config import MODELS

pytestmark = pytest.mark.usefixtures("seeded")

R = np.random.default_rng(20240612)

NEW_NAMES = ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
             "vgg19_bn", "resnet18", "resnet34", "alexnet_cifar", "vgg11_bn_cifar",
             "vgg16_bn_cifar", "resnet18_cifar")


def rel_close(actual, expected, rtol=1e-4, what="value"):
    """max |actual − expected| ≤ rtol · max |expected| (relative to the largest value, so
    small logits are not compared against an absolute floor), in float64."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected)))
    err = float(np.max(np.abs(actual - expected)))
    assert scale > 0 and err <= rtol * scale, f"{what}: max abs error {err:.3g}, scale {scale:.3g}"


# ---- adaptive average pooling --------------------------------------------------------------
IN_SIZES = [(7, 7), (8, 9), (13, 13)]
OUT_SIZES = [1, 2, 3, (3, 5), 7]


def _batch_last(x):
    """x as the (N, C, H, W) transposed view of a C-contiguous (C, H, W, N) array."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


@pytest.mark.parametrize("hw", IN_SIZES)
@pytest.mark.parametrize("out", OUT_SIZES)
def test_adaptive_avg_pool_gradcheck(hw, out):
    x = fovea.tensor(R.standard_normal((2, 3) + hw), requires_grad=True)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [x])["ok"]


@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
@pytest.mark.parametrize("hw", IN_SIZES)
@pytest.mark.parametrize("out", OUT_SIZES)
def test_adaptive_avg_pool_torch(hw, out, layout):
    torch = pytest.importorskip("torch")
    x = R.standard_normal((2, 3) + hw).astype(np.float32)
    xf = fovea.from_numpy(x if layout == "nchw" else _batch_last(x)).requires_grad_(True)
    assert (layout == "batch_last") == xf.data.transpose(1, 2, 3, 0).flags.c_contiguous
    y = F.adaptive_avg_pool2d(xf, out)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, out)
    assert y.dtype == np.float32 and y.shape == tuple(yt.shape)
    g = R.standard_normal(y.shape).astype(np.float32)
    (y * fovea.tensor(g)).sum().backward()
    yt.backward(torch.tensor(g))
    rel_close(y.data, yt.detach().numpy(), what="output")
    rel_close(xf.grad.data, xt.grad.numpy(), what="grad")
    assert xf.grad.dtype == np.float32


def test_adaptive_avg_pool_layout_and_forms():
    x = R.standard_normal((4, 5, 6, 6)).astype(np.float32)
    xb = fovea.from_numpy(_batch_last(x))
    pooled = F.adaptive_avg_pool2d(xb, 3).data
    # a batch-last input is pooled and handed on batch-last (Flatten stays a free reshape)
    assert pooled.transpose(1, 2, 3, 0).flags.c_contiguous
    np.testing.assert_allclose(pooled, x.reshape(4, 5, 3, 2, 3, 2).mean(axis=(3, 5)),
                               rtol=1e-6, atol=1e-6)
    glob = F.adaptive_avg_pool2d(fovea.tensor(x), 1).data
    np.testing.assert_allclose(glob, x.mean(axis=(2, 3), keepdims=True), rtol=1e-6, atol=1e-6)
    assert glob.dtype == np.float32
    same = F.adaptive_avg_pool2d(fovea.tensor(x), (6, 6)).data  # the identity
    np.testing.assert_array_equal(same, x)
    # (C, H, W) input; None keeps that input dimension
    assert F.adaptive_avg_pool2d(fovea.tensor(x[0]), (2, None)).shape == (5, 2, 6)
    # an output larger than the input repeats pixels (overlapping bins), as PyTorch
    up = F.adaptive_avg_pool2d(fovea.tensor(np.arange(2.0).reshape(1, 1, 1, 2)), (1, 4)).data
    np.testing.assert_array_equal(up.ravel(), [0, 0, 1, 1])


def test_adaptive_avg_pool_module_and_errors():
    pool = nn.AdaptiveAvgPool2d((2, 3))
    assert "output_size=(2, 3)" in repr(pool)
    assert pool(fovea.randn(2, 4, 9, 9)).shape == (2, 4, 2, 3)
    assert pool.state_dict() == {}
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(fovea.randn(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(fovea.randn(1, 1, 4, 4), (1, 2, 3))
    with pytest.raises(ShapeError):
        F.adaptive_avg_pool2d(fovea.randn(4, 4), 2)


# ---- the models, built once --------------------------------------------------------------------
@pytest.fixture(scope="module")
def models():
    """The big models, each built on first use and kept for the module."""
    builders = {"alexnet": alexnet, "vgg11": vgg11, "vgg11_bn": vgg11_bn, "vgg16": vgg16,
                "resnet18": resnet18, "resnet34": resnet34}
    cache = {}

    def get(name):
        if name not in cache:
            fovea.manual_seed(0)
            cache[name] = builders[name]()
        return cache[name]

    yield get
    cache.clear()


PARAM_COUNTS = {"alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512,
                "resnet34": 21_797_672, "vgg11": 132_863_336, "vgg11_bn": 132_868_840}


@pytest.mark.parametrize("name", PARAM_COUNTS)
def test_parameter_counts(models, name):
    model = models(name)
    assert model.num_parameters() == PARAM_COUNTS[name]
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_cifar_parameter_counts():
    assert alexnet_cifar().num_parameters() == 4_361_034
    assert vgg11_bn_cifar().num_parameters() == 9_231_114
    assert vgg16_bn_cifar().num_parameters() == 14_728_266
    assert resnet18_cifar().num_parameters() == 11_173_962


# ---- PyTorch references, mirroring torchvision's code ------------------------------------------
def torch_refs():
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    class TAlexNet(tnn.Module):
        def __init__(self, num_classes=1000, dropout=0.5):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(kernel_size=3, stride=2),
                tnn.Conv2d(64, 192, kernel_size=5, padding=2), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(kernel_size=3, stride=2),
                tnn.Conv2d(192, 384, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
                tnn.Conv2d(384, 256, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
                tnn.Conv2d(256, 256, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(kernel_size=3, stride=2),
            )
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
            self.classifier = tnn.Sequential(
                tnn.Dropout(p=dropout), tnn.Linear(256 * 6 * 6, 4096), tnn.ReLU(inplace=True),
                tnn.Dropout(p=dropout), tnn.Linear(4096, 4096), tnn.ReLU(inplace=True),
                tnn.Linear(4096, num_classes),
            )

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class TAlexNetCIFAR(TAlexNet):  # the layout of fovea's alexnet_cifar docstring
        def __init__(self, num_classes=10, in_channels=3, dropout=0.5):
            tnn.Module.__init__(self)
            self.features = tnn.Sequential(
                tnn.Conv2d(in_channels, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(64, 192, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(),
                tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(),
                tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            )
            self.avgpool = tnn.AdaptiveAvgPool2d((2, 2))
            self.classifier = tnn.Sequential(
                tnn.Dropout(dropout), tnn.Linear(1024, 1024), tnn.ReLU(),
                tnn.Dropout(dropout), tnn.Linear(1024, 1024), tnn.ReLU(),
                tnn.Linear(1024, num_classes),
            )

    cfgs = {
        "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
        "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512,
              512, "M"],
    }

    def make_layers(cfg, batch_norm=False, in_channels=3):
        layers = []
        for v in cfg:
            if v == "M":
                layers += [tnn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                conv2d = tnn.Conv2d(in_channels, v, kernel_size=3, padding=1)
                if batch_norm:
                    layers += [conv2d, tnn.BatchNorm2d(v), tnn.ReLU(inplace=True)]
                else:
                    layers += [conv2d, tnn.ReLU(inplace=True)]
                in_channels = v
        return tnn.Sequential(*layers)

    class TVGG(tnn.Module):
        def __init__(self, features, num_classes=1000, dropout=0.5):
            super().__init__()
            self.features = features
            self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
            self.classifier = tnn.Sequential(
                tnn.Linear(512 * 7 * 7, 4096), tnn.ReLU(True), tnn.Dropout(p=dropout),
                tnn.Linear(4096, 4096), tnn.ReLU(True), tnn.Dropout(p=dropout),
                tnn.Linear(4096, num_classes),
            )

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class TVGGCIFAR(TVGG):  # VGG features without the last max-pool, GAP, Linear(512, classes)
        def __init__(self, cfg, num_classes=10, in_channels=3):
            tnn.Module.__init__(self)
            self.features = make_layers(cfg[:-1], True, in_channels)
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.classifier = tnn.Linear(512, num_classes)

    def conv3x3(in_planes, out_planes, stride=1):
        return tnn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                          bias=False)

    def conv1x1(in_planes, out_planes, stride=1):
        return tnn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)

    class TBasicBlock(tnn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class TResNet(tnn.Module):
        def __init__(self, layers, num_classes=1000, in_channels=3, small_input=False):
            super().__init__()
            self.inplanes = 64
            if small_input:
                self.conv1 = tnn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            else:
                self.conv1 = tnn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3,
                                        bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU(inplace=True)
            self.maxpool = (tnn.Identity() if small_input
                            else tnn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], stride=2)
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512, num_classes)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = tnn.Sequential(conv1x1(self.inplanes, planes, stride),
                                            tnn.BatchNorm2d(planes))
            layers = [TBasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            layers += [TBasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
            return tnn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return {
        "alexnet": TAlexNet,
        "vgg11": lambda: TVGG(make_layers(cfgs["A"])),
        "vgg11_bn": lambda: TVGG(make_layers(cfgs["A"], True)),
        "vgg16": lambda: TVGG(make_layers(cfgs["D"])),
        "resnet18": lambda: TResNet([2, 2, 2, 2]),
        "resnet34": lambda: TResNet([3, 4, 6, 3]),
        "alexnet_cifar": lambda c=3: TAlexNetCIFAR(in_channels=c),
        "vgg11_bn_cifar": lambda c=3: TVGGCIFAR(cfgs["A"], in_channels=c),
        "vgg16_bn_cifar": lambda c=3: TVGGCIFAR(cfgs["D"], in_channels=c),
        "resnet18_cifar": lambda c=3: TResNet([2, 2, 2, 2], 10, c, small_input=True),
    }


BIG = ("alexnet", "vgg11", "vgg11_bn", "vgg16", "resnet18", "resnet34")
CIFAR = {"alexnet_cifar": alexnet_cifar, "vgg11_bn_cifar": vgg11_bn_cifar,
         "vgg16_bn_cifar": vgg16_bn_cifar, "resnet18_cifar": resnet18_cifar}


def _fovea_model(models, name):
    return models(name) if name in BIG else CIFAR[name]()


@pytest.mark.parametrize("name", BIG + tuple(CIFAR))
def test_state_dict_layout_matches_torchvision(models, name):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):  # shapes only: nothing is drawn
        ref = torch_refs()[name]()
    ours = _fovea_model(models, name).state_dict()
    theirs = ref.state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert tuple(ours[key].shape) == tuple(value.shape), key


def _randomize(torch, ref, seed=0):
    """Weights with a scale that keeps the logits of every depth well away from 0 (He normal,
    biases and batch-norm affines random too), and random running statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, (2.0 / fan_in) ** 0.5, generator=gen)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1, generator=gen)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.num_batches_tracked.zero_()


def _load_from_torch(model, ref):
    model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


@pytest.mark.parametrize("name", BIG)
def test_eval_logits_match_torch(models, name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    with torch.device("meta"):
        ref = torch_refs()[name]()
    ref = ref.to_empty(device="cpu")
    _randomize(torch, ref)
    ref.eval()
    model = models(name)
    _load_from_torch(model, ref)
    model.eval()
    x = np.random.default_rng(3).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with fovea.no_grad():
        out = model(fovea.tensor(x))
    with torch.no_grad():
        expected = ref(torch.tensor(x)).numpy()
    assert out.shape == (2, 1000) and out.dtype == np.float32
    rel_close(out.data, expected, what=f"{name} logits")
    model.train()


@pytest.mark.parametrize("name", tuple(CIFAR))
@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 28, 28)])
def test_cifar_variants_match_torch(name, shape):
    torch = pytest.importorskip("torch")
    channels = shape[1]
    with torch.device("meta"):
        ref = torch_refs()[name](channels)
    ref = ref.to_empty(device="cpu")
    _randomize(torch, ref)
    model = CIFAR[name](in_channels=channels)
    _load_from_torch(model, ref)
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    model.eval()
    ref.eval()
    with fovea.no_grad():
        out = model(fovea.tensor(x))
    with torch.no_grad():
        rel_close(out.data, ref(torch.tensor(x)).numpy(), what=f"{name} eval logits")
    # training mode: forward and backward run, every parameter gets a finite gradient
    model.train()
    xf = fovea.tensor(x, requires_grad=True)
    out = model(xf)
    assert out.shape == (2, 10)
    F.cross_entropy(out, fovea.tensor(np.array([1, 7]))).backward()
    assert xf.grad.shape == shape
    for key, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad.data)), key


def test_resnet18_train_gradients_match_torch():
    """Training mode (batch statistics) in float64, where both sides are exact to rounding: in
    float32 a near-tie of two activations can send a max-pool gradient to different pixels."""
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        ref = torch_refs()["resnet18"]()
    ref = ref.to_empty(device="cpu")
    _randomize(torch, ref, seed=1)
    model = resnet18()
    _load_from_torch(model, ref)
    model.double().train()
    ref.double().train()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 64, 64))
    g = rng.standard_normal((2, 1000))
    xf = fovea.tensor(x, requires_grad=True)
    out = model(xf)
    (out * fovea.tensor(g)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    expected = ref(xt)
    expected.backward(torch.tensor(g))
    rel_close(out.data, expected.detach().numpy(), rtol=1e-10, what="train-mode logits")
    rel_close(xf.grad.data, xt.grad.numpy(), rtol=1e-10, what="input grad")
    theirs = dict(ref.named_parameters())
    ours = dict(model.named_parameters())
    assert list(ours) == list(theirs)
    for key, p in theirs.items():
        assert ours[key].grad.dtype == np.float64
        rel_close(ours[key].grad.data, p.grad.numpy(), rtol=1e-10, what=f"grad of {key}")
    # the batch statistics were folded into the running ones the same way
    for key, b in ref.state_dict().items():
        if "running" in key or "num_batches" in key:
            rel_close(model.state_dict()[key].data, b.numpy(), rtol=1e-10, what=key)


# ---- initialization, as torchvision's -----------------------------------------------------------
def test_torchvision_initialization():
    fovea.manual_seed(0)
    vgg = vgg16_bn_cifar()
    conv = vgg.features[0]
    assert conv.weight.dtype == np.float32
    w = vgg.features[40].weight.data  # a 512 → 512 conv: N(0, 2/fan_out), fan_out = 512·9
    assert abs(w.std() - (2 / (512 * 9)) ** 0.5) < 0.01 * (2 / (512 * 9)) ** 0.5
    assert abs(w.mean()) < 1e-4
    assert all(np.all(m.bias.data == 0) for m in vgg.modules() if isinstance(m, nn.Conv2d))
    bns = [m for m in vgg.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(np.all(m.weight.data == 1) and np.all(m.bias.data == 0) for m in bns)
    head = vgg.classifier.weight.data
    assert abs(head.std() - 0.01) < 0.001 and np.all(vgg.classifier.bias.data == 0)
    net = resnet18_cifar()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None for m in convs)
    w = net.layer4[1].conv2.weight.data
    assert abs(w.std() - (2 / (512 * 9)) ** 0.5) < 0.01 * (2 / (512 * 9)) ** 0.5
    fc = net.fc.weight.data  # PyTorch's default: U(±1/√512)
    bound = 1 / 512 ** 0.5
    assert fc.max() <= bound and fc.min() >= -bound and fc.max() > 0.95 * bound
    small = alexnet_cifar()  # PyTorch's default everywhere
    w = small.features[3].weight.data
    bound = 1 / (64 * 9) ** 0.5
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.95 * bound
    assert np.any(small.features[3].bias.data != 0)


def test_same_seed_same_weights():
    fovea.manual_seed(3)
    a = resnet18_cifar().state_dict()
    fovea.manual_seed(3)
    b = resnet18_cifar().state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key].data, b[key].data)


def test_module_layouts(models):
    net = models("resnet18")
    assert type(net) is ResNet and isinstance(net.maxpool, nn.MaxPool2d)
    assert net.layer1[0].downsample is None
    down = net.layer2[0].downsample
    assert isinstance(down[0], nn.Conv2d) and down[0].stride == (2, 2)
    assert down[0].kernel_size == (1, 1) and isinstance(down[1], nn.BatchNorm2d)
    assert type(models("alexnet")) is AlexNet and type(models("vgg16")) is VGG
    assert isinstance(resnet18_cifar().maxpool, nn.Identity)
    kinds = [type(m).__name__ for m in vgg11_bn_cifar().features]
    assert kinds[:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert kinds[-1] == "ReLU"  # the last max-pool is left to the global average pool


# ---- build_model --------------------------------------------------------------------------------
def test_names_registered():
    for name in NEW_NAMES:
        assert name in MODEL_NAMES and name in MODELS


@pytest.mark.parametrize("name,kind", [("alexnet_cifar", AlexNetCIFAR),
                                       ("vgg11_bn_cifar", VGGCIFAR),
                                       ("resnet18_cifar", ResNet)])
def test_build_model_cifar(name, kind):
    for in_shape in ((1, 28, 28), (3, 32, 32)):
        model = build_model(name, in_shape, 7)
        assert type(model) is kind
        assert model(fovea.randn(2, *in_shape)).shape == (2, 7)


def test_build_model_imagenet_options():
    model = build_model("resnet18", (3, 64, 64), 5)
    assert type(model) is ResNet and model.fc.out_features == 5
    alex = build_model("alexnet", (3, 224, 224), 10, dropout=0.2)
    assert [m.p for m in alex.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.2]
    assert build_model("alexnet_cifar", (3, 32, 32), 10, dropout=0.1).classifier[0].p == 0.1
    with pytest.raises(ValueError, match="3-channel"):
        build_model("resnet18", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="ReLU"):
        build_model("resnet18_cifar", (3, 32, 32), 10, activation="tanh")
    zeros = build_model("resnet18_cifar", (3, 32, 32), 10, init="zeros")
    assert np.all(zeros.conv1.weight.data == 0)
