"""Batch augmentation: crops, flips, affine warps, jitter, cutout, mixup/cutmix, specs, TTA."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import fovea
import fovea.nn.functional as F
from fovea.autograd import gradcheck
from fovea.data import load_mnist_mini
from fovea.data.augment import (
    AugmentError,
    AugmentSpecError,
    ColorJitter,
    Compose,
    CutMix,
    Cutout,
    Mixup,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    parse_augment,
    predict_tta,
    shift_images,
    to_probs,
    tta_views,
)
from fovea.errors import FoveaError, ShapeError

IMAGE_TRANSFORMS = [
    lambda g: RandomCrop(padding=3, generator=g),
    lambda g: RandomCrop(size=(8, 6), padding=0, generator=g),
    lambda g: RandomHorizontalFlip(generator=g),
    lambda g: RandomAffine(generator=g),
    lambda g: ColorJitter(generator=g),
    lambda g: Cutout(size=5, generator=g),
    lambda g: Cutout(size=5, inside=False, generator=g),
]
MIXERS = [lambda g: Mixup(generator=g), lambda g: CutMix(generator=g)]


@pytest.fixture
def images(rng):
    return rng.random((16, 2, 12, 10), dtype=np.float32)


@pytest.fixture(scope="module")
def mnist_batch():
    x, y = load_mnist_mini("train")
    return (x[:256, None] / np.float32(255)).astype(np.float32), y[:256]


def apply(t, x, labels=None):
    return t(x, labels, 10)[0] if t.mixes_labels else t(x)


# ---- generic properties ------------------------------------------------------------------
@pytest.mark.parametrize("make", IMAGE_TRANSFORMS + MIXERS)
def test_seeded_reproducible_and_resumable(make, images):
    labels = np.arange(16) % 10
    a, b = make(5), make(5)
    first = apply(a, images, labels)
    np.testing.assert_array_equal(first, apply(b, images, labels))
    state = json.loads(json.dumps(a.state_dict()))  # JSON-serializable
    nxt = apply(a, images, labels)
    assert not np.array_equal(nxt, first)  # the generator moved on
    a.load_state_dict(state)
    np.testing.assert_array_equal(apply(a, images, labels), nxt)
    assert not np.array_equal(apply(make(6), images, labels), first)


@pytest.mark.parametrize("make", IMAGE_TRANSFORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype_kept(make, images, dtype):
    t = make(0)
    out = t(images.astype(dtype))
    size = getattr(t, "size", None)
    want = (16, 2, 8, 6) if isinstance(t, RandomCrop) and size else images.shape
    assert out.shape == want and out.dtype == dtype


@pytest.mark.parametrize("make", MIXERS)
def test_mixers_keep_shape_and_give_float32_targets(make, images):
    out, probs = make(0)(images, np.arange(16) % 10, 10)
    assert out.shape == images.shape and out.dtype == np.float32
    assert probs.shape == (16, 10) and probs.dtype == np.float32


def test_bad_images_and_arguments(images):
    with pytest.raises(ShapeError, match=r"\(12, 10\)"):
        RandomCrop()(images[0, 0])
    with pytest.raises(AugmentError, match="floating"):
        RandomCrop()((images * 255).astype(np.uint8))
    with pytest.raises(ShapeError, match="exceeds"):
        RandomCrop(size=20, padding=1)(images)
    for bad in (lambda: RandomCrop(padding=-1), lambda: RandomHorizontalFlip(p=1.5),
                lambda: RandomAffine(scale=(1.2, 0.8)), lambda: RandomAffine(scale=0),
                lambda: Mixup(alpha=0), lambda: Cutout(size=0), lambda: ColorJitter(-0.1)):
        with pytest.raises(AugmentError):
            bad()
    with pytest.raises(AugmentError, match="generator"):
        RandomCrop().load_state_dict({})
    assert issubclass(AugmentError, FoveaError) and issubclass(AugmentError, ValueError)


# ---- each transform ----------------------------------------------------------------------
def test_flip(images):
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1)(images), images[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0)(images), images)
    out = RandomHorizontalFlip(p=0.5, generator=1)(images)
    flipped = np.all(out == images[..., ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == images, axis=(1, 2, 3))) and 0 < flipped.sum() < 16


def test_crop_identity_and_windows(images):
    np.testing.assert_array_equal(RandomCrop(padding=0)(images), images)
    out = RandomCrop(padding=2, generator=3)(images)
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = []
    for n in range(len(images)):  # each output is one window of its own padded image
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(out[n], padded[n, :, dy:dy + 12, dx:dx + 10])]
        assert hits
        offsets.append(hits[0])
    assert len(set(offsets)) > 3  # offsets differ per sample
    small = RandomCrop(size=(5, 4), padding=0, generator=0)(images)
    assert small.shape == (16, 2, 5, 4)


def test_affine_identity(images):
    out = RandomAffine(degrees=0, translate=0, scale=1)(images)
    np.testing.assert_allclose(out, images, atol=1e-6)


@pytest.mark.parametrize("deg,k", [(90, 1), (-90, -1), (180, 2)])
def test_affine_rotation_matches_rot90(rng, deg, k):
    # positive degrees turn counter-clockwise as displayed, as np.rot90 does
    square = rng.random((3, 2, 9, 9), dtype=np.float32)
    out = RandomAffine(degrees=(deg, deg), translate=0, scale=1)(square)
    np.testing.assert_allclose(out, np.rot90(square, k, axes=(-2, -1)), atol=1e-6)
    if k == 2:  # a half turn keeps any shape
        wide = rng.random((2, 1, 6, 11), dtype=np.float32)
        out = RandomAffine(degrees=(180, 180), translate=0, scale=1)(wide)
        np.testing.assert_allclose(out, wide[..., ::-1, ::-1], atol=1e-6)


def test_affine_zeros_outside_and_scale():
    ones = np.ones((1, 1, 21, 21), np.float32)
    out = RandomAffine(degrees=(45, 45), translate=0, scale=1)(ones)[0, 0]
    assert out[10, 10] == 1 and out[0, 0] == 0 and out[20, 20] == 0
    small = RandomAffine(degrees=0, translate=0, scale=0.5)(ones)[0, 0]
    assert small[10, 10] == 1 and small[0, 0] == 0 and small[10, 0] == 0
    dot = np.zeros((1, 1, 9, 9), np.float32)
    dot[0, 0, 4, 6] = 1  # two pixels right of the centre
    big = RandomAffine(degrees=0, translate=0, scale=2)(dot)[0, 0]
    assert big[4, 8] == 1 and big.sum() == pytest.approx(3.0)  # 4 right; smeared, cut at x = 9


def test_affine_translation_range(rng):
    x = np.zeros((64, 1, 11, 11), np.float32)
    x[:, 0, 5, 5] = 1
    out = RandomAffine(degrees=0, translate=0.2, scale=1, generator=0)(x)
    ys, xs = np.indices((11, 11))
    cy = (out[:, 0] * ys).sum(axis=(1, 2)) / out[:, 0].sum(axis=(1, 2))
    cx = (out[:, 0] * xs).sum(axis=(1, 2)) / out[:, 0].sum(axis=(1, 2))
    assert np.all(np.abs(cy - 5) <= 2.2 + 1e-6) and np.all(np.abs(cx - 5) <= 2.2 + 1e-6)
    assert np.std(cx) > 0.5 and np.std(cy) > 0.5
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 1, atol=1e-5)  # mass kept inside


def test_jitter(images):
    np.testing.assert_allclose(ColorJitter(0, 0)(images), images, atol=1e-6)
    out = ColorJitter(brightness=0.3, contrast=0, clip=None, generator=0)(images)
    factor = out.sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3))  # one factor per sample
    np.testing.assert_allclose(out, factor[:, None, None, None] * images, atol=1e-6)
    assert factor.min() >= 0.7 - 1e-6 and factor.max() <= 1.3 + 1e-6 and factor.std() > 0.05
    clipped = ColorJitter(brightness=0.9, contrast=0.9, generator=0)(images)
    assert clipped.min() >= 0 and clipped.max() <= 1
    c = ColorJitter(brightness=0, contrast=0.5, clip=None, generator=0)(images)
    np.testing.assert_allclose(c.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)), atol=1e-5)


def test_cutout_zeros_a_square():
    ones = np.ones((32, 3, 12, 10), np.float32)
    out = Cutout(size=4, generator=0)(ones)
    zero = out == 0
    assert np.all(zero.sum(axis=(2, 3)) == 16)
    assert np.all(zero == zero[:, :1])  # the same square in every channel
    rows, cols = zero[:, 0].any(axis=2), zero[:, 0].any(axis=1)
    assert np.all(rows.sum(axis=1) == 4) and np.all(cols.sum(axis=1) == 4)
    clipped = Cutout(size=4, inside=False, generator=0)(ones)
    counts = (clipped[:, 0] == 0).sum(axis=(1, 2))
    assert np.all(counts <= 16) and np.all(counts >= 4)


def test_mixup_is_a_convex_combination(images):
    labels = np.arange(16) % 10
    m = Mixup(alpha=0.4, generator=0)
    out, probs = m(images, labels, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    lam, idx = m.last["lam"], m.last["index"]
    assert np.all((lam >= 0) & (lam <= 1)) and sorted(idx) == list(range(16))
    want = lam[:, None, None, None] * images + (1 - lam[:, None, None, None]) * images[idx]
    np.testing.assert_allclose(out, want, atol=1e-6)
    onehot = np.eye(10, dtype=np.float32)[labels]
    np.testing.assert_allclose(probs, lam[:, None] * onehot + (1 - lam[:, None]) * onehot[idx],
                               atol=1e-6)
    # probability targets in (a mix after a mix) stay probabilities
    _, again = Mixup(generator=1)(out, probs, 10)
    np.testing.assert_allclose(again.sum(axis=1), 1, atol=1e-6)


def test_cutmix_label_weight_is_pasted_area():
    n, h, w = 32, 12, 10
    x = np.broadcast_to(np.arange(1, n + 1, dtype=np.float32)[:, None, None, None],
                        (n, 2, h, w)).copy()
    c = CutMix(alpha=1.0, generator=0)
    out, probs = c(x, np.arange(n), n)
    idx = c.last["index"]
    pasted = (out != x)[:, 0].mean(axis=(1, 2))
    moved = idx != np.arange(n)
    np.testing.assert_allclose(probs[moved, idx[moved]], pasted[moved], atol=1e-6)
    np.testing.assert_allclose(probs[moved, np.arange(n)[moved]], 1 - pasted[moved], atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    assert pasted[moved].max() > 0.2
    # the pasted pixels are the partner's, and form one rectangle
    for k in np.flatnonzero(moved)[:5]:
        mask = out[k, 0] != x[k, 0]
        assert np.all(out[k, :, mask] == idx[k] + 1)
        r, cc = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if mask.any():
            assert mask.sum() == len(r) * len(cc)


def test_to_probs():
    np.testing.assert_array_equal(to_probs(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(AugmentError, match="label 3"):
        to_probs(np.array([3]), 3)
    with pytest.raises(ShapeError):
        to_probs(np.ones((2, 4), np.float32), 3)


def test_soft_target_cross_entropy_gradient(rng, seeded):
    """fovea's cross_entropy with probability targets: d loss / d logits = (softmax − p) / N."""
    logits = rng.standard_normal((6, 5))
    x = rng.random((6, 1, 4, 4), dtype=np.float32)
    _, probs = Mixup(alpha=1.0, generator=0)(x, rng.integers(0, 5, size=6), 5)
    t = fovea.tensor(logits.astype(np.float32), requires_grad=True)
    F.cross_entropy(t, probs).backward()
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    np.testing.assert_allclose(t.grad.data, (soft - probs) / 6, atol=1e-6)
    target = probs.astype(np.float64)
    report = gradcheck(lambda z: F.cross_entropy(z, target),
                       [fovea.tensor(logits, requires_grad=True)])
    assert report["ok"]


