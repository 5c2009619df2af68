"""Censored targets in the forms users hold them (issue 14).

Every accepted form (scikit-survival's structured array under any field names, a
two-column DataFrame or array, an ``(event, time)`` tuple, named DataFrame columns)
must give the canonical target, and so the same fit, score and metrics; every
refused form a ValueError/TypeError naming the accepted ones. The canonical fit on
the Rossi recidivism data is checked against scikit-learn's QuantileRegressor.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import QuantileRegressor
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from statopt import CensoredMissingQuantileRegressor
from statopt.metrics import d2_ipcw_pinball_score, ipcw_pinball_loss
from statopt.survival import (
    CensoringDistributionEstimator,
    check_survival_target,
    make_survival_target,
    survival_target_from_dataframe,
)

pd = pytest.importorskip("pandas")

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# A fragment of the message that lists the accepted forms.
FORMS = "Surv.from_dataframe"
SKSURV = [("Status", "?"), ("Survival_in_days", "<f8")]


def sksurv_array(event, time):
    """The layout of scikit-survival's Surv.from_dataframe('Status', ...)."""
    y = np.empty(len(event), dtype=SKSURV)
    y["Status"] = np.asarray(event, dtype=bool)
    y["Survival_in_days"] = time
    return y


def forms(frame, event, time):
    """Every accepted form of the target held in ``frame[[event, time]]``."""
    pair = frame[[event, time]]
    return {
        "sksurv structured array": sksurv_array(frame[event], frame[time]),
        "two-column DataFrame": pair,
        "two-column array": pair.to_numpy(),
        "tuple of Series": (frame[event], frame[time]),
        "tuple of arrays": (frame[event].to_numpy(), frame[time].to_numpy()),
        "from_dataframe": make_survival_target.from_dataframe(frame, event=event,
                                                              time=time),
        "make_survival_target(DataFrame)": make_survival_target(pair),
    }


@pytest.fixture(scope="module")
def rossi():
    datasets = pytest.importorskip("lifelines.datasets")
    frame = datasets.load_rossi()
    X = frame.drop(columns=["week", "arrest"]).astype(np.float64)
    canonical = make_survival_target(frame["arrest"].to_numpy().astype(bool),
                                     frame["week"].to_numpy())
    return frame, X, canonical


def check_loss(X, y, weights, coef, intercept, quantile):
    residual = y - X @ coef - intercept
    return float(weights @ (residual * (quantile - (residual < 0))))


def test_canonical_fit_matches_scikit_learn_on_rossi(rossi):
    frame, X, canonical = rossi
    quantile = 0.1
    model = CensoredMissingQuantileRegressor(quantile=quantile).fit(X, canonical)
    # Rossi is censored at week 52 only; events come first at tied times, so
    # G(T-) = 1 for every event and the IPCW fit is the fit on the arrests.
    assert_array_equal(model.weights_, frame["arrest"].to_numpy())
    arrested = frame["arrest"].to_numpy() == 1
    reference = QuantileRegressor(quantile=quantile, alpha=0.0, solver="highs").fit(
        X[arrested], frame["week"][arrested])
    ours = check_loss(X.to_numpy(), frame["week"].to_numpy(), model.weights_,
                      model.coef_, model.intercept_, quantile)
    theirs = check_loss(X.to_numpy(), frame["week"].to_numpy(), model.weights_,
                        reference.coef_, reference.intercept_, quantile)
    # Integer weeks make the LP optimum degenerate: compare objectives.
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_every_form_fits_scores_and_weights_as_the_canonical_target(rossi):
    frame, X, canonical = rossi
    reference = CensoredMissingQuantileRegressor(quantile=0.1).fit(X, canonical)
    prediction = reference.predict(X)
    for name, y in forms(frame, "arrest", "week").items():
        event, time, censored = check_survival_target(y)
        assert censored, name
        assert_array_equal(event, canonical["event"], err_msg=name)
        assert_array_equal(time, canonical["time"], err_msg=name)
        model = CensoredMissingQuantileRegressor(quantile=0.1).fit(X, y)
        assert_array_equal(model.coef_, reference.coef_, err_msg=name)
        assert model.intercept_ == reference.intercept_, name
        assert model.score(X, y) == reference.score(X, canonical), name
        for metric in (ipcw_pinball_loss, d2_ipcw_pinball_score):
            assert metric(y, prediction, quantile=0.1) == metric(
                canonical, prediction, quantile=0.1), (name, metric.__name__)
        assert_array_equal(CensoringDistributionEstimator().fit(y).predict_ipcw(y),
                           model.weights_, err_msg=name)


