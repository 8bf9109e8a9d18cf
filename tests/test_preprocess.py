"""Preprocessing fitted on the training split: centering, standardizing, PCA and ZCA whitening."""

from __future__ import annotations

import numpy as np
import pytest

from fovea.data import load_mnist_mini
from fovea.data import preprocess as prep_mod
from fovea.data.preprocess import (
    PREPROCESSORS,
    Center,
    Identity,
    NotFittedError,
    PCAWhiten,
    PreprocessError,
    Standardize,
    ZCAWhiten,
    from_state,
    load_preprocessor,
    make_preprocessor,
)
from fovea.errors import FoveaError, ShapeError
from fovea.serialization import load_safetensors, read_json, save_safetensors, write_json


def correlated(rng, n, shape=(2, 4, 4), offset=(0.3, -1.0), scale=(0.5, 3.0)):
    """Images with correlated pixels, channel-specific offsets and scales, full-rank covariance."""
    d = int(np.prod(shape))
    mix = 0.5 * rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    x = (rng.standard_normal((n, d)) @ mix).reshape(n, *shape)
    x = x * np.asarray(scale).reshape(1, -1, 1, 1) + np.asarray(offset).reshape(1, -1, 1, 1)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(7)
    data = correlated(rng, 3000)
    return data[:2500], data[2500:]


@pytest.fixture(scope="module")
def mnist():
    images, _ = load_mnist_mini("train")
    return (images[:2000, None] / np.float32(255)).astype(np.float32)


def flat_cov(out):
    z = out.reshape(out.shape[0], -1).astype(np.float64)
    z = z - z.mean(axis=0)
    return z.T @ z / z.shape[0]


# ---- fitted on train, applied to test ----------------------------------------------------
def test_center_uses_train_mean_on_test(split):
    train, test = split
    c = Center().fit(train)
    out = c(test)
    np.testing.assert_allclose(out, test - train.mean(axis=0), atol=1e-5)
    assert not np.allclose(out.mean(axis=0), 0, atol=1e-3)  # not refit on the test split
    np.testing.assert_allclose(c(train).mean(axis=0), 0, atol=1e-5)
    assert c.mean.shape == (2, 4, 4) and c.mean.dtype == np.float32


def test_center_channel_mode(split):
    train, test = split
    c = Center(mode="channel").fit(train)
    assert c.mean.shape == (2,)
    np.testing.assert_allclose(c(train).mean(axis=(0, 2, 3)), 0, atol=1e-5)
    want = test - train.mean(axis=(0, 2, 3), dtype=np.float64).reshape(1, 2, 1, 1)
    np.testing.assert_allclose(c(test), want, atol=1e-5)


def test_standardize_train_stats(split):
    train, test = split
    s = Standardize().fit(train)
    out = s(train)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)
    mean = train.mean(axis=(0, 2, 3), dtype=np.float64).reshape(1, 2, 1, 1)
    std = train.std(axis=(0, 2, 3), dtype=np.float64).reshape(1, 2, 1, 1)
    np.testing.assert_allclose(s(test), (test - mean) / std, rtol=1e-5, atol=1e-5)
    assert s(test).dtype == np.float32
    assert abs(float(s(test).mean()) - float(((test - mean) / std).mean())) < 1e-5


def test_standardize_constant_channel_is_not_divided_by_zero():
    x = np.zeros((5, 2, 3, 3), np.float32)
    x[:, 1] = np.arange(5).reshape(5, 1, 1)
    s = Standardize().fit(x)
    assert s.std[0] == 1 and np.isfinite(s(x)).all()
    np.testing.assert_array_equal(s(x)[:, 0], 0)


def test_fit_on_mnist_standardize_matches_dataset_stats(mnist):
    s = Standardize().fit(mnist)
    assert abs(float(s.mean[0]) - 0.1307) < 0.01 and abs(float(s.std[0]) - 0.3081) < 0.01


