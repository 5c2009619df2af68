"""Logistic regression fitted by Adam and related first-order methods."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .._numba import kernel_input
from .._utils import (
    ScaledWeightScoreMixin,
    blas_thread_limit,
    is_dask_collection,
    validated,
    warn_at_caller,
)
from ..optim import RULE_CODES, stream_partial_fit
from ._kernels import (
    EpochState,
    epoch_settings,
    logistic_epoch,
    logistic_epoch_sparse,
    logistic_loss,
    logistic_loss_gradient,
)
from ._logistic_newton import (
    MAX_NEWTON_PARAMS,
    HessianOperator,
    newton_model,
    proximal_newton,
    smooth_derivatives,
    sparse_loss_gradient,
)

# Step-size adaptation of the variance-reduced phase: grow after an epoch that
# lowered the objective, shrink (and undo the epoch) after one that did not.
_GROW, _SHRINK, _MAX_REJECTIONS = 1.5, 0.5, 40
# With variance reduction to follow, the stochastic phase only has to bring the
# iterate near the optimum: it hands over once an epoch gains less than this share
# of the objective, which ill-conditioned problems reach long before a plateau.
_HANDOVER_TOL = 1e-3
# A stochastic epoch updates every parameter once per minibatch. When those dense
# updates cost more than this many reads of X's stored entries (sparse, wide data:
# density below about 1 / batch_size), an epoch is dearer than a Newton-CG step of
# the finish, which reads X a few times: 'auto' then starts with the finish.
_UPDATE_BOUND_RATIO = 4.0
# An iteration makes at least this many updates: on small data it takes several
# passes, so that one iteration makes comparable progress whatever n_samples is.
_MIN_UPDATES = 50
# Largest |X| accepted: the Hessian sums n squared entries, which must stay finite.
_MAX_ABS_X = 1e100


def _quiet_validation():
    """Silence the RuntimeWarning that scikit-learn's finiteness check itself
    raises on mixed infinities (inf + -inf), ahead of its clear ValueError."""
    return np.errstate(invalid="ignore", over="ignore")


class AdamLogisticRegression(ScaledWeightScoreMixin, LinearClassifierMixin,
                             ClassifierMixin, BaseEstimator):
    """Logistic regression fitted by Adam or a related first-order method.

    Minimises the same penalised objective as scikit-learn's
    :class:`~sklearn.linear_model.LogisticRegression`,
    ``C * sum_i s_i loss_i + penalty(w)``, by minibatch epochs whose inner loop is
    compiled with numba. Binary problems use the logistic link; more than two classes
    use the multinomial (softmax) model with one coefficient row per class.

    Constant-step Adam stalls above the optimum: its iterates wander in a noise ball
    whose size is set by the learning rate, and on weakly regularised, L1 or
    unscaled problems even noise-free first-order steps take thousands of epochs.
    The default fit therefore has two phases:

    1. *stochastic phase*: minibatch epochs of the chosen rule with tail
       (Polyak-Ruppert) averaging of the iterates, until the objective of the averaged
       iterate gains less than a share ``max(tol, 1e-3)`` of its value for
       ``n_iter_no_change`` iterations (a share ``tol`` when the stochastic phase
       is the whole fit, ``variance_reduction=False``);
    2. *exact finish* on the full objective (``finish='newton'``): proximal Newton
       steps (Lee, Sun & Saunders 2014) with the exact Hessian and a line search,
       the L1 model solved by coordinate descent and then exactly on its signs.
       Newton steps do not depend on the scaling of the features and converge
       quadratically, so the finish reaches the optimum to machine precision in a
       few steps. The fit stops once the minimum-norm subgradient, measured in the
       problem's own metric (the inverse Hessian) and relative to the objective,
       ``sqrt(g' H^-1 g / f)``, is at most ``tol``: the objective is then within
       about ``tol**2 / 2`` of the optimum, relatively. ``finish='svrg'`` uses
       variance-reduced epochs of the chosen rule instead (SVRG, Johnson & Zhang
       2013; no Hessian is stored); it stops once the largest entry of the
       minimum-norm subgradient is at most ``tol`` times that of the gradient at
       zero, a first-order criterion that ill-conditioned problems can meet well
       above the optimum.

    ``X`` may be a SciPy sparse matrix (CSR, or any format, converted to CSR): the
    epochs then run over each row's stored entries and the finish uses sparse
    products, so X is never densified; the centring of the columns is carried
    through the products instead of applied to X.

    Parameters
    ----------
    penalty : {'l2', 'l1'} or None, default='l2'
        Penalty on the coefficients (never on the intercept): ``0.5 ||w||^2`` for
        ``'l2'``, ``||w||_1`` for ``'l1'`` (applied by proximal steps, so that
        coefficients reach exact zeros).
    C : float, default=1.0
        Inverse of the penalty strength, with scikit-learn's meaning: the objective
        is ``C * sum_i s_i loss_i + penalty(w)``. Must be positive.
    fit_intercept : bool, default=True
        Whether to fit an intercept per output.
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight`` as in scikit-learn.
    optimizer : {'adam', 'amsgrad', 'sgd', 'momentum', 'rmsprop'}, default='adam'
        Update rule; see :mod:`statopt.optim` for their definitions. ``'momentum'``
        uses ``beta_1`` as its decay and ``'rmsprop'`` uses ``beta_2``.
    learning_rate : float, default=0.01
        Step size. For the adaptive rules it is roughly the largest change of a
        coefficient per step.
    beta_1 : float, default=0.9
        Decay of the first moment (Adam, AMSGrad) or of the velocity (momentum).
    beta_2 : float, default=0.999
        Decay of the second moment (Adam, AMSGrad, RMSprop).
    epsilon : float, default=1e-8
        Added to the root of the second moment for numerical stability.
    batch_size : int, default=32
        Rows per minibatch (clipped to the number of rows).
    averaging : bool, default=True
        Average the iterates of the stochastic phase over the most recent half of
        its epochs (the average restarts whenever the epoch count doubles).
    variance_reduction : {'auto'} or bool, default='auto'
        When the stochastic phase hands over to the exact finish: ``'auto'`` once it
        stalls, or at once (no stochastic epoch) after a warm start or when the
        minibatch updates of every parameter would cost more than four reads of
        X's stored entries (sparse, wide data, density below about
        ``1 / batch_size``: an epoch is then dearer than a step of the finish);
        True after its first epoch; False never, so the fit ends when the
        stochastic phase stalls (the behaviour of scikit-learn's stochastic
        solvers). A stall is not the optimum: unless the stalled iterate meets the
        Newton finish's criterion at ``tol``, a ``ConvergenceWarning`` says how far
        above the optimum (relative objective) the fit ended.
    finish : {'newton', 'svrg'}, default='newton'
        Exact phase after the stochastic one: proximal Newton on the full objective
        (a dense Hessian of ``(n_outputs * (n_features + 1))**2`` floats), or
        variance-reduced epochs of ``optimizer``. Beyond 4096 parameters
        ``'newton'`` stores no Hessian: without an L1 penalty it solves each
        Newton system by conjugate gradients on Hessian-vector products
        (truncated Newton), with ``penalty='l1'`` it falls back to ``'svrg'``.
    max_iter : int, default=2000
        Maximum number of iterations; unless ``variance_reduction=False``, the
        stochastic phase hands over to the finish after at most half of them. An
        iteration is one pass over the data (or several passes on small data so
        that it makes at least 50 updates), or one Newton step of the finish.
    tol : float, default=1e-6
        Stopping tolerance of the finish: the scaled minimum-norm subgradient
        ``sqrt(g' H^-1 g / f)`` for ``finish='newton'`` (the objective then lies
        within about ``tol**2 / 2`` of the optimum, relatively), the largest entry
        of the minimum-norm subgradient relative to that of the gradient at zero
        for ``'svrg'``. With ``variance_reduction=False`` or ``early_stopping``,
        the relative improvement of the loss below which an iteration counts as no
        improvement; with ``variance_reduction=False`` also the finish's criterion
        that the stalled iterate must meet to end without a ``ConvergenceWarning``.
    n_iter_no_change : int, default=5
        Iterations without improvement that end the stochastic phase (or, with
        ``early_stopping``, the fit).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified), stop when their
        log-loss has not improved for ``n_iter_no_change`` iterations, and keep
        the best coefficients seen. The variance-reduced phase is not used then.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    shuffle : bool, default=True
        Shuffle the rows before each epoch.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling and of the validation split.
    warm_start : bool, default=False
        Start from the coefficients of the previous fit (the optimiser state
        restarts); with ``variance_reduction='auto'`` the fit then goes straight to
        the variance-reduced phase.
    verbose : int, default=0
        Print one line of progress per epoch when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients; one row for a binary problem.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``).
    n_iter_ : int
        Number of iterations run (each call of :meth:`partial_fit` counts one).
    loss_curve_ : list of float
        Penalised objective ``(sum_i s_i loss_i + penalty(w) / C) / sum_i s_i`` per
        epoch, at the averaged iterate (stochastic phase) or the snapshot
        (variance-reduced phase). After :meth:`partial_fit` the entries are the mean
        loss along each epoch's iterates, and so are those of the streamed epochs
        of a Dask fit (the finish's entries are the exact objective).
    validation_scores_ : list of float or None
        Validation log-loss per epoch when ``early_stopping``, else None.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : Same objective, deterministic solvers.
    sklearn.linear_model.SGDClassifier : Plain SGD with ``loss='log_loss'``.
    statopt.optim.Adam : The update rule as a reusable class.

    Notes
    -----
    The rescaled objective reported in ``loss_curve_`` is scikit-learn's objective
    divided by ``C * sum_i s_i``, the mean log-loss plus the penalty, so its values
    read as a mean log-loss.

    References
    ----------
    D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    J. D. Lee, Y. Sun and M. A. Saunders, "Proximal Newton-type methods for
    minimizing composite functions", SIAM J. Optim. 24 (2014).
    R. Johnson and T. Zhang, "Accelerating Stochastic Gradient Descent using Predictive
    Variance Reduction", NeurIPS 2013.
    B. T. Polyak and A. B. Juditsky, "Acceleration of Stochastic Approximation by
    Averaging", SIAM J. Control Optim. 30 (1992).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from statopt import AdamLogisticRegression
    >>> from statopt.datasets import make_correlated_logistic
    >>> X, y, _ = make_correlated_logistic(500, 5, random_state=0)
    >>> model = AdamLogisticRegression(random_state=0).fit(X, y)
    >>> reference = LogisticRegression(tol=1e-10).fit(X, y)
    >>> bool(np.abs(model.coef_ - reference.coef_).max() < 1e-4)
    True
    >>> model.score(X, y)
    0.7...
    """

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l2", "l1"}), None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "optimizer": [StrOptions(set(RULE_CODES))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "averaging": ["boolean"],
        "variance_reduction": [StrOptions({"auto"}), "boolean"],
        "finish": [StrOptions({"newton", "svrg"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        penalty="l2",
        *,
        C=1.0,
        fit_intercept=True,
        class_weight=None,
        optimizer="adam",
        learning_rate=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        batch_size=32,
        averaging=True,
        variance_reduction="auto",
        finish="newton",
        max_iter=2000,
        tol=1e-6,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        warm_start=False,
        verbose=0,
    ):
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.averaging = averaging
        self.variance_reduction = variance_reduction
        self.finish = finish
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    @blas_thread_limit()
    def fit(self, X, y, sample_weight=None):
        """Fit the model by minibatch epochs, then the exact finish.

        A Dask array ``X`` is streamed instead, chunk by chunk, through
        :meth:`partial_fit` (see :func:`statopt.optim.stream_partial_fit`): epochs
        over its row chunks, in a new random order each epoch when ``shuffle``,
        each chunk with its rows of ``y`` and ``sample_weight``, until an epoch's
        mean loss gains less than a share ``max(tol, 1e-3)`` on the previous
        epoch's, or, in an epoch of at least 8 chunks, the mean loss of its last
        quarter of chunks gains less than that on the quarter before (an epoch
        counts as an iteration). The exact finish follows, as in memory and to the
        same optimum: the objective, its gradient and its Hessian are sums over
        the chunks, one pass over the data (one ``dask.compute``) for the
        weighted centre of the columns and one per objective evaluation of the
        Newton iteration, which also returns the derivatives. Beyond 4096
        parameters each Newton system is solved by conjugate gradients on
        Hessian products, one pass each; ``penalty='l1'`` there and
        ``finish='svrg'`` need the data in memory, so the streamed estimate
        stands, with a ``ConvergenceWarning`` unless its relative gradient is
        below ``tol``. ``early_stopping`` needs the data in memory. The classes
        (and their counts, for ``class_weight='balanced'``) are found first by
        one pass over ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data, without missing values.
        y : array-like or dask array of shape (n_samples,)
            Class labels (at least two classes).
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Non-negative weights of the rows.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if is_dask_collection(X):
            return self._fit_stream(X, y, sample_weight)
        with _quiet_validation():
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64,
                                 order="C")
        validated(check_classification_targets, y)
        classes = np.unique(y)
        warm = self._warm_start_with(classes, X.shape[1])
        self.classes_ = classes
        self.__dict__.pop("_partial_state", None)
        encoded, weights, l2, l1 = self._prepare_targets(X, y, sample_weight)
        state = self._new_state(X, weights, warm)
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = None
        rng = check_random_state(self.random_state)
        if self.early_stopping:
            self._fit_early_stopping(X, encoded, weights, l2, l1, state, rng)
        else:
            self._fit_to_optimum(X, encoded, weights, l2, l1, state, rng, warm)
        return self

    def _warm_start_with(self, classes, n_features):
        """Whether this fit starts from the previous coefficients; refuses a warm
        start whose classes or number of features differ from the previous fit's."""
        warm = self.warm_start and hasattr(self, "coef_")
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start=True needs the classes of the previous fit "
                f"{self.classes_.tolist()}, got {classes.tolist()}."
            )
        if warm and self.coef_.shape[1] != n_features:
            raise ValueError(
                f"warm_start=True needs the {self.coef_.shape[1]} features of the "
                f"previous fit, got {n_features}; set warm_start=False to fit "
                "new data from scratch."
            )
        return warm

    def _fit_stream(self, X, y, sample_weight):
        """Epochs of :meth:`partial_fit` over the row chunks of a Dask array, then
        the exact finish with the objective and its derivatives summed over them."""
        import dask
        import dask.array as da

        if self.early_stopping:
            raise ValueError("early_stopping=True needs the data in memory; fit a "
                             "Dask array with early_stopping=False.")
        if y is None:
            raise ValueError("y is required: AdamLogisticRegression needs labels.")
        labels = (da.unique(y, return_counts=True) if is_dask_collection(y)
                  else np.unique(np.asarray(y), return_counts=True))
        labels, counts = dask.compute(*labels)
        validated(check_classification_targets, labels)
        classes = np.unique(labels)
        warm = self._warm_start_with(classes, X.shape[1])
        fitted = ["classes_", "_partial_state", "_partial_rng", "n_iter_",
                  "loss_curve_"]
        for name in fitted + ([] if warm else ["coef_", "intercept_"]):
            self.__dict__.pop(name, None)
        rng = check_random_state(self.random_state)
        row_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        # As in memory: unless variance_reduction=False the exact finish ends the
        # fit and keeps half of max_iter; a warm start goes straight to it.
        finish = self.variance_reduction is not False
        if self.variance_reduction == "auto" and warm:
            n_epochs = 0
        elif self.variance_reduction is True:
            n_epochs = 1
        else:
            n_epochs = self._stochastic_budget()
        gain = max(self.tol, _HANDOVER_TOL)
        epoch_losses = []
        stalled = False
        for _ in range(n_epochs):
            done = len(getattr(self, "loss_curve_", []))
            stream_partial_fit(self, X, y, shuffle=self.shuffle, random_state=rng,
                               row_params=row_params, classes=classes)
            chunk_losses = self.loss_curve_[done:]
            epoch_losses.append(float(np.mean(chunk_losses)))
            # In a first epoch each chunk's loss is taken along iterates that had
            # not yet seen its rows (progressive validation), so a long epoch
            # shows its own plateau: its last quarter of chunks no better than
            # the quarter before.
            quarter = len(chunk_losses) // 4
            plateau = quarter >= 2 and np.mean(chunk_losses[-quarter:]) > np.mean(
                chunk_losses[-2 * quarter:-quarter]) * (1.0 - gain)
            if plateau or len(epoch_losses) > 1 and (
                epoch_losses[-1] > epoch_losses[-2] * (1.0 - gain)
            ):
                stalled = True
                break
        self.classes_ = classes
        self.n_iter_ = len(epoch_losses)
        self.loss_curve_ = epoch_losses
        if not finish and not stalled:
            warn_at_caller(
                f"AdamLogisticRegression stopped at max_iter={self.max_iter} epochs "
                f"over the Dask array while an epoch still lowered the loss by more "
                f"than a share {gain:g}; increase max_iter.",
                ConvergenceWarning
            )
            return self
        if finish and self.n_iter_ >= self.max_iter:
            warn_at_caller(
                f"AdamLogisticRegression stopped at max_iter={self.max_iter} "
                f"iterations before reaching tol={self.tol}; increase max_iter or "
                "tol.",
                ConvergenceWarning
            )
            return self
        self._finish_stream(X, y, sample_weight, classes, counts, finish)
        return self

    def _finish_stream(self, X, y, sample_weight, classes, counts, finish):
        """The exact finish of a Dask fit (or, after a stall with
        ``variance_reduction=False``, its check), from ``coef_`` and
        ``intercept_``: one pass over the chunks per evaluation."""
        from ._logistic_stream import StreamProblem

        if self.class_weight is None:
            class_weights = np.ones(classes.size)
        elif self.class_weight == "balanced":
            # compute_class_weight's formula, from the counts of the whole y.
            class_weights = counts.sum() / (classes.size * counts.astype(np.float64))
        else:
            class_weights = compute_class_weight(self.class_weight, classes=classes,
                                                 y=classes)
        problem = StreamProblem(
            X, y, sample_weight, classes, class_weights,
            fit_intercept=self.fit_intercept, C=self.C, penalty_name=self.penalty,
            max_abs_x=_MAX_ABS_X,
        )
        n_outputs, l2, l1, center = (problem.n_outputs, problem.l2, problem.l1,
                                     problem.center)
        state = {"n_outputs": n_outputs, "center": center}
        theta = np.zeros((n_outputs, X.shape[1] + 1))
        theta[:, :-1] = self.coef_
        theta[:, -1] = self.intercept_ + self.coef_ @ center
        theta = theta.ravel()
        free, l1_strength = self._free_and_l1(theta.size, X.shape[1] + 1, l1)
        newton = problem.newton_problem(
            lambda candidate: self._penalty(candidate, l2, l1, n_outputs),
            self._checked_objective, free, l1_strength)

        def relative_gradient(candidate):
            zero = np.zeros_like(candidate)
            gradients = [terms[1].reshape(n_outputs, -1).copy()
                         for terms in problem.evaluate([candidate, zero])]
            if not self.fit_intercept:
                for gradient in gradients:
                    gradient[:, -1] = 0.0
            scale = float(np.abs(gradients[1]).max())
            return self._optimality(candidate, gradients[0], l2, l1, n_outputs) / (
                scale if scale > 0 else 1.0)

        if not finish:
            failure = self._stall_failure(theta, l1, lambda: newton,
                                          relative_gradient)
        elif self.finish == "newton" and (problem.stored or l1 == 0.0):
            # Both candidate starts of the finish (the streamed estimate and
            # zero) in one pass.
            problem.evaluate([theta, np.zeros_like(theta)])
            failure = self._newton_finish(newton, theta)
        else:
            # Variance-reduced epochs need the rows in memory: the streamed
            # estimate stands, with a warning unless it is at the optimum.
            optimality = relative_gradient(theta)
            failure = None if optimality <= self.tol else (
                f"ended when the stochastic phase over the Dask array stalled, "
                f"with a relative gradient of {optimality:.2g} > tol={self.tol}: "
                f"the exact finish on a Dask array needs finish='newton' and, "
                f"with penalty='l1', at most {MAX_NEWTON_PARAMS} parameters.")
        if finish:
            # The stream's optimiser state is that of the stochastic phase: a
            # later partial_fit starts afresh from the finished coefficients.
            self.__dict__.pop("_partial_state", None)
            self.__dict__.pop("_partial_rng", None)
            self._store(theta, state)
        if failure:
            warn_at_caller(f"AdamLogisticRegression {failure}", ConvergenceWarning)

    def _fit_to_optimum(self, X, y, weights, l2, l1, state, rng, warm):
        best = np.inf
        stalled = 0
        # Unless variance_reduction=False, an exact phase always ends the fit.
        finish = self.variance_reduction is not False
        # A warm start is already near the optimum, and on update-bound data an
        # epoch costs more than a step of the finish: go straight to the exact phase.
        skip_stochastic = self.variance_reduction == "auto" and (
            warm or self._update_bound(X, state["theta"].size)
        )
        if skip_stochastic:
            state["average"][:] = state["theta"]
        handover_tol = max(self.tol, _HANDOVER_TOL) if finish else self.tol
        failure = (f"stopped at max_iter={self.max_iter} iterations before reaching "
                   f"tol={self.tol}; increase max_iter or tol.")
        for epoch in range(0 if skip_stochastic else self._stochastic_budget()):
            if self.variance_reduction is True and epoch > 0:
                break
            self._stochastic_epoch(X, y, weights, l2, l1, state, rng, epoch)
            objective = self._objective(X, y, weights, self._iterate(state), l2, l1,
                                        state)
            self._record(objective, "stochastic", state)
            if objective < best - handover_tol * abs(objective):
                best, stalled = objective, 0
            else:
                stalled += 1
            if stalled >= self.n_iter_no_change:
                if not finish:
                    # A stall is not the optimum: constant steps stall in a noise
                    # ball, far above it on unscaled data. Say how far.
                    failure = self._stall_failure(
                        self._iterate(state).copy(), l1,
                        lambda: self._newton_problem(X, y, weights, l2, l1, state),
                        lambda theta: self._relative_gradient(X, y, weights, theta,
                                                              l2, l1, state),
                    )
                break
        if finish and self.n_iter_ < self.max_iter:
            stored = state["theta"].size <= MAX_NEWTON_PARAMS
            if self.finish == "newton" and (stored or l1 == 0.0):
                state["theta"][:] = self._iterate(state)
                failure = self._newton_finish(
                    self._newton_problem(X, y, weights, l2, l1, state),
                    state["theta"])
            else:
                failure = self._variance_reduced_epochs(X, y, weights, l2, l1, state,
                                                        rng)
        self._store(state["theta"] if finish else self._iterate(state), state)
        if failure:
            warn_at_caller(f"AdamLogisticRegression {failure}", ConvergenceWarning)

    def _stochastic_budget(self):
        """Epochs the stochastic phase may take: all of ``max_iter`` without an
        exact finish, else half of it."""
        # The finish keeps half the budget: a slow rule (plain SGD on a weakly
        # penalised problem) can lower the objective by more than the handover share
        # for thousands of epochs and would otherwise never reach the exact phase.
        if self.variance_reduction is False:
            return self.max_iter
        return max(1, self.max_iter // 2)

    def _stall_failure(self, theta, l1, newton_problem, relative_gradient):
        """None if the stalled stochastic iterate ``theta`` meets the finish's
        criterion at ``tol``, else a message saying how far from the optimum it
        stopped. ``newton_problem()`` builds the problem of the Newton finish,
        ``relative_gradient(theta)`` the first-order measure used beyond it."""
        if theta.size <= MAX_NEWTON_PARAMS or l1 == 0.0:
            objective, derivatives, l1_strength, free = newton_problem()
            value = objective(theta)
            gradient, hessian = derivatives(theta)
            optimality = newton_model(hessian, gradient, theta, l1_strength, free,
                                      value, self.tol)[3]
            measure = "scaled subgradient sqrt(g' H^-1 g / f)"
            distance = (f"; the objective is about {optimality**2 / 2:.2g} "
                        "(relative) above the optimum")
        else:
            optimality = relative_gradient(theta)
            measure, distance = "relative gradient", ""
        if optimality <= self.tol:
            return None
        return (f"ended when the stochastic phase stalled (variance_reduction="
                f"False) with a {measure} of {optimality:.2g} > tol={self.tol}"
                f"{distance}. Constant steps stall in a noise ball above the "
                "optimum: use variance_reduction='auto' to reach it.")

    def _gradient_scale(self, X, y, weights, state):
        """Largest entry of the loss gradient at zero: the unit of the
        first-order criterion, so that it does not depend on the units of X."""
        gradient = np.empty(state["theta"].size)
        self._loss_gradient(X, y, weights, np.zeros_like(gradient), gradient, state)
        scale = float(np.abs(gradient).max())
        return scale if scale > 0 else 1.0

    def _relative_gradient(self, X, y, weights, theta, l2, l1, state):
        """Largest entry of the minimum-norm subgradient at ``theta``, relative to
        that of the gradient at zero."""
        gradient = np.empty_like(theta)
        self._loss_gradient(X, y, weights, theta, gradient, state)
        return self._optimality(theta, gradient, l2, l1, state["n_outputs"]) / (
            self._gradient_scale(X, y, weights, state))

    def _update_bound(self, X, n_params):
        """Whether a stochastic epoch's parameter updates outweigh reading X."""
        n_rows = X.shape[0]
        n_batches = -(-n_rows // min(self.batch_size, n_rows))
        stored = X.nnz if sp.issparse(X) else X.size
        return n_batches * n_params > _UPDATE_BOUND_RATIO * stored

    def _newton_problem(self, X, y, weights, l2, l1, state):
        """The exact objective and its Newton derivatives, as closures, with the
        L1 strength and the free (fitted) entries of the parameter vector."""
        n_outputs = state["n_outputs"]
        theta = state["theta"]
        free, l1_strength = self._free_and_l1(theta.size, X.shape[1] + 1, l1)
        X_kernel = X if sp.issparse(X) else kernel_input(X)
        y_kernel, weights_kernel = kernel_input(y), kernel_input(weights)

        def objective(candidate):
            return self._objective(X_kernel, y_kernel, weights_kernel, candidate, l2,
                                   l1, state)

        def derivatives(candidate):
            if theta.size > MAX_NEWTON_PARAMS:
                # Matrix-free: the gradient, and Hessian products for CG.
                gradient = np.empty_like(candidate)
                self._loss_gradient(X_kernel, y_kernel, weights_kernel, candidate,
                                    gradient, state)
                gradient = gradient.reshape(n_outputs, -1)
                gradient[:, :-1] += l2 * self._coefficients(candidate, n_outputs)
                hessian = HessianOperator(X, state["center"], weights_kernel,
                                          candidate, n_outputs, l2, free)
                return gradient.ravel() * free, hessian
            return smooth_derivatives(X, state["center"], y, weights, candidate,
                                      n_outputs, l2, free)

        return objective, derivatives, l1_strength, free

    def _free_and_l1(self, n_params, stride, l1):
        """The free (fitted) entries of the parameter vector and the L1 strength
        of each entry (intercepts are not penalised)."""
        free = np.ones(n_params, dtype=bool)
        if not self.fit_intercept:
            free[stride - 1::stride] = False
        l1_strength = np.full(n_params, l1)
        l1_strength[stride - 1::stride] = 0.0
        return free, l1_strength

    def _newton_finish(self, problem, theta):
        """Proximal Newton steps from ``theta`` (updated in place) to the optimum
        of ``problem``, the tuple of :meth:`_newton_problem`.

        Returns None on success, else why the fit stopped short.
        """
        objective, derivatives, l1_strength, free = problem

        def record(value):
            self._record(value, "newton", None)

        # Stochastic steps on badly scaled columns can end with every logit
        # saturated, where the Hessian vanishes and Newton steps are useless;
        # there damped Newton from zero (a positive definite Hessian, and every
        # later iterate better) is the safer start.
        origin = np.zeros_like(theta)
        if objective(origin) < objective(theta):
            theta[:] = origin

        # The package's BLAS policy: one thread (the Hessian products are tall and
        # thin; on digits, 2 threads made this finish 4x slower here).
        with blas_thread_limit():
            return proximal_newton(objective, derivatives, theta, l1_strength, free,
                                   self.tol, self.max_iter - self.n_iter_, record,
                                   total_iter=self.max_iter)

    def _variance_reduced_epochs(self, X, y, weights, l2, l1, state, rng):
        """SVRG epochs from the current estimate until the gradient is below tol.

        The gradient is measured relative to the gradient at zero, so that the
        criterion does not depend on the units of X.

        Returns None on success, else why the fit stopped short.
        """
        n_outputs = state["n_outputs"]
        theta = state["theta"]
        theta[:] = self._iterate(state)
        snapshot = theta.copy()
        snapshot_grad = np.empty_like(theta)
        scale = self._gradient_scale(X, y, weights, state)
        objective = self._loss_gradient(X, y, weights, snapshot, snapshot_grad,
                                        state)
        objective += self._penalty(snapshot, l2, l1, n_outputs)
        learning_rate = self.learning_rate
        rejections = 0
        state["average_count"][0] = -1  # no averaging: the snapshot is the iterate
        self._reset_moments(state)
        while True:
            optimality = self._optimality(snapshot, snapshot_grad, l2, l1,
                                          n_outputs) / scale
            if optimality <= self.tol:
                return None
            if self.n_iter_ >= self.max_iter:
                return (f"stopped at max_iter={self.max_iter} iterations with a "
                        f"relative gradient of {optimality:.2g} > tol={self.tol}; "
                        "increase max_iter or tol.")
            if rejections > _MAX_REJECTIONS:
                return (f"could not lower the objective any further (relative "
                        f"gradient {optimality:.2g} > tol={self.tol}): tol is below "
                        "what floating point resolves for this problem; increase "
                        "tol.")
            self._stochastic_epoch(X, y, weights, l2, l1, state, rng, None,
                                   learning_rate=learning_rate, snapshot=snapshot,
                                   snapshot_grad=snapshot_grad)
            gradient = np.empty_like(theta)
            candidate = self._loss_gradient(X, y, weights, theta, gradient, state)
            candidate += self._penalty(theta, l2, l1, n_outputs)
            if candidate <= objective:
                snapshot[:] = theta
                snapshot_grad[:] = gradient
                objective = candidate
                learning_rate *= _GROW
                rejections = 0
            else:
                theta[:] = snapshot
                learning_rate *= _SHRINK
                rejections += 1
                self._reset_moments(state)
            self._record(objective, "variance-reduced", state, learning_rate)

    def _fit_early_stopping(self, X, y, weights, l2, l1, state, rng):
        stratify = y if self._is_classifier_split_possible(y) else None
        train, valid = train_test_split(
            np.arange(X.shape[0]), test_size=self.validation_fraction,
            random_state=rng, stratify=stratify,
        )
        X_train, X_valid = X[train], X[valid]
        y_train, y_valid = y[train], y[valid]
        w_train = weights[train] * (train.size / weights[train].sum())
        w_valid = weights[valid] * (valid.size / weights[valid].sum())
        best, best_theta, stalled = np.inf, self._iterate(state).copy(), 0
        self.validation_scores_ = []
        converged = False
        for epoch in range(self.max_iter):
            self._stochastic_epoch(X_train, y_train, w_train, l2, l1, state, rng,
                                   epoch)
            current = self._iterate(state)
            objective = self._objective(X_train, y_train, w_train, current, l2, l1,
                                        state)
            score = self._objective(X_valid, y_valid, w_valid, current, 0.0, 0.0,
                                    state)
            self.validation_scores_.append(float(score))
            self._record(objective, "stochastic", state)
            if score < best - self.tol * max(1.0, abs(score)):
                best, stalled = score, 0
                best_theta[:] = current
            else:
                stalled += 1
            if stalled >= self.n_iter_no_change:
                converged = True
                break
        self._store(best_theta, state)
        if not converged:
            warn_at_caller(
                f"AdamLogisticRegression stopped at max_iter={self.max_iter} "
                "iterations before the validation loss stopped improving; increase "
                "max_iter.",
                ConvergenceWarning
            )

    @staticmethod
    def _is_classifier_split_possible(y):
        _, counts = np.unique(y, return_counts=True)
        return counts.min() >= 2

    @blas_thread_limit()
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of minibatch updates on a chunk of data.

        The optimiser state (moments, step count, averaged iterate) carries over
        between calls, so a stream of chunks trains the model as epochs would.
        The variance-reduced phase needs the whole data and is not used.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : array-like of shape (n_samples,)
            Class labels of the chunk.
        classes : array-like of shape (n_classes,), default=None
            All the classes of the stream; required on the first call and must then
            be left out or equal on later calls.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows.

        Returns
        -------
        self : object
            Estimator updated by one epoch over the chunk.
        """
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._validate_params()
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: "
                    "give every label the stream can contain."
                )
            classes = np.unique(np.asarray(classes))
            if classes.size < 2:
                raise ValueError(
                    f"classes must hold at least 2 labels, got {classes.tolist()}."
                )
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()} differs from the classes "
                f"seen before {self.classes_.tolist()}."
            )
        with _quiet_validation():
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64,
                                 order="C", reset=first_call)
        validated(check_classification_targets, y)
        if first_call:
            self.classes_ = classes
            self.n_iter_ = 0
            self.loss_curve_ = []
            self.validation_scores_ = None
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()} not in classes "
                f"{self.classes_.tolist()}; pass every label in classes on the "
                "first call."
            )
        encoded, weights, l2, l1 = self._prepare_targets(X, y, sample_weight,
                                                         partial=True)
        if not hasattr(self, "_partial_state"):
            # Continue from a previous fit, if any, with a fresh optimiser state.
            self._partial_state = self._new_state(X, weights,
                                                  warm=hasattr(self, "coef_"))
            self._partial_rng = check_random_state(self.random_state)
        state = self._partial_state
        loss = self._stochastic_epoch(X, encoded, weights, l2, l1, state,
                                      self._partial_rng, self.n_iter_)
        self._record(loss, "partial", state)
        self._store(self._iterate(state), state)
        return self

    # ----------------------------------------------------------------- helpers
    def _prepare_targets(self, X, y, sample_weight, partial=False):
        """Encode labels, combine sample and class weights, and scale the penalty."""
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                       ensure_non_negative=True)
        if not partial:
            weighted = np.unique(y[weights > 0])
            if weighted.size < 2:
                raise ValueError(
                    f"y contains only one class {weighted.tolist()} (among rows of "
                    "positive sample_weight); AdamLogisticRegression needs samples "
                    "of at least 2 classes."
                )
        if self.class_weight is not None:
            present = np.unique(y)
            class_weights = compute_class_weight(self.class_weight, classes=present,
                                                 y=y)
            weights = weights * class_weights[np.searchsorted(present, y)]
        largest = weights.max() if weights.size else 0.0
        if not largest > 0:
            raise ValueError("sample_weight must have a positive sum.")
        values = X.data if sp.issparse(X) else X  # no NaN: validated
        largest_x = max(values.max(), -values.min()) if values.size else 0.0
        if largest_x > _MAX_ABS_X:
            raise ValueError(
                f"X holds entries of magnitude {largest_x:.3g}; beyond {_MAX_ABS_X:g} "
                "the squared entries that the fit sums overflow float64. Scale X "
                "(e.g. with StandardScaler)."
            )
        index = np.searchsorted(self.classes_, y).astype(np.float64)
        encoded = index if self.classes_.size > 2 else (index == 1).astype(np.float64)
        # Kernels average s_i * loss_i over rows, so weights are rescaled to mean one
        # and the penalty is divided by C * sum(s), as in scikit-learn's lbfgs.
        # Dividing by the largest weight first keeps the sum finite for any weights.
        scaled = weights / largest
        total = scaled.sum()
        with np.errstate(over="ignore"):
            strength = 1.0 / self.C / largest / total
        if not np.isfinite(strength):
            raise ValueError(
                f"The penalty strength 1 / (C * sum(sample_weight)) overflows "
                f"(C={self.C!r}); raise C or the sample weights."
            )
        l2 = strength if self.penalty == "l2" else 0.0
        l1 = strength if self.penalty == "l1" else 0.0
        return encoded, scaled * (X.shape[0] / total), l2, l1

    def _new_state(self, X, weights, warm):
        n_features = X.shape[1]
        n_outputs = 1 if self.classes_.size == 2 else self.classes_.size
        if self.fit_intercept:
            # Kernels work on centred columns (see _kernels.py); weights have mean 1.
            center = np.asarray(X.T @ weights) / X.shape[0]
        else:
            center = np.zeros(n_features)
        theta = np.zeros(n_outputs * (n_features + 1))
        if warm:
            packed = theta.reshape(n_outputs, n_features + 1)
            packed[:, :-1] = self.coef_
            packed[:, -1] = self.intercept_ + self.coef_ @ center
        state = {
            "n_outputs": n_outputs,
            "center": center,
            "theta": theta,
            "average": theta.copy(),
            "average_count": np.zeros(1, dtype=np.int64),
            "step": np.zeros(1, dtype=np.int64),
            "first_moment": np.zeros_like(theta),
            "second_moment": np.zeros_like(theta),
            "max_second_moment": np.zeros_like(theta),
        }
        if not self.averaging:
            state["average_count"][0] = -1
        return state

    def _iterate(self, state):
        """The current estimate: the averaged iterate, or the last one."""
        return state["average"] if self.averaging else state["theta"]

    @staticmethod
    def _reset_moments(state):
        state["step"][0] = 0
        for name in ("first_moment", "second_moment", "max_second_moment"):
            state[name][:] = 0.0

    def _stochastic_epoch(self, X, y, weights, l2, l1, state, rng, epoch, *,
                          learning_rate=None, snapshot=None, snapshot_grad=None):
        n_rows = X.shape[0]
        theta, average = state["theta"], state["average"]
        if epoch is not None and self.averaging and epoch > 0 and (
            epoch & (epoch - 1)
        ) == 0:
            # Tail averaging: restart the mean at epochs 1, 2, 4, 8, ... so that it
            # always covers the latest half of the run and forgets the transient.
            average[:] = theta
            state["average_count"][0] = 0
        variance_reduced = snapshot is not None
        if not variance_reduced:
            snapshot = snapshot_grad = theta
        if not self.averaging and not variance_reduced:
            average = theta
        batch_size = min(self.batch_size, n_rows)
        n_batches = -(-n_rows // batch_size)
        n_passes = -(-_MIN_UPDATES // n_batches)
        settings = epoch_settings(
            n_outputs=state["n_outputs"], fit_intercept=self.fit_intercept,
            l2_strength=l2, l1_strength=l1, rule=RULE_CODES[self.optimizer],
            learning_rate=self.learning_rate if learning_rate is None
            else learning_rate,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            batch_size=batch_size, variance_reduced=variance_reduced,
        )
        arrays = EpochState(
            theta, state["first_moment"], state["second_moment"],
            state["max_second_moment"], state["step"], average,
            state["average_count"], snapshot, snapshot_grad,
        )
        if sp.issparse(X):
            # CSR rows as typed arrays (indices keep their int32 or int64 type).
            design = (kernel_input(X.data), kernel_input(X.indices, X.indices.dtype),
                      kernel_input(X.indptr, X.indptr.dtype))
            epoch = logistic_epoch_sparse
        else:
            design, epoch = (kernel_input(X),), logistic_epoch
        y = kernel_input(y)
        weights, center = kernel_input(weights), kernel_input(state["center"])
        loss = 0.0
        with np.errstate(all="ignore"):  # overflow is reported below
            for _ in range(n_passes):
                order = rng.permutation(n_rows) if self.shuffle else np.arange(n_rows)
                loss += epoch(*design, center, y, weights,
                              kernel_input(order, np.int64), settings, arrays)
        loss /= n_passes
        if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(average))
                and np.isfinite(loss)):
            raise ValueError(
                "The coefficients overflowed to inf or NaN during the stochastic "
                f"phase (learning_rate={settings.learning_rate:g}); lower "
                "learning_rate or scale X."
            )
        return loss

    def _loss_gradient(self, X, y, weights, theta, gradient, state):
        kernel = sparse_loss_gradient if sp.issparse(X) else logistic_loss_gradient
        loss = kernel(
            X if sp.issparse(X) else kernel_input(X), kernel_input(state["center"]),
            kernel_input(y), kernel_input(weights), kernel_input(theta),
            state["n_outputs"], gradient,
        )
        if not self.fit_intercept:
            gradient.reshape(state["n_outputs"], -1)[:, -1] = 0.0
        return loss

    @staticmethod
    def _coefficients(theta, n_outputs):
        return theta.reshape(n_outputs, -1)[:, :-1]

    def _penalty(self, theta, l2, l1, n_outputs):
        coef = self._coefficients(theta, n_outputs)
        with np.errstate(over="ignore"):  # an overflow is reported by the caller
            return 0.5 * l2 * float(np.sum(coef**2)) + l1 * float(np.abs(coef).sum())

    def _objective(self, X, y, weights, theta, l2, l1, state):
        n_outputs = state["n_outputs"]
        if sp.issparse(X):
            loss = sparse_loss_gradient(X, state["center"], y, weights, theta,
                                        n_outputs)
        else:
            loss = logistic_loss(kernel_input(X), kernel_input(state["center"]),
                                 kernel_input(y), kernel_input(weights),
                                 kernel_input(theta), n_outputs)
        return self._checked_objective(float(loss)
                                       + self._penalty(theta, l2, l1, n_outputs))

    @staticmethod
    def _checked_objective(value):
        if not np.isfinite(value):
            raise ValueError(
                "The objective overflowed to inf or NaN; lower learning_rate, "
                "raise C or scale X."
            )
        return value

    def _optimality(self, theta, loss_gradient, l2, l1, n_outputs):
        """Largest entry of the minimum-norm subgradient of the penalised objective."""
        gradient = loss_gradient.reshape(n_outputs, -1).copy()
        coef = self._coefficients(theta, n_outputs)
        smooth = gradient[:, :-1] + l2 * coef
        if l1 > 0:
            nonzero = coef != 0
            smooth = np.where(
                nonzero,
                smooth + l1 * np.sign(coef),
                np.maximum(np.abs(smooth) - l1, 0.0),
            )
        gradient[:, :-1] = smooth
        return float(np.abs(gradient).max())

    def _record(self, objective, phase, state, learning_rate=None):
        self.n_iter_ += 1
        self.loss_curve_.append(float(objective))
        if self.verbose:
            rate = self.learning_rate if learning_rate is None else learning_rate
            print(
                f"Epoch {self.n_iter_}: {phase}, objective {objective:.10g}, "
                f"learning rate {rate:.3g}"
            )

    def _store(self, theta, state):
        packed = theta.reshape(state["n_outputs"], -1).copy()
        if state["n_outputs"] > 1:
            # Softmax is unchanged by a shift common to every class: report the
            # representative of zero sum (the one gradient methods started at zero
            # keep), so that equal objectives give equal parameters.
            packed[:, -1] -= packed[:, -1].mean()
            if self.penalty is None:
                packed[:, :-1] -= packed[:, :-1].mean(axis=0)
        self.coef_ = packed[:, :-1].copy()
        self.intercept_ = packed[:, -1] - self.coef_ @ state["center"]

    # -------------------------------------------------------------- predicting
    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Logarithm of the probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        return log_softmax(scores, axis=1)

    def decision_function(self, X):
        """Linear scores: the logit of ``classes_[1]``, or one score per class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score, without missing values.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Scores.
        """
        check_is_fitted(self)
        with _quiet_validation():
            X = validate_data(self, X, accept_sparse="csr", dtype=np.float64,
                              reset=False)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = X @ self.coef_.T + self.intercept_
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                "The scores X @ coef_.T overflow float64: X holds entries too large "
                "for this model; scale X as the training data were."
            )
        return scores.ravel() if scores.shape[1] == 1 else scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
