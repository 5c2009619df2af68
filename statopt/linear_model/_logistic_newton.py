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

Beyond ``MAX_NEWTON_PARAMS`` parameters the Hessian is not stored: without an L1
penalty the Newton system is solved by conjugate gradients on Hessian-vector
products (truncated Newton), each costing two passes over X.

The parameter vector has the layout of ``_kernels.py`` (per output: coefficients,
then intercept), and X enters through its centred columns. X may be a dense array
or a CSR matrix: the centred design is never formed for sparse X, whose products
with it are products with X corrected by the centre (``centred_logits``,
``centred_transpose``).
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from scipy.sparse.linalg import LinearOperator, cg
from scipy.special import expit

from ._kernels import (
    logistic_loss_residuals,
    proximal_newton_cd,
    softmax_loss_residuals,
)

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


_MAX_CG_ITER = 500


def centred_logits(X, center, packed):
    """``Z @ packed.T`` for the centred design ``Z = [X - center, 1]``."""
    coef = packed[:, :-1]
    return np.asarray(X @ coef.T) + (packed[:, -1] - coef @ center)


def centred_transpose(X, center, R):
    """``(Z.T @ R).T`` for the centred design ``Z = [X - center, 1]``."""
    sums = R.sum(axis=0)
    out = np.empty((R.shape[1], X.shape[1] + 1))
    out[:, :-1] = np.asarray(X.T @ R).T - sums[:, None] * center
    out[:, -1] = sums
    return out


def _targets(y, n_outputs):
    """Targets as the kernels of ``logistic_loss_residuals`` take them."""
    if n_outputs == 1:
        return y[:, None]
    onehot = np.zeros((y.size, n_outputs))
    onehot[np.arange(y.size), y.astype(np.intp)] = 1.0
    return onehot


def sparse_loss_gradient(X, center, y, weights, theta, n_outputs, gradient=None):
    """Weighted mean log-loss of a CSR matrix's rows, and its gradient if asked.

    The full-data counterpart of ``logistic_loss_gradient`` for sparse X: one
    sparse product for the logits, one for the gradient.
    """
    logits = centred_logits(X, center, theta.reshape(n_outputs, -1))
    residuals = np.empty_like(logits)
    kernel = logistic_loss_residuals if n_outputs == 1 else softmax_loss_residuals
    loss = kernel(logits, _targets(y, n_outputs), weights, residuals) / X.shape[0]
    if gradient is not None:
        gradient[:] = centred_transpose(X, center,
                                        residuals * weights[:, None]).ravel()
        gradient /= X.shape[0]
    return loss


def _probabilities(X, center, theta, n_outputs):
    logits = centred_logits(X, center, theta.reshape(n_outputs, -1))
    if n_outputs == 1:
        return expit(logits)
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def _sparse_centred_gram(X, center, d):
    """``Z' diag(d) Z`` for the centred design of a sparse X, as a dense matrix."""
    n_features = X.shape[1]
    gram = np.empty((n_features + 1, n_features + 1))
    column = np.asarray(X.T @ d)
    total = d.sum()
    inner = (X.T @ X.multiply(d[:, None]).tocsr()).toarray()
    inner -= np.outer(column, center)
    inner -= np.outer(center, column)
    inner += total * np.outer(center, center)
    gram[:-1, :-1] = inner
    gram[:-1, -1] = gram[-1, :-1] = column - total * center
    gram[-1, -1] = total
    return gram


def _sparse_hessian(X, center, weights, theta, n_outputs):
    """Hessian of the summed weighted log-loss for sparse X (blocks as below)."""
    stride = X.shape[1] + 1
    proba = _probabilities(X, center, theta, n_outputs)
    hessian = np.zeros((n_outputs * stride, n_outputs * stride))
    blocks = hessian.reshape(n_outputs, stride, n_outputs, stride)
    if n_outputs == 1:
        p = proba[:, 0]
        blocks[0, :, 0, :] = _sparse_centred_gram(X, center, weights * p * (1 - p))
        return hessian
    for k in range(n_outputs):
        for other in range(k, n_outputs):
            d = weights * proba[:, k] * ((k == other) - proba[:, other])
            blocks[k, :, other, :] = _sparse_centred_gram(X, center, d)
            blocks[other, :, k, :] = blocks[k, :, other, :].T
    return hessian


