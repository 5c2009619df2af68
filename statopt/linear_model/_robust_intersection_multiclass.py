"""Exact dual of the multiclass robust classifier over two intersected, paired balls.

The problem of :mod:`._robust_intersection` with ``K > 2`` classes, logits ``W z +
b`` and the cross-entropy loss. Writing the loss through its conjugate,
``l(s, y) = max_{theta in simplex} H(theta) + (theta - e_y)'s``, each row's inner
supremum becomes

    T_i = max_theta H(theta) + e'(W q_i + b) + lens(W'e),   e = theta - e_{y_i},

with ``lens(v) = min {u'(p_i - q_i) : ||u|| <= lam_P, ||u - v|| <= lam_A}``
convex in ``theta`` and ``H`` concave: a difference of convex functions on the
``(K - 1)``-dimensional simplex, certified by a branch and bound on sub-simplices
(:func:`~statopt.linear_model._kernels.paired_simplex_suprema`). Its cost grows
quickly with ``K`` (see the user guide), hence :data:`MAX_EXACT_CLASSES`.

The outer problem is the same proximal bundle method as for two classes, on a
master whose terms are cross-entropies at the points found so far, with the
Lipschitz condition ``||w_k - w_l|| <= lam_P + lam_A`` (every pair of classes
that holds a label) as second-order cones. The certificate is weak duality with
the worst-case distribution the master's multipliers describe, bounded below
through the entropy dual of multinomial logistic regression.
"""

import numpy as np
from scipy.optimize import nnls
from scipy.special import entr, logsumexp, softmax

from .._numba import kernel_input
from ._kernels import paired_simplex_suprema
from ._robust_dual import (
    _OUTER_BUDGET,
    _central_path,
    _packed_outer,
    _pair_cones,
    _softmax_derivatives,
)
from ._robust_intersection import (
    _SUPREMUM_SHARE,
    _maximisers,
    _PointMaster,
    _recentre,
    _slack_terms,
    bundle,
    unit_scale,
)

# Classes up to which auxiliary_solver='exact' runs: the simplices each row's
# certificate needs grow five to tenfold per class (measured on digits: a median
# of 31 / 285 / 1372 / 8517 at 3 / 4 / 5 / 6 classes; 10 classes did not reach
# a 1e-7 certificate within 200,000 simplices per row).
MAX_EXACT_CLASSES = 5
# Simplices per row before the branch and bound stops (with a looser but still
# certified upper bound).
_MAX_NODES = 1_000_000


def multiclass_row_suprema(W, b, lam_p, lam_a, P, Q, labels, tolerance):
    """Certified ``T_i`` of every row, with the points ``z_i`` attaining them.

    Returns ``values`` (attained), ``uppers`` (certified upper bounds) and the
    maximisers ``Z``. Requires ``||w_k - w_l|| <= lam_P + lam_A`` for the pairs
    of classes that hold a label.
    """
    difference = P - Q
    n_rows, n_classes = P.shape[0], W.shape[0]
    values, uppers = np.empty(n_rows), np.empty(n_rows)
    thetas = np.empty((n_rows, n_classes))
    paired_simplex_suprema(
        kernel_input(Q @ W.T + b), kernel_input(W @ W.T),
        kernel_input(difference @ W.T), kernel_input(np.einsum(
            "ij,ij->i", difference, difference)), kernel_input(labels, np.intp),
        float(lam_p), float(lam_a), float(tolerance), _MAX_NODES, values, uppers,
        thetas)
    # The lens is taken in the plane of v = W'(theta - e_y) and p - q.
    v = (thetas - np.eye(n_classes)[labels]) @ W
    kappa = np.linalg.norm(v, axis=1)
    unit = v / np.where(kappa > 0, kappa, 1.0)[:, None]
    along = np.einsum("ij,ij->i", unit, difference)
    perpendicular = difference - along[:, None] * unit
    across = np.linalg.norm(perpendicular, axis=1)
    return values, uppers, _maximisers(kappa, lam_p, lam_a, P, Q, unit, along,
                                       across, perpendicular)


