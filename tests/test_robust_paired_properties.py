"""Property-based tests of RobustPairedClassifier's entry points.

Whatever the input, fit either raises a clean TypeError/ValueError or returns finite
coefficients with a certified gap, never changes the caller's arrays, and
worst_case_accuracy behaves as an accuracy under growing perturbations.
"""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

from statopt import RobustPairedClassifier

CLEAN = (TypeError, ValueError)

odd_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 5e-324, 1e-300, 1e300, -1e300, 1.0, -1.0]),
)


@st.composite
def problems(draw):
    n_rows = draw(st.integers(0, 10))
    n_features = draw(st.integers(1, 3))
    X = draw(hnp.arrays(np.float64, (n_rows, n_features),
                        elements=draw(st.sampled_from(
                            [odd_values, st.floats(-5, 5), st.floats(-5, 5)]))))
    y = draw(hnp.arrays(np.int64, (n_rows,), elements=st.integers(0, 2)))
    if n_rows >= 2 and draw(st.booleans()):
        y[:2] = [0, 1]  # mostly valid targets, so that the fit itself is exercised
    weights = draw(st.one_of(
        st.none(),
        hnp.arrays(np.float64, (n_rows,), elements=st.floats(0, 10)),
        hnp.arrays(np.float64, (n_rows,), elements=st.sampled_from(
            [0.0, 1.0, 2.5, -1.0, np.nan, np.inf]))))
    return X, y, weights


@settings(max_examples=80, deadline=None)
@given(problems(), st.sampled_from([1e-3, 0.1, 10.0]),
       st.sampled_from([np.inf, 0.5, 5.0]),
       st.sampled_from(["spectral", "frobenius", "nuclear", "pairwise"]))
# A radius tiny against the scale of X: a pairwise start at lam = 1 / radius
# overflowed lam^2 (found by this test; the start is capped).
@example((np.array([[1e151], [0.0], [0.0]]), np.array([0, 1, 2]), None), 1e-3,
         np.inf, "pairwise")
def test_fit_is_clean_or_finite(problem, radius, kappa, norm):
    X, y, weights = problem
    copies = [None if a is None else a.copy() for a in (X, y, weights)]
    model = RobustPairedClassifier(radius=radius, label_flip_cost=kappa, norm=norm,
                                   max_iter=300)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y, sample_weight=weights)
    except CLEAN:
        pass
    else:
        assert np.all(np.isfinite(model.coef_))
        assert np.all(np.isfinite(model.intercept_))
        assert np.isfinite(model.objective_) and model.duality_gap_ >= 0
        assert radius < model.radius_max_
        proba = model.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for original, copy in zip((X, y, weights), copies):
        if original is not None:
            np.testing.assert_array_equal(original, copy)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4),
       hnp.arrays(np.float64, (4,), elements=st.floats(0, 3), unique=True))
def test_worst_case_accuracy_is_monotone(seed, n_classes, epsilons):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=40)
    X = rng.normal(size=(40, 3))
    X += 2.0 * np.eye(n_classes, 3)[y]
    if np.unique(y).size < 2:
        return
    model = RobustPairedClassifier(radius=0.01).fit(X, y)
    accuracies = [model.worst_case_accuracy(X, y, e) for e in np.sort(epsilons)]
    assert all(a >= b for a, b in zip(accuracies, accuracies[1:]))
    assert model.worst_case_accuracy(X, y, 0.0) <= model.score(X, y)


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.floats(allow_nan=True), st.just(-1.0), st.just(np.inf),
                 st.text(max_size=2), st.none()))
def test_worst_case_accuracy_refuses_bad_epsilon(epsilon):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y = np.array([0, 1, 0, 1])
    model = RobustPairedClassifier(radius=0.01).fit(X, y)
    if isinstance(epsilon, float) and np.isfinite(epsilon) and epsilon >= 0:
        assert 0.0 <= model.worst_case_accuracy(X, y, epsilon) <= 1.0
        return
    try:
        model.worst_case_accuracy(X, y, epsilon)
    except CLEAN:
        return
    raise AssertionError(f"epsilon={epsilon!r} was accepted")