def _penalise(gradient, hessian, packed, l2, free):
    """Add the L2 term to the gradient (in place) and Hessian; zero fixed rows."""
    n_outputs, stride = packed.shape
    gradient[:, : stride - 1] += l2 * packed[:, : stride - 1]
    coefficient = np.ones((n_outputs, stride), dtype=bool)
    coefficient[:, stride - 1] = False
    index = np.flatnonzero(coefficient.ravel())
    hessian[index, index] += l2
    gradient = gradient.ravel()
    gradient[~free] = 0.0
    hessian[~free, :] = 0.0
    hessian[:, ~free] = 0.0
    return gradient, hessian


def smooth_derivatives(X, center, y, weights, theta, n_outputs, l2, free):
    """Gradient and Hessian of the mean weighted log-loss plus ``l2 ||coef||^2 / 2``.

    Rows and columns of the coordinates that are not ``free`` (intercepts fitted
    without ``fit_intercept``) are zero. X is dense or CSR.
    """
    n_rows, n_features = X.shape
    if sp.issparse(X):
        gradient = np.empty(theta.size)
        sparse_loss_gradient(X, center, y, weights, theta, n_outputs, gradient)
        hessian = _sparse_hessian(X, center, weights, theta, n_outputs) / n_rows
        return _penalise(gradient.reshape(n_outputs, -1), hessian,
                         theta.reshape(n_outputs, -1), l2, free)
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
    return _penalise(gradient, hessian, packed, l2, free)


class HessianOperator(LinearOperator):
    """Matrix-free Hessian of the mean weighted log-loss plus ``l2 ||coef||^2 / 2``.

    A product costs two passes over X (dense or CSR): ``Z' (D (Z v))`` with the
    softmax curvature ``D`` applied row by row. Rows and columns of coordinates
    that are not ``free`` act as zero. ``diagonal()`` is the Jacobi preconditioner.
    """

    def __init__(self, X, center, weights, theta, n_outputs, l2, free):
        size = theta.size
        super().__init__(dtype=np.float64, shape=(size, size))
        self._X, self._center, self._weights = X, center, weights
        self._proba = _probabilities(X, center, theta, n_outputs)
        self._n_outputs, self._l2, self._free = n_outputs, l2, free

    def _matvec(self, v):
        n_outputs = self._n_outputs
        packed = np.ravel(v) * self._free
        packed = packed.reshape(n_outputs, -1)
        u = centred_logits(self._X, self._center, packed)
        proba = self._proba
        if n_outputs == 1:
            r = proba * (1.0 - proba) * u
        else:
            r = proba * (u - (proba * u).sum(axis=1, keepdims=True))
        product = centred_transpose(self._X, self._center, r * self._weights[:, None])
        product /= self._X.shape[0]
        product[:, :-1] += self._l2 * packed[:, :-1]
        return product.ravel() * self._free

    def diagonal(self):
        X, center = self._X, self._center
        proba = self._proba
        d = self._weights[:, None] * proba * (1.0 - proba)
        squares = X.multiply(X) if sp.issparse(X) else X * X
        total = d.sum(axis=0)
        diagonal = np.empty((self._n_outputs, X.shape[1] + 1))
        diagonal[:, :-1] = (np.asarray(squares.T @ d).T
                            - 2.0 * center * np.asarray(X.T @ d).T
                            + total[:, None] * center**2)
        diagonal[:, -1] = total
        diagonal /= X.shape[0]
        diagonal[:, :-1] += self._l2
        return diagonal.ravel()


