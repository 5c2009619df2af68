"""AdamLogisticRegression against scikit-learn's LogisticRegression and by design."""

import pickle
import re
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.fixes import parse_version

from statopt import AdamLogisticRegression
from statopt.datasets import make_correlated_logistic
from statopt.linear_model._kernels import (
    EpochState,
    epoch_settings,
    logistic_epoch,
    logistic_loss_gradient,
)
from statopt.optim import Adam
from statopt.optim._kernels import RULE_CODES

SKLEARN_18 = parse_version(sklearn.__version__) >= parse_version("1.8")


def sklearn_logistic(penalty="l2", C=1.0, **options):
    """scikit-learn's LogisticRegression with the penalty spelled for its version."""
    options.setdefault("tol", 1e-12)
    options.setdefault("max_iter", 10_000)
    if SKLEARN_18:
        if penalty is None:
            return LogisticRegression(C=np.inf, **options)
        return LogisticRegression(C=C, l1_ratio=float(penalty == "l1"), **options)
    return LogisticRegression(penalty=penalty, C=C, **options)


def objective(model, X, y, C, penalty="l2"):
    """scikit-learn's objective divided by C n: mean log-loss + penalty / (C n)."""
    proba = model.predict_proba(X)
    index = np.searchsorted(model.classes_, y)
    loss = -np.mean(np.log(proba[np.arange(len(y)), index]))
    coef = model.coef_
    term = 0.5 * np.sum(coef**2) if penalty == "l2" else np.abs(coef).sum()
    return loss + term / (C * len(y))


@pytest.fixture(scope="module")
def binary_data():
    X, y, _ = make_correlated_logistic(1000, 19, random_state=0)
    return X, y


# ------------------------------------------------------------------ optimum


def test_binary_fit_reaches_the_lbfgs_optimum(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    reference = sklearn_logistic().fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)
    assert_allclose(model.intercept_, reference.intercept_, atol=1e-4)
    gap = objective(model, X, y, 1.0) - objective(reference, X, y, 1.0)
    assert abs(gap) < 1e-8
    assert model.coef_.shape == (1, 19) and model.intercept_.shape == (1,)
    assert_allclose(model.loss_curve_[-1], objective(reference, X, y, 1.0), atol=1e-8)


def test_multinomial_fit_reaches_the_lbfgs_optimum():
    X, y = load_iris(return_X_y=True)
    model = AdamLogisticRegression(C=10.0, random_state=0).fit(X, y)
    reference = sklearn_logistic(C=10.0).fit(X, y)
    assert model.coef_.shape == (3, 4)
    assert_allclose(model.coef_, reference.coef_, atol=1e-3)
    # Intercepts are identified up to a common shift (they are not penalised).
    assert_allclose(model.intercept_ - model.intercept_.mean(),
                    reference.intercept_ - reference.intercept_.mean(), atol=1e-3)
    assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-5)


def test_l1_penalty_gives_the_sparse_optimum():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((400, 8))
    y = (X[:, 0] - 2 * X[:, 1] + rng.logistic(size=400) > 0).astype(int)
    C = 0.05
    model = AdamLogisticRegression(penalty="l1", C=C, random_state=0).fit(X, y)
    reference = sklearn_logistic("l1", C=C, solver="saga").fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)
    assert_allclose(model.intercept_, reference.intercept_, atol=1e-4)
    # The proximal steps give exact zeros where the optimum has them.
    assert np.array_equal(model.coef_ == 0, np.abs(reference.coef_) < 1e-8)
    assert (model.coef_ == 0).sum() >= 3


def test_no_penalty_matches_the_maximum_likelihood_fit():
    X, y, _ = make_correlated_logistic(600, 4, random_state=3)
    model = AdamLogisticRegression(penalty=None, random_state=0).fit(X, y)
    reference = sklearn_logistic(None).fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)


@pytest.mark.parametrize("optimizer", sorted(RULE_CODES))
def test_every_rule_reaches_the_optimum(binary_data, optimizer):
    X, y = binary_data
    learning_rate = {"sgd": 0.1, "momentum": 0.1}.get(optimizer, 0.01)
    model = AdamLogisticRegression(optimizer=optimizer, learning_rate=learning_rate,
                                   random_state=0).fit(X, y)
    reference = sklearn_logistic().fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)


