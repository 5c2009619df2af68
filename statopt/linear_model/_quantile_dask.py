"""Exact quantile regression on Dask arrays: the in-memory solver as chunked reductions.

:class:`~statopt.CensoredMissingQuantileRegressor` fits a Dask array ``X`` chunked
by rows (the target, events and sample weights chunked alike) without holding it:

1. *Statistics* (one pass; a first one counts events and samples per distinct
   time when the target is censored, for the Kaplan-Meier curve of
   :mod:`statopt.survival._dask`): validation, the largest entries that scale
   the problem by powers of two exactly as in memory, the number of rows of
   positive weight, and a Bernoulli sample of them (:func:`sample_size`),
   gathered to the client. When the sample is every such row, the in-memory
   fit solves it and no other pass follows.
2. *Band* (one pass). The sample is split into ``SAMPLE_PARTS`` parts, each
   fitted exactly in memory; their mean ``b`` centres the band and their spread
   estimates its distance to the optimum, in the metric ``M = L^-1`` of the
   sample's Gram matrix ``L L'``; the radius ``t`` is ``BALL_RADIUS`` times that
   estimate. A row goes to the band when ``|r_i(b)| <= t ||M x_i||`` (with
   rounding allowances, :func:`~._kernels.ball_split`); the others are summed per
   side (``w x``, ``w``, ``w y``, ``w |x|``, ``w |y|``).
3. *Finish on the client*: MM on the band, the globbed rows entering through
   their gradient, then a reduced LP on a sub-band, as the in-memory fit solves
   all rows (:func:`_band_solution`). If the solution ``s`` has ``||M^-T (s -
   b)|| < t``, Cauchy-Schwarz gives ``|x_i'(s - b)| < |r_i(b)|`` for every
   globbed row: none crossed, the globbed objective (exact on the band, linear
   on each side) bounds the check loss from below and equals it at ``s``, so
   ``s`` is optimal. The duality gap follows from the band's rows and the
   globbed sums (:func:`_ball_gap`) without reading the rows again.

An exact fit thus reads the data twice (three times with censoring). When the
solution leaves the ball, one pass checks the globbed rows and sums the gap's
terms (:func:`~._kernels.sign_dual`); if rows crossed, or the band could not
balance the globbed rows, the fit falls back on the earlier path: *MM* on the
sample, two maps on all rows, each one pass whose chunks return ``X'VX``,
``X'(Vr + (2q - 1)w)`` and the check loss
(:func:`~._kernels.mm_normal_equations`); the pass that tests SQUAREM's
extrapolation gathers the band of rows nearest the fit (``band_split``); the
reduced LP on the client (:func:`~._quantile_solver.band_dual`); a last pass
checks that no globbed row crossed and sums the duality gap's terms, crossing
rows joining the band as in memory.

The client holds the sample, the band (about ``4 p sqrt(q (1 - q) / m)`` of the
rows for a sample of ``m`` rows: 2% at ``m = 1e6``, ``p = 11``) and a few
``p``-vectors per chunk; a worker holds one chunk at a time and its scaled copy.
Every pass recomputes the chunks of a lazily built array. Dask is imported only
here, on first use: ``import statopt`` does not need it.
"""

from typing import NamedTuple

import numpy as np
from scipy.linalg import solve_triangular

from .._numba import kernel_input
from .._utils import blas_thread_limit, is_dask_collection, scale_exponents
from ..survival import (
    apply_ipcw,
    as_survival_target,
    censoring_distribution_reduction,
    check_survival_target,
)
from ._kernels import (
    ball_split,
    band_split,
    column_max_abs,
    mm_normal_equations,
    residuals_into,
    side_sums,
    sign_dual,
    weighted_gram,
)
from ._quantile_solver import (
    BAND_FACTOR,
    BIG_FACTOR,
    GRAM_RANK_RATIO,
    MM_STEP_TOL,
    ON_FIT_FLOOR,
    ON_FIT_TOL,
    REFINE_ITER,
    SCALE_SLACK_EXPONENT,
    SIMPLEX_GAP,
    band_centre,
    band_dual,
    gap_from_parts,
    mm_iterations,
    mm_loop,
    rank_deficiency_error,
    solve_normal_equations,
    solve_quantile,
    weighted_least_squares,
    window_quantile,
)

# The Bernoulli sample draws this many times sample_size(n) rows in expectation
# (out of all rows), so that enough of them have a positive weight.
SAMPLE_MARGIN = 1.5
# The band's residual threshold is set on the sample for this many times the
# band's rows (the extra ones, nearest last, are globbed on the client).
BAND_MARGIN = 1.5
# Each MM map is a pass over the data (on a lazily built array, its generation
# too), a wider band only a larger LP on the client: with solver='exact' a Dask
# fit runs 2 maps, gathers a band of 8 sqrt(n p) rows at their SQUAREM
# extrapolation, and starts from MM on a sample of DASK_SAMPLE_SIZE rows.
# Measured at n=1e6, p=11, q in {0.1, 0.5, 0.9} (3 maps, then the band): the
# in-memory band (1 sqrt(n p)) needed 2 LPs and 5 more maps at both tails, 4
# sqrt(n p) 2 LPs at both tails, 8 sqrt(n p) one LP each. With the sample's MM
# run out and the band at the extrapolation, 2 maps needed one LP at n=2e6 and
# 1e7; 1 map needed a second band or 5 more maps at n=1e7.
DASK_MM_MAPS = 2
DASK_BAND_FACTOR = 8.0
# The two-pass fit's band holds about 4 p sqrt(q (1 - q) / m) of the rows for a
# sample of m rows (p coefficients, radius 2): a larger sample narrows it, and
# costs the statistics pass its gathering and the client its exact fits (88 MB
# and about 0.3 s of CPU per 1e6 rows at p=10). Their sum is least for m growing
# as n^(2/3): measured at n=1e7, p=11 (CPU, one thread), m = 2e5 took 3.43 s
# (band of 545,233 rows), 1e6 4.01 s (218,919), 2e6 4.49 s (152,901). The
# sample is SAMPLE_GROWTH n^(2/3) rows (2e5 at n=1e7, 9.3e5 at 1e8), at least
# MIN_SAMPLE_SIZE and at most DASK_SAMPLE_SIZE; data of up to SAMPLE_MARGIN
# DASK_SAMPLE_SIZE rows come to the client whole.
DASK_SAMPLE_SIZE = 1_000_000
MIN_SAMPLE_SIZE = 20_000
SAMPLE_GROWTH = 4.3
# The sample is fitted in this many disjoint parts: their mean is the band's
# centre, their spread the estimate of its distance to the optimum.
SAMPLE_PARTS = 8
# The band's radius in multiples of that estimated distance (root mean square,
# in the metric of the sample's Gram matrix). With 8 parts and p=11 the squared
# distance over its estimate is about F(11, 77) distributed when the errors do
# not depend on x: above 2**2 with probability 1e-4 (1.5: 2e-2).
BALL_RADIUS = 2.0
# Relative rounding allowance of the band's radius (see ball_split).
BALL_SLACK = 1e-6
# The band's own reduced LP (on the client, after MM on the band) takes this
# many times sqrt(B p) of its B rows. Measured on a band of 211,499 rows (n=1e7,
# q=0.5) after 6 maps: 1 sqrt(B p) took two LPs, 2 and 4 one (0.08 s and 0.10
# s); without MM the band's centre needed 5 to 7 LPs and 6 s (HiGHS on 49,000
# rows).
SUB_BAND_FACTOR = 2.0


