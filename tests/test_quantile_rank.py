"""Rank-score test inversion intervals (se='rank', 'rank_nid') against references.

References: R's printed ``summary(rq(foodexp ~ income, tau = .5, data = engel))``
(quantreg's vignette, rank inversion is R's default for n < 1001, at its level
0.9), and R's rule rebuilt here on an independent route: the regression rank
scores of the restricted problem solved from scratch by HiGHS (scipy's linprog)
at each hypothesised value, the vertices located by bisection on the statistic,
and rq.fit.br's interpolation between them.

The reference locates a vertex where the statistic changes. With degenerate
duals (``n tau`` an integer, as the median of an even number of rows) the
restricted fit is not unique on whole steps, and the path passes vertices where
the statistic does not change; R interpolates from the last vertex passed, which
this reference would not see, so its data avoid that case.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import optimize, stats
from test_censored_quantile import lp_fit

from statopt import CensoredMissingQuantileRegressor
from statopt.linear_model._quantile_inference import quantile_bandwidth

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


def _statistic(x, y, tau, j, theta, qn):
    """GJKP rank-score statistic of beta_j = theta: rank scores by HiGHS."""
    z = np.delete(x, j, axis=1)
    target = y - theta * x[:, j]
    result = optimize.linprog(-target, A_eq=z.T, b_eq=(1 - tau) * z.sum(axis=0),
                              bounds=(0, 1), method="highs")
    assert result.status == 0
    # HiGHS' scores are feasible to about 1e-7: the scores at a bound are
    # rounded to it and the others solved from the equality constraints.
    scores = result.x
    free = (scores > 1e-6) & (scores < 1 - 1e-6)
    scores = np.where(free, 0.0, np.round(scores))
    if free.any():
        scores[free] = np.linalg.lstsq(
            z[free].T, (1 - tau) * z.sum(axis=0) - z.T @ scores, rcond=None)[0]
    return x[:, j] @ (scores - (1 - tau)) / np.sqrt(qn * tau * (1 - tau))


def _first(predicate, inside, outside):
    """Bisection: the boundary between ``inside`` (predicate false) and ``outside``."""
    while abs(outside - inside) > 1e-13 * max(abs(inside), abs(outside)):
        middle = 0.5 * (inside + outside)
        if predicate(middle):
            outside = middle
        else:
            inside = middle
    return inside, outside


def _r_rank_bound(x, y, tau, j, beta_j, qn, cutoff, direction, width):
    """rq.fit.br's interpolated bound, from statistics computed from scratch."""
    def t(theta):
        return _statistic(x, y, tau, j, theta, qn)

    far = beta_j + direction * width
    while abs(t(far)) < cutoff:
        far = beta_j + 2 * (far - beta_j)
    # Vertex where |T| reaches the cutoff, and the vertex before it, located by
    # bisection (HiGHS resolves them to about 1e-8 only)...
    below, beyond = _first(lambda th: abs(t(th)) >= cutoff, beta_j, far)
    t_reject, t_accept = t(beyond), t(below)
    if abs(below - beta_j) <= 1e-9 * abs(beta_j):
        return beta_j  # rejected at once: R's bound is the estimate
    _, start = _first(lambda th: not np.isclose(t(th), t_accept, atol=1e-9),
                      below, beta_j)
    # ... then exactly: inside the accepted step the restricted fit has a fixed
    # basis (the rows on HiGHS' fit), and its vertices are where another
    # residual, affine in theta, vanishes.
    middle = 0.5 * (start + below)
    z = np.delete(x, j, axis=1)
    target = y - middle * x[:, j]
    resid = target - z @ _lp_quantile(z, target, tau) if z.shape[1] else target
    basis = np.argsort(np.abs(resid), kind="stable")[:z.shape[1]]
    if z.shape[1]:
        u = y - z @ np.linalg.solve(z[basis], y[basis])
        w = x[:, j] - z @ np.linalg.solve(z[basis], x[basis, j])
    else:
        u, w = y, x[:, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.where(np.abs(w) > 1e-12 * np.abs(x[:, j]).max(), u / w, np.nan)
    roots[basis] = np.nan
    ahead = direction * (roots - middle)
    vertex = roots[np.nanargmin(np.where(ahead > 0, ahead, np.nan))]
    previous = roots[np.nanargmin(np.where(ahead < 0, -ahead, np.nan))]
    if direction * (previous - beta_j) < 0 or np.isclose(previous, beta_j,
                                                          rtol=1e-9):
        previous = beta_j
    return previous + (vertex - previous) * (cutoff - abs(t_accept)) / abs(
        t_reject - t_accept)


def _r_rank_intervals(x, y, tau, alpha, qn=None):
    n, p = x.shape
    beta = _lp_quantile(x, y, tau)
    if qn is None:
        qn = 1 / np.diag(np.linalg.inv(x.T @ x))
    cutoff = stats.t.ppf(1 - alpha / 2, n - p)
    width = 4 * np.sqrt(np.diag(np.linalg.inv(x.T @ x))) * np.std(y - x @ beta)
    bounds = [[_r_rank_bound(x, y, tau, j, beta[j], qn[j], cutoff, d, width[j])
               for j in range(p)] for d in (-1, 1)]
    return beta, np.array(bounds)


def test_engel_median_equals_r_vignette(engel):
    # R: summary(rq(foodexp ~ income, tau = .5, data = engel)), 90% intervals:
    #             coefficients lower bd  upper bd
    # (Intercept)  81.48225     53.25915 114.01156
    # income        0.56018      0.48702   0.60199
    # Printed to 5 decimals: compared to that rounding.
    X, y = engel
    table = CensoredMissingQuantileRegressor(0.5).fit(X, y).summary(
        X, y, alpha=0.1, se="rank")
    assert_allclose(table["coef"], [81.48225, 0.56018], atol=5e-6)
    assert_allclose(table["[0.05"], [53.25915, 0.48702], atol=5e-6)
    assert_allclose(table["0.95]"], [114.01156, 0.60199], atol=5e-6)
    assert np.isnan(table[["std err", "z", "P>|z|"]].to_numpy()).all()
    assert "se='rank'" in str(table) and "no standard errors" in str(table)


@pytest.mark.parametrize("quantile, alpha",
                         [(0.1, 0.05), (0.25, 0.05), (0.5, 0.1), (0.75, 0.05),
                          (0.9, 0.05)])
def test_engel_equals_rank_inversion_from_scratch(engel, quantile, alpha):
    # The median case reaches the vignette's numbers to 1e-6 and more: Engel has
    # three identical rows (953.119224, 621.117329), whose crossings tie.
    X, y = engel
    design = np.column_stack([np.ones(len(y)), X.to_numpy()])
    beta, bounds = _r_rank_intervals(design, y, quantile, alpha)
    model = CensoredMissingQuantileRegressor(quantile).fit(X, y)
    intervals = model.conf_int(X, y, alpha=alpha, se="rank")
    assert_allclose(intervals.to_numpy().T, bounds, rtol=1e-6)
    # The estimate lies inside; the statistic at each bound is below the cutoff
    # or on its vertex.
    assert np.all(intervals["lower"] <= beta) and np.all(beta <= intervals["upper"])


@pytest.mark.parametrize("quantile", [0.3, 0.5, 0.55, 0.7, 0.8])
def test_stackloss_tied_crossings_equal_rank_inversion_from_scratch(quantile):
    # Integer data: at these levels two to five distinct rows cross at the same
    # point, where R's rq.fit.br flips one of them only and differs from us by
    # 1.6% to 13% of the width (tests/test_quantile_r_reference.py). From
    # scratch, with the statistic past each vertex from HiGHS' rank scores, the
    # bounds are ours. (At 0.6 the bisection lands within HiGHS' tolerance of a
    # tied vertex, where the rank scores are not unique, and reads R's value.)
    data = sm.datasets.stackloss.load_pandas().data
    X = data[["AIRFLOW", "WATERTEMP", "ACIDCONC"]].to_numpy()
    y = data["STACKLOSS"].to_numpy(dtype=float)
    design = np.column_stack([np.ones(len(y)), X])
    _, bounds = _r_rank_intervals(design, y, quantile, 0.1)
    model = CensoredMissingQuantileRegressor(quantile).fit(X, y)
    intervals = model.conf_int(X, y, alpha=0.1, se="rank").to_numpy().T
    assert_allclose((intervals - bounds) / (bounds[1] - bounds[0]), 0.0, atol=1e-9)


def test_weights_multiply_rows_and_response_as_r():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    y = X @ [1.0, -0.5] + rng.standard_t(4, 60)
    weights = rng.uniform(0.3, 2.0, 60)
    design = np.column_stack([np.ones(60), X])
    _, bounds = _r_rank_intervals(weights[:, None] * design, weights * y, 0.4, 0.1)
    model = CensoredMissingQuantileRegressor(0.4).fit(X, y, sample_weight=weights)
    intervals = model.conf_int(X, y, alpha=0.1, se="rank").to_numpy()
    assert_allclose(intervals.T, bounds, rtol=1e-6)


def test_rank_nid_uses_koenker_machado_scaling():
    # R's iid=FALSE: qn_j = sum of squared residuals of lm(x_j ~ x_-j - 1,
    # weights = f), f = pmax(eps, 2h / (x'(b(tau+h) - b(tau-h)) - eps)).
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 2, (81, 1))
    y = 1 + X[:, 0] + (0.5 + X[:, 0]) * rng.normal(size=81)
    design = np.column_stack([np.ones(81), X])
    tau = 0.5
    h = quantile_bandwidth(tau, 81)
    eps = np.finfo(float).eps ** (2 / 3)
    dyhat = design @ (_lp_quantile(design, y, tau + h)
                      - _lp_quantile(design, y, tau - h))
    f = np.maximum(eps, 2 * h / (dyhat - eps))
    qn = np.empty(2)
    for j in range(2):
        others = np.delete(design, j, axis=1)
        sw = np.sqrt(f)
        coef = np.linalg.lstsq(sw[:, None] * others, sw * design[:, j], rcond=None)[0]
        qn[j] = np.sum((design[:, j] - others @ coef) ** 2)
    _, bounds = _r_rank_intervals(design, y, tau, 0.05, qn=qn)
    assert np.sum(dyhat <= 0) == 1  # R warns of it too
    model = CensoredMissingQuantileRegressor(tau).fit(X, y)
    with pytest.warns(UserWarning, match="1 rows have non-positive"):
        intervals = model.conf_int(X, y, se="rank_nid").to_numpy()
    assert_allclose(intervals.T, bounds, rtol=1e-6)


