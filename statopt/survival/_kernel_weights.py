"""Kernel (Nadaraya-Watson) estimate of the probability that a row is complete."""

import math
import warnings
from numbers import Real

import numpy as np
from scipy.signal import fftconvolve

from ._kernels import EPANECHNIKOV, GAUSSIAN, compact_kernel_sums, exact_kernel_sums

KERNELS = {"gaussian": GAUSSIAN, "epanechnikov": EPANECHNIKOV}
# Gaussian kernels are cut at this many bandwidths on the grid (tail < 6e-7).
_GAUSSIAN_CUTOFF = 5.0
# Largest grid of the binned estimate, and its spacing in bandwidths: finer for the
# Epanechnikov kernel, whose kink at the edge of its support binning blurs more.
_MAX_GRID_CELLS = 2**22
_SPACING = {GAUSSIAN: 0.1, EPANECHNIKOV: 0.05}


def bandwidth_rule(n_samples, n_dims, rule="scott", kernel="gaussian"):
    """Rule-of-thumb bandwidth for standardised data.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    n_dims : int
        Number of conditioning variables.
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
    if rule == "scott":
        factor = n_samples ** (-1.0 / (n_dims + 4))
    elif rule == "silverman":
        factor = (4.0 / (n_dims + 2)) ** (1.0 / (n_dims + 4)) * n_samples ** (
            -1.0 / (n_dims + 4)
        )
    else:
        raise ValueError(f"rule must be 'scott' or 'silverman', got {rule!r}.")
    return factor * (math.sqrt(5.0) if kernel == "epanechnikov" else 1.0)


def _binned_sums(Z, complete, kernel):
    """Linear binning on a grid, FFT convolution, multilinear interpolation back."""
    n, d = Z.shape
    cutoff = _GAUSSIAN_CUTOFF if kernel == GAUSSIAN else 1.0
    low = Z.min(axis=0) - cutoff
    span = Z.max(axis=0) + cutoff - low
    sizes = np.maximum(np.ceil(span / _SPACING[kernel]).astype(int) + 1, 2)
    while np.prod(sizes.astype(float)) > _MAX_GRID_CELLS:
        sizes = np.maximum((sizes * 0.8).astype(int), 2)
    spacing = span / (sizes - 1)
    position = (Z - low) / spacing
    base = np.minimum(np.floor(position).astype(np.int64), sizes - 2)
    fraction = position - base
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
        half = int(np.ceil(cutoff / spacing[k]))
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


def _compact_sums(Z, complete):
    cells = np.floor(Z[:, 0] - Z[:, 0].min()).astype(np.int64)
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    n_cells = int(sorted_cells[-1]) + 1
    cell_start = np.searchsorted(sorted_cells, np.arange(n_cells + 1))
    return compact_kernel_sums(Z, complete.astype(np.float64), order,
                               cell_start.astype(np.int64), sorted_cells, n_cells)


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
        deviations, the same for every column.
    method : {'auto', 'binned', 'exact'}, default='auto'
        ``'binned'``: linear binning on a grid of spacing 0.1 bandwidth (0.05 for
        the Epanechnikov kernel; coarser if the grid would pass 4 million cells), FFT
        convolution and multilinear interpolation, O(n + grid) (at most 3 columns;
        agrees with the exact sums to about 1e-3). ``'exact'``: the sums
        themselves; O(n^2) for the Gaussian kernel, a cell list over the first
        column for the compact Epanechnikov kernel. ``'auto'`` bins when there are
        at most 3 columns and more than 5,000 rows.
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
    complete = np.asarray(complete)
    if complete.dtype != bool:
        if not np.all(np.isin(complete, (0, 1))):
            raise ValueError("complete must hold booleans (or 0/1).")
        complete = complete.astype(bool)
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.ndim != 2 or Z.shape[0] != complete.shape[0]:
        raise ValueError(
            f"Z must have shape (n_samples, n_dims) with n_samples={complete.size}, "
            f"got {Z.shape}."
        )
    if not np.all(np.isfinite(Z)):
        raise ValueError("Z holds NaN or infinite values; use always-observed columns.")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}.")
    if method not in ("auto", "binned", "exact"):
        raise ValueError(f"method must be 'auto', 'binned' or 'exact', got {method!r}.")
    if not isinstance(min_probability, Real) or not 0 < min_probability < 1:
        raise ValueError(f"min_probability must be in (0, 1), got {min_probability!r}.")
    if not complete.any():
        raise ValueError("No row is complete: the propensity cannot be estimated.")
    n = Z.shape[0]
    scale = Z.std(axis=0)
    Z = (Z[:, scale > 0] - Z.mean(axis=0)[scale > 0]) / scale[scale > 0]
    if Z.shape[1] == 0 or complete.all():
        return np.full(n, float(complete.mean()))
    if isinstance(bandwidth, str):
        h = bandwidth_rule(n, Z.shape[1], bandwidth, kernel)
    elif isinstance(bandwidth, Real) and bandwidth > 0 and math.isfinite(bandwidth):
        h = float(bandwidth)
    else:
        raise ValueError(
            f"bandwidth must be 'scott', 'silverman' or a positive float, got "
            f"{bandwidth!r}."
        )
    Z = np.ascontiguousarray(Z / h)
    code = KERNELS[kernel]
    if method == "auto":
        method = "binned" if Z.shape[1] <= 3 and n > 5000 else "exact"
    if method == "binned":
        if Z.shape[1] > 3:
            raise ValueError(
                f"method='binned' handles at most 3 columns, got {Z.shape[1]}; use "
                "method='exact' or fewer conditioning variables."
            )
        numerator, denominator = _binned_sums(Z, complete, code)
    elif code == EPANECHNIKOV:
        numerator, denominator = _compact_sums(Z, complete)
    else:
        numerator, denominator = exact_kernel_sums(Z, complete.astype(np.float64), code)
    # Binning can leave tiny negative FFT round-off; every row has itself as a
    # neighbour, so the denominator is positive for the exact sums.
    probability = np.clip(numerator / np.maximum(denominator, 1e-300), 0.0, 1.0)
    # Only complete rows are weighted (by 1 / p), so only their floors matter.
    floored = complete & (probability < min_probability)
    if floored.any():
        warnings.warn(
            f"{int(floored.sum())} complete rows had an estimated completeness "
            f"probability below min_probability={min_probability}, which was used "
            "instead (their weights are capped).",
            UserWarning,
            stacklevel=2,
        )
    probability = np.maximum(probability, min_probability)
    return probability
