"""Event-adversarial classifier: gradient reversal against an event discriminator.

A feature extractor feeds a label detector and, through a gradient-reversal layer, an
event discriminator. One simultaneous step per minibatch seeks the saddle point of
``L_d - lambda L_e`` (Ganin & Lempitsky 2015; EANN, Wang et al. 2018): the detector
and the discriminator each descend their own loss while the extractor descends
``L_d`` and climbs ``L_e``.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils import ScaledWeightScoreMixin, blas_thread_limit, validated
from ._layers import (
    Dense,
    Dropout,
    GradientReversal,
    Identity,
    LeakyReLU,
    Logistic,
    ReLU,
    SoftmaxCrossEntropy,
    Tanh,
)
from ._network import (
    Branches,
    MultiHeadNetwork,
    SoftmaxClassifierMixin,
    Stack,
    _check_weights,
    predict_pass,
)
from ._training import OPTIMIZERS, MinibatchTrainer

__all__ = ["EventAdversarialClassifier"]

ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "logistic": Logistic,
    "identity": Identity,
}


def _ramp(progress):
    """Ganin & Lempitsky's factor ``2 / (1 + exp(-10 p)) - 1``, from 0 to ~1."""
    return 2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0


def _view_columns(view, index, n_features, seen):
    """Column indices of ``views[index]``, checked and marked as taken in ``seen``."""
    columns = np.asarray(view)
    if (columns.ndim != 1 or columns.size == 0 or columns.dtype.kind not in "iu"
            or np.any(columns < 0) or np.any(columns >= n_features)):
        raise ValueError(f"views[{index}] must be a non-empty 1-d array of column "
                         f"indices in [0, {n_features}).")
    if np.any(seen[columns]) or np.unique(columns).size != columns.size:
        raise ValueError(f"views[{index}] repeats a column already in a view.")
    seen[columns] = True
    return columns


def _check_views(views, modalities, n_features):
    """Return ``{modality: column indices}`` in order of first appearance."""
    if views is None:
        if modalities is not None:
            raise ValueError("modalities were given without views; pass views (one "
                             "array of column indices per view) as well.")
        return {"all": np.arange(n_features)}
    views = list(views)
    modalities = ([f"view{k}" for k in range(len(views))] if modalities is None
                  else list(modalities))
    if len(views) != len(modalities) or not views:
        raise ValueError(f"Got {len(views)} views and {len(modalities)} modalities; "
                         "pass one modality name per view.")
    groups, seen = {}, np.zeros(n_features, dtype=bool)
    for index, (view, modality) in enumerate(zip(views, modalities)):
        columns = _view_columns(view, index, n_features, seen)
        if not isinstance(modality, str):
            raise TypeError(f"modalities[{index}] must be a string, got "
                            f"{modality!r}.")
        groups[modality] = np.concatenate([groups.get(modality, []), columns]).astype(
            np.intp)
    return groups


