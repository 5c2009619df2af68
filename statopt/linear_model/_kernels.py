"""Numba kernels of AdamLogisticRegression: minibatch epochs and full-data loss.

Parameters live in one flat vector ``theta`` of length
``n_outputs * (n_features + 1)``: row ``k`` holds the coefficients of output ``k``
followed by its intercept. A binary problem has one output (the logit of the positive
class); a multinomial one has an output per class (softmax, symmetric
parametrisation as in scikit-learn).

Kernels see the columns of ``X`` minus ``center`` (their means when an intercept is
fitted). Since the intercept is not penalised this is an exact reparametrisation, and
it removes the worst ill-conditioning of first-order methods (features far from zero)
without copying X.
"""

from typing import NamedTuple

import numpy as np

from .._numba import njit
from ..optim import compute_direction


@njit
def _log1pexp(z):
    # log(1 + exp(z)) without overflow.
    if z > 0.0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@njit
def _expit(z):
    if z >= 0.0:
        return 1.0 / (1.0 + np.exp(-z))
    ez = np.exp(z)
    return ez / (1.0 + ez)


@njit
def _loss_from_logits(y_i, n_outputs, residuals):
    """Log-loss of one row from its logits (held in ``residuals``), which are
    replaced by d loss / d logit for each output."""
    if n_outputs == 1:
        z = residuals[0]
        residuals[0] = _expit(z) - y_i
        return _log1pexp(z) - y_i * z
    label = int(y_i)
    label_z = residuals[label]
    max_z = -np.inf
    for k in range(n_outputs):
        if residuals[k] > max_z:
            max_z = residuals[k]
    total = 0.0
    for k in range(n_outputs):
        residuals[k] = np.exp(residuals[k] - max_z)
        total += residuals[k]
    for k in range(n_outputs):
        residuals[k] /= total
    residuals[label] -= 1.0
    return max_z + np.log(total) - label_z


@njit
def _row_loss_and_residuals(X, center, i, y_i, theta, n_outputs, residuals):
    """Log-loss of row ``i`` and d loss / d logit for each output."""
    n_features = X.shape[1]
    stride = n_features + 1
    for k in range(n_outputs):
        offset = k * stride
        z = theta[offset + n_features]
        for j in range(n_features):
            z += (X[i, j] - center[j]) * theta[offset + j]
        residuals[k] = z
    return _loss_from_logits(y_i, n_outputs, residuals)


@njit
def _sparse_row_loss_and_residuals(data, indices, indptr, i, y_i, theta, offsets,
                                   stride, residuals):
    """:func:`_row_loss_and_residuals` for row ``i`` of a CSR matrix.

    ``offsets[k]`` is output ``k``'s intercept minus ``center . w_k``: the centred
    logit is then a sum over the row's stored entries only.
    """
    n_outputs = offsets.shape[0]
    for k in range(n_outputs):
        offset = k * stride
        z = offsets[k]
        for position in range(indptr[i], indptr[i + 1]):
            z += data[position] * theta[offset + indices[position]]
        residuals[k] = z
    return _loss_from_logits(y_i, n_outputs, residuals)


@njit
def _centred_offsets(center, theta, offsets):
    """``offsets[k]`` = intercept of output ``k`` minus ``center . w_k``."""
    n_features = center.shape[0]
    stride = n_features + 1
    for k in range(offsets.shape[0]):
        value = theta[k * stride + n_features]
        for j in range(n_features):
            value -= center[j] * theta[k * stride + j]
        offsets[k] = value


@njit
def _add_row_gradient(X, center, i, weight, residuals, gradient):
    """Add ``weight`` times the gradient of row ``i``'s loss (from its residuals)."""
    n_features = X.shape[1]
    stride = n_features + 1
    for k in range(residuals.shape[0]):
        r = weight * residuals[k]
        offset = k * stride
        for j in range(n_features):
            gradient[offset + j] += r * (X[i, j] - center[j])
        gradient[offset + n_features] += r


@njit
def _soft_threshold(value, threshold):
    if value > threshold:
        return value - threshold
    if value < -threshold:
        return value + threshold
    return 0.0


class EpochSettings(NamedTuple):
    """Scalars of one epoch of :func:`logistic_epoch`, typed by name.

    Build it with :func:`epoch_settings`, which casts every field, so that numba
    sees one type whatever the caller passed (a new type is a new compilation).
    """

    n_outputs: int
    fit_intercept: bool
    l2_strength: float
    l1_strength: float
    rule: int
    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float
    batch_size: int
    variance_reduced: bool


class EpochState(NamedTuple):
    """Arrays that :func:`logistic_epoch` updates in place (flat float64 unless noted).

    ``step_counter`` and ``average_counter`` are int64 arrays of length one:
    ``step_counter[0]`` counts updates across epochs (Adam's bias correction) and
    ``average_counter[0] >= 0`` switches on the running mean of the iterates kept in
    ``average``. ``snapshot`` and ``snapshot_grad`` are read only when
    ``variance_reduced``.
    """

    theta: np.ndarray
    first_moment: np.ndarray
    second_moment: np.ndarray
    max_second_moment: np.ndarray
    step_counter: np.ndarray
    average: np.ndarray
    average_counter: np.ndarray
    snapshot: np.ndarray
    snapshot_grad: np.ndarray


def epoch_settings(*, n_outputs, fit_intercept, l2_strength, l1_strength, rule,
                   learning_rate, beta_1, beta_2, epsilon, batch_size,
                   variance_reduced):
    """:class:`EpochSettings` with every field cast to its declared type."""
    return EpochSettings(
        int(n_outputs), bool(fit_intercept), float(l2_strength), float(l1_strength),
        int(rule), float(learning_rate), float(beta_1), float(beta_2),
        float(epsilon), int(batch_size), bool(variance_reduced),
    )


@njit
def _minibatch_update(grad, batch_rows, settings, state, direction, scale):
    """Apply one update of the rule to ``state`` from the summed gradient ``grad``
    of ``batch_rows`` rows (scratch ``direction`` and ``scale``): mean, L2 term,
    the rule's step, the L1 proximal step and the running mean of the iterates."""
    n_outputs = settings.n_outputs
    l2_strength = settings.l2_strength
    l1_strength = settings.l1_strength
    learning_rate = settings.learning_rate
    theta = state.theta
    average = state.average
    step_counter = state.step_counter
    average_counter = state.average_counter
    n_params = theta.shape[0]
    stride = n_params // n_outputs
    n_features = stride - 1
    inverse_size = 1.0 / batch_rows
    for k in range(n_outputs):
        offset = k * stride
        for j in range(n_features):
            grad[offset + j] = (
                grad[offset + j] * inverse_size + l2_strength * theta[offset + j]
            )
        if settings.fit_intercept:
            grad[offset + n_features] *= inverse_size
        else:
            grad[offset + n_features] = 0.0
    if settings.variance_reduced:
        for j in range(n_params):
            grad[j] += state.snapshot_grad[j]

    step_counter[0] += 1
    compute_direction(
        settings.rule, grad, state.first_moment, state.second_moment,
        state.max_second_moment, step_counter[0], settings.beta_1,
        settings.beta_2, settings.epsilon, direction, scale,
    )
    for k in range(n_outputs):
        offset = k * stride
        for j in range(n_features):
            value = theta[offset + j] - learning_rate * direction[offset + j]
            if l1_strength > 0.0:
                value = _soft_threshold(
                    value, learning_rate * l1_strength * scale[offset + j]
                )
            theta[offset + j] = value
        theta[offset + n_features] -= learning_rate * direction[offset + n_features]

    if average_counter[0] >= 0:
        average_counter[0] += 1
        inverse_count = 1.0 / average_counter[0]
        for j in range(n_params):
            average[j] += (theta[j] - average[j]) * inverse_count


