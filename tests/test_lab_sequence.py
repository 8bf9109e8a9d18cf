"""fovea.lab.sequence: each chapter-4 experiment in quick mode points the way its claim says,
and its non-timing numbers are the same for the same seed."""

import pytest
import test_lab_training

from fovea.lab import VERDICTS

run, results = test_lab_training.run, test_lab_training.results  # the cached quick-mode runs


def check_record(result):
    assert result.section == "4"
    assert result.verdict.startswith(VERDICTS)
    assert result.figures and result.claim.startswith("## RNNs & Transformers")
    assert "standard course claim" in result.method
    assert all(isinstance(v, (int, float, str)) for v in result.numbers.values())


def test_rnn_vanishing_gradients(results):
    r = results("rnn_vanishing_gradients")
    check_record(r)
    n = r.numbers
    # both decay through time; the vanilla RNN's log gradient falls faster per step
    rnn, lstm = (n[f"{k} init: slope of log10 grad norm per step"] for k in ("RNN", "LSTM"))
    assert rnn < lstm < 0
    assert n["RNN init: grad norm ratio, distance 50 / distance 0"] < 1e-6


def test_rnn_vanishing_gradients_deterministic(results, tmp_path):
    assert run("rnn_vanishing_gradients", tmp_path).numbers == \
        results("rnn_vanishing_gradients").numbers


def test_attention_cost(results, tmp_path):
    r = results("attention_cost")
    check_record(r)
    n = r.numbers
    # memory (exact) rather than the noisy timings: attention's score matrix grows as T²
    assert n["attention: memory exponent"] > 1.5
    assert n["LSTM: memory exponent"] < 1.3
    assert n["attention T=512: peak bytes"] > n["attention T=512: score matrix bytes (heads·T²·4)"]
    # tracemalloc's peak also counts Python's small objects, which vary by some hundred bytes
    again = run("attention_cost", tmp_path).numbers
    memory = {k: v for k, v in n.items() if "seconds" not in k and "time" not in k}
    assert {k: again[k] for k in memory} == pytest.approx(memory, rel=1e-2)
