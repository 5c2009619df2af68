"""Quantile regression inference against R quantreg's summary.rq.

References: R's printed summary of the Engel median regression (quantreg's vignette,
Koenker, "Quantile regression in R: a vignette", section 5), statsmodels' bandwidth
rules, and summary.rq's formulas written out here on their own route: R's weighted
data ``(w x, w y)`` fitted unweighted by HiGHS through scipy's linprog.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats
from sklearn.exceptions import NotFittedError
from test_censored_quantile import lp_fit

from statopt import CensoredMissingQuantileRegressor
from statopt.linear_model import _censored_quantile
from statopt.linear_model._quantile_inference import SE_METHODS, quantile_bandwidth
from statopt.survival import make_survival_target

sm = pytest.importorskip("statsmodels.api")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def engel():
    data = sm.datasets.engel.load_pandas().data
    return data[["income"]], data["foodexp"].to_numpy()


def _lp_quantile(x, y, tau):
    """Unweighted linear quantile regression coefficients by HiGHS (no intercept
    added)."""
    return lp_fit(x, y, tau)[0]


def _r_summary_rq(x, y, tau, se, weights, hs=True):
    """summary.rq (quantreg 6.1) for se in iid, nid, ker, on R's weighted data."""
    n, p = x.shape
    x, y = weights[:, None] * x, weights * y
    coef = _lp_quantile(x, y, tau)
    resid = y - x @ coef
    eps = np.finfo(float).eps ** 0.5
    # bandwidth.rq
    x0 = stats.norm.ppf(tau)
    f0 = stats.norm.pdf(x0)
    if hs:
        h = n ** (-1 / 3) * stats.norm.ppf(0.975) ** (2 / 3) * (
            1.5 * f0**2 / (2 * x0**2 + 1)) ** (1 / 3)
    else:
        h = n ** -0.2 * (4.5 * f0**4 / (2 * x0**2 + 1) ** 2) ** 0.2
    if se == "iid":
        pz = np.sum(np.abs(resid) < eps)
        hh = max(p + 1, int(np.ceil(n * h)))
        ir = np.arange(pz + 1, hh + pz + 2)
        ord_resid = np.sort(resid[np.argsort(np.abs(resid), kind="stable")][ir - 1])
        xt = ir / (n - p)
        sparsity = _lp_quantile(np.column_stack([np.ones(ir.size), xt]),
                                ord_resid, 0.5)[1]
        cov = sparsity**2 * np.linalg.inv(x.T @ x) * tau * (1 - tau)
    else:
        while tau - h < 0 or tau + h > 1:
            h /= 2
        if se == "nid":
            dyhat = x @ (_lp_quantile(x, y, tau + h) - _lp_quantile(x, y, tau - h))
            f = np.maximum(0, 2 * h / (dyhat - eps))
        else:
            uhat = resid
            iqr = np.subtract(*np.percentile(uhat, [75, 25]))
            h = (stats.norm.ppf(tau + h) - stats.norm.ppf(tau - h)) * min(
                np.std(uhat, ddof=1), iqr / 1.34)
            f = stats.norm.pdf(uhat / h) / h
        fxxinv = np.linalg.inv(x.T @ (f[:, None] * x))
        cov = tau * (1 - tau) * fxxinv @ (x.T @ x) @ fxxinv
    return coef, np.sqrt(np.diag(cov))


def test_nid_equals_r_published_engel_median(engel):
    # R: summary(rq(foodexp ~ income, tau = .5, data = engel), se = "nid")
    #  (Intercept) 81.48225 19.25066  4.23270
    #  income       0.56018  0.02828 19.81032
    X, y = engel
    table = CensoredMissingQuantileRegressor(0.5).fit(X, y).summary(X, y, se="nid")
    assert list(table.index) == ["intercept", "income"]
    assert_allclose(table["coef"], [81.48225, 0.56018], atol=5e-6)
    assert_allclose(table["std err"], [19.25066, 0.02828], atol=5e-6)
    assert_allclose(table["z"], [4.23270, 19.81032], atol=5e-6)