def test_unbounded_interval_is_infinite():
    # Five rows, two coefficients, 99% level: the t cutoff on 3 degrees of
    # freedom (5.84) exceeds what the statistic can reach as the slope goes to
    # +-infinity, where every rank score is 0 or 1.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 1))
    y = X[:, 0] + rng.normal(size=5)
    design = np.column_stack([np.ones(5), X])
    qn = 1 / np.diag(np.linalg.inv(design.T @ design))
    cutoff = stats.t.ppf(0.995, 3)
    for theta in (-1e6, 1e6):
        assert abs(_statistic(design, y, 0.5, 1, theta, qn[1])) < cutoff
    intervals = CensoredMissingQuantileRegressor(0.5).fit(X, y).conf_int(
        X, y, alpha=0.01, se="rank").to_numpy()
    assert intervals[1, 0] == -np.inf and intervals[1, 1] == np.inf


def test_bse_is_refused_and_other_solvers(engel):
    X, y = engel
    model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    for se in ("rank", "rank_nid"):
        with pytest.raises(ValueError, match="no standard errors"):
            model.bse(X, y, se=se)
    rough = CensoredMissingQuantileRegressor(0.5, solver="mm", tol=1e-3,
                                             max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged, on purpose
        rough.fit(X, y)
    with pytest.raises(ValueError, match="solver='exact'"):
        rough.conf_int(X, y, se="rank")


def test_scale_and_zero_weight_rows_change_nothing():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=90)
    weights = np.r_[np.zeros(30), rng.uniform(0.5, 2.0, 60)]
    reference = CensoredMissingQuantileRegressor(0.6).fit(
        X[30:], y[30:], sample_weight=weights[30:]).conf_int(
        X[30:], y[30:], se="rank").to_numpy()
    scaled = CensoredMissingQuantileRegressor(0.6).fit(
        X * 1e150, y * 1e100, sample_weight=weights * 1e300)
    result = scaled.conf_int(X * 1e150, y * 1e100, se="rank").to_numpy()
    assert_allclose(result, reference * np.array([1e100, 1e-50, 1e-50])[:, None],
                    rtol=1e-9)


