"""docs/lab/, the checked-in quick report (scripts/build_lab_docs.py): it names every registered
experiment, in the notes' order, and no other; every figure it links exists, every figure there
is linked, and all fit the size budget. The script itself runs on fake experiments: the report
has no times, the same seed writes the same bytes, figures are capped per experiment, scaled
down and stored as palette PNGs, stale files go, and a failing experiment writes nothing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from fovea.lab import EXPERIMENTS, Result, experiment, ordered

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "lab"
SCRIPT = ROOT / "scripts" / "build_lab_docs.py"
REGENERATE = "regenerate it with `python scripts/build_lab_docs.py` and commit docs/lab/"

_spec = importlib.util.spec_from_file_location("build_lab_docs", SCRIPT)
build_lab_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_lab_docs)


def anchors(text: str) -> list:
    return re.findall(r'^<a id="([^"]+)"></a>$', text, re.M)


def figure_links(text: str) -> list:
    return [unquote(m) for m in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)]


def test_docs_lab_lists_every_registered_experiment_in_order():
    listed = anchors((DOCS / "README.md").read_text(encoding="utf-8"))
    registered = [e.name for e in ordered()]
    missing = [n for n in registered if n not in listed]
    assert not missing, (f"docs/lab/README.md lacks the experiment(s) {', '.join(missing)}; "
                         + REGENERATE)
    gone = [n for n in listed if n not in EXPERIMENTS]
    assert not gone, (f"docs/lab/README.md shows experiment(s) no longer registered: "
                      f"{', '.join(gone)}; " + REGENERATE)
    assert listed == registered, "docs/lab/README.md is out of the notes' order; " + REGENERATE


def test_docs_lab_figures_exist_are_linked_and_fit_the_budget():
    links = figure_links((DOCS / "README.md").read_text(encoding="utf-8"))
    missing = [link for link in links if not (DOCS / link).is_file()]
    assert not missing, f"docs/lab/README.md links missing figures {missing}; " + REGENERATE
    on_disk = {p.relative_to(DOCS).as_posix() for p in (DOCS / "figures").rglob("*")
               if p.is_file()}
    unlinked = sorted(on_disk - set(links))
    assert not unlinked, f"docs/lab/figures holds unlinked files {unlinked}; " + REGENERATE
    total = sum((DOCS / p).stat().st_size for p in on_disk)
    assert total <= build_lab_docs.BUDGET_BYTES


# ---- the script, on fake experiments --------------------------------------------------------
FAKE, FAILING = "_lab_docs_fake", "_lab_docs_fails"


def _figure(path, values, width_in=1.0, dpi=20):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, 1), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot(values)
    fig.savefig(path, format="png")


@pytest.fixture
def fakes():
    @experiment("9.1", "a fake claim", seconds_full=1, seconds_quick=1)
    def _lab_docs_fake(ctx):
        values = np.random.default_rng(ctx.seed).normal(size=6)
        wide = build_lab_docs.MAX_WIDTH + 200
        _figure(ctx.figure_path("wide.png"), values, width_in=wide / 100, dpi=100)
        _figure(ctx.figure_path("second.png"), np.sort(values))
        _figure(ctx.figure_path("third.png"), -values)
        return Result(FAKE, "9.1", "a fake claim", "six normal draws",
                      numbers={"mean": float(values.mean())},
                      figures=["wide.png", "second.png", "third.png"],
                      verdict="holds: it is fake")

    @experiment("9.2", "a claim that cannot be checked", seconds_full=1, seconds_quick=1)
    def _lab_docs_fails(ctx):
        raise RuntimeError("boom")

    yield
    for name in (FAKE, FAILING):
        EXPERIMENTS.pop(name, None)


def test_build_writes_a_timeless_deterministic_report_within_the_budget(fakes, tmp_path):
    docs = tmp_path / "docs"
    stale = docs / "figures" / "removed_experiment" / "old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")

    written = build_lab_docs.build(docs, names=[FAKE], progress=False)
    text = (docs / "README.md").read_text(encoding="utf-8")
    assert not stale.exists()
    assert anchors(text) == [FAKE]
    assert "seed 0" in text and "experiment time" not in text
    assert not re.search(r"^\*[\d.]+ s\*$", text, re.M) and "| s |" not in text
    assert "python scripts/build_lab_docs.py" in text
    limit = build_lab_docs.FIGURES_PER_EXPERIMENT
    assert limit == 2  # the fake's third figure is the one left out
    assert figure_links(text) == [f"figures/{FAKE}/wide.png", f"figures/{FAKE}/second.png"]
    assert "1 more figure in the report of" in text
    assert sorted(written) == sorted(figure_links(text) + ["README.md"])
    for link in figure_links(text):
        with Image.open(docs / link) as im:
            assert im.mode == "P" and im.width <= build_lab_docs.MAX_WIDTH

    first = {p: (docs / p).read_bytes() for p in written}
    build_lab_docs.build(docs, names=[FAKE], progress=False)
    assert {p: (docs / p).read_bytes() for p in written} == first


def test_build_stops_on_a_failing_experiment_and_writes_nothing(fakes, tmp_path):
    docs = tmp_path / "docs"
    with pytest.raises(SystemExit, match=f"{FAILING}: RuntimeError: boom"):
        build_lab_docs.build(docs, names=[FAKE, FAILING], progress=False)
    assert not docs.exists()


def test_build_stops_over_the_budget(fakes, tmp_path, monkeypatch):
    monkeypatch.setattr(build_lab_docs, "BUDGET_BYTES", 10)
    with pytest.raises(SystemExit, match="over the budget of 10"):
        build_lab_docs.build(tmp_path / "docs", names=[FAKE], progress=False)
    assert not (tmp_path / "docs").exists()
