"""The ``fovea`` command line: train, evaluate, generate, ensemble, filter, plot, predict,
export, convert-weights, lab — one module per subcommand, each a thin layer over the library,
and this dispatcher.

Bad input, an OS error (with the path it concerns) or running out of memory prints one line
to stderr and exits with status 2; an interrupt exits with 130, saying how to resume a
training. Nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .. import distributed
from ..errors import FoveaError
from .args import EXIT_USAGE, _Parser
from .convert_weights import add_convert_parser
from .ensemble import add_ensemble_parser
from .evaluate import add_evaluate_parser
from .export import add_export_parser
from .filter import add_filter_parser
from .generate import add_generate_parser
from .lab import add_lab_parser
from .plot import add_plot_parser
from .predict import add_predict_parser
from .train import add_train_parser

__all__ = ["main", "build_parser"]

SUBCOMMANDS = (add_train_parser, add_evaluate_parser, add_generate_parser, add_ensemble_parser,
               add_filter_parser, add_plot_parser, add_predict_parser, add_export_parser,
               add_convert_parser, add_lab_parser)
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
        with warnings.catch_warnings():
            # NumPy's floating-point warnings of a diverging run: the run reports it in one line
            warnings.filterwarnings("ignore", category=RuntimeWarning,
                                    message="(overflow|invalid value|divide by zero) "
                                            "encountered")
            return args.func(args)
    except FoveaError as exc:
        msg = str(exc)
    except OSError as exc:
        msg = os_error_message(exc)
    except ValueError as exc:
        msg = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    except MemoryError as exc:
        msg = f"out of memory ({exc or 'a smaller --batch-size or model may fit'})"
    except KeyboardInterrupt as exc:
        print(f"fovea {args.command}: {exc.args[0] if exc.args else 'interrupted'}",
              file=sys.stderr)
        return 130
    who = f" (rank {distributed.rank()})" if distributed.world_size() > 1 else ""
    print(f"fovea {args.command}{who}: error: {msg.splitlines()[0] if msg else 'failed'}",
          file=sys.stderr)
    if distributed.world_size() > 1:  # the other processes may wait for this one: end them
        distributed.abort(EXIT_USAGE)
    return EXIT_USAGE


def os_error_message(exc: OSError) -> str:
    """``PATH: reason`` of an OSError (errno's text, not its number)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {reason}"
