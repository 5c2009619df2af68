"""Tests of AuxiliaryLearningClassifier and its data set (issue 16)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from statopt.datasets import make_auxiliary_tasks


def _true_digits(X):
    """The digit of each row, found by looking its pixels up in scikit-learn's set."""
    pixels, digits = load_digits(return_X_y=True)
    table = {}
    for row, digit in zip(pixels / 16.0, digits):
        table.setdefault(row.tobytes(), set()).add(digit)
    found = [table[row.tobytes()] for row in X]
    assert all(len(d) == 1 for d in found)
    return np.array([d.pop() for d in found])


@pytest.mark.parametrize("rho", [0.0, 0.25])
def test_make_auxiliary_tasks_labels_and_flip_rate(rho):
    data = make_auxiliary_tasks(rho=rho, random_state=3)
    digits = _true_digits(data.X)
    labelled = data.y >= 0
    assert labelled.sum() == 50 and (~labelled).sum() == 800
    assert np.array_equal(np.bincount(data.y[labelled]), np.full(10, 5))
    assert np.array_equal(data.y[labelled], digits[labelled])
    clean = np.column_stack([digits % 2, digits >= 5])
    flip_rate = np.mean(data.auxiliary_targets[:, :2] != clean)
    # 1,700 Bernoulli(rho) draws: within 4 standard deviations.
    assert abs(flip_rate - rho) <= 4 * np.sqrt(max(rho * (1 - rho), 1e-4) / 1700)
    # The noise task is independent of the digit: its agreement with parity is ~1/2.
    assert abs(np.mean(data.auxiliary_targets[:, 2] == digits % 2) - 0.5) < 0.06
    # Test rows are disjoint from the training rows and carry the true digit.
    assert np.array_equal(data.y_test, _true_digits(data.X_test))
    assert len(data.y_test) + len(data.y) == 1797


def test_make_auxiliary_tasks_bad_input():
    with pytest.raises(ValueError, match="rho"):
        make_auxiliary_tasks(rho=1.5)
    with pytest.raises(ValueError, match="no test row"):
        make_auxiliary_tasks(n_auxiliary=1790)


# ----------------------------------------------------------------- the estimator

import warnings  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from scipy.stats import chi2  # noqa: E402
from sklearn import config_context  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from test_neural_network import _fd_gradient  # noqa: E402

from statopt.neural_network import (  # noqa: E402
    AuxiliaryLearningClassifier,
    Dense,
    MultiHeadNetwork,
    SoftmaxCrossEntropy,
    SoftTargetCrossEntropy,
    Tanh,
)
from statopt.neural_network._auxiliary import (  # noqa: E402
    largest_eigenvalue,
    neumann_inverse_hvp,
)

SMALL = dict(hidden_layer_sizes=(8,), max_iter=10, tol=0.0, random_state=0)


def _fit(clf, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(*args, **kwargs)


def _small_data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    aux = np.column_stack([(X[:, 0] > 0), rng.integers(0, 2, n)]).astype(float)
    return X, y, aux


def test_soft_target_head_gradient_and_hvp_against_finite_differences():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 3))
    soft = rng.dirichlet(np.ones(3), size=7)
    net = MultiHeadNetwork([Dense(4), Tanh()],
                           [([Dense(2)], SoftmaxCrossEntropy()),
                            ([Dense(3)], SoftTargetCrossEntropy())], 3)
    theta = net.init_params(random_state=0)
    labels, coefs = np.arange(7) % 2, [np.full(7, 1 / 7), rng.uniform(0, 1, 7)]

    def loss(t):
        return net._loss_gradient(t, X, [labels, soft], coefs, 0.1)[0]

    def grad(t):
        return net._loss_gradient(t, X, [labels, soft], coefs, 0.1)[1]

    np.testing.assert_allclose(grad(theta), _fd_gradient(loss, theta), atol=1e-7)
    v = rng.normal(size=theta.size)
    hv = net._hessian_vector_product(theta, v, X, [labels, soft], coefs, 0.1)
    step = 1e-5
    fd = (grad(theta + step * v) - grad(theta - step * v)) / (2 * step)
    np.testing.assert_allclose(hv, fd, atol=1e-7)
    # Hard one-hot targets give SoftmaxCrossEntropy's loss exactly.
    hard = SoftmaxCrossEntropy().loss(X, np.arange(7) % 3, np.ones(7))
    assert np.isclose(SoftTargetCrossEntropy().loss(X, np.eye(3)[np.arange(7) % 3],
                                                    np.ones(7)), hard)


def _tiny_bilevel(scale=1.0):
    """A two-head network fitted to the minimum of L_0 + lam L_1 + l2 penalty."""
    rng = np.random.default_rng(7)
    X, X_upper = scale * rng.normal(size=(30, 3)), scale * rng.normal(size=(20, 3))
    y, y_upper = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1), (X_upper[:, 0] > 0)
    aux = (X[:, 0] + X[:, 2] > 0).astype(int)
    net = MultiHeadNetwork([Dense(3), Tanh()],
                           [([Dense(3)], SoftmaxCrossEntropy()),
                            ([Dense(2)], SoftmaxCrossEntropy())], 3)
    l2 = 0.05

    def coefs(lam):
        return [np.full(30, 1 / 30), np.full(30, lam / 30)]

    def solve(lam, start):
        def f(t):
            return net._loss_gradient(t, X, [y, aux], coefs(lam), l2)
        result = minimize(f, start, jac=True, method="L-BFGS-B",
                          options=dict(gtol=1e-10, ftol=1e-15, maxiter=5000))
        return result.x

    theta = solve(0.7, net.init_params(random_state=0))

    def upper(t):
        return net._loss_gradient(t, X_upper, [y_upper.astype(int), aux[:20]],
                                  [np.full(20, 1 / 20), np.zeros(20)], 0.0)

    def hvp(v):
        return net._hessian_vector_product(theta, v, X, [y, aux], coefs(0.7), l2)

    return net, theta, solve, upper, hvp, (X, y, aux, coefs, l2)


