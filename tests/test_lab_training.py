"""fovea.lab.training: each chapter-3 experiment in quick mode points the way its claim says,
and is the same for the same seed."""

import pytest

from fovea.lab import EXPERIMENTS, VERDICTS, Context


def run(name, tmp_path, seed=0):
    return EXPERIMENTS[name].run(Context(seed, True, tmp_path))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = run(name, tmp_path_factory.mktemp(name))
        return cache[name]
    return get


def check_record(result):
    assert result.verdict.startswith(VERDICTS)
    assert result.figures and result.claim and result.method
    assert all(isinstance(v, (int, float, str)) for v in result.numbers.values())


def test_sigmoid_saturation(results):
    r = results("sigmoid_saturation")
    check_record(r)
    n = r.numbers
    assert n["dsigma(10) autograd"] < 1e-4 and n["dsigma(-10) autograd"] < 1e-4
    assert n["dsigma(0) autograd"] == pytest.approx(0.25)
    assert n["sigma(10)"] > 0.9999  # the notes say ≈ 0
    assert r.verdict.startswith("the notes slip")
    # the sigmoid net's first-layer gradient is orders of magnitude below the ReLU net's
    assert n["sigmoid/relu first-layer grad norm at init"] < 1e-2
    assert n["sigmoid init: first/last"] < 1e-2 < n["relu init: first/last"]


def test_init_activations(results):
    r = results("init_activations")
    check_record(r)
    n = r.numbers
    for act in ("tanh", "relu"):
        assert n[f"{act} std 0.01: std layer 10"] < 1e-5 * n[f"{act} std 0.01: std layer 1"]
    assert n["relu std 1.0: std layer 10"] > 1e6
    assert n["tanh std 1.0: saturated fraction (|a|>0.99) at layer 10"] > 0.5
    assert 0.5 < n["relu He: std layer 10 / layer 1"] < 2


def test_dropout_expectation(results):
    r = results("dropout_expectation")
    check_record(r)
    n = r.numbers
    one = "one dropout layer"
    # the Monte-Carlo mean approaches the eval output, about as 1/sqrt(K)
    assert n[f"{one}: RMS error K=256"] < n[f"{one}: RMS error K=1"] / 8
    assert -0.7 < n[f"{one}: log-log slope of error vs K"] < -0.3
    assert n["two dropout layers: RMS error K=256"] < n["two dropout layers: RMS error K=1"]
    assert n[f"{one}: argmax agreement MC(K=256) vs eval"] > 0.95
    assert n["rewritten scale-at-test: prediction agreement"] == 1.0
    assert n["rewritten scale-at-test: max |logit difference| vs inverted"] < 1e-4


def test_batchnorm_stability(results):
    r = results("batchnorm_stability")
    check_record(r)
    n = r.numbers
    assert n["BN: largest stable lr"] > n["plain: largest stable lr"]
    assert n["variance of loss differences, BN / plain"] < 1


def test_same_seed_same_numbers(tmp_path, results):
    for name in ("init_activations", "sigmoid_saturation", "dropout_expectation"):
        assert run(name, tmp_path / "again").numbers == results(name).numbers
