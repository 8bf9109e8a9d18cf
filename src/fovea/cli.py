"""The ``fovea`` command line: train, evaluate, ensemble, filter, plot, predict, export,
convert-weights.

Bad input prints one line to stderr and exits with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli_types import positive_int
from .errors import FoveaError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")




def _option_type(opt):
    """An argparse type from a configuration option's parser."""

    def parse(text: str):
        try:
            return opt.parse(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {opt.expected}, got {text!r}") from None

    parse.__name__ = opt.expected or "value"
    return parse


def add_train_options(p) -> None:
    """Every training option (fovea.train.config.OPTIONS) as a flag whose default is None,
    so that only the flags given override the TOML file and the defaults."""
    from .train.config import OPTIONS

    for name, opt in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        default_text = f" (default: {opt.default})" if opt.default not in (None, "") else ""
        if opt.kind == "flag":
            p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=opt.help + default_text)
        elif opt.kind == "list":
            p.add_argument(flag, dest=name, type=_option_type(opt), nargs="+", default=None,
                           help=opt.help + default_text)
        else:
            p.add_argument(flag, dest=name, type=_option_type(opt), default=None,
                           metavar=name.upper() if opt.choices is None else None,
                           choices=opt.choices, help=opt.help + default_text)
    p.add_argument("--config", type=Path, default=None,
                   help="a TOML file of options (keys as the flags, with _); flags override it")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fovea", description="Deep learning from first principles.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a model and save a run directory")
    add_train_options(t)
    t.add_argument("--out", type=Path, default=None, help="run directory (default runs/NAME)")
    t.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (its saved configuration; "
                        "--epochs may extend it)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a run's model on its test split")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--data-dir", type=Path, default=None,
                   help="override the data directory recorded in the run")
    e.add_argument("--batch-size", type=positive_int, default=500)
    e.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average over flipped and shifted views")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    en = sub.add_parser("ensemble", help="train K members with different seeds and evaluate "
                        "their ensemble")
    en.add_argument("--members", type=positive_int, default=5)
    en.add_argument("--average-parameters", action="store_true",
                    help="also evaluate the average of the members' parameters (with a "
                         "warning: not an ensemble)")
    add_train_options(en)
    en.add_argument("--out", type=Path, default=None, help="directory (default runs/NAME)")
    en.set_defaults(func=cmd_ensemble)

    from .convert_cli import add_convert_parser
    from .export_cli import add_export_parser
    from .filter_cli import add_filter_parser
    from .plot_cli import add_plot_parser
    from .predict_cli import add_predict_parser

    add_filter_parser(sub)
    add_plot_parser(sub)
    add_predict_parser(sub)
    add_export_parser(sub)
    add_convert_parser(sub)
    return parser


def _resolved_config(args) -> dict:
    from .train.config import OPTIONS, load_toml, resolve

    file_options = load_toml(args.config) if args.config is not None else {}
    return resolve(file_options, {name: getattr(args, name) for name in OPTIONS})


def _log(args):
    return None if args.quiet else (lambda line: print(line, file=sys.stderr))


def _default_out(config, kind="") -> Path:
    import re
    import time

    dataset = re.sub(r"[^A-Za-z0-9._-]+", "_", config["dataset"]).strip("_")  # folder:/a/b
    return Path("runs") / f"{config['model']}-{dataset}{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_train(args) -> int:
    from .train.config import OPTIONS, ConfigError
    from .train.session import resume_config, train_run

    if args.resume is not None:
        given = [n for n in OPTIONS if getattr(args, n) is not None and n != "epochs"]
        if given or args.config is not None or args.out is not None:
            extra = ", ".join("--" + n.replace("_", "-") for n in given) or "--config/--out"
            raise ConfigError(f"--resume continues a run with its saved configuration; "
                              f"drop {extra}")
        config = resume_config(args.resume, args.epochs)
        out, resume = args.resume, True
    else:
        config = _resolved_config(args)
        out, resume = args.out or _default_out(config), False
    result = train_run(config, out, resume=resume, progress=not args.quiet, log=_log(args))
    print(f"test accuracy {result['accuracy']:.4f}  test loss {result['loss']:.4f}  "
          f"({result['n']} images, {result['seconds']:.1f} s)  run: {out}")
    return 0


def load_run_model(run):
    """Rebuild a run's model from its config and load its saved weights."""
    from .train.session import load_run

    model, _, config = load_run(run.path)
    return model, config


def cmd_evaluate(args) -> int:
    from .data import load_dataset
    from .nn.functional import cross_entropy
    from .train.session import load_run, predict_proba

    model, transform, config = load_run(args.run_dir)
    data_dir = str(args.data_dir) if args.data_dir is not None else config.get("data_dir")
    test = load_dataset(config["dataset"], config.get("test_split", "test"), data_dir=data_dir,
                        progress=False)
    images, labels = test.arrays
    probs = predict_proba(model, images, transform, args.batch_size, tta=args.tta)
    import numpy as np

    from .autograd import Tensor

    logp = np.log(np.maximum(probs, np.finfo(np.float32).tiny))
    loss = float(cross_entropy(Tensor(logp), Tensor(labels)).item())
    result = {"loss": loss, "accuracy": float((probs.argmax(1) == labels).mean()),
              "n": int(len(labels)), "dataset": config["dataset"], "tta": bool(args.tta)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config['dataset']} test: accuracy {result['accuracy']:.4f}  "
              f"loss {result['loss']:.4f}  ({result['n']} images{', TTA' if args.tta else ''})")
    return 0


def cmd_ensemble(args) -> int:
    from .train.session import ensemble

    config = _resolved_config(args)
    out = args.out or _default_out(config, "-ensemble")
    result = ensemble(config, args.members, out, args.average_parameters,
                      progress=not args.quiet, log=_log(args))
    for i, acc in enumerate(result["members"]):
        print(f"member {i} (seed {config['seed'] + i}): accuracy {acc:.4f}")
    print(f"members' mean accuracy {result['member_mean']:.4f}")
    print(f"ensemble (mean probabilities) {result['ensemble_mean_probs']:.4f}  "
          f"(majority vote {result['ensemble_majority_vote']:.4f})")
    if "average_parameters" in result:
        print(f"averaged parameters (not an ensemble) {result['average_parameters']:.4f}")
    print(f"results: {Path(out) / 'ensemble.json'}")
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
