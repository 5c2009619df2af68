"""Numba kernels of the Nadaraya-Watson propensity (exact sums over pairs) and of
inverse censoring weights on a chunk of rows."""

import numpy as np

from .._numba import njit

GAUSSIAN, EPANECHNIKOV = 0, 1
# exp(-s / 2) is exactly 0.0 in float64 once s exceeds 1490.3: pairs that far
# apart add nothing, so leaving them out changes no bit of the sums.
GAUSSIAN_UNDERFLOW = 1491.0


@njit
def _pair_kernel(Z, p, q, kernel, bandwidth):
    """Product kernel of rows p and q of ``Z`` (standardised, not yet scaled).

    Dividing each difference by the bandwidth here, rather than ``Z`` beforehand,
    keeps every value finite for any positive bandwidth: a difference over a
    subnormal bandwidth is at worst inf, whose kernel is 0.
    """
    d = Z.shape[1]
    if kernel == GAUSSIAN:
        squares = 0.0
        for k in range(d):
            u = (Z[p, k] - Z[q, k]) / bandwidth
            squares += u * u
            if squares > GAUSSIAN_UNDERFLOW:
                return 0.0
        return np.exp(-0.5 * squares)
    value = 1.0
    for k in range(d):
        u = (Z[p, k] - Z[q, k]) / bandwidth
        if abs(u) >= 1.0:
            return 0.0
        value *= 1.0 - u * u
    return value


@njit
def window_kernel_sums(Z, complete, end, kernel, bandwidth):
    """Sums over rows j of K(Z_i - Z_j) times (complete_j, 1), for every row i.

    Rows of ``Z`` are sorted by their first column and ``end[p]`` is one past the
    last row whose first column is within the kernel's reach of row ``p``'s, so
    each pair inside a window is visited once and counted for both rows; pairs
    outside have a kernel of exactly 0. Normalising constants cancel in the ratio
    and are left out.
    """
    n = Z.shape[0]
    numerator = np.zeros(n)
    denominator = np.zeros(n)
    for p in range(n):
        # The row itself: kernel 1.
        denominator[p] += 1.0
        numerator[p] += complete[p]
        for q in range(p + 1, end[p]):
            value = _pair_kernel(Z, p, q, kernel, bandwidth)
            if value != 0.0:
                denominator[p] += value
                numerator[p] += value * complete[q]
                denominator[q] += value
                numerator[q] += value * complete[p]
    return numerator, denominator


@njit
def row_kernel_sums(Z, rows, kernel, bandwidth):
    """``sum_j K(Z_i - Z_j)`` over all rows j (i itself included), for i in rows."""
    sums = np.zeros(rows.shape[0])
    for a in range(rows.shape[0]):
        total = 0.0
        for j in range(Z.shape[0]):
            total += _pair_kernel(Z, rows[a], j, kernel, bandwidth)
        sums[a] = total
    return sums


@njit(nogil=True)
def apply_ipcw(times, survival, time, event, weights):
    """``weights[i] *= event[i] / G(time[i]-)``, G the step curve (times, survival).

    ``G(t-)`` is ``survival`` at the last of the increasing ``times`` below
    ``t`` (1 before the first). The lower bound is a branch-free binary search:
    a chunk's times arrive in no order, and numpy's ``searchsorted`` then
    mispredicts about half its branches (measured 2x slower on 2e5 times
    into 2,000). Events with ``G(t-) = 0`` get infinity, as ``1 / 0`` would.
    """
    m = times.size
    for i in range(time.size):
        if not event[i]:
            weights[i] *= 0.0
            continue
        t = time[i]
        base = 0
        length = m
        while length > 1:
            half = length // 2
            base = base + half if times[base + half - 1] < t else base
            length -= half
        # base + length is now the first index whose time is >= t, or m.
        index = base + (1 if length == 1 and times[base] < t else 0) if m else 0
        before = 1.0 if index == 0 else survival[index - 1]
        weights[i] *= 1.0 / before
