"""The quantile process: CensoredMissingQuantileRegressor with an array of levels.

Every level is checked against an independent exact LP (scipy's HiGHS on the
primal), and the rearrangement against a brute-force one on a fine grid.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_diabetes
from sklearn.model_selection import cross_val_score
from test_censored_quantile import lp_quantile

from statopt import CensoredMissingQuantileRegressor
from statopt.datasets import make_censored_quantile_data
from statopt.linear_model._censored_quantile import rearrange_quantiles

LEVELS = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])


def lp_optimum(X, y, q, weights=None):
    """Optimal check loss of the weighted primal LP, by scipy's HiGHS."""
    return lp_quantile(X, y, q, weights)[1]


def check_loss(prediction, y, q, weights):
    residual = y - prediction
    return float(weights @ np.where(residual >= 0, q * residual, (q - 1) * residual))


def engel():
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.engel.load_pandas().data
    return data[["income"]].to_numpy(), data["foodexp"].to_numpy()


@pytest.mark.parametrize("dataset", ["engel", "diabetes"])
def test_every_level_is_the_lp_optimum_on_real_data(dataset):
    if dataset == "engel":
        X, y = engel()
    else:  # 442 rows, 10 standardised columns, some strongly correlated
        X, y = load_diabetes(return_X_y=True)
    model = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    assert model.coef_.shape == (LEVELS.size, X.shape[1])
    assert model.intercept_.shape == model.duality_gap_.shape == (LEVELS.size,)
    assert (model.duality_gap_ < 1e-10).all()
    prediction = model.predict(X)
    assert prediction.shape == (X.shape[0], LEVELS.size)
    for k, q in enumerate(LEVELS):
        optimum = lp_optimum(X, y, q)
        loss = check_loss(prediction[:, k], y, q, np.ones(y.size))
        assert abs(loss - optimum) <= 1e-9 * optimum


def test_engel_process_equals_r_quantreg():
    # R 4.2.2, quantreg 5.94 (Debian's r-cran-quantreg), printed with 12 digits:
    # coef(rq(foodexp ~ income, tau = c(.1, .25, .5, .75, .9), data = engel)).
    X, y = engel()
    model = CensoredMissingQuantileRegressor([0.1, 0.25, 0.5, 0.75, 0.9]).fit(X, y)
    assert_allclose(model.intercept_, [110.141574204948, 95.483539634553,
                                       81.482247416936, 62.396585528964,
                                       67.350872080130], rtol=1e-10)
    assert_allclose(model.coef_[:, 0], [0.401765759303, 0.474103208193,
                                        0.560180551209, 0.644014139369,
                                        0.686299480372], rtol=1e-10)


def test_censored_missing_process_solves_each_levels_weighted_problem():
    X, y, _ = make_censored_quantile_data(600, censoring_rate=0.25,
                                          missing_rate=0.3, random_state=3)
    levels = np.array([0.2, 0.35, 0.5, 0.65])
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    complete = ~np.isnan(X).any(axis=1)
    weights = model.weights_
    kept = weights > 0
    assert kept.sum() < complete.sum()  # censored rows drop out too
    for k, q in enumerate(levels):
        single = CensoredMissingQuantileRegressor(q).fit(X, y)
        # The same weights (censoring and propensity do not depend on the level).
        assert_allclose(single.weights_, weights)
        optimum = lp_optimum(X[kept], y["time"][kept], q, weights[kept])
        prediction = X[kept] @ model.coef_[k] + model.intercept_[k]
        loss = check_loss(prediction, y["time"][kept], q, weights[kept])
        assert abs(loss - optimum) <= 1e-9 * optimum


