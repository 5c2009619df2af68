"""The censored target: a structured array of (event, time), as scikit-survival."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import validate_params

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])


@validate_params(
    {"event": ["array-like", "sparse matrix"], "time": ["array-like", "sparse matrix"],
     "allow_negative": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def make_survival_target(event, time, *, allow_negative=False):
    """Build the censored target from event indicators and observed times.

    The layout is scikit-survival's (``Surv.from_arrays``): a structured array with
    fields ``event`` (bool, True when the time is observed, False when it is
    right-censored) and ``time`` (float64).

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        Event indicators: bool, or integers/floats in {0, 1}.
    time : array-like of shape (n_samples,)
        Observed times: the event time when ``event`` is True, the censoring time
        otherwise. Finite, and non-negative unless ``allow_negative``.
    allow_negative : bool, default=False
        Accept negative values, for responses such as log-times that are censored
        on the right but are not durations.

    Returns
    -------
    y : structured ndarray of shape (n_samples,)
        Fields ``event`` and ``time``.

    Examples
    --------
    >>> from statopt.survival import make_survival_target
    >>> y = make_survival_target([True, False, 1], [2.0, 3.5, 1.0])
    >>> y["event"], y["time"]
    (array([ True, False,  True]), array([2. , 3.5, 1. ]))
    """
    event = _dense(event, "event")
    time = _dense(time, "time")
    if event.ndim != 1 or time.ndim != 1:
        raise ValueError(
            f"event and time must be 1-D, got shapes {event.shape} and {time.shape}."
        )
    if event.shape != time.shape:
        raise ValueError(
            f"event and time must have the same length, got {event.size} and "
            f"{time.size}."
        )
    if event.size == 0:
        raise ValueError("event and time are empty: at least one sample is needed.")
    if event.dtype != bool:
        if not np.issubdtype(event.dtype, np.number) or np.iscomplexobj(event):
            raise TypeError(
                f"event must be bool or 0/1 numbers, got dtype {event.dtype}."
            )
        if not np.all(np.isin(event, (0, 1))):
            raise ValueError("event must hold only 0/1 (or True/False) values.")
        event = event.astype(bool)
    if (not np.issubdtype(time.dtype, np.number) or np.issubdtype(time.dtype, np.bool_)
            or np.iscomplexobj(time)):
        raise TypeError(f"time must be real numbers, got dtype {time.dtype}.")
    time = time.astype(np.float64)
    if not np.all(np.isfinite(time)):
        raise ValueError(
            "time holds NaN or infinite values; every time must be finite."
        )
    if not allow_negative and np.any(time < 0):
        raise ValueError(
            "time holds negative values; pass allow_negative=True if the response is "
            "not a duration (a log-time, say)."
        )
    y = np.empty(event.size, dtype=SURVIVAL_DTYPE)
    y["event"] = event
    y["time"] = time
    return y


def _dense(values, name):
    if sp.issparse(values):
        raise TypeError(
            f"{name} must be a dense 1-D array, got a sparse matrix (convert it with "
            ".toarray().ravel())."
        )
    return np.asarray(values)


def is_survival_target(y):
    """Whether ``y`` is a structured array with ``event`` and ``time`` fields."""
    names = getattr(getattr(y, "dtype", None), "names", None)
    return names is not None and {"event", "time"} <= set(names)


@validate_params(
    {"y": ["array-like", "sparse matrix"], "allow_negative": ["boolean"],
     "allow_all_censored": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def check_survival_target(y, *, allow_negative=True, allow_all_censored=False):
    """Split a target into event indicators and times, validating both.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        A structured array with fields ``event`` and ``time`` (see
        :func:`make_survival_target`), or plain numbers (then every time is an
        observed event).
    allow_negative : bool, default=True
        Accept negative times (censored responses that are not durations).
    allow_all_censored : bool, default=False
        Accept a target without a single event.

    Returns
    -------
    event : ndarray of shape (n_samples,), dtype bool
        True where the time is observed.
    time : ndarray of shape (n_samples,), dtype float64
        Observed or censored times.
    censored : bool
        Whether ``y`` was a censored (structured) target.

    Examples
    --------
    >>> from statopt.survival import check_survival_target
    >>> event, time, censored = check_survival_target([1.5, 2.0])
    >>> event, censored
    (array([ True,  True]), False)
    """
    if is_survival_target(y):
        target = make_survival_target(y["event"], y["time"],
                                      allow_negative=allow_negative)
        censored = True
    else:
        values = _dense(y, "y")
        if values.dtype.names is not None:
            raise ValueError(
                f"A structured target needs fields 'event' and 'time', got "
                f"{values.dtype.names}; build it with make_survival_target."
            )
        if values.dtype == object:
            try:
                values = values.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    "y must be numbers or a survival target, got objects that are "
                    "not numbers."
                ) from None
        if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
            raise TypeError(
                f"y must be real numbers or a survival target, got dtype "
                f"{values.dtype}."
            )
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.ravel()
        target = make_survival_target(np.ones(values.shape, dtype=bool), values,
                                      allow_negative=allow_negative)
        censored = False
    if not allow_all_censored and not target["event"].any():
        raise ValueError(
            "Every sample is censored (no event): there is nothing to estimate from."
        )
    return target["event"], target["time"], censored