def test_implicit_gradient_matches_explicit_hessian_solve_and_resolving():
    net, theta, solve, upper, hvp, (X, y, aux, coefs, l2) = _tiny_bilevel()
    # The explicit Hessian, by central differences of the gradient (not the R-op).
    hessian = np.column_stack([_fd_gradient(
        lambda t, j=j: net._loss_gradient(t, X, [y, aux], coefs(0.7), l2)[1][j],
        theta) for j in range(theta.size)]).T
    hessian = (hessian + hessian.T) / 2
    # Softmax logits are shift-invariant and biases unpenalised: H is singular
    # along those shifts, to which every gradient here is orthogonal; the
    # pseudo-inverse solves on the rest, and there H is positive definite.
    eigenvalues = np.linalg.eigvalsh(hessian)
    assert np.sum(np.abs(eigenvalues) < 1e-6) == 2 and eigenvalues.min() > -1e-6
    g_upper = upper(theta)[1]
    g_task = net._loss_gradient(theta, X, [y, aux], [np.zeros(30), np.full(30, 1 / 30)],
                                0.0)[1]
    exact = -g_upper @ np.linalg.pinv(hessian, rcond=1e-8, hermitian=True) @ g_task
    # The exact implicit gradient is the derivative of L_p(theta*(lam)) itself.
    eps = 1e-4
    resolved = (upper(solve(0.7 + eps, theta))[0]
                - upper(solve(0.7 - eps, theta))[0]) / (2 * eps)
    assert np.isclose(exact, resolved, rtol=1e-3)
    # The Neumann series with the automatic step converges to the same number.
    eigenvalue, _ = largest_eigenvalue(hvp, theta.size, n_iter=200, random_state=0)
    assert np.isclose(eigenvalue, np.linalg.eigvalsh(hessian).max(), rtol=1e-3)
    solution = neumann_inverse_hvp(hvp, g_upper, 1200, 1.0 / eigenvalue)
    assert np.isclose(-solution @ g_task, exact, rtol=1e-4)


def test_unit_neumann_step_diverges_where_auto_step_converges():
    # Larger inputs push the top Hessian eigenvalue above 2: the unit step then
    # leaves the series' disc of convergence.
    net, theta, _, upper, hvp, _ = _tiny_bilevel(scale=4.0)
    eigenvalue, _ = largest_eigenvalue(hvp, theta.size, n_iter=300, random_state=0)
    assert eigenvalue > 2.5
    g_upper = upper(theta)[1]
    matrix = np.column_stack([hvp(e) for e in np.eye(theta.size)])
    target = np.linalg.pinv((matrix + matrix.T) / 2, rcond=1e-8,
                            hermitian=True) @ g_upper

    def error(terms, step):
        return np.linalg.norm(neumann_inverse_hvp(hvp, g_upper, terms, step)
                              - target) / np.linalg.norm(target)

    unit = [error(n, 1.0) for n in (3, 10, 30)]
    auto = [error(n, 1.0 / eigenvalue) for n in (3, 10, 30, 1000)]
    assert unit[0] < unit[1] < unit[2] and unit[2] > 1e3
    # Condition number ~260 here: (1 - 1/260)^1000 ~ 0.02 bounds the error.
    assert auto[0] > auto[1] > auto[2] > auto[3] and auto[3] < 0.05
    clf = _fit(AuxiliaryLearningClassifier(weighting="bilevel", upper_every=2,
                                           **SMALL), *_small_data()[:2],
               auxiliary_targets=_small_data()[2])
    assert all(0 < step for step in clf.neumann_steps_)


@pytest.mark.parametrize("weighting, pool", [("bilevel", False), ("dtg", False),
                                             ("dtg", True)])
def test_upper_gradient_is_minus_u_times_mixed_derivative(weighting, pool):
    """The estimator's upper gradient against central differences in phi of
    u' grad_theta L_t(theta, phi), for an arbitrary vector u; with ``pool`` the
    rows past the 15th have no primary label and train on generated pool labels."""
    X, y, aux = _small_data()
    if pool:
        y[15:] = -1
    # One round: the pool targets are then the network's own posteriors.
    clf = _fit(AuxiliaryLearningClassifier(weighting=weighting, feature_mixing=0.0,
                                           instance_regularization=0.0,
                                           pool_rounds=1, **SMALL),
               X, y, auxiliary_targets=aux)
    assert clf._pool_labelling == pool
    rng = np.random.default_rng(3)
    u = rng.normal(size=clf.params_.size)
    rows = np.arange(25)
    n_tasks = 2
    primary = np.where(y[rows] >= 0, 1.0, 0.0)
    codes = np.maximum(y[rows], 0)
    inputs = clf._generator_input(codes, y[rows] >= 0, [
        dict(kind="classification", classes=np.array([0.0, 1.0]),
             codes=aux[rows, k].astype(int), observed=np.ones(25, bool))
        for k in range(n_tasks)])
    batch = (X[rows], codes, primary, inputs,
             aux[rows, 0].astype(int), aux[rows, 1].astype(int),
             np.ones(25), np.ones(25)) + ((1.0 - primary, rows) if pool else ())

    def contracted(phi):
        saved = clf._upper.copy()
        clf._upper[...] = phi
        X_b, targets, coefs, extra = clf._lower_batch(batch, None)
        targets, weighted = clf._lower_terms(clf.params_, 0, X_b, targets, coefs,
                                             extra)
        grad = clf.network_._loss_gradient(clf.params_, X_b, targets, weighted,
                                           0.01)[1]
        clf._upper[...] = saved
        return float(u @ grad)

    X_b, targets, coefs, extra = clf._lower_batch(batch, None)
    targets, _ = clf._lower_terms(clf.params_, 0, X_b, targets, coefs, extra)
    if pool:
        # The pool rows' primary targets: the network's probabilities times the
        # labels' evidence and the class shift, sharpened at temperature 0.5;
        # the others one-hot.
        np.testing.assert_array_equal(targets[0][:15], np.eye(2)[y[:15]])
        scores = np.log(clf.predict_proba(X[15:25])) + clf._shift[0]
        for k in range(n_tasks):
            scores += clf._likelihoods[0][k][:, aux[15:25, k].astype(int)].T
        expected_q = np.exp(2 * scores)
        expected_q /= expected_q.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(targets[0][15:], expected_q, rtol=1e-10)
    gradient, _ = clf._upper_gradient(clf.params_, X_b, targets, coefs, extra, u)
    expected = -_fd_gradient(contracted, clf._upper.copy())
    np.testing.assert_allclose(gradient, expected, atol=1e-6)
    if weighting == "dtg":
        assert np.any(np.abs(gradient[n_tasks:]) > 1e-6)


