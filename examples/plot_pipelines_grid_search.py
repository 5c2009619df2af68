"""
==================================================
statopt estimators in Pipelines and GridSearchCV
==================================================

statopt estimators are scikit-learn estimators: they clone, pickle, take pandas
DataFrames, and compose with scikit-learn's tools. Two grid searches:

1. a censored quantile regression whose response is right-censored and whose
   covariate has missing values, tuned by cross-validated D^2 of the
   censoring-weighted pinball loss (its ``score``);
2. a sparse SVD feeding a classifier of lung tumour types, tuned by accuracy.
"""

# %%
# Censored targets in a grid search
# ---------------------------------
# ``y`` is a structured array of (event, time) records; ``X`` holds NaN where the
# second covariate is missing. ``GridSearchCV`` splits both, and every fold is
# scored by D^2 of the pinball loss weighted by inverse censoring probabilities,
# so the scores are comparable to those of uncensored data.
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from statopt import FITSSVD, CensoredMissingQuantileRegressor
from statopt.datasets import load_lung200, make_censored_quantile_data

X, y, coef = make_censored_quantile_data(2000, censoring_rate=0.25,
                                         missing_rate=0.3, random_state=0)
X = pd.DataFrame(X, columns=["z1", "z2"])
print(y[:3], f"censored: {1 - y['event'].mean():.0%}, "
      f"z2 missing: {X['z2'].isna().mean():.0%}")

search = GridSearchCV(
    make_pipeline(StandardScaler(), CensoredMissingQuantileRegressor(quantile=0.5)
                  ).set_output(transform="pandas"),
    {"censoredmissingquantileregressor__bandwidth": [0.02, 0.05, 0.1, 0.2,
                                                     "scott"],
     "censoredmissingquantileregressor__kernel": ["gaussian", "epanechnikov"]},
    cv=5)
search.fit(X, y)
model = search.best_estimator_[-1]
print("best:", search.best_params_, f"D^2 = {search.best_score_:.3f}")
print("features seen:", list(model.feature_names_in_))

results = pd.DataFrame(search.cv_results_)
fig, ax = plt.subplots(figsize=(6, 3.5))
for kernel, rows in results.groupby("param_censoredmissingquantileregressor__kernel"):
    labels = rows["param_censoredmissingquantileregressor__bandwidth"].astype(str)
    ax.errorbar(labels, rows["mean_test_score"], yerr=rows["std_test_score"],
                marker="o", capsize=3, label=kernel)
ax.set_xlabel("propensity bandwidth")
ax.set_ylabel("cross-validated IPCW pinball D^2")
ax.legend(title="kernel")
fig.tight_layout()

# %%
# A sparse SVD in front of a classifier
# -------------------------------------
# Patients as rows, the 200 most variable genes as columns. FITSSVD projects each
# patient on a few sparse gene signatures; logistic regression reads the tumour
# type off the projections. The grid compares the number of components and the
# thresholds; a pandas output keeps the component names.
expression, genes, tumour_types = load_lung200()
patients = pd.DataFrame(expression.T, columns=genes)
pipeline = make_pipeline(FITSSVD(random_state=0),
                         LogisticRegression(max_iter=2000)).set_output(
                             transform="pandas")
search = GridSearchCV(
    pipeline,
    {"fitssvd__n_components": [1, 2, 3, 4],
     "fitssvd__threshold": ["theory", "bootstrap"]},
    cv=StratifiedKFold(3, shuffle=True, random_state=0))
with warnings.catch_warnings():
    # Four components ask for more sparse structure than some folds hold; FITSSVD
    # says so for each such fit, and the grid search sorts them out.
    warnings.simplefilter("ignore", UserWarning)
    search.fit(patients, tumour_types)
print("best:", search.best_params_, f"accuracy = {search.best_score_:.3f}")
svd = search.best_estimator_[0]
print(svd.transform(patients).head(3))
print("genes per signature:", (svd.components_ != 0).sum(axis=1))

scores = pd.DataFrame(search.cv_results_).pivot_table(
    index="param_fitssvd__n_components", columns="param_fitssvd__threshold",
    values="mean_test_score")
ax = scores.plot(marker="o", figsize=(6, 3.5))
ax.set_xlabel("n_components")
ax.set_ylabel("cross-validated accuracy")
ax.set_xticks(scores.index)
plt.tight_layout()
plt.show()
