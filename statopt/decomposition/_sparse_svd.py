"""The FIT-SSVD algorithm of Yang, Ma & Buja (2014): the solver behind FITSSVD.

Model: X = U D V' + sigma Z with sparse orthonormal U and V and iid noise Z. The
product of a noise row with a unit vector is (close to) N(0, sigma^2), so one
threshold scale, in units of sigma, serves both sides (X itself is never rescaled;
the thresholds are):

1. screen rows and columns whose squared norms stand out from the noise and take
   the SVD of the selected block (diagonal thresholding, the initial subspaces);
2. alternate U <- QR(threshold(X V)) and V <- QR(threshold(X' U)) until neither
   subspace moves by more than ``tol`` (squared sine of the largest angle);
3. read the singular values off diag(U' X V).
"""

import functools
import math

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.sparse.linalg import svds
from scipy.special import ndtr, ndtri
from scipy.stats import chi2, norm
from sklearn.exceptions import ConvergenceWarning

from .._utils import power_of_two_scale, warn_at_caller
from ._kernels import median_absolute_deviation
from ._operands import as_matrix

# Initial screening: squared row norm / (sigma^2 n_columns) > 1 + ALPHA sqrt(log m / n),
# the chi-square tail bound of the reference implementation (alpha.theory = 1.5).
THEORY_SCREEN_ALPHA = 1.5
# Holm screening: level of the step-down test, and the chi-square(1) quantile at
# which squared entries are capped (Huberised) so one gross outlier cannot select
# a row on its own (the reference's alpha.method = 0.05, huber.beta = 0.95).
HOLM_LEVEL = 0.05
HUBER_QUANTILE = 0.95
# Random placements of a vector's weights used to enlarge the bootstrap noise pool.
MAX_PLACEMENTS = 32
# Largest dense placement matrix (entries) built for one product; above it the
# cells of each placement are gathered instead.
DENSE_PLACEMENT_SIZE = 100_000
# The median singular value is taken on at most this block (a fixed random subset
# of rows and columns, so the estimate is the same for every random_state): the
# noise of a sub-block is the same noise, and the estimate's error is already far
# below the thresholds' own spread at these sizes.
SPECTRUM_BLOCK = (5000, 500)
# Screened blocks with a shorter side above this start from their top singular
# vectors by ARPACK (on the block as stored: sparse stays sparse) instead of a full
# SVD, whose cost grows with the cube of the side: sparse noise with heavy tails
# (most entries 0) passes the chi-square screen in a large share of the rows.
FULL_SVD_SIDE = 500
# Smallest noise level the screening statistics divide by.
SMALLEST_SCREEN_SCALE = 2.0**-250
# Entries behind the median absolute deviation (a fixed-seed sample beyond).
MAD_SAMPLE = 1_000_000


def mad_noise_level(X):
    """Normal-consistent median absolute deviation of the entries of ``X``.

    Above ``MAD_SAMPLE`` entries, of that many drawn with a fixed seed: the
    sample median's relative error is then about 1e-3, far below the spread of
    the thresholds, and the cost no longer grows with X.
    """
    X = as_matrix(X)
    if X.size > MAD_SAMPLE:
        values = X.entries(np.random.default_rng(0).integers(0, X.size, MAD_SAMPLE))
    else:
        values = np.ravel(X.block())
    return float(median_absolute_deviation(values)) / ndtri(0.75)


@functools.lru_cache(maxsize=64)
def marchenko_pastur_median(ratio):
    """Median of the Marchenko-Pastur law of aspect ratio ``ratio`` in (0, 1].

    The law of the eigenvalues of Z Z' / n for an m x n noise matrix Z with
    m / n = ratio; its density is sqrt((b - x)(x - a)) / (2 pi ratio x) on
    [a, b] = [(1 - sqrt(ratio))^2, (1 + sqrt(ratio))^2].
    """
    low, high = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
    if high - low < 1e-8:
        return 1.0

    def density(x):
        return math.sqrt(max((high - x) * (x - low), 0.0)) / (2 * math.pi * ratio * x)

    return brentq(lambda t: quad(density, low, t)[0] - 0.5, low, high, xtol=1e-12)


