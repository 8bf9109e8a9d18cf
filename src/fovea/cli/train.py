"""``fovea train``: train a model into a run directory, or resume one."""

from __future__ import annotations

from pathlib import Path

from .. import distributed
from ..train.checkpoint import POINTER
from ..train.config import OPTIONS, ConfigError
from ..train.session import resume_config, train_run
from .args import add_overwrite_option, add_train_options, default_out, epoch_log, resolved_config


def add_train_parser(subparsers):
    t = subparsers.add_parser("train", help="train a model and save a run directory")
    add_train_options(t)
    t.add_argument("--out", type=Path, default=None, help="run directory (default runs/NAME)")
    t.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (its saved configuration; "
                        "--epochs, or --max-iters for a language model, may extend it, and "
                        "--device move it)")
    add_overwrite_option(t)
    t.add_argument("--distributed", action="store_true",
                   help="train data-parallel as one process of an MPI job: mpiexec -n N "
                        "fovea train --distributed ... (the global batch is --batch-size, "
                        "split over the N processes; needs fovea[mpi])")
    t.set_defaults(func=cmd_train)
    return t


def cmd_train(args) -> int:
    processes = distributed.launched_processes()
    if processes > 1 and not args.distributed:
        raise ConfigError(f"started by mpiexec as one of {processes} processes: add "
                          f"--distributed to train one run together (or start one process)")
    if args.resume is not None:
        given = [n for n in OPTIONS if getattr(args, n) is not None
                 and n not in ("epochs", "max_iters", "device")]
        if given or args.config is not None or args.out is not None or args.overwrite:
            extra = (", ".join("--" + n.replace("_", "-") for n in given)
                     or "--config/--out/--overwrite")
            raise ConfigError(f"--resume continues a run with its saved configuration; "
                              f"drop {extra}")
        config = resume_config(args.resume, args.epochs, args.max_iters, args.device)
        out, resume = args.resume, True
    else:
        config = resolved_config(args)
        out, resume = args.out or default_out(config), False
    try:
        result = train_run(config, out, resume=resume, progress=not args.quiet,
                           log=epoch_log(args), overwrite=args.overwrite,
                           parallel=args.distributed)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(resume_hint(out)) from None
    if not distributed.is_main():
        return 0
    if "bits_per_char" in result:  # a language model: its whole validation split
        print(f"val loss {result['loss']:.4f} nats/char ({result['bits_per_char']:.4f} "
              f"bits/char)  ({result['n']} characters, {result['seconds']:.1f} s)  run: {out}")
    else:
        print(f"test accuracy {result['accuracy']:.4f}  test loss {result['loss']:.4f}  "
              f"({result['n']} images, {result['seconds']:.1f} s)  run: {out}")
    return 0


def resume_hint(out) -> str:
    """What to tell the user after an interrupted training of the run ``out``."""
    if (Path(out) / POINTER).is_file():
        return f"interrupted; continue the run with: fovea train --resume {out}"
    return f"interrupted before the first epoch ended; {out} has no checkpoint to resume from"
