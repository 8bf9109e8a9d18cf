"""fovea.filters: classical image filtering (notes §1.1) — convolution and correlation with
boundary modes, kernels, separable and FFT methods, edges, luminance, filter specifications
(``gaussian:sigma=2``) and image files."""

from . import kernels
from .boundary import MODES as BOUNDARY_MODES
from .color import LUMA_WEIGHTS, luminance, to_unit_range
from .core import SHAPES, choose_method, convolve, correlate, cost, estimate_seconds, next_fast_len
from .edges import canny, gradient, gradient_magnitude, gradient_orientation, zero_crossings
from .io import read_image, write_image
from .kernels import (
                   box,
                   derivative,
                   gaussian,
                   gaussian_1d,
                   impulse,
                   laplacian,
                   laplacian_of_gaussian,
                   prewitt,
                   scharr,
                   sharpen,
                   shift,
                   sobel,
                   weighted_average,
)
from .separable import is_separable, separate
from .smoothing import box_filter, gaussian_filter, sharpen_image
from .spec import (
    FilterSpecError,
    apply_kernels,
    build_kernel,
    edge_map,
    parse_edges,
    read_kernel_file,
    to_depth,
)

__all__ = [
    "convolve", "correlate", "cost", "estimate_seconds", "choose_method", "next_fast_len",
    "separate", "is_separable", "BOUNDARY_MODES", "SHAPES", "kernels",
    "impulse", "shift", "box", "weighted_average", "gaussian", "gaussian_1d", "sharpen",
    "derivative", "sobel", "prewitt", "scharr", "laplacian", "laplacian_of_gaussian",
    "gaussian_filter", "box_filter", "sharpen_image",
    "gradient", "gradient_magnitude", "gradient_orientation", "zero_crossings", "canny",
    "LUMA_WEIGHTS", "luminance", "to_unit_range",
    "FilterSpecError", "build_kernel", "parse_edges", "read_kernel_file", "apply_kernels",
    "to_depth", "edge_map",
    "read_image", "write_image",
]

