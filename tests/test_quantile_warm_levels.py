"""The warm levels of the quantile process: band simplex and the one pass a level.

``band_simplex`` is checked against scipy's HiGHS on the same reduced problem
(rows plus a linear term), ``level_pass`` against numpy, and the process they
drive against cold fits of each level and against the LP optimum.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linprog
from test_censored_quantile import lp_quantile

from statopt import CensoredMissingQuantileRegressor
from statopt.linear_model import _quantile_solver
from statopt.linear_model._kernels import _replace_row, band_simplex, level_pass

LEVELS = np.round(np.arange(1, 20) / 20, 2)


def reduced_lp(X, y, weights, q, linear):
    """min sum w rho_q(y - X b) + linear' b by HiGHS: (status, objective)."""
    n, p = X.shape
    cost = np.r_[linear, q * weights, (1 - q) * weights]
    A = np.hstack([X, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    result = linprog(cost, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    return result.status, result.fun


def objective(X, y, weights, q, linear, beta):
    r = y - X @ beta
    return float(weights @ np.where(r >= 0, q * r, (q - 1) * r) + linear @ beta)


def run_simplex(X, y, weights, q, linear, centre=0.0):
    p = X.shape[1]
    beta = np.empty(p)
    basis = np.empty(p, dtype=np.int64)
    order = np.argsort(np.abs(y - np.median(y) - centre))
    status, pivots = band_simplex(X, y, weights, q, linear, order, 1000, beta, basis)
    return status, beta, basis


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 120), p=st.integers(1, 5),
       q=st.floats(0.02, 0.98), pull=st.floats(0.0, 2.0), ties=st.booleans())
# A pivot onto a degenerate vertex once reported a bounded problem unbounded.
@example(seed=2, n=5, p=2, q=0.125, pull=0.0, ties=True)
def test_band_simplex_solves_the_reduced_problem(seed, n, p, q, pull, ties):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    if ties:  # integer data: degenerate vertices, left to HiGHS by status 3
        X[:, 1:] = np.round(X[:, 1:])
        y = np.round(y)
    weights = rng.uniform(0.5, 2.0, n)
    # The gradient of rows kept out of the band; large pulls make it unbounded.
    linear = pull * weights.sum() * rng.uniform(-1, 1, p)
    X_before, y_before = X.copy(), y.copy()
    status, beta, basis = run_simplex(X, y, weights, q, linear)
    assert_array_equal(X, X_before)
    assert_array_equal(y, y_before)
    reference_status, optimum = reduced_lp(X, y, weights, q, linear)
    if status == 0:
        assert reference_status == 0
        scale = max(abs(optimum), weights @ np.abs(y), 1.0)
        assert abs(objective(X, y, weights, q, linear, beta) - optimum) <= 1e-9 * scale
        # A vertex: the basis rows are on the fit.
        assert_allclose(X[basis] @ beta, y[basis], atol=1e-9 * np.abs(y).max())
    elif status == 1:
        assert reference_status == 3  # unbounded
    else:
        assert status in (2, 3)
        assert ties or n <= p + 1  # declines only degenerate or tiny problems


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(1, 12), k=st.integers(0, 11),
       scale=st.floats(1e-3, 1e3))
def test_replace_row_is_the_inverse_with_the_row_replaced(seed, p, k, scale):
    rng = np.random.default_rng(seed)
    k = k % p
    B = rng.standard_normal((p, p)) + 3 * np.eye(p)
    inverse = np.linalg.inv(B)
    row = scale * rng.standard_normal(p)
    alpha = row @ inverse[:, k]
    updated = inverse.copy()
    declined = _replace_row(updated, k, row, alpha)
    replaced = B.copy()
    replaced[k] = row
    if declined:  # a pivot too small to update by: the inverse is left alone
        assert abs(alpha) <= 1e-6 * np.abs(row).max() * np.abs(inverse[:, k]).max()
        assert_array_equal(updated, inverse)
    else:
        reference = np.linalg.inv(replaced)
        assert_allclose(updated, reference, rtol=1e-7,
                        atol=1e-9 * np.abs(reference).max())


