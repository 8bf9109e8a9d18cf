"""CIFAR-sized training steps, fovea vs PyTorch, side by side in one process: VGG-11-BN and
ResNet-18 with the CIFAR stem (``fovea.models.vgg11_bn_cifar`` / ``resnet18_cifar``).

    python benchmarks/cifar_train.py [--models vgg11_bn_cifar resnet18_cifar] [--batch 128]
                                     [--rounds 3] [--block 4] [--forward] [--cold-start]

A step is forward, cross-entropy, backward and SGD with momentum on the next of four random
batches (N, 3, 32, 32) with random labels, cycled (one repeated batch lets the loss collapse
into denormals, which slow OpenBLAS tenfold). Both models hold the same weights (PyTorch's,
copied into fovea). Timing is in blocks: ``block`` calls of fovea, then ``block`` of PyTorch,
each block's first call dropped, for ``rounds`` rounds — alternating single calls would be
unfair on 2 cores, as each library's worker threads spin after a call and steal a core from
the other's next one. The table gives medians over all kept calls, the ratio of the medians
and the range of the per-round ratios, and the load average.

``--cold-start`` runs the first step of each model in fresh processes: with an empty numba
cache (compilation included), again from that cache, and with ``FOVEA_KERNELS=numpy``.

OpenBLAS's GEMMs are most of both steps: the header names OPENBLAS_CORETYPE, which selects
OpenBLAS's kernels when set (benchmarks/README.md measures what it does to the ratios).
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
from inference import torch_resnet18  # benchmarks/ is the script's directory

MODELS = ("vgg11_bn_cifar", "resnet18_cifar")
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512)  # last pool left out


def torch_vgg11_bn_cifar(nn, num_classes=10):
    """fovea's VGGCIFAR configuration A in PyTorch (same state_dict keys)."""
    layers, c = [], 3
    for v in VGG11:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(512, num_classes)

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return VGG()


def torch_model(name, tnn):
    if name == "vgg11_bn_cifar":
        return torch_vgg11_bn_cifar(tnn)
    return torch_resnet18(tnn, num_classes=10, small_input=True)


def random_batches(batch, count=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32),
             rng.integers(0, 10, batch)) for _ in range(count)]


def cases(name, batches, threads):
    """(fovea step, PyTorch step, fovea forward, PyTorch forward) for model ``name``."""
    import torch
    from torch import nn as tnn

    import fovea
    from fovea.models import build_model

    torch.set_num_threads(threads)
    fovea.set_num_threads(threads)
    torch.manual_seed(0)
    tmodel = torch_model(name, tnn)
    fmodel = build_model(name, (3, 32, 32), 10)
    fmodel.load_state_dict({k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()})
    made = []
    for model, wrap, no_grad, optim, loss_fn in (
            (fmodel, fovea.tensor, fovea.no_grad, fovea.optim, fovea.nn.CrossEntropyLoss()),
            (tmodel, torch.from_numpy, torch.no_grad, torch.optim, tnn.CrossEntropyLoss())):
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        data = [(wrap(x), wrap(y)) for x, y in batches]
        made.append(_step_and_forward(model, opt, loss_fn, data, no_grad))
    (fs, ff), (ts, tf) = made
    return fs, ts, ff, tf


def _step_and_forward(model, opt, loss_fn, data, no_grad):
    state = {"i": 0}

    def next_batch():
        state["i"] = (state["i"] + 1) % len(data)
        return data[state["i"]]

    def step():
        model.train()
        x, y = next_batch()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def forward():
        model.eval()
        with no_grad():
            model(next_batch()[0])

    return step, forward


def blocks(fa, fb, rounds, block):
    """Times of fa and fb (ms), in blocks of ``block`` calls (first dropped), A then B, for
    ``rounds`` rounds; also the per-round ratio of medians."""
    ta, tb, ratios = [], [], []
    for _ in range(rounds):
        got = []
        for fn in (fa, fb):
            ts = []
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
            got.append(ts[1:])
        ta += got[0]
        tb += got[1]
        ratios.append(statistics.median(got[0]) / statistics.median(got[1]))
    return ta, tb, ratios


def first_step(name, batch):
    """Child process: time fovea's and PyTorch's first training step (fresh process)."""
    batches = random_batches(batch)
    t0 = time.perf_counter()
    fs, ts, _, _ = cases(name, batches, os.cpu_count())
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    fs()
    f_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fs()
    f_second = time.perf_counter() - t0
    t0 = time.perf_counter()
    ts()
    t_first = time.perf_counter() - t0
    print(f"{setup:.2f} {f_first:.2f} {f_second:.2f} {t_first:.2f}")


def cold_start(models, batch):
    rows = []
    with tempfile.TemporaryDirectory(prefix="fovea-numba-") as cache:
        for label, env in (("numba, empty cache", {"NUMBA_CACHE_DIR": cache}),
                           ("numba, from cache", {"NUMBA_CACHE_DIR": cache}),
                           ("FOVEA_KERNELS=numpy", {"FOVEA_KERNELS": "numpy"})):
            for name in models:
                t0 = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, __file__, "--first-step", name, "--batch", str(batch)],
                    env={**os.environ, **env}, capture_output=True, text=True, check=True)
                total = time.perf_counter() - t0
                rows.append((label, name, *map(float, out.stdout.split()), total))
    print("| kernels | model | setup s | fovea 1st step s | fovea 2nd step s | "
          "PyTorch 1st step s | process s |")
    print("|---|---|---|---|---|---|---|")
    for label, name, setup, f1, f2, t1, total in rows:
        print(f"| {label} | {name} | {setup:.2f} | {f1:.2f} | {f2:.2f} | {t1:.2f} | "
              f"{total:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--block", type=int, default=4, help="calls per block (first dropped)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--forward", action="store_true", help="also time eval forward passes")
    ap.add_argument("--cold-start", action="store_true",
                    help="only the first steps, in fresh processes")
    ap.add_argument("--first-step", choices=MODELS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_step:
        return first_step(args.first_step, args.batch)
    if args.cold_start:
        return cold_start(args.models, args.batch)

    from fovea import kernels

    batches = random_batches(args.batch)
    load0 = os.getloadavg()
    rows = []
    for name in args.models:
        fs, ts, ff, tf = cases(name, batches, args.threads)
        pairs = [("train step", fs, ts)] + ([("forward (eval)", ff, tf)] if args.forward else [])
        for case, fa, fb in pairs:
            fa()  # the first call compiles or loads the kernels
            ta, tb, ratios = blocks(fa, fb, args.rounds, args.block)
            fm, tm = statistics.median(ta), statistics.median(tb)
            rows.append((name, case, fm, tm, fm / tm, min(ratios), max(ratios)))
    load1 = os.getloadavg()
    print(f"batch {args.batch} × 3×32×32, float32, {args.threads} threads, kernels "
          f"{kernels.mode()}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"{args.rounds} rounds of blocks of {args.block} (first dropped); "
          f"load average {load0[0]:.2f} → {load1[0]:.2f}")
    print("| model | case | fovea ms | PyTorch ms | ratio | per-round ratios |")
    print("|---|---|---|---|---|---|")
    for name, case, fm, tm, r, lo, hi in rows:
        print(f"| {name} | {case} | {fm:.0f} | {tm:.0f} | {r:.2f} | {lo:.2f}–{hi:.2f} |")


if __name__ == "__main__":
    main()
