"""Exact duals of the Wasserstein-robust linear softmax classifier, and their solvers.

Notation: rows ``x_i`` (centred by their weighted mean: the intercept absorbs the
shift, and the transport cost only sees differences), weights ``s_i`` summing to one,
logits ``z_i = W x_i + b``. Binary problems have one output (the logit of the
positive class, ``y_i`` in {0, 1}); multiclass ones an output per class.

With transport cost ``||x - x'||_2`` and labels that do not move (``kappa = inf``),
the worst-case expected loss over the Wasserstein-1 ball of radius ``r`` equals the
empirical loss plus ``r`` times the Lipschitz constant of the loss in ``x``
(Gao & Kleywegt 2016), which for the softmax cross-entropy is
``max_{k, l} ||w_k - w_l||_2`` (``||w||_2`` for one output). The matrix norms below
bound it: ``||w_k - w_l||_2 <= sqrt(2) ||W||_2 <= sqrt(2) ||W||_F, sqrt(2) ||W||_*``,
so ``loss + r sqrt(2) ||W||`` is a certified upper bound of the worst-case risk,
exact for two classes; see the user guide for the derivation.

``fista`` solves ``min loss(W, b) + rho ||W||`` with the exact prox of the norm and a
certified duality gap; ``binary_label_flip`` solves the binary dual with a finite
label-flip cost by a primal barrier (path-following Newton) method whose gap is
certified by the central path.
"""

import numpy as np
from numpy.linalg import LinAlgError
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit, log_expit, xlogy

from ._kernels import (
    add_packed_blocks,
    add_pair_cone_hessian,
    fista_steps,
    logistic_loss_residuals,
    matrix_prox,
    softmax_loss_residuals,
)

# Norm of the coefficient matrix -> its dual norm (used for the dual certificate
# and for the critical radius).
# The step may grow past the global bound 1 / L (local curvature of a well-fitted
# softmax is far below it), by this factor per iteration, up to this ratio.
_GROW, _MAX_STEP_RATIO = 1.25, 1e4

# Barrier parameter growth of the pairwise solver: fewer Newton steps than tenfold
# (52 instead of 69 on 10-class digits at tol=1e-7).
_PAIRWISE_GROWTH = 30.0
# Newton decrement (per barrier degree) that ends a centring before the last one
# on that schedule; the last one stops at :func:`_final_centring`. (Started on
# the path's tangent, 20 and 0.1 took 18 Newton steps on 10-class digits instead
# of 26, but left the last centring crawling for thousands of steps at a radius
# of 1e-6 r*, where the path moves lam slowly: not kept.)
_LOOSE_CENTRING = 1e-2
# The last barrier parameter of that schedule sits this fraction past
# ``degree / tol``, so the last centring may stop at the decrement that
# :func:`_final_centring` allows (the gap bound still below tol).
_FINAL_MARGIN = 0.15
# Halvings of a path extrapolation that leaves the barrier's domain.
_EXTRAPOLATION_TRIES = 6

DUAL_NORMS = {"l2": "l2", "frobenius": "frobenius", "spectral": "nuclear",
              "nuclear": "spectral"}


def matrix_norm(W, norm):
    """The norm ``norm`` of the coefficient matrix ``W`` (one row: the l2 norm)."""
    if norm in ("l2", "frobenius"):
        return float(np.sqrt(np.sum(W * W)))
    singular = np.linalg.svd(W, compute_uv=False)
    return float(singular.max(initial=0.0) if norm == "spectral" else singular.sum())


# Norm -> code of the prox kernels in ._kernels.
_NORM_CODES = {"l2": 0, "frobenius": 0, "nuclear": 1, "spectral": 2}


def prox_norm(V, threshold, norm):
    """Exact prox of ``threshold * ||.||`` at ``V``.

    l2/Frobenius: block soft-thresholding; nuclear: singular-value thresholding;
    spectral: ``V`` minus its projection onto the nuclear-norm ball of radius
    ``threshold`` (Moreau), i.e. singular values projected onto an l1 ball.
    """
    return matrix_prox(np.ascontiguousarray(V, dtype=np.float64), float(threshold),
                       _NORM_CODES[norm])


def _blocks(n_columns, rho, split):
    """``(columns, radius)`` of each penalised block of the coefficient matrix.

    One block (``split=None``): ``rho ||W||``. Two blocks (the primary and the
    auxiliary weights of :func:`fista` with an auxiliary ball): columns before
    ``split`` get ``rho[0]``, the others ``rho[1]``.
    """
    if split is None:
        return [(slice(0, n_columns), rho)]
    return [(slice(0, split), rho[0]), (slice(split, n_columns), rho[1])]


def block_penalty(W, rho, norm, split=None):
    """``sum_b rho_b ||W_b||`` over the blocks of :func:`_blocks`."""
    return sum(radius * matrix_norm(W[:, columns], norm)
               for columns, radius in _blocks(W.shape[1], rho, split))


def loss_residuals(Z, Y, weights, binary):
    """Weighted mean loss at logits ``Z`` and its derivative in ``Z`` (per row).

    ``Y`` holds 0/1 labels (binary, one column) or the one-hot matrix; ``Z`` must
    be a fresh C-contiguous float64 array (a product), as the kernels expect.
    """
    R = np.empty_like(Z)
    kernel = logistic_loss_residuals if binary else softmax_loss_residuals
    return kernel(Z, Y, weights, R), R


def _negative_entropy(Q, binary):
    if binary:
        return (xlogy(Q, Q) + xlogy(1.0 - Q, 1.0 - Q))[:, 0]
    return np.sum(xlogy(Q, Q), axis=1)


