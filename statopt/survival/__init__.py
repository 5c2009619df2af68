"""Survival helpers: the censored target, Kaplan-Meier and censoring weights."""

# The ``name as name`` imports re-export helpers for statopt's other families:
# public names, outside the documented API (``__all__``).
from ._dask import (
    censoring_distribution_reduction as censoring_distribution_reduction,
)
from ._kaplan_meier import (
    CensoringDistributionEstimator,
    censoring_weights,
    kaplan_meier,
)
from ._kernel_weights import bandwidth_rule, kernel_propensity
from ._kernel_weights import floor_probability as floor_probability
from ._kernels import apply_ipcw as apply_ipcw
from ._target import as_survival_target as as_survival_target
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
