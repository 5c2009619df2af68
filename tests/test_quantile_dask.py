"""CensoredMissingQuantileRegressor on Dask arrays: the in-memory answer, by reductions.

The reference of each fit is the in-memory fit on the computed arrays (itself
tested against HiGHS, scikit-learn and statsmodels in test_censored_quantile.py),
and for Engel scikit-learn's QuantileRegressor; the Kaplan-Meier reduction is
compared with lifelines.
"""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from statopt import CensoredMissingQuantileRegressor  # noqa: E402
from statopt.datasets import make_censored_quantile_data  # noqa: E402
from statopt.survival import make_survival_target  # noqa: E402
from statopt.survival._dask import kaplan_meier_reduction  # noqa: E402


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def check_loss(model, X, y, q, weights):
    r = y - model.predict(X)
    return float(weights @ np.where(r >= 0, q * r, (q - 1) * r))


def assert_same_fit(memory, lazy, X, time, q):
    """Coefficients and weighted check loss equal to ~1e-9 relative; certified."""
    scale = np.abs(memory._coefficient_matrix()).max()
    assert_allclose(lazy._coefficient_matrix(), memory._coefficient_matrix(),
                    rtol=1e-9, atol=1e-9 * scale)
    weights = memory.weights_
    assert_allclose(np.asarray(lazy.weights_.compute()), weights, rtol=1e-14)
    keep = weights > 0
    design = X[keep]
    if memory.fit_intercept:
        design = np.column_stack([np.ones(design.shape[0]), design])
    pairs = zip(np.atleast_1d(q), memory._coefficient_matrix(),
                lazy._coefficient_matrix())
    for level, reference, coefficients in pairs:
        losses = [float(weights[keep] @ np.where(r >= 0, level * r, (level - 1) * r))
                  for r in (time[keep] - design @ reference,
                            time[keep] - design @ coefficients)]
        assert_allclose(losses[1], losses[0], rtol=1e-9)
    assert np.all(np.asarray(lazy.duality_gap_) <= 1e-9)


@pytest.mark.parametrize("sample_size", [None, 80])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_engel_equals_memory_and_scikit_learn(q, sample_size, monkeypatch):
    # The sample every row (fitted on the client), or a sample and a band pass.
    if sample_size:
        count_passes(monkeypatch, sample_size)
    sm = pytest.importorskip("statsmodels.api")
    from sklearn.linear_model import QuantileRegressor

    engel = sm.datasets.engel.load_pandas().data
    X = engel[["income"]].to_numpy()
    y = engel["foodexp"].to_numpy()
    memory = CensoredMissingQuantileRegressor(q).fit(X, y)
    lazy = CensoredMissingQuantileRegressor(q).fit(
        da.from_array(X, chunks=(40, 1)), da.from_array(y, chunks=40))
    assert_same_fit(memory, lazy, X, y, q)
    reference = QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(X, y)
    ones = np.ones(len(y))
    assert check_loss(lazy, X, y, q, ones) <= check_loss(reference, X, y, q, ones) \
        * (1 + 1e-9)


@pytest.mark.parametrize("sample_size", [None, 150, 250])
@pytest.mark.parametrize("q", [0.1, 0.25])
def test_rossi_censored_equals_memory(q, sample_size, monkeypatch):
    from lifelines.datasets import load_rossi

    # Every row on the client; a sample too small for its 8 parts of 2 p rows
    # (the maps-and-band path); about 100 of the 114 events (two passes).
    if sample_size:
        passes = count_passes(monkeypatch, sample_size)
    rossi = load_rossi()
    X = rossi[["fin", "age", "prio", "wexp"]].to_numpy(np.float64)
    y = make_survival_target(rossi["arrest"].to_numpy().astype(bool),
                             rossi["week"].to_numpy(np.float64))
    memory = CensoredMissingQuantileRegressor(q).fit(X, y)
    lazy = CensoredMissingQuantileRegressor(q, random_state=0).fit(
        da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=100))
    assert_same_fit(memory, lazy, X, y["time"], q)
    if sample_size:
        assert ("_normal_equations_chunk" in passes) == (sample_size == 150)
    assert_allclose(lazy.censoring_distribution_.survival_,
                    memory.censoring_distribution_.survival_, rtol=1e-14)
    # The target as an (event, time) tuple of dask arrays gives the same fit.
    pair = CensoredMissingQuantileRegressor(q, random_state=0).fit(
        da.from_array(X, chunks=(100, 4)),
        (da.from_array(y["event"], chunks=100), da.from_array(y["time"], chunks=100)))
    assert_allclose(pair.coef_, lazy.coef_, rtol=1e-12)