class _MulticlassMaster(_PointMaster):
    """The dual with each ``T_i`` restricted to finitely many points ``z``.

    Variables ``v``: class ``k < K - 1`` holds ``w_k`` then ``b_k`` (the last
    class is held at zero: logits matter up to a common shift), then ``lam_P,
    lam_A``. Each row starts with its two anchors.
    """

    # Each round's barrier path starts at this share of its last parameter (see
    # the two-class master): from further along, the first centring took most
    # of a round's Newton steps (4 classes of digits on 10 components: over
    # 10,000 steps without a certificate at 1e-4, 1,049 steps to a 1e-8 gap at
    # 1e-6; iris, wine and 3 digits within 40% either way).
    warm_start = 1e-6
    # The model's own minimum certifies the optimum from below (see solve): on
    # all 64 pixels of digits the worst-case distribution's bound stayed near 0
    # until the model was nearly exact.
    model_bounds = True

    def __init__(self, P, Q, labels, weights, radii, n_classes, fit_intercept):
        self.labels, self.n_classes = labels, n_classes
        present = np.bincount(labels, minlength=n_classes) > 0
        # A pair's cone matters when a row's label is one of the two.
        self.pairs = [(k, m) for k in range(n_classes) for m in range(k + 1, n_classes)
                      if present[k] or present[m]]
        self.stride = P.shape[1] + 1
        self.size = (n_classes - 1) * self.stride
        self.free = np.ones(self.size + 2, dtype=bool)
        if not fit_intercept:
            self.free[P.shape[1]:self.size:self.stride] = False
        super().__init__(P, Q, weights, radii, bool(fit_intercept))

    def _lay_out_terms(self):
        owner = self.owner
        self.design = np.column_stack([self.Z, np.ones(owner.size)])
        self.onehot = np.eye(self.n_classes)[self.labels[owner]]
        # The softmax Hessian's outer products of the points, kept with them (the
        # points change once per round, the Hessian at every Newton step).
        self.packed = (_packed_outer(self.design) if owner.size * self.stride * (
            self.stride + 1) // 2 <= _OUTER_BUDGET else None)

    def unpack(self, v):
        packed = np.zeros((self.n_classes, self.stride))
        packed[:-1] = v[:self.size].reshape(self.n_classes - 1, self.stride)
        return packed[:, :-1], packed[:, -1], v[-2:]

    def terms(self, v):
        """Logits of the points and the row-by-point table of their terms."""
        W, b, lam = self.unpack(v)
        logits = self.Z @ W.T + b
        losses = logsumexp(logits, axis=1) - np.einsum("ij,ij->i", logits,
                                                       self.onehot)
        F = np.full((self.P.shape[0], self.width), -np.inf)
        F[self.owner, self.slot] = losses - self.costs @ lam
        return logits, F

    def value(self, v):
        return self.radii @ v[-2:] + self.weights @ self.terms(v)[1].max(axis=1)

    def _point_gradients(self, logits, lam):
        """Each point's term differentiated in ``v``, and the residuals."""
        residuals = softmax(logits, axis=1) - self.onehot
        n_kept = self.n_classes - 1
        gradients = np.empty((self.owner.size, self.size + 2))
        gradients[:, :self.size] = (residuals[:, :n_kept, None]
                                    * self.design[:, None, :]).reshape(
                                        self.owner.size, self.size)
        gradients[:, -2:] = -self.costs
        return gradients, residuals

    def solve(self, v, center, proximal, free, tol, max_iter, verbose, first_t=None):
        """Minimise the model plus ``proximal / 2 ||v - center||^2`` from ``v``.

        As :meth:`._robust_intersection._Master.solve`, with a cross-entropy
        per point and a cone per pair of classes. Returns the point, the
        Newton steps and the masses of the points.
        """
        size, owner, slot = self.size, self.owner, self.slot
        weights, radii = self.weights, self.radii
        degree = float(owner.size + 2 * len(self.pairs) + 2)

        def barrier(v, t, derivatives):
            W, _, lam = self.unpack(v)
            if not np.all(lam > 0):
                return np.inf, None, None
            cone, cone_gradient, cone_hessian = _pair_cones(
                W, lam.sum(), self.pairs, self.stride, size + 1,
                bool(derivatives))
            if not np.isfinite(cone):
                return np.inf, None, None
            logits, F = self.terms(v)
            slack, inverse = _slack_terms(t * weights, F)
            step = v - center
            value = (t * (radii @ lam + 0.5 * proximal * step @ step) + slack.sum()
                     + cone - np.log(lam).sum())
            if not derivatives:
                return value, None, None
            pi = inverse[owner, slot]
            gradients, residuals = self._point_gradients(logits, lam)
            gradient = gradients.T @ pi + t * proximal * step
            gradient[-2:] += t * radii
            # The eliminated slack (see the two-class master), plus the losses'
            # curvature.
            scaled = gradients * (pi * pi)[:, None]
            hessian = scaled.T @ gradients
            _softmax_derivatives(self.design, residuals, self.onehot, pi,
                                 self.n_classes - 1, self.packed,
                                 add_to=hessian[:size, :size])
            row_sums = self.rows @ scaled
            totals = self.rows @ (pi * pi)
            hessian -= (row_sums / totals[:, None]).T @ row_sums
            hessian[np.diag_indices(size + 2)] += t * proximal
            # The cones see lam_P + lam_A: their last coordinate, twice.
            gradient[:size] += cone_gradient[:size]
            gradient[-2:] += cone_gradient[-1] - 1.0 / lam
            hessian[:size, :size] += cone_hessian[:size, :size]
            hessian[:size, -2:] += cone_hessian[:size, -1:]
            hessian[-2:, :size] += cone_hessian[-1:, :size]
            hessian[-2:, -2:] += cone_hessian[-1, -1]
            hessian[[-2, -1], [-2, -1]] += 1.0 / lam**2
            return value, gradient, hessian

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v, gap, steps = _central_path(barrier, v, free, degree, tol, max_iter,
                                          verbose, first_t=first_t)
        # Without the proximal term the path's point is within gap of the
        # model's minimum, a lower bound of the optimum (the model restricts
        # every row's supremum to finitely many points).
        self.model_bound = (self.value(v) - gap if proximal == 0 and gap < np.inf
                            else -np.inf)
        t = degree / gap if 0 < gap < np.inf else degree / tol
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v = _recentre(barrier, v, free, t)
        masses = self._barrier_masses(v, t)
        # The cones' multipliers at t: the derivative of their barrier in lam.
        W, _, lam = self.unpack(v)
        total = lam.sum()
        room = total**2 - np.array([np.sum((W[k] - W[m]) ** 2)
                                    for k, m in self.pairs])
        cones = np.where(room > 0, 2.0 * total / (t * room), 0.0)
        return v, steps, (masses, cones)

    def stationary_masses(self, v, spread=1e-9):
        """Masses of the points that make ``v`` stationary, by least squares.

        As :func:`._robust_intersection.kkt_masses`: the points within
        ``spread`` of their row's maximum, and a multiplier per pair cone at its
        bound, meet the optimality conditions in ``(W, b)`` and in the
        multipliers ``lam`` that are positive, each row's masses summing to its
        weight.
        """
        n_rows = self.P.shape[0]
        W, _, lam = self.unpack(v)
        logits, F = self.terms(v)
        term = F[self.owner, self.slot]
        top = F.max(axis=1)[self.owner]
        active = np.flatnonzero(term >= top - spread * (1.0 + np.abs(top)))
        gradients = self._point_gradients(logits, lam)[0][active]
        columns = [np.column_stack([gradients[:, :self.size], -gradients[:, -2:]]).T]
        total = lam.sum()
        cone_pairs = []
        for index, (k, m) in enumerate(self.pairs):
            difference = W[k] - W[m]
            size = np.linalg.norm(difference)
            if total - size <= 1e-6 * total and size > 0:
                cone_pairs.append(index)
                column = np.zeros(self.size + 2)
                for cls, sign in ((k, 1.0), (m, -1.0)):
                    if cls < self.n_classes - 1:
                        start = cls * self.stride
                        column[start:start + self.stride - 1] = sign * difference / size
                column[-2:] = 1.0
                columns.append(column[:, None])
        system = np.hstack(columns)
        target = np.concatenate([np.zeros(self.size), self.radii])
        budgets = np.flatnonzero(lam > 1e-9 * max(lam.max(), 1.0))
        keep = np.concatenate([np.flatnonzero(self.free[:self.size]),
                               self.size + budgets])
        system, target = system[keep], target[keep]
        totals = np.zeros((n_rows, system.shape[1]))
        totals[self.owner[active], np.arange(active.size)] = 1.0
        scale = 1e3 * (1.0 + np.abs(system).max())
        solution = nnls(np.vstack([system, scale * totals]),
                        np.concatenate([target, scale * self.weights]),
                        maxiter=50 * system.shape[1])[0]
        masses = np.zeros(self.owner.size)
        masses[active] = solution[:active.size]
        sums = np.bincount(self.owner, masses, minlength=n_rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            masses *= np.where(sums > 0, self.weights / sums, 0.0)[self.owner]
        cones = np.zeros(len(self.pairs))
        cones[cone_pairs] = solution[active.size:]
        return masses, cones

    def lower_bound(self, multipliers, v):
        """A certified lower bound of the optimum from a distribution in the set.

        As :func:`._robust_intersection.distribution_bound`: ``masses`` on the
        points, mixed with the pair segments' points as far as needed to meet
        both budgets; the cones' multipliers ``nu`` (``multipliers = (masses,
        nu)``, as :meth:`solve` and :meth:`stationary_masses` return them),
        scaled to sum to the budget left, move a vanishing share of a label-``a``
        row to infinity along ``d = (w_c - w_a) / ||w_c - w_a||`` for each pair
        ``(a, c)``, adding at least ``nu (w_c - w_a)'d`` to the loss. The minimum
        of the resulting multinomial logistic regression is bounded below by its
        entropy dual. Returns ``-inf`` when this fails.
        """
        masses, cones = multipliers
        P, Q, weights, labels = self.P, self.Q, self.weights, self.labels
        radius_p, radius_a = self.radii
        costs = masses @ self.costs
        fraction = radius_p / (radius_p + radius_a)
        distances = np.linalg.norm(P - Q, axis=1)
        middle_costs = weights @ distances * np.array([fraction, 1.0 - fraction])
        share = 0.0
        for cost, radius, middle in zip(costs, self.radii, middle_costs):
            if cost > radius:
                share = max(share, (cost - radius) / (cost - middle))
        costs = (1.0 - share) * costs + share * middle_costs
        rho = max(0.0, float(np.min(self.radii - costs)))
        W, b, lam = self.unpack(v)
        points = np.vstack([self.Z, P + fraction * (Q - P)])
        rows = np.concatenate([self.owner, np.arange(P.shape[0])])
        q = np.concatenate([(1.0 - share) * masses, share * weights])
        keep = q > 0
        points, rows, q = points[keep], rows[keep], q[keep]
        if not q.size:
            return -np.inf  # no masses found (a failed least squares)
        design = np.column_stack([points, np.full(len(q), float(self.fit_intercept))])
        # Label m escapes along w_k - w_m (or k along w_m - w_k): the same term
        # nu (w_k - w_m)'d, so either label may hold it.
        escape = np.zeros((self.n_classes, self.stride))
        if cones.sum() > 0:
            # The multipliers share out the budget left (at an optimum they sum
            # to it; the barrier's scale is only as good as its centring).
            cones = cones * (rho / cones.sum())
            for nu, (k, m) in zip(cones, self.pairs):
                difference = W[k] - W[m]
                size = np.linalg.norm(difference)
                if nu > 0 and size > 0:
                    escape[k, :-1] += nu * difference / size
                    escape[m, :-1] -= nu * difference / size
        start = np.column_stack([W, b if self.fit_intercept else np.zeros_like(b)])
        return max(_entropy_bound(design, labels[rows], q, escape, start),
                   _entropy_bound(design, labels[rows], q, np.zeros_like(escape),
                                  start))


def _entropy_bound(design, labels, q, target, start):
    """``min_V sum_j q_j l(V a_j, y_j) + <target, V>`` from below, certified.

    The entropy dual: ``sum_j q_j H(theta_j)`` for any ``theta_j`` in the
    simplex with ``sum_j q_j (theta_j - e_{y_j}) a_j' = -target``. Candidates
    ``theta_j = softmax(V a_j)`` at ``start`` and at the end of damped Newton
    steps from it (the last class held at zero), each made feasible by the
    least-norm correction ``delta_j = q_j G a_j``; the larger bound is returned,
    ``-inf`` if both leave the simplex. (When the points are nearly separable
    the minimum lies far out and Newton's iterates run off towards it, with
    probabilities near 0 or 1 and a bound near 0: the start, a near-optimal
    point of the robust problem, is then the better candidate.)
    """
    n_classes, stride = target.shape
    onehot = np.eye(n_classes)[labels]
    packed = (_packed_outer(design) if design.shape[0] * stride * (stride + 1) // 2
              <= _OUTER_BUDGET else None)
    weighted = design * q[:, None]
    inverse = np.linalg.pinv(weighted.T @ weighted)

    def objective(V):
        logits = design @ V.T
        top = logits.max(axis=1, keepdims=True)
        losses = (top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
                  - np.einsum("ij,ij->i", logits, onehot))
        return q @ losses + np.sum(target * V)

    def corrected(V):
        with np.errstate(over="ignore", invalid="ignore"):
            theta = softmax(design @ V.T, axis=1)
            residual = ((theta - onehot) * q[:, None]).T @ design + target
        if not np.all(np.isfinite(residual)):
            return -np.inf
        theta = theta - q[:, None] * (design @ (residual @ inverse).T)
        # Entries of zero probability come back as rounding around zero.
        if not np.all(theta >= -1e-14):
            return -np.inf
        theta = np.maximum(theta, 0.0)
        theta /= theta.sum(axis=1, keepdims=True)
        left = ((theta - onehot) * q[:, None]).T @ design + target
        if not np.abs(left).max() <= 1e-9 * (1.0 + np.abs(target).max()):
            return -np.inf
        return float(q @ entr(theta).sum(axis=1))

    V = start - start[-1]
    at_start = corrected(V)
    value = objective(V)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(50):
            residuals = softmax(design @ V.T, axis=1) - onehot
            gradient, hessian = _softmax_derivatives(design, residuals, onehot, q,
                                                     n_classes - 1, packed)
            gradient = gradient + target[:-1].ravel()
            if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(gradient))):
                return at_start
            step = np.linalg.lstsq(hessian, gradient, rcond=1e-12)[0]
            decrement = gradient @ step
            # Below rounding of the objective no line search can succeed.
            if not decrement > 1e-15 * (abs(value) + 1e-300):
                break
            size = 1.0
            while size > 1e-10:
                trial = V.copy()
                trial[:-1] -= size * step.reshape(n_classes - 1, stride)
                trial_value = objective(trial)
                if trial_value <= value - 0.25 * size * decrement:
                    break
                size *= 0.5
            else:
                break
            V, value = trial, trial_value
            if not np.abs(V).max() < 1e8:
                return at_start  # running off: no finite minimum
    return max(at_start, corrected(V))


