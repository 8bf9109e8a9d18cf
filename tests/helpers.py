"""Shared test helpers (importable as ``helpers`` from the test files)."""


def lenet(lib):
    """LeNet-5 as one Sequential, built from ``fovea.nn`` or ``torch.nn`` alike."""
    return lib.Sequential(
        lib.Conv2d(1, 6, 5, padding=2), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(6, 16, 5), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(),
        lib.Linear(400, 120), lib.ReLU(),
        lib.Linear(120, 84), lib.ReLU(),
        lib.Linear(84, 10),
    )


def assert_close(actual, expected, rtol=1e-4, what="value"):
    """max |actual − expected| ≤ rtol · max(1, max |expected|), compared in float64."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return
    err = np.max(np.abs(actual - expected))
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert err <= rtol * scale, f"{what}: max abs error {err:.3g} (scale {scale:.3g})"