@pytest.mark.parametrize("seed", range(3))
def test_band_simplex_many_pivots_against_highs(seed):
    # Wider than the property test: tens of pivots, each a rank-one update of
    # the basis inverse, from a start far off the optimum.
    rng = np.random.default_rng(seed)
    n, p, q = 600, 10, 0.3
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    y = X @ rng.standard_normal(p) + rng.standard_exponential(n)
    weights = rng.uniform(0.5, 2.0, n)
    linear = 0.05 * weights.sum() * rng.uniform(-1, 1, p)
    beta, basis = np.empty(p), np.empty(p, dtype=np.int64)
    order = np.argsort(-np.abs(y - np.median(y)))  # farthest rows first
    status, pivots = band_simplex(X, y, weights, q, linear, order, 1000, beta, basis)
    reference_status, optimum = reduced_lp(X, y, weights, q, linear)
    assert status == 0 and reference_status == 0
    assert pivots > 2 * p
    gap = objective(X, y, weights, q, linear, beta) - optimum
    assert abs(gap) <= 1e-10 * abs(optimum)
    assert_allclose(X[basis] @ beta, y[basis], atol=1e-9 * np.abs(y).max())


def test_band_simplex_optimum_on_engel():
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.engel.load_pandas().data
    income, y = data["income"].to_numpy(), data["foodexp"].to_numpy()
    # Scaled by a power of two, as the solver passes its columns (the start's
    # Gram-Schmidt compares rows by angle).
    X = np.column_stack([np.ones(len(y)), income / 2.0**12])
    for q in (0.1, 0.5, 0.9):
        status, beta, _ = run_simplex(X, y, np.ones(len(y)), q, np.zeros(2))
        assert status == 0
        reference, _ = lp_quantile(income[:, None], y, q)
        assert_allclose(beta * [1.0, 2.0**-12], reference, rtol=1e-9)


def test_level_pass_against_numpy():
    rng = np.random.default_rng(3)
    n, p, q = 2000, 4, 0.3
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    y = X @ [1.0, 2.0, -1.0, 0.5] + rng.standard_normal(n)
    weights = rng.uniform(0.5, 2.0, n)
    weights[:50] = 0.0
    beta = np.array([0.9, 2.1, -1.0, 0.4])
    # Exactly on the fit: counted in no side sum and no balance.
    y[60:63] = X[60:63] @ beta
    side = rng.integers(0, 3, n).astype(np.int8)
    before = side.copy()
    on_fit, balance, residuals = np.empty(n, dtype=bool), np.empty(p), np.empty(n)
    sums, band = np.empty((2, p)), np.empty(n, dtype=np.int64)
    tolerance, centre, half_width = 1e-9, 0.2, 0.05
    primal, size, wrong, count = level_pass(
        X, y, weights, beta, q, 1e-9, 1e-15, on_fit, balance, residuals, side,
        tolerance, centre, half_width, weights @ X, sums, band)
    r = y - X @ beta
    active = weights > 0
    assert_allclose(residuals, r, rtol=1e-12, atol=1e-12)
    assert primal == pytest.approx(weights @ np.where(r >= 0, q * r, (q - 1) * r))
    assert size == pytest.approx(weights @ (np.abs(y) + np.abs(X * beta).sum(axis=1)))
    fit = active & (np.abs(r) < 1e-12)
    assert_array_equal(on_fit, fit)
    duals = np.where(fit | ~active, 0.0, weights * (q - (r < 0)))
    assert_allclose(balance, X.T @ duals, rtol=1e-10, atol=1e-9)
    assert wrong == np.sum(active & (((before == 0) & (r < -tolerance))
                                     | ((before == 1) & (r > tolerance))))
    in_band = active & (np.abs(r - centre) <= half_width)
    above = active & ~in_band & (r - centre > 0)
    below = active & ~in_band & (r - centre < 0)
    assert_array_equal(np.sort(band[:count]), np.flatnonzero(in_band))
    assert_array_equal(side, np.select([~active, in_band, above], [3, 2, 0], 1))
    assert_allclose(sums[0], weights[above] @ X[above], rtol=1e-10, atol=1e-9)
    assert_allclose(sums[1], weights[below] @ X[below], rtol=1e-10, atol=1e-9)


