"""Exact dual of the binary robust classifier over two intersected, paired balls.

Row ``i`` has a primary anchor ``p_i`` and an auxiliary anchor ``q_i`` (both with
label ``y_i`` in {-1, 1}), weight ``s_i``; the ambiguity set moves each row's mass
within ``E ||xi - p_i|| <= r_P`` and ``E ||xi - q_i|| <= r_A`` along one plan. Its
Lagrangian dual (strong when the mean paired distance is below ``r_P + r_A``) is

    min_{w, b, lam_P, lam_A >= 0}  lam_P r_P + lam_A r_A + sum_i s_i T_i,
    T_i = sup_z l(y_i (w'z + b)) - lam_P ||z - p_i|| - lam_A ||z - q_i||,

finite iff ``||w|| <= lam_P + lam_A``, convex in ``(w, b, lam)``, but each ``T_i``
is the supremum of a convex function minus a convex one. Writing the logistic loss
through its conjugate, ``l(m) = max_{0 <= theta <= 1} H(theta) - theta m`` (``H``
the binary entropy), and the supremum over ``z`` of a linear function minus the
two distances as an infimal convolution turns ``T_i`` into

    T_i = max_{0 <= theta <= 1} H(theta) - theta y_i (w'q_i + b)
          + min {u'(p_i - q_i) : ||u|| <= lam_P, ||u + theta y_i w|| <= lam_A},

one variable: the minimum over the lens of two discs has a closed form in the
plane of ``w`` and ``p_i - q_i`` and is convex in ``theta``, so a branch and bound
on concave-plus-convex bounds certifies the maximum
(:func:`~statopt.linear_model._kernels.paired_suprema`).

The outer problem is solved by a proximal bundle method whose model keeps, for
each row, finitely many points ``z`` (first the two anchors) and replaces ``T_i``
by the maximum over them: a lower model, exact wherever a row's maximiser is
among its points. Each round minimises the model plus a proximal term around
the best point (a barrier method), and the maximisers at the new point join the
model. The upper bound is the certified objective at the best point. The lower
bound is weak duality: any distribution ``Q`` in the ambiguity set gives
``min_{w, b} E_Q l <=`` the optimum; ``Q`` is the worst case the model's
multipliers describe (mass on the points, and a share escaping to infinity that
spends the budget the cone ``||w|| <= lam_P + lam_A`` prices), and its minimum
is certified through the entropy dual of the logistic loss. The solve stops when
the bounds are within ``tol``.
"""

import numpy as np
from scipy.optimize import nnls
from scipy.sparse import csr_array
from scipy.special import expit, log_expit, xlogy

from .._numba import kernel_input
from ._kernels import paired_suprema, slack_terms
from ._robust_dual import _central_path

# Certified accuracy of each row's one-dimensional maximisation, relative to tol.
_SUPREMUM_SHARE = 1e-3
# The model's minimum is solved to (at least) this share of tol.
_MASTER_SHARE = 0.25
# A maximiser joins the master when it beats the row's points by this share of tol.
_ADD_SHARE = 1e-2
# Bundle rounds before giving up (each adds at most one point per row), and the
# rounds without progress that end the solve.
_MAX_ROUNDS = 500
_STALL = 10
# Each round after the first starts its barrier path this far along (relative to
# the last parameter it needs): the proximal term keeps the new minimum near the
# last one (measured on digits 3 vs 8: 875-2324 Newton steps instead of
# 1456-3686 from the path's start, the same bounds).
_WARM_START = 1e-4


def _plane(w, y_sign, P, Q):
    """Coordinates of ``d_i = p_i - q_i`` along ``e_i = -y_i w / ||w||`` and across."""
    size = np.linalg.norm(w)
    difference = P - Q
    if size == 0.0:
        along = np.zeros(P.shape[0])
        unit = np.zeros_like(P)
    else:
        unit = -y_sign[:, None] * (w / size)
        along = np.einsum("ij,ij->i", unit, difference)
    perpendicular = difference - along[:, None] * unit
    across = np.linalg.norm(perpendicular, axis=1)
    return size, unit, along, across, perpendicular


