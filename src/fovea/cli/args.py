"""What the subcommands share: the one-line-error parser, argparse types, the training options
as flags, and the run directory's default name."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from ..parsing import checked
from ..train.config import OPTIONS, load_toml, resolve

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def argparse_number(convert, accept, expected: str):
    """An argparse ``type``: :func:`fovea.parsing.checked`, with argparse's one-line error on
    bad input."""
    parse_checked = checked(convert, accept)

    def parse(text: str):
        try:
            return parse_checked(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    parse.__name__ = expected
    return parse


positive_int = argparse_number(int, lambda v: v > 0, "a positive integer")


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


def add_device_option(p) -> None:
    p.add_argument("--device", type=_option_type(OPTIONS["device"]), default="auto",
                   help="where to run the model: cpu, cuda (cuda:N), or auto (default: cuda "
                        "when CuPy and a GPU are present)")


def add_overwrite_option(p) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (refused without it)")


def resolved_config(args) -> dict:
    """The training configuration: the defaults < the --config TOML file < the flags given."""
    file_options = load_toml(args.config) if args.config is not None else {}
    return resolve(file_options, {name: getattr(args, name) for name in OPTIONS})


def epoch_log(args):
    """Where training prints its epoch lines: stderr, or nowhere with --quiet."""
    return None if args.quiet else (lambda line: print(line, file=sys.stderr))


def default_out(config, kind="") -> Path:
    """runs/MODEL-DATASET[KIND]-TIMESTAMP."""
    dataset = re.sub(r"[^A-Za-z0-9._-]+", "_", config["dataset"]).strip("_")  # folder:/a/b
    return Path("runs") / f"{config['model']}-{dataset}{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
