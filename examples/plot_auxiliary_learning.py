"""
================================================
Auxiliary tasks for a classifier with few labels
================================================

Fifty labelled digits (5 per class) and an 800-row pool labelled only with the
parity of the digit and whether it is ``>= 5`` (both flipped at rate ``rho``), plus a
pure-noise task. :class:`~statopt.AuxiliaryLearningClassifier` trains one network on
all of them; ``weighting`` decides how much each auxiliary task counts. This example
plots the test accuracy of each weighting against the label noise, then the task
weights that the bilevel data-task generator ('dtg') learns during training. 'dtg'
also generates primary labels for the pool rows from the network's predictions and
the auxiliary labels, trusting each label as far as it predicts the labelled rows'.
"""

# %%
# Accuracy against label noise
# ----------------------------
# One seed, to keep the example short: ``benchmarks/bench_auxiliary.py`` averages
# five and gives the time and memory of each weighting.
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from statopt import AuxiliaryLearningClassifier
from statopt.datasets import make_auxiliary_tasks

rhos = [0.0, 0.25, 0.5]
weightings = ["none", "equal", "uncertainty", "gcs", "bilevel", "dtg"]
accuracy = {w: [] for w in weightings}
fitted = {}
for rho in rhos:
    data = make_auxiliary_tasks(rho=rho, random_state=0)
    for weighting in weightings:
        model = AuxiliaryLearningClassifier(weighting=weighting, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(data.X, data.y, auxiliary_targets=data.auxiliary_targets)
        accuracy[weighting].append(model.score(data.X_test, data.y_test))
        fitted[weighting, rho] = model

fig, ax = plt.subplots(figsize=(6, 4))
for weighting in weightings:
    ax.plot(rhos, accuracy[weighting], marker="o", label=weighting)
ax.set_xlabel("flip rate rho of the auxiliary labels")
ax.set_ylabel("test accuracy (primary task)")
ax.legend()
ax.set_title("Auxiliary tasks against label noise")

# %%
# Learned task weights over training
# ----------------------------------
# ``task_weight_curve_`` records the weights at every upper step. The implicit
# gradient of a weight is mostly noise here, so ``weight_prior`` (default 1)
# holds each weight near its task's trust (``auxiliary_trust_``), which a
# likelihood-ratio test sets to 0 for a label without evidence: with clean
# auxiliary labels the useful tasks end near 1 (after a dip while the young
# network's trusts are still 0) and the noise task falls to 0; at rho = 0.5,
# where every auxiliary task is noise, all of them fall to about 0.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for ax, rho in zip(axes, [0.0, 0.5]):
    curve = fitted["dtg", rho].task_weight_curve_
    for column, name in enumerate(data.task_names):
        ax.plot(curve[:, column], label=name)
    ax.set_xlabel("upper step")
    ax.set_title(f"dtg, rho={rho:g}")
axes[0].set_ylabel("task weight (primary = 1)")
axes[0].legend()
plt.show()
