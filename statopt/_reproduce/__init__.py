"""Reproductions of the published experiments behind statopt's estimators.

Each experiment is a module with a ``DESCRIPTION`` and ``run(quick, data_home)`` that
prints its tables; ``python -m statopt reproduce NAME`` runs it.
"""

from . import adam, adversarial, crossmodal, fitssvd, quantile, robust, safe

EXPERIMENTS = {
    "adam": adam,
    "quantile": quantile,
    "fitssvd": fitssvd,
    "crossmodal": crossmodal,
    "adversarial": adversarial,
    "robust": robust,
    "safe": safe,
}

__all__ = ["EXPERIMENTS"]

from . import auxiliary  # noqa: E402

EXPERIMENTS["auxiliary"] = auxiliary