@pytest.mark.parametrize("sample_size", [None, 5000])
def test_censored_simulation_with_weights_and_levels(sample_size, monkeypatch):
    # All rows fitted on the client (the sample is every row), or two passes.
    if sample_size:
        passes = count_passes(monkeypatch, sample_size)
    X, y, _ = make_censored_quantile_data(50_000, censoring_rate=0.3,
                                          missing_rate=0.0, random_state=0)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    levels = [0.25, 0.5]
    memory = CensoredMissingQuantileRegressor(levels).fit(X, y, sample_weight=weights)
    lazy = CensoredMissingQuantileRegressor(levels, random_state=0).fit(
        da.from_array(X, chunks=(6000, -1)), da.from_array(y, chunks=6000),
        sample_weight=da.from_array(weights, chunks=6000))
    assert_same_fit(memory, lazy, X, y["time"], levels)
    assert np.all(lazy.n_iter_ <= memory.n_iter_.max() + 6)
    if sample_size:  # one band pass per level after the statistics
        assert passes == ["_stats_chunk", "_ball_chunk", "_ball_chunk"]


@pytest.mark.parametrize("censoring", ["drop", "ignore"])
def test_missing_drop_and_other_censoring(censoring):
    X, y, _ = make_censored_quantile_data(3000, censoring_rate=0.2,
                                          missing_rate=0.3, random_state=2)
    memory = CensoredMissingQuantileRegressor(
        0.5, missing="drop", censoring=censoring).fit(X, y)
    lazy = CensoredMissingQuantileRegressor(
        0.5, missing="drop", censoring=censoring).fit(
        da.from_array(X, chunks=(500, -1)), da.from_array(y, chunks=500))
    assert_same_fit(memory, lazy, X, y["time"], 0.5)


def test_solver_mm_on_dask_matches_memory():
    X, y, _ = make_censored_quantile_data(2000, censoring_rate=0.0,
                                          missing_rate=0.0, random_state=3)
    time = y["time"] if y.dtype.names else y
    memory = CensoredMissingQuantileRegressor(0.5, solver="mm", max_iter=500).fit(
        X, time)
    lazy = CensoredMissingQuantileRegressor(0.5, solver="mm", max_iter=500).fit(
        da.from_array(X, chunks=(700, -1)), da.from_array(time, chunks=700))
    # Both stop within tol of the same perturbed optimum.
    assert_allclose(lazy.coef_, memory.coef_, rtol=1e-4)
    assert np.isnan(lazy.duality_gap_)


def test_kaplan_meier_reduction_equals_lifelines():
    from lifelines import KaplanMeierFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()  # weeks: many ties
    time = rossi["week"].to_numpy(np.float64)
    event = rossi["arrest"].to_numpy().astype(bool)
    times, survival = kaplan_meier_reduction(da.from_array(time, chunks=50),
                                             da.from_array(event, chunks=50))
    reference = KaplanMeierFitter().fit(time, event)
    assert_array_equal(times, np.unique(time))
    assert_allclose(survival, reference.survival_function_at_times(times).to_numpy(),
                    rtol=1e-12)
    # The censoring curve: without ties lifelines' convention is the same.
    rng = np.random.default_rng(0)
    time = rng.exponential(size=500)
    event = rng.random(500) < 0.6
    times, survival = kaplan_meier_reduction(da.from_array(time, chunks=77),
                                             da.from_array(event, chunks=77),
                                             censoring=True)
    reference = KaplanMeierFitter().fit(time, ~event)
    assert_allclose(survival, reference.survival_function_at_times(times).to_numpy(),
                    rtol=1e-12)