def test_chunked_fit_matches_one_chunk(split, monkeypatch):
    train, _ = split
    whole = [make_preprocessor(k).fit(train) for k in ("center", "standardize", "zca")]
    monkeypatch.setattr(prep_mod, "_CHUNK", 7)
    chunked = [make_preprocessor(k).fit(train) for k in ("center", "standardize", "zca")]
    for a, b in zip(whole, chunked):
        for key, arr in a.state().items():
            np.testing.assert_allclose(b.state()[key], arr, rtol=1e-5, atol=1e-6)


# ---- whitening ---------------------------------------------------------------------------
def test_pca_whitened_covariance_is_identity(split):
    train, test = split
    p = PCAWhiten().fit(train)
    out = p(train)
    assert out.shape == (train.shape[0], 32) and out.dtype == np.float32
    lam = p.eigenvalues.astype(np.float64)
    np.testing.assert_allclose(flat_cov(out), np.diag(lam / (lam + 1e-5)), atol=1e-4)
    np.testing.assert_allclose(flat_cov(out), np.eye(32), atol=1e-3)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    assert np.all(np.diff(p.eigenvalues) <= 0)  # descending
    assert p(test).shape == (test.shape[0], 32)


def test_pca_components_keeps_the_top_directions(split):
    train, _ = split
    full = PCAWhiten().fit(train)
    top = PCAWhiten(components=5).fit(train)
    out = top(train)
    assert out.shape == (train.shape[0], 5) and top.output_dim == 5
    np.testing.assert_allclose(flat_cov(out), np.eye(5), atol=2e-4)
    np.testing.assert_allclose(out, full(train)[:, :5], atol=1e-4)  # signs fixed: same axes
    with pytest.raises(ShapeError, match="components=33"):
        PCAWhiten(components=33).fit(train)


def test_pca_covariance_with_eps_is_lambda_over_lambda_plus_eps(split):
    train, _ = split
    eps = 0.5
    p = PCAWhiten(eps=eps).fit(train)
    lam = p.eigenvalues.astype(np.float64)
    np.testing.assert_allclose(np.diag(flat_cov(p(train))), lam / (lam + eps), atol=1e-4)


def test_zca_is_symmetric_whitening_that_keeps_shape(split):
    train, test = split
    z = ZCAWhiten().fit(train)
    np.testing.assert_array_equal(z.matrix, z.matrix.T)
    out = z(train)
    assert out.shape == train.shape and out.dtype == np.float32
    np.testing.assert_allclose(flat_cov(out), np.eye(32), atol=1e-3)
    assert z(test).shape == test.shape


def test_zca_is_pca_rotated_back(split):
    train, test = split
    p, z = PCAWhiten(eps=1e-3).fit(train), ZCAWhiten(eps=1e-3).fit(train)
    u = p.matrix.astype(np.float64) * np.sqrt(p.eigenvalues.astype(np.float64) + 1e-3)
    np.testing.assert_allclose(u.T @ u, np.eye(32), atol=1e-4)
    rotated = p(test).astype(np.float64) @ u.T
    np.testing.assert_allclose(z(test).reshape(len(test), -1), rotated, atol=2e-4)


def test_zca_output_stays_close_to_the_input(mnist):
    z = ZCAWhiten(eps=0.1).fit(mnist)
    x = mnist[:200]
    out = z(x).reshape(200, -1)
    centered = (x - z.mean.reshape(1, 1, 28, 28)).reshape(200, -1)
    corr = [np.corrcoef(a, b)[0, 1] for a, b in zip(centered, out)]
    assert np.mean(corr) > 0.7
    # PCA whitening of the same data is not aligned with the pixels at all
    p = PCAWhiten(eps=0.1).fit(mnist)
    pcorr = [np.corrcoef(a, b)[0, 1] for a, b in zip(centered, p(x))]
    assert abs(np.mean(pcorr)) < 0.3


