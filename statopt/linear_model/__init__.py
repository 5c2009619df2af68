"""Linear models fitted by classic optimisation algorithms."""

from ._censored_quantile import CensoredMissingQuantileRegressor
from ._logistic import AdamLogisticRegression
from ._robust_paired import RobustPairedClassifier, critical_radius, worst_case_accuracy

__all__ = [
    "AdamLogisticRegression",
    "CensoredMissingQuantileRegressor",
    "RobustPairedClassifier",
    "critical_radius",
    "worst_case_accuracy",
]
