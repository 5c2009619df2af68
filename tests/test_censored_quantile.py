"""CensoredMissingQuantileRegressor against exact LP solutions and by design."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import linprog
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import QuantileRegressor
from sklearn.metrics import d2_pinball_score, mean_pinball_loss
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from statopt import CensoredMissingQuantileRegressor
from statopt.datasets import make_censored_quantile_data
from statopt.metrics import d2_ipcw_pinball_score, ipcw_pinball_loss
from statopt.survival import censoring_weights, kernel_propensity, make_survival_target


def heteroscedastic(n, p=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, p))
    y = 1 + X @ rng.uniform(-1, 1, p) + (1 + 0.5 * np.abs(X[:, 0])) * \
        rng.standard_normal(n)
    return X, y


def lp_fit(design, y, q, weights=None):
    """The primal LP solved by HiGHS: min sum w (q u + (1-q) v), design b + u - v = y.

    Returns the coefficients ``b`` and the optimal check loss. The other quantile
    test modules import it: the one reference LP of the suite.
    """
    n, p = design.shape
    weights = np.ones(n) if weights is None else weights
    cost = np.r_[np.zeros(p), q * weights, (1 - q) * weights]
    A = np.hstack([design, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    result = linprog(cost, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    assert result.status == 0
    return result.x[:p], result.fun


def lp_quantile(X, y, q, weights=None):
    """:func:`lp_fit` with an intercept column first."""
    return lp_fit(np.column_stack([np.ones(len(y)), X]), y, q, weights)


def check_objective(model, X, y, q, weights=None):
    weights = np.ones(len(y)) if weights is None else weights
    r = y - model.predict(X)
    return float(weights @ np.where(r >= 0, q * r, (q - 1) * r))


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True])
def test_exact_solution_matches_the_linear_program(q, weighted):
    X, y = heteroscedastic(300, seed=1)
    weights = np.random.RandomState(2).uniform(0.2, 3, 300) if weighted else None
    model = CensoredMissingQuantileRegressor(quantile=q).fit(X, y,
                                                             sample_weight=weights)
    beta, optimum = lp_quantile(X, y, q, weights)
    objective = check_objective(model, X, y, q, weights)
    assert abs(objective - optimum) <= 1e-9 * optimum
    assert_allclose(np.r_[model.intercept_, model.coef_], beta, atol=1e-7)
    assert model.duality_gap_ < 1e-10


@pytest.mark.parametrize("n", [2000, 60_000])
def test_exact_solution_matches_sklearn_highs(n):
    X, y = heteroscedastic(n, p=6, seed=3)
    q = 0.75
    model = CensoredMissingQuantileRegressor(quantile=q, random_state=0).fit(X, y)
    if n > 5000:  # sklearn's HiGHS is slow here: check the certificate instead
        assert model.duality_gap_ < 1e-10
        sub = slice(0, 2000)
        reference = CensoredMissingQuantileRegressor(quantile=q).fit(X[sub], y[sub])
        beta, _ = lp_quantile(X[sub], y[sub], q)
        assert_allclose(np.r_[reference.intercept_, reference.coef_], beta,
                        atol=1e-7)
        return
    reference = QuantileRegressor(quantile=q, alpha=0, solver="highs").fit(X, y)
    ours = check_objective(model, X, y, q)
    theirs = check_objective(reference, X, y, q)
    assert ours <= theirs * (1 + 1e-9)


def test_plain_mm_is_close_but_not_exact():
    X, y = heteroscedastic(500, seed=4)
    _, optimum = lp_quantile(X, y, 0.5)
    model = CensoredMissingQuantileRegressor(solver="mm", epsilon=1e-4,
                                             max_iter=1000).fit(X, y)
    gap = check_objective(model, X, y, 0.5) / optimum - 1
    assert 0 <= gap < 1e-3
    assert np.isnan(model.duality_gap_)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        CensoredMissingQuantileRegressor(solver="mm", max_iter=2).fit(X, y)


def test_censoring_weights_are_applied():
    X, y, _ = make_censored_quantile_data(800, censoring_rate=0.3, missing_rate=0.0,
                                          random_state=0)
    model = CensoredMissingQuantileRegressor(quantile=0.5).fit(X, y)
    expected = censoring_weights(y["time"], y["event"])
    assert_allclose(model.weights_, expected)
    # The same fit as an explicitly weighted, uncensored one.
    explicit = CensoredMissingQuantileRegressor(quantile=0.5).fit(
        X, y["time"], sample_weight=expected)
    assert_allclose(model.coef_, explicit.coef_, atol=1e-10)
    assert model.censoring_distribution_ is not None
    ignored = CensoredMissingQuantileRegressor(censoring="ignore").fit(X, y)
    assert_allclose(ignored.weights_, 1.0)
    dropped = CensoredMissingQuantileRegressor(censoring="drop").fit(X, y)
    assert_allclose(dropped.weights_, y["event"])


def test_missing_weights_use_the_kernel_propensity():
    X, y, _ = make_censored_quantile_data(800, censoring_rate=0.0, missing_rate=0.3,
                                          random_state=1)
    y = y["time"]
    complete = ~np.isnan(X).any(axis=1)
    model = CensoredMissingQuantileRegressor(kernel="epanechnikov").fit(X, y)
    propensity = kernel_propensity(complete, np.column_stack([y, X[:, 0]]),
                                   kernel="epanechnikov")
    assert_allclose(model.propensity_, propensity)
    assert_allclose(model.weights_, complete / propensity)
    dropped = CensoredMissingQuantileRegressor(missing="drop").fit(X, y)
    assert_allclose(dropped.weights_, complete)


def test_weighted_estimator_is_close_to_the_truth_under_random_censoring():
    # The consistency that the published method claims, on one large sample.
    X, y, coef = make_censored_quantile_data(20_000, censoring_rate=0.25,
                                             missing_rate=0.3, random_state=2)
    for q in (0.25, 0.5):
        model = CensoredMissingQuantileRegressor(quantile=q).fit(X, y)
        assert_allclose(model.coef_, coef, atol=0.1)
        assert abs(model.intercept_ - norm.ppf(q)) < 0.1
    naive = CensoredMissingQuantileRegressor(quantile=0.5, censoring="ignore").fit(
        X, y)
    assert np.abs(naive.coef_ - coef).max() > 0.3  # ignoring censoring is biased


def test_score_is_the_ipcw_d2_and_works_in_model_selection():
    X, y, _ = make_censored_quantile_data(600, censoring_rate=0.25, missing_rate=0.2,
                                          random_state=3)
    model = CensoredMissingQuantileRegressor(quantile=0.5).fit(X, y)
    complete = ~np.isnan(X).any(axis=1)
    score = model.score(X[complete], y[complete])
    assert_allclose(score, d2_ipcw_pinball_score(y[complete],
                                                 model.predict(X[complete])))
    assert 0.5 < score < 1
    pipeline = make_pipeline(StandardScaler(), CensoredMissingQuantileRegressor())
    search = GridSearchCV(pipeline, {"censoredmissingquantileregressor__kernel":
                                     ["gaussian", "epanechnikov"]},
                          cv=KFold(3, shuffle=True, random_state=0),
                          error_score="raise")
    complete_X, complete_y = X[complete], y[complete]
    search.fit(complete_X, complete_y)
    assert np.isfinite(search.best_score_)
    scores = cross_val_score(CensoredMissingQuantileRegressor(), X[complete],
                             y[complete], cv=3)
    assert np.all(scores > 0.5)


def test_pinball_metrics_match_sklearn_without_censoring():
    rng = np.random.RandomState(0)
    y_true, y_pred = rng.standard_normal(200), rng.standard_normal(200)
    for q in (0.2, 0.5, 0.8):
        assert_allclose(ipcw_pinball_loss(y_true, y_pred, quantile=q),
                        mean_pinball_loss(y_true, y_pred, alpha=q))
        assert_allclose(d2_ipcw_pinball_score(y_true, y_pred, quantile=q),
                        d2_pinball_score(y_true, y_pred, alpha=q), atol=2e-3)
    with pytest.raises(ValueError, match="range \\(0.0, 1.0\\)"):
        ipcw_pinball_loss(y_true, y_pred, quantile=1.0)


def test_pinball_loss_with_censoring_weights_by_formula():
    rng = np.random.RandomState(1)
    time = rng.exponential(size=100)
    event = rng.uniform(size=100) < 0.7
    y = make_survival_target(event, time)
    y_pred = np.full(100, 0.8)
    weights = censoring_weights(time, event)
    r = time - y_pred
    expected = weights @ np.where(r >= 0, 0.3 * r, -0.7 * r) / weights.sum()
    assert_allclose(ipcw_pinball_loss(y, y_pred, quantile=0.3), expected)


def test_fit_without_intercept_and_pandas_input():
    pd = pytest.importorskip("pandas")
    X, y = heteroscedastic(200, p=3, seed=5)
    model = CensoredMissingQuantileRegressor(fit_intercept=False).fit(X, y)
    assert model.intercept_ == 0.0
    design = X
    n = len(y)
    cost = np.r_[np.zeros(3), 0.5 * np.ones(n), 0.5 * np.ones(n)]
    A = np.hstack([design, np.eye(n), -np.eye(n)])
    result = linprog(cost, A_eq=A, b_eq=y,
                     bounds=[(None, None)] * 3 + [(0, None)] * (2 * n),
                     method="highs")
    assert_allclose(model.coef_, result.x[:3], atol=1e-7)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    fitted = CensoredMissingQuantileRegressor().fit(frame, pd.Series(y))
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]


def test_caller_arrays_are_not_modified():
    X, y, _ = make_censored_quantile_data(300, random_state=4)
    X_copy, y_copy = X.copy(), y.copy()
    CensoredMissingQuantileRegressor().fit(X, y)
    assert np.array_equal(np.isnan(X), np.isnan(X_copy))
    assert np.array_equal(X[~np.isnan(X)], X_copy[~np.isnan(X_copy)])
    assert np.array_equal(y, y_copy)


def test_simulator_rates():
    for censoring in ("random", "fixed_quantile"):
        X, y, coef = make_censored_quantile_data(
            20_000, censoring_rate=0.5, missing_rate=0.3, censoring=censoring,
            random_state=0)
        assert abs((1 - y["event"].mean()) - 0.5) < 0.02
        assert abs(np.isnan(X[:, 1]).mean() - 0.3) < 0.02
        assert not np.isnan(X[:, 0]).any()
    assert_allclose(coef, [4.5, -2.0])
    # Fixed-quantile censoring: every response above the limit is censored.
    X, y, _ = make_censored_quantile_data(1000, censoring_rate=0.25,
                                          censoring="fixed_quantile", random_state=1)
    assert np.ptp(y["time"][~y["event"]]) == 0


def test_bad_input_gets_clear_errors():
    X, y = heteroscedastic(100, seed=6)
    with pytest.raises(InvalidParameterError, match="quantile"):
        CensoredMissingQuantileRegressor(quantile=1.5).fit(X, y)
    with pytest.raises(ValueError, match="Every sample is censored"):
        CensoredMissingQuantileRegressor().fit(
            X, make_survival_target(np.zeros(100, bool), np.abs(y)))
    X_missing = X.copy()
    X_missing[:, 1] = np.nan
    with pytest.raises(ValueError, match="Every row has a missing covariate"):
        CensoredMissingQuantileRegressor().fit(X_missing, y)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        CensoredMissingQuantileRegressor().fit(X, y_nan)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        CensoredMissingQuantileRegressor().fit(X_inf, y)
    with pytest.raises(ValueError, match="rank deficient"):
        CensoredMissingQuantileRegressor().fit(np.column_stack([X, X[:, 0]]), y)
    with pytest.raises(ValueError, match="must match"):
        CensoredMissingQuantileRegressor().fit(X, y[:-1])
    with pytest.raises(ValueError, match="non-zero"):
        CensoredMissingQuantileRegressor().fit(X, y, sample_weight=np.zeros(100))
    model = CensoredMissingQuantileRegressor().fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(X_missing)
    X_partly = X.copy()
    X_partly[:10, 1] = np.nan
    with pytest.raises(ValueError, match="without NaN"):
        CensoredMissingQuantileRegressor(propensity_features=[1]).fit(X_partly, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CensoredMissingQuantileRegressor(propensity_features=[0]).fit(X_partly, y)


def test_rare_dummy_column_does_not_break_the_subsample_start():
    # On 60,000 rows MM starts from a 20,000-row subsample, which here will often
    # miss the 3 rows where the dummy is 1: the fit must still use and certify it.
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60_000, 3))
    X[:, 2] = 0.0
    X[:3, 2] = 1.0
    y = X @ [1.0, 2.0, 3.0] + rng.standard_normal(60_000)
    for seed in range(3):
        model = CensoredMissingQuantileRegressor(random_state=seed).fit(X, y)
        assert model.duality_gap_ < 1e-10
        assert_allclose(model.coef_[:2], [1.0, 2.0], atol=0.05)


def test_certificate_holds_with_a_huge_outlier():
    # The duality gap must not mistake small residuals for zeros when another
    # residual is huge (heavy tails, an outlier).
    X, y = heteroscedastic(2000, p=3, seed=7)
    y[0] = 1e9
    weights = np.exp(np.random.RandomState(8).uniform(-6, 6, 2000))
    model = CensoredMissingQuantileRegressor(quantile=0.3).fit(X, y,
                                                               sample_weight=weights)
    _, optimum = lp_quantile(X, y, 0.3, weights)
    assert abs(check_objective(model, X, y, 0.3, weights) - optimum) <= 1e-9 * optimum
    assert model.duality_gap_ < 1e-10


def test_score_leaves_out_rows_with_missing_covariates():
    X, y, _ = make_censored_quantile_data(600, censoring_rate=0.25, missing_rate=0.3,
                                          random_state=5)
    model = CensoredMissingQuantileRegressor().fit(X, y)
    complete = ~np.isnan(X).any(axis=1)
    assert model.score(X, y) == pytest.approx(model.score(X[complete], y[complete]),
                                              rel=1e-12)
    with pytest.raises(ValueError, match="Every row of X has a missing"):
        model.score(np.full_like(X, np.nan), y)


def test_sparse_input_is_refused_with_a_message_that_says_to_densify():
    # A documented decision (docs/user_guide/scale.rst): dense input only.
    from scipy import sparse

    X, y = heteroscedastic(60)
    model = CensoredMissingQuantileRegressor(quantile=0.5)
    with pytest.raises(TypeError, match="dense data is required"):
        model.fit(sparse.csr_matrix(X), y)
    model.fit(X, y)
    with pytest.raises(TypeError, match="dense data is required"):
        model.predict(sparse.csc_matrix(X))
