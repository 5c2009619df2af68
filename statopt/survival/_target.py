"""The censored target: a structured array of (event, time), as scikit-survival.

Users hold censored targets in several forms; every function and estimator that
takes a target reads them all (``_parse_target``) and works on the canonical
structured array:

- a structured array with fields ``event`` and ``time``, or with any two field
  names, the first boolean and the second numeric (scikit-survival's
  ``Surv.from_dataframe`` names them after the columns, e.g. ``('Status',
  'Survival_in_days')``);
- a two-column pandas DataFrame or 2-D array, columns (event, time);
- a tuple ``(event, time)`` of two 1-D arrays.

Plain 1-D numbers are uncensored responses.
"""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import HasMethods, validate_params

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])

# Appended to every refusal of a target's layout, so that the user sees the options.
ACCEPTED_FORMS = (
    "A censored target is a structured array with fields 'event' and 'time' (or any "
    "two fields, the first boolean and the second numeric, as scikit-survival's "
    "Surv.from_dataframe builds), a two-column DataFrame or 2-D array with columns "
    "(event, time), or a tuple (event, time) of two 1-D arrays; plain responses are "
    "1-D numbers. From named DataFrame columns, use "
    "make_survival_target.from_dataframe(df, event=..., time=...)."
)


@validate_params(
    {"event": ["array-like", "sparse matrix"],
     "time": ["array-like", "sparse matrix", None],
     "allow_negative": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def make_survival_target(event, time=None, *, allow_negative=False):
    """Build the censored target from event indicators and observed times.

    The layout is scikit-survival's (``Surv.from_arrays``): a structured array with
    fields ``event`` (bool, True when the time is observed, False when it is
    right-censored) and ``time`` (float64).

    With one argument, ``make_survival_target(y)`` converts a censored target held
    in another form to this layout: a structured array with any two field names,
    the first boolean and the second numeric (scikit-survival's
    ``Surv.from_dataframe``, e.g. fields ``('Status', 'Survival_in_days')``); a
    two-column DataFrame or 2-D array with columns (event, time); or a tuple
    ``(event, time)``. The estimators and metrics of statopt accept all of these
    forms directly.

    From a DataFrame with named columns, use
    ``make_survival_target.from_dataframe(df, event='status', time='days')``, the
    same function as :func:`survival_target_from_dataframe`.

    Parameters
    ----------
    event : array-like of shape (n_samples,), or a censored target
        Event indicators: bool, or numbers in {0, 1}. With ``time`` None, a whole
        censored target in one of the forms above.
    time : array-like of shape (n_samples,) or None, default=None
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
    >>> import numpy as np
    >>> from statopt.survival import make_survival_target
    >>> y = make_survival_target([True, False, 1], [2.0, 3.5, 1.0])
    >>> y["event"], y["time"]
    (array([ True, False,  True]), array([2. , 3.5, 1. ]))
    >>> make_survival_target(np.array([[1, 2.0], [0, 3.5]]))["event"]
    array([ True, False])
    """
    if time is None:
        target, censored = _parse_target(event, allow_negative)
        if not censored:
            raise ValueError(
                "make_survival_target(y) with one argument needs a censored target; "
                "for event indicators and times pass make_survival_target(event, "
                "time). " + ACCEPTED_FORMS
            )
        return target
    event = _column(event, "event")
    time = _column(time, "time")
    if event.ndim != 1 or time.ndim != 1:
        raise ValueError(
            f"event and time must be 1-D, got shapes {event.shape} and {time.shape}. "
            + ACCEPTED_FORMS
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
        other = ~np.isin(event, (0, 1))
        if other.any():
            value = event[other][0]
            raise ValueError(
                "event must hold only 0/1 (or True/False) values, got "
                f"{'NaN (a missing value)' if value != value else repr(value.item())}."
            )
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


@validate_params(
    {"df": [HasMethods(["__getitem__"])], "event": "no_validation",
     "time": "no_validation", "allow_negative": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def survival_target_from_dataframe(df, *, event, time, allow_negative=False):
    """Build the censored target from two named columns of a DataFrame.

    The counterpart of scikit-survival's ``Surv.from_dataframe``, returning
    statopt's layout (fields ``event`` and ``time``). It is also reachable as
    ``make_survival_target.from_dataframe``.

    Parameters
    ----------
    df : pandas.DataFrame
        Table holding the two columns (or any mapping from names to 1-D arrays).
    event : str or other column label
        Name of the event column: bool, or numbers in {0, 1}.
    time : str or other column label
        Name of the time column: real numbers.
    allow_negative : bool, default=False
        Accept negative times (see :func:`make_survival_target`).

    Returns
    -------
    y : structured ndarray of shape (n_samples,)
        Fields ``event`` and ``time``.

    Examples
    --------
    >>> import pandas as pd
    >>> from statopt.survival import make_survival_target
    >>> df = pd.DataFrame({"days": [5.0, 8.0, 2.0], "died": [1, 0, 1]})
    >>> y = make_survival_target.from_dataframe(df, event="died", time="days")
    >>> y["event"], y["time"]
    (array([ True, False,  True]), array([5., 8., 2.]))
    """
    columns = list(getattr(df, "columns", getattr(df, "keys", lambda: [])()))
    for role, name in (("event", event), ("time", time)):
        if name not in columns:
            raise ValueError(
                f"{role}={name!r} is not a column of df; its columns are {columns}."
            )
    if event == time:
        raise ValueError(f"event and time name the same column {event!r}.")
    return _target_from_columns(
        df[event], df[time], f"columns {event!r} (event) and {time!r} (time)",
        allow_negative, named=True)


make_survival_target.from_dataframe = survival_target_from_dataframe


def _dense(values, name):
    if sp.issparse(values):
        raise TypeError(
            f"{name} must be a dense 1-D array, got a sparse matrix (convert it with "
            ".toarray().ravel())."
        )
    return np.asarray(values)


def _column(values, name):
    """``values`` as an array; objects that are all numbers become float64."""
    values = _dense(values, name)
    if values.dtype != object:
        return values
    for value in values.flat:
        if not isinstance(value, (Real, np.bool_)):
            raise TypeError(
                f"{name} must hold numbers{' or booleans' if name == 'event' else ''}"
                f", got {value!r} (of type {type(value).__name__}); convert it, and "
                "drop or fill missing values."
            )
    return values.astype(np.float64)


def _is_binary(values):
    try:
        values = _column(values, "event")
    except TypeError:
        return False
    return values.dtype == bool or (np.issubdtype(values.dtype, np.number)
                                    and bool(np.isin(values, (0, 1)).all()))


def _target_from_columns(event, time, where, allow_negative, named=False):
    """The target from an event and a time column, errors saying which columns."""
    try:
        return make_survival_target(event, time, allow_negative=allow_negative)
    except (TypeError, ValueError) as error:
        hint = f" (from {where})"
        if not named and not _is_binary(event) and _is_binary(time):
            hint += (": the columns look swapped, the event must come first, then "
                     "the time")
        message = str(error).replace(" " + ACCEPTED_FORMS, "").rstrip(".")
        raise type(error)(
            f"{message}{hint}. {'' if named else ACCEPTED_FORMS}".rstrip()
        ) from None


def _is_dataframe(y):
    return hasattr(y, "columns") and hasattr(y, "iloc")


def _parse_target(y, allow_negative):
    """``y`` in any accepted form as (structured target, whether censored)."""
    if isinstance(y, tuple):
        dims = [np.ndim(part) if not sp.issparse(part) else 2 for part in y]
        if len(y) == 2 and min(dims) >= 1:
            return _target_from_columns(y[0], y[1], "the tuple (event, time)",
                                        allow_negative), True
        if max(dims, default=0) >= 1:
            raise ValueError(
                f"A tuple target must be (event, time), two 1-D arrays; got a tuple "
                f"of {len(y)} items. " + ACCEPTED_FORMS
            )
    if _is_dataframe(y):
        columns = list(y.columns)
        if len(columns) == 2:
            return _target_from_columns(
                y.iloc[:, 0].to_numpy(), y.iloc[:, 1].to_numpy(),
                f"DataFrame columns {columns[0]!r} and {columns[1]!r}",
                allow_negative), True
        if len(columns) != 1:
            raise ValueError(
                f"A DataFrame target needs two columns (event, time), got "
                f"{len(columns)}: {columns}. " + ACCEPTED_FORMS
            )
        y = y.iloc[:, 0]
    values = _dense(y, "y")
    names = values.dtype.names
    if names is not None:
        if {"event", "time"} <= set(names):
            fields = ("event", "time")
        elif (len(names) == 2 and values.dtype[0].kind == "b"
                and values.dtype[1].kind in "iuf"):
            fields = names
        else:
            raise ValueError(
                "A structured target needs fields 'event' and 'time', or two fields "
                "of which the first is boolean and the second numeric; got "
                f"{[(name, str(values.dtype[name])) for name in names]}. "
                + ACCEPTED_FORMS
            )
        return _target_from_columns(
            values[fields[0]], values[fields[1]],
            f"fields {fields[0]!r} and {fields[1]!r}", allow_negative), True
    if values.ndim == 2 and values.shape[1] == 2:
        return _target_from_columns(values[:, 0], values[:, 1],
                                    "columns 0 and 1 of a 2-D array",
                                    allow_negative), True
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    if values.ndim != 1:
        hint = ""
        if values.ndim == 2 and values.shape[0] == 2:
            hint = (" If its two rows are event and time, pass tuple(y) or its "
                    "transpose.")
        raise ValueError(
            f"y has shape {values.shape}: plain responses are 1-D, a censored target "
            f"has two columns.{hint} " + ACCEPTED_FORMS
        )
    if values.dtype == object:
        try:
            values = _column(values, "y")
        except TypeError:
            raise TypeError(
                "y must be numbers or a survival target, got objects that are not "
                "numbers. " + ACCEPTED_FORMS
            ) from None
    if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise TypeError(
            f"y must be real numbers or a survival target, got dtype "
            f"{values.dtype}. " + ACCEPTED_FORMS
        )
    return make_survival_target(np.ones(values.shape, dtype=bool), values,
                                allow_negative=allow_negative), False


def as_survival_target(y):
    """A censored target in any form as the structured array; plain responses
    as float64 times (no check that any event is present)."""
    target, censored = _parse_target(y, allow_negative=True)
    return target if censored else target["time"]


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
    y : array-like of shape (n_samples,) or (n_samples, 2), or tuple
        A censored target in any accepted form (see :func:`make_survival_target`):
        a structured array (fields ``event`` and ``time``, or a boolean then a
        numeric field), a two-column DataFrame or array (event, time), or a tuple
        ``(event, time)``; or plain numbers (then every time is an observed event).
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
        Whether ``y`` was a censored target.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.survival import check_survival_target
    >>> event, time, censored = check_survival_target([1.5, 2.0])
    >>> event, censored
    (array([ True,  True]), False)
    >>> event, time, censored = check_survival_target((np.array([1, 0]), [4.0, 6.0]))
    >>> event, censored
    (array([ True, False]), True)
    """
    target, censored = _parse_target(y, allow_negative)
    if not allow_all_censored and not target["event"].any():
        raise ValueError(
            "Every sample is censored (no event): there is nothing to estimate from."
        )
    return target["event"], target["time"], censored
