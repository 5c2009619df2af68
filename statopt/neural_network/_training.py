"""The one minibatch driver of every network estimator, on statopt.optim.

The driver knows nothing of networks: it takes a flat parameter vector, row-aligned
arrays (inputs, targets, sample weights, events, ...) and an ``objective(theta, batch,
rng) -> (loss, gradient)``. It shuffles rows, cuts minibatches, steps an optimiser of
:mod:`statopt.optim` under a learning-rate schedule, tracks the loss per epoch, holds
out a validation split for early stopping, stops on ``tol``/``n_iter_no_change`` and
keeps its state between calls for ``warm_start`` and ``partial_fit``.
"""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from .._utils import warn_at_caller
from ..optim import (
    SGD,
    Adam,
    AMSGrad,
    ConstantSchedule,
    Cosine,
    InverseDecay,
    InverseSqrt,
    Momentum,
    RMSprop,
)

__all__ = ["MinibatchTrainer"]

OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "rmsprop": RMSprop,
    "adam": Adam,
    "amsgrad": AMSGrad,
}


class MinibatchTrainer:
    """Minibatch training loop shared by the network estimators.

    Each epoch shuffles the training rows (unless ``shuffle=False``), cuts them into
    minibatches of ``batch_size`` rows and makes one optimiser step per minibatch with
    the gradient returned by ``objective``. The epoch loss is the row-weighted mean of
    the minibatch losses (with the parameters of each step's start).

    Parameters
    ----------
    optimizer : {'adam', 'sgd', 'momentum', 'rmsprop', 'amsgrad'}, default='adam'
        Update rule of :mod:`statopt.optim`.
    learning_rate : float, default=1e-3
        Step size before the schedule factor.
    schedule : {'constant', 'inverse', 'invsqrt', 'cosine'} or callable, \
default='constant'
        ``'inverse'`` is ``1 / (1 + a p)^b`` with ``p`` the progress over
        ``max_iter`` epochs (:class:`~statopt.optim.InverseDecay`, ``a=decay_a``,
        ``b=decay_b``); ``'invsqrt'`` decays as ``1/sqrt(1 + epoch)``;
        ``'cosine'`` anneals to 0 over ``max_iter`` epochs. A callable is used as
        ``schedule(step) -> factor``.
    decay_a, decay_b : float, default=10.0, 0.75
        Parameters of the ``'inverse'`` schedule.
    optimizer_params : dict, default=None
        Further arguments of the optimiser class (``beta_1``, ``beta``, ``rho``,
        ``epsilon``, ``weight_decay``, ...).
    batch_size : int or 'auto', default='auto'
        Rows per minibatch; ``'auto'`` is ``min(200, n_rows)``.
    max_iter : int, default=200
        Maximum number of epochs of :meth:`fit`.
    shuffle : bool, default=True
        Whether to shuffle the rows at each epoch.
    tol : float, default=1e-4
        Improvement of the training loss (or of the validation score with
        ``early_stopping``) below which an epoch counts as no progress.
    n_iter_no_change : int, default=10
        Stop after this many epochs in a row without progress.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, score them after each epoch,
        stop when the score stops improving and restore the best parameters.
    validation_fraction : float, default=0.1
        Share of the rows held out with ``early_stopping``.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the shuffling and the ``rng`` given to ``objective``
        (dropout masks): a fixed value makes the run deterministic.
    verbose : int, default=0
        Print one line per epoch (epoch, loss, validation score, learning rate,
        elapsed seconds) when positive.

    Attributes
    ----------
    loss_curve_ : list of float
        Training loss of each epoch.
    validation_scores_ : list of float
        Validation score of each epoch (``early_stopping`` only).
    best_loss_ : float
        Smallest epoch loss so far.
    best_validation_score_ : float or None
        Best validation score so far.
    n_iter_ : int
        Number of epochs run.
    t_ : int
        Number of optimiser steps (minibatches) made.
    optimizer_ : optimiser of statopt.optim
        The optimiser, with its state; reused by ``warm_start`` and ``partial_fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import MinibatchTrainer
    >>> X = np.linspace(-1, 1, 50)[:, None]; y = 3 * X[:, 0]
    >>> def objective(theta, batch, rng):
    ...     X_batch, y_batch = batch
    ...     residual = X_batch[:, 0] * theta[0] - y_batch
    ...     gradient = np.array([np.mean(residual * X_batch[:, 0])])
    ...     return 0.5 * np.mean(residual**2), gradient
    >>> theta = np.zeros(1)
    >>> trainer = MinibatchTrainer(optimizer="sgd", learning_rate=1.0,
    ...                            max_iter=300, tol=1e-12, random_state=0)
    >>> trainer = trainer.fit(objective, theta, (X, y))
    >>> round(float(theta[0]), 4)
    3.0
    """

    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "schedule": [StrOptions({"constant", "inverse", "invsqrt", "cosine"}),
                     callable],
        "decay_a": [Interval(Real, 0, None, closed="left")],
        "decay_b": [Interval(Real, 0, None, closed="left")],
        "optimizer_params": [dict, None],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, optimizer="adam", learning_rate=1e-3, schedule="constant",
                 decay_a=10.0, decay_b=0.75, optimizer_params=None,
                 batch_size="auto", max_iter=200, shuffle=True, tol=1e-4,
                 n_iter_no_change=10, early_stopping=False, validation_fraction=0.1,
                 random_state=None, verbose=0):
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.decay_a = decay_a
        self.decay_b = decay_b
        self.optimizer_params = optimizer_params
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks

    def _validate(self, objective, theta, arrays, score):
        validate_parameter_constraints(
            self._parameter_constraints,
            {name: getattr(self, name) for name in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        if not callable(objective):
            raise TypeError("objective must be callable as objective(theta, batch, "
                            "rng) -> (loss, gradient).")
        if score is not None and not callable(score):
            raise TypeError("score must be callable as score(theta, arrays) or None.")
        if (not isinstance(theta, np.ndarray) or theta.dtype != np.float64
                or theta.ndim != 1):
            raise TypeError("theta must be a 1-d float64 numpy array (updated in "
                            "place).")
        if not theta.flags.c_contiguous or not theta.flags.writeable:
            raise ValueError("theta must be C-contiguous and writeable.")
        if not np.all(np.isfinite(theta)):
            raise ValueError("theta holds NaN or inf.")
        if not isinstance(arrays, (tuple, list)) or not arrays:
            raise TypeError("arrays must be a non-empty tuple of row-aligned arrays.")
        arrays = tuple(np.asarray(array) for array in arrays)
        lengths = {array.shape[0] if array.ndim else -1 for array in arrays}
        if len(lengths) != 1 or -1 in lengths:
            raise ValueError(
                "arrays must be row-aligned: got first dimensions "
                f"{[a.shape[0] if a.ndim else None for a in arrays]}."
            )
        if lengths.pop() < 1:
            raise ValueError("arrays hold no rows.")
        return arrays

    # ------------------------------------------------------------------ state

    def _reset(self):
        self.loss_curve_ = []
        self.validation_scores_ = []
        self.best_loss_ = np.inf
        self.best_validation_score_ = None
        self.n_iter_ = 0
        self.t_ = 0
        self._no_improvement = 0
        self.optimizer_ = None

    def _batch_size(self, n_rows):
        return min(200, n_rows) if self.batch_size == "auto" else min(
            self.batch_size, n_rows)

    def _build_optimizer(self, theta, n_batches):
        if self.schedule == "constant":
            schedule = ConstantSchedule()
        elif self.schedule == "inverse":
            schedule = InverseDecay(total_steps=self.max_iter * n_batches,
                                    a=float(self.decay_a), b=float(self.decay_b))
        elif self.schedule == "invsqrt":
            schedule = InverseSqrt(scale=n_batches)
        elif self.schedule == "cosine":
            schedule = Cosine(total_steps=self.max_iter * n_batches)
        else:
            schedule = self.schedule
        params = dict(self.optimizer_params or {})
        return OPTIMIZERS[self.optimizer]([theta], self.learning_rate,
                                          schedule=schedule, **params)

    # ---------------------------------------------------------------- driving

    def fit(self, objective, theta, arrays, *, score=None, stratify=None,
            warm_start=False):
        """Train ``theta`` in place for up to ``max_iter`` epochs.

        Parameters
        ----------
        objective : callable
            ``objective(theta, batch, rng) -> (loss, gradient)`` with ``batch`` the
            tuple of the minibatch rows of each array, ``gradient`` of the shape of
            ``theta``, and ``rng`` a seeded RandomState (for dropout masks), or None
            when the default validation score evaluates it (no dropout then).
        theta : ndarray of shape (n_params,)
            Flat float64 parameter vector, updated in place.
        arrays : tuple of ndarray
            Row-aligned arrays (inputs, targets, sample weights, events, ...).
        score : callable, default=None
            ``score(theta, validation_arrays) -> float``, higher is better, used with
            ``early_stopping``; None takes minus the objective on the held-out rows.
        stratify : array-like of shape (n_rows,), default=None
            Labels the validation split keeps the proportions of.
        warm_start : bool, default=False
            Continue from the optimiser state and curves of the previous call (on the
            same ``theta`` array); otherwise start afresh.

        Returns
        -------
        self : MinibatchTrainer
        """
        arrays = self._validate(objective, theta, arrays, score)
        rng = check_random_state(self.random_state)
        fresh = (not warm_start or getattr(self, "optimizer_", None) is None
                 or self.optimizer_.params[0] is not theta)
        if fresh:
            self._reset()
        self._rng = rng
        validation = None
        if self.early_stopping:
            if stratify is not None:
                stratify = np.asarray(stratify)
            indices = np.arange(arrays[0].shape[0])
            try:
                train, held_out = train_test_split(
                    indices, test_size=self.validation_fraction,
                    random_state=rng.randint(np.iinfo(np.int32).max),
                    stratify=stratify,
                )
            except ValueError as error:
                raise ValueError(
                    f"early_stopping could not hold out validation_fraction="
                    f"{self.validation_fraction} of {indices.size} rows: {error}"
                ) from error
            validation = tuple(array[held_out] for array in arrays)
            arrays = tuple(array[train] for array in arrays)
            if score is None:
                def score(params, rows):
                    return -objective(params, rows, None)[0]
        n_rows = arrays[0].shape[0]
        batch_size = self._batch_size(n_rows)
        if fresh:
            self.optimizer_ = self._build_optimizer(
                theta, -(-n_rows // batch_size))
        best_theta = theta.copy()
        start = time.perf_counter()
        stopped = False
        for _ in range(self.max_iter):
            self._epoch(objective, theta, arrays, rng, batch_size)
            if validation is not None:
                self.validation_scores_.append(float(score(theta, validation)))
            improved = self._update_no_improvement()
            if improved and validation is not None:
                best_theta[...] = theta
            self._report(start)
            if self._no_improvement > self.n_iter_no_change:
                stopped = True
                break
        if validation is not None and self.best_validation_score_ is not None:
            theta[...] = best_theta
        if not stopped:
            warn_at_caller(
                f"Stochastic optimiser: maximum iterations ({self.max_iter}) reached "
                "and the optimisation has not converged; increase max_iter or "
                "learning_rate, or raise tol.",
                ConvergenceWarning
            )
        return self

    def partial_fit(self, objective, theta, arrays):
        """Run one epoch over ``arrays``, continuing the previous state if any.

        No validation split is held out and no convergence check is made: the
        caller decides when to stop. ``loss_curve_`` gains one entry per call.

        Parameters
        ----------
        objective, theta, arrays
            As in :meth:`fit`.

        Returns
        -------
        self : MinibatchTrainer
        """
        arrays = self._validate(objective, theta, arrays, None)
        batch_size = self._batch_size(arrays[0].shape[0])
        if (getattr(self, "optimizer_", None) is None
                or self.optimizer_.params[0] is not theta):
            self._reset()
            self._rng = check_random_state(self.random_state)
            self.optimizer_ = self._build_optimizer(
                theta, -(-arrays[0].shape[0] // batch_size))
        rng = self._rng
        start = time.perf_counter()
        self._epoch(objective, theta, arrays, rng, batch_size)
        self._update_no_improvement()
        self._report(start)
        return self

    def _epoch(self, objective, theta, arrays, rng, batch_size):
        n_rows = arrays[0].shape[0]
        order = rng.permutation(n_rows) if self.shuffle else np.arange(n_rows)
        # One gather per array and epoch (a private copy, as each minibatch was);
        # the minibatches are slices of it: the same rows in the same order.
        arrays = tuple(array[order] for array in arrays)
        total = 0.0
        for begin in range(0, n_rows, batch_size):
            batch = tuple(array[begin : begin + batch_size] for array in arrays)
            # Overflow is reported below as one clear error, not as warnings.
            with np.errstate(over="ignore", invalid="ignore"):
                loss, gradient = objective(theta, batch, rng)
            loss = float(loss)
            if not np.isfinite(loss) or not np.all(np.isfinite(gradient)):
                raise ValueError(
                    f"The loss or its gradient became non-finite (loss {loss}) at "
                    f"epoch {self.n_iter_ + 1}: lower learning_rate or check the "
                    "scale of the input."
                )
            try:
                self.optimizer_.step([gradient])
            except ValueError as error:
                raise ValueError(
                    f"The optimiser refused the step at epoch {self.n_iter_ + 1} "
                    f"({error}): check the scale of the input (e.g. StandardScaler) "
                    "or lower learning_rate."
                ) from error
            total += loss * batch[0].shape[0]
        self.n_iter_ += 1
        self.t_ = self.optimizer_.n_steps
        self.loss_curve_.append(total / n_rows)

    def _update_no_improvement(self):
        """Count epochs without progress; return whether this one was the best."""
        loss = self.loss_curve_[-1]
        if self.validation_scores_ and self.early_stopping:
            current = self.validation_scores_[-1]
            best = self.best_validation_score_
            if best is not None and current < best + self.tol:
                self._no_improvement += 1
            else:
                self._no_improvement = 0
            improved = best is None or current > best
            if improved:
                self.best_validation_score_ = current
        else:
            self._no_improvement = (
                self._no_improvement + 1 if loss > self.best_loss_ - self.tol else 0
            )
            improved = loss < self.best_loss_
        self.best_loss_ = min(self.best_loss_, loss)
        return improved

    def _report(self, start):
        if not self.verbose:
            return
        line = f"Epoch {self.n_iter_}: loss = {self.loss_curve_[-1]:.6g}"
        if self.validation_scores_ and self.early_stopping:
            line += f", validation score = {self.validation_scores_[-1]:.6g}"
        line += (f", learning rate = {self.optimizer_.current_learning_rate:.3g}"
                 f", elapsed {time.perf_counter() - start:.3f} s")
        print(line)