# ---- pipelines and the spec grammar ------------------------------------------------------
def test_compose_and_state(images):
    pipe = Compose([RandomCrop(padding=2), RandomHorizontalFlip(), Cutout(size=3)], generator=4)
    assert all(t.generator is pipe.generator for t in pipe.transforms)
    a = pipe(images)
    assert a.shape == images.shape and not pipe.mixes_labels
    state = json.loads(json.dumps(pipe.state_dict()))
    b = pipe(images)
    pipe.load_state_dict(state)
    np.testing.assert_array_equal(pipe(images), b)
    labels = np.arange(16) % 10
    out, targets = pipe(images, labels, 10)
    assert targets is labels  # nothing mixes: the labels pass through
    mixing = Compose([RandomCrop(padding=1), Mixup()], generator=0)
    assert mixing.mixes_labels
    with pytest.raises(AugmentError, match="labels"):
        mixing(images)
    out, probs = mixing(images, labels, 10)
    assert probs.shape == (16, 10)
    with pytest.raises(AugmentError, match="1 transforms, the pipeline 2"):
        mixing.load_state_dict({"transforms": [{}]})


def test_parse_augment_grammar():
    pipe = parse_augment("crop:pad=2,affine:deg=10,translate=0.1,cutout:size=8", generator=0)
    crop, affine, cut = pipe.transforms
    assert isinstance(crop, RandomCrop) and crop.padding == 2 and crop.size is None
    assert isinstance(affine, RandomAffine) and affine.degrees == (-10, 10)
    assert affine.translate == 0.1 and affine.scale == (0.9, 1.1)
    assert isinstance(cut, Cutout) and cut.size == 8
    pipe = parse_augment(" flip , flip:p=1, affine:scale=0.8..1.2,deg=-5..15, jitter:contrast=0.1,"
                         "brightness=0 , mixup:alpha=0.4,cutmix, crop:size=24,pad=0")
    names = [t.name for t in pipe.transforms]
    assert names == ["flip", "flip", "affine", "jitter", "mixup", "cutmix", "crop"]
    assert pipe.transforms[1].p == 1 and pipe.transforms[2].scale == (0.8, 1.2)
    assert pipe.transforms[2].degrees == (-5, 15) and pipe.transforms[3].brightness == 0
    assert pipe.transforms[4].alpha == 0.4 and pipe.transforms[6].size == (24, 24)
    assert pipe.mixes_labels
    assert len(parse_augment("")) == 0 and len(parse_augment("none")) == 0
    assert parse_augment("affine:scale=1.1").transforms[0].scale == (1.1, 1.1)
    assert json.dumps(pipe.to_config())


