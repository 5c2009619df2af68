"""Survival helpers: the censored target, Kaplan-Meier and censoring weights."""

from ._kaplan_meier import (
    CensoringDistributionEstimator,
    censoring_weights,
    kaplan_meier,
)
from ._kernel_weights import bandwidth_rule, kernel_propensity
from ._target import (
    check_survival_target,
    make_survival_target,
    survival_target_from_dataframe,
)

__all__ = [
    "bandwidth_rule",
    "kernel_propensity",
    "CensoringDistributionEstimator",
    "censoring_weights",
    "check_survival_target",
    "kaplan_meier",
    "make_survival_target",
    "survival_target_from_dataframe",
]