def refit_intercept(offsets, Y, weights, b, binary, max_steps=20):
    """Intercept minimising the loss for fixed offsets ``X W'``, by damped Newton.

    At the result the weighted residuals sum to zero (to rounding), which the dual
    certificate needs.
    """
    b = b.copy()
    value, R = loss_residuals(offsets + b, Y, weights, binary)
    for _ in range(max_steps):
        gradient = weights @ R
        if np.abs(gradient).max() <= 1e-13:
            break
        P = R + Y
        if binary:
            hessian = np.array([[weights @ (P[:, 0] * (1.0 - P[:, 0]))]])
        else:
            hessian = np.diag(weights @ P) - (P * weights[:, None]).T @ P
        # The softmax intercepts have one free direction (a common shift): lstsq.
        step = -np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        scale = 1.0
        while scale > 1e-12:
            candidate = b + scale * step
            new_value, new_R = loss_residuals(offsets + candidate, Y, weights, binary)
            if new_value <= value + 1e-4 * scale * (gradient @ step):
                break
            # Near the optimum the decrease is below rounding and Armijo cannot
            # see it: accept a step that halves the residual sum without raising
            # the loss beyond rounding, instead of halving the step 40 times.
            if np.abs(weights @ new_R).max() <= 0.5 * np.abs(gradient).max() and \
                    new_value <= value + 1e-14 * abs(value):
                break
            scale *= 0.5
        else:
            break
        if new_value >= value and np.abs(weights @ new_R).max() >= np.abs(
                gradient).max():
            break
        b, value, R = candidate, new_value, new_R
    return b, value, R


def duality_gap(X, Y, weights, W, b, rho, norm, binary, fit_intercept, split=None):
    """Primal objective, certified duality gap, and the intercept used.

    The dual of ``min_{W, b} sum_i s_i loss(z_i) + rho ||W||`` is
    ``max -sum_i s_i loss*(theta_i)`` over ``theta`` with ``sum_i s_i theta_i = 0``
    (when the intercept is fitted) and ``||sum_i s_i theta_i x_i'||_dual <= rho``;
    ``loss*`` is the negative entropy of ``theta_i + y_i`` on the simplex. The
    residuals at the current point, scaled into the dual ball, are feasible once the
    intercept has been refitted for the current ``W``. With two blocks
    (``split``) the dual ball is the product of the blocks' balls.
    """
    offsets = X @ W.T
    if fit_intercept:
        b, loss, R = refit_intercept(offsets, Y, weights, b, binary)
    else:
        loss, R = loss_residuals(offsets + b, Y, weights, binary)
    primal = loss + block_penalty(W, rho, norm, split)
    if fit_intercept:
        # Shift every residual by their weighted mean (the rounding left by the
        # refit): the dual constraint then holds exactly. Rows of X have weighted
        # mean zero, so the gradient in W is unchanged; rows of a softmax residual
        # sum to zero, so the shifted point stays in the entropy's domain (up to a
        # clip at rounding level).
        R = R - weights @ R
    gradient = (R * weights[:, None]).T @ X
    scale = 1.0
    for columns, radius in _blocks(X.shape[1], rho, split):
        size = matrix_norm(gradient[:, columns], DUAL_NORMS[norm])
        scale = min(scale, 1.0 if size <= radius else radius / size)
    dual = -weights @ _negative_entropy(np.clip(Y + scale * R, 0.0, 1.0), binary)
    return primal, max(primal - dual, 0.0), b


def intersection_radii(radius, radius_auxiliary, distance):
    """Block radii of the certified bound over two intersected, paired balls.

    Row ``i`` has a primary point ``x_i`` and an auxiliary partner ``a_i`` at
    distance ``d_i``; ``distance`` is the weighted mean ``sum_i s_i d_i``. Splitting
    the weights ``W = W_P + W_A`` and using that the loss is 1-Lipschitz in the
    logit differences, row ``i``'s inner supremum is at most
    ``loss(W_P x_i + W_A a_i) + d_i max(|W_P| - lam_P, |W_A| - lam_A)`` whenever
    ``|W_P| + |W_A| <= lam_P + lam_A``. Minimising ``lam_P r_P + lam_A r_A`` plus
    that bound over the multipliers leaves ``rho_P |W_P| + rho_A |W_A|`` with
    ``rho_P = min(r_P, r_A + distance)`` and ``rho_A = min(r_A, r_P + distance)``,
    provided ``distance <= r_P + r_A`` (otherwise the paired balls do not meet and
    the bound is unbounded below). Derivation in the user guide.
    """
    return (min(radius, radius_auxiliary + distance),
            min(radius_auxiliary, radius + distance))


def critical_radius_gradient(X, Y, weights, binary, fit_intercept):
    """Gradient in ``W`` of the loss at ``W = 0`` with the optimal intercept."""
    offsets = np.zeros((X.shape[0], Y.shape[1]))
    b0 = np.zeros(Y.shape[1])
    if fit_intercept:
        _, _, R = refit_intercept(offsets, Y, weights, b0, binary)
    else:
        _, R = loss_residuals(offsets, Y, weights, binary)
    return (R * weights[:, None]).T @ X


