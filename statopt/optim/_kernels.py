"""Numba kernels of the first-order update rules.

Each rule turns a gradient into a *direction* (the step taken for a unit learning
rate) and a *scale* (the diagonal preconditioner applied to the gradient, used by
proximal steps), updating its running moments in place. Arrays are flat, C-contiguous
``float64``; the rule is picked by an integer code so that estimators can fuse it into
their own jitted epochs.
"""

import numpy as np

from .._numba import njit

SGD, MOMENTUM, RMSPROP, ADAM, AMSGRAD = 0, 1, 2, 3, 4

RULE_CODES = {
    "sgd": SGD,
    "momentum": MOMENTUM,
    "rmsprop": RMSPROP,
    "adam": ADAM,
    "amsgrad": AMSGRAD,
}


# error_model="numpy" drops numba's zero-division checks, which keep LLVM from
# vectorising the loop; no divisor here can be zero (1 - beta**step with beta in
# [0, 1), sqrt(.) + epsilon with epsilon > 0), so the results are unchanged.
@njit(error_model="numpy")
def compute_direction(
    rule,
    grad,
    first_moment,
    second_moment,
    max_second_moment,
    step,
    beta_1,
    beta_2,
    epsilon,
    direction,
    scale,
):
    """Update the moments of ``rule`` with ``grad`` and write its step direction.

    ``step`` is the 1-based index of this update (Adam's bias correction needs it).
    ``first_moment`` is the velocity of momentum, ``second_moment`` the running mean
    of squared gradients of RMSprop, Adam and AMSGrad; ``max_second_moment`` is used by
    AMSGrad only.
    """
    n = grad.shape[0]
    if rule == SGD:
        for j in range(n):
            direction[j] = grad[j]
            scale[j] = 1.0
    elif rule == MOMENTUM:
        for j in range(n):
            first_moment[j] = beta_1 * first_moment[j] + (1.0 - beta_1) * grad[j]
            direction[j] = first_moment[j]
            scale[j] = 1.0
    elif rule == RMSPROP:
        for j in range(n):
            second_moment[j] = (
                beta_2 * second_moment[j] + (1.0 - beta_2) * grad[j] * grad[j]
            )
            scale[j] = 1.0 / (np.sqrt(second_moment[j]) + epsilon)
            direction[j] = grad[j] * scale[j]
    else:
        # Kingma & Ba (2015), Algorithm 1; AMSGrad keeps the running maximum of the
        # second moment (Reddi et al. 2018), bias-corrected as in PyTorch.
        bias_1 = 1.0 - beta_1**step
        bias_2 = 1.0 - beta_2**step
        for j in range(n):
            first_moment[j] = beta_1 * first_moment[j] + (1.0 - beta_1) * grad[j]
            second_moment[j] = (
                beta_2 * second_moment[j] + (1.0 - beta_2) * grad[j] * grad[j]
            )
            second = second_moment[j]
            if rule == AMSGRAD:
                if second > max_second_moment[j]:
                    max_second_moment[j] = second
                second = max_second_moment[j]
            scale[j] = 1.0 / (np.sqrt(second / bias_2) + epsilon)
            direction[j] = first_moment[j] / bias_1 * scale[j]
