"""Exact quantile regression on real, ill-conditioned and degenerate designs.

The reference is the primal LP ``min sum w (q u + (1 - q) v)``, ``X b + u - v = y``,
solved by scipy's ``linprog(method='highs')``; objectives are compared as check
losses evaluated at each coefficient vector (HiGHS' reported objective can sit
below its own solution's loss by its feasibility tolerance).
"""

import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog

from statopt import CensoredMissingQuantileRegressor
from statopt.linear_model import _quantile_solver
from statopt.linear_model._quantile_solver import duality_gap

sm = pytest.importorskip("statsmodels.api")

QUANTILES = np.round(np.arange(0.1, 1.0, 0.1), 1)


def check_loss(X, y, q, beta, weights=None):
    r = y - X @ beta
    loss = np.where(r >= 0, q * r, (q - 1) * r)
    return float(loss.sum() if weights is None else weights @ loss)


def with_intercept(X):
    return np.column_stack([np.ones(len(X)), X])


def linprog_loss(X, y, q, weights=None):
    """Check loss at the LP solution of HiGHS (X holds the intercept).

    Up to 2000 rows, the primal LP; beyond (3-5 s a fit on the fair data), its
    dual ``max y'd``, ``X'd = 0``, ``(q - 1) w <= d <= q w``, whose equality
    multipliers are HiGHS' primal solution.
    """
    n, p = X.shape
    weights = np.ones(n) if weights is None else weights
    if n > 2000:
        result = linprog(-y, A_eq=X.T, b_eq=np.zeros(p),
                         bounds=np.column_stack([(q - 1) * weights, q * weights]),
                         method="highs")
        assert result.status == 0
        return check_loss(X, y, q, -result.eqlin.marginals, weights)
    cost = np.r_[np.zeros(p), q * weights, (1 - q) * weights]
    A = sparse.hstack([sparse.csr_matrix(X), sparse.identity(n),
                       -sparse.identity(n)]).tocsr()
    result = linprog(cost, A_eq=A, b_eq=y,
                     bounds=[(None, None)] * p + [(0, None)] * (2 * n),
                     method="highs")
    assert result.status == 0
    return check_loss(X, y, q, result.x[:p], weights)


def fitted_loss(model, X, y, q, weights=None):
    beta = np.r_[model.intercept_, model.coef_]
    return check_loss(with_intercept(X), y, q, beta, weights)


def assert_exact_and_certified(X, y, q, weights=None, gap=1e-9):
    model = CensoredMissingQuantileRegressor(quantile=q).fit(X, y,
                                                             sample_weight=weights)
    ours = fitted_loss(model, X, y, q, weights)
    reference = linprog_loss(with_intercept(X), y, q, weights)
    assert abs(ours - reference) <= 1e-9 * max(reference, 1e-300), (ours, reference)
    assert 0 <= model.duality_gap_ < gap
    return model


def longley():
    data = sm.datasets.longley.load_pandas()
    return data.exog.to_numpy(float), data.endog.to_numpy(float)


def star98():
    data = sm.datasets.star98.load_pandas()
    counts = data.endog.to_numpy(float)
    return data.exog.to_numpy(float), counts[:, 0] / counts.sum(axis=1)


def engel_in_cents_of_cents():
    data = sm.datasets.engel.load_pandas().data
    return data[["income"]].to_numpy(float) * 1e8, data["foodexp"].to_numpy(float)


def columns_of_size_1e8():
    rng = np.random.RandomState(0)
    X = 1e8 * (1 + rng.uniform(size=(120, 3)))
    return X, X @ [2e-8, -1e-8, 3e-8] + rng.standard_normal(120)


ISSUE_11_DESIGNS = {
    "longley": longley,
    "star98": star98,
    "engel_income_x1e8": engel_in_cents_of_cents,
    "columns_1e8": columns_of_size_1e8,
}


@pytest.mark.parametrize("name", ISSUE_11_DESIGNS)
def test_full_rank_ill_conditioned_designs_are_fitted_exactly(name):
    X, y = ISSUE_11_DESIGNS[name]()
    assert np.linalg.matrix_rank(with_intercept(X)) == X.shape[1] + 1
    for q in QUANTILES:
        assert_exact_and_certified(X, y, q)


def test_nearly_collinear_full_rank_design_is_decided_by_pivoted_qr():
    # Condition number about 1e7 after equilibration: beyond what the Gram
    # eigenvalues settle, so the pivoted QR decides (full rank), and the fit is
    # still the LP optimum.
    rng = np.random.RandomState(5)
    x = rng.standard_normal(200)
    X = np.column_stack([x, x + 1e-7 * rng.standard_normal(200),
                         rng.standard_normal(200)])
    assert np.linalg.cond(with_intercept(X)) > 1e6
    y = X @ [1.0, 1.0, -1.0] + rng.standard_normal(200)
    for q in (0.2, 0.5, 0.8):
        assert_exact_and_certified(X, y, q)


