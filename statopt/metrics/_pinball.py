"""Pinball (check) loss for censored targets, weighted by inverse censoring."""

import numpy as np

from .._utils import weighted_quantile
from ..survival._kaplan_meier import CensoringDistributionEstimator
from ..survival._target import check_survival_target


def _pinball(residuals, quantile):
    return np.where(residuals >= 0, quantile * residuals, (quantile - 1) * residuals)


def _ipcw(y_true, sample_weight):
    event, time, censored = check_survival_target(y_true)
    weights = np.ones(time.size) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float64)
    if weights.shape != time.shape:
        raise ValueError(
            f"sample_weight has shape {weights.shape}, expected {time.shape}."
        )
    if censored:
        weights = weights * CensoringDistributionEstimator().fit(y_true).predict_ipcw(
            y_true)
    return time, weights


def _weighted_loss(time, weights, y_pred, quantile):
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_pred.shape != time.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}, expected {time.shape}.")
    total = weights.sum()
    if not total > 0:
        raise ValueError("No row has a positive weight: the loss is undefined.")
    return float(weights @ _pinball(time - y_pred, quantile) / total)


def _check_quantile(quantile):
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}.")


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
    _check_quantile(quantile)
    time, weights = _ipcw(y_true, sample_weight)
    return _weighted_loss(time, weights, y_pred, quantile)


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
    _check_quantile(quantile)
    time, weights = _ipcw(y_true, sample_weight)
    loss = _weighted_loss(time, weights, y_pred, quantile)
    constant = weighted_quantile(time, weights, quantile)
    baseline = _weighted_loss(time, weights, np.full(time.size, constant), quantile)
    if baseline == 0:
        return 1.0 if loss == 0 else 0.0
    return 1.0 - loss / baseline