@njit
def logistic_epoch(X, center, y, sample_weight, order, settings, state):
    """Run one epoch of minibatch updates over the rows listed in ``order``.

    The gradient of each minibatch is the mean over its rows of
    ``sample_weight_i * d loss_i`` (weights rescaled to mean one by the caller) plus
    ``l2_strength * w``; the L1 part, if any, is applied by a proximal step scaled by
    the rule's diagonal preconditioner, so that its fixed points are exactly the
    penalised optimum. Intercepts are never penalised. ``settings`` is an
    :class:`EpochSettings`, ``state`` an :class:`EpochState` updated in place.

    Returns the weighted mean loss of the rows, each taken at the iterate that saw it.
    """
    n_outputs = settings.n_outputs
    batch_size = settings.batch_size
    variance_reduced = settings.variance_reduced
    theta = state.theta
    snapshot = state.snapshot
    n_rows = order.shape[0]
    n_params = theta.shape[0]
    grad = np.zeros(n_params)
    direction = np.empty(n_params)
    scale = np.empty(n_params)
    residuals = np.empty(n_outputs)
    snapshot_residuals = np.empty(n_outputs)
    loss_sum = 0.0
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        grad[:] = 0.0
        for position in range(start, stop):
            i = order[position]
            weight = sample_weight[i]
            loss_sum += weight * _row_loss_and_residuals(
                X, center, i, y[i], theta, n_outputs, residuals
            )
            if variance_reduced:
                # SVRG control variate: subtract this row's gradient at the
                # snapshot, whose full-data mean is added back below.
                _row_loss_and_residuals(
                    X, center, i, y[i], snapshot, n_outputs, snapshot_residuals
                )
                for k in range(n_outputs):
                    residuals[k] -= snapshot_residuals[k]
            _add_row_gradient(X, center, i, weight, residuals, grad)
        _minibatch_update(grad, stop - start, settings, state, direction, scale)
    return loss_sum / n_rows


@njit
def logistic_epoch_sparse(data, indices, indptr, center, y, sample_weight, order,
                          settings, state):
    """:func:`logistic_epoch` over the rows of a CSR matrix (``data``, ``indices``,
    ``indptr``), in time proportional to its stored entries plus the update.

    The centred design is never formed: a row's logit is its sparse dot product
    plus ``intercept - center . w`` (computed once per minibatch, at the cost of
    the update itself), and the centring's share of the gradient,
    ``-center * sum_i r_i``, is added once per minibatch.
    """
    n_outputs = settings.n_outputs
    batch_size = settings.batch_size
    variance_reduced = settings.variance_reduced
    theta = state.theta
    n_rows = order.shape[0]
    n_features = center.shape[0]
    stride = n_features + 1
    n_params = theta.shape[0]
    grad = np.zeros(n_params)
    direction = np.empty(n_params)
    scale = np.empty(n_params)
    residuals = np.empty(n_outputs)
    snapshot_residuals = np.empty(n_outputs)
    residual_sums = np.empty(n_outputs)
    offsets = np.empty(n_outputs)
    snapshot_offsets = np.empty(n_outputs)
    _centred_offsets(center, state.snapshot, snapshot_offsets)
    loss_sum = 0.0
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        grad[:] = 0.0
        residual_sums[:] = 0.0
        _centred_offsets(center, theta, offsets)
        for position in range(start, stop):
            i = order[position]
            weight = sample_weight[i]
            loss_sum += weight * _sparse_row_loss_and_residuals(
                data, indices, indptr, i, y[i], theta, offsets, stride, residuals
            )
            if variance_reduced:
                _sparse_row_loss_and_residuals(
                    data, indices, indptr, i, y[i], state.snapshot,
                    snapshot_offsets, stride, snapshot_residuals,
                )
                for k in range(n_outputs):
                    residuals[k] -= snapshot_residuals[k]
            for k in range(n_outputs):
                r = weight * residuals[k]
                residual_sums[k] += r
                offset = k * stride
                for entry in range(indptr[i], indptr[i + 1]):
                    grad[offset + indices[entry]] += r * data[entry]
        for k in range(n_outputs):
            offset = k * stride
            for j in range(n_features):
                grad[offset + j] -= residual_sums[k] * center[j]
            grad[offset + n_features] += residual_sums[k]
        _minibatch_update(grad, stop - start, settings, state, direction, scale)
    return loss_sum / n_rows


@njit
def logistic_loss(X, center, y, sample_weight, theta, n_outputs):
    """Weighted mean log-loss over all rows (weights rescaled to mean one)."""
    n_rows = X.shape[0]
    residuals = np.empty(n_outputs)
    loss_sum = 0.0
    for i in range(n_rows):
        loss_sum += sample_weight[i] * _row_loss_and_residuals(
            X, center, i, y[i], theta, n_outputs, residuals
        )
    return loss_sum / n_rows


@njit
def logistic_loss_gradient(X, center, y, sample_weight, theta, n_outputs, gradient):
    """Weighted mean log-loss and its gradient (written to ``gradient``)."""
    n_rows = X.shape[0]
    residuals = np.empty(n_outputs)
    gradient[:] = 0.0
    loss_sum = 0.0
    for i in range(n_rows):
        weight = sample_weight[i]
        loss_sum += weight * _row_loss_and_residuals(
            X, center, i, y[i], theta, n_outputs, residuals
        )
        _add_row_gradient(X, center, i, weight, residuals, gradient)
    gradient /= n_rows
    return loss_sum / n_rows


@njit
def proximal_newton_cd(hessian, gradient, theta, l1, direction, max_sweeps, tol):
    """Minimise the proximal Newton model by cyclic coordinate descent.

    The model is ``gradient' d + d' hessian d / 2 + sum_j l1_j |theta_j + d_j|``;
    ``direction`` holds the starting ``d`` and receives the result. Coordinates with
    a non-positive diagonal are left where they are (the caller zeroes the rows of
    fixed coordinates). Each coordinate step is exact, so every sweep lowers the
    model; sweeps stop once the largest decrease a single step made, ``H_jj * (change
    of d_j)^2``, is at most ``tol``. Returns the number of sweeps.
    """
    n = gradient.shape[0]
    product = np.zeros(n)  # hessian @ direction, kept current
    for j in range(n):
        if direction[j] != 0.0:
            for k in range(n):
                product[k] += hessian[j, k] * direction[j]
    for sweep in range(max_sweeps):
        largest = 0.0
        for j in range(n):
            curvature = hessian[j, j]
            if curvature <= 0.0:
                continue
            old = direction[j]
            slope = gradient[j] + product[j] - curvature * old
            # New value of theta_j + d_j: the 1-D minimiser, soft-thresholded.
            value = _soft_threshold(theta[j] - slope / curvature, l1[j] / curvature)
            change = value - theta[j] - old
            if change != 0.0:
                direction[j] = old + change
                for k in range(n):
                    product[k] += hessian[j, k] * change
                decrease = curvature * change * change
                if decrease > largest:
                    largest = decrease
        if largest <= tol:
            return sweep + 1
    return max_sweeps


# --------------------------------------------------------------------------
# Quantile regression by majorise-minimise (Hunter & Lange 2000). The passes over
# rows release the GIL: a Dask fit runs them on its chunks in threads.


@njit(nogil=True)
def mm_normal_equations(X, y, weights, beta, quantile, epsilon, gram, rhs,
                        residuals, with_objective=True):
    """One pass of the MM algorithm: the majoriser's normal equations at ``beta``.

    The perturbed check loss ``rho_q(r) - (epsilon / 2) log(epsilon + |r|)`` is
    majorised at the current residuals ``r_k`` by the quadratic
    ``r^2 / (4 (epsilon + |r_k|)) + (q - 1/2) r`` (up to a constant), so the next
    iterate is ``beta + delta`` with ``gram @ delta = rhs``:
    ``gram = sum_i v_i x_i x_i'``, ``rhs = sum_i x_i (v_i r_i + (2q - 1) w_i)``,
    ``v_i = w_i / (epsilon + |r_i|)``. Writes the residuals and returns the
    check loss at ``beta`` (SQUAREM's merit), or 0.0 without ``with_objective``.

    Rows go by blocks: the block's residuals, its share of ``rhs`` and of ``gram``
    are BLAS products (measured twice as fast as a scalar triple loop at n=1e6,
    p=11), the weights are a scalar loop.
    """
    n, p = X.shape
    gram[:, :] = 0.0
    rhs[:] = 0.0
    loss = 0.0
    tilt = 2.0 * quantile - 1.0
    block = 1024  # measured: 0.3 ms faster per pass than 2048 at n=1e5, p=11
    scaled = np.empty((block, p))
    target = np.empty(block)
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = stop - start
        X_block = X[start:stop]
        block_residuals = residuals[start:stop]
        np.dot(X_block, beta, block_residuals)
        for i in range(rows):
            r = y[start + i] - block_residuals[i]
            block_residuals[i] = r
            w = weights[start + i]
            v = w / (epsilon + abs(r))
            target[i] = v * r + tilt * w
            for j in range(p):
                scaled[i, j] = v * X_block[i, j]
        if with_objective:
            for i in range(rows):
                w = weights[start + i]
                if w > 0.0:
                    r = block_residuals[i]
                    loss += w * (quantile * r if r >= 0.0 else (quantile - 1.0) * r)
        rhs += X_block.T @ target[:rows]
        gram += scaled[:rows].T @ X_block
    return loss