class Blocks(NamedTuple):
    """Row chunks of the fit's inputs, aligned: lists of delayed chunks (or None)."""

    X: list
    time: list
    event: list
    sample_weight: list
    starts: np.ndarray  # first row of each chunk
    n_samples: int
    n_features: int


class Globbed(NamedTuple):
    """Sums over the rows kept out of a band, per side (0 above the fit, 1 below)."""

    sums: np.ndarray  # (2, p): sum_i w_i x_i
    totals: np.ndarray  # (2,): sum_i w_i
    side_y: np.ndarray  # (2,): sum_i w_i y_i
    abs_x: np.ndarray  # (p,): sum_i w_i |x_ij|, both sides
    abs_y: float  # sum_i w_i |y_i|, both sides


class Scaling(NamedTuple):
    """How a chunk becomes its rows of the scaled problem (see ``fit``)."""

    fit_intercept: bool
    censoring: str  # 'none', 'ipcw' (with the curve below) or 'drop'
    curve_times: np.ndarray
    curve_survival: np.ndarray
    drop_incomplete: bool
    weight_exponent: int  # of the sample weights
    final_exponent: int  # of the weights once censoring and missing are applied
    column_exponents: np.ndarray
    response_exponent: int


def _vector(values, name, X):
    """``values`` as a 1-D Dask array chunked as the rows of ``X``."""
    import dask.array as da

    if not is_dask_collection(values):
        values = np.asarray(values)
        if values.ndim != 1 or values.shape[0] != X.shape[0]:
            raise ValueError(
                f"{name} must be 1-D with one value per row of X ({X.shape[0]}), "
                f"got shape {values.shape}."
            )
        return da.from_array(values, chunks=(X.chunks[0],))
    if not isinstance(values, da.Array):
        raise TypeError(
            f"{name} is a {type(values).__name__}; pass a dask array (a dask "
            "DataFrame column converts with .to_dask_array(lengths=True))."
        )
    if values.ndim != 1 or values.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} must be 1-D with one value per row of X ({X.shape[0]}), got "
            f"shape {values.shape}."
        )
    if values.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"The chunks of {name} {values.chunks[0]} do not match the row chunks "
            f"of X {X.chunks[0]}: rows travel chunk by chunk with X, so rechunk, "
            f"e.g. {name}.rechunk(X.chunks[0])."
        )
    return values


def dask_blocks(X, y, sample_weight):
    """Validate the shapes and chunks of Dask inputs; their aligned chunks.

    Values (finiteness, signs) are checked chunk by chunk in the first pass.
    """
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(
            f"X is a {type(X).__name__}; CensoredMissingQuantileRegressor fits "
            "dask arrays (convert a dask DataFrame with .to_dask_array(lengths=True))."
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if any(np.isnan(size) for size in X.shape) or any(
            np.isnan(c) for chunks in X.chunks for c in chunks):
        raise ValueError(
            "X has unknown chunk sizes (NaN in X.chunks): call "
            "X.compute_chunk_sizes() first, or build it with known lengths."
        )
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}.")
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(
            f"X of shape {X.shape}: at least 2 rows and 1 column are needed."
        )
    if y is None:
        raise ValueError(
            "CensoredMissingQuantileRegressor requires y to be passed, but the "
            "target y is None."
        )
    # A row is whole in its chunk: the kernels see complete rows.
    X = X.rechunk({1: -1})
    event = None
    if isinstance(y, tuple) and len(y) == 2:
        event, time = (_vector(v, name, X) for v, name in zip(y, ("event", "time")))
    elif is_dask_collection(y):
        names = getattr(y.dtype, "names", None)
        if names:
            kinds = [y.dtype[name].kind for name in names]
            if len(names) != 2 or "b" not in kinds or kinds.count("b") != 1:
                raise ValueError(
                    "A structured y must have two fields, a boolean event and a "
                    f"numeric time; got {y.dtype}."
                )
            event_name = names[kinds.index("b")]
            time_name = names[1 - kinds.index("b")]
            event = _vector(y[event_name], "y", X)
            time = _vector(y[time_name], "y", X)
        else:
            time = _vector(y, "y", X)
    else:
        # An in-memory target beside a dask X: validated whole, then chunked.
        event, time, censored = check_survival_target(as_survival_target(y))
        event = _vector(event, "y", X) if censored else None
        time = _vector(time, "y", X)
    if time.dtype.kind not in "iuf":
        raise TypeError(f"y must hold real numbers, got dtype {time.dtype}.")
    weights = None if sample_weight is None else _vector(sample_weight,
                                                        "sample_weight", X)
    n_blocks = len(X.chunks[0])

    def delayed(array):
        # Unoptimised: chunks of X and y built from one source chunk share its key,
        # so a pass computes that source once.
        return [None] * n_blocks if array is None else list(
            array.to_delayed(optimize_graph=False).ravel())

    starts = np.concatenate(([0], np.cumsum(X.chunks[0])[:-1])).astype(np.int64)
    return Blocks(delayed(X), delayed(time), delayed(event), delayed(weights),
                  starts, int(X.shape[0]), int(X.shape[1])), (time, event)


