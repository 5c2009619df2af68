"""First-order update rules as small stateful classes.

Each optimiser holds a list of parameter arrays and updates them in place from a list
of gradients of the same shapes, so that any model with hand-written gradients (a
logistic regression, a network with manual backpropagation, an adversarial or bilevel
training loop) can reuse it unchanged::

    optimizer = Adam([coef, intercept], learning_rate=1e-3)
    for batch in batches:
        optimizer.step(gradients(batch))
"""

import math
from numbers import Real

import numpy as np

from ._kernels import ADAM, AMSGRAD, MOMENTUM, RMSPROP, SGD, compute_direction
from ._schedules import ConstantSchedule

__all__ = ["SGD", "Momentum", "RMSprop", "Adam", "AMSGrad", "SWATS"]

# Largest gradient entry whose square (the second moment, bias-corrected or not)
# stays finite: beyond, the moment is inf and the step silently 0 from then on.
_MAX_SQUARABLE = 2.0**511


def _check_real(name, value, low, high, *, closed_low=True, closed_high=False):
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float: {value!r}.") from None
    too_low = value < low if closed_low else value <= low
    too_high = value > high if closed_high else value >= high
    if too_low or too_high or math.isnan(value):
        left = "[" if closed_low else "("
        right = "]" if closed_high else ")"
        raise ValueError(
            f"{name} must be in {left}{low}, {high}{right}, got {value!r}."
        )
    return float(value)


def _check_params(params):
    if isinstance(params, np.ndarray):
        params = [params]
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one array.")
    for index, param in enumerate(params):
        if not isinstance(param, np.ndarray) or param.dtype != np.float64:
            raise TypeError(
                f"params[{index}] must be a float64 numpy array updated in place; "
                f"got {type(param).__name__} of dtype {getattr(param, 'dtype', None)}."
            )
        if not param.flags.c_contiguous or not param.flags.writeable:
            raise ValueError(
                f"params[{index}] must be C-contiguous and writeable; "
                "use np.ascontiguousarray before building the optimiser."
            )
        # One memory updated as two parameters would lose all but one of its
        # updates per step. Contiguous blocks overlap exactly when their bounds do.
        for other in range(index):
            if np.may_share_memory(param, params[other]):
                raise ValueError(
                    f"params[{index}] shares memory with params[{other}]; pass each "
                    "parameter array once, with no overlapping views."
                )
    return params