def paired_multiclass_dual(P, Q, labels, weights, radius_p, radius_a, n_classes,
                           fit_intercept, tol, max_iter, verbose=0):
    """Solve the exact dual above for ``K > 2`` classes (a proximal bundle method).

    Parameters as :func:`._robust_intersection.paired_binary_dual`, with
    integer ``labels`` in ``[0, n_classes)``. Returns ``W, b, (lam_P, lam_A),
    objective, gap, n_steps, points`` (``W`` of shape ``(n_classes,
    n_features)``, the last class's row zero).
    """
    unit, P, Q, radii = unit_scale(P, Q, radius_p, radius_a)
    radius_p, radius_a = radii
    master = _MulticlassMaster(P, Q, labels, weights, radii, n_classes,
                               fit_intercept)

    def evaluate(v):
        W, b, lam = master.unpack(v)
        values, uppers, Z = multiclass_row_suprema(W, b, lam[0], lam[1], P, Q,
                                                   labels, _SUPREMUM_SHARE * tol)
        return radii @ lam + weights @ uppers, values, Z

    start = np.zeros(master.size + 2)
    frequencies = np.bincount(labels, weights, minlength=n_classes)
    if fit_intercept and np.all(frequencies > 0):
        start[P.shape[1]:master.size:master.stride] = np.log(
            frequencies[:-1] / frequencies[-1])
    start[-2:] = 1.0 / max(1.0, radius_p + radius_a)
    best, upper, lower, steps = bundle(master, evaluate, start, master.free, tol,
                                       max_iter, verbose)
    W, b, lam = master.unpack(best)
    return (W / unit, b, (lam[0] / unit, lam[1] / unit), float(upper),
            float(upper - lower), steps, (master.Z * unit, master.owner))
