"""Numba kernels of the Nadaraya-Watson propensity: exact sums over pairs."""

import numpy as np

from .._numba import njit

GAUSSIAN, EPANECHNIKOV = 0, 1


@njit
def _kernel_1d(u, kernel):
    if kernel == GAUSSIAN:
        return np.exp(-0.5 * u * u)
    if abs(u) < 1.0:
        return 1.0 - u * u
    return 0.0


@njit
def exact_kernel_sums(Z, complete, kernel):
    """Sums over all rows j of K(Z_i - Z_j) times (complete_j, 1), for every row i.

    ``Z`` is already divided by the bandwidths, so the product kernel has unit
    bandwidth in every column. Normalising constants cancel in the ratio and are
    left out.
    """
    n, d = Z.shape
    numerator = np.zeros(n)
    denominator = np.zeros(n)
    for i in range(n):
        for j in range(i, n):
            value = 1.0
            for k in range(d):
                value *= _kernel_1d(Z[i, k] - Z[j, k], kernel)
                if value == 0.0:
                    break
            if value == 0.0:
                continue
            denominator[i] += value
            numerator[i] += value * complete[j]
            if j != i:
                denominator[j] += value
                numerator[j] += value * complete[i]
    return numerator, denominator


@njit
def compact_kernel_sums(Z, complete, order, cell_start, cell_of_sorted, cells_per_axis):
    """Epanechnikov sums with a cell list on the first column (exact, compact).

    Rows are sorted by their unit-width cell on the first column; a row only meets
    rows of its own and the two neighbouring cells, where the kernel can be
    non-zero.
    """
    n, d = Z.shape
    numerator = np.zeros(n)
    denominator = np.zeros(n)
    n_cells = cell_start.shape[0] - 1
    for position in range(n):
        i = order[position]
        cell = cell_of_sorted[position]
        first = max(cell - 1, 0)
        last = min(cell + 1, n_cells - 1)
        for other in range(cell_start[first], cell_start[last + 1]):
            j = order[other]
            value = 1.0
            for k in range(d):
                value *= _kernel_1d(Z[i, k] - Z[j, k], 1)
                if value == 0.0:
                    break
            if value != 0.0:
                denominator[i] += value
                numerator[i] += value * complete[j]
    return numerator, denominator
