"""Metrics: censoring-aware pinball loss and its D^2 score; subspace distance."""

from ._pinball import d2_ipcw_pinball_score, ipcw_pinball_loss
from ._subspace import subspace_distance

__all__ = ["d2_ipcw_pinball_score", "ipcw_pinball_loss", "subspace_distance"]
