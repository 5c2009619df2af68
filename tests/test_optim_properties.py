"""Property-based tests of every public entry point of statopt.optim (issue 12).

Whatever the input, a constructor or call either raises a clean TypeError or
ValueError, or gives finite results; the caller's arrays never change, and a step
that raises leaves the parameters as they were.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from statopt.optim import (
    SGD,
    SWATS,
    Adam,
    AMSGrad,
    ConstantSchedule,
    Cosine,
    InverseDecay,
    InverseSqrt,
    Momentum,
    RMSprop,
    StepDecay,
)

OPTIMIZERS = [SGD, Momentum, RMSprop, Adam, AMSGrad, SWATS]
CLEAN = (TypeError, ValueError)

# Awkward scalars: NaN, inf, huge, subnormal, zero, negative, wrong types.
odd_scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1e-320, 5e-324, 1e300, -1.0, 1.0, 0.5, 0.999]),
    st.integers(-3, 10**400),
    st.sampled_from([None, "0.1", True, [0.1], np.float32(0.1), np.int64(2)]),
)
odd_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 5e-324, 1e-310, 1e300, -1e300, 1.7e308]),
)


def odd_arrays(shape):
    float64 = hnp.arrays(np.float64, shape, elements=odd_values)
    float32 = hnp.arrays(np.float32, shape, elements=st.floats(width=32))
    int64 = hnp.arrays(np.int64, shape, elements=st.integers(-10**6, 10**6))
    return st.one_of(float64, float32, int64)


def _build(cls, params, rate, extra):
    names = {"SGD": [], "Momentum": ["beta"], "RMSprop": ["rho", "epsilon"]}
    names = names.get(cls.__name__, ["beta_1", "beta_2", "epsilon"])
    kwargs = dict(zip(names, extra))
    return cls(params, rate, **kwargs)


@settings(max_examples=60, deadline=None)
@given(cls=st.sampled_from(OPTIMIZERS), rate=odd_scalars,
       extra=st.lists(odd_scalars, max_size=3), decay=odd_scalars)
def test_construction_is_clean(cls, rate, extra, decay):
    param = np.ones(3)
    try:
        optimizer = _build(cls, [param], rate, extra)
        optimizer.weight_decay  # noqa: B018
        cls([param], 0.1, weight_decay=decay)
    except CLEAN:
        return
    assert np.array_equal(param, np.ones(3))


@settings(max_examples=80, deadline=None)
@given(cls=st.sampled_from(OPTIMIZERS),
       start=hnp.arrays(np.float64, (2, 3),
                        elements=st.floats(-1e300, 1e300, allow_subnormal=True)),
       grads=st.lists(odd_arrays(st.sampled_from([(2, 3), (3, 2), (6,), ()])),
                      min_size=1, max_size=5),
       rate=st.sampled_from([1e-3, 1.0, 1e300, 5e-324]),
       decay=st.sampled_from([0.0, 1e-2, 1e300]))
def test_steps_are_clean_and_finite(cls, start, grads, rate, decay):
    param = start.copy()
    optimizer = cls([param], rate, weight_decay=decay)
    for grad in grads:
        grad_copy = grad.copy()
        before = param.copy()
        try:
            optimizer.step([grad])  # a RuntimeWarning is an error here
        except CLEAN:
            assert np.array_equal(param, before)
        assert np.array_equal(grad, grad_copy, equal_nan=True)
        assert np.all(np.isfinite(param))


@settings(max_examples=30, deadline=None)
@given(cls=st.sampled_from(OPTIMIZERS),
       grads=st.one_of(st.none(), st.text(max_size=3), st.integers(),
                       st.lists(st.one_of(st.none(), st.text(max_size=2)),
                                min_size=1, max_size=2)))
def test_steps_reject_non_arrays(cls, grads):
    param = np.ones(2)
    with pytest.raises(CLEAN):
        cls([param], 0.1).step(grads)
    assert np.array_equal(param, np.ones(2))


SCHEDULES = [
    lambda a, b: ConstantSchedule(),
    lambda a, b: InverseDecay(a, b, b),
    lambda a, b: InverseSqrt(b),
    lambda a, b: Cosine(a, b),
    lambda a, b: StepDecay(a, b),
]


@settings(max_examples=150, deadline=None)
@given(build=st.sampled_from(SCHEDULES), a=odd_scalars, b=odd_scalars,
       step=st.one_of(st.integers(-5, 10**400), odd_scalars))
def test_schedules_are_clean_and_in_unit_interval(build, a, b, step):
    try:
        schedule = build(a, b)
    except CLEAN:
        return
    try:
        factor = schedule(step)
    except CLEAN:
        return
    assert isinstance(factor, float) and math.isfinite(factor)
    assert 0.0 <= factor <= 1.0


# ------------------------------------------------ regression tests (issue 12)


def test_step_none_and_string_raise_type_error():
    with pytest.raises(TypeError, match="list of arrays"):
        Adam([np.ones(2)]).step(None)
    with pytest.raises(TypeError, match="array of numbers"):
        Adam([np.ones(2)]).step(["ab"])
    with pytest.raises(TypeError, match="integer"):
        InverseDecay(10)("3")


def test_huge_weight_decay_raises_instead_of_nan():
    param = np.ones(3)
    with pytest.raises(ValueError, match="weight_decay"):
        SGD([param], learning_rate=0.1, weight_decay=1e300).step([np.ones(3)])
    assert np.array_equal(param, np.ones(3))


def test_swats_and_inverse_decay_do_not_overflow():
    param = np.ones(3)
    optimizer = SWATS([param], learning_rate=1e300)
    for _ in range(3):
        try:
            optimizer.step([np.full(3, 1e300)])
        except ValueError:
            pass
    assert np.all(np.isfinite(param))
    assert InverseDecay(10, a=1e300, b=1e300)(5) == 0.0
    assert StepDecay(1, 0.5)(10**400) == 0.0


@settings(max_examples=50, deadline=None)
@given(starts=st.lists(st.integers(0, 8), min_size=2, max_size=3),
       lengths=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       make=st.sampled_from(OPTIMIZERS))
def test_params_sharing_memory_are_refused_and_disjoint_views_step_alone(
        starts, lengths, make):
    # The same array passed twice lost one of its two updates each step (SGD
    # [a, a] moved a by one step, not two), silently.
    buffer = np.zeros(12)
    views = [buffer[s:s + n] for s, n in zip(starts, lengths)]
    spans = [(s, s + v.size) for s, v in zip(starts, views)]
    overlap = any(a[0] < b[1] and b[0] < a[1]
                  for i, a in enumerate(spans) for b in spans[:i])
    if overlap:
        with pytest.raises(ValueError, match="shares memory"):
            make(views, learning_rate=0.1)
        return
    gradients = [np.arange(1.0, v.size + 1) for v in views]
    make(views, learning_rate=0.1).step(gradients)
    for view, gradient in zip(views, gradients):
        alone = np.zeros(view.size)
        make([alone], learning_rate=0.1).step([gradient])
        np.testing.assert_array_equal(view, alone)
