"""Cross-modal retrieval: the multi-view tensor model."""

from ._tensor_regression import TensorCrossModalRegressor

__all__ = ["TensorCrossModalRegressor"]
