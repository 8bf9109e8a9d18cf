"""Preprocessing fitted on the training split, then applied unchanged to every split.

The statistics (a mean, a standard deviation, a whitening matrix) come from the training images
only; validation, test and prediction images go through the same fitted transform, never a
refit: fitting on test data leaks it into the model. A preprocessor is

- ``fit(images) -> self``: learn the statistics (float64 accumulation, chunked over samples);
- ``__call__(images) -> images``: apply them, vectorized, float32 in and out;
- ``state() -> {name: ndarray}`` and ``to_config() -> dict``: what a run saves (arrays as
  safetensors, the config as JSON); ``load_preprocessor(config, arrays)`` or
  ``from_state(kind, arrays)`` rebuild it, and the rebuilt one gives identical outputs.

Kinds (``make_preprocessor(name)``):

========== =========================================================================
none       the identity (nothing to fit)
center     subtract the mean image (C, H, W) (``mode="image"``) or per-channel mean
standardize  per channel: (x − mean) / std
pca        PCA whitening of the flattened images: (x − μ) · U · diag(1/√(λ + ε));
           with ``components=k`` only the top k directions, and the output is (N, k)
zca        ZCA whitening: the PCA-whitened data rotated back, (x − μ) · U diag(1/√(λ+ε)) Uᵀ;
           the output keeps the image shape
========== =========================================================================

:class:`Normalize` is the transform with *given* statistics (a dataset's published
per-channel mean and std, as torchvision's ``Normalize``): nothing to fit, and a run stores
only its ``to_config()``.

Images are (N, *sample_shape), usually (N, C, H, W); axis 1 is the channel axis. A fitted
preprocessor checks that later images have the sample shape it was fitted on (ShapeError
naming both shapes); calling one before ``fit`` raises NotFittedError.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import FoveaError, ShapeError

__all__ = [
    "PREPROCESSORS",
    "Center",
    "Identity",
    "Normalize",
    "NotFittedError",
    "PCAWhiten",
    "PreprocessError",
    "Preprocessor",
    "Standardize",
    "ZCAWhiten",
    "from_state",
    "load_preprocessor",
    "make_preprocessor",
]

_CHUNK = 4096  # samples per float64 chunk while fitting (4096 MNIST images: 26 MB)


class PreprocessError(FoveaError, ValueError):
    """A bad preprocessing argument: an unknown kind, a bad parameter, a damaged saved state."""


class NotFittedError(FoveaError, RuntimeError):
    """A preprocessor applied (or saved) before ``fit``."""


def _as_images(images, what="images") -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype.kind not in "fiub":
        raise PreprocessError(f"{what} must be a real array, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ShapeError(f"{what} must be (N, ...) with a sample axis, got shape {arr.shape}")
    return arr


def _chunks(images: np.ndarray):
    """float64 copies of consecutive blocks of samples (bounded memory for big splits)."""
    for start in range(0, images.shape[0], _CHUNK):
        yield images[start : start + _CHUNK].astype(np.float64)


def _positive_float(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise PreprocessError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class Preprocessor:
    """Base class: fit on training images, then apply the same transform everywhere."""

    kind = "base"
    _state_keys: tuple = ()

    def __init__(self):
        self.input_shape: tuple | None = None  # the sample shape fitted on

    # -- subclass hooks ------------------------------------------------------------------
    def _fit(self, images: np.ndarray) -> None:
        raise NotImplementedError

    def _apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _set_state(self, arrays: dict) -> None:
        for key in self._state_keys:
            setattr(self, key, arrays[key])

    def _params(self) -> dict:
        return {}

    # -- public API ----------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.input_shape is not None

    def fit(self, images) -> Preprocessor:
        """Learn the statistics of ``images`` (N, ...) (the training split only)."""
        images = _as_images(images)
        if images.shape[0] == 0:
            raise ShapeError(f"cannot fit on an empty set of images, shape {images.shape}")
        self._fit(images)
        self.input_shape = tuple(images.shape[1:])
        return self

    def __call__(self, images) -> np.ndarray:
        """The fitted transform of ``images`` (N, *input_shape), as float32."""
        if not self.fitted:
            raise NotFittedError(f"{type(self).__name__} must be fitted before it is applied")
        images = _as_images(images)
        if tuple(images.shape[1:]) != self.input_shape:
            raise ShapeError(
                f"{type(self).__name__} was fitted on samples of shape {self.input_shape}, "
                f"got images of shape {images.shape}"
            )
        return self._apply(images.astype(np.float32, copy=False))

    def fit_transform(self, images) -> np.ndarray:
        return self.fit(images)(images)

    def state(self) -> dict:
        """The fitted arrays (C-contiguous NumPy), for ``save_safetensors``."""
        if not self.fitted:
            raise NotFittedError(f"{type(self).__name__} has no state before fit")
        out = {"input_shape": np.asarray(self.input_shape, dtype=np.int64)}
        for key in self._state_keys:
            out[key] = np.ascontiguousarray(getattr(self, key))
        return out

    def load_state(self, arrays: dict) -> Preprocessor:
        """Restore the arrays of :meth:`state` (checked for presence and shape)."""
        missing = [k for k in ("input_shape", *self._state_keys) if k not in arrays]
        if missing:
            raise PreprocessError(
                f"{self.kind} preprocessor state lacks array(s) {', '.join(missing)}"
            )
        shape = np.asarray(arrays["input_shape"])
        if shape.ndim != 1 or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise PreprocessError(f"bad input_shape in {self.kind} state: {shape!r}")
        state = {k: np.asarray(arrays[k], dtype=np.float32) for k in self._state_keys}
        self._check_state(tuple(int(s) for s in shape), state)
        self._set_state(state)
        self.input_shape = tuple(int(s) for s in shape)
        return self

    def _check_state(self, input_shape: tuple, state: dict) -> None:
        pass

    def to_config(self) -> dict:
        """A JSON-able description: ``{"kind": ..., params..., "input_shape": [...]}``."""
        config = {"kind": self.kind, **self._params()}
        if self.fitted:
            config["input_shape"] = list(self.input_shape)
        return config

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        fitted = "" if self.fitted else ", unfitted"
        return f"{type(self).__name__}({params}{fitted})"


def _channel_shape(ndim: int, channels: int) -> tuple:
    """Broadcast shape of a per-channel vector against (N, C, ...) arrays of ``ndim`` axes."""
    return (1, channels) + (1,) * (ndim - 2)


class Identity(Preprocessor):
    """No preprocessing (``"none"``): images pass through as float32. Needs no fit."""

    kind = "none"

    @property
    def fitted(self) -> bool:
        return True

    def fit(self, images) -> Identity:
        _as_images(images)
        return self

    def __call__(self, images) -> np.ndarray:
        return _as_images(images).astype(np.float32, copy=False)

    def state(self) -> dict:
        return {}

    def load_state(self, arrays: dict) -> Identity:
        return self

    def to_config(self) -> dict:
        return {"kind": self.kind}


class Center(Preprocessor):
    """Subtract the training mean: the mean image (``mode="image"``, shape (C, H, W)) or the
    per-channel mean (``mode="channel"``, shape (C,), averaged over samples and pixels)."""

    kind = "center"
    _state_keys = ("mean",)

    def __init__(self, mode="image"):
        super().__init__()
        if mode not in ("image", "channel"):
            raise PreprocessError(f"Center mode must be 'image' or 'channel', got {mode!r}")
        self.mode = mode
        self.mean = None

    def _params(self):
        return {"mode": self.mode}

    def _fit(self, images):
        total = 0.0
        for chunk in _chunks(images):
            axes = 0 if self.mode == "image" else (0, *range(2, chunk.ndim))
            total = total + chunk.sum(axis=axes)
        count = images.shape[0] if self.mode == "image" else images.size // images.shape[1]
        self.mean = (total / count).astype(np.float32)

    def _check_state(self, input_shape, state):
        want = input_shape if self.mode == "image" else input_shape[:1]
        if state["mean"].shape != want:
            raise ShapeError(
                f"center ({self.mode}) mean must have shape {want} for samples of shape "
                f"{input_shape}, got {state['mean'].shape}"
            )

    def _apply(self, x):
        mean = self.mean if self.mode == "image" else self.mean.reshape(
            _channel_shape(x.ndim, self.mean.size))
        return x - mean


class Standardize(Preprocessor):
    """Per channel: (x − mean) / std, both over the training samples and pixels.

    The std is the population one (ddof=0). A channel of zero variance is left unscaled
    (its std is stored as 1), so constant inputs never divide by zero.
    """

    kind = "standardize"
    _state_keys = ("mean", "std")

    def __init__(self):
        super().__init__()
        self.mean = self.std = None

    def _fit(self, images):
        axes = (0, *range(2, images.ndim))
        count = images.size // images.shape[1]
        total = sum(chunk.sum(axis=axes) for chunk in _chunks(images))
        mean = total / count
        shape = _channel_shape(images.ndim, mean.size)
        sq = sum(((chunk - mean.reshape(shape)) ** 2).sum(axis=axes) for chunk in _chunks(images))
        std = np.sqrt(sq / count)
        std[std == 0] = 1.0
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)

    def _check_state(self, input_shape, state):
        want = input_shape[:1]
        for key in ("mean", "std"):
            if state[key].shape != want:
                raise ShapeError(
                    f"standardize {key} must have shape {want} for samples of shape "
                    f"{input_shape}, got {state[key].shape}"
                )
        if not (state["std"] > 0).all():
            raise PreprocessError("standardize std must be positive")

    def _apply(self, x):
        shape = _channel_shape(x.ndim, self.mean.size)
        return (x - self.mean.reshape(shape)) * (np.float32(1) / self.std).reshape(shape)


class Normalize:
    """x ↦ (x − mean) / std per channel of (N, C, H, W) images, in float32; the statistics
    are given, not fitted, and stored with the run."""

    def __init__(self, mean, std):
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        shape = (1, len(self.mean), 1, 1)
        self._mean = np.asarray(self.mean, dtype=np.float32).reshape(shape)
        self._inv_std = (1 / np.asarray(self.std, dtype=np.float32)).reshape(shape)

    def __call__(self, x):
        return (x - self._mean) * self._inv_std

    def to_config(self) -> dict:
        return {"mean": self.mean, "std": self.std}


def _covariance_eigh(images: np.ndarray):
    """Mean (D,) and the eigen-decomposition of the (population) covariance of the flattened
    images, in float64: eigenvalues descending (clipped at 0), eigenvectors as columns with a
    fixed sign (largest-magnitude entry positive), so that a fit is deterministic."""
    n = images.shape[0]
    flat = images.reshape(n, -1)
    mean = sum(chunk.sum(axis=0) for chunk in _chunks(flat)) / n
    cov = np.zeros((flat.shape[1], flat.shape[1]))
    for chunk in _chunks(flat):
        chunk -= mean
        cov += chunk.T @ chunk
    cov /= n
    lam, vecs = np.linalg.eigh(cov)
    lam, vecs = np.clip(lam[::-1], 0, None), vecs[:, ::-1]
    pivot = vecs[np.abs(vecs).argmax(axis=0), np.arange(vecs.shape[1])]
    vecs = vecs * np.where(pivot < 0, -1.0, 1.0)
    return mean, lam, vecs


class PCAWhiten(Preprocessor):
    """PCA whitening of the flattened images: (x − μ) · U · diag(1/√(λ + ε)).

    U holds the eigenvectors of the training covariance (population, float64, descending
    eigenvalues λ). The output is (N, k): k = ``components`` (the top-k directions), or all
    D = C·H·W directions; it is *not* an image any more, so a model after it takes vectors.
    On the training data the output covariance is diag(λ / (λ + ε)): the identity in the
    directions whose variance is well above ε (directions of zero variance, such as MNIST's
    always-black border pixels, come out as 0). Applied in float32 with one GEMM.
    """

    kind = "pca"
    _state_keys = ("mean", "matrix", "eigenvalues")

    def __init__(self, eps=1e-5, components=None):
        super().__init__()
        self.eps = _positive_float(eps, "eps")
        if components is not None and (
            isinstance(components, bool)
            or not isinstance(components, numbers.Integral)
            or components < 1
        ):
            raise PreprocessError(f"components must be a positive int or None, got {components!r}")
        self.components = None if components is None else int(components)
        self.mean = self.matrix = self.eigenvalues = None

    def _params(self):
        return {"eps": self.eps, "components": self.components}

    def _fit(self, images):
        dim = int(np.prod(images.shape[1:]))
        if self.components is not None and self.components > dim:
            raise ShapeError(
                f"components={self.components} exceeds the {dim} pixels of samples of shape "
                f"{images.shape[1:]}"
            )
        mean, lam, vecs = _covariance_eigh(images)
        self.mean = mean.astype(np.float32)
        self.eigenvalues = lam.astype(np.float32)
        self.matrix = self._matrix(lam, vecs).astype(np.float32)

    def _matrix(self, lam, vecs):
        k = self.components or lam.size
        return vecs[:, :k] / np.sqrt(lam[:k] + self.eps)

    @property
    def output_dim(self) -> int | None:
        return None if self.matrix is None else self.matrix.shape[1]

    def _check_state(self, input_shape, state):
        dim = int(np.prod(input_shape))
        mean, matrix = state["mean"], state["matrix"]
        if mean.shape != (dim,) or matrix.ndim != 2 or matrix.shape[0] != dim:
            raise ShapeError(
                f"{self.kind} state for samples of shape {input_shape} needs mean ({dim},) and "
                f"matrix ({dim}, k), got {mean.shape} and {matrix.shape}"
            )
        if self.kind == "zca" and matrix.shape != (dim, dim):
            raise ShapeError(f"zca matrix must be ({dim}, {dim}), got {matrix.shape}")

    def _set_state(self, arrays):
        super()._set_state(arrays)
        if self.kind == "pca":
            k = self.matrix.shape[1]
            self.components = None if k == self.matrix.shape[0] else k

    def _apply(self, x):
        n = x.shape[0]
        return (x.reshape(n, -1) - self.mean) @ self.matrix


class ZCAWhiten(PCAWhiten):
    """ZCA whitening: PCA whitening rotated back, (x − μ) · W with W = U diag(1/√(λ+ε)) Uᵀ.

    W is symmetric (stored exactly so), and of all whitening matrices it is the one closest to
    the identity, so the output still looks like the input image (edges enhanced) and keeps
    its shape (N, C, H, W). As for PCA the whitened covariance is diag(λ / (λ + ε)) in the
    eigenbasis; with images in [0, 1] an ``eps`` near 0.1 keeps the noise of the near-empty
    directions from being blown up.
    """

    kind = "zca"

    def __init__(self, eps=1e-5):
        super().__init__(eps=eps, components=None)

    def _params(self):
        return {"eps": self.eps}

    def _matrix(self, lam, vecs):
        w = (vecs / np.sqrt(lam + self.eps)) @ vecs.T
        return (w + w.T) / 2  # exactly symmetric, also after the float32 cast

    def _apply(self, x):
        return super()._apply(x).reshape(x.shape)


PREPROCESSORS = {
    "none": Identity,
    "center": Center,
    "standardize": Standardize,
    "pca": PCAWhiten,
    "zca": ZCAWhiten,
}
"""Preprocessor classes by name, as ``make_preprocessor`` and the CLI accept them."""


def make_preprocessor(name, **params) -> Preprocessor:
    """An unfitted preprocessor by name ("none", "center", "standardize", "pca", "zca").

    ``params`` go to the class (``make_preprocessor("pca", components=50)``).
    """
    try:
        cls = PREPROCESSORS[name]
    except (KeyError, TypeError):
        known = ", ".join(PREPROCESSORS)
        raise PreprocessError(f"unknown preprocessing {name!r}; known: {known}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise PreprocessError(f"bad parameters for {name!r} preprocessing: {exc}") from None


def load_preprocessor(config: dict, arrays: dict) -> Preprocessor:
    """Rebuild a fitted preprocessor from its ``to_config()`` and ``state()`` arrays."""
    if not isinstance(config, dict) or "kind" not in config:
        raise PreprocessError(f"preprocessing config must be a dict with a 'kind', got {config!r}")
    params = {k: v for k, v in config.items() if k not in ("kind", "input_shape")}
    prep = make_preprocessor(config["kind"], **params)
    prep.load_state(arrays)
    if "input_shape" in config and prep.fitted and prep.kind != "none":
        if tuple(config["input_shape"]) != prep.input_shape:
            raise ShapeError(
                f"preprocessing config says input_shape {tuple(config['input_shape'])}, "
                f"its arrays say {prep.input_shape}"
            )
    return prep


def from_state(kind: str, arrays: dict, **params) -> Preprocessor:
    """Rebuild a fitted preprocessor of ``kind`` from its ``state()`` arrays alone.

    Parameters that the arrays determine (Center's mode, PCA's components) are inferred;
    ``params`` may still name them (and eps, which only matters for a refit).
    """
    if kind == "center" and "mode" not in params and "mean" in arrays and "input_shape" in arrays:
        shape = tuple(int(s) for s in np.asarray(arrays["input_shape"]))
        image = np.shape(arrays["mean"]) == shape and len(shape) != 1
        params["mode"] = "image" if image else "channel"
    return load_preprocessor({"kind": kind, **params}, arrays)
