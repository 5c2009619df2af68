"""Kernel (Nadaraya-Watson) estimate of the probability that a row is complete.

Three ways to the sums ``sum_j K_h(Z_i - Z_j) (complete_j, 1)``:

- ``exact``: the sums themselves over a window sorted on one column (the column
  with the fewest pairs within the kernel's reach); pairs outside the window have
  a kernel of exactly 0 in float64, so pruning them changes nothing. O(n^2 d) for
  wide kernels, about O(n log n) for narrow ones.
- ``binned``: linear binning on a grid, FFT convolution with the kernel and
  multilinear interpolation back; O(n + grid), at most 3 columns.
- ``projected``: the kernel estimate on 2 directions of a sufficient dimension
  reduction of ``Z`` for ``complete``: the class-mean difference (sliced inverse
  regression) and the leading direction of sliced average variance estimation
  orthogonal to it, which sees differences of spread; binned or exact as above.
"""

import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.signal import fftconvolve
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._utils import blas_thread_limit, warn_at_caller
from ._kernels import (
    EPANECHNIKOV,
    GAUSSIAN,
    GAUSSIAN_UNDERFLOW,
    row_kernel_sums,
    window_kernel_sums,
)

KERNELS = {"gaussian": GAUSSIAN, "epanechnikov": EPANECHNIKOV}
# Reach of each kernel in bandwidths: beyond it the kernel is exactly 0.
_REACH = {GAUSSIAN: math.sqrt(GAUSSIAN_UNDERFLOW), EPANECHNIKOV: 1.0}
# Gaussian kernels are cut at this many bandwidths on the grid (tail < 6e-7).
_GAUSSIAN_CUTOFF = 5.0
# Largest grid of the binned estimate, its spacing in bandwidths (finer for the
# Epanechnikov kernel, whose kink at the edge of its support binning blurs more),
# and the coarsest spacing 'auto' still bins with.
_MAX_GRID_CELLS = 2**22
_SPACING = {GAUSSIAN: 0.1, EPANECHNIKOV: 0.05}
_AUTO_MAX_SPACING = {GAUSSIAN: 0.5, EPANECHNIKOV: 0.25}
# 'auto' computes exact sums up to the first number of kernel evaluations (pairs
# times columns) when nothing cheaper fits, and always up to the second, however
# cheap binning would be.
_EXACT_BUDGET = 2e9
_EXACT_CHEAP = 1e8
_N_DIRECTIONS = 2
_PAIR_SAMPLE = 20_000
# 'auto' projects when most rows' kernel sums are below this (their own term, 1,
# weighs more than all their neighbours together).
_DEGENERATE_WEIGHT = 2.0


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_dims": [Interval(Integral, 1, None, closed="left")],
        "rule": [StrOptions({"scott", "silverman"})],
        "kernel": [StrOptions(set(KERNELS))],
    },
    prefer_skip_nested_validation=True,
)
def bandwidth_rule(n_samples, n_dims, rule="scott", kernel="gaussian"):
    """Rule-of-thumb bandwidth for standardised data.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    n_dims : int
        Number of conditioning variables, at least 1.
    rule : {'scott', 'silverman'}, default='scott'
        ``'scott'``: ``n^(-1/(d+4))``; ``'silverman'``:
        ``(4 / (d + 2))^(1/(d+4)) n^(-1/(d+4))``.
    kernel : {'gaussian', 'epanechnikov'}, default='gaussian'
        The rules are stated for the Gaussian kernel; for the Epanechnikov kernel
        (support [-1, 1], standard deviation ``1/sqrt(5)``) the bandwidth is
        multiplied by ``sqrt(5)`` so that both kernels have the same spread.

    Returns
    -------
    bandwidth : float
        Bandwidth in units of standard deviations.

    Examples
    --------
    >>> from statopt.survival import bandwidth_rule
    >>> round(bandwidth_rule(10_000, 2), 4)
    0.2154
    """
    n_samples, n_dims = int(n_samples), int(n_dims)
    # Through logarithms: integers of any size, no overflow to float.
    exponent = -math.log(n_samples) / (n_dims + 4)
    if rule == "silverman":
        exponent += math.log(4.0 / (n_dims + 2)) / (n_dims + 4)
    return math.exp(exponent) * (math.sqrt(5.0) if kernel == "epanechnikov" else 1.0)