def singular_value_noise_level(X):
    """Noise level from the median singular value (Gavish & Donoho 2014).

    For an m x n matrix of iid noise of level sigma (m <= n), the median singular
    value is sigma sqrt(n mu) with mu the median of the Marchenko-Pastur law of
    ratio m / n. A signal of rank r moves the median by at most r places of the
    spectrum (Weyl), so the estimate stays right however many entries the signal
    touches, as long as r is well below m / 2.
    """
    X = as_matrix(X)
    rows, columns = (SPECTRUM_BLOCK if X.shape[0] >= X.shape[1]
                     else SPECTRUM_BLOCK[::-1])
    if X.shape[0] > rows or X.shape[1] > columns:
        subset = np.random.default_rng(0)
        X = X.block(np.sort(subset.permutation(X.shape[0])[:rows]),
                    np.sort(subset.permutation(X.shape[1])[:columns]))
    else:
        X = X.block()
    short, long = sorted(X.shape)
    gram = X.T @ X if X.shape[0] >= X.shape[1] else X @ X.T
    singular_values = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))
    return float(np.median(singular_values)
                 / math.sqrt(long * marchenko_pastur_median(short / long)))


def estimate_noise_level(X, method=None):
    """Noise level of ``X`` by ``method``: 'mad', 'median_singular_value' or None.

    None takes the smaller of the two positive estimates. Signal only inflates
    either one: the MAD when it touches more than a small share of the entries (a
    matrix pre-selected for signal, as the 200 most variable genes of lung200),
    the median singular value when its rank approaches half the short side. The
    smaller is the less contaminated; when both are 0 the data look noise-free
    and a ValueError asks for ``noise_level``.
    """
    estimates = []
    if method in (None, "mad"):
        estimates.append(mad_noise_level(X))
    if method in (None, "median_singular_value"):
        estimates.append(singular_value_noise_level(X))
    positive = [value for value in estimates if value > 0]
    if not positive:
        raise ValueError(
            "The estimated noise level of X is 0 (more than half of the entries, or "
            "of the singular values, are equal: e.g. a constant or exactly low-rank "
            "matrix). Pass noise_level explicitly; noise_level=0 computes the plain "
            "truncated SVD of noise-free data.")
    return min(positive)


def theory_threshold(length):
    """sqrt(2 log m): the size of the largest of m standard normal entries."""
    return math.sqrt(2.0 * math.log(max(length, 2)))


def _huber_moments(cap):
    """Mean and variance of min(Z^2, cap) for a standard normal Z."""
    a = math.sqrt(cap)
    inside = 1.0 - 2.0 * ndtr(-a)  # P(|Z| <= a)
    density = norm.pdf(a)
    second = inside - 2.0 * a * density  # E[Z^2; |Z| <= a]
    fourth = 3.0 * inside - 2.0 * (a**3 + 3.0 * a) * density  # E[Z^4; |Z| <= a]
    mean = second + cap * (1.0 - inside)
    return mean, fourth + cap**2 * (1.0 - inside) - mean**2


def _holm_select(statistics, length, mean, variance):
    """Indices rejected by Holm's step-down test of the standardised sums."""
    z_scores = (statistics - length * mean) / math.sqrt(length * variance)
    p_values = ndtr(-z_scores)
    order = np.argsort(p_values)
    levels = HOLM_LEVEL / (len(p_values) - np.arange(len(p_values)))
    failed = np.flatnonzero(p_values[order] > levels)
    n_rejected = failed[0] if failed.size else len(order)
    return np.sort(order[:n_rejected])