def _map_blocks(blocks, function, *shared, per_block=None):
    """``function(*shared, *per_block[i], X_i, time_i, event_i, weight_i, start_i)``
    for every chunk, computed by the current Dask scheduler; results in order."""
    import dask

    call = dask.delayed(function)
    tasks = [call(*shared, *(() if per_block is None else per_block[i]),
                  blocks.X[i], blocks.time[i], blocks.event[i],
                  blocks.sample_weight[i], int(blocks.starts[i]))
             for i in range(len(blocks.X))]
    return dask.compute(*tasks)


def _rows(start, n_rows):
    return f"rows {start} to {start + n_rows - 1}"


def _checked_chunk(X, time, event, sample_weight, start):
    """A chunk's arrays as float64, refused with a ValueError naming its rows."""
    # Any layout: the scaled copy is the one copy (a column slice of a wider
    # source chunk is not contiguous).
    X = np.asarray(X, dtype=np.float64)
    time = np.ascontiguousarray(time, dtype=np.float64)
    if not np.isfinite(X).all() and np.isinf(X).any():
        raise ValueError(
            f"X holds infinity in {_rows(start, X.shape[0])}; every entry must be "
            "finite (NaN marks a missing value)."
        )
    if not np.isfinite(time).all():
        raise ValueError(
            f"y holds NaN or infinite values in {_rows(start, time.size)}; every "
            "response (time) must be finite."
        )
    if event is not None:
        event = np.asarray(event)
        if event.dtype != bool:
            if not np.isin(event, (0, 1)).all():
                raise ValueError(
                    f"event must hold only 0/1 (or True/False) values; "
                    f"{_rows(start, event.size)} hold others."
                )
            event = event.astype(bool)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if not (np.isfinite(sample_weight).all() and (sample_weight >= 0).all()):
            raise ValueError(
                f"sample_weight must be finite and non-negative; "
                f"{_rows(start, sample_weight.size)} hold other values."
            )
    return X, time, event, sample_weight


def _raw_weights(scaling, X, time, event, sample_weight):
    """Weights before the final power of two: sample, censoring, completeness."""
    weights = (np.ones(time.size) if sample_weight is None
               else np.ldexp(sample_weight, -scaling.weight_exponent))
    if scaling.censoring == "ipcw":
        # event / G(T-) in one compiled pass, bitwise the in-memory predict_ipcw.
        apply_ipcw(scaling.curve_times, scaling.curve_survival, time, event, weights)
    elif scaling.censoring == "drop":
        weights = weights * event
    if scaling.drop_incomplete:
        weights = weights * ~np.isnan(X).any(axis=1)
    return weights


def scaled_chunk(scaling, X, time, event, sample_weight, start):
    """A chunk's rows of the scaled problem: design, response and weights.

    The same operations as the in-memory fit, so the rows are bitwise those of
    the in-memory problem.
    """
    X, time, event, sample_weight = _checked_chunk(X, time, event, sample_weight,
                                                   start)
    weights = np.ldexp(_raw_weights(scaling, X, time, event, sample_weight),
                       -scaling.final_exponent)
    offset = int(scaling.fit_intercept)
    design = np.empty((X.shape[0], X.shape[1] + offset))
    design[:, 0] = 1.0
    with np.errstate(over="ignore"):
        if scaling.column_exponents.any():
            np.divide(X, np.ldexp(1.0, scaling.column_exponents),
                      out=design[:, offset:])
        else:
            design[:, offset:] = X
        response = np.ldexp(time, -scaling.response_exponent)
    inactive = weights == 0
    if inactive.any():
        # Their scaled values may overflow or be NaN; zeros will do.
        design[inactive] = 0.0
        response[inactive] = 0.0
    return design, response, weights


def _stats_chunk(scaling, probability, seed, X, time, event, sample_weight, start):
    """First pass: checks, maxima, active rows and a Bernoulli sample of them."""
    X, time, event, sample_weight = _checked_chunk(X, time, event, sample_weight,
                                                   start)
    has_nan = bool(np.isnan(X).any())
    largest = 0.0 if sample_weight is None else float(sample_weight.max(initial=0.0))
    exponent = int(scale_exponents([largest])[0])
    # With this chunk's own power of two; the client rescales by the global one.
    # Incomplete rows drop out (a chunk without NaN skips that scan of X).
    raw = _raw_weights(scaling._replace(weight_exponent=exponent,
                                        drop_incomplete=has_nan),
                       X, time, event, sample_weight)
    maxima = np.empty(X.shape[1])
    column_max_abs(kernel_input(X), raw, maxima)
    active = raw > 0
    chosen = np.flatnonzero(active & (np.random.default_rng(seed).random(time.size)
                                      < probability))
    sample = (start + chosen, X[chosen], time[chosen],
              None if event is None else event[chosen],
              None if sample_weight is None else sample_weight[chosen])
    return dict(has_nan=has_nan, largest_weight=largest, exponent=exponent,
                largest_raw=float(raw.max(initial=0.0)), maxima=maxima,
                largest_time=float(np.max(np.abs(time), where=active, initial=0.0)),
                n_active=int(active.sum()), sample=sample)


