"""Property-based tests: every public function of statopt.survival on any input.

Each function either raises a clear ValueError or TypeError, or returns a finite
result (probabilities and survival values in [0, 1]); it never crashes, hangs or
modifies the caller's arrays. Inputs: NaN, inf, empty, one row, huge and
subnormal values, odd dtypes, sparse matrices, wrong lengths, bad parameters.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from statopt.survival import (
    CensoringDistributionEstimator,
    bandwidth_rule,
    censoring_weights,
    check_survival_target,
    kaplan_meier,
    kernel_propensity,
    make_survival_target,
)

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CLEAN = (ValueError, TypeError)

# Values that break naive code: NaN, inf, huge, subnormal, zero, ties.
special = st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 1e-310,
                           0.0, -0.0, 1.0, 2.0])
number = st.one_of(special, st.floats(-1e6, 1e6), st.integers(-5, 5).map(float))
# Finite, but huge, subnormal and tied values: these reach the numerical code.
finite = st.one_of(st.sampled_from([1e308, -1e308, 5e-324, 1e-310, 0.0, 1.0, 2.0]),
                   st.floats(-1e6, 1e6), st.integers(-5, 5).map(float))
lengths = st.integers(0, 7)


@st.composite
def arrays(draw, n=None, ndim=1):
    """A 1-D (or 2-D) array of an odd or ordinary dtype, sometimes sparse."""
    n = draw(lengths) if n is None else n
    shape = (n,) if ndim == 1 else (n, draw(st.integers(1, 4)))
    kind = draw(st.sampled_from(["float", "float32", "int", "bool", "object",
                                 "str", "complex", "list", "sparse"]))
    values = draw(hnp.arrays(np.float64, shape, elements=number))
    if kind == "float32":
        with np.errstate(over="ignore"):
            return values.astype(np.float32)
    if kind == "int":
        return np.nan_to_num(values).clip(-9, 9).astype(np.int64)
    if kind == "bool":
        return np.nan_to_num(values) > 0
    if kind == "object":
        return values.astype(object)
    if kind == "str":
        return values.astype(str)
    if kind == "complex":
        return values.astype(complex)
    if kind == "list":
        return values.tolist()
    if kind == "sparse":
        return sp.csr_matrix(np.atleast_2d(np.nan_to_num(values)))
    return values


def events(n):
    return st.one_of(
        hnp.arrays(np.bool_, n),
        hnp.arrays(np.int64, n, elements=st.integers(0, 1)),
        arrays(n=n),
    )


def snapshot(*values):
    copies = []
    for value in values:
        if sp.issparse(value):
            value = value.toarray()
        copies.append(value.copy() if hasattr(value, "copy") else value)
    return copies


def assert_unchanged(before, *values):
    # Bytes, not values: NaN equals itself, and object arrays compare by the
    # identity of their items.
    for old, new in zip(before, values):
        if sp.issparse(new):
            new = new.toarray()
        if isinstance(new, np.ndarray):
            assert old.dtype == new.dtype and old.shape == new.shape
            assert old.tobytes() == new.tobytes()
        else:
            assert old == new


def call(function, *args, **kwargs):
    """The result, or None after a clean error; anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # documented floors, cutoffs
        try:
            return function(*args, **kwargs)
        except CLEAN:
            return None


@st.composite
def messy_pairs(draw):
    n = draw(lengths)
    m = draw(st.one_of(st.just(n), lengths))  # sometimes a wrong length
    return draw(events(n)), draw(arrays(n=m))


@st.composite
def valid_pairs(draw):
    n = draw(st.integers(1, 12))
    event = draw(hnp.arrays(np.bool_, n))
    time = np.abs(draw(hnp.arrays(np.float64, n, elements=finite)))
    return event, time


survival_pairs = st.one_of(valid_pairs(), messy_pairs())


@SETTINGS
@given(survival_pairs)
def test_make_and_check_survival_target(pair):
    event, time = pair
    before = snapshot(event, time)
    y = call(make_survival_target, event, time, allow_negative=True)
    assert_unchanged(before, event, time)
    if y is not None:
        assert y.dtype.names == ("event", "time")
        assert np.isfinite(y["time"]).all()
        checked = call(check_survival_target, y)
        if checked is not None:
            np.testing.assert_array_equal(checked[0], y["event"])
            np.testing.assert_array_equal(checked[1], y["time"])
    plain = call(check_survival_target, time)
    if plain is not None:
        assert plain[0].all() and np.isfinite(plain[1]).all()


@SETTINGS
@given(survival_pairs)
def test_kaplan_meier_and_censoring_weights(pair):
    event, time = pair
    before = snapshot(event, time)
    result = call(kaplan_meier, time, event)
    if result is not None:
        times, survival = result
        assert np.all(np.diff(times) > 0)
        assert np.isfinite(survival).all()
        assert np.all((survival >= 0) & (survival <= 1))
        assert np.all(np.diff(survival) <= 0)
    weights = call(censoring_weights, time, event)
    if weights is not None:
        assert np.isfinite(weights).all() and np.all(weights >= 0)
        assert np.all(weights[~np.asarray(event, dtype=bool)] == 0)
    assert_unchanged(before, event, time)


