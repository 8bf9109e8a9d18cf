"""nanoGPT's CPU recipe for tinyshakespeare, trained by fovea and by PyTorch side by side.

    python benchmarks/shakespeare_recipe.py [--config examples/shakespeare_char_cpu.toml]
                                            [--skip-fovea] [--skip-torch] [--out DIR]

fovea: ``fovea train --config CONFIG`` (a subprocess, timed from start to exit, its periodic
validation estimates included) and ``fovea evaluate RUN --json``. PyTorch: the same recipe with
the nanoGPT model of tests/torch_gpt.py in nanoGPT's train.py loop (random windows of the
first 90%, AdamW with its two weight-decay groups, warm-up and cosine decay of the learning
rate, gradient norm clipped, an estimate over ``eval_iters`` validation batches every
``eval_interval`` iterations from iteration 0, on both splits, and the loss read every
iteration as its ``log_interval=1``), on the same number of threads. nanoGPT's train.py itself
is not on this machine; this loop is its recipe and model without its logging. Both final models are then
evaluated over the whole validation split in non-overlapping windows of ``block_size``
(nanoGPT's own figure is the 20-batch estimate, printed too). Prints one table: wall time,
validation loss (nats per character) and the time ratio fovea / PyTorch.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def nanogpt_lr(it, cfg):
    """nanoGPT's get_lr: linear warm-up, cosine decay to min_lr, then constant."""
    lr, warmup, decay, min_lr = cfg["lr"], cfg["warmup_iters"], cfg["lr_decay_iters"], cfg[
        "min_lr"]
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    ratio = (it - warmup) / (decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def run_fovea(config_path, out):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fovea.cli", "train", "--quiet", "--config", str(config_path),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    result = subprocess.run([sys.executable, "-m", "fovea.cli", "evaluate", str(out), "--json"],
                            check=True, capture_output=True, text=True)
    history = json.loads((out / "checkpoint.json").read_text())["history"]
    return seconds, json.loads(result.stdout)["loss"], history[-1]["val_loss"]


def run_torch(cfg, train_ids, val_ids, vocab_size):
    import torch
    import torch_gpt

    torch.manual_seed(cfg["seed"])
    T, B = cfg["block_size"], cfg["batch_size"]
    model = torch_gpt.GPT(vocab_size, block_size=T, n_layer=cfg["n_layer"], n_head=cfg["n_head"],
                          n_embd=cfg["n_embd"], dropout=cfg["dropout"], bias=cfg["bias"],
                          tie_weights=cfg["tie_weights"])
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg["weight_decay"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]))
    train, val = torch.from_numpy(train_ids.astype(np.int64)), torch.from_numpy(
        val_ids.astype(np.int64))

    def batch(data):
        ix = torch.randint(len(data) - T, (B,))
        return (torch.stack([data[i:i + T] for i in ix]),
                torch.stack([data[i + 1:i + 1 + T] for i in ix]))

    def loss_of(x, y):
        logits = model(x)
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))

    estimate = None
    start = time.perf_counter()
    for it in range(cfg["max_iters"] + 1):
        if it % cfg["eval_interval"] == 0:  # as nanoGPT: both splits, from iteration 0
            model.eval()
            with torch.no_grad():
                estimates = [float(np.mean([loss_of(*batch(split)).item()
                                            for _ in range(cfg["eval_iters"])]))
                             for split in (train, val)]
            estimate = estimates[1]
            model.train()
        if it == cfg["max_iters"]:
            break
        for group in opt.param_groups:
            group["lr"] = nanogpt_lr(it, cfg)
        loss = loss_of(*batch(train))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad_norm"])
        opt.step()
        loss.item()  # nanoGPT logs every iteration (log_interval=1 in the recipe)
    seconds = time.perf_counter() - start
    model.eval()
    n = (len(val) - 1) // T * T
    x, y = val[:n].view(-1, T), val[1:n + 1].view(-1, T)
    with torch.no_grad():
        total = sum(loss_of(x[i:i + 64], y[i:i + 64]).item() * len(x[i:i + 64])
                    for i in range(0, len(x), 64))
    return seconds, total / len(x), estimate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples/shakespeare_char_cpu.toml")
    parser.add_argument("--out", type=Path, default=None, help="fovea's run directory")
    parser.add_argument("--skip-fovea", action="store_true")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    from fovea.train.config import load_toml
    cfg = load_toml(args.config)

    from fovea.data.text import CharVocab, load_text, split_ids
    text = load_text(cfg["dataset"])
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))

    rows = []
    if not args.skip_fovea:
        with tempfile.TemporaryDirectory() as tmp:
            out = args.out or Path(tmp) / "run"
            rows.append(("fovea", *run_fovea(args.config, out)))
    if not args.skip_torch:
        rows.append(("PyTorch (nanoGPT's loop)", *run_torch(cfg, train_ids, val_ids,
                                                            len(vocab))))
    print(f"{'':26} {'wall s':>8} {'val loss (whole split)':>23} {'val estimate':>13}")
    for name, seconds, full, estimate in rows:
        print(f"{name:26} {seconds:8.1f} {full:23.4f} {estimate:13.4f}")
    if len(rows) == 2:
        print(f"ratio fovea / PyTorch (wall): {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    main()
