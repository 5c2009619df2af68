"""Kaplan-Meier on Dask arrays, as a reduction of per-time counts.

The product-limit curve needs, at each distinct time, the number of events and
the number of samples there (:func:`~._kaplan_meier.time_counts`): the risk set is
every sample at that time or later. Counts of disjoint chunks add up, so each
chunk counts its own times and the counts are merged in a tree: no row is sorted
outside its chunk and no chunk travels. What reaches the client is one row of
three numbers per distinct time (24 bytes): few with rounded or discrete times,
as many as the rows with continuous times.

Dask is imported here only, on first use: ``statopt.survival`` does not need it.
"""

import numpy as np

from ._kaplan_meier import (
    CensoringDistributionEstimator,
    merge_time_counts,
    product_limit_from_counts,
    time_counts,
)
from ._target import make_survival_target

# Parts merged at once in the tree of merges: the client never holds more.
MERGE_WIDTH = 8


def block_time_counts(time, event, start):
    """:func:`time_counts` of one chunk, validated; ``start`` names its first row."""
    try:
        target = make_survival_target(event, time, allow_negative=True)
    except ValueError as error:
        raise ValueError(
            f"In the chunk of rows {start} to {start + len(time) - 1} of the "
            f"censored target: {error}"
        ) from None
    return time_counts(target["time"], target["event"])


def kaplan_meier_reduction(time, event, *, censoring=False):
    """Kaplan-Meier curve of Dask arrays ``time`` and ``event`` (same chunks).

    Parameters
    ----------
    time : dask.array.Array of shape (n_samples,)
        Observed times.
    event : dask.array.Array of shape (n_samples,)
        True (or 1) where the time is an event; chunked as ``time``.
    censoring : bool, default=False
        The curve of the censorings (ties: events first), as
        :class:`CensoringDistributionEstimator`, instead of the events'.

    Returns
    -------
    times : ndarray of shape (n_unique_times,)
    survival : ndarray of shape (n_unique_times,)
        As :func:`statopt.survival.kaplan_meier` on the computed arrays.
    """
    import dask

    if time.chunks != event.chunks:
        raise ValueError(
            f"time and event must be chunked alike, got {time.chunks} and "
            f"{event.chunks}: rechunk one, e.g. event.rechunk(time.chunks)."
        )
    starts = np.concatenate(([0], np.cumsum(time.chunks[0])[:-1]))
    # Unoptimised: chunks of time and event cut from one source chunk share its
    # key, so the source is computed once.
    parts = [dask.delayed(block_time_counts)(t, e, int(s)) for t, e, s in
             zip(time.to_delayed(optimize_graph=False).ravel(),
                 event.to_delayed(optimize_graph=False).ravel(), starts)]
    while len(parts) > 1:
        parts = [dask.delayed(merge_time_counts)(parts[i:i + MERGE_WIDTH])
                 for i in range(0, len(parts), MERGE_WIDTH)]
    unique_times, events, counts = dask.compute(parts[0])[0]
    if not events.any() and not censoring:
        raise ValueError(
            "Every sample is censored (no event): there is nothing to estimate from."
        )
    return product_limit_from_counts(unique_times, events, counts,
                                     censoring=censoring)


def censoring_distribution_reduction(time, event):
    """:class:`CensoringDistributionEstimator` fitted on Dask arrays by reduction."""
    model = CensoringDistributionEstimator()
    model.unique_times_, model.survival_ = kaplan_meier_reduction(
        time, event, censoring=True)
    return model