def row_suprema(w, b, lam_p, lam_a, P, Q, y_sign, tolerance):
    """Certified ``T_i`` of every row, with the points ``z_i`` attaining them.

    Returns ``values`` (attained), ``uppers`` (certified upper bounds) and the
    maximisers ``Z`` (one row each). Requires ``||w|| < lam_P + lam_A``.
    """
    size, unit, along, across, perpendicular = _plane(w, y_sign, P, Q)
    margins = y_sign * (Q @ w + b)
    n_rows = P.shape[0]
    values, uppers, thetas = np.empty(n_rows), np.empty(n_rows), np.empty(n_rows)
    paired_suprema(kernel_input(margins), kernel_input(along), kernel_input(across),
                   float(size), float(lam_p), float(lam_a), float(tolerance),
                   values, uppers, thetas)
    return values, uppers, _maximisers(thetas * size, lam_p, lam_a, P, Q, unit,
                                       along, across, perpendicular)


def _maximisers(kappa, lam_p, lam_a, P, Q, unit, along, across, perpendicular):
    """The point ``z`` of each row that attains ``T_i`` at its ``theta``.

    The lens minimiser ``u`` (and ``v = c - u``) are the subgradients of the two
    distance terms at ``z``: the auxiliary anchor when disc P's minimiser lies in
    disc A, the primary anchor in the mirrored case, and otherwise (the lens
    corner) the point where ``z - p = t_1 u`` and ``z - q = t_2 v``.
    """
    length = np.sqrt(along**2 + across**2)
    safe = np.where(length > 0, length, 1.0)
    at_q = np.hypot(-lam_p * along / safe - kappa, lam_p * across / safe) <= lam_a
    at_p = np.hypot(kappa - lam_a * along / safe, lam_a * across / safe) <= lam_p
    Z = np.where(at_q[:, None], Q, P)
    corner = ~(at_q | at_p) & (across > 0) & (kappa > 0)
    if np.any(corner):
        k = kappa[corner]
        alpha = (lam_p**2 - lam_a**2 + k * k) / (2.0 * k)
        height = np.sqrt(np.maximum(lam_p**2 - alpha**2, 0.0))
        # t_2 (k - alpha, height) + t_1 (-alpha, height) = (along, across).
        determinant = (k - alpha) * height + alpha * height
        t1 = ((k - alpha) * across[corner] - height * along[corner]) / determinant
        normal = perpendicular[corner] / across[corner][:, None]
        u = alpha[:, None] * unit[corner] - height[:, None] * normal
        Z[corner] = P[corner] + np.maximum(t1, 0.0)[:, None] * u
    return Z


def _slack_terms(a, F):
    """Minimise ``a tau - sum_k log(tau - F_k)`` over ``tau`` for every row.

    Returns the values and ``pi_k = 1 / (tau - F_k)`` (zero for the ``-inf``
    padding of ``F``); see :func:`~statopt.linear_model._kernels.slack_terms`.
    """
    values = np.empty(F.shape[0])
    inverse = np.empty(F.shape)
    slack_terms(kernel_input(F), kernel_input(a), values, inverse)
    return values, inverse


class _PointMaster:
    """Finitely many points ``z`` per row (first its two anchors) for a master.

    Keeps the points, the row that owns each and its slot among the row's
    points, the sparse row sums, and each point's distances to the two anchors;
    subclasses lay out their loss terms in :meth:`_lay_out_terms`.
    """

    warm_start = _WARM_START

    def __init__(self, P, Q, weights, radii, fit_intercept):
        self.P, self.Q, self.weights = P, Q, weights
        self.radii = np.asarray(radii, dtype=float)
        self.fit_intercept = fit_intercept
        self.Z = np.vstack([P, Q])
        self.owner = np.tile(np.arange(P.shape[0]), 2)
        self._layout()

    def add(self, Z, rows):
        self.Z = np.vstack([self.Z, Z])
        self.owner = np.concatenate([self.owner, rows])
        self._layout()

    def _layout(self):
        n_rows = self.P.shape[0]
        owner = self.owner
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=n_rows)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.slot = np.empty(owner.size, dtype=np.intp)
        self.slot[order] = np.arange(owner.size) - np.repeat(starts, counts)
        self.width = counts.max()
        # Sums over each row's points, as one sparse product.
        self.rows = csr_array((np.ones(owner.size), (owner, np.arange(owner.size))),
                              shape=(n_rows, owner.size))
        self.costs = np.column_stack([
            np.linalg.norm(self.Z - self.P[owner], axis=1),
            np.linalg.norm(self.Z - self.Q[owner], axis=1)])
        self._lay_out_terms()

    def _barrier_masses(self, v, t):
        """The points' masses at barrier parameter ``t``: ``pi / t`` shared out
        so that each row's masses sum to its weight."""
        _, F = self.terms(v)
        _, inverse = _slack_terms(t * self.weights, F)
        pi = inverse[self.owner, self.slot]
        return self.weights[self.owner] * pi / np.bincount(self.owner, pi)[self.owner]