def test_constant_step_adam_stalls_and_the_default_does_not(binary_data):
    # The motivation of the defaults: constant-step Adam without averaging or
    # variance reduction stops in a noise ball above the optimum.
    X, y = binary_data
    reference = objective(sklearn_logistic().fit(X, y), X, y, 1.0)
    plain = AdamLogisticRegression(learning_rate=0.01, averaging=False,
                                   variance_reduction=False, random_state=0)
    with pytest.warns(ConvergenceWarning, match="stochastic phase stalled"):
        plain.fit(X, y)
    default = AdamLogisticRegression(random_state=0).fit(X, y)
    assert objective(plain, X, y, 1.0) - reference > 1e-6
    assert objective(default, X, y, 1.0) - reference < 1e-9


def _real_binary_sets():
    from sklearn.datasets import load_breast_cancer, load_digits

    cancer, digits = load_breast_cancer(), load_digits()
    return {
        "breast_cancer raw": (cancer.data, cancer.target),
        "breast_cancer standardised": (
            StandardScaler().fit_transform(cancer.data), cancer.target),
        "digits binary": (digits.data, (digits.target >= 5).astype(int)),
    }


@pytest.mark.parametrize("name", sorted(_real_binary_sets()))
def test_stalled_stochastic_fit_warns_with_its_distance_to_the_optimum(name):
    # variance_reduction=False used to end in a noise ball 1e-4 to 1e-1 (relative)
    # above scikit-learn's optimum with no warning at all.
    X, y = _real_binary_sets()[name]
    optimum = objective(sklearn_logistic().fit(X, y), X, y, 1.0)
    model = AdamLogisticRegression(variance_reduction=False, random_state=0)
    with pytest.warns(ConvergenceWarning, match="stochastic phase stalled") as caught:
        model.fit(X, y)
    gap = (objective(model, X, y, 1.0) - optimum) / optimum
    assert gap > 1e-6
    (message,) = [str(w.message) for w in caught]
    reported = float(re.search(r"about (\S+) \(relative\)", message).group(1))
    assert gap / 2 < reported < 2 * gap


def test_fit_without_intercept_matches_sklearn(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression(fit_intercept=False, random_state=0).fit(X, y)
    reference = sklearn_logistic(fit_intercept=False).fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)
    assert_allclose(model.intercept_, 0.0)


def test_sample_weight_equals_repeated_rows():
    X, y, _ = make_correlated_logistic(300, 5, random_state=1)
    weights = np.random.RandomState(0).randint(0, 4, size=300)
    weighted = AdamLogisticRegression(random_state=0).fit(X, y, sample_weight=weights)
    repeated = AdamLogisticRegression(random_state=0).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    reference = sklearn_logistic().fit(X, y, sample_weight=weights)
    assert_allclose(weighted.coef_, reference.coef_, atol=1e-4)
    assert_allclose(weighted.coef_, repeated.coef_, atol=1e-4)


def test_class_weight_matches_sklearn():
    X, y, _ = make_correlated_logistic(400, 5, random_state=2)
    keep = (y == 1) | (np.arange(400) % 3 == 0)  # unbalance the classes
    X, y = X[keep], y[keep]
    for class_weight in ("balanced", {0: 3.0, 1: 0.5}):
        model = AdamLogisticRegression(class_weight=class_weight,
                                       random_state=0).fit(X, y)
        reference = sklearn_logistic(class_weight=class_weight).fit(X, y)
        assert_allclose(model.coef_, reference.coef_, atol=1e-4)


def test_string_labels_and_probabilities():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = AdamLogisticRegression(random_state=0).fit(X, names)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    proba = model.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(np.exp(model.predict_log_proba(X)), proba)
    assert model.decision_function(X).shape == (150, 3)
    assert np.mean(model.predict(X) == names) > 0.95