def fista(X, Y, weights, rho, norm, binary, fit_intercept, tol, max_iter,
          check_every=20, verbose=0, split=None):
    """Accelerated proximal gradient with adaptive restart on the penalised loss.

    The step is backtracked from an upper bound of the curvature (the softmax
    Hessian is at most 1/2, the logistic one 1/4, times the largest eigenvalue of
    the weighted Gram matrix of ``[X, 1]``) and allowed to grow again; momentum
    restarts when the step turns against the last move (O'Donoghue & Candes
    2015). Every ``check_every`` iterations the intercept is refitted and the
    duality gap evaluated (a check costs about three iterations); the fit stops
    when the gap is at most ``tol``. The iterations in between run in the kernel
    :func:`._kernels.fista_steps`. With ``split`` the
    penalty is ``rho[0] ||W[:, :split]|| + rho[1] ||W[:, split:]||`` (the bound of
    the intersected balls; see :func:`intersection_radii`).

    Returns ``W, b, objective, gap, n_iter``.
    """
    n_outputs = Y.shape[1]
    n_features = X.shape[1]
    curvature = 0.25 if binary else 0.5
    gram = (X * weights[:, None]).T @ X
    lipschitz = curvature * (max(np.linalg.eigvalsh(gram)[-1], 0.0)
                             + (1.0 if fit_intercept else 0.0))
    lipschitz = max(lipschitz, 1e-12)
    step_size = 1.0 / lipschitz
    W = np.zeros((n_outputs, n_features))
    b = np.zeros(n_outputs)
    if fit_intercept:
        b = refit_intercept(np.zeros((X.shape[0], n_outputs)), Y, weights, b,
                            binary)[0]
    W_prev, b_prev = W.copy(), b.copy()
    XW, XW_prev = np.zeros((X.shape[0], n_outputs)), np.zeros((X.shape[0], n_outputs))
    state = np.array([1.0, step_size])  # momentum, step size
    radii = np.array([rho, 0.0]) if split is None else np.asarray(rho, dtype=float)
    objective, gap = np.inf, np.inf
    best_dual = -np.inf
    iteration = 0
    while iteration < max_iter:
        # The iterations between two checks run in one kernel call.
        steps = min(check_every, max_iter - iteration)
        fista_steps(X, Y, weights, radii, n_features if split is None else split,
                    _NORM_CODES[norm], binary, fit_intercept, lipschitz, _GROW,
                    _MAX_STEP_RATIO / lipschitz, W, W_prev, b, b_prev, XW, XW_prev,
                    state, steps)
        iteration += steps
        objective, gap, b_fit = duality_gap(X, Y, weights, W, b, rho, norm,
                                            binary, fit_intercept, split)
        # Every dual value is a lower bound of the optimum: keep the best.
        best_dual = max(best_dual, objective - gap)
        gap = max(objective - best_dual, 0.0)
        if verbose:
            print(f"iteration {iteration}: objective {objective:.10g}, "
                  f"duality gap {gap:.3g}")
        if fit_intercept:
            b[:] = b_fit
            b_prev[:] = b_fit
        if gap <= tol:
            return W, b, objective, gap, iteration
    return W, b, objective, gap, max_iter


def _path_gap(degree, decrement, t):
    """Bound on the suboptimality of a point at barrier parameter ``t``.

    With a barrier of degree ``nu`` and Newton decrement ``beta^2 = decrement``
    (``beta < 1``), the point is within ``(nu + (beta + sqrt(nu)) beta / (1 -
    beta)) / t`` of the optimum (Nesterov 2004, Theorem 4.2.7, approximate
    centring): the ``sqrt(nu) beta`` term, up to ``1e-3 nu`` at the centring
    threshold, is what separates an almost central point from the central one.
    Infinite (uncertified) for ``beta >= 1``.
    """
    beta = np.sqrt(max(decrement, 0.0))
    if beta >= 1.0:
        return np.inf
    return (degree + (beta + np.sqrt(degree)) * beta / (1.0 - beta)) / t


def _next_t(t, degree, tol, growth):
    """The next barrier parameter: ``growth * t``, or the last one needed.

    The last one is ``(1 + _FINAL_MARGIN) degree / tol``: when ``growth * t``
    would land near it, jump there instead of stopping a hair short and paying
    one more centring. The margin lets the last centring stop at the decrement
    of :func:`_final_centring` (fewer Newton steps than centring to ``1e-6
    degree`` just past ``degree / tol``). (The label-flip solvers keep the
    plain tenfold schedule: their collapse test reads the multiplier at the
    last centred point.)
    """
    target = degree * (1.0 + _FINAL_MARGIN) / tol
    grown = growth * t
    return grown if 3.0 * grown < target else max(target, 2.0 * t)


def _final_centring(degree):
    """Decrement that ends the last centring of the growth schedule.

    The largest ``beta^2 <= 1/4`` whose extra term ``(beta + sqrt(nu)) beta /
    (1 - beta)`` in :func:`_path_gap` is at most ``0.9 _FINAL_MARGIN nu``: at
    ``t = (1 + _FINAL_MARGIN) nu / tol`` the gap bound is then below tol.
    """
    extra = 0.9 * _FINAL_MARGIN * degree
    # Root of beta^2 + (sqrt(nu) + extra) beta - extra = 0.
    linear = np.sqrt(degree) + extra
    beta = 2.0 * extra / (linear + np.sqrt(linear * linear + 4.0 * extra))
    return min(beta * beta, 0.25)


def _barrier_slack(a, d):
    """Minimise ``a h - log h - log(h - d)`` over ``h > max(0, d)`` in closed form.

    Returns the value, its first and second derivatives in ``d`` (by the envelope
    theorem), computed without cancellation for large ``|a d|``.
    """
    u = a * d
    q = np.sqrt(u * u + 4.0)
    positive = u >= 0
    safe_pos = np.where(positive, q + u, 1.0)
    safe_neg = np.where(positive, 1.0, q - u)
    h = np.where(positive, u + 2.0 + q, 2.0 + 4.0 / safe_neg) / (2.0 * a)
    gap = np.where(positive, 2.0 + 4.0 / safe_pos, 2.0 - u + q) / (2.0 * a)
    value = a * h - np.log(h) - np.log(gap)
    first = 1.0 / gap
    second = first * first * (q - u) / (2.0 * q)
    return value, first, second