class _FirstOrderOptimizer:
    """Shared machinery: state per parameter, schedule, weight decay and ``step``."""

    _rule = SGD

    def __init__(self, params, learning_rate, *, schedule=None, weight_decay=0.0):
        self.params = _check_params(params)
        self.learning_rate = _check_real("learning_rate", learning_rate, 0, math.inf,
                                         closed_low=False)
        self.weight_decay = _check_real("weight_decay", weight_decay, 0, math.inf)
        if schedule is None:
            schedule = ConstantSchedule()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable as schedule(step), got "
                            f"{schedule!r}.")
        self.schedule = schedule
        self.n_steps = 0
        self._first_moments = [np.zeros(p.size) for p in self.params]
        self._second_moments = [np.zeros(p.size) for p in self.params]
        self._max_second_moments = [np.zeros(p.size) for p in self.params]
        self._beta_1 = self._beta_2 = 0.0
        self._epsilon = 0.0

    @property
    def current_learning_rate(self):
        """Learning rate that the next call to :meth:`step` will use."""
        factor = self.schedule(self.n_steps)
        if (not isinstance(factor, Real) or isinstance(factor, bool)
                or not math.isfinite(factor) or factor < 0):
            raise ValueError(
                f"schedule({self.n_steps}) returned {factor!r}; a schedule must "
                "return a finite number >= 0."
            )
        rate = self.learning_rate * float(factor)
        if not math.isfinite(rate):
            raise ValueError(
                f"learning_rate * schedule factor overflows ({self.learning_rate!r} * "
                f"{factor!r}); lower learning_rate."
            )
        return rate

    def _check_grads(self, grads):
        if isinstance(grads, np.ndarray):
            grads = [grads]
        if isinstance(grads, (str, bytes)) or not hasattr(grads, "__iter__"):
            raise TypeError(
                "grads must be a list of arrays, one per parameter array; got "
                f"{type(grads).__name__}."
            )
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(
                f"Got {len(grads)} gradients for {len(self.params)} parameter arrays."
            )
        checked = []
        for index, (param, grad) in enumerate(zip(self.params, grads)):
            if grad is None or isinstance(grad, (str, bytes)):
                raise TypeError(
                    f"grads[{index}] must be an array of numbers, got {grad!r}."
                )
            if np.iscomplexobj(grad):
                raise TypeError(f"grads[{index}] must be real, got a complex array.")
            try:
                # A private C-ordered, writeable float64 copy: the kernels see one
                # array type (no new compilation), and the caller's array is safe.
                grad = np.array(grad, dtype=np.float64, order="C")
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"grads[{index}] must be an array of numbers: {error}"
                ) from None
            if grad.shape != param.shape:
                raise ValueError(
                    f"grads[{index}] has shape {grad.shape}, expected {param.shape}."
                )
            # One pass for both checks: the maximum propagates NaN, and is inf
            # exactly when an entry is.
            largest = float(np.maximum.reduce(np.abs(grad), axis=None, initial=0.0))
            if not math.isfinite(largest):
                raise ValueError(f"grads[{index}] holds NaN or inf.")
            if self._rule in (RMSPROP, ADAM, AMSGRAD) and largest > _MAX_SQUARABLE:
                raise ValueError(
                    f"grads[{index}] holds entries of magnitude {largest:.3g}, whose "
                    f"squares overflow float64 (limit {_MAX_SQUARABLE:.3g}); scale "
                    "the loss or the gradients."
                )
            checked.append(grad.reshape(-1))
        return checked

    def _directions(self, grads, step):
        directions = []
        for index, grad in enumerate(grads):
            direction = np.empty_like(grad)
            compute_direction(
                self._rule,
                grad,
                self._first_moments[index],
                self._second_moments[index],
                self._max_second_moments[index],
                step,
                self._beta_1,
                self._beta_2,
                self._epsilon,
                direction,
                np.empty_like(grad),
            )
            directions.append(direction)
        return directions

    def _apply(self, directions, learning_rate):
        """Write the updated parameters, or raise before touching any of them."""
        if not math.isfinite(learning_rate):
            raise ValueError(
                f"The learning rate overflowed ({learning_rate!r}); lower "
                "learning_rate."
            )
        decay = learning_rate * self.weight_decay
        if decay > 1.0:
            raise ValueError(
                f"learning_rate * weight_decay = {decay:.3g} exceeds 1: the decoupled "
                "decay would flip the sign of the parameters. Lower weight_decay "
                "or learning_rate."
            )
        updated = []
        for index, (param, direction) in enumerate(zip(self.params, directions)):
            # Decoupled weight decay (Loshchilov & Hutter 2019): shrink the
            # parameter apart from the adaptive step.
            with np.errstate(over="ignore", invalid="ignore"):
                new = param.reshape(-1) * (1.0 - decay) - learning_rate * direction
            if not np.isfinite(new).all():
                raise ValueError(
                    f"The update of params[{index}] overflowed to inf or NaN; lower "
                    "learning_rate or scale the gradients. No parameter was changed."
                )
            updated.append(new)
        for param, new in zip(self.params, updated):
            param.reshape(-1)[:] = new

    def step(self, grads):
        """Update every parameter array in place from its gradient.

        Parameters
        ----------
        grads : list of ndarray
            One gradient per parameter array, of the same shape.

        Returns
        -------
        self : object
            The optimiser, with ``n_steps`` increased by one.
        """
        grads = self._check_grads(grads)
        learning_rate = self.current_learning_rate
        with np.errstate(over="ignore", invalid="ignore"):
            directions = self._directions(grads, self.n_steps + 1)
        self._apply(directions, learning_rate)
        self.n_steps += 1
        return self


class SGD(_FirstOrderOptimizer):
    """Plain stochastic gradient descent: ``w <- w - lr * g``.

    Parameters
    ----------
    params : list of ndarray
        Parameter arrays (float64, C-contiguous, sharing no memory), updated in
        place.
    learning_rate : float, default=0.01
        Step size before the schedule factor.
    schedule : callable, default=None
        ``schedule(step)`` gives the factor applied to ``learning_rate`` at each step;
        None keeps it constant. See :mod:`statopt.optim` for the schedules provided.
    weight_decay : float, default=0.0
        Decoupled weight decay: each step also multiplies ``w`` by
        ``1 - lr * weight_decay``.

    Attributes
    ----------
    n_steps : int
        Number of updates made so far.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.optim import SGD
    >>> w = np.array([1.0, -2.0])
    >>> optimizer = SGD([w], learning_rate=0.1).step([2 * w])
    >>> w
    array([ 0.8, -1.6])
    """

    _rule = SGD

    def __init__(self, params, learning_rate=0.01, *, schedule=None, weight_decay=0.0):
        super().__init__(params, learning_rate, schedule=schedule,
                         weight_decay=weight_decay)