def test_uncertainty_loss_gradients_against_finite_differences():
    """Kendall et al.'s loss sum_k exp(-s_k) L_k + s_k / 2 over all tasks: its
    gradients in theta and in the log-variances s against central differences."""
    X, y, aux = _small_data()
    clf = _fit(AuxiliaryLearningClassifier(weighting="uncertainty", **SMALL), X, y,
               auxiliary_targets=aux)
    batch = (X, y, np.ones(60), np.zeros((60, 0)), aux[:, 0].astype(int),
             aux[:, 1].astype(int), np.ones(60), np.ones(60))
    X_b, targets, coefs, _ = clf._lower_batch(batch, None)
    theta = clf.params_.copy()
    s = np.array([0.3, -0.5, 1.2])
    loss, grad, grad_s = clf._uncertainty_loss(theta, s, X_b, targets, coefs, 0.01)
    np.testing.assert_allclose(grad, _fd_gradient(
        lambda t: clf._uncertainty_loss(t, s, X_b, targets, coefs, 0.01)[0], theta),
        atol=1e-7)
    np.testing.assert_allclose(grad_s, _fd_gradient(
        lambda v: clf._uncertainty_loss(theta, v, X_b, targets, coefs, 0.01)[0], s),
        atol=1e-7)


@pytest.mark.parametrize("learning_rate", [1e-3, 3e-2])
def test_uncertainty_log_variances_train_at_the_network_learning_rate(
        learning_rate):
    # The log-variances are parameters of the model (Kendall et al.): Adam at the
    # network's learning_rate moves each by at most about learning_rate per step,
    # whatever upper_learning_rate says (10 epochs of one 60-row batch: 10 steps).
    X, y, aux = _small_data()
    clf = _fit(AuxiliaryLearningClassifier(
        weighting="uncertainty", learning_rate=learning_rate, upper_learning_rate=1.0,
        **SMALL), X, y, auxiliary_targets=aux)
    s = clf._upper
    assert np.all(np.abs(s) <= 10 * learning_rate * 1.01)
    assert np.any(np.abs(s) > 2 * learning_rate)
    np.testing.assert_allclose(clf.task_weights_, np.exp(s[0] - s[1:]))


def test_crossfit_halves_and_each_network_trains_on_its_own_half():
    """'crossfit': two stratified halves of the primary rows; the lower gradient of
    each network does not depend on the labels of the half it is judged on, and the
    final network (one, refitted on all rows) predicts every class."""
    X, y, aux = _small_data(n=60)
    clf = _fit(AuxiliaryLearningClassifier(weighting="bilevel", upper_every=2,
                                           upper_validation="crossfit", **SMALL),
               X, y, auxiliary_targets=aux)
    assert clf.params_.size == clf.network_.init_params(np.random.RandomState(0)).size
    assert len(clf.upper_curve_) > 0 and np.all(np.isfinite(clf.upper_curve_))
    first, second = clf._halves(y, np.ones(60, bool), np.random.RandomState(0))
    assert np.intersect1d(first, second).size == 0
    assert np.union1d(first, second).size == 60
    assert abs(np.mean(y[first]) - np.mean(y[second])) <= 1 / 30 + 1e-12

    # The lower objective on two networks side by side, as in the fit.
    weights = np.zeros((60, 2))
    weights[first, 0] = weights[second, 1] = 2.0
    theta = np.concatenate([clf.params_, clf.params_ + 0.1])
    objective = clf._objective(0.01, None, None)

    def gradient(labels):
        batch = (X, labels, weights, np.zeros((60, 0)), aux[:, 0].astype(int),
                 aux[:, 1].astype(int), np.ones(60), np.ones(60))
        return np.split(objective(theta, batch, None)[1], 2)

    flipped = y.copy()
    flipped[second] = 1 - flipped[second]
    before, after = gradient(y), gradient(flipped)
    np.testing.assert_array_equal(before[0], after[0])
    assert not np.allclose(before[1], after[1])


def test_primary_only_matches_logistic_regression_on_digits():
    # Without hidden layers and with weighting='none' the network is multinomial
    # logistic regression: its test accuracy is that of scikit-learn's.
    data = make_auxiliary_tasks(random_state=0)
    labelled = data.y >= 0
    clf = _fit(AuxiliaryLearningClassifier(hidden_layer_sizes=(), weighting="none",
                                           alpha=1.0, learning_rate=0.05,
                                           max_iter=2000, tol=1e-7,
                                           n_iter_no_change=50, random_state=0),
               data.X, data.y, auxiliary_targets=data.auxiliary_targets)
    reference = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(
        data.X[labelled], data.y[labelled])
    agreement = np.mean(clf.predict(data.X_test) == reference.predict(data.X_test))
    assert agreement > 0.97
    assert clf.task_weights_.shape == (0,)


def test_equal_weights_with_auxiliary_copy_of_the_labels_help():
    # An auxiliary task that is the digit itself, on 800 pool rows, must lift the
    # accuracy far above the 50-row primary-only network.
    data = make_auxiliary_tasks(random_state=1)
    digits = _true_digits(data.X).astype(float)
    params = dict(hidden_layer_sizes=(32,), max_iter=60, random_state=0)
    alone = _fit(AuxiliaryLearningClassifier(weighting="none", **params),
                 data.X, data.y)
    helped = _fit(AuxiliaryLearningClassifier(weighting="equal", **params),
                  data.X, data.y, auxiliary_targets=digits[:, None])
    assert helped.score(data.X_test, data.y_test) > alone.score(
        data.X_test, data.y_test) + 0.04


def test_missing_and_regression_auxiliary_columns():
    X, y, aux = _small_data()
    rng = np.random.default_rng(0)
    aux = np.column_stack([aux, X[:, 0] * 3.5 + 1.0])
    aux[rng.uniform(size=aux.shape) < 0.3] = np.nan
    y = y.copy()
    y[40:] = -1
    clf = _fit(AuxiliaryLearningClassifier(weighting="equal", **SMALL), X, y,
               auxiliary_targets=aux)
    kinds = [task["kind"] for task in clf.auxiliary_tasks_]
    assert kinds == ["classification", "classification", "regression"]
    observed = aux[:, 2][~np.isnan(aux[:, 2])]
    assert np.isclose(clf.auxiliary_tasks_[2]["mean"], observed.mean())
    assert np.isclose(clf.auxiliary_tasks_[2]["scale"], observed.std())
    assert isinstance(clf.network_.heads[3][1], type(clf.network_.heads[3][1]))
    forced = _fit(AuxiliaryLearningClassifier(
        weighting="equal", auxiliary_types=["regression"] * 3, **SMALL),
        X, y, auxiliary_targets=aux)
    assert [t["kind"] for t in forced.auxiliary_tasks_] == ["regression"] * 3


def test_dtg_generated_labels_start_at_the_observed_labels():
    X, y, aux = _small_data()
    clf = _fit(AuxiliaryLearningClassifier(weighting="dtg", upper_every=2, **SMALL),
               X, y, auxiliary_targets=aux)
    labels = clf.generate_auxiliary_labels(y, aux)
    assert len(labels) == 2 and labels[0].shape == (60, 2)
    np.testing.assert_allclose(labels[0].sum(axis=1), 1.0)
    # The linear term memorises: after a short fit the generated label still
    # names the observed one on most rows.
    assert np.mean(np.argmax(labels[0], axis=1) == aux[:, 0]) > 0.9
    assert len(clf.upper_curve_) > 0 and clf.task_weight_curve_.shape[1] == 2
    with pytest.raises(ValueError, match="dtg"):
        _fit(AuxiliaryLearningClassifier(weighting="equal", **SMALL), X, y,
             auxiliary_targets=aux).generate_auxiliary_labels(y, aux)


