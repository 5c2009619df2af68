"""The source's robust objective for paired data, trained as described, beside ours.

Source objective (issue 17): for pairs (auxiliary x_i, primary (x_j, y_j)),

    min over alpha_A, alpha_P >= 0, W, b of  alpha_A r_A + alpha_P r_P
      + 1/(n_A n_P) sum_pairs [CE(softmax(W x_j + b), y_j)
                               + max((W x_j + b)_{y_j} - alpha_P kappa_P, 0)
                               - alpha_A ||x_i - x_j||]
    subject to ||W||_* <= alpha_A + alpha_P and alpha_A <= alpha_P,

trained by full-batch Adam with projection onto the constraints. Data: digits (10
classes, standardised), auxiliary rows = primary rows plus Gaussian noise (sd 0.5),
one pair per row, r_A = r_P = r. The ``- alpha_A ||x_i - x_j||`` term evaluates
the inner worst case at a single point, and the 1/(n_A n_P) scaling shrinks the
loss by n, so the multipliers' terms dominate: alpha_P is driven to zero, which
drags alpha_A and the nuclear-norm ball (hence W) to zero. Ours
(RobustPairedClassifier, nuclear norm, primary ball) solves the exact dual and
refuses radii at or above r*. With both balls at the source's radii
(r_A = r_P = r) ours refuses too: the mean paired distance exceeds r_A + r_P, so
no distribution lies within both balls of its pairs, which is where the source's
objective is unbounded below.
"""

import warnings

import numpy as np
from scipy.special import softmax
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from ..linear_model import RobustPairedClassifier
from ..linear_model._robust_dual import prox_norm
from ..optim import Adam
from ._table import format_table, thread_settings

DESCRIPTION = "Wasserstein-robust paired classifier: source objective vs exact dual"

FRACTIONS = (0.02, 0.1, 0.5, 1.0)
KAPPA_P = 1.0


def _project_nuclear_ball(W, radius):
    """Projection onto ``||W||_* <= radius`` (Moreau: W minus the spectral prox)."""
    return W - prox_norm(W, max(radius, 0.0), "spectral")


def train_source(X, X_aux, y, radius, n_steps, learning_rate=0.01):
    """Full-batch Adam with projections on the source objective.

    Returns the weights, intercepts and the final multipliers.
    """
    n, p = X.shape
    K = int(y.max()) + 1
    Y = np.eye(K)[y]
    distance = np.linalg.norm(X_aux - X, axis=1)
    W = np.zeros((K, p))
    b = np.zeros(K)
    alphas = np.ones(2)  # alpha_A, alpha_P
    optimizer = Adam([W, b, alphas], learning_rate=learning_rate)
    scale = 1.0 / (n * n)  # 1 / (n_A n_P) with one pair per row
    for _ in range(n_steps):
        Z = X @ W.T + b
        residual = softmax(Z, axis=1) - Y
        active = (Z[np.arange(n), y] - alphas[1] * KAPPA_P) > 0
        residual[np.arange(n), y] += active
        residual *= scale
        grad_W = residual.T @ X
        grad_b = residual.sum(axis=0)
        grad_alpha = np.array([radius - scale * distance.sum(),
                               radius - scale * KAPPA_P * active.sum()])
        optimizer.step([grad_W, grad_b, grad_alpha])
        np.maximum(alphas, 0.0, out=alphas)
        alphas[0] = min(alphas[0], alphas[1])
        W[:] = _project_nuclear_ball(W, alphas.sum())
    return W, b, alphas


def _counts(predictions, n_classes):
    counts = np.bincount(predictions, minlength=n_classes)
    return " ".join(str(c) for c in counts)


def run(quick=False, data_home=None, out=print):
    """Train both objectives across radii up to r* and print class counts.

    Parameters
    ----------
    quick : bool, default=False
        600 training rows and 300 Adam steps instead of all rows and 2000 steps.
    data_home : str or path-like, default=None
        Unused (digits ship with scikit-learn).
    out : callable, default=print
        Where the lines go.
    """
    out(thread_settings())
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    n_rows = 600 if quick else len(y_train)
    n_steps = 300 if quick else 2000
    X_train, y_train = X_train[:n_rows], y_train[:n_rows]
    X_aux = X_train + np.random.default_rng(0).normal(scale=0.5, size=X_train.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r_star = RobustPairedClassifier(radius=1e-9, norm="nuclear", max_iter=1).fit(
            X_train, y_train).radius_max_
    out(f"digits, 10 classes: {n_rows} training rows (standardised), "
        f"{len(y_test)} test rows; auxiliary = primary + N(0, 0.5^2) noise; "
        f"{n_steps} Adam steps (lr 0.01); r* = {r_star:.4f} (nuclear norm)")
    rows = []
    for fraction in FRACTIONS:
        radius = fraction * r_star
        W, b, alphas = train_source(X_train, X_aux, y_train, radius, n_steps)
        source_pred = np.argmax(X_test @ W.T + b, axis=1)
        source_acc = float(np.mean(source_pred == y_test))
        try:
            ours = RobustPairedClassifier(radius=radius, norm="nuclear",
                                          tol=1e-6).fit(X_train, y_train)
        except ValueError as error:
            ours_cells = ["refused", "-", str(error).split(":")[0]]
        else:
            pred = ours.predict(X_test)
            ours_cells = [f"{np.mean(pred == y_test):.3f}",
                          f"{ours.worst_case_accuracy(X_test, y_test, 1.0):.3f}",
                          _counts(pred, 10)]
        try:
            both = RobustPairedClassifier(radius=radius, radius_auxiliary=radius,
                                          norm="nuclear", tol=1e-6).fit(
                X_train, y_train, X_auxiliary=X_aux)
        except ValueError as error:
            both_cell = ("refused: balls do not meet" if "do not meet" in str(error)
                         else "refused: W = 0")
        else:
            both_cell = f"{np.mean(both.predict(X_test) == y_test):.3f}"
        rows.append([f"{fraction:g} r*", f"{alphas[0]:.2g}/{alphas[1]:.2g}",
                     f"{np.linalg.svd(W, compute_uv=False).sum():.2g}",
                     f"{source_acc:.3f}", _counts(source_pred, 10), *ours_cells,
                     both_cell])
    distance = np.linalg.norm(X_train - X_aux, axis=1).mean()
    out(format_table(["radius", "source a_A/a_P", "source ||W||_*", "source acc",
                      "source test class counts", "ours acc", "ours wc@1",
                      "ours test class counts / message",
                      "ours, both balls r_A = r_P"], rows))
    meet = ("never meet" if distance > 2 * r_star else
            "meet from r = d / 2 on")
    out(f"\nMean paired distance d = {distance:.3f}, 2 r* = {2 * r_star:.3f}: at the "
        f"source's radii (r_A = r_P = r < r*) the paired balls {meet}.")
    out("\nThe source objective collapses: the multipliers go to zero and take the "
        "nuclear-norm ball, hence W, with them, so every test row gets the class of "
        "the largest intercept. The exact dual keeps W away from zero below r* and "
        "refuses r >= r*, where W = 0 is its optimum too.")
