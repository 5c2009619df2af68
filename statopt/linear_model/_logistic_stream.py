"""Exact finish of AdamLogisticRegression on a Dask array: sums over row chunks.

The proximal Newton finish of ``_logistic_newton.py`` needs the objective, the
gradient and the Hessian of the full data. Each is a sum over rows, so on a Dask
array each is a sum of per-chunk terms: one ``dask.compute`` call (a pass over the
data) per evaluation, the chunk terms added by a tree of small tasks so that only
a few partial sums are held at a time. The problem is the one the in-memory fit
solves: the same weighted centre of the columns, weights rescaled to mean one and
penalty strength ``1 / (C * sum(s))``, so the finish reaches the same optimum.

An objective pass also returns the gradient and, when the Hessian is stored, the
Hessian at the same point: the Newton iteration asks for them next whenever the
line search accepts that point, so a Newton step costs one pass instead of two.
Beyond ``MAX_NEWTON_PARAMS`` parameters the Hessian is a :class:`ChunkedHessian`
whose products (one pass each) feed conjugate gradients.

Dask is imported here only, on first use: ``import statopt`` never imports it.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator
from sklearn.utils.validation import _check_sample_weight, check_array

from .._numba import kernel_input
from ..optim._streaming import _row_blocks
from ._kernels import logistic_loss, logistic_loss_gradient
from ._logistic_newton import (
    MAX_NEWTON_PARAMS,
    HessianOperator,
    _penalise,
    smooth_derivatives,
    sparse_loss_gradient,
)

# Partial sums added per task of the reduction tree: a narrow tree holds few
# partial sums (each may be a Hessian of up to 128 MB) at a time.
_FAN_IN = 4


def _chunk_arrays(X, y, weights, classes, class_weights, scale):
    """A chunk as the kernels take it: float64 X, encoded labels, final weights."""
    X = X.tocsr() if sp.issparse(X) else np.ascontiguousarray(X, dtype=np.float64)
    index = np.searchsorted(classes, np.ravel(y))
    encoded = index if classes.size > 2 else (index == 1)
    weights = _check_sample_weight(weights, X, dtype=np.float64)
    return X, encoded.astype(np.float64), weights * class_weights[index] * scale


def _chunk_moments(X, y, weights, classes, class_weights, max_abs_x):
    """Validated weighted moments of a chunk, relative to its largest weight.

    Returns ``(largest, total, column_sums, class_totals)``: the largest weight
    ``m`` and, of the weights divided by ``m``, their sum, ``X' (s / m)`` and
    their sum per class (relative to the largest weight so that no weight
    overflows a sum).
    """
    X = check_array(X, accept_sparse="csr", dtype=np.float64)
    values = X.data if sp.issparse(X) else X
    largest_x = np.abs(values).max() if values.size else 0.0
    if largest_x > max_abs_x:
        raise ValueError(
            f"X holds entries of magnitude {largest_x:.3g}; beyond {max_abs_x:g} "
            "the squared entries that the fit sums overflow float64. Scale X "
            "(e.g. with StandardScaler)."
        )
    X, encoded, weights = _chunk_arrays(X, y, weights, classes, class_weights, 1.0)
    if np.any(weights < 0):
        raise ValueError("Negative values in data passed to `sample_weight`")
    largest = weights.max() if weights.size else 0.0
    if not largest > 0:
        return 0.0, 0.0, np.zeros(X.shape[1]), np.zeros(classes.size)
    relative = weights / largest
    index = np.searchsorted(classes, np.ravel(y))
    return (largest, relative.sum(), np.asarray(X.T @ relative).ravel(),
            np.bincount(index, weights=relative, minlength=classes.size))


def _combine_moments(*parts):
    largest = max(part[0] for part in parts)
    if not largest > 0:
        return parts[0]
    combined = [largest, 0.0, 0.0, 0.0]
    for part_largest, *sums in parts:
        for k, value in enumerate(sums, start=1):
            combined[k] = combined[k] + value * (part_largest / largest)
    return tuple(combined)


def _chunk_sums(X, y, weights, classes, class_weights, scale, center, thetas,
                n_outputs, hessian):
    """Sums over the rows of a chunk, at each of ``thetas``: the weighted loss,
    its gradient and (if ``hessian``) its Hessian, without penalty."""
    X, y, weights = _chunk_arrays(X, y, weights, classes, class_weights, scale)
    n_rows = X.shape[0]
    free = np.ones(thetas[0].size, dtype=bool)
    kernel = None if sp.issparse(X) else [kernel_input(array)
                                          for array in (X, center, y, weights)]
    terms = []
    for theta in thetas:
        if n_rows == 0:
            size = theta.size
            terms.append([0.0, np.zeros(size)] + [np.zeros((size, size))] * hessian)
            continue
        gradient = np.empty_like(theta)
        # Also computed at points the line search will reject, where the
        # probabilities may overflow: a non-finite value at an accepted point is
        # reported by the Newton iteration instead.
        with np.errstate(over="ignore", invalid="ignore"):
            if sp.issparse(X):
                # With the Hessian, smooth_derivatives below gives the gradient.
                loss = sparse_loss_gradient(X, center, y, weights, theta, n_outputs,
                                            None if hessian else gradient)
            elif hessian:
                loss = logistic_loss(*kernel, kernel_input(theta), n_outputs)
            else:
                loss = logistic_loss_gradient(*kernel, kernel_input(theta),
                                              n_outputs, gradient)
            if hessian:
                gradient, matrix = smooth_derivatives(X, center, y, weights, theta,
                                                      n_outputs, 0.0, free)
            term = [loss * n_rows, gradient * n_rows]
            if hessian:
                term.append(matrix * n_rows)
        terms.append(term)
    return terms


def _chunk_hessian_terms(X, y, weights, classes, class_weights, scale, center,
                         theta, n_outputs, vector):
    """Sum over a chunk's rows of the loss Hessian at ``theta`` times ``vector``,
    or of its diagonal when ``vector`` is None."""
    X, _, weights = _chunk_arrays(X, y, weights, classes, class_weights, scale)
    if X.shape[0] == 0:
        return np.zeros(theta.size)
    operator = HessianOperator(X, center, weights, theta, n_outputs, 0.0,
                               np.ones(theta.size, dtype=bool))
    terms = operator.diagonal() if vector is None else operator.matvec(vector)
    return terms * X.shape[0]


def _add(*parts):
    """Entry-wise sum of nested lists of partial sums."""
    if isinstance(parts[0], (list, tuple)):
        return [_add(*items) for items in zip(*parts)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _tree(tasks, combine):
    """One delayed result combining ``tasks`` by a tree of ``combine`` tasks."""
    import dask

    combine = dask.delayed(combine, pure=True)
    while len(tasks) > 1:
        tasks = [combine(*tasks[start:start + _FAN_IN])
                 for start in range(0, len(tasks), _FAN_IN)]
    return tasks[0]


class StreamProblem:
    """The penalised objective of AdamLogisticRegression over a Dask array's chunks.

    Construction makes one pass (the validated weighted moments: centre, weight
    scale, classes present); every later evaluation makes one pass.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Data, chunked by rows (column chunks are merged); chunks may be CSR.
    y : dask.array.Array or ndarray of shape (n_samples,)
        Labels, all in ``classes``.
    sample_weight : dask.array.Array, ndarray or None
        Non-negative row weights, or None for ones.
    classes : ndarray of shape (n_classes,)
        Sorted labels.
    class_weights : ndarray of shape (n_classes,)
        Weight of each class, multiplied into the sample weights.
    fit_intercept : bool
        Whether the columns are centred and the intercepts fitted.
    C : float
        Inverse penalty strength, as the estimator's.
    penalty_name : {'l2', 'l1'} or None
        The estimator's penalty.
    max_abs_x : float
        Largest |X| accepted.
    """

    def __init__(self, X, y, sample_weight, classes, class_weights, *,
                 fit_intercept, C, penalty_name, max_abs_x):
        import dask

        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        chunks = X.chunks[0]
        self._blocks = list(zip(
            X.blocks, _row_blocks("y", y, chunks),
            _row_blocks("sample_weight", sample_weight, chunks)
            if sample_weight is not None else [None] * len(chunks),
        ))
        self._classes = classes
        self._class_weights = np.asarray(class_weights, dtype=np.float64)
        moments = _tree(
            [dask.delayed(_chunk_moments, pure=True)(X_block, y_block, w_block,
                                                     classes, self._class_weights,
                                                     max_abs_x)
             for X_block, y_block, w_block in self._blocks],
            _combine_moments,
        )
        (largest, total, column_sums, class_totals), = dask.compute(moments)
        if not largest > 0:
            raise ValueError("sample_weight must have a positive sum.")
        weighted = classes[np.asarray(class_totals) > 0]
        if weighted.size < 2:
            raise ValueError(
                f"y contains only one class {weighted.tolist()} (among rows of "
                "positive sample_weight); AdamLogisticRegression needs samples "
                "of at least 2 classes."
            )
        self.n_rows = sum(chunks)
        n_features = X.shape[1]
        self.n_outputs = 1 if classes.size == 2 else classes.size
        # As fit in memory: weights of mean one, penalty over C * sum(s), columns
        # centred on their weighted mean.
        self._scale = self.n_rows / total / largest
        with np.errstate(over="ignore"):
            strength = 1.0 / C / largest / total
        if not np.isfinite(strength):
            raise ValueError(
                f"The penalty strength 1 / (C * sum(sample_weight)) overflows "
                f"(C={C!r}); raise C or the sample weights."
            )
        self.l2 = strength if penalty_name == "l2" else 0.0
        self.l1 = strength if penalty_name == "l1" else 0.0
        self.center = (np.asarray(column_sums) / total if fit_intercept
                       else np.zeros(n_features))
        size = self.n_outputs * (n_features + 1)
        self.stored = size <= MAX_NEWTON_PARAMS
        self._cache = {}

    def _common(self):
        return (self._classes, self._class_weights, self._scale, self.center)

    def evaluate(self, thetas):
        """Mean loss, gradient and (when stored) Hessian at each theta, in one
        pass, without the penalty; the results are kept for the next lookups."""
        import dask

        thetas = [np.array(theta, dtype=np.float64) for theta in thetas]
        sums = _tree(
            [dask.delayed(_chunk_sums, pure=True)(
                X_block, y_block, w_block, *self._common(), thetas, self.n_outputs,
                self.stored)
             for X_block, y_block, w_block in self._blocks],
            _add,
        )
        (sums,) = dask.compute(sums)
        self._cache = {}
        for theta, terms in zip(thetas, sums):
            self._cache[theta.tobytes()] = [term / self.n_rows for term in terms]
        return [self._cache[theta.tobytes()] for theta in thetas]

    def _terms(self, theta):
        cached = self._cache.get(np.asarray(theta, dtype=np.float64).tobytes())
        return cached if cached is not None else self.evaluate([theta])[0]

    def newton_problem(self, penalty, checked, free, l1_strength):
        """``(objective, derivatives, l1_strength, free)`` as ``proximal_newton``
        takes them; ``penalty`` and ``checked`` are the estimator's."""
        n_outputs, l2 = self.n_outputs, self.l2

        def objective(candidate):
            return checked(float(self._terms(candidate)[0]) + penalty(candidate))

        def derivatives(candidate):
            terms = self._terms(candidate)
            gradient = terms[1].reshape(n_outputs, -1).copy()
            packed = candidate.reshape(n_outputs, -1)
            if self.stored:
                return _penalise(gradient, terms[2].copy(), packed, l2, free)
            gradient[:, :-1] += l2 * packed[:, :-1]
            return gradient.ravel() * free, ChunkedHessian(self, candidate, free)

        return objective, derivatives, l1_strength, free

    def hessian_terms(self, theta, vector):
        """Mean over rows of the loss Hessian times ``vector`` (its diagonal if
        None), in one pass."""
        import dask

        total = _tree(
            [dask.delayed(_chunk_hessian_terms, pure=True)(
                X_block, y_block, w_block, *self._common(), theta, self.n_outputs,
                vector)
             for X_block, y_block, w_block in self._blocks],
            _add,
        )
        (total,) = dask.compute(total)
        return total / self.n_rows


class ChunkedHessian(LinearOperator):
    """Hessian of the penalised smooth objective over a Dask array, matrix-free:
    each product (and the Jacobi diagonal) is one pass over the chunks. Rows and
    columns of coordinates that are not ``free`` act as zero."""

    def __init__(self, problem, theta, free):
        super().__init__(dtype=np.float64, shape=(theta.size, theta.size))
        self._problem, self._theta, self._free = problem, theta.copy(), free
        coefficient = np.ones((problem.n_outputs, theta.size // problem.n_outputs))
        coefficient[:, -1] = 0.0
        self._ridge = problem.l2 * coefficient.ravel()

    def _matvec(self, v):
        v = np.ravel(v) * self._free
        product = self._problem.hessian_terms(self._theta, v) + self._ridge * v
        return product * self._free

    def diagonal(self):
        return self._problem.hessian_terms(self._theta, None) + self._ridge