def test_truly_rank_deficient_designs_are_still_refused():
    X, y = star98()
    combined = np.column_stack([X, X[:, 0] - 2 * X[:, 3]])
    with pytest.raises(ValueError, match="The design is rank deficient"):
        CensoredMissingQuantileRegressor().fit(combined, y)
    X, y = columns_of_size_1e8()
    with pytest.raises(ValueError, match="The design is rank deficient"):
        CensoredMissingQuantileRegressor().fit(np.column_stack([X, X[:, 1]]), y)
    # A constant column duplicates the intercept.
    with pytest.raises(ValueError, match="The design is rank deficient"):
        CensoredMissingQuantileRegressor().fit(np.column_stack([X, np.full(120, 3e8)]),
                                               y)


def stackloss():
    data = sm.datasets.stackloss.load_pandas()
    return data.exog.to_numpy(float), data.endog.to_numpy(float)


def fair():
    data = sm.datasets.fair.load_pandas()
    return data.exog.to_numpy(float), data.endog.to_numpy(float)


def binary_response():
    rng = np.random.RandomState(1)
    X = rng.standard_normal((300, 3))
    return X, (rng.uniform(size=300) < 0.4).astype(float)


def constant_response_n_is_p_plus_1():
    rng = np.random.RandomState(2)
    return rng.standard_normal((5, 4)), np.full(5, 2.5)


# Degenerate optima (ties: more rows on the fit than coefficients) where the old
# certificate reported 4.75, 1.31, 0.29, 0.115 and 1.0 at optimal fits.
DEGENERATE = [
    (stackloss, 0.2), (stackloss, 0.5), (fair, 0.6), (fair, 0.7),
    (binary_response, 0.9), (binary_response, 0.6),
    (constant_response_n_is_p_plus_1, 0.3),
]


@pytest.mark.parametrize("data, q", DEGENERATE,
                         ids=[f"{d.__name__}-{q}" for d, q in DEGENERATE])
def test_certificate_is_tight_at_degenerate_optima(data, q):
    X, y = data()
    model = assert_exact_and_certified(X, y, q, gap=1e-12)
    residuals = y - model.predict(X)
    # Degenerate indeed: at least as many rows on the fit as coefficients.
    assert np.sum(np.abs(residuals) <= 1e-9 * (1 + np.abs(y))) >= X.shape[1] + 1


def test_certificate_flags_a_non_optimal_beta():
    for data, q in ((stackloss, 0.2), (fair, 0.7), (longley, 0.5)):
        X, y = data()
        model = CensoredMissingQuantileRegressor(quantile=q).fit(X, y)
        design = with_intercept(X)
        weights = np.ones(len(y))
        beta = np.r_[model.intercept_, model.coef_]
        optimum = check_loss(design, y, q, beta)
        for j in (0, design.shape[1] - 1):
            perturbed = beta.copy()
            perturbed[j] += 1e-3 * np.std(y) / max(np.std(design[:, j]), 1.0)
            loss = check_loss(design, y, q, perturbed)
            assert loss > optimum
            gap = duality_gap(design, y, weights, q, perturbed)
            # A true certificate bounds the excess loss, and sees it.
            assert gap >= (loss - optimum) / loss * (1 - 1e-6)
            assert gap > 1e-6
        assert duality_gap(design, y, weights, q, beta) < 1e-9


def test_certificate_with_weights_on_a_degenerate_design():
    X, y = stackloss()
    weights = np.random.RandomState(3).choice([0.5, 1.0, 4.0], size=len(y))
    for q in (0.2, 0.5, 0.8):
        assert_exact_and_certified(X, y, q, weights)


def test_highs_failure_falls_back_to_more_mm_iterations(monkeypatch):
    # When HiGHS finds no optimum (returns None), the finish refines the start
    # by MM and solves again: the answer is still the exact optimum.
    calls = {"n": 0}
    solve = _quantile_solver.solve_box_lp

    def failing_once(*args, **kwargs):
        calls["n"] += 1
        return None if calls["n"] == 1 else solve(*args, **kwargs)

    monkeypatch.setattr(_quantile_solver, "solve_box_lp", failing_once)
    rng = np.random.RandomState(4)
    X = rng.standard_normal((400, 3))
    y = X @ [1.0, -1.0, 0.5] + rng.standard_cauchy(400)
    model = assert_exact_and_certified(X, y, 0.3)
    assert calls["n"] >= 2
    assert model.n_iter_ > 6  # refined


def test_fit_prints_nothing_even_on_first_use_of_highs():
    # highspy's constructor prints a banner unless output is off before it
    # enables callbacks; one fit in a fresh process must print nothing.
    code = (
        "import numpy as np\n"
        "from statopt import CensoredMissingQuantileRegressor\n"
        "rng = np.random.RandomState(0)\n"
        "X = rng.standard_normal((200, 2))\n"
        "y = X[:, 0] + rng.standard_normal(200)\n"
        "CensoredMissingQuantileRegressor().fit(X, y)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
