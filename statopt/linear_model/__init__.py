"""Linear models fitted by classic optimisation algorithms."""

from ._censored_quantile import CensoredMissingQuantileRegressor
from ._logistic import AdamLogisticRegression
from ._robust_paired import RobustPairedClassifier

__all__ = [
    "AdamLogisticRegression",
    "CensoredMissingQuantileRegressor",
    "RobustPairedClassifier",
]
