"""Kaplan-Meier estimator and inverse probability of censoring weights.

Conventions (the same as lifelines and scikit-survival):

- The risk set at time ``t`` holds every sample whose observed time is ``>= t``. So at
  a time shared by events and censorings, the censored samples are still at risk
  of the event (*events before censorings*).
- The censoring survival function ``G`` is the Kaplan-Meier estimate with the roles
  of events and censorings swapped, under the same order: at a tied time the
  events leave the risk set before the censorings happen, so the censoring risk set
  at ``s`` is ``n(s) - d(s)``. With this convention the IPC-weighted empirical
  distribution of the events *is* the Kaplan-Meier estimate (the weights add up to
  ``n`` when the largest time is an event), ties or not. lifelines'
  ``KaplanMeierFitter`` fitted on the censorings counts the tied events in the risk
  set; the two agree once tied censorings are moved just after the events.
- Weights use the *left limit* ``G(T_i-)``, the probability of being still
  uncensored just before ``T_i``: a sample with an event at ``T_i`` was, by
  construction, not censored before it.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from .._utils import warn_at_caller
from ._target import _dense, check_survival_target, make_survival_target


def _product_limit(time, event, *, censoring=False):
    """Unique times and a product-limit survival curve at each of them.

    ``censoring=False`` gives the Kaplan-Meier curve of the events; ``True`` that of
    the censorings, whose risk set at ``s`` leaves out the events at ``s`` (they
    came first).
    """
    return product_limit_from_counts(*time_counts(time, event), censoring=censoring)


def time_counts(time, event):
    """Distinct times, and the events and samples at each: all Kaplan-Meier needs.

    Counts of disjoint parts of the data add up (:func:`merge_time_counts`), so a
    chunked array gives them as a reduction, without sorting all its rows.
    """
    unique_times, inverse, counts = np.unique(time, return_inverse=True,
                                              return_counts=True)
    events = np.bincount(inverse, weights=event.astype(np.float64),
                         minlength=unique_times.size)
    return unique_times, events, counts.astype(np.float64)


def merge_time_counts(parts):
    """The :func:`time_counts` of the union of disjoint parts, from theirs."""
    times = np.concatenate([part[0] for part in parts])
    unique_times, inverse = np.unique(times, return_inverse=True)
    events, counts = (
        np.bincount(inverse, weights=np.concatenate([part[k] for part in parts]),
                    minlength=unique_times.size) for k in (1, 2))
    return unique_times, events, counts


def product_limit_from_counts(unique_times, events, counts, *, censoring=False):
    """The product-limit curve of :func:`_product_limit` from :func:`time_counts`.

    The risk set at a time is every sample at that time or later: the total count
    minus the counts of earlier times.
    """
    at_risk = counts.sum() - np.concatenate(([0.0], np.cumsum(counts)[:-1]))
    if censoring:
        at_risk = at_risk - events
        events = counts - events
    hazard = np.divide(events, at_risk, out=np.zeros(events.size), where=at_risk > 0)
    return unique_times, np.cumprod(1.0 - hazard)


@validate_params(
    {"time": ["array-like", "sparse matrix"], "event": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def kaplan_meier(time, event):
    """Kaplan-Meier estimate of the survival function.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Observed times (event or censoring).
    event : array-like of shape (n_samples,)
        True where the time is an event, False where it is censored.

    Returns
    -------
    times : ndarray of shape (n_unique_times,)
        The distinct observed times, increasing.
    survival : ndarray of shape (n_unique_times,)
        ``S(t) = prod_{s <= t} (1 - d(s) / n(s))`` at each of them: right-continuous,
        with ``d(s)`` the events at ``s`` and ``n(s)`` the samples with time ``>= s``.

    See Also
    --------
    censoring_weights : Inverse probability of censoring weights.
    CensoringDistributionEstimator : The censoring survival as an estimator.

    Examples
    --------
    >>> from statopt.survival import kaplan_meier
    >>> event = [True, True, False, True, False]
    >>> times, survival = kaplan_meier([1, 2, 2, 3, 4], event)
    >>> times
    array([1., 2., 3., 4.])
    >>> survival.round(4)
    array([0.8, 0.6, 0.3, 0.3])
    """
    target = make_survival_target(event, time, allow_negative=True)
    return _product_limit(target["time"], target["event"])


def _step_function(times, values, at, left_limit):
    """Evaluate the right-continuous step function (1 before ``times[0]``)."""
    side = "left" if left_limit else "right"
    index = np.searchsorted(times, np.asarray(at, dtype=np.float64), side=side)
    return np.concatenate(([1.0], values))[index]


@validate_params(
    {"time": ["array-like", "sparse matrix"], "event": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def censoring_weights(time, event):
    """Inverse probability of censoring weights ``event_i / G(T_i-)``.

    ``G`` is the Kaplan-Meier estimate of the censoring distribution, on the data
    themselves. Censored samples get weight 0; an event at ``T_i`` gets
    ``1 / G(T_i-)``, which is always finite here: the sample itself is at risk of
    censoring before ``T_i``, so no factor of ``G(T_i-)`` vanishes. (``G`` does reach
    0 after the largest time when that time is censored; weights evaluated at new
    times, as in :meth:`CensoringDistributionEstimator.predict_ipcw`, handle that.)

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Observed times (event or censoring).
    event : array-like of shape (n_samples,)
        True where the time is an event.

    Returns
    -------
    weights : ndarray of shape (n_samples,)
        The weights; their mean is close to 1 when the censoring is independent.

    Examples
    --------
    >>> from statopt.survival import censoring_weights
    >>> censoring_weights([1, 2, 3, 4], [True, False, True, True]).round(4)
    array([1. , 0. , 1.5, 1.5])
    """
    event, time, _ = check_survival_target(
        make_survival_target(event, time, allow_negative=True))
    times, survival = _product_limit(time, event, censoring=True)
    before = _step_function(times, survival, time, left_limit=True)
    return np.where(event, 1.0 / before, 0.0)


class CensoringDistributionEstimator(BaseEstimator):
    """Kaplan-Meier estimate of the censoring distribution, for IPCW.

    The estimator twin of :func:`censoring_weights`, as scikit-survival pairs
    ``ipc_weights`` with its ``CensoringDistributionEstimator``: fit it on training
    targets, then weight the events of any target, training or new.

    Attributes
    ----------
    unique_times_ : ndarray of shape (n_unique_times,)
        Distinct observed times of the training target.
    survival_ : ndarray of shape (n_unique_times,)
        Censoring survival ``G`` at each of them (right-continuous).

    Examples
    --------
    >>> from statopt.survival import CensoringDistributionEstimator
    >>> from statopt.survival import make_survival_target
    >>> y = make_survival_target([True, False, True, True], [1, 2, 3, 4])
    >>> model = CensoringDistributionEstimator().fit(y)
    >>> model.predict_survival([0.5, 2.0, 2.5]).round(4)
    array([1.    , 0.6667, 0.6667])
    >>> model.predict_ipcw(y).round(4)
    array([1. , 0. , 1.5, 1.5])
    """

    def fit(self, y):
        """Estimate the censoring survival function.

        Parameters
        ----------
        y : structured array of shape (n_samples,) or array-like of numbers
            Survival target (see :func:`make_survival_target`); plain numbers mean
            no censoring, so ``G = 1``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        event, time, _ = check_survival_target(y)
        self.unique_times_, self.survival_ = _product_limit(time, event,
                                                            censoring=True)
        return self

    def predict_survival(self, time, left_limit=False):
        """Censoring survival ``G(t)``, or its left limit ``G(t-)``.

        Parameters
        ----------
        time : array-like of shape (n_times,)
            Times at which to evaluate.
        left_limit : bool, default=False
            Return ``G(t-)``, the probability of no censoring strictly before ``t``.

        Returns
        -------
        survival : ndarray of shape (n_times,)
            Values of the step function (1 before the first training time).
        """
        check_is_fitted(self)
        if not isinstance(left_limit, (bool, np.bool_)):
            raise TypeError(f"left_limit must be a bool, got {left_limit!r}.")
        time = _dense(time, "time")
        if (not np.issubdtype(time.dtype, np.number) or np.iscomplexobj(time)
                or time.ndim > 1):
            raise TypeError(
                f"time must be real numbers of shape (n_times,), got dtype "
                f"{time.dtype} and shape {time.shape}."
            )
        time = time.astype(np.float64)
        if np.isnan(time).any():
            raise ValueError("time holds NaN; every time must be a number.")
        return _step_function(self.unique_times_, self.survival_, time, left_limit)

    def predict_ipcw(self, y):
        """Inverse probability of censoring weights ``event_i / G(T_i-)``.

        Events at times where ``G(T_i-) = 0`` (after the largest training time, when
        that time was censored) cannot be weighted: they get weight 0 and a warning,
        never an infinite weight.

        Parameters
        ----------
        y : structured array of shape (n_samples,) or array-like of numbers
            Target to weight.

        Returns
        -------
        weights : ndarray of shape (n_samples,)
            0 for censored samples.
        """
        event, time, _ = check_survival_target(y, allow_all_censored=True)
        before = self.predict_survival(time, left_limit=True)
        unweightable = event & (before <= 0)
        if unweightable.any():
            warn_at_caller(
                f"{int(unweightable.sum())} event(s) lie beyond the last time at which "
                "the censoring survival is positive; they get weight 0.",
                UserWarning
            )
        with np.errstate(divide="ignore"):
            return np.where(event & ~unweightable, 1.0 / before, 0.0)
