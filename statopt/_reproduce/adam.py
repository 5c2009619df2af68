"""Logistic regression by SGD, momentum, Adam and Newton-Raphson.

The published comparison fits a logistic regression to simulated data with
equicorrelated covariates (rho = 0.3, n_train = 1000, n_test = 250, p = 19 and 99)
and to MNIST digits 0 against 6, and reports time, errors and ||beta_hat - beta||.
Here every first-order method fits the same L2-penalised model (C = 1, the default),
so the objective gap against scikit-learn's lbfgs optimum is comparable;
Newton-Raphson is statsmodels' unpenalised Logit, as in the publication.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from ..datasets import load_mnist_0_vs_6, make_correlated_logistic
from ..linear_model import AdamLogisticRegression
from ._table import fmt, format_table, thread_settings

DESCRIPTION = "logistic regression: SGD, momentum, Adam, ours and Newton-Raphson"

# Published figures: time in seconds (test error in % for MNIST).
PUBLISHED = {
    "p=19": {"SGD": 0.23, "momentum": 0.35, "Adam": 0.08, "Newton-Raphson": 0.01},
    "p=99": {"SGD": 1.26, "momentum": 1.27, "Adam": 0.57, "Newton-Raphson": 0.15},
    "MNIST 0 vs 6": {"SGD": 1.58, "momentum": 1.05, "Adam": 0.30,
                     "Newton-Raphson": 203.9},
}
PUBLISHED_MNIST_TEST_ERROR = {"SGD": 2.37, "momentum": 2.79, "Adam": 3.25,
                              "Newton-Raphson": None}

# First-order methods as the publication ran them: constant steps, no averaging.
CONSTANT_STEP = {
    "SGD": {"optimizer": "sgd", "learning_rate": 0.1},
    "momentum": {"optimizer": "momentum", "learning_rate": 0.1},
    "Adam": {"optimizer": "adam", "learning_rate": 0.001},
}


def _objective(model, X, y, C):
    proba = np.clip(model.predict_proba(X)[:, 1], 1e-300, 1 - 1e-16)
    positive = y == model.classes_[1]
    loss = -np.mean(np.where(positive, np.log(proba), np.log1p(-proba)))
    return loss + 0.5 * np.sum(model.coef_**2) / (C * len(y))


# statsmodels' Newton-Raphson on the 784 MNIST pixels meets singular Hessians and
# perfect separation; 100 iterations spent 33 s before failing. Capped here, and
# skipped in --quick (the published figure is shown instead).
_NEWTON_MAX_ITER = 25


def _newton_raphson(X, y):
    try:
        import statsmodels.api as sm  # a reference, needed only here
    except ImportError:
        return None, "statsmodels not installed (pip install statopt[bench])"
    design = sm.add_constant(X, has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sm.Logit(y.astype(float), design).fit(
                method="newton", disp=0, maxiter=_NEWTON_MAX_ITER)
    except Exception as error:  # statsmodels raises LinAlgError, PerfectSeparation...
        return None, f"failed: {type(error).__name__}"
    if not result.mle_retvals.get("converged", False):
        return result.params, "did not converge"
    return result.params, ""


def _experiment(name, X_train, y_train, X_test, y_test, true_coef, rng_seed,
                skip_newton=False):
    C = 1.0
    rows = []
    reference = LogisticRegression(C=C, tol=1e-10, max_iter=10_000)
    start = time.perf_counter()
    reference.fit(X_train, y_train)
    lbfgs_time = time.perf_counter() - start
    optimum = _objective(reference, X_train, y_train, C)

    def add_row(label, seconds, coef, intercept, predict, note, model=None):
        train_error = 100 * np.mean(predict(X_train) != y_train)
        test_error = 100 * np.mean(predict(X_test) != y_test)
        distance = None
        if true_coef is not None and coef is not None:
            distance = float(np.linalg.norm(np.r_[intercept, coef] - true_coef))
        gap = None
        if model is not None:
            gap = _objective(model, X_train, y_train, C) - optimum
        published = PUBLISHED[name].get(label)
        if name.startswith("MNIST"):
            published_error = PUBLISHED_MNIST_TEST_ERROR.get(label)
            published = (f"{fmt(published)} s / {fmt(published_error, '{:.2f}')}%"
                         if published is not None else "-")
        else:
            published = f"{fmt(published)} s" if published is not None else "-"
        rows.append([label, f"{seconds:.3f}", f"{train_error:.2f}", f"{test_error:.2f}",
                     fmt(distance), fmt(gap, "{:.1e}"), published, note])

    for label, options in [*CONSTANT_STEP.items(), ("ours (default)", {})]:
        kwargs = dict(options)
        if options:
            kwargs.update(averaging=False, variance_reduction=False, max_iter=200)
        model = AdamLogisticRegression(C=C, random_state=rng_seed, **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            seconds = time.perf_counter() - start
        note = f"{model.n_iter_} it"
        if any(issubclass(w.category, ConvergenceWarning)
               and "max_iter" in str(w.message) for w in caught):
            note += ", hit max_iter"
        add_row(label, seconds, model.coef_.ravel(), model.intercept_[0],
                model.predict, note, model)

    start = time.perf_counter()
    if skip_newton:
        params, note = None, "skipped in --quick (capped fit, slow here)"
    else:
        params, note = _newton_raphson(X_train, (y_train == reference.classes_[1]))
    seconds = time.perf_counter() - start
    if params is None:
        rows.append(["Newton-Raphson", f"{seconds:.3f}", "-", "-", "-", "-",
                     f"{fmt(PUBLISHED[name]['Newton-Raphson'])} s", note])
    else:
        def predict(X):
            scores = params[0] + X @ params[1:]
            return np.where(scores > 0, reference.classes_[1], reference.classes_[0])

        add_row("Newton-Raphson", seconds, params[1:], params[0], predict,
                note or "unpenalised MLE")
    add_row("lbfgs (sklearn)", lbfgs_time, reference.coef_.ravel(),
            reference.intercept_[0], reference.predict, "reference optimum",
            reference)
    header = ["method", "time s", "train err %", "test err %", "||b-beta||",
              "obj gap", "published", "note"]
    return format_table(header, rows)


def run(quick=False, data_home=None, out=print):
    """Run the experiment and print its tables.

    Parameters
    ----------
    quick : bool, default=False
        Skip the MNIST Newton-Raphson fit (the published figure is shown); the
        other rows already run in seconds at the published sizes.
    data_home : str or path-like, default=None
        Folder holding ``mnist5k/``; without it the MNIST table is skipped.
    out : callable, default=print
        Where the lines go.
    """
    out(thread_settings())
    try:  # import outside the timed Newton-Raphson fits
        import statsmodels.api  # noqa: F401
    except ImportError:
        pass
    # Compile the kernels once so that timings exclude numba's compilation.
    X, y, _ = make_correlated_logistic(64, 2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for optimizer in ("sgd", "momentum", "adam"):
            AdamLogisticRegression(optimizer=optimizer, max_iter=2).fit(X, y)
    for n_features in (19, 99):
        X, y, coef = make_correlated_logistic(1250, n_features, rho=0.3,
                                              random_state=n_features)
        name = f"p={n_features}"
        out(f"\n{name}: n_train=1000, n_test=250, rho=0.3, C=1 (L2) "
            "for the first-order rows")
        out(_experiment(name, X[:1000], y[:1000], X[1000:], y[1000:], coef, 0))
    try:
        X, y = load_mnist_0_vs_6(data_home)
    except FileNotFoundError as error:
        out(f"\nMNIST 0 vs 6: skipped ({error})")
        return
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    out("\nMNIST 0 vs 6: 750 train / 250 test images of the 1,000 in mnist5k "
        "(pixels / 255); published figures used the full MNIST 0-vs-6 set")
    out(_experiment("MNIST 0 vs 6", X_train, y_train, X_test, y_test, None, 0,
                    skip_newton=quick))
    out("\n'obj gap': mean log-loss + ||w||^2 / (2 C n) minus lbfgs's optimum "
        "(training data). Times exclude numba compilation.")
