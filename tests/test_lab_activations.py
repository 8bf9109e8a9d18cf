"""fovea.lab.activations: §3.1's experiments in quick mode point the way the notes say, and
are the same for the same seed."""

import numpy as np
import test_lab_training

from fovea.lab.activations import _one_signed

# the cached quick-mode runs and the record's checks, shared with the other lab tests
run, results = test_lab_training.run, test_lab_training.results
check_record = test_lab_training.check_record


def test_one_signed_ignores_zeros():
    rows = np.array([[1.0, 0.0, 2.0], [-1.0, -3.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    assert _one_signed(rows).tolist() == [True, True, False, False]


def test_not_zero_centred(results):
    r = results("not_zero_centred")
    check_record(r)
    n = r.numbers
    for when in ("init", "trained"):
        # a layer fed by sigmoid outputs: every per-example gradient row has one sign
        assert n[f"sigmoid {when}: per-example rows of one sign"] > 0.95
        assert n[f"tanh {when}: per-example rows of one sign"] < 0.2
        assert n[f"sigmoid − ½ {when}: per-example rows of one sign"] < 0.2
        # the per-example outer products add up to autograd's batch gradient
        for act in ("sigmoid", "sigmoid − ½", "tanh"):
            assert n[f"{act} {when}: max |Σ per-example − autograd ∂L/∂W|"] < 1e-6
        # summing over a batch mixes the signs
        assert (n[f"sigmoid {when}: batch-gradient rows of one sign"]
                < n[f"sigmoid {when}: per-example rows of one sign"])
    for lr in (0.01, 0.03, 0.1):
        raw, centred = f"batch 1 lr={lr:g} raw", f"batch 1 lr={lr:g} centred"
        assert n[f"{raw}: row updates of one sign"] == 1.0
        assert n[f"{centred}: row updates of one sign"] < 0.2
        assert n[f"{raw}: watched pair's moves in ++/−−"] == 1.0
        assert n[f"{centred}: watched pair's moves in ++/−−"] < 0.8
        assert n[f"{raw}: path / displacement"] > n[f"{centred}: path / displacement"]
    # the zig-zag costs steps: raw pixels reach the loss level later at the largest rate
    slow, fast = (n[f"batch 1 lr=0.1 {k}: steps to probe loss 0.5"]
                  for k in ("raw", "centred"))
    assert 0 < fast and (slow < 0 or slow > fast)
    # the sigmoid MLP trains slower than the same MLP with σ − ½ at the larger rates
    for lr in (1, 3):
        slow, fast = (n[f"MLP {feed} lr={lr}: steps to loss 0.5"]
                      for feed in ("sigmoid", "sigmoid − ½"))
        assert 0 < fast and (slow < 0 or slow > fast)
    assert r.verdict.startswith(("holds", "holds partly"))


def test_activation_curves(results):
    r = results("activation_curves")
    check_record(r)
    n = r.numbers
    for setting in ("lr=0.03", "best lr"):
        reach = {a: n[f"{a} {setting}: steps to loss 0.5"] for a in ("sigmoid", "tanh", "relu",
                                                                     "gelu")}
        assert max(reach, key=reach.get) == "sigmoid"  # the sigmoid trains slowest
        for modern in ("relu", "gelu"):
            assert (n[f"{modern} {setting}: test accuracy"]
                    > n[f"sigmoid {setting}: test accuracy"])
            assert (n[f"{modern} {setting}: training loss after 400 steps"]
                    < n[f"sigmoid {setting}: training loss after 400 steps"])
    assert r.verdict.startswith("holds")


def test_same_seed_same_numbers(tmp_path, results):
    for name in ("not_zero_centred", "activation_curves"):
        assert run(name, tmp_path / "again").numbers == results(name).numbers