class Momentum(_FirstOrderOptimizer):
    """Momentum as an exponential average: ``v <- b v + (1 - b) g``, ``w <- w - lr v``.

    Parameters
    ----------
    params : list of ndarray
        Parameter arrays (float64, C-contiguous, sharing no memory), updated in
        place.
    learning_rate : float, default=0.01
        Step size before the schedule factor.
    beta : float, default=0.9
        Decay of the velocity, in [0, 1).
    schedule : callable, default=None
        ``schedule(step)`` gives the factor applied to ``learning_rate``.
    weight_decay : float, default=0.0
        Decoupled weight decay.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.optim import Momentum
    >>> w = np.array([1.0])
    >>> optimizer = Momentum([w], learning_rate=1.0, beta=0.5).step([np.array([2.0])])
    >>> w
    array([0.])
    """

    _rule = MOMENTUM

    def __init__(self, params, learning_rate=0.01, beta=0.9, *, schedule=None,
                 weight_decay=0.0):
        super().__init__(params, learning_rate, schedule=schedule,
                         weight_decay=weight_decay)
        self.beta = self._beta_1 = _check_real("beta", beta, 0, 1)


class RMSprop(_FirstOrderOptimizer):
    """RMSprop (Tieleman & Hinton 2012): ``w <- w - lr g / (sqrt(s) + eps)``.

    ``s <- rho s + (1 - rho) g^2`` is the running mean of squared gradients.

    Parameters
    ----------
    params : list of ndarray
        Parameter arrays (float64, C-contiguous, sharing no memory), updated in
        place.
    learning_rate : float, default=0.001
        Step size before the schedule factor.
    rho : float, default=0.9
        Decay of the running mean of squared gradients, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root mean square for numerical stability.
    schedule : callable, default=None
        ``schedule(step)`` gives the factor applied to ``learning_rate``.
    weight_decay : float, default=0.0
        Decoupled weight decay.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.optim import RMSprop
    >>> w = np.array([1.0])
    >>> optimizer = RMSprop([w], learning_rate=0.1, rho=0.9).step([np.array([3.0])])
    >>> w.round(6)
    array([0.683772])
    """

    _rule = RMSPROP

    def __init__(self, params, learning_rate=0.001, rho=0.9, epsilon=1e-8, *,
                 schedule=None, weight_decay=0.0):
        super().__init__(params, learning_rate, schedule=schedule,
                         weight_decay=weight_decay)
        self.rho = self._beta_2 = _check_real("rho", rho, 0, 1)
        self.epsilon = self._epsilon = _check_real("epsilon", epsilon, 0, math.inf,
                                                   closed_low=False)


class Adam(_FirstOrderOptimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), with bias-corrected moments.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, then
    ``w <- w - lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)`` and
    ``v_hat = v / (1 - b2^t)``. With ``weight_decay`` it is AdamW (Loshchilov &
    Hutter 2019).

    Parameters
    ----------
    params : list of ndarray
        Parameter arrays (float64, C-contiguous, sharing no memory), updated in
        place.
    learning_rate : float, default=0.001
        Step size before the schedule factor.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of the second moment for numerical stability.
    schedule : callable, default=None
        ``schedule(step)`` gives the factor applied to ``learning_rate``.
    weight_decay : float, default=0.0
        Decoupled weight decay.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.optim import Adam
    >>> w = np.array([1.0, -1.0])
    >>> optimizer = Adam([w], learning_rate=0.1).step([np.array([0.5, -4.0])])
    >>> w  # the first step moves each coordinate by learning_rate
    array([ 0.9, -0.9])
    """

    _rule = ADAM

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, *, schedule=None, weight_decay=0.0):
        super().__init__(params, learning_rate, schedule=schedule,
                         weight_decay=weight_decay)
        self.beta_1 = self._beta_1 = _check_real("beta_1", beta_1, 0, 1)
        self.beta_2 = self._beta_2 = _check_real("beta_2", beta_2, 0, 1)
        self.epsilon = self._epsilon = _check_real("epsilon", epsilon, 0, math.inf,
                                                   closed_low=False)


class AMSGrad(Adam):
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam with a non-decreasing second moment.

    The denominator uses the running maximum of ``v``, bias-corrected as in PyTorch:
    ``w <- w - lr * m_hat / (sqrt(max(v) / (1 - b2^t)) + eps)``.

    Parameters
    ----------
    params : list of ndarray
        Parameter arrays (float64, C-contiguous, sharing no memory), updated in
        place.
    learning_rate : float, default=0.001
        Step size before the schedule factor.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of the second moment for numerical stability.
    schedule : callable, default=None
        ``schedule(step)`` gives the factor applied to ``learning_rate``.
    weight_decay : float, default=0.0
        Decoupled weight decay.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.optim import AMSGrad
    >>> w = np.array([1.0])
    >>> optimizer = AMSGrad([w], learning_rate=0.1).step([np.array([2.0])])
    >>> w
    array([0.9])
    """

    _rule = AMSGRAD