@SETTINGS
@given(survival_pairs, st.one_of(arrays(), hnp.arrays(np.float64, 3)),
       st.booleans())
def test_censoring_distribution_estimator(pair, new_times, left_limit):
    event, time = pair
    y = call(make_survival_target, event, time, allow_negative=True)
    target = y if y is not None else time
    before = snapshot(target, new_times)
    model = call(CensoringDistributionEstimator().fit, target)
    if model is None:
        return
    survival = call(model.predict_survival, new_times, left_limit=left_limit)
    if survival is not None:
        assert np.isfinite(survival).all()
        assert np.all((survival >= 0) & (survival <= 1))
    weights = call(model.predict_ipcw, target)
    if weights is not None:
        assert np.isfinite(weights).all() and np.all(weights >= 0)
    assert_unchanged(before, target, new_times)


bandwidths = st.one_of(
    st.sampled_from(["scott", "silverman", "wide", None, -1.0, 0.0, np.nan, np.inf,
                     1e-300, 5e-324, 1e-8, 1e300, "1"]),
    st.floats(1e-3, 10.0),
)


@SETTINGS
@given(
    st.integers(0, 7).flatmap(lambda n: st.tuples(events(n), arrays(n=n, ndim=2))),
    st.sampled_from(["gaussian", "epanechnikov", "box", 1]),
    bandwidths,
    st.sampled_from(["auto", "exact", "binned", "projected", "fast"]),
    st.sampled_from([0.01, 0.5, 1e-300, 0.0, 1.0, np.nan, "0.1"]),
)
def test_kernel_propensity(data, kernel, bandwidth, method, min_probability):
    complete, Z = data
    before = snapshot(complete, Z)
    p = call(kernel_propensity, complete, Z, kernel=kernel, bandwidth=bandwidth,
             method=method, min_probability=min_probability)
    assert_unchanged(before, complete, Z)
    if p is not None:
        assert p.shape == (np.shape(complete)[0],)
        assert np.isfinite(p).all()
        assert np.all((p >= min_probability) & (p <= 1))


@SETTINGS
@given(
    st.integers(1, 30).flatmap(lambda n: st.tuples(
        hnp.arrays(np.bool_, n), st.integers(1, 4).flatmap(
            lambda d: hnp.arrays(np.float64, (n, d), elements=finite)))),
    st.sampled_from(["gaussian", "epanechnikov"]),
    st.one_of(st.sampled_from(["scott", "silverman", 1e-300, 5e-324, 1e-8, 1e300]),
              st.floats(1e-3, 10.0)),
    st.sampled_from(["auto", "exact", "binned", "projected"]),
)
def test_kernel_propensity_on_float_data(data, kernel, bandwidth, method):
    # Well-typed, finite input (at least one complete row), so that the
    # numerical paths themselves are reached.
    complete, Z = data
    complete = complete.copy()
    complete[0] = True
    p = call(kernel_propensity, complete, Z, kernel=kernel, bandwidth=bandwidth,
             method=method)
    if p is not None:
        assert np.isfinite(p).all() and np.all((p >= 0.01) & (p <= 1))


@SETTINGS
@given(
    st.one_of(st.integers(1, 10**6), st.integers(1, 10**6), st.integers(1, 10**6),
              st.integers(-3, 0),
              st.sampled_from([10**400, 2.5, True, None, np.int64(7), "10"])),
    st.one_of(st.integers(1, 400), st.integers(1, 400),
              st.sampled_from([0, -1, 1.5, None, np.int32(3)])),
    st.sampled_from(["scott", "silverman", "scott", "silverman", "other", None]),
    st.sampled_from(["gaussian", "epanechnikov", "gaussian", "epanechnikov", "box"]),
)
def test_bandwidth_rule(n_samples, n_dims, rule, kernel):
    h = call(bandwidth_rule, n_samples, n_dims, rule, kernel)
    if h is not None:
        assert np.isfinite(h) and h > 0


def test_one_row_and_empty_inputs():
    assert kernel_propensity([True], [[1.0]]).tolist() == [1.0]
    with pytest.raises(ValueError, match="No row is complete"):
        kernel_propensity([False], [[1.0]])
    with pytest.raises(ValueError, match="empty"):
        kernel_propensity([], np.empty((0, 1)))
    with pytest.raises(ValueError, match="empty"):
        make_survival_target([], [])
    y = make_survival_target([True], [3.0])
    model = CensoringDistributionEstimator().fit(y)
    assert model.predict_ipcw(y).tolist() == [1.0]
    with pytest.raises(ValueError, match="NaN"):
        model.predict_survival([np.nan])
    with pytest.raises(TypeError, match="sparse"):
        model.predict_survival(sp.csr_matrix([[1.0]]))
