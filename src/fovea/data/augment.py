"""Data augmentation of whole batches: NumPy images (N, C, H, W) in, NumPy arrays out.

Every transform draws its random parameters for the whole batch at once (one value per sample)
and applies them with array arithmetic and gathers: there is no Python loop over samples. The
randomness comes from a ``numpy.random.Generator``: pass one (it is used, not copied), or a seed,
or nothing (fresh entropy). ``state_dict()`` / ``load_state_dict()`` save and restore it, so a
resumed run draws exactly the batches it would have drawn.

Image transforms (``t(images) -> images``, shape and floating dtype kept):

- :class:`RandomCrop` — zero-pad, then crop at a random offset per sample;
- :class:`RandomHorizontalFlip` — mirror left-right with probability ``p``;
- :class:`RandomAffine` — rotation, translation and scale per sample, bilinear, zeros outside;
- :class:`ColorJitter` — brightness and contrast factors per sample;
- :class:`Cutout` — a zero square at a random place per sample.

Label-mixing transforms (``t(images, labels, num_classes) -> (images, target_probs)``):
:class:`Mixup` and :class:`CutMix`. ``labels`` are class indices (N,) or probabilities
(N, num_classes); the targets are float32 probabilities (N, num_classes), for
``fovea.nn.functional.cross_entropy(logits, target_probs)``.

:class:`Compose` chains transforms; :func:`parse_augment` builds one from a CLI string;
:func:`tta_views` and :func:`predict_tta` do test-time augmentation.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..autograd import Tensor
from ..backend import to_numpy
from ..errors import FoveaError, ShapeError
from ..ops import softmax
from .rng import generator_state, restore_generator

__all__ = [
    "AUGMENTATIONS",
    "AugmentError",
    "AugmentSpecError",
    "Augmentation",
    "ColorJitter",
    "Compose",
    "CutMix",
    "Cutout",
    "Mixup",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "parse_augment",
    "predict_tta",
    "shift_images",
    "to_probs",
    "tta_views",
]


class AugmentError(FoveaError, ValueError):
    """A bad augmentation argument: a parameter out of range, images that are not (N,C,H,W)."""


class AugmentSpecError(AugmentError):
    """A bad ``--augment`` string; the message names the offending token."""


# ---- argument checks ---------------------------------------------------------------------
def _number(value, name, lo=None, hi=None, lo_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise AugmentError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise AugmentError(f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {value:g}")
    if hi is not None and value > hi:
        raise AugmentError(f"{name} must be <= {hi:g}, got {value:g}")
    return value


def _int(value, name, lo) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise AugmentError(f"{name} must be an int >= {lo}, got {value!r}")
    return int(value)


def _range(value, name, symmetric_about, lo=None) -> tuple[float, float]:
    """A number v → (c − v, c + v) when ``symmetric_about`` is c, else (v, v); a pair → itself."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise AugmentError(f"{name} range must be (low, high), got {value!r}")
        a, b = (_number(v, name, lo=lo) for v in value)
        if a > b:
            raise AugmentError(f"{name} range must have low <= high, got {value!r}")
        return a, b
    if symmetric_about is None:
        v = _number(value, name, lo=lo)
        return v, v
    v = _number(value, name, lo=0)
    return symmetric_about - v, symmetric_about + v


