"""TensorCrossModalRegressor: multi-view tensor model for cross-modal retrieval."""

from numbers import Integral, Real

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import (
    BaseEstimator,
    MultiOutputMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from .._utils import (
    StrictInterval,
    blas_thread_limit,
    check_array_budget,
    scaled_sample_weight,
    validated,
    warn_at_caller,
)
from ..metrics import cross_modal_map_scorer
from ._bcd import (
    CG_FORCING,
    CG_MAX_RTOL,
    CG_RTOL,
    MODALITIES,
    TensorState,
    extrapolate,
    view_product,
)

# Extrapolation factor along the last sweep's move: start, and cap.
INITIAL_EXTRAPOLATION = 1.0
MAX_EXTRAPOLATION = 16.0

# Arguments of the methods other than fit, validated like the estimator's.
_METHOD_CONSTRAINTS = {
    "modality": [StrOptions(set(MODALITIES))],
    "query_modality": [StrOptions(set(MODALITIES))],
    "modality_only": ["boolean"],
    "n_items": [StrictInterval(Integral, 1, None, closed="left"), None],
}


def _check_method_params(caller, **params):
    validate_parameter_constraints(
        {name: _METHOD_CONSTRAINTS[name] for name in params}, params,
        caller_name=f"TensorCrossModalRegressor.{caller}")


def _check_views(views, modalities, n_features):
    """Column indices of each view and their modalities, validated.

    ``views=None`` splits the columns into two halves, image then text.
    """
    if views is None:
        if n_features < 2:
            raise ValueError(
                "views=None splits the columns into an image half and a text half, "
                f"which needs at least 2 features; got {n_features} feature(s). Pass "
                "views and modalities.")
        half = (n_features + 1) // 2
        views = [np.arange(half), np.arange(half, n_features)]
        if modalities is None:
            modalities = ["image", "text"]
    if modalities is None:
        raise ValueError("Pass modalities (one 'image' or 'text' per view) with views.")
    views, modalities = list(views), list(modalities)
    if len(views) != len(modalities):
        raise ValueError(f"Got {len(views)} views but {len(modalities)} modalities; "
                         "name one modality per view.")
    indices = []
    for view in views:
        if isinstance(view, slice):
            view = np.arange(n_features)[view]
        view = np.asarray(view)
        if view.dtype == bool:
            if view.shape != (n_features,):
                raise ValueError(f"A boolean view needs {n_features} entries.")
            view = np.flatnonzero(view)
        if view.ndim != 1 or view.size == 0 or not np.issubdtype(view.dtype,
                                                                  np.integer):
            raise ValueError("Each view should be a non-empty list of column indices, "
                             "a boolean mask or a slice.")
        if view.min() < 0 or view.max() >= n_features:
            raise ValueError(f"View columns {view.tolist()} fall outside the "
                             f"{n_features} columns of X.")
        indices.append(view)
    every = np.concatenate(indices)
    if np.unique(every).size != every.size:
        raise ValueError("Views overlap: a column belongs to two views.")
    for modality in modalities:
        if modality not in MODALITIES:
            raise ValueError(f"Modalities should be 'image' or 'text', got "
                             f"{modality!r}.")
    for modality in MODALITIES:
        if modality not in modalities:
            raise ValueError(f"The {modality} modality has no view; each modality "
                             "needs at least one.")
    return indices, modalities


def _finite(objective):
    """The objective, checked: an overflow in the loss stops the fit."""
    if not np.isfinite(objective):
        raise FloatingPointError("the objective is not finite")
    return objective


class TensorCrossModalRegressor(MultiOutputMixin, RegressorMixin, TransformerMixin,
                                BaseEstimator):
    """Multi-view tensor model of topic scores, fitted by block coordinate descent.

    Rows hold several views of an item (say, image features and text features,
    side by side), grouped into two modalities, image and text. Within a modality,
    a multi-view machine (Cao et al. 2016) models every order of interaction
    between the modality's views through a CP-factorised tensor: with
    z_v = [1, x_v],

        m(x) = prod over the modality's views of (z_v' Theta_v),   an R-vector,

    and each of the P topics reads it through a topic factor (Lu et al. 2017):
    f_p(x) = m(x)' phi_p. The fused score blends the modalities per topic,
    F_p = a_p f_image,p + (1 - a_p) f_text,p with a_p in [0, 1].

    The fit minimises the mean loss of the topic targets (multinomial, logistic or
    squared) plus ``alpha / 2`` times the squared norms of all factors, by block
    coordinate descent over the view factors Theta_v, the topic factors and the
    blend weights (Xu & Yin 2013). Each block update minimises the objective
    (squared loss) or a majoriser of it (logistic, multinomial) exactly in that
    block, so the objective never rises.

    Read more in the :ref:`User Guide <crossmodal>`.

    Parameters
    ----------
    n_factors : int, default=10
        Rank R of the CP factorisation.
    views : list of array-like, default=None
        Column indices (or boolean masks, or slices) of each view in X. None splits
        the columns into two halves: the first is one image view, the second one
        text view.
    modalities : list of {'image', 'text'}, default=None
        Modality of each view; both modalities need at least one view. Required
        when ``views`` is given.
    loss : {'auto', 'multinomial', 'logistic', 'squared'}, default='auto'
        Loss of the topic targets: 'multinomial' (softmax cross-entropy, one label
        per row), 'logistic' (independent topics, targets in [0, 1]) or 'squared'.
        'auto' takes 'multinomial' for a label vector, 'logistic' for a 0/1
        label-indicator matrix and 'squared' for float targets.
    objective : {'per_modality', 'fused'}, default='per_modality'
        'fused' is the published objective: the loss of the fused scores only.
        'per_modality' adds the loss of each modality's own scores, which ties
        each modality's embedding to the topics and retrieves better across
        modalities (on the Wikipedia benchmark, see the User Guide).
    alpha : float, default=0.02
        Strength of the ridge penalty on all factors, against the loss averaged
        over rows (the convention of :class:`sklearn.linear_model.ElasticNet`), so
        that one value suits data sets of different sizes. Too large a value
        shrinks every factor to zero (a warning says so); a tiny one is safe
        (block solves floor their ridge, see the User Guide). Tune it by
        cross-validation: for label targets the default :meth:`score` is the
        retrieval mAP.
    standardize : bool, default=True
        Centre and scale each column with the training mean and standard deviation
        before the fit (and in every prediction).
    max_iter : int, default=200
        Maximum number of sweeps over the blocks.
    tol : float, default=1e-4
        Stop when a sweep lowers the objective by less than ``tol`` times its value.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial view factors.
    verbose : int, default=0
        Print the objective after each sweep when positive.

    Attributes
    ----------
    loss_ : str
        The loss used ('auto' resolved).
    view_factors_ : list of ndarray of shape (d_v + 1, n_factors)
        Theta_v of each view (first row: the constant).
    topic_factors_ : dict of ndarray of shape (n_factors, n_topics)
        phi of each modality, keyed 'image' and 'text'.
    blend_weights_ : ndarray of shape (n_topics,)
        a_p, the weight of the image scores in the fused score of each topic.
    classes_ : ndarray or None
        The labels, when y was a label vector (each becomes a topic); else None.
    objective_curve_ : list of float
        The objective (mean loss plus penalty) after each sweep, non-increasing.
    n_iter_ : int
        Number of sweeps run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    sklearn.cross_decomposition.CCA : Linear maps of two views to a shared space.
    sklearn.cross_decomposition.PLSCanonical : Partial least squares, two views.

    Notes
    -----
    Targets: a label vector becomes a one-hot matrix (one topic per label, see
    ``classes_``) and ``predict`` returns the fused score of every topic; a 0/1
    indicator matrix is a multi-label target; a float vector or matrix is fitted
    as regression targets, and ``predict`` returns the same shape.

    The fit runs BLAS with ``statopt.get_config()['blas_threads']`` threads (one
    by default): its products are tall and thin (rows by features by R), and on
    the 2-core development machine two threads made the Wikipedia fit twice as
    slow.

    The view-factor block has (d_v + 1) R parameters. Up to 100 it is solved
    through its explicit Hessian; above, by conjugate gradients on the Hessian
    operator, which never forms the matrix and lowers the model at every iterate,
    preconditioned by a Kronecker-product approximation of the Hessian. Each
    sweep ends by balancing the norms of every rank-one component's factors, an
    exact minimisation over the rescalings that leave the scores unchanged.

    References
    ----------
    B. Cao, H. Zhou, G. Li and P. S. Yu, "Multi-view machines", WSDM 2016.
    C.-T. Lu, L. He, W. Shao, B. Cao and P. S. Yu, "Multilinear factorization
    machines for multi-task multi-view learning", WSDM 2017.
    Y. Xu and W. Yin, "A block coordinate descent method for regularized multiconvex
    optimization", SIAM J. Imaging Sci. 6 (2013) 1758-1789.

    Examples
    --------
    >>> from statopt.multimodal import TensorCrossModalRegressor
    >>> from statopt.datasets import make_cross_modal_data
    >>> X, y, views, modalities = make_cross_modal_data(300, random_state=0)
    >>> model = TensorCrossModalRegressor(views=views, modalities=modalities,
    ...                                   random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2, 4)
    >>> image = model.transform(X[:2], modality="image")  # image views only
    """

    _parameter_constraints: dict = {
        "n_factors": [StrictInterval(Integral, 1, None, closed="left")],
        "views": [list, tuple, None],
        "modalities": [list, tuple, None],
        "loss": [StrOptions({"auto", "squared", "logistic", "multinomial"})],
        "objective": [StrOptions({"per_modality", "fused"})],
        "alpha": [StrictInterval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "max_iter": [StrictInterval(Integral, 1, None, closed="left")],
        "tol": [StrictInterval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_factors=10,
        *,
        views=None,
        modalities=None,
        loss="auto",
        objective="per_modality",
        alpha=0.02,
        standardize=True,
        max_iter=200,
        tol=1e-4,
        random_state=None,
        verbose=0,
    ):
        self.n_factors = n_factors
        self.views = views
        self.modalities = modalities
        self.loss = loss
        self.objective = objective
        self.alpha = alpha
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def _targets(self, y):
        """Target matrix (n, P), and whether predictions are 1d."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        kind = validated(type_of_target, y, input_name="y")
        self.classes_ = None
        # Labels and indicators are scored by retrieval mAP, float targets by R^2.
        self._label_targets = kind in ("binary", "multiclass",
                                       "multilabel-indicator")
        if kind in ("binary", "multiclass"):
            self.classes_ = np.unique(y)
            targets = (y[:, None] == self.classes_[None, :]).astype(np.float64)
            return targets, False
        targets = validated(check_array, y.reshape(len(y), -1),
                            dtype=np.float64, input_name="y")
        # A kernel argument: a fresh C-ordered writeable array, whatever the
        # caller's layout and flags, so that no new numba signature compiles.
        return np.array(targets, order="C"), y.ndim == 1

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the view and topic factors and the blend weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All views side by side.
        y : array-like of shape (n_samples,) or (n_samples, n_topics)
            A label vector (one topic per label), a 0/1 label-indicator matrix
            (multi-label), or float regression targets.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = validated(validate_data, self, X, y, dtype=np.float64,
                         multi_output=True, y_numeric=False, ensure_min_samples=2)
        targets, self._ravel_output = self._targets(y)
        self.loss_ = self.loss
        if self.loss == "auto":
            if self.classes_ is not None:
                self.loss_ = "multinomial"
            elif validated(type_of_target, y) == "multilabel-indicator":
                self.loss_ = "logistic"
            else:
                self.loss_ = "squared"
        if self.loss_ != "squared" and (targets.min() < 0 or targets.max() > 1):
            raise ValueError(f"loss={self.loss_!r} needs targets in [0, 1] (labels "
                             "or a label-indicator matrix); use loss='squared' for "
                             "regression targets.")
        if self.loss_ == "multinomial" and not np.allclose(targets.sum(axis=1), 1.0):
            raise ValueError("loss='multinomial' needs one label per row (rows of the "
                             "target summing to 1); use loss='logistic' for "
                             "multi-label targets.")
        if self.classes_ is not None and len(self.classes_) < 2:
            raise ValueError("y has a single label; at least two are needed.")
        empty = np.flatnonzero(targets.max(axis=0) == targets.min(axis=0))
        if self.classes_ is None and targets.shape[1] > 1 and empty.size:
            raise ValueError(f"Target column(s) {empty.tolist()} are constant (a "
                             "label with no rows?); remove them.")
        self._view_columns, self._view_modality = _check_views(
            self.views, self.modalities, X.shape[1])
        n_topics, rank = targets.shape[1], self.n_factors
        # The multinomial topic-factor system couples every topic: (2 R P)^2.
        system = 2 * rank * (n_topics if self.loss_ == "multinomial" else 1)
        check_array_budget(
            max(X.shape[0] * max(rank, n_topics), (X.shape[1] + 1) * rank,
                system**2),
            f"n_factors={rank} with {X.shape[0]} rows, {X.shape[1]} columns and "
            f"{n_topics} topics")
        penalty = float(self.alpha) * X.shape[0]  # a Python float: inf, no warning
        if not np.isfinite(penalty):
            raise ValueError(f"alpha={self.alpha:g} times the {X.shape[0]} rows "
                             "overflows; lower alpha.")
        self._set_standardisation(X)
        designs = self._designs(X, range(len(self._view_columns)))
        rng = check_random_state(self.random_state)
        thetas = []
        for Z in designs:
            # Constant row 1: each view starts as 1 + small linear term, so the
            # product over views starts close to a sum of linear terms.
            theta = 0.1 * rng.standard_normal((Z.shape[1], self.n_factors))
            theta /= np.sqrt(Z.shape[1])
            theta[0] = 1.0
            thetas.append(theta)
        n_topics = targets.shape[1]
        phi = {m: np.zeros((self.n_factors, n_topics)) for m in MODALITIES}
        # Every product here is tall and thin (n x d by d x R): BLAS threads cost
        # more than they bring (on the Wikipedia data, 2 threads doubled the fit).
        # An overflow anywhere in the descent becomes one clear error.
        with blas_thread_limit(), np.errstate(
                over="raise", invalid="raise", divide="raise"):
            try:
                state = TensorState(designs, self._view_modality, targets,
                                    self.loss_, self.objective, penalty, thetas,
                                    phi, np.full(n_topics, 0.5))
                curve, converged, n_iter = self._descend(state)
            except FloatingPointError as error:
                raise ValueError(
                    f"The fit overflowed ({error}): X or y holds values too large "
                    "for the model's products, or alpha is too large. Rescale X "
                    "(standardize=True does it) or y, or lower alpha.") from error
        if not converged:
            decrease = (curve[-2] - curve[-1]) / abs(curve[-1])
            warn_at_caller(
                f"Block coordinate descent did not converge in {self.max_iter} sweeps "
                f"(last relative decrease {decrease:.2e} > tol={self.tol:g}); "
                "increase max_iter or tol.",
                ConvergenceWarning)
        self.view_factors_ = state.thetas
        self.topic_factors_ = state.phi
        self.blend_weights_ = state.blend
        # The state sums the loss over rows (with alpha scaled to match).
        self.objective_curve_ = [value / X.shape[0] for value in curve[1:]]
        if max(np.abs(state.topic_scores[m]).max() for m in MODALITIES) < 1e-8:
            warn_at_caller(
                f"Every factor shrank to zero: alpha={self.alpha:g} is too strong "
                "for this data (zero is a local minimum of a penalised product "
                "model). Lower alpha.", UserWarning)
        self.n_iter_ = n_iter
        return self

    def _descend(self, state):
        """Sweep until the relative decrease is under tol; monotone extrapolation."""
        curve = [_finite(state.objective())]
        converged = False
        step = INITIAL_EXTRAPOLATION
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (returned below)
            previous = state.parameters()
            state.sweep()
            objective = state.objective()
            if n_iter > 1:
                objective, accepted = extrapolate(state, previous, objective, step)
                # Grow the step while it pays, shrink it when it overshoots.
                step = min(2.0 * step, MAX_EXTRAPOLATION) if accepted else max(
                    0.5 * step, INITIAL_EXTRAPOLATION)
            curve.append(_finite(objective))
            if self.verbose:
                print(f"sweep {n_iter}: objective {curve[-1]:.10g}")
            if curve[-2] - curve[-1] <= self.tol * abs(curve[-1]):
                converged = True
                break
            # Block solves as accurate as the sweeps' progress warrants.
            decrease = (curve[-2] - curve[-1]) / max(abs(curve[-1]), 1e-300)
            state.cg_rtol = min(max(CG_FORCING * decrease, CG_RTOL), CG_MAX_RTOL)
        return curve, converged, n_iter

    def _set_standardisation(self, X):
        """Column magnitude, then mean and scale of X / magnitude.

        Columns near float64's limits (beyond 1e150, or below 1e-150 but not 0)
        are divided by their largest absolute value first, so that the squares in
        their moments neither overflow nor underflow; other columns keep
        magnitude 1, an exact no-op.
        """
        if not self.standardize:
            # The Gram matrices sum n squares of X: keep them finite.
            largest = np.sqrt(np.finfo(np.float64).max / (4.0 * X.shape[0]))
            if np.abs(X).max() > largest:
                raise ValueError(f"X holds values above {largest:.3g} in absolute "
                                 "value, too large for standardize=False; rescale "
                                 "X or set standardize=True.")
            return
        magnitude = np.abs(X).max(axis=0)
        extreme = (magnitude > 1e150) | ((magnitude < 1e-150) & (magnitude > 0))
        self._magnitude = np.where(extreme, magnitude, 1.0)
        scaled = X / self._magnitude
        self._mean = scaled.mean(axis=0)
        scale = scaled.std(axis=0)
        self._scale = np.where(scale > 0, scale, 1.0)

    def _designs(self, X, view_indices):
        """Z_v = [1, standardised X_v] for the requested views."""
        designs = []
        for v in view_indices:
            columns = self._view_columns[v]
            block = X[:, columns]
            if self.standardize:
                block = ((block / self._magnitude[columns] - self._mean[columns])
                         / self._scale[columns])
            designs.append(np.hstack([np.ones((X.shape[0], 1)), block]))
        return designs

    def _modality_scores(self, X, modality):
        views = [v for v, m in enumerate(self._view_modality) if m == modality]
        with np.errstate(over="raise", invalid="raise"):
            try:
                factors = [Z @ self.view_factors_[v]
                           for v, Z in zip(views, self._designs(X, views))]
                scores = view_product(factors) @ self.topic_factors_[modality]
            except FloatingPointError:
                scores = np.full(1, np.nan)
        if not np.isfinite(scores).all():
            raise ValueError(f"The {modality} scores overflow: X holds values far "
                             "outside the scale of the training data.")
        return scores

    def _modality_columns(self, modality):
        return np.concatenate([c for c, m in zip(self._view_columns,
                                                 self._view_modality)
                               if m == modality])

    def predict(self, X):
        """Fused topic scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All views side by side.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_topics) or (n_samples,)
            a_p f_image,p + (1 - a_p) f_text,p; 1d when fitted on a 1d float target.
        """
        check_is_fitted(self)
        X = validated(validate_data, self, X, dtype=np.float64, reset=False)
        image = self._modality_scores(X, "image")
        text = self._modality_scores(X, "text")
        fused = self.blend_weights_ * image + (1.0 - self.blend_weights_) * text
        return fused.ravel() if self._ravel_output else fused

    def score(self, X, y, sample_weight=None):
        """Retrieval mAP for label targets; R^2 for regression targets.

        For a label vector or a 0/1 label-indicator matrix (the targets of the
        multinomial and logistic losses), the score is what the model is for:
        cross-modal retrieval. Each row of X queries every row of X in the other
        modality (:meth:`cross_modal_similarity`), an item is relevant when it
        shares a label with the query, and the score is the mean of the
        image-to-text and the text-to-image mean average precision, as
        :func:`statopt.metrics.cross_modal_map_scorer` computes it.
        :class:`~sklearn.model_selection.GridSearchCV` and
        :func:`~sklearn.model_selection.cross_val_score` therefore tune for
        retrieval without a ``scoring`` argument.

        For float regression targets, the coefficient of determination R^2 of
        the fused scores, averaged uniformly over the topics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All views side by side; at least two rows.
        y : array-like of shape (n_samples,) or (n_samples, n_topics)
            Targets of the kind seen in fit.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows (as queries, for the mAP).

        Returns
        -------
        score : float
            The mAP, in (0, 1], or R^2; higher is better.
        """
        check_is_fitted(self)
        validated(validate_data, self, X, dtype=np.float64, reset=False,
                  ensure_min_samples=2)
        if self._label_targets:
            if self.classes_ is not None and np.shape(y)[1:] == (1,):
                y = np.ravel(y)  # a column of labels, as fit accepts it
            return cross_modal_map_scorer(self, X, y, sample_weight=sample_weight)
        y = validated(check_array, y, ensure_2d=False, dtype=np.float64,
                      input_name="y")
        check_consistent_length(X, y, sample_weight)
        predictions = self.predict(X)
        with np.errstate(over="ignore", invalid="ignore"):
            score = float(r2_score(y, predictions,
                                   sample_weight=scaled_sample_weight(sample_weight)))
        if not np.isfinite(score):
            raise ValueError("R^2 overflows: X or y holds values far outside the "
                             "scale of the training data.")
        return score

    def transform(self, X, modality="image", modality_only=False):
        """Embed rows into the topic space from one modality alone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_columns)
            All columns, of which those of the other modality may be NaN; or, with
            ``modality_only=True``, only the modality's columns, in the order of its
            views.
        modality : {'image', 'text'}, default='image'
            Which modality's views to use.
        modality_only : bool, default=False
            Whether X holds only the modality's columns.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_topics)
            f_modality: the modality's topic scores.
        """
        check_is_fitted(self)
        _check_method_params("transform", modality=modality,
                             modality_only=modality_only)
        columns = self._modality_columns(modality)
        if modality_only:
            X = validated(check_array, X, dtype=np.float64)
            if X.shape[1] != columns.size:
                raise ValueError(f"X has {X.shape[1]} columns; the {modality} views "
                                 f"have {columns.size}.")
            full = np.full((X.shape[0], self.n_features_in_), np.nan)
            full[:, columns] = X
            X = full
        else:
            X = validated(validate_data, self, X, dtype=np.float64, reset=False,
                          ensure_all_finite="allow-nan")
            if not np.isfinite(X[:, columns]).all():
                raise ValueError(f"The {modality} columns of X hold NaN or infinity.")
        return self._modality_scores(X, modality)

    def get_feature_names_out(self, input_features=None):
        """Names of the topic scores returned by :meth:`transform`.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored; the outputs are the topics, not the inputs.

        Returns
        -------
        names : ndarray of str, shape (n_topics,)
            The labels when y was a label vector, else ``topic0``, ``topic1``, ...
        """
        check_is_fitted(self)
        if self.classes_ is not None:
            return np.asarray([str(label) for label in self.classes_], dtype=object)
        n_topics = self.topic_factors_["image"].shape[1]
        return np.asarray([f"topic{p}" for p in range(n_topics)], dtype=object)

    def cross_modal_similarity(self, X_query, X_items, query_modality="image",
                               modality_only=False):
        """Similarity of queries from one modality to items of the other.

        With a probabilistic loss, the model's probability that the query and the
        item share a topic, each embedded from its own modality: p'q for the
        multinomial loss (one topic per item), 1 - prod_p (1 - p_p q_p) for the
        logistic loss (independent topics). With the squared loss, the cosine
        similarity of the topic scores.

        Parameters
        ----------
        X_query : array-like
            Query rows, all columns (see ``modality_only``).
        X_items : array-like
            Item rows, embedded with the other modality.
        query_modality : {'image', 'text'}, default='image'
            Modality of the queries.
        modality_only : bool, default=False
            Whether each input holds only its modality's columns.

        Returns
        -------
        similarity : ndarray of shape (n_queries, n_items)
        """
        _check_method_params("cross_modal_similarity",
                             query_modality=query_modality,
                             modality_only=modality_only)
        item_modality = "text" if query_modality == "image" else "image"
        queries = self.transform(X_query, modality=query_modality,
                                 modality_only=modality_only)
        items = self.transform(X_items, modality=item_modality,
                               modality_only=modality_only)
        if self.loss_ == "multinomial":
            # Scores far apart (1e300) overflow s - max(s) to -inf: exp gives 0,
            # the exact softmax.
            with np.errstate(over="ignore"):
                return softmax(queries, axis=1) @ softmax(items, axis=1).T
        if self.loss_ == "logistic":
            queries, items = expit(queries), expit(items)
            # log P(no topic in common) = sum_p log(1 - p_p q_p), summed in blocks;
            # saturated probabilities (p_p q_p = 1) give log 0 = -inf, similarity 1.
            shared = np.empty((len(queries), len(items)))
            for start in range(0, len(queries), 256):
                block = queries[start:start + 256, None, :] * items[None, :, :]
                with np.errstate(divide="ignore"):
                    log_none = np.log1p(-block).sum(axis=2)
                shared[start:start + 256] = -np.expm1(log_none)
            return shared
        return cosine_similarity(queries, items)

    def retrieve(self, X_query, X_items, query_modality="image", n_items=None,
                 modality_only=False):
        """Rank the items of one modality for each query from the other.

        Parameters
        ----------
        X_query : array-like
            Query rows, all columns (see ``modality_only``).
        X_items : array-like
            Item rows, embedded with the other modality.
        query_modality : {'image', 'text'}, default='image'
            Modality of the queries.
        n_items : int, default=None
            Keep the top ``n_items`` (at most the number of items); None ranks all
            items.
        modality_only : bool, default=False
            Whether each input holds only its modality's columns.

        Returns
        -------
        ranking : ndarray of shape (n_queries, n_items)
            Item indices by decreasing :meth:`cross_modal_similarity`.
        """
        _check_method_params("retrieve", n_items=n_items)
        similarity = self.cross_modal_similarity(X_query, X_items, query_modality,
                                                 modality_only)
        if n_items is not None and n_items > similarity.shape[1]:
            raise ValueError(f"n_items={n_items} exceeds the {similarity.shape[1]} "
                             "items; pass at most that, or None for all.")
        ranking = np.argsort(-similarity, axis=1, kind="stable")
        return ranking if n_items is None else ranking[:, :n_items]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = True
        return tags
