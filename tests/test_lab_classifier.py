"""fovea.lab.classifier (§1.2) and the §3.2 preprocessing experiment: in quick mode each points
the way its claim says, and is the same for the same seed."""

import pytest

from fovea.lab import EXPERIMENTS, VERDICTS, Context

NAMES = ("linear_templates", "viewpoint_generalization", "preprocessing")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab_classifier")
    return {name: EXPERIMENTS[name].run(Context(0, True, out)) for name in NAMES}


def check_record(result, section):
    assert result.section == section
    assert result.verdict.startswith(VERDICTS)
    assert result.figures and result.claim and result.method
    assert all(isinstance(v, (int, float, str)) for v in result.numbers.values())


def test_linear_templates(results):
    r = results["linear_templates"]
    check_record(r, "1.2")
    n = r.numbers
    assert n["test accuracy"] > 0.8
    # most templates resemble their own class's mean image more than any other class's
    assert n["classes whose template matches its own class mean − overall mean best"] >= 8
    assert n["classes whose template matches its own class mean best"] >= 7
    own = [n[f"{k}: corr with own class mean − overall mean"] for k in range(10)]
    other = [n[f"{k}: corr with best other (class mean − overall mean)"] for k in range(10)]
    assert sum(o > b for o, b in zip(own, other)) >= 8


def test_viewpoint_generalization(results):
    r = results["viewpoint_generalization"]
    check_record(r, "1.2")
    n = r.numbers
    for m in ("linear", "LeNet-5"):
        assert n[f"{m}: accuracy at shift 0px"] > 0.8
        assert n[f"{m}: accuracy at shift 4px"] < n[f"{m}: accuracy at shift 0px"]
    # the linear classifier loses more than LeNet-5 when the digit moves by 3 pixels
    assert n["linear: drop at 3 px"] > n["LeNet-5: drop at 3 px"]
    assert n["linear: relative accuracy at 3 px"] < n["LeNet-5: relative accuracy at 3 px"]
    assert n["linear: drop at 30°"] > 0


def test_preprocessing(results):
    r = results["preprocessing"]
    check_record(r, "3.2")
    n = r.numbers
    key = "training loss after 100 steps, best lr"
    for kind in ("centred", "standardized"):
        assert n[f"{kind}: {key}"] < n[f"raw [0, 1]: {key}"]
    assert (n["standardized lr=0.03: training loss after 100 steps"]
            < n["raw [0, 1] lr=0.03: training loss after 100 steps"])
    assert n["standardized: steps to loss 0.5, best lr"] <= n["raw [0, 1]: steps to loss 0.5, best lr"]


def test_same_seed_same_numbers(tmp_path, results):
    again = EXPERIMENTS["linear_templates"].run(Context(0, True, tmp_path))
    assert again.numbers == results["linear_templates"].numbers