def test_metadata_routing_passes_auxiliary_targets_split_with_rows():
    X, y, aux = _small_data(n=90)
    seen = []

    class Recording(AuxiliaryLearningClassifier):
        def fit(self, X, y, *, auxiliary_targets=None, sample_weight=None):
            seen.append((len(X), None if auxiliary_targets is None
                         else len(auxiliary_targets)))
            return super().fit(X, y, auxiliary_targets=auxiliary_targets,
                               sample_weight=sample_weight)

    with config_context(enable_metadata_routing=True):
        clf = Recording(weighting="equal", **SMALL).set_fit_request(
            auxiliary_targets=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_val_score(clf, X, y, cv=3,
                                     params={"auxiliary_targets": aux})
            search = GridSearchCV(clf, {"weighting": ["none", "equal"]}, cv=3).fit(
                X, y, auxiliary_targets=aux)
    assert scores.shape == (3,)
    assert all(n_aux == n_rows for n_rows, n_aux in seen)
    assert search.best_params_["weighting"] in ("none", "equal")


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from(["short_aux", "inf_aux", "string_aux", "one_class_aux",
                            "all_unlabelled", "nan_X", "negative_weight",
                            "empty_aux", "types_length", "types_name",
                            "fractional_classes", "holdout_all",
                            "crossfit_zero_half"]),
       seed=st.integers(0, 1000),
       weighting=st.sampled_from(["equal", "gcs", "bilevel", "dtg"]))
def test_property_bad_input_gives_clear_errors(bad, seed, weighting):
    X, y, aux = _small_data(seed % 5, n=30)
    params = dict(SMALL, max_iter=2, weighting=weighting)
    args = dict(X=X.copy(), y=y.copy(), auxiliary_targets=aux.copy(),
                sample_weight=None)
    if bad == "short_aux":
        args["auxiliary_targets"] = aux[1:]
    elif bad == "inf_aux":
        args["auxiliary_targets"][seed % 30, seed % 2] = np.inf
    elif bad == "string_aux":
        args["auxiliary_targets"] = aux.astype(str)
    elif bad == "one_class_aux":
        args["auxiliary_targets"][:, 1] = 1.0
    elif bad == "all_unlabelled":
        args["y"][:] = -1
    elif bad == "nan_X":
        args["X"][seed % 30, seed % 4] = np.nan
    elif bad == "negative_weight":
        args["sample_weight"] = np.ones(30)
        args["sample_weight"][seed % 30] = -1.0
    elif bad == "empty_aux":
        args["auxiliary_targets"][:, 0] = np.nan
        args["auxiliary_targets"][seed % 30, 0] = 1.0
    elif bad == "types_length":
        params["auxiliary_types"] = ["classification"]
    elif bad == "types_name":
        params["auxiliary_types"] = ["classification", "ordinal"]
    elif bad == "fractional_classes":
        args["auxiliary_targets"][seed % 30, 0] = 0.5
        params["auxiliary_types"] = ["classification", "classification"]
    elif bad == "holdout_all":
        if weighting not in ("bilevel", "dtg"):
            params["weighting"] = "bilevel"
        params.update(validation_fraction=0.99, upper_validation="holdout")
    elif bad == "crossfit_zero_half":
        # One labelled row of weight: one half of the cross-fit trains on nothing.
        params.update(weighting="bilevel" if weighting not in ("bilevel", "dtg")
                      else weighting, upper_validation="crossfit")
        args["sample_weight"] = np.where(y >= 0, 0.0, 1.0)
        args["sample_weight"][np.flatnonzero(y >= 0)[seed % 3]] = 1.0
    kept = {name: np.array(value, copy=True) for name, value in args.items()
            if value is not None}
    with pytest.raises((ValueError, TypeError)) as error:
        _fit(AuxiliaryLearningClassifier(**params), **args)
    assert str(error.value)
    for name, value in kept.items():
        np.testing.assert_array_equal(np.asarray(args[name]), value)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), missing=st.floats(0.0, 0.6),
       weighting=st.sampled_from(["none", "equal", "uncertainty", "gcs", "bilevel",
                                  "dtg"]),
       upper_validation=st.sampled_from(["holdout", "reorder", "crossfit"]),
       unlabelled=st.integers(0, 20), pool_labels=st.sampled_from([0.0, 1.0, 2.5]),
       pool_temperature=st.sampled_from([0.05, 0.5, 1.0]),
       pool_trust=st.sampled_from(["auto", 0.0, 0.5, 1.0]),
       weight_prior=st.sampled_from([0.0, 1.0, 100.0]),
       pool_threshold=st.sampled_from([0.0, 0.5, 0.99]),
       pool_ensemble=st.sampled_from([0.0, 0.6]))
def test_property_any_valid_input_fits_finite(seed, missing, weighting,
                                              upper_validation, unlabelled,
                                              pool_labels, pool_temperature,
                                              pool_trust, weight_prior,
                                              pool_threshold, pool_ensemble):
    X, y, aux = _small_data(seed, n=40)
    rng = np.random.default_rng(seed)
    aux[rng.uniform(size=aux.shape) < missing] = np.nan
    aux[:2] = [[0, 0], [1, 1]]
    y[:2] = [0, 1]
    # Rows past the 20th may lose their primary label: an auxiliary pool.
    y[40 - unlabelled :] = -1
    caller, caller_y = aux.copy(), y.copy()
    clf = _fit(AuxiliaryLearningClassifier(**dict(
        SMALL, max_iter=3, upper_every=2, weighting=weighting,
        upper_validation=upper_validation, pool_labels=pool_labels,
        pool_temperature=pool_temperature, pool_trust=pool_trust,
        weight_prior=weight_prior, pool_threshold=pool_threshold,
        pool_ensemble=pool_ensemble)), X, y,
        auxiliary_targets=aux)
    np.testing.assert_array_equal(aux, caller)
    np.testing.assert_array_equal(y, caller_y)
    if hasattr(clf, "auxiliary_trust_"):
        assert np.all((clf.auxiliary_trust_ >= 0) & (clf.auxiliary_trust_ <= 1))
        if pool_trust != "auto":
            assert np.all(clf.auxiliary_trust_ == pool_trust)
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(clf.task_weights_)) and np.all(clf.task_weights_ >= 0)


