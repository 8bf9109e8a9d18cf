"""fovea.filters against scipy.ndimage and OpenCV, side by side in one process.

    python benchmarks/filters.py [--size 2048] [--budget 6] [--threads N] [--block 4]
                                 [--no-cold-start]

A random float32 image (fixed seed), "same" output with reflect borders, through Gaussian
σ = 1, 3, 8 (radius int(4σ + 0.5), scipy's truncate=4), a 3×3 Sobel, a 15×15 random
(non-separable) kernel and a 31×31 box. fovea runs ``correlate(..., boundary="reflect",
method="auto")``; scipy.ndimage its natural call for each filter (gaussian_filter, sobel,
correlate, uniform_filter; scipy computes in float64 internally); OpenCV GaussianBlur, Sobel,
filter2D and blur with BORDER_REFLECT. Each library runs a block of calls in turn (the first
of each block dropped: after a call a library's worker threads spin for a while and would
steal a core from the next library's call), rounds repeated within the budget. Prints the
median of each (ms), the ratios fovea / scipy and fovea / OpenCV (goal: ≤ 0.5 and ≤ 2.0),
the method "auto" chose, the load average, and the max abs difference of fovea from each as a
sanity check; then fovea's cold start: the first filter call in a fresh process (compiling
the kernels, then again loading them from numba's cache). opencv-python-headless is a
benchmark-only dependency: without it the OpenCV column is skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def gaussian_1d(sigma):
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * x * x / (sigma * sigma))
    return g / g.sum()


def cases(rng):
    """(name, 2-D kernel, scipy call, OpenCV call) per filter; the calls take the image."""
    try:
        import scipy.ndimage as ndi
    except ImportError:
        ndi = None
    try:
        import cv2
    except ImportError:
        cv2 = None
    reflect = cv2.BORDER_REFLECT if cv2 else None
    out = []
    for sigma in (1.0, 3.0, 8.0):
        g = gaussian_1d(sigma)
        k = len(g)
        out.append((
            f"Gaussian s={sigma:g} ({k}x{k})",
            np.outer(g, g),
            ndi and (lambda im, s=sigma: ndi.gaussian_filter(im, s, mode="reflect", truncate=4.0)),
            cv2 and (lambda im, k=k, s=sigma: cv2.GaussianBlur(im, (k, k), s, sigmaY=s,
                                                               borderType=reflect)),
        ))
    sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])  # d/dx, as ndi.sobel(axis=1)
    out.append((
        "Sobel 3x3",
        sobel,
        ndi and (lambda im: ndi.sobel(im, axis=1, mode="reflect")),
        cv2 and (lambda im: cv2.Sobel(im, cv2.CV_32F, 1, 0, ksize=3, borderType=reflect)),
    ))
    k15 = (rng.standard_normal((15, 15)) / 15.0).astype(np.float32)
    out.append((
        "random 15x15",
        k15,
        ndi and (lambda im: ndi.correlate(im, k15, mode="reflect")),
        cv2 and (lambda im: cv2.filter2D(im, -1, k15, borderType=reflect)),
    ))
    box = np.full((31, 31), 1.0 / 961.0)
    out.append((
        "box 31x31",
        box,
        ndi and (lambda im: ndi.uniform_filter(im, 31, mode="reflect")),
        cv2 and (lambda im: cv2.blur(im, (31, 31), borderType=reflect)),
    ))
    return out, ndi is not None, cv2 is not None


def timed(fn, image):
    t0 = time.perf_counter()
    result = fn(image)
    return (time.perf_counter() - t0) * 1e3, result


def bench(fns, image, budget_s, block=4, min_rounds=3, max_rounds=15):
    """Median ms of each function, timed in rounds of blocks (each function ``block`` calls in
    a row, the first dropped), as many rounds as ``budget_s`` allows within [min_rounds,
    max_rounds]; and each output."""
    outputs, times = [], [[] for _ in fns]
    for fn in fns:  # warm-up, and the output for the sanity check
        outputs.append(None if fn is None else timed(fn, image)[1])
    start = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        for i, fn in enumerate(fns):
            if fn is not None:
                times[i] += [timed(fn, image)[0] for _ in range(block)][1:]
        rounds += 1
    return [statistics.median(t) if t else float("nan") for t in times], outputs, rounds


COLD_START = """
import time
t0 = time.perf_counter()
import numpy as np
from fovea.filters import correlate
t1 = time.perf_counter()
image = np.random.default_rng(0).random((512, 512), dtype=np.float32)
g = np.exp(-0.5 * np.arange(-4, 5) ** 2.0)
correlate(image, np.outer(g, g).astype(np.float32))
t2 = time.perf_counter()
correlate(image, np.full((31, 31), 1 / 961, dtype=np.float32))
t3 = time.perf_counter()
from fovea.kernels import filter1d
print(f"{filter1d.correlate_separable.path()} {t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def cold_start():
    """fovea's import and first Gaussian and box calls in fresh processes: (path, [(label,
    import s, Gaussian s, box s)]) with an empty numba cache (compiling), then from the cache."""
    runs = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("compile", "from cache"):
            out = subprocess.run([sys.executable, "-c", COLD_START], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            runs.append((label, *map(float, out[1:])))
    return out[0], runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--budget", type=float, default=6.0,
                    help="seconds of timed rounds per filter (at least 3 rounds)")
    ap.add_argument("--threads", type=int, default=None,
                    help="OpenCV threads (default: OpenCV's own choice)")
    ap.add_argument("--block", type=int, default=4,
                    help="calls of one library in a row (the first of each dropped)")
    ap.add_argument("--no-cold-start", action="store_true",
                    help="skip the cold-start measurement (two fresh processes)")
    args = ap.parse_args()

    from fovea.filters import choose_method, correlate
    from fovea.kernels import filter1d

    rng = np.random.default_rng(0)
    image = rng.random((args.size, args.size), dtype=np.float32)
    filters, have_scipy, have_cv2 = cases(rng)
    if have_cv2:
        import cv2

        if args.threads is not None:
            cv2.setNumThreads(args.threads)
    versions = [f"numpy {np.__version__}"]
    if have_scipy:
        import scipy

        versions.append(f"scipy {scipy.__version__}")
    if have_cv2:
        versions.append(f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads)")
    else:
        versions.append("OpenCV not installed: column skipped")
    versions.append(f"fovea kernels: {filter1d.correlate_separable.path()}")
    print(f"{args.size}x{args.size} float32, 'same', reflect borders; {', '.join(versions)}; "
          f"{os.cpu_count()} CPUs")
    print("load average at start: " + " / ".join(f"{v:.2f}" for v in os.getloadavg()) + "\n")

    rows, diffs = [], []
    t_start = time.perf_counter()
    for name, kernel, scipy_fn, cv2_fn in filters:
        kernel = kernel.astype(np.float32)
        method = choose_method(kernel, image.shape)

        def fovea_fn(im, kernel=kernel):
            return correlate(im, kernel, boundary="reflect", method="auto")

        (f_ms, s_ms, c_ms), (f_out, s_out, c_out), rounds = bench(
            [fovea_fn, scipy_fn, cv2_fn], image, args.budget, args.block)
        rows.append((name, method, f_ms, s_ms, c_ms, rounds))
        diff = [float(np.abs(f_out.astype(np.float64) - o).max()) if o is not None else None
                for o in (s_out, c_out)]
        diffs.append((name, f_out.dtype, *diff))

    def fmt(v, spec):
        return "—" if v is None or v != v else format(v, spec)

    print("| filter | auto method | fovea ms | scipy ms | OpenCV ms | fovea/scipy | fovea/OpenCV "
          "| rounds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, method, f_ms, s_ms, c_ms, rounds in rows:
        print(f"| {name} | {method} | {fmt(f_ms, '.1f')} | {fmt(s_ms, '.1f')} | "
              f"{fmt(c_ms, '.1f')} | {fmt(f_ms / s_ms, '.2f')} | {fmt(f_ms / c_ms, '.2f')} | "
              f"{rounds} |")
    print("\nsanity: max |fovea − other| (image values in [0, 1))")
    print("| filter | fovea dtype | vs scipy | vs OpenCV |")
    print("|---|---|---|---|")
    for name, dtype, d_scipy, d_cv2 in diffs:
        print(f"| {name} | {dtype} | {fmt(d_scipy, '.2e')} | {fmt(d_cv2, '.2e')} |")
    print("\nload average at the end: " + " / ".join(f"{v:.2f}" for v in os.getloadavg()))
    if not args.no_cold_start:
        path, runs = cold_start()
        print(f"\ncold start (fresh process, 512² image, kernels: {path})")
        print("| numba cache | import fovea.filters s | first Gaussian s | first box s |")
        print("|---|---|---|---|")
        for label, t_import, t_gauss, t_box in runs:
            print(f"| {label} | {t_import:.2f} | {t_gauss:.2f} | {t_box:.2f} |")
    print(f"\n({time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
