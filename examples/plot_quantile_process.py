"""
=========================================================
The quantile process: Engel's food expenditure, censoring
=========================================================

A quantile regression at one level describes one part of the conditional
distribution. Fitting many levels at once (the *quantile process*) shows where
a covariate's effect changes across the distribution, something a mean
regression averages away. :class:`~statopt.CensoredMissingQuantileRegressor`
fits an array of levels in sequence, each level's exact linear program warm-
started from the previous one, and :func:`statopt.plotting.plot_quantile_process`
draws each coefficient against the level with its confidence band and the
least-squares estimate, as R quantreg's ``plot(summary(rq(tau = ...)))`` does.
"""

# %%
# Engel's data
# ------------
# Food expenditure against household income of 235 Belgian working-class
# households (Engel 1857), the classic example of Koenker & Bassett.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.api as sm

from statopt import CensoredMissingQuantileRegressor
from statopt.datasets import make_censored_quantile_data
from statopt.plotting import plot_quantile_process

engel = sm.datasets.engel.load_pandas().data
X, y = engel[["income"]], engel["foodexp"]
levels = np.round(np.arange(1, 20) / 20, 2)
model = CensoredMissingQuantileRegressor(levels).fit(X, y)
print(f"slopes from {model.coef_[0, 0]:.3f} (q=0.05) to {model.coef_[-1, 0]:.3f} "
      f"(q=0.95); largest duality gap {model.duality_gap_.max():.0e}")

# %%
# The income slope grows with the level: households that spend little on food
# for their income (low quantiles) spend a smaller share of extra income on it
# than the least-squares slope suggests, heavy spenders a larger one. The bands
# are R's default 'nid' sandwich; at both ends of the process they exclude the
# least-squares interval (red, dashed).
axes = plot_quantile_process(model, X, y)
axes[0].figure.suptitle("Engel data: coefficients across quantile levels")

# %%
# The coefficient table stacks the levels, indexed by (quantile, term).
print(model.summary(X, y).loc[[0.25, 0.5, 0.75]])

# %%
# Crossing predictions and their rearrangement
# --------------------------------------------
# Fitted lines at different levels can cross, here at low incomes for the
# outer levels. ``predict(..., monotone=True)`` rearranges each row's
# predictions into increasing order across levels (Chernozhukov,
# Fernandez-Val & Galichon 2010); rows without crossings are unchanged.
income = pd.DataFrame({"income": np.linspace(0, 5000, 300)})
raw = model.predict(income)
monotone = model.predict(income, monotone=True)
assert (np.diff(monotone, axis=1) >= 0).all()
crossing = (np.diff(raw, axis=1) < 0).any(axis=1)
print(f"incomes with crossing fits: {crossing.sum()} of {len(income)} "
      f"(up to {income['income'][crossing].max():.0f})" if crossing.any()
      else "no crossing fits on this grid")
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.scatter(X["income"], y, s=6, color="0.6")
for k, color in zip((0, 1, 18), ("tab:blue", "tab:orange", "tab:green")):
    ax.plot(income, raw[:, k], color=color, label=f"q={levels[k]:g}")
    ax.plot(income, monotone[:, k], color=color, linestyle="--")
ax.set_xlim(0, 1500)
ax.set_ylim(0, 1200)
ax.set_title("fits (solid) and rearranged (dashed)")
ax.set_xlabel("household income")
ax.set_ylabel("food expenditure")
ax.legend()

# %%
# A censored and incompletely observed response
# ---------------------------------------------
# The published simulation: ``Y = 4.5 Z1 - 2 Z2 + e``, so every level has slopes
# (4.5, -2) and intercept ``Phi^{-1}(q)``. A quarter of the responses are
# censored and ``Z2`` is missing for 30% of the rows. The weights (Kaplan-Meier
# for censoring, a kernel propensity for missingness) are estimated once for all
# levels; the bands are the pairs bootstrap that re-estimates them in every
# replicate (the default when weights are estimated).
X, y, coef = make_censored_quantile_data(1000, censoring_rate=0.25,
                                         missing_rate=0.3, random_state=0)
levels = np.round(np.arange(1, 10) / 10, 1)
model = CensoredMissingQuantileRegressor(levels).fit(X, y)
axes = plot_quantile_process(model, X, y, n_boot=100, random_state=0)
for ax, truth in zip(axes[1:], coef):
    ax.axhline(truth, color="tab:blue", linestyle=":", label="true slope")
axes[1].legend(fontsize="small")
axes[0].figure.suptitle("Censored, missing covariate: bootstrap bands")
plt.show()
