"""Regression tests from the adversarial audit of the public API: each pins a defect
that hostile input once triggered (a warning in place of the ValueError, a false
refusal, a silent NaN)."""

import warnings

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score

from statopt import (
    AdamLogisticRegression,
    AuxiliaryLearningClassifier,
    AuxiliaryLearningRegressor,
    EventAdversarialClassifier,
    RobustPairedClassifier,
    SimilarityAwareMultimodalClassifier,
)
from statopt.datasets import (
    make_censored_quantile_data,
    make_correlated_logistic,
    make_sparse_svd_data,
)
from statopt.linear_model import critical_radius
from statopt.optim import SWATS, Adam, AMSGrad, RMSprop

CLASSIFIERS = [
    AdamLogisticRegression(max_iter=5),
    RobustPairedClassifier(),
    EventAdversarialClassifier(max_iter=2),
    AuxiliaryLearningClassifier(max_iter=2),
    SimilarityAwareMultimodalClassifier(
        views=[np.arange(2), np.arange(2, 3)], modalities=["image", "text"],
        max_iter=2),
]


@pytest.mark.parametrize("model", CLASSIFIERS, ids=lambda m: type(m).__name__)
def test_classifiers_refuse_huge_continuous_labels(model):
    # scikit-learn's target check casts the labels to int; values beyond int64
    # raised a RuntimeWarning (an error under -W error) before the ValueError.
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="Unknown label type"):
        model.fit(X, X[:, 0] * 1e300)


@pytest.mark.parametrize("factor", [1e308, 1e-310])
def test_robust_paired_weights_near_float_limits(factor):
    # Only the weights' ratios define the ball's centre; weights of 1e308 summed
    # to inf, were normalised to zero and gave the false refusal "r* = 0".
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(int)
    weights = rng.uniform(0.1, 1.0, size=40)
    reference = RobustPairedClassifier(radius=0.05).fit(X, y, sample_weight=weights)
    model = RobustPairedClassifier(radius=0.05).fit(X, y,
                                                    sample_weight=factor * weights)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9)
    assert critical_radius(X, y, sample_weight=factor * weights) == pytest.approx(
        critical_radius(X, y, sample_weight=weights), rel=1e-12)


@pytest.mark.parametrize("solver", ["bound", "exact"])
def test_robust_paired_disjoint_balls_beyond_float_range(solver):
    # Pairs 1e300 apart: the re-pairing hint solved an assignment on infinite
    # costs and scipy's "cost matrix is infeasible" replaced the message.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    model = RobustPairedClassifier(radius=0.05, radius_auxiliary=0.05,
                                   auxiliary_solver=solver)
    with pytest.raises(ValueError, match="balls do not meet"):
        model.fit(X, y, X_auxiliary=1e300 * X)


def _scipy_logistic_reference(X, y):
    """Minimiser of sum log(1 + exp(-t (Xw + b))) + |w|^2 / 2 (C = 1) by scipy's
    trust-region Newton, in standardised columns where it is well conditioned."""
    from scipy.optimize import minimize
    from scipy.special import expit

    mean, sd = X.mean(axis=0), X.std(axis=0)
    Z = np.hstack([(X - mean) / sd, np.ones((X.shape[0], 1))])
    penalty = np.r_[1.0 / sd**2, 0.0]  # |w|^2 in the standardised variables
    t = 2.0 * y - 1.0

    def objective(u):
        return np.logaddexp(0.0, -t * (Z @ u)).sum() + 0.5 * penalty @ u**2

    def gradient(u):
        return Z.T @ (-t * expit(-t * (Z @ u))) + penalty * u

    def hessian(u):
        p = expit(Z @ u)
        return (Z.T * (p * (1.0 - p))) @ Z + np.diag(penalty)

    result = minimize(objective, np.zeros(Z.shape[1]), jac=gradient, hess=hessian,
                      method="trust-exact", options={"gtol": 1e-10})
    assert result.success
    coef = result.x[:-1] / sd
    return coef, result.x[-1] - coef @ mean


def test_adam_logistic_newton_finish_on_large_feature_units():
    # Breast cancer in units 1000 times smaller (entries up to 4e6): the
    # stochastic phase ended with every logit saturated, the Newton finish could
    # not step from there and stopped at 1000 times the optimal objective with a
    # warning blaming floating point.
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = 1000.0 * X
    coef, intercept = _scipy_logistic_reference(X, y)
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    np.testing.assert_allclose(model.coef_.ravel(), coef, rtol=1e-6,
                               atol=1e-6 * np.abs(coef).max())
    assert model.intercept_[0] == pytest.approx(intercept, rel=1e-6)


def test_adam_logistic_warm_start_refuses_another_number_of_features():
    # A warm start on narrower data reached numpy's "could not broadcast input
    # array from shape (1,4) into shape (1,3)".
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    model = AdamLogisticRegression(warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="warm_start=True needs the 4 features"):
        model.fit(X[:, :3], y)