def _grid(Z, kernel):
    """Grid sizes and spacing (in bandwidths) of the binned estimate."""
    d = Z.shape[1]
    cutoff = _GAUSSIAN_CUTOFF if kernel == GAUSSIAN else 1.0
    low = Z.min(axis=0) - cutoff
    span = Z.max(axis=0) + cutoff - low
    # Cell counts in logarithms: a tiny bandwidth asks for more cells than an
    # integer holds.
    log_sizes = np.log(span / _SPACING[kernel])
    for _ in range(d):
        excess = (log_sizes.sum() - math.log(_MAX_GRID_CELLS)) / d
        if excess <= 0:
            break
        log_sizes = np.maximum(log_sizes - excess, math.log(2.0))
    sizes = np.maximum(np.ceil(np.exp(log_sizes) - 1e-9).astype(np.int64) + 1, 2)
    while np.prod(sizes.astype(float)) > _MAX_GRID_CELLS:
        sizes = np.maximum(sizes - 1, 2)
    return low, span / (sizes - 1), sizes


def _binned_sums(Z, complete, kernel, grid):
    """Linear binning on a grid, FFT convolution, multilinear interpolation back."""
    n, d = Z.shape
    low, spacing, sizes = grid
    cutoff = _GAUSSIAN_CUTOFF if kernel == GAUSSIAN else 1.0
    position = (Z - low) / spacing
    base = np.clip(np.floor(position), 0, sizes - 2).astype(np.int64)
    fraction = np.clip(position - base, 0.0, 1.0)
    strides = np.r_[np.cumprod(sizes[::-1])[::-1][1:], 1]
    corners, corner_weights = [], []
    for corner in np.ndindex(*(2,) * d):
        corner = np.array(corner)
        weight = np.prod(np.where(corner == 1, fraction, 1.0 - fraction), axis=1)
        corners.append((base + corner) @ strides)
        corner_weights.append(weight)
    n_cells = int(np.prod(sizes))
    grids = []
    for values in (complete.astype(np.float64), np.ones(n)):
        counts = np.zeros(n_cells)
        for index, weight in zip(corners, corner_weights):
            counts += np.bincount(index, weights=weight * values, minlength=n_cells)
        grids.append(counts.reshape(sizes))
    # The product kernel sampled on the grid offsets.
    kernel_grid = np.ones(())
    for k in range(d):
        half = min(int(np.ceil(cutoff / spacing[k])), int(sizes[k]))
        u = np.arange(-half, half + 1) * spacing[k]
        if kernel == GAUSSIAN:
            values = np.exp(-0.5 * u**2)
        else:
            values = np.clip(1 - u**2, 0, None)
        kernel_grid = np.multiply.outer(kernel_grid, values)
    smoothed = [fftconvolve(grid, kernel_grid, mode="same").ravel() for grid in grids]
    numerator = np.zeros(n)
    denominator = np.zeros(n)
    for index, weight in zip(corners, corner_weights):
        numerator += weight * smoothed[0][index]
        denominator += weight * smoothed[1][index]
    return numerator, denominator


def _sort_column(Z, reach):
    """Column whose windows hold the fewest pairs, and that number of pairs.

    On more than ``_PAIR_SAMPLE`` rows the pairs are counted on a fixed subsample
    and scaled up: the count only decides between methods and columns.
    """
    n = Z.shape[0]
    rows = np.arange(n)
    if n > _PAIR_SAMPLE:
        rows = np.sort(np.random.RandomState(0).choice(n, _PAIR_SAMPLE, replace=False))
    scale = (n / rows.size) ** 2
    best = (math.inf, 0)
    for k in range(Z.shape[1]):
        column = np.sort(Z[rows, k])
        end = np.searchsorted(column, column + reach, side="right")
        pairs = float((end - np.arange(1, rows.size + 1)).sum()) * scale
        best = min(best, (pairs, k))
    return best


def _exact_sums(Z, complete, kernel, bandwidth, k):
    order = np.argsort(Z[:, k], kind="stable")
    columns = np.r_[k, np.delete(np.arange(Z.shape[1]), k)]
    Z_sorted = np.ascontiguousarray(Z[order][:, columns])
    first = Z_sorted[:, 0]
    end = np.searchsorted(first, first + _REACH[kernel] * bandwidth, side="right")
    # Differences over a tiny bandwidth overflow to inf by design (their kernel is
    # 0); compiled code does so silently, the plain-Python kernel must too.
    with np.errstate(over="ignore", invalid="ignore"):
        numerator, denominator = window_kernel_sums(
            Z_sorted, complete[order].astype(np.float64), end.astype(np.int64),
            kernel, float(bandwidth),
        )
    unsorted = np.empty((2, Z.shape[0]))
    unsorted[0, order] = numerator
    unsorted[1, order] = denominator
    return unsorted[0], unsorted[1]