# --------------------------------------------------------------------------
# Exact quantile regression on a band of rows: a simplex in the coefficients


@njit
def _invert(B, out):
    """``out = B^{-1}`` by Gauss-Jordan with partial pivoting; False if singular.

    A pivot below ``1e-11`` of its column's largest entry counts as zero: the
    basis rows then leave no well-determined fit.
    """
    p = B.shape[0]
    work = B.copy()
    out[:, :] = 0.0
    for j in range(p):
        out[j, j] = 1.0
    for j in range(p):
        column_max = 0.0
        pivot = j
        for i in range(j, p):
            if abs(work[i, j]) > column_max:
                column_max = abs(work[i, j])
                pivot = i
        scale = 0.0
        for i in range(p):
            scale = max(scale, abs(B[i, j]))
        if not column_max > 1e-11 * scale:
            return False
        if pivot != j:
            for k in range(p):
                work[j, k], work[pivot, k] = work[pivot, k], work[j, k]
                out[j, k], out[pivot, k] = out[pivot, k], out[j, k]
        factor = 1.0 / work[j, j]
        for k in range(p):
            work[j, k] *= factor
            out[j, k] *= factor
        for i in range(p):
            if i != j and work[i, j] != 0.0:
                multiplier = work[i, j]
                for k in range(p):
                    work[i, k] -= multiplier * work[j, k]
                    out[i, k] -= multiplier * out[j, k]
    return True


@njit
def band_simplex(X, y, weights, quantile, linear, candidates, max_pivots, beta,
                 basis):
    """Minimise ``sum_i w_i rho_q(y_i - x_i' b) + linear' b`` by a simplex in ``b``.

    The reduced problem of the exact finish: ``linear`` is the gradient of the
    rows kept out of the band, whose residuals keep their sign. A vertex is a
    basis of ``p`` rows on the fit. From it, releasing basic row ``k`` upwards
    or downwards moves ``b`` along ``+-B^{-1} e_k`` (``B`` the basis rows); the
    slope of the objective along it is ``+-u_k`` plus the released row's weight
    times ``1 - q`` or ``q``, with ``u = B^{-T} g`` and ``g`` the gradient of the
    other rows. All slopes non-negative is optimality (the basic duals ``-u``
    lie within their bounds). Otherwise the most negative slope per unit step
    in ``b`` is followed, and, as in Barrodale & Roberts (1973), the step is an
    exact line search: the objective is convex and piecewise linear along the
    ray, each row crossed adds ``w_i |x_i' d|`` to the slope, and the step ends
    at the row where the slope turns non-negative (a weighted median of the
    crossing points), which enters the basis. One pivot thus crosses as many
    rows as pay, where a simplex on the dual LP pivots once per row.

    The starting basis is taken greedily from ``candidates`` (rows, nearest to
    an estimated fit first): each row whose part orthogonal to those taken
    keeps at least a tenth of its norm. The basis inverse is then updated by
    a rank-one step per pivot (:func:`_replace_row`) and computed afresh only
    to confirm an optimum or an unbounded ray, with residuals and gradient
    recomputed from the rows.

    Writes the solution to ``beta`` and the basis rows to ``basis``. Returns
    ``(status, pivots)``: status 0 optimal; 1 unbounded (the band cannot
    balance the gradient ``linear``); 2 no starting basis among the
    candidates or a singular basis; 3 a row off the basis on the fit
    (degenerate vertex, left to a general LP solver) or ``max_pivots`` reached.
    """
    m, p = X.shape
    # Starting basis: Gram-Schmidt on the candidates.
    orthonormal = np.zeros((p, p))
    taken = 0
    for c in range(candidates.size):
        if taken == p:
            break
        row = candidates[c]
        v = X[row].copy()
        norm = np.sqrt(np.sum(v * v))
        for k in range(taken):
            v -= np.dot(orthonormal[k], v) * orthonormal[k]
        rest = np.sqrt(np.sum(v * v))
        if rest > 0.1 * norm:
            orthonormal[taken] = v / rest
            basis[taken] = row
            taken += 1
    if taken < p:
        return 2, 0
    in_basis = np.zeros(m, dtype=np.bool_)
    for k in range(p):
        in_basis[basis[k]] = True
    B = np.empty((p, p))
    inverse = np.empty((p, p))
    fitted = np.empty(p)
    residuals = np.empty(m)
    gradient = np.empty(p)
    defect = np.empty(p)
    u = np.empty(p)
    along = np.empty(m)
    steps = np.empty(m)
    slopes = np.empty(m)
    crossing = np.empty(m, dtype=np.int64)
    # Slopes are compared with this share of the total weight times the largest
    # entry: rounding of the sums that make them.
    total = 0.0
    for i in range(m):
        largest = 0.0
        for j in range(p):
            largest = max(largest, abs(X[i, j]))
        total += weights[i] * largest
    slope_tol = 1e-12 * total
    pivots = 0
    recompute = True
    invert = True
    exact = False
    while True:
        if invert:
            # Afresh at the start and before confirming an optimum; between, each
            # pivot updates the inverse by a rank-one step (O(p^2), not O(p^3)).
            for k in range(p):
                B[k] = X[basis[k]]
                fitted[k] = y[basis[k]]
            if not _invert(B, inverse):
                return 2, pivots
            invert = False
        # p x p products as loops: numba's @ on them costs a BLAS call each.
        _matvec(inverse, fitted, beta, False)
        _matvec(B, beta, defect, False)
        defect[:] = fitted - defect
        _matvec(inverse, defect, u, False)
        beta += u  # one refinement step
        if recompute:
            # Residuals and gradient from scratch: at the start, and to confirm
            # an optimum reached through the updates of the pivots.
            gradient[:] = linear
            for i in range(m):
                if in_basis[i]:
                    residuals[i] = 0.0
                    continue
                r = y[i]
                magnitude = abs(r)
                for j in range(p):
                    term = X[i, j] * beta[j]
                    r -= term
                    magnitude += abs(term)
                residuals[i] = r
                if abs(r) <= 1e-10 * magnitude:
                    return 3, pivots
                d = quantile * weights[i] if r > 0.0 else (quantile - 1.0) * weights[i]
                for j in range(p):
                    gradient[j] -= d * X[i, j]
            recompute = False
            exact = True
        _matvec(inverse, gradient, u, True)
        # The steepest release per unit length of the step in b.
        best = 0.0
        leaving = -1
        sign = 0.0
        for k in range(p):
            length = 0.0
            for j in range(p):
                length += inverse[j, k] * inverse[j, k]
            length = np.sqrt(length)
            w = weights[basis[k]]
            for s in (1.0, -1.0):
                slope = s * u[k] + (1.0 - quantile if s > 0.0 else quantile) * w
                if slope < -slope_tol and slope / length < best:
                    best = slope / length
                    leaving = k
                    sign = s
        if leaving < 0:
            if exact:
                return 0, pivots
            recompute = True
            invert = True
            continue
        if pivots == max_pivots:
            return 3, pivots
        direction = sign * inverse[:, leaving]
        need = -(sign * u[leaving] + (1.0 - quantile if sign > 0.0 else quantile)
                 * weights[basis[leaving]])
        # Rows the ray crosses: residual r_i - t a_i changes sign at t = r_i / a_i,
        # and the slope grows by w_i |a_i| there.
        np.dot(X, direction, along)  # BLAS: the band is small enough to stay cached
        for k in range(p):
            along[basis[k]] = 0.0
        # Branchless: whether a row is crossed is a coin toss, and mispredicted
        # branches cost more than the stores. Basic rows have residual 0.
        count = 0
        for i in range(m):
            crossing[count] = i
            count += np.int64(along[i] * residuals[i] > 0.0)
        available = 0.0
        for c in range(count):
            i = crossing[c]
            a = along[i]
            steps[c] = residuals[i] / a
            slopes[c] = weights[i] * abs(a)
            available += slopes[c]
        if not available >= need:
            if exact:
                return 1, pivots
            # Confirmed from scratch, as an optimum is: rows tied at a pivot's
            # step stay on the fit with their old duals in the updated gradient.
            recompute = True
            invert = True
            continue
        position = _weighted_select(steps, slopes, crossing, count, need, available)
        entering = crossing[position]
        step = steps[position]
        # Updates: residuals along the step, the gradient of the rows crossed
        # (their dual moves by -w above to below, +w below to above), of the
        # entering row (now basic) and of the leaving one (now off the fit).
        for i in range(m):
            residuals[i] -= step * along[i]
        for c in range(position):
            i = crossing[c]
            change = weights[i] if along[i] > 0.0 else -weights[i]
            for j in range(p):
                gradient[j] += change * X[i, j]
        d = quantile * weights[entering] if along[entering] > 0.0 else (
            (quantile - 1.0) * weights[entering])
        for j in range(p):
            gradient[j] += d * X[entering, j]
        row = basis[leaving]
        d = (quantile - 1.0) * weights[row] if sign > 0.0 else quantile * weights[row]
        for j in range(p):
            gradient[j] -= d * X[row, j]
        residuals[entering] = 0.0
        residuals[row] = -sign * step
        in_basis[row] = False
        in_basis[entering] = True
        basis[leaving] = entering
        B[leaving] = X[entering]
        fitted[leaving] = y[entering]
        invert = _replace_row(inverse, leaving, B[leaving], sign * along[entering])
        pivots += 1
        exact = False


