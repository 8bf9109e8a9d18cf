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
