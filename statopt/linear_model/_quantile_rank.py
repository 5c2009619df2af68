"""Confidence intervals by inverting the regression rank-score test (Koenker 1994).

R quantreg's ``summary.rq(se="rank")`` calls ``rq.fit.br(ci=TRUE, iid=TRUE,
interp=TRUE)``; this module computes the same intervals on its own route.

For the coefficient ``j`` and a value ``theta``, the restricted regression of
``y - theta x_j`` on the other columns ``Z`` at level ``tau`` has regression rank
scores ``a_i(theta)`` (its dual solution: 1 above the fit, 0 below, in [0, 1] on
it; Gutenbrunner & Jureckova 1992). The rank-score statistic of
``H0: beta_j = theta`` (Gutenbrunner, Jureckova, Koenker & Portnoy 1993) is

    T(theta) = x_j' (a(theta) - (1 - tau)) / sqrt(q_j tau (1 - tau)),

with ``q_j = 1 / [(X'X)^{-1}]_jj`` ('iid': the squared residual norm of ``x_j``
projected on ``Z``) or, for R's ``iid=FALSE`` (Koenker & Machado 1999), the
squared norm of the residuals of the least-squares projection of ``x_j`` on ``Z``
weighted by the Hendricks-Koenker densities. ``a(theta)`` is a step function of
``theta``: it changes only where a residual of the restricted fit crosses zero
(a vertex of the parametric linear program). The interval walks these vertices
up and down from the estimate until ``|T|`` reaches the critical value
``t_{1 - alpha/2, n - p}`` and, as R's ``interp=TRUE``, interpolates linearly
between the left ends of the last accepted and the first rejected step:

    upper = theta_k + (theta_{k+1} - theta_k) (c - |T_k|) / |T_{k+1} - T_k|,

and likewise downwards. When no vertex is left before ``|T|`` reaches ``c`` the
bound is infinite (R returns +-``.Machine$double.xmax``).

The walk is a primal simplex on the dual program ``max (y - theta x_j)' a``,
``Z' a = (1 - tau) Z' 1``, ``0 <= a <= 1`` with a parametric cost: between two
vertices the basis (``p - 1`` rows on the fit) stays; at a vertex the row whose
residual reached zero enters and the ratio test on the one-dimensional line of
duals of the ``p`` rows on the fit decides which row leaves (or that the entering
row only moves to its other bound). Each vertex costs one ``(p-1) x (p-1)`` solve
and ``O(n p)`` for the residuals; about ``sqrt(n)`` vertices are visited per bound.

Degenerate duals. When a dual of the basis already sits at a bound (``n tau``
an integer, as the median of an even number of rows) the ratio test ties. The
statistic on the open steps between vertices is unique either way, but the
vertices passed, and so the two points interpolated between, depend on the
choice. R's rule, read off its intervals (``interp=FALSE`` returns the two
points, ``c.values`` the statistics there): as the walk starts, of the full
fit's rows one whose dual goes to 1 leaves (the restricted fit follows the lower
order statistic); past a crossing the basis is kept (the entering row leaves,
so the fit switches to the other order statistic). With it the intervals equal
R quantreg 5.94's to 1e-11 at all 234 levels ``k / 235`` of Engel's data once
its equal rows are made distinct (foodexp of rows 161, 162, 172 moved by 1e-3).

Rows crossing together. R's ``rqbr`` flips one row per vertex, the one whose
crossing, computed from its simplex tableau, comes first (of exact ties, the
first in the tableau's order); the others are left with their duals on the
wrong side of the fit (the next crossing must lie strictly beyond the current
point), until a later pivot happens to take them. Here:

- rows equal in ``x`` and ``y`` (Engel's rows 160-162 and 171-172), when no
  other row meets the fit there, cross one at a time, each a vertex with its
  statistic, as in ``rqbr`` and in the limit of separating them; of equal rows
  on the fit at the estimate one joins the starting basis, and a row equal to a
  basis row stays on the fit with it. Engel at ``k / 235``: 223 of 234 levels
  equal R (206 with equal rows taken together); at the other 11 R keeps equal
  rows on the wrong side and its statistic is no longer that of the regression
  rank scores (k = 120: -1.1016 past 0.59882, where HiGHS' rank scores give
  -1.3123);
- distinct rows crossing at one point (integer data), with any rows equal to
  them, are one vertex, past which the duals are the optimum over the face of
  duals optimal there (a small LP, HiGHS; one LP per row instead made 3000
  rounded rows 40 times slower). Which of them R flips is decided by the last
  bits of the computed crossings (stackloss at 0.5: rows 18 and 17 at
  0.7 + 1.1e-14 and 0.7 + 3.7e-15), so no rule reproduces it: 7 of 17 levels
  0.1, 0.15, ..., 0.9 of stackloss differ from R by 0.4% to 13% of the
  interval's width; R's statistic past the crossing is not the rank scores'
  (0.5: 1.3977 for 1.4553), ours equals the inversion computed from scratch (at
  0.3, 0.5, 0.55, 0.7, 0.8), and on the response moved by ``i * 1e-4`` (no ties)
  all 19 levels 0.05, ..., 0.95 equal R.

On small simulated data with repeated rows R's walk can also end without
reaching the cutoff (an infinite bound where the statistic rejects) or hold
values that the test rejects from scratch.

As in the rest of :mod:`._quantile_inference`, weights multiply rows and
response (R's convention) before anything else.
"""