class _Master(_PointMaster):
    """The dual with each ``T_i`` restricted to finitely many points ``z``.

    ``T_i >= l(y_i (w'z + b)) - lam_P ||z - p_i|| - lam_A ||z - q_i||`` for every
    ``z``, so the restricted objective is a lower model of the dual objective,
    exact wherever a row's maximiser is among its points. Each row starts with its
    two anchors.
    """

    def __init__(self, P, Q, y_sign, weights, radii, fit_intercept):
        self.y_sign = y_sign
        super().__init__(P, Q, weights, radii, fit_intercept)

    def stationary_masses(self, v, spread=1e-9):
        return kkt_masses(self, v, self.fit_intercept, spread)

    def lower_bound(self, masses, v):
        return distribution_bound(self, masses, v, self.fit_intercept)

    def _lay_out_terms(self):
        owner, n_features = self.owner, self.P.shape[1]
        self.design = np.empty((owner.size, n_features + 1))
        self.design[:, :n_features] = self.y_sign[owner, None] * self.Z
        self.design[:, n_features] = self.y_sign[owner]

    def terms(self, v):
        """Margins of the points and the row-by-point table of their terms."""
        margin = self.design @ v[:-2]
        F = np.full((self.P.shape[0], self.width), -np.inf)
        F[self.owner, self.slot] = -log_expit(margin) - self.costs @ v[-2:]
        return margin, F

    def value(self, v):
        return self.radii @ v[-2:] + self.weights @ self.terms(v)[1].max(axis=1)

    def solve(self, v, center, proximal, free, tol, max_iter, verbose, first_t=None):
        """Minimise the model plus ``proximal / 2 ||v - center||^2`` from ``v``.

        The barrier path starts at ``first_t`` (default: its beginning).

        A barrier method on the epigraph (each row's slack eliminated in closed
        form), ``||w|| <= lam_P + lam_A`` and ``lam > 0``. Returns the point, the
        Newton steps and the masses of the points (the epigraph's multipliers,
        summing to each row's weight).
        """
        n_features = self.P.shape[1]
        dim = n_features + 3
        owner, slot, design, costs = self.owner, self.slot, self.design, self.costs
        weights, radii = self.weights, self.radii
        degree = float(owner.size + 4)

        def barrier(v, t, derivatives):
            w, lam = v[:n_features], v[-2:]
            cone = lam.sum() ** 2 - w @ w
            if not (np.all(lam > 0) and cone > 0 and np.isfinite(cone)):
                return np.inf, None, None
            margin, F = self.terms(v)
            slack, inverse = _slack_terms(t * weights, F)
            step = v - center
            value = (t * (radii @ lam + 0.5 * proximal * step @ step) + slack.sum()
                     - np.log(cone) - np.log(lam).sum())
            if not derivatives:
                return value, None, None
            pi = inverse[owner, slot]
            # Each point's term: the loss through the design, minus its costs.
            gradients = np.empty((owner.size, dim))
            gradients[:, :-2] = -expit(-margin)[:, None] * design
            gradients[:, -2:] = -costs
            gradient = gradients.T @ pi + t * proximal * step
            gradient[-2:] += t * radii
            # The eliminated slack: sum_k pi_k^2 g_k g_k' minus, per row,
            # (sum_k pi_k^2 g_k)(...)' / sum_k pi_k^2; plus the losses' curvature.
            scaled = gradients * (pi * pi)[:, None]
            hessian = scaled.T @ gradients
            curvature = pi * expit(margin) * expit(-margin)
            hessian[:-2, :-2] += (design * curvature[:, None]).T @ design
            row_sums = self.rows @ scaled
            totals = self.rows @ (pi * pi)
            hessian -= (row_sums / totals[:, None]).T @ row_sums
            hessian[np.diag_indices(dim)] += t * proximal
            # The cone (lam_P + lam_A)^2 - ||w||^2 > 0 and the signs of lam.
            cone_gradient = np.concatenate([2.0 * w, [0.0],
                                            np.full(2, -2.0 * lam.sum())])
            gradient += cone_gradient / cone
            gradient[-2:] -= 1.0 / lam
            cone_hessian = np.zeros((dim, dim))
            cone_hessian[np.arange(n_features), np.arange(n_features)] = 2.0
            cone_hessian[-2:, -2:] = -2.0
            hessian += cone_hessian / cone + np.outer(cone_gradient,
                                                      cone_gradient) / cone**2
            hessian[[-2, -1], [-2, -1]] += 1.0 / lam**2
            return value, gradient, hessian

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v, gap, steps = _central_path(barrier, v, free, degree, tol, max_iter,
                                          verbose, first_t=first_t)
        # The multipliers pi / t at the last barrier parameter, t ~ degree / gap:
        # how the points of a row share its mass depends on t.
        t = degree / gap if 0 < gap < np.inf else degree / tol
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v = _recentre(barrier, v, free, t)
        return v, steps, self._barrier_masses(v, t)


