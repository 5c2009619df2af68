"""Exact linear quantile regression: MM iterations, then a reduced LP that certifies.

1. *Majorise-minimise* (Hunter & Lange 2000), one weighted least-squares solve per
   iteration (:func:`~._kernels.mm_normal_equations` builds the normal equations in
   one compiled pass), warm-started from a fit on a random subsample when the data
   are large.
2. *Exact finish.* Rows whose MM residual is far from zero keep their sign at the
   optimum; their contribution to the check loss is then linear and is "globbed"
   into two pseudo-observations (Portnoy & Koenker 1997). The linear program on the
   remaining band of rows is solved in its dual form (p equality constraints, one
   bounded variable per row) by HiGHS. If every globbed row keeps its sign at the
   solution, the solution is optimal for the whole problem (the check loss is at
   least its linear part on each side). Otherwise a few crossing rows join the
   band, or the band is recentred on the new solution and grown, or, when the band
   cannot balance the aggregated rows at all, MM runs a few more iterations first.
   The duality gap of the full problem is returned as a certificate
   (:func:`duality_gap`: the rows on the fit get the duals that balance the
   others, so degenerate optima certify too).
3. *Warm levels of a quantile process* (:func:`solve_quantile_process`): the band
   around the previous level's shifted fit is solved by our own simplex in the
   coefficients (:func:`~._kernels.band_simplex`), and each level reads the rows
   once (:class:`_WarmLevels`); the exact finish above takes any level it does
   not settle.

The caller passes a problem scaled by powers of two (weights, response and
columns with largest entries in [1, 2): see :func:`scale_exponents`), so the
tolerances below are relative; the rank is decided by pivoted QR
(:func:`weighted_least_squares`). HiGHS comes from the public ``highspy`` package.
"""

from typing import NamedTuple

import highspy
import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, qr, solve_triangular

from .._utils import blas_thread_limit, weighted_quantile
from ._kernels import (
    band_simplex,
    level_pass,
    mm_normal_equations,
    residuals_into,
    side_sums,
    sign_dual,
    weighted_gram,
)

# Rows of the subsample that warm-starts MM on large data.
SUBSAMPLE_SIZE = 20_000
# MM stops once a step changes no coefficient by more than this share of the
# residual scale: the exact finish only needs the signs of most residuals right.
MM_STEP_TOL = 1e-4
# Pseudo-response of the aggregated rows, relative to max |y|: large enough that
# the LP keeps them on their side whenever it can (1e3 to 1e5 let them cross).
# When the band cannot balance them HiGHS may stop with a solve error; that is
# handled like any unbalanced band.
BIG_FACTOR = 1e6
# Rows in the band of the reduced LP, times sqrt(n p); more MM iterations when the
# band cannot balance the rest.
BAND_FACTOR = 1.0
REFINE_ITER = 5
# Band of a level warm-started from the previous level's solution: this many
# times sqrt(n p) rows (at least 50 p, as a cold fit's). Measured with p=10 and
# levels 0.05 apart at n=1e5 (three data sets, 19 levels): with 2.5 every level
# settled in one pass of _WarmLevels; 2 left one level a process to the exact
# finish (as costly in all), 1.5 three to four and 1 eight (twice the time),
# 3 settled all but made each simplex pivot dearer (5% more in all). A secant
# prediction from the two previous levels neither centred the band better nor
# saved simplex pivots.
WARM_BAND_FACTOR = 2.5
# Pivots of the band simplex before HiGHS takes over (a warm level needs a few
# times p).
SIMPLEX_MAX_PIVOTS = 1000
# Largest duality gap of a band simplex solution; above it HiGHS solves again.
SIMPLEX_GAP = 1e-12


# Columns whose largest entry is within this factor of 1 keep their scale: scaling
# them would change the conditioning little, and their copy stays a plain copy.
SCALE_SLACK_EXPONENT = 4
# Pivoted-QR rank tolerance, times max(rows, columns) (numpy's matrix_rank rule).
RANK_EPS = np.finfo(np.float64).eps
# Eigenvalue ratio of the unit-diagonal Gram matrix above which the design is
# full rank without a QR factorisation (condition number below 1e5).
GRAM_RANK_RATIO = 1e-10
# Rows on the fit: residual within this share of the rounding scale of its terms,
# or of the largest response.
ON_FIT_TOL = 1e-9
ON_FIT_FLOOR = 1e-15
# The duality gap is relative to the check loss, or to this share of the rounding
# scale sum_i w_i (|y_i| + sum_j |x_ij b_j|) when the check loss is smaller (a fit
# through every point: the loss and the gap's terms are rounding errors, of
# (p + 1) eps of that scale).
GAP_FLOOR = 1e-6


def rank_deficiency_error(n_features):
    return ValueError(
        f"The design is rank deficient: among the {n_features} columns (with the "
        "intercept) of the rows with positive weight, some are linear "
        "combinations of others. Remove duplicated or constant columns."
    )