def _normal_equations_chunk(scaling, beta, quantile, epsilon, with_objective,
                            *chunk):
    design, response, weights = scaled_chunk(scaling, *chunk)
    p = design.shape[1]
    gram, rhs = np.empty((p, p)), np.empty(p)
    loss = mm_normal_equations(design, response, weights, beta, quantile, epsilon,
                               gram, rhs, np.empty(response.size), with_objective)
    return gram, rhs, loss


def _least_squares_chunk(scaling, *chunk):
    design, response, weights = scaled_chunk(scaling, *chunk)
    return weighted_gram(design, weights), design.T @ (weights * response)


def _band_chunk(scaling, beta, centre, threshold, quantile, *chunk):
    """Rows within ``threshold`` of the centred fit, the others' side sums, and
    the check loss at ``beta`` (the SQUAREM step's test, read in the same pass)."""
    design, response, weights = scaled_chunk(scaling, *chunk)
    n = response.size
    residuals, band = np.empty(n), np.empty(n, dtype=bool)
    sums = np.empty((2, design.shape[1]))
    loss, totals = band_split(design, response, weights, beta, quantile, centre,
                              threshold, residuals, band, sums)
    rows = np.flatnonzero(band)
    return (chunk[-1] + rows, design[rows], response[rows], weights[rows],
            residuals[rows], sums, totals, loss)


def _ball_chunk(scaling, beta, metric, radius, *chunk):
    """Rows that a fit within ``radius`` of ``beta`` could cross, and the sums of
    the others per side (:func:`~._kernels.ball_split`)."""
    design, response, weights = scaled_chunk(scaling, *chunk)
    n, p = design.shape
    band = np.empty(n, dtype=bool)
    sums, totals, side_y, abs_x = np.empty((2, p)), np.empty(2), np.empty(2), \
        np.empty(p)
    abs_y = ball_split(design, response, weights, beta, metric, radius, BALL_SLACK,
                       ON_FIT_TOL, band, sums, totals, side_y, abs_x)
    rows = np.flatnonzero(band)
    return (chunk[-1] + rows, design[rows], response[rows], weights[rows], sums,
            totals, side_y, abs_x, abs_y)


def _check_chunk(scaling, beta, centre, solution, quantile, tolerance, floor, cap,
                 band_rows, *chunk):
    """Globbed rows that crossed the fit at ``solution``, and the gap's sums there."""
    design, response, weights = scaled_chunk(scaling, *chunk)
    n = response.size
    # The gap's sums first: they leave the residuals at ``solution`` in ``new``.
    on_fit = np.empty(n, dtype=bool)
    balance = np.empty(design.shape[1])
    new = np.empty(n)
    primal, size = sign_dual(design, response, weights, solution, quantile,
                             ON_FIT_TOL, floor, on_fit, balance, new)
    old = np.empty(n)
    residuals_into(design, response, beta, old)
    old -= centre
    globbed = weights > 0
    globbed[band_rows - chunk[-1]] = False
    above = old > 0
    wrong = globbed & ((above & (new < -tolerance)) | (~above & (new > tolerance)))
    n_wrong = int(wrong.sum())
    crossed = None
    if n_wrong <= cap:
        rows = np.flatnonzero(wrong)
        crossed = (chunk[-1] + rows, design[rows], response[rows], weights[rows],
                   new[rows], old[rows] > 0)
    return (n_wrong, crossed, primal, size, balance, design[on_fit],
            response[on_fit], weights[on_fit])


def _final_weights_chunk(scaling, exponent, *chunk):
    return np.ldexp(scaled_chunk(scaling, *chunk)[2], exponent)


def _concatenate(parts, k):
    return np.concatenate([part[k] for part in parts])


