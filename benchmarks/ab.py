"""Before/after in one process: this checkout's fovea against another checkout's, on the same
workloads, in interleaved rounds.

    python benchmarks/ab.py --other ../base/src        # ../base: e.g. `git worktree add ../base REV`

The other tree's ``fovea`` package is copied under the name ``fovea_other`` and imported next
to this one, so both run in one interpreter on the same inputs. Each round times every
workload once per tree, alternating which goes first; the table gives the median over rounds
of each tree's time and the ratio this / other. With ``--cpu-time`` (the default) a
workload's time is the CPU time of the calling thread with BLAS on one thread, which other
processes on the machine barely move; ``--wall`` measures wall-clock time with the machine's
threads. The spread column (interquartile range of the per-round ratio) tells noise from change.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if "--wall" not in sys.argv:
    # BLAS on one thread, so that the calling thread's CPU time is the whole cost; it must be
    # set before NumPy loads OpenBLAS
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def import_other(src: Path):
    """The other checkout's fovea package, importable as ``fovea_other``."""
    tmp = Path(tempfile.mkdtemp(prefix="fovea-ab-"))
    shutil.copytree(src / "fovea", tmp / "fovea_other",
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("fovea_other")


def lenet_cases(fv, batches):
    """A LeNet-5 SGD step and an eval forward on real mnist-mini batches."""
    models = importlib.import_module(fv.__name__ + ".models")
    fv.manual_seed(0)
    model = models.LeNet5()
    opt = fv.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = fv.nn.CrossEntropyLoss()
    data = [(fv.tensor(x), fv.tensor(y)) for x, y in batches]
    state = {"i": 0}

    def next_batch():
        state["i"] = (state["i"] + 1) % len(data)
        return data[state["i"]]

    def step():
        x, y = next_batch()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def forward():
        with fv.no_grad():
            model(next_batch()[0])

    return {"LeNet-5 train step (128)": step, "LeNet-5 forward (128)": forward}


def resnet_case(fv, images):
    models = importlib.import_module(fv.__name__ + ".models")
    fv.manual_seed(0)
    model = models.resnet18().eval()
    x = fv.tensor(images)

    def forward():
        with fv.no_grad():
            model(x)

    return {"ResNet-18 forward (4×3×224²)": forward}


def filter_cases(fv, image):
    filters = importlib.import_module(fv.__name__ + ".filters")
    k = filters.kernels
    return {
        "gaussian σ=1 (1024²)": lambda: filters.gaussian_filter(image, 1.0),
        "gaussian σ=8 (1024²)": lambda: filters.gaussian_filter(image, 8.0),
        "sobel 3×3 (1024²)": lambda: filters.correlate(image, k.sobel(axis=1)),
        "box 31×31 (1024²)": lambda: filters.correlate(image, k.box(31)),
    }


def workloads(fv, args):
    rng = np.random.default_rng(0)
    data = importlib.import_module(fv.__name__ + ".data")
    train = data.load_dataset("mnist-mini", "train")
    images, labels = train.arrays[0], train.arrays[1]
    batches = [((images[i:i + 128] / np.float32(255)).astype(np.float32), labels[i:i + 128])
               for i in range(0, 128 * 8, 128)]
    cases = lenet_cases(fv, batches)
    if not args.quick:
        cases.update(resnet_case(fv, rng.standard_normal((4, 3, 224, 224), np.float32)))
    cases.update(filter_cases(fv, rng.random((1024, 1024), np.float32)))
    return cases


def timed(fn, clock) -> float:
    start = clock()
    fn()
    return clock() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", type=Path, required=True,
                    help="the src/ folder of the checkout to compare with")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--wall", action="store_true", help="wall-clock time, all threads")
    ap.add_argument("--quick", action="store_true", help="leave out ResNet-18")
    args = ap.parse_args()
    clock = time.perf_counter if args.wall else time.thread_time

    import fovea
    other = import_other(args.other)
    this_cases, other_cases = workloads(fovea, args), workloads(other, args)
    for fn in (*this_cases.values(), *other_cases.values()):  # warm up: caches, buffer pool
        fn()
    times = {name: ([], []) for name in this_cases}
    for r in range(args.rounds):
        for name in this_cases:
            pair = [(0, this_cases[name]), (1, other_cases[name])]
            for which, fn in (pair if r % 2 == 0 else pair[::-1]):
                times[name][which].append(timed(fn, clock))

    print(f"this: {Path(fovea.__file__).parent}  other: {Path(other.__file__).parent}")
    print(f"{'wall-clock' if args.wall else 'CPU time of one thread, BLAS on 1 thread'}, "
          f"median of {args.rounds} interleaved rounds (pid {os.getpid()})")
    print("| workload | this ms | other ms | this/other | ratio IQR |")
    print("|---|---|---|---|---|")
    for name, (this, oth) in times.items():
        ratios = sorted(a / b for a, b in zip(this, oth))
        q1, q3 = np.percentile(ratios, [25, 75])
        print(f"| {name} | {1e3 * statistics.median(this):.2f} | "
              f"{1e3 * statistics.median(oth):.2f} | {statistics.median(ratios):.3f} | "
              f"{q1:.3f}–{q3:.3f} |")


if __name__ == "__main__":
    main()