def test_without_intercept(engel):
    # R refuses intervals for one coefficient (ci is set to FALSE when p = 1);
    # the inversion is the same with no other column.
    X, y = engel
    x = X.to_numpy()
    _, bounds = _r_rank_intervals(x, y, 0.5, 0.05)
    model = CensoredMissingQuantileRegressor(fit_intercept=False).fit(x, y)
    assert_allclose(model.conf_int(x, y, se="rank").T, bounds, rtol=1e-6)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(3, 25),
    quantile=st.sampled_from([0.1, 0.3, 0.5, 0.8]),
    alpha=st.sampled_from([0.01, 0.1, 0.3]),
    seed=st.integers(0, 2**16),
    ties=st.booleans(),
    binary=st.booleans(),
)
def test_interval_contains_estimate_or_clear_error(n, quantile, alpha, seed, ties,
                                                   binary):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    if binary:
        X[:, 1] = rng.integers(0, 2, n)
    y = X @ [1.0, -1.0] + rng.standard_t(3, n)
    if ties:
        y = np.round(y)
        X[:, 0] = np.round(X[:, 0])
    X_before, y_before = X.copy(), y.copy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CensoredMissingQuantileRegressor(quantile).fit(X, y)
    except ValueError:
        return  # e.g. a rank deficient design
    beta = np.r_[model.intercept_, model.coef_]
    for se in ("rank", "rank_nid"):
        try:
            with warnings.catch_warnings():
                # 'rank_nid' warns about crossing fits at tau +- h, as R does.
                warnings.simplefilter("ignore", UserWarning)
                intervals = model.conf_int(X, y, alpha=alpha, se=se).to_numpy()
        except ValueError as error:
            assert "se='rank" in str(error) or "singular" in str(error)
            continue
        lower, upper = intervals.T
        assert not np.isnan(intervals).any()
        assert np.all(lower <= beta + 1e-9 * np.abs(beta))
        assert np.all(beta - 1e-9 * np.abs(beta) <= upper)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(8, 30),
    quantile=st.sampled_from([0.2, 0.25, 0.5, 0.75]),
    seed=st.integers(0, 2**16),
    n_copies=st.integers(1, 6),
)
def test_repeated_rows_do_not_make_intervals_depend_on_row_order(n, quantile, seed,
                                                                 n_copies):
    # Equal rows cross one at a time; which copy goes first must not matter.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1))
    y = 1 + X[:, 0] + rng.standard_t(3, n)
    copies = rng.integers(0, n, n_copies)
    X, y = np.r_[X, X[copies]], np.r_[y, y[copies]]
    order = rng.permutation(y.size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = CensoredMissingQuantileRegressor(quantile).fit(X, y)
            second = CensoredMissingQuantileRegressor(quantile).fit(X[order], y[order])
    except ValueError:
        return  # e.g. too few distinct rows for the exact fit
    intervals = first.conf_int(X, y, se="rank", alpha=0.1).to_numpy()
    reordered = second.conf_int(X[order], y[order], se="rank", alpha=0.1).to_numpy()
    assert_allclose(reordered, intervals, rtol=1e-9, atol=1e-12)


def _assert_accepted_inside(design, y, tau, beta, intervals, alpha):
    """From scratch, values between the estimate and each bound are accepted."""
    n, p = design.shape
    qn = 1 / np.diag(np.linalg.inv(design.T @ design))
    cutoff = stats.t.ppf(1 - alpha / 2, n - p)
    for j in range(p):
        for bound in intervals[j]:
            for share in (0.3, 0.7, 0.97):
                theta = beta[j] + share * (bound - beta[j])
                assert abs(_statistic(design, y, tau, j, theta, qn[j])) < cutoff


def test_heavy_ties_accept_inside_the_interval():
    # Integer response and covariates, a binary column: many rows on each fit
    # and crossings that tie. From scratch, every value strictly between the
    # estimate and a bound is accepted by the test (|T| below the cutoff; n tau
    # is not an integer, so the statistic is unique between vertices).
    rng = np.random.default_rng(8)
    X = np.column_stack([np.round(2 * rng.normal(size=201)),
                         rng.integers(0, 2, 201)])
    y = np.round(X.sum(axis=1) + rng.standard_t(2, 201))
    design = np.column_stack([np.ones(201), X])
    model = CensoredMissingQuantileRegressor(0.45).fit(X, y)
    beta = np.r_[model.intercept_, model.coef_]
    intervals = model.conf_int(X, y, se="rank").to_numpy()
    assert np.isfinite(intervals).all()
    assert np.all(intervals[:, 0] <= beta) and np.all(beta <= intervals[:, 1])
    _assert_accepted_inside(design, y, 0.45, beta, intervals, 0.05)


def test_degenerate_duals_accept_inside_the_interval():
    # The median of an even number of rows: n tau is an integer and a dual of
    # each restricted fit sits at a bound. The statistic is still unique
    # between vertices; from scratch, the values inside the interval are
    # accepted and the estimate is inside.
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (60, 1))
    y = 1 + 2 * X[:, 0] + rng.normal(size=60)
    design = np.column_stack([np.ones(60), X])
    model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    beta = np.r_[model.intercept_, model.coef_]
    intervals = model.conf_int(X, y, se="rank").to_numpy()
    assert np.all(intervals[:, 0] < beta) and np.all(beta < intervals[:, 1])
    _assert_accepted_inside(design, y, 0.5, beta, intervals, 0.05)


