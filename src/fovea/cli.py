"""The ``fovea`` command line: ``fovea train`` and ``fovea evaluate``.

Bad input prints one line to stderr and exits with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .cli_types import checked
from .errors import FoveaError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _number(convert, accept, expected):
    """An argparse type: ``convert`` the text, then require ``accept(value)``."""
    parse_checked = checked(convert, accept)

    def parse(text: str):
        try:
            return parse_checked(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    parse.__name__ = expected
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
seed_int = _number(int, lambda v: v >= 0, "an integer seed ≥ 0")
positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
nonnegative_float = _number(float, lambda v: 0 <= v < float("inf"), "a number ≥ 0")
fraction = _number(float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")


DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3}


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASET_INFO
    from .models import MODEL_NAMES

    parser = _Parser(prog="fovea", description="Deep learning from first principles.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a model and save a run directory")
    t.add_argument("--model", choices=MODEL_NAMES, default="lenet5")
    t.add_argument("--dataset", choices=tuple(DATASET_INFO), default="mnist-mini")
    t.add_argument("--data-dir", type=Path, default=None,
                   help="where the dataset files are (default: $FOVEA_DATA_DIR or a cache)")
    t.add_argument("--no-download", action="store_true", help="never download missing files")
    t.add_argument("--epochs", type=positive_int, default=10)
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default 1e-3 for adam, 0.05 for sgd)")
    t.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    t.add_argument("--momentum", type=nonnegative_float, default=0.9, help="SGD momentum")
    t.add_argument("--weight-decay", type=nonnegative_float, default=0.0)
    t.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                   help="cosine: anneal the learning rate to 0 over the epochs (default)")
    t.add_argument("--hidden", type=positive_int, nargs="+", default=[256],
                   help="hidden layer sizes of the mlp")
    t.add_argument("--val-fraction", type=fraction, default=0.1,
                   help="fraction of the training split held out for validation")
    t.add_argument("--seed", type=seed_int, default=0)
    t.add_argument("--out", type=Path, default=None, help="run directory (default runs/NAME)")
    t.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a run's model on its test split")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--data-dir", type=Path, default=None,
                   help="override the data directory recorded in the run")
    e.add_argument("--batch-size", type=positive_int, default=500)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)
    from .filter_cli import add_filter_parser
    add_filter_parser(sub)
    return parser


def _loaders(dataset, batch_size, seed):
    from .data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=True, seed=seed)


def _split(dataset, val_fraction, seed):
    """Hold out a seeded random ``val_fraction`` of ``dataset`` for validation."""
    from .data import Subset

    n = len(dataset)
    n_val = int(round(n * val_fraction))
    perm = np.random.default_rng(seed).permutation(n)
    return Subset(dataset, np.sort(perm[n_val:])), (
        Subset(dataset, np.sort(perm[:n_val])) if n_val else None)


def cmd_train(args) -> int:
    from . import backend, nn, optim
    from .data import DATASET_INFO, DataLoader, load_dataset
    from .models import build_model
    from .train import Normalize, RunDir, evaluate, fit

    backend.manual_seed(args.seed)
    info = DATASET_INFO[args.dataset]
    data_dir = str(args.data_dir) if args.data_dir is not None else None
    load = dict(data_dir=args.data_dir, download=not args.no_download, progress=not args.quiet)
    train_full = load_dataset(args.dataset, "train", **load)
    test = load_dataset(args.dataset, "test", **load)
    train_set, val_set = _split(train_full, args.val_fraction, args.seed)

    model_options = {"hidden": list(args.hidden)} if args.model == "mlp" else {}
    model = build_model(args.model, info["input_shape"], info["num_classes"], **model_options)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=lr, momentum=args.momentum,
                        weight_decay=args.weight_decay)
    else:
        opt = optim.Adam(model.parameters(), lr=lr, weight_decay=args.weight_decay)
    normalize = Normalize(info["mean"], info["std"])
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
                 if args.lr_schedule == "cosine" else None)

    out = args.out or Path("runs") / f"{args.model}-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    config = {
        "model": args.model, "model_options": model_options,
        "input_shape": list(info["input_shape"]), "num_classes": info["num_classes"],
        "dataset": args.dataset, "data_dir": data_dir, "test_split": "test",
        "val_fraction": args.val_fraction, "train_size": len(train_set),
        "val_size": len(val_set) if val_set is not None else 0,
        "normalize": normalize.to_config(),
        "optimizer": args.optimizer, "lr": lr, "momentum": args.momentum,
        "weight_decay": args.weight_decay, "lr_schedule": args.lr_schedule,
        "epochs": args.epochs,
        "batch_size": args.batch_size, "seed": args.seed,
    }
    run = RunDir(out).create(config)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    if log:
        log(f"training {args.model} on {args.dataset} ({len(train_set)} train, "
            f"{config['val_size']} validation) for {args.epochs} epochs -> {out}")
    train_loader = _loaders(train_set, args.batch_size, args.seed)
    val_loader = DataLoader(val_set, batch_size=500) if val_set is not None else None
    t0 = time.perf_counter()
    fit(model, train_loader, val_loader, opt, nn.CrossEntropyLoss(), args.epochs,
        transform=normalize, progress=not args.quiet, on_epoch_end=run.append_metrics, log=log,
        scheduler=scheduler)
    run.save_model(model)
    result = evaluate(model, DataLoader(test, batch_size=500), transform=normalize)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    from .serialization import write_json

    write_json(run.path / "test_metrics.json", result)
    print(f"test accuracy {result['accuracy']:.4f}  test loss {result['loss']:.4f}  "
          f"({result['n']} images, {result['seconds']:.1f} s)  run: {out}")
    return 0


def load_run_model(run):
    """Rebuild a run's model from its config and load its saved weights."""
    from .models import build_model

    config = run.config()
    try:
        model = build_model(config["model"], tuple(config["input_shape"]),
                            int(config["num_classes"]), **config.get("model_options", {}))
    except (KeyError, TypeError) as exc:
        raise FoveaError(f"{run.path}: config.json is missing or has a bad field ({exc})") from None
    try:
        model.load_state_dict(run.load_model_state())
    except (KeyError, ValueError) as exc:
        raise FoveaError(f"{run.path}: the saved model does not fit its config ({exc})") from None
    return model, config


def cmd_evaluate(args) -> int:
    from .data import DataLoader, load_dataset
    from .train import Normalize, RunDir, evaluate

    run = RunDir(args.run_dir)
    model, config = load_run_model(run)
    data_dir = args.data_dir if args.data_dir is not None else config.get("data_dir")
    test = load_dataset(config["dataset"], config.get("test_split", "test"), data_dir=data_dir,
                        progress=False)
    norm = config.get("normalize")
    transform = Normalize(norm["mean"], norm["std"]) if norm else None
    result = evaluate(model, DataLoader(test, batch_size=args.batch_size), transform=transform)
    result["dataset"] = config["dataset"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config['dataset']} test: accuracy {result['accuracy']:.4f}  "
              f"loss {result['loss']:.4f}  ({result['n']} images)")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FoveaError as exc:
        msg = str(exc)
    except (OSError, ValueError) as exc:
        msg = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    except KeyboardInterrupt:
        print("fovea: interrupted", file=sys.stderr)
        return 130
    print(f"fovea {args.command}: error: {msg.splitlines()[0] if msg else 'failed'}",
          file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
