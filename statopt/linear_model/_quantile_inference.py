"""Analytic inference for linear quantile regression, as R quantreg's ``summary.rq``.

Every function takes the design (intercept column included), the response, the
coefficients and the row weights, and follows ``summary.rq`` (quantreg 6.1) line by
line, including its weights convention: rows, responses and residuals are multiplied
by their weights and then treated as unweighted data (``rq(..., weights=w)`` fits
``sum_i rho_q(w_i y_i - w_i x_i' b)``, which equals ``sum_i w_i rho_q(y_i - x_i' b)``
for ``w_i >= 0``). ``n`` counts every row passed: the caller leaves out rows of
weight 0 (R keeps them in ``n``, and its 'ker' then collapses onto their zero
residuals).

- ``'iid'``: Koenker & Bassett (1978): ``tau (1 - tau) s^2 (X'X)^{-1}``, the sparsity
  ``s`` the slope of a median regression of the order statistics of the residuals
  nearest zero on their ranks (the difference quotient of Siddiqui).
- ``'nid'``: Hendricks & Koenker (1992): ``tau (1 - tau) D^{-1} X'X D^{-1}`` with
  ``D = X' diag(f) X``, ``f_i = 2 h / x_i'(b(tau + h) - b(tau - h))``.
- ``'ker'``: Powell (1991): the same sandwich with ``f_i`` a Gaussian kernel
  density of the residual ``i`` at zero.

``h`` is the Hall-Sheather (default) or Bofinger bandwidth of ``bandwidth.rq``.

- ``'rank'`` and ``'rank_nid'``: intervals by inverting the regression rank-score
  test (R's ``rq.fit.br(ci=TRUE)`` with ``iid=TRUE`` / ``iid=FALSE``), in
  :mod:`._quantile_rank`; no standard errors.
- ``'boot'``: the pairs bootstrap (:func:`bootstrap_coefficients`): rows drawn with
  replacement and the whole estimator refitted, censoring distribution and
  propensity included; standard errors are the replicates' standard deviation,
  intervals their percentiles.
"""

import warnings

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._utils import warn_at_caller

# summary.rq's threshold of a zero residual and of a positive fitted difference.
_EPS = np.sqrt(np.finfo(np.float64).eps)

SE_METHODS = {
    "iid": "iid errors (Koenker & Bassett 1978)",
    "nid": "Hendricks-Koenker sandwich",
    "ker": "Powell kernel sandwich",
    "boot": "pairs bootstrap refitting the weights, percentile intervals",
    "rank": "intervals by inverting the rank-score test (Koenker 1994), iid scaling",
    "rank_nid": ("intervals by inverting the rank-score test (Koenker 1994), "
                 "Koenker-Machado density scaling"),
}
# Methods that give intervals only (R prints no standard errors for them).
RANK_METHODS = ("rank", "rank_nid")


def quantile_bandwidth(quantile, n_samples, bandwidth="hall_sheather", alpha=0.05):
    """Bandwidth of the sparsity estimate in quantile units (R's ``bandwidth.rq``).

    Parameters
    ----------
    quantile : float
        Level in (0, 1).
    n_samples : int
        Number of rows.
    bandwidth : {'hall_sheather', 'bofinger'}, default='hall_sheather'
        Hall & Sheather (1988), of order ``n^(-1/3)``, or Bofinger (1975), of order
        ``n^(-1/5)``.
    alpha : float, default=0.05
        Level of the intervals the Hall-Sheather rule is tuned for.

    Returns
    -------
    h : float
    """
    x0 = stats.norm.ppf(quantile)
    f0 = stats.norm.pdf(x0)
    if bandwidth == "hall_sheather":
        return (n_samples ** (-1 / 3) * stats.norm.ppf(1 - alpha / 2) ** (2 / 3)
                * (1.5 * f0**2 / (2 * x0**2 + 1)) ** (1 / 3))
    return n_samples ** -0.2 * (4.5 * f0**4 / (2 * x0**2 + 1) ** 2) ** 0.2


def _inverse_gram(design, what):
    """``(A'A)^{-1}`` through the QR factor of ``A``, as summary.rq computes it."""
    r = np.linalg.qr(design, mode="r")
    diagonal = np.abs(np.diag(r))
    if diagonal.size == 0 or not diagonal.min() > 1e-12 * diagonal.max():
        raise ValueError(
            f"{what} is singular: the standard errors are not defined (too few "
            "rows with positive weight, or a column that is constant on them)."
        )
    r_inv = np.linalg.solve(r, np.eye(r.shape[0]))
    return r_inv @ r_inv.T