def weighted_least_squares(X, y, weights):
    """Weighted least squares; None when the design is rank deficient.

    The rank is decided on the columns of ``sqrt(w) X`` scaled to unit norm, so
    the tolerance is relative to each column's norm. Most designs are settled by
    the eigenvalues of that scaled Gram matrix (one compiled pass, 1 ms at
    20,000 x 11): a smallest one above ``GRAM_RANK_RATIO`` of the largest
    (condition number below 1e5) is full rank beyond doubt. Otherwise a pivoted
    QR factorisation (7 ms there) decides: a column counts if the part of it that
    the previous pivots leave is above ``max(m, p) eps`` of its norm (numpy's
    ``matrix_rank`` rule). Ill-conditioned but full-rank designs (Longley,
    condition number 5e9) pass; exact linear combinations do not.
    """
    gram = weighted_gram(X, weights)
    norms = np.sqrt(np.diag(gram))
    if not (norms > 0).all():
        return None
    scaled = gram / np.outer(norms, norms)
    eigenvalues = np.linalg.eigvalsh(scaled)
    if eigenvalues[0] > GRAM_RANK_RATIO * eigenvalues[-1]:
        target = (X.T @ (weights * y)) / norms
        return cho_solve(cho_factor(scaled, check_finite=False), target,
                         check_finite=False) / norms
    root = np.sqrt(weights)
    A = X * root[:, None]
    A /= norms
    Q, R, pivots = qr(A, mode="economic", pivoting=True, overwrite_a=True,
                      check_finite=False)
    diagonal = np.abs(np.diag(R))
    if not diagonal[-1] > max(A.shape) * RANK_EPS * diagonal[0]:
        return None
    beta = np.empty(X.shape[1])
    beta[pivots] = solve_triangular(R, Q.T @ (root * y), check_finite=False)
    return beta / norms


def solve_normal_equations(gram, rhs):
    """``gram^{-1} rhs`` for a symmetric positive (semi)definite ``gram``.

    Cholesky of the Jacobi-scaled matrix (unit diagonal), least squares when that
    fails: the rank has been decided already, and an MM step only needs to be a
    good direction.
    """
    diagonal = np.sqrt(np.diag(gram))
    diagonal[~(diagonal > 0)] = 1.0
    scaled = gram / np.outer(diagonal, diagonal)
    target = rhs / diagonal
    try:
        step = cho_solve(cho_factor(scaled, check_finite=False), target,
                         check_finite=False)
    except LinAlgError:
        step = np.linalg.lstsq(scaled, target, rcond=None)[0]
    return step / diagonal


def mm_iterations(X, y, weights, quantile, beta, epsilon, max_iter, step_tol,
                  accelerate=False):
    """Run MM from ``beta``; returns (beta, n_iter, converged).

    ``n_iter`` counts MM maps, each one pass over the data and one solve. With
    ``accelerate``, the maps are combined by SQUAREM (Varadhan & Roland 2008,
    scheme S3): from ``b``, ``b1 = M(b)`` and ``b2 = M(b1)`` give ``r = b1 - b``
    and ``v = b2 - b1 - r``; the extrapolated ``b - 2 a r + a^2 v`` with
    ``a = -|r| / |v|`` is mapped once more and kept if its check loss does not
    exceed that of ``b1`` (otherwise ``b2``). Three maps per cycle, and a cycle
    gains more than ten plain MM steps near the solution. The check loss, not the
    perturbed objective MM decreases, is the merit: it is what the exact finish
    needs small, and it spares the pass a logarithm a row (a fifth of its time);
    measured on 16 designs at n=1e5, the finish still settles in one LP.
    """
    n, p = X.shape
    gram = np.empty((p, p))
    rhs = np.empty(p)
    residuals = np.empty(n)

    def normal_equations(beta, with_objective):
        objective = mm_normal_equations(X, y, weights, beta, quantile, epsilon, gram,
                                        rhs, residuals, with_objective)
        return gram, rhs, objective

    return mm_loop(normal_equations, beta, max_iter, step_tol, accelerate)


def mm_loop(normal_equations, beta, max_iter, step_tol, accelerate=False):
    """The MM (or SQUAREM) loop of :func:`mm_iterations` on any data layout.

    ``normal_equations(beta, with_objective)`` returns the majoriser's ``(gram,
    rhs, check loss or 0.0)`` at ``beta``: one compiled pass in memory, a chunked
    reduction on a Dask array.
    """

    def mm_map(beta, with_objective=False):
        gram, rhs, objective = normal_equations(beta, with_objective)
        return beta + solve_normal_equations(gram, rhs), objective

    n_maps = 0
    while n_maps < max_iter:
        if not accelerate or max_iter - n_maps < 3:
            new, _ = mm_map(beta)
            n_maps += 1
        else:
            first, _ = mm_map(beta)
            second, first_objective = mm_map(first, with_objective=True)
            r = first - beta
            v = second - first - r
            norm_v = np.linalg.norm(v)
            n_maps += 2
            new = second
            if norm_v > 0:
                alpha = min(-np.linalg.norm(r) / norm_v, -1.0)
                mapped, objective = mm_map(beta - 2 * alpha * r + alpha**2 * v,
                                           with_objective=True)
                n_maps += 1
                if objective <= first_objective:
                    new = mapped
        converged = np.abs(new - beta).max() <= step_tol
        beta = new
        if converged:
            return beta, n_maps, True
    return beta, max_iter, False


def _reduced_dual(X, y, weights, quantile, band, above, below, big, residuals,
                  cold_retry=False):
    """Solve the dual LP on ``band`` with the globbed rows as two pseudo-rows.

    ``residuals`` (of the approximate fit, on all rows) choose the starting basis.
    """
    # Both sides' weighted sums in one compiled pass, no copy of X.
    sums = np.empty((2, X.shape[1]))
    totals = side_sums(X, weights, above, below, sums)
    return band_dual(X[band], y[band], weights[band], residuals[band], sums, totals,
                     quantile, big, cold_retry)


