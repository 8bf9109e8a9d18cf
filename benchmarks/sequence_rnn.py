"""CharRNN training step (forward, cross-entropy, backward, Adam), fovea vs PyTorch in one
process.

    python benchmarks/sequence_rnn.py [--batch 32] [--steps 128] [--repeat 15] [--threads N]
                                      [--cell lstm] [--clock wall|cpu] [--profile]

A 2-layer LSTM of width 256 over embeddings of 64, vocabulary 65 (Shakespeare's characters),
batch 32 × 128 steps, both frameworks with the same weights and the same token batches.
Prints the median time of each and the ratio fovea / PyTorch (goal: ≤ 1.0). ``--profile``
prints fovea's cProfile instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if "--threads" in sys.argv[:-1]:
    # NumPy's BLAS on the same number of threads as torch; it must be set before NumPy
    # loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np  # noqa: E402
from train_step import cycle, median_ms  # noqa: E402

VOCAB, EMBED, HIDDEN, LAYERS = 65, 64, 256, 2


def token_batches(batch, steps, count=4):
    """``count`` (inputs, targets) pairs of token windows, the targets shifted by one."""
    rng = np.random.default_rng(0)
    text = rng.integers(0, VOCAB, size=count * batch * (steps + 1))
    windows = text.reshape(count, batch, steps + 1)
    return [(w[:, :-1], w[:, 1:]) for w in windows]


def training_step(model, opt, cross_entropy, data):
    """The timed case, written once for both frameworks: an Adam step on the next batch."""
    next_batch = cycle(data)

    def step():
        x, y = next_batch()
        opt.zero_grad()
        loss = cross_entropy(model(x).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()

    return step


def fovea_case(batches, cell):
    import fovea
    from fovea.models import CharRNN
    from fovea.nn import functional as F

    fovea.manual_seed(0)
    model = CharRNN(VOCAB, EMBED, HIDDEN, LAYERS, cell=cell)
    opt = fovea.optim.Adam(model.parameters(), lr=1e-3)
    data = [(fovea.tensor(x), fovea.tensor(y.reshape(-1))) for x, y in batches]
    return training_step(model, opt, F.cross_entropy, data), model


def torch_case(batches, cell, weights):
    import torch
    from torch import nn

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, EMBED)
            self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(EMBED, HIDDEN, LAYERS,
                                                                 batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, idx):
            return self.head(self.rnn(self.embedding(idx))[0])

    model = CharRNN()
    model.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in weights.items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.from_numpy(x), torch.from_numpy(y.reshape(-1))) for x, y in batches]
    return training_step(model, opt, nn.functional.cross_entropy, data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="torch's threads and NumPy's BLAS threads (default: all cores)")
    ap.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: the process's CPU time (steadier on a shared machine; with "
                         "--threads 1 it is the work done)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    batches = token_batches(args.batch, args.steps)
    f_step, model = fovea_case(batches, args.cell)
    if args.profile:
        import cProfile
        import pstats

        f_step()
        prof = cProfile.Profile()
        prof.runcall(lambda: [f_step() for _ in range(5)])
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
        return
    weights = {k: v.data for k, v in model.state_dict().items()}
    import torch

    torch.set_num_threads(args.threads)
    t_step = torch_case(batches, args.cell, weights)
    # interleave so that machine noise hits both alike
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    fm, tm = [], []
    for _ in range(3):
        fm.append(median_ms(f_step, args.repeat // 3 or 1, warmup=2, clock=clock))
        tm.append(median_ms(t_step, args.repeat // 3 or 1, warmup=2, clock=clock))
    fmed, tmed = statistics.median(fm), statistics.median(tm)
    print(f"CharRNN {LAYERS}-layer {args.cell.upper()} {HIDDEN}, embed {EMBED}, vocab {VOCAB}, "
          f"batch {args.batch} x {args.steps}, float32, {args.threads} threads, {args.clock} time "
          f"(numpy {np.__version__}, torch {torch.__version__})")
    print(f"| {'case':<11} | {'fovea ms':>9} | {'PyTorch ms':>10} | {'ratio':>6} |")
    print(f"|{'-' * 13}|{'-' * 11}|{'-' * 12}|{'-' * 8}|")
    print(f"| {'train step':<11} | {fmed:9.2f} | {tmed:10.2f} | {fmed / tmed:6.2f} |")


if __name__ == "__main__":
    main()