def binary_label_flip(X, y_sign, weights, radius, kappa, fit_intercept, tol,
                      max_iter, verbose=0):
    """Binary robust logistic regression with label-flip cost ``kappa``.

    Solves the dual of Shafieezadeh-Abadeh, Kuhn & Mohajerin Esfahani (2015)
    with cost ``||x - x'||_2 + kappa [y != y']``::

        min_{w, b, lam >= ||w||_2}  r lam + sum_i s_i max(l(z_i), l(-z_i) - kappa lam)
                                  = r lam + sum_i s_i [l(z_i) + (z_i - kappa lam)_+]

    with ``z_i = y_i (w'x_i + b)``, ``l(z) = log(1 + exp(-z))``. The hinge slacks are
    minimised in closed form inside a log barrier, ``lam >= ||w||`` gets the barrier
    ``-log(lam^2 - ||w||^2)``, and Newton's method follows the central path. With
    ``m = 2 n + 2`` barrier degrees the point at parameter ``t`` is within ``m / t``
    of the optimum, which certifies the gap. Rows must have positive weight.

    Returns ``w, b, lam, objective, gap, n_newton_steps`` (``None`` objective when
    ``max_iter`` Newton steps did not reach ``tol``).
    """
    n_samples, n_features = X.shape
    dim = n_features + 2
    design = np.empty((n_samples, dim))
    design[:, :n_features] = X * y_sign[:, None]
    design[:, n_features] = y_sign if fit_intercept else 0.0
    design[:, n_features + 1] = -kappa  # d_i = z_i - kappa lam
    z_design = design.copy()
    z_design[:, n_features + 1] = 0.0
    degree = 2.0 * n_samples + 2.0
    signs = np.ones(dim)
    signs[:n_features] = -1.0
    signs[n_features] = 0.0  # the intercept is not in the cone

    def barrier(v, t, derivatives):
        z = z_design @ v
        d = design @ v
        lam = v[-1]
        cone = lam * lam - v[:n_features] @ v[:n_features]
        if not (cone > 0.0 and lam > 0.0 and np.isfinite(cone)):
            return np.inf, None, None
        a = t * weights
        slack, first, second = _barrier_slack(a, d)
        value = (t * radius * lam + t * weights @ (-log_expit(z)) + slack.sum()
                 - np.log(cone))
        if not derivatives:
            return value, None, None
        logistic_first = -t * weights * expit(-z)
        logistic_second = t * weights * expit(z) * expit(-z)
        # z_design is design without its last (lam) column: one product of
        # design for both terms, then the logistic term's lam row and column
        # taken out again.
        gradient = design.T @ (logistic_first + first)
        gradient[-1] += t * radius + kappa * np.sum(logistic_first)
        hessian = (design * (logistic_second + second)[:, None]).T @ design
        lam_column = kappa * (design.T @ logistic_second)
        hessian[:, -1] += lam_column
        hessian[-1, :] += lam_column
        hessian[-1, -1] += kappa * kappa * np.sum(logistic_second)
        signed = signs * v
        gradient += -2.0 * signed / cone
        hessian += (-2.0 * np.diag(signs) / cone
                    + 4.0 * np.outer(signed, signed) / cone**2)
        return value, gradient, hessian

    free = np.ones(dim, dtype=bool)
    free[n_features] = fit_intercept
    v = np.zeros(dim)
    v[-1] = 1.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v, gap, steps = _central_path(barrier, v, free, degree, tol, max_iter,
                                      verbose)
    w, b, lam = v[:n_features], v[n_features], v[-1]
    z = z_design @ v
    hinge = np.maximum(z - kappa * lam, 0.0)
    objective = radius * lam + weights @ (-log_expit(z) + hinge)
    return w, b, lam, float(objective), float(gap), steps


def newton_l2(X, y, weights, w, b, rho, fit_intercept, tol, max_iter):
    """Damped Newton finish for the binary problem ``loss + rho ||w||_2``.

    Below the critical radius the optimum has ``w != 0``, where the objective is
    twice differentiable (the Hessian of ``||w||`` is ``(I - u u') / ||w||``, with
    ``u = w / ||w||``): Newton's method then converges quadratically whatever the
    scaling of the features, where first-order steps crawl. Stops on the certified
    duality gap of :func:`duality_gap`.

    Returns ``w, b, objective, gap, n_steps``.
    """
    Y = np.ascontiguousarray(y[:, None])
    n_features = X.shape[1]
    design = np.hstack([X, np.ones((X.shape[0], 1))])
    theta = np.append(w, b)
    free = np.ones(n_features + 1, dtype=bool)
    free[-1] = fit_intercept

    def value(theta):
        loss, _ = loss_residuals(design @ theta[:, None], Y, weights, True)
        return loss + rho * np.linalg.norm(theta[:n_features])

    current = value(theta)
    objective, gap = current, np.inf
    for step_count in range(max_iter + 1):
        objective, gap, b_fit = duality_gap(
            X, Y, weights, theta[None, :n_features], theta[n_features:], rho, "l2",
            True, fit_intercept)
        if gap <= tol or step_count == max_iter:
            break
        theta[n_features] = b_fit[0]
        current = value(theta)
        w = theta[:n_features]
        size = np.linalg.norm(w)
        if size == 0:
            break
        _, R = loss_residuals(design @ theta[:, None], Y, weights, True)
        p = R[:, 0] + y
        gradient = design.T @ (weights * R[:, 0])
        hessian = (design * (weights * p * (1.0 - p))[:, None]).T @ design
        unit = w / size
        gradient[:n_features] += rho * unit
        hessian[:n_features, :n_features] += rho * (
            np.eye(n_features) - np.outer(unit, unit)) / size
        direction = np.zeros_like(theta)
        sub = np.ix_(free, free)
        direction[free] = -np.linalg.lstsq(hessian[sub], gradient[free],
                                           rcond=None)[0]
        slope = gradient @ direction
        scale = 1.0
        while scale > 1e-12:
            candidate = theta + scale * direction
            new = value(candidate)
            if new <= current + 1e-4 * scale * slope:
                break
            scale *= 0.5
        else:
            break  # no decrease representable: return with the gap measured
        theta = candidate
    return theta[None, :n_features], theta[n_features:], objective, gap, step_count


