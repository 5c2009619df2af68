"""Tests of AuxiliaryLearningClassifier and its data set (issue 16)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from statopt.datasets import make_auxiliary_tasks


def _true_digits(X):
    """The digit of each row, found by looking its pixels up in scikit-learn's set."""
    pixels, digits = load_digits(return_X_y=True)
    table = {}
    for row, digit in zip(pixels / 16.0, digits):
        table.setdefault(row.tobytes(), set()).add(digit)
    found = [table[row.tobytes()] for row in X]
    assert all(len(d) == 1 for d in found)
    return np.array([d.pop() for d in found])


@pytest.mark.parametrize("rho", [0.0, 0.25])
def test_make_auxiliary_tasks_labels_and_flip_rate(rho):
    data = make_auxiliary_tasks(rho=rho, random_state=3)
    digits = _true_digits(data.X)
    labelled = data.y >= 0
    assert labelled.sum() == 50 and (~labelled).sum() == 800
    assert np.array_equal(np.bincount(data.y[labelled]), np.full(10, 5))
    assert np.array_equal(data.y[labelled], digits[labelled])
    clean = np.column_stack([digits % 2, digits >= 5])
    flip_rate = np.mean(data.auxiliary_targets[:, :2] != clean)
    # 1,700 Bernoulli(rho) draws: within 4 standard deviations.
    assert abs(flip_rate - rho) <= 4 * np.sqrt(max(rho * (1 - rho), 1e-4) / 1700)
    # The noise task is independent of the digit: its agreement with parity is ~1/2.
    assert abs(np.mean(data.auxiliary_targets[:, 2] == digits % 2) - 0.5) < 0.06
    # Test rows are disjoint from the training rows and carry the true digit.
    assert np.array_equal(data.y_test, _true_digits(data.X_test))
    assert len(data.y_test) + len(data.y) == 1797


def test_make_auxiliary_tasks_bad_input():
    with pytest.raises(ValueError, match="rho"):
        make_auxiliary_tasks(rho=1.5)
    with pytest.raises(ValueError, match="no test row"):
        make_auxiliary_tasks(n_auxiliary=1790)
