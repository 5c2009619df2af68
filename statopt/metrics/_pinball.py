"""Pinball (check) loss for censored targets, weighted by inverse censoring.

The loss is positively homogeneous (``rho_q(c r) = c rho_q(r)``, ``c > 0``): it is
computed on times, predictions and weights divided by powers of two (exact in
floating point), so that values near float64's limits neither overflow in the
residuals nor underflow in the weights, and the D^2 ratio is scale-free.
"""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_array

from .._utils import power_of_two_scale, weighted_quantile
from ..survival import CensoringDistributionEstimator, check_survival_target

_PARAMETERS = {
    "y_true": ["array-like"],
    "y_pred": ["array-like"],
    "quantile": [Interval(Real, 0, 1, closed="neither")],
    "sample_weight": ["array-like", None],
}


def _ipcw(y_true, sample_weight):
    """Times and relative weights (largest 1) of the rows."""
    event, time, censored = check_survival_target(y_true)
    if sample_weight is None:
        weights = np.ones(time.size)
    else:
        weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                              input_name="sample_weight")
        if weights.shape != time.shape:
            raise ValueError(
                f"sample_weight has shape {weights.shape}, expected {time.shape}."
            )
        if (weights < 0).any():
            raise ValueError("sample_weight must be non-negative.")
        weights = weights / power_of_two_scale(weights)
    if censored:
        weights = weights * CensoringDistributionEstimator().fit(y_true).predict_ipcw(
            y_true)
    total = weights.sum()
    if not total > 0:
        raise ValueError("No row has a positive weight: the loss is undefined.")
    return time, weights / power_of_two_scale(weights)


def _check_predictions(y_pred, time):
    y_pred = check_array(y_pred, ensure_2d=False, dtype=np.float64,
                         input_name="y_pred").ravel()
    if y_pred.shape != time.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}, expected {time.shape}.")
    return y_pred


def _sides(time, y_pred, weights, scale):
    """``(sum w r+, sum w r-)`` of ``r = (time - y_pred) / scale``.

    The check loss is ``q A + (1 - q) B``: the level multiplies sums, rather than
    every row, so a level of 5e-324 does not round each row's loss to zero.
    """
    residuals = time / scale - y_pred / scale
    above = residuals > 0
    return (float(weights[above] @ residuals[above]),
            float(-(weights[~above] @ residuals[~above])))


def _combine(sides, quantile):
    above, below = sides
    return quantile * above + (1.0 - quantile) * below


@validate_params(_PARAMETERS, prefer_skip_nested_validation=True)
def ipcw_pinball_loss(y_true, y_pred, *, quantile=0.5, sample_weight=None):
    """Mean pinball loss, each event weighted by ``1 / G(T_i-)``.

    With a censored target the pinball loss of the censored rows is unknown; the
    events stand in for them with inverse probability of censoring weights, ``G``
    being the Kaplan-Meier estimate of the censoring distribution of ``y_true``
    itself. Without censoring it is scikit-learn's ``mean_pinball_loss``.

    Parameters
    ----------
    y_true : structured array of shape (n_samples,) or array-like of numbers
        Survival target (see :func:`statopt.survival.make_survival_target`) or
        plain responses.
    y_pred : array-like of shape (n_samples,)
        Predicted quantiles.
    quantile : float, default=0.5
        Level of the pinball loss, in (0, 1).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights multiplied into the censoring weights.

    Returns
    -------
    loss : float
        Weighted mean of ``rho_q(T_i - y_pred_i)`` over the events.

    Examples
    --------
    >>> from statopt.metrics import ipcw_pinball_loss
    >>> from statopt.survival import make_survival_target
    >>> ipcw_pinball_loss([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], quantile=0.5)
    0.333...
    >>> y = make_survival_target([True, False, True], [1.0, 2.0, 3.0])
    >>> ipcw_pinball_loss(y, [2.0, 2.0, 2.0], quantile=0.5)
    0.5
    """
    time, weights = _ipcw(y_true, sample_weight)
    y_pred = _check_predictions(y_pred, time)
    scale = power_of_two_scale(np.r_[time, y_pred])
    loss = _combine(_sides(time, y_pred, weights, scale), quantile) / weights.sum()
    with np.errstate(over="ignore"):
        loss *= scale
    if not np.isfinite(loss):
        raise ValueError(
            "The mean pinball loss exceeds float64's range: rescale y_true and "
            "y_pred."
        )
    return float(loss)


@validate_params(_PARAMETERS, prefer_skip_nested_validation=True)
def d2_ipcw_pinball_score(y_true, y_pred, *, quantile=0.5, sample_weight=None):
    """Fraction of the IPCW pinball loss explained, ``1 - loss / loss_constant``.

    ``loss_constant`` is the loss of the best constant prediction, the weighted
    ``quantile`` of the event times with the same weights. 1 is a perfect fit, 0 no
    better than a constant; it can be negative.

    Parameters
    ----------
    y_true : structured array of shape (n_samples,) or array-like of numbers
        Survival target or plain responses.
    y_pred : array-like of shape (n_samples,)
        Predicted quantiles.
    quantile : float, default=0.5
        Level of the pinball loss, in (0, 1).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights multiplied into the censoring weights.

    Returns
    -------
    score : float
        The D^2 score.

    Examples
    --------
    >>> from statopt.metrics import d2_ipcw_pinball_score
    >>> d2_ipcw_pinball_score([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    1.0
    """
    time, weights = _ipcw(y_true, sample_weight)
    y_pred = _check_predictions(y_pred, time)
    scale = power_of_two_scale(np.r_[time, y_pred])
    constant = np.full(time.size, weighted_quantile(time, weights, quantile))
    above, below = _sides(time, y_pred, weights, scale)
    above_0, below_0 = _sides(time, constant, weights, scale)
    if above_0 == 0 and below_0 == 0:  # the constant fits every event
        return 1.0 if above == 0 and below == 0 else 0.0
    # loss / baseline with the smaller of q and 1 - q as a ratio t <= 1 on one
    # side: q = 5e-324 would make each loss subnormal, and their ratio -inf.
    if quantile > 0.5:
        above, below, above_0, below_0 = below, above, below_0, above_0
        ratio = (1.0 - quantile) / quantile
    else:
        ratio = quantile / (1.0 - quantile)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if below == 0 and below_0 == 0:
            relative = np.float64(above) / above_0
        else:
            relative = np.float64(ratio * above + below) / (ratio * above_0 + below_0)
    if not np.isfinite(relative):
        raise ValueError(
            "The D^2 score is below float64's range: the constant's pinball loss "
            "is vanishingly small next to the predictions' (at "
            f"quantile={quantile!r}, the constant fits almost every event)."
        )
    return float(1.0 - relative)
