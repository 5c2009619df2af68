"""Linear models fitted by classic optimisation algorithms."""

from ._logistic import AdamLogisticRegression

__all__ = ["AdamLogisticRegression"]