class DaskProblem:
    """The scaled problem of a Dask fit: its chunks, scaling and gathered sample."""

    def __init__(self, blocks, scaling, sample, n_active, scale):
        self.blocks, self.scaling = blocks, scaling
        self.sample_X, self.sample_y, self.sample_w = sample
        self.n_active, self.scale = n_active, scale
        self.p = sample[0].shape[1]

    def sample_centre(self, beta, quantile):
        """Where the band at ``beta`` starts: the sample's residual quantile."""
        uniform = bool((self.sample_w == self.sample_w[0]).all())
        return band_centre(self.sample_y - self.sample_X @ beta, self.sample_w,
                           uniform, quantile)

    def normal_equations(self, quantile, epsilon):
        def equations(beta, with_objective):
            parts = _map_blocks(self.blocks, _normal_equations_chunk, self.scaling,
                                beta, quantile, epsilon, with_objective)
            return (sum(part[0] for part in parts), sum(part[1] for part in parts),
                    float(sum(part[2] for part in parts)))
        return equations

    def least_squares(self):
        """Weighted least squares on every row (Gram and right-hand side summed)."""
        parts = _map_blocks(self.blocks, _least_squares_chunk, self.scaling)
        gram = sum(part[0] for part in parts)
        norms = np.sqrt(np.diag(gram))
        if not (norms > 0).all():
            return None
        eigenvalues = np.linalg.eigvalsh(gram / np.outer(norms, norms))
        if not eigenvalues[0] > GRAM_RANK_RATIO * eigenvalues[-1]:
            return None
        return solve_normal_equations(gram, sum(part[1] for part in parts))

    def gather_band(self, beta, centre, size, quantile):
        """The ``size`` rows nearest the fit, side sums of the others, the centre,
        and the check loss at ``beta``.

        One pass gathers a window of residuals around the sample's centre, wide
        enough for that centre's sampling error (four standard deviations of a
        quantile of ``m`` rows); the exact weighted quantile of all residuals is
        then found in it (the weights below and above the window are known), and
        the band is centred there. A band off-centre by more than its width
        cannot balance the globbed rows (at n=2e5 a sample's centre failed so),
        and each failure costs MM maps, each a pass.
        """
        distance = np.abs(self.sample_y - self.sample_X @ beta - centre)
        m = distance.size
        # The window of window_half_width, widened to hold the band as well.
        k = int(np.ceil(BAND_MARGIN * size * m / self.n_active
                        + 4 * np.sqrt(m * quantile * (1 - quantile)))) + 10
        while True:
            threshold = np.inf if k >= m else np.partition(distance, k)[k]
            parts = _map_blocks(self.blocks, _band_chunk, self.scaling, beta, centre,
                                threshold, quantile)
            band = [_concatenate(parts, j) for j in range(5)]
            if band[0].size >= size or threshold == np.inf:
                break
            k *= 2  # the sample put too few rows under the threshold
        sums = sum(part[5] for part in parts)
        totals = sum(part[6] for part in parts)
        residuals, weights = band[4], band[3]
        shift = window_quantile(residuals, weights, totals[1],
                                totals.sum() + weights.sum(), quantile, 0.0)
        if shift:
            centre = centre + shift
            band[4] = residuals = residuals - shift
        if band[0].size > size:
            # The farthest go to their side's sums, as in memory.
            keep = np.zeros(band[0].size, dtype=bool)
            keep[np.argpartition(np.abs(residuals), size - 1)[:size]] = True
            for side, mask in ((0, ~keep & (residuals > 0)),
                               (1, ~keep & ~(residuals > 0))):
                sums[side] += band[3][mask] @ band[1][mask]
                totals[side] += band[3][mask].sum()
            band = [values[keep] for values in band]
        return band, sums, totals, centre, float(sum(part[7] for part in parts))

    def gather_ball(self, beta, metric, radius):
        """The band of :func:`~._kernels.ball_split` at ``beta`` (one pass):
        ``(rows, X, y, w)`` and the others' sums (:class:`Globbed`)."""
        parts = _map_blocks(self.blocks, _ball_chunk, self.scaling, beta, metric,
                            radius)
        band = tuple(_concatenate(parts, k) for k in range(4))
        return band, Globbed(*(sum(part[k] for part in parts) for k in range(4, 9)))

    def check(self, beta, centre, band_rows, solution, quantile, cap):
        band_rows = np.sort(band_rows)
        bounds = np.searchsorted(band_rows, np.append(self.blocks.starts,
                                                      self.blocks.n_samples))
        per_block = [(band_rows[bounds[i]:bounds[i + 1]],)
                     for i in range(len(self.blocks.X))]
        floor = ON_FIT_FLOOR * self.scale + 1e-300
        return _map_blocks(self.blocks, _check_chunk, self.scaling, beta, centre,
                           solution, quantile, 1e-9 * self.scale, floor, cap,
                           per_block=per_block)


def _finish(problem, quantile, beta, band_size, refine, gathered, max_rounds=30):
    """:func:`~._quantile_solver.exact_finish`, its passes as reductions.

    ``gathered`` is the band at ``beta`` (:meth:`DaskProblem.gather_band`), read
    in the pass that tested the last MM step.
    """
    big = BIG_FACTOR * problem.scale
    n_active = problem.n_active
    size = min(n_active, band_size)
    centre_beta = beta
    (rows, X, y, w, basis), sums, totals, centre, _ = gathered
    for rounds in range(1, max_rounds + 1):
        solution = band_dual(X, y, w, basis, sums, totals, quantile, big,
                             cold_retry=size >= n_active)
        n_wrong = None
        if solution is not None:
            parts = problem.check(centre_beta, centre, rows, solution, quantile,
                                  0.1 * size)
            n_wrong = sum(part[0] for part in parts)
            if n_wrong == 0:
                gap = gap_from_parts(
                    *(_concatenate(parts, k) for k in (5, 6, 7)), solution,
                    quantile, sum(part[2] for part in parts),
                    sum(part[3] for part in parts), sum(part[4] for part in parts))
                return solution, rounds, gap
        if n_wrong is None or n_wrong > size:
            beta = refine(beta)
            size = min(n_active, int(1.5 * size))
            centre_beta, centre = beta, problem.sample_centre(beta, quantile)
        elif n_wrong <= 0.1 * size:
            # A few rows crossed: they leave their side's sums for the band.
            crossed = [_concatenate([part[1] for part in parts], k) for k in range(6)]
            for side, mask in ((0, crossed[5]), (1, ~crossed[5])):
                sums[side] -= crossed[3][mask] @ crossed[1][mask]
                totals[side] -= crossed[3][mask].sum()
            rows, X, y, w = (np.concatenate([old, new]) for old, new in
                             zip((rows, X, y, w), crossed[:4]))
            basis = y - X @ solution
            continue
        else:
            size = min(n_active, 2 * size)
            centre_beta, centre = solution, 0.0
        (rows, X, y, w, basis), sums, totals, centre, _ = problem.gather_band(
            centre_beta, centre, size, quantile)
    raise RuntimeError(
        "The exact finish did not settle; use solver='mm' and please report this "
        "data set."
    )


def sample_size(n_rows):
    """Rows of positive weight the statistics pass samples for ``n_rows`` rows."""
    if n_rows <= SAMPLE_MARGIN * DASK_SAMPLE_SIZE:
        return DASK_SAMPLE_SIZE  # every row, when they are active
    return min(DASK_SAMPLE_SIZE,
               max(MIN_SAMPLE_SIZE, int(SAMPLE_GROWTH * n_rows ** (2 / 3))))