def simulation(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 3))
    y = 1 + X @ [1.0, -0.5, 0.25] + (1 + 0.5 * np.abs(X[:, 0])) * rng.standard_normal(n)
    return X, y


def test_warm_levels_equal_cold_fits_and_take_the_single_pass(monkeypatch):
    X, y = simulation(6000, seed=0)
    calls = {"simplex": 0, "finish": 0}
    simplex, finish = _quantile_solver.band_simplex, _quantile_solver.exact_finish

    def count_simplex(*args):
        calls["simplex"] += 1
        return simplex(*args)

    def count_finish(*args, **kwargs):
        calls["finish"] += 1
        return finish(*args, **kwargs)

    monkeypatch.setattr(_quantile_solver, "band_simplex", count_simplex)
    monkeypatch.setattr(_quantile_solver, "exact_finish", count_finish)
    process = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    # The warm levels went through the band simplex; at most a few needed the
    # full exact finish besides the first level's.
    assert calls["simplex"] >= LEVELS.size - 1
    assert calls["finish"] <= 3
    monkeypatch.undo()
    assert (process.duality_gap_ < 1e-12).all()
    for k, q in enumerate(LEVELS):
        cold = CensoredMissingQuantileRegressor(q).fit(X, y)
        assert_allclose(process.coef_[k], cold.coef_, rtol=1e-9, atol=1e-9)
        assert process.intercept_[k] == pytest.approx(cold.intercept_, rel=1e-9)


def test_engel_process_equals_cold_fits():
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.engel.load_pandas().data
    X, y = data[["income"]].to_numpy(), data["foodexp"].to_numpy()
    process = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    for k, q in enumerate(LEVELS):
        beta, _ = lp_quantile(X, y, q)
        assert_allclose(np.r_[process.intercept_[k], process.coef_[k]], beta,
                        rtol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_tied_and_weighted_processes_reach_the_lp_optimum(weighted):
    # Integer responses and covariates: degenerate vertices and tied residuals,
    # where the band simplex declines and the exact finish takes over.
    rng = np.random.RandomState(5)
    X = rng.randint(0, 4, size=(1500, 2)).astype(float)
    y = np.round(X @ [1.0, 2.0] + rng.standard_normal(1500))
    weights = rng.uniform(0.2, 3.0, 1500) if weighted else None
    process = CensoredMissingQuantileRegressor(LEVELS).fit(X, y,
                                                           sample_weight=weights)
    w = np.ones(1500) if weights is None else weights
    prediction = process.predict(X)
    for k, q in (0, 0.05), (6, 0.35), (9, 0.5), (18, 0.95):
        _, optimum = lp_quantile(X, y, q, weights)
        r = y - prediction[:, k]
        loss = w @ np.where(r >= 0, q * r, (q - 1) * r)
        assert abs(loss - optimum) <= 1e-9 * optimum


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(1, 11), rank=st.integers(0, 11))
def test_refined_lstsq_square_bases_against_numpy(seed, p, rank):
    # The gap's balancing dual: square bases go by LU, singular ones by lstsq.
    rng = np.random.default_rng(seed)
    rank = min(rank, p)
    A = rng.standard_normal((p, rank)) @ rng.standard_normal((rank, p))
    b = rng.standard_normal(p)
    solution = _quantile_solver._refined_lstsq(A, b)
    reference = np.linalg.lstsq(A, b, rcond=None)[0]
    assert np.isfinite(solution).all()
    # Both minimise the residual; a full-rank system has one solution.
    assert np.linalg.norm(A @ solution - b) <= np.linalg.norm(A @ reference - b) + 1e-8
    if rank == p and np.linalg.cond(A) < 1e8:
        assert_allclose(solution, reference, rtol=1e-6,
                        atol=1e-8 * np.abs(reference).max())
