"""Learning-rate schedules.

A schedule is a callable ``schedule(step) -> factor``: the learning rate used by the
``step``-th update (counted from 0) is ``learning_rate * schedule(step)``. Schedules
that depend on training progress take the total number of steps when built.
"""

import math
from numbers import Integral, Real

__all__ = ["ConstantSchedule", "InverseDecay", "InverseSqrt", "Cosine", "StepDecay"]


def _check_positive(name, value, *, integer=False, allow_zero=False):
    kind = Integral if integer else Real
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{name} must be a {'integer' if integer else 'number'}, "
                        f"got {value!r}.")
    try:
        value = int(value) if integer else float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large, got {value!r}.") from None
    finite = value < 2**1000 if integer else math.isfinite(value)
    if value < 0 or (value == 0 and not allow_zero) or not finite:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}.")
    return value


def _check_step(step):
    if not isinstance(step, Integral) or isinstance(step, bool):
        raise TypeError(f"step must be an integer (the update's index), got {step!r}.")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}.")


def _progress(step, total_steps):
    # min() first: a huge integer step would overflow the float division.
    return min(step, total_steps) / total_steps


class ConstantSchedule:
    """Keep the learning rate fixed.

    Examples
    --------
    >>> from statopt.optim import ConstantSchedule
    >>> ConstantSchedule()(1000)
    1.0
    """

    def __call__(self, step):
        _check_step(step)
        return 1.0

    def __repr__(self):
        return "ConstantSchedule()"


class InverseDecay:
    """Inverse decay ``1 / (1 + a p)^b`` with ``p`` the training progress in [0, 1].

    This is the schedule of gradient-reversal training (Ganin & Lempitsky 2015, with
    ``a=10`` and ``b=0.75``): the rate falls smoothly to ``(1 + a)^-b`` of its start.

    Parameters
    ----------
    total_steps : int
        Number of updates of the whole run; progress is ``min(step / total_steps, 1)``.
    a : float, default=10.0
        Speed of the decay.
    b : float, default=0.75
        Exponent of the decay.

    Examples
    --------
    >>> from statopt.optim import InverseDecay
    >>> schedule = InverseDecay(total_steps=100, a=10.0, b=0.75)
    >>> schedule(0), round(schedule(100), 6)
    (1.0, 0.16556)
    """

    def __init__(self, total_steps, a=10.0, b=0.75):
        self.total_steps = _check_positive("total_steps", total_steps, integer=True)
        self.a = _check_positive("a", a, allow_zero=True)
        self.b = _check_positive("b", b, allow_zero=True)

    def __call__(self, step):
        _check_step(step)
        progress = _progress(step, self.total_steps)
        # exp(-b log(1 + a p)) rather than (1 + a p)^-b: no overflow for huge a, b.
        return math.exp(-self.b * math.log1p(self.a * progress))

    def __repr__(self):
        return f"InverseDecay(total_steps={self.total_steps}, a={self.a}, b={self.b})"


class InverseSqrt:
    """Inverse square-root decay ``1 / sqrt(1 + step / scale)``.

    Parameters
    ----------
    scale : float, default=1.0
        Number of steps over which the rate roughly keeps its start value.

    Examples
    --------
    >>> from statopt.optim import InverseSqrt
    >>> InverseSqrt(scale=10)(30)
    0.5
    """

    def __init__(self, scale=1.0):
        self.scale = _check_positive("scale", scale)

    def __call__(self, step):
        _check_step(step)
        ratio = step / self.scale if step < 2**1000 else math.inf
        return 1.0 / math.sqrt(1.0 + ratio)

    def __repr__(self):
        return f"InverseSqrt(scale={self.scale})"


class Cosine:
    """Cosine annealing from 1 to ``min_factor`` over ``total_steps``.

    Parameters
    ----------
    total_steps : int
        Number of updates after which the factor stays at ``min_factor``.
    min_factor : float, default=0.0
        Final factor.

    Examples
    --------
    >>> from statopt.optim import Cosine
    >>> schedule = Cosine(total_steps=100)
    >>> schedule(0), schedule(50), schedule(100)
    (1.0, 0.5, 0.0)
    """

    def __init__(self, total_steps, min_factor=0.0):
        self.total_steps = _check_positive("total_steps", total_steps, integer=True)
        self.min_factor = _check_positive("min_factor", min_factor, allow_zero=True)
        if self.min_factor > 1:
            raise ValueError(f"min_factor must be <= 1, got {min_factor!r}.")

    def __call__(self, step):
        _check_step(step)
        progress = _progress(step, self.total_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_factor + (1.0 - self.min_factor) * cosine

    def __repr__(self):
        return f"Cosine(total_steps={self.total_steps}, min_factor={self.min_factor})"


class StepDecay:
    """Multiply the rate by ``gamma`` every ``step_size`` updates.

    Parameters
    ----------
    step_size : int
        Number of updates between two decays.
    gamma : float, default=0.1
        Factor applied at each decay, in (0, 1].

    Examples
    --------
    >>> from statopt.optim import StepDecay
    >>> schedule = StepDecay(step_size=10, gamma=0.5)
    >>> schedule(9), schedule(10), schedule(25)
    (1.0, 0.5, 0.25)
    """

    def __init__(self, step_size, gamma=0.1):
        self.step_size = _check_positive("step_size", step_size, integer=True)
        self.gamma = _check_positive("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must be <= 1 (a decay), got {gamma!r}.")

    def __call__(self, step):
        _check_step(step)
        decays = step // self.step_size
        if self.gamma == 1 or decays == 0:
            return 1.0
        # Past 2**1000 decays any gamma < 1 has underflowed (and the float
        # conversion of the count would overflow).
        return float(self.gamma) ** decays if decays < 2**1000 else 0.0

    def __repr__(self):
        return f"StepDecay(step_size={self.step_size}, gamma={self.gamma})"