def _conjugate_gradient_direction(hessian, gradient, free):
    """Truncated Newton direction: CG on ``H d = -g``, Jacobi preconditioned.

    The residual tolerance tightens with the gradient (``min(0.1, sqrt|g|)``), so
    the steps converge superlinearly without solving far systems exactly.
    """
    diagonal = hessian.diagonal()
    diagonal[~(diagonal > 0.0) | ~free] = 1.0
    preconditioner = LinearOperator(hessian.shape, matvec=lambda v: v / diagonal,
                                    dtype=np.float64)
    norm = float(np.linalg.norm(gradient))
    rtol = min(0.1, np.sqrt(norm))
    direction, _ = cg(hessian, -gradient, rtol=rtol, maxiter=_MAX_CG_ITER,
                      M=preconditioner)
    return direction * free


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
    """Minimiser of the proximal Newton model over the free coordinates.

    A matrix-free Hessian (a ``LinearOperator`` such as :class:`HessianOperator`;
    no L1 term then) is solved by conjugate gradients.
    """
    if isinstance(hessian, LinearOperator):
        return _conjugate_gradient_direction(hessian, gradient, free)
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
    model, linear = _model(hessian, gradient, theta, l1, exact)
    # The model's minimiser has a linear part -d'Hd <= 0. On a nearly singular
    # Hessian (raw wine, L1 at C=1e4) the solve can return a huge step (1e7) whose
    # computed d'Hd is negative from rounding, so that its model value looks lower
    # than coordinate descent's while it is not a descent direction at all.
    if linear < 0.0 <= model - linear and (
        model <= _model(hessian, gradient, theta, l1, direction)[0]
    ):
        return exact
    return direction


def newton_model(hessian, gradient, theta, l1, free, value, tol):
    """Newton direction at ``theta``, its model value and the scaled optimality.

    Returns ``(direction, model, linear, optimality)``: the minimiser of the
    proximal Newton model, ``q(d)`` and its linear part, and ``sqrt(-2 q(d) / f)``
    for the objective value ``f`` (near the optimum ``-q(d)`` is the distance of
    the objective to its minimum). ``tol`` sets how finely the L1 model is solved.
    """
    target = 0.5 * tol**2 * abs(value)
    direction = newton_direction(hessian, gradient, theta, l1, free, 1e-3 * target)
    model, linear = _model(hessian, gradient, theta, l1, direction)
    optimality = np.sqrt(max(-2.0 * model, 0.0) / abs(value)) if value else 0.0
    return direction, model, linear, optimality


def proximal_newton(objective, derivatives, theta, l1, free, tol, max_iter, record,
                    total_iter=None):
    """Proximal Newton steps from ``theta`` (updated in place) to the optimum.

    ``objective(theta)`` is the exact penalised objective and ``derivatives(theta)``
    the gradient and Hessian of its smooth part; ``l1`` holds the L1 strength of
    each coordinate. The fit stops when the model's predicted decrease ``-q(d)``,
    which near the optimum is the distance of the objective to its minimum (half
    the squared norm of the minimum-norm subgradient in the metric of the inverse
    Hessian), is at most ``tol**2 / 2`` times the objective: the scale-free
    criterion ``sqrt(-2 q(d) / f) <= tol``. ``record(value)`` is called after each
    step. ``total_iter``, the estimator's whole budget of which ``max_iter`` steps
    remain, is the ``max_iter`` the message names (default ``max_iter``).

    Returns None on success, else why the fit stopped short.
    """
    total_iter = max_iter if total_iter is None else total_iter
    value = objective(theta)
    for iteration in range(max_iter + 1):
        gradient, hessian = derivatives(theta)
        direction, model, linear, optimality = newton_model(
            hessian, gradient, theta, l1, free, value, tol)
        if not np.isfinite(model):
            return ("met a non-finite Newton step; scale X or raise the penalty "
                    "(lower C).")
        if -model <= 0.5 * tol**2 * abs(value):
            # Converged. The step is already computed: take it, since near the
            # optimum its decrease is below rounding while it still cuts the
            # gradient quadratically (on raw breast_cancer with weak L1, from a
            # subgradient 6e-4 of the L1 strength to 3e-10). Whether the computed
            # objective rises is rounding noise there (12 ulps for a predicted
            # decrease of 0.02 ulp, measured), so a step that seems to raise it
            # is taken if the model at the new point certifies it as well.
            candidate = theta + direction
            new_value = objective(candidate)
            accept = new_value <= value + 8.0 * np.finfo(float).eps * abs(value)
            if not accept and np.isfinite(new_value):
                new_gradient, new_hessian = derivatives(candidate)
                new_model = newton_model(new_hessian, new_gradient, candidate, l1,
                                         free, new_value, tol)[1]
                accept = np.isfinite(new_model) and -new_model <= -model
            if accept:
                theta[:] = candidate
                record(new_value)
            return None
        if iteration == max_iter:
            return (f"stopped at max_iter={total_iter} with a scaled subgradient "
                    f"of {optimality:.2g} > tol; increase max_iter or tol.")
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