@pytest.mark.parametrize("rule", [Adam, AMSGrad, RMSprop, SWATS])
def test_adaptive_optimisers_refuse_gradients_whose_squares_overflow(rule):
    # A gradient of 1e155 made the second moment inf: the step was silently 0,
    # then and at every later step.
    w = np.ones(3)
    optimiser = rule([w], learning_rate=0.1)
    with pytest.raises(ValueError, match="squares overflow float64"):
        optimiser.step([np.array([1.0, -2.0, 0.5]) * 1e155])
    np.testing.assert_array_equal(w, np.ones(3))
    # Just below the limit the step is the sign step of size lr (first Adam step).
    optimiser.step([np.array([1.0, -2.0, 0.5]) * 1e150])
    if rule is RMSprop:  # w - lr g / sqrt((1 - rho) g^2)
        expected = 1.0 - 0.1 * np.sign([1.0, -2.0, 0.5]) / np.sqrt(0.1)
    else:
        expected = 1.0 - 0.1 * np.sign([1.0, -2.0, 0.5])
    np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_network_estimator_on_inputs_near_float_max_refuses_instead_of_stalling():
    # Inputs of 1e300 gave first-layer gradients beyond 1e154: the Adam moments
    # overflowed and the fit "succeeded" without ever moving those weights.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3)) * 1e300
    y = (X[:, 0] > 0).astype(int)
    events = rng.randint(3, size=40)
    model = EventAdversarialClassifier(hidden_layer_sizes=(4,), max_iter=2,
                                       random_state=0)
    with pytest.raises(ValueError, match="scale of the input"):
        model.fit(X, y, events=events)


def test_stream_partial_fit_refuses_an_estimator_without_partial_fit():
    # An AttributeError surfaced from deep in the chunk loop.
    da = pytest.importorskip("dask.array")
    from sklearn.linear_model import LinearRegression

    from statopt.optim import stream_partial_fit

    X = da.ones((10, 2), chunks=5)
    with pytest.raises(TypeError, match="LinearRegression has none"):
        stream_partial_fit(LinearRegression(), X, da.ones(10, chunks=5))


@pytest.mark.parametrize("make", [
    lambda: EventAdversarialClassifier(max_iter=2),
    lambda: AuxiliaryLearningClassifier(max_iter=2),
    lambda: SimilarityAwareMultimodalClassifier(
        views=[np.arange(2), np.arange(2, 3)], modalities=["image", "text"],
        max_iter=2),
])
def test_network_estimators_refuse_sample_weights_whose_sum_overflows(make):
    # The fits divide by sum(sample_weight): weights of 1e308 summed to inf (a
    # RuntimeWarning under -W error, else a zero penalty and zero weights).
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    extra = ({"events": rng.randint(3, size=40)}
             if isinstance(make(), EventAdversarialClassifier) else {})
    with pytest.raises(ValueError, match="sums to inf"):
        make().fit(X, y, sample_weight=np.full(40, 1e308), **extra)


@pytest.mark.parametrize("make", [
    lambda: make_correlated_logistic(10**5, 10**4),
    lambda: make_censored_quantile_data(10**9),
    lambda: make_sparse_svd_data(n_samples=10**5, n_features=10**4),
])
def test_simulators_refuse_sizes_beyond_the_array_budget(make):
    # Like make_cross_modal_data: a typo in a size must not allocate 8 GB.
    with pytest.raises(ValueError, match="limit 2 GiB"):
        make()


@settings(max_examples=15, deadline=None)
@given(exponent=st.integers(-300, 308), seed=st.integers(0, 2**16))
@example(exponent=308, seed=0)  # the weights' sum overflows
def test_robust_paired_fit_ignores_a_common_factor_of_the_weights(exponent, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] + rng.normal(size=30) > 0).astype(int)
    weights = rng.uniform(0.1, 1.0, size=30)
    radius = 0.2 * critical_radius(X, y, sample_weight=weights)
    reference = RobustPairedClassifier(radius=radius).fit(X, y, sample_weight=weights)
    model = RobustPairedClassifier(radius=radius).fit(
        X, y, sample_weight=weights * 10.0**exponent)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6,
                               atol=1e-9 * np.abs(reference.coef_).max())


@settings(max_examples=15, deadline=None)
@given(exponents=st.lists(st.integers(-3, 4), min_size=3, max_size=3),
       seed=st.integers(0, 2**16))
def test_adam_logistic_reaches_a_stationary_point_whatever_the_column_units(
        exponents, seed):
    # First-order optimality checked in numpy: the gradient of
    # sum log(1 + exp(-t z)) + |w|^2 / 2 (C = 1), relative to its value at zero.
    from scipy.special import expit

    rng = np.random.RandomState(seed)
    X = rng.normal(size=(80, 3)) * 10.0 ** np.array(exponents)
    t = np.where(X @ rng.normal(size=3) + rng.logistic(size=80) > 0, 1.0, -1.0)
    y = (t > 0).astype(int)
    assume(0 < y.sum() < y.size)
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    z = X @ model.coef_[0] + model.intercept_[0]
    residual = -t * expit(-t * z)
    gradient = np.r_[X.T @ residual + model.coef_[0], residual.sum()]
    at_zero = np.abs(np.r_[X.T @ (-t / 2.0), (-t / 2.0).sum()]).max()
    assert np.abs(gradient).max() <= 1e-6 * at_zero


