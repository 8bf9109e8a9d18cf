"""fovea.lab.ensembles: in quick mode the ensemble of averaged predictions beats its members, by
more where they are weak; averaging independently trained nets' parameters breaks them, while
averaging along one run or from a shared start does not; the same seed gives the same numbers."""

import pytest
import test_lab_training

# the cached quick-mode runs and the record's checks
run, results, check_record = (test_lab_training.run, test_lab_training.results,
                              test_lab_training.check_record)


def test_ensembles(results):
    r = results("ensembles")
    check_record(r)
    n = r.numbers
    for tag in ("strong", "weak"):
        single = n[f"{tag}: mean member accuracy"]
        # one member is a member: averaged over orderings, exactly the members' mean
        assert n[f"{tag}: ensemble of 1, mean probabilities"] == pytest.approx(single)
        assert n[f"{tag}: gain at k=10 (points)"] > n[f"{tag}: gain at k=2 (points)"] > 0.1
        assert n[f"{tag}: ensemble of 10, mean probabilities"] > n[f"{tag}: best member"]
        assert n[f"{tag}: vote gain at k=10 (points)"] > 0.1
    assert 90 < 100 * n["weak: mean member accuracy"] < 100 * n["strong: mean member accuracy"]
    # ~2 points where the members are weak, well under it where they are strong
    assert 1.2 < n["weak: gain at k=10 (points)"] < 4
    assert n["strong: gain at k=10 (points)"] < 1.5
    assert n["weak: gain at k=10 (points)"] > n["strong: gain at k=10 (points)"] + 0.8
    assert r.verdict.startswith("holds partly") and "weak regime only" in r.verdict


def test_parameter_averaging(results):
    r = results("parameter_averaging")
    check_record(r)
    n = r.numbers
    single = n["independent: mean member accuracy"]
    assert single > 0.9
    # independent nets: the averaged parameters fall towards chance, the averaged predictions
    # beat the members
    assert n["independent: parameters of 4 averaged"] < 0.4
    assert n["independent: parameters of 2 averaged"] < single - 0.04
    assert n["independent: lowest accuracy between two members"] < single - 0.04
    assert n["independent: predictions of 4 averaged"] > single + 0.003
    # a shared start or init, and one run: averaging parameters keeps (or gains) accuracy
    for tag in ("shared start", "shared init"):
        assert n[f"{tag}: parameters of 4 averaged"] > n[f"{tag}: mean member accuracy"] - 0.005
        assert n[f"{tag}: lowest accuracy between two members"] > single - 0.02
    assert n["one run: EMA of the weights"] > n["one run: final weights"] - 0.002
    assert n["one run: mean of the last 5 checkpoints"] > n["one run: final weights"] - 0.002
    assert r.verdict.startswith("the notes slip")


def test_same_seed_same_numbers(tmp_path, results):
    for name in ("parameter_averaging", "ensembles"):
        assert run(name, tmp_path / "again").numbers == results(name).numbers