def test_reproduce_auxiliary_quick_prints_the_table(capsys):
    from statopt.__main__ import main

    assert main(["reproduce", "auxiliary", "--quick"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():  # the first table; the figures follow
        if line.strip().startswith(("primary", "equal", "dtg")):
            rows.setdefault(line.split()[0], line.split())
    # Accuracies of the fits, the time and memory ratio of primary only to itself.
    assert 0.5 < float(rows["primary"][2]) <= 1.0
    assert rows["primary"][-2:] == ["1.00x", "1.00x"]
    assert "dtg weights parity" in out and "openblas 1 thread" in out


def test_auxiliary_data_with_its_own_rows_equals_stacked_rows():
    X, y, aux = _small_data(n=60)
    X_main, y_main = X[:30], y[:30]
    params = dict(SMALL, weighting="bilevel", upper_every=2)
    stacked = _fit(AuxiliaryLearningClassifier(**params),
                   X, np.concatenate([y_main, np.full(30, -1)]),
                   auxiliary_targets=np.vstack([np.full((30, 2), np.nan), aux[30:]]))
    apart = _fit(AuxiliaryLearningClassifier(**params), X_main, y_main,
                 X_auxiliary=X[30:], y_auxiliary=aux[30:])
    np.testing.assert_array_equal(apart.params_, stacked.params_)
    np.testing.assert_array_equal(apart.task_weights_, stacked.task_weights_)
    with pytest.raises(ValueError, match="together"):
        AuxiliaryLearningClassifier(**params).fit(X_main, y_main, X_auxiliary=X)
    with pytest.raises(ValueError, match="columns"):
        AuxiliaryLearningClassifier(**params).fit(X_main, y_main,
                                                  X_auxiliary=X[30:, :2],
                                                  y_auxiliary=aux[30:])


def test_regressor_without_hidden_layers_is_ridge_regression():
    from sklearn.linear_model import Ridge

    from statopt.neural_network import AuxiliaryLearningRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = 3.0 * X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=80) + 10.0
    y_missing = y.copy()
    y_missing[60:] = np.nan
    reg = _fit(AuxiliaryLearningRegressor((), weighting="none", alpha=5.0,
                                          learning_rate=0.05, batch_size=60,
                                          max_iter=3000, tol=1e-10,
                                          n_iter_no_change=100, random_state=0),
               X, y_missing)
    reference = Ridge(alpha=5.0).fit(X[:60], y[:60])
    np.testing.assert_allclose(reg.predict(X), reference.predict(X),
                               atol=1e-3 * np.std(y))
    assert np.isclose(reg.y_mean_, y[:60].mean())


@pytest.mark.parametrize("weighting", ["equal", "gcs", "bilevel", "dtg"])
def test_regressor_with_auxiliary_tasks_fits_and_beats_the_mean(weighting):
    from statopt.neural_network import AuxiliaryLearningRegressor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] + np.sin(X[:, 1]) + 0.1 * rng.normal(size=300)
    aux = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1]])
    y_train = y.copy()
    y_train[40:250] = np.nan
    reg = _fit(AuxiliaryLearningRegressor((16,), weighting=weighting, max_iter=40,
                                          upper_every=2, random_state=0),
               X[:250], y_train[:250], auxiliary_targets=aux[:250])
    assert [t["kind"] for t in reg.auxiliary_tasks_] == ["classification",
                                                        "regression"]
    assert reg.score(X[250:], y[250:]) > 0.5
    assert np.all(np.isfinite(reg.task_weights_))
    with pytest.raises(ValueError, match="inf"):
        AuxiliaryLearningRegressor(weighting=weighting).fit(
            X[:10], np.r_[np.inf, y[1:10]], auxiliary_targets=aux[:10])


@pytest.mark.parametrize("exponent", [1000, -1000])
def test_regressor_targets_near_the_limits_of_float64_give_the_same_fit(exponent):
    """The primary and auxiliary regression targets are standardised: targets
    multiplied by 2**1000 (about 1e301, whose squares overflow) or 2**-1000 give
    the same fit, with predictions multiplied exactly by that factor. At 1e300
    the scale came out inf and every prediction NaN."""
    from statopt.neural_network import AuxiliaryLearningRegressor

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    y = X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=120)
    aux = np.column_stack([X[:, 0] > 0, X[:, 0] + 0.5 * rng.normal(size=120)])
    factor = 2.0 ** exponent

    def fitted(y_fit, aux_fit):
        # Stated types: floats beyond 2**53 are whole numbers, which 'auto' reads
        # as class labels.
        return _fit(AuxiliaryLearningRegressor(
            (8,), weighting="bilevel", max_iter=15, upper_every=2, random_state=0,
            auxiliary_types=["classification", "regression"]),
            X, y_fit, auxiliary_targets=aux_fit)

    plain = fitted(y, aux)
    scaled = fitted(y * factor, np.column_stack([aux[:, 0], aux[:, 1] * factor]))
    assert scaled.y_scale_ == plain.y_scale_ * factor
    np.testing.assert_array_equal(scaled.predict(X), plain.predict(X) * factor)
    np.testing.assert_array_equal(scaled.task_weights_, plain.task_weights_)


