"""Survival helpers against lifelines' KaplanMeierFitter and by identity."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from statopt.survival import (
    CensoringDistributionEstimator,
    censoring_weights,
    check_survival_target,
    kaplan_meier,
    make_survival_target,
)

lifelines = pytest.importorskip("lifelines")


def tied_sample(seed, n=300):
    rng = np.random.RandomState(seed)
    # Integer times: many ties, between events, censorings and both.
    time = rng.randint(0, 40, size=n).astype(float)
    event = rng.uniform(size=n) < 0.6
    return time, event


def lifelines_curve(time, observed):
    fitter = lifelines.KaplanMeierFitter().fit(time, event_observed=observed)
    curve = fitter.survival_function_
    return curve.index.to_numpy(dtype=float), curve.to_numpy().ravel()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kaplan_meier_matches_lifelines_with_ties(seed):
    time, event = tied_sample(seed)
    times, survival = kaplan_meier(time, event)
    ref_times, ref_survival = lifelines_curve(time, event)
    # lifelines adds a row at t=0 when no time is 0; compare at our times.
    index = np.searchsorted(ref_times, times)
    assert_allclose(ref_times[index], times)
    assert_allclose(survival, ref_survival[index], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_censoring_weights_match_lifelines_left_limit(seed):
    time, event = tied_sample(seed)
    # Events come before censorings at a tied time: give lifelines the same order
    # by moving every censoring a hair after its recorded time.
    shifted = np.where(event, time, time + 1e-6)
    ref_times, ref_survival = lifelines_curve(shifted, ~event)
    # G(T-): lifelines' censoring survival at the last time strictly before T.
    index = np.searchsorted(ref_times, time, side="left") - 1
    left_limit = np.where(index >= 0, ref_survival[np.maximum(index, 0)], 1.0)
    expected = np.where(event, 1.0 / left_limit, 0.0)
    assert_allclose(censoring_weights(time, event), expected, rtol=1e-12, atol=0)
    # Without ties between events and censorings, no shift is needed.
    untied = np.where(event, time, time + 0.5)
    ref_times, ref_survival = lifelines_curve(untied, ~event)
    index = np.searchsorted(ref_times, untied, side="left") - 1
    left_limit = np.where(index >= 0, ref_survival[np.maximum(index, 0)], 1.0)
    assert_allclose(censoring_weights(untied, event),
                    np.where(event, 1.0 / left_limit, 0.0), rtol=1e-12, atol=0)


def test_censoring_curve_matches_lifelines_without_event_ties():
    time, event = tied_sample(3)
    untied = np.where(event, time, time + 0.5)
    model = CensoringDistributionEstimator().fit(make_survival_target(event, untied))
    ref_times, ref_survival = lifelines_curve(untied, ~event)
    assert_allclose(model.predict_survival(ref_times), ref_survival, atol=1e-12)


def test_weighted_events_reproduce_kaplan_meier():
    # Efron's redistribution to the right: the IPC-weighted empirical distribution
    # of the events is the Kaplan-Meier estimate, ties included.
    time, event = tied_sample(4)
    event[time == time.max()] = True
    weights = censoring_weights(time, event)
    assert_allclose(weights.sum(), time.size, rtol=1e-12)
    times, survival = kaplan_meier(time, event)
    weighted_cdf = np.array([weights[time <= t].sum() for t in times]) / time.size
    assert_allclose(1.0 - weighted_cdf, survival, atol=1e-12)


def test_estimator_twin_agrees_and_never_returns_infinite_weights():
    time, event = tied_sample(5)
    event[time == time.max()] = False  # G reaches 0 after the largest time
    y = make_survival_target(event, time)
    model = CensoringDistributionEstimator().fit(y)
    assert_allclose(model.predict_ipcw(y), censoring_weights(time, event))
    assert model.predict_survival([time.max()])[0] == 0.0
    late = make_survival_target([True, True], [time.max() + 1, 1.0])
    with pytest.warns(UserWarning, match="beyond the last time"):
        weights = model.predict_ipcw(late)
    assert weights[0] == 0.0 and np.isfinite(weights).all() and weights[1] > 0
    # Plain numbers are all events: no censoring, G = 1.
    assert_allclose(CensoringDistributionEstimator().fit(time).predict_ipcw(time), 1.0)


def test_target_layout_is_scikit_survivals():
    y = make_survival_target(np.array([1, 0]), [3, 4])
    assert y.dtype.names == ("event", "time")
    assert y.dtype["event"] == np.bool_ and y.dtype["time"] == np.float64
    event, time, censored = check_survival_target(y)
    assert censored and event.tolist() == [True, False] and time.tolist() == [3, 4]


@pytest.mark.parametrize(
    "event, time, error, match",
    [
        ([True, False], [1.0, -2.0], ValueError, "negative"),
        ([True, False], [1.0, np.nan], ValueError, "NaN or infinite"),
        ([True, False], [1.0, np.inf], ValueError, "NaN or infinite"),
        ([1, 2], [1.0, 2.0], ValueError, "0/1"),
        (["a", "b"], [1.0, 2.0], TypeError, "bool"),
        ([True], [1.0, 2.0], ValueError, "same length"),
        ([True, True], ["1", "2"], TypeError, "real numbers"),
        ([], [], ValueError, "empty"),
    ],
)
def test_make_survival_target_rejects_bad_input(event, time, error, match):
    with pytest.raises(error, match=match):
        make_survival_target(event, time)


def test_check_survival_target_errors():
    with pytest.raises(ValueError, match="Every sample is censored"):
        check_survival_target(make_survival_target([False, False], [1.0, 2.0]))
    with pytest.raises(TypeError, match="numbers or a survival target"):
        check_survival_target(np.array(["a", "b"]))
    # Any two field names are accepted when the first is boolean (scikit-survival's
    # Surv.from_dataframe); a numeric first field is not an event indicator.
    bad = np.zeros(2, dtype=[("status", "<f8"), ("time", "<f8")])
    with pytest.raises(ValueError, match="fields 'event' and 'time'"):
        check_survival_target(bad)
    event, time, censored = check_survival_target(np.array([-1.0, 2.0]))
    assert not censored and event.all()
