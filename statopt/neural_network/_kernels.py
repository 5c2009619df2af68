"""Numba kernels of the neural-network family."""

from .._numba import njit


@njit
def scatter_window_gradient(grad_table, ids, best, g_windows):
    """Add each chosen window's gradient to the embedding rows of its tokens.

    ``grad_table[ids[i, best[i, f] + j]] += g_windows[i, f, j]`` for every row ``i``,
    filter ``f`` and offset ``j`` in the window (the arg-max window of filter ``f``
    on row ``i``): what ``np.add.at`` does with repeated ids, in one pass.

    Parameters
    ----------
    grad_table : ndarray of shape (vocabulary_size, embedding_dim)
        Accumulated in place.
    ids : ndarray of shape (n_rows, length), int
    best : ndarray of shape (n_rows, n_filters), int
        Start of each filter's arg-max window.
    g_windows : ndarray of shape (n_rows, n_filters, window, embedding_dim)
    """
    n_rows, n_filters, window, dim = g_windows.shape
    for i in range(n_rows):
        for f in range(n_filters):
            start = best[i, f]
            for j in range(window):
                token = ids[i, start + j]
                for d in range(dim):
                    grad_table[token, d] += g_windows[i, f, j, d]