def prepare_dask_problem(blocks, time_event, *, fit_intercept, censoring, missing,
                         rng):
    """Statistics pass(es): the scaled problem, or a ValueError saying what to fix.

    Returns the problem and the fitted censoring distribution (or None).
    """
    time, event = time_event
    distribution = None
    mode = "none"
    if event is not None and censoring != "ignore":
        mode = "drop" if censoring == "drop" else "ipcw"
        if mode == "ipcw":
            distribution = censoring_distribution_reduction(time, event)
    empty = np.empty(0)
    scaling = Scaling(fit_intercept, mode,
                      empty if distribution is None else distribution.unique_times_,
                      empty if distribution is None else distribution.survival_,
                      False, 0, 0, np.zeros(blocks.n_features, dtype=np.int64), 0)
    size = sample_size(blocks.n_samples)
    probability = min(1.0, SAMPLE_MARGIN * size / blocks.n_samples)
    seed = rng.randint(np.iinfo(np.int32).max)
    stats = _map_blocks(blocks, _stats_chunk, scaling, probability,
                        per_block=[((seed, i),) for i in range(len(blocks.X))])
    has_nan = any(part["has_nan"] for part in stats)
    if has_nan and missing != "drop":
        raise ValueError(
            "X holds NaN (missing covariates). On dask arrays the fit supports "
            "missing='drop' (complete rows only, unweighted); the inverse "
            "probability weights of missing='auto' need a kernel estimate over all "
            "rows in memory. Fit missing='drop', or compute X and fit in memory."
        )
    largest = max(part["largest_weight"] for part in stats) if blocks.sample_weight[
        0] is not None else 1.0
    n_active = sum(part["n_active"] for part in stats)
    if not largest > 0 or n_active == 0:
        raise ValueError(
            "No row keeps a positive weight (every row is censored, incomplete "
            "or of zero sample_weight): there is nothing to fit."
        )
    weight_exponent = int(scale_exponents([largest])[0])
    final = max(np.ldexp(part["largest_raw"], part["exponent"] - weight_exponent)
                for part in stats)
    final_exponent = int(scale_exponents([final])[0])
    maxima = np.max([part["maxima"] for part in stats], axis=0)
    offset = int(fit_intercept)
    if n_active < blocks.n_features + offset:
        raise ValueError(
            f"Only {n_active} rows keep a positive weight, fewer than the "
            f"{blocks.n_features + offset} coefficients to fit."
        )
    response_exponent = int(scale_exponents(
        [max(part["largest_time"] for part in stats)])[0])
    scaling = scaling._replace(
        drop_incomplete=has_nan, weight_exponent=weight_exponent,
        final_exponent=final_exponent,
        column_exponents=scale_exponents(maxima, SCALE_SLACK_EXPONENT),
        response_exponent=response_exponent)
    # The sample rows, scaled on the client as the chunks are on the workers.
    parts = [part["sample"] for part in stats]
    columns = [np.concatenate(values) if values[0] is not None else None
               for values in zip(*parts)]
    design, response, weights = scaled_chunk(scaling, *columns[1:], 0)
    kept = weights > 0
    design, response, weights = design[kept], response[kept], weights[kept]
    # Whether the sample is every active row (small data): then MM starts there.
    whole = probability == 1.0 and weights.size <= size
    if weights.size > size:
        chosen = np.sort(np.random.default_rng(seed).choice(
            weights.size, size, replace=False))
        design, response, weights = design[chosen], response[chosen], weights[chosen]
    scale = max(np.ldexp(max(part["largest_time"] for part in stats),
                         -response_exponent), 1.0)
    problem = DaskProblem(blocks, scaling, (design, response, weights), n_active,
                          scale)
    problem.whole, problem.seed = whole, seed
    return problem, distribution


def solve_quantile_dask(problem, quantile, *, epsilon, max_iter, step_tol=None,
                        exact=True, verbose=0):
    """:func:`~._quantile_solver.solve_quantile` on a :class:`DaskProblem`.

    Same options and returns (``info``) as the in-memory solver.
    """
    with blas_thread_limit():
        return _solve(problem, quantile, epsilon, max_iter, step_tol, exact, verbose)


def _maps_and_band(problem, equations, beta, quantile, max_iter, step_tol, size):
    """Up to ``max_iter`` (at most 2) MM maps on all rows, then the band.

    With two maps, the pass that would test SQUAREM's extrapolated point (its
    check loss against the first map's) gathers the band there too, without the
    third map's normal equations: the finish needs a fit near the optimum, not
    an MM iterate, and the extrapolation is usually the nearest. Only when it
    failed the test is the band gathered again, at the second map.

    Returns the band's fit, the number of maps, whether the last step met
    ``step_tol``, and the band (:meth:`DaskProblem.gather_band`).
    """

    def mm_map(beta, with_objective=False):
        gram, rhs, objective = equations(beta, with_objective)
        return beta + solve_normal_equations(gram, rhs), objective

    def gather(beta):
        return problem.gather_band(beta, problem.sample_centre(beta, quantile), size,
                                   quantile)

    if max_iter < 1:
        return beta, 0, False, gather(beta)
    first, _ = mm_map(beta)
    converged = np.abs(first - beta).max() <= step_tol
    if max_iter < 2 or converged:
        return first, 1, converged, gather(first)
    second, first_loss = mm_map(first, with_objective=True)
    converged = np.abs(second - first).max() <= step_tol
    r = first - beta
    v = second - first - r
    norm_v = np.linalg.norm(v)
    if norm_v > 0 and not converged:
        alpha = min(-np.linalg.norm(r) / norm_v, -1.0)
        extrapolated = beta - 2 * alpha * r + alpha**2 * v
        gathered = gather(extrapolated)
        if gathered[4] <= first_loss:
            return extrapolated, 2, converged, gathered
    return second, 2, converged, gather(second)


