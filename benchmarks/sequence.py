"""Sequence models, fovea vs PyTorch side by side in one process: training steps and generation.

    python benchmarks/sequence.py [--case char_gpt] [--rounds 7] [--wall --threads N]

Prints, per workload, the median time of each and the ratio fovea / PyTorch (target ≤ 1.5,
goal ≤ 1.0). By default a workload's time is the CPU time of the calling thread with BLAS and
PyTorch on one thread (as benchmarks/ab.py): the machine is shared, and other processes barely
move a thread's CPU time. ``--wall --threads N`` measures wall-clock time with N threads for
BLAS and for PyTorch.
Workloads run in blocks (each side ``--block`` calls, its first dropped), alternating, so that
one library's spinning worker threads do not slow the other's calls.

Cases (``CASES``, each a function of the arguments giving (name, fovea workload, PyTorch
workload) rows; ``--case`` picks some, all by default):
- char_gpt: nanoGPT's CPU recipe model (vocab 65, 4 layers, 4 heads, width 128, context 64,
  no bias, no dropout) against PyTorch's nanoGPT (tests/torch_gpt.py): a training step
  (forward, cross-entropy, backward, AdamW with nanoGPT's weight-decay groups) on batches of
  12 × 64 characters of tinyshakespeare, and 500 greedy tokens (batch 1, a 1-character
  prompt) with the key/value cache as ``fovea generate`` runs it (decode while the cache has
  room, then the last 64 tokens prefilled again per token), PyTorch with the same algorithm,
  and for information PyTorch as nanoGPT generates (the whole context per token, no cache).
- char_rnn: benchmarks/sequence_rnn.py's CharRNN training step (2-layer LSTM, width 256,
  batch 32 × 128), on the same weights in both frameworks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# BLAS must be told its thread count before NumPy loads OpenBLAS: 1 for CPU time, else --threads
_THREADS = "1"
if "--wall" in sys.argv:
    _THREADS = (sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv
                else str(os.cpu_count()))
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = _THREADS

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # torch_gpt: the reference the tests use too

from ab import timed  # noqa: E402

SHAKESPEARE = HERE.parent.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
GPT_RECIPE = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
                  bias=False)


def text_batches(batch, block, count=16, seed=0):
    """``count`` (x, y) batches of random windows of tinyshakespeare as character ids (random
    ids where the text is absent): real text, so the loss falls as in training."""
    rng = np.random.default_rng(seed)
    if SHAKESPEARE.is_file():
        text = SHAKESPEARE.read_text(encoding="utf-8")
        chars = sorted(set(text))
        data = np.array([chars.index(c) for c in text[:200_000]], dtype=np.int64)
    else:
        data = rng.integers(0, 65, 200_000).astype(np.int64)
    out = []
    for _ in range(count):
        starts = rng.integers(0, len(data) - block - 1, batch)
        out.append((np.stack([data[s:s + block] for s in starts]),
                    np.stack([data[s + 1:s + block + 1] for s in starts])))
    return out


def decay_groups(named_parameters, weight_decay):
    """nanoGPT's AdamW groups: weight decay on the matrices (dim ≥ 2), none on the rest."""
    params = [p for _, p in named_parameters]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def train_step(lib, model, opt, batches, wrap):
    """One step on the next batch: forward, cross-entropy, backward, optimizer step."""
    data = [(wrap(x), wrap(y.reshape(-1))) for x, y in batches]
    state = {"i": 0}
    cross_entropy = lib.nn.functional.cross_entropy

    def step():
        x, y = data[state["i"] % len(data)]
        state["i"] += 1
        logits = model(x)
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def generate(model, count, wrap):
    """``count`` greedy tokens from a 1-token prompt, as the generator runs a cached model:
    decode while the cache has room, else prefill the last block_size tokens again."""
    block = model.block_size

    def run():
        tokens = [0]
        logits, cache = model.prefill(wrap(np.array([tokens], dtype=np.int64)))
        for _ in range(count):
            tokens.append(int(logits[0].argmax()))
            if cache["length"] < block:
                logits, cache = model.decode(wrap(np.array(tokens[-1:], dtype=np.int64)), cache)
            else:
                logits, cache = model.prefill(wrap(np.array([tokens[-block:]], dtype=np.int64)))
        return tokens

    return run