def test_bad_input_gets_clear_errors():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = X.sum(axis=1) + rng.standard_normal(300)
    model = CensoredMissingQuantileRegressor()
    Xd = da.from_array(X, chunks=(100, 3))
    with pytest.raises(ValueError, match="do not match the row chunks"):
        model.fit(Xd, da.from_array(y, chunks=150))
    with pytest.raises(ValueError, match="one value per row"):
        model.fit(Xd, da.from_array(y[:200], chunks=100))
    with pytest.raises(ValueError, match="one value per row"):
        model.fit(Xd, da.from_array(y, chunks=100),
                  sample_weight=da.ones(299, chunks=100))
    bad_y = y.copy()
    bad_y[250] = np.nan
    with pytest.raises(ValueError, match="y holds NaN.*rows 200 to 299"):
        model.fit(Xd, da.from_array(bad_y, chunks=100))
    bad_X = X.copy()
    bad_X[120, 1] = np.nan
    with pytest.raises(ValueError, match="missing='drop'"):
        model.fit(da.from_array(bad_X, chunks=(100, 3)), da.from_array(y, chunks=100))
    bad_X[120, 1] = np.inf
    with pytest.raises(ValueError, match="X holds infinity in rows 100 to 199"):
        model.fit(da.from_array(bad_X, chunks=(100, 3)), da.from_array(y, chunks=100))
    with pytest.raises(ValueError, match="sample_weight must be finite"):
        model.fit(Xd, da.from_array(y, chunks=100),
                  sample_weight=da.from_array(-np.ones(300), chunks=100))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        model.fit(Xd[Xd[:, 0] > 0], y[X[:, 0] > 0])
    with pytest.raises(ValueError, match="no row keeps a positive weight|No row"):
        model.fit(Xd, da.from_array(y, chunks=100), sample_weight=da.zeros(300,
                                                                           chunks=100))
    with pytest.raises(ValueError, match="rank deficient"):
        model.fit(da.from_array(np.column_stack([X, X[:, 0]]), chunks=(100, 4)),
                  da.from_array(y, chunks=100))
    fitted = model.fit(Xd, da.from_array(y, chunks=100))
    with pytest.raises(ValueError, match="fitted on dask arrays"):
        fitted.summary(X, y)


def test_caller_arrays_unchanged_and_dask_not_imported_by_statopt():
    X, y, _ = make_censored_quantile_data(800, censoring_rate=0.3, missing_rate=0.2,
                                          random_state=4)
    X_copy, y_copy = X.copy(), y.copy()
    weights = np.full(len(y), 3.0)
    CensoredMissingQuantileRegressor(0.4, missing="drop").fit(
        da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300),
        sample_weight=weights)
    assert_array_equal(X, X_copy)
    assert_array_equal(y, y_copy)
    assert_array_equal(weights, 3.0)
    code = "import sys, statopt; statopt.CensoredMissingQuantileRegressor; " \
           "print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"


@settings(max_examples=12, deadline=None)
@given(n=st.integers(20, 400), p=st.integers(1, 3), chunk=st.integers(5, 200),
       q=st.sampled_from([0.2, 0.5, 0.8]), seed=st.integers(0, 10_000),
       censored=st.booleans())
def test_property_dask_equals_memory(n, p, chunk, q, seed, censored):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.choice([1e-3, 1.0, 1e4], p)
    time = X @ rng.standard_normal(p) + rng.standard_t(2, n) + 50
    y = (make_survival_target(rng.random(n) < 0.8, time, allow_negative=True)
         if censored else time)
    memory = CensoredMissingQuantileRegressor(q).fit(X, y)
    lazy = CensoredMissingQuantileRegressor(q).fit(
        da.from_array(X, chunks=(chunk, p)), da.from_array(y, chunks=chunk))
    assert_same_fit(memory, lazy, X, time, q)


@pytest.mark.parametrize("sample_size", [None, 1000])
def test_distributed_local_cluster(sample_size, monkeypatch):
    # The sample every row (one pass on the cluster), or two passes.
    distributed = pytest.importorskip("distributed")
    if sample_size:
        passes = count_passes(monkeypatch, sample_size)
    X, y, _ = make_censored_quantile_data(4000, censoring_rate=0.25,
                                          missing_rate=0.0, random_state=5)
    memory = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        lazy = CensoredMissingQuantileRegressor(0.5).fit(
            da.from_array(X, chunks=(1000, -1)), da.from_array(y, chunks=1000))
        weights = lazy.weights_.compute()
    assert_allclose(weights, memory.weights_, rtol=1e-14)
    assert_allclose(lazy.coef_, memory.coef_, rtol=1e-9)
    assert lazy.duality_gap_ <= 1e-9
    if sample_size:
        assert passes == ["_stats_chunk", "_ball_chunk"]


def test_predict_on_dask_is_lazy_and_equal():
    X, y, _ = make_censored_quantile_data(1000, censoring_rate=0.2,
                                          missing_rate=0.0, random_state=6)
    for levels in (0.5, [0.3, 0.7]):
        model = CensoredMissingQuantileRegressor(levels).fit(X, y)
        lazy = model.predict(da.from_array(X, chunks=(300, -1)), monotone=True)
        assert isinstance(lazy, da.Array)
        assert_allclose(lazy.compute(), model.predict(X, monotone=True), rtol=1e-15)
    bad = X.copy()
    bad[700, 0] = np.nan
    prediction = model.predict(da.from_array(bad, chunks=(300, -1)))
    with pytest.raises(ValueError, match="predict needs complete rows"):
        prediction.compute()
    with pytest.raises(ValueError, match="columns, as in fit"):
        model.predict(da.from_array(X[:, :1], chunks=(300, -1)))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), chunk=st.integers(1, 120), n_times=st.integers(1, 40),
       seed=st.integers(0, 10_000), censoring=st.booleans())