def test_binary_scores_are_logits_of_the_second_class(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    scores = model.decision_function(X)
    assert scores.shape == (1000,)
    assert_allclose(model.predict_proba(X)[:, 1], 1 / (1 + np.exp(-scores)))
    assert_allclose(model.predict_log_proba(X), np.log(model.predict_proba(X)))


# --------------------------------------------------------- kernels by hand


def test_kernel_gradient_matches_the_formula():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((50, 3))
    y = rng.randint(0, 3, size=50).astype(float)
    weights = rng.uniform(0.5, 1.5, size=50)
    theta = rng.standard_normal(3 * 4)
    center = X.mean(axis=0)
    gradient = np.empty_like(theta)
    loss = logistic_loss_gradient(X, center, y, weights, theta, 3, gradient)
    packed = theta.reshape(3, 4)
    scores = (X - center) @ packed[:, :3].T + packed[:, 3]
    log_proba = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    onehot = np.eye(3)[y.astype(int)]
    assert_allclose(loss, -np.mean(weights * (log_proba * onehot).sum(axis=1)))
    residual = weights[:, None] * (np.exp(log_proba) - onehot) / 50
    expected = np.column_stack([residual.T @ (X - center), residual.sum(axis=0)])
    assert_allclose(gradient, expected.ravel(), atol=1e-12)


def test_kernel_epoch_takes_the_same_step_as_the_adam_class():
    rng = np.random.RandomState(1)
    X = rng.standard_normal((40, 3))
    y = (rng.uniform(size=40) < 0.5).astype(float)
    weights, center = np.ones(40), np.zeros(3)
    theta = rng.standard_normal(4)
    twin = theta.copy()
    l2 = 0.1
    moments = [np.zeros(4) for _ in range(3)]
    step = np.zeros(1, dtype=np.int64)
    no_average = -np.ones(1, dtype=np.int64)
    adam = Adam([twin], learning_rate=0.05)
    for _ in range(3):  # full-batch steps: deterministic
        gradient = np.empty(4)
        logistic_loss_gradient(X, center, y, weights, twin, 1, gradient)
        gradient[:3] += l2 * twin[:3]
        adam.step([gradient])
        settings = epoch_settings(
            n_outputs=1, fit_intercept=True, l2_strength=l2, l1_strength=0.0,
            rule=RULE_CODES["adam"], learning_rate=0.05, beta_1=0.9, beta_2=0.999,
            epsilon=1e-8, batch_size=40, variance_reduced=False,
        )
        state = EpochState(theta, *moments, step, theta, no_average, theta, theta)
        logistic_epoch(X, center, y, weights, np.arange(40), settings, state)
    assert_allclose(theta, twin, rtol=1e-12)


# ------------------------------------------------------------ training API


def test_partial_fit_over_chunks_approaches_the_full_fit():
    X, y, _ = make_correlated_logistic(2000, 10, random_state=1)
    full = AdamLogisticRegression(random_state=0).fit(X, y)
    streamed = AdamLogisticRegression(random_state=0)
    for _ in range(20):
        for chunk in np.array_split(np.arange(2000), 4):
            streamed.partial_fit(X[chunk], y[chunk], classes=[0, 1])
    assert streamed.n_iter_ == 80
    assert_allclose(streamed.coef_, full.coef_, atol=3e-2)
    assert_allclose(streamed.intercept_, full.intercept_, atol=3e-2)


def test_partial_fit_checks_classes(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression()
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match="at least 2 labels"):
        model.partial_fit(X, y, classes=[1])
    model.partial_fit(X[:100], y[:100], classes=[0, 1])
    with pytest.raises(ValueError, match="differs from the classes"):
        model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes"):
        model.partial_fit(X[:5], np.array([0, 1, 7, 0, 1]))


def test_warm_start_continues_from_the_previous_fit(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression(warm_start=True, random_state=0).fit(X, y)
    first = model.n_iter_
    model.fit(X, y)
    assert model.n_iter_ < first
    reference = sklearn_logistic().fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)


def test_early_stopping_keeps_the_best_validation_loss(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression(early_stopping=True, validation_fraction=0.2,
                                   random_state=0).fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_ < model.max_iter
    assert model.score(X, y) > 0.7


def test_max_iter_raises_convergence_warning(binary_data):
    X, y = binary_data
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        model = AdamLogisticRegression(max_iter=2, random_state=0).fit(X, y)
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2


def test_fit_is_deterministic_and_silent(binary_data, capsys):
    X, y = binary_data
    first = AdamLogisticRegression(random_state=7).fit(X, y)
    second = AdamLogisticRegression(random_state=7).fit(X, y)
    assert_allclose(first.coef_, second.coef_, rtol=0, atol=0)
    assert capsys.readouterr().out == ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        AdamLogisticRegression(max_iter=3, verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1: stochastic")


def test_loss_curve_decreases(binary_data):
    X, y = binary_data
    curve = np.array(AdamLogisticRegression(random_state=0).fit(X, y).loss_curve_)
    assert curve[-1] < curve[0]
    # The exact finish only takes descent steps: the fit ends at its lowest point.
    assert curve[-1] == curve.min()


def test_pickle_round_trip(binary_data):
    X, y = binary_data
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_allclose(restored.predict_proba(X), model.predict_proba(X))
    restored.partial_fit(X[:50], y[:50])  # the optimiser state travels too


def test_pipeline_and_grid_search(binary_data):
    X, y = binary_data
    pipeline = make_pipeline(StandardScaler(), AdamLogisticRegression(random_state=0))
    search = GridSearchCV(pipeline, {"adamlogisticregression__C": [0.01, 1.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["adamlogisticregression__C"] in (0.01, 1.0)
    assert search.score(X, y) > 0.7


def test_caller_arrays_are_not_modified(binary_data):
    X, y = binary_data
    X_copy, y_copy = X.copy(), y.copy()
    weights = np.ones(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        AdamLogisticRegression(random_state=0, max_iter=5).fit(
            X, y, sample_weight=weights)
    assert np.array_equal(X, X_copy) and np.array_equal(y, y_copy)
    assert np.all(weights == 1.0)


# ---------------------------------------------------------------- bad input


def test_bad_input_gets_clear_errors(binary_data):
    X, y = binary_data
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AdamLogisticRegression().fit(X_nan, y)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        AdamLogisticRegression().fit(X_inf, y)
    with pytest.raises(ValueError, match="only one class"):
        AdamLogisticRegression().fit(X, np.ones_like(y))
    with pytest.raises(ValueError, match="only one class"):
        AdamLogisticRegression().fit(X, y, sample_weight=(y == 1).astype(float))
    with pytest.raises(InvalidParameterError, match="'C' parameter"):
        AdamLogisticRegression(C=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter"):
        AdamLogisticRegression(optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="Negative values in data"):
        AdamLogisticRegression().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AdamLogisticRegression().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        AdamLogisticRegression().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="0 sample"):
        AdamLogisticRegression().fit(X[:0], y[:0])
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="19 features"):
        model.predict(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(X_nan)


def test_pandas_input_keeps_feature_names(binary_data):
    pd = pytest.importorskip("pandas")
    X, y = binary_data
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    model = AdamLogisticRegression(random_state=0).fit(frame, pd.Series(y))
    assert list(model.feature_names_in_) == list(frame.columns)
    array_model = AdamLogisticRegression(random_state=0).fit(X, y)
    assert_allclose(model.coef_, array_model.coef_)
    assert_allclose(model.predict_proba(frame), array_model.predict_proba(X))


def test_svrg_finish_reaches_the_optimum(binary_data):
    # The first-order finish, kept beside the Newton one (and its fallback for
    # many parameters), still ends at lbfgs's optimum.
    X, y = binary_data
    model = AdamLogisticRegression(finish="svrg", random_state=0).fit(X, y)
    reference = sklearn_logistic().fit(X, y)
    assert_allclose(model.coef_, reference.coef_, atol=1e-4)
    gap = objective(model, X, y, 1.0) - objective(reference, X, y, 1.0)
    assert gap < 1e-8


def test_newton_finish_is_equivariant_to_feature_scale():
    # Without a penalty, multiplying a column by 1e4 divides its coefficient by
    # 1e4 at the optimum; the Newton finish does not care about the units.
    X, y, _ = make_correlated_logistic(600, 4, random_state=3)
    scale = np.array([1e4, 1.0, 1e-3, 1.0])
    model = AdamLogisticRegression(penalty=None, random_state=0).fit(X * scale, y)
    reference = sklearn_logistic(None).fit(X, y)
    assert_allclose(model.coef_ * scale, reference.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(model.intercept_, reference.intercept_, atol=1e-6)