def char_gpt(args):
    """(name, fovea workload, PyTorch workload) rows for nanoGPT's CPU-recipe model."""
    import torch
    import torch_gpt

    import fovea
    from fovea.models import GPT

    batches = text_batches(12, GPT_RECIPE["block_size"])
    opt_args = dict(lr=1e-3, betas=(0.9, 0.99))
    fovea.manual_seed(0)
    f_model = GPT(**GPT_RECIPE)
    f_opt = fovea.optim.AdamW(decay_groups(f_model.named_parameters(), 0.1), **opt_args)
    torch.manual_seed(0)
    t_model = torch_gpt.GPT(**GPT_RECIPE)
    t_opt = torch.optim.AdamW(decay_groups(t_model.named_parameters(), 0.1), **opt_args)
    rows = [("char_gpt train step (12×64)",
             train_step(fovea, f_model, f_opt, batches, fovea.tensor),
             train_step(torch, t_model, t_opt, batches, torch.from_numpy))]

    f_gen, t_gen = GPT(**GPT_RECIPE).eval(), torch_gpt.GPT(**GPT_RECIPE).eval()
    f_gen.load_state_dict({k: v.detach().numpy() for k, v in t_gen.state_dict().items()})
    f_run = generate(f_gen, args.tokens, lambda a: a)
    t_run = generate(t_gen, args.tokens, torch.from_numpy)
    assert f_run() == t_run(), "fovea and PyTorch generated different tokens"
    rows.append((f"char_gpt generate {args.tokens} (cache)", f_run, t_run))

    def t_uncached():
        t_gen.generate_uncached(torch.zeros((1, 1), dtype=torch.long), args.tokens)

    rows.append((f"char_gpt generate {args.tokens} (PyTorch, no cache: nanoGPT)", None,
                 t_uncached))
    return rows


def char_rnn(args):
    """The row of benchmarks/sequence_rnn.py's CharRNN training step (2-layer LSTM of width
    256 over embeddings of 64, batch 32 × 128, Adam), both frameworks on the same weights."""
    import sequence_rnn as rnn

    batches = rnn.token_batches(32, 128)
    f_step, model = rnn.fovea_case(batches, "lstm")
    t_step = rnn.torch_case(batches, "lstm", {k: v.data for k, v in model.state_dict().items()})
    return [("char_rnn train step (32×128, LSTM 2×256)", f_step, t_step)]


CASES = {"char_gpt": char_gpt, "char_rnn": char_rnn}  # name: args -> (name, fovea, torch) rows


def median_block_times(fns, rounds, block, clock):
    """Per function, the median over ``rounds`` of blocks of ``block`` calls (the first call
    of each block dropped), the blocks alternating between the functions."""
    times = [[] for _ in fns]
    for r in range(rounds):
        order = list(enumerate(fns))
        for i, fn in (order if r % 2 == 0 else order[::-1]):
            if fn is None:
                continue
            fn()
            times[i].extend(timed(fn, clock) for _ in range(block - 1))
    return [statistics.median(t) * 1e3 if t else float("nan") for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES),
                    help="a case to run (repeatable); all by default")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=4, help="calls per block (the first dropped)")
    ap.add_argument("--tokens", type=int, default=500, help="tokens to generate")
    ap.add_argument("--wall", action="store_true", help="wall-clock time on --threads threads")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    import torch

    torch.set_num_threads(int(_THREADS))
    clock = time.perf_counter if args.wall else time.thread_time
    rows = []
    for case in args.case or CASES:
        for name, f, t in CASES[case](args):
            fmed, tmed = median_block_times((f, t), args.rounds, args.block, clock)
            rows.append((name, fmed, tmed, fmed / tmed))
    how = (f"wall-clock, {args.threads} threads each" if args.wall
           else "CPU time of the calling thread, BLAS and PyTorch on 1 thread")
    print(f"{how}; median of {args.rounds} rounds × {args.block - 1} calls "
          f"(numpy {np.__version__}, torch {torch.__version__})")
    print("| workload | fovea ms | PyTorch ms | ratio |")
    print("|---|---|---|---|")
    for name, fmed, tmed, ratio in rows:
        cells = [f"{v:.2f}" if v == v else "—" for v in (fmed, tmed, ratio)]  # NaN: not run
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