import numpy as np
from scipy import optimize, stats

from .._utils import warn_at_caller
from ._quantile_inference import quantile_bandwidth

# rq.fit.br's tolerance: the floor of the 'iid=FALSE' densities.
_BR_EPS = np.finfo(np.float64).eps ** (2 / 3)
# A residual is on the fit when within this share of the scale of its terms.
_ON_FIT = 1e-9
# A dual within this distance of [0, 1] is feasible (rounding of the solves).
_DUAL_TOL = 1e-7
# Work of the walk, n^1.5 p^2 (about sqrt(n) vertices of O(n p) for each of the
# 2 p bounds), above which the caller is warned that it may take minutes.
_SLOW_WORK = 1e9


def rank_intervals(design, y, weights, quantile, alpha=0.05, *, beta, iid=True,
                   refit=None, max_vertices=None):
    """Rank-score test inversion intervals of linear quantile regression.

    Parameters
    ----------
    design : ndarray of shape (n_samples, n_coef)
        Covariates, with the intercept column if any.
    y : ndarray of shape (n_samples,)
        Response.
    weights : ndarray of shape (n_samples,)
        Positive row weights (ones for an unweighted fit); rows and response
        are multiplied by them, as R's ``summary.rq`` does.
    quantile : float
        The level ``tau`` in (0, 1).
    alpha : float, default=0.05
        The intervals have level ``1 - alpha`` (R's ``summary.rq`` passes its
        own default ``alpha=0.1`` to ``rq.fit.br``: 90% intervals).
    beta : ndarray of shape (n_coef,)
        The exact weighted quantile regression coefficients at ``quantile``.
    iid : bool, default=True
        True: R's default ``iid=TRUE``; False: the Koenker-Machado scaling by
        Hendricks-Koenker densities (R's ``iid=FALSE``), which needs ``refit``.
    refit : callable, optional
        ``refit(design, y, weights, level)``: exact coefficients at ``level``
        (``iid=False`` only).
    max_vertices : int, optional
        Refuse (ValueError) after this many vertices for one bound; default
        ``10 n + 100``, never reached by a non-degenerate problem.

    Returns
    -------
    lower, upper : ndarray of shape (n_coef,)
        Bounds, possibly infinite.

    Notes
    -----
    The work grows like ``n^1.5 p^2``: about ``sqrt(n)`` vertices, each of
    ``O(n p)``, for each of the ``2 p`` bounds (R's simplex pivots cost ``O(n p)``
    too). On the development machine, with six coefficients: 0.06 s at
    ``n = 1e3``, 0.5 s at ``1e4``, 14 to 21 s at ``1e5`` (12, 54 and about 100
    times the 'nid' sandwich); a UserWarning says so beyond that work.
    """
    n, p = design.shape
    if n <= p:
        raise ValueError(
            f"se='rank' needs more rows than coefficients; got {n} rows with "
            f"positive weight for {p} coefficients."
        )
    # R's data: rows and response multiplied by the weights (first divided by a
    # power of two, which changes no interval). Powers of two (exact) then bring
    # each column and the response to [0.5, 1), so designs of 1e150 and weights
    # of 1e300 neither overflow nor look singular; the intervals scale back.
    weights = np.ldexp(weights, -int(np.frexp(np.max(weights, initial=0.0))[1]))
    x = weights[:, None] * design
    yw = weights * y
    column_exponents = np.frexp(np.max(np.abs(x), axis=0, initial=0.0))[1]
    response_exponent = int(np.frexp(np.max(np.abs(yw), initial=0.0))[1])
    x = np.ldexp(x, -column_exponents)
    yw = np.ldexp(yw, -response_exponent)
    beta = np.ldexp(np.asarray(beta, dtype=np.float64),
                    column_exponents - response_exponent)
    if np.linalg.matrix_rank(x) < p:
        raise ValueError(
            "se='rank': the weighted design is singular (a constant or duplicated "
            "column among the rows with positive weight)."
        )
    if n**1.5 * p**2 > _SLOW_WORK:
        warn_at_caller(
            f"se='rank' on {n} rows and {p} coefficients walks about "
            f"{2 * p * int(np.sqrt(n))} simplex vertices of O(n p) each and may "
            "take minutes; se='nid' is the large-sample choice (R's summary.rq "
            "switches to it above 1000 rows).",
            UserWarning
        )
    given = beta
    basis, duals, beta = _optimal_vertex(x, yw, quantile, beta)
    if iid:
        scale = 1.0 / np.diag(np.linalg.inv(x.T @ x))
    else:
        scale = _density_scale(x, yw, quantile, refit, response_exponent)
    cutoff = stats.t.ppf(1 - alpha / 2, n - p)
    if max_vertices is None:
        max_vertices = 10 * n + 100
    classes = _equal_rows(x, yw)
    lower, upper = np.empty(p), np.empty(p)
    for j in range(p):
        for direction, out in ((1.0, upper), (-1.0, lower)):
            step = _walk(x, yw, quantile, j, basis, duals, beta,
                         np.sqrt(scale[j] * quantile * (1 - quantile)), cutoff,
                         direction, max_vertices, classes)
            out[j] = beta[j] + direction * step
    # The walk starts at the vertex solved from its basis, which may differ from
    # the coefficients of the fit in the last bits; a bound at the vertex (the
    # test rejects at once) is the estimate, as in R.
    lower, upper = np.minimum(lower, given), np.maximum(upper, given)
    factor = np.ldexp(1.0, response_exponent - column_exponents)
    with np.errstate(over="ignore", invalid="ignore"):
        return lower * factor, upper * factor


