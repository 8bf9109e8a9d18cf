"""``fovea generate RUN``: sample text from a trained language model, streamed to stdout as it
comes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..train.generate import generate_text
from ..train.session import load_language_run
from .args import argparse_number, positive_int

non_negative_int = argparse_number(int, lambda v: v >= 0, "an integer ≥ 0")
temperature = argparse_number(float, lambda v: 0 <= v < float("inf"), "a number ≥ 0")


def add_generate_parser(subparsers):
    g = subparsers.add_parser("generate", help="sample text from a language-model run")
    g.add_argument("run_dir", type=Path)
    g.add_argument("--prompt", default=None,
                   help="the text to continue (default: a newline, or the vocabulary's first "
                        "character)")
    g.add_argument("--max-new-tokens", type=non_negative_int, default=500,
                   help="characters to generate (default: 500)")
    g.add_argument("--temperature", type=temperature, default=1.0,
                   help="divides the logits: below 1 is more conservative, 0 the most likely "
                        "character each time (default: 1.0)")
    g.add_argument("--top-k", type=positive_int, default=None,
                   help="sample among the K most likely characters only")
    g.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the sampling (default: 0)")
    g.set_defaults(func=cmd_generate)
    return g


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def cmd_generate(args: argparse.Namespace) -> int:
    model, vocab, _ = load_language_run(args.run_dir)
    prompt = args.prompt
    if prompt is None:
        prompt = "\n" if "\n" in vocab.chars else vocab.chars[0]
    generate_text(model, vocab, prompt, args.max_new_tokens, args.temperature, args.top_k,
                  args.seed, on_text=_write)
    _write("\n")
    return 0
