"""First-order optimisers and learning-rate schedules.

The update rules are small stateful classes that update a list of float64 arrays in
place, shared by every statopt estimator fitted by stochastic gradients. A schedule is
a callable ``schedule(step) -> factor`` that scales the learning rate.
:func:`stream_partial_fit` streams the row chunks of a Dask array, with their
row-aligned metadata, through any estimator's ``partial_fit``.
"""

from ._first_order import SGD, SWATS, Adam, AMSGrad, Momentum, RMSprop

# The ``name as name`` imports re-export helpers for statopt's other families:
# public names, outside the documented API (``__all__``).
from ._kernels import RULE_CODES as RULE_CODES
from ._kernels import compute_direction as compute_direction
from ._schedules import ConstantSchedule, Cosine, InverseDecay, InverseSqrt, StepDecay
from ._streaming import stream_partial_fit

__all__ = [
    "SGD",
    "Momentum",
    "RMSprop",
    "Adam",
    "AMSGrad",
    "SWATS",
    "ConstantSchedule",
    "InverseDecay",
    "InverseSqrt",
    "Cosine",
    "StepDecay",
    "stream_partial_fit",
]
