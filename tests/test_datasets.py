"""Simulators and loaders of statopt.datasets."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.io import savemat
from sklearn.linear_model import LogisticRegression

from statopt.datasets import (
    _loaders,
    get_data_home,
    load_lung200,
    load_mnist_0_vs_6,
    load_wikipedia_crossmodal,
    make_censored_quantile_data,
    make_correlated_logistic,
    make_cross_modal_data,
    make_sparse_svd_data,
)


def test_correlated_logistic_follows_the_model():
    X, y, coef = make_correlated_logistic(40_000, 4, rho=0.3, random_state=0)
    assert X.shape == (40_000, 4) and coef.shape == (5,)
    assert set(np.unique(y)) == {0, 1}
    assert np.all(np.abs(coef) <= 1)
    covariance = np.cov(X, rowvar=False)
    expected = 0.7 * np.eye(4) + 0.3
    assert_allclose(covariance, expected, atol=0.03)
    # The maximum-likelihood fit recovers the simulated parameters.
    fit = LogisticRegression(C=np.inf, tol=1e-10).fit(X, y)
    assert_allclose(np.r_[fit.intercept_, fit.coef_.ravel()], coef, atol=0.06)


def test_correlated_logistic_is_reproducible():
    first = make_correlated_logistic(50, 3, random_state=5)
    second = make_correlated_logistic(50, 3, random_state=5)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="rho"):
        make_correlated_logistic(50, 3, rho=1.0)


def test_missing_data_home_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="STATOPT_DATA_HOME"):
        load_mnist_0_vs_6(tmp_path)


def test_data_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STATOPT_DATA_HOME", str(tmp_path))
    assert get_data_home() == tmp_path


def test_mnist_0_vs_6_loader():
    home = get_data_home()
    if not (home / "mnist5k" / "mnist_5k.csv.gz").is_file():
        pytest.skip(f"MNIST subset not found under {home}")
    X, y = load_mnist_0_vs_6()
    assert X.shape == (1000, 784)
    assert np.bincount(y).tolist()[0] == 500 and np.sum(y == 6) == 500
    assert X.min() == 0.0 and X.max() == 1.0
    raw, _ = load_mnist_0_vs_6(scale=False)
    assert_allclose(raw / 255.0, X)


def test_data_home_rejects_what_is_not_a_path():
    with pytest.raises(TypeError, match="data_home"):
        get_data_home(5)


def test_empty_environment_variable_means_the_default(monkeypatch):
    monkeypatch.setenv("STATOPT_DATA_HOME", "")
    default = get_data_home()
    monkeypatch.delenv("STATOPT_DATA_HOME")
    assert get_data_home() == default != Path("")


def test_default_data_home_inside_and_outside_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("STATOPT_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "shared" / "data").mkdir(parents=True)
    for tree in ("site-packages", "checkout"):
        (tmp_path / tree / "statopt" / "datasets").mkdir(parents=True)
    (tmp_path / "checkout" / "setup.cfg").write_text("[metadata]\n")

    def data_home_seen_from(tree):
        monkeypatch.setattr(_loaders, "__file__", str(
            tmp_path / tree / "statopt" / "datasets" / "_loaders.py"))
        return get_data_home()

    # An installed copy (no setup.cfg above the package) never looks beside
    # site-packages: ~/statopt_data, as scikit-learn defaults to ~/scikit_learn_data.
    assert data_home_seen_from("site-packages") == tmp_path / "home" / "statopt_data"
    # A source checkout uses ../shared/data when it exists, else the user folder.
    assert data_home_seen_from("checkout") == tmp_path / "shared" / "data"
    (tmp_path / "shared" / "data").rmdir()
    assert data_home_seen_from("checkout") == tmp_path / "home" / "statopt_data"


@pytest.mark.parametrize("content", [
    b"not gzip at all",
    gzip.compress(b"1,2,3\n" * 50)[:40],  # truncated stream
    gzip.compress(b"1,2,x\n4,5,6\n"),  # not numbers
    gzip.compress(b"1,2,3\n4,5\n"),  # ragged rows
])
def test_damaged_mnist_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "mnist5k").mkdir()
    (tmp_path / "mnist5k" / "mnist_5k.csv.gz").write_bytes(content)
    with pytest.raises(ValueError, match="mnist_5k.csv.gz"):
        load_mnist_0_vs_6(tmp_path)


@pytest.mark.parametrize("body", ["", "g1,1.0\n", "g1," + ",".join(["x"] * 56) + "\n"])
def test_damaged_lung_file_is_a_clear_error(tmp_path, body):
    (tmp_path / "lung200").mkdir()
    header = "probe," + ",".join(["Normal"] * 56) + "\n"
    (tmp_path / "lung200" / "lung200.csv").write_text(header + body * 200)
    with pytest.raises(ValueError, match="lung200.csv"):
        load_lung200(tmp_path)


def _fake_wikipedia(folder, features=b"MATLAB 5.0 MAT-file, damaged"):
    folder.mkdir()
    (folder / "raw_features.mat").write_bytes(features)
    (folder / "categories.list").write_text("\n".join(f"c{k}" for k in range(10)))
    for name in ("trainset", "testset"):
        (folder / f"{name}_txt_img_cat.list").write_text("t\ti\t1\n")


def test_damaged_wikipedia_files_are_clear_errors(tmp_path):
    folder = tmp_path / "wikipedia_crossmodal"
    _fake_wikipedia(folder)
    with pytest.raises(ValueError, match="raw_features.mat could not be read"):
        load_wikipedia_crossmodal(tmp_path)
    (folder / "SHA256SUMS").write_text("only-one-field\n")
    with pytest.raises(ValueError, match="SHA256SUMS should hold"):
        load_wikipedia_crossmodal(tmp_path)
    (folder / "SHA256SUMS").unlink()
    # A readable MATLAB file whose lists disagree with it.
    features = {"I_tr": np.ones((1, 128)), "T_tr": np.ones((1, 10)),
                "I_te": np.ones((1, 128)), "T_te": np.ones((1, 10))}
    savemat(folder / "raw_features.mat", features)
    (folder / "testset_txt_img_cat.list").write_text("t\ti\tbiology\n")
    with pytest.raises(ValueError, match="testset_txt_img_cat.list could not be read"):
        load_wikipedia_crossmodal(tmp_path)
    del features["T_te"]
    savemat(folder / "raw_features.mat", features)
    with pytest.raises(ValueError, match="T_te"):
        load_wikipedia_crossmodal(tmp_path)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400), compress=st.booleans())
def test_any_damaged_data_file_is_a_value_error(tmp_path, content, compress):
    for folder in ("mnist5k", "lung200"):
        (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / "mnist5k" / "mnist_5k.csv.gz").write_bytes(
        gzip.compress(content) if compress else content)
    (tmp_path / "lung200" / "lung200.csv").write_bytes(content)
    for load in (load_mnist_0_vs_6, load_lung200):
        with pytest.raises(ValueError):
            load(tmp_path)


@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.integers(), st.floats(), st.lists(st.text(max_size=3)),
                       st.binary(max_size=5), st.booleans()))
def test_data_home_is_a_path_or_a_type_error(value):
    with pytest.raises(TypeError, match="data_home"):
        get_data_home(value)


_ANY_NUMBER = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True,
                                                          allow_infinity=True),
                        st.booleans(), st.none(), st.text(max_size=2))


@settings(max_examples=60, deadline=None)
@given(n_samples=_ANY_NUMBER, n_features=_ANY_NUMBER, rho=_ANY_NUMBER)
def test_correlated_logistic_on_any_arguments(n_samples, n_features, rho):
    valid = (isinstance(n_samples, int) and not isinstance(n_samples, bool)
             and isinstance(n_features, int) and not isinstance(n_features, bool)
             and isinstance(rho, (int, float)) and not isinstance(rho, bool)
             and 1 <= n_samples <= 2000 and 1 <= n_features <= 50 and 0 <= rho < 1)
    if not valid:
        if (isinstance(n_samples, int) and isinstance(n_features, int)
                and n_samples * n_features > 10**5):
            return  # valid but large: not a property of bad input
        with pytest.raises((TypeError, ValueError)):
            make_correlated_logistic(n_samples, n_features, rho=rho, random_state=0)
        return
    X, y, coef = make_correlated_logistic(n_samples, n_features, rho=rho,
                                          random_state=0)
    assert X.shape == (n_samples, n_features) and y.shape == (n_samples,)
    assert np.isfinite(X).all() and set(np.unique(y)) <= {0, 1}


@settings(max_examples=30, deadline=None)
@given(n_samples=st.integers(2, 300),
       censoring_rate=st.floats(0, 1, exclude_max=True),
       missing_rate=st.floats(0, 1, exclude_max=True),
       censoring=st.sampled_from(["random", "fixed_quantile"]))
def test_censored_quantile_data_on_any_rates(n_samples, censoring_rate, missing_rate,
                                             censoring):
    try:
        X, y, coef = make_censored_quantile_data(
            n_samples, censoring_rate=censoring_rate, missing_rate=missing_rate,
            censoring=censoring, random_state=0)
    except ValueError as error:
        # A small sample may draw no event at all; that target is refused by name.
        assert "censored" in str(error)
        return
    assert X.shape == (n_samples, 2) and y.shape == (n_samples,)
    assert np.isfinite(X[:, 0]).all() and np.isfinite(y["time"]).all()
    assert not np.isinf(X[:, 1]).any()


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(["random", "lshm", "lung"]),
       singular_values=st.one_of(
           st.none(), st.lists(st.floats(allow_nan=True, allow_infinity=True),
                               max_size=4)),
       noise=st.floats(0, 1e308), shape=st.one_of(st.none(), st.integers(-1, 60)))
def test_sparse_svd_data_is_finite_or_refused(model, singular_values, noise, shape):
    kwargs = {} if model != "random" or shape is None else dict(
        n_samples=shape, n_features=shape, n_nonzero_left=2, n_nonzero_right=2)
    if model == "lung" and singular_values is None:
        singular_values = [3.0, 2.0, 1.0]  # keep the 12,625 x 56 draw fast enough
    try:
        X, U, d, V = make_sparse_svd_data(model, singular_values=singular_values,
                                          noise=noise, random_state=0, **kwargs)
    except (TypeError, ValueError) as error:
        assert str(error)
        return
    assert np.isfinite(X).all() and X.shape == (U.shape[0], V.shape[0])
    assert_allclose(U.T @ U, np.eye(d.size), atol=1e-12)


def test_cross_modal_views_of_different_widths():
    widths = [240, 216, 64, 76, 47, 6]
    X, y, views, modalities = make_cross_modal_data(
        50, n_views=(3, 3), n_features_per_view=widths, random_state=0)
    assert X.shape == (50, sum(widths))
    assert [len(v) for v in views] == widths
    assert np.array_equal(np.concatenate(views), np.arange(sum(widths)))
    assert modalities == ["image"] * 3 + ["text"] * 3
    # One width for all is the same simulation as that width repeated.
    same = make_cross_modal_data(50, n_features_per_view=7, random_state=0)
    listed = make_cross_modal_data(50, n_features_per_view=[7] * 4, random_state=0)
    np.testing.assert_array_equal(same[0], listed[0])
    for bad in ([7, 7], [7, 0, 7, 7], [7, 1.5, 7, 7], [True, 7, 7, 7]):
        with pytest.raises(ValueError, match="n_features_per_view should be"):
            make_cross_modal_data(50, n_features_per_view=bad)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_cross_modal_widths_property(n_image, n_text, data):
    widths = data.draw(st.lists(st.integers(1, 12), min_size=n_image + n_text,
                                max_size=n_image + n_text))
    X, y, views, modalities = make_cross_modal_data(
        20, n_views=(n_image, n_text), n_features_per_view=widths, random_state=0)
    assert X.shape == (20, sum(widths)) and np.isfinite(X).all()
    assert [len(v) for v in views] == widths
    assert np.array_equal(np.concatenate(views), np.arange(sum(widths)))
    assert modalities == ["image"] * n_image + ["text"] * n_text
    bad = data.draw(st.one_of(
        st.lists(st.integers(1, 5), min_size=1, max_size=8).filter(
            lambda w: len(w) != n_image + n_text),
        st.lists(st.one_of(st.integers(-3, 0), st.floats(0.5, 3), st.booleans()),
                 min_size=n_image + n_text, max_size=n_image + n_text)))
    with pytest.raises(ValueError, match="n_features_per_view should be"):
        make_cross_modal_data(20, n_views=(n_image, n_text), n_features_per_view=bad)