def _median_kernel_sum(Z, kernel, bandwidth, n_rows=400):
    """Median over rows of ``sum_j K(Z_i - Z_j)`` (the row's own 1 included).

    Exact sums over all rows ``j``, for at most ``n_rows`` rows ``i`` drawn with a
    fixed seed. A median below 2 means that most rows weigh more in their own
    estimate than all their neighbours together.
    """
    n = Z.shape[0]
    rows = np.arange(n)
    if n > n_rows:
        rows = np.sort(np.random.RandomState(0).choice(n, n_rows, replace=False))
    with np.errstate(over="ignore", invalid="ignore"):  # as in _exact_sums
        sums = row_kernel_sums(np.ascontiguousarray(Z), rows.astype(np.int64),
                               kernel, float(bandwidth))
    return float(np.median(sums))


def _standardise(Z):
    """Columns scaled to mean 0 and variance 1; constant columns dropped.

    Dividing by the largest magnitude first keeps the mean and variance of huge
    (near the float64 maximum) or subnormal columns finite and exact enough.
    """
    magnitude = np.abs(Z).max(axis=0)
    keep = magnitude > 0
    Z = Z[:, keep] / magnitude[keep]
    scale = Z.std(axis=0)
    keep = scale > 0
    return (Z[:, keep] - Z[:, keep].mean(axis=0)) / scale[keep]


def _leading_directions(Z, complete, n_directions):
    """Projection of standardised ``Z`` on its leading directions for ``complete``.

    In whitened coordinates ``X``: first the direction of sliced inverse
    regression, the difference of the class means (the only one it has with two
    classes); then the leading eigenvectors, orthogonal to it, of the kernel of
    sliced average variance estimation, ``sum_c f_c (I - C_c)^2`` (``C_c`` the
    class covariances, ``f_c`` the class fractions), which sees differences of
    spread. The mean difference comes first because, in many columns, the
    sampling noise of the covariances outweighs a moderate shift of the means.
    When the completeness probability depends on ``Z`` only through a few linear
    combinations (and ``Z`` is roughly elliptical), these span them.
    """
    n = Z.shape[0]
    values, vectors = np.linalg.eigh(Z.T @ Z / n)
    keep = values > values.max() * 1e-10
    whitening = vectors[:, keep] / np.sqrt(values[keep])
    X = Z @ whitening
    r = X.shape[1]
    save = np.zeros((r, r))
    for rows in (complete, ~complete):
        centred = X[rows] - X[rows].mean(axis=0)
        spread = np.eye(r) - centred.T @ centred / rows.sum()
        save += rows.mean() * spread @ spread
    shift = X[complete].mean(axis=0) - X[~complete].mean(axis=0)
    norm = np.linalg.norm(shift)
    directions = np.zeros((r, 0))
    if norm > 1e-12:
        directions = (shift / norm)[:, None]
        # SAVE restricted to the complement of the mean difference.
        complement = np.eye(r) - directions @ directions.T
        save = complement @ save @ complement
    _, vectors = np.linalg.eigh(save)
    wanted = min(n_directions, r) - directions.shape[1]
    directions = np.column_stack([directions, vectors[:, ::-1][:, :wanted]])
    return Z @ (whitening @ directions)


def floor_probability(probability, complete, min_probability):
    """Clip to [min_probability, 1], warning about the complete rows floored.

    Only complete rows are weighted (by ``1 / p``), so only their floors matter.
    """
    probability = np.clip(probability, 0.0, 1.0)
    floored = complete & (probability < min_probability)
    if floored.any():
        warn_at_caller(
            f"{int(floored.sum())} complete rows had an estimated completeness "
            f"probability below min_probability={min_probability}, which was used "
            "instead (their weights are capped).",
            UserWarning
        )
    return np.maximum(probability, min_probability)