def _pair_cones(W, lam, pairs, stride, dim, derivatives=True):
    """Barrier ``-sum_pairs log(lam^2 - ||w_k - w_l||^2)`` with its derivatives.

    ``W`` has one row per class; coordinates follow the layout ``(class k:
    coefficients, then intercept)`` of length ``K * stride``, then ``lam``. A
    shorter ``dim`` drops the last classes from the derivatives (classes held
    fixed by the caller). ``derivatives="gradient"`` leaves the Hessian out
    (None). Returns ``inf`` (and None) outside the cones.
    """
    n_classes, n_features = W.shape
    first = np.array([k for k, _ in pairs])
    second = np.array([l for _, l in pairs])
    differences = W[first] - W[second]
    cones = lam * lam - np.sum(differences * differences, axis=1)
    if not (lam > 0.0 and np.all(cones > 0.0)):
        return np.inf, None, None
    value = -np.sum(np.log(cones))
    if not derivatives:
        return value, None, None
    # Pair p = (k, l) adds (D_p D_p') kron (2 I / c_p + s_p s_p') to the
    # coefficient Hessian, with D_p = e_k - e_l and s_p = 2 d_p / c_p: the
    # Laplacian D' diag(2 / c) D kron I, plus s_p s_p' in blocks (k, k) and
    # (l, l) and minus it in blocks (k, l) and (l, k).
    n_kept = (dim - 1) // stride
    incidence = np.zeros((len(pairs), n_classes))
    rows = np.arange(len(pairs))
    incidence[rows, first] = 1.0
    incidence[rows, second] = -1.0
    inverse = 1.0 / cones
    scaled = differences * (2.0 * inverse)[:, None]
    size = n_kept * stride
    gradient = np.zeros(dim)
    gradient[:size].reshape(n_kept, stride)[:, :n_features] = (
        incidence[:, :n_kept].T @ scaled)
    gradient[-1] = -2.0 * lam * inverse.sum()
    if derivatives == "gradient":
        return value, gradient, None
    hessian = np.zeros((dim, dim))
    add_pair_cone_hessian(hessian, scaled, inverse, first, second, float(lam),
                          n_kept, stride)
    return value, gradient, hessian


def _newton_solve(hessian, gradient, rebuild):
    """Solve ``hessian d = gradient``: Cholesky, least squares if not definite.

    Inside the cones the barrier Hessian is positive definite; a Cholesky
    factorisation costs a fraction of the SVD behind ``lstsq``, which remains the
    fallback for a Hessian singular to rounding. ``hessian`` must be a fresh
    symmetric array: it is factorised in place through its transpose, which is in
    the Fortran order LAPACK works in (no copy: 2.2 ms instead of 3.1 ms at
    586 x 586), and ``rebuild()`` gives it again for the fallback. Returns the
    solution and the factor (None after the fallback).
    """
    try:
        factor = cho_factor(hessian.T, overwrite_a=True, check_finite=False)
        return cho_solve(factor, gradient, check_finite=False), factor
    except LinAlgError:
        return np.linalg.lstsq(rebuild(), gradient, rcond=None)[0], None


def _central_path(barrier, v, free, degree, tol, max_iter, verbose, growth=None,
                  tangent=False, first_t=None):
    """Damped Newton along the central path of ``barrier(v, t, derivatives)``.

    ``t`` grows tenfold once the point is centred (with ``growth``: by that
    factor, landing on the last ``t`` needed, see :func:`_next_t`, and centring
    loosely until that last ``t``); the point at ``t`` is within
    :func:`_path_gap` of the optimum. Each centring starts from a point
    extrapolated along the path: with ``tangent`` (``barrier(v, t,
    "gradient")`` then returns the value and gradient only) along its tangent,
    otherwise through the last two centred points. ``first_t`` is the first
    barrier parameter (default ``degree``; larger for a warm start near the
    optimum). Returns ``v, gap, steps``.
    """
    t = degree if first_t is None else max(first_t, degree)
    steps = 0
    decrement = np.inf
    # Without fixed coordinates the Hessian is solved as it is, not copied.
    sub = None if free.all() else np.ix_(free, free)

    def free_part(hessian):
        return hessian if sub is None else hessian[sub]

    previous = None
    while True:
        value, gradient, hessian = barrier(v, t, True)
        factor, remaining = None, 0.0
        # Only the last centring certifies the gap; the ones before only lead
        # there and stop at a looser decrement on the growth schedule (40 Newton
        # steps instead of 52 on 10-class digits, the same optimum).
        if growth is None:
            centred = min(1e-6 * degree, 0.25)
        else:
            centred = (_final_centring(degree) if degree / t <= tol
                       else _LOOSE_CENTRING * degree)
        while steps < max_iter:
            if not (np.isfinite(value) and np.all(np.isfinite(gradient))
                    and np.all(np.isfinite(hessian))):
                # Beyond what float64 resolves (extreme weights or scales): stop
                # at the last finite point, uncertified.
                return v, np.inf, steps
            direction = np.zeros_like(v)
            # The fallback's rebuild runs within this step, at this v and t.
            solved, factor = _newton_solve(
                free_part(hessian), gradient[free],
                lambda: free_part(barrier(v, t, True)[2]))  # noqa: B023
            direction[free] = -solved
            decrement = -gradient @ direction
            if decrement <= centred:
                remaining = direction
                break
            step = 1.0
            while step > 1e-14:
                new_value = barrier(v + step * direction, t, False)[0]
                if new_value <= value - 0.25 * step * decrement:
                    break
                step *= 0.5
            else:
                break
            steps += 1
            resolved = value - new_value <= 1e-15 * abs(value)
            v = v + step * direction
            value, gradient, hessian = barrier(v, t, True)
            if resolved:
                break  # the step's gain is below rounding: as central as it gets
        gap = _path_gap(degree, decrement, t)
        if verbose:
            print(f"barrier t={t:.3g}: {steps} Newton steps, gap bound {gap:.3g}")
        if gap <= tol or steps >= max_iter:
            return v, gap, steps
        t_next = 10.0 * t if growth is None else _next_t(t, degree, tol, growth)
        guess = None
        if tangent and factor is not None:
            # The gradient is t g0 + (the barrier's), so differentiating the
            # centring condition in t gives the tangent v' = -H^{-1} g0 (H from
            # the last step's factor); on v* + c / t the point at t_next is
            # v + t (1 - t / t_next) v', after the Newton step still pending at
            # v (a loose centring stops short of the path).
            objective_gradient = (barrier(v, 2.0 * t, "gradient")[1] - gradient) / t
            slope = np.zeros_like(v)
            slope[free] = -cho_solve(factor, objective_gradient[free],
                                     check_finite=False)
            guess = v + remaining + t * (1.0 - t / t_next) * slope
        elif previous is not None:
            # Central points approach the optimum like v* + c / t: the secant
            # through the last two.
            ratio = (1.0 / t_next - 1.0 / t) / (1.0 / t - 1.0 / previous[1])
            guess = v + ratio * (v - previous[0])
        previous = (v, t)
        # Shorten the tangent's extrapolation until it stays in the barrier's
        # domain and lowers the next centring's objective (the secant's is
        # dropped at once when it leaves the domain, as before).
        tries = _EXTRAPOLATION_TRIES if tangent else 1
        start = barrier(v, t_next, False)[0] if tangent else np.inf
        for _ in range(tries if guess is not None else 0):
            if barrier(guess, t_next, False)[0] < start:
                v = guess
                break
            guess = 0.5 * (v + guess)
        t = t_next


