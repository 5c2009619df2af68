"""statopt: classic statistical optimisation algorithms as scikit-learn estimators."""

__version__ = "0.1.0.dev0"

from .linear_model import AdamLogisticRegression  # noqa: E402

__all__ = ["AdamLogisticRegression", "__version__"]
