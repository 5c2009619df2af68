"""Small numerical helpers shared across statopt's modules."""

import numpy as np
from sklearn.utils._param_validation import Interval


def weighted_quantile(values, weights, quantile):
    """Lower weighted ``quantile`` of ``values`` (weights >= 0, positive sum).

    The smallest value at which the cumulative weight reaches ``quantile`` times
    the total: a minimiser of ``sum_i w_i rho_q(values_i - c)`` over ``c``.
    """
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = np.searchsorted(cumulative, quantile * cumulative[-1], side="left")
    return values[order[min(index, values.size - 1)]]


class Count(Interval):
    """An integer interval that refuses booleans: ``True`` is not a count.

    scikit-learn's ``Interval(Integral, ...)`` accepts ``True`` as 1.
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)
