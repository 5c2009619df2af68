"""statopt: classic statistical optimisation algorithms as scikit-learn estimators."""

__version__ = "0.1.0.dev0"

from .linear_model import (  # noqa: E402
    AdamLogisticRegression,
    CensoredMissingQuantileRegressor,
)

__all__ = [
    "AdamLogisticRegression",
    "CensoredMissingQuantileRegressor",
    "__version__",
]