def _recentre(barrier, v, free, t, max_steps=20):
    """Newton's method at a fixed barrier parameter, to a decrement of 1e-16.

    The path stops at a loosely centred point (decrement up to about 1e-2),
    whose implied multipliers leave the two balls' budgets unequally used; a
    few more steps (quadratic convergence) make them the central point's.
    """
    for _ in range(max_steps):
        value, gradient, hessian = barrier(v, t, True)
        if not (np.isfinite(value) and np.all(np.isfinite(hessian))):
            break
        direction = np.zeros_like(v)
        direction[free] = -np.linalg.lstsq(hessian[np.ix_(free, free)],
                                           gradient[free], rcond=None)[0]
        decrement = -gradient @ direction
        if not decrement > 1e-16:
            break
        step = 1.0
        while step > 1e-10 and not barrier(v + step * direction, t, False)[0] <= (
                value - 0.25 * step * decrement):
            step *= 0.5
        if step <= 1e-10:
            break
        v = v + step * direction
    return v


def kkt_masses(master, v, fit_intercept, spread=1e-9):
    """Masses of the master's points that make ``v`` stationary, by least squares.

    At an optimum the worst case puts each row's weight on its maximisers, so
    that the weighted loss gradients, the cone's multiplier ``nu`` (zero when
    ``||w|| < lam_P + lam_A``) and the transport budgets satisfy the optimality
    conditions in ``w``, ``b`` and ``lam``. The points within rounding of their
    row's maximum share the row's weight as non-negative least squares chooses;
    the barrier's multipliers, by contrast, carry its ``1 / t`` error. Points
    within ``spread`` of the maximum count as maximisers: any masses give a
    valid bound, and a wider set lets the least squares reach points that tie
    only at the optimum (the anchors of a collapsed model, whose costs vanish
    with the multipliers).
    """
    n_rows, n_features = master.P.shape
    fit_intercept = int(fit_intercept)
    w, lam = v[:n_features], v[-2:]
    margin, F = master.terms(v)
    term = F[master.owner, master.slot]
    top = F.max(axis=1)
    active = np.flatnonzero(term >= top[master.owner] - spread * (1.0 + np.abs(
        top[master.owner])))
    owner = master.owner[active]
    slope = -expit(-margin[active])
    size = np.linalg.norm(w)
    cone_active = lam.sum() - size <= 1e-6 * lam.sum()
    # Columns: the active points' masses, then nu. Rows: w (and b), the two
    # budgets where their multiplier is positive, and each row's total (weighted
    # heavily: it must hold).
    columns = [np.vstack([
        (slope[:, None] * master.design[active]).T[:n_features + fit_intercept],
        master.costs[active].T])]
    direction = np.concatenate([w / max(size, 1e-300), np.zeros(fit_intercept), [1, 1]])
    columns.append((direction if cone_active else np.zeros_like(direction))[:, None])
    system = np.hstack(columns)
    target = np.concatenate([np.zeros(n_features + fit_intercept), master.radii])
    budgets = np.flatnonzero(lam > 1e-9 * max(lam.max(), 1.0))
    keep = np.concatenate([np.arange(n_features + fit_intercept),
                           n_features + fit_intercept + budgets])
    system, target = system[keep], target[keep]
    totals = np.zeros((n_rows, active.size + 1))
    totals[owner, np.arange(active.size)] = 1.0
    scale = 1e3 * (1.0 + np.abs(system).max())
    matrix = np.vstack([system, scale * totals])
    goal = np.concatenate([target, scale * master.weights])
    solution = nnls(matrix, goal, maxiter=50 * matrix.shape[1])[0]
    masses = np.zeros(master.owner.size)
    masses[active] = solution[:-1]
    # Exact row totals (the least squares leaves them within rounding).
    sums = np.bincount(master.owner, masses, minlength=n_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        masses *= np.where(sums > 0, master.weights / sums, 0.0)[master.owner]
    return masses


def _entropy(theta):
    return -xlogy(theta, theta) - xlogy(1.0 - theta, 1.0 - theta)


def distribution_bound(master, masses, v, fit_intercept):
    """A certified lower bound of the optimum from a distribution in the set.

    Any distribution ``Q`` in the ambiguity set gives ``min_{w, b} E_Q l <=``
    the optimum (weak duality). ``Q`` puts ``masses`` on the master's points,
    mixed with the points of the pair segments at the fraction ``r_P / (r_P +
    r_A)`` (inside both balls) as far as needed to meet both transport budgets;
    the budget left, ``rho``, moves a vanishing share of mass to infinity along
    ``-w`` with label +1, which adds ``rho (w_hat'w)_+`` (the loss's recession)
    to the expected loss. Its minimum over ``(w, b)``, with ``rho w_hat'w`` in
    place of the hinge (lower still), is bounded below by the entropy dual:
    ``sum_k q_k H(theta_k)`` for any ``theta`` in [0, 1] with ``sum_k q_k
    theta_k a_k = (rho w_hat, 0)``, ``a_k`` the signed points. Newton's method
    gives ``theta``, and a least-squares correction makes the equation hold.
    Returns ``-inf`` when this fails.
    """
    P, Q, y_sign, weights = master.P, master.Q, master.y_sign, master.weights
    radius_p, radius_a = master.radii
    owner = master.owner
    costs = masses @ master.costs
    fraction = radius_p / (radius_p + radius_a)
    distances = np.linalg.norm(P - Q, axis=1)
    middle_costs = weights @ distances * np.array([fraction, 1.0 - fraction])
    share = 0.0
    for cost, radius, middle in zip(costs, master.radii, middle_costs):
        if cost > radius:
            share = max(share, (cost - radius) / (cost - middle))
    costs = (1.0 - share) * costs + share * middle_costs
    rho = max(0.0, float(np.min(master.radii - costs)))
    w = v[:P.shape[1]]
    size = np.linalg.norm(w)
    direction = w / size if size > 0 else np.zeros_like(w)
    points = np.vstack([master.Z, P + fraction * (Q - P)])
    rows = np.concatenate([owner, np.arange(P.shape[0])])
    q = np.concatenate([(1.0 - share) * masses, share * weights])
    keep = q > 0
    points, rows, q = points[keep], rows[keep], q[keep]
    design = np.column_stack([points, np.ones(len(q))]) * y_sign[rows, None]
    if not fit_intercept:
        design[:, -1] = 0.0
    # With the escaping mass, or (if its linear stand-in is unbounded below: the
    # points do not pin w down) without it.
    start = v[:-2].copy()
    if not fit_intercept:
        start[-1] = 0.0
    return max(_entropy_bound(design, q, np.append(rho * direction, 0.0), start),
               _entropy_bound(design, q, np.zeros(design.shape[1]), start))


def _entropy_bound(design, q, target, start):
    """``min_v sum_k q_k l(a_k'v) + target'v`` from below, certified.

    Newton's method from ``start``, then the entropy dual at ``theta =
    sigmoid(-a'v)`` made feasible (``sum_k q_k theta_k a_k = target``) by a
    least-squares correction; ``-inf`` if that leaves [0, 1] or Newton's method
    diverges.
    """
    v = start
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(100):
            margin = design @ v
            gradient = target - design.T @ (q * expit(-margin))
            curvature = q * expit(margin) * expit(-margin)
            hessian = (design * curvature[:, None]).T @ design
            if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(gradient))):
                return -np.inf  # diverged: the points do not bound w
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
            v = v - step
            if np.abs(step).max() <= 1e-13 * (1.0 + np.abs(v).max()):
                break
        theta = expit(-(design @ v))
        residual = design.T @ (q * theta) - target
        if not np.all(np.isfinite(residual)):
            return -np.inf
    theta = theta - np.linalg.lstsq((design * q[:, None]).T, residual, rcond=None)[0]
    if not np.all((theta >= 0) & (theta <= 1)):
        return -np.inf
    return float(q @ _entropy(theta))