def _select(statistics, selected, n_components):
    """Selected indices, topped up with the largest statistics to n_components.

    Without the top-up a screen that keeps fewer rows (columns) than components
    loses a component for good: the iteration cannot leave the initial subspace's
    rank.
    """
    if selected.size >= n_components:
        return selected
    ranked = np.argsort(-statistics, kind="stable")
    extra = ranked[~np.isin(ranked, selected)][: n_components - selected.size]
    return np.sort(np.concatenate([selected, extra]))


def _screen(X, init, noise_level, log_size, rows=None, columns=None):
    """Rows and columns of X's block (``rows`` by ``columns``, None: all) whose
    squared norms stand out from the noise.

    Returns
    -------
    row_statistics, column_statistics : ndarray
        Sums of the (Huber-capped, for ``init='holm'``) squared scaled entries.
    rows, columns : ndarray of int
        The selected indices (of X's rows, of X's columns; each side is
        screened within the other side's block).
    """
    n_rows = X.shape[0] if rows is None else len(rows)
    n_columns = X.shape[1] if columns is None else len(columns)
    cap = chi2.ppf(HUBER_QUANTILE, 1) if init == "holm" else np.inf
    # X is at most 2**200 (prepare_matrix); a smaller noise level would square
    # past float64 and select the same rows (all that are not 0).
    scale = max(noise_level, SMALLEST_SCREEN_SCALE) if noise_level else 1.0
    sums = X.square_sums(scale, cap, rows, columns)
    if noise_level == 0:  # noise-free: every nonzero row or column is signal
        return (*sums, np.flatnonzero(sums[0]), np.flatnonzero(sums[1]))
    if init == "holm":
        # Null moments from the noise model, not from the other rows: when most
        # columns carry signal, moments estimated from the data would call the
        # signal "typical" and select too few of them.
        mean, variance = _huber_moments(cap)
        selected = [_holm_select(statistics, length, mean, variance)
                    for statistics, length in zip(sums, (n_columns, n_rows))]
    else:
        selected = [np.flatnonzero(statistics / length > 1 + THEORY_SCREEN_ALPHA
                                   * math.sqrt(log_size / length))
                    for statistics, length in zip(sums, (n_columns, n_rows))]
    return (*sums, *selected)


def screened_block(X, n_components, init, noise_level, sparse="both"):
    """Rows and columns whose squared norms stand out from the noise.

    Rows are screened over all columns and columns over all rows, as in the
    reference; then each side is screened again within the other side's selection.
    The second pass matters for the long side: a column of 12,625 entries carries
    the signal of a few dozen rows diluted in 12,625 noise terms, which the first
    screen misses, while the same column restricted to the selected rows does not.
    A side that is not sparse (``sparse``) keeps all its indices. Both selections
    are topped up to ``n_components`` indices.
    """
    X = as_matrix(X)
    log_size = math.log(max(X.shape))
    row_statistics, column_statistics, rows, columns = _screen(
        X, init, noise_level, log_size)
    if sparse == "left":
        columns = np.arange(X.shape[1])
    if sparse == "right":
        rows = np.arange(X.shape[0])
    if rows.size and sparse != "left":
        columns = np.union1d(columns, _screen(X, init, noise_level, log_size,
                                              rows=rows)[3])
    if columns.size and sparse != "right":
        rows = np.union1d(rows, _screen(X, init, noise_level, log_size,
                                        columns=columns)[2])
    return (_select(row_statistics, rows, n_components),
            _select(column_statistics, columns, n_components))


def top_singular_vectors(X, rows, columns, n_components):
    """Leading ``n_components`` left and right (as rows) singular vectors of X's
    block ``rows`` x ``columns``: a full SVD for small blocks, ARPACK (seeded, to
    machine precision) for large ones (see ``FULL_SVD_SIDE``)."""
    X = as_matrix(X)
    short = min(len(rows), len(columns))
    if short <= FULL_SVD_SIDE or 2 * n_components >= short:
        left, _, right_t = np.linalg.svd(X.block(rows, columns), full_matrices=False)
        return left[:, :n_components], right_t[:n_components]
    left, values, right_t = svds(X.block(rows, columns, dense=False), k=n_components,
                                 random_state=0)
    order = np.argsort(-values, kind="stable")
    return left[:, order], right_t[order]


