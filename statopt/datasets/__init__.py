"""Simulators of the published experiments and loaders for the real data sets."""

from ._loaders import get_data_home, load_lung200, load_mnist_0_vs_6
from ._simulators import (
    make_censored_quantile_data,
    make_correlated_logistic,
    make_sparse_svd_data,
)

__all__ = [
    "get_data_home",
    "load_lung200",
    "load_mnist_0_vs_6",
    "make_censored_quantile_data",
    "make_correlated_logistic",
    "make_sparse_svd_data",
]