def band_dual(X, y, weights, residuals, sums, totals, quantile, big,
              cold_retry=False):
    """The reduced dual LP on the band rows given, wherever they were gathered.

    ``sums`` (2, p) and ``totals`` (2,) are the weighted row sums and weights of
    the rows above and below the fit outside the band: each side becomes one
    pseudo-row of response ``+-big``. Returns the coefficients, or None.
    """
    columns = [X]
    values = [y]
    lower = [(quantile - 1.0) * weights]
    upper = [quantile * weights]
    signs = [residuals]
    for side, sign in ((0, 1.0), (1, -1.0)):
        total = totals[side]
        if total > 0:
            columns.append((sums[side] / total)[None, :])
            values.append(np.array([sign * big]))
            lower.append(np.array([(quantile - 1.0) * total]))
            upper.append(np.array([quantile * total]))
            signs.append(np.array([sign]))
    design = np.concatenate(columns)
    values = np.concatenate(values)
    lower = np.concatenate(lower)
    upper = np.concatenate(upper)
    solution = solve_box_lp(design, values, lower, upper, np.zeros(X.shape[1]),
                            np.concatenate(signs), cold_retry=cold_retry)
    # The equality constraints' multipliers are the coefficients (sign: HiGHS
    # minimises -y'd).
    return None if solution is None else -solution[1]


def _reduced_primal(X, y, weights, quantile, band, above, below, residuals):
    """Solve the band's problem by :func:`~._kernels.band_simplex`.

    The rows out of the band enter through their gradient (each keeps the dual
    of its side); ``residuals`` (of an approximate fit, on all rows) order the
    band's rows for the starting basis. Returns ``(beta, solved)``: ``solved``
    False when the band cannot balance the other rows (as the dual LP fails),
    None for a case left to HiGHS (a degenerate vertex, no starting basis).
    """
    p = X.shape[1]
    sums = np.empty((2, p))
    side_sums(X, weights, above, below, sums)
    linear = (1.0 - quantile) * sums[1] - quantile * sums[0]
    beta = np.empty(p)
    basis = np.empty(p, dtype=np.int64)
    status, _ = band_simplex(np.ascontiguousarray(X[band]), y[band], weights[band],
                             quantile, linear, np.argsort(np.abs(residuals[band])),
                             SIMPLEX_MAX_PIVOTS, beta, basis)
    if status == 0:
        return beta, True
    return beta, (False if status == 1 else None)


class _SilentHighs(highspy.Highs):
    """HiGHS that never prints.

    ``highspy.Highs()`` logs its banner when its constructor enables callbacks,
    before any option can be set; this subclass turns output off first.
    """

    def enableCallbacks(self):
        self.setOptionValue("output_flag", False)
        super().enableCallbacks()


def solve_box_lp(design, values, lower, upper, balance, residuals=None,
                 cold_retry=False):
    """``max values'd`` s.t. ``design' d = balance``, ``lower <= d <= upper``.

    Solved by dual simplex of the public ``highspy`` package, called directly
    rather than through ``linprog``, whose wrapper costs as much as the solve here
    (a Python loop over the columns, option checks). With ``residuals`` it starts
    from the basis an approximate fit suggests: each row at the bound of its
    residual's sign, the ``p`` rows nearest the fit basic. Measured at n=1e5,
    p=11: half the simplex iterations, 2.7 ms instead of 8.6 ms.

    Returns ``(d, multipliers of the equality constraints)``, or None when HiGHS
    finds no optimum.
    """
    m, p = design.shape
    # Costs of order one, so that the reduced-cost tolerance below is relative.
    # A loose one (HiGHS' default 1e-7) can stop at a vertex that misses a row
    # 1e-8 from the fit: optimal to 1e-12, but the duality gap then cannot
    # certify it (seen on 2 of 16 data sets of bench_quantile at n=1e5).
    # The floor keeps them below 1e6, within what HiGHS treats as finite, when
    # most responses are tiny next to a few (1e-300 beside 1).
    magnitudes = np.abs(values)
    cost_scale = max(float(np.median(magnitudes)), 1e-6 * float(magnitudes.max()))
    if not cost_scale > 0:
        cost_scale = 1.0
    solver = _SilentHighs()
    for option, value in (("output_flag", False), ("presolve", "off"),
                          ("solver", "simplex"), ("simplex_strategy", 1),
                          # The design is equilibrated; scaling only costs here.
                          ("simplex_scale_strategy", 0),
                          # The least HiGHS accepts.
                          ("dual_feasibility_tolerance", 1e-10)):
        solver.setOptionValue(option, value)
    # The arrays go in whole; a HighsLp's fields convert element by element (1 ms).
    # Column i of the constraint matrix is row i of the design: dense, p entries.
    if solver.passModel(
        m, p, m * p, int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0,
        -values / cost_scale, lower, upper, balance, balance,
        np.arange(0, m * p + 1, p, dtype=np.int32),
        np.tile(np.arange(p, dtype=np.int32), m),
        np.ascontiguousarray(design).ravel(),
        np.zeros(m, dtype=np.int32),  # all continuous
    ) == highspy.HighsStatus.kError:
        return None
    if residuals is not None and m > p:
        status = highspy.HighsBasisStatus
        column_status = np.where(residuals > 0, 2, 0)
        column_status[np.argpartition(np.abs(residuals), p - 1)[:p]] = 1
        codes = (status.kLower, status.kBasic, status.kUpper)
        basis = highspy.HighsBasis()
        basis.col_status = [codes[code] for code in column_status.tolist()]
        basis.row_status = [status.kLower] * p
        basis.valid = True
        solver.setBasis(basis)  # a rejected basis leaves HiGHS its own start
    if (solver.run() == highspy.HighsStatus.kError
            or solver.getModelStatus() != highspy.HighsModelStatus.kOptimal):
        if residuals is not None and m > p and cold_retry:
            # A singular starting basis (rows with equal x among the p nearest:
            # dummies, ties) makes HiGHS stop with a solve error: start cold.
            return solve_box_lp(design, values, lower, upper, balance)
        return None
    solution = solver.getSolution()
    return (np.array(solution.col_value),
            cost_scale * np.array(solution.row_dual))