def _pool_data(seed=0, n=300, n_labelled=30):
    """Three classes; a clean copy of 'class == 0' and a coin as auxiliary labels."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n) % 3
    X = rng.normal(size=(n, 4)) + 1.5 * np.eye(4)[classes]
    y = np.where(np.arange(n) < n_labelled, classes, -1)
    aux = np.column_stack([classes == 0, rng.integers(0, 2, n)]).astype(float)
    return X, y, aux, classes


def _brute_force_evidence(proba, a, pool):
    """Marginal of binary labels ``a`` and ``log T[c, a] - log P(a)`` counted on
    the pool rows with the predicted probabilities, 5 prior rows per class."""
    marginal = np.array([np.mean(a == 0), np.mean(a == 1)])
    counts = np.array([[5.0 * marginal[b] + sum(
        proba[i, c] for i in range(pool.sum()) if a[pool][i] == b)
        for b in range(2)] for c in range(proba.shape[1])])
    return marginal, np.log(counts / counts.sum(axis=1, keepdims=True) / marginal)


def test_pool_label_likelihoods_trust_and_alignment_against_brute_force():
    X, y, aux, _ = _pool_data()
    clf = _fit(AuxiliaryLearningClassifier(weighting="dtg", pool_rounds=1,
                                           **dict(SMALL, max_iter=5)),
               X, y, auxiliary_targets=aux)
    clf._update_likelihoods(clf.params_, 0)
    pool, labelled = y < 0, y >= 0
    proba = clf.predict_proba(X[pool])
    prior = np.full(3, 1 / 3)
    posterior_logits = np.log(proba)
    for k in range(2):
        a = aux[:, k].astype(int)
        marginal, ratio = _brute_force_evidence(proba, a, pool)
        best, best_fit, zero_fit = None, -np.inf, None
        for trust in np.linspace(0, 1, 21):
            fit = 0.0
            for c, b in zip(y[labelled], a[labelled]):
                scores = marginal * np.exp(trust * ratio[c])
                fit += np.log(scores[b] / scores.sum())
            zero_fit = fit if zero_fit is None else zero_fit
            if fit > best_fit + 1e-12:
                best, best_fit = trust, fit
        # Likelihood-ratio test of trust 0 at the 5% level, the parameter on the
        # boundary: half a chi-square(1), so its 90% quantile.
        if 2 * (best_fit - zero_fit) <= chi2.ppf(0.90, 1):
            best = 0.0
        assert clf._trust[0][k] == pytest.approx(best)
        np.testing.assert_allclose(clf._likelihoods[0][k], best * ratio,
                                   rtol=1e-10, atol=1e-12)
        posterior_logits = posterior_logits + best * ratio[:, a[pool]].T
    # The clean label is trusted fully; its evidence separates class 0. The
    # label drawn at random fails the test.
    assert clf._trust[0][0] == 1.0 and clf._trust[0][1] == 0.0
    evidence = clf._likelihoods[0][0]
    assert evidence[0, 1] > 0.1 and evidence[0, 1] > evidence[1:, 1].max() + 0.2
    # The shift aligns the mean posterior over the pool with the labelled rows'
    # class frequencies.
    aligned = posterior_logits + clf._shift[0]
    mean = np.exp(aligned - aligned.max(axis=1, keepdims=True))
    mean = (mean / mean.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(mean, prior, atol=0.01)
    assert np.all((clf.auxiliary_trust_ >= 0) & (clf.auxiliary_trust_ <= 1))


def test_pool_labels_change_the_fit_and_help_on_digits():
    """At rho = 0, parity and '>= 5' narrow each pool digit to 2-3 classes: the
    generated pool labels raise the pool rows' accuracy (their true digits)."""
    data = make_auxiliary_tasks(rho=0.0, random_state=7)
    pool = data.y < 0
    truth = _true_digits(data.X[pool])
    scores = {}
    for weight in (0.0, 1.0):
        clf = _fit(AuxiliaryLearningClassifier(
            (32,), weighting="dtg", upper_validation="holdout", pool_labels=weight,
            max_iter=30, random_state=0), data.X, data.y,
            auxiliary_targets=data.auxiliary_targets)
        scores[weight] = clf.score(data.X[pool], truth)
    assert clf.auxiliary_trust_[:2].min() > 0.5
    assert scores[1.0] > scores[0.0] + 0.03


