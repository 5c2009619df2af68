"""Linear quantile regression with censored responses and missing covariates."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .._numba import kernel_input
from .._utils import (
    blas_thread_limit,
    is_dask_collection,
    quiet_finiteness_check,
    scale_exponents,
    warn_at_caller,
)
from ..metrics import d2_ipcw_pinball_score
from ..survival import (
    CensoringDistributionEstimator,
    as_survival_target,
    check_survival_target,
    floor_probability,
    kernel_propensity,
)
from ._kernels import column_max_abs
from ._quantile_dask import (
    dask_blocks,
    final_weights,
    predict_dask,
    prepare_dask_problem,
    solve_quantile_dask,
)
from ._quantile_inference import (
    RANK_METHODS,
    SE_METHODS,
    bootstrap_coefficients,
    coefficient_table,
    quantile_covariance,
)
from ._quantile_rank import rank_intervals
from ._quantile_solver import (
    SCALE_SLACK_EXPONENT,
    solve_quantile,
    solve_quantile_process,
)

# With solver='exact', SQUAREM-accelerated MM maps before the LP finish: measured,
# six bring the fit to the perturbed optimum, which is all the finish needs.
_MM_MAPS_BEFORE_FINISH = 6
# Above this relative duality gap the fit warns that it is not certified optimal.
_CERTIFIED_GAP = 1e-6


def _incomplete_rows_message(missing, feature_names):
    """Why ``predict`` refuses rows with NaN, naming the columns that hold them."""
    columns = np.flatnonzero(missing.any(axis=0))
    labels = ([str(feature_names[j]) for j in columns] if feature_names is not None
              else columns.tolist())
    shown = ", ".join(map(repr, labels[:10]))
    if len(labels) > 10:
        shown += f" and {len(labels) - 10} more"
    return (
        f"X holds NaN in {int(missing.any(axis=1).sum())} row(s), in column(s) "
        f"[{shown}]: CensoredMissingQuantileRegressor.predict needs complete rows, "
        "as the linear predictor uses every feature. Impute those values or predict "
        "on the complete rows only (NaN is allowed in fit and score, where "
        "incomplete rows are reweighted or left out)."
    )


def _response(y):
    """The response of fit and of inference as ``check_survival_target`` reads it."""
    if not isinstance(y, tuple) and not hasattr(y, "columns"):
        y = np.asarray(y)  # a tuple is (event, time), a DataFrame keeps dtypes
    if not isinstance(y, tuple) and y.ndim == 2 and y.shape[1] == 1:
        warn_at_caller(
            "A column-vector y was passed when a 1d array was expected; it "
            "is flattened.", DataConversionWarning
        )
        y = np.asarray(y).ravel()
    # Any accepted form of a censored target (two-column DataFrame or array,
    # (event, time) tuple, scikit-survival's field names) becomes the
    # structured array that the censoring weights read.
    return as_survival_target(y)


class CensoredMissingQuantileRegressor(RegressorMixin, BaseEstimator):
    """Linear quantile regression by MM, weighted for censoring and missing covariates.

    Minimises the weighted check loss ``sum_i w_i rho_q(T_i - b - x_i' beta)`` with

    ``w_i = s_i * event_i / G(T_i-) * complete_i / p_i``:

    - ``s_i``, the sample weight;
    - ``event_i / G(T_i-)``, the inverse probability of censoring weight, ``G`` the
      Kaplan-Meier estimate of the censoring distribution (censored responses get
      weight 0, observed ones stand in for them);
    - ``complete_i / p_i``, the inverse probability of being complete, ``p_i`` a
      Nadaraya-Watson estimate from the response and the covariates that are never
      missing (rows with a missing covariate get weight 0).

    Rows of weight 0 drop out. With neither censoring nor missing values this is
    ordinary (weighted) linear quantile regression, and the solution is the exact
    linear-programming optimum.

    The fit runs the MM algorithm of Hunter & Lange (2000) (a perturbed check loss
    majorised by a quadratic: one weighted least-squares solve per iteration),
    accelerated by SQUAREM and warm-started on a subsample of large data, then an
    exact finish: the rows whose
    residual sign is settled are aggregated, the linear program on the others is
    solved by HiGHS, and optimality is certified by the duality gap of the whole
    problem (``duality_gap_``).

    The fit runs on an exactly equivalent problem (weights, response and columns
    divided by powers of two), so values near float64's limits and
    ill-conditioned designs are fitted; the rank is decided by pivoted QR on
    columns of unit norm, and only designs with linearly dependent columns are
    refused.

    Parameters
    ----------
    quantile : float or array-like of shape (n_quantiles,), default=0.5
        The quantile to estimate, in (0, 1), or strictly increasing levels in
        (0, 1): the quantile process, one coefficient row per level. The levels
        are fitted in sequence, each exact solution warm-starting the next level's
        linear program (19 levels cost a few single fits, not 19).
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    censoring : {'auto', 'ignore', 'drop'}, default='auto'
        ``'auto'``: inverse probability of censoring weights when ``y`` is a
        censored target. ``'ignore'``: treat censored times as observed (biased,
        for comparison). ``'drop'``: drop censored rows without reweighting
        (biased, for comparison).
    missing : {'auto', 'drop'}, default='auto'
        ``'auto'``: inverse probability weights of complete rows when ``X`` holds
        NaN. ``'drop'``: complete-case fit without reweighting (biased unless the
        data are missing completely at random).
    kernel : {'gaussian', 'epanechnikov'}, default='gaussian'
        Product kernel of the completeness probability.
    bandwidth : {'scott', 'silverman'} or float, default='scott'
        Bandwidth rule or value (in standard deviations) of that kernel.
    propensity_features : array-like of int or str, str or None, default=None
        Columns of ``X`` (never missing) that, with the response, predict
        completeness: indices, or column names when ``X`` is a pandas DataFrame;
        None uses every column without NaN. The kernel estimate is exact while
        that is cheap, binned in up to 3 conditioning variables, and on 2 leading
        directions beyond (see :func:`statopt.survival.kernel_propensity`,
        ``method='auto'``).
    propensity_model : classifier or None, default=None
        A scikit-learn classifier with ``predict_proba`` (for instance
        ``HistGradientBoostingClassifier``) fitted, as a clone, on the response and
        the ``propensity_features`` to predict whether a row is complete; its
        probabilities replace the kernel estimate (``kernel`` and ``bandwidth``
        are then unused). None uses the kernel estimate.
    min_propensity : float, default=0.01
        Floor of the completeness probabilities (a warning says when it is used).
    solver : {'exact', 'mm'}, default='exact'
        ``'exact'``: MM, then the certified exact finish. ``'mm'``: MM alone until
        the step is below ``tol`` (the published algorithm; the minimiser of the
        perturbed loss, close to but not exactly the LP solution).
    epsilon : float, default=1e-2
        Perturbation of the check loss, relative to the mean absolute residual of a
        least-squares start (so it is in the units of y).
    tol : float, default=1e-6
        With ``solver='mm'``, stop when no coefficient moves by more than ``tol``
        times the residual scale.
    max_iter : int, default=100
        Maximum number of MM iterations (maps) on the full data. With
        ``solver='exact'`` at most 6, combined by SQUAREM, precede the exact
        finish.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsample that warm-starts MM on large data. The solution of
        ``solver='exact'`` does not depend on it (up to ties in the LP).
    verbose : int, default=0
        Print the progress of the fit when positive.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_quantiles, n_features)
        Slopes; one row per level when ``quantile`` is an array.
    intercept_ : float or ndarray of shape (n_quantiles,)
        Intercept (0.0 when ``fit_intercept=False``); one per level when
        ``quantile`` is an array.
    quantiles_ : ndarray of shape (n_quantiles,)
        The levels fitted (one for a scalar ``quantile``).
    n_iter_ : int or ndarray of shape (n_quantiles,)
        MM iterations (maps) on the full data (per level for an array of levels:
        a warm-started level runs MM only if its reduced LP cannot settle). A
        fit on Dask arrays certified in two passes runs none (0).
    duality_gap_ : float or ndarray of shape (n_quantiles,)
        Relative duality gap of the linear program at the solution: an upper
        bound of the excess check loss over the optimum, relative to the check
        loss (or, for a fit through every point, to 1e-6 of the rounding scale
        ``sum_i w_i (|y_i| + sum_j |x_ij beta_j|)``). About 1e-15 when certified
        optimal, also at degenerate optima (ties); above 1e-6 the fit warns. NaN
        with ``solver='mm'``.
    weights_ : ndarray of shape (n_samples,)
        The weights ``w_i`` of the training rows (a lazy Dask array after a fit
        on Dask arrays).
    censoring_distribution_ : CensoringDistributionEstimator or None
        The fitted censoring survival ``G`` (its ``unique_times_`` and
        ``survival_``), when inverse censoring weights were used.
    propensity_ : ndarray of shape (n_samples,) or None
        Estimated completeness probabilities, when missing values were weighted.
    propensity_model_ : classifier or None
        The fitted clone of ``propensity_model``, when it estimated
        ``propensity_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.linear_model.QuantileRegressor : Exact LP, no censoring or missing data.
    statopt.survival.censoring_weights : The censoring weights alone.
    statopt.survival.kernel_propensity : The completeness probabilities alone.
    statopt.metrics.d2_ipcw_pinball_score : The score of :meth:`score`.

    Notes
    -----
    The censoring weights assume the censoring time is independent of the
    response and covariates; quantiles above the largest level at which the
    response is observable (for instance, censoring at a fixed value) are not
    identifiable, whatever the weights.

    References
    ----------
    D. R. Hunter and K. Lange, "Quantile regression via an MM algorithm", J. Comput.
    Graph. Statist. 9 (2000) 60-77.
    S. Portnoy and R. Koenker, "The Gaussian hare and the Laplacian tortoise",
    Statist. Sci. 12 (1997) 279-300.

    Examples
    --------
    >>> from statopt import CensoredMissingQuantileRegressor
    >>> from statopt.datasets import make_censored_quantile_data
    >>> X, y, coef = make_censored_quantile_data(2000, censoring_rate=0.25,
    ...                                          missing_rate=0.3, random_state=0)
    >>> model = CensoredMissingQuantileRegressor(quantile=0.5).fit(X, y)
    >>> model.coef_.round(1)
    array([ 4.5, -2. ])
    """

    _parameter_constraints: dict = {
        "quantile": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "fit_intercept": ["boolean"],
        "censoring": [StrOptions({"auto", "ignore", "drop"})],
        "missing": [StrOptions({"auto", "drop"})],
        "kernel": [StrOptions({"gaussian", "epanechnikov"})],
        "bandwidth": [StrOptions({"scott", "silverman"}),
                      Interval(Real, 0, None, closed="neither")],
        "propensity_features": ["array-like", str, None],
        "propensity_model": [HasMethods(["fit", "predict_proba"]), None],
        "min_propensity": [Interval(Real, 0, 1, closed="neither")],
        "solver": [StrOptions({"exact", "mm"})],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        quantile=0.5,
        *,
        fit_intercept=True,
        censoring="auto",
        missing="auto",
        kernel="gaussian",
        bandwidth="scott",
        propensity_features=None,
        propensity_model=None,
        min_propensity=0.01,
        solver="exact",
        epsilon=1e-2,
        tol=1e-6,
        max_iter=100,
        random_state=None,
        verbose=0,
    ):
        self.quantile = quantile
        self.fit_intercept = fit_intercept
        self.censoring = censoring
        self.missing = missing
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.propensity_features = propensity_features
        self.propensity_model = propensity_model
        self.min_propensity = min_propensity
        self.solver = solver
        self.epsilon = epsilon
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _levels(self):
        """``quantile`` as a 1-D array of levels, and whether it was an array."""
        if isinstance(self.quantile, Real):
            return np.array([float(self.quantile)]), False
        try:
            levels = np.asarray(self.quantile, dtype=np.float64)
        except (TypeError, ValueError):
            levels = None
        scalar = levels is not None and levels.ndim == 0  # np.array(0.5)
        if scalar:
            levels = levels.reshape(1)
        if (levels is None or levels.ndim != 1 or levels.size == 0
                or not np.isfinite(levels).all()
                or not ((levels > 0) & (levels < 1)).all()
                or not (np.diff(levels) > 0).all()):
            raise ValueError(
                "quantile must be a float in (0, 1) or a non-empty 1-D array of "
                f"strictly increasing levels in (0, 1); got {self.quantile!r}."
            )
        return levels, not scalar

    @_fit_context(prefer_skip_nested_validation=True)
    @blas_thread_limit()
    def fit(self, X, y, sample_weight=None):
        """Fit the weighted linear quantile regression.

        ``X`` may be a Dask array chunked by rows (with ``y`` and
        ``sample_weight`` as Dask arrays chunked alike, or in memory): the fit
        is then the same exact solution, computed by chunked reductions on the
        active Dask scheduler without holding the rows (see the user guide,
        :ref:`scale`). On Dask arrays missing covariates need
        ``missing='drop'``, ``weights_`` is a lazy Dask array, and the
        inference methods refuse the fit.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Covariates; NaN marks a missing value.
        y : array-like of shape (n_samples,), structured array, DataFrame or tuple
            Responses, or a censored target: a structured array with fields
            ``event`` and ``time`` (or scikit-survival's, a boolean then a numeric
            field under any names), a two-column DataFrame or array with columns
            (event, time), or a tuple ``(event, time)`` (see
            :func:`statopt.survival.make_survival_target`). With a Dask ``X``: a
            1-D or structured Dask array, or a tuple of two Dask arrays.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows (a Dask array with a Dask ``X``).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        levels, process = self._levels()
        if is_dask_collection(X):
            return self._fit_dask(X, y, sample_weight, levels, process)
        with quiet_finiteness_check():
            X = validate_data(self, X, dtype=np.float64, order="C",
                              ensure_all_finite="allow-nan", ensure_min_samples=2)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        y = _response(y)
        event, time, censored = check_survival_target(y)
        if time.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} rows but y has {time.shape[0]}; they must match."
            )
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                       ensure_non_negative=True)
        # The fit runs on an exactly equivalent problem: weights, response and
        # columns divided by powers of two (exact in floating point) that bring
        # their largest entries to [1, 2). Weights of 1e300 or a response of 1e-300
        # then neither overflow nor underflow, and the rank is decided on
        # equilibrated columns (Longley, or income in cents, are full rank).
        weight_exponent = int(scale_exponents([weights.max()])[0])
        weights = np.ldexp(weights, -weight_exponent)
        weights = weights * self._censoring_weights(y, event, censored)
        maxima = np.empty(X.shape[1])
        if not column_max_abs(kernel_input(X), weights, maxima):
            # No NaN (validate_data has refused inf): spares two O(n p) scans.
            missing, complete = None, np.ones(X.shape[0], dtype=bool)
        else:
            missing = np.isnan(X)
            complete = ~missing.any(axis=1)
            # Scales from the complete rows only (incomplete ones drop out).
            column_max_abs(kernel_input(X), np.where(complete, weights, 0.0), maxima)
        weights = weights * self._missing_weights(X, time, complete, missing)
        if not weights.any():
            raise ValueError(
                "No row keeps a positive weight (every row is censored, incomplete "
                "or of zero sample_weight): there is nothing to fit."
            )
        # Again on the rows that stay: a sample weight of 1e300 on an incomplete
        # row must not leave the others at 1e-300, below what HiGHS resolves.
        final_exponent = int(scale_exponents([weights.max()])[0])
        weights = np.ldexp(weights, -final_exponent)
        weight_exponent += final_exponent
        offset = int(self.fit_intercept)
        exponents = np.zeros(X.shape[1] + offset, dtype=np.int64)
        exponents[offset:] = scale_exponents(maxima, SCALE_SLACK_EXPONENT)
        design = np.empty((X.shape[0], X.shape[1] + offset))
        design[:, 0] = 1.0
        with np.errstate(over="ignore"):  # in rows of weight 0 only (see below)
            if exponents.any():  # the division is the copy, at the cost of one
                np.divide(X, np.ldexp(1.0, exponents[offset:]),
                          out=design[:, offset:])
            else:
                design[:, offset:] = X
            # Scales come from the rows of positive weight: a row of weight 0
            # (censored, incomplete) must not shrink the others to subnormals.
            response_exponent = int(scale_exponents(
                [np.max(np.abs(time), where=weights > 0, initial=0.0)])[0])
            response = np.ldexp(time, -response_exponent)
        inactive = weights == 0
        if inactive.any():
            # Their scaled values may overflow or be NaN; any finite values will do.
            design[inactive] = 0.0
            response[inactive] = 0.0
        n_active = int(np.count_nonzero(weights))
        if n_active < design.shape[1]:
            raise ValueError(
                f"Only {n_active} rows keep a positive weight, fewer than the "
                f"{design.shape[1]} coefficients to fit."
            )
        options = self._solver_options()
        if process:
            beta, infos = solve_quantile_process(design, response, weights, levels,
                                                 **options)
        else:
            beta, info = solve_quantile(design, response, weights, levels[0],
                                        **options)
            beta, infos = beta[None, :], [info]
        self._store_solution(beta, infos, levels, process, response_exponent,
                             exponents, weights, weight_exponent)
        # The bootstrap of summary(se='boot') must resample the same sample_weight.
        self._fit_sample_weighted = sample_weight is not None
        return self

    def _solver_options(self):
        exact = self.solver == "exact"
        return dict(
            epsilon=self.epsilon,
            max_iter=min(self.max_iter, _MM_MAPS_BEFORE_FINISH) if exact
            else self.max_iter,
            step_tol=None if exact else self.tol,
            rng=check_random_state(self.random_state), exact=exact,
            verbose=self.verbose,
        )

    def _store_solution(self, beta, infos, levels, process, response_exponent,
                        exponents, weights, weight_exponent):
        """Warn, map the scaled solution back and set the fitted attributes."""
        self._warn_unsettled(levels, infos, self.solver == "exact")
        with np.errstate(over="ignore"):
            beta = np.ldexp(beta, response_exponent - exponents)
            # A Dask fit's weights come lazy and in the caller's units already.
            self.weights_ = (weights if is_dask_collection(weights)
                             else np.ldexp(weights, weight_exponent))
        if not np.isfinite(beta).all():
            raise ValueError(
                "The coefficients overflow float64 (the response is too large for "
                "the scale of X): rescale X or y before fitting."
            )
        self.quantiles_ = levels
        offset = int(self.fit_intercept)
        intercept = beta[:, 0].copy() if self.fit_intercept else np.zeros(len(levels))
        coef = beta[:, offset:].copy()
        n_iter = np.array([info["n_iter"] for info in infos])
        gaps = np.array([info["duality_gap"] for info in infos])
        if process:
            self.intercept_, self.coef_ = intercept, coef
            self.n_iter_, self.duality_gap_ = n_iter, gaps
        else:
            self.intercept_, self.coef_ = float(intercept[0]), coef[0]
            self.n_iter_, self.duality_gap_ = int(n_iter[0]), float(gaps[0])

    def _fit_dask(self, X, y, sample_weight, levels, process):
        """``fit`` on Dask arrays: the same problem, its passes as chunked reductions.

        See :mod:`._quantile_dask`. Missing covariates are supported with
        ``missing='drop'`` only; ``weights_`` is then a lazy Dask array.
        """
        blocks, time_event = dask_blocks(X, y, sample_weight)
        validate_data(self, X, skip_check_array=True)
        if self.propensity_model is not None and self.missing != "drop":
            raise ValueError(
                "propensity_model needs every row in memory; on dask arrays fit "
                "with missing='drop' and propensity_model=None, or compute X."
            )
        options = self._solver_options()
        rng = options.pop("rng")
        options.pop("exact")
        problem, self.censoring_distribution_ = prepare_dask_problem(
            blocks, time_event, fit_intercept=self.fit_intercept,
            censoring=self.censoring, missing=self.missing, rng=rng)
        self.propensity_ = self.propensity_model_ = None
        betas, infos = [], []
        for level in levels:
            beta, info = solve_quantile_dask(problem, level,
                                             exact=self.solver == "exact", **options)
            betas.append(beta)
            infos.append(info)
        scaling = problem.scaling
        offset = int(self.fit_intercept)
        exponents = np.zeros(blocks.n_features + offset, dtype=np.int64)
        exponents[offset:] = scaling.column_exponents
        self._store_solution(np.array(betas), infos, levels, process,
                             scaling.response_exponent, exponents,
                             final_weights(problem, scaling.weight_exponent
                                           + scaling.final_exponent), 0)
        self._fit_sample_weighted = sample_weight is not None
        return self

    def _warn_unsettled(self, levels, infos, exact):
        """Warn about levels whose fit is not certified (exact) or not converged."""
        for level, info in zip(levels, infos):
            where = f" at quantile {level:g}" if len(levels) > 1 else ""
            if exact and not info["duality_gap"] <= _CERTIFIED_GAP:
                warn_at_caller(
                    f"The exact finish could not certify its solution{where}: "
                    f"relative duality gap {info['duality_gap']:.3g} (optimal fits "
                    "reach about 1e-12).",
                    ConvergenceWarning
                )
            if not exact and not info["mm_converged"]:
                warn_at_caller(
                    f"MM stopped at max_iter={self.max_iter}{where} before its "
                    f"steps fell below tol={self.tol}; increase max_iter or use "
                    "solver='exact'.",
                    ConvergenceWarning
                )

    def _coefficient_matrix(self):
        """Coefficients, one row per level, intercept first when fitted."""
        coef = np.atleast_2d(self.coef_)
        if not self.fit_intercept:
            return coef.copy()
        return np.column_stack([np.atleast_1d(self.intercept_), coef])

    def _censoring_weights(self, y, event, censored):
        self.censoring_distribution_ = None
        if not censored or self.censoring == "ignore":
            return np.ones(event.size)
        if self.censoring == "drop":
            return event.astype(np.float64)
        self.censoring_distribution_ = CensoringDistributionEstimator().fit(y)
        return self.censoring_distribution_.predict_ipcw(y)

    def _missing_weights(self, X, time, complete, missing):
        self.propensity_ = None
        self.propensity_model_ = None
        if complete.all():
            return np.ones(X.shape[0])
        if not complete.any():
            raise ValueError(
                "Every row has a missing covariate (NaN): at least some complete "
                "rows are needed."
            )
        if self.missing == "drop":
            return complete.astype(np.float64)
        observed = ~missing.any(axis=0)
        if self.propensity_features is None:
            columns = np.flatnonzero(observed)
        else:
            columns = self._propensity_columns(X.shape[1])
            if not observed[columns].all():
                raise ValueError(
                    "propensity_features must name columns without NaN; columns "
                    f"{columns[~observed[columns]].tolist()} have missing values."
                )
        conditioning = np.column_stack([time, X[:, columns]])
        if self.propensity_model is None:
            self.propensity_ = kernel_propensity(
                complete, conditioning, kernel=self.kernel, bandwidth=self.bandwidth,
                min_probability=self.min_propensity,
            )
        else:
            self.propensity_ = self._model_propensity(conditioning, complete)
        return complete / self.propensity_

    def _propensity_columns(self, n_features):
        """``propensity_features`` as column indices, names resolved."""
        features = np.asarray(self.propensity_features).ravel()
        if features.dtype == object and all(isinstance(f, str) for f in features):
            features = features.astype(str)
        if features.dtype.kind == "U":
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise TypeError(
                    "propensity_features holds column names, but X has none (fit "
                    "on a pandas DataFrame to use names); pass column indices."
                )
            unknown = sorted(set(features) - set(names))
            if unknown:
                raise ValueError(
                    f"propensity_features names columns {unknown} that X does not "
                    f"have; its columns are {list(names)}."
                )
            position = {name: i for i, name in enumerate(names)}
            return np.array([position[f] for f in features], dtype=np.int64)
        if features.size and features.dtype.kind not in "iu":
            raise TypeError(
                "propensity_features must be column indices (int) or column names "
                f"(str), got {self.propensity_features!r}."
            )
        columns = features.astype(np.int64)
        if columns.size and (columns.min() < 0 or columns.max() >= n_features):
            raise ValueError(
                f"propensity_features must index the {n_features} columns of X, "
                f"got {columns.tolist()}."
            )
        return columns

    def _model_propensity(self, conditioning, complete):
        """Completeness probabilities from a clone of ``propensity_model``."""
        model = clone(self.propensity_model).fit(conditioning, complete)
        classes = np.asarray(model.classes_)
        probability = np.asarray(model.predict_proba(conditioning), dtype=np.float64)
        if (probability.shape != (complete.size, classes.size)
                or True not in classes or not np.isfinite(probability).all()):
            raise ValueError(
                "propensity_model must predict finite probabilities of the classes "
                f"False and True of completeness; {type(model).__name__} returned "
                f"shape {probability.shape} for classes {classes.tolist()}."
            )
        self.propensity_model_ = model
        return floor_probability(probability[:, list(classes).index(True)],
                                  complete, self.min_propensity)

    def predict(self, X, monotone=False):
        """Predict the conditional quantile(s).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Complete covariates: a row holding NaN is refused with a ValueError
            that names its columns.
        monotone : bool, default=False
            With an array of levels, rearrange each row's predictions to increase
            with the level (Chernozhukov, Fernandez-Val & Galichon 2010): linear
            fits at different levels can cross, and the rearranged curve is the
            quantile function of the fitted one's values, at least as close to
            the true conditional quantile function in every Lp norm. Without
            crossings the predictions are unchanged. One level is left as is.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_quantiles)
            ``intercept_ + X @ coef_``, one column per level when ``quantile`` is
            an array; a lazy Dask array, chunked as the rows, when ``X`` is a
            Dask array (an incomplete row raises when its chunk is computed).
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_dask(self._complete_prediction, X, monotone,
                                self.n_features_in_, np.ndim(self.coef_) == 2
                                and len(self.quantiles_))
        with quiet_finiteness_check():
            X = validate_data(self, X, dtype=np.float64, reset=False,
                              ensure_all_finite="allow-nan")
        return self._complete_prediction(X, monotone)

    def _complete_prediction(self, X, monotone):
        """Predictions of validated rows, refusing incomplete ones."""
        X = np.asarray(X, dtype=np.float64)
        missing = np.isnan(X)
        if missing.any():
            raise ValueError(_incomplete_rows_message(
                missing, getattr(self, "feature_names_in_", None)))
        prediction = self._predict(X)
        if monotone and prediction.ndim == 2:
            prediction = rearrange_quantiles(prediction, self.quantiles_)
        return prediction

    def _predict(self, X):
        with np.errstate(over="ignore", invalid="ignore"):
            prediction = X @ self.coef_.T + self.intercept_
        if not np.isfinite(prediction).all():
            raise ValueError(
                "The predictions overflow float64 (X @ coef_ is beyond its range "
                "for some rows): rescale X or the response."
            )
        return prediction

    def score(self, X, y, sample_weight=None):
        """D^2 of the pinball loss, weighted for censoring when ``y`` is censored.

        With an array of levels, the mean of the levels' scores.

        The censoring weights come from the Kaplan-Meier estimate of the censoring
        distribution of ``y`` itself, so held-out folds score on their own, as
        ``cross_val_score`` and ``GridSearchCV`` need. Rows with a missing
        covariate (NaN) cannot be predicted and are left out: the score is that of
        the complete rows, which under missingness at random may differ from the
        score of all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates; rows holding NaN are left out.
        y : array-like of shape (n_samples,), structured array, DataFrame or tuple
            Responses or censored target, in any form that :meth:`fit` accepts.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        score : float
            See :func:`statopt.metrics.d2_ipcw_pinball_score`.
        """
        check_is_fitted(self)
        with quiet_finiteness_check():
            X = validate_data(self, X, dtype=np.float64, reset=False,
                              ensure_all_finite="allow-nan")
        y = as_survival_target(y)  # a tuple (event, time) has length 2, not n_samples
        n_targets = len(y) if hasattr(y, "__len__") else None
        if n_targets != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} rows but y has "
                f"{'no length' if n_targets is None else n_targets}; they must match."
            )
        if sample_weight is not None and np.shape(sample_weight) != (X.shape[0],):
            raise ValueError(
                f"sample_weight has shape {np.shape(sample_weight)}, expected "
                f"({X.shape[0]},)."
            )
        complete = ~np.isnan(X).any(axis=1)
        if not complete.any():
            raise ValueError("Every row of X has a missing covariate; score needs "
                             "complete rows to predict.")
        if not complete.all():
            y = np.asarray(y)[complete]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[complete]
        prediction = self._predict(X[complete]).reshape(-1, len(self.quantiles_))
        # The process scores as the mean of its levels' scores.
        return float(np.mean([
            d2_ipcw_pinball_score(y, prediction[:, k], quantile=level,
                                  sample_weight=sample_weight)
            for k, level in enumerate(self.quantiles_)
        ]))

    _inference_constraints: dict = {
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "se": [StrOptions(set(SE_METHODS)), None],
        "bandwidth": [StrOptions({"hall_sheather", "bofinger"})],
        "n_boot": [Interval(Integral, 2, None, closed="left")],
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "random_state": ["random_state"],
        "sample_weight": ["array-like", None],
    }

    def summary(self, X, y, *, alpha=0.05, se=None, bandwidth="hall_sheather",
                n_boot=200, n_jobs=None, random_state=None, sample_weight=None):
        """Coefficient table: estimate, standard error, z, p value, interval.

        Standard errors as R quantreg's ``summary.rq`` computes them, with the
        weights of the fit (``weights_``) as ``rq``'s weights: rows, response and
        residuals are multiplied by them. Rows of weight 0 (a missing covariate,
        a censored response, a zero sample weight) are left out, as if not
        passed: R leaves out rows with a missing value but keeps rows of weight 0
        in ``n``, which shrinks its bandwidths and collapses its 'ker' density
        onto their zero residuals.

        Inference is computed on request from the data of the fit, passed again:
        ``fit`` stays as fast and the model as small as without inference (storing
        the design would double the memory of a fitted model). ``X`` and ``y``
        must be those given to ``fit``; with ``solver='exact'`` the coefficients
        are checked to be optimal for them.

        When the fit estimated weights (censoring, missing covariates), only
        ``se='boot'`` is valid: it resamples rows and refits the whole estimator,
        Kaplan-Meier censoring distribution and completeness propensity included,
        so the uncertainty of the weights enters the standard errors. It is the
        default then; ``'nid'`` is the default otherwise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The covariates of the fit.
        y : array-like of shape (n_samples,), structured array, DataFrame or tuple
            The response or censored target of the fit, in any form that
            :meth:`fit` accepts.
        alpha : float, default=0.05
            The intervals have level ``1 - alpha``.
        se : {'nid', 'iid', 'ker', 'boot', 'rank', 'rank_nid'} or None, \
