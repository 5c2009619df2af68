"""Warnings name the user's line, not a frame inside statopt or a decorator.

Fixed ``stacklevel`` counts went stale as decorators were added (an
AdamLogisticRegression ConvergenceWarning pointed at contextlib.py); every
warning now goes through ``warn_at_caller``. Each case below triggers one
warning from this file and checks that the warning is attributed to it.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from statopt import (
    FITSSVD,
    AdamLogisticRegression,
    CensoredMissingQuantileRegressor,
    RobustPairedClassifier,
    TensorCrossModalRegressor,
)
from statopt.datasets import make_cross_modal_data, make_sparse_svd_data
from statopt.metrics import mean_average_precision
from statopt.survival import kernel_propensity


def _cancer():
    return load_breast_cancer(return_X_y=True)


def _adam_finish():
    AdamLogisticRegression(max_iter=2, random_state=0).fit(*_cancer())


def _adam_plain():
    AdamLogisticRegression(max_iter=3, variance_reduction=False,
                           random_state=0).fit(*_cancer())


def _adam_in_a_search():
    # scikit-learn's and joblib's frames are skipped too: the search's fit line.
    search = GridSearchCV(make_pipeline(StandardScaler(),
                                        AdamLogisticRegression(max_iter=2)),
                          {"adamlogisticregression__C": [1.0]}, cv=2)
    search.fit(*_cancer())


def _quantile():
    X, y = _cancer()
    CensoredMissingQuantileRegressor(solver="mm", max_iter=2).fit(X[:, :3], X[:, 3])


def _fitssvd():
    X, *_ = make_sparse_svd_data("random", random_state=0)
    FITSSVD(n_components=2, max_iter=1, random_state=0).fit(X)


def _crossmodal():
    X, y, views, modalities = make_cross_modal_data(200, random_state=0)
    TensorCrossModalRegressor(views=views, modalities=modalities, alpha=1.0,
                              random_state=0).fit(X, y)


def _robust():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=10) > 0).astype(int)
    partners = X + 0.2 + 0.3 * rng.normal(size=X.shape)
    distance = np.mean(np.linalg.norm(X - partners, axis=1))
    RobustPairedClassifier(radius=0.6 * distance, radius_auxiliary=0.7 * distance,
                           auxiliary_solver="exact", max_iter=5).fit(
        X, y, X_auxiliary=partners)


def _propensity():
    z = np.random.RandomState(0).standard_normal(500)
    kernel_propensity(np.arange(500) % 50 == 0, z, min_probability=0.05,
                      method="exact")


def _retrieval():
    similarity = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3], [0.7, 0.6, 0.5]])
    mean_average_precision(similarity, [0, 1, 2], [0, 1, 1])


@pytest.mark.parametrize("trigger", [
    _adam_finish, _adam_plain, _adam_in_a_search, _quantile, _fitssvd, _crossmodal,
    _robust, _propensity, _retrieval,
], ids=lambda trigger: trigger.__name__.strip("_"))
def test_warning_names_the_callers_line(trigger):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trigger()
    ours = [w for w in caught if "statopt" in str(w.message)
            or w.category.__module__.startswith("sklearn")
            or issubclass(w.category, UserWarning)]
    assert ours, "the case no longer warns"
    assert {w.filename for w in ours} == {__file__}, [
        (w.filename, w.lineno, str(w.message)[:60]) for w in ours]
