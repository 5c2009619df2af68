"""
=====================================================
Constant-step optimisers stall; the default does not
=====================================================

Minibatch methods with a constant step size stop in a noise ball above the optimum
of a logistic regression. This example fits the same L2-penalised model with
constant-step SGD, momentum, RMSprop, Adam and AMSGrad, and with
:class:`~statopt.AdamLogisticRegression`'s defaults (tail averaging, then a
proximal Newton finish on the exact objective), and plots the distance of each
to scikit-learn's optimum.
"""

# %%
# Data and the reference optimum
# ------------------------------
# Equicorrelated Gaussian covariates (rho = 0.3), as in the published comparison.
# ``loss_curve_`` holds the exact penalised objective, scaled as a mean log-loss:
# the mean log-loss plus ``||w||^2 / (2 C n)``.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from statopt import AdamLogisticRegression
from statopt.datasets import make_correlated_logistic

X, y, beta = make_correlated_logistic(1000, 19, rho=0.3, random_state=0)
reference = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
proba = reference.predict_proba(X)[np.arange(len(y)), y]
optimum = -np.mean(np.log(proba)) + 0.5 * np.sum(reference.coef_**2) / len(y)

# %%
# Constant steps against the default
# ----------------------------------
constant = {
    "SGD (lr 0.1)": {"optimizer": "sgd", "learning_rate": 0.1},
    "momentum (lr 0.1)": {"optimizer": "momentum", "learning_rate": 0.1},
    "RMSprop (lr 0.003)": {"optimizer": "rmsprop", "learning_rate": 0.003},
    "Adam (lr 0.01)": {"optimizer": "adam", "learning_rate": 0.01},
    "AMSGrad (lr 0.01)": {"optimizer": "amsgrad", "learning_rate": 0.01},
}
curves = {}
for label, options in constant.items():
    model = AdamLogisticRegression(averaging=False, variance_reduction=False,
                                   max_iter=60, tol=0.0, n_iter_no_change=60,
                                   random_state=0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: runs 60 epochs
        model.fit(X, y)
    curves[label] = np.array(model.loss_curve_) - optimum

default = AdamLogisticRegression(random_state=0).fit(X, y)
curves["default: averaging + Newton finish"] = (
    np.array(default.loss_curve_) - optimum
)

fig, ax = plt.subplots(figsize=(7, 4.5))
for label, gap in curves.items():
    style = {"color": "black", "linewidth": 2.5} if label.startswith("default") else {}
    ax.semilogy(np.arange(1, gap.size + 1), np.maximum(gap, 1e-16), label=label,
                **style)
ax.set_xlabel("iteration (>= one pass, >= 50 updates)")
ax.set_ylabel("objective - optimum")
ax.set_title("Logistic regression, n = 1000, p = 19")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The default lands on scikit-learn's optimum
# -------------------------------------------
print(f"iterations: {default.n_iter_}")
print(f"largest coefficient difference to lbfgs: "
      f"{np.abs(default.coef_ - reference.coef_).max():.1e}")
for label, gap in curves.items():
    print(f"{label:42s} final gap {gap[-1]:.1e}")
