"""fovea.filters.spec: the text that names a kernel or an edge detector becomes the kernel (or
the detector's parameters), and a bad one is a FilterSpecError naming it."""

from __future__ import annotations

import numpy as np
import pytest

from fovea.errors import FoveaError
from fovea.filters import FilterSpecError, build_kernel, kernels, parse_edges


def test_a_good_spec_builds_the_kernel_it_names(tmp_path):
    np.testing.assert_array_equal(build_kernel("gaussian:sigma=2"), kernels.gaussian(2.0))
    np.testing.assert_array_equal(build_kernel("sharpen:alpha=1.5,sigma=1"),
                                  kernels.sharpen(1.5, kernels.gaussian(1.0)))
    path = tmp_path / "k.txt"
    path.write_text("# a 2 x 3 kernel\n1 2 3\n4 5 6  # second row\n")
    np.testing.assert_array_equal(build_kernel(f"file:{path}"), [[1, 2, 3], [4, 5, 6]])
    assert parse_edges("canny:low=0.2") == ("canny", {"sigma": 1.4, "low": 0.2, "high": 0.3})


@pytest.mark.parametrize("spec, message", [
    ("gaussian:sigma=-1", "sigma must be a positive number, got '-1'"),
    ("gaussian", "gaussian needs sigma="),
    ("blur:size=3", "unknown kernel 'blur'"),
    ("gaussian:sigma=1e6", "the limit is 2049"),
])
def test_a_bad_spec_is_one_filter_spec_error_naming_it(spec, message):
    with pytest.raises(FilterSpecError, match=message) as info:
        build_kernel(spec)
    assert isinstance(info.value, FoveaError) and str(info.value).startswith(f"-k {spec!r}")
