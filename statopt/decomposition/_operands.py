"""The matrix FIT-SSVD decomposes, behind the few operations the solver needs.

The solver touches X only through products with thin matrices (X V, X' U), the row
and column sums of its capped squared entries (screening), dense blocks of selected
rows and columns (the start, the bootstrap's noise pool, the spectrum's sample), its
extreme entries and a sample of its entries (the noise level). Each operation is
written here once per kind of input:

- :class:`DenseMatrix`: a float64 ndarray, as the solver always took;
- :class:`SparseMatrix`: a scipy.sparse CSR/CSC matrix or array, never densified
  whole (scipy's sparse-times-dense products, sums over the stored entries);
- :class:`DaskMatrix`: a dask array chunked by rows, every pass over X a chunked
  reduction; only thin (n x k) or small results reach the client.

``X.T`` of each is a :class:`Transposed` view that swaps rows and columns, so the
solver's ``X.T @ U`` and its bootstrap over the columns read as on an array.
"""

import sys

import numpy as np
import scipy.sparse as sp

from ._kernels import capped_square_sums, csr_capped_square_sums, csr_entries


def is_dask_array(X):
    """Whether X is a dask array, without importing dask (if dask was never
    imported, X cannot be one)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(X, dask_array.Array)


def as_matrix(X):
    """The operand wrapping ``X`` (validated float64), or ``X`` if it is one."""
    if isinstance(X, (DenseMatrix, SparseMatrix, DaskMatrix, Transposed)):
        return X
    if sp.issparse(X):
        return SparseMatrix(X)
    if is_dask_array(X):
        return DaskMatrix(X)
    return DenseMatrix(X)


class _Operand:
    """What every kind of X shares: its shape and its transpose."""

    @property
    def shape(self):
        return self.X.shape

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    @property
    def T(self):
        return Transposed(self)

    def __matmul__(self, B):
        return self.dot(B)

    def largest(self):
        """Largest absolute entry (0.0 for an empty or all-zero X)."""
        high, low = self.extremes()
        return max(high, -low)


class DenseMatrix(_Operand):
    """A float64 ndarray: every operation is numpy's (or the screening kernel's)."""

    def __init__(self, X):
        self.X = X

    def dot(self, B, rows=None):
        """``X[rows] @ B`` (all rows for None)."""
        return (self.X if rows is None else self.X[rows]) @ B

    def tdot(self, B, columns=None):
        """``X[:, columns].T @ B`` (all columns for None)."""
        return (self.X if columns is None else self.X[:, columns]).T @ B

    def block(self, rows=None, columns=None, dense=True):
        """``X[np.ix_(rows, columns)]`` (None: all), as an ndarray; ``dense=False``
        leaves a sparse X's block sparse."""
        if rows is not None and columns is not None:
            return self.X[np.ix_(rows, columns)]
        if rows is not None:
            return self.X[rows]
        return self.X if columns is None else self.X[:, columns]

    def square_sums(self, scale, cap, rows=None, columns=None):
        """Row and column sums of ``min((X / scale)**2, cap)`` over the block."""
        return capped_square_sums(np.ascontiguousarray(self.block(rows, columns)),
                                  scale, cap)

    def extremes(self):
        if not self.X.size:
            return 0.0, 0.0
        return float(self.X.max()), float(self.X.min())

    def entries(self, flat):
        """Entries at the row-major positions ``flat``."""
        return np.ravel(self.X)[flat]

    def divided(self, scale):
        return DenseMatrix(self.X / scale)

    def writeable(self):
        """A copy if X is read-only: numba compiles apart for read-only arrays."""
        return self if self.X.flags.writeable else DenseMatrix(self.X.copy())


class SparseMatrix(_Operand):
    """A scipy.sparse CSR or CSC matrix (or array) of float64.

    Duplicate entries are summed first (on a copy), so the squares of the stored
    entries are the squares of X's entries. The kernels read the CSR (or CSC)
    arrays as writeable float64 data and int64 indices, converted once here: numba
    compiles anew for every other dtype or flag (scipy picks int32 or int64 indices
    by size), while the conversion costs one copy of the indices.
    """

    def __init__(self, X):
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        self.X = X
        data = X.data if X.data.flags.writeable else X.data.copy()
        self.arrays = (np.ascontiguousarray(data, dtype=np.float64),
                       np.ascontiguousarray(X.indices, dtype=np.int64),
                       np.ascontiguousarray(X.indptr, dtype=np.int64))

    def dot(self, B, rows=None):
        return np.asarray((self.X if rows is None else self.X[rows]) @ B)

    def tdot(self, B, columns=None):
        return np.asarray((self.X if columns is None else self.X[:, columns]).T @ B)

    def _sub(self, rows, columns):
        X = self.X if rows is None else self.X[rows]
        return X if columns is None else X[:, columns]

    def block(self, rows=None, columns=None, dense=True):
        block = self._sub(rows, columns)
        return block.toarray() if dense else block

    def square_sums(self, scale, cap, rows=None, columns=None):
        X, sums = self.X, (0, 1)
        if X.format == "csc":  # the CSR arrays of X', rows and columns swapped
            rows, columns, sums = columns, rows, (1, 0)
        n_rows, n_columns = X.shape[sums[0]], X.shape[sums[1]]
        rows = np.arange(n_rows) if rows is None else np.asarray(rows, np.int64)
        positions = np.arange(n_columns)
        if columns is not None:
            positions = np.full(n_columns, -1)
            positions[columns] = np.arange(len(columns))
        result = csr_capped_square_sums(*self.arrays, n_columns, scale, cap, rows,
                                        positions)
        return result[sums[0]], result[sums[1]]

    def extremes(self):
        data = self.X.data
        high = float(data.max()) if data.size else 0.0
        low = float(data.min()) if data.size else 0.0
        if self.X.nnz < self.size:  # an entry not stored is a zero
            high, low = max(high, 0.0), min(low, 0.0)
        return high, low

    def entries(self, flat):
        rows, columns = np.divmod(flat, self.shape[1])
        if self.X.format == "csc":
            rows, columns = columns, rows
        return csr_entries(*self.arrays, rows, columns)

    def divided(self, scale):
        return SparseMatrix(self.X / scale)

    def writeable(self):
        return self