@pytest.mark.parametrize("trust", [0.0, 0.4, 1.0])
def test_pool_trust_fixed_against_brute_force(trust):
    """A fixed trust scales every label's evidence; 0 leaves the network's own
    prediction, shifted so the pool's mean posterior is the class prior."""
    X, y, aux, _ = _pool_data()
    clf = _fit(AuxiliaryLearningClassifier(weighting="dtg", pool_trust=trust,
                                           **dict(SMALL, max_iter=5)),
               X, y, auxiliary_targets=aux)
    clf._update_likelihoods(clf.params_, 0)
    pool = y < 0
    proba = clf.predict_proba(X[pool])
    logits = np.log(proba)
    for k in range(2):
        a = aux[:, k].astype(int)
        _, ratio = _brute_force_evidence(proba, a, pool)
        np.testing.assert_allclose(clf._likelihoods[0][k], trust * ratio,
                                   rtol=1e-10, atol=1e-12)
        logits = logits + trust * ratio[:, a[pool]].T
    np.testing.assert_array_equal(clf.auxiliary_trust_, [trust, trust])
    aligned = logits + clf._shift[0]
    mean = np.exp(aligned - aligned.max(axis=1, keepdims=True))
    mean = (mean / mean.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(mean, np.full(3, 1 / 3), atol=0.01)


def test_pool_trust_changes_the_fit_and_the_evidence_helps_on_digits():
    """Switching the auxiliary labels' evidence off (trust 0, self-training on the
    network's own predictions) changes the fit and, at rho = 0, lowers the pool
    rows' accuracy (their true digits)."""
    data = make_auxiliary_tasks(rho=0.0, random_state=7)
    pool = data.y < 0
    truth = _true_digits(data.X[pool])
    scores = {}
    for trust in ("auto", 0.0):
        clf = _fit(AuxiliaryLearningClassifier(
            (32,), weighting="dtg", upper_validation="holdout", pool_trust=trust,
            max_iter=30, random_state=0), data.X, data.y,
            auxiliary_targets=data.auxiliary_targets)
        scores[trust] = clf.score(data.X[pool], truth)
    assert np.all(clf.auxiliary_trust_ == 0.0)
    assert scores["auto"] > scores[0.0] + 0.02


def test_pool_label_likelihoods_follow_the_network_once_an_epoch(monkeypatch):
    """Once per epoch of minibatches, whatever upper_every is (plus the start)."""
    X, y, aux, _ = _pool_data(n=90)
    calls = []
    original = AuxiliaryLearningClassifier._update_likelihoods
    monkeypatch.setattr(AuxiliaryLearningClassifier, "_update_likelihoods",
                        lambda self, theta, index: calls.append(index)
                        or original(self, theta, index))
    # 90 rows in minibatches of 30: 3 steps an epoch, 2 epochs.
    _fit(AuxiliaryLearningClassifier(
        weighting="dtg", upper_validation="reorder", upper_every=2, batch_size=30,
        **dict(SMALL, max_iter=2)), X, y, auxiliary_targets=aux)
    assert len(calls) == 1 + 2


@pytest.mark.parametrize("name, value", [
    ("pool_trust", -0.1), ("pool_trust", 1.5), ("pool_trust", "yes"),
    ("pool_trust", None),
    ("pool_labels", -1.0), ("pool_labels", "yes"), ("pool_labels", None),
    ("pool_temperature", 0.0), ("pool_temperature", -0.5),
    ("pool_temperature", "sharp")])
def test_pool_labels_bad_values_refused(name, value):
    X, y, aux, _ = _pool_data(n=60)
    with pytest.raises(ValueError, match=name):
        AuxiliaryLearningClassifier(weighting="dtg", **{name: value},
                                    **SMALL).fit(X, y, auxiliary_targets=aux)


def test_pool_labels_only_for_classification_pools():
    """No pool labels without pool rows, for another weighting, or with
    regression auxiliary columns only; the regressor has none."""
    X, y, aux, classes = _pool_data(n=60)
    full = _fit(AuxiliaryLearningClassifier(weighting="dtg", **SMALL), X, classes,
                auxiliary_targets=aux)
    assert not full._pool_labelling and not hasattr(full, "auxiliary_trust_")
    equal = _fit(AuxiliaryLearningClassifier(weighting="equal", **SMALL), X, y,
                 auxiliary_targets=aux)
    assert not equal._pool_labelling
    regression = _fit(AuxiliaryLearningClassifier(
        weighting="dtg", auxiliary_types=["regression"] * 2, **SMALL), X, y,
        auxiliary_targets=aux)
    assert not regression._pool_labelling
    from statopt.neural_network import AuxiliaryLearningRegressor

    reg = _fit(AuxiliaryLearningRegressor(weighting="dtg", **SMALL), X,
               np.where(y >= 0, X[:, 0], np.nan), auxiliary_targets=aux)
    assert not reg._pool_labelling


# ------------------------------------------------------- prior on the task weights


def test_weight_prior_holds_bilevel_weights_at_one_and_changes_the_fit():
    """Without a measured trust the prior mean is 1 (equal weighting): a strong
    prior keeps the learned weights there; without it they move."""
    X, y, aux = _small_data(n=60)
    params = dict(SMALL, weighting="bilevel", upper_every=2, max_iter=20,
                  upper_learning_rate=0.5)
    free = _fit(AuxiliaryLearningClassifier(weight_prior=0.0, **params), X, y,
                auxiliary_targets=aux)
    held = _fit(AuxiliaryLearningClassifier(weight_prior=1e4, **params), X, y,
                auxiliary_targets=aux)
    assert np.abs(free.task_weights_ - 1.0).max() > 0.3
    # Adam's steps are at most the learning rate: the prior's pull brings every
    # weight back within a step of its mean.
    assert np.abs(held.task_weight_curve_ - 1.0).max() <= 0.5 + 1e-9
    assert np.abs(held.task_weights_ - 1.0).max() < 0.5
    assert not np.array_equal(free.params_, held.params_)


def test_weight_prior_upper_gradient_is_the_prior_derivative(monkeypatch):
    """The step's gradient is the networks' mean hypergradient plus the gradient
    of (lambda / 2) sum_k (w_k - b_k)^2, by central differences, with ``b`` the
    mean trust of the two cross-fitted networks."""
    X, y, aux, _ = _pool_data()
    clf = AuxiliaryLearningClassifier(weighting="dtg", weight_prior=3.0,
                                      **dict(SMALL, max_iter=4))
    seen = []
    original = AuxiliaryLearningClassifier._hypergradient

    def hypergradient(self, *args):
        result = original(self, *args)
        seen.append(result[0].copy())
        return result

    def step(gradients):
        n_tasks = len(clf._tasks)
        w = clf._upper[:n_tasks].copy()
        means = np.mean([clf._trust[0], clf._trust[1]], axis=0)

        def prior(v):
            return 0.5 * 3.0 * float((v - means) @ (v - means))

        numeric = [(prior(w + 1e-6 * e) - prior(w - 1e-6 * e)) / 2e-6
                   for e in np.eye(n_tasks)]
        expected = np.mean(seen[-2:], axis=0)[:n_tasks] + numeric
        np.testing.assert_allclose(gradients[0][:n_tasks], expected, rtol=1e-6,
                                   atol=1e-9)
        recorded.append(True)
        return original_step(gradients)

    recorded = []
    monkeypatch.setattr(AuxiliaryLearningClassifier, "_hypergradient",
                        hypergradient)
    original_fit_setup = AuxiliaryLearningClassifier._setup_upper

    def setup(self, *args):
        nonlocal original_step
        original_fit_setup(self, *args)
        original_step = self._upper_optimizer.step
        self._upper_optimizer.step = step

    original_step = None
    monkeypatch.setattr(AuxiliaryLearningClassifier, "_setup_upper", setup)
    _fit(clf, X, y, auxiliary_targets=aux)
    assert recorded


def test_weight_prior_sorts_the_noise_task_below_the_useful_ones():
    """On digits at rho = 0.25 the task weights follow the trust: the pure-noise
    task fails the trust's test and its weight falls to about 0, below parity and
    '>= 5', which it was not without the prior (seed chosen where it was not)."""
    data = make_auxiliary_tasks(rho=0.25, random_state=11)
    weights = {}
    for prior in (0.0, 1.0):
        clf = _fit(AuxiliaryLearningClassifier(
            (32,), weight_prior=prior, max_iter=40, random_state=0), data.X,
            data.y, auxiliary_targets=data.auxiliary_targets)
        weights[prior] = clf.task_weights_
    assert clf.auxiliary_trust_[2] == 0.0 and clf.auxiliary_trust_[:2].min() > 0.3
    assert weights[1.0][2] < 0.1 < weights[1.0][:2].min()
    assert weights[0.0][2] > 0.5


@pytest.mark.parametrize("value", [-0.1, "strong", None, np.inf * -1])
def test_weight_prior_bad_values_refused(value):
    X, y, aux = _small_data(n=40)
    with pytest.raises(ValueError, match="weight_prior"):
        AuxiliaryLearningClassifier(weighting="bilevel", weight_prior=value,
                                    **SMALL).fit(X, y, auxiliary_targets=aux)


def _pool_terms(clf, X, y, aux, theta, training=True):
    """Targets and coefficients that ``_lower_terms`` gives network 0 on every row,
    and the brute-force posterior of the pool rows under ``theta``: the network's
    probabilities, the shift and each label's evidence table, renormalised."""
    n = X.shape[0]
    pool = (y < 0).astype(float)
    codes = np.where(y < 0, 0, y)
    observed = [~np.isnan(aux[:, k]) for k in range(2)]
    labels = [np.nan_to_num(aux[:, k]).astype(int) for k in range(2)]
    extra = dict(pool=pool / n, row_ids=np.arange(n), training=training,
                 codes=labels, observed=observed)
    coefs = [np.where(y >= 0, 1.0, 0.0) / n] + [np.ones(n) / n] * 2
    targets = [codes] + [np.full((n, 2), 0.5)] * 2
    own, weighted = clf._lower_terms(theta, 0, X, targets, coefs, extra)
    rows = y < 0
    logits = clf.network_._heads_forward(theta, X[rows], False, None)[1][0][0]
    logits = np.log(np.exp(logits - logits.max(axis=1, keepdims=True)))
    logits = logits + clf._shift[0]
    for k, table in enumerate(clf._likelihoods[0]):
        logits = logits + table[:, labels[k][rows]].T
    posterior = np.exp(logits - logits.max(axis=1, keepdims=True))
    posterior /= posterior.sum(axis=1, keepdims=True)
    return own[0][rows], weighted[0][rows] * n, posterior


def _sharpen(p, temperature):
    q = p ** (1.0 / temperature)
    return q / q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_pool_threshold_keeps_only_confident_pool_rows(threshold):
    """A pool row keeps its weight (pool_labels) only where its unsharpened
    posterior's largest probability passes the threshold; its label is still the
    sharpened posterior."""
    X, y, aux, _ = _pool_data()
    clf = _fit(AuxiliaryLearningClassifier(
        weighting="dtg", pool_threshold=threshold, pool_labels=2.0,
        pool_rounds=1, **dict(SMALL, max_iter=5)), X, y, auxiliary_targets=aux)
    clf._update_likelihoods(clf.params_, 0)
    soft, weight, posterior = _pool_terms(clf, X, y, aux, clf.params_)
    confident = posterior.max(axis=1) >= threshold
    assert 0 < confident.sum() < confident.size
    np.testing.assert_allclose(weight, np.where(confident, 2.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(soft, _sharpen(posterior, 0.5), atol=1e-10)


def test_pool_threshold_changes_the_fit():
    X, y, aux, _ = _pool_data()
    fits = [_fit(AuxiliaryLearningClassifier(weighting="dtg", pool_threshold=t,
                                             **SMALL), X, y, auxiliary_targets=aux)
            for t in (0.0, 0.8)]
    assert not np.allclose(fits[0].params_, fits[1].params_)


def test_pool_ensemble_is_a_bias_corrected_moving_average():
    """Temporal ensembling: the first target is the current posterior, later
    ones the bias-corrected average of the earlier posteriors (brute force over
    three steps with three different networks); a step without training
    (``rng`` None) reads the average but does not add to it."""
    decay = 0.6
    X, y, aux, _ = _pool_data()
    clf = _fit(AuxiliaryLearningClassifier(
        weighting="dtg", pool_ensemble=decay, pool_temperature=0.5,
        pool_rounds=1, **dict(SMALL, max_iter=5)), X, y, auxiliary_targets=aux)
    clf._update_likelihoods(clf.params_, 0)
    clf._pool_ema = {}
    rng = np.random.default_rng(0)
    thetas = [clf.params_ + 0.3 * rng.normal(size=clf.params_.size)
              for _ in range(3)]
    seen = []
    for step, theta in enumerate(thetas):
        soft, _, posterior = _pool_terms(clf, X, y, aux, theta)
        if step == 0:
            expected = posterior
        else:
            w = (1 - decay) * decay ** np.arange(step)[::-1]
            expected = sum(wi * p for wi, p in zip(w, seen)) / (1 - decay ** step)
        np.testing.assert_allclose(soft, _sharpen(expected, 0.5), atol=1e-10)
        seen.append(posterior)
    soft, _, _ = _pool_terms(clf, X, y, aux, thetas[0], training=False)
    w = (1 - decay) * decay ** np.arange(3)[::-1]
    expected = sum(wi * p for wi, p in zip(w, seen)) / (1 - decay ** 3)
    np.testing.assert_allclose(soft, _sharpen(expected, 0.5), atol=1e-10)
    again, _, _ = _pool_terms(clf, X, y, aux, thetas[0], training=False)
    np.testing.assert_allclose(again, soft, atol=1e-12)


def test_pool_ensemble_changes_the_fit():
    X, y, aux, _ = _pool_data()
    fits = [_fit(AuxiliaryLearningClassifier(weighting="dtg", pool_ensemble=e,
                                             **SMALL), X, y, auxiliary_targets=aux)
            for e in (0.0, 0.6)]
    assert not np.allclose(fits[0].params_, fits[1].params_)


@pytest.mark.parametrize("name, value", [
    ("pool_threshold", -0.1), ("pool_threshold", 1.0), ("pool_threshold", "yes"),
    ("pool_threshold", None), ("pool_ensemble", -0.5), ("pool_ensemble", 1.0),
    ("pool_ensemble", "ema")])
def test_pool_threshold_and_ensemble_bad_values_refused(name, value):
    X, y, aux, _ = _pool_data(n=60)
    with pytest.raises(ValueError, match=name):
        AuxiliaryLearningClassifier(weighting="dtg", **{name: value},
                                    **SMALL).fit(X, y, auxiliary_targets=aux)


def test_pool_rounds_teach_a_fresh_network_the_last_posteriors():
    """With pool_rounds=2 the last network learns from the first one's pool
    posteriors, held fixed: its pool targets are the teacher's sharpened
    posterior (brute force from the teacher's logits, shift and evidence) and its
    mask the teacher's confidence, whatever the student's parameters."""
    X, y, aux, _ = _pool_data()
    clf = _fit(AuxiliaryLearningClassifier(
        weighting="dtg", pool_rounds=2, pool_threshold=0.8, pool_labels=2.0,
        **dict(SMALL, max_iter=5)), X, y, auxiliary_targets=aux)
    assert clf._teacher is not None
    teacher = clf.params_.copy()
    clf._teacher = None
    clf._update_likelihoods(teacher, 0)
    _, _, expected = _pool_terms(clf, X, y, aux, teacher)
    clf._teacher = clf._pool_posterior_logits(teacher, 0)
    student = teacher + np.random.default_rng(0).normal(size=teacher.size)
    soft, weight, _ = _pool_terms(clf, X, y, aux, student)
    np.testing.assert_allclose(soft, _sharpen(expected, 0.5), atol=1e-10)
    confident = expected.max(axis=1) >= 0.8
    assert 0 < confident.sum() < confident.size
    np.testing.assert_allclose(weight, np.where(confident, 2.0, 0.0), atol=1e-12)


def test_pool_rounds_change_the_fit_and_one_round_is_the_old_fit():
    X, y, aux, _ = _pool_data()
    fits = [_fit(AuxiliaryLearningClassifier(weighting="dtg", pool_rounds=r,
                                             **SMALL), X, y, auxiliary_targets=aux)
            for r in (1, 2)]
    assert fits[0]._teacher is None
    assert not np.allclose(fits[0].params_, fits[1].params_)


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", None])
def test_pool_rounds_bad_values_refused(value):
    X, y, aux, _ = _pool_data(n=60)
    with pytest.raises(ValueError, match="pool_rounds"):
        AuxiliaryLearningClassifier(weighting="dtg", pool_rounds=value,
                                    **SMALL).fit(X, y, auxiliary_targets=aux)
