"""Simulators and loaders of statopt.datasets."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from statopt.datasets import get_data_home, load_mnist_0_vs_6, make_correlated_logistic


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
