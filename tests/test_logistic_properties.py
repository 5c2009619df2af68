"""Property-based and regression tests of AdamLogisticRegression's entry points.

Whatever the input, fit, partial_fit, predict, predict_proba and decision_function
either raise a clean TypeError or ValueError, or give finite results, and never
change the caller's arrays (issue 12).
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

from statopt import AdamLogisticRegression
from statopt.datasets import make_correlated_logistic
from statopt.linear_model import _kernels
from statopt.optim import _kernels as optim_kernels

CLEAN = (TypeError, ValueError)

odd_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 5e-324, 1e-310, 1e300, -1e300, 1.7e308, 1.0, -1.0]),
)


@st.composite
def data_sets(draw):
    n_rows = draw(st.integers(0, 12))
    n_features = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, object]))
    if dtype is np.float32:
        elements = st.floats(width=32)
    elif dtype is np.int64:
        elements = st.integers(-10**9, 10**9)
    else:
        elements = odd_values
    X = draw(hnp.arrays(np.float64 if dtype is object else dtype,
                        (n_rows, n_features), elements=elements))
    if dtype is object:
        X = X.astype(object)
    y = draw(hnp.arrays(np.int64, draw(st.sampled_from([n_rows, n_rows + 1])),
                        elements=st.integers(0, draw(st.integers(0, 2)))))
    weights = draw(st.one_of(
        st.none(),
        hnp.arrays(np.float64, n_rows,
                   elements=st.sampled_from([0.0, 1.0, 2.5, 1e300, 5e-324, -1.0,
                                             np.nan])),
    ))
    return X, y, weights


params = st.fixed_dictionaries({
    "penalty": st.sampled_from(["l2", "l1", None]),
    "C": st.sampled_from([1e-300, 0.01, 1.0, 1e300]),
    "learning_rate": st.sampled_from([1e-3, 0.1, 1e300, 5e-324]),
    "optimizer": st.sampled_from(["adam", "sgd", "momentum", "rmsprop", "amsgrad"]),
    "finish": st.sampled_from(["newton", "svrg"]),
    "batch_size": st.sampled_from([1, 4, 10**9]),
})


def _same(array, copy):
    """Equal values, NaN included (object arrays hold floats here)."""
    return np.array_equal(array.astype(np.float64), copy.astype(np.float64),
                          equal_nan=True)


def _finite_outputs(model, X):
    for method in ("predict_proba", "decision_function", "predict_log_proba"):
        try:
            out = getattr(model, method)(X)
        except CLEAN:
            continue
        assert np.all(np.isfinite(out)) or method == "predict_log_proba"
    try:
        model.predict(X)
    except CLEAN:
        pass


@settings(max_examples=60, deadline=None)
@given(data=data_sets(), options=params)
def test_fit_and_predict_are_clean(data, options):
    X, y, weights = data
    copies = [None if a is None else a.copy() for a in (X, y, weights)]
    model = AdamLogisticRegression(max_iter=8, random_state=0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            model.fit(X, y, sample_weight=weights)
        except CLEAN:
            model = None
    for original, copy in zip((X, y, weights), copies):
        if original is not None:
            assert _same(original, copy)
    if model is not None:
        assert np.all(np.isfinite(model.coef_))
        assert np.all(np.isfinite(model.intercept_))
        _finite_outputs(model, X)


@settings(max_examples=40, deadline=None)
@given(data=data_sets(), options=params, classes=st.sampled_from([None, [0, 1],
                                                                  [0, 1, 2], [1]]))
def test_partial_fit_is_clean(data, options, classes):
    X, y, weights = data
    X_copy = X.copy()
    model = AdamLogisticRegression(random_state=0, **options)
    try:
        model.partial_fit(X, y, classes=classes, sample_weight=weights)
        model.partial_fit(X, y, sample_weight=weights)
    except CLEAN:
        return
    finally:
        assert _same(X, X_copy)
    assert np.all(np.isfinite(model.coef_))
    _finite_outputs(model, X)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] + rng.logistic(size=40) > 0).astype(int)
    return AdamLogisticRegression(random_state=0).fit(X, y)


@settings(max_examples=60, deadline=None)
@given(X=st.one_of(
    hnp.arrays(np.float64, st.tuples(st.integers(0, 5), st.integers(0, 4)),
               elements=odd_values),
    hnp.arrays(np.float64, st.integers(0, 5), elements=odd_values),
))
def test_predictions_are_clean(fitted, X):
    X_copy = X.copy()
    for method in ("predict", "predict_proba", "decision_function"):
        try:
            out = getattr(fitted, method)(X)
        except CLEAN:
            continue
        if method != "predict":
            assert np.all(np.isfinite(out))
    assert np.array_equal(X, X_copy, equal_nan=True)


# ------------------------------------------------ regression tests (issue 12)


def test_huge_learning_rate_is_a_value_error(fitted):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="overflowed.*lower learning_rate"):
        AdamLogisticRegression(learning_rate=1e300, random_state=0).fit(X, y)


KERNELS = [_kernels.logistic_epoch, _kernels.logistic_loss,
           _kernels.logistic_loss_gradient, _kernels.proximal_newton_cd,
           optim_kernels.compute_direction]


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_odd_layouts_compile_nothing_new(penalty):
    if not hasattr(_kernels.logistic_epoch, "signatures"):
        pytest.skip("numba JIT is disabled")
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 3))
    y = rng.randint(0, 3, size=60)
    AdamLogisticRegression(penalty=penalty, random_state=0).fit(X, y)
    AdamLogisticRegression(penalty=penalty, random_state=0).fit(X, y == 1)
    counts = [len(kernel.signatures) for kernel in KERNELS]
    odd = np.asfortranarray(X.astype(np.float32))
    odd.flags.writeable = False
    y_odd = y.astype(np.int32)
    y_odd.flags.writeable = False
    weights = np.ones(60, dtype=np.float32)[::1]
    weights.flags.writeable = False
    for labels in (y_odd, y_odd == 1):
        model = AdamLogisticRegression(penalty=penalty, random_state=0)
        model.fit(odd, labels, sample_weight=weights)
        model.partial_fit(odd[::2], labels[::2])
    assert [len(kernel.signatures) for kernel in KERNELS] == counts


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), tol=st.sampled_from([0.3, 0.1, 1e-2, 1e-3]),
       scale=st.sampled_from([1e-2, 1.0, 100.0]))
def test_stochastic_fit_warns_unless_near_the_optimum(seed, tol, scale):
    # variance_reduction=False ends when the stochastic phase stalls: then either
    # the objective is within about tol**2 / 2 (relative) of the optimum, or a
    # ConvergenceWarning says how far above it the fit ended.
    from scipy.optimize import minimize
    from scipy.special import expit

    X, y, _ = make_correlated_logistic(150, 3, random_state=seed)
    X *= scale
    Z = np.column_stack([X, np.ones(len(y))])
    sign = np.where(y == 1, 1.0, -1.0)

    def loss(theta):
        # Mean log-loss plus |w|^2 / (2 n) (C = 1, intercept unpenalised).
        margin = sign * (Z @ theta)
        value = np.mean(np.logaddexp(0.0, -margin)) + theta[:-1] @ theta[:-1] / (
            2 * len(y))
        grad = -(Z.T @ (sign * expit(-margin))) / len(y)
        grad[:-1] += theta[:-1] / len(y)
        return value, grad

    optimum = minimize(loss, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000}).fun
    model = AdamLogisticRegression(variance_reduction=False, tol=tol,
                                   random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    theta = np.append(model.coef_.ravel(), model.intercept_)
    gap = (loss(theta)[0] - optimum) / optimum
    messages = [str(w.message) for w in caught
                if issubclass(w.category, ConvergenceWarning)]
    if not messages:
        assert gap <= tol**2
        return
    reported = re.search(r"about (\S+) \(relative\)", messages[0])
    if reported is not None:  # a stall, not max_iter
        assert gap / 3 < float(reported.group(1)) < 3 * gap + 1e-12
