"""``fovea filter``: filter an image file with kernels, or write its edge map.

    fovea filter IN.png -o OUT.png -k gaussian:sigma=2 [-k sharpen:alpha=1.5 ...]
    fovea filter IN.png -o EDGES.png --edges sobel | canny[:sigma=1.4,low=0.1,high=0.3]
    fovea filter -k sobel:axis=1 --show-kernel

Every ``-k`` kernel is applied, in the order given, by *correlation* with output shape "same":
f[m, n] = Σ_{k,l} I[m + k, n + l]·g[k, l], the kernel read as a template laid over the image
(as OpenCV's filter2D and PyTorch's conv2d do). The built-in kernels of
:mod:`fovea.filters.kernels` are defined for correlation (a Sobel response is positive where
the image gets brighter along the axis). ``--convolve`` applies every kernel by convolution
instead, the notes' definition f = I ⊗ g (the kernel flipped) — use it for a kernel file
written from the notes. The two agree for symmetric kernels (gaussian, box, sharpen,
laplacian, log, impulse).

The chain runs in float32 and the result is clipped and rounded once, at the end, to the
input's bit depth (8-bit stays 8-bit, 16-bit PNG stays 16-bit). Grayscale stays grayscale,
colour is filtered per channel. Edge maps are computed on the luminance of a colour image and
written as 8-bit grayscale.

Bad input prints one line to stderr and exits with status 2; nothing is written on an error
(the output is encoded in memory and written atomically at the end).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from .cli_types import checked
from .errors import FoveaError

BOUNDARIES = ("reflect", "mirror", "nearest", "replicate", "wrap", "constant", "zero")
METHODS = ("auto", "direct", "separable", "fft")
MAX_KERNEL_SIDE = 2049
"""The largest kernel side ``-k`` builds (a Gaussian up to sigma ≈ 256): a guard against a
typo such as ``sigma=1e6`` asking for terabytes."""


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
    is how an error names the labelification (e.g. ``-k 'gaussian:sigma=x'``)."""
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
    lines and ``#`` comments are ignored. The rows must all have the same length."""
    path = Path(path)
    if not path.exists():
        raise FilterSpecError(f"kernel file {path}: no such file")
    if path.is_dir():
        raise FilterSpecError(f"kernel file {path}: is a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FilterSpecError(f"kernel file {path}: not a text file") from None
    except OSError as exc:
        raise FilterSpecError(f"kernel file {path}: cannot read ({exc.strerror or exc})") \
            from None
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
    from .filters import kernels

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


# ---- the command ----------------------------------------------------------------------------
HELP = """\
Filter an image with one or more kernels (-k), or write its edge map (--edges).

Each -k kernel is applied in the order given, by correlation with output shape "same":
f[m,n] = sum_{k,l} I[m+k, n+l] g[k,l] (the kernel as a template, as OpenCV filter2D does);
the built-in kernels are defined for correlation. --convolve applies them by convolution,
the notes' f = I (x) g with the kernel flipped; symmetric kernels give the same result either
way. The chain runs in float32; the result is clipped and rounded to the input's bit depth.

kernels (SPEC):
  gaussian:sigma=S[,radius=R]     box:size=N        sharpen[:alpha=A][,size=N|,sigma=S]
  shift:dy=Y,dx=X                 sobel:axis=0|1    prewitt:axis=0|1    scharr:axis=0|1
  laplacian                       log:sigma=S[,radius=R]                 impulse[:size=N]
  derivative:axis=0|1[,kind=central|forward|backward]
  file:PATH   a whitespace-separated numeric matrix, one row per line (# starts a comment)

axis 0 is y (down the rows), axis 1 is x (along the columns). With correlation, shift:dy=Y,dx=X
makes each pixel read the one (Y, X) away, so the content moves up/left; --convolve moves it
down/right. "constant" boundary pads with 0. Edge maps use the luminance of a colour image and
are written as 8-bit grayscale. Errors print one line and exit 2; nothing is written."""


def add_filter_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``fovea filter`` to a ``build_parser()`` subparsers object."""
    p = subparsers.add_parser(
        "filter", help="filter an image file with kernels, or write its edge map",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", type=Path, metavar="INPUT",
                   help="image file to read (PNG, JPEG, TIFF, ...; 8- or 16-bit)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="OUTPUT",
                   help="image file to write; its extension picks the format")
    p.add_argument("-k", "--kernel", action="append", default=[], metavar="SPEC",
                   help="a kernel (see above); repeat to apply several in order")
    p.add_argument("--edges", default=None, metavar="DETECTOR",
                   help="write an edge map instead: sobel (gradient magnitude scaled to "
                        "0..255) or canny[:sigma=1.4,low=0.1,high=0.3] (0/255)")
    p.add_argument("--boundary", choices=BOUNDARIES, default="reflect",
                   help="how the image is extended past its edges (scipy.ndimage names; "
                        "default reflect)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="direct, separable (rank-1 kernels), fft, or auto (fastest)")
    p.add_argument("--convolve", action="store_true",
                   help="apply the -k kernels by convolution (flipped) instead of correlation")
    p.add_argument("--show-kernel", action="store_true",
                   help="print each -k kernel and whether it is separable, then exit")
    p.set_defaults(func=cmd_filter)
    return p


def _format_vector(v) -> str:
    return np.array2string(np.asarray(v), precision=6, suppress_small=True,
                           max_line_width=100, separator=" ")


def _balanced(col, row):
    """The factors rescaled for display: the smoothing factor (the first whose sum is not
    zero) sums to 1, the other carries the scale; negative zeros become zeros."""
    for a, b, swap in ((col, row, False), (row, col, True)):
        total = a.sum()
        if abs(total) > 1e-12 * max(1.0, np.abs(a).max()):
            a, b = a / total, b * total
            col, row = (b, a) if swap else (a, b)
            break
    return col + 0.0, row + 0.0


def describe_kernel(spec: str, kernel: np.ndarray, convolve: bool = False) -> str:
    """The ``--show-kernel`` text for one kernel: matrix, sum and separability."""
    from .filters import separate

    h, w = kernel.shape
    how = "convolution (applied flipped)" if convolve else "correlation"
    lines = [f"{spec}: {h}×{w} kernel, sum {kernel.sum():.6g}, applied by {how}"]
    with np.printoptions(precision=6, suppress=True, linewidth=100):
        lines += ["  " + line for line in str(kernel).splitlines()]
    factors = separate(kernel)
    if factors is None:
        lines.append("  separable: no (rank > 1): the direct or FFT method applies it")
    else:
        col, row = _balanced(*factors)
        lines.append(f"  separable: yes, kernel = outer(column, row), {h} + {w} taps "
                     f"instead of {h * w}:")
        lines.append("    column: " + _format_vector(col))
        lines.append("    row:    " + _format_vector(row))
    return "\n".join(lines)


def _luminance(image: np.ndarray) -> np.ndarray:
    """Grayscale of an (H, W) or (H, W, 3) image in float32 on a [0, 1] scale (ITU-R 601)."""
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype, 1.0)
    x = image.astype(np.float32) / np.float32(scale)
    if x.ndim == 3:
        x = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return x


def _to_depth(result: np.ndarray, dtype) -> np.ndarray:
    """Clip and round a float result to the input's integer dtype (float inputs stay)."""
    if np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.uint16)):
        hi = np.iinfo(dtype).max
        return np.rint(np.clip(result, 0, hi)).astype(dtype)
    return result


