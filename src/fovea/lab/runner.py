"""Run lab experiments into an output directory, reusing the ones already done.

The directory holds

- ``records/NAME.json``  each finished experiment's record (the cache);
- ``figures/NAME/``      its figures (one folder per experiment, so two experiments never
                         overwrite each other's files and a rerun starts from an empty folder);
- ``results.json``       the records of the experiments asked for, in the notes' order;
- ``report.md``, ``report.html``  the reports (:mod:`fovea.lab.report`).

A record is :meth:`Result.to_json` plus ``seed``, ``quick`` and ``error`` (None). An experiment
that raises gets no verdict — one cannot be made up for it: its record has ``verdict`` None,
``error`` the exception's one line and ``traceback`` the whole trace; the run goes on with the
next experiment, and a failed record is never reused from the cache.
"""

from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path

from tqdm import tqdm

from ..backend import manual_seed
from ..errors import CheckpointError
from ..serialization import read_json, write_json
from .record import Context, Result
from .registry import EXPERIMENTS, ordered
from .report import figure_dir, write_reports

RECORDS = "records"
RESULTS = "results.json"


def select(names="all") -> list:
    """The experiments named (``"all"``, or a list of names that may include "all"), in the
    notes' order, each once; ValueError naming the unknown names and the known ones."""
    if isinstance(names, str):
        names = [names]
    names = list(names) or ["all"]
    known = ordered()
    unknown = [n for n in names if n != "all" and n not in EXPERIMENTS]
    if unknown:
        listing = ", ".join(e.name for e in known) or "none registered"
        raise ValueError(f"unknown lab experiment{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)}; known: {listing}")
    if "all" in names:
        return known
    wanted = set(names)
    return [e for e in known if e.name in wanted]


def record_path(out_dir, name: str) -> Path:
    return Path(out_dir) / RECORDS / f"{name}.json"


def _cached(out_dir: Path, name: str, seed: int, quick: bool):
    """The cached record of ``name`` when it was a success with this seed and mode and all its
    figures are on disk; else None (a missing or unreadable record is simply rerun)."""
    path = record_path(out_dir, name)
    if not path.is_file():
        return None
    try:
        rec = read_json(path)
    except CheckpointError:  # a damaged cache entry means: run it again
        return None
    if not isinstance(rec, dict) or rec.get("error") is not None:
        return None
    if (rec.get("name"), rec.get("seed"), rec.get("quick")) != (name, seed, quick):
        return None
    figures = rec.get("figures")
    if not isinstance(figures, list) or not all(
            isinstance(f, str) and (figure_dir(out_dir, name) / f).is_file() for f in figures):
        return None
    return rec


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _run_one(exp, out_dir: Path, seed: int, quick: bool) -> dict:
    figures = figure_dir(out_dir, exp.name)
    if figures.exists():  # stale figures of an earlier run must not pass for this run's
        shutil.rmtree(figures)
    ctx = Context(seed=seed, quick=quick, figure_dir=figures)
    manual_seed(seed)  # the same start whatever ran before, even if the experiment forgets
    start = time.perf_counter()
    try:
        result = exp.run(ctx)
        if not isinstance(result, Result):
            raise TypeError(f"experiment {exp.name} returned {type(result).__name__}, "
                            "not a Result")
        missing = [f for f in result.figures if not (figures / f).is_file()]
        if missing:
            raise FileNotFoundError(f"experiment {exp.name} lists figures it did not save "
                                    f"in {figures}: {', '.join(missing)}")
        result.seconds = time.perf_counter() - start
        return dict(result.to_json(), name=exp.name, seed=seed, quick=quick, error=None)
    except Exception as exc:  # one failure must not end the whole run
        return {"name": exp.name, "section": exp.section, "claim": exp.claim, "method": None,
                "numbers": {}, "figures": [], "verdict": None,
                "seconds": time.perf_counter() - start, "seed": seed, "quick": quick,
                "error": _one_line(exc), "traceback": traceback.format_exc()}


def run(names="all", out_dir="lab", seed: int = 0, quick: bool = False, force: bool = False,
        progress: bool = True) -> list:
    """Run the experiments ``names`` (see :func:`select`) into ``out_dir`` and write
    ``results.json``, ``report.md`` and ``report.html``; returns their records in order.

    An experiment done before with the same seed and mode (its record and figures in
    ``out_dir``) is reused unless ``force``. A failing experiment is recorded with its error
    (``record["error"]``) and the run continues: check the returned records for errors.
    """
    experiments = select(names)
    out_dir = Path(out_dir)
    seed = int(seed)
    quick = bool(quick)
    records = []
    bar = tqdm(experiments, desc="lab", unit="exp", disable=not progress)
    for exp in bar:
        bar.set_postfix_str(exp.name)
        rec = None if force else _cached(out_dir, exp.name, seed, quick)
        if rec is None:
            rec = _run_one(exp, out_dir, seed, quick)
            write_json(record_path(out_dir, exp.name), rec)
        records.append(rec)
    bar.close()
    write_json(out_dir / RESULTS, records)
    write_reports(records, out_dir)
    return records


def failures(records) -> list:
    """The records of experiments that raised."""
    return [r for r in records if r.get("error") is not None]
