"""fovea.filters: classical image filtering (notes §1.1) — convolution and correlation with
boundary modes, kernels, separable and FFT methods, edges, and image files."""

from .boundary import MODES as BOUNDARY_MODES
from .core import SHAPES, choose_method, convolve, correlate, cost, estimate_seconds, next_fast_len
from .separable import is_separable, separate

__all__ = ["convolve", "correlate", "cost", "estimate_seconds", "choose_method", "next_fast_len", "separate",
           "is_separable", "BOUNDARY_MODES", "SHAPES"]