@pytest.mark.parametrize("quantile", [0.1, 0.25, 0.5, 0.75, 0.9])
@pytest.mark.parametrize("se", ["iid", "nid", "ker"])
def test_engel_equals_summary_rq_formulas(engel, quantile, se):
    X, y = engel
    design = np.column_stack([np.ones(len(y)), X.to_numpy()])
    coef, bse = _r_summary_rq(design, y, quantile, se, np.ones(len(y)))
    model = CensoredMissingQuantileRegressor(quantile).fit(X, y)
    assert_allclose(np.r_[model.intercept_, model.coef_], coef, rtol=1e-8)
    assert_allclose(model.bse(X, y, se=se), bse, rtol=1e-6)


@pytest.mark.parametrize("se", ["iid", "nid", "ker"])
def test_bofinger_and_weights_follow_r(se):
    # R's weights: rows, response and residuals multiplied by w, n counts all rows.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 2))
    y = X @ [1.0, -0.5] + (1 + 0.5 * np.abs(X[:, 0])) * rng.standard_t(5, 150)
    weights = rng.uniform(0.2, 3.0, 150)
    design = np.column_stack([np.ones(150), X])
    coef, bse = _r_summary_rq(design, y, 0.3, se, weights, hs=False)
    model = CensoredMissingQuantileRegressor(0.3).fit(X, y, sample_weight=weights)
    assert_allclose(np.r_[model.intercept_, model.coef_], coef, rtol=1e-7)
    if se == "nid":
        # One row's fits at tau +- h cross here: R warns and sets its density to 0.
        with pytest.warns(UserWarning, match="1 rows have non-positive"):
            result = model.bse(X, y, se=se, bandwidth="bofinger")
    else:
        result = model.bse(X, y, se=se, bandwidth="bofinger")
    assert_allclose(result, bse, rtol=1e-6)


@pytest.mark.parametrize("n_samples", [20, 235, 10_000])
@pytest.mark.parametrize("quantile", [0.05, 0.3, 0.5, 0.9])
def test_bandwidths_equal_statsmodels(n_samples, quantile):
    from statsmodels.regression.quantile_regression import bofinger, hall_sheather

    assert_allclose(quantile_bandwidth(quantile, n_samples),
                    hall_sheather(n_samples, quantile), rtol=1e-12)
    if quantile == 0.5:
        # statsmodels' Bofinger rule reads pdf(2 ppf(q)) where R (and Bofinger)
        # have pdf(ppf(q)): the two coincide at the median only.
        assert_allclose(quantile_bandwidth(quantile, n_samples, "bofinger"),
                        bofinger(n_samples, quantile), rtol=1e-12)


def test_table_layout_intervals_and_text(engel):
    X, y = engel
    model = CensoredMissingQuantileRegressor(0.75).fit(X, y)
    table = model.summary(X, y, alpha=0.1, se="ker")
    assert list(table.columns) == ["coef", "std err", "z", "P>|z|", "[0.05", "0.95]"]
    z = stats.norm.ppf(0.95)
    bse = table["std err"].to_numpy()
    assert_allclose(table["[0.05"], table["coef"] - z * bse, rtol=1e-12)
    assert_allclose(table["P>|z|"], 2 * stats.norm.sf(np.abs(table["z"])),
                    rtol=1e-12)
    intervals = model.conf_int(X, y, alpha=0.1, se="ker")
    assert_allclose(intervals.to_numpy(), table.iloc[:, 4:].to_numpy())
    assert list(intervals.columns) == ["lower", "upper"]
    text = str(table)
    assert "se='ker'" in text and "income" in text and "estimated" not in text
    assert "se='ker'" in table._repr_html_()


def test_without_intercept_and_without_pandas(engel, monkeypatch):
    X, y = engel
    model = CensoredMissingQuantileRegressor(fit_intercept=False).fit(X.to_numpy(), y)
    design = X.to_numpy()
    _, bse = _r_summary_rq(design, y, 0.5, "nid", np.ones(len(y)))
    assert list(model.bse(X.to_numpy(), y).index) == ["x0"]
    monkeypatch.setattr(_censored_quantile, "_pandas", lambda: None)
    assert_allclose(model.bse(X.to_numpy(), y), bse, rtol=1e-6)
    table = model.summary(X.to_numpy(), y)
    assert table.values.shape == (1, 6) and "x0" in str(table)
    assert model.conf_int(X.to_numpy(), y).shape == (1, 2)


