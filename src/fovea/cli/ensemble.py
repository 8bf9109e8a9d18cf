"""``fovea ensemble``: train K members with different seeds and evaluate their ensemble."""

from __future__ import annotations

from pathlib import Path

from .. import distributed
from ..train.session import ensemble
from .args import (
    add_overwrite_option,
    add_train_options,
    default_out,
    epoch_log,
    positive_int,
    resolved_config,
)


def add_ensemble_parser(subparsers):
    en = subparsers.add_parser("ensemble", help="train K members with different seeds and "
                               "evaluate their ensemble")
    en.add_argument("--members", type=positive_int, default=5)
    en.add_argument("--average-parameters", action="store_true",
                    help="also evaluate the average of the members' parameters (with a "
                         "warning: not an ensemble)")
    add_train_options(en)
    en.add_argument("--out", type=Path, default=None, help="directory (default runs/NAME)")
    add_overwrite_option(en)
    en.set_defaults(func=cmd_ensemble)
    return en


def cmd_ensemble(args) -> int:
    config = resolved_config(args)
    out = args.out or default_out(config, "-ensemble")
    # under mpiexec -n N the members train side by side, one per process
    result = ensemble(config, args.members, out, args.average_parameters,
                      progress=not args.quiet, log=epoch_log(args), overwrite=args.overwrite,
                      parallel=distributed.launched_processes() > 1)
    if result is None:  # another process than rank 0: it trained its members
        return 0
    for i, acc in enumerate(result["members"]):
        print(f"member {i} (seed {config['seed'] + i}): accuracy {acc:.4f}")
    print(f"members' mean accuracy {result['member_mean']:.4f}")
    print(f"ensemble (mean probabilities) {result['ensemble_mean_probs']:.4f}  "
          f"(majority vote {result['ensemble_majority_vote']:.4f})")
    if "average_parameters" in result:
        print(f"averaged parameters (not an ensemble) {result['average_parameters']:.4f}")
    print(f"results: {Path(out) / 'ensemble.json'}")
    return 0
