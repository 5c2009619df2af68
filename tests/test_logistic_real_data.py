"""AdamLogisticRegression reaches the optimum on real data (issue 11).

On scikit-learn's breast_cancer, digits, wine and iris, unscaled, for weak and strong
L1 and L2 penalties, with sample and class weights, the default fit must end within
1e-8 (relative) of the optimum. Two independent checks:

- a certificate: the Fenchel dual of the penalised log-loss, evaluated at the dual
  point built from the fit's residuals, is a lower bound on the optimum, so
  ``(primal - dual) / primal <= 1e-8`` proves the objective is within 1e-8 of it
  whatever any other solver reaches;
- scikit-learn's LogisticRegression with the same penalty (newton-cg for L2, saga for
  L1, tol=1e-10) must not find a lower objective. On unscaled data saga stops far
  above the optimum, so there it is only an upper bound.
"""

import warnings

import numpy as np
import pytest
from scipy.special import expit, log_softmax, xlogy
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_sample_weight

from statopt import AdamLogisticRegression

RELATIVE_GAP = 1e-8


def _digits_subset():
    # 300 rows keep the ten-class fits fast; the pixels stay raw (0..16).
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


LOADERS = {
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "iris": lambda: load_iris(return_X_y=True),
    "digits": _digits_subset,
}


def penalised_objective(model, X, y, C, penalty, weights):
    """scikit-learn's objective ``C sum_i s_i loss_i + penalty(W)`` over ``C sum s``."""
    primal, _, _ = _primal_and_dual(model, X, y, C, penalty, weights)
    return primal / weights.sum()


def _primal_and_dual(model, X, y, C, penalty, weights):
    """``sum_i s_i loss_i + penalty / C`` and its Fenchel dual at the fit's residuals.

    Dual: ``-sum_i s_i H(a_i) - (||X'U||^2 C / 2 for L2; 0 for L1, with
    ||X'U||_inf <= 1/C)``, where ``U_i = c s_i (p_i - e_{y_i})``, ``a_i = c p_i +
    (1 - c) e_{y_i}`` lies in the simplex, ``H(a) = sum_k a_k log a_k`` and ``c``
    scales U into the L1 dual's feasible set. The intercepts' constraint
    ``sum_i U_i = 0`` holds to rounding (checked by the caller) once they are
    re-solved for the fitted coefficients.
    """
    strength = 1.0 / C
    coef = model.coef_
    primal = _primal(X @ coef.T + model.intercept_, y, model.classes_, weights)
    primal += strength * (0.5 * np.sum(coef**2) if penalty == "l2"
                          else np.abs(coef).sum())
    # Any dual point gives a lower bound; the one built from the fit's residuals
    # meets the intercepts' constraint sum_i U_i = 0 only to the fit's tolerance,
    # times the intercepts' size in the bound. Re-solving the intercepts for the
    # fitted coefficients (Newton's method, here) meets it to rounding.
    scores = X @ coef.T + _best_intercepts(X @ coef.T, y, model.classes_, weights,
                                           model.intercept_)
    if coef.shape[0] == 1:
        z = scores[:, 0]
        target = (y == model.classes_[1]).astype(float)[:, None]
        proba = expit(z)[:, None]

        def negentropy(a):
            return (xlogy(a, a) + xlogy(1.0 - a, 1.0 - a))[:, 0]
    else:
        target = (y[:, None] == model.classes_[None, :]).astype(float)
        log_proba = log_softmax(scores, axis=1)
        proba = np.exp(log_proba)

        def negentropy(a):
            return xlogy(a, a).sum(axis=1)
    residuals = weights[:, None] * (proba - target)
    product = X.T @ residuals
    if penalty == "l1":
        scale = min(1.0, strength / np.abs(product).max())
        conjugate = 0.0
    else:
        scale = 1.0
        conjugate = np.sum(product**2) / (2.0 * strength)
    mixed = scale * proba + (1.0 - scale) * target
    dual = -weights @ negentropy(mixed) - conjugate
    balance = np.abs(residuals.sum(axis=0)).max() / weights.sum()
    return primal, dual, balance


def _primal(scores, y, classes, weights):
    if scores.shape[1] == 1:
        z = scores[:, 0]
        return weights @ (np.logaddexp(0.0, z) - (y == classes[1]) * z)
    target = y[:, None] == classes[None, :]
    return -weights @ (log_softmax(scores, axis=1) * target).sum(axis=1)


def _best_intercepts(products, y, classes, weights, start):
    """Intercepts minimising the weighted log-loss for fixed ``X @ coef.T``."""
    intercept = np.array(start, dtype=float)
    if products.shape[1] == 1:
        target = (y == classes[1]).astype(float)[:, None]
    else:
        target = (y[:, None] == classes[None, :]).astype(float)
    for _ in range(50):
        scores = products + intercept
        if scores.shape[1] == 1:
            proba = expit(scores)
            hessian = np.atleast_2d(weights @ (proba * (1.0 - proba))[:, 0])
        else:
            proba = np.exp(log_softmax(scores, axis=1))
            hessian = np.diag(weights @ proba) - (proba * weights[:, None]).T @ proba
        gradient = weights @ (proba - target)
        if np.abs(gradient).max() <= 1e-15 * weights.sum():
            break
        intercept -= np.linalg.lstsq(hessian, gradient, rcond=None)[0]
    return intercept


