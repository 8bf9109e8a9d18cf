"""The ``fovea`` command line: train, evaluate, ensemble, filter, plot, predict, export,
convert-weights — one module per subcommand, each a thin layer over the library, and this
dispatcher.

Bad input prints one line to stderr and exits with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import FoveaError
from .args import EXIT_USAGE, _Parser
from .convert_weights import add_convert_parser
from .ensemble import add_ensemble_parser
from .evaluate import add_evaluate_parser
from .export import add_export_parser
from .filter import add_filter_parser
from .plot import add_plot_parser
from .predict import add_predict_parser
from .train import add_train_parser

__all__ = ["main", "build_parser"]

SUBCOMMANDS = (add_train_parser, add_evaluate_parser, add_ensemble_parser, add_filter_parser,
               add_plot_parser, add_predict_parser, add_export_parser, add_convert_parser)
"""Each adds its subcommand to the parser, in the order ``fovea --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fovea", description="Deep learning from first principles.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add_parser in SUBCOMMANDS:
        add_parser(sub)
    return parser


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