class FinishRows(NamedTuple):
    """What the exact finish reads of the rows, the same at every quantile level."""

    active: np.ndarray  # rows of positive weight
    n_active: int
    scale: float  # max(|y| on active rows, 1)
    sample: np.ndarray  # active rows whose residual quantile centres the band
    sample_weights: np.ndarray
    uniform: bool  # whether the sample's weights are all equal


def finish_rows(y, weights):
    """The :class:`FinishRows` of a problem, computed once for all its levels."""
    active = weights > 0
    sample = np.flatnonzero(active)
    if sample.size > SUBSAMPLE_SIZE:
        # Measured: 20,000 rows centre the band well; 5,000 often needed extra
        # rounds, and all 1e5 rows cost more in sorting than they saved.
        sample = np.random.default_rng(0).choice(sample, SUBSAMPLE_SIZE, replace=False)
    sample_weights = weights[sample]
    return FinishRows(active, int(active.sum()), max(np.abs(y[active]).max(), 1.0),
                      sample, sample_weights,
                      bool((sample_weights == sample_weights[0]).all()))


def band_centre(values, weights, uniform, quantile):
    """Lower weighted ``quantile`` of a sample's residuals: where the band centres."""
    if uniform:  # the same lower quantile, by selection rather than a sort
        k = min(max(int(np.ceil(quantile * values.size)) - 1, 0), values.size - 1)
        return np.partition(values, k)[k]
    return weighted_quantile(values, weights, quantile)


def window_half_width(sample_residuals, quantile):
    """Half-width of a window around a sample's quantile that holds the quantile
    of all rows: four standard deviations of the sample quantile's rank."""
    m = sample_residuals.size
    k = int(np.ceil(4 * np.sqrt(m * quantile * (1 - quantile)))) + 10
    distance = np.abs(sample_residuals)
    return np.inf if k >= m else float(np.partition(distance, k)[k])


def window_quantile(values, weights, below, total, quantile, fallback):
    """Lower weighted ``quantile`` of all rows from a window of them.

    ``values`` and ``weights`` are the rows in the window, ``below`` the weight
    of the rows under it and ``total`` that of all rows; ``fallback`` when the
    quantile is outside the window. A band of ``sqrt(n p)`` rows centred on a
    20,000-row sample's quantile is off by more than its width once n is large
    (at n=1e7, p=11, 7 reduced LPs and 30 more MM maps: 18.1 s of CPU against
    4.0 s centred on all rows).
    """
    target = quantile * total
    if not below < target or values.size == 0:
        return fallback
    order = np.argsort(values, kind="stable")
    index = np.searchsorted(below + np.cumsum(weights[order]), target, side="left")
    return values[order[index]] if index < values.size else fallback