def test_scalar_and_one_level_array_shapes():
    X, y = engel()
    scalar = CensoredMissingQuantileRegressor(0.3).fit(X, y)
    array = CensoredMissingQuantileRegressor([0.3]).fit(X, y)
    assert scalar.coef_.shape == (1,) and isinstance(scalar.intercept_, float)
    assert array.coef_.shape == (1, 1) and array.intercept_.shape == (1,)
    assert_allclose(array.coef_[0], scalar.coef_)
    assert scalar.predict(X).shape == (X.shape[0],)
    assert array.predict(X).shape == (X.shape[0], 1)
    assert_array_equal(scalar.quantiles_, [0.3])
    zero_dimensional = CensoredMissingQuantileRegressor(np.array(0.3)).fit(X, y)
    assert zero_dimensional.coef_.shape == (1,)
    with pytest.raises(ValueError, match="strictly increasing"):
        CensoredMissingQuantileRegressor(np.array(1.5)).fit(X, y)


def test_mm_solver_process_is_near_the_optimum():
    X, y = load_diabetes(return_X_y=True)
    levels = [0.25, 0.5, 0.75]
    exact = CensoredMissingQuantileRegressor(levels).fit(X, y)
    mm = CensoredMissingQuantileRegressor(levels, solver="mm", epsilon=1e-4,
                                          max_iter=2000).fit(X, y)
    assert np.isnan(mm.duality_gap_).all()
    for k, q in enumerate(levels):
        best = check_loss(exact.predict(X)[:, k], y, q, np.ones(y.size))
        approx = check_loss(mm.predict(X)[:, k], y, q, np.ones(y.size))
        assert best <= approx <= best * (1 + 1e-4)


@pytest.mark.parametrize("quantile", [[0.5, 0.25], [0.2, 0.2], [0.0, 0.5], [0.5, 1.0],
                                      [], [[0.2, 0.5]], [0.1, np.nan], ["a", "b"]])
def test_levels_must_be_strictly_increasing_in_the_unit_interval(quantile):
    X, y = engel()
    with pytest.raises(ValueError, match="strictly increasing levels in \\(0, 1\\)"):
        CensoredMissingQuantileRegressor(quantile).fit(X, y)


def brute_force_rearrangement(values, levels, resolution=20000):
    """The rearranged step function on a fine grid of levels (midpoint rule)."""
    middle = (levels[1:] + levels[:-1]) / 2
    low, high = 2 * levels[0] - middle[0], 2 * levels[-1] - middle[-1]
    bounds = np.r_[low, middle, high]
    grid = low + (high - low) * (np.arange(resolution) + 0.5) / resolution
    cell = np.searchsorted(bounds, grid, side="right") - 1
    ordered = np.sort(values[cell])  # the increasing rearrangement on the grid
    return ordered[((levels - low) / (high - low) * resolution).astype(int)]


def test_rearrangement_against_brute_force():
    rng = np.random.RandomState(0)
    # Random uneven levels: sums of cell lengths do not fall on a level (with
    # round decimals they can, and the step function's value there is a tie).
    levels = np.sort(rng.uniform(0.02, 0.98, 7))
    predictions = rng.standard_normal((40, levels.size))
    rearranged = rearrange_quantiles(predictions, levels)
    for row, result in zip(predictions, rearranged):
        assert_allclose(result, brute_force_rearrangement(row, levels))
    assert (np.diff(rearranged, axis=1) >= 0).all()
    # Increasing rows are left as they are; equally spaced levels sort.
    increasing = np.sort(predictions, axis=1)
    assert_array_equal(rearrange_quantiles(increasing, levels), increasing)
    equal = np.arange(1, 8) / 8
    assert_array_equal(rearrange_quantiles(predictions, equal),
                       np.sort(predictions, axis=1))


def test_predict_monotone_repairs_crossing_fits():
    # Few rows and close extreme levels: the fitted lines cross inside the data.
    rng = np.random.RandomState(4)
    X = rng.uniform(0, 10, (40, 1))
    y = 1 + X[:, 0] + rng.standard_normal(40) * (1 + 0.3 * X[:, 0])
    levels = np.linspace(0.05, 0.95, 10)
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    grid = np.linspace(-20, 30, 200)[:, None]  # beyond the data: crossings
    raw = model.predict(grid)
    assert (np.diff(raw, axis=1) < 0).any()
    monotone = model.predict(grid, monotone=True)
    assert (np.diff(monotone, axis=1) >= 0).all()
    assert_allclose(monotone, rearrange_quantiles(raw, levels))
    # Each row keeps its values: a rearrangement, not a smoother.
    for before, after in zip(raw, monotone):
        assert set(np.round(after, 10)) <= set(np.round(before, 10))
    single = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    assert_array_equal(single.predict(grid, monotone=True), single.predict(grid))