def test_estimated_weights_are_named_in_the_header():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    time = np.exp(X @ [0.5, 0.2] + rng.normal(size=300))
    censor = rng.exponential(4.0, 300)
    y = make_survival_target(time <= censor, np.minimum(time, censor))
    X[rng.random(300) < 0.2, 1] = np.nan
    X_before, y_before = X.copy(), y.copy()
    model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    table = model.summary(X, y, se="iid")
    assert "censoring and missing covariates were estimated" in str(table)
    # Rows of weight 0 (censored or incomplete) are left out.
    assert f"rows={int((model.weights_ > 0).sum())}" in str(table)
    assert np.isfinite(table.to_numpy()).all()
    # Any form of the censored target that fit accepts: here (event, time).
    assert_allclose(model.bse(X, (y["event"], y["time"]), se="iid"),
                    table["std err"], rtol=1e-12)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("se", ["iid", "nid", "ker"])
def test_zero_weight_rows_and_scale_change_nothing(se):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=120)
    weights = np.r_[np.zeros(40), rng.uniform(0.5, 2.0, 80)]
    reference = CensoredMissingQuantileRegressor(0.4).fit(
        X[40:], y[40:], sample_weight=weights[40:]).bse(X[40:], y[40:], se=se)
    scaled = CensoredMissingQuantileRegressor(0.4).fit(
        X * 1e150, y * 1e100, sample_weight=weights * 1e300)
    # rtol: R's absolute shift eps of the 'nid' differences (1.5e-8 in the units
    # of y) is not scale-free.
    assert_allclose(scaled.bse(X * 1e150, y * 1e100, se=se),
                    reference * [1e100, 1e-50, 1e-50], rtol=1e-7)


def test_other_data_than_the_fit_is_refused(engel):
    X, y = engel
    model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    with pytest.raises(ValueError, match="not the optimum"):
        model.bse(X, y[::-1])
    with pytest.raises(ValueError, match="data of the fit"):
        model.bse(X[:100], y[:100])


def test_unfitted_model_is_refused(engel):
    X, y = engel
    with pytest.raises(NotFittedError):
        CensoredMissingQuantileRegressor().summary(X, y)


@settings(max_examples=25, deadline=None)
@given(alpha=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0),
                       st.just(float("nan"))))
def test_alpha_outside_unit_interval_is_refused(engel, alpha):
    X, y = engel
    model = CensoredMissingQuantileRegressor().fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        model.conf_int(X, y, alpha=alpha)


@settings(max_examples=25, deadline=None)
@given(se=st.one_of(
    st.text(max_size=8).filter(lambda s: s not in SE_METHODS),
    st.just("rank"), st.integers()))
def test_unknown_se_lists_the_methods(engel, se):
    X, y = engel
    model = CensoredMissingQuantileRegressor().fit(X, y)
    with pytest.raises((ValueError, TypeError), match="'iid'.*'nid'|'nid'.*'iid'"):
        model.bse(X, y, se=se)


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(1, 300), st.integers(0, 4)).filter(
    lambda shape: shape != (235, 1)))
def test_wrong_shapes_are_refused(engel, shape):
    X, y = engel
    X = X.to_numpy()
    model = CensoredMissingQuantileRegressor().fit(X, y)
    with pytest.raises(ValueError):
        model.summary(np.ones(shape), np.ones(shape[0]))


def test_nid_intervals_cover_under_heteroskedasticity():
    # 150 seeded replicates, n = 300: a 95% interval with standard errors off by
    # 30% either way would cover about 86% or 99.5% of the time.
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(150):
        X = rng.uniform(0, 2, (300, 1))
        y = 1 + X[:, 0] + (0.5 + X[:, 0]) * rng.normal(size=300)
        model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
        lower, upper = model.conf_int(X, y, se="nid").to_numpy()[1]
        covered += lower <= 1 <= upper
    assert 0.90 <= covered / 150 <= 0.985