def test_property_kaplan_meier_reduction_equals_in_memory(n, chunk, n_times, seed,
                                                          censoring):
    from statopt.survival import CensoringDistributionEstimator, kaplan_meier

    rng = np.random.default_rng(seed)
    time = rng.integers(0, n_times, n).astype(np.float64)  # ties
    event = rng.random(n) < 0.6
    event[0] = True
    times, survival = kaplan_meier_reduction(da.from_array(time, chunks=chunk),
                                             da.from_array(event, chunks=chunk),
                                             censoring=censoring)
    if censoring:
        reference = CensoringDistributionEstimator().fit(
            make_survival_target(event, time))
        expected = reference.unique_times_, reference.survival_
    else:
        expected = kaplan_meier(time, event)
    assert_array_equal(times, expected[0])
    assert_allclose(survival, expected[1], rtol=1e-13, atol=1e-15)



def count_passes(monkeypatch, sample_size):
    """Set the sample size; the list of passes over the rows, by chunk function."""
    from statopt.linear_model import _quantile_dask

    monkeypatch.setattr(_quantile_dask, "DASK_SAMPLE_SIZE", sample_size)
    passes = []
    map_blocks = _quantile_dask._map_blocks

    def counted(blocks, function, *args, **kwargs):
        passes.append(function.__name__)
        return map_blocks(blocks, function, *args, **kwargs)

    monkeypatch.setattr(_quantile_dask, "_map_blocks", counted)
    return passes


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_two_pass_fit_equals_memory(q, monkeypatch):
    # A sample smaller than the data: parts of it fitted in memory, one pass for
    # the band, its LP certified by the ball without a check pass.
    passes = count_passes(monkeypatch, 2000)
    X, y, _ = make_censored_quantile_data(20_000, censoring_rate=0.0,
                                          missing_rate=0.0, random_state=7)
    time = y["time"] if y.dtype.names else y
    memory = CensoredMissingQuantileRegressor(q).fit(X, time)
    lazy = CensoredMissingQuantileRegressor(q, random_state=0).fit(
        da.from_array(X, chunks=(3000, -1)), da.from_array(time, chunks=3000))
    assert_same_fit(memory, lazy, X, time, q)
    assert passes == ["_stats_chunk", "_ball_chunk"]


@pytest.mark.parametrize("radius", [0.3, 1e-12])
@pytest.mark.parametrize("q", [0.1, 0.9])
def test_two_pass_fallbacks_stay_exact(radius, q, monkeypatch):
    # A radius too small for the solution (0.3: it leaves the ball, a pass checks
    # the globbed rows) or for any LP (1e-12: the band cannot balance the
    # globbed rows; MM maps on all rows, a band and its check, as before).
    from statopt.linear_model import _quantile_dask

    passes = count_passes(monkeypatch, 1000)
    monkeypatch.setattr(_quantile_dask, "BALL_RADIUS", radius)
    X, y, _ = make_censored_quantile_data(20_000, censoring_rate=0.2,
                                          missing_rate=0.0, random_state=7)
    memory = CensoredMissingQuantileRegressor(q).fit(X, y)
    lazy = CensoredMissingQuantileRegressor(q, random_state=0).fit(
        da.from_array(X, chunks=(3000, -1)), da.from_array(y, chunks=3000))
    assert_same_fit(memory, lazy, X, y["time"], q)
    assert passes[:2] == ["_stats_chunk", "_ball_chunk"]
    assert "_check_chunk" in passes
    if radius < 1e-6:
        assert "_normal_equations_chunk" in passes


@settings(max_examples=15, deadline=None)
@given(n=st.integers(150, 600), p=st.integers(1, 3), chunk=st.integers(40, 300),
       q=st.sampled_from([0.2, 0.5, 0.8]), seed=st.integers(0, 10_000),
       radius=st.sampled_from([2.0, 0.3, 1e-12]), ties=st.booleans())
