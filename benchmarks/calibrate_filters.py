"""Measure the seconds per cost unit of each fovea.filters method on this machine.

    python benchmarks/calibrate_filters.py

For a range of image and kernel sizes it times the direct, separable and FFT methods
(float32, "same", reflect) and fits, per method, time = a·cost + b·n by least squares
(``fovea.filters.cost`` multiply-adds, n output samples: b is the per-sample overhead of the
passes, padding and copies). The fitted (a, b) are the constants to put in
``fovea.filters.core.TIME_MODEL``, which method="auto" uses; the separable method is also
timed on its compiled path (numba, ``fovea.kernels.filter1d``) where numba is installed, for
``COMPILED_TIME_MODEL``.
"""

from __future__ import annotations

import time

import numpy as np

from fovea import kernels
from fovea.filters import core


def seconds(fn, repeat=3):
    fn()
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return min(best)


def main():
    rng = np.random.default_rng(0)
    compiled = kernels.numba_available()
    samples = {"direct": [], "separable": [], "fft": []}
    if compiled:
        samples["separable (compiled)"] = []
    rows = []
    for size in (256, 512, 1024, 2048):
        image = rng.standard_normal((size, size), dtype=np.float32)
        for k in (3, 5, 9, 15, 25, 41):
            col, row = rng.standard_normal(k), rng.standard_normal(k)
            kernel = np.outer(col, row).astype(np.float32)
            units = core.cost(kernel.shape, image.shape)
            for name in samples:
                method = name.split()[0]
                if method == "direct" and k * k * size * size > 2e8:
                    continue  # too slow to be a candidate; keeps the run short
                with kernels.forced("numba" if name.endswith("(compiled)") else "numpy"):
                    t = seconds(lambda m=method, im=image, ker=kernel:
                                core.correlate(im, ker, method=m))
                samples[name].append((units[method], size * size, t))
                rows.append((size, k, name, t * 1e3, t / units[method]))
    print(f"| {'image':>5} | {'k':>3} | {'method':<20} | {'ms':>8} | {'s/unit':>9} |")
    for size, k, method, ms, spu in rows:
        print(f"| {size:>5} | {k:>3} | {method:<20} | {ms:8.2f} | {spu:9.2e} |")
    fits = {}
    for method, data in samples.items():
        units, n, t = (np.array(col, dtype=np.float64) for col in zip(*data))
        # relative least squares: every case counts alike, small or large
        design = np.stack([units / t, n / t], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
        fits[method] = (max(a, 0.0), max(b, 0.0))
    compiled_fit = fits.pop("separable (compiled)", None)
    print("\nTIME_MODEL = {" + ", ".join(f'"{m}": ({a:.2g}, {b:.2g})' for m, (a, b) in fits.items())
          + "}")
    if compiled_fit is not None:
        print(f'COMPILED_TIME_MODEL = {{"separable": ({compiled_fit[0]:.2g}, {compiled_fit[1]:.2g})}}')


if __name__ == "__main__":
    main()