def bundle(master, evaluate, start, free, tol, max_iter, verbose):
    """The proximal bundle method shared by the two- and multiclass duals.

    Each round minimises the master (the dual on the points found so far) plus a
    proximal term around the best point ``v_hat``; the maximisers at the new point
    join the master, which becomes ``v_hat`` if the dual objective fell by a tenth
    of what the model predicted (Kiwiel's proximal bundle method, with the
    exact smooth pieces of the model instead of linear cuts). ``evaluate(v)``
    returns the certified objective at ``v`` with each row's attained value and
    maximiser; the lower bound comes from the master's worst-case distributions
    (``master.lower_bound``). Returns ``v_hat``, the two bounds and the Newton
    steps.
    """
    def extend(v, values, Z):
        _, F = master.terms(v)
        behind = values > F.max(axis=1) + _ADD_SHARE * tol
        if np.any(behind):
            master.add(Z[behind], np.flatnonzero(behind))

    best = start
    upper, values, Z = evaluate(best)
    extend(best, values, Z)
    proximal, lower, steps = 1.0, -np.inf, 0
    history = []
    for rounds in range(1, _MAX_ROUNDS + 1):
        # The next point needs no more accuracy than the bounds' distance, and
        # ever more as rounds go (a lower bound that lags must not hold the
        # master back).
        accuracy = max(_MASTER_SHARE * tol,
                       min(1e-2 * 0.3**rounds, 1e-3 * (upper - lower)))
        first_t = (master.warm_start * master.owner.size / accuracy if rounds > 1
                   else None)
        v, used, masses = master.solve(best, best, proximal, free, accuracy,
                                       max_iter - steps, 0, first_t)
        steps += used
        model = master.value(v)
        # Three distributions: the model's multipliers, and least-squares
        # multipliers at the best point over its maximisers (and near-maximisers).
        # (The least-squares ones only once the model is nearly exact at the best
        # point: before, their Newton solves cost time and bound nothing.)
        lower = max(lower, master.lower_bound(masses, v))
        if getattr(master, "model_bounds", False) and upper - lower > tol:
            steps += master.solve(v, v, 0.0, free, accuracy, max_iter - steps, 0,
                                  first_t)[1]
            lower = max(lower, master.model_bound)
        if upper - master.value(best) <= 1e-3 * max(1.0, abs(upper)):
            lower = max(lower, *(
                master.lower_bound(master.stationary_masses(best, spread), best)
                for spread in (1e-9, 1e-2 * min(upper - lower, 1.0))))
        if verbose:
            print(f"bundle round {rounds}: bounds {lower:.10g} .. {upper:.10g}, "
                  f"model {model:.10g}, "
                  f"{master.owner.size / master.P.shape[0]:.2f} points per row, "
                  f"proximal {proximal:.3g}")
        if upper - lower <= tol or steps >= max_iter:
            break
        # Stalled: neither bound moved by a hundredth of tol in _STALL rounds (the
        # lower bound's rounding floor, about 1e-9, is above tol).
        history.append((upper, lower))
        if len(history) > _STALL and (
                history[-1 - _STALL][0] - upper <= 1e-2 * tol
                and lower - history[-1 - _STALL][1] <= 1e-2 * tol):
            break
        candidate, values, Z = evaluate(v)
        extend(v, values, Z)
        predicted, achieved = upper - model, upper - candidate
        if achieved > 0 and achieved >= 0.1 * predicted:
            best, upper = v, candidate
        if predicted <= tol:
            # The model sees no markedly better point: what is left is the lower
            # bound, whose multipliers are those of the model's own minimum once
            # the proximal term fades.
            proximal = max(1e-3 * proximal, 1e-12)
        elif achieved >= 0.9 * predicted:
            # A step that achieves what the model predicted earns a weaker
            # proximal term; a null step (the model was wrong there) a stronger one.
            proximal = max(0.1 * proximal, 1e-12)
        elif achieved < 0.1 * predicted:
            proximal = min(4.0 * proximal, 1e8)
    return best, upper, lower, steps