def sklearn_reference(X, y, C, penalty, sample_weight):
    solver = "newton-cg" if penalty == "l2" else "saga"
    reference = LogisticRegression(C=C, l1_ratio=float(penalty == "l1"),
                                   solver=solver, tol=1e-10,
                                   max_iter=10_000 if penalty == "l2" else 100)
    with warnings.catch_warnings():
        # saga on unscaled data stops at max_iter, and the lbfgs line search of
        # newton-cg may warn near the optimum: both are only upper bounds here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*[Ll]ine [Ss]earch.*")
        return reference.fit(X, y, sample_weight=sample_weight)


def check_optimum(model, X, y, C, penalty, weights):
    primal, dual, balance = _primal_and_dual(model, X, y, C, penalty, weights)
    assert balance < 1e-9  # the intercepts' optimality (dual constraint)
    resolution = RELATIVE_GAP
    if penalty == "l1" and C > 100:
        # The L1 dual point must satisfy ||X'U||_inf <= 1/C. With weak L1 on raw
        # data the coefficients are large against unscaled columns, and their
        # float64 rounding alone leaves X'U about 1e-6 (relative) above 1/C, even
        # with X'U summed in extended precision (measured on breast_cancer): the
        # certificate cannot resolve 1e-8 there, only about 1e-5.
        resolution = 1e-5
    assert primal - dual <= resolution * primal, (primal - dual) / primal
    return primal / weights.sum()


@pytest.fixture(scope="module", params=sorted(LOADERS))
def real_data(request):
    X, y = LOADERS[request.param]()
    return request.param, X, y


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_default_fit_reaches_the_optimum_on_raw_real_data(real_data, penalty):
    name, X, y = real_data
    weights = np.ones(len(y))
    for C in (0.01, 1.0, 100.0, 1e4):
        model = AdamLogisticRegression(penalty=penalty, C=C, random_state=0).fit(X, y)
        ours = check_optimum(model, X, y, C, penalty, weights)
        reference = sklearn_reference(X, y, C, penalty, None)
        theirs = penalised_objective(reference, X, y, C, penalty, weights)
        assert ours <= theirs * (1 + RELATIVE_GAP), (name, C, ours, theirs)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_optimum_with_sample_and_class_weights(real_data, penalty):
    name, X, y = real_data
    rng = np.random.RandomState(0)
    sample_weight = rng.randint(0, 4, size=len(y)).astype(float)
    C = 100.0
    model = AdamLogisticRegression(penalty=penalty, C=C, class_weight="balanced",
                                   random_state=0).fit(X, y,
                                                       sample_weight=sample_weight)
    # scikit-learn multiplies the class weights into the sample weights.
    weights = sample_weight * compute_sample_weight("balanced", y)
    ours = check_optimum(model, X, y, C, penalty, weights)
    reference = LogisticRegression(C=C, l1_ratio=float(penalty == "l1"),
                                   class_weight="balanced", tol=1e-10,
                                   solver="newton-cg" if penalty == "l2" else "saga",
                                   max_iter=10_000 if penalty == "l2" else 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*[Ll]ine [Ss]earch.*")
        reference.fit(X, y, sample_weight=sample_weight)
    theirs = penalised_objective(reference, X, y, C, penalty, weights)
    assert ours <= theirs * (1 + RELATIVE_GAP), (name, ours, theirs)


def test_certificate_detects_a_fit_above_the_optimum():
    # The duality-gap check is not vacuous: a fit stopped early fails it.
    X, y = load_breast_cancer(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        early = AdamLogisticRegression(max_iter=3, random_state=0).fit(X, y)
    primal, dual, _ = _primal_and_dual(early, X, y, 1.0, "l2", np.ones(len(y)))
    assert primal - dual > 1e-3 * primal


def test_slow_rule_leaves_the_finish_half_the_budget():
    # Plain SGD on raw digits 3 vs 8 at C = 1e3 keeps lowering the objective by
    # more than the handover share for all 2000 epochs: before the stochastic phase
    # was capped at half of max_iter, the fit never reached the Newton finish and
    # stopped ~7x above the optimum (with a ConvergenceWarning).
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, [3, 8])
    X, y = X[keep], y[keep]
    C = 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = AdamLogisticRegression(C=C, optimizer="sgd", random_state=0).fit(X, y)
    assert model.n_iter_ <= model.max_iter
    check_optimum(model, X, y, C, "l2", np.ones(len(y)))
