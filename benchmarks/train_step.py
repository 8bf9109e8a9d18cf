"""LeNet-5 training step and forward pass, fovea vs PyTorch, side by side in one process.

    python benchmarks/train_step.py [--batch 128] [--repeat 30] [--threads N]

Prints the median time of each and the ratio fovea / PyTorch (goal: ≤ 1.0).

Both frameworks train on the same real batches (mnist-mini, cycled): repeating one random
batch lets the loss collapse within a few steps, and the denormal gradients that follow slow
every CPU GEMM down tenfold, which would time the CPU's denormal path rather than the code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def median_ms(fn, repeat, warmup=5, clock=time.perf_counter):
    """The median of ``repeat`` calls of fn in ms, after ``warmup``; ``clock`` may be
    time.process_time (the process's CPU time: steadier than wall time on a shared machine,
    but it also counts every thread's time)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times)


def real_batches(batch, count=16):
    """``count`` batches of normalized mnist-mini images and labels."""
    from fovea.data import load_dataset

    images, labels = load_dataset("mnist-mini", "train").arrays
    images = (images[: batch * count] - 0.1307) / 0.3081
    return [(images[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch])
            for i in range(count)]


def cycle(batches):
    state = {"i": 0}

    def next_batch():
        b = batches[state["i"] % len(batches)]
        state["i"] += 1
        return b

    return next_batch


def step_and_forward(model, opt, loss_fn, data, no_grad):
    """The timed cases, written once for both frameworks: an SGD step on the next batch, and
    a forward pass of the next batch under ``no_grad``."""
    next_batch = cycle(data)

    def step():
        x, y = next_batch()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    def forward():
        with no_grad():
            model(next_batch()[0])

    return step, forward


def fovea_case(batches):
    import fovea
    import fovea.nn as nn
    from fovea.models import LeNet5

    fovea.manual_seed(0)
    model = LeNet5()
    opt = fovea.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = [(fovea.tensor(x), fovea.tensor(y)) for x, y in batches]
    return step_and_forward(model, opt, nn.CrossEntropyLoss(), data, fovea.no_grad)


def torch_case(batches):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    return step_and_forward(model, opt, nn.CrossEntropyLoss(), data, torch.no_grad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    import fovea

    fovea.set_num_threads(args.threads)
    batches = real_batches(args.batch)
    rows = []
    f_step, f_fwd = fovea_case(batches)
    try:
        import torch

        torch.set_num_threads(args.threads)
        t_step, t_fwd = torch_case(batches)
    except ImportError:
        t_step = t_fwd = None
    for name, f, t in (("train step", f_step, t_step), ("forward", f_fwd, t_fwd)):
        # interleave so that machine noise hits both alike
        fm, tm = [], []
        for _ in range(3):
            fm.append(median_ms(f, args.repeat // 3 or 1))
            if t is not None:
                tm.append(median_ms(t, args.repeat // 3 or 1))
        fmed = statistics.median(fm)
        tmed = statistics.median(tm) if tm else float("nan")
        rows.append((name, fmed, tmed, fmed / tmed))
    print(f"LeNet-5, batch {args.batch}, 1x28x28, float32, {args.threads} threads "
          f"(numpy {np.__version__})")
    print(f"| {'case':<11} | {'fovea ms':>9} | {'PyTorch ms':>10} | {'ratio':>6} |")
    print(f"|{'-' * 13}|{'-' * 11}|{'-' * 12}|{'-' * 8}|")
    for name, fmed, tmed, ratio in rows:
        print(f"| {name:<11} | {fmed:9.2f} | {tmed:10.2f} | {ratio:6.2f} |")


if __name__ == "__main__":
    main()