def _optimal_vertex(x, y, quantile, beta):
    """A basis of ``p`` rows on the fit at ``beta`` and its dual solution.

    The dual ``a`` satisfies ``X' a = (1 - tau) X' 1`` with ``a_i = 1`` above the
    fit, 0 below and in [0, 1] on it. With more than ``p`` rows on the fit (ties,
    degenerate data) HiGHS' dual simplex picks a vertex of their duals.
    """
    n, p = x.shape
    resid = y - x @ beta
    scale = np.abs(y) + np.abs(x) @ np.abs(beta) + np.max(np.abs(y))
    on_fit = np.abs(resid) <= _ON_FIT * scale
    rows = np.flatnonzero(on_fit)
    if rows.size < p:
        raise ValueError(
            "se='rank' needs the exact optimum (p rows on the fit); these "
            f"coefficients have {rows.size} rows on the fit for {p} coefficients: "
            "fit with solver='exact'."
        )
    duals = (resid > 0).astype(np.float64)
    duals[rows] = 0.0
    target = (1 - quantile) * x.sum(axis=0) - x.T @ duals
    if rows.size == p:
        try:
            duals[rows] = np.linalg.solve(x[rows].T, target)
        except np.linalg.LinAlgError:
            duals[rows] = np.nan
        basis = rows
    else:
        result = optimize.linprog(
            np.zeros(rows.size), A_eq=x[rows].T, b_eq=target,
            bounds=(0.0, 1.0), method="highs-ds")
        if result.status != 0:
            duals[rows] = np.nan
            basis = rows[:p]
        else:
            duals[rows] = result.x
            # The rows with interior duals, completed to a nonsingular basis.
            order = np.argsort(-np.minimum(result.x, 1 - result.x), kind="stable")
            basis = _independent_rows(x, rows[order], p)
    if not (basis.size == p and np.all(np.abs(duals[basis] - 0.5) <= 0.5 + _DUAL_TOL)
            and np.linalg.matrix_rank(x[basis]) == p):
        raise ValueError(
            "se='rank': the coefficients are not an exact quantile regression "
            "optimum for these data; fit with solver='exact'."
        )
    duals[basis] = np.clip(duals[basis], 0.0, 1.0)
    # The vertex itself, so that the basis rows are exactly on the fit.
    return basis, duals, np.linalg.solve(x[basis], y[basis])