def _check_complete(complete):
    if sp.issparse(complete):
        raise TypeError(
            "complete must be a dense 1-D array of booleans; got a sparse matrix "
            "(convert it with .toarray().ravel())."
        )
    complete = np.asarray(complete)
    if complete.ndim != 1:
        raise ValueError(
            f"complete must be 1-D of shape (n_samples,), got shape {complete.shape}."
        )
    if complete.size == 0:
        raise ValueError("complete is empty: at least one row is needed.")
    if complete.dtype != bool:
        if not np.issubdtype(complete.dtype, np.number) or np.iscomplexobj(complete):
            raise TypeError(
                f"complete must hold booleans (or 0/1), got dtype {complete.dtype}."
            )
        if not np.all(np.isin(complete, (0, 1))):
            raise ValueError("complete must hold booleans (or 0/1).")
        complete = complete.astype(bool)
    return complete


def _choose(method, Z, kernel, bandwidth, n_rows):
    """The method, and its plan (grid or sort column), ``'auto'`` resolved."""
    d = Z.shape[1]
    with np.errstate(over="ignore"):
        # A grid over more than 1e12 bandwidths could not resolve the kernel.
        resolvable = np.abs(Z).max() / bandwidth < 1e12
    grid = _grid(Z / bandwidth, kernel) if d <= 3 and resolvable else None
    if method == "binned":
        if d > 3:
            raise ValueError(
                f"method='binned' handles at most 3 columns, got {d}; use method="
                "'exact', 'projected' or fewer conditioning variables."
            )
        if grid is None or grid[1].max() > 1.0:
            raise ValueError(
                f"bandwidth={bandwidth:.3g} is too small for method='binned': a "
                f"grid of at most {_MAX_GRID_CELLS} cells over the data's range "
                "would have cells wider than a bandwidth; use method='exact'."
            )
        return "binned", grid
    pairs, column = _sort_column(Z, _REACH[kernel] * bandwidth)
    if method == "exact":
        return "exact", column
    if grid is not None and grid[1].max() <= _AUTO_MAX_SPACING[kernel]:
        # Costs in units of one kernel evaluation of the exact sums, as measured
        # relative to it: the two FFTs 60 per cell, binning 20 per row and corner.
        binned_cost = 60.0 * np.prod(grid[2].astype(float)) + 20.0 * n_rows * 2**d
        if pairs * d > max(binned_cost, _EXACT_CHEAP):
            return "binned", grid
    if pairs * d <= _EXACT_BUDGET:
        if (d > _N_DIRECTIONS
                and _median_kernel_sum(Z, kernel, bandwidth) < _DEGENERATE_WEIGHT):
            # Most rows' own term outweighs all their neighbours: the exact
            # estimate is close to the indicator itself, and reweights nothing.
            return "projected", None
        return "exact", column
    # Expensive exact sums: a coarser grid, else fewer dimensions, else exact.
    if grid is not None and grid[1].max() <= 1.0:
        return "binned", grid
    if d > _N_DIRECTIONS:
        return "projected", None
    return "exact", column


