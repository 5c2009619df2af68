"""Streaming a Dask array's row chunks through ``partial_fit``.

dask-ml's ``Incremental`` hands every keyword argument of ``fit`` whole to each
block's ``partial_fit`` (dask-ml issue 262), so a per-row argument such as
``sample_weight`` reaches a block of 10,000 rows with 10**8 entries and fails. This
driver splits ``y`` and every row-aligned argument with the row chunks of ``X`` and
computes each block together with its metadata, in one graph call, so that a lazily
generated data set is generated once per block and per epoch and never held whole.

Dask is imported here only, on first use: ``import statopt`` never imports it.
"""

import numpy as np
from sklearn.utils import check_random_state

from .._utils import is_dask_collection


def _row_blocks(name, values, chunks):
    """``values`` (Dask or NumPy, one entry per row) split as ``chunks``."""
    import dask.array as da

    if values is None:
        return None
    if is_dask_collection(values) and not isinstance(values, da.Array):
        raise TypeError(f"{name} must be a Dask or NumPy array, got "
                        f"{type(values).__name__}; convert it with to_dask_array().")
    if not is_dask_collection(values):
        values = np.asarray(values)
    if values.ndim == 0 or np.isnan(values.shape[0]):
        raise ValueError(f"{name} must have one entry per row of X (known length); "
                         "call compute_chunk_sizes() on it first.")
    n_rows = sum(chunks)
    if values.shape[0] != n_rows:
        raise ValueError(f"{name} has {values.shape[0]} rows but X has {n_rows}.")
    if isinstance(values, da.Array):
        return values.rechunk({0: chunks}).blocks
    stops = np.cumsum(chunks)
    return [values[stop - size:stop] for size, stop in zip(chunks, stops)]


def stream_partial_fit(estimator, X, y=None, *, epochs=1, shuffle=True,
                       random_state=None, row_params=None, **params):
    """Fit ``estimator`` by ``partial_fit`` over the row chunks of a Dask array.

    Each call of ``partial_fit`` receives one row chunk of ``X``, the matching rows
    of ``y`` and of every array in ``row_params``, and ``params`` unchanged. The
    chunk and its metadata are computed together (one ``dask.compute`` call, on
    whatever scheduler is active), so only one chunk is in memory at a time.

    Parameters
    ----------
    estimator : object
        Any estimator with ``partial_fit(X, y, **params)``; updated in place.
    X : dask.array.Array of shape (n_samples, n_features)
        Data, chunked by rows (column chunks are merged).
    y : dask.array.Array or ndarray of shape (n_samples,), default=None
        Targets, split with the row chunks of ``X``.
    epochs : int, default=1
        Passes over the chunks.
    shuffle : bool, default=True
        Visit the chunks in a new random order at each epoch (rows within a chunk
        are shuffled by the estimator, if it does).
    random_state : int, RandomState instance or None, default=None
        Seed of the chunk order.
    row_params : dict, default=None
        Per-row arguments of ``partial_fit`` (``sample_weight``, events, censored
        targets), each a Dask or NumPy array of length ``n_samples``, split with
        the row chunks of ``X``.
    **params : dict
        Arguments passed whole to every call (for instance ``classes``).

    Returns
    -------
    estimator : object
        The estimator, after ``epochs`` passes.

    Examples
    --------
    >>> import dask.array as da
    >>> from statopt import AdamLogisticRegression
    >>> from statopt.optim import stream_partial_fit
    >>> X = da.random.default_rng(0).normal(size=(4000, 3), chunks=(1000, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> weights = da.ones(4000, chunks=500)
    >>> model = AdamLogisticRegression(random_state=0)
    >>> model = stream_partial_fit(model, X, y, classes=[0, 1],
    ...                            row_params={"sample_weight": weights})
    >>> model.n_iter_
    4
    """
    import dask
    import dask.array as da

    if not callable(getattr(estimator, "partial_fit", None)):
        raise TypeError(f"estimator must have a partial_fit method; "
                        f"{type(estimator).__name__} has none.")
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask.array.Array, got {type(X).__name__}; "
                        "wrap an in-memory array with dask.array.from_array.")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got {X.ndim} dimensions.")
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError("X has chunks of unknown size; call "
                         "X.compute_chunk_sizes() first.")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or (
        epochs < 1
    ):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    chunks = X.chunks[0]
    blocks = {"y": _row_blocks("y", y, chunks)}
    for name, values in (row_params or {}).items():
        blocks[name] = _row_blocks(name, values, chunks)
    blocks = {name: parts for name, parts in blocks.items() if parts is not None}
    rng = check_random_state(random_state)
    for _ in range(epochs):
        order = rng.permutation(len(chunks)) if shuffle else range(len(chunks))
        for index in order:
            names = list(blocks)
            X_block, *values = dask.compute(X.blocks[index],
                                            *[blocks[name][index] for name in names])
            arguments = dict(zip(names, values))
            target = arguments.pop("y", None)
            estimator.partial_fit(X_block, target, **arguments, **params)
    return estimator
