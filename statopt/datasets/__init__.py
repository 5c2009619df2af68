"""Simulators of the published experiments and loaders for the real data sets."""

from ._loaders import get_data_home, load_lung200, load_mnist_0_vs_6
from ._mismatched import make_mismatched_pairs, make_token_image_pairs
from ._simulators import (
    make_auxiliary_tasks,
    make_censored_quantile_data,
    make_correlated_logistic,
    make_cross_modal_data,
    make_event_shortcut,
    make_sparse_svd_data,
)
from ._wikipedia import load_wikipedia_crossmodal

__all__ = [
    "get_data_home",
    "load_lung200",
    "load_mnist_0_vs_6",
    "load_wikipedia_crossmodal",
    "make_auxiliary_tasks",
    "make_censored_quantile_data",
    "make_correlated_logistic",
    "make_cross_modal_data",
    "make_event_shortcut",
    "make_mismatched_pairs",
    "make_sparse_svd_data",
    "make_token_image_pairs",
]