def exact_finish(X, y, weights, quantile, beta, band_size, refine, max_rounds=30,
                 rows=None, simplex=False, residuals=None):
    """Exact LP solution from an approximate one.

    ``refine(beta)`` returns a better approximation (more MM iterations); it is
    called when the band cannot balance the aggregated rows, a sign that
    ``beta`` is still too far from the optimum for a band of this size.
    ``rows`` is :func:`finish_rows` of the problem (computed here when None).
    With ``simplex`` the band's problem goes to :func:`_reduced_primal` first
    (HiGHS when it declines, or when its solution does not certify).
    ``residuals`` are those of ``beta`` when known (a quantile process passes
    the previous level's).

    Returns
    -------
    beta : ndarray of shape (n_features,)
        A solution of the linear program.
    rounds : int
        Reduced LPs solved.
    duality_gap : float
        Primal minus dual objective of the whole problem, relative to the primal.
    residuals : ndarray of shape (n_samples,)
        ``y - X beta``.
    """
    n = X.shape[0]
    if rows is None:
        rows = finish_rows(y, weights)
    active, n_active, scale, sample, sample_weights, uniform = rows
    big = BIG_FACTOR * scale
    tolerance = 1e-9 * scale

    def centred_residuals(beta, residuals=None):
        # Centre the band: an error in the intercept would put too many rows on
        # one side for the band to balance. The sample's quantile, refined to the
        # quantile of all rows in a window around it.
        if residuals is None:
            residuals = np.empty(n)
            residuals_into(X, y, beta, residuals)
        else:
            residuals = residuals.copy()
        values = residuals[sample]
        centre = band_centre(values, sample_weights, uniform, quantile)
        if sample.size < n_active:
            half_width = window_half_width(values - centre, quantile)
            window = active & (np.abs(residuals - centre) <= half_width)
            below = float(weights[active & (residuals < centre - half_width)].sum())
            centre = window_quantile(residuals[window], weights[window], below,
                                     float(weights[active].sum()), quantile, centre)
        residuals -= centre
        return residuals

    residuals = centred_residuals(beta, residuals)
    # The residuals that choose the LP's starting basis: those of the last LP
    # solution once only a few rows are added to its band (its basis is then
    # nearly optimal), else those that chose the band.
    basis_residuals = residuals
    size = min(n_active, band_size)
    forced = np.zeros(n, dtype=bool)
    for rounds in range(1, max_rounds + 1):
        band = forced.copy()
        if size < n_active:
            band[_nearest(np.where(active, np.abs(residuals), np.inf), size,
                          sample)] = True
        else:
            band |= active
        band &= active
        above = active & ~band & (residuals > 0)
        below = active & ~band & ~(residuals > 0)
        # With every row in the band, refining MM cannot help a failed LP: then
        # HiGHS retries from its own start.
        band_rows = np.flatnonzero(band)
        solved = None
        if simplex:
            solution, solved = _reduced_primal(X, y, weights, quantile, band_rows,
                                               above, below, basis_residuals)
        if solved is None:
            solution = _reduced_dual(X, y, weights, quantile, band_rows, above,
                                     below, big, basis_residuals,
                                     cold_retry=size >= n_active)
        elif not solved:
            solution = None
        wrong = None
        if solution is not None:
            # The certificate's pass computes the residuals the check needs.
            new_residuals = np.empty(n)
            gap = duality_gap(X, y, weights, quantile, solution, scale,
                              new_residuals)
            wrong = (above & (new_residuals < -tolerance)) | (
                below & (new_residuals > tolerance))
            if not wrong.any():
                if solved and not gap <= SIMPLEX_GAP:
                    simplex = False  # rounding misled the band simplex: HiGHS
                    continue
                return solution, rounds, gap, new_residuals
        if wrong is None or wrong.sum() > size:
            # The band could not balance the aggregated rows (the LP failed or
            # pushed them across): improve the start rather than only widen.
            beta = refine(beta)
            residuals = basis_residuals = centred_residuals(beta)
            size = min(n_active, int(1.5 * size))
            forced[:] = False
        elif wrong.sum() <= 0.1 * size:
            forced = band | wrong  # a few rows crossed: add them and solve again
            basis_residuals = new_residuals
        else:
            # Recentre the band on the better solution.
            residuals = basis_residuals = new_residuals
            size = min(n_active, 2 * size)
            forced[:] = False
    raise RuntimeError(
        "The exact finish did not settle; use solver='mm' and please report this "
        "data set."
    )


def _nearest(distance, size, sample):
    """Indices of the ``size`` smallest ``distance`` (as ``np.argpartition``).

    The ``sample`` rows set a threshold a little above the ``size``-th smallest,
    so that only the few rows below it are partitioned (1.2 -> 0.3 ms at n=1e5).
    """
    k = int(np.ceil(1.25 * size * sample.size / distance.size)) + 10
    if k < sample.size:
        threshold = np.partition(distance[sample], k)[k]
        candidates = np.flatnonzero(distance <= threshold)
        if candidates.size >= size:
            return candidates[np.argpartition(distance[candidates], size - 1)[:size]]
    return np.argpartition(distance, size - 1)[:size]


def duality_gap(X, y, weights, quantile, beta, y_scale=None, residuals=None):
    """Relative gap between the check loss at ``beta`` and a dual bound.

    The residuals ``y - X beta`` go to ``residuals`` when given (the pass over
    the rows that computes the gap computes them anyway).

    Any ``d`` with ``(q - 1) w <= d <= q w`` and ``X' d = 0`` bounds the optimum
    from below by ``d' y``, and ``sum_i w_i rho_q(r_i) - d' y = sum_i (w_i
    rho_q(r_i) - d_i r_i)`` (``r = y - X beta``), a sum of non-negative terms that
    vanish off the fit when ``d_i`` is ``q w_i`` above it and ``(q - 1) w_i``
    below. The rows on the fit (residual at rounding level) take the duals that
    balance ``X' d = 0`` within their bounds: the least-squares solution when it
    is within them (``p`` rows on the fit, the usual case without ties), else a
    vertex of that box-constrained feasibility problem from HiGHS, polished by a
    least-squares solve on its free rows. At a degenerate optimum (ties: more
    than ``p`` rows on the fit) this is the dual of the LP, so the gap is zero
    up to rounding; at a point that is not optimal no such ``d`` exists, and the
    closest one found leaves an imbalance, reported as ``|X' d|_inf |beta|_1``.

    The gap is relative to the check loss, or when that is smaller to
    ``GAP_FLOOR * sum_i w_i (|y_i| + sum_j |x_ij beta_j|)``, the scale of the
    rounding errors of the residuals: at a fit through every point the loss is
    rounding error, and so are the terms of the gap.
    """
    # A row is on the fit when its residual is rounding error of its own terms
    # (a global scale misfires with heavy tails: Cauchy residuals of 1e5 made
    # rows with |r| ~ 1e-4 count as on the fit).
    on_fit = np.empty(X.shape[0], dtype=bool)
    balance = np.empty(X.shape[1])
    if y_scale is None:
        y_scale = np.abs(y[weights > 0]).max()
    # Residuals below 1e-15 of the largest response are below what HiGHS resolves
    # (its solutions are accurate to ~1e-15 relative): such rows are on the fit
    # too. Which rows count only chooses d; the gap's terms stay exact.
    if residuals is None:
        residuals = np.empty(X.shape[0])
    primal, size = sign_dual(X, y, weights, beta, quantile, ON_FIT_TOL,
                             ON_FIT_FLOOR * y_scale + 1e-300, on_fit, balance,
                             residuals)
    return _gap_on_fit(X, y, weights, quantile, beta, on_fit, balance, primal, size)