def _integer_rows_rank_intervals(data, quantile):
    """Design, response, coefficients and 90% 'rank' intervals of rows
    (x1, x2, y)."""
    X, y = data[:, :2], data[:, 2]
    model = CensoredMissingQuantileRegressor(quantile).fit(X, y)
    beta = np.r_[model.intercept_, model.coef_]
    intervals = model.conf_int(X, y, se="rank", alpha=0.1).to_numpy()
    return np.column_stack([np.ones(len(y)), X]), y, beta, intervals


def test_tied_integer_data_bound_finite_where_the_test_rejects():
    # 30 rows of small integers (many rows tied at each vertex), level 0.7. R
    # quantreg 5.94's rq.fit.br(cbind(1, x1, x2), y, tau = .7, ci = TRUE,
    # alpha = .1) returns -1.797693e+308 as the lower bound of x1's coefficient,
    # though the statistic computed from scratch rejects every value below 0
    # (|T| = 3.24 at -0.1, cutoff 1.70): on such data R's walk can end without
    # reaching the cutoff. Ours is finite, accepted inside, rejected beyond.
    data = np.array([
        5, 1, 7, 4, 3, 6, 4, 1, 9, 2, 0, 2, 5, 2, 11, 0, 2, 0, 3, 0, 6, 4, 0, 7,
        5, 1, 10, 3, 3, 5, 2, 1, 7, 1, 3, 5, 2, 1, 7, 2, 0, 2, 4, 3, 9, 5, 3, 11,
        0, 0, -1, 5, 0, 6, 3, 2, 7, 2, 1, 1, 4, 2, 7, 3, 0, 6, 1, 3, 6, 1, 1, 6,
        4, 3, 6, 3, 3, 6, 3, 2, 6, 2, 0, 7, 4, 3, 5, 2, 0, 4,
    ], dtype=float).reshape(30, 3)
    design, y, beta, intervals = _integer_rows_rank_intervals(data, 0.7)
    assert np.isfinite(intervals).all()
    _assert_accepted_inside(design, y, 0.7, beta, intervals, 0.1)
    qn = 1 / np.diag(np.linalg.inv(design.T @ design))
    cutoff = stats.t.ppf(0.95, 27)
    assert abs(_statistic(design, y, 0.7, 1, intervals[1, 0] - 0.5, qn[1])) > cutoff