def edge_map(image: np.ndarray, name: str, params: dict, boundary: str = "reflect"):
    """The 8-bit edge map of ``image``: Sobel magnitude scaled to 0..255, or Canny 0/255."""
    from .backend import to_numpy
    from .filters import edges

    gray = _luminance(image)
    if name == "canny":
        result = to_numpy(edges.canny(gray, sigma=params["sigma"], low=params["low"],
                                      high=params["high"]))
        return np.where(result, 255, 0).astype(np.uint8)
    magnitude = to_numpy(edges.gradient_magnitude(gray, operator="sobel", boundary=boundary))
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak <= 0:
        return np.zeros(magnitude.shape, np.uint8)
    return np.rint(np.clip(magnitude * (255.0 / peak), 0, 255)).astype(np.uint8)


def apply_kernels(image: np.ndarray, kernels, boundary="reflect", method="auto",
                  convolve=False) -> np.ndarray:
    """Apply ``kernels`` in order ("same" shape) in float32; the float32 result."""
    from .backend import to_numpy
    from .filters import convolve as conv
    from .filters import correlate

    op = conv if convolve else correlate
    x = image.astype(np.float32)
    for kernel in kernels:
        x = to_numpy(op(x, kernel, boundary=boundary, shape="same", method=method))
    return x


def cmd_filter(args) -> int:
    from .filters.io import SIXTEEN_BIT_FORMATS, read_image, writable_format, write_image

    if args.edges is not None and args.kernel:
        raise FilterSpecError("give either -k kernels or --edges, not both")
    if args.show_kernel:
        if not args.kernel:
            raise FilterSpecError("--show-kernel needs at least one -k kernel")
        kernels = [build_kernel(spec) for spec in args.kernel]  # all errors before output
        print("\n\n".join(describe_kernel(spec, kernel, args.convolve)
                          for spec, kernel in zip(args.kernel, kernels)))
        return 0
    if args.edges is None and not args.kernel:
        raise FilterSpecError("nothing to do: give -k SPEC (one or more) or --edges DETECTOR")
    if args.input is None:
        raise FilterSpecError("the INPUT image is required")
    if args.output is None:
        raise FilterSpecError("-o OUTPUT is required")
    # every check that can fail comes before the work, and nothing is written until the end
    fmt = writable_format(args.output)
    if args.edges is not None:
        name, params = parse_edges(args.edges)
        kernels = []
    else:
        kernels = [build_kernel(spec) for spec in args.kernel]
    image = read_image(args.input)

    if args.edges is not None:
        result = edge_map(image, name, params, args.boundary)
        what = f"{name} edges"
    else:
        if image.dtype == np.uint16 and fmt not in SIXTEEN_BIT_FORMATS:
            raise FilterSpecError(f"{args.output}: {fmt} stores 8-bit images and {args.input} "
                                  f"is 16-bit; write PNG, TIFF or PGM")
        result = _to_depth(apply_kernels(image, kernels, args.boundary, args.method,
                                         args.convolve), image.dtype)
        what = " then ".join(args.kernel)
    write_image(args.output, result)
    h, w = result.shape[:2]
    kind = "RGB" if result.ndim == 3 else "grayscale"
    print(f"{args.input} -> {args.output}: {what} ({w}×{h} {kind}, {result.dtype})")
    return 0