def _check_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ShapeError(f"augmentation expects images (N, C, H, W), got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise AugmentError(f"augmentation expects floating images, got dtype {arr.dtype}")
    return arr


def to_probs(labels, num_classes: int) -> np.ndarray:
    """Class indices (N,) as one-hot float32 (N, K), or probabilities (N, K) as float32."""
    k = _int(num_classes, "num_classes", 1)
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        if arr.ndim != 2 or arr.shape[1] != k:
            raise ShapeError(
                f"probability targets must be (N, {k}) for {k} classes, got {arr.shape}"
            )
        return arr.astype(np.float32, copy=False)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ShapeError(f"labels must be class indices (N,) or probabilities (N, {k}), "
                         f"got {arr.dtype} {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        bad = arr[(arr < 0) | (arr >= k)][0]
        raise AugmentError(f"label {bad} is out of range for {k} classes")
    out = np.zeros((arr.shape[0], k), dtype=np.float32)
    out[np.arange(arr.shape[0]), arr] = 1
    return out


# ---- base --------------------------------------------------------------------------------
class Augmentation:
    """Base: owns (or shares) a ``numpy.random.Generator``; its state can be saved.

    ``generator`` is a Generator (used as is, so several transforms can share one), an int
    seed, or None (fresh entropy).
    """

    name = "augmentation"
    mixes_labels = False  # True: called as t(images, labels, num_classes) -> (images, probs)

    def __init__(self, generator=None):
        self.generator = np.random.default_rng(generator)

    def use_generator(self, generator: np.random.Generator) -> None:
        """Draw from ``generator`` from now on (shared, not copied)."""
        self.generator = generator

    def state_dict(self) -> dict:
        """The generator's state (JSON-serializable)."""
        return generator_state(self.generator)

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`: the next batches repeat exactly."""
        restore_generator(self.generator, state, self.name, AugmentError)

    def to_config(self) -> dict:
        """A JSON-able description (``{"name": ..., params...}``)."""
        return {"name": self.name, **self._params()}

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"


# ---- image transforms --------------------------------------------------------------------
class RandomCrop(Augmentation):
    """Zero-pad by ``padding`` on every side, then crop ``size`` at a random offset per sample.

    ``size``: an int, (h, w), or None for the input's own (H, W). The crop is a single gather
    over a sliding-window view of the padded batch, indexed by the per-sample offsets.
    """

    name = "crop"

    def __init__(self, size=None, padding=2, generator=None):
        super().__init__(generator)
        if size is None:
            self.size = None
        elif isinstance(size, (tuple, list)):
            if len(size) != 2:
                raise AugmentError(f"crop size must be an int or (h, w), got {size!r}")
            self.size = (_int(size[0], "crop size", 1), _int(size[1], "crop size", 1))
        else:
            s = _int(size, "crop size", 1)
            self.size = (s, s)
        self.padding = _int(padding, "crop padding", 0)

    def _params(self):
        return {"size": None if self.size is None else list(self.size), "padding": self.padding}

    def __call__(self, images):
        x = _check_images(images)
        n, _, h, w = x.shape
        ch, cw = self.size or (h, w)
        p = self.padding
        if ch > h + 2 * p or cw > w + 2 * p:
            raise ShapeError(
                f"crop size {(ch, cw)} exceeds the padded image {(h + 2 * p, w + 2 * p)} "
                f"of images {x.shape}"
            )
        oy = self.generator.integers(0, h + 2 * p - ch + 1, size=n)
        ox = self.generator.integers(0, w + 2 * p - cw + 1, size=n)
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        windows = sliding_window_view(padded, (ch, cw), axis=(2, 3))  # (N, C, H', W', ch, cw)
        # advanced indices on axes 0, 2, 3 around a slice: the result is (N, C, ch, cw)
        return np.ascontiguousarray(windows[np.arange(n), :, oy, ox])


class RandomHorizontalFlip(Augmentation):
    """Mirror each sample left-right (reverse the W axis) with probability ``p``."""

    name = "flip"

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        self.p = _number(p, "flip p", 0, 1)

    def _params(self):
        return {"p": self.p}

    def __call__(self, images):
        x = _check_images(images)
        flip = self.generator.random(x.shape[0]) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)


def bilinear_sample(images: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample ``images`` (N, C, H, W) at float pixel coordinates ``ys``, ``xs`` (N, Ho, Wo),
    bilinearly, with zeros outside the image. Returns (N, C, Ho, Wo) in the images' dtype.

    The batch is padded by one zero pixel, so every corner index is clipped into the padded
    array and the four corners are four gathers (``take_along_axis``) over the whole batch.
    """
    n, c, h, w = images.shape
    out_shape = ys.shape[1:]
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(n, c, (h + 2) * (w + 2))
    y0f, x0f = np.floor(ys), np.floor(xs)
    wy, wx = (ys - y0f).astype(images.dtype), (xs - x0f).astype(images.dtype)
    # padded index of pixel (y, x) is (y + 1, x + 1); −1 and H (or W) are the zero border
    y0 = np.clip(y0f, -1, h).astype(np.intp) + 1
    y1 = np.clip(y0f + 1, -1, h).astype(np.intp) + 1
    x0 = np.clip(x0f, -1, w).astype(np.intp) + 1
    x1 = np.clip(x0f + 1, -1, w).astype(np.intp) + 1
    stride, npix = w + 2, int(np.prod(out_shape))

    def gather(yi, xi):
        idx = (yi * stride + xi).reshape(n, 1, npix)
        return np.take_along_axis(padded, idx, axis=2).reshape(n, c, *out_shape)

    wy, wx = wy[:, None], wx[:, None]
    one = images.dtype.type(1)
    top = gather(y0, x0) * (one - wx) + gather(y0, x1) * wx
    bottom = gather(y1, x0) * (one - wx) + gather(y1, x1) * wx
    return top * (one - wy) + bottom * wy


class RandomAffine(Augmentation):
    """Per sample: rotate by θ, scale by s, translate by (tx, ty), about the image centre.

    - ``degrees``: a number d (θ uniform in [−d, d]) or a range (lo, hi). A positive θ turns
      the image *counter-clockwise as displayed* (row 0 at the top), the direction of
      ``np.rot90(image, 1, axes=(-2, -1))``.
    - ``translate``: a fraction t of the size: tx uniform in [−t·W, t·W] pixels (right is
      positive), ty in [−t·H, t·H] (down is positive); not rounded to whole pixels.
    - ``scale``: a number s (always s) or a range (lo, hi); s > 1 enlarges.

    Each output pixel q is mapped back to the input point p = R(θ)⁻¹ (q − c − t) / s + c
    (c the centre, ((H−1)/2, (W−1)/2)) and sampled bilinearly; outside the input is 0.
    The coordinates are computed in float64, so θ = 90° reproduces ``np.rot90`` to rounding.
    """

    name = "affine"

    def __init__(self, degrees=10, translate=0.1, scale=(0.9, 1.1), generator=None):
        super().__init__(generator)
        self.degrees = _range(degrees, "affine degrees", symmetric_about=0.0)
        self.translate = _number(translate, "affine translate", 0, 1)
        self.scale = _range(scale, "affine scale", symmetric_about=None, lo=0)
        if self.scale[0] <= 0:
            raise AugmentError(f"affine scale must be > 0, got {scale!r}")

    def _params(self):
        return {"degrees": list(self.degrees), "translate": self.translate,
                "scale": list(self.scale)}

    def __call__(self, images):
        x = _check_images(images)
        n, _, h, w = x.shape
        g = self.generator
        theta = np.deg2rad(g.uniform(*self.degrees, size=n))
        tx = g.uniform(-self.translate, self.translate, size=n) * w
        ty = g.uniform(-self.translate, self.translate, size=n) * h
        inv_s = 1 / g.uniform(*self.scale, size=n)
        cos, sin = np.cos(theta), np.sin(theta)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        # output offsets from the centre, less the translation: (N, H, 1) and (N, 1, W)
        dy = np.arange(h, dtype=np.float64)[None, :, None] - cy - ty[:, None, None]
        dx = np.arange(w, dtype=np.float64)[None, None, :] - cx - tx[:, None, None]
        cos, sin, inv_s = (v[:, None, None] for v in (cos, sin, inv_s))
        xs = (cos * dx - sin * dy) * inv_s + cx
        ys = (sin * dx + cos * dy) * inv_s + cy
        return bilinear_sample(x, ys, xs)


class ColorJitter(Augmentation):
    """Per sample: brightness factor b in [1 − brightness, 1 + brightness] (x ↦ b·x), then
    contrast factor k in [1 − contrast, 1 + contrast] (x ↦ m + k·(x − m), m the sample's
    mean over C, H, W). The result is clipped to ``clip`` ((0, 1) by default, for images
    scaled to [0, 1]; None: no clipping). Factors are clipped at 0."""

    name = "jitter"

    def __init__(self, brightness=0.2, contrast=0.2, clip=(0.0, 1.0), generator=None):
        super().__init__(generator)
        self.brightness = _number(brightness, "jitter brightness", 0)
        self.contrast = _number(contrast, "jitter contrast", 0)
        self.clip = None if clip is None else _range(clip, "jitter clip", symmetric_about=None)

    def _params(self):
        return {"brightness": self.brightness, "contrast": self.contrast,
                "clip": None if self.clip is None else list(self.clip)}

    def __call__(self, images):
        x = _check_images(images)
        n, dt = x.shape[0], x.dtype
        g = self.generator
        b = np.maximum(g.uniform(1 - self.brightness, 1 + self.brightness, size=n), 0)
        k = np.maximum(g.uniform(1 - self.contrast, 1 + self.contrast, size=n), 0)
        b, k = b.astype(dt)[:, None, None, None], k.astype(dt)[:, None, None, None]
        y = x * b
        m = y.mean(axis=(1, 2, 3), keepdims=True, dtype=dt)
        y = (y - m) * k + m
        if self.clip is not None:
            np.clip(y, dt.type(self.clip[0]), dt.type(self.clip[1]), out=y)
        return y


def _box_mask(h, w, y0, x0, bh, bw) -> np.ndarray:
    """(N, H, W) boolean masks of the boxes rows [y0, y0+bh), columns [x0, x0+bw) per sample."""
    rows, cols = np.arange(h), np.arange(w)
    my = (rows >= y0[:, None]) & (rows < (y0 + bh)[:, None])
    mx = (cols >= x0[:, None]) & (cols < (x0 + bw)[:, None])
    return my[:, :, None] & mx[:, None, :]


class Cutout(Augmentation):
    """Zero a ``size`` × ``size`` square per sample (all channels), at a random place.

    With ``inside=True`` (default) the square lies wholly inside the image, so exactly
    size² pixels are zeroed (the size is capped at the image's sides). With ``inside=False``
    its centre is any pixel and the square is clipped at the border (DeVries & Taylor, 2017).
    """

    name = "cutout"

    def __init__(self, size=8, inside=True, generator=None):
        super().__init__(generator)
        self.size = _int(size, "cutout size", 1)
        self.inside = bool(inside)

    def _params(self):
        return {"size": self.size, "inside": self.inside}

    def __call__(self, images):
        x = _check_images(images)
        n, _, h, w = x.shape
        sh, sw = min(self.size, h), min(self.size, w)
        if self.inside:
            y0 = self.generator.integers(0, h - sh + 1, size=n)
            x0 = self.generator.integers(0, w - sw + 1, size=n)
        else:
            y0 = self.generator.integers(0, h, size=n) - sh // 2
            x0 = self.generator.integers(0, w, size=n) - sw // 2
        mask = _box_mask(h, w, y0, x0, sh, sw)
        return np.where(mask[:, None], x.dtype.type(0), x)


# ---- label-mixing transforms -------------------------------------------------------------
class _Mixing(Augmentation):
    mixes_labels = True

    def __init__(self, alpha, generator=None):
        super().__init__(generator)
        self.alpha = _number(alpha, f"{self.name} alpha", 0, lo_open=True)
        self.last: dict = {}  # the last call's lam (N,) and partner index (N,), for inspection

    def _params(self):
        return {"alpha": self.alpha}

    def _draw(self, images, labels, num_classes):
        x = _check_images(images)
        probs = to_probs(labels, num_classes)
        if probs.shape[0] != x.shape[0]:
            raise ShapeError(f"{x.shape[0]} images but {probs.shape[0]} labels")
        n = x.shape[0]
        lam = self.generator.beta(self.alpha, self.alpha, size=n)
        index = self.generator.permutation(n)
        return x, probs, lam, index


class Mixup(_Mixing):
    """Mixup (Zhang et al., 2018): each sample n is blended with a partner π(n) (a random
    permutation of the batch) with its own weight λ_n ~ Beta(alpha, alpha):

        x'_n = λ_n x_n + (1 − λ_n) x_π(n),   y'_n = λ_n y_n + (1 − λ_n) y_π(n).

    ``t(images, labels, num_classes) -> (images, target_probs)``.
    """

    name = "mixup"

    def __init__(self, alpha=0.2, generator=None):
        super().__init__(alpha, generator)

    def __call__(self, images, labels, num_classes):
        x, probs, lam, index = self._draw(images, labels, num_classes)
        self.last = {"lam": lam.astype(np.float32), "index": index}
        li = lam.astype(x.dtype)[:, None, None, None]
        out = li * x + (1 - li) * x[index]
        lp = lam.astype(np.float32)[:, None]
        return out, lp * probs + (1 - lp) * probs[index]


class CutMix(_Mixing):
    """CutMix (Yun et al., 2019): paste a box of the partner π(n) into sample n.

    Per sample λ ~ Beta(alpha, alpha) sets the box: (H·√(1−λ)) × (W·√(1−λ)) rounded down, at a
    uniform centre, clipped at the border. The label weight is then recomputed from the box
    actually pasted: y'_n = λ'_n y_n + (1 − λ'_n) y_π(n) with 1 − λ'_n = box area / (H·W).
    ``self.last["lam"]`` holds λ'.
    """

    name = "cutmix"

    def __init__(self, alpha=1.0, generator=None):
        super().__init__(alpha, generator)

    def __call__(self, images, labels, num_classes):
        x, probs, lam, index = self._draw(images, labels, num_classes)
        n, _, h, w = x.shape
        cut = np.sqrt(1 - lam)
        bh, bw = (h * cut).astype(np.intp), (w * cut).astype(np.intp)
        cy = self.generator.integers(0, h, size=n)
        cx = self.generator.integers(0, w, size=n)
        y0, y1 = np.clip(cy - bh // 2, 0, h), np.clip(cy - bh // 2 + bh, 0, h)
        x0, x1 = np.clip(cx - bw // 2, 0, w), np.clip(cx - bw // 2 + bw, 0, w)
        mask = _box_mask(h, w, y0, x0, y1 - y0, x1 - x0)
        out = np.where(mask[:, None], x[index], x)
        kept = (1 - (y1 - y0) * (x1 - x0) / (h * w)).astype(np.float32)
        self.last = {"lam": kept, "index": index}
        lp = kept[:, None]
        return out, lp * probs + (1 - lp) * probs[index]


# ---- pipelines ---------------------------------------------------------------------------
class Compose(Augmentation):
    """Apply ``transforms`` in order.

    ``pipeline(images)`` returns images (an error if a step mixes labels);
    ``pipeline(images, labels, num_classes)`` returns (images, targets): the labels unchanged
    when no step mixes them, else float32 probabilities (N, num_classes).
    With ``generator`` given (a Generator or seed), every step draws from that one generator.
    """

    name = "compose"

    def __init__(self, transforms, generator=None):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise AugmentError(f"Compose takes callables, got {t!r}")
        self.generator = None
        if generator is not None:
            self.use_generator(np.random.default_rng(generator))

    def use_generator(self, generator) -> None:
        self.generator = generator
        for t in self.transforms:
            if isinstance(t, Augmentation):
                t.use_generator(generator)

    @property
    def mixes_labels(self) -> bool:
        return any(getattr(t, "mixes_labels", False) for t in self.transforms)

    def __call__(self, images, labels=None, num_classes=None):
        if labels is None:
            if self.mixes_labels:
                raise AugmentError("this pipeline mixes labels: call it with "
                                   "(images, labels, num_classes)")
            for t in self.transforms:
                images = t(images)
            return images
        for t in self.transforms:
            if getattr(t, "mixes_labels", False) or isinstance(t, Compose):
                images, labels = t(images, labels, num_classes)
            else:
                images = t(images)
        return images, labels

    def state_dict(self) -> dict:
        return {"transforms": [t.state_dict() if hasattr(t, "state_dict") else {}
                               for t in self.transforms]}

    def load_state_dict(self, state: dict) -> None:
        try:
            states = list(state["transforms"])
        except (KeyError, TypeError):
            raise AugmentError("Compose state must hold a 'transforms' list") from None
        if len(states) != len(self.transforms):
            raise AugmentError(f"Compose state has {len(states)} transforms, "
                               f"the pipeline {len(self.transforms)}")
        for t, s in zip(self.transforms, states):
            if hasattr(t, "load_state_dict"):
                t.load_state_dict(s)

    def to_config(self) -> dict:
        return {"name": self.name, "transforms": [
            t.to_config() if hasattr(t, "to_config") else repr(t) for t in self.transforms]}

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def _float_token(value: str) -> float:
    out = float(value)  # ValueError on junk
    if not math.isfinite(out):
        raise ValueError("not finite")
    return out


def _int_token(value: str) -> int:
    return int(value)


def _range_token(value: str):
    """"a" → a (a number); "a..b" → (a, b)."""
    if ".." in value:
        lo, _, hi = value.partition("..")
        return (_float_token(lo), _float_token(hi))
    return _float_token(value)


# name → (class, {spec key: (constructor argument, value parser)})
AUGMENTATIONS = {
    "crop": (RandomCrop, {"pad": ("padding", _int_token), "size": ("size", _int_token)}),
    "flip": (RandomHorizontalFlip, {"p": ("p", _float_token)}),
    "affine": (RandomAffine, {"deg": ("degrees", _range_token),
                              "translate": ("translate", _float_token),
                              "scale": ("scale", _range_token)}),
    "jitter": (ColorJitter, {"brightness": ("brightness", _float_token),
                             "contrast": ("contrast", _float_token)}),
    "cutout": (Cutout, {"size": ("size", _int_token)}),
    "mixup": (Mixup, {"alpha": ("alpha", _float_token)}),
    "cutmix": (CutMix, {"alpha": ("alpha", _float_token)}),
}
"""The names and keys ``parse_augment`` accepts."""


def _spec_help() -> str:
    return "; ".join(f"{name}({', '.join(keys)})" for name, (_, keys) in AUGMENTATIONS.items())


def parse_augment(spec: str, generator=None) -> Compose:
    """Build a :class:`Compose` from a CLI string.

    Example: ``"crop:pad=2,affine:deg=10,translate=0.1,cutout:size=8"``. Grammar: the string
    is split on commas into tokens (spaces around a token are ignored).

    - ``NAME`` starts a new step with default parameters;
    - ``NAME:key=value`` starts a new step and sets its first parameter;
    - ``key=value`` (no colon) sets one more parameter of the step before it.

    Names and keys: crop(pad, size), flip(p), affine(deg, translate, scale),
    jitter(brightness, contrast), cutout(size), mixup(alpha), cutmix(alpha). Values are
    numbers (pad, size: ints); deg and scale also take a range ``lo..hi`` (``deg=10`` means
    −10..10, ``scale=1.1`` means exactly 1.1, ``scale=0.9..1.1`` a range). The empty string or
    ``none`` gives an empty pipeline. All steps draw from one generator (``generator``: a
    Generator, a seed or None). Errors raise :class:`AugmentSpecError` naming the token.
    """
    if not isinstance(spec, str):
        raise AugmentSpecError(f"augmentation spec must be a string, got {spec!r}")
    if spec.strip().lower() in ("", "none"):
        return Compose([], generator=generator)
    steps: list[tuple[str, str, dict]] = []  # (name, token, {key: (token, value)})
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            raise AugmentSpecError(f"empty item in augmentation spec {spec!r}")
        if ":" in token or "=" not in token:
            name, _, rest = token.partition(":")
            name = name.strip()
            if name not in AUGMENTATIONS:
                raise AugmentSpecError(
                    f"unknown augmentation {name!r} in {token!r}; known: {_spec_help()}")
            steps.append((name, token, {}))
            if ":" in token:
                _add_param(steps[-1], rest.strip(), token)
        else:
            if not steps:
                raise AugmentSpecError(
                    f"parameter {token!r} comes before any augmentation name; "
                    f"write NAME:{token}")
            _add_param(steps[-1], token, token)
    transforms = []
    for name, token, params in steps:
        cls, keys = AUGMENTATIONS[name]
        kwargs = {}
        for key, (ptoken, value) in params.items():
            arg, parse = keys[key]
            try:
                kwargs[arg] = parse(value)
            except ValueError:
                raise AugmentSpecError(
                    f"bad value {value!r} for {name} {key} in {ptoken!r}") from None
        try:
            transforms.append(cls(**kwargs))
        except AugmentError as exc:
            raise AugmentSpecError(f"{token!r}: {exc}") from None
    return Compose(transforms, generator=generator)


def _add_param(step, kv: str, token: str) -> None:
    name, _, params = step
    key, eq, value = kv.partition("=")
    key, value = key.strip(), value.strip()
    keys = AUGMENTATIONS[name][1]
    if not eq or not key or not value:
        raise AugmentSpecError(f"expected key=value in {token!r}")
    if ":" in value:
        raise AugmentSpecError(f"unexpected ':' in {token!r}")
    if key not in keys:
        known = ", ".join(keys)
        raise AugmentSpecError(f"unknown parameter {key!r} for {name} in {token!r}; "
                               f"{name} takes {known}")
    if key in params:
        raise AugmentSpecError(f"parameter {key!r} of {name} given twice, in {token!r}")
    params[key] = (token, value)


# ---- test-time augmentation --------------------------------------------------------------
def shift_images(images, dy: int, dx: int) -> np.ndarray:
    """Translate (N, C, H, W) images by whole pixels (down by ``dy``, right by ``dx``),
    zeros entering at the border."""
    x = _check_images(images)
    h, w = x.shape[2:]
    out = np.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y = slice(max(-dy, 0), h - max(dy, 0))
    dst_y = slice(max(dy, 0), h - max(-dy, 0))
    src_x = slice(max(-dx, 0), w - max(dx, 0))
    dst_x = slice(max(dx, 0), w - max(-dx, 0))
    out[:, :, dst_y, dst_x] = x[:, :, src_y, src_x]
    return out


def tta_views(images, flips=True, shifts=(1,)) -> list:
    """Test-time views of a batch: the images themselves; their horizontal flip (``flips``);
    and for each s in ``shifts`` the shifts by +s and −s pixels in x, then in y (zeros
    entering). ``tta_views(x)`` gives 1 + 1 + 4 = 6 batches, each shaped like ``images``."""
    x = _check_images(images)
    views = [x]
    if flips:
        views.append(np.ascontiguousarray(x[..., ::-1]))
    for s in shifts:
        s = _int(s, "tta shift", 1)
        views += [shift_images(x, 0, s), shift_images(x, 0, -s),
                  shift_images(x, s, 0), shift_images(x, -s, 0)]
    return views


def predict_tta(model_fn, images, flips=True, shifts=(1,)) -> np.ndarray:
    """Class probabilities (N, K) float32 averaged over :func:`tta_views` of ``images``.

    ``model_fn(batch) -> logits`` (N, K): a fovea Tensor or a NumPy array; fovea's softmax
    turns each view's logits into probabilities. Each view is one call, so pass batches of a
    size the model can take.
    """
    total = None
    views = tta_views(images, flips=flips, shifts=shifts)
    for view in views:
        logits = model_fn(view)
        if not isinstance(logits, Tensor):
            logits = Tensor(np.asarray(logits, dtype=np.float32))
        if logits.ndim != 2 or logits.shape[0] != view.shape[0]:
            raise ShapeError(f"model_fn must return logits (N, K) for {view.shape[0]} images, "
                             f"got {tuple(logits.shape)}")
        probs = to_numpy(softmax(logits, dim=1).data).astype(np.float32, copy=False)
        total = probs if total is None else total + probs
    return total / np.float32(len(views))
