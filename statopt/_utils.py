"""Small numerical helpers shared across statopt's modules."""

import contextlib
import functools
import os
import sys
import threading
import warnings

import joblib
import numpy as np
import sklearn
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight
from threadpoolctl import ThreadpoolController

from ._config import get_config


def weighted_quantile(values, weights, quantile):
    """Lower weighted ``quantile`` of ``values`` (weights >= 0, positive sum).

    The smallest value at which the cumulative weight reaches ``quantile`` times
    the total: a minimiser of ``sum_i w_i rho_q(values_i - c)`` over ``c``.
    """
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = np.searchsorted(cumulative, quantile * cumulative[-1], side="left")
    return values[order[min(index, values.size - 1)]]


class StrictInterval(Interval):
    """An interval of numbers that refuses booleans: ``True`` is not a count.

    scikit-learn's ``Interval`` accepts ``True`` as 1 (bool is an int).
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def quiet_finiteness_check():
    """Silence the overflow of scikit-learn's finiteness check, which sums X first:
    a sum of finite entries near float64's maximum overflows (a RuntimeWarning
    under ``-W error``) before the check looks at every entry."""
    return np.errstate(over="ignore", invalid="ignore")


def scale_exponents(maxima, slack=0):
    """Exponents ``k`` with ``maxima / 2**k`` in [1, 2) (0 for zeros and near 1).

    Dividing by a power of two is exact: the scaled problem is the same problem,
    its solution maps back exactly, and it spans no more than a factor 2 per
    column. ``slack`` leaves maxima in ``[2**-slack, 2**slack]`` unscaled.
    """
    maxima = np.asarray(maxima, dtype=np.float64)
    exponents = np.frexp(maxima)[1] - 1
    exponents[~(maxima > 0)] = 0
    if slack:
        exponents[np.abs(exponents) <= slack] = 0
    return exponents


def power_of_two_scale(values):
    """``2**k`` with ``max |values| / 2**k`` in [1, 2) (1 for all zeros)."""
    largest = float(np.max(np.abs(values), initial=0.0))
    return float(np.ldexp(1.0, scale_exponents([largest])[0]))


def scaled_sample_weight(sample_weight):
    """``sample_weight`` divided by a power of two near its largest entry.

    Scores are weighted means, invariant to a common factor of the weights, but
    scikit-learn's divide by the weights' sum, which overflows to inf for weights
    near float64's maximum and turned a score into NaN. Dividing by a power of
    two is exact. Weights that are not finite non-negative numbers are passed on
    unchanged, for scikit-learn's validation to refuse them.
    """
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        return sample_weight
    if weights.size == 0 or not (np.all(np.isfinite(weights))
                                 and np.all(weights >= 0)):
        return sample_weight
    return weights / power_of_two_scale(weights)


def relative_sample_weight(sample_weight, X):
    """Checked sample weights divided by the largest (ones for ``None``).

    One finite weight per row of ``X`` (scikit-learn's ``_check_sample_weight``),
    non-negative and not all zero, else a ValueError naming ``sample_weight``.
    Weighted means and fits depend on the weights' ratios only: relative to the
    largest, the weights sum to between 1 and ``n_samples``, where weights near
    float64's maximum summed to inf and were normalised to 0. (-inf beside
    weights whose sum overflows made the finiteness check warn, not refuse.)
    """
    weights = validated(_check_sample_weight, sample_weight, X, dtype=np.float64)
    if not np.all(weights >= 0) or not weights.max() > 0:
        raise ValueError("sample_weight must be non-negative with a positive sum.")
    return weights / weights.max()


class ScaledWeightScoreMixin:
    """``score`` with the weights rescaled first (:func:`scaled_sample_weight`).

    Put it before scikit-learn's ClassifierMixin or RegressorMixin in the bases.
    """

    def score(self, X, y, sample_weight=None):
        """Return the estimator's default score (accuracy or R^2) on ``X, y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows; any common factor, up to float64's maximum.

        Returns
        -------
        score : float
            The weighted score.
        """
        return super().score(X, y, sample_weight=scaled_sample_weight(sample_weight))


def validated(validator, *args, **kwargs):
    """Call a scikit-learn validator with its invalid-value warnings kept quiet.

    ``check_array`` tests finiteness by summing the array first, and
    ``type_of_target`` casts floats to int to spot integers: an input holding both
    inf and -inf, or values beyond int64, then raises a RuntimeWarning ahead of
    the answer or of the ValueError that says what is wrong; under ``-W error``
    the warning hides the message.
    """
    with np.errstate(invalid="ignore"):
        return validator(*args, **kwargs)


# The largest array a parameter may make statopt allocate: 2 GiB of float64. Above,
# a typo such as n_factors=10**7 would swap or be killed instead of failing.
MAX_ARRAY_ELEMENTS = 2**28


def check_array_budget(n_elements, what):
    """Refuse, with a ValueError naming ``what``, an array beyond the budget."""
    if n_elements > MAX_ARRAY_ELEMENTS:
        raise ValueError(f"{what} needs an array of {n_elements * 8 / 2**30:.3g} GiB "
                         "(limit 2 GiB); lower it.")


def is_dask_collection(X):
    """Whether ``X`` is a Dask collection (array, DataFrame), without importing
    Dask: if Dask was never imported, ``X`` cannot be one."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