class DaskMatrix(_Operand):
    """A float64 dask array chunked by rows only (one chunk across the columns).

    Every pass over X is one dask computation on the scheduler in use (threads,
    processes or a distributed cluster); the results are thin or small. The
    extremes are those found when the array was validated
    (:func:`check_dask_matrix`), which is also one pass.
    """

    def __init__(self, X, extremes=None):
        self.X = X
        self._extremes = extremes

    def dot(self, B, rows=None):
        product = (self.X @ B).compute()
        return product if rows is None else product[rows]

    def tdot(self, B, columns=None):
        import dask.array as da

        X = self.X if columns is None else self.X[:, columns]
        # B is aligned with X's row chunks, so each chunk's X_c' B_c is formed
        # where the chunk is and only the (n_columns x k) partial sums travel.
        B = da.from_array(np.asarray(B), chunks=(X.chunks[0], B.shape[1]))
        return np.asarray((X.T @ B).compute())

    def block(self, rows=None, columns=None, dense=True):
        X = self.X if rows is None else self.X[np.asarray(rows)]
        X = X if columns is None else X[:, np.asarray(columns)]
        return np.asarray(X.compute())

    def square_sums(self, scale, cap, rows=None, columns=None):
        import dask
        import dask.array as da

        X = self.X if rows is None else self.X[np.asarray(rows)]
        X = X if columns is None else X[:, np.asarray(columns)]
        values = X / scale  # divide before squaring, as the kernel does
        squares = da.minimum(values * values, cap)
        row_sums, column_sums = dask.compute(squares.sum(axis=1), squares.sum(axis=0))
        return np.asarray(row_sums), np.asarray(column_sums)

    def extremes(self):
        if self._extremes is None:
            import dask

            self._extremes = tuple(map(float, dask.compute(self.X.max(),
                                                           self.X.min())))
        return self._extremes

    def entries(self, flat):
        import dask

        rows, columns = np.divmod(np.asarray(flat), self.shape[1])
        # Each row chunk gives its own entries, in one pass (dask's vindex
        # builds a task per point and was slower than the pass itself).
        starts = np.cumsum((0, *self.X.chunks[0]))
        chunk = np.searchsorted(starts, rows, side="right") - 1
        order = np.argsort(chunk, kind="stable")
        bounds = np.searchsorted(chunk[order], np.arange(len(starts)))
        parts = [dask.delayed(_take)(self.X.blocks[b], rows[mine] - starts[b],
                                     columns[mine])
                 for b in range(len(starts) - 1)
                 for mine in [order[bounds[b]:bounds[b + 1]]] if mine.size]
        values = np.empty(rows.size)
        values[order] = np.concatenate(dask.compute(*parts))
        return values

    def divided(self, scale):
        high, low = self.extremes()
        return DaskMatrix(self.X / scale, (high / scale, low / scale))

    def writeable(self):
        return self


def _take(block, rows, columns):
    return block[rows, columns]


class Transposed(_Operand):
    """``X.T`` of an operand: rows and columns swapped."""

    def __init__(self, parent):
        self.parent = parent

    @property
    def shape(self):
        return self.parent.shape[::-1]

    @property
    def T(self):
        return self.parent

    def dot(self, B, rows=None):
        return self.parent.tdot(B, rows)

    def tdot(self, B, columns=None):
        return self.parent.dot(B, columns)

    def block(self, rows=None, columns=None, dense=True):
        return self.parent.block(columns, rows, dense).T

    def square_sums(self, scale, cap, rows=None, columns=None):
        return self.parent.square_sums(scale, cap, columns, rows)[::-1]

    def extremes(self):
        return self.parent.extremes()


def check_dask_matrix(X, min_rows=2):
    """Validate a dask array for FITSSVD: 2d, numeric, chunked by rows, finite.

    Returns a :class:`DaskMatrix` of float64 (lazy: X is read once here, for the
    finiteness check and the extreme entries, in one pass).
    """
    import dask

    if X.ndim != 2:
        raise ValueError(f"Expected a 2d dask array, got {X.ndim} dimension(s); "
                         "reshape X to (n_samples, n_features).")
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"dask array X has dtype {X.dtype}; FITSSVD needs real numbers "
            "(convert with X.astype('float64')).")
    if any(np.isnan(size) for sizes in X.chunks for size in sizes):
        raise ValueError(
            "dask array X has unknown chunk sizes; call X.compute_chunk_sizes() "
            "first.")
    if X.numblocks[1] != 1:
        raise ValueError(
            f"dask array X is chunked along the columns ({X.numblocks[1]} column "
            "chunks); FITSSVD reduces over row chunks that hold whole rows: "
            "rechunk with X.rechunk({1: -1}).")
    if X.shape[0] < min_rows or X.shape[1] < 1:
        raise ValueError(
            f"Found array with shape {X.shape}; at least {min_rows} row(s) and 1 "
            "column are needed.")
    import dask.array as da

    X = X.astype(np.float64)
    with np.errstate(invalid="ignore"):
        finite, high, low = dask.compute(da.isfinite(X).all(), X.max(), X.min())
    if not finite:
        raise ValueError("Input X contains NaN or infinity; drop or impute those "
                         "entries before fitting.")
    return DaskMatrix(X, (float(high), float(low)))
