"""Simulators of the published experiments."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_correlated_logistic(n_samples=1000, n_features=19, *, rho=0.3,
                             random_state=None):
    """Simulate a logistic model with equicorrelated Gaussian covariates.

    Rows are ``x ~ N(0, (1 - rho) I + rho 1 1')``; the true parameters (intercept and
    ``n_features`` slopes) are drawn from ``U(-1, 1)``; labels are Bernoulli with
    probability ``1 / (1 + exp(-(beta_0 + x' beta)))``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=19
        Number of covariates (the intercept comes on top).
    rho : float, default=0.3
        Correlation between any two covariates, in [0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Covariates.
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    coef : ndarray of shape (n_features + 1,)
        True parameters, the intercept first.

    Examples
    --------
    >>> from statopt.datasets import make_correlated_logistic
    >>> X, y, coef = make_correlated_logistic(500, 5, rho=0.3, random_state=0)
    >>> X.shape, y.shape, coef.shape
    ((500, 5), (500,), (6,))
    >>> float(round(np.corrcoef(X[:, 0], X[:, 1])[0, 1], 1))
    0.3
    """
    rng = check_random_state(random_state)
    coef = rng.uniform(-1.0, 1.0, size=n_features + 1)
    # (1 - rho) I + rho 11' is the covariance of sqrt(1 - rho) e + sqrt(rho) s 1.
    shared = rng.standard_normal((n_samples, 1))
    X = np.sqrt(1.0 - rho) * rng.standard_normal((n_samples, n_features))
    X += np.sqrt(rho) * shared
    logits = coef[0] + X @ coef[1:]
    y = (rng.uniform(size=n_samples) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
    return X, y, coef
