"""Auxiliary learning: a primary task helped by weighted or generated auxiliary tasks.

A shared trunk feeds one head per task. The training loss mixes the primary loss with
the auxiliary losses, ``L_t(theta, phi) = L_0 + sum_k w_k L_k``; the baselines fix or
adapt the weights ``w`` by a rule ('equal', 'uncertainty', 'gcs'), the bilevel methods
choose ``phi`` (the weights, and for 'dtg' a generator of the auxiliary labels and
rows) so that the primary loss on other data, ``L_p(theta*(phi))``, is small. Its
implicit gradient

``d L_p / d phi = - grad_theta L_p  H^{-1}  d/dphi grad_theta L_t``,  ``H = grad^2 L_t``

applies ``H^{-1}`` by a few terms of a Neumann series of exact Hessian-vector products
(the network's R-operator); ``d/dphi grad_theta L_t`` is the gradient of task ``k``
for a weight ``w_k`` and, for a generated soft label ``q``, the R-derivative of the
head's logits (``J u``), so no second-order term is approximated. With 'dtg' the
classifier also trains its primary head on generated labels of the rows that have
only auxiliary labels: each row's class posterior given the network's prediction
and those labels (``_lower_terms``, ``_update_likelihoods``).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._utils import ScaledWeightScoreMixin, power_of_two_scale, validated
from ..optim import Adam
from ._layers import (
    Dense,
    Identity,
    LeakyReLU,
    Logistic,
    ReLU,
    SoftmaxCrossEntropy,
    SoftTargetCrossEntropy,
    SquaredLoss,
    Tanh,
    _log_softmax,
    _softmax,
)
from ._network import (
    MultiHeadNetwork,
    SoftmaxClassifierMixin,
    Stack,
    _check_weights,
    predict_pass,
)
from ._training import OPTIMIZERS, MinibatchTrainer

__all__ = ["AuxiliaryLearningClassifier", "AuxiliaryLearningRegressor",
           "neumann_inverse_hvp", "largest_eigenvalue"]

ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "logistic": Logistic,
    "identity": Identity,
}
WEIGHTINGS = ("none", "equal", "uncertainty", "gcs", "bilevel", "dtg")
# Logit given to a task's own observed label by the linear term of the label
# generator at the start: the generated label is then the observed one (p ~ 0.95).
_MEMORY_LOGIT = 3.0
# Rows per class of the prior of the auxiliary label likelihoods (pool labels):
# labels distributed as the task's labels overall, whatever the class.
_LIKELIHOOD_PRIOR = 5.0
# Trusts tried for each auxiliary label's evidence (1: Bayes' rule with the
# estimated likelihoods, 0: ignore the label).
_TRUST_GRID = np.linspace(0.0, 1.0, 21)
# Critical value of the likelihood-ratio test of a zero trust: 5% level for a
# parameter on the boundary of [0, 1] (half chi-square with 1 degree of freedom
# and half a point mass at 0), scipy.stats.chi2.ppf(0.90, 1).
_TRUST_TEST = 2.705543454095404
# Fixed-point steps that align the pool labels' class frequencies with the prior.
_ALIGN_STEPS = 10


def largest_eigenvalue(hvp, size, *, n_iter=20, start=None, random_state=None):
    """Eigenvalue of largest magnitude of a symmetric operator, by power iteration.

    Parameters
    ----------
    hvp : callable
        ``hvp(v)`` returns ``H v`` for a vector ``v`` of length ``size``.
    size : int
        Dimension of ``H``.
    n_iter : int, default=20
        Number of products.
    start : ndarray of shape (size,), default=None
        Starting vector (the last one of an earlier call warm-starts); None draws one.
    random_state : int, RandomState instance or None, default=None
        Draws the starting vector.

    Returns
    -------
    eigenvalue : float
        Rayleigh quotient ``v' H v`` of the last unit vector.
    vector : ndarray of shape (size,)
        That unit vector.
    """
    if start is None or not np.any(start):
        start = check_random_state(random_state).normal(size=size)
    vector = start / np.linalg.norm(start)
    eigenvalue = 0.0
    for _ in range(n_iter):
        product = hvp(vector)
        eigenvalue = float(vector @ product)
        norm = np.linalg.norm(product)
        if not np.isfinite(norm) or norm == 0.0:
            break
        vector = product / norm
    return eigenvalue, vector


def neumann_inverse_hvp(hvp, gradient, n_terms, step):
    """Approximate ``H^{-1} g`` by ``step * sum_{j=0..n} (I - step H)^j g``.

    The recursion of the method (``v <- v - step H v; p <- p + v``, from
    ``v = p = g``) times ``step``. It converges as ``n`` grows when every
    eigenvalue of ``step H`` lies in ``(0, 2)``, that is ``0 < step < 2 / lambda_max``
    for a positive definite ``H``; the published loop has ``step = 1``.

    Parameters
    ----------
    hvp : callable
        ``hvp(v)`` returns ``H v``.
    gradient : ndarray of shape (n_params,)
        The vector ``g``.
    n_terms : int
        Number of Neumann terms ``n`` after the first.
    step : float
        The step ``eta``.

    Returns
    -------
    solution : ndarray of shape (n_params,)
    """
    v = gradient.copy()
    p = gradient.copy()
    for _ in range(n_terms):
        v = v - step * hvp(v)
        p += v
    return step * p


def _dense_block(sizes, name, activation):
    layers = []
    for index, units in enumerate(sizes):
        if (not isinstance(units, (Integral, np.integer)) or isinstance(units, bool)
                or units < 1):
            raise ValueError(f"{name}[{index}] must be a positive integer, got "
                             f"{units!r}.")
        layers += [Dense(int(units)), activation()]
    return layers


def _location_scale(values, weights=None):
    """Weighted mean and standard deviation (1 where it is 0) of finite ``values``.

    Computed on the values divided by a power of two near their largest
    magnitude, then scaled back exactly: targets of order 1e300 have squares
    beyond float64, which made the scale inf and every prediction NaN.
    """
    unit = power_of_two_scale(values)
    scaled = values / unit
    mean = np.average(scaled, weights=weights)
    spread = np.sqrt(np.average((scaled - mean) ** 2, weights=weights))
    return float(mean * unit), float(spread * unit) if spread > 0 else 1.0


def _check_auxiliary(auxiliary_targets, n_rows, kinds):
    """Validate the auxiliary label matrix; return its tasks' encodings.

    Each task is a dict: ``kind``; for a classification column ``classes``,
    ``codes`` (0 where missing) and ``observed``; for a regression column the
    standardised ``values`` (0 where missing), ``observed``, ``mean`` and ``scale``.
    """
    if auxiliary_targets is None:
        return []
    values = np.asarray(auxiliary_targets)
    if values.dtype.kind not in "biuf":
        raise TypeError("auxiliary_targets must be numeric (NaN marks a missing "
                        f"label), got dtype {values.dtype}.")
    values = values.astype(np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n_rows:
        raise ValueError(f"auxiliary_targets must have one row per row of X "
                         f"({n_rows}) and one column per auxiliary task; got shape "
                         f"{np.shape(auxiliary_targets)}.")
    if np.any(np.isinf(values)):
        raise ValueError("auxiliary_targets holds inf; mark missing labels by NaN.")
    if kinds != "auto" and len(kinds) != values.shape[1]:
        raise ValueError(f"auxiliary_types names {len(kinds)} tasks; "
                         f"auxiliary_targets has {values.shape[1]} columns.")
    tasks = []
    for k in range(values.shape[1]):
        column = values[:, k]
        observed = ~np.isnan(column)
        if observed.sum() < 2:
            raise ValueError(f"auxiliary task {k} has {int(observed.sum())} labelled "
                             "row(s); give it at least 2 or drop the column.")
        seen = column[observed]
        kind = kinds[k] if kinds != "auto" else (
            "classification" if np.all(seen == np.round(seen)) else "regression")
        if kind == "classification":
            classes = np.unique(seen)
            if classes.size < 2:
                raise ValueError(f"auxiliary task {k} holds one class only "
                                 f"({classes[0]!r}); drop it or give it two.")
            if np.any(seen != np.round(seen)):
                raise ValueError(f"auxiliary task {k} is a classification task but "
                                 "holds non-integer labels.")
            codes = np.zeros(n_rows, dtype=np.int64)
            codes[observed] = np.searchsorted(classes, seen)
            tasks.append(dict(kind=kind, classes=classes, codes=codes,
                              observed=observed))
        elif kind == "regression":
            mean, scale = _location_scale(seen)
            tasks.append(dict(kind=kind, values=np.where(observed, column - mean,
                                                         0.0)[:, None] / scale,
                              observed=observed, mean=mean, scale=scale))
        else:
            raise ValueError(f"auxiliary_types[{k}] must be 'classification' or "
                             f"'regression', got {kind!r}.")
    return tasks


def _append_auxiliary_data(X, y, auxiliary_targets, X_auxiliary, y_auxiliary,
                           sample_weight, absent):
    """``X_auxiliary`` appended to ``X`` with ``y = absent``, and their labels."""
    if X_auxiliary is None or y_auxiliary is None:
        raise ValueError("Pass X_auxiliary and y_auxiliary together.")
    if y.dtype.kind not in "iuf":
        raise ValueError("X_auxiliary needs numeric primary labels y (its rows get "
                         "y = -1); encode string labels as integers first.")
    X_auxiliary = check_array(X_auxiliary, dtype=np.float64,
                              input_name="X_auxiliary")
    if X_auxiliary.shape[1] != X.shape[1]:
        raise ValueError(f"X_auxiliary has {X_auxiliary.shape[1]} columns; X has "
                         f"{X.shape[1]}.")
    labels = np.asarray(y_auxiliary)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y_auxiliary must be numeric, got dtype {labels.dtype}.")
    labels = labels.astype(np.float64).reshape(labels.shape[0] if labels.ndim else 1,
                                               -1)
    if labels.shape[0] != X_auxiliary.shape[0]:
        raise ValueError(f"y_auxiliary has {labels.shape[0]} rows; X_auxiliary has "
                         f"{X_auxiliary.shape[0]}.")
    n_rows = X.shape[0]
    if auxiliary_targets is None:
        own = np.full((n_rows, labels.shape[1]), np.nan)
    else:
        own = np.asarray(auxiliary_targets)
        if own.dtype.kind not in "biuf":
            raise TypeError("auxiliary_targets must be numeric, got dtype "
                            f"{own.dtype}.")
        own = own.astype(np.float64).reshape(own.shape[0] if own.ndim else 1, -1)
        if own.shape != (n_rows, labels.shape[1]):
            raise ValueError(f"auxiliary_targets has shape {own.shape}; with "
                             f"y_auxiliary of {labels.shape[1]} column(s) it needs "
                             f"({n_rows}, {labels.shape[1]}).")
    if sample_weight is not None:
        sample_weight = np.concatenate([_check_weights(sample_weight, n_rows),
                                        np.ones(X_auxiliary.shape[0])])
    return (np.vstack([X, X_auxiliary]),
            np.concatenate([y, np.full(X_auxiliary.shape[0], absent, dtype=y.dtype)]),
            np.vstack([own, labels]), sample_weight)


class _AuxiliaryLearning(BaseEstimator):
    """Shared machinery of the auxiliary-learning classifier and regressor."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [tuple, list],
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "auxiliary_types": [StrOptions({"auto"}), list, tuple],
        "upper_every": [Interval(Integral, 1, None, closed="left")],
        "neumann_terms": [Interval(Integral, 0, None, closed="left")],
        "neumann_step": [StrOptions({"auto"}),
                         Interval(Real, 0, None, closed="neither")],
        "upper_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_prior": [Interval(Real, 0, None, closed="left")],
        "upper_validation": [StrOptions({"holdout", "reorder", "crossfit"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "refit_epochs": [Interval(Integral, 0, None, closed="left")],
        "generator_layers": [Interval(Integral, 0, None, closed="left")],
        "label_generator": [StrOptions({"linear+mlp", "mlp", "linear"})],
        "feature_mixing": [Interval(Real, 0, 1, closed="left")],
        "instance_regularization": [Interval(Real, 0, None, closed="left")],
        "pool_labels": [Interval(Real, 0, None, closed="left")],
        "pool_temperature": [Interval(Real, 0, None, closed="neither")],
        "pool_trust": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "pool_threshold": [Interval(Real, 0, 1, closed="left")],
        "pool_ensemble": [Interval(Real, 0, 1, closed="left")],
        "pool_rounds": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        weighting="dtg",
        activation="relu",
        auxiliary_types="auto",
        upper_every=5,
        neumann_terms=3,
        neumann_step="auto",
        upper_learning_rate=0.1,
        weight_prior=1.0,
        upper_validation="crossfit",
        validation_fraction=0.2,
        refit_epochs=20,
        generator_layers=1,
        label_generator="linear+mlp",
        feature_mixing=0.3,
        instance_regularization=0.1,
        pool_labels=1.0,
        pool_temperature=0.5,
        pool_trust="auto",
        pool_threshold=0.6,
        pool_ensemble=0.0,
        pool_rounds=1,
        alpha=1e-4,
        optimizer="adam",
        learning_rate=1e-2,
        batch_size="auto",
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=10,
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.weighting = weighting
        self.activation = activation
        self.auxiliary_types = auxiliary_types
        self.upper_every = upper_every
        self.neumann_terms = neumann_terms
        self.neumann_step = neumann_step
        self.upper_learning_rate = upper_learning_rate
        self.weight_prior = weight_prior
        self.upper_validation = upper_validation
        self.validation_fraction = validation_fraction
        self.refit_epochs = refit_epochs
        self.generator_layers = generator_layers
        self.label_generator = label_generator
        self.feature_mixing = feature_mixing
        self.instance_regularization = instance_regularization
        self.pool_labels = pool_labels
        self.pool_temperature = pool_temperature
        self.pool_trust = pool_trust
        self.pool_threshold = pool_threshold
        self.pool_ensemble = pool_ensemble
        self.pool_rounds = pool_rounds
        self.alpha = alpha
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- building

    def _build(self, n_features, tasks):
        trunk = _dense_block(self.hidden_layer_sizes, "hidden_layer_sizes",
                             ACTIVATIONS[self.activation])
        heads = [self._primary_head()]
        for task in tasks:
            if task["kind"] == "regression":
                heads.append(([Dense(1)], SquaredLoss()))
            elif self.weighting == "dtg":
                heads.append(([Dense(task["classes"].size)], SoftTargetCrossEntropy()))
            else:
                heads.append(([Dense(task["classes"].size)], SoftmaxCrossEntropy()))
        return MultiHeadNetwork(trunk, heads, n_features)

    def _generator_input(self, codes, labelled, tasks):
        """One-hot primary label (zeros if absent) and auxiliary labels of each row."""
        n_rows = codes.shape[0]
        parts = [np.where(labelled[:, None], self._primary_input(codes), 0.0)]
        for task in tasks:
            if task["kind"] == "classification":
                onehot = np.eye(task["classes"].size)[task["codes"]]
                parts.append(onehot * task["observed"][:, None])
            else:
                parts.append(task["values"] * task["observed"][:, None])
        return np.hstack(parts) if parts else np.zeros((n_rows, 0))

    def _build_generators(self, tasks, n_inputs, rng):
        """Label generators of the classification tasks: linear and MLP stacks."""
        offset = self._primary_input(np.zeros(1, np.int64)).shape[1]
        generators = []
        for index, task in enumerate(tasks):
            width = task["classes"].size if task["kind"] == "classification" else 1
            if task["kind"] != "classification":
                offset += width
                continue
            linear = Stack([Dense(width, init="glorot")])
            mlp = Stack(_dense_block((16,) * self.generator_layers,
                                     "generator_layers", Tanh) + [Dense(width)])
            w_linear = np.zeros(linear.n_params(n_inputs))
            if "linear" in self.label_generator:
                # The linear term starts by repeating the task's own observed label.
                weights = w_linear[: n_inputs * width].reshape(n_inputs, width)
                weights[offset : offset + width] = _MEMORY_LOGIT * np.eye(width)
            w_mlp = mlp.init_params(n_inputs, rng)
            # A small MLP term at the start: it learns what to add to the labels.
            w_mlp *= 0.1
            generators.append(dict(task=index, linear=linear, mlp=mlp,
                                   sizes=(w_linear.size, w_mlp.size),
                                   use_linear="linear" in self.label_generator,
                                   use_mlp="mlp" in self.label_generator))
            generators[-1]["init"] = np.concatenate([w_linear, w_mlp])
            offset += width
        return generators

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, auxiliary_targets=None, X_auxiliary=None,
            y_auxiliary=None, sample_weight=None):
        """Fit the network on the primary labels and the auxiliary tasks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows: the primary rows and the auxiliary pool.
        y : array-like of shape (n_samples,)
            Primary class labels; ``-1`` marks a row without a primary label.
        auxiliary_targets : array-like of shape (n_samples, n_auxiliary), \
default=None
            Auxiliary labels of the rows, ``NaN`` where missing. None fits the
            primary task alone (unless ``X_auxiliary`` is given).
        X_auxiliary : array-like of shape (n_auxiliary_samples, n_features), \
default=None
            Auxiliary data with its own rows (another data set): appended to ``X``
            as rows without a primary label.
        y_auxiliary : array-like of shape (n_auxiliary_samples, n_auxiliary), \
default=None
            Auxiliary labels of ``X_auxiliary`` (``NaN`` where missing), one column
            per auxiliary task, as in ``auxiliary_targets``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows of ``X``, applied to every task's
            loss (the rows of ``X_auxiliary`` weigh 1).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = self._validate_rows(X, y)
        if X_auxiliary is not None or y_auxiliary is not None:
            X, y, auxiliary_targets, sample_weight = _append_auxiliary_data(
                X, y, auxiliary_targets, X_auxiliary, y_auxiliary, sample_weight,
                self._absent)
        n_rows = X.shape[0]
        weight = _check_weights(sample_weight, n_rows)
        codes, labelled = self._encode_primary(y, fitting=True, weight=weight)
        if not np.any(weight[labelled] > 0):
            raise ValueError("sample_weight is zero on every labelled row.")
        kinds = self.auxiliary_types
        if kinds != "auto":
            kinds = list(kinds)
        tasks = _check_auxiliary(auxiliary_targets, n_rows, kinds)
        if self.weighting == "none":
            tasks = []
        # 'dtg' of a classifier also generates primary labels for the pool rows:
        # rows without a primary label that carry a classification label.
        pool = ~labelled & np.any([t["observed"] for t in tasks
                                   if t["kind"] == "classification"]
                                  or [np.zeros(n_rows, bool)], axis=0) & (weight > 0)
        self._pool_labelling = (self.weighting == "dtg" and self.pool_labels > 0
                                and self._soft_primary and bool(np.any(pool)))
        if not tasks and not np.all(labelled):
            # Rows without any label train nothing: drop them.
            keep = labelled
            X, codes, weight, labelled = X[keep], codes[keep], weight[keep], \
                labelled[keep]
            n_rows = X.shape[0]
        rng = check_random_state(self.random_state)
        self.network_ = self._build(X.shape[1], tasks)
        self.params_ = self.network_.init_params(rng)
        self.auxiliary_tasks_ = [
            {key: task[key] for key in ("kind", "classes", "mean", "scale")
             if key in task} for task in tasks]

        # upper_rows: the rows of the upper objective of each network trained in
        # the bilevel phase (two with 'crossfit', one otherwise); train_labelled:
        # the primary rows each of them trains on.
        upper_rows = None
        bilevel = self.weighting in ("bilevel", "dtg") and bool(tasks)
        train_labelled = labelled[:, None].copy()
        if bilevel and self.upper_validation == "holdout":
            held_out = self._holdout(codes, labelled, rng)
            train_labelled[held_out] = False
            upper_rows = [(X[held_out], codes[held_out], weight[held_out])]
        elif bilevel and self.upper_validation == "crossfit":
            halves = self._halves(codes, labelled, rng)
            train_labelled = np.zeros((n_rows, 2), dtype=bool)
            for j, half in enumerate(halves):
                train_labelled[half, j] = True
            # Each network is judged on the half it does not train on.
            upper_rows = [(X[h], codes[h], weight[h]) for h in halves[::-1]]
        elif bilevel:
            rows = np.flatnonzero(labelled)
            upper_rows = [(X[rows], codes[rows], weight[rows])]

        # Weights of mean 1 per task keep a full batch's task loss a mean over the
        # rows that carry its label; alpha / sum(weights) makes a weight of 2 a
        # repeated row.
        primary_weight = np.where(train_labelled, weight[:, None], 0.0)
        if not np.all(primary_weight.sum(axis=0) > 0):
            raise ValueError("sample_weight is zero on every primary row that a "
                             f"network trains on (upper_validation="
                             f"{self.upper_validation!r}); give those rows weight "
                             "or use another upper_validation.")
        l2 = self.alpha / primary_weight.sum(axis=0).mean()
        primary_weight *= n_rows / primary_weight.sum(axis=0)
        n_networks = primary_weight.shape[1]
        if n_networks == 1:
            primary_weight = primary_weight[:, 0]
        task_targets, task_weights = [], []
        for task in tasks:
            observed = np.where(task["observed"], weight, 0.0)
            if not np.any(observed > 0):
                raise ValueError("sample_weight is zero on every row of an "
                                 "auxiliary task.")
            task_weights.append(observed * (n_rows / observed.sum()))
            task_targets.append(task["codes"] if task["kind"] == "classification"
                                else task["values"])
        generator_input = self._generator_input(codes, labelled, tasks)
        arrays = (X, codes, primary_weight, generator_input, *task_targets,
                  *task_weights)
        if self._pool_labelling:
            pool_weight = np.where(pool, weight, 0.0)
            pool_weight *= n_rows / pool_weight.sum()
            # Row numbers: the pool labels' ensemble is kept per row.
            arrays += (pool_weight, np.arange(n_rows))
            prior = np.bincount(codes[labelled], weights=weight[labelled],
                                minlength=self.classes_.size)
            self._pool_data = dict(X=X[pool], codes=codes, labelled=labelled,
                                   pool=pool, prior=np.clip(prior / prior.sum(),
                                                            1e-3, None))

        self._tasks = tasks
        batch = min(200, n_rows) if self.batch_size == "auto" else self.batch_size
        self._epoch_steps = -(-n_rows // min(batch, n_rows))
        self._setup_upper(tasks, generator_input.shape[1], rng)
        trainer = self._trainer(rng)
        objective = self._objective(l2, upper_rows, rng)
        theta = self.params_
        if n_networks > 1:
            theta = np.concatenate([self.params_, self.network_.init_params(rng)])
        if self._pool_labelling:
            for j, part in enumerate(np.split(theta, n_networks)):
                self._update_likelihoods(part, j)
        trainer.fit(objective, theta, arrays)
        self.loss_curve_ = list(trainer.loss_curve_)
        self.n_iter_ = trainer.n_iter_
        if upper_rows is not None and self.upper_validation != "reorder":
            self._frozen = True
            primary_weight = np.where(labelled, weight, 0.0)
            primary_weight *= n_rows / primary_weight.sum()
            arrays = (X, codes, primary_weight) + arrays[3:]
            l2 = self.alpha / weight[labelled].sum()
            if n_networks > 1:
                # The final network, trained afresh on every primary row with the
                # weights and generator that the two halves chose.
                self.params_ = self.network_.init_params(rng)
                # A fresh network starts a fresh ensemble of its pool labels.
                self._pool_ema = {}
                if self._pool_labelling:
                    self._update_likelihoods(self.params_, 0)
                refit = self._trainer(rng)
                refit.fit(self._objective(l2, None, rng), self.params_, arrays)
            elif self.refit_epochs:
                refit = self._trainer(rng, max_iter=self.refit_epochs, tol=0.0,
                                      n_iter_no_change=self.refit_epochs)
                with warnings.catch_warnings():
                    # A fixed number of epochs: reaching it is no failure to
                    # converge.
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    refit.fit(self._objective(l2, None, rng), self.params_, arrays)
            else:
                refit = None
            if refit is not None:
                self.loss_curve_ += refit.loss_curve_
                self.n_iter_ += refit.n_iter_
            for _ in range(1, self.pool_rounds if self._pool_labelling else 1):
                # Another round: a fresh network whose pool labels are the
                # last network's posteriors, held fixed (a teacher).
                self._teacher = self._pool_posterior_logits(self.params_, 0)
                self.params_ = self.network_.init_params(rng)
                refit = self._trainer(rng)
                refit.fit(self._objective(l2, None, rng), self.params_, arrays)
                self.loss_curve_ += refit.loss_curve_
                self.n_iter_ += refit.n_iter_
        self._finish()
        return self

    def _trainer(self, rng, **overrides):
        """The minibatch driver with the estimator's settings (``overrides``
        replace max_iter, tol or n_iter_no_change) and a seed drawn from rng."""
        settings = {"max_iter": self.max_iter, "tol": self.tol,
                    "n_iter_no_change": self.n_iter_no_change, **overrides}
        return MinibatchTrainer(
            optimizer=self.optimizer, learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            random_state=rng.randint(np.iinfo(np.int32).max),
            verbose=self.verbose, **settings)

    def _holdout(self, codes, labelled, rng):
        rows = np.flatnonzero(labelled)
        n_held = max(int(round(self.validation_fraction * rows.size)), 1)
        if n_held >= rows.size:
            raise ValueError(f"validation_fraction={self.validation_fraction} of "
                             f"{rows.size} labelled rows leaves none to train on; "
                             "lower it or use upper_validation='reorder'.")
        seed = rng.randint(np.iinfo(np.int32).max)
        try:
            _, held = train_test_split(rows, test_size=n_held,
                                       stratify=self._strata(codes[rows]),
                                       random_state=seed)
        except ValueError:
            # Too few rows per class to stratify: a plain random split.
            _, held = train_test_split(rows, test_size=n_held, random_state=seed)
        return held

    def _halves(self, codes, labelled, rng):
        """Two disjoint halves of the labelled rows (stratified if possible)."""
        rows = np.flatnonzero(labelled)
        if rows.size < 2:
            raise ValueError(f"upper_validation='crossfit' needs at least 2 labelled "
                             f"rows; got {rows.size}.")
        seed = rng.randint(np.iinfo(np.int32).max)
        try:
            first, second = train_test_split(rows, test_size=0.5,
                                             stratify=self._strata(codes[rows]),
                                             random_state=seed)
        except ValueError:
            first, second = train_test_split(rows, test_size=0.5, random_state=seed)
        return [first, second]

    def _setup_upper(self, tasks, n_inputs, rng):
        n_tasks = len(tasks)
        self._frozen = False
        self._steps = 0
        self._eig_vectors = {}
        self.upper_curve_, self.neumann_steps_ = [], []
        self._weight_records = []
        self._gcs_sum, self._gcs_count = np.zeros(n_tasks), 0
        self._generators = (self._build_generators(tasks, n_inputs, rng)
                            if self.weighting == "dtg" else [])
        # The upper parameters, one vector: task weights (or log-variances with
        # 'uncertainty', the primary's first), then each generator's block.
        if self.weighting == "uncertainty":
            start = [np.zeros(n_tasks + 1)]
        else:
            start = [np.full(n_tasks, 0.0 if self.weighting == "none" else 1.0)]
        start += [g["init"] for g in self._generators]
        self._pool_tasks = []
        if getattr(self, "_pool_labelling", False):
            self._pool_tasks = [k for k, t in enumerate(tasks)
                                if t["kind"] == "classification"]
        self._upper = np.concatenate(start)
        self._likelihoods, self._trust, self._shift = {}, {}, {}
        self._pool_steps = 0
        self._pool_ema = {}
        self._teacher = None
        if self.weighting == "uncertainty":
            # Kendall et al. train the log-variances as parameters of the network:
            # the same update rule and learning rate (a per-coordinate rule, so a
            # separate instance steps them exactly as one over all parameters).
            self._upper_optimizer = OPTIMIZERS[self.optimizer](
                [self._upper], learning_rate=self.learning_rate)
        else:
            self._upper_optimizer = Adam([self._upper], self.upper_learning_rate)

    def _weights(self):
        """Weight of each auxiliary task relative to the primary one."""
        n_tasks = len(self._tasks)
        if self.weighting == "uncertainty":
            s = self._upper[: n_tasks + 1]
            return np.exp(s[0] - s[1:])
        return self._upper[:n_tasks].copy()

    def _prior_means(self):
        """Prior mean of each task weight: the task's trust (mean over the
        networks) where pool labels measure one, else 1 (equal weighting)."""
        means = np.ones(len(self._tasks))
        if self._pool_tasks and self._trust:
            means[self._pool_tasks] = np.mean(list(self._trust.values()), axis=0)
        return means

    def _generator_block(self, index):
        start = len(self._tasks)
        for g in self._generators[:index]:
            start += sum(g["sizes"])
        g = self._generators[index]
        return slice(start, start + sum(g["sizes"]))

    def _generate(self, index, inputs):
        """Soft labels of one generator and the caches of its two terms."""
        g = self._generators[index]
        w = self._upper[self._generator_block(index)]
        n_linear = g["sizes"][0]
        logits = 0.0
        caches = [None, None]
        if g["use_linear"]:
            out, caches[0] = g["linear"].forward(w[:n_linear], inputs)
            logits = logits + out
        if g["use_mlp"]:
            out, caches[1] = g["mlp"].forward(w[n_linear:], inputs)
            logits = logits + out
        return _softmax(logits), caches

    def _generator_gradient(self, index, caches, proba, grad_proba):
        """Backpropagate ``dL/dq`` through the softmax and both terms."""
        g = self._generators[index]
        w = self._upper[self._generator_block(index)]
        n_linear = g["sizes"][0]
        grad_logits = proba * (grad_proba - np.add.reduce(
            proba * grad_proba, axis=1, keepdims=True))
        grad = np.zeros(w.size)
        if g["use_linear"]:
            g["linear"].backward(w[:n_linear], caches[0], grad_logits,
                                 grad[:n_linear], need_input=False)
        if g["use_mlp"]:
            g["mlp"].backward(w[n_linear:], caches[1], grad_logits,
                              grad[n_linear:], need_input=False)
        return grad

    def _lower_batch(self, batch, rng):
        """Rows, targets and unweighted per-task coefficients of a minibatch.

        With 'dtg' the classification targets are generated soft labels and, with
        ``feature_mixing``, rows mixed with a shuffled row of the batch are appended
        (they carry only generated auxiliary labels). ``extra`` then holds the
        generators' outputs and, with pool labels, the pool rows' coefficients and
        observed auxiliary labels.
        """
        n_tasks = len(self._tasks)
        X, codes, primary_weight, inputs = batch[:4]
        targets = list(batch[4 : 4 + n_tasks])
        weights = list(batch[4 + n_tasks : 4 + 2 * n_tasks])
        pool = batch[4 + 2 * n_tasks] if self._pool_labelling else None
        row_ids = batch[5 + 2 * n_tasks] if self._pool_labelling else None
        n_rows = X.shape[0]
        extra = None
        if self.weighting == "dtg":
            if self.feature_mixing and rng is not None and n_rows > 1:
                mix = self.feature_mixing
                order = rng.permutation(n_rows)
                X = np.vstack([X, (1 - mix) * X + mix * X[order]])
                inputs = np.vstack([inputs, (1 - mix) * inputs + mix * inputs[order]])
                codes = np.concatenate([codes, codes])
                primary_weight = np.concatenate([primary_weight,
                                                 np.zeros_like(primary_weight)])
                if pool is not None:
                    pool = np.concatenate([pool, np.zeros_like(pool)])
                    row_ids = np.concatenate([row_ids, row_ids])
                for k, task in enumerate(self._tasks):
                    both = weights[k] * (weights[k][order] > 0)
                    if task["kind"] == "regression":
                        targets[k] = np.vstack([targets[k], (1 - mix) * targets[k]
                                                + mix * targets[k][order]])
                    else:
                        targets[k] = np.concatenate([targets[k], targets[k]])
                    weights[k] = np.concatenate([weights[k], both])
            extra = dict(generated=[])
            if pool is not None:
                extra.update(pool=pool / n_rows, row_ids=row_ids,
                             training=rng is not None,
                             codes=[targets[k] for k in self._pool_tasks],
                             observed=[weights[k] > 0 for k in self._pool_tasks])
            for index, g in enumerate(self._generators):
                proba, caches = self._generate(index, inputs)
                targets[g["task"]] = proba
                extra["generated"].append((caches, proba))
        coefs = [primary_weight / n_rows] + [w / n_rows for w in weights]
        return X, [codes] + targets, coefs, extra

    def _objective(self, l2, upper_rows, rng_upper):
        network = self.network_
        n_tasks = len(self._tasks)

        def objective(theta, batch, rng):
            X, targets, coefs, extra = self._lower_batch(batch, rng)
            training = rng is not None and not self._frozen
            if self.weighting == "uncertainty" and n_tasks:
                return self._uncertainty_step(theta, X, targets, coefs, l2, training)
            if self.weighting == "gcs" and n_tasks:
                return self._gcs_step(theta, X, targets, coefs, l2, training)
            # One network, or with 'crossfit' two side by side in theta, each
            # with its own column of primary weights.
            n_networks = 1 if coefs[0].ndim == 1 else coefs[0].shape[1]
            parts = np.split(theta, n_networks)
            if self._pool_labelling and rng is not None and self._teacher is None:
                # The label likelihoods follow the network once an epoch (a
                # teacher's stay fixed).
                self._pool_steps += 1
                if self._pool_steps % self._epoch_steps == 0:
                    for j, part in enumerate(parts):
                        self._update_likelihoods(part, j)
            lower, loss, grads = [], 0.0, []
            for j, part in enumerate(parts):
                own = [coefs[0] if n_networks == 1 else coefs[0][:, j]] + coefs[1:]
                own_targets, weighted = self._lower_terms(part, j, X, targets,
                                                          own, extra)
                part_loss, part_grad = network._loss_gradient(part, X, own_targets,
                                                              weighted, l2)
                loss += part_loss
                grads.append(part_grad)
                lower.append((part, own, weighted, own_targets))
            if training:
                self._steps += 1
                if self._steps % self.upper_every == 0:
                    if upper_rows is not None:
                        self._upper_step(lower, X, l2, extra, upper_rows,
                                         rng_upper)
                    self._weight_records.append(self._weights())
            return loss, grads[0] if n_networks == 1 else np.concatenate(grads)

        return objective

    def _lower_terms(self, theta, index, X, targets, coefs, extra):
        """Targets and weighted coefficients of one network's training loss.

        With pool labels, the primary target of a pool row is the posterior
        ``r_ic ~ p_theta(c | x_i) s_c prod_k (T_k[c, a_ik] / P(a_ik))^b_k`` of its
        class given the network's prediction and its observed auxiliary labels
        ``a_ik`` (see :meth:`_update_likelihoods`), sharpened to
        ``q_ic ~ r_ic^(1 / pool_temperature)``, held fixed in ``theta`` and
        weighted by ``pool_labels`` (relative to the primary rows).
        """
        n_tasks = len(self._tasks)
        weighted = [coefs[0]] + [w * c for w, c in zip(self._upper[:n_tasks],
                                                        coefs[1:])]
        if not self._pool_labelling:
            return targets, weighted
        # Only the pool rows need the forward pass (not the mixed rows, say).
        rows = extra["pool"] > 0
        if self._teacher is not None:
            logits = self._teacher[extra["row_ids"][rows]]
        else:
            logits = self.network_._heads_forward(theta, X[rows], False,
                                                  None)[1][0][0]
            logits = logits + self._shift[index]
            for table, a, observed in zip(self._likelihoods[index],
                                          extra["codes"], extra["observed"]):
                logits = logits + np.where(observed[rows, None],
                                           table[:, a[rows]].T, 0.0)
        soft = np.eye(self.classes_.size)[targets[0]]
        if self.pool_ensemble:
            posterior = self._ensemble(index, extra["row_ids"][rows],
                                       _softmax(logits), extra["training"])
            sharp = np.log(np.clip(posterior, 1e-300, None)) / self.pool_temperature
            soft[rows] = _softmax(sharp)
        else:
            soft[rows] = _softmax(logits / self.pool_temperature)
            posterior = _softmax(logits) if self.pool_threshold else None
        pool = extra["pool"]
        if self.pool_threshold:
            # Confidence selection (pseudo-labels, Lee 2013; FixMatch's mask,
            # Sohn et al. 2020): a pool row trains only while its unsharpened
            # posterior passes the threshold.
            pool = pool.copy()
            pool[rows] *= posterior.max(axis=1) >= self.pool_threshold
        weighted[0] = coefs[0] + self.pool_labels * pool
        return [soft] + list(targets[1:]), weighted

    def _pool_posterior_logits(self, theta, index):
        """Unnormalised log posterior ``log r`` of the class of every row (0 off
        the pool) under network ``index`` at ``theta``, likelihoods refreshed."""
        pool = self._pool_data["pool"]
        full = np.zeros((pool.size, self.classes_.size))
        full[pool] = self._update_likelihoods(theta, index)
        return full

    def _ensemble(self, network, rows, posterior, update):
        """Temporal ensembling of the pool labels (Laine and Aila 2017).

        The target of a pool row is the bias-corrected exponential moving average
        ``Z / (1 - a^n)`` of its ``n`` earlier posteriors (once an epoch each,
        ``a = pool_ensemble``), or its current posterior the first time; a
        training step then adds the current posterior to ``Z``.
        """
        n_rows = self._pool_data["codes"].shape[0]
        ema, seen = self._pool_ema.setdefault(network, (
            np.zeros((n_rows, self.classes_.size)), np.zeros(n_rows, np.int64)))
        decay = self.pool_ensemble
        target = posterior.copy()
        past = seen[rows] > 0
        target[past] = ema[rows[past]] / (1.0 - decay ** seen[rows[past]])[:, None]
        if update:
            ema[rows] = decay * ema[rows] + (1.0 - decay) * posterior
            seen[rows] += 1
        return target

    def _update_likelihoods(self, theta, index):
        """Estimate each auxiliary label's evidence on the class, for network
        ``index``: the table ``b_k (log T_k[c, a] - log P(a_k = a))``.

        ``T_k[c, a] = P(a_k = a | class c)`` is counted on the pool rows with the
        network's predicted class probabilities (not the posteriors, which would
        feed the labels' own evidence back into ``T``), plus
        ``_LIKELIHOOD_PRIOR`` rows per class spread as the task's labels are
        overall. The trust ``b_k`` in [0, 1] maximises the likelihood of the
        auxiliary labels of the labelled primary rows given their true class
        (rows that ``T`` never saw) under ``P(a) (T_k[c, a] / P(a))^b``: a label
        unrelated to the class gets ``b_k`` near 0 however the network fits it.
        Returns the pool rows' unnormalised log posteriors ``log r`` (logits,
        class shift and evidence).
        """
        data = self._pool_data
        labelled, pool = data["labelled"], data["pool"]
        logits = self.network_._heads_forward(theta, data["X"], False, None)[1][0][0]
        proba = _softmax(logits)
        tables, trusts = [], []
        for k in self._pool_tasks:
            task = self._tasks[k]
            labels = np.eye(task["classes"].size)
            observed, codes = task["observed"], task["codes"]
            marginal = labels[codes[observed]].mean(axis=0)
            in_pool = observed[pool]
            counts = (_LIKELIHOOD_PRIOR * marginal[None, :]
                      + proba[in_pool].T @ labels[codes[pool][in_pool]])
            ratio = np.log(counts / counts.sum(axis=1, keepdims=True)) - np.log(
                marginal)
            seen = labelled & observed
            # Tempered likelihood of the held-out labels, rows by trust.
            evidence = ratio[data["codes"][seen]]
            tempered = _TRUST_GRID[:, None, None] * evidence[None] + np.log(
                marginal)
            fit = np.take_along_axis(
                _log_softmax(tempered),
                np.broadcast_to(codes[seen][None, :, None],
                                (_TRUST_GRID.size, seen.sum(), 1)), axis=2)
            if self.pool_trust != "auto":
                trust = float(self.pool_trust)
            elif seen.any():
                loglik = fit.sum(axis=(1, 2))
                best = np.argmax(loglik)
                # Likelihood-ratio test of b = 0 (a label without evidence): the
                # argmax alone gave a pure-noise label a trust near 0.5 on
                # average, as it fits the chance correlation of a few rows.
                significant = 2.0 * (loglik[best] - loglik[0]) > _TRUST_TEST
                trust = _TRUST_GRID[best] if significant else 0.0
            else:
                trust = 0.0
            tables.append(trust * ratio)
            trusts.append(trust)
        self._likelihoods[index], self._trust[index] = tables, np.array(trusts)
        # Align the pool labels' class frequencies with the labelled rows' (a
        # network that under-predicts a class would otherwise teach itself to
        # predict it less): shift the logits until the mean posterior over the
        # pool equals the class prior (Saerens et al. 2002, fixed point).
        evidence = logits.copy()
        for table, k in zip(tables, self._pool_tasks):
            task = self._tasks[k]
            evidence += np.where(task["observed"][pool][:, None],
                                 table[:, task["codes"][pool]].T, 0.0)
        shift = np.zeros(self.classes_.size)
        for _ in range(_ALIGN_STEPS):
            shift += np.log(data["prior"]) - np.log(
                _softmax(evidence + shift).mean(axis=0))
        self._shift[index] = shift
        return evidence + shift

    def _uncertainty_loss(self, theta, s, X, targets, coefs, l2):
        """``sum_k exp(-s_k) L_k + s_k / 2`` and its gradients in theta and s."""
        weighted = [f * c for f, c in zip(np.exp(-s), coefs)]
        head_losses = []
        loss, grad = self.network_._loss_gradient(theta, X, targets, weighted, l2,
                                                  head_losses=head_losses)
        # d/ds_k [exp(-s_k) L_k + s_k / 2] = -exp(-s_k) L_k + 1/2.
        return (loss + 0.5 * float(np.sum(s)), grad,
                0.5 - np.asarray(head_losses))

    def _uncertainty_step(self, theta, X, targets, coefs, l2, training):
        n_tasks = len(self._tasks)
        loss, grad, grad_s = self._uncertainty_loss(
            theta, self._upper[: n_tasks + 1], X, targets, coefs, l2)
        if training:
            self._upper_optimizer.step([grad_s])
            self._steps += 1
            if self._steps % self.upper_every == 0:
                self._weight_records.append(self._weights())
        return loss, grad

    def _task_gradients(self, theta, X, targets, coefs, tasks, forward=None):
        """Loss and parameter gradient of each head in ``tasks`` (no penalty).

        ``forward``: the network's forward pass of ``X`` at ``theta``, if known."""
        network = self.network_
        if forward is None:
            forward = network._heads_forward(theta, X, False, None)
        trunk_cache, head_caches = forward
        trunk = network._blocks[0]
        results = []
        for k in tasks:
            (stack, head), part = network.heads[k], network._blocks[k + 1]
            logits, cache = head_caches[k]
            loss, grad_logits = head.gradient(logits, targets[k], coefs[k])
            grad = np.zeros_like(theta)
            grad_features = stack.backward(theta[part], cache, grad_logits,
                                           grad[part])
            network.trunk.backward(theta[trunk], trunk_cache, grad_features,
                                   grad[trunk], need_input=False)
            results.append((loss, grad))
        return results

    def _gcs_step(self, theta, X, targets, coefs, l2, training):
        n_tasks = len(self._tasks)
        results = self._task_gradients(theta, X, targets, coefs, range(n_tasks + 1))
        trunk = self.network_._blocks[0]
        primary = results[0][1][trunk]
        cosines = np.zeros(n_tasks)
        for k in range(n_tasks):
            shared = results[k + 1][1][trunk]
            norms = np.linalg.norm(primary) * np.linalg.norm(shared)
            cosines[k] = float(primary @ shared) / norms if norms > 0 else 0.0
        factors = np.maximum(cosines, 0.0)
        loss = results[0][0] + float(factors @ [r[0] for r in results[1:]])
        grad = results[0][1] + sum(f * r[1] for f, r in zip(factors, results[1:]))
        if l2:
            penalised = theta * self.network_.penalty_mask
            loss += 0.5 * l2 * float(penalised @ penalised)
            grad = grad + l2 * penalised
        if training:
            self._gcs_sum += factors
            self._gcs_count += 1
            self._steps += 1
            if self._steps % self.upper_every == 0:
                self._weight_records.append(factors)
        return loss, grad

    def _neumann_step(self, hvp, size, rng, network=0):
        if self.neumann_step != "auto":
            return float(self.neumann_step)
        start = self._eig_vectors.get(network)
        eigenvalue, self._eig_vectors[network] = largest_eigenvalue(
            hvp, size, n_iter=20 if start is None else 5, start=start,
            random_state=rng)
        # Half the bound 2 / lambda_max: every eigenvalue of step * H in (0, 1].
        return 1.0 / abs(eigenvalue) if eigenvalue != 0.0 else 1.0

    def _upper_step(self, lower, X, l2, extra, upper_rows, rng):
        """One implicit-gradient step of the task weights (and the generator).

        ``lower`` holds each network's parameters, task coefficients and targets;
        with 'crossfit' the step follows the mean of the two networks'
        hypergradients.
        """
        n_tasks = len(self._tasks)
        results = [self._hypergradient(theta, X, targets, coefs, weighted, l2,
                                       extra, rows, rng, j)
                   for j, ((theta, coefs, weighted, targets), rows) in
                   enumerate(zip(lower, upper_rows))]
        gradient, loss, step = (np.mean(r, axis=0) for r in zip(*results))
        if self.weight_prior:
            # Gaussian prior on the weights, centred on each task's trust: a
            # hypergradient without a consistent sign then leaves the weight
            # near the trust instead of random-walking from its start.
            offset = self._upper[:n_tasks] - self._prior_means()
            gradient[:n_tasks] += self.weight_prior * offset
            loss += 0.5 * self.weight_prior * float(offset @ offset)
        self._upper_optimizer.step([gradient])
        np.maximum(self._upper[:n_tasks], 0.0, out=self._upper[:n_tasks])
        self.upper_curve_.append(float(loss))
        self.neumann_steps_.append(float(step))

    def _hypergradient(self, theta, X, targets, coefs, weighted, l2, extra,
                       upper_rows, rng, index):
        """Upper gradient of one network, its upper objective and Neumann step."""
        network = self.network_
        X_upper, codes_upper, weight_upper = upper_rows
        if self.upper_validation == "reorder":
            # The primary training rows in another order: a fresh minibatch of them.
            size = min(X_upper.shape[0], max(X.shape[0] // 4, 1))
            rows = rng.choice(X_upper.shape[0], size=size, replace=False)
            X_upper, codes_upper, weight_upper = (X_upper[rows], codes_upper[rows],
                                                  weight_upper[rows])
        upper_coefs = [weight_upper / weight_upper.sum()]
        if self._pool_labelling:
            codes_upper = np.eye(self.classes_.size)[codes_upper]
        loss_upper, grad_upper = self._task_gradients(
            theta, X_upper, [codes_upper], upper_coefs, [0])[0]

        # One forward pass of the minibatch serves every Hessian-vector product
        # (power iteration and Neumann series) and the upper gradient.
        forward = network._heads_forward(theta, X, False, None)
        hvp = network._hvp_operator(theta, X, targets, weighted, l2,
                                    forward=forward)
        step = self._neumann_step(hvp, theta.size, rng, index)
        solution = neumann_inverse_hvp(hvp, grad_upper, self.neumann_terms, step)
        gradient, penalty = self._upper_gradient(theta, X, targets, coefs, extra,
                                                 solution, forward)
        return gradient, float(loss_upper) + penalty, step

    def _upper_gradient(self, theta, X, targets, coefs, extra, solution,
                        forward=None):
        """``-u' d/dphi grad_theta L_t`` for ``u ~ H^{-1} grad L_p``, plus the
        instance regulariser's gradient; also return that regulariser's value.

        ``forward``: the network's forward pass of ``X`` at ``theta``, if known."""
        n_tasks = len(self._tasks)
        if forward is None:
            forward = self.network_._heads_forward(theta, X, False, None)
        task_grads = self._task_gradients(theta, X, targets, coefs,
                                          range(1, n_tasks + 1), forward)
        gradient = np.zeros_like(self._upper)
        gradient[:n_tasks] = [-float(solution @ g) for _, g in task_grads]
        penalty = 0.0
        if self.weighting != "dtg":
            return gradient, penalty
        directional = self._logit_directions(theta, solution, forward)
        for index, (g, (caches, proba)) in enumerate(zip(self._generators,
                                                         extra["generated"])):
            k = g["task"]
            # d grad_theta L_t / dq_ik = -w_k c_ik J_ik': the label's pull on u.
            grad_proba = (self._upper[k] * coefs[k + 1])[:, None] * \
                directional[k + 1]
            if self.instance_regularization:
                observed = coefs[k + 1] > 0
                mean = np.clip(proba[observed].mean(axis=0), 1e-12, None)
                penalty += self.instance_regularization * float(mean @ np.log(mean))
                grad_proba[observed] += self.instance_regularization * (
                    np.log(mean) + 1.0) / observed.sum()
            gradient[self._generator_block(index)] = self._generator_gradient(
                index, caches, proba, grad_proba)
        return gradient, penalty

    def _logit_directions(self, theta, vector, forward):
        """``J_k u``: the directional derivative of every head's logits along u,
        from the forward pass ``forward`` at ``theta``."""
        network = self.network_
        trunk = network._blocks[0]
        trunk_cache, head_caches = forward
        r_features, _ = network.trunk.r_forward(theta[trunk], vector[trunk],
                                                trunk_cache, None)
        return [stack.r_forward(theta[part], vector[part], cache, r_features)[0]
                for (stack, _), part, (_, cache) in zip(
                    network.heads, network._blocks[1:], head_caches)]

    def _finish(self):
        n_tasks = len(self._tasks)
        if self.weighting == "gcs" and self._gcs_count:
            self.task_weights_ = self._gcs_sum / self._gcs_count
        else:
            self.task_weights_ = self._weights() if n_tasks else np.zeros(0)
        records = self._weight_records or [self.task_weights_]
        self.task_weight_curve_ = np.array(records).reshape(len(records), n_tasks)
        self.generator_params_ = [self._upper[self._generator_block(i)].copy()
                                  for i in range(len(self._generators))]
        if self._pool_labelling:
            self.auxiliary_trust_ = np.zeros(len(self._tasks))
            self.auxiliary_trust_[self._pool_tasks] = self._trust[0]

    # ------------------------------------------------------------ predicting

    def generate_auxiliary_labels(self, y, auxiliary_targets):
        """Soft auxiliary labels that the fitted label generator gives each row.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Primary labels (``-1`` where absent; ``NaN`` for the regressor).
        auxiliary_targets : array-like of shape (n_samples, n_auxiliary)
            Observed auxiliary labels, ``NaN`` where missing.

        Returns
        -------
        labels : list of ndarray
            For each classification task, the generated probabilities of its
            classes, shape ``(n_samples, n_task_classes)`` (``auxiliary_tasks_``
            gives the classes); None for a regression task.
        """
        check_is_fitted(self)
        if self.weighting != "dtg":
            raise ValueError("Generated labels exist for weighting='dtg' only; this "
                             f"model was fitted with weighting={self.weighting!r}.")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError("y must be a 1-d array of primary labels.")
        codes, labelled = self._encode_primary(y, fitting=False)
        tasks = _check_auxiliary(auxiliary_targets, y.size,
                                 [t["kind"] for t in self.auxiliary_tasks_])
        for task, fitted in zip(tasks, self.auxiliary_tasks_):
            if task["kind"] == "classification":
                extra = np.setdiff1d(task["classes"], fitted["classes"])
                if extra.size:
                    raise ValueError(f"auxiliary labels {extra.tolist()} were not "
                                     "seen in fit.")
                task["codes"] = np.searchsorted(fitted["classes"],
                                                task["classes"][task["codes"]])
                task["classes"] = fitted["classes"]
            else:
                task["values"] = np.where(
                    task["observed"], (task["values"][:, 0] * task["scale"]
                                       + task["mean"] - fitted["mean"])
                    / fitted["scale"], 0.0)[:, None]
        inputs = self._generator_input(codes, labelled, tasks)
        labels = [None] * len(tasks)
        for index, g in enumerate(self._generators):
            labels[g["task"]] = self._generate(index, inputs)[0]
        return labels

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return predict_pass(lambda: self.network_.forward(self.params_, X)[0])


class AuxiliaryLearningClassifier(ScaledWeightScoreMixin, SoftmaxClassifierMixin,
                                  ClassifierMixin, _AuxiliaryLearning):
    """Classifier helped by auxiliary tasks: fixed, adaptive or learned task weights.

    A shared trunk (dense layers) feeds the primary head and one head per auxiliary
    task (a column of ``auxiliary_targets``). The training loss is
    ``L_t = L_0 + sum_k w_k L_k``; ``weighting`` chooses how the weights ``w`` (and,
    for 'dtg', the auxiliary labels and rows) are set:

    - 'none': the primary task alone (the network on the labelled rows);
    - 'equal': ``w_k = 1``;
    - 'uncertainty': homoscedastic uncertainty (Kendall, Gal & Cipolla 2018), loss
      ``sum_k exp(-s_k) L_k + s_k / 2`` over all tasks, the primary's included, with
      the log-variances ``s`` trained jointly with the network by its optimiser;
    - 'gcs': gradient cosine similarity (Du et al. 2018), at each step
      ``w_k = max(0, cos(grad L_k, grad L_0))`` on the trunk's parameters;
    - 'bilevel': ``w`` learned by the implicit gradient of the upper objective (as
      AuxiLearn, Navon et al. 2021), every ``upper_every`` steps;
    - 'dtg': the joint data-task generator (Chen et al. 2023): the weights plus a
      label generator (a linear term and an MLP over the primary and auxiliary
      labels of a row) that produces soft auxiliary labels, a feature generator that
      adds rows mixed with another (shuffled) row of the minibatch, and an instance
      regulariser that keeps the generated labels from collapsing onto one class;
      here also generated primary labels for the pool rows (``pool_labels``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
        Units of the trunk's dense layers.
    weighting : {'dtg', 'bilevel', 'equal', 'uncertainty', 'gcs', 'none'}, \
default='dtg'
        How the auxiliary tasks are weighted (see above).
    activation : {'relu', 'leaky_relu', 'tanh', 'logistic', 'identity'}, \
default='relu'
        Activation of the trunk's hidden layers.
    auxiliary_types : 'auto' or list of {'classification', 'regression'}, \
default='auto'
        Kind of each auxiliary column; 'auto' takes integer-valued columns as
        classification, the others as regression (standardised, squared loss).
    upper_every : int, default=5
        Lower (minibatch) steps between two upper steps ('bilevel', 'dtg'). The
        method publishes 20 or 30 on data sets of many minibatches; with 850 rows
        (5 minibatches an epoch) 20 leaves too few upper steps to move the weights.
    neumann_terms : int, default=3
        Terms of the Neumann series for the inverse Hessian.
    neumann_step : 'auto' or float, default='auto'
        Step ``eta`` of the Neumann series. 'auto' takes ``1 / lambda_max``, half the
        convergence bound ``2 / lambda_max``, with ``lambda_max`` estimated by power
        iteration on Hessian-vector products of the current minibatch (warm-started,
        5 products per upper step). The published loop uses 1.
    upper_learning_rate : float, default=0.1
        Adam step of the upper parameters (task weights, generator) of 'bilevel'
        and 'dtg'. The log-variances of 'uncertainty' are trained with the network
        (``optimizer``, ``learning_rate``), as Kendall et al. do.
    weight_prior : float, default=1.0
        Precision ``lambda`` of a Gaussian prior on the task weights of 'bilevel'
        and 'dtg': the upper objective gains
        ``(lambda / 2) sum_k (w_k - m_k)^2``, with ``m_k`` the task's trust
        ``b_k`` (``auxiliary_trust_``; the mean over the two cross-fitted
        networks) where pool labels measure one, else 1 (equal weighting). The
        implicit gradient of a weight is noisy and often has no consistent sign
        over a fit, so without the prior (0) a weight random-walks near its
        start; with it, a task whose hypergradient does not pull consistently
        stays near its trust, and a task whose labels fail the trust's test
        (see Notes) loses its weight. 0 is the published upper objective.
    upper_validation : {'crossfit', 'holdout', 'reorder'}, default='crossfit'
        Rows of the upper objective. 'crossfit' splits the labelled primary rows
        into two stratified halves and trains two networks side by side, each on
        one half (and every auxiliary row), judged on the other half; the upper
        step follows the mean of their two hypergradients, so every primary row
        is upper data, and the final network is then trained afresh on all rows
        with the learned weights and generator frozen (about twice the cost of
        'holdout'). 'holdout' holds out ``validation_fraction`` of the labelled
        primary rows (stratified; they train no lower step); 'reorder' uses the
        primary training rows in another order (the published choice).
    validation_fraction : float, default=0.2
        Share of the labelled primary rows held out with 'holdout'.
    refit_epochs : int, default=20
        With 'holdout', epochs trained afterwards on all rows with the learned
        weights and generator frozen (the held-out rows then train the network too).
        'crossfit' retrains to convergence instead (``max_iter``, ``tol``).
    generator_layers : int, default=1
        Hidden layers (16 tanh units each) of the MLP term of the label generator.
    label_generator : {'linear+mlp', 'mlp', 'linear'}, default='linear+mlp'
        Terms of the label generator ('dtg'); the other two are ablations.
    feature_mixing : float, default=0.3
        Share of the shuffled row in each generated row ('dtg'); 0 adds no rows.
    instance_regularization : float, default=0.1
        Weight of the instance regulariser (minus the entropy of the mean generated
        label of each task, per minibatch) in the upper objective ('dtg').
    pool_labels : float, default=1.0
        Weight, relative to the labelled primary rows, of the primary labels that
        'dtg' generates for the pool rows (rows with ``y = -1`` and a
        classification auxiliary label); 0 generates none. A pool row's label is
        the posterior of its class given the network's prediction and its
        auxiliary labels, each label's evidence estimated from the pool and
        trusted as far as it predicts the labelled rows' auxiliary labels (see
        Notes). The classifier only.
    pool_temperature : float, default=0.5
        Temperature that sharpens the generated pool labels, ``q ~ r^(1 / T)``
        for the posterior ``r`` (MixMatch's sharpening and its default, Berthelot
        et al. 2019): below 1 the pool rows also lower the entropy of the
        network's predictions (Grandvalet and Bengio 2005), which helps even when
        the auxiliary labels say nothing; 1 keeps the posterior.
    pool_trust : 'auto' or float in [0, 1], default='auto'
        Trust ``b_k`` in every auxiliary label's evidence in the generated pool
        labels. 'auto' chooses each task's trust by the likelihood of the
        labelled rows' auxiliary labels, and sets it to 0 unless a
        likelihood-ratio test rejects a zero trust at the 5% level (see Notes);
        a number fixes it for every task: 1 is Bayes' rule with the estimated
        likelihoods, 0 ignores the auxiliary labels, so a pool row's label is
        the network's own class-aligned, sharpened prediction (self-training,
        the baseline that tells what the auxiliary labels add; with
        ``weight_prior > 0`` the auxiliary heads' weights then go to 0 too).
    pool_threshold : float in [0, 1), default=0.6
        Confidence selection of the generated pool labels (pseudo-labelling, Lee
        2013; FixMatch's mask, Sohn et al. 2020): at each step a pool row trains
        the primary head only if the largest probability of its unsharpened
        posterior ``r`` reaches the threshold; 0 keeps every pool row.
    pool_ensemble : float in [0, 1), default=0.0
        Decay ``a`` of temporal ensembling of the pool labels (Laine and Aila
        2017): a pool row's target is then the bias-corrected moving average of
        its posteriors from earlier epochs (its current one the first time),
        sharpened; 0 uses the current posterior. Laine and Aila used 0.6.
    pool_rounds : int, default=1
        Rounds of pool labelling: after the final network, each further round
        trains a fresh network (the weights and generator frozen) whose pool
        labels are the previous network's posteriors ``r``, held fixed (a
        teacher: iterated self-training), with the same sharpening and
        ``pool_threshold``; 1 keeps the final network. Needs
        ``upper_validation`` 'crossfit' or 'holdout'. Two rounds with
        ``pool_threshold=0.8`` raised the accuracy at ``rho = 0.5`` of the
        user guide's experiment but lowered it without label noise.
    alpha : float, default=1e-4
        L2 penalty of the dense weights.
    optimizer : {'adam', 'sgd', 'momentum', 'rmsprop', 'amsgrad'}, default='adam'
        Update rule of the network's parameters.
    learning_rate : float, default=1e-2
        Step of the network's optimiser.
    batch_size : int or 'auto', default='auto'
        Rows per minibatch (``min(200, n_rows)`` for 'auto').
    max_iter : int, default=100
        Epochs.
    tol : float, default=1e-4
        Improvement of the epoch's training loss below which an epoch makes no
        progress.
    n_iter_no_change : int, default=10
        Stop after this many epochs without progress.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the split, the minibatches and the generators.
    verbose : int, default=0
        Print one line per epoch when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Primary class labels.
    task_weights_ : ndarray of shape (n_auxiliary,)
        Final weight of each auxiliary task relative to the primary task (the mean
        over the fit for 'gcs', whose weights change every step).
    task_weight_curve_ : ndarray of shape (n_records, n_auxiliary)
        The weights every ``upper_every`` steps.
    upper_curve_ : list of float
        Upper objective at each upper step ('bilevel', 'dtg'; primary loss on the
        upper rows, averaged over the two networks with 'crossfit').
    neumann_steps_ : list of float
        The Neumann step of each upper step (the mean of the two networks' with
        'crossfit').
    auxiliary_tasks_ : list of dict
        Kind and classes (or mean and scale) of each auxiliary task.
    network_ : MultiHeadNetwork
        The fitted network (primary head first).
    params_ : ndarray of shape (n_params,)
        Its parameters.
    generator_params_ : list of ndarray
        Parameters of each classification task's label generator ('dtg').
    auxiliary_trust_ : ndarray of shape (n_auxiliary,)
        Trust in [0, 1] of each auxiliary task's label as evidence on the class in
        the generated pool labels (0 for regression tasks); set when pool labels
        were generated (with ``pool_rounds > 1``, the last teacher's). With
        ``weight_prior > 0`` also the prior mean of the task's weight.
    loss_curve_ : list of float
        Training loss of each epoch.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    statopt.neural_network.MultiHeadNetwork : The network this estimator trains.
    statopt.neural_network.EventAdversarialClassifier : Another multi-head network.

    Notes
    -----
    ``auxiliary_targets`` reaches ``fit`` through metadata routing: after
    ``sklearn.set_config(enable_metadata_routing=True)`` and
    ``clf.set_fit_request(auxiliary_targets=True)``, Pipeline, cross_val_score and
    GridSearchCV pass it and split it with the rows. Rows with ``y = -1`` carry no
    primary label (scikit-learn's semi-supervised convention) and train only the
    auxiliary heads, so one ``X`` holds the few primary rows and the larger
    auxiliary pool. ``NaN`` in ``auxiliary_targets`` marks a missing label.

    The upper step works on the current minibatch: the Hessian, the task gradients
    and the generated labels are those of the rows of the step that triggered it.

    Pool labels ('dtg', ``pool_labels > 0``): a pool row ``i`` with auxiliary
    labels ``a_ik`` trains the primary head on the soft label ``q_i ~ r_i^(1 / t)``
    (``t = pool_temperature``), the sharpened posterior
    ``r_ic ~ p(c | x_i) s_c prod_k (T_k[c, a_ik] / P(a_ik))^b_k``, held fixed in
    the network's parameters. Once an epoch: ``T_k[c, a]``, the probability of
    label ``a`` in class ``c``, is counted on the pool rows with the network's
    predicted class probabilities (plus 5 rows per class spread as the labels
    are overall); the trust ``b_k`` in [0, 1] (``pool_trust='auto'``; a number
    fixes it) maximises the likelihood of the labelled primary rows' auxiliary
    labels given their classes (rows ``T_k`` never saw), and is set to 0 unless
    twice the log-likelihood gain over ``b_k = 0`` exceeds 2.71 (a
    likelihood-ratio test at the 5% level, ``b_k = 0`` on the boundary: half a
    chi-square with 1 degree of freedom), so a label flipped at random, or
    unrelated to the class, gets ``b_k = 0`` in about 95% of fits (the maximum
    alone gave such a label about 0.5 on average, fitting the chance agreement
    of the few labelled rows); the class shift
    ``s`` makes the mean ``r`` over the pool equal the labelled rows' class
    frequencies (the prior-adjustment fixed point of Saerens et al. 2002), so
    the network does not teach itself to predict a class it under-predicts
    less and less. With labels that say nothing (or ``pool_trust=0``), ``q`` is
    the network's own shifted and sharpened prediction: self-training with
    entropy minimisation. With ``pool_threshold`` a pool row counts only at the
    steps where ``max_c r_ic`` reaches it, so rows the network and the labels
    leave undecided do not teach the network its own guesses; with
    ``pool_ensemble`` ``r`` is replaced by the bias-corrected moving average of
    the row's earlier posteriors. With ``pool_rounds > 1`` a fresh network
    learns from the last network's ``r``, held fixed, instead of its own.

    References
    ----------
    .. [1] H. Chen et al., "Joint data-task generation for auxiliary learning",
       NeurIPS 2023.
    .. [2] A. Navon et al., "Auxiliary learning by implicit differentiation",
       ICLR 2021.
    .. [3] A. Kendall, Y. Gal and R. Cipolla, "Multi-task learning using
       uncertainty to weigh losses", CVPR 2018.
    .. [4] Y. Du et al., "Adapting auxiliary losses using gradient similarity",
       arXiv:1812.02224, 2018.
    .. [5] M. Saerens, P. Latinne and C. Decaestecker, "Adjusting the outputs of
       a classifier to new a priori probabilities: a simple procedure", Neural
       Computation 14(1), 2002.
    .. [6] D. Berthelot et al., "MixMatch: a holistic approach to
       semi-supervised learning", NeurIPS 2019.
    .. [7] D.-H. Lee, "Pseudo-label: the simple and efficient semi-supervised
       learning method for deep neural networks", ICML Workshop on Challenges
       in Representation Learning, 2013.
    .. [8] K. Sohn et al., "FixMatch: simplifying semi-supervised learning with
       consistency and confidence", NeurIPS 2020.
    .. [9] S. Laine and T. Aila, "Temporal ensembling for semi-supervised
       learning", ICLR 2017.

    Examples
    --------
    >>> from statopt.datasets import make_auxiliary_tasks
    >>> from statopt.neural_network import AuxiliaryLearningClassifier
    >>> data = make_auxiliary_tasks(random_state=0)
    >>> clf = AuxiliaryLearningClassifier(weighting="equal", tol=0.05,
    ...                                   n_iter_no_change=2, random_state=0)
    >>> clf = clf.fit(data.X, data.y, auxiliary_targets=data.auxiliary_targets)
    >>> clf.task_weights_
    array([1., 1., 1.])
    >>> clf.predict(data.X_test[:3]).shape
    (3,)
    """

    _absent = -1
    _soft_primary = True

    def _validate_rows(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        validated(check_classification_targets, y)
        return X, y

    def _encode_primary(self, y, fitting, weight=None):
        """Class codes (0 where absent) and the mask of rows with a label."""
        labelled = ~(y == -1) if y.dtype.kind in "iuf" else np.ones(y.size, bool)
        if fitting:
            if not np.any(labelled):
                raise ValueError("y holds no labelled row (every label is -1).")
            classes = np.unique(y[labelled])
            if classes.size < 2:
                raise ValueError(f"y holds one class only ({classes[0]!r}) among its "
                                 "labelled rows; a classifier needs at least two "
                                 "(-1 marks a row without a primary label).")
            self.classes_ = classes
        unseen = np.setdiff1d(y[labelled], self.classes_)
        if unseen.size:
            raise ValueError(f"y holds labels {unseen.tolist()} not in classes_.")
        codes = np.zeros(y.size, dtype=np.int64)
        codes[labelled] = np.searchsorted(self.classes_, y[labelled])
        return codes, labelled

    def _primary_head(self):
        if self._pool_labelling:
            # Pool rows train the primary head on generated soft labels.
            return [Dense(self.classes_.size)], SoftTargetCrossEntropy()
        return [Dense(self.classes_.size)], SoftmaxCrossEntropy()

    def _primary_input(self, codes):
        return np.eye(self.classes_.size)[codes]

    def _strata(self, codes):
        return codes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.non_deterministic = False
        return tags


class AuxiliaryLearningRegressor(ScaledWeightScoreMixin, RegressorMixin,
                                 _AuxiliaryLearning):
    """Regressor helped by auxiliary tasks: fixed, adaptive or learned task weights.

    :class:`AuxiliaryLearningClassifier` with a real-valued primary task (the
    method's rating-prediction experiments): the primary head is one output with the
    half squared error on the standardised target, ``NaN`` in ``y`` marks a row
    without a primary label (a value such as -1 is a valid target here), and the
    label generator of 'dtg' reads the standardised primary target. Parameters,
    ``fit`` arguments and the other attributes are those of the classifier.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
        Units of the trunk's dense layers.
    **params
        As :class:`AuxiliaryLearningClassifier`.

    Attributes
    ----------
    y_mean_, y_scale_ : float
        Mean and standard deviation of the labelled primary targets (the head
        predicts the standardised target).
    task_weights_ : ndarray of shape (n_auxiliary,)
        Final weight of each auxiliary task relative to the primary task.

    See Also
    --------
    AuxiliaryLearningClassifier : The same estimator for a classification task.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import AuxiliaryLearningRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3)); y = X[:, 0] + 0.1 * rng.normal(size=200)
    >>> y[50:] = np.nan                          # 150 rows without the primary target
    >>> auxiliary = (X[:, :1] > 0).astype(float)  # a related auxiliary label
    >>> reg = AuxiliaryLearningRegressor((16,), weighting="equal", tol=0.05,
    ...                                  n_iter_no_change=2, random_state=0)
    >>> reg = reg.fit(X, y, auxiliary_targets=auxiliary)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _absent = np.nan
    _soft_primary = False

    def _validate_rows(self, X, y):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but "
                             "the target y is None.")
        X = validate_data(self, X, dtype=np.float64)
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64,
                                     ensure_all_finite="allow-nan", input_name="y"),
                         warn=True)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows; X has {X.shape[0]}.")
        return X, y

    def _encode_primary(self, y, fitting, weight=None):
        """Standardised targets, shape (n, 1) (0 where absent), and the mask.

        In fit, the mean and scale are weighted by ``weight`` (a weight of 2 is a
        repeated row)."""
        y = np.asarray(y, dtype=np.float64)
        if np.any(np.isinf(y)):
            raise ValueError("y holds inf; NaN marks a row without a primary target.")
        labelled = ~np.isnan(y)
        if fitting:
            if labelled.sum() < 2:
                raise ValueError(f"y has n_samples = {int(labelled.sum())} with a "
                                 "primary target, fewer than 2 (NaN marks a row "
                                 "without one).")
            w = weight[labelled]
            if not np.any(w > 0):
                raise ValueError("sample_weight is zero on every labelled row.")
            self.y_mean_, self.y_scale_ = _location_scale(y[labelled], w)
        targets = np.where(labelled, (y - self.y_mean_) / self.y_scale_, 0.0)
        return targets[:, None], labelled

    def _primary_head(self):
        return [Dense(1)], SquaredLoss()

    def _primary_input(self, codes):
        return np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)

    def _strata(self, codes):
        return None

    def predict(self, X):
        """Return the predicted primary target of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._logits(X)[:, 0] * self.y_scale_ + self.y_mean_

    def score(self, X, y, sample_weight=None):
        """Return the coefficient of determination R^2 of the predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True values.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        # Squared errors of values near float64's limit overflow: say so rather
        # than return -inf or NaN.
        with np.errstate(over="ignore", invalid="ignore"):
            score = super().score(X, y, sample_weight=sample_weight)
        if not np.isfinite(score):
            raise ValueError("R^2 overflows: X or y holds values far outside the "
                             "scale of the training data.")
        return float(score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
