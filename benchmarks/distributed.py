"""Data-parallel training over MPI on this machine: samples per second of a training step at
1 process × 2 BLAS threads against 2 processes × 1 thread (``mpiexec -n 2``), and the time and
bandwidth of the gradient all-reduce for each model's gradient size.

    python benchmarks/distributed.py [--repeat 20] [--models lenet5 vgg11_bn_cifar]

The parent process starts the workers (one plain, one under mpiexec) and prints one table.
Each worker times fovea's Trainer.step on the same global batch (LeNet-5: 128 MNIST-sized
images; vgg11_bn_cifar: 128 random 3×32×32 images), median of ``repeat`` steps after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import median_ms  # noqa: E402

SHAPES = {"lenet5": ((1, 28, 28), 128), "vgg11_bn_cifar": ((3, 32, 32), 128)}


def _stepper(trainer, batches):
    """One training step per call, cycling through ``batches``."""
    state = {"i": 0}

    def step():
        x, y = batches[state["i"] % len(batches)]
        state["i"] += 1
        trainer.step(x, y)
    return step


def worker(models, repeat):
    from fovea import backend, distributed, optim
    from fovea.models import build_model
    from fovea.train.trainer import Trainer

    distributed.init()
    out = {}
    for name in models:
        shape, batch = SHAPES[name]
        backend.manual_seed(0)
        model = build_model(name, shape, 10)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        trainer = Trainer(model, opt, distributed=distributed.world_size() > 1,
                          progress=False, log=None)
        rng = np.random.default_rng(0)
        batches = [(rng.standard_normal((batch, *shape)).astype(np.float32),
                    rng.integers(0, 10, batch)) for _ in range(4)]
        ms = median_ms(_stepper(trainer, batches), repeat, warmup=3)
        ms = distributed.sum_over_ranks([ms])[0] / distributed.world_size()
        grads = [p.data.copy() for p in model.parameters()]
        n = sum(g.size for g in grads)
        distributed.barrier()
        reduce_ms = median_ms(partial(distributed.all_reduce_packed, grads), repeat, warmup=3)
        out[name] = {"step_ms": ms, "samples_per_s": batch / ms * 1e3, "params": n,
                     "allreduce_ms": reduce_ms if distributed.world_size() > 1 else 0.0}
    if distributed.is_main():
        print(json.dumps(out))


def launch(models, repeat):
    here = Path(__file__).resolve()
    env = dict(os.environ, PYTHONPATH=str(here.parents[1] / "src"))
    mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}"
                           f"{os.environ.get('PATH', '')}")
    if mpiexec is None:
        sys.exit("no mpiexec: pip install 'fovea[mpi]'")
    args = [sys.executable, str(here), "--worker", "--repeat", str(repeat), "--models", *models]
    runs = {}
    for label, cmd, threads in (("1 process × 2 threads", args, "2"),
                                ("2 processes × 1 thread", [mpiexec, "-n", "2", *args], "1")):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True,
                              env=dict(env, OPENBLAS_NUM_THREADS=threads,
                                       OMP_NUM_THREADS=threads))
        runs[label] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"({label}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    one, two = runs.values()
    print("| model | params | 1×2 samples/s | 2×1 samples/s | speed-up | all-reduce ms | "
          "GB/s |")
    print("|---|---|---|---|---|---|---|")
    for name in models:
        a, b = one[name], two[name]
        gb = b["params"] * 4 / (b["allreduce_ms"] * 1e-3) / 1e9 if b["allreduce_ms"] else 0
        print(f"| {name} | {a['params']:,} | {a['samples_per_s']:.0f} | "
              f"{b['samples_per_s']:.0f} | {b['samples_per_s'] / a['samples_per_s']:.2f} | "
              f"{b['allreduce_ms']:.2f} | {gb:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.worker:
        worker(a.models, a.repeat)
    else:
        launch(a.models, a.repeat)