def _sample_start(problem, quantile, epsilon, max_iter):
    """The two-pass band's centre, metric and radius, from the sample alone.

    The sample is split into ``SAMPLE_PARTS`` disjoint parts, each fitted exactly
    in memory; the centre is their mean. With ``G = L L'`` the Gram matrix of the
    sample's rows, the metric is ``L^-1``, in which the distance of a fit from the
    optimum is the root mean square of its change of the fitted values; the
    parts' spread estimates that distance for the centre (the variance of a
    mean of ``SAMPLE_PARTS`` fits), and the radius is ``BALL_RADIUS`` times it.
    Returns None when a part cannot be fitted (rank deficient) or ``G`` is not
    numerically positive definite: the other path decides then.
    """
    X, y, w = problem.sample_X, problem.sample_y, problem.sample_w
    m, p = X.shape
    rng = np.random.default_rng(problem.seed)
    parts = np.array_split(rng.permutation(m), SAMPLE_PARTS)
    if parts[-1].size < 2 * p:
        return None
    betas = []
    for part in parts:
        part = np.sort(part)
        try:
            beta, _ = solve_quantile(X[part], y[part], w[part], quantile,
                                     epsilon=epsilon, max_iter=max_iter,
                                     rng=np.random.RandomState(problem.seed))
        except (ValueError, RuntimeError):
            return None
        betas.append(beta)
    betas = np.array(betas)
    centre = betas.mean(axis=0)
    try:
        lower = np.linalg.cholesky(X.T @ X / m)
    except np.linalg.LinAlgError:
        return None
    metric = solve_triangular(lower, np.eye(p), lower=True)
    spread = (betas - centre) @ lower  # rows L'(beta_k - centre)
    radius = BALL_RADIUS * np.sqrt((spread ** 2).sum()
                                   / (SAMPLE_PARTS * (SAMPLE_PARTS - 1)))
    return centre, metric, radius


def _band_solution(X, y, w, globbed, quantile, beta, big, epsilon, max_iter,
                   max_rounds=10):
    """Exact minimiser of the band rows' check loss plus the globbed rows' linear
    part (``globbed`` keep their side), on the client.

    The band is solved as the in-memory fit solves all rows: MM from ``beta``
    (``max_iter`` maps, ``epsilon`` relative to the band's mean absolute
    residual; the globbed rows add their gradient to the normal equations),
    then a reduced LP on the ``SUB_BAND_FACTOR sqrt(n p)`` rows nearest that
    fit, the other band rows joining the globbed sums; rows that crossed are
    added, or the sub-band is recentred and widened. Returns the solution and
    the LPs solved, or None when the band cannot balance the globbed rows.
    """
    n, p = X.shape
    if n <= p:
        return None
    # The globbed rows' check loss is linear, const - gradient' beta.
    gradient = quantile * globbed.sums[0] + (quantile - 1.0) * globbed.sums[1]
    residuals = y - X @ beta
    scale = max(float(np.average(np.abs(residuals), weights=w)), 1e-300)
    gram, rhs, work = np.empty((p, p)), np.empty(p), np.empty(n)

    def equations(beta, with_objective):
        # rhs is minus twice the majoriser's gradient (mm_normal_equations).
        loss = mm_normal_equations(X, y, w, beta, quantile, epsilon * scale, gram,
                                   rhs, work, with_objective)
        return gram, rhs + 2.0 * gradient, loss - gradient @ beta

    beta = mm_loop(equations, beta, max_iter, MM_STEP_TOL * scale,
                   accelerate=True)[0]
    residuals = y - X @ beta
    # Centred on the quantile of all rows' residuals: the globbed weights below
    # and above the band are known.
    centre = window_quantile(residuals, w, globbed.totals[1],
                             globbed.totals.sum() + w.sum(), quantile, 0.0)
    residuals -= centre
    size = min(n, max(50 * p, int(SUB_BAND_FACTOR * np.sqrt(n * p))))
    tolerance = 1e-9 * big / BIG_FACTOR
    forced = np.zeros(n, dtype=bool)
    for rounds in range(1, max_rounds + 1):
        inner = forced.copy()
        if size < n:
            inner[np.argpartition(np.abs(residuals), size - 1)[:size]] = True
        else:
            inner[:] = True
        above = ~inner & (residuals > 0)
        below = ~inner & ~(residuals > 0)
        sums = np.empty((2, p))
        totals = side_sums(X, w, above, below, sums)
        rows = np.flatnonzero(inner)
        solution = band_dual(X[rows], y[rows], w[rows], residuals[rows],
                             sums + globbed.sums, totals + globbed.totals, quantile,
                             big, cold_retry=size >= n)
        if solution is None:
            if size >= n:
                return None
            size, forced[:] = min(n, 2 * size), False
            continue
        new = y - X @ solution
        wrong = (above & (new < -tolerance)) | (below & (new > tolerance))
        n_wrong = int(wrong.sum())
        if n_wrong == 0:
            return solution, rounds
        if n_wrong <= 0.1 * size:
            forced = inner | wrong
        else:
            residuals, size, forced[:] = new, min(n, 2 * size), False
    return None


def _ball_gap(X, y, w, globbed, solution, quantile, scale):
    """The relative duality gap at ``solution`` when no globbed row crossed.

    The globbed rows keep their sign dual, so their terms of the gap vanish and
    their share of ``X' d``, of the check loss and of the rounding scale comes
    from their sums; the band's rows go through :func:`~._kernels.sign_dual`.
    """
    n, p = X.shape
    on_fit, balance = np.empty(n, dtype=bool), np.empty(p)
    primal, size = sign_dual(X, y, w, solution, quantile, ON_FIT_TOL,
                             ON_FIT_FLOOR * scale + 1e-300, on_fit, balance,
                             np.empty(n))
    sums, side_y = globbed.sums, globbed.side_y
    balance += quantile * sums[0] + (quantile - 1.0) * sums[1]
    # Sums of positive terms computed as differences: only the denominator of
    # the relative gap, whose floor is a share of the rounding scale.
    primal += max(quantile * (side_y[0] - sums[0] @ solution), 0.0)
    primal += max((quantile - 1.0) * (side_y[1] - sums[1] @ solution), 0.0)
    size += globbed.abs_y + globbed.abs_x @ np.abs(solution)
    fit = np.flatnonzero(on_fit)
    return gap_from_parts(X[fit], y[fit], w[fit], solution, quantile, primal, size,
                          balance)