def _fitted_for_prediction():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    labels = np.digitize(X[:, 0], [-0.5, 0.5])
    return X, y, [
        RobustPairedClassifier().fit(X, y),
        RobustPairedClassifier().fit(X, labels),
        EventAdversarialClassifier(max_iter=5, random_state=0).fit(X, y),
        AuxiliaryLearningClassifier(max_iter=3, random_state=0).fit(X, labels),
        AuxiliaryLearningRegressor(max_iter=3, random_state=0).fit(X, X[:, 0]),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_predictions_on_rows_near_float_max_refuse_instead_of_nan():
    # Fitted on unit-scale rows, these returned inf logits, NaN probabilities,
    # an R^2 of -inf (with RuntimeWarnings) on rows of 1.7e308.
    X, y, models = _fitted_for_prediction()
    huge = np.full_like(X, 1.7e308)
    for model in models:
        methods = [m for m in ("decision_function", "predict_proba", "predict")
                   if hasattr(model, m)]
        for method in methods:
            with pytest.raises(ValueError, match="overflow"):
                getattr(model, method)(huge)
    with pytest.raises(ValueError, match="R\\^2 overflows"):
        models[-1].score(X * 1e300, X[:, 0] * 1e300)
    from statopt.linear_model import worst_case_accuracy

    with pytest.raises(ValueError, match="overflow"):
        worst_case_accuracy(models[0].coef_, models[0].intercept_,
                            models[0].classes_, huge, y, 0.1)


@pytest.mark.parametrize(
    "model", [*CLASSIFIERS, AuxiliaryLearningRegressor(max_iter=2)],
    ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("factor", [2.0**1021, 2.0**-1070])
def test_score_ignores_a_common_factor_of_the_weights(model, factor):
    # score divided by sum(sample_weight): weights of 1e308 summed to inf and the
    # accuracy came out NaN. A common factor must not change the score.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int) if is_classifier(model) else X[:, 0]
    extra = ({"events": rng.randint(3, size=40)}
             if isinstance(model, EventAdversarialClassifier) else {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = clone(model).fit(X, y, **extra)
    relative = rng.randint(1, 4, size=40).astype(float)
    metric = accuracy_score if is_classifier(model) else r2_score
    expected = metric(y, fitted.predict(X), sample_weight=relative)
    assert fitted.score(X, y, sample_weight=relative * factor) == pytest.approx(
        expected, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(exponent=st.integers(-1070, 1021), seed=st.integers(0, 2**16))
def test_classifier_score_is_invariant_to_the_weights_scale(exponent, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] + rng.logistic(size=30) > 0).astype(int)
    assume(0 < y.sum() < 30)
    relative = rng.randint(1, 4, size=30).astype(float)
    for model in (AdamLogisticRegression(random_state=0), RobustPairedClassifier()):
        fitted = model.fit(X, y)
        expected = accuracy_score(y, fitted.predict(X), sample_weight=relative)
        score = fitted.score(X, y, sample_weight=relative * 2.0**exponent)
        assert score == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("model, penalty", [
    (EventAdversarialClassifier(max_iter=5, random_state=0), "alpha"),
    (AuxiliaryLearningClassifier(max_iter=5, random_state=0), "alpha"),
    (AuxiliaryLearningRegressor(max_iter=5, random_state=0), "alpha"),
    (SimilarityAwareMultimodalClassifier(
        views=[np.arange(2), np.arange(2, 3)], modalities=["image", "text"],
        max_iter=5, random_state=0), "l2"),
], ids=lambda m: type(m).__name__ if not isinstance(m, str) else m)
@pytest.mark.parametrize("value", [1e-310, 5e-324])
def test_network_subnormal_penalty_fits_as_no_penalty(model, penalty, value):
    # A subnormal penalty (or learning rate) must neither warn (the suite turns
    # warnings into errors) nor give NaN: its terms round to zero, as the fit
    # without a penalty does.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] if isinstance(model, AuxiliaryLearningRegressor) else (
        X[:, 0] > 0).astype(int)
    extra = ({"events": rng.randint(3, size=60)}
             if isinstance(model, EventAdversarialClassifier) else {})
    outputs = []
    for options in ({penalty: 0.0}, {penalty: value},
                    {penalty: value, "learning_rate": value}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = clone(model).set_params(**options).fit(X, y, **extra)
        method = getattr(fitted, "predict_proba", fitted.predict)
        outputs.append(method(X))
        assert np.all(np.isfinite(outputs[-1]))
    np.testing.assert_array_equal(outputs[0], outputs[1])