default=None
            ``'iid'``: iid errors (Koenker & Bassett 1978); ``'nid'``:
            Hendricks-Koenker sandwich; ``'ker'``: Powell's kernel sandwich
            (see :mod:`statopt.linear_model._quantile_inference`); ``'boot'``:
            pairs bootstrap refitting the weights, standard errors the standard
            deviation of the replicates, z and p values from them, percentile
            intervals. ``'rank'``: intervals by inverting the regression
            rank-score test (Koenker 1994), as R's ``summary.rq(se="rank")``
            (``rq.fit.br(ci=TRUE, iid=TRUE, interp=TRUE)``, t critical value on
            ``n - p`` degrees of freedom); ``'rank_nid'``: the same with R's
            ``iid=FALSE`` scaling by Hendricks-Koenker densities (Koenker &
            Machado 1999). The rank methods give no standard errors (NaN in the
            table), need the exact fit (``solver='exact'``), may give infinite
            bounds (R returns +-1.8e308), and take time growing like
            ``n^1.5 p^2`` (see :mod:`statopt.linear_model._quantile_rank`); R
            uses them by default below 1001 rows, at its level 0.9: pass
            ``alpha=0.1`` to reproduce R's table. None: ``'boot'`` when the fit
            estimated censoring or missing-data weights, else ``'nid'``.
        bandwidth : {'hall_sheather', 'bofinger'}, default='hall_sheather'
            Bandwidth rule of the sparsity (R's ``hs=TRUE`` / ``hs=FALSE``);
            unused by ``'boot'`` and ``'rank'``; ``'rank_nid'`` always uses
            Hall-Sheather, as R's ``rq.fit.br`` does.
        n_boot : int, default=200
            Bootstrap replicates (``'boot'`` only). Replicates whose fit fails
            (a resample with no event, or no complete row) are dropped and
            counted in the header; more than half failing is an error.
        n_jobs : int or None, default=None
            joblib workers of the bootstrap (``'boot'`` only); -1 uses every core.
        random_state : int, RandomState instance or None, default=None
            Seed of the bootstrap resamples (``'boot'`` only); a seed gives the
            same table for any ``n_jobs``.
        sample_weight : array-like of shape (n_samples,), default=None
            The ``sample_weight`` of the fit, which the bootstrap resamples with
            the rows (``'boot'`` only; the analytic methods read ``weights_``).

        Returns
        -------
        table : pandas.DataFrame or QuantileSummary
            Rows: ``'intercept'`` (when fitted), then the feature names (or
            ``x0, x1, ...``); columns ``coef``, ``std err``, ``z``, ``P>|z|``
            and the interval bounds ``[alpha/2`` and ``1-alpha/2]`` (``std
            err``, ``z`` and ``P>|z|`` are NaN for the rank methods). z and p
            values use the normal distribution (R prints t values with
            ``n - p`` degrees of freedom). ``str(table)`` prints a header (the
            method, whether it was the default, the bootstrap replicates kept
            and dropped, and, for an analytic method after estimated weights,
            that the standard errors treat them as known) above the table.
            Without pandas, an object with the same ``values``, ``index``,
            ``columns`` and ``header`` that prints likewise.
        """
        beta, bse, z, p_values, lower, upper, header = self._inference(
            X, y, alpha, se, bandwidth, n_boot, n_jobs, random_state, sample_weight)
        columns = ["coef", "std err", "z", "P>|z|",
                   f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"]
        values = np.column_stack([beta, bse, z, p_values, lower, upper])
        return _summary_table(values, self._row_labels, columns, header)

    def conf_int(self, X, y, *, alpha=0.05, se=None, bandwidth="hall_sheather",
                 n_boot=200, n_jobs=None, random_state=None, sample_weight=None):
        """Confidence intervals of the coefficients, intercept first.

        Parameters and methods as in :meth:`summary`.

        Returns
        -------
        intervals : pandas.DataFrame or ndarray of shape (n_terms, 2)
            Columns ``lower`` and ``upper``, rows the terms of :meth:`summary`.
        """
        *_, lower, upper, _ = self._inference(
            X, y, alpha, se, bandwidth, n_boot, n_jobs, random_state, sample_weight)
        values = np.column_stack([lower, upper])
        pd = _pandas()
        if pd is None:
            return values
        return pd.DataFrame(values, index=self._row_labels(pd),
                            columns=["lower", "upper"])

    def bse(self, X, y, *, se=None, bandwidth="hall_sheather", n_boot=200,
            n_jobs=None, random_state=None, sample_weight=None):
        """Standard errors of the coefficients, intercept first.

        Parameters and methods as in :meth:`summary`.

        Returns
        -------
        bse : pandas.Series or ndarray of shape (n_terms,)

        Raises
        ------
        ValueError
            For ``se='rank'`` and ``'rank_nid'``, which give intervals and no
            standard errors (use :meth:`conf_int`).
        """
        if isinstance(se, str) and se in RANK_METHODS:
            raise ValueError(
                f"se='{se}' inverts the rank-score test: it gives confidence "
                "intervals (conf_int, summary) and no standard errors; choose "
                "se='nid', 'iid', 'ker' or 'boot' for standard errors."
            )
        values = self._inference(X, y, 0.05, se, bandwidth, n_boot, n_jobs,
                                 random_state, sample_weight)[1]
        pd = _pandas()
        if pd is None:
            return values
        return pd.Series(values, index=self._row_labels(pd), name="std err")

    def _term_names(self):
        names = list(getattr(self, "feature_names_in_",
                             [f"x{j}" for j in range(self.n_features_in_)]))
        return ["intercept", *names] if self.fit_intercept else names

    def _row_labels(self, pd=None):
        """Rows of the tables: the terms, or (level, term) pairs for a process.

        A pandas MultiIndex (``quantile``, ``term``) when ``pd`` is given, else
        labels such as ``'q=0.25 income'``.
        """
        terms = self._term_names()
        if np.ndim(self.coef_) == 1:
            return terms
        if pd is not None:
            return pd.MultiIndex.from_product([self.quantiles_, terms],
                                              names=["quantile", "term"])
        return [f"q={level:g} {term}" for level in self.quantiles_ for term in terms]

    def _estimated_weights(self):
        return [what for what, model in (
            ("censoring", self.censoring_distribution_),
            ("missing covariates", self.propensity_),
        ) if model is not None]

    def _summary_header(self, se, bandwidth, alpha, n_rows, default, boot=None):
        chosen = ""
        if default:
            chosen = (" (the default: the weights were estimated)" if se == "boot"
                      else " (the default without estimated weights)")
        if se == "boot":
            n_boot, n_failed = boot
            method = (f"{SE_METHODS[se]}, {n_boot - n_failed} of {n_boot} "
                      f"replicates ({n_failed} failed fits dropped)")
        elif se == "rank":
            method = f"{SE_METHODS[se]}; no standard errors"
        elif se in RANK_METHODS:
            method = (f"{SE_METHODS[se]}, hall_sheather bandwidth; no standard "
                      "errors")
        else:
            method = f"{SE_METHODS[se]}, {bandwidth} bandwidth"
        levels = self.quantiles_
        if np.ndim(self.coef_) == 1:
            level_text = f"quantile={levels[0]:g}"
        elif levels.size <= 6:
            level_text = "quantiles=" + ", ".join(f"{q:g}" for q in levels)
        else:
            level_text = (f"{levels.size} quantiles from {levels[0]:g} to "
                          f"{levels[-1]:g}")
        what = "intervals" if se in RANK_METHODS else "standard errors"
        lines = [
            f"{type(self).__name__}: {level_text}, "
            f"rows={n_rows}, intervals at {1 - alpha:g}",
            f"{what.capitalize()}: se='{se}'{chosen}, {method}",
        ]
        estimated = self._estimated_weights()
        if estimated and se != "boot":
            lines.append(
                "Warning: the weights for " + " and ".join(estimated) + " were "
                f"estimated; these analytic {what} treat them as known "
                "and are not valid for that (se='boot' re-estimates them)."
            )
        return "\n".join(lines)

    def _inference(self, X, y, alpha, se, bandwidth, n_boot, n_jobs, random_state,
                   sample_weight):
        """Validate the request; coefficients, errors, z, p, intervals, header."""
        if isinstance(n_boot, bool) or isinstance(n_jobs, bool):
            raise TypeError("n_boot and n_jobs must be integers, not bool.")
        validate_parameter_constraints(
            self._inference_constraints,
            {"alpha": alpha, "se": se, "bandwidth": bandwidth, "n_boot": n_boot,
             "n_jobs": n_jobs, "random_state": random_state,
             "sample_weight": sample_weight},
            caller_name=type(self).__name__ + " inference",
        )
        check_is_fitted(self)
        if is_dask_collection(self.weights_):
            raise ValueError(
                "Inference (summary, conf_int, bse) needs the rows in memory, and "
                "this model was fitted on dask arrays: fit it again on computed "
                "arrays (X.compute(), ...) for its standard errors."
            )
        default = se is None
        if default:
            se = "boot" if self._estimated_weights() else "nid"
        X_given = X
        beta, bse, n_rows = self._standard_errors(X, y, se, bandwidth, alpha)
        if se in RANK_METHODS:
            # Intervals only: R's rank inversion gives no standard errors.
            lower, upper = bse
            nan = np.full(beta.shape, np.nan)
            header = self._summary_header(se, bandwidth, alpha, n_rows, default)
            return beta, nan, nan, nan, lower, upper, header
        if se != "boot":
            header = self._summary_header(se, bandwidth, alpha, n_rows, default)
            return (beta, bse, *coefficient_table(beta, bse, alpha), header)
        if (sample_weight is not None) != getattr(self, "_fit_sample_weighted",
                                                  False):
            raise ValueError(
                "se='boot' refits the model and needs the sample_weight of fit: "
                + ("pass it again (sample_weight=...)." if sample_weight is None
                   else "the fit had none, so pass none.")
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, self.weights_,
                                                 dtype=np.float64,
                                                 ensure_non_negative=True)
        if not hasattr(X_given, "iloc"):
            with quiet_finiteness_check():
                X_given = validate_data(self, X_given, dtype=np.float64,
                                        reset=False, ensure_all_finite="allow-nan")
        replicates, n_failed = bootstrap_coefficients(
            clone(self).set_params(verbose=0), X_given, _response(y), sample_weight,
            n_boot=n_boot, n_jobs=n_jobs, random_state=random_state)
        bse = np.std(replicates, axis=0, ddof=1)
        z, p_values, _, _ = coefficient_table(beta, bse, alpha)
        lower, upper = np.quantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
        header = self._summary_header(se, bandwidth, alpha, n_rows, default,
                                      (n_boot, n_failed))
        return beta, bse, z, p_values, lower, upper, header

    def _standard_errors(self, X, y, se, bandwidth, alpha=0.05):
        """Coefficients, analytic standard errors and the number of rows used.

        Coefficients and errors are flat, level after level (intercept first in
        each); the errors are None for ``se='boot'``, and for the rank methods
        the pair (lower bounds, upper bounds) at level ``1 - alpha``.
        """
        with quiet_finiteness_check():
            X = validate_data(self, X, dtype=np.float64, reset=False,
                              ensure_all_finite="allow-nan")
        if y is None:
            raise ValueError("Inference needs y, the response passed to fit.")
        _, time, _ = check_survival_target(_response(y))
        if not time.shape[0] == X.shape[0] == self.weights_.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} rows and y {time.shape[0]}, but the fit had "
                f"{self.weights_.shape[0]}: inference needs the data of the fit."
            )
        # Rows of weight 0 (censored, incomplete or of zero sample_weight) leave
        # the fit unchanged; they are left out here too.
        kept = self.weights_ > 0
        offset = int(self.fit_intercept)
        design = np.empty((int(kept.sum()), X.shape[1] + offset))
        design[:, 0] = 1.0
        design[:, offset:] = X[kept]
        time, weights = time[kept], self.weights_[kept]
        betas = self._coefficient_matrix()
        if self.solver == "exact":
            for beta, level in zip(betas, self.quantiles_):
                _check_optimal(design, time, weights, beta, level)
        if se == "boot":
            return betas.ravel(), None, design.shape[0]

        def refit(design, y, weights, level):
            model = type(self)(level, fit_intercept=False)
            return model.fit(design, y, sample_weight=weights).coef_

        if se in RANK_METHODS:
            bounds = [rank_intervals(design, time, weights, level, alpha, beta=beta,
                                     iid=se == "rank", refit=refit)
                      for beta, level in zip(betas, self.quantiles_)]
            return (betas.ravel(), tuple(np.concatenate(side) for side in
                                         zip(*bounds)), design.shape[0])
        bse = [np.sqrt(np.diag(quantile_covariance(
            design, time, beta, weights, level, se=se, bandwidth=bandwidth,
            refit=refit))) for beta, level in zip(betas, self.quantiles_)]
        return betas.ravel(), np.concatenate(bse), design.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        return tags


def rearrange_quantiles(predictions, levels):
    """Monotone rearrangement of quantile predictions across levels.

    Each row of ``predictions`` is read as a step function of the level, constant
    on a cell around each level: the cells' bounds are the midpoints between
    levels, and the end cells are symmetric about the first and last level. Its
    increasing rearrangement (Chernozhukov, Fernandez-Val & Galichon 2010), the
    quantile function of its values weighted by the cells' lengths, is evaluated
    at each level; for equally spaced levels it sorts the row.

    Parameters
    ----------
    predictions : ndarray of shape (n_samples, n_quantiles)
    levels : ndarray of shape (n_quantiles,)
        Strictly increasing levels in (0, 1).

    Returns
    -------
    rearranged : ndarray of shape (n_samples, n_quantiles)
    """
    if levels.size == 1:
        return predictions.copy()
    middle = (levels[1:] + levels[:-1]) / 2
    bounds = np.concatenate([[2 * levels[0] - middle[0]], middle,
                             [2 * levels[-1] - middle[-1]]])
    widths = np.diff(bounds)
    order = np.argsort(predictions, axis=1, kind="stable")
    ordered = np.take_along_axis(predictions, order, axis=1)
    # Level u falls in the sorted cell whose cumulative width first exceeds it.
    cumulative = bounds[0] + np.cumsum(widths[order], axis=1)
    n_samples, n_levels = predictions.shape
    position = np.empty(predictions.shape, dtype=np.intp)
    # Rows in chunks: the comparison holds chunk x levels x levels booleans.
    chunk = max(1, 2**22 // n_levels**2)
    for start in range(0, n_samples, chunk):
        block = cumulative[start:start + chunk]
        position[start:start + chunk] = np.count_nonzero(
            block[:, :, None] <= levels[None, None, :], axis=1)
    np.minimum(position, n_levels - 1, out=position)
    return np.take_along_axis(ordered, position, axis=1)


def _check_optimal(design, y, weights, beta, quantile):
    """Refuse data for which ``beta`` is not the weighted quantile regression optimum.

    The subgradient condition of the check loss: the weighted scores of the rows
    off the fit, ``sum_i w_i x_i (tau - 1{r_i < 0})``, must be cancelled by rows on
    the fit (``r_i = 0``), each contributing at most ``w_i |x_i| max(tau, 1 - tau)``.
    Data other than the fit's fail it by far.
    """
    # Powers of two keep the products below from overflowing (weights of 1e300).
    weights = np.ldexp(weights, -int(np.frexp(weights.max())[1]))
    exponents = np.frexp(np.max(np.abs(design), axis=0))[1]
    design = np.ldexp(design, -exponents)
    beta = np.ldexp(beta, exponents)
    resid = y - design @ beta
    on_fit = np.abs(resid) <= 1e-9 * (np.abs(y) + np.abs(design) @ np.abs(beta))
    score = np.where(on_fit, 0.0, weights * (quantile - (resid < 0)))
    slack = np.abs(design).T @ np.where(on_fit, weights, 0.0)
    scale = np.abs(design).T @ weights
    if np.any(np.abs(design.T @ score)
              > max(quantile, 1 - quantile) * slack + 1e-6 * scale):
        raise ValueError(
            "The coefficients are not the optimum for this X and y: inference "
            "needs the data (and sample order) passed to fit."
        )


class QuantileSummary:
    """Coefficient table of :meth:`CensoredMissingQuantileRegressor.summary`.

    Returned without pandas: ``values`` (one row per term), ``index`` (term
    names), ``columns`` and ``header``; ``str()`` prints the table.
    """

    def __init__(self, values, index, columns, header):
        self.values, self.index, self.columns = values, index, columns
        self.header = header

    def to_string(self):
        width = max(len(name) for name in self.index)
        lines = [self.header,
                 " " * width + "".join(f"{c:>12}" for c in self.columns)]
        for name, row in zip(self.index, self.values):
            lines.append(f"{name:<{width}}" + "".join(f"{v:12.5g}" for v in row))
        return "\n".join(lines)

    __str__ = __repr__ = to_string


_SUMMARY_FRAME = []


def _pandas():
    """pandas if installed (an optional dependency), else None."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _summary_table(values, row_labels, columns, header):
    """The summary table; ``row_labels(pd)`` names its rows."""
    pd = _pandas()
    if pd is None:
        return QuantileSummary(values, row_labels(), columns, header)
    if not _SUMMARY_FRAME:
        # Defined on first use: pandas is optional.
        class SummaryFrame(pd.DataFrame):
            """A DataFrame that prints its ``header`` above the table."""

            _metadata = ["header"]

            @property
            def _constructor(self):
                return SummaryFrame

            def __repr__(self):
                return f"{getattr(self, 'header', '')}\n{super().__repr__()}"

            def _repr_html_(self):
                title = str(getattr(self, "header", "")).replace("\n", "<br>")
                return f"<p>{title}</p>{super()._repr_html_()}"

        _SUMMARY_FRAME.append(SummaryFrame)
    table = _SUMMARY_FRAME[0](values, index=row_labels(pd), columns=columns)
    table.header = header
    return table