def unit_scale(P, Q, radius_p, radius_a):
    """Anchors and radii in units where the anchors' entries have unit root mean
    square: ``unit, P / unit, Q / unit, radii / unit``.

    The proximal and barrier steps are not scale-free (then ``w' = w * unit`` and
    ``lam' = lam * unit``; the objective is unchanged). With entries scaled to a
    largest of one, digits took over 10,000 Newton steps instead of 1,200.
    """
    unit = float(np.sqrt(0.5 * (np.mean(P * P) + np.mean(Q * Q))))
    unit = unit if np.isfinite(unit) and unit > 0 else 1.0
    return unit, P / unit, Q / unit, np.array([radius_p, radius_a]) / unit


def paired_binary_dual(P, Q, y_sign, weights, radius_p, radius_a, fit_intercept,
                       tol, max_iter, verbose=0):
    """Solve the exact dual above for two classes (a proximal bundle method).

    Parameters are the centred, scaled anchors ``P`` and ``Q``, labels in
    {-1, 1}, weights summing to one, the two radii, and the solver settings
    (``max_iter`` bounds the Newton steps of all master problems together).

    Each round minimises the master (the dual on the points found so far) plus a
    proximal term around the best point ``v_hat``; the maximisers at the new point
    join the master, which becomes ``v_hat`` if the dual objective fell by a tenth
    of what the model predicted (Kiwiel's proximal bundle method, with the
    exact smooth pieces of the model instead of linear cuts). The upper bound is
    the certified objective at ``v_hat``; the lower bound comes from the master's
    worst-case distribution (:func:`distribution_bound`).

    Returns ``w, b, (lam_P, lam_A), objective, gap, n_steps, points``: the
    objective is a certified upper bound of the optimum and ``gap`` the distance
    to a certified lower bound; ``points = (Z, owner)`` the master's points and
    the row of each.
    """
    n_rows, n_features = P.shape
    dim = n_features + 3
    free = np.ones(dim, dtype=bool)
    free[n_features] = fit_intercept
    unit, P, Q, radii = unit_scale(P, Q, radius_p, radius_a)
    radius_p, radius_a = radii
    master = _Master(P, Q, y_sign, weights, radii, fit_intercept)

    def evaluate(v):
        values, uppers, Z = row_suprema(v[:n_features], v[n_features], v[-2], v[-1],
                                        P, Q, y_sign, _SUPREMUM_SHARE * tol)
        return radii @ v[-2:] + weights @ uppers, values, Z

    # Multipliers of the order of the loss over the radii keep r lam of the order
    # of the loss at any scale of the radii.
    start = np.zeros(dim)
    start[-2:] = 1.0 / max(1.0, radius_p + radius_a)
    best, upper, lower, steps = bundle(master, evaluate, start, free, tol, max_iter,
                                       verbose)
    w, b, lam = best[:n_features] / unit, best[n_features], best[-2:] / unit
    return (w, b, (lam[0], lam[1]), float(upper), float(upper - lower), steps,
            (master.Z * unit, master.owner))