class EventAdversarialClassifier(
    ScaledWeightScoreMixin, SoftmaxClassifierMixin, ClassifierMixin,
    TransformerMixin, BaseEstimator,
):
    """Classifier whose features are trained to hide the event each row came from.

    A feature extractor ``G_f`` (one branch per modality, outputs concatenated)
    feeds a label detector ``G_d`` and, through a gradient-reversal layer (identity
    forward, gradient times ``-lambda`` backward), an event discriminator ``G_e``
    that predicts the row's event (topic, site, batch, domain). One simultaneous step
    per minibatch updates

    ``theta_f <- theta_f - eta' (dL_d/dtheta_f - lambda dL_e/dtheta_f)``,
    ``theta_d <- theta_d - eta' dL_d/dtheta_d``,
    ``theta_e <- theta_e - eta' dL_e/dtheta_e``,

    with ``eta' = eta / (1 + a p)^b`` and ``p`` the training progress in [0, 1]. The
    features help the detector and carry as little event signal as the discriminator
    finds, so the detector transfers to new events.

    Read more in the :ref:`User Guide <event_adversarial>`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
        Units of the extractor's dense layers (of every modality branch).
    detector_layer_sizes : tuple of int, default=()
        Hidden units of the label detector before its output layer.
    discriminator_layer_sizes : tuple of int, default=(64,)
        Hidden units of the event discriminator before its output layer.
    activation : {'relu', 'leaky_relu', 'tanh', 'logistic', 'identity'}, \
default='relu'
        Activation after every hidden dense layer (leaky ReLU with slope 0.01).
    adversary_weight : float, default=1.0
        ``lambda``, the weight of the reversed discriminator gradient in the
        extractor's update. 0 trains the discriminator on fixed-by-it features
        without influencing them.
    adversary_schedule : {'constant', 'ramp'}, default='constant'
        ``'ramp'`` uses ``lambda_p = lambda (2 / (1 + exp(-10 p)) - 1)`` at progress
        ``p``, updated before every minibatch step.
    learning_rate : float, default=1e-3
        ``eta``, the step size before the schedule.
    learning_rate_schedule : {'inverse', 'constant'}, default='inverse'
        ``'inverse'`` is ``eta / (1 + a p)^b`` over ``max_iter`` epochs.
    decay_a, decay_b : float, default=10.0, 0.75
        ``a`` and ``b`` of the inverse schedule.
    optimizer : {'adam', 'sgd', 'momentum', 'rmsprop', 'amsgrad'}, default='adam'
        Update rule of :mod:`statopt.optim`.
    alpha : float, default=1e-4
        L2 penalty on the dense weights, as in scikit-learn's MLPClassifier
        (``alpha / (2 n) ||W||^2`` added to the mean loss).
    dropout : float, default=0.0
        Inverted-dropout rate after every hidden activation of the extractor.
    batch_size : int or 'auto', default='auto'
        Rows per minibatch; ``'auto'`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Improvement of the detector's training loss (or of the validation accuracy with
        ``early_stopping``) below which an epoch counts as no progress.
    n_iter_no_change : int, default=10
        Stop after this many epochs in a row without progress.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, stop when their detector
        accuracy stops improving and keep the best parameters.
    validation_fraction : float, default=0.1
        Share of the rows held out with ``early_stopping``.
    views : list of array-like of int, default=None
        Column indices of each view; None treats all columns as one modality.
    modalities : list of str, default=None
        Modality name of each view (``'text'``, ``'image'``, ...). Views of the same
        modality share one extractor branch. None gives each view its own branch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the dropout masks.
    verbose : int, default=0
        Print one line per epoch when positive.
    warm_start : bool, default=False
        When True, :meth:`fit` continues from the fitted parameters instead of
        initialising new ones, as scikit-learn's MLPClassifier does: it keeps the
        parameters, ``loss_curve_``, ``n_iter_`` and ``t_``, and starts a fresh
        optimiser (zero moments) whose learning-rate and adversary schedules
        restart from step 0 over ``max_iter`` epochs; the ``tol`` counter (and
        the early-stopping split) restart too. The classes, the events
        (the rows' events must be among ``events_``), the number of features and
        the architecture parameters (``hidden_layer_sizes``,
        ``detector_layer_sizes``, ``discriminator_layer_sizes``, ``activation``,
        ``views``, ``modalities``) must be those of the fitted network.
        :meth:`partial_fit` always continues, optimiser state included.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (unlabelled rows, ``y = -1``, excluded).
    events_ : ndarray of shape (n_events,) or None
        Event labels seen in ``fit``; None for a fit without events.
    modalities_ : list of str
        Names of the extractor branches, in the order of their features.
    network_ : MultiHeadNetwork
        The network: extractor trunk, detector head and (with events) the
        discriminator head behind a :class:`GradientReversal`.
    params_ : ndarray of shape (n_params,)
        The trained flat parameter vector.
    loss_curve_ : list of float
        Penalised detector loss of each epoch (the quantity ``tol`` watches).
    validation_scores_ : list of float
        Validation accuracy of each epoch (``early_stopping`` only).
    n_iter_ : int
        Number of epochs run (accumulated over warm starts and
        :meth:`partial_fit` calls).
    t_ : int
        Number of optimiser steps (accumulated likewise).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The same network without the adversary.
    statopt.neural_network.MultiHeadNetwork : The network this estimator trains.

    Notes
    -----
    ``events`` reaches ``fit`` through scikit-learn metadata routing: after
    ``sklearn.set_config(enable_metadata_routing=True)`` and
    ``clf.set_fit_request(events=True)``, Pipeline, cross_val_score and GridSearchCV
    pass it and split it with the rows. Choose ``adversary_weight`` by GroupKFold on
    the events, so every validation fold holds events the fit has not seen.

    Rows with ``y = -1`` (scikit-learn's semi-supervised convention) are unlabelled:
    they train only the discriminator path, which aligns the features of unlabelled
    target events with the labelled ones.

    :meth:`partial_fit` makes one epoch over the rows it is given and continues
    the optimiser (moments, step count, learning-rate and adversary schedules),
    so a stream of chunks trains as one run; ``events`` reaches it through
    ``set_partial_fit_request(events=True)``.

    References
    ----------
    .. [1] Y. Ganin and V. Lempitsky, "Unsupervised domain adaptation by
       backpropagation", ICML 2015.
    .. [2] Y. Wang et al., "EANN: Event adversarial neural networks for multi-modal
       fake news detection", KDD 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import EventAdversarialClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4)); y = (X[:, 0] > 0).astype(int)
    >>> events = rng.randint(3, size=200)
    >>> clf = EventAdversarialClassifier(hidden_layer_sizes=(8,), tol=1e-2,
    ...                                  learning_rate=1e-2, random_state=0)
    >>> clf = clf.fit(X, y, events=events)
    >>> clf.predict(X[:3]).shape, clf.transform(X[:3]).shape
    ((3,), (3, 8))
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [tuple, list],
        "detector_layer_sizes": [tuple, list],
        "discriminator_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "adversary_weight": [Interval(Real, 0, None, closed="left")],
        "adversary_schedule": [StrOptions({"constant", "ramp"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"inverse", "constant"})],
        "decay_a": [Interval(Real, 0, None, closed="left")],
        "decay_b": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "views": [list, tuple, None],
        "modalities": [list, tuple, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        detector_layer_sizes=(),
        discriminator_layer_sizes=(64,),
        activation="relu",
        adversary_weight=1.0,
        adversary_schedule="constant",
        learning_rate=1e-3,
        learning_rate_schedule="inverse",
        decay_a=10.0,
        decay_b=0.75,
        optimizer="adam",
        alpha=1e-4,
        dropout=0.0,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        views=None,
        modalities=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.detector_layer_sizes = detector_layer_sizes
        self.discriminator_layer_sizes = discriminator_layer_sizes
        self.activation = activation
        self.adversary_weight = adversary_weight
        self.adversary_schedule = adversary_schedule
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.decay_a = decay_a
        self.decay_b = decay_b
        self.optimizer = optimizer
        self.alpha = alpha
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.views = views
        self.modalities = modalities
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ----------------------------------------------------------------- building

    def _dense_block(self, sizes, name, *, dropout=0.0):
        layers = []
        for index, units in enumerate(sizes):
            if (not isinstance(units, (Integral, np.integer)) or isinstance(units, bool)
                    or units < 1):
                raise ValueError(f"{name}[{index}] must be a positive integer, got "
                                 f"{units!r}.")
            layers += [Dense(int(units)), ACTIVATIONS[self.activation]()]
            if dropout:
                layers.append(Dropout(dropout))
        return layers

    def _build(self, groups, n_classes, n_events):
        def extractor():
            return self._dense_block(self.hidden_layer_sizes, "hidden_layer_sizes",
                                     dropout=self.dropout)

        if self.views is None:
            trunk = Stack(extractor())
        else:
            trunk = Stack([Branches([(columns, Stack(extractor()))
                                     for columns in groups.values()])])
        heads = [(self._dense_block(self.detector_layer_sizes, "detector_layer_sizes")
                  + [Dense(n_classes)], SoftmaxCrossEntropy())]
        if n_events:
            heads.append(([GradientReversal(self.adversary_weight)]
                          + self._dense_block(self.discriminator_layer_sizes,
                                              "discriminator_layer_sizes")
                          + [Dense(n_events)], SoftmaxCrossEntropy()))
        return MultiHeadNetwork(trunk, heads, self.n_features_in_)

    # -------------------------------------------------------------- checking

    def _check_events(self, events, n_rows):
        events = np.asarray(events)
        if events.ndim != 1 or events.shape[0] != n_rows:
            raise ValueError(f"events must be a 1-d array with one label per row of X "
                             f"({n_rows}); got shape {events.shape}.")
        if events.dtype.kind == "f" and not np.all(np.isfinite(events)):
            raise ValueError("events hold NaN or inf; give every row an event label.")
        if events.dtype.kind == "O" and any(
                value is None or (isinstance(value, float) and np.isnan(value))
                for value in events):
            raise ValueError("events hold None or NaN; give every row an event label.")
        try:
            labels, codes = np.unique(events, return_inverse=True)
        except TypeError as error:
            raise TypeError(f"events must be labels of one sortable type: {error}"
                            ) from error
        if labels.size < 2:
            raise ValueError(f"events hold a single event ({labels[0]!r}): the "
                             "discriminator needs at least two events to tell apart.")
        return labels, codes.reshape(-1).astype(np.int64)

    # -------------------------------------------------------------------- fit

    def _architecture(self):
        """The parameters that shape the network, in a comparable form."""
        views = (None if self.views is None
                 else tuple(tuple(np.asarray(view).tolist()) for view in self.views))
        modalities = None if self.modalities is None else tuple(self.modalities)
        return (tuple(self.hidden_layer_sizes), tuple(self.detector_layer_sizes),
                tuple(self.discriminator_layer_sizes), self.activation, views,
                modalities)

    def _validate_rows(self, X, y, continuing, hint):
        if not continuing:
            return validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        try:
            return validate_data(self, X, y, dtype=np.float64, y_numeric=False,
                                 reset=False)
        except ValueError as error:
            raise ValueError(f"{error} {hint}") from error

    def _encode_labels(self, y, classes, hint):
        """Codes of ``y`` in ``classes`` (0 on unlabelled rows) and the labelled mask.

        ``classes`` None takes the classes from ``y``, which must hold two.
        """
        n_rows = y.shape[0]
        labelled = ~(y == -1) if y.dtype.kind in "iuf" else np.ones(n_rows, bool)
        if classes is None:
            if not np.any(labelled):
                raise ValueError("y holds no labelled row (every label is -1).")
            classes = np.unique(y[labelled])
            if classes.size < 2:
                unlabelled = ("; -1 marks an unlabelled row here (scikit-learn's "
                              "semi-supervised convention): recode labels such as "
                              "{-1, 1} as {0, 1}" if not np.all(labelled) else "")
                raise ValueError(f"y holds one class only ({classes[0]!r}); a "
                                 f"classifier needs at least two{unlabelled}.")
        elif not np.any(labelled):
            raise ValueError("y holds no labelled row (every label is -1); each call "
                             "needs labelled rows to scale the detector loss.")
        try:
            unseen = np.setdiff1d(y[labelled], classes)
        except TypeError as error:
            raise TypeError(f"y and the classes must be labels of one sortable type: "
                            f"{error}") from error
        if unseen.size:
            raise ValueError(f"y holds labels {unseen.tolist()} not in the classes "
                             f"{classes.tolist()}; {hint}")
        codes = np.zeros(n_rows, dtype=np.int64)
        codes[labelled] = np.searchsorted(classes, y[labelled])
        return classes, codes, labelled

    def _encode_events(self, events, n_rows, known, hint):
        """Event codes in ``known`` labels (None: the labels found in ``events``)."""
        if known is None:
            return self._check_events(events, n_rows)
        events = np.asarray(events)
        if events.ndim != 1 or events.shape[0] != n_rows:
            raise ValueError(f"events must be a 1-d array with one label per row of X "
                             f"({n_rows}); got shape {events.shape}.")
        try:
            unseen = np.setdiff1d(events, known)
        except TypeError as error:
            raise TypeError(f"events must be labels of the type of events_ "
                            f"({known.dtype}): {error}") from error
        if unseen.size:
            raise ValueError(f"events holds labels {unseen.tolist()} not in events_ "
                             f"{known.tolist()}; {hint}")
        return known, np.searchsorted(known, events).astype(np.int64)

    def _check_weights(self, sample_weight, n_rows, labelled):
        weight = _check_weights(sample_weight, n_rows)
        if not np.any(weight[labelled] > 0):
            raise ValueError("sample_weight is zero on every labelled row; give some "
                             "labelled row a positive weight.")
        return weight

    @staticmethod
    def _trainer_arrays(X, targets, event_codes, labelled, weight):
        """The trainer's row arrays and the L2 coefficient of these rows."""
        n_rows = X.shape[0]
        # Weights of mean 1 keep the step size on the scale of unit weights; the
        # penalty alpha / sum(weights) makes a weight of 2 equal a repeated row.
        l2_scale = 1.0 / weight[labelled].sum()
        weight = weight / weight[labelled].mean()
        # Scaled by n / n_labelled, a full batch's detector loss is the mean over
        # the labelled rows, whatever the number of unlabelled rows beside them.
        label_weight = np.where(labelled, weight, 0.0) * (n_rows / labelled.sum())
        if event_codes is None:
            return (X, targets, label_weight), l2_scale
        return (X, targets, event_codes, label_weight, weight), l2_scale

    def _new_trainer(self, seed):
        return MinibatchTrainer(
            optimizer=self.optimizer, learning_rate=self.learning_rate,
            schedule=self.learning_rate_schedule, decay_a=self.decay_a,
            decay_b=self.decay_b, batch_size=self.batch_size, max_iter=self.max_iter,
            tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            random_state=seed, verbose=self.verbose)

    def _start(self, n_events, rng):
        """Build the network (keeping the fitted parameters when continuing)."""
        groups = _check_views(self.views, self.modalities, self.n_features_in_)
        self.modalities_ = list(groups)
        self._groups = groups
        self.network_ = self._build(groups, self.classes_.size, n_events)
        if not hasattr(self, "params_") or self.params_.size != self.network_.n_params:
            self.params_ = self.network_.init_params(rng)
        self._architecture_ = self._architecture()

    def _check_continuation(self, hint):
        """Refuse architecture parameters changed since the fitted network."""
        if self._architecture() != getattr(self, "_architecture_", None):
            raise ValueError("hidden_layer_sizes, detector_layer_sizes, "
                             "discriminator_layer_sizes, activation, views or "
                             f"modalities changed since the network was fitted; {hint}")

    @_fit_context(prefer_skip_nested_validation=True)
    @blas_thread_limit()
    def fit(self, X, y, events=None, sample_weight=None):
        """Fit the extractor, the detector and (with events) the discriminator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (all modalities side by side).
        y : array-like of shape (n_samples,)
            Class labels; ``-1`` marks an unlabelled row, which trains only the
            discriminator path (needs ``events``).
        events : array-like of shape (n_samples,), default=None
            Event label (int or str) of each row. None fits the same network
            without the adversary.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, used by both losses.

        Returns
        -------
        self : EventAdversarialClassifier
        """
        warm = self.warm_start and hasattr(self, "params_")
        hint = "set warm_start=False to fit a new network."
        if warm:
            self._check_continuation(hint)
        X, y = self._validate_rows(X, y, warm, hint)
        validated(check_classification_targets, y)
        n_rows = X.shape[0]
        classes, targets, labelled = self._encode_labels(y, None, hint)
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(f"warm_start needs y to hold the classes of the fitted "
                             f"network {self.classes_.tolist()}; y has "
                             f"{classes.tolist()}: {hint}")
        weight = self._check_weights(sample_weight, n_rows, labelled)
        if warm and (events is None) != (self.events_ is None):
            raise ValueError("warm_start continues a network fitted "
                             f"{'without' if self.events_ is None else 'with'} "
                             f"events; pass events accordingly or {hint}")
        if events is None:
            if not np.all(labelled):
                raise ValueError("Unlabelled rows (y = -1) train only the "
                                 "discriminator; pass events for them.")
            event_labels, event_codes = None, None
        else:
            event_labels, event_codes = self._encode_events(
                events, n_rows, self.events_ if warm else None, hint)

        rng = check_random_state(self.random_state)
        if not warm:
            self.__dict__.pop("params_", None)
        self.classes_, self.events_ = classes, event_labels
        n_events = 0 if event_labels is None else event_labels.size
        self._start(n_events, rng)
        arrays, l2_scale = self._trainer_arrays(X, targets, event_codes, labelled,
                                                weight)
        # As MLPClassifier's warm start: the parameters carry over, the optimiser
        # and its schedules start afresh.
        trainer = self._new_trainer(rng.randint(np.iinfo(np.int32).max))
        n_train = n_rows - (int(np.ceil(self.validation_fraction * n_rows))
                            if self.early_stopping else 0)
        n_batches = -(-n_train // trainer._batch_size(n_train))
        self._trainer, self._total_steps = trainer, self.max_iter * n_batches
        objective = self._objective(trainer, self._total_steps,
                                    self.alpha * l2_scale)
        trainer.fit(objective, self.params_, arrays, score=self._validation_score,
                    stratify=np.where(labelled, targets, -1)
                    if self.early_stopping else None)
        if not warm:
            self.loss_curve_, self.validation_scores_ = [], []
            self.n_iter_ = self.t_ = 0
        self.loss_curve_ = self.loss_curve_ + trainer.loss_curve_
        self.validation_scores_ = self.validation_scores_ + trainer.validation_scores_
        self.n_iter_ += trainer.n_iter_
        self.t_ += trainer.t_
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @blas_thread_limit()
    def partial_fit(self, X, y, events=None, sample_weight=None, classes=None,
                    event_labels=None):
        """Train for one epoch over the given rows, continuing the previous state.

        The first call (on an unfitted estimator) builds the network for
        ``classes`` and, when ``events`` is given, for ``event_labels``; later
        calls, and calls after :meth:`fit`, continue the parameters and the
        optimiser: its moments, its step count and with it the learning-rate
        and adversary schedules (whose horizon is ``max_iter`` epochs of
        minibatches of the first chunk). Sample weights and the L2 penalty are
        normalised on each call's rows, so one call on all rows is one epoch of
        :meth:`fit` with the same ``random_state``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows of this chunk.
        y : array-like of shape (n_samples,)
            Class labels, from ``classes``; ``-1`` marks an unlabelled row. Each
            chunk needs at least one labelled row.
        events : array-like of shape (n_samples,), default=None
            Event label of each row. Required on every call when the network has
            a discriminator (its first call had events), refused otherwise.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, used by both losses.
        classes : array-like of shape (n_classes,), default=None
            All the class labels of the stream; required on the first call (as
            in scikit-learn's ``partial_fit``), optional later and then equal to
            ``classes_``.
        event_labels : array-like of shape (n_events,), default=None
            All the event labels of the stream, so that chunks may hold only some
            events; None on the first call takes the events of that chunk (at
            least two). Later calls refuse events outside ``events_``.

        Returns
        -------
        self : EventAdversarialClassifier
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not hold out a validation split: set "
                             "early_stopping=False (as MLPClassifier requires).")
        first = not hasattr(self, "params_")
        hint = "call fit (or a new estimator's partial_fit) to start over."
        if not first:
            self._check_continuation(hint)
        X, y = self._validate_rows(X, y, not first, hint)
        validated(check_classification_targets, y)
        n_rows = X.shape[0]
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to "
                                 "partial_fit: all the class labels of the stream, "
                                 "e.g. np.unique(y_all).")
            known = self._check_label_set(classes, "classes")
            if known.dtype.kind in "iuf" and np.any(known == -1):
                raise ValueError("classes must not hold -1, which marks unlabelled "
                                 "rows.")
        else:
            known = self.classes_
            if classes is not None and not np.array_equal(
                    self._check_label_set(classes, "classes"), known):
                raise ValueError(f"classes={np.asarray(classes).tolist()} differs "
                                 f"from classes_ {known.tolist()} of the previous "
                                 f"calls; {hint}")
        _, targets, labelled = self._encode_labels(y, known, hint)
        weight = self._check_weights(sample_weight, n_rows, labelled)
        has_events = events is not None if first else self.events_ is not None
        if has_events and events is None:
            raise ValueError("The network has an event discriminator: pass events on "
                             "every call to partial_fit.")
        if not has_events:
            if events is not None:
                raise ValueError(f"The network was built without events (its first "
                                 f"call had none); {hint}")
            if not np.all(labelled):
                raise ValueError("Unlabelled rows (y = -1) train only the "
                                 "discriminator; pass events for them.")
            event_known, event_codes = None, None
        else:
            if first and event_labels is not None:
                event_labels = self._check_label_set(event_labels, "event_labels")
            elif not first:
                if event_labels is not None and not np.array_equal(
                        self._check_label_set(event_labels, "event_labels"),
                        self.events_):
                    raise ValueError("event_labels differs from events_ of the "
                                     f"previous calls; {hint}")
                event_labels = self.events_
            event_known, event_codes = self._encode_events(events, n_rows,
                                                           event_labels, hint)

        arrays, l2_scale = self._trainer_arrays(X, targets, event_codes, labelled,
                                                weight)
        if first:
            rng = check_random_state(self.random_state)
            self.classes_, self.events_ = known, event_known
            self._start(0 if event_known is None else event_known.size, rng)
            self._trainer = self._new_trainer(rng.randint(np.iinfo(np.int32).max))
            self._total_steps = self.max_iter * -(
                -n_rows // self._trainer._batch_size(n_rows))
            self.loss_curve_, self.validation_scores_ = [], []
            self.n_iter_ = self.t_ = 0
        trainer = self._trainer
        steps = getattr(trainer, "t_", 0)
        trainer.partial_fit(self._objective(trainer, self._total_steps,
                                            self.alpha * l2_scale),
                            self.params_, arrays)
        self.loss_curve_ = self.loss_curve_ + trainer.loss_curve_[-1:]
        self.n_iter_ += 1
        self.t_ += trainer.t_ - steps
        return self

    @staticmethod
    def _check_label_set(labels, name):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size < 2:
            raise ValueError(f"{name} must be a 1-d array of at least two labels, got "
                             f"shape {labels.shape}.")
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise ValueError(f"{name} holds NaN or inf.")
        try:
            unique = np.unique(labels)
        except TypeError as error:
            raise TypeError(f"{name} must be labels of one sortable type: {error}"
                            ) from error
        if unique.size != labels.size:
            raise ValueError(f"{name} repeats a label.")
        return unique

    def _objective(self, trainer, total_steps, l2):
        """The trainer's objective, setting the reversal weight before each step."""
        network, n_heads = self.network_, len(self.network_.heads)
        reversal = network.heads[1][0].layers[0] if n_heads == 2 else None

        def objective(theta, batch, rng):
            if reversal is not None and rng is not None:
                weight = self.adversary_weight
                if self.adversary_schedule == "ramp":
                    progress = min(trainer.optimizer_.n_steps / total_steps, 1.0)
                    weight *= _ramp(progress)
                reversal.weight = float(weight)
            X = batch[0]
            targets = list(batch[1 : 1 + n_heads])
            coefs = [w / X.shape[0] for w in batch[1 + n_heads :]]
            head_losses = []
            loss, gradient = network._loss_gradient(
                theta, X, targets, coefs, l2, training=rng is not None, rng=rng,
                head_losses=head_losses)
            # The saddle objective is no convergence measure (the discriminator's
            # loss rises as the extractor fools it): the trainer watches the
            # detector's penalised loss.
            return loss - sum(head_losses[1:]), gradient

        return objective

    def _validation_score(self, theta, rows):
        X, targets, label_weight = rows[0], rows[1], rows[-2 if len(rows) == 5 else -1]
        logits = self.network_.forward(theta, X)[0]
        hits = (np.argmax(logits, axis=1) == targets) * label_weight
        return float(hits.sum() / max(label_weight.sum(), 1e-300))

    # ------------------------------------------------------------- predicting

    def _features(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X, predict_pass(self.network_.features, self.params_, X)

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return predict_pass(lambda: self.network_.forward(self.params_, X)[0])

    def decision_function(self, X):
        """Return the detector's logits (their difference for two classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, positive values favour ``classes_[1]``.
        """
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def transform(self, X, modality=None):
        """Return the learned features (the extractor's output).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        modality : str, default=None
            Return only the features of this modality's branch (a name in
            ``modalities_``); None returns all, concatenated.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
        """
        if modality is not None:
            check_is_fitted(self)
            if modality not in self.modalities_:
                raise ValueError(f"Unknown modality {modality!r}; the fitted branches "
                                 f"are {self.modalities_}.")
        _, features = self._features(X)
        if modality is None:
            return features
        # A branch gives its last hidden layer's units, or its columns without one.
        widths = [self.hidden_layer_sizes[-1] if len(self.hidden_layer_sizes)
                  else columns.size for columns in self._groups.values()]
        start = sum(widths[: self.modalities_.index(modality)])
        return features[:, start : start + widths[self.modalities_.index(modality)]]

    def event_leakage(self, X, events, *, cv=5):
        """How well a fresh logistic probe recovers the events from the features.

        The probe is a new :class:`~sklearn.linear_model.LogisticRegression` fitted
        to the standardised :meth:`transform` of ``X``; its stratified
        cross-validated accuracy is shown beside chance (the share of the most
        frequent event). The model's own discriminator is not used: reversal can
        hide the events from it while a fresh probe still finds them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        events : array-like of shape (n_samples,)
            Event label of each row.
        cv : int, default=5
            Number of stratified folds.

        Returns
        -------
        result : Bunch
            ``accuracy`` (mean cross-validated accuracy of the probe), ``chance``
            (majority-event share), ``excess`` (accuracy minus chance) and
            ``discriminator``, the accuracy of the model's own discriminator on
            these rows (None for a fit without events or for events it has not
            seen).
        """
        X, features = self._features(X)
        _, codes = self._check_events(events, X.shape[0])
        if (not isinstance(cv, Integral) or isinstance(cv, bool) or cv < 2):
            raise ValueError(f"cv must be an integer >= 2, got {cv!r}.")
        smallest = np.bincount(codes).min()
        if smallest < cv:
            raise ValueError(f"The rarest event has {smallest} rows, fewer than "
                             f"cv={cv} folds; lower cv or pass more rows.")
        # Standardised features keep the probe's lbfgs fast and its penalty fair.
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        folds = StratifiedKFold(cv, shuffle=True, random_state=0)
        accuracy = float(np.mean(cross_val_score(probe, features, codes, cv=folds)))
        chance = float(np.bincount(codes).max() / codes.size)
        discriminator = None
        events = np.asarray(events)
        if self.events_ is not None and np.all(np.isin(events, self.events_)):
            logits = self.network_.forward(self.params_, X)[1]
            predicted = self.events_[np.argmax(logits, axis=1)]
            discriminator = float(np.mean(predicted == events))
        return Bunch(accuracy=accuracy, chance=chance, excess=accuracy - chance,
                     discriminator=discriminator)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.non_deterministic = False
        return tags