@njit
def _replace_row(inverse, k, row, alpha):
    """Update ``inverse`` of ``B`` to that of ``B`` with row ``k`` set to ``row``.

    ``alpha = row' inverse[:, k]``, the pivot (Sherman-Morrison). Returns True
    (invert afresh instead) when the pivot is small against the entries it
    divides: the update would then lose the accuracy a fresh inversion keeps.
    """
    p = inverse.shape[0]
    scale = 0.0
    for j in range(p):
        scale = max(scale, abs(row[j]))
    column = 0.0
    for j in range(p):
        column = max(column, abs(inverse[j, k]))
    if not abs(alpha) > 1e-6 * scale * column:
        return True
    for c in range(p):
        if c == k:
            continue
        factor = 0.0
        for j in range(p):
            factor += row[j] * inverse[j, c]
        factor /= alpha
        for j in range(p):
            inverse[j, c] -= factor * inverse[j, k]
    for j in range(p):
        inverse[j, k] /= alpha
    return False


@njit
def _matvec(A, x, out, transpose):
    """``out = A @ x``, or ``A.T @ x`` with ``transpose``, for a small square A."""
    p = A.shape[0]
    for i in range(p):
        total = 0.0
        for j in range(p):
            total += (A[j, i] if transpose else A[i, j]) * x[j]
        out[i] = total