def _sandwich(design, density, quantile, what):
    d_inv = _inverse_gram(np.sqrt(density)[:, None] * design, what)
    return quantile * (1 - quantile) * d_inv @ (design.T @ design) @ d_inv


def quantile_covariance(design, y, beta, weights, quantile, *, se="nid",
                        bandwidth="hall_sheather", refit=None):
    """Covariance of linear quantile regression coefficients (R's ``summary.rq``).

    Parameters
    ----------
    design : ndarray of shape (n_samples, n_coef)
        Covariates, with the intercept column if any.
    y : ndarray of shape (n_samples,)
        Response.
    beta : ndarray of shape (n_coef,)
        Coefficients at ``quantile`` (the exact optimum).
    weights : ndarray of shape (n_samples,)
        Non-negative row weights (ones for an unweighted fit).
    quantile : float
        The level ``tau``.
    se : {'iid', 'nid', 'ker'}, default='nid'
        Method (see the module docstring).
    bandwidth : {'hall_sheather', 'bofinger'}, default='hall_sheather'
        Bandwidth rule of the sparsity.
    refit : callable
        ``refit(design, y, weights, level)`` returns the exact weighted quantile
        regression coefficients at ``level``; 'iid' uses it (unweighted, level
        0.5) for the sparsity, 'nid' at ``tau +- h``.

    Returns
    -------
    cov : ndarray of shape (n_coef, n_coef)
    """
    n, p = design.shape
    # Weights, columns and response are divided by powers of two (exact) that
    # bring their largest weighted entries to [0.5, 1): each formula is
    # equivariant under it, so designs of 1e150 or weights of 1e300 neither
    # overflow nor look singular. R's eps is absolute. As the threshold of a zero
    # residual ('iid') it is taken relative to the largest |w y| (residuals of
    # 1e85 are zeros when y is 1e100); as the shift of the 'nid' differences it
    # stays absolute (R's values) when the largest |w y| is 1 or more, and is
    # relative below (else every density of a response of 1e-10 would be 0).
    weights = np.ldexp(weights, -int(np.frexp(np.max(weights, initial=0.0))[1]))
    x = weights[:, None] * design
    column_exponents = np.frexp(np.max(np.abs(x), axis=0, initial=0.0))[1]
    response_exponent = int(np.frexp(np.max(np.abs(weights * y), initial=0.0))[1])
    x = np.ldexp(x, -column_exponents)
    design = np.ldexp(design, -column_exponents)
    y = np.ldexp(y, -response_exponent)
    beta = np.ldexp(beta, column_exponents - response_exponent)
    eps = _EPS, np.ldexp(_EPS, -max(response_exponent, 0))
    resid = weights * (y - design @ beta)
    h = quantile_bandwidth(quantile, n, bandwidth)
    cov = _scaled_covariance(design, x, y, resid, weights, quantile, se, h, eps,
                             refit)
    # Back to the units of beta: (2^r / 2^c_j)(2^r / 2^c_k) cov_jk, never overflowing
    # on the way when the result is finite.
    factor = np.ldexp(1.0, response_exponent - column_exponents)
    return factor[:, None] * cov * factor[None, :]