def _independent_rows(x, candidates, size):
    chosen = []
    for row in candidates:
        trial = chosen + [row]
        if np.linalg.matrix_rank(x[trial]) == len(trial):
            chosen = trial
            if len(chosen) == size:
                break
    return np.array(chosen, dtype=np.intp)


def _density_scale(x, y, quantile, refit, response_exponent):
    """R's ``iid=FALSE`` ``qn``: ``sum_i e_ij^2``, ``e_j`` the residuals of the
    least-squares projection of ``x_j`` on the other columns weighted by the
    Hendricks-Koenker densities ``f_i = max(eps, 2 h / (x_i'(b(tau+h) - b(tau-h))
    - eps))``."""
    n, p = x.shape
    h = quantile_bandwidth(quantile, n, "hall_sheather")
    # rq.fit.br calls itself at tau +- h unguarded; h is halved until inside (0, 1)
    # as summary.rq's 'nid' does.
    while quantile - h < 0 or quantile + h > 1:
        h /= 2
    ones = np.ones(n)
    difference = x @ (refit(x, y, ones, quantile + h) - refit(x, y, ones, quantile - h))
    n_bad = int(np.count_nonzero(difference <= 0))
    if n_bad:
        warn_at_caller(
            f"{n_bad} rows have non-positive fitted differences between the "
            f"quantiles {quantile - h:.4g} and {quantile + h:.4g} (crossing fits); "
            "their densities are set to rq.fit.br's floor.",
            UserWarning
        )
    # R's eps is in units of the response; the densities are used up to a common
    # factor, here 2^r (the response was divided by 2^r).
    eps = np.ldexp(_BR_EPS, -response_exponent)
    with np.errstate(divide="ignore"):
        density = 2 * h / (difference - eps)
    density = np.where(difference - eps > 0, density, 0.0)
    density = np.maximum(np.ldexp(_BR_EPS, response_exponent), density)
    root = np.sqrt(density)
    scale = np.empty(p)
    for j in range(p):
        others = np.delete(x, j, axis=1)
        coef = np.linalg.lstsq(root[:, None] * others, root * x[:, j], rcond=None)[0]
        scale[j] = np.sum((x[:, j] - others @ coef) ** 2)
    return scale


def _walk(x, y, quantile, j, basis, duals, beta, norm, cutoff, direction,
          max_vertices, classes):
    """Distance from ``beta_j`` to the bound in ``direction`` (+1 up, -1 down)."""
    n, p = x.shape
    xj = x[:, j]
    z = np.delete(x, j, axis=1)
    # theta = beta_j + direction * s: the restricted response y0 - s v, s >= 0.
    y0 = y - beta[j] * xj
    v = direction * xj
    a = duals.copy()
    # At s = 0 the p rows of the full basis, and any tied with them, are on the
    # restricted fit.
    resid = y - x @ beta
    near = np.abs(resid) <= _ON_FIT * (np.abs(y) + np.abs(x) @ np.abs(beta))
    near = _only_equal_rows_apart(near, classes, list(basis))
    h = _cross(z, v, a, list(basis), near, quantile, entering=False)
    # Vertices closer than this are one vertex: the statistic is read on open
    # intervals only, as R reads it past each vertex.
    tie = 1e-10 * max(abs(beta[j]), np.finfo(np.float64).tiny)
    s_cur, s_accept, t_accept = 0.0, 0.0, 0.0
    previous = []
    repeated = np.flatnonzero(np.bincount(classes)[classes] > 1)
    for _ in range(max_vertices):
        k, s_next, near = _next_vertex(z, y0, v, a, h, s_cur, classes, repeated)
        if k >= 0:
            # Equal rows cross one at a time, as in rqbr (one row per vertex) and
            # in the limit of separating them: a row equal to the one just
            # crossed, or to a basis row, is a vertex of its own.
            near = _only_equal_rows_apart(near, classes, h + [k])
            twin = np.any(classes[h + previous] == classes[k])
            previous = [k]
            if s_next <= s_cur + tie * (1 + s_cur) and not twin:
                h = _cross(z, v, a, h + [k], near, quantile)
                continue
        t = xj @ (a - (1 - quantile)) / norm
        if abs(t) >= cutoff:
            return s_accept + (s_cur - s_accept) * (cutoff - abs(t_accept)) / abs(
                t - t_accept)
        if k < 0:
            return np.inf
        s_accept, t_accept = s_cur, t
        s_cur = s_next
        h = _cross(z, v, a, h + [k], near, quantile)
    raise ValueError(
        f"se='rank': no interval bound after {max_vertices} vertices of the rank "
        "test inversion (degenerate data: many ties?); use se='nid' or 'boot'."
    )


