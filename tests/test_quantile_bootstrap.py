"""The pairs bootstrap of CensoredMissingQuantileRegressor (se='boot').

References: the 'nid' sandwich on uncensored data (R quantreg's values, tested in
test_quantile_inference.py), the estimator refitted by hand on the same resamples,
and scikit-learn's QuantileRegressor refitted on them with the weights held fixed.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import QuantileRegressor
from sklearn.utils import check_random_state

from statopt import CensoredMissingQuantileRegressor
from statopt.datasets import make_censored_quantile_data
from statopt.survival import make_survival_target

sm = pytest.importorskip("statsmodels.api")
pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def censored():
    X, y, _ = make_censored_quantile_data(300, censoring_rate=0.25, missing_rate=0.3,
                                          random_state=3)
    return X, y, CensoredMissingQuantileRegressor(0.5).fit(X, y)


def _draws(random_state, n_boot, n):
    # The documented resampling rule of bootstrap_coefficients.
    return check_random_state(random_state).randint(0, n, size=(n_boot, n))


def test_same_seed_same_table_for_any_n_jobs(censored):
    X, y, model = censored
    X_before, y_before = X.copy(), y.copy()
    one = model.summary(X, y, n_boot=20, random_state=7, n_jobs=1)
    two = model.summary(X, y, n_boot=20, random_state=7, n_jobs=2)
    assert_array_equal(one.to_numpy(), two.to_numpy())
    assert one.header == two.header
    other = model.summary(X, y, n_boot=20, random_state=8, n_jobs=1)
    assert not np.array_equal(one["std err"], other["std err"])
    assert_array_equal(X, X_before)
    assert_array_equal(y, y_before)


def test_boot_is_the_default_with_estimated_weights(censored):
    X, y, model = censored
    table = model.summary(X, y, n_boot=10, random_state=0)
    assert "se='boot' (the default: the weights were estimated)" in table.header
    assert "10 of 10 replicates (0 failed fits dropped)" in table.header
    assert "treat them as known" not in table.header
    # Coefficients are the fit's; intervals are percentiles around them.
    assert_allclose(table["coef"], np.r_[model.intercept_, model.coef_])
    assert (table["[0.025"] < table["coef"]).all()
    assert (table["coef"] < table["0.975]"]).all()
    # z and p values come from the bootstrap standard errors.
    assert_allclose(table["z"], table["coef"] / table["std err"])


def test_engel_bootstrap_is_close_to_nid_and_nid_is_the_default():
    data = sm.datasets.engel.load_pandas().data
    X, y = data[["income"]], data["foodexp"].to_numpy()
    model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    default = model.summary(X, y)
    assert "se='nid' (the default without estimated weights)" in default.header
    assert_allclose(default["std err"], model.bse(X, y, se="nid"), rtol=1e-12)
    boot = model.bse(X, y, se="boot", n_boot=200, random_state=0).to_numpy()
    # Engel's errors are heteroskedastic with outlying incomes: the analytic
    # sandwiches disagree (Powell's 'ker' is 1.57x and 1.32x 'nid'), and the
    # bootstrap lies between them (1.39-1.47x and 1.22-1.28x 'nid' over four
    # seeds of 1000 replicates). It must stay within that bracket, loosened
    # for the noise of 200 replicates.
    nid = default["std err"].to_numpy()
    ker = model.bse(X, y, se="ker").to_numpy()
    assert (0.8 * nid < boot).all() and (boot < 1.15 * ker).all(), boot / nid


def test_every_replicate_refits_the_weights(censored, monkeypatch):
    X, y, model = censored
    n_boot = 30
    refit = model.bse(X, y, se="boot", n_boot=n_boot, random_state=5).to_numpy()
    # Reference 1: the whole estimator refitted by hand on the same resamples.
    full, fixed = [], []
    for rows in _draws(5, n_boot, X.shape[0]):
        fitted = CensoredMissingQuantileRegressor(0.5).fit(X[rows], y[rows])
        full.append(np.r_[fitted.intercept_, fitted.coef_])
        # Reference 2: the weights of the original fit held fixed, scikit-learn's
        # exact LP on the resampled rows of positive weight.
        weights = model.weights_[rows]
        kept = weights > 0
        fixed_fit = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(
            X[rows][kept], y["time"][rows][kept], sample_weight=weights[kept])
        fixed.append(np.r_[fixed_fit.intercept_, fixed_fit.coef_])
    assert_allclose(refit, np.std(full, axis=0, ddof=1), rtol=1e-6)
    assert not np.allclose(refit, np.std(fixed, axis=0, ddof=1), rtol=0.02)
    # And the weight estimators are called once per replicate.
    calls = {"censoring": 0, "missing": 0}
    cls = CensoredMissingQuantileRegressor
    censoring, missing = cls._censoring_weights, cls._missing_weights

    def count_censoring(self, *args):
        calls["censoring"] += 1
        return censoring(self, *args)

    def count_missing(self, *args):
        calls["missing"] += 1
        return missing(self, *args)

    monkeypatch.setattr(cls, "_censoring_weights", count_censoring)
    monkeypatch.setattr(cls, "_missing_weights", count_missing)
    model.bse(X, y, se="boot", n_boot=7, random_state=0, n_jobs=1)
    assert calls == {"censoring": 7, "missing": 7}


def test_sample_weight_is_resampled_with_the_rows():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 1))
    y = 1 + 2 * X[:, 0] + rng.standard_t(3, size=80)
    weights = rng.uniform(0.5, 3.0, 80)
    model = CensoredMissingQuantileRegressor(0.3).fit(X, y, sample_weight=weights)
    boot = model.bse(X, y, se="boot", n_boot=15, random_state=1,
                     sample_weight=weights).to_numpy()
    reference = [
        QuantileRegressor(quantile=0.3, alpha=0.0, solver="highs").fit(
            X[rows], y[rows], sample_weight=weights[rows])
        for rows in _draws(1, 15, 80)
    ]
    reference = np.std([np.r_[r.intercept_, r.coef_] for r in reference], axis=0,
                       ddof=1)
    assert_allclose(boot, reference, rtol=1e-5)
    with pytest.raises(ValueError, match="sample_weight"):
        model.bse(X, y, se="boot", n_boot=5, sample_weight=weights[:10])
    with pytest.raises(ValueError, match="pass it again"):
        model.bse(X, y, se="boot", n_boot=5)
    unweighted = CensoredMissingQuantileRegressor(0.3).fit(X, y)
    with pytest.raises(ValueError, match="the fit had none"):
        unweighted.bse(X, y, se="boot", n_boot=5, sample_weight=weights)


def _few_events(n_events, n_features=1):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, n_features))
    event = np.zeros(40, dtype=bool)
    event[:n_events] = True
    y = make_survival_target(event, np.exp(X[:, 0] + rng.normal(size=40)))
    return X, y


def test_failed_replicates_are_dropped_and_counted():
    X, y = _few_events(3)
    model = CensoredMissingQuantileRegressor().fit(X, y)
    table = model.summary(X, y, n_boot=40, random_state=0)
    n_failed = 0
    for rows in _draws(0, 40, 40):
        try:
            CensoredMissingQuantileRegressor().fit(X[rows], y[rows])
        except ValueError:
            n_failed += 1
    assert 0 < n_failed <= 20
    assert f"{40 - n_failed} of 40 replicates ({n_failed} failed" in table.header
    assert np.isfinite(table.to_numpy()).all()


def test_more_than_half_failing_is_an_error():
    X, y = _few_events(3, n_features=2)
    model = CensoredMissingQuantileRegressor().fit(X, y)
    with pytest.raises(ValueError, match="failed in .* of 40 bootstrap replicates"):
        model.summary(X, y, n_boot=40, random_state=0)


@settings(max_examples=30, deadline=None)
@given(argument=st.one_of(
    st.fixed_dictionaries({"n_boot": st.integers(max_value=1)}),
    st.fixed_dictionaries({"n_boot": st.booleans()}),
    st.fixed_dictionaries({"n_boot": st.floats(allow_nan=True)}),
    st.fixed_dictionaries({"n_jobs": st.just(0)}),
    st.fixed_dictionaries({"n_jobs": st.booleans()}),
    st.fixed_dictionaries({"n_jobs": st.floats(allow_nan=True)}),
    st.fixed_dictionaries({"random_state": st.text(max_size=5)}),
))
def test_bad_bootstrap_arguments_are_refused(censored, argument):
    X, y, model = censored
    name = next(iter(argument))
    with pytest.raises((ValueError, TypeError), match=name):
        model.bse(X, y, se="boot", **argument)


def test_dataframes_and_named_propensity_features_are_resampled(censored):
    X, y, _ = censored
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b"])
    target = pd.DataFrame({"event": y["event"], "time": y["time"]})
    model = CensoredMissingQuantileRegressor(propensity_features=["a"])
    boot = model.fit(frame, target).bse(frame, target, n_boot=6, random_state=2)
    assert list(boot.index) == ["intercept", "a", "b"]
    reference = []
    for rows in _draws(2, 6, X.shape[0]):
        fitted = CensoredMissingQuantileRegressor(propensity_features=["a"]).fit(
            frame.iloc[rows], y[rows])
        reference.append(np.r_[fitted.intercept_, fitted.coef_])
    assert_allclose(boot, np.std(reference, axis=0, ddof=1), rtol=1e-6)