def test_worst_case_accuracy_function_against_logistic_regression_on_iris():
    # An independent classifier and its own predictions: at epsilon 0 the
    # function is its accuracy; for two classes the worst perturbation moves each
    # row by epsilon against its label along w, which LogisticRegression then
    # predicts.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from statopt.linear_model import worst_case_accuracy

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    assert worst_case_accuracy(model.coef_, model.intercept_, model.classes_, X, y,
                               0.0) == pytest.approx(model.score(X, y))
    binary = y > 0
    model = LogisticRegression(max_iter=1000).fit(X[:, :2], binary)
    w = model.coef_[0]
    for epsilon in (0.1, 0.3, 1.0):
        moved = X[:, :2] - epsilon * np.where(binary, 1.0, -1.0)[:, None] * w / \
            np.linalg.norm(w)
        expected = np.mean(model.predict(moved) == binary)
        assert worst_case_accuracy(model.coef_, model.intercept_, model.classes_,
                                   X[:, :2], binary, epsilon) == pytest.approx(
                                       expected)


@settings(max_examples=60, deadline=None)
@given(n_rows=st.integers(0, 6), n_features=st.integers(1, 3),
       n_coef_rows=st.integers(1, 4), n_classes=st.integers(0, 5),
       bad=st.sampled_from([None, "nan_x", "inf_coef", "list_classes"]))
def test_worst_case_accuracy_function_any_input(n_rows, n_features, n_coef_rows,
                                                n_classes, bad):
    from statopt.linear_model import worst_case_accuracy

    rng = np.random.RandomState(0)
    coef = rng.standard_normal((n_coef_rows, n_features))
    intercept = rng.standard_normal(n_coef_rows)
    X = rng.standard_normal((n_rows, n_features))
    classes = np.arange(n_classes)
    y = rng.randint(0, max(n_classes, 1), n_rows)
    if bad == "nan_x" and n_rows:
        X[0, 0] = np.nan
    if bad == "inf_coef":
        coef[0, 0] = np.inf
    if bad == "list_classes":
        classes = list(classes)
    X_copy = X.copy()
    try:
        accuracy = worst_case_accuracy(coef, intercept, classes, X, y, 0.5)
    except ValueError as error:
        assert str(error)
    else:
        assert 0.0 <= accuracy <= 1.0
        assert n_rows and bad in (None, "list_classes")
    np.testing.assert_array_equal(X, X_copy)


@settings(max_examples=60, deadline=None)
@given(degree=st.floats(0.5, 1e5), tol=st.floats(1e-12, 1e-2))
def test_final_centring_keeps_the_gap_bound_below_tol(degree, tol):
    # The last centring of the growth schedule stops at _final_centring's
    # decrement, at t = (1 + _FINAL_MARGIN) degree / tol: the certified bound
    # must then be at most tol, and the decrement a valid one (beta < 1).
    from statopt.linear_model._robust_dual import (
        _FINAL_MARGIN,
        _final_centring,
        _path_gap,
    )

    decrement = _final_centring(degree)
    assert 0.0 < decrement <= 0.25
    assert _path_gap(degree, decrement, (1 + _FINAL_MARGIN) * degree / tol) <= tol


@settings(max_examples=80, deadline=None)
@given(problems(), st.sampled_from([np.inf, 0.5, 5.0]),
       st.sampled_from(["spectral", "frobenius", "nuclear", "pairwise"]),
       st.booleans())
def test_critical_radius_is_clean_or_finite(problem, kappa, norm, fit_intercept):
    from statopt.linear_model import critical_radius

    X, y, weights = problem
    copies = [None if a is None else a.copy() for a in (X, y, weights)]
    try:
        r_star = critical_radius(X, y, norm=norm, label_flip_cost=kappa,
                                 fit_intercept=fit_intercept, sample_weight=weights)
    except CLEAN:
        pass
    else:
        assert np.isfinite(r_star) and r_star >= 0
    for original, copy in zip((X, y, weights), copies):
        if original is not None:
            np.testing.assert_array_equal(original, copy)
