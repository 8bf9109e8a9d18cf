"""The lab's runner, cache, reports and CLI, on fake experiments registered for the test (each
draws a tiny figure): results.json's records, report.html parsed (every figure embedded, a
table-of-contents link per experiment, text escaped), report.md's figure links, the cache and
--force, the same records for the same seed, and a failing experiment that the run reports."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from helpers import fovea_in_process as fovea

from fovea.lab import EXPERIMENTS, VERDICTS, Result, experiment
from fovea.lab.runner import RESULTS, failures, run

CLAIM = 'the fake "claim" <holds> & more'
GOOD = ["_lab_fake_first", "_lab_fake_second"]
FAILING = "_lab_fake_fails"
CALLS: dict = {}


def _figure(path, values):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=20)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot(values)
    fig.savefig(path, format="png")


@pytest.fixture
def fakes():
    """Three experiments, registered out of the notes' order; removed afterwards."""
    CALLS.clear()

    @experiment("3.2", CLAIM, seconds_full=60, seconds_quick=1)
    def _lab_fake_second(ctx):
        CALLS["_lab_fake_second"] = CALLS.get("_lab_fake_second", 0) + 1
        rng = np.random.default_rng(ctx.seed)
        values = rng.normal(size=5)
        _figure(ctx.figure_path("values.png"), values)
        _figure(ctx.figure_path("sorted.png"), np.sort(values))
        return Result("_lab_fake_second", "3.2", CLAIM, "five normal draws | a pipe",
                      numbers={"mean": float(values.mean()), "n": 5, "kind": "a<b>"},
                      figures=["values.png", "sorted.png"],
                      verdict="holds partly: the mean of five draws is near zero")

    @experiment("1.1", "the first claim", seconds_full=120, seconds_quick=2)
    def _lab_fake_first(ctx):
        CALLS["_lab_fake_first"] = CALLS.get("_lab_fake_first", 0) + 1
        rng = np.random.default_rng(ctx.seed + 1)
        _figure(ctx.figure_path("line.png"), rng.uniform(size=3))
        return Result("_lab_fake_first", "1.1", "the first claim", "uniform draws",
                      numbers={"max": float(rng.uniform()), "quick": int(ctx.quick)},
                      figures=["line.png"], verdict="holds: it is one")

    @experiment("2.1", "a claim that cannot be checked", seconds_full=1, seconds_quick=1)
    def _lab_fake_fails(ctx):
        CALLS["_lab_fake_fails"] = CALLS.get("_lab_fake_fails", 0) + 1
        raise RuntimeError("boom\nsecond line")

    yield
    for name in GOOD + [FAILING]:
        EXPERIMENTS.pop(name, None)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.ids, self.text, self.tags = [], [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if "id" in attrs:
            self.ids.add(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_run_writes_records_results_and_both_reports(fakes, tmp_path):
    records = run(["_lab_fake_second", "_lab_fake_first"], tmp_path, seed=3, quick=True,
                  progress=False)
    saved = json.loads((tmp_path / RESULTS).read_text())
    assert [r["name"] for r in saved] == GOOD  # the notes' order, not the order asked
    assert saved == json.loads(json.dumps(records))
    for rec in saved:
        assert set(rec) >= {"name", "section", "claim", "method", "numbers", "figures",
                            "verdict", "seconds", "seed", "quick", "error"}
        assert rec["error"] is None and rec["verdict"].startswith(VERDICTS)
        assert rec["seed"] == 3 and rec["quick"] is True and rec["seconds"] > 0
        assert (tmp_path / "records" / f"{rec['name']}.json").is_file()

    page = _parse(tmp_path / "report.html")
    embedded = {img["alt"]: img["src"] for img in page.images}
    assert sorted(embedded) == ["line.png", "sorted.png", "values.png"]
    for rec in saved:
        for fig in rec["figures"]:
            prefix = "data:image/png;base64,"
            assert embedded[fig].startswith(prefix)
            assert base64.b64decode(embedded[fig][len(prefix):]) == (
                tmp_path / "figures" / rec["name"] / fig).read_bytes()
        assert f"#exp-{rec['name']}" in page.links and f"exp-{rec['name']}" in page.ids
    assert all(link.startswith("#") for link in page.links)  # self-contained: nothing outside
    assert not {"link", "script"} & set(page.tags)
    text = "".join(page.text)
    assert CLAIM in text and "a<b>" in text  # escaped in the file, the same text once parsed
    assert CLAIM not in (tmp_path / "report.html").read_text()
    assert text.index("Summary") < text.index("Contents") < text.index("five normal draws")

    md = (tmp_path / "report.md").read_text()
    for rec in saved:
        assert f"[{rec['name']}](#{rec['name']})" in md  # in the summary table
        for fig in rec["figures"]:
            link = f"figures/{rec['name']}/{fig}"
            assert f"![{fig}]({link})" in md and (tmp_path / link).is_file()
    assert "holds partly: the mean" in md and "**Method.** five normal draws | a pipe" in md


def test_the_cache_skips_finished_experiments_and_force_reruns(fakes, tmp_path):
    run(GOOD, tmp_path, quick=True, progress=False)
    assert CALLS == {"_lab_fake_first": 1, "_lab_fake_second": 1}
    first = json.loads((tmp_path / RESULTS).read_text())
    run(GOOD, tmp_path, quick=True, progress=False)
    assert CALLS == {"_lab_fake_first": 1, "_lab_fake_second": 1}
    assert json.loads((tmp_path / RESULTS).read_text()) == first  # seconds kept as well
    run(GOOD, tmp_path, quick=True, force=True, progress=False)
    assert CALLS == {"_lab_fake_first": 2, "_lab_fake_second": 2}
    # another seed or mode, or a lost figure, is not the same result
    run(GOOD, tmp_path, quick=False, progress=False)
    assert CALLS == {"_lab_fake_first": 3, "_lab_fake_second": 3}
    (tmp_path / "figures" / "_lab_fake_second" / "sorted.png").unlink()
    run(GOOD, tmp_path, quick=False, progress=False)
    assert CALLS == {"_lab_fake_first": 3, "_lab_fake_second": 4}
    (tmp_path / "records" / "_lab_fake_first.json").write_text("{not json")
    run(GOOD, tmp_path, quick=False, progress=False)
    assert CALLS == {"_lab_fake_first": 4, "_lab_fake_second": 4}


def test_the_same_seed_gives_the_same_records(fakes, tmp_path):
    def without_seconds(records):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    a = run(GOOD, tmp_path / "a", seed=7, progress=False)
    b = run(GOOD, tmp_path / "b", seed=7, progress=False)
    c = run(GOOD, tmp_path / "c", seed=8, progress=False)
    assert without_seconds(a) == without_seconds(b)
    assert a[1]["numbers"] != c[1]["numbers"]


def test_a_failing_experiment_is_reported_and_the_run_goes_on(fakes, tmp_path):
    records = run([FAILING, "_lab_fake_first"], tmp_path, progress=False)
    assert [r["name"] for r in records] == ["_lab_fake_first", FAILING]
    ok, bad = records
    assert ok["error"] is None and ok["verdict"].startswith("holds")
    assert bad["verdict"] is None and bad["error"] == "RuntimeError: boom"
    assert "Traceback" in bad["traceback"] and failures(records) == [bad]
    assert "failed: RuntimeError: boom" in (tmp_path / "report.md").read_text()
    assert "failed: RuntimeError: boom" in "".join(_parse(tmp_path / "report.html").text)
    run([FAILING, "_lab_fake_first"], tmp_path, progress=False)  # a failure is never cached
    assert CALLS == {"_lab_fake_first": 1, FAILING: 2}


def test_a_result_naming_a_figure_it_did_not_save_fails(tmp_path):
    @experiment("9.9", "claims a figure", seconds_full=1, seconds_quick=1)
    def _lab_fake_no_figure(ctx):
        return Result("_lab_fake_no_figure", "9.9", "claims a figure", "none",
                      figures=["missing.png"], verdict="holds: trust me")

    try:
        [rec] = run(["_lab_fake_no_figure"], tmp_path, progress=False)
    finally:
        EXPERIMENTS.pop("_lab_fake_no_figure")
    assert rec["verdict"] is None and "missing.png" in rec["error"]


def test_unknown_names_are_listed_with_the_known_ones(fakes, tmp_path):
    with pytest.raises(ValueError, match=r"unknown lab experiments nope, nada; known: .*"
                                         r"_lab_fake_first, .*_lab_fake_second"):
        run(["nope", "_lab_fake_first", "nada"], tmp_path, progress=False)
    assert not (tmp_path / RESULTS).exists()


def assert_one_line_error(code, err, *words):
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0], err
    assert all(w in lines[0] for w in words), err


def test_cli_list_run_and_show(fakes, capsys, tmp_path):
    # in-process (not a subprocess): the fake experiments are registered in this process
    code, out, _ = fovea(capsys, "lab", "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "1.1" in rows["_lab_fake_first"] and "2.0 min" in rows["_lab_fake_first"]
    assert "the first claim" in rows["_lab_fake_first"]
    assert out.index("_lab_fake_first") < out.index("_lab_fake_fails") < out.index(
        "_lab_fake_second")

    out_dir = tmp_path / "lab"
    code, out, err = fovea(capsys, "lab", "run", *GOOD, "--quick", "--out", out_dir,
                           "--seed", 2, "--quiet")
    assert code == 0, err
    assert "holds partly" in out and str(out_dir / "report.html") in out
    assert [r["seed"] for r in json.loads((out_dir / RESULTS).read_text())] == [2, 2]
    code, out, err = fovea(capsys, "lab", "run", *GOOD, "--quick", "--out", out_dir,
                           "--seed", 2, "--quiet", "--force")
    assert code == 0 and CALLS == {"_lab_fake_first": 2, "_lab_fake_second": 2}

    code, out, err = fovea(capsys, "lab", "show", out_dir)
    assert code == 0, err
    assert "_lab_fake_first" in out and "holds: it is one" in out

    code, out, err = fovea(capsys, "lab", "run", FAILING, "--out", out_dir, "--quiet")
    assert code == 1 and "Traceback" not in err and FAILING in err
    assert "failed: RuntimeError: boom" in out


@pytest.mark.parametrize("args, words", [
    (("lab", "run", "nope", "--quiet"), ("unknown lab experiment nope", "known:")),
    (("lab", "run", "--seed", "-1"), ("--seed",)),
    (("lab",), ("required",)),
])
def test_cli_bad_input_is_one_line(fakes, capsys, tmp_path, args, words):
    code, _, err = fovea(capsys, *args, *(("--out", tmp_path) if "run" in args else ()))
    assert_one_line_error(code, err, *words)


def test_cli_show_names_a_missing_or_corrupt_results_file(capsys, tmp_path):
    code, _, err = fovea(capsys, "lab", "show", tmp_path)
    assert_one_line_error(code, err, str(tmp_path / RESULTS))
    (tmp_path / RESULTS).write_text("[{\"name\": 1")
    code, _, err = fovea(capsys, "lab", "show", tmp_path)
    assert_one_line_error(code, err, str(tmp_path / RESULTS))
    (tmp_path / RESULTS).write_text('{"name": "x"}')
    code, _, err = fovea(capsys, "lab", "show", tmp_path)
    assert_one_line_error(code, err, str(tmp_path / RESULTS), "not a lab results file")