def _gap_on_fit(X, y, weights, quantile, beta, on_fit, balance, primal, size):
    """:func:`duality_gap` from the outputs of :func:`~._kernels.sign_dual`."""
    # Indices first: a boolean mask on the rows of X costs ten times as much.
    fit = np.flatnonzero(on_fit)
    return gap_from_parts(X[fit], y[fit], weights[fit], beta, quantile, primal,
                          size, balance)


def gap_from_parts(X, y, weights, beta, quantile, primal, size, balance):
    """The relative duality gap of :func:`duality_gap` from its pass's results.

    ``X``, ``y``, ``weights`` are the rows on the fit; ``primal``, ``size`` and
    ``balance`` the check loss, the rounding scale and ``X' d`` of the others
    (sums over the rows, so a chunked reduction gives them as well).
    """
    balance = balance.copy()
    gap = 0.0
    if y.size:
        lower = (quantile - 1.0) * weights
        upper = quantile * weights
        dual = _balancing_dual(X, -balance, lower, upper)
        balance += X.T @ dual
        residuals = y - X @ beta
        loss = weights * np.where(residuals >= 0, quantile * residuals,
                                  (quantile - 1.0) * residuals)
        # Each term is non-negative; rounding of subnormal products is not.
        gap = float(np.sum(np.maximum(loss - dual * residuals, 0.0)))
    gap += float(np.abs(balance) @ np.abs(beta))
    return gap / max(primal, GAP_FLOOR * size, 1e-300)


def _balancing_dual(basis, target, lower, upper):
    """``d`` within ``[lower, upper]`` with ``basis' d = target``, or near it."""
    dual = _refined_lstsq(basis.T, target)
    if ((dual >= lower) & (dual <= upper)).all():
        return dual
    # Every feasible d serves; costs in general position spare the simplex the
    # ties of a zero objective (fair data, 4313 rows on the fit: 79 iterations
    # instead of 1112).
    costs = np.random.default_rng(0).uniform(0.5, 1.0, basis.shape[0])
    solution = solve_box_lp(basis, costs, lower, upper, target)
    if solution is None:  # not optimal: the clipped least squares, an imbalance
        return np.clip(dual, lower, upper)
    dual = solution[0]
    free = np.flatnonzero((dual > lower) & (dual < upper))
    if free.size:
        # HiGHS meets the constraints to its feasibility tolerance; solving for
        # the free rows given the others meets them to rounding.
        fixed = np.ones(dual.size, dtype=bool)
        fixed[free] = False
        polished = dual.copy()
        polished[free] = _refined_lstsq(basis[free].T,
                                        target - basis[fixed].T @ dual[fixed])
        if ((polished >= lower) & (polished <= upper)).all():
            return polished
    return np.clip(dual, lower, upper)


def _refined_lstsq(A, b):
    """Least squares with one step of iterative refinement.

    The balance ``X' d = 0`` is solved on the rows of the fit, a system as
    ill-conditioned as the design: one refinement on the residual brings the
    imbalance to rounding (Longley's, from 2e-11 to 1e-16 of the sum).
    """
    if A.shape[0] == A.shape[1]:
        # The usual case, a basis of p rows on the fit: LU is several times
        # cheaper than the SVD of lstsq, which stays for (nearly) singular
        # bases, where LU's solution does not meet the system.
        try:
            solution = np.linalg.solve(A, b)
            solution += np.linalg.solve(A, b - A @ solution)
        except LinAlgError:
            solution = None
        if solution is not None and (np.abs(A @ solution - b).max()
                                     <= 1e-10 * np.abs(b).max()):
            return solution
    solution = np.linalg.lstsq(A, b, rcond=None)[0]
    return solution + np.linalg.lstsq(A, b - A @ solution, rcond=None)[0]


def solve_quantile(X, y, weights, quantile, **options):
    """Fit ``min_beta sum_i w_i rho_q(y_i - x_i' beta)``; X holds the intercept column.

    BLAS runs on one thread: every product and factorisation here is tall and
    thin, and on this 2-core machine two threads made the pivoted QR of 6366 x 9
    rows 300 times slower (0.13 s against 0.4 ms) when the other core was busy.
    Options and returns are those of :func:`_solve_quantile`.
    """
    with blas_thread_limit():
        return _solve_quantile(X, y, weights, quantile, **options)


