"""Filter specifications: the text that names a kernel (``gaussian:sigma=2``, ``sobel:axis=1``,
``file:kernel.txt``) or an edge detector (``canny:sigma=1.4,low=0.1,high=0.3``), kernel files,
the kernel chain applied to an image at its bit depth, and an image's 8-bit edge map.

A kernel is applied by *correlation* with output shape "same" (the kernel read as a template,
as OpenCV's filter2D and PyTorch's conv2d do), or by convolution (the kernel flipped, the
notes' f = I ⊗ g); the two agree for symmetric kernels. Every bad specification or kernel file
is a :class:`FilterSpecError` whose message names it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..errors import DataError, FoveaError
from ..files import read_regular
from ..parsing import checked
from . import kernels
from .color import luminance, to_unit_range
from .core import convolve as _convolve
from .core import correlate
from .edges import canny, gradient_magnitude

__all__ = ["FilterSpecError", "KERNELS", "EDGE_DETECTORS", "MAX_KERNEL_SIDE",
           "MAX_KERNEL_FILE_BYTES", "build_kernel", "parse_edges", "read_kernel_file", "apply_kernels", "to_depth", "edge_map"]

MAX_KERNEL_SIDE = 2049
"""The largest kernel side ``-k`` builds (a Gaussian up to sigma ≈ 256): a guard against a
typo such as ``sigma=1e6`` asking for terabytes."""


MAX_KERNEL_FILE_BYTES = 2**27
"""The largest kernel file read (128 MiB: a MAX_KERNEL_SIDE² matrix of 30-character numbers)."""


class FilterSpecError(FoveaError, ValueError):
    """A bad ``-k`` or ``--edges`` specification, or a bad kernel file."""


# ---- parameter types: (parse text -> value or raise ValueError, description) ------------------
def _kind(text):
    if text not in ("central", "forward", "backward"):
        raise ValueError
    return text


TYPES = {
    "sigma": (checked(float, lambda v: 0 < v < math.inf), "a positive number"),
    "sigma0": (checked(float, lambda v: 0 <= v < math.inf), "a number ≥ 0"),
    "alpha": (checked(float, math.isfinite), "a number"),
    "radius": (checked(int, lambda v: v >= 0), "an integer ≥ 0"),
    "size": (checked(int, lambda v: v >= 1), "a positive integer"),
    "odd_size": (checked(int, lambda v: v >= 1 and v % 2), "a positive odd integer"),
    "int": (int, "an integer"),
    "axis": (checked(int, lambda v: v in (0, 1)),
             "0 (y, down the rows) or 1 (x, along the columns)"),
    "kind": (_kind, "central, forward or backward"),
    "fraction": (checked(float, lambda v: 0 <= v <= 1), "a number in [0, 1]"),
}

# name -> (parameters: {param: (type, required)}, one-line description)
KERNELS = {
    "gaussian": ({"sigma": ("sigma", True), "radius": ("radius", False)},
                 "normalized Gaussian; radius defaults to int(4·sigma + 0.5)"),
    "box": ({"size": ("size", True)}, "mean over a size × size window"),
    "sharpen": ({"alpha": ("alpha", False), "sigma": ("sigma", False),
                 "size": ("size", False)},
                "unsharp mask (1 + alpha)·δ − alpha·blur; blur: box:size (default 3) or "
                "gaussian:sigma; alpha defaults to 1"),
    "shift": ({"dy": ("int", False), "dx": ("int", False)},
              "impulse at offset (dy, dx): correlation moves the content up/left by (dy, dx), "
              "--convolve down/right"),
    "sobel": ({"axis": ("axis", True)}, "3 × 3 Sobel derivative along axis"),
    "prewitt": ({"axis": ("axis", True)}, "3 × 3 Prewitt derivative along axis"),
    "scharr": ({"axis": ("axis", True)}, "3 × 3 Scharr derivative along axis"),
    "laplacian": ({}, "5-point Laplacian [[0,1,0],[1,-4,1],[0,1,0]]"),
    "log": ({"sigma": ("sigma", True), "radius": ("radius", False)},
            "Laplacian of Gaussian, zero-sum"),
    "impulse": ({"size": ("odd_size", False)}, "identity kernel (default size 3)"),
    "derivative": ({"axis": ("axis", True), "kind": ("kind", False)},
                   "3-tap finite difference: kind central (default), forward or backward"),
}

EDGE_DETECTORS = {
    "sobel": {},
    "canny": {"sigma": ("sigma0", False), "low": ("fraction", False),
              "high": ("fraction", False)},
}


def _parse_params(label: str, name: str, text: str, accepted: dict) -> dict:
    """``key=value,key=value`` → {key: typed value}, checked against ``accepted``; ``label``
    is how an error names the specification (e.g. ``-k 'gaussian:sigma=x'``)."""
    values = {}
    if text.strip() == "":
        items = []
    else:
        items = text.split(",")
    for item in items:
        key, eq, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key or not raw:
            raise FilterSpecError(f"{label}: expected key=value, got {item!r}")
        if key not in accepted:
            known = ", ".join(accepted) or "no parameters"
            raise FilterSpecError(f"{label}: {name} has no parameter {key!r} "
                                  f"(it takes {known})")
        if key in values:
            raise FilterSpecError(f"{label}: parameter {key!r} given twice")
        convert, expected = TYPES[accepted[key][0]]
        try:
            values[key] = convert(raw)
        except ValueError:
            raise FilterSpecError(f"{label}: {key} must be {expected}, got {raw!r}") from None
    for key, (kind, required) in accepted.items():
        if required and key not in values:
            raise FilterSpecError(f"{label}: {name} needs {key}=<{TYPES[kind][1]}>")
    return values


def read_kernel_file(path) -> np.ndarray:
    """A kernel from a text file: one row per line, numbers separated by whitespace; blank
    lines and ``#`` comments are ignored. The rows must all have the same length. ``path`` must
    be a regular file of at most :data:`MAX_KERNEL_FILE_BYTES`."""
    path = Path(path)
    raw = read_regular(path, MAX_KERNEL_FILE_BYTES, f"kernel file {path}", FilterSpecError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FilterSpecError(f"kernel file {path}: not a text file") from None
    rows, first_line = [], None
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        row = []
        for field in fields:
            try:
                value = float(field)
            except ValueError:
                raise FilterSpecError(f"kernel file {path}: line {lineno}: {field!r} is not a "
                                      f"number") from None
            if not math.isfinite(value):
                raise FilterSpecError(f"kernel file {path}: line {lineno}: {field!r} is not a "
                                      f"finite number")
            row.append(value)
        if rows and len(row) != len(rows[0]):
            raise FilterSpecError(f"kernel file {path}: line {lineno} has {len(row)} numbers, "
                                  f"line {first_line} has {len(rows[0])} (the matrix must be "
                                  f"rectangular)")
        if first_line is None:
            first_line = lineno
        rows.append(row)
    if not rows:
        raise FilterSpecError(f"kernel file {path}: no numbers (expected a whitespace-separated "
                              f"matrix, one row per line)")
    return np.array(rows, dtype=np.float64)


def _side(name: str, p: dict) -> int:
    """The larger side of the kernel ``name`` with parameters ``p`` would have."""
    def gauss(sigma, radius=None):
        return 2 * (int(4.0 * sigma + 0.5) if radius is None else radius) + 1

    if name in ("gaussian", "log"):
        return gauss(p["sigma"], p.get("radius"))
    if name == "sharpen":
        return gauss(p["sigma"]) if "sigma" in p else p.get("size", 3)
    if name in ("box", "impulse"):
        return p.get("size", 3)
    if name == "shift":
        return 2 * max(abs(p.get("dy", 0)), abs(p.get("dx", 0))) + 1
    return 3


def build_kernel(spec: str) -> np.ndarray:
    """The kernel a ``-k`` SPEC names, e.g. ``gaussian:sigma=2`` or ``file:kernel.txt``."""
    label = f"-k {spec!r}"
    name, _, params = spec.partition(":")
    name = name.strip()
    if name == "file":
        if not params:
            raise FilterSpecError(f"{label}: file needs a path, e.g. file:kernel.txt")
        kernel = read_kernel_file(params)
        side = max(kernel.shape)
    else:
        if name not in KERNELS:
            raise FilterSpecError(f"{label}: unknown kernel {name!r} (choose from "
                                  f"{', '.join(KERNELS)}, file:PATH)")
        p = _parse_params(label, name, params, KERNELS[name][0])
        if name == "sharpen" and "sigma" in p and "size" in p:
            raise FilterSpecError(f"{label}: give the blur as sigma (gaussian) or size (box), "
                                  f"not both")
        side = _side(name, p)
    if side > MAX_KERNEL_SIDE:
        raise FilterSpecError(f"{label}: the kernel would be {side} pixels wide; the limit is "
                              f"{MAX_KERNEL_SIDE}")
    if name == "file":
        return kernel
    try:
        return _make_kernel(name, p)
    except ValueError as exc:
        raise FilterSpecError(f"{label}: {exc}") from None


def _make_kernel(name: str, p: dict) -> np.ndarray:
    if name == "gaussian":
        return kernels.gaussian(p["sigma"], p.get("radius"))
    if name == "box":
        return kernels.box(p["size"])
    if name == "sharpen":
        blur = (kernels.gaussian(p["sigma"]) if "sigma" in p
                else kernels.box(p["size"]) if "size" in p else None)
        return kernels.sharpen(p.get("alpha", 1.0), blur)
    if name == "shift":
        return kernels.shift(p.get("dy", 0), p.get("dx", 0))
    if name in ("sobel", "prewitt", "scharr"):
        return getattr(kernels, name)(p["axis"])
    if name == "laplacian":
        return kernels.laplacian()
    if name == "log":
        return kernels.laplacian_of_gaussian(p["sigma"], p.get("radius"))
    if name == "impulse":
        return kernels.impulse(p.get("size", 3))
    return kernels.derivative(p["axis"], p.get("kind", "central"))  # derivative


def parse_edges(spec: str):
    """``sobel`` or ``canny[:sigma=..,low=..,high=..]`` → (name, params)."""
    name, _, params = spec.partition(":")
    name = name.strip()
    if name not in EDGE_DETECTORS:
        raise FilterSpecError(f"--edges {spec!r}: unknown edge detector {name!r} (choose from "
                              f"{', '.join(EDGE_DETECTORS)})")
    p = _parse_params(f"--edges {spec!r}", name, params, EDGE_DETECTORS[name])
    if name == "canny":
        p = {"sigma": 1.4, "low": 0.1, "high": 0.3, **p}
        if p["low"] > p["high"]:
            raise FilterSpecError(f"--edges {spec!r}: low ({p['low']}) must not exceed "
                                  f"high ({p['high']})")
    return name, p


def apply_kernels(image: np.ndarray, kernels, boundary="reflect", method="auto",
                  convolve=False) -> np.ndarray:
    """Apply ``kernels`` in order ("same" shape) in float32; the float32 result."""
    op = _convolve if convolve else correlate
    x = image.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # to_depth refuses the NaNs that result
        for kernel in kernels:
            x = to_numpy(op(x, kernel, boundary=boundary, shape="same", method=method))
    return x


def to_depth(result: np.ndarray, dtype) -> np.ndarray:
    """Clip and round a float result to the input's integer dtype (float inputs stay); a NaN,
    which no integer can hold, is a DataError rather than a cast to an arbitrary value."""
    if np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.uint16)):
        bad = int(np.isnan(result).sum())
        if bad:
            raise DataError(f"the filtered image has {bad} NaN values (the kernels overflow "
                            f"float32: inf − inf), so it has no {np.dtype(dtype)} pixels")
        hi = np.iinfo(dtype).max
        return np.rint(np.clip(result, 0, hi)).astype(dtype)
    return result


def edge_map(image: np.ndarray, name: str, params: dict, boundary: str = "reflect"):
    """The 8-bit edge map of ``image`` (its luminance on a [0, 1] scale when in colour): the
    Sobel gradient magnitude scaled to 0..255, or Canny's edges as 0/255; ``name`` and
    ``params`` as :func:`parse_edges` gives them."""
    gray = to_unit_range(image)
    if gray.ndim == 3:
        gray = luminance(gray)
    if name == "canny":
        result = to_numpy(canny(gray, sigma=params["sigma"], low=params["low"],
                                high=params["high"]))
        return np.where(result, 255, 0).astype(np.uint8)
    magnitude = to_numpy(gradient_magnitude(gray, operator="sobel", boundary=boundary))
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak <= 0:
        return np.zeros(magnitude.shape, np.uint8)
    return np.rint(np.clip(magnitude * (255.0 / peak), 0, 255)).astype(np.uint8)