def _equal_rows(x, y):
    """Label of each row's class of rows equal in ``x`` and ``y``."""
    data = np.column_stack([x, y])
    order = np.lexsort(data.T[::-1])
    starts = np.r_[True, np.any(data[order][1:] != data[order][:-1], axis=1)]
    label = np.empty(x.shape[0], dtype=np.intp)
    label[order] = np.cumsum(starts)
    return label


def _only_equal_rows_apart(near, classes, rows):
    """``near`` without the rows equal to one of ``rows`` when all the others on
    the fit are such rows; else unchanged.

    Those rows then cross one at a time. Among distinct rows meeting the fit
    together, rqbr's choice depends on the rounding of the crossing points, and
    the face of optimal duals is solved at once (one small LP instead of one per
    row on heavily tied data).
    """
    on_fit = np.flatnonzero(near)
    if on_fit.size <= len(rows) or not set(classes[on_fit]) <= set(classes[rows]):
        return near
    near = np.zeros_like(near)
    near[rows] = True
    return near


def _next_vertex(z, y0, v, a, h, s_cur, classes, repeated):
    """The row whose residual next leaves the side its dual says, where, and the
    mask of rows on the fit there."""
    n, q = z.shape
    if q:
        coef = np.linalg.solve(z[h], np.column_stack([y0[h], v[h]]))
        fitted = z @ coef
        u, w = y0 - fitted[:, 0], v - fitted[:, 1]
    else:
        u, w = y0, v
    # Residual u - s w: rows above (a = 1) cross when w > 0, rows below when w < 0.
    rounding = np.abs(y0) + np.abs(v) * (1 + s_cur)
    crossing = np.where(a == 1.0, w, -w) > _ON_FIT * rounding
    crossing[h] = False
    # Rows equal to a basis row stay on the fit with it (their residual is its
    # zero up to rounding).
    if repeated.size:
        crossing[repeated[np.isin(classes[repeated], classes[h])]] = False
    if not crossing.any():
        return -1, np.inf, None
    where = np.flatnonzero(crossing)
    s = np.maximum(u[where] / w[where], s_cur)
    best = int(np.argmin(s))
    s_next = float(s[best])
    near = np.abs(u - s_next * w) <= _ON_FIT * (np.abs(y0) + np.abs(v) * (1 + s_next))
    return int(where[best]), s_next, near


