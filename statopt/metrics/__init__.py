"""Metrics: censoring-aware pinball loss and its D^2 score."""

from ._pinball import d2_ipcw_pinball_score, ipcw_pinball_loss

__all__ = ["d2_ipcw_pinball_score", "ipcw_pinball_loss"]