def _pair_layout(n_features, n_classes, fit_intercept):
    """Flat layout of ``(W, b, lam)`` in the pairwise barrier solvers.

    Class ``k`` holds ``w_k`` then ``b_k`` at ``[k stride, (k + 1) stride)`` and
    ``lam`` comes last; the last class is held at zero, and so is every ``b_k``
    without an intercept. Returns ``stride, dim, pairs, free``.
    """
    stride = n_features + 1
    dim = n_classes * stride + 1
    pairs = [(k, l) for k in range(n_classes) for l in range(k + 1, n_classes)]
    free = np.ones(dim, dtype=bool)
    free[(n_classes - 1) * stride:n_classes * stride] = False
    if not fit_intercept:
        free[n_features:n_classes * stride:stride] = False
    return stride, dim, pairs, free


def _unpack(v, n_classes, n_features):
    """``W, b, lam`` of a flat vector laid out by :func:`_pair_layout`."""
    packed = v[:-1].reshape(n_classes, n_features + 1)
    return packed[:, :n_features], packed[:, n_features], v[-1]


# Rows per chunk of the packed outer products in :func:`_softmax_derivatives`,
# so that a chunk holds at most this many numbers (32 MB).
_OUTER_BUDGET = 4_000_000


def _packed_outer(design):
    """Upper triangles of the outer products ``d_i d_i'`` of the rows, packed.

    Every block of the softmax Hessian is a weighted sum of these products, so
    with them at hand all blocks come out of one matrix product per chunk of rows.
    """
    upper = np.triu_indices(design.shape[1])
    return design[:, upper[0]] * design[:, upper[1]]