def test_cross_validation_on_dataframe_and_sksurv_targets(rossi):
    frame, X, canonical = rossi
    cv = KFold(3)
    model = CensoredMissingQuantileRegressor(quantile=0.1)
    expected = cross_val_score(model, X, canonical, cv=cv)
    for y in (frame[["arrest", "week"]], sksurv_array(frame["arrest"], frame["week"])):
        assert_array_equal(cross_val_score(model, X, y, cv=cv), expected)
    grid = {"quantile": [0.1, 0.2]}
    best = GridSearchCV(model, grid, cv=cv).fit(X, canonical).best_params_
    assert GridSearchCV(model, grid, cv=cv).fit(
        X, frame[["arrest", "week"]]).best_params_ == best


def test_swapped_columns_are_named(rossi):
    frame, X, _ = rossi
    with pytest.raises(ValueError, match="look swapped"):
        CensoredMissingQuantileRegressor().fit(X, frame[["week", "arrest"]])


event_01 = np.array([1, 0, 1, 1])
times = np.array([2.0, 3.0, 5.0, 7.0])


@pytest.mark.parametrize(
    "y, error, match",
    [
        (pd.DataFrame({"e": event_01, "t": times, "x": times}), ValueError,
         "needs two columns"),
        (np.column_stack([event_01, times, times]), ValueError, "shape \\(4, 3\\)"),
        (np.vstack([event_01, times]), ValueError, "pass tuple\\(y\\)"),
        (pd.DataFrame({"e": [2, 0, 1, 1], "t": times}), ValueError, "0/1"),
        (pd.DataFrame({"e": [0.5, 0, 1, 1], "t": [1, 0, 0, 1]}), ValueError,
         "look swapped"),
        (pd.DataFrame({"e": event_01, "t": ["2", "3", "5", "7"]}), TypeError,
         "must hold numbers"),
        (pd.DataFrame({"e": pd.array([True, None, True, False], dtype="boolean"),
                       "t": times}), TypeError, "missing values"),
        ((event_01, times.astype(str)), TypeError, "real numbers"),
        ((event_01, times, times), ValueError, "tuple of 3"),
        ((event_01, np.column_stack([times, times])), ValueError, "1-D"),
        ((event_01, times[:3]), ValueError, "same length"),
        (np.zeros(4, dtype=[("Status", "<f8"), ("Days", "<f8")]), ValueError,
         "first is boolean"),
        (np.zeros(4, dtype=[("a", "?"), ("b", "<f8"), ("c", "<f8")]), ValueError,
         "first is boolean"),
        (np.zeros(4, dtype=[("Status", "?"), ("Days", "U3")]), ValueError,
         "first is boolean"),
    ],
)
def test_refused_forms_name_the_accepted_ones(y, error, match):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(error, match=match) as raised:
        check_survival_target(y)
    assert FORMS in str(raised.value) or "look swapped" in str(raised.value)
    with pytest.raises(error, match=match):
        CensoredMissingQuantileRegressor().fit(X, y)
    with pytest.raises(error, match=match):
        d2_ipcw_pinball_score(y, np.zeros(4))


def test_from_dataframe_errors_and_alias():
    frame = pd.DataFrame({"died": [1, 0, 1], "days": [5.0, 8.0, 2.0]})
    assert make_survival_target.from_dataframe is survival_target_from_dataframe
    y = survival_target_from_dataframe(frame, event="died", time="days")
    assert_array_equal(y, make_survival_target([1, 0, 1], [5.0, 8.0, 2.0]))
    with pytest.raises(ValueError, match="'dead' is not a column.*'died', 'days'"):
        survival_target_from_dataframe(frame, event="dead", time="days")
    with pytest.raises(ValueError, match="same column"):
        survival_target_from_dataframe(frame, event="died", time="died")
    with pytest.raises(ValueError, match="0/1.*'days' \\(event\\)"):
        survival_target_from_dataframe(frame, event="days", time="died")
    with pytest.raises(ValueError, match="one argument needs a censored target"):
        make_survival_target(np.array([1.0, 2.0]))


def test_predict_names_the_columns_holding_nan(rossi):
    frame, X, canonical = rossi
    model = CensoredMissingQuantileRegressor(quantile=0.1).fit(X, canonical)
    rows = X.iloc[:5].copy()
    rows.loc[rows.index[[1, 3]], "age"] = np.nan
    rows.loc[rows.index[3], "prio"] = np.nan
    with pytest.raises(ValueError, match="complete rows") as raised:
        model.predict(rows)
    message = str(raised.value)
    assert "2 row(s)" in message and "['age', 'prio']" in message
    assert "HistGradientBoosting" not in message
    plain = CensoredMissingQuantileRegressor(quantile=0.1).fit(X.to_numpy(), canonical)
    with pytest.raises(ValueError, match=r"column\(s\) \[1, 6\]"):
        plain.predict(rows.to_numpy())
    # The complete rows still predict, equal to the linear predictor.
    assert_allclose(plain.predict(rows.to_numpy()[[0, 2, 4]]),
                    rows.to_numpy()[[0, 2, 4]] @ plain.coef_ + plain.intercept_)


