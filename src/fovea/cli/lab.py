"""``fovea lab``: the notes' claims rerun as experiments (:mod:`fovea.lab`).

- ``fovea lab list``  each experiment: name, section, estimated time (full and ``--quick``)
  and the claim;
- ``fovea lab run [NAME ...|all] [--quick] [--out DIR] [--seed S] [--force]``  runs them
  (reusing those already done in DIR with the same seed and mode unless ``--force``) and
  writes DIR/results.json, DIR/report.md and DIR/report.html; prints the summary. An
  experiment that raises is reported with its error, the others still run, and the command
  exits with status 1;
- ``fovea lab show DIR``  prints the summary table of DIR/results.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FoveaError
from ..serialization import read_json
from .args import _Parser, argparse_number

EXIT_FAILED = 1
CLAIM_WIDTH = 72

non_negative_int = argparse_number(int, lambda v: v >= 0, "a non-negative integer")


def add_lab_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("lab", help="rerun the notes' claims as experiments and report")
    sub = p.add_subparsers(dest="lab_command", metavar="LAB_COMMAND", parser_class=_Parser)
    sub.required = True

    ls = sub.add_parser("list", help="the experiments, their sections, claims and times")
    ls.set_defaults(func=cmd_list)

    r = sub.add_parser("run", help="run experiments and write results.json and the reports")
    r.add_argument("names", nargs="*", metavar="NAME", default=["all"],
                   help="experiments to run (default: all)")
    r.add_argument("--quick", action="store_true", help="small data: seconds per experiment")
    r.add_argument("--out", type=Path, default=Path("lab"),
                   help="output directory (default: ./lab)")
    r.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    r.add_argument("--force", action="store_true",
                   help="rerun experiments already done in the output directory")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("show", help="print the summary table of a lab run's results.json")
    s.add_argument("run_dir", type=Path, metavar="DIR")
    s.set_defaults(func=cmd_show)
    return p


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _short(text: str, width: int = CLAIM_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


# fovea.lab is imported when a lab command runs: importing it loads every chapter's
# experiments, which the other subcommands never need


def cmd_list(args) -> int:
    from ..lab import ordered

    experiments = ordered()
    if not experiments:
        print("no lab experiments registered")
        return 0
    rows = [("name", "§", "full", "quick", "claim")]
    rows += [(e.name, e.section, _duration(e.seconds_full), _duration(e.seconds_quick),
              _short(e.claim)) for e in experiments]
    w = [max(len(row[i]) for row in rows) for i in range(4)]
    for name, section, full, quick, claim in rows:
        print(f"{name:<{w[0]}}  {section:<{w[1]}}  {full:>{w[2]}}  {quick:>{w[3]}}  {claim}")
    print(f"{len(experiments)} experiments, about "
          f"{_duration(sum(e.seconds_full for e in experiments))} in full, "
          f"{_duration(sum(e.seconds_quick for e in experiments))} with --quick")
    return 0


def cmd_run(args) -> int:
    from ..lab.report import summary_text
    from ..lab.runner import failures, run

    if args.out.exists() and not args.out.is_dir():
        raise FoveaError(f"{args.out}: not a directory")
    records = run(args.names, args.out, seed=args.seed, quick=args.quick, force=args.force,
                  progress=not args.quiet)
    print(summary_text(records))
    print(args.out / "report.html")
    failed = failures(records)
    if failed:
        print(f"fovea lab run: {len(failed)} experiment{'s' if len(failed) > 1 else ''} "
              f"failed: {', '.join(r['name'] for r in failed)} "
              f"(each traceback in {args.out / 'records'}/NAME.json)", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _results(path: Path) -> list:
    records = read_json(path)  # missing, unreadable or not JSON: one line naming the file
    fields = ("name", "section", "verdict", "seconds")
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and all(f in r for f in fields) for r in records):
        raise FoveaError(f"{path}: not a lab results file (a list of records with "
                         f"{', '.join(fields)})")
    return records


def cmd_show(args) -> int:
    from ..lab.report import summary_text

    print(summary_text(_results(args.run_dir / "results.json")))
    return 0
