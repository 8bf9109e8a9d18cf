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
from pathlib import Path

import numpy as np

from ..filters import separate
from ..filters.core import METHODS
from ..filters.io import SIXTEEN_BIT_FORMATS, read_image, writable_format, write_image
from ..filters.spec import (
    FilterSpecError,
    apply_kernels,
    build_kernel,
    edge_map,
    parse_edges,
    to_depth,
)

BOUNDARIES = ("reflect", "mirror", "nearest", "replicate", "wrap", "constant", "zero")
"""The --boundary choices: fovea.filters' modes and their aliases, in the help's order."""

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


def cmd_filter(args) -> int:
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
        result = to_depth(apply_kernels(image, kernels, args.boundary, args.method,
                                         args.convolve), image.dtype)
        what = " then ".join(args.kernel)
    write_image(args.output, result)
    h, w = result.shape[:2]
    kind = "RGB" if result.ndim == 3 else "grayscale"
    print(f"{args.input} -> {args.output}: {what} ({w}×{h} {kind}, {result.dtype})")
    return 0