# Property-based tests: any accepted form of a random target, and random bad inputs.

@st.composite
def targets(draw):
    n = draw(st.integers(1, 8))
    event = draw(hnp.arrays(np.bool_, n))
    time = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e6)))
    kind = draw(st.sampled_from(["bool", "int", "float"]))
    held = event if kind == "bool" else event.astype(kind)
    form = draw(st.sampled_from(["sksurv", "frame", "array", "tuple", "named"]))
    if form == "sksurv":
        y = sksurv_array(event, time)
    elif form == "frame":
        y = pd.DataFrame({"Status": held, "Time": time})
    elif form == "array":
        y = np.column_stack([held, time])
    elif form == "tuple":
        y = (held, time)
    else:
        y = pd.DataFrame({"Time": time, "Status": held})
    return event, time, form, y


def snapshot(y):
    if isinstance(y, tuple):
        return tuple(np.array(part, copy=True) for part in y)
    return y.copy()


def assert_same(before, after):
    if isinstance(after, tuple):
        for old, new in zip(before, after):
            assert_array_equal(old, new)
    elif hasattr(after, "columns"):
        pd.testing.assert_frame_equal(before, after)
    else:
        assert_array_equal(before, after)


@SETTINGS
@given(targets())
def test_any_accepted_form_gives_the_canonical_target(drawn):
    event, time, form, y = drawn
    before = snapshot(y)
    if form == "named":
        target = make_survival_target.from_dataframe(y, event="Status", time="Time")
    else:
        target = make_survival_target(y)
        checked = check_survival_target(y, allow_all_censored=True)
        assert checked[2]
        assert_array_equal(checked[0], event)
        assert_array_equal(checked[1], time)
    assert target.dtype == np.dtype([("event", "?"), ("time", "<f8")])
    assert_array_equal(target["event"], event)
    assert_array_equal(target["time"], time)
    assert_same(before, y)


values = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-3, 3).map(float), st.sampled_from([0.0, 1.0]))


@st.composite
def bad_targets(draw):
    """Arrays of any shape and dtype, as arrays, DataFrames or tuples of columns."""
    n = draw(st.integers(0, 5))
    k = draw(st.integers(0, 4))
    data = draw(hnp.arrays(np.float64, (n, k), elements=values))
    dtype = draw(st.sampled_from(["float", "int", "bool", "str", "object",
                                  "complex"]))
    if dtype == "int":
        data = np.nan_to_num(data, posinf=9, neginf=-9).clip(-9, 9).astype(int)
    elif dtype != "float":
        data = data.astype(dtype)
    holder = draw(st.sampled_from(["array", "frame", "tuple", "transposed",
                                   "flat"]))
    if holder == "frame":
        return pd.DataFrame(data, columns=[f"c{j}" for j in range(k)])
    if holder == "tuple":
        return tuple(data.T)
    if holder == "transposed":
        return data.T
    if holder == "flat":
        return data.ravel()
    return data


@SETTINGS
@given(bad_targets())
def test_any_input_is_a_target_or_a_clean_error(y):
    before = snapshot(y)
    try:
        event, time, censored = check_survival_target(y, allow_all_censored=True)
    except (ValueError, TypeError):
        pass
    else:
        assert event.dtype == bool and time.dtype == np.float64
        assert event.shape == time.shape and np.isfinite(time).all()
    assert_same(before, y)
    try:
        make_survival_target(y, allow_negative=True)
    except (ValueError, TypeError):
        pass
    assert_same(before, y)


@SETTINGS
@given(bad_targets(), st.sampled_from(["c0", "c1", "c2", "missing", 0]),
       st.sampled_from(["c0", "c1", "c3", "missing", 1]))
def test_from_dataframe_any_columns_is_a_target_or_a_clean_error(y, event, time):
    frame = y if hasattr(y, "columns") else pd.DataFrame(np.atleast_2d(y))
    before = frame.copy()
    try:
        target = survival_target_from_dataframe(frame, event=event, time=time)
    except (ValueError, TypeError):
        pass
    else:
        assert_array_equal(target["time"], frame[time].to_numpy(dtype=np.float64))
    pd.testing.assert_frame_equal(before, frame)