@njit
def _weighted_select(values, weights, labels, count, need, total):
    """Reorder the first ``count`` entries; return the position of the threshold.

    The threshold is the smallest ``values`` entry at which the cumulative
    ``weights`` of the entries up to it (in increasing value) reach ``need``
    (quickselect, linear time on average). On return every entry before that
    position has a smaller value. ``labels`` are reordered alongside.

    ``total`` is the sum of the weights. A simplex step usually needs a small
    share of them (20 of 1,000 crossing rows), so the first pivot is taken from
    32 evenly spaced entries a little above that share: one partition then
    leaves few entries, where medians of three would halve the range each time
    (measured: the band simplex 20% faster, the same pivots).
    """
    low = 0
    high = count
    guess = np.empty(32)
    while high - low > 1:
        if low == 0 and high == count and count > 64:
            for k in range(32):
                guess[k] = values[(k * count) // 32]
            guess.sort()
            share = min(1.0, 2.0 * need / total + 8.0 / count)
            pivot = guess[min(31, int(share * 32))]
        else:
            middle = (low + high) // 2
            a, b, c = values[low], values[middle], values[high - 1]
            pivot = max(min(a, b), min(max(a, b), c))  # median of three
        # Three-way partition of [low, high): below, equal, above the pivot.
        less = low
        equal = low
        greater = high
        while equal < greater:
            v = values[equal]
            if v < pivot:
                _swap3(values, weights, labels, less, equal)
                less += 1
                equal += 1
            elif v > pivot:
                greater -= 1
                _swap3(values, weights, labels, equal, greater)
            else:
                equal += 1
        below = 0.0
        for k in range(low, less):
            below += weights[k]
        if below >= need:
            high = less
            continue
        at = 0.0
        for k in range(less, greater):
            at += weights[k]
        if below + at >= need:
            return less
        need -= below + at
        low = greater
    return low


@njit
def _swap3(values, weights, labels, i, j):
    values[i], values[j] = values[j], values[i]
    weights[i], weights[j] = weights[j], weights[i]
    labels[i], labels[j] = labels[j], labels[i]



@njit(nogil=True)
def weighted_gram(X, weights):
    """``sum_i w_i x_i x_i'`` in one pass, without a weighted copy of X."""
    n, p = X.shape
    gram = np.zeros((p, p))
    for i in range(n):
        w = weights[i]
        if w == 0.0:
            continue
        for j in range(p):
            wx = w * X[i, j]
            for k in range(j + 1):
                gram[j, k] += wx * X[i, k]
    for j in range(p):
        for k in range(j):
            gram[k, j] = gram[j, k]
    return gram


@njit(nogil=True)
def sign_dual(X, y, weights, beta, quantile, on_fit_tol, on_fit_floor, on_fit,
              balance, residuals):
    """One pass for the duality gap at ``beta``: the check loss and the sign dual.

    The dual variable of a row is ``q w`` above the fit, ``(q - 1) w`` below, and
    0 (left to the caller) on the fit: ``|r| <= on_fit_tol * (|y| + sum_j |x_j
    b_j|) + on_fit_floor``, rounding error of the row's own terms or below the
    resolution of the whole problem. Marks those rows in
    ``on_fit``, writes ``X' d`` to ``balance`` and the residuals (of every row)
    to ``residuals``, and returns the check loss and the rounding scale
    ``sum_i w_i (|y_i| + sum_j |x_ij b_j|)``.
    """
    n, p = X.shape
    balance[:] = 0.0
    primal = 0.0
    size = 0.0
    for i in range(n):
        w = weights[i]
        on_fit[i] = False
        r = y[i]
        magnitude = abs(r)
        for j in range(p):
            term = X[i, j] * beta[j]
            r -= term
            magnitude += abs(term)
        residuals[i] = r
        if w == 0.0:
            continue
        size += w * magnitude
        if r >= 0.0:
            primal += w * quantile * r
        else:
            primal += w * (quantile - 1.0) * r
        if abs(r) <= on_fit_tol * magnitude + on_fit_floor:
            on_fit[i] = True
            continue
        d = quantile * w if r > 0.0 else (quantile - 1.0) * w
        for j in range(p):
            balance[j] += d * X[i, j]
    return primal, size


@njit
def level_pass(X, y, weights, beta, quantile, on_fit_tol, on_fit_floor, on_fit,
               balance, residuals, side, tolerance, centre, half_width, total,
               sums, band):
    """:func:`sign_dual`'s pass, with the exact finish's other reads of the rows.

    In a quantile process each level reads the rows once: for the duality gap
    of its solution ``beta`` (as :func:`sign_dual`), for the check that the rows
    it kept out of its band stayed on their side (``side`` 0 above, 1 below,
    2 in the band: a row on the wrong side by more than ``tolerance`` counts),
    and for the next level's band: rows whose residual is within ``half_width``
    of ``centre`` get ``side`` 2 and their index in ``band``, the others 0
    (above) or 1 and their weighted sum ``sum_i w_i x_i`` in that row of
    ``sums`` (2, p). Rows of zero weight get side 3.

    The sums come from the sign dual: with ``total = sum_i w_i x_i``, the rows
    below the fit sum to ``q (total - on-fit rows) - balance``, so only the rows
    whose side changes (those between the fit and the next band, the band
    itself: a few percent) are added one by one.

    Returns the check loss, the rounding scale, the rows on the wrong side and
    the number of band rows written.
    """
    n, p = X.shape
    balance[:] = 0.0
    sums[:, :] = 0.0
    on_fit_sum = np.zeros(p)
    primal = 0.0
    size = 0.0
    wrong = 0
    count = 0
    # The loop of sign_dual, written out: a shared row function, even inlined,
    # made both passes four times slower.
    for i in range(n):
        w = weights[i]
        on_fit[i] = False
        r = y[i]
        magnitude = abs(r)
        for j in range(p):
            term = X[i, j] * beta[j]
            r -= term
            magnitude += abs(term)
        residuals[i] = r
        if w == 0.0:
            side[i] = 3
            continue
        size += w * magnitude
        was = np.int64(r < 0.0)
        d = w * (quantile - was)  # the sign dual, without a branch
        primal += d * r
        if abs(r) <= on_fit_tol * magnitude + on_fit_floor:
            on_fit[i] = True
            for j in range(p):
                on_fit_sum[j] += w * X[i, j]
            was = 2
        else:
            for j in range(p):
                balance[j] += d * X[i, j]
        # Branchless: the side of a row kept out of the band is random.
        current = side[i]
        wrong += (np.int64(current == 0) * np.int64(r < -tolerance)
                  + np.int64(current == 1) * np.int64(r > tolerance))
        shifted = r - centre
        if abs(shifted) <= half_width:
            code = 2
            band[count] = i
            count += 1
        else:
            code = np.int64(shifted < 0.0)
        side[i] = code
        if code != was:
            for j in range(p):
                if code < 2:
                    sums[code, j] += w * X[i, j]
                if was < 2:
                    sums[was, j] -= w * X[i, j]
    for j in range(p):
        off_fit = total[j] - on_fit_sum[j]
        below = quantile * off_fit - balance[j]
        sums[1, j] += below
        sums[0, j] += off_fit - below
    return primal, size, wrong, count


@njit(nogil=True)
def side_sums(X, weights, above, below, sums):
    """Weighted sums of the rows ``above`` and ``below`` the fit, in one pass.

    Writes ``sum_i w_i x_i`` over each side to the rows of ``sums`` (2, p) and
    returns the two weight totals: the aggregated pseudo-rows of the reduced LP.
    """
    n, p = X.shape
    # A third row collects the band: indexing by side, not branching on it,
    # spares the mispredicted branches of randomly signed residuals.
    accumulated = np.zeros((3, p + 1))
    for i in range(n):
        side = 2 - 2 * np.int64(above[i]) - np.int64(below[i])
        w = weights[i]
        row = accumulated[side]
        row[p] += w
        for j in range(p):
            row[j] += w * X[i, j]
    # A loop, not a slice assignment: numba compiles the latter's shape-error
    # formatting, about 2 s on a cold cache.
    for side in range(2):
        for j in range(p):
            sums[side, j] = accumulated[side, j]
    return accumulated[:2, p].copy()


@njit(nogil=True)
def band_split(X, y, weights, beta, quantile, centre, threshold, residuals, in_band,
               sums):
    """One pass of a Dask fit's band gathering: the check loss at ``beta``, the
    rows within ``threshold`` of the fit shifted by ``centre``, the others' sums.

    Writes the shifted residuals ``y - X beta - centre`` to ``residuals``, marks
    the band's rows (of positive weight) in ``in_band``, writes ``sum_i w_i x_i``
    over the other rows above and below to the rows of ``sums`` (2, p), and
    returns the check loss and the two sides' weight totals.
    """
    n, p = X.shape
    # Row 2 collects the band, as in side_sums.
    accumulated = np.zeros((3, p + 1))
    loss = 0.0
    for i in range(n):
        r = y[i]
        for j in range(p):
            r -= X[i, j] * beta[j]
        w = weights[i]
        loss += w * (quantile * r if r >= 0.0 else (quantile - 1.0) * r)
        r -= centre
        residuals[i] = r
        inside = w > 0.0 and abs(r) <= threshold
        in_band[i] = inside
        row = accumulated[2 if inside else (0 if r > 0.0 else 1)]
        row[p] += w
        for j in range(p):
            row[j] += w * X[i, j]
    sums[:, :] = accumulated[:2, :p]
    return loss, accumulated[:2, p].copy()


@njit(nogil=True)
def ball_split(X, y, weights, beta, metric, radius, slack, tolerance, in_band, sums,
               totals, side_y, abs_x):
    """The band pass of a two-pass Dask fit: rows that a fit within ``radius`` of
    ``beta`` could cross go to the band, the others to their side's sums.

    With ``z_i = metric @ x_i`` (``metric`` lower triangular), a row of positive
    weight is in the band when ``|r_i| <= radius ||z_i|| (1 + slack) + tolerance
    (|y_i| + sum_j |x_ij beta_j|)``, ``r = y - X beta``: ``slack`` covers the
    rounding of ``||z_i||`` and of the caller's ``||metric^-T (b - beta)||``,
    ``tolerance`` that of ``r_i``. Every other row keeps its sign at any
    ``b`` with ``||metric^-T (b - beta)|| < radius`` (Cauchy-Schwarz). Marks the
    band in ``in_band``; over the other rows writes, per side (0 above, 1
    below), ``sum_i w_i x_i`` to ``sums`` (2, p), ``sum_i w_i`` to ``totals``,
    ``sum_i w_i y_i`` to ``side_y``, and ``sum_i w_i |x_ij|`` to ``abs_x`` (p);
    returns ``sum_i w_i |y_i|`` over them.
    """
    n, p = X.shape
    accumulated = np.zeros((2, p + 2))
    absolute = np.zeros(p + 1)
    for i in range(n):
        w = weights[i]
        in_band[i] = False
        if w == 0.0:
            continue
        r = y[i]
        magnitude = abs(r)
        for j in range(p):
            term = X[i, j] * beta[j]
            r -= term
            magnitude += abs(term)
        norm = 0.0
        for j in range(p):
            z = 0.0
            for k in range(j + 1):
                z += metric[j, k] * X[i, k]
            norm += z * z
        inside = (abs(r) <= radius * np.sqrt(norm) * (1.0 + slack)
                  + tolerance * magnitude)
        in_band[i] = inside
        if inside:
            continue
        row = accumulated[0 if r > 0.0 else 1]
        row[p] += w
        row[p + 1] += w * y[i]
        for j in range(p):
            row[j] += w * X[i, j]
            absolute[j] += w * abs(X[i, j])
        absolute[p] += w * abs(y[i])
    sums[:, :] = accumulated[:, :p]
    totals[:] = accumulated[:, p]
    side_y[:] = accumulated[:, p + 1]
    abs_x[:] = absolute[:p]
    return absolute[p]


@njit(nogil=True)
def residuals_into(X, y, beta, out):
    """``out = y - X @ beta`` in one pass over the rows of a C-ordered X."""
    n, p = X.shape
    for i in range(n):
        r = y[i]
        for j in range(p):
            r -= X[i, j] * beta[j]
        out[i] = r


@njit(nogil=True)
def column_max_abs(X, weights, out):
    """Largest ``|X[i, j]|`` of each column over the rows of positive weight.

    NaN never wins a comparison, so it is skipped; returns True if any is seen.
    One pass: it replaces the NaN scan of the fit and gives the column scales.
    """
    n, p = X.shape
    out[:] = 0.0
    has_nan = False
    for i in range(n):
        if weights[i] > 0.0:
            for j in range(p):
                a = abs(X[i, j])
                if a > out[j]:
                    out[j] = a
                elif a != a:
                    has_nan = True
        elif not has_nan:
            for j in range(p):
                if X[i, j] != X[i, j]:
                    has_nan = True
    return has_nan


# RobustPairedClassifier: weighted log-loss and its derivative in the logits, one
# pass per row (no temporaries), the work of every FISTA step and line search.
@njit
def softmax_loss_residuals(Z, Y, weights, R):
    """``sum_i w_i (logsumexp(Z_i) - Y_i'Z_i)``; fills ``R = softmax(Z) - Y``."""
    n, K = Z.shape
    total = 0.0
    for i in range(n):
        top = Z[i, 0]
        for k in range(1, K):
            if Z[i, k] > top:
                top = Z[i, k]
        norm = 0.0
        for k in range(K):
            R[i, k] = np.exp(Z[i, k] - top)
            norm += R[i, k]
        picked = 0.0
        for k in range(K):
            picked += Y[i, k] * Z[i, k]
            R[i, k] = R[i, k] / norm - Y[i, k]
        total += weights[i] * (top + np.log(norm) - picked)
    return total


@njit
def logistic_loss_residuals(Z, Y, weights, R):
    """``sum_i w_i (log(1 + e^z_i) - y_i z_i)`` for one column; ``R = expit(z) - y``."""
    total = 0.0
    for i in range(Z.shape[0]):
        z = Z[i, 0]
        total += weights[i] * (_log1pexp(z) - Y[i, 0] * z)
        R[i, 0] = _expit(z) - Y[i, 0]
    return total


# RobustPairedClassifier: the FISTA iterations between two duality-gap checks run
# here, so that a step costs its arithmetic rather than the dispatch of some sixty
# small numpy calls. Norm codes: 0 l2/Frobenius, 1 nuclear, 2 spectral.
@njit
def project_l1_ball(values, radius):
    """Euclidean projection of non-negative ``values`` onto the l1 ball."""
    if values.sum() <= radius:
        return values.copy()
    # Descending by insertion: a few singular values, and np.sort's compiled
    # quicksort would cost the first (cold-cache) call seconds.
    ordered = values.copy()
    for j in range(1, ordered.size):
        value = ordered[j]
        i = j - 1
        while i >= 0 and ordered[i] < value:
            ordered[i + 1] = ordered[i]
            i -= 1
        ordered[i + 1] = value
    cumulative = np.cumsum(ordered) - radius
    # The first entry always qualifies; rounding may hide it when radius is tiny.
    count = 1
    for j in range(1, ordered.size):
        if ordered[j] - cumulative[j] / (j + 1) > 0:
            count = j + 1
    threshold = cumulative[count - 1] / count
    return np.maximum(values - threshold, 0.0)


@njit
def matrix_prox(V, threshold, code):
    """Exact prox of ``threshold * ||.||`` at ``V`` (C-contiguous) for norm ``code``.

    Frobenius: block soft-thresholding. Nuclear and spectral: the singular values
    and vectors of the short side come from the eigenvalues of the small Gram
    matrix (K x K for K classes), half an SVD's cost; the result is ``V`` scaled
    by ``shrunk / singular`` along each singular direction, a factor in [0, 1]
    that is 0 (nuclear) or 1 (spectral: ``V`` minus its projection onto the
    nuclear ball, by Moreau) wherever a singular value is too small for the Gram
    matrix to resolve, so that rounding there does not matter.
    """
    if code == 0:
        size = np.sqrt(np.sum(V * V))
        if size <= threshold:
            return np.zeros_like(V)
        return V * (1.0 - threshold / size)
    wide = V.shape[0] <= V.shape[1]
    gram = V @ V.T if wide else V.T @ V
    eigenvalues, U = np.linalg.eigh(gram)
    singular = np.sqrt(np.maximum(eigenvalues, 0.0))
    if code == 1:
        shrunk = np.maximum(singular - threshold, 0.0)
        factor = np.zeros_like(singular)
    else:
        shrunk = singular - project_l1_ball(singular, threshold)
        factor = np.ones_like(singular)
    for j in range(singular.size):
        if shrunk[j] < singular[j]:
            factor[j] = shrunk[j] / singular[j]
    if wide:
        return (U * factor) @ (U.T @ V)
    return ((V @ U) * factor) @ U.T


@njit
def _block_prox(V, step, rho, split, code):
    """Prox of ``step (rho[0] ||V[:, :split]|| + rho[1] ||V[:, split:]||)``."""
    out = np.empty_like(V)
    _copy_columns(out, 0, matrix_prox(np.ascontiguousarray(V[:, :split]),
                                      step * rho[0], code))
    if split < V.shape[1]:
        _copy_columns(out, split, matrix_prox(np.ascontiguousarray(V[:, split:]),
                                              step * rho[1], code))
    return out


# Element loops instead of slice assignments: numba compiles a slice assignment's
# broadcasting with its shape-error formatting, seconds of string code per kernel
# on the first (cold-cache) call.
@njit
def _copy_columns(target, first, source):
    """``target[:, first:first + source.shape[1]] = source``."""
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            target[i, first + j] = source[i, j]


@njit
def _copy_vector(target, source):
    for j in range(source.size):
        target[j] = source[j]


@njit
def _logit_loss(Z, Y, weights, R, binary):
    if binary:
        return logistic_loss_residuals(Z, Y, weights, R)
    return softmax_loss_residuals(Z, Y, weights, R)


@njit
def fista_steps(X, Y, weights, rho, split, code, binary, fit_intercept,
                lipschitz, grow, max_step, W, W_prev, b, b_prev, XW, XW_prev,
                state, n_steps):
    """``n_steps`` accelerated proximal gradient steps, updating the iterates in place.

    The smooth part is the weighted loss at logits ``X W' + b``; the penalty is
    ``rho[0] ||W[:, :split]|| + rho[1] ||W[:, split:]||``. ``XW`` and ``XW_prev``
    hold ``X W'`` of the last two iterates, whose combination is the product of
    the extrapolated point. The step is backtracked down to ``1 / lipschitz``
    (grown by ``grow`` per step, up to ``max_step``); momentum restarts when the
    prox-gradient step turns against the last move (O'Donoghue & Candes 2015).
    ``state`` holds the momentum and the step size between calls.
    """
    n, K = Y.shape
    momentum, step_size = state[0], state[1]
    Z = np.empty((n, K))
    R = np.empty((n, K))
    for _ in range(n_steps):
        momentum_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * momentum * momentum))
        beta = (momentum - 1.0) / momentum_next
        VW = W + beta * (W - W_prev)
        vb = b + beta * (b - b_prev)
        for i in range(n):
            for k in range(K):
                Z[i, k] = XW[i, k] + beta * (XW[i, k] - XW_prev[i, k]) + vb[k]
        smooth = _logit_loss(Z, Y, weights, R, binary)
        grad_b = np.zeros(K)
        for i in range(n):
            for k in range(K):
                R[i, k] *= weights[i]
                grad_b[k] += R[i, k]
        if not fit_intercept:
            grad_b = np.zeros(K)
        grad_W = R.T @ X
        step_size = min(grow * step_size, max_step)
        while True:
            W_new = _block_prox(VW - step_size * grad_W, step_size, rho, split, code)
            b_new = vb - step_size * grad_b
            dW = W_new - VW
            db = b_new - vb
            XW_new = X @ W_new.T
            for i in range(n):
                for k in range(K):
                    Z[i, k] = XW_new[i, k] + b_new[k]
            new_smooth = _logit_loss(Z, Y, weights, R, binary)
            bound = (smooth + np.sum(grad_W * dW) + np.sum(grad_b * db)
                     + (np.sum(dW * dW) + np.sum(db * db)) / (2.0 * step_size))
            if new_smooth <= bound + 1e-15 * abs(smooth) or \
                    step_size <= 1.0 / lipschitz:
                break
            step_size = max(0.5 * step_size, 1.0 / lipschitz)
        restart = np.sum(dW * (W_new - W)) + np.sum(db * (b_new - b)) < 0.0
        _copy_columns(W_prev, 0, W)
        _copy_vector(b_prev, b)
        _copy_columns(XW_prev, 0, XW)
        _copy_columns(W, 0, W_new)
        _copy_vector(b, b_new)
        _copy_columns(XW, 0, XW_new)
        momentum = 1.0 if restart else momentum_next
    state[0] = momentum
    state[1] = step_size


