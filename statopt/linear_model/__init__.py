"""Linear models fitted by classic optimisation algorithms."""

from ._censored_quantile import CensoredMissingQuantileRegressor
from ._logistic import AdamLogisticRegression

__all__ = ["AdamLogisticRegression", "CensoredMissingQuantileRegressor"]