def test_property_two_pass_equals_memory(n, p, chunk, q, seed, radius, ties):
    from statopt.linear_model import _quantile_dask

    rng = np.random.default_rng(seed)
    scales = rng.choice([1e-3, 1.0, 1e4], p)
    X = rng.standard_normal((n, p)) * scales
    time = X @ rng.standard_normal(p) + rng.standard_t(2, n) + 50
    if ties:  # degenerate optima: rows tied on the fit
        X, time = np.round(X / scales) * scales, np.round(time)
    memory = CensoredMissingQuantileRegressor(q).fit(X, time)
    with pytest.MonkeyPatch.context() as patch:
        passes = count_passes(patch, n // 3)
        patch.setattr(_quantile_dask, "BALL_RADIUS", radius)
        lazy = CensoredMissingQuantileRegressor(q, random_state=seed).fit(
            da.from_array(X, chunks=(chunk, p)), da.from_array(time, chunks=chunk))
    assert passes[0] == "_stats_chunk"
    if not ties:
        assert_same_fit(memory, lazy, X, time, q)
        return
    # Ties may leave several optima: the same check loss, certified.
    ones = np.ones(n)
    assert_allclose(check_loss(lazy, X, time, q, ones),
                    check_loss(memory, X, time, q, ones), rtol=1e-9)
    assert lazy.duality_gap_ <= 1e-9


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), p=st.integers(1, 4), seed=st.integers(0, 10_000),
       radius=st.floats(0.0, 2.0))
def test_property_ball_split_equals_numpy(n, p, seed, radius):
    from statopt.linear_model._kernels import ball_split

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n)
    w = rng.random(n) * (rng.random(n) < 0.8)
    beta = rng.standard_normal(p)
    metric = np.tril(rng.standard_normal((p, p))) + 3 * np.eye(p)
    band = np.empty(n, dtype=bool)
    sums, totals, side_y, abs_x = (np.empty((2, p)), np.empty(2), np.empty(2),
                                   np.empty(p))
    abs_y = ball_split(X, y, w, beta, metric, radius, 1e-6, 1e-9, band, sums,
                       totals, side_y, abs_x)
    r = y - X @ beta
    reach = radius * np.linalg.norm(X @ metric.T, axis=1) * (1 + 1e-6) + 1e-9 * (
        np.abs(y) + np.abs(X * beta).sum(axis=1))
    expected_band = (w > 0) & (np.abs(r) <= reach)
    assert_array_equal(band, expected_band)
    out = (w > 0) & ~expected_band
    for side, mask in ((0, out & (r > 0)), (1, out & ~(r > 0))):
        assert_allclose(sums[side], w[mask] @ X[mask], rtol=1e-12, atol=1e-12)
        assert_allclose(totals[side], w[mask].sum(), rtol=1e-12, atol=1e-12)
        assert_allclose(side_y[side], w[mask] @ y[mask], rtol=1e-12, atol=1e-12)
    assert_allclose(abs_x, w[out] @ np.abs(X[out]), rtol=1e-12, atol=1e-12)
    assert_allclose(abs_y, w[out] @ np.abs(y[out]), rtol=1e-12, atol=1e-12)
    # The certificate: a fit within the radius (in the metric) crosses no row
    # kept out of the band.
    direction = rng.standard_normal(p)
    step = np.linalg.solve(metric.T, direction)
    delta = (step / np.linalg.norm(direction)) * radius * 0.999
    new = y - X @ (beta + delta)
    assert np.all(np.sign(new[out]) == np.sign(r[out]))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), p=st.integers(1, 4), seed=st.integers(0, 10_000),
       q=st.floats(0.05, 0.95), threshold=st.floats(0.0, 2.0))
def test_property_band_split_equals_numpy(n, p, seed, q, threshold):
    from statopt.linear_model._kernels import band_split

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n)
    w = rng.random(n) * (rng.random(n) < 0.8)
    beta = rng.standard_normal(p)
    centre = float(rng.standard_normal())
    residuals, band, sums = np.empty(n), np.empty(n, dtype=bool), np.empty((2, p))
    loss, totals = band_split(X, y, w, beta, q, centre, threshold, residuals, band,
                              sums)
    r = y - X @ beta
    assert_allclose(loss, w @ np.where(r >= 0, q * r, (q - 1) * r), rtol=1e-12,
                    atol=1e-12)
    assert_allclose(residuals, r - centre, rtol=1e-12, atol=1e-12)
    expected_band = (w > 0) & (np.abs(residuals) <= threshold)
    assert_array_equal(band, expected_band)
    for side, mask in ((0, ~expected_band & (residuals > 0)),
                       (1, ~expected_band & ~(residuals > 0))):
        assert_allclose(sums[side], w[mask] @ X[mask], rtol=1e-12, atol=1e-12)
        assert_allclose(totals[side], w[mask].sum(), rtol=1e-12, atol=1e-12)