def _solve_quantile(X, y, weights, quantile, *, epsilon, max_iter, rng,
                    step_tol=None, exact=True, verbose=0):
    """Fit ``min_beta sum_i w_i rho_q(y_i - x_i' beta)``; X holds the intercept column.

    ``epsilon`` and ``step_tol`` are relative to the mean absolute residual of the
    least-squares start.

    Returns
    -------
    beta : ndarray of shape (n_features,)
    info : dict
        ``n_iter`` (MM iterations on the full data), ``mm_converged``,
        ``rounds`` (reduced LPs), ``duality_gap``, ``epsilon`` (absolute).
    """
    active = np.flatnonzero(weights > 0)
    n_active = active.size
    p = X.shape[1]
    start = active
    if n_active > 2 * SUBSAMPLE_SIZE:
        # RandomState.choice permutes all the rows (2.6 ms at n=1e5); a Generator
        # seeded from it draws the subsample in 0.2 ms, and a mask keeps it sorted.
        seed = rng.randint(np.iinfo(np.int32).max)
        chosen = np.zeros(n_active, dtype=bool)
        chosen[np.random.default_rng(seed).choice(n_active, SUBSAMPLE_SIZE,
                                                   replace=False)] = True
        start = active[chosen]
    X_start = np.take(X, start, axis=0) if start.size < X.shape[0] else X
    y_start, w_start = y[start], weights[start]
    # Weighted least squares on the start rows decides the rank too; the residual
    # scale then sets epsilon.
    beta = weighted_least_squares(X_start, y_start, w_start)
    if beta is None and start.size < n_active:
        # Adding rows cannot lower the rank, so a full-rank subsample settles the
        # rank of the design; a rank-deficient one (a rare dummy, say) cannot
        # warm-start MM, and the full data decide.
        start, X_start, y_start, w_start = active, X, y, weights
        beta = weighted_least_squares(X, y, weights)
    if beta is None:
        raise rank_deficiency_error(p)
    subsampled = start.size < n_active
    scale = float(np.average(np.abs(y_start - X_start @ beta), weights=w_start))
    scale = max(scale, 1e-12 * max(np.abs(y_start).max(), 1.0))
    eps = epsilon * scale
    step_tol = (MM_STEP_TOL if step_tol is None else step_tol) * scale
    if subsampled:
        beta, _, _ = mm_iterations(X_start, y_start, w_start, quantile, beta, eps,
                                   max_iter, step_tol, accelerate=exact)
    beta, n_iter, converged = mm_iterations(X, y, weights, quantile, beta, eps,
                                            max_iter, step_tol, accelerate=exact)
    if verbose:
        print(f"MM: {n_iter} iterations on {n_active} rows, epsilon={eps:.3g}")
    info = {"n_iter": n_iter, "mm_converged": converged, "rounds": 0,
            "duality_gap": np.nan, "epsilon": eps, "step_tol": step_tol,
            "band_size": int(max(50 * p, BAND_FACTOR * np.sqrt(n_active * p)))}
    if exact:
        beta, _ = _finish(X, y, weights, quantile, beta, info, info["band_size"],
                          verbose)
    return beta, info


def _finish(X, y, weights, quantile, beta, info, band_size, verbose, rows=None,
            simplex=False, residuals=None):
    """Exact finish from ``beta``: the solution and its residuals.

    Rounds and gap go to ``info``; ``residuals`` are those of ``beta`` if known.
    """

    def refine(beta):
        info["n_iter"] += REFINE_ITER
        return mm_iterations(X, y, weights, quantile, beta, info["epsilon"],
                             REFINE_ITER, info["step_tol"], accelerate=True)[0]

    beta, rounds, gap, residuals = exact_finish(
        X, y, weights, quantile, beta, band_size, refine, rows=rows,
        simplex=simplex, residuals=residuals)
    info.update(rounds=rounds, duality_gap=gap)
    if verbose:
        print(f"exact finish at quantile {quantile:g}: {rounds} reduced LP(s), "
              f"duality gap {gap:.2g}")
    return beta, residuals