# RobustPairedClassifier, norm="pairwise": the softmax Hessian's class-pair
# blocks scattered into the dense Newton matrix in one pass (numpy's unpacking
# into a block array and 90 strided block additions took about 1 ms a step).
@njit
def add_packed_blocks(hessian, sums, first, second, stride):
    """Add symmetric blocks, given by their packed upper triangles, to ``hessian``.

    Row ``q`` of ``sums`` holds the upper triangle (row by row, as
    ``np.triu_indices(stride)``) of the symmetric block of class pair
    ``(first[q], second[q])``, ``first[q] <= second[q]``; the block is added at
    rows ``first[q] * stride`` and columns ``second[q] * stride`` and, off the
    diagonal of classes, at its mirror (the transpose of a symmetric block).
    """
    for q in range(sums.shape[0]):
        row = first[q] * stride
        column = second[q] * stride
        index = 0
        for a in range(stride):
            for b in range(a, stride):
                value = sums[q, index]
                index += 1
                hessian[row + a, column + b] += value
                if a != b:
                    hessian[row + b, column + a] += value
                if row != column:
                    hessian[column + b, row + a] += value
                    if a != b:
                        hessian[column + a, row + b] += value


# RobustPairedClassifier, norm="pairwise": the pair-cone barrier's Hessian
# written straight into the dense Newton matrix (numpy built it from an outer
# product array and 45 strided block assignments).
@njit
def add_pair_cone_hessian(hessian, scaled, inverse, first, second, lam, n_kept,
                          stride):
    """Add the Hessian of ``-sum_q log(lam^2 - ||w_k - w_l||^2)`` to ``hessian``.

    Pair ``q = (first[q], second[q])`` with ``c_q = 1 / inverse[q]`` and
    ``s_q = scaled[q] = 2 (w_k - w_l) / c_q`` adds ``(e_k - e_l)(e_k - e_l)'``
    kron ``(2 I / c_q + s_q s_q')`` to the coefficients of the classes below
    ``n_kept`` (class ``k`` at rows ``k * stride``), ``-lam s_q / c_q`` times
    ``2 (e_k - e_l)`` to their cross terms with ``lam`` (the last row and
    column), and ``-2 / c_q + 4 lam^2 / c_q^2`` to the ``lam`` diagonal.
    """
    last = hessian.shape[0] - 1
    n_pairs, n_features = scaled.shape
    for q in range(n_pairs):
        keep_k = first[q] < n_kept
        keep_l = second[q] < n_kept
        row_k = first[q] * stride
        row_l = second[q] * stride
        diagonal = 2.0 * inverse[q]
        for i in range(n_features):
            s_i = scaled[q, i]
            for j in range(n_features):
                outer = s_i * scaled[q, j]
                if keep_k:
                    hessian[row_k + i, row_k + j] += outer
                if keep_l:
                    hessian[row_l + i, row_l + j] += outer
                if keep_k and keep_l:
                    hessian[row_k + i, row_l + j] -= outer
                    hessian[row_l + i, row_k + j] -= outer
            cross = -2.0 * lam * s_i * inverse[q]
            if keep_k:
                hessian[row_k + i, row_k + i] += diagonal
                hessian[row_k + i, last] += cross
                hessian[last, row_k + i] += cross
            if keep_l:
                hessian[row_l + i, row_l + i] += diagonal
                hessian[row_l + i, last] -= cross
                hessian[last, row_l + i] -= cross
            if keep_k and keep_l:
                hessian[row_k + i, row_l + i] -= diagonal
                hessian[row_l + i, row_k + i] -= diagonal
        hessian[last, last] += -diagonal + 4.0 * lam * lam * inverse[q] * inverse[q]