_pools = {"controller": None, "n_modules": -1}


def _thread_pools():
    # Finding the BLAS libraries costs more than a small fit (threadpool_limits
    # scans them at every call), so the controller is kept; but an import after
    # the first fit may load another BLAS (cvxpy's solvers bring an OpenBLAS of
    # their own), so it is found again whenever the set of modules has grown.
    n_modules = len(sys.modules)
    if _pools["controller"] is None or _pools["n_modules"] != n_modules:
        _pools["controller"] = ThreadpoolController()
        _pools["n_modules"] = n_modules
    return _pools["controller"]


class _BlasThreadLimit(contextlib.ContextDecorator):
    """Apply the BLAS thread setting on entry, restore the previous one on exit.

    The setting is read at entry, not at creation, so a decorated ``fit`` follows
    :func:`statopt.set_config` calls made after the class was defined; entries
    stack per thread, so nested and concurrent entries restore correctly.
    """

    _entered = threading.local()

    def __enter__(self):
        threads = get_config()["blas_threads"]
        limiter = (None if threads is None
                   else _thread_pools().limit(limits=threads, user_api="blas"))
        if not hasattr(self._entered, "stack"):
            self._entered.stack = []
        self._entered.stack.append(limiter)
        return self

    def __exit__(self, *exc_info):
        limiter = self._entered.stack.pop()
        if limiter is not None:
            limiter.restore_original_limits()
        return False


# Frames that stand between a user's call and our warning: statopt itself,
# scikit-learn's fit wrappers and search loops, joblib's dispatch, and the
# decorators of contextlib and functools.
_INTERNAL_FOLDERS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sys.modules[__name__.split(".")[0]], sklearn, joblib))
_INTERNAL_FILES = (os.path.abspath(contextlib.__file__),
                   os.path.abspath(functools.__file__))


def _is_internal(filename):
    filename = os.path.abspath(filename)
    return filename.startswith(_INTERNAL_FOLDERS) or filename in _INTERNAL_FILES


def warn_at_caller(message, category=UserWarning):
    """``warnings.warn`` attributed to the user's line that led here.

    A fixed ``stacklevel`` counts frames by hand and goes stale whenever a
    decorator or helper is added (it pointed at contextlib.py); this walks up to
    the first frame outside statopt, scikit-learn, joblib and the standard
    decorators, so the warning names the ``fit`` or function call in the user's
    script. A ``Warning`` instance as ``message`` keeps its own class.
    """
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and _is_internal(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def blas_thread_limit():
    """Context manager (or decorator) applying statopt's BLAS thread setting.

    Every estimator runs its fit's linear algebra under it, so one setting,
    :func:`statopt.set_config` (``blas_threads``, 1 by default) or
    :func:`statopt.config_context`, governs them all; ``blas_threads=None``
    leaves the process's BLAS threads as they are. Use it as
    ``with blas_thread_limit():`` or, around a whole method, as the decorator
    ``@blas_thread_limit()``.
    """
    return _BlasThreadLimit()