def initial_subspaces(X, n_components, init, noise_level, sparse="both", block=None):
    """Diagonal-thresholding start: SVD of the screened block, padded with zeros.

    ``block`` is ``(rows, columns, left, right_t)`` from an earlier screen and SVD
    of the same X (rank selection computes it), else it is computed here.
    """
    X = as_matrix(X)
    if block is None:
        rows, columns = screened_block(X, n_components, init, noise_level, sparse)
        left, right_t = top_singular_vectors(X, rows, columns, n_components)
    else:
        rows, columns, left, right_t = block
    U = np.zeros((X.shape[0], n_components))
    V = np.zeros((X.shape[1], n_components))
    U[rows] = left[:, :n_components]
    V[columns] = right_t[:n_components].T
    return U, V


def _bootstrap_max_median(pool, n_draws, uniforms):
    """Median over resamples of the largest of ``n_draws`` draws from ``pool``.

    The largest of n draws with replacement from m sorted values is the k-th with
    k = ceil(m u^(1/n)), u uniform (inversion of P(max <= s_(k)) = (k/m)^n), so each
    resample costs O(1) after one partial sort of the top of the pool.
    """
    ranks = np.ceil(pool.size * uniforms ** (1.0 / n_draws)).astype(np.intp)
    ranks = np.clip(ranks, 1, pool.size) - 1
    lowest = ranks.min()
    top = np.partition(pool, lowest)[lowest:]
    top.sort()
    return float(np.median(top[ranks - lowest]))