# RobustPairedClassifier with the auxiliary ball, two classes: the inner supremum
# of each row's exact dual, a one-dimensional difference of convex functions.
@njit
def _lens_minimum(kappa, lam_p, lam_a, along, across):
    """Minimum of ``u'd`` over ``||u|| <= lam_p``, ``||u - kappa e|| <= lam_a``.

    In the plane of the unit vector ``e`` and ``d = along e + across e_perp``
    (``across >= 0``). The minimiser over either disc alone, if it lies in the
    other, is the lens's; otherwise the minimum is at the lens corner on the
    side opposite ``d`` (a minimiser inside one arc would minimise over that
    whole disc).
    """
    length = np.sqrt(along * along + across * across)
    if length == 0.0:
        return 0.0
    slack = 1e-12 * (lam_p + lam_a)
    # Disc P's minimiser -lam_p d / |d|.
    u0 = -lam_p * along / length - kappa
    u1 = -lam_p * across / length
    if np.sqrt(u0 * u0 + u1 * u1) <= lam_a + slack:
        return -lam_p * length
    # Disc A's minimiser kappa e - lam_a d / |d|.
    u0 = kappa - lam_a * along / length
    u1 = -lam_a * across / length
    if np.sqrt(u0 * u0 + u1 * u1) <= lam_p + slack:
        return kappa * along - lam_a * length
    alpha = (lam_p * lam_p - lam_a * lam_a + kappa * kappa) / (2.0 * kappa)
    height = np.sqrt(max(lam_p * lam_p - alpha * alpha, 0.0))
    return alpha * along - height * across


@njit
def _entropy_part(theta, margin):
    """``-theta log theta - (1 - theta) log(1 - theta) - theta margin``."""
    value = -theta * margin
    if theta > 0.0:
        value -= theta * np.log(theta)
    if theta < 1.0:
        value -= (1.0 - theta) * np.log1p(-theta)
    return value


@njit
def paired_suprema(margins, along, across, size, lam_p, lam_a, tolerance,
                   values, uppers, thetas):
    """Certified ``max_theta h_i(theta)`` over ``[0, 1]`` for every row.

    ``h_i(theta) = H(theta) - theta m_i + lens(theta size)``: ``H`` the binary
    entropy, ``m_i`` the margin at the auxiliary anchor, ``lens`` the minimum
    of :func:`_lens_minimum` (convex in ``theta``; ``H`` is concave). On an
    interval, the tangent of the concave part at the midpoint plus the chord of
    the convex part bound ``h`` from above (a line: its larger end); intervals
    whose bound is within ``tolerance`` of the best value found are dropped,
    the others halved. ``values`` gets the best value, ``uppers`` a certified
    upper bound (within ``tolerance`` unless the interval stack overflowed),
    ``thetas`` the maximiser.
    """
    capacity = 4096
    low = np.empty(capacity)
    high = np.empty(capacity)
    h_low = np.empty(capacity)
    h_high = np.empty(capacity)
    n_start = 16
    for i in range(margins.shape[0]):
        margin = margins[i]
        best = -np.inf
        best_theta = 0.0
        previous = 0.0
        h_previous = _entropy_part(0.0, margin) + _lens_minimum(
            0.0, lam_p, lam_a, along[i], across[i])
        if h_previous > best:
            best, best_theta = h_previous, 0.0
        top = 0
        for k in range(1, n_start + 1):
            theta = k / n_start
            h = _entropy_part(theta, margin) + _lens_minimum(
                theta * size, lam_p, lam_a, along[i], across[i])
            if h > best:
                best, best_theta = h, theta
            low[top] = previous
            high[top] = theta
            h_low[top] = h_previous
            h_high[top] = h
            top += 1
            previous, h_previous = theta, h
        upper = best
        while top > 0:
            top -= 1
            a, b, h_a, h_b = low[top], high[top], h_low[top], h_high[top]
            middle = 0.5 * (a + b)
            concave = _entropy_part(middle, margin)
            h_middle = concave + _lens_minimum(middle * size, lam_p, lam_a,
                                               along[i], across[i])
            if h_middle > best:
                best, best_theta = h_middle, middle
            slope = -margin - np.log(middle) + np.log1p(-middle)
            bound = max(concave + slope * (a - middle) + h_a
                        - _entropy_part(a, margin),
                        concave + slope * (b - middle) + h_b
                        - _entropy_part(b, margin))
            if bound <= best + tolerance or b - a <= 1e-15:
                upper = max(upper, bound)
                continue
            if top + 2 > capacity:
                upper = max(upper, bound)
                continue
            low[top], high[top], h_low[top], h_high[top] = a, middle, h_a, h_middle
            low[top + 1], high[top + 1] = middle, b
            h_low[top + 1], h_high[top + 1] = h_middle, h_b
            top += 2
        values[i] = best
        uppers[i] = max(upper, best)
        thetas[i] = best_theta


# More classes: the conjugate variable lives on the simplex, and the branch and
# bound splits simplices instead of intervals.
@njit
def _simplex_terms(theta, label, logits, gram, shift, distance2, lam_p, lam_a):
    """Entropy, and the rest of ``h(theta)``: linear part plus lens minimum.

    ``h(theta) = H(theta) + e'c + lens(W'e)`` with ``e = theta - e_label``,
    ``c`` the logits at the auxiliary anchor; the lens sees ``W'e`` only through
    ``||W'e||^2 = e'(W W')e`` and ``d'W'e = e'(W d)``.
    """
    n_classes = theta.shape[0]
    entropy = 0.0
    linear = -logits[label]
    norm2 = 0.0
    along = 0.0
    for k in range(n_classes):
        if theta[k] > 0.0:
            entropy -= theta[k] * np.log(theta[k])
        linear += theta[k] * logits[k]
        e_k = theta[k] - (1.0 if k == label else 0.0)
        along += e_k * shift[k]
        row = 0.0
        for m in range(n_classes):
            row += gram[k, m] * (theta[m] - (1.0 if m == label else 0.0))
        norm2 += e_k * row
    kappa = np.sqrt(max(norm2, 0.0))
    if kappa == 0.0:
        return entropy, linear - min(lam_p, lam_a) * np.sqrt(distance2)
    along /= kappa
    across = np.sqrt(max(distance2 - along * along, 0.0))
    return entropy, linear + _lens_minimum(kappa, lam_p, lam_a, along, across)


