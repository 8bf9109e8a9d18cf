"""``fovea evaluate RUN_DIR``: a run's model on its test split, optionally with test-time
augmentation; a language model's loss over its whole validation split."""

from __future__ import annotations

import json
from pathlib import Path

from ..data import load_dataset
from ..train.config import ConfigError
from ..train.predict import evaluate_arrays
from ..train.session import evaluate_language_run, is_language_run, load_run, training_device
from .args import add_device_option, positive_int


def add_evaluate_parser(subparsers):
    e = subparsers.add_parser("evaluate", help="evaluate a run's model on its test split")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--data-dir", type=Path, default=None,
                   help="override the data directory recorded in the run")
    e.add_argument("--batch-size", type=positive_int, default=None,
                   help="images (default 500) or windows of a language model (default 64) "
                        "per batch")
    e.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average over flipped and shifted views")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_option(e)
    e.set_defaults(func=cmd_evaluate)
    return e


def cmd_evaluate(args) -> int:
    if is_language_run(args.run_dir):
        return _evaluate_language(args)
    model, transform, config = load_run(args.run_dir)
    model.to(training_device({"device": args.device}))
    data_dir = str(args.data_dir) if args.data_dir is not None else config.get("data_dir")
    test = load_dataset(config["dataset"], config.get("test_split", "test"), data_dir=data_dir,
                        progress=False)
    images, labels = test.arrays
    result = {**evaluate_arrays(model, images, labels, transform, args.batch_size or 500,
                                 tta=args.tta),
              "dataset": config["dataset"], "tta": bool(args.tta)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config['dataset']} test: accuracy {result['accuracy']:.4f}  "
              f"loss {result['loss']:.4f}  ({result['n']} images{', TTA' if args.tta else ''})")
    return 0


def _evaluate_language(args) -> int:
    if args.tta:
        raise ConfigError("--tta augments images; a language model has none")
    result = evaluate_language_run(args.run_dir, **({"batch_size": args.batch_size}
                                                    if args.batch_size else {}))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['dataset']} validation: loss {result['loss']:.4f} nats/char "
              f"({result['bits_per_char']:.4f} bits/char)  ({result['n']} characters, "
              f"windows of {result['block_size']})")
    return 0
