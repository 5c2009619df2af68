"""Exact finish of AdamLogisticRegression: proximal Newton on the full objective.

After the stochastic phase has brought the iterate near the optimum, a few Newton
steps on the exact penalised objective reach it to machine precision, whatever the
scaling of the features (Newton's method is invariant to linear changes of
variables). With an L1 penalty the step minimises the proximal Newton model

    q(d) = g'd + d'Hd / 2 + sum_j l1_j (|theta_j + d_j| - |theta_j|)

(Lee, Sun & Saunders 2014) by coordinate descent, then re-solves it exactly on the
signs that coordinate descent found, which gives the model's minimiser in one linear
solve once the support has settled. A backtracking line search on the true objective
keeps every step a descent step.

The parameter vector has the layout of ``_kernels.py`` (per output: coefficients,
then intercept), and X enters through its centred columns.
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit

from ._kernels import proximal_newton_cd

# Rows per block when the Hessian is accumulated: bounds the temporary copy of X.
_BLOCK = 4096
# The Hessian is stored densely: beyond this many parameters (128 MB) the
# estimator uses the variance-reduced finish instead.
MAX_NEWTON_PARAMS = 4096
_MAX_SWEEPS = 1000
_ARMIJO = 1e-4
_MIN_STEP = 1e-10
# Predicted relative decrease below which a failed line search counts as converged.
_RESOLVED = 1e-10


def smooth_derivatives(X, center, y, weights, theta, n_outputs, l2, free):
    """Gradient and Hessian of the mean weighted log-loss plus ``l2 ||coef||^2 / 2``.

    Rows and columns of the coordinates that are not ``free`` (intercepts fitted
    without ``fit_intercept``) are zero.
    """
    n_rows, n_features = X.shape
    stride = n_features + 1
    packed = theta.reshape(n_outputs, stride)
    size = n_outputs * stride
    gradient = np.zeros((n_outputs, stride))
    hessian = np.zeros((size, size))
    blocks = hessian.reshape(n_outputs, stride, n_outputs, stride)
    design = np.empty((min(_BLOCK, n_rows), stride))
    for start in range(0, n_rows, _BLOCK):
        stop = min(start + _BLOCK, n_rows)
        Z = design[: stop - start]
        np.subtract(X[start:stop], center, out=Z[:, :n_features])
        Z[:, n_features] = 1.0
        weight, target = weights[start:stop], y[start:stop]
        logits = Z @ packed.T
        if n_outputs == 1:
            proba = expit(logits[:, 0])
            gradient[0] += (weight * (proba - target)) @ Z
            blocks[0, :, 0, :] += (Z * (weight * proba * (1.0 - proba))[:, None]).T @ Z
            continue
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        residual = proba.copy()
        residual[np.arange(stop - start), target.astype(np.intp)] -= 1.0
        gradient += (residual * weight[:, None]).T @ Z
        # Softmax curvature: block (k, l) is Z' diag(s p_k (delta_kl - p_l)) Z.
        weighted = proba * weight[:, None]
        for k in range(n_outputs):
            blocks[k, :, k, :] += (Z * weighted[:, k, None]).T @ Z
            for other in range(k, n_outputs):
                block = (Z * (weighted[:, k] * proba[:, other])[:, None]).T @ Z
                blocks[k, :, other, :] -= block
                if other != k:
                    blocks[other, :, k, :] -= block
    gradient /= n_rows
    hessian /= n_rows
    gradient[:, :n_features] += l2 * packed[:, :n_features]
    coefficient = np.ones((n_outputs, stride), dtype=bool)
    coefficient[:, n_features] = False
    index = np.flatnonzero(coefficient.ravel())
    hessian[index, index] += l2
    gradient = gradient.ravel()
    gradient[~free] = 0.0
    hessian[~free, :] = 0.0
    hessian[:, ~free] = 0.0
    return gradient, hessian


def _solve_psd(matrix, rhs):
    """Solve ``matrix @ x = rhs`` for a positive semi-definite matrix.

    The matrix is first scaled to unit diagonal, so that the tiny ridge that keeps
    Cholesky defined on a singular matrix (constant columns, the common shift of
    multinomial intercepts) acts alike on every coordinate whatever its units.
    """
    diagonal = np.sqrt(np.diag(matrix))
    diagonal[~(diagonal > 0.0)] = 1.0
    scaled = matrix / diagonal[:, None] / diagonal[None, :]
    scaled[np.diag_indices_from(scaled)] += 1e-12
    try:
        solution = cho_solve(cho_factor(scaled), rhs / diagonal)
    except np.linalg.LinAlgError:
        solution = np.linalg.lstsq(scaled, rhs / diagonal, rcond=None)[0]
    return solution / diagonal


def _model(hessian, gradient, theta, l1, direction):
    """Value of the proximal Newton model q(d), and its linear part."""
    linear = gradient @ direction + l1 @ (np.abs(theta + direction) - np.abs(theta))
    return linear + 0.5 * direction @ (hessian @ direction), linear


def newton_direction(hessian, gradient, theta, l1, free, cd_tol):
    """Minimiser of the proximal Newton model over the free coordinates."""
    direction = np.zeros_like(theta)
    if not np.any(l1 > 0.0):
        direction[free] = _solve_psd(hessian[np.ix_(free, free)], -gradient[free])
        return direction
    proximal_newton_cd(hessian, gradient, theta, l1, direction, _MAX_SWEEPS, cd_tol)
    # Exact re-solve on the signs found: coordinates at zero stay there, the others
    # solve the smooth model with the L1 term linear in them.
    target = theta + direction
    active = free & ((target != 0.0) | (l1 == 0.0))
    zero = free & ~active
    exact = np.zeros_like(theta)
    exact[zero] = -theta[zero]
    sign = np.sign(target)
    rhs = -(gradient + l1 * sign) - hessian[:, zero] @ exact[zero]
    exact[active] = _solve_psd(hessian[np.ix_(active, active)], rhs[active])
    penalised = active & (l1 > 0.0)
    if np.any(np.sign(theta[penalised] + exact[penalised]) != sign[penalised]):
        return direction
    slope = gradient + hessian @ exact
    if np.any(np.abs(slope[zero]) > l1[zero]):
        return direction
    if _model(hessian, gradient, theta, l1, exact)[0] <= _model(
        hessian, gradient, theta, l1, direction
    )[0]:
        return exact
    return direction


def proximal_newton(objective, derivatives, theta, l1, free, tol, max_iter, record):
    """Proximal Newton steps from ``theta`` (updated in place) to the optimum.

    ``objective(theta)`` is the exact penalised objective and ``derivatives(theta)``
    the gradient and Hessian of its smooth part; ``l1`` holds the L1 strength of
    each coordinate. The fit stops when the model's predicted decrease ``-q(d)``,
    which near the optimum is the distance of the objective to its minimum (half
    the squared norm of the minimum-norm subgradient in the metric of the inverse
    Hessian), is at most ``tol**2 / 2`` times the objective: the scale-free
    criterion ``sqrt(-2 q(d) / f) <= tol``. ``record(value)`` is called after each
    step.

    Returns None on success, else why the fit stopped short.
    """
    value = objective(theta)
    for iteration in range(max_iter + 1):
        gradient, hessian = derivatives(theta)
        target = 0.5 * tol**2 * abs(value)
        direction = newton_direction(hessian, gradient, theta, l1, free,
                                     1e-3 * target)
        model, linear = _model(hessian, gradient, theta, l1, direction)
        if not np.isfinite(model):
            return ("met a non-finite Newton step; scale X or raise the penalty "
                    "(lower C).")
        optimality = np.sqrt(max(-2.0 * model, 0.0) / abs(value)) if value else 0.0
        if -model <= target:
            # Converged. The step is already computed and costs one objective:
            # take it unless it visibly raises the objective, since near the
            # optimum its decrease is below rounding while it still cuts the
            # gradient quadratically.
            candidate = theta + direction
            new_value = objective(candidate)
            if new_value <= value + 8.0 * np.finfo(float).eps * abs(value):
                theta[:] = candidate
                record(new_value)
            return None
        if iteration == max_iter:
            return (f"stopped at max_iter with a scaled subgradient of "
                    f"{optimality:.2g} > tol; increase max_iter or tol.")
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_value = objective(candidate)
            if new_value <= value + _ARMIJO * step * linear:
                break
            step *= 0.5
            if step < _MIN_STEP:
                if -model <= _RESOLVED * abs(value):
                    # The step's gain is below what the objective's rounding
                    # shows, and far below the promised accuracy: converged.
                    return None
                return (f"could not lower the objective any further (scaled "
                        f"subgradient {optimality:.2g} > tol): tol is below what "
                        "floating point resolves for this problem; increase tol.")
        theta[:] = candidate
        value = new_value
        record(value)
    return None  # unreachable: the last iteration returns above