@pytest.mark.parametrize("spec,token", [
    ("crop:pad=2,blur:size=3", "blur"),
    ("crop:padding=2", "padding"),
    ("crop:pad=two", "two"),
    ("crop:pad=2.5", "2.5"),
    ("pad=2,crop", "pad=2"),
    ("crop:pad=1,pad=2", "pad=2"),
    ("crop,,flip", "empty item"),
    ("crop:", "crop:"),
    ("crop:pad", "crop:pad"),
    ("flip:p=2", "flip:p=2"),
    ("affine:deg=5..", "5.."),
    ("affine:scale=1.2..0.8", "scale=1.2..0.8"),
    ("mixup:alpha=0", "alpha=0"),
    ("cutout:size=3:4", "size=3:4"),
    ("affine:deg=nan", "nan"),
])
def test_parse_augment_errors_name_the_token(spec, token):
    with pytest.raises(AugmentSpecError) as info:
        parse_augment(spec)
    assert token in str(info.value)
    assert isinstance(info.value, FoveaError) and isinstance(info.value, ValueError)


# ---- test-time augmentation --------------------------------------------------------------
def test_tta_views(images):
    views = tta_views(images)
    assert len(views) == 6 and all(v.shape == images.shape for v in views)
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[1], images[..., ::-1])
    np.testing.assert_array_equal(views[2][..., 1:], images[..., :-1])  # right by 1
    np.testing.assert_array_equal(views[2][..., 0], 0)
    np.testing.assert_array_equal(views[3][..., :-1], images[..., 1:])  # left by 1
    np.testing.assert_array_equal(views[4][..., 1:, :], images[..., :-1, :])  # down by 1
    np.testing.assert_array_equal(views[5][..., :-1, :], images[..., 1:, :])  # up by 1
    assert len(tta_views(images, flips=False, shifts=(1, 2))) == 9
    assert len(tta_views(images, flips=False, shifts=())) == 1
    np.testing.assert_array_equal(shift_images(images, 2, -3)[..., 2:, :-3],
                                  images[..., :-2, 3:])


def test_predict_tta_averages_softmax(rng, images):
    weights = rng.standard_normal((images[0].size, 4)).astype(np.float32)

    def model_fn(batch):
        return fovea.tensor(batch.reshape(len(batch), -1) @ weights)  # a Tensor is accepted

    probs = predict_tta(model_fn, images)
    want = 0
    for v in tta_views(images):
        z = v.reshape(len(v), -1) @ weights
        e = np.exp(z - z.max(1, keepdims=True))
        want = want + e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, want / 6, atol=1e-6)
    assert probs.dtype == np.float32 and probs.shape == (16, 4)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    with pytest.raises(ShapeError, match="logits"):
        predict_tta(lambda b: np.zeros((3, 4)), images)


# ---- speed -------------------------------------------------------------------------------
def test_crop_affine_batch_is_fast(mnist_batch):
    x, _ = mnist_batch
    pipe = parse_augment("crop:pad=2,affine:deg=10,translate=0.1", generator=0)
    pipe(x)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        out = pipe(x)
        best = min(best, time.perf_counter() - start)
    assert out.shape == x.shape and out.dtype == np.float32
    assert best < 0.1, f"256 images through crop+affine took {best * 1e3:.1f} ms"
