"""Completeness probabilities of CensoredMissingQuantileRegressor: kernel and model.

References: a brute-force Nadaraya-Watson sum in numpy, and an independently
fitted classifier; the weighted fit against scikit-learn's QuantileRegressor.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, QuantileRegressor
from sklearn.model_selection import GridSearchCV, KFold

from statopt import CensoredMissingQuantileRegressor
from statopt.survival import bandwidth_rule, kernel_propensity


def diabetes_with_holes(seed=0):
    """Diabetes data; bmi (column 2) missing at random given the response and age."""
    X, y = load_diabetes(return_X_y=True)
    X = X * 10  # roughly unit scale
    rng = np.random.RandomState(seed)
    logit = 1.0 + (y - y.mean()) / y.std() - 2 * X[:, 0]
    holes = rng.uniform(size=y.size) > 1 / (1 + np.exp(-logit))
    X = X.copy()
    X[holes, 2] = np.nan
    return X, y, ~holes


def pinball_objective(X, y, coef, intercept, weights, q):
    r = y - X @ coef - intercept
    return np.sum(weights * np.maximum(q * r, (q - 1) * r))


def brute_force_sums(Z, h):
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    u = (Z[:, None, :] - Z[None, :, :]) / h
    return np.exp(-0.5 * (u**2).sum(axis=2))


def test_kernel_weights_equal_brute_force_on_real_data():
    X, y, complete = diabetes_with_holes()
    model = CensoredMissingQuantileRegressor(quantile=0.5, min_propensity=1e-6,
                                             propensity_features=[0, 3])
    model.fit(X, y)
    # Response, age and blood pressure: 3 conditioning variables, exact sums.
    kernel = brute_force_sums(np.column_stack([y, X[:, [0, 3]]]),
                              bandwidth_rule(y.size, 3))
    expected = kernel @ complete / kernel.sum(axis=1)
    assert_allclose(model.propensity_, np.maximum(expected, 1e-6), rtol=1e-9)
    assert_allclose(model.weights_, complete / model.propensity_)


def test_many_conditioning_columns_project_when_the_product_kernel_degenerates():
    X, y, complete = diabetes_with_holes()
    model = CensoredMissingQuantileRegressor(min_propensity=1e-6).fit(X, y)
    # Every column but bmi, plus the response: 10 conditioning variables, where
    # the product kernel gives most rows more weight than all their neighbours.
    Z = np.column_stack([y, np.delete(X, 2, axis=1)])
    kernel = brute_force_sums(Z, bandwidth_rule(y.size, Z.shape[1]))
    assert np.median(kernel.sum(axis=1)) < 2
    exact = kernel @ complete / kernel.sum(axis=1)
    assert np.abs(exact - complete).mean() < 0.15  # close to the indicator
    assert_allclose(model.propensity_, kernel_propensity(
        complete, Z, method="projected", min_probability=1e-6))
    assert np.abs(model.propensity_ - complete).mean() > 0.2


@pytest.mark.parametrize("q", [0.25, 0.5, 0.75])
def test_propensity_model_weights_and_fit_match_references(q):
    X, y, complete = diabetes_with_holes(1)
    classifier = LogisticRegression(C=0.5)
    model = CensoredMissingQuantileRegressor(quantile=q, propensity_model=classifier)
    model.fit(X, y)
    Z = np.column_stack([y, np.delete(X, 2, axis=1)])
    reference = LogisticRegression(C=0.5).fit(Z, complete)
    p = np.maximum(reference.predict_proba(Z)[:, 1], 0.01)
    assert_allclose(model.propensity_, p, rtol=1e-12)
    assert model.propensity_model_ is not classifier  # a fitted clone
    weights = complete / p
    rows = complete
    sk = QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(
        X[rows], y[rows], sample_weight=weights[rows])
    ours = pinball_objective(X[rows], y[rows], model.coef_, model.intercept_,
                             weights[rows], q)
    theirs = pinball_objective(X[rows], y[rows], sk.coef_, sk.intercept_,
                               weights[rows], q)
    assert_allclose(ours, theirs, rtol=1e-9)


def test_propensity_model_in_grid_search_and_clone():
    X, y, _ = diabetes_with_holes(2)
    base = CensoredMissingQuantileRegressor(
        propensity_model=HistGradientBoostingClassifier(max_iter=20, random_state=0))
    copy = clone(base)
    assert copy.propensity_model is not base.propensity_model
    assert copy.get_params()["propensity_model__max_iter"] == 20
    search = GridSearchCV(
        base, {"propensity_model__max_depth": [2, 3], "quantile": [0.5]},
        cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X, y)
    assert set(search.cv_results_["param_propensity_model__max_depth"]) == {2, 3}
    best = search.best_estimator_
    assert best.propensity_model_.max_depth == search.best_params_[
        "propensity_model__max_depth"]
    assert np.all((best.propensity_ >= 0.01) & (best.propensity_ <= 1))


def test_propensity_features_by_name_or_index():
    X, y, _ = diabetes_with_holes(3)
    names = [f"x{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    by_name = CensoredMissingQuantileRegressor(
        propensity_features=["x0", "x3"]).fit(frame, y)
    by_index = CensoredMissingQuantileRegressor(propensity_features=[0, 3]).fit(X, y)
    assert_allclose(by_name.propensity_, by_index.propensity_, rtol=1e-12)
    assert_allclose(by_name.coef_, by_index.coef_, rtol=1e-9, atol=1e-9)
    single = CensoredMissingQuantileRegressor(propensity_features="x0").fit(frame, y)
    assert_allclose(
        single.propensity_,
        CensoredMissingQuantileRegressor(propensity_features=[0]).fit(X, y)
        .propensity_, rtol=1e-12)


@pytest.mark.parametrize(
    "features, data, error, match",
    [
        (["a"], "array", TypeError, "X has none"),
        (["a"], "frame", ValueError, r"does not\s+have"),
        ([0.5], "array", TypeError, "indices"),
        ([True], "array", TypeError, "indices"),
        ([99], "array", ValueError, "must index"),
        ([2], "frame", ValueError, "without NaN"),
    ],
)
def test_bad_propensity_features(features, data, error, match):
    X, y, _ = diabetes_with_holes(4)
    if data == "frame":
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        features = [f"x{f}" if isinstance(f, int) else f for f in features]
    with pytest.raises(error, match=match):
        CensoredMissingQuantileRegressor(propensity_features=features).fit(X, y)


def test_bad_propensity_model():
    X, y, _ = diabetes_with_holes(5)
    with pytest.raises(ValueError, match="'propensity_model' parameter"):
        CensoredMissingQuantileRegressor(propensity_model="hgb").fit(X, y)

    class Broken(LogisticRegression):
        def __init__(self, max_iter=5000):
            super().__init__(max_iter=max_iter)

        def predict_proba(self, X):
            return np.full((X.shape[0], 2), np.nan)

    with pytest.raises(ValueError, match="finite probabilities"):
        CensoredMissingQuantileRegressor(propensity_model=Broken()).fit(X, y)


feature_values = st.one_of(
    st.integers(-3, 12), st.sampled_from(["x0", "x3", "bmi", "", "x2"]),
    st.floats(allow_nan=True), st.booleans(), st.none(),
)


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(st.lists(feature_values, max_size=3), feature_values,
              st.lists(st.lists(st.integers(0, 9), max_size=2), max_size=2)),
    st.booleans(),
)
def test_any_propensity_features_fit_or_fail_cleanly(features, frame):
    X, y, _ = diabetes_with_holes(6)
    if frame:
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    model = CensoredMissingQuantileRegressor(propensity_features=features)
    try:
        model.fit(X, y)
    except (ValueError, TypeError):
        return
    assert np.isfinite(model.coef_).all()
    assert np.all((model.propensity_ >= 0.01) & (model.propensity_ <= 1))