def _softmax_derivatives(design, R, Y, weights, n_free, packed=None, scale=1.0,
                         add_to=None):
    """Gradient and Hessian of the weighted softmax loss in the first ``n_free``
    classes' ``(coefficients, intercept)``, class after class.

    ``R`` holds the residuals ``P - Y``. Block ``(k, m)`` is
    ``design' diag(s p_k (delta_km - p_m)) design``, the solver never needing the
    classes held fixed. The blocks of the upper triangle are the products of the
    curvatures of all class pairs with the packed outer products of the rows
    (:func:`_packed_outer`, passed as ``packed`` when the caller keeps them, or
    formed here chunk by chunk): one matrix product instead of one per block.
    With ``add_to`` (a square array), ``scale`` times the Hessian is added to it
    block by block and ``add_to`` is returned in its place.
    """
    P = R + Y
    n_samples, stride = design.shape
    weighted = P[:, :n_free] * weights[:, None]
    gradient = ((R[:, :n_free] * weights[:, None]).T @ design).ravel()
    first, second = np.triu_indices(n_free)
    curvature = -weighted[:, first] * P[:, second]
    on_diagonal = first == second
    curvature[:, on_diagonal] += weighted
    curvature *= scale
    if packed is not None:
        sums = curvature.T @ packed
    else:
        chunk = max(1, _OUTER_BUDGET // (stride * (stride + 1) // 2))
        sums = sum(curvature[start:start + chunk].T
                   @ _packed_outer(design[start:start + chunk])
                   for start in range(0, n_samples, chunk))
    hessian = np.zeros((n_free * stride,) * 2) if add_to is None else add_to
    # Each block is symmetric: block (m, k) = block (k, m)' = block (k, m).
    add_packed_blocks(hessian, sums, first, second, stride)
    return gradient, hessian


def multiclass_exact(X, Y, weights, radius, fit_intercept, tol, max_iter,
                     verbose=0):
    """The exact multiclass dual with labels fixed, by a barrier method.

    Solves ``min_{W, b, lam} r lam + sum_i s_i loss(W x_i + b)`` subject to
    ``||w_k - w_l||_2 <= lam`` for every pair of classes: the worst-case risk
    itself, whose Lipschitz constant in ``x`` is ``max_{k,l} ||w_k - w_l||``.
    Each pair gets the barrier ``-log(lam^2 - ||w_k - w_l||^2)`` (degree 2), the
    softmax loss its exact Hessian, and Newton's method follows the central path.
    The last class is held at ``w_K = 0, b_K = 0`` (logits and pairwise
    differences only matter up to a common shift).

    Returns ``W, b, objective, gap, n_newton_steps``.
    """
    n_samples, n_features = X.shape
    K = Y.shape[1]
    stride, _, pairs, free = _pair_layout(n_features, K, fit_intercept)
    design = np.hstack([X, np.ones((n_samples, 1))])
    # The last class is held at zero and left out of the Newton variables: the
    # layout of _pair_layout without its last class (no copy of the free part
    # of the Hessian per step).
    size = (K - 1) * stride
    dim = size + 1
    free = np.append(free[:size], True)
    packed = (_packed_outer(design) if n_samples * stride * (stride + 1) // 2
              <= _OUTER_BUDGET else None)

    def unpack(v):
        packed_v = np.zeros((K, stride))
        packed_v[:-1] = v[:-1].reshape(K - 1, stride)
        return packed_v[:, :n_features], packed_v[:, n_features], v[-1]

    def barrier(v, t, derivatives):
        W, b, lam = unpack(v)
        cone_value, gradient, hessian = _pair_cones(W, lam, pairs, stride, dim,
                                                    derivatives)
        if not np.isfinite(cone_value):
            return np.inf, None, None
        loss, R = loss_residuals(X @ W.T + b, Y, weights, False)
        value = t * (radius * lam + loss) + cone_value
        if derivatives == "gradient":
            g = ((R[:, :K - 1] * weights[:, None]).T @ design).ravel()
        elif derivatives:
            g, _ = _softmax_derivatives(design, R, Y, weights, K - 1, packed, t,
                                        hessian[:size, :size])
        if derivatives:
            gradient[:size] += t * g
            gradient[-1] += t * radius
        return value, gradient, hessian

    # Start from the best point with W = 0 at the first t = 2P: the intercepts
    # of the class frequencies and lam = argmin t r lam - 2P log lam = 1 / r
    # (33 Newton steps instead of 40 on 10-class digits from b = 0, lam = 1),
    # capped so that lam^2 stays far from overflow for radii tiny against the
    # scale of X.
    v = np.zeros(dim)
    frequencies = weights @ Y
    if fit_intercept and np.all(frequencies > 0):
        v[n_features:size:stride] = np.log(frequencies[:-1] / frequencies[-1])
    v[-1] = 1.0 / radius if radius > 1e-4 else 1e4
    v, gap, steps = _central_path(barrier, v, free, 2.0 * len(pairs), tol,
                                  max_iter, verbose, _PAIRWISE_GROWTH,
                                  tangent=True)
    W, b, _ = unpack(v)
    loss, _ = loss_residuals(X @ W.T + b, Y, weights, False)
    largest = max(np.linalg.norm(W[k] - W[l]) for k, l in pairs)
    return W.copy(), b.copy(), float(loss + radius * largest), float(gap), steps


def pairwise_dual_norm(G, tol=1e-10, max_iter=500):
    """Dual norm of ``W -> max_{k,l} ||w_k - w_l||_2`` at ``G`` (rows summing to 0).

    ``max <A, G>`` over matrices whose rows lie within distance 1 of each other,
    by the same barrier method (the last row held at 0: ``<A, G>`` ignores a
    common shift when the rows of ``G`` sum to zero). Returns an upper bound
    within ``tol`` of the value (the barrier's certified gap).

    With more columns than rows the problem is solved in the row space of ``G``
    (``G = U S V'``: the value at ``U S`` is the same): projecting ``A`` onto that
    space keeps ``<A, G>`` and shrinks every distance, so an optimal ``A`` lies
    in it, and the barrier has ``K`` coordinates per row instead of
    ``n_features``.
    """
    if G.shape[1] > G.shape[0]:
        U, singular, _ = np.linalg.svd(G, full_matrices=False)
        G = U * singular
    K, n_features = G.shape
    stride = n_features + 1
    dim = K * stride + 1
    pairs = [(k, l) for k in range(K) for l in range(k + 1, K)]
    free = np.zeros(dim, dtype=bool)
    for k in range(K - 1):
        free[k * stride:k * stride + n_features] = True
    linear = np.zeros(dim)
    linear[:-1] = -np.hstack([G, np.zeros((K, 1))]).ravel()

    def barrier(v, t, derivatives):
        W = v[:-1].reshape(K, stride)[:, :n_features]
        cone_value, gradient, hessian = _pair_cones(W, 1.0, pairs, stride, dim,
                                                    derivatives)
        if not np.isfinite(cone_value):
            return np.inf, None, None
        if derivatives:
            gradient += t * linear
        return t * (linear @ v) + cone_value, gradient, hessian

    v = np.zeros(dim)
    v[-1] = 1.0
    scale = max(float(np.abs(G).max()), 1e-300)
    linear /= scale
    v, gap, _ = _central_path(barrier, v, free, 2.0 * len(pairs), tol / scale,
                              max_iter, 0, _PAIRWISE_GROWTH, tangent=True)
    return scale * (-(linear @ v) + gap)


def _hinge_slacks(a, D):
    """Minimise ``a h - sum_l log(h - D_l)`` over ``h > max_l D_l``, row by row.

    Returns the value and ``g = 1 / (h - D)`` (the gradient in ``D``); the root of
    ``a = sum_l 1 / (h - D_l)`` is bracketed in ``(0, K / a]`` above ``max D`` and
    found by bisection on the offset, which keeps ``h - D_l`` free of cancellation.
    """
    top = D.max(axis=1)
    gaps = top[:, None] - D  # >= 0, exact
    low = np.zeros_like(top)
    high = D.shape[1] / a
    for _ in range(100):
        middle = 0.5 * (low + high)
        rising = a - np.sum(1.0 / (middle[:, None] + gaps), axis=1) > 0.0
        high = np.where(rising, middle, high)
        low = np.where(rising, low, middle)
        if np.all(high - low <= 1e-15 * high):
            break
    offset = high
    distance = offset[:, None] + gaps
    value = a * (top + offset) - np.sum(np.log(distance), axis=1)
    return value, 1.0 / distance


def multiclass_label_flip(X, Y, weights, radius, kappa, fit_intercept, tol,
                          max_iter, verbose=0):
    """The exact dual with label-flip cost ``kappa``, any number of classes.

    With cost ``||x - x'||_2 + kappa [y != y']`` the inner supremum of row ``i``
    compares its loss at ``y_i`` with the loss at every other label minus
    ``kappa lam``; for the softmax cross-entropy, ``loss(l) = loss(y) + z_y - z_l``,
    so the dual is::

        min r lam + sum_i s_i [loss_i + max(0, max_{l != y_i} z_iy - z_il - kappa lam)]
        subject to ||w_k - w_l||_2 <= lam for every pair (labels move too)

    The hinge slacks are minimised inside their log barriers row by row (the
    constraints ``h >= 0`` and ``h >= z_iy - z_il - kappa lam`` are linear), the
    cones get ``-log(lam^2 - ||w_k - w_l||^2)``, and Newton's method follows the
    central path (degree ``n K + 2 P``). The last class is held at zero.

    Returns ``W, b, lam, objective, gap, n_newton_steps``.
    """
    n_samples, n_features = X.shape
    K = Y.shape[1]
    stride, dim, pairs, free = _pair_layout(n_features, K, fit_intercept)
    design = np.hstack([X, np.ones((n_samples, 1))])
    other = 1.0 - Y  # labels a row may flip to
    rows = np.arange(n_samples)
    labels = np.argmax(Y, axis=1)

    def barrier(v, t, derivatives):
        W, b, lam = _unpack(v, K, n_features)
        cone_value, gradient, hessian = _pair_cones(W, lam, pairs, stride, dim,
                                                    derivatives)
        if not np.isfinite(cone_value):
            return np.inf, None, None
        Z = X @ W.T + b
        loss, R = loss_residuals(Z, Y, weights, False)
        # D_il = z_iy - z_il - kappa lam for l != y; D_iy = 0 is the h >= 0 side.
        D = (Z[rows, labels][:, None] - Z - kappa * lam) * other
        slack, g = _hinge_slacks(t * weights, D)
        value = t * (radius * lam + loss) + slack.sum() + cone_value
        if not derivatives:
            return value, None, None
        gflip = g * other
        # Gradient in the logits: d D_il / d z = e_y - e_l (l != y).
        logit_gradient = t * weights[:, None] * R - gflip
        logit_gradient[rows, labels] += gflip.sum(axis=1)
        curvature = g * g
        curvature_flip = curvature * other
        # Hessian of the slack value in D: diag(g^2) - g^2 g^2' / sum g^2, then
        # mapped to the logits through J = c e_y' - diag(c), c = other.
        total = curvature.sum(axis=1)
        J = -np.einsum("ik,kl->ikl", other, np.eye(K))
        J[rows, :, labels] += other
        HD = (np.einsum("ik,kl->ikl", curvature_flip, np.eye(K))
              - np.einsum("ik,il->ikl", curvature_flip, curvature_flip)
              / total[:, None, None])
        logit_hessian = np.einsum("ilk,ilm,imn->ikn", J, HD, J)
        P = R + Y
        logit_hessian += (t * weights)[:, None, None] * (
            np.einsum("ik,kl->ikl", P, np.eye(K)) - np.einsum("ik,il->ikl", P, P))
        # lam enters every flip constraint with coefficient -kappa.
        lam_row = -kappa * other
        cross = np.einsum("ilk,ilm,im->ik", J, HD, lam_row)
        gradient[:-1] += (logit_gradient.T @ design).ravel()
        gradient[-1] += t * radius + np.sum(gflip * lam_row)
        hessian[-1, -1] += np.einsum("il,ilm,im->", lam_row, HD, lam_row)
        cross_theta = (cross.T @ design).ravel()
        hessian[:-1, -1] += cross_theta
        hessian[-1, :-1] += cross_theta
        blocks = hessian[:-1, :-1].reshape(K, stride, K, stride)
        for k in range(K):
            for m in range(k, K):
                block = (design * logit_hessian[:, k, m, None]).T @ design
                blocks[k, :, m, :] += block
                if m != k:
                    blocks[m, :, k, :] += block.T
        return value, gradient, hessian

    v = np.zeros(dim)
    v[-1] = 1.0
    degree = float(n_samples * K + 2 * len(pairs))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v, gap, steps = _central_path(barrier, v, free, degree, tol, max_iter,
                                      verbose)
    W, b, lam = _unpack(v, K, n_features)
    Z = X @ W.T + b
    loss, _ = loss_residuals(Z, Y, weights, False)
    margins = (Z[rows, labels][:, None] - Z) * other
    hinge = np.maximum(margins.max(axis=1) - kappa * lam, 0.0)
    objective = radius * lam + loss + weights @ hinge
    return W.copy(), b.copy(), float(lam), float(objective), float(gap), steps
