"""Plots of fitted models (matplotlib, an optional dependency)."""

from ._quantile_process import plot_quantile_process

__all__ = ["plot_quantile_process"]