def test_pca_fit_is_deterministic(split):
    train, _ = split
    a, b = PCAWhiten().fit(train), PCAWhiten().fit(train.copy())
    np.testing.assert_array_equal(a.matrix, b.matrix)


# ---- save and rebuild --------------------------------------------------------------------
@pytest.mark.parametrize("kind,params", [
    ("none", {}), ("center", {}), ("center", {"mode": "channel"}), ("standardize", {}),
    ("pca", {}), ("pca", {"components": 7}), ("zca", {"eps": 0.01}),
])
def test_state_round_trip_gives_identical_outputs(split, tmp_path, kind, params):
    train, test = split
    prep = make_preprocessor(kind, **params).fit(train)
    save_safetensors(prep.state(), tmp_path / "prep.safetensors")
    write_json(tmp_path / "prep.json", prep.to_config())
    config = read_json(tmp_path / "prep.json")
    arrays = load_safetensors(tmp_path / "prep.safetensors")
    again = load_preprocessor(config, arrays)
    assert type(again) is type(prep) and again.to_config() == prep.to_config()
    np.testing.assert_array_equal(again(test), prep(test))
    by_kind = from_state(kind, arrays)
    np.testing.assert_array_equal(by_kind(test), prep(test))
    if kind == "center":
        assert by_kind.mode == prep.mode


def test_load_errors(split):
    train, _ = split
    state = PCAWhiten().fit(train).state()
    with pytest.raises(PreprocessError, match="matrix"):
        load_preprocessor({"kind": "pca"}, {k: v for k, v in state.items() if k != "matrix"})
    with pytest.raises(ShapeError):
        load_preprocessor({"kind": "pca"}, {**state, "mean": state["mean"][:5]})
    with pytest.raises(ShapeError, match="input_shape"):
        load_preprocessor({"kind": "pca", "input_shape": [1, 28, 28]}, state)
    with pytest.raises(PreprocessError, match="kind"):
        load_preprocessor({}, state)


# ---- errors and small cases --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["center", "standardize", "pca", "zca"])
def test_apply_before_fit_raises(kind):
    prep = make_preprocessor(kind)
    with pytest.raises(NotFittedError, match="fitted"):
        prep(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(FoveaError):
        prep.state()


@pytest.mark.parametrize("kind", ["center", "standardize", "pca", "zca"])
def test_shape_mismatch_names_the_shapes(split, kind):
    train, _ = split
    prep = make_preprocessor(kind).fit(train)
    with pytest.raises(ShapeError, match=r"\(2, 4, 4\).*\(3, 1, 4, 4\)"):
        prep(np.zeros((3, 1, 4, 4), np.float32))


def test_factory_and_bad_arguments():
    assert set(PREPROCESSORS) == {"none", "center", "standardize", "pca", "zca"}
    assert isinstance(make_preprocessor("none"), Identity)
    assert make_preprocessor("pca", components=3).components == 3
    with pytest.raises(PreprocessError, match="'whiten'"):
        make_preprocessor("whiten")
    with pytest.raises(PreprocessError, match="bad parameters"):
        make_preprocessor("standardize", eps=1)
    with pytest.raises(PreprocessError):
        Center(mode="pixel")
    with pytest.raises(PreprocessError):
        PCAWhiten(eps=0)
    with pytest.raises(PreprocessError):
        PCAWhiten(components=0)
    with pytest.raises(ShapeError):
        Center().fit(np.zeros((0, 1, 2, 2), np.float32))
    assert issubclass(PreprocessError, ValueError) and issubclass(PreprocessError, FoveaError)


def test_identity_and_dtypes(split):
    train, _ = split
    ident = make_preprocessor("none").fit(train)
    assert ident(train) is train and ident.state() == {}
    out = Standardize().fit(train.astype(np.float64))(train.astype(np.float64))
    assert out.dtype == np.float32