def test_repeated_integer_rows_reach_their_bounds():
    # 34 rows of small integers, three rows repeated, level 0.3. A walk used to
    # cycle here ("no interval bound after 440 vertices": a row equal to a basis
    # row kept crossing it at one point). Against R 4.2.2, quantreg 5.94,
    # rq.fit.br(cbind(1, x1, x2), y, tau = .3, ci = TRUE, alpha = .1): four of
    # the six bounds are R's. R's lower x2 bound, 0.404544, holds values that
    # the test rejects from scratch (|T| = 2.14 at 0.41, cutoff 1.70); its upper
    # intercept bound, 0.475107, interpolates towards a statistic of -1.75 at
    # 0.5 where the rank scores from scratch give -2.53 (R flips one of the rows
    # meeting the fit there), ours towards -2.53.
    data = np.array([
        5, 5, 13, 0, 5, 6, 0, 1, 0, 2, 4, 9, 3, 4, 5, 0, 4, 5, 0, 1, 1, 1, 5, 4, 2,
        4, 8, 4, 4, 9, 3, 5, 6, 0, 3, 4, 0, 3, 2, 2, 5, 3, 5, 0, 4, 5, 1, 7, 2, 3,
        6, 5, 2, 7, 5, 1, 6, 2, 5, 8, 4, 4, 8, 2, 0, 4, 0, 1, 1, 3, 5, 9, 0, 0, 1,
        3, 1, 2, 4, 3, 6, 5, 2, 10, 2, 4, 7, 0, 1, 0, 5, 0, 6, 5, 4, 8, 5, 1, 7, 3,
        0, 2
    ], dtype=float).reshape(34, 3)
    design, y, beta, intervals = _integer_rows_rank_intervals(data, 0.3)
    r_lower = [-1.0, 0.804016112870, 0.404544465822]
    r_upper = [0.475107249644, 1.22266474752, 1.31393995343]
    assert_allclose(intervals[:2, 0], r_lower[:2], rtol=1e-9)
    assert_allclose(intervals[1:, 1], r_upper[1:], rtol=1e-9)
    _assert_accepted_inside(design, y, 0.3, beta, intervals, 0.1)
    qn = 1 / np.diag(np.linalg.inv(design.T @ design))
    cutoff = stats.t.ppf(0.95, 31)
    assert abs(_statistic(design, y, 0.3, 2, 0.41, qn[2])) > cutoff
    # Our upper intercept bound lies before 0.5, beyond which the test rejects.
    assert intervals[0, 1] < 0.5
    assert abs(_statistic(design, y, 0.3, 0, 0.5001, qn[0])) > cutoff
