"""The inner loops of the compiled kernels on 1-D arrays: ``out[:] = 0``, ``out[:] = src``,
``out += src``, ``out[:] = a + b`` and ``out[:] = a − b``, written as loops indexed from 0 so
that LLVM vectorizes them (numba's slice expressions and offset indices do not).

This module imports numba: only the kernels' build functions import it. They reach these
functions as attributes of the module (``loops.zero``), which numba's on-disk cache accepts;
jitted functions captured from an enclosing scope would make it recompile every process.
"""

import numba


@numba.njit(inline="always")
def zero(out):
    for k in range(out.size):
        out[k] = 0


@numba.njit(inline="always")
def copy_into(out, src):
    for k in range(out.size):
        out[k] = src[k]


@numba.njit(inline="always")
def add_into(out, src):
    for k in range(out.size):
        out[k] += src[k]


@numba.njit(inline="always")
def add_to(out, a, b):
    for k in range(out.size):
        out[k] = a[k] + b[k]


@numba.njit(inline="always")
def sub_to(out, a, b):
    for k in range(out.size):
        out[k] = a[k] - b[k]
