"""Regression tests from the adversarial audit of the public API: each pins a defect
that hostile input once triggered (a warning in place of the ValueError, a false
refusal, a silent NaN)."""

import numpy as np
import pytest

from statopt import (
    AdamLogisticRegression,
    AuxiliaryLearningClassifier,
    EventAdversarialClassifier,
    RobustPairedClassifier,
    SimilarityAwareMultimodalClassifier,
)

CLASSIFIERS = [
    AdamLogisticRegression(max_iter=5),
    RobustPairedClassifier(),
    EventAdversarialClassifier(max_iter=2),
    AuxiliaryLearningClassifier(max_iter=2),
    SimilarityAwareMultimodalClassifier(
        views=[np.arange(2), np.arange(2, 3)], modalities=["image", "text"],
        max_iter=2),
]


@pytest.mark.parametrize("model", CLASSIFIERS, ids=lambda m: type(m).__name__)
def test_classifiers_refuse_huge_continuous_labels(model):
    # scikit-learn's target check casts the labels to int; values beyond int64
    # raised a RuntimeWarning (an error under -W error) before the ValueError.
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="Unknown label type"):
        model.fit(X, X[:, 0] * 1e300)