def bootstrap_thresholds(X, products, basis, noise_rows, uniforms, permutation,
                         noise_level=1.0):
    """Threshold of each column of ``products = X @ basis`` from pure-noise replicates.

    Rows of X outside the current support (``noise_rows``) should hold only noise.
    The reference takes their entries of ``products`` as the noise replicates of
    z'b (b a column of ``basis``); that pool is small when most rows carry signal
    (the reference then falls back to the theory threshold), and a signal row the
    current support missed puts a signal-sized value into it, which raises the
    threshold and keeps the row out for good. Here the nonzero weights of b are
    placed on random subsets of the columns instead (consecutive blocks of one
    random ``permutation`` of the columns, so the placements use disjoint cells
    while there are enough columns), and each noise row gives one replicate per
    placement: a missed signal row then contributes a random-sign mix of its
    entries, not its signal. Placements are added until the pool holds as
    many values as ``products`` has rows (at most ``MAX_PLACEMENTS``).
    The threshold is the bootstrap median of the largest of ``len(products)``
    absolute replicates. Only without noise rows, or with a pool under half the
    rows, is the theory threshold used, counted as a fallback.

    The random draws (``uniforms`` of the resamples, the column ``permutation`` of
    the placements) are fixed for the whole fit, so the thresholds are a deterministic
    function of the iterate and the iteration can settle on a fixed point.

    Thresholds are in the units of X; ``noise_level`` scales the theory fallback.

    Returns
    -------
    thresholds : ndarray of shape (n_components,)
    n_fallbacks : int
    """
    X = as_matrix(X)
    n_targets, n_components = products.shape
    noise_rows = np.flatnonzero(noise_rows)
    thresholds = np.full(n_components, noise_level * theory_threshold(n_targets))
    if noise_rows.size == 0:
        return thresholds, n_components
    n_placements = min(MAX_PLACEMENTS, -(-n_targets // noise_rows.size))
    blocks = []  # (column, weights) of each placement, column-major in j then b
    for j in range(n_components):
        weights = basis[basis[:, j] != 0, j]
        for b in range(n_placements):
            block = np.arange(b * weights.size, (b + 1) * weights.size) % X.shape[1]
            blocks.append((permutation[block], weights))
    if X.shape[1] * len(blocks) <= DENSE_PLACEMENT_SIZE:
        # Few columns: one product with the dense placement matrix.
        placements = np.zeros((X.shape[1], len(blocks)))
        for k, (rows, weights) in enumerate(blocks):
            placements[rows, k] = weights
        if 2 * noise_rows.size > X.shape[0]:  # skip copying most of X
            replicates = X.dot(placements)[noise_rows]
        else:
            replicates = X.dot(placements, rows=noise_rows)
    else:
        # Many columns (and then few noise rows): gather the placements' cells.
        cells = np.unique(np.concatenate([rows for rows, _ in blocks]))
        noise = X.block(noise_rows, cells, dense=False)  # sparse stays sparse
        replicates = np.column_stack([
            np.asarray(noise[:, np.searchsorted(cells, rows)] @ weights)
            for rows, weights in blocks])
    n_fallbacks = 0
    for j in range(n_components):
        pool = replicates[:, j * n_placements:(j + 1) * n_placements].ravel()
        if 2 * pool.size < n_targets:
            n_fallbacks += 1
            continue
        thresholds[j] = _bootstrap_max_median(np.abs(pool), n_targets, uniforms)
    return thresholds, n_fallbacks


def threshold_columns(products, thresholds, thresholding):
    """Hard or soft thresholding of each column at its own level.

    A column with no entry above its threshold keeps its largest entry, so the
    basis keeps its rank; such columns are reported by index. ``thresholds=None``
    (a side that is not sparse) returns ``products`` unchanged.
    """
    if thresholds is None:
        return products, np.zeros(0, dtype=np.intp)
    magnitude = np.abs(products)
    keep = magnitude > thresholds
    empty = np.flatnonzero(~keep.any(axis=0))
    keep[magnitude[:, empty].argmax(axis=0), empty] = True
    if thresholding == "hard":
        return np.where(keep, products, 0.0), empty
    shrunk = np.maximum(magnitude - thresholds, 0.0)
    # The kept largest entry of an empty column would shrink to 0: keep it whole.
    shrunk[:, empty] = np.where(keep[:, empty], magnitude[:, empty], 0.0)
    return np.sign(products) * shrunk, empty


def orthonormal_basis(matrix):
    """Q factor of the thin QR decomposition (the columns span ``matrix``)."""
    return np.linalg.qr(matrix)[0]


def subspace_sine_squared(A, B):
    """Squared sine of the largest principal angle between orthonormal bases."""
    cosines = np.linalg.svd(A.T @ B, compute_uv=False)
    return float(max(1.0 - cosines.min() ** 2, 0.0)) if cosines.size else 0.0


def prepare_matrix(X):
    """``X`` ready for the solver and its kernels (an operand of
    :mod:`._operands`), and the factor it was divided by.

    Entries far from 1 are scaled by a power of two (exact): at float64's maximum
    the products X'X overflow and LAPACK's SVD does not converge, and subnormal
    entries lose the precision the thresholds need. A read-only array is copied,
    because numba compiles a separate kernel for read-only arrays.
    """
    X = as_matrix(X)
    largest = X.largest()
    if largest > 2.0**200 or 0 < largest < 2.0**-200:
        scale = power_of_two_scale(largest)
        return X.divided(scale), scale
    return X.writeable(), 1.0


def fit_sparse_svd(X, n_components, *, threshold, thresholding, init, noise_level,
                   n_bootstrap, max_iter, tol, rng, sparse="both", block=None):
    """Run FIT-SSVD on validated float64 ``X`` (scaled by :func:`prepare_matrix`).

    ``noise_level`` is a float in the units of X, or None or a method name for
    :func:`estimate_noise_level`. ``sparse`` names the sides that are thresholded.

    Returns
    -------
    result : dict
        ``U``, ``singular_values``, ``V`` (columns are the singular vectors, sorted by
        decreasing singular value, sign fixed so the largest entry of each left
        vector is positive), ``noise_level``, ``n_iter``, ``n_fallbacks`` and
        ``unthresholded`` (indices of components with no entry above the threshold
        in the last step, which kept only their largest entry).
    """
    X = as_matrix(X)
    if noise_level is None or isinstance(noise_level, str):
        noise_level = estimate_noise_level(X, noise_level)
    n_rows, n_columns = X.shape
    U, V = initial_subspaces(X, n_components, init, noise_level, sparse, block)
    if threshold == "bootstrap":
        uniforms = rng.uniform(size=n_bootstrap)
        permutations = {size: rng.permutation(size) for size in (n_columns, n_rows)}

    def levels(products, basis, previous, other, side):
        """Thresholds in the units of X (noise units times the noise level)."""
        if sparse not in (side, "both"):
            return None, 0  # the dense side is not thresholded
        if noise_level == 0:
            return np.zeros(n_components), 0
        if threshold == "theory":
            level = theory_threshold(products.shape[0])
        elif threshold == "bootstrap":
            # The pool is drawn from X itself, so it is in the units of X already.
            noise_rows = ~np.any(previous != 0, axis=1)
            return bootstrap_thresholds(other, products, basis, noise_rows, uniforms,
                                        permutations[other.shape[1]], noise_level)
        else:
            level = float(threshold)
        return np.full(n_components, noise_level * level), 0

    n_fallbacks = 0
    converged = False
    frozen = None  # (left, right) thresholds once a support cycle is detected
    seen_supports = set()
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (returned below)
        products = X @ V
        if frozen is None:
            left_levels, fallbacks = levels(products, V, U, X, "left")
            n_fallbacks += fallbacks
        thresholded, dense_left = threshold_columns(
            products, frozen[0] if frozen else left_levels, thresholding)
        U_new = orthonormal_basis(thresholded)
        products = X.T @ U_new
        if frozen is None:
            right_levels, fallbacks = levels(products, U_new, V, X.T,
                                             "right")
            n_fallbacks += fallbacks
        thresholded, dense_right = threshold_columns(
            products, frozen[1] if frozen else right_levels, thresholding)
        V_new = orthonormal_basis(thresholded)
        change = max(subspace_sine_squared(U, U_new), subspace_sine_squared(V, V_new))
        U, V = U_new, V_new
        if change <= tol:
            converged = True
            break
        if threshold == "bootstrap" and frozen is None:
            # Thresholds that depend on the support can make the supports cycle; on
            # the first repeat the thresholds are frozen and the iteration becomes
            # the fixed-threshold one, which settles.
            supports = (U != 0).tobytes() + (V != 0).tobytes()
            if supports in seen_supports:
                frozen = (left_levels, right_levels)
            seen_supports.add(supports)
    if not converged:
        warn_at_caller(
            f"FIT-SSVD did not converge in {max_iter} iterations (last subspace change "
            f"{change:.2e} > tol={tol:g}); increase max_iter or tol.",
            ConvergenceWarning)
    singular_values = np.einsum("ij,ij->j", U, X @ V)
    # Positive singular values, then the largest entry of each left vector positive.
    V *= np.where(singular_values < 0, -1.0, 1.0)
    singular_values = np.abs(singular_values)
    largest = np.abs(U).argmax(axis=0)
    signs = np.where(U[largest, np.arange(n_components)] < 0, -1.0, 1.0)
    U *= signs
    V *= signs
    order = np.argsort(-singular_values, kind="stable")
    return {
        "U": U[:, order], "singular_values": singular_values[order],
        "V": V[:, order], "noise_level": float(noise_level), "n_iter": n_iter,
        "n_fallbacks": n_fallbacks,
        "unthresholded": np.sort(np.argsort(order)[np.union1d(dense_left,
                                                             dense_right)]),
    }