@njit
def _log_sum_exp(z):
    top = z.max()
    return top + np.log(np.exp(z - top).sum())


@njit
def _simplex_dual_bound(barycentric, scores, offset, target, max_steps):
    """``min_{mu >= 0} logsumexp(scores + B'mu) - offset`` from ``mu = 0``.

    ``max {H(theta) + scores'theta : theta in S}`` for the sub-simplex ``S =
    {theta in the simplex : B theta >= 0}`` (``B`` its barycentric map) is at
    most that value for every ``mu >= 0`` (Lagrangian duality; over the whole
    simplex the maximum is the log-sum-exp), so any iterate is a valid bound.
    Projected Newton steps, stopping once the bound is below ``target``.
    Returns the bound and the softmax point of the last ``mu``.
    """
    n_classes = scores.shape[0]
    mu = np.zeros(n_classes)
    z = scores.copy()
    value = _log_sum_exp(z) - offset
    p = np.exp(z - z.max())
    p /= p.sum()
    for _ in range(max_steps):
        if value <= target:
            break
        gradient = barycentric @ p
        free = np.flatnonzero((mu > 0.0) | (gradient < 0.0))
        if free.size == 0:
            break
        hessian = (barycentric * p[None, :]) @ barycentric.T - np.outer(gradient,
                                                                          gradient)
        # Least squares: the Hessian is singular where softmax weights underflow.
        direction = np.linalg.lstsq(hessian[free][:, free], gradient[free])[0]
        if not gradient[free] @ direction > 1e-14:
            break
        step = 1.0
        improved = False
        for _ in range(30):
            trial = mu.copy()
            for q in range(free.size):
                trial[free[q]] = max(0.0, mu[free[q]] - step * direction[q])
            z_trial = scores + barycentric.T @ trial
            trial_value = _log_sum_exp(z_trial) - offset
            if trial_value < value:
                mu, z, value, improved = trial, z_trial, trial_value, True
                break
            step *= 0.5
        if not improved:
            break
        p = np.exp(z - z.max())
        p /= p.sum()
    return value, p


@njit
def paired_simplex_suprema(logits, gram, shifts, distances2, labels, lam_p, lam_a,
                           tolerance, max_nodes, values, uppers, thetas):
    """Certified ``max_theta h_i(theta)`` over the simplex for every row.

    ``h_i`` as in :func:`_simplex_terms` (concave entropy plus a convex lens
    term). On a sub-simplex the convex part lies below its interpolation at the
    vertices, an affine function; the rest is the entropy plus a linear
    function, whose maximum over the sub-simplex is bounded by Lagrangian
    duality (:func:`_simplex_dual_bound`) and by the entropy's tangent at the
    centroid (which converges as simplices shrink, where the duality bound's
    multipliers grow without bound). Simplices whose bound is within
    ``tolerance`` of the best value found are dropped, the others halved
    across their longest edge (depth first). ``values`` gets the best value,
    ``uppers`` a certified upper bound (within ``tolerance`` unless a row used
    ``max_nodes`` simplices), ``thetas`` the maximiser.
    """
    n_rows, n_classes = logits.shape
    capacity = 64 * n_classes + 256
    vertices = np.empty((capacity, n_classes, n_classes))
    convex = np.empty((capacity, n_classes))  # the lens term at each vertex
    point = np.empty(n_classes)
    for i in range(n_rows):
        label = labels[i]
        logit, shift = logits[i], shifts[i]
        best = -np.inf
        for j in range(n_classes):
            for k in range(n_classes):
                vertices[0, j, k] = 1.0 if j == k else 0.0
            entropy, rest = _simplex_terms(vertices[0, j], label, logit, gram,
                                           shift, distances2[i], lam_p, lam_a)
            convex[0, j] = rest - logit[j] + logit[label]
            if entropy + rest > best:
                best = entropy + rest
                thetas[i] = vertices[0, j]
        upper = best
        top = 1
        nodes = 0
        while top > 0:
            top -= 1
            nodes += 1
            simplex = vertices[top].T.copy()  # columns: the vertices
            first, second, longest = 0, 1, -1.0
            for a in range(n_classes):
                for b in range(a + 1, n_classes):
                    edge = 0.0
                    for k in range(n_classes):
                        edge += (vertices[top, a, k] - vertices[top, b, k]) ** 2
                    if edge > longest:
                        first, second, longest = a, b, edge
            bound = np.inf
            if longest > 1e-16:
                # (Smaller simplices: the tangent below is as tight, and their
                # barycentric map is near singular.)
                barycentric = np.linalg.inv(simplex)
                interpolation = barycentric.T @ convex[top]
                bound, p = _simplex_dual_bound(barycentric, logit + interpolation,
                                               logit[label], best + tolerance, 30)
                # The dual's softmax point, pulled into the simplex, a candidate.
                weights = np.maximum(barycentric @ p, 0.0)
                point[:] = simplex @ (weights / weights.sum())
                entropy, rest = _simplex_terms(point, label, logit, gram, shift,
                                               distances2[i], lam_p, lam_a)
                if entropy + rest > best:
                    best = entropy + rest
                    thetas[i] = point
            # The entropy's tangent at the centroid plus the affine parts.
            centroid = simplex.sum(axis=1) / n_classes
            slope = -np.log(centroid)
            base = centroid @ slope
            tangent = -np.inf
            for j in range(n_classes):
                vertex = vertices[top, j]
                tangent = max(tangent, base + slope @ (vertex - centroid)
                              + vertex @ logit - logit[label] + convex[top, j])
            bound = min(bound, tangent)
            if bound <= best + tolerance:
                upper = max(upper, bound)
                continue
            if longest < 1e-24 or top + 2 > capacity or nodes >= max_nodes:
                upper = max(upper, bound)
                continue
            point[:] = 0.5 * (vertices[top, first] + vertices[top, second])
            entropy, rest = _simplex_terms(point, label, logit, gram, shift,
                                           distances2[i], lam_p, lam_a)
            if entropy + rest > best:
                best = entropy + rest
                thetas[i] = point
            lens = rest - point @ logit + logit[label]
            vertices[top + 1] = vertices[top]
            convex[top + 1] = convex[top]
            vertices[top, second] = point
            convex[top, second] = lens
            vertices[top + 1, first] = point
            convex[top + 1, first] = lens
            top += 2
        values[i] = best
        uppers[i] = max(upper, best)


@njit
def slack_terms(F, a, values, inverse):
    """Minimise ``a_i tau - sum_k log(tau - F_ik)`` over ``tau`` for every row.

    ``F`` holds each row's terms (``-inf`` for padding). Writes the minimum to
    ``values`` and ``1 / (tau - F_ik)`` to ``inverse``. In ``x = tau - max_k F_ik``
    the condition ``sum_k 1 / (x + delta_k) = a_i`` is convex decreasing in ``x``;
    Newton's method from ``x = 1 / a_i`` (left of the root) climbs to it
    monotonically, each row to its own convergence.
    """
    n_rows, width = F.shape
    for i in range(n_rows):
        top = -np.inf
        for k in range(width):
            top = max(top, F[i, k])
        if not (a[i] > 0.0 and np.isfinite(top) and np.isfinite(a[i])):
            # Outside the barrier's domain (overflowed terms): an infinite value
            # that the caller's line search rejects.
            values[i] = np.inf
            for k in range(width):
                inverse[i, k] = 0.0
            continue
        x = 1.0 / a[i]
        for _ in range(200):
            first = 0.0
            second = 0.0
            for k in range(width):
                if F[i, k] > -np.inf:
                    term = 1.0 / (x + (top - F[i, k]))  # x below top's rounding
                    first += term
                    second += term * term
            if not second > 0.0:
                break
            step = (first - a[i]) / second
            x += step
            if step <= 1e-15 * x:
                break
        value = a[i] * (x + top)
        for k in range(width):
            if F[i, k] > -np.inf:
                term = 1.0 / (x + (top - F[i, k]))  # x below top's rounding
                inverse[i, k] = term
                value += np.log(term)
            else:
                inverse[i, k] = 0.0
        values[i] = value
