"""The quantile process plot, as R quantreg's ``plot(summary(rq(tau = ...)))``."""

import numpy as np
from scipy import stats
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ..survival import check_survival_target


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # an optional dependency
        raise ImportError(
            "plot_quantile_process needs matplotlib: pip install matplotlib "
            "(or pip install 'statopt[plot]')."
        ) from error
    return plt


def _least_squares(model, X, y, alpha):
    """Weighted least squares with the fit's row weights, and its intervals.

    The mean regression under the same censoring and missing-data weights as the
    quantile fit (the rows of weight 0 drop out), so the two describe the same
    population; its intervals are the classical ones (t with ``n - p`` degrees of
    freedom) and treat those weights as known.
    """
    kept = model.weights_ > 0
    X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan")[kept]
    _, response, _ = check_survival_target(y, allow_all_censored=True)
    response = response[kept]
    weights = model.weights_[kept] / model.weights_[kept].mean()
    design = np.column_stack([np.ones(X.shape[0]), X]) if model.fit_intercept else X
    root = np.sqrt(weights)
    beta, _, rank, _ = np.linalg.lstsq(design * root[:, None], response * root,
                                       rcond=None)
    n, p = design.shape
    if rank < p or n <= p:
        return beta, None
    residual = response - design @ beta
    sigma2 = weights @ residual**2 / (n - p)
    gram = design.T @ (design * weights[:, None])
    errors = np.sqrt(sigma2 * np.diag(np.linalg.inv(gram)))
    half = stats.t.ppf(1 - alpha / 2, n - p) * errors
    return beta, np.column_stack([beta - half, beta + half])


def plot_quantile_process(model, X, y, *, alpha=0.05, se=None, least_squares=True,
                          n_cols=3, axes=None, **inference_options):
    """Plot each coefficient of a quantile process against the level.

    One panel per term (intercept first): the estimates at the fitted levels
    joined by a line, their pointwise confidence band (``model.summary``), and,
    as R's ``plot(summary(rq(tau = ...)))`` draws them, the least-squares
    estimate and its interval as horizontal lines, to show where the effect of a
    covariate differs across the conditional distribution from its effect on the
    mean.

    Parameters
    ----------
    model : CensoredMissingQuantileRegressor
        Fitted with an array of at least two levels (``quantile=[...]``).
    X : array-like of shape (n_samples, n_features)
        The covariates of the fit.
    y : array-like, structured array, DataFrame or tuple
        The response or censored target of the fit.
    alpha : float, default=0.05
        The bands have level ``1 - alpha``.
    se : {'nid', 'iid', 'ker', 'boot'} or None, default=None
        Method of the intervals, as in ``model.summary`` (None: ``'boot'`` when
        the weights were estimated, else ``'nid'``).
    least_squares : bool, default=True
        Draw the least-squares estimate, weighted by the fit's row weights
        (``model.weights_``), with its classical interval (which treats those
        weights as known).
    n_cols : int, default=3
        Panels per row of a new figure.
    axes : array-like of matplotlib Axes or None, default=None
        One per term; None makes a new figure.
    **inference_options
        Passed to ``model.summary``: ``bandwidth``, ``n_boot``, ``n_jobs``,
        ``random_state``, ``sample_weight``.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One per term, in the order of ``model.summary``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from statopt import CensoredMissingQuantileRegressor
    >>> from statopt.plotting import plot_quantile_process
    >>> engel = sm.datasets.engel.load_pandas().data
    >>> X, y = engel[["income"]], engel["foodexp"]
    >>> levels = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
    >>> model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    >>> axes = plot_quantile_process(model, X, y)  # doctest: +SKIP
    """
    check_is_fitted(model, "quantiles_")
    levels = np.asarray(model.quantiles_)
    if np.ndim(model.coef_) != 2 or levels.size < 2:
        raise ValueError(
            "plot_quantile_process needs a model fitted with at least two levels "
            "(quantile=[0.1, 0.25, ...]); this one has "
            f"{'one level' if np.ndim(model.coef_) == 1 else f'{levels.size}'}."
        )
    if isinstance(n_cols, bool) or not isinstance(n_cols, int | np.integer) \
            or n_cols < 1:
        raise ValueError(f"n_cols must be a positive integer, got {n_cols!r}.")
    plt = _pyplot()
    table = model.summary(X, y, alpha=alpha, se=se, **inference_options)
    features = getattr(model, "feature_names_in_",
                       [f"x{j}" for j in range(model.n_features_in_)])
    terms = ["intercept", *features] if model.fit_intercept else list(features)
    n_terms = len(terms)
    # Rows: level after level, the terms within; columns coef, ..., lower, upper.
    values = np.asarray(table.values, dtype=np.float64).reshape(levels.size,
                                                                 n_terms, -1)
    coefficients, bands = values[:, :, 0], values[:, :, 4:6]
    if axes is None:
        n_rows = -(-n_terms // n_cols)
        columns = min(n_cols, n_terms)
        _, axes = plt.subplots(n_rows, columns, figsize=(4 * columns, 3 * n_rows),
                               squeeze=False, layout="constrained")
        for extra in axes.ravel()[n_terms:]:
            extra.set_visible(False)
    axes = np.asarray(axes, dtype=object).ravel()
    if axes.size < n_terms:
        raise ValueError(f"axes must hold one Axes per term ({n_terms}), got "
                         f"{axes.size}.")
    reference = _least_squares(model, X, y, alpha) if least_squares else None
    for j, (name, ax) in enumerate(zip(terms, axes)):
        ax.fill_between(levels, bands[:, j, 0], bands[:, j, 1], color="0.8",
                        label=f"{1 - alpha:g} band")
        ax.plot(levels, coefficients[:, j], "o-", color="black", markersize=3,
                label="quantile regression")
        if reference is not None:
            beta, ls_interval = reference
            ax.axhline(beta[j], color="tab:red", label="least squares")
            if ls_interval is not None:
                for bound in ls_interval[j]:
                    ax.axhline(bound, color="tab:red", linestyle="--")
        ax.set_title(str(name))
        ax.set_xlabel("quantile level")
    axes[0].legend(fontsize="small")
    return axes[:n_terms]