class SWATS(Adam):
    """Adam that switches to SGD once its step size settles (Keskar & Socher 2017).

    During the Adam phase each step ``p = -lr m_hat / (sqrt(v_hat) + eps)`` is projected
    on the gradient to get the SGD learning rate that would make the same progress,
    ``gamma = p'p / (-p'g)``. Its exponential average ``lambda`` (decay ``beta_2``),
    bias-corrected, is the estimate; once it differs from ``gamma`` by less than
    ``switch_tol`` the optimiser moves to SGD with momentum
    (``v <- beta_1 v + g``, ``w <- w - (1 - beta_1) lambda_hat v``) for good.

    Parameters
    ----------
    params : list of ndarray
        Parameter arrays (float64, C-contiguous, sharing no memory), updated in
        place.
    learning_rate : float, default=0.001
        Adam's step size before the schedule factor (the schedule also scales the SGD
        rate after the switch).
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moments, also the momentum of the SGD phase and the
        decay of the step-size estimate.
    epsilon : float, default=1e-8
        Added to the root of the second moment for numerical stability.
    switch_tol : float, default=1e-9
        Switch once ``|lambda / (1 - beta_2^t) - gamma| < switch_tol``.
    schedule : callable, default=None
        ``schedule(step)`` gives the factor applied to the learning rate.
    weight_decay : float, default=0.0
        Decoupled weight decay.

    Attributes
    ----------
    switched_at : int or None
        Step after which SGD took over, or None while Adam still runs.
    sgd_learning_rate : float or None
        The SGD learning rate estimated at the switch.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.optim import SWATS
    >>> w = np.array([3.0, -2.0])
    >>> optimizer = SWATS([w], learning_rate=0.1, switch_tol=1e-3)
    >>> for _ in range(500):
    ...     _ = optimizer.step([w.copy()])   # gradient of ||w||^2 / 2
    >>> optimizer.switched_at is not None, bool(np.abs(w).max() < 1e-3)
    (True, True)
    """

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, *, switch_tol=1e-9, schedule=None, weight_decay=0.0):
        super().__init__(params, learning_rate, beta_1, beta_2, epsilon,
                         schedule=schedule, weight_decay=weight_decay)
        self.switch_tol = _check_real("switch_tol", switch_tol, 0, math.inf,
                                      closed_low=False)
        self.switched_at = None
        self.sgd_learning_rate = None
        self._rate_average = 0.0
        self._velocities = [np.zeros(p.size) for p in self.params]

    def step(self, grads):
        """Update every parameter array in place from its gradient.

        Parameters
        ----------
        grads : list of ndarray
            One gradient per parameter array, of the same shape.

        Returns
        -------
        self : object
            The optimiser, with ``n_steps`` increased by one.
        """
        grads = self._check_grads(grads)
        learning_rate = self.current_learning_rate
        if self.switched_at is not None:
            factor = learning_rate / self.learning_rate
            directions = [
                (1.0 - self.beta_1) * (self.beta_1 * velocity + grad)
                for velocity, grad in zip(self._velocities, grads)
            ]
            self._apply(directions, factor * self.sgd_learning_rate)
            for velocity, direction in zip(self._velocities, directions):
                velocity[:] = direction / (1.0 - self.beta_1)
            self.n_steps += 1
            return self

        with np.errstate(over="ignore", invalid="ignore"):
            directions = self._directions(grads, self.n_steps + 1)
        self._apply(directions, learning_rate)
        self.n_steps += 1
        # p = -lr * direction is the Adam step just taken; the SGD rate that makes
        # the same progress along the gradient is lr * d'd / d'g (lr cancels once).
        with np.errstate(over="ignore", invalid="ignore"):
            direction_norm2 = sum(float(d @ d) for d in directions)
            direction_dot_grad = sum(float(d @ g) for d, g in zip(directions, grads))
            rate = math.nan
            if direction_dot_grad > 0.0:
                rate = learning_rate * direction_norm2 / direction_dot_grad
        # Overflowing or non-descent projections carry no estimate: skip them.
        if math.isfinite(rate) and rate > 0.0:
            self._rate_average = (
                self.beta_2 * self._rate_average + (1.0 - self.beta_2) * rate
            )
            estimate = self._rate_average / (1.0 - self.beta_2**self.n_steps)
            if self.n_steps > 1 and abs(estimate - rate) < self.switch_tol:
                self.switched_at = self.n_steps
                self.sgd_learning_rate = estimate
        return self