def _scaled_covariance(design, x, y, resid, weights, quantile, se, h, eps, refit):
    n, p = design.shape
    if se == "iid":
        n_zero = int(np.count_nonzero(np.abs(resid) < eps[0]))
        n_order = max(p + 1, int(np.ceil(n * h)))
        ranks = np.arange(n_zero + 1, n_zero + n_order + 2)  # 1-based, as in R
        if ranks[-1] > n:
            raise ValueError(
                f"se='iid' needs {ranks[-1]} rows for its sparsity estimate at "
                f"quantile={quantile}, but there are {n}: use more data."
            )
        nearest = np.argsort(np.abs(resid), kind="stable")[ranks - 1]
        ordered = np.sort(resid[nearest])
        slope = refit(np.column_stack([np.ones(ranks.size), ranks / (n - p)]),
                      ordered, np.ones(ranks.size), 0.5)[1]
        return slope**2 * quantile * (1 - quantile) * _inverse_gram(x, "X'X")
    # summary.rq halves h until tau +- h is inside (0, 1).
    while quantile - h < 0 or quantile + h > 1:
        h /= 2
    if se == "nid":
        difference = x @ (refit(design, y, weights, quantile + h)
                          - refit(design, y, weights, quantile - h))
        n_bad = int(np.count_nonzero((difference <= 0) & (weights > 0)))
        if n_bad:
            warn_at_caller(
                f"{n_bad} rows have non-positive fitted differences between the "
                f"quantiles {quantile - h:.4g} and {quantile + h:.4g} (crossing "
                "fits); their densities are set to 0, as R's summary.rq does.",
                UserWarning
            )
        with np.errstate(divide="ignore"):
            density = np.maximum(0.0, 2 * h / (difference - eps[1]))
        return _sandwich(x, density, quantile, "X' diag(f) X")
    # se == 'ker'
    spread = min(np.std(resid, ddof=1),
                 (np.quantile(resid, 0.75) - np.quantile(resid, 0.25)) / 1.34)
    h = (stats.norm.ppf(quantile + h) - stats.norm.ppf(quantile - h)) * spread
    if not h > 0:
        raise ValueError(
            "se='ker' needs residuals with a positive spread; these have none "
            "(the fit interpolates the data)."
        )
    density = stats.norm.pdf(resid / h) / h
    return _sandwich(x, density, quantile, "X' diag(f) X")


def coefficient_table(beta, bse, alpha):
    """Columns of the summary: z values, two-sided normal p values, intervals."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / bse
    p_values = 2 * stats.norm.sf(np.abs(z))
    half = stats.norm.ppf(1 - alpha / 2) * bse
    return z, p_values, beta - half, beta + half


def _bootstrap_replicate(estimator, X, y, sample_weight, rows):
    """Coefficients (intercept first) refitted on ``rows``, or None if the fit fails."""
    X_rows = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    weights = None if sample_weight is None else sample_weight[rows]
    # Warnings of a replicate (a propensity floor, an uncertified finish) are not
    # the caller's: they are silenced alike in this process and in workers, so
    # the table does not depend on n_jobs or on the caller's warning filters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = estimator.fit(X_rows, y[rows], sample_weight=weights)
        except (ValueError, np.linalg.LinAlgError):
            return None  # e.g. a resample without events or complete rows
    beta = model._coefficient_matrix().ravel()  # levels after levels
    return beta if np.isfinite(beta).all() else None


def bootstrap_coefficients(estimator, X, y, sample_weight, *, n_boot, n_jobs,
                           random_state):
    """Pairs bootstrap: the whole estimator refitted on rows drawn with replacement.

    Each replicate refits everything the estimator estimates, the censoring
    distribution and the completeness propensity included, so the spread of the
    replicates carries the estimation of the weights (the analytic sandwiches
    treat them as known).

    Parameters
    ----------
    estimator : CensoredMissingQuantileRegressor
        Unfitted clone, refitted on each resample.
    X : ndarray or DataFrame of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Response or structured censored target.
    sample_weight : ndarray of shape (n_samples,) or None
    n_boot : int
        Number of resamples.
    n_jobs : int or None
        joblib workers.
    random_state : int, RandomState instance or None
        Every resample is drawn here, before the work is shared out, so a seed
        gives the same replicates for any ``n_jobs``: the rows of replicate ``b``
        are ``check_random_state(random_state).randint(0, n, size=(n_boot, n))[b]``.

    Returns
    -------
    coefficients : ndarray of shape (n_succeeded, n_coef)
        Coefficients of the replicates whose fit succeeded, in draw order.
    n_failed : int
        Replicates whose fit failed (dropped).
    """
    rng = check_random_state(random_state)
    n = y.shape[0]
    draws = rng.randint(0, n, size=(n_boot, n))
    results = Parallel(n_jobs=n_jobs)(
        delayed(_bootstrap_replicate)(clone(estimator), X, y, sample_weight, rows)
        for rows in draws
    )
    kept = [beta for beta in results if beta is not None]
    n_failed = n_boot - len(kept)
    if 2 * n_failed > n_boot:
        raise ValueError(
            f"The fit failed in {n_failed} of {n_boot} bootstrap replicates (for "
            "instance resamples with too few events or complete rows): the "
            "bootstrap is not reliable on these data; use more data or an "
            "analytic se."
        )
    return np.array(kept), n_failed
