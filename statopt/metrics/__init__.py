"""Metrics: censoring-aware pinball loss, subspace distance, retrieval precision,
worst-case accuracy of linear classifiers and a robust refit rule."""

from ._pinball import d2_ipcw_pinball_score, ipcw_pinball_loss
from ._retrieval import (
    cross_modal_map_scorer,
    mean_average_precision,
    retrieval_average_precision,
)
from ._robust import make_robust_refit, make_worst_case_accuracy_scorer
from ._subspace import subspace_distance

__all__ = [
    "cross_modal_map_scorer",
    "d2_ipcw_pinball_score",
    "ipcw_pinball_loss",
    "make_robust_refit",
    "make_worst_case_accuracy_scorer",
    "mean_average_precision",
    "retrieval_average_precision",
    "subspace_distance",
]