def test_summary_stacks_levels_as_single_level_summaries():
    pd = pytest.importorskip("pandas")
    X, y = engel()
    levels = [0.25, 0.5, 0.75]
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    table = model.summary(X, y, se="iid")
    assert isinstance(table.index, pd.MultiIndex)
    assert list(table.index.names) == ["quantile", "term"]
    assert "quantiles=0.25, 0.5, 0.75" in str(table)
    intervals = model.conf_int(X, y, se="ker")
    errors = model.bse(X, y, se="nid")
    for q in levels:
        single = CensoredMissingQuantileRegressor(q).fit(X, y)
        assert_allclose(table.loc[q].to_numpy(),
                        single.summary(X, y, se="iid").to_numpy(), rtol=1e-10)
        assert_allclose(intervals.loc[q].to_numpy(),
                        single.conf_int(X, y, se="ker").to_numpy(), rtol=1e-10)
        assert_allclose(errors.loc[q].to_numpy(),
                        single.bse(X, y, se="nid").to_numpy(), rtol=1e-10)


def test_bootstrap_of_the_process_refits_every_level():
    X, y, _ = make_censored_quantile_data(300, censoring_rate=0.2,
                                          missing_rate=0.0, random_state=5)
    levels = [0.3, 0.5, 0.7]
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    table = model.summary(X, y, n_boot=30, random_state=0)
    assert "se='boot' (the default: the weights were estimated)" in str(table)
    assert table.shape == (3 * 3, 6)
    values = table.to_numpy()
    assert np.isfinite(values).all()
    assert (values[:, 4] <= values[:, 5]).all()
    # The replicates fit all levels together: the intervals at one level equal
    # those of a process fit on the same resamples, not another draw.
    single = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    alone = single.summary(X, y, n_boot=30, random_state=0).to_numpy()
    assert_allclose(values[3:6], alone, rtol=1e-9)


def test_process_score_is_the_mean_of_level_scores_and_cross_validates():
    X, y = load_diabetes(return_X_y=True)
    levels = [0.25, 0.5, 0.75]
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    singles = [CensoredMissingQuantileRegressor(q).fit(X, y).score(X, y)
               for q in levels]
    assert model.score(X, y) == pytest.approx(np.mean(singles), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = cross_val_score(CensoredMissingQuantileRegressor(levels), X, y, cv=3)
    assert np.isfinite(scores).all()


@settings(max_examples=40, deadline=None)
@given(levels=st.lists(st.one_of(st.floats(-0.5, 1.5), st.just(np.nan)), max_size=6),
       seed=st.integers(0, 3))
def test_any_levels_give_a_clean_error_or_an_exact_process(levels, seed):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((60, 2))
    y = X @ [1.0, -1.0] + rng.standard_normal(60)
    model = CensoredMissingQuantileRegressor(levels)
    array = np.array(levels, dtype=float)
    valid = (array.size > 0 and np.isfinite(array).all() and (array > 0).all()
             and (array < 1).all() and (np.diff(array) > 0).all())
    if not valid:
        with pytest.raises(ValueError, match="strictly increasing"):
            model.fit(X, y)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)
    prediction = model.predict(X, monotone=True)
    assert prediction.shape == (60, array.size)
    assert (np.diff(prediction, axis=1) >= 0).all()
    for k, q in enumerate(array):
        optimum = lp_optimum(X, y, q)
        loss = check_loss(model.predict(X)[:, k], y, q, np.ones(60))
        assert loss <= optimum + 1e-9 * max(optimum, 1.0)