def _solve(problem, quantile, epsilon, max_iter, step_tol, exact, verbose):
    X_start, y_start, w_start = problem.sample_X, problem.sample_y, problem.sample_w
    if exact and problem.whole:
        # Every row of positive weight is on the client: the in-memory fit.
        return solve_quantile(X_start, y_start, w_start, quantile, epsilon=epsilon,
                              max_iter=max_iter, step_tol=step_tol, verbose=verbose,
                              rng=np.random.RandomState(problem.seed))
    relative_epsilon = epsilon
    beta = weighted_least_squares(X_start, y_start, w_start)
    if beta is None and not problem.whole:
        # A rank-deficient sample (a rare dummy) cannot warm-start MM: the Gram
        # matrix of every row decides. Without the rows in memory no pivoted QR
        # follows, so designs of condition number above 1e5 count as deficient.
        beta = problem.least_squares()
    if beta is None:
        raise rank_deficiency_error(problem.p)
    scale = float(np.average(np.abs(y_start - X_start @ beta), weights=w_start))
    scale = max(scale, 1e-12 * max(np.abs(y_start).max(), 1.0))
    eps = epsilon * scale
    step_tol = (MM_STEP_TOL if step_tol is None else step_tol) * scale
    equations = problem.normal_equations(quantile, eps)
    band_size = int(max(50 * problem.p, DASK_BAND_FACTOR * BAND_FACTOR
                        * np.sqrt(problem.n_active * problem.p)))
    info = {"n_iter": 0, "mm_converged": True, "rounds": 0,
            "duality_gap": np.nan, "epsilon": eps, "step_tol": step_tol,
            "band_size": band_size}

    def refine(beta):
        info["n_iter"] += REFINE_ITER
        return mm_loop(equations, beta, REFINE_ITER, step_tol, accelerate=True)[0]

    def finish(beta, gathered):
        beta, rounds, gap = _finish(problem, quantile, beta, band_size, refine,
                                    gathered)
        info.update(rounds=info["rounds"] + rounds, duality_gap=gap)
        if verbose:
            print(f"exact finish at quantile {quantile:g}: {rounds} reduced LP(s), "
                  f"duality gap {gap:.2g}")
        return beta, info

    start = None
    if exact:
        start = _sample_start(problem, quantile, relative_epsilon, max_iter)
    if start is not None:
        centre, metric, radius = start
        (rows, X, y, w), globbed = problem.gather_ball(centre, metric, radius)
        big = BIG_FACTOR * problem.scale
        solved = _band_solution(X, y, w, globbed, quantile, centre, big,
                                relative_epsilon, max_iter)
        if solved is not None:
            solution, rounds = solved
            info.update(rounds=rounds, band_size=rows.size)
            moved = np.linalg.norm(solve_triangular(metric, solution - centre,
                                                    trans="T", lower=True))
            if moved < radius:
                # No globbed row can have crossed: certified without a pass.
                gap = _ball_gap(X, y, w, globbed, solution, quantile, problem.scale)
                if gap <= SIMPLEX_GAP:
                    info["duality_gap"] = gap
                    if verbose:
                        print(f"two-pass fit at quantile {quantile:g}: band of "
                              f"{rows.size} rows, {rounds} reduced LP(s), duality "
                              f"gap {gap:.2g}")
                    return solution, info
            # The solution left the ball: a pass checks the globbed rows.
            parts = problem.check(centre, 0.0, rows, solution, quantile, 0)
            if sum(part[0] for part in parts) == 0:
                gap = gap_from_parts(
                    *(_concatenate(parts, k) for k in (5, 6, 7)), solution,
                    quantile, sum(part[2] for part in parts),
                    sum(part[3] for part in parts), sum(part[4] for part in parts))
                info["duality_gap"] = gap
                return solution, info
            return finish(solution, problem.gather_band(
                solution, problem.sample_centre(solution, quantile),
                min(problem.n_active, band_size), quantile))
    # MM on the sample in memory costs little next to a pass over all rows: it
    # runs the in-memory fit's maps.
    beta, n_sample, converged = mm_iterations(X_start, y_start, w_start, quantile,
                                              beta, eps, max_iter, step_tol,
                                              accelerate=exact)
    if exact:
        beta, n_maps, converged, gathered = _maps_and_band(
            problem, equations, beta, quantile, min(max_iter, DASK_MM_MAPS),
            step_tol, min(problem.n_active, band_size))
    else:
        beta, n_maps, converged = mm_loop(equations, beta, max_iter, step_tol)
    info.update(n_iter=n_maps, mm_converged=converged)
    if verbose:
        print(f"MM: {n_maps} iterations on {problem.n_active} rows (dask), "
              f"epsilon={eps:.3g}")
    if exact:
        return finish(beta, gathered)
    return beta, info


def final_weights(problem, exponent):
    """The fit's ``weights_`` as a lazy Dask array (``w_i`` in the caller's units)."""
    import dask
    import dask.array as da

    blocks = problem.blocks
    sizes = np.diff(np.append(blocks.starts, blocks.n_samples))
    call = dask.delayed(_final_weights_chunk)
    return da.concatenate([
        da.from_delayed(call(problem.scaling, exponent, blocks.X[i], blocks.time[i],
                             blocks.event[i], blocks.sample_weight[i],
                             int(blocks.starts[i])),
                        shape=(int(sizes[i]),), dtype=np.float64)
        for i in range(len(blocks.X))])


def predict_dask(predict, X, monotone, n_features, n_levels):
    """``predict(chunk, monotone)`` on each row chunk of a Dask ``X``, lazily.

    ``n_levels`` is the number of output columns, or 0 for one level (1-D).
    """
    import dask.array as da

    if not isinstance(X, da.Array) or X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X must be a 2-D dask array with {n_features} columns, as in fit; "
            f"got {type(X).__name__} of shape {getattr(X, 'shape', None)}."
        )
    X = X.rechunk({1: -1})
    if n_levels:
        return X.map_blocks(predict, monotone, chunks=(X.chunks[0], (n_levels,)),
                            dtype=np.float64)
    return X.map_blocks(predict, monotone, drop_axis=1, dtype=np.float64)