@validate_params(
    {
        "complete": ["array-like", "sparse matrix"],
        "Z": ["array-like", "sparse matrix"],
        "kernel": [StrOptions(set(KERNELS))],
        "bandwidth": [StrOptions({"scott", "silverman"}),
                      Interval(Real, 0, None, closed="neither")],
        "method": [StrOptions({"auto", "binned", "exact", "projected"})],
        "min_probability": [Interval(Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def kernel_propensity(complete, Z, *, kernel="gaussian", bandwidth="scott",
                      method="auto", min_probability=0.01):
    """Nadaraya-Watson estimate of the probability that each row is complete.

    ``p_i = sum_j K_h(Z_i - Z_j) complete_j / sum_j K_h(Z_i - Z_j)`` with a product
    kernel on the standardised columns of ``Z`` (the response and the covariates
    that are never missing).

    Parameters
    ----------
    complete : array-like of shape (n_samples,)
        True where the row has no missing covariate.
    Z : array-like of shape (n_samples, n_dims)
        Always-observed conditioning variables; each column is standardised (a
        constant column carries no information and is dropped).
    kernel : {'gaussian', 'epanechnikov'}, default='gaussian'
        One-dimensional kernel of the product: ``exp(-u^2 / 2)`` or
        ``(1 - u^2)_+``.
    bandwidth : {'scott', 'silverman'} or float, default='scott'
        Rule of thumb (see :func:`bandwidth_rule`) or a bandwidth in standard
        deviations, the same for every column. Any positive value is safe: a tiny
        bandwidth makes each row its own (and its exact duplicates') only
        neighbour.
    method : {'auto', 'exact', 'binned', 'projected'}, default='auto'
        ``'exact'``: the sums themselves, over windows sorted on one column (pairs
        beyond the kernel's reach, where it is exactly 0 in float64, are skipped):
        O(n^2 d) for wide kernels. ``'binned'``: linear binning on a grid of
        spacing 0.1 bandwidth (0.05 for the Epanechnikov kernel; coarser if the
        grid would pass 4 million cells), FFT convolution and multilinear
        interpolation, O(n + grid), at most 3 columns; agrees with the exact sums
        to about 1e-3 in one or two columns, 1e-2 in three. ``'projected'``: the
        estimate (binned or exact) on ``Z`` projected on its 2 leading directions
        for ``complete`` (sliced inverse regression and sliced average variance
        estimation), with the bandwidth rule of 2 columns: O(n d^2); consistent
        when the probability depends on ``Z`` through 2 linear combinations,
        biased otherwise. ``'auto'``: exact while that takes at most 1e8 kernel
        evaluations; binned in up to 3 columns when that
        is cheaper than the exact sums and the grid is fine enough (cells of at
        most 0.5 bandwidth, 0.25 for the Epanechnikov kernel); else exact up to
        2e9 evaluations, and projected beyond. With more than 2 columns 'auto'
        also projects when the exact estimate would be degenerate: when, on 400
        sampled rows, the median kernel sum (the row's own term counting 1) is
        below 2, as in 10 or more standardised columns at rule-of-thumb
        bandwidths, where ``p_i`` is close to ``complete_i`` and reweights
        nothing.
    min_probability : float, default=0.01
        Floor of the estimate; a warning counts the complete rows whose estimate
        was below it (their inverse would dominate the weights).

    Returns
    -------
    probability : ndarray of shape (n_samples,)
        Estimated probability that each row is complete, in
        ``[min_probability, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.survival import kernel_propensity
    >>> rng = np.random.RandomState(0)
    >>> z = rng.standard_normal((2000, 1))
    >>> truth = 0.1 + 0.8 / (1 + np.exp(-z[:, 0]))
    >>> complete = rng.uniform(size=2000) < truth
    >>> p = kernel_propensity(complete, z)
    >>> bool(np.abs(p - truth).mean() < 0.05)
    True
    """
    complete = _check_complete(complete)
    # scikit-learn's finiteness check sums Z first: +inf and -inf would warn.
    with np.errstate(invalid="ignore", over="ignore"):
        Z = check_array(Z, accept_sparse=False, dtype=np.float64, ensure_2d=False,
                        input_name="Z")
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.shape[0] != complete.shape[0]:
        raise ValueError(
            f"Z must have shape (n_samples, n_dims) with n_samples={complete.size}, "
            f"got {Z.shape}."
        )
    if not complete.any():
        raise ValueError("No row is complete: the propensity cannot be estimated.")
    n = Z.shape[0]
    Z = _standardise(Z)
    if Z.shape[1] == 0 or complete.all():
        return np.full(n, float(complete.mean()))
    code = KERNELS[kernel]

    def project(Z):
        if Z.shape[1] <= _N_DIRECTIONS:
            return Z
        # Small dense products and eigendecompositions: one BLAS thread, the
        # package's policy for small shared machines (DESIGN.md, Threads).
        with blas_thread_limit():
            return _standardise(_leading_directions(Z, complete, _N_DIRECTIONS))

    def estimate(Z, method):
        if isinstance(bandwidth, str):
            h = bandwidth_rule(n, Z.shape[1], bandwidth, kernel)
        else:
            h = float(bandwidth)
        chosen, plan = _choose(method, Z, code, h, n)
        if chosen == "projected":
            return estimate(project(Z), "auto")
        if chosen == "binned":
            numerator, denominator = _binned_sums(Z / h, complete, code, plan)
            # Binning can leave tiny negative FFT round-off.
            return numerator / np.maximum(denominator, 1e-300)
        # Every row is its own neighbour: the denominator is at least 1.
        numerator, denominator = _exact_sums(Z, complete, code, h, plan)
        return numerator / denominator

    if method == "projected":
        Z, method = project(Z), "auto"
    if Z.shape[1] == 0:
        return np.full(n, float(complete.mean()))
    probability = estimate(Z, method)
    return floor_probability(probability, complete, min_probability)