def _cross(z, v, a, rows, near, quantile, entering=True):
    """Basis and duals just past a vertex where ``rows`` and ``near`` are on the fit.

    Usually exactly ``q + 1`` rows are on the fit there (:func:`_leave`). With
    ties (duplicated rows, rows crossing at the same point) more are: the optimum
    just past ``s`` is then the optimum over the face of duals optimal at ``s``,
    whose cost is ``-v' a`` on it (``y0 - s v`` is constant on the face), solved
    by HiGHS' dual simplex; the basis is its rows with interior duals, completed
    by rows of zero reduced cost, which stay on the fit past ``s``.
    """
    n, q = z.shape
    face = np.union1d(np.flatnonzero(near), rows)
    if face.size == q + 1:
        # In the order given: the entering row, if any, last.
        return _leave(z, v, a, rows, entering)
    if not q:
        # No constraint: each dual goes to the bound that maximises -v_i a_i.
        a[face] = np.where(v[face] < 0, 1.0, np.where(v[face] > 0, 0.0,
                                                      np.round(a[face])))
        return []
    balance = (1 - quantile) * z.sum(axis=0) - z.T @ a + z[face].T @ a[face]
    result = optimize.linprog(v[face], A_eq=z[face].T, b_eq=balance,
                              bounds=(0.0, 1.0), method="highs-ds")
    if result.status != 0:
        raise ValueError(
            "se='rank': the rank scores of a restricted fit could not be found "
            f"(HiGHS: {result.message}); use se='nid' or 'boot'."
        )
    values = result.x
    reduced = np.abs(v[face] - z[face] @ result.eqlin.marginals)
    interior = np.minimum(values, 1 - values) > _DUAL_TOL
    basis = _independent_rows(z, face[np.lexsort((reduced, ~interior))], q)
    a[face] = np.round(values)
    a[basis] = 0.0
    a[basis] = np.clip(np.linalg.solve(
        z[basis].T, (1 - quantile) * z.sum(axis=0) - z.T @ a), 0.0, 1.0)
    return [int(row) for row in basis]


def _leave(z, v, a, rows, entering):
    """New basis when the ``q + 1`` ``rows`` are on the fit and ``s`` increases.

    ``rows`` lists the basis, then the entering row (``entering=True``, a
    crossing), or is the full fit's basis (``entering=False``, the start).

    Their duals lie on a line ``a + t d`` (``d`` spans the null space of the
    rows of ``Z'``); the cost ``-(s - s0) v' a`` grows along it in the direction
    of ``-v_S' d``, until a dual reaches 0 or 1: that row leaves, at that bound.
    Updates ``a`` in place.
    """
    rows = np.asarray(rows, dtype=np.intp)
    zs = z[rows]
    if zs.shape[1]:
        d = np.linalg.svd(zs.T)[2][-1]
    else:
        d = np.ones(1)
    if v[rows] @ d > 0:
        d = -d
    d[np.abs(d) < 1e-12 * np.max(np.abs(d))] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(d > 0, (1 - a[rows]) / d, np.where(d < 0, -a[rows] / d,
                                                           np.inf))
    room = np.maximum(room, 0.0)
    out = int(np.argmin(room))
    tied = np.flatnonzero(room <= room[out] + _DUAL_TOL * np.abs(room[out]))
    if tied.size > 1 and not entering:
        # Degenerate duals (``n tau`` an integer): two duals of the full fit's
        # basis reach their bounds together as the walk starts. R keeps the row
        # whose dual goes to 0 (its restricted fit follows the lower of the two
        # order statistics); one going to 1 leaves. Found by comparing bounds
        # with R's on Engel's data at 40 levels k / 235.
        upward = tied[d[tied] > 0]
        out = int(upward[0]) if upward.size else int(tied[0])
    elif tied.size > 1 and zs.shape[1]:
        # Past a crossing R keeps the basis when still optimal: of the rows
        # reaching a bound together, the entering row (last) leaves first, else
        # one whose residual then moves to its side of the fit, as R's simplex
        # keeps every residual on its side; of several, the one whose dual the
        # entering row's flip pushes farthest out of [0, 1] (rqbr's choice of
        # the column to enter), not one that depends on the order of the rows.
        candidates = []
        for i in tied[::-1]:
            keep = np.delete(rows, i)
            slope = z[rows[i]] @ np.linalg.solve(z[keep], v[keep]) - v[rows[i]]
            if (slope > 0) == (d[i] > 0):
                candidates.append(int(i))
        if candidates and candidates[0] == rows.size - 1:
            out = candidates[0]
        elif candidates:
            out = max(candidates, key=lambda i: abs(d[i]))
    a[rows] += room[out] * d
    a[rows[out]] = 1.0 if d[out] > 0 else 0.0
    a[rows] = np.clip(a[rows], 0.0, 1.0)
    return [int(r) for i, r in enumerate(rows) if i != out]