class _WarmLevels:
    """The warm levels of a quantile process, one pass over the rows each.

    After each level's solution, :func:`~._kernels.level_pass` reads the rows
    once for its duality gap, for the check that the rows kept out of its band
    stayed on their side, and for the next level's band: the rows within a
    half-width of the next level's centre (both from the residuals of the
    sample of :class:`FinishRows`, the half-width leaving ``band_size`` rows
    expected) and the weighted sums of the rows on each side. The band's problem
    goes to :func:`~._kernels.band_simplex`. Where the exact finish reads the rows
    four times a level (centre, band, sides, certificate), this reads them once;
    a level the band simplex does not settle (its band too narrow, a degenerate
    vertex, a gap above ``SIMPLEX_GAP``) is left to :func:`exact_finish`.
    """

    def __init__(self, X, y, weights, rows, band_size):
        n, p = X.shape
        self.X, self.y, self.weights, self.rows = X, y, weights, rows
        self.X_sample = np.ascontiguousarray(X[rows.sample])
        self.y_sample = y[rows.sample]
        # The k-th nearest sample row sets the half-width of the band.
        self.k = int(np.ceil(band_size * rows.sample.size / rows.n_active)) - 1
        self.side = np.full(n, 2, dtype=np.int8)  # 2: in the band, not checked
        self.band = np.empty(n, dtype=np.int64)
        self.sums = np.empty((2, p))
        self.total = weights @ X  # rows of zero weight add nothing
        self.residuals, self.spare = np.empty(n), np.empty(n)
        self.on_fit = np.empty(n, dtype=bool)
        self.balance = np.empty(p)
        self.count, self.centre = 0, 0.0

    def read(self, beta, quantile, following):
        """Read the rows at ``beta``, the solution at ``quantile`` (None: no gap).

        Writes the residuals to ``self.spare``; returns the gap and the rows on
        the wrong side of those kept out of the band.
        """
        rows = self.rows
        if following is None:
            centre, half_width = 0.0, -1.0  # every row to its side, none to a band
        else:
            values = self.y_sample - self.X_sample @ beta
            centre = band_centre(values, rows.sample_weights, rows.uniform, following)
            distance = np.abs(values - centre)
            half_width = (np.partition(distance, self.k)[self.k]
                          if self.k < distance.size else np.inf)
        primal, size, wrong, self.count = level_pass(
            self.X, self.y, self.weights, beta, 0.5 if quantile is None else quantile,
            ON_FIT_TOL, ON_FIT_FLOOR * rows.scale + 1e-300, self.on_fit, self.balance,
            self.spare, self.side, 1e-9 * rows.scale, centre, half_width,
            self.total, self.sums, self.band)
        self.centre = centre
        gap = np.nan
        if quantile is not None:
            gap = _gap_on_fit(self.X, self.y, self.weights, quantile, beta,
                              self.on_fit, self.balance, primal, size)
        else:  # a start, not a check: the residuals are the current ones
            self.residuals, self.spare = self.spare, self.residuals
        return gap, wrong

    def solve(self, quantile, following):
        """The solution at ``quantile`` and its gap, or None for the exact finish."""
        X, y, weights = self.X, self.y, self.weights
        p = X.shape[1]
        band = self.band[:self.count]
        if band.size <= p:
            return None
        sums = self.sums
        linear = (1.0 - quantile) * sums[1] - quantile * sums[0]
        beta = np.empty(p)
        status, _ = band_simplex(
            np.ascontiguousarray(X[band]), y[band], weights[band], quantile, linear,
            np.argsort(np.abs(self.residuals[band] - self.centre)),
            SIMPLEX_MAX_PIVOTS, beta, np.empty(p, dtype=np.int64))
        if status != 0:
            return None
        gap, wrong = self.read(beta, quantile, following)
        if wrong or not gap <= SIMPLEX_GAP:
            self.side[:] = 2  # the next read starts afresh
            return None
        self.residuals, self.spare = self.spare, self.residuals
        return beta, gap


def solve_quantile_process(X, y, weights, quantiles, *, epsilon, max_iter, rng,
                           step_tol=None, exact=True, verbose=0):
    """Fit increasing ``quantiles`` in sequence, each level warm-started.

    The first level is fitted as by :func:`solve_quantile`. Each next one starts
    from the previous level's exact solution: its residuals, shifted by their
    quantile at the new level (the intercept moves most between levels), choose
    the band of the reduced problem and the start of its simplex (the rows
    nearest the shifted fit), so neither the subsample fit nor the MM iterations
    are repeated. A parametric simplex that pivots through every breakpoint of
    the process would need about ``n`` times the level step pivots (every row
    that changes sides); the band keeps it to the rows near the new fit, and
    the band simplex (:func:`~._kernels.band_simplex`) crosses many rows per
    pivot by its exact line search (about 4p pivots a level). The old basis
    itself is no help: its rows lie outside the new band. Each level then reads
    the rows once (:class:`_WarmLevels`). The band is ``WARM_BAND_FACTOR``
    times ``sqrt(n p)`` rows, more than a cold fit's on large data: the previous
    solution is a rougher start than MM's.
    ``solver='mm'`` (``exact=False``) runs MM from the previous solution.

    Returns
    -------
    coefficients : ndarray of shape (n_quantiles, n_features)
    infos : list of dict
        One :func:`solve_quantile` info per level.
    """
    with blas_thread_limit():
        beta, info = _solve_quantile(X, y, weights, quantiles[0], epsilon=epsilon,
                                     max_iter=max_iter, rng=rng, step_tol=step_tol,
                                     exact=exact, verbose=verbose)
        coefficients, infos = [beta], [info]
        if exact and len(quantiles) > 1:  # the rows' setup serves every level
            rows = finish_rows(y, weights)
            p = X.shape[1]
            band_size = int(max(50 * p, WARM_BAND_FACTOR * BAND_FACTOR
                                * np.sqrt(rows.n_active * p)))
            levels = _WarmLevels(X, y, weights, rows, band_size)
            levels.read(beta, None, quantiles[1])
        for index, quantile in enumerate(quantiles[1:], 1):
            info = dict(infos[-1], n_iter=0, rounds=0, duality_gap=np.nan)
            following = quantiles[index + 1] if index + 1 < len(quantiles) else None
            if exact:
                solution = levels.solve(quantile, following)
                if solution is None:  # the full exact finish from the last level
                    beta, _ = _finish(X, y, weights, quantile, beta, info,
                                      band_size, verbose, rows, simplex=True,
                                      residuals=levels.residuals)
                    levels.read(beta, None, following)
                else:
                    beta, gap = solution
                    info.update(rounds=1, duality_gap=gap)
                    if verbose:
                        print(f"exact finish at quantile {quantile:g}: one pass, "
                              f"duality gap {gap:.2g}")
            else:
                beta, n_iter, converged = mm_iterations(
                    X, y, weights, quantile, beta, info["epsilon"], max_iter,
                    info["step_tol"], accelerate=False)
                info.update(n_iter=n_iter, mm_converged=converged)
            coefficients.append(beta)
            infos.append(info)
    return np.array(coefficients), infos
