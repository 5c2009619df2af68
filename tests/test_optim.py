"""Update rules and schedules of statopt.optim: hand-computed steps and convergence."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

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

# ----------------------------------------------------------- hand-computed steps


def test_sgd_steps_by_hand():
    w = np.array([1.0, -2.0])
    optimizer = SGD([w], learning_rate=0.1)
    optimizer.step([np.array([0.5, 1.0])])
    assert_allclose(w, [0.95, -2.1])
    optimizer.step([np.array([-1.0, 0.0])])
    assert_allclose(w, [1.05, -2.1])
    assert optimizer.n_steps == 2


def test_momentum_steps_by_hand():
    w = np.array([1.0])
    optimizer = Momentum([w], learning_rate=0.5, beta=0.9)
    optimizer.step([np.array([2.0])])
    # v1 = 0.1 * 2 = 0.2; w1 = 1 - 0.5 * 0.2
    assert_allclose(w, [0.9])
    optimizer.step([np.array([1.0])])
    # v2 = 0.9 * 0.2 + 0.1 * 1 = 0.28; w2 = 0.9 - 0.5 * 0.28
    assert_allclose(w, [0.76])


def test_rmsprop_steps_by_hand():
    w = np.array([0.0])
    optimizer = RMSprop([w], learning_rate=0.01, rho=0.9, epsilon=1e-12)
    optimizer.step([np.array([2.0])])
    # s1 = 0.1 * 4 = 0.4
    assert_allclose(w, [-0.01 * 2.0 / math.sqrt(0.4)])
    optimizer.step([np.array([-1.0])])
    # s2 = 0.9 * 0.4 + 0.1 * 1 = 0.46
    assert_allclose(w, [-0.01 * 2.0 / math.sqrt(0.4) + 0.01 / math.sqrt(0.46)])


def test_adam_steps_by_hand():
    w = np.array([1.0, 1.0])
    optimizer = Adam([w], learning_rate=0.1, beta_1=0.9, beta_2=0.99, epsilon=1e-12)
    optimizer.step([np.array([3.0, -0.5])])
    # Bias correction makes the first step exactly lr * sign(g).
    assert_allclose(w, [0.9, 1.1])
    optimizer.step([np.array([1.0, 0.5])])
    m = 0.9 * 0.1 * np.array([3.0, -0.5]) + 0.1 * np.array([1.0, 0.5])
    v = 0.99 * 0.01 * np.array([9.0, 0.25]) + 0.01 * np.array([1.0, 0.25])
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.99**2)
    assert_allclose(w, np.array([0.9, 1.1]) - 0.1 * m_hat / np.sqrt(v_hat))


def test_amsgrad_keeps_the_largest_second_moment():
    w_ams, w_adam = np.array([0.0]), np.array([0.0])
    ams = AMSGrad([w_ams], learning_rate=0.1, beta_1=0.0, beta_2=0.5, epsilon=1e-12)
    adam = Adam([w_adam], learning_rate=0.1, beta_1=0.0, beta_2=0.5, epsilon=1e-12)
    for grad in (10.0, 0.1, 0.1):
        ams.step([np.array([grad])])
        adam.step([np.array([grad])])
    # v: 50, 25.005, 12.5075; AMSGrad's denominator keeps 50 (then bias-corrected).
    step_3 = 0.1 * 0.1 / math.sqrt(50.0 / (1 - 0.5**3))
    step_2 = 0.1 * 0.1 / math.sqrt(50.0 / (1 - 0.5**2))
    assert_allclose(w_ams, [-0.1 - step_2 - step_3])
    assert w_adam[0] < w_ams[0]  # plain Adam takes larger steps once v shrinks


def test_decoupled_weight_decay_by_hand():
    w = np.array([2.0])
    adamw = Adam([w], learning_rate=0.1, weight_decay=0.5, epsilon=1e-12)
    adamw.step([np.array([1.0])])
    assert_allclose(w, [2.0 * (1 - 0.1 * 0.5) - 0.1])
    w = np.array([2.0])
    SGD([w], learning_rate=0.1, weight_decay=0.5).step([np.array([1.0])])
    assert_allclose(w, [2.0 * 0.95 - 0.1])


def test_schedule_scales_the_learning_rate():
    w = np.array([0.0])
    halving = StepDecay(step_size=1, gamma=0.5)
    optimizer = SGD([w], learning_rate=1.0, schedule=halving)
    for _ in range(3):
        optimizer.step([np.array([-1.0])])
    assert_allclose(w, [1.0 + 0.5 + 0.25])
    assert optimizer.current_learning_rate == 0.125


def test_params_of_several_shapes_are_updated_in_place():
    coef, intercept = np.ones((2, 3)), np.zeros(2)
    SGD([coef, intercept], learning_rate=1.0).step([np.ones((2, 3)), np.ones(2)])
    assert_allclose(coef, 0.0)
    assert_allclose(intercept, -1.0)


def test_swats_switches_and_then_follows_sgd_with_momentum():
    w = np.array([3.0, -2.0])
    optimizer = SWATS([w], learning_rate=0.1, beta_1=0.9, beta_2=0.999,
                      switch_tol=1e-3)
    while optimizer.switched_at is None:
        optimizer.step([w.copy()])
        assert optimizer.n_steps < 1000, "SWATS never switched on a quadratic"
    rate = optimizer.sgd_learning_rate
    assert rate > 0
    # After the switch: v <- beta_1 v + g, w <- w - (1 - beta_1) * rate * v.
    before, grad = w.copy(), w.copy()
    optimizer.step([grad])
    assert_allclose(w, before - 0.1 * rate * grad)
    before, grad2 = w.copy(), w.copy()
    optimizer.step([grad2])
    assert_allclose(w, before - 0.1 * rate * (0.9 * grad + grad2))


def test_swats_estimate_is_the_projected_adam_step():
    # One coordinate, first step: p = -lr sign(g), gamma = p^2 / (-p g) = lr / |g|.
    w = np.array([1.0])
    optimizer = SWATS([w], learning_rate=0.1, beta_2=0.9, epsilon=1e-12)
    optimizer.step([np.array([4.0])])
    assert_allclose(optimizer._rate_average / (1 - 0.9), 0.1 / 4.0)


# --------------------------------------------------------------- convergence
QUADRATIC_H = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
QUADRATIC_MIN = np.array([1.0, -2.0, 0.5])

RULES = [
    (SGD, {"learning_rate": 0.2}),
    (Momentum, {"learning_rate": 0.2}),
    (RMSprop, {"learning_rate": 0.01}),
    (Adam, {"learning_rate": 0.05}),
    (AMSGrad, {"learning_rate": 0.05}),
    (SWATS, {"learning_rate": 0.05, "switch_tol": 1e-5}),
]


@pytest.mark.parametrize("rule, options", RULES, ids=[r.__name__ for r, _ in RULES])
def test_rule_reaches_the_minimiser_of_a_convex_quadratic(rule, options):
    w = np.zeros(3)
    n_steps = 4000
    optimizer = rule([w], schedule=Cosine(total_steps=n_steps), **options)
    for _ in range(n_steps):
        optimizer.step([QUADRATIC_H @ (w - QUADRATIC_MIN)])
    assert np.abs(w - QUADRATIC_MIN).max() < 1e-4


def _logistic_problem():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 4))
    y = (X @ [1.0, -1.0, 0.5, 0.0] + 0.3 * rng.standard_normal(200) > 0).astype(int)
    C = 1.0
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=1000).fit(X, y)
    return X, y, C, reference


@pytest.mark.parametrize("rule, options", RULES, ids=[r.__name__ for r, _ in RULES])
def test_rule_reaches_the_logistic_regression_optimum(rule, options):
    X, y, C, reference = _logistic_problem()
    n = X.shape[0]
    coef, intercept = np.zeros(4), np.zeros(1)
    n_steps = 6000
    optimizer = rule([coef, intercept], schedule=Cosine(total_steps=n_steps),
                     **options)
    for _ in range(n_steps):
        # Gradient of mean log-loss + ||w||^2 / (2 C n): scikit-learn's objective
        # divided by C n, so both share the optimum.
        residual = 1.0 / (1.0 + np.exp(-(X @ coef + intercept))) - y
        optimizer.step([X.T @ residual / n + coef / (C * n),
                        np.array([residual.mean()])])
    assert np.abs(coef - reference.coef_.ravel()).max() < 1e-4
    assert abs(intercept[0] - reference.intercept_[0]) < 1e-4


# ------------------------------------------------------------------ schedules


def test_schedules_by_hand():
    assert ConstantSchedule()(10**6) == 1.0
    decay = InverseDecay(total_steps=10, a=10.0, b=0.75)
    assert_allclose(decay(5), 1.0 / (1.0 + 10.0 * 0.5) ** 0.75)
    assert decay(20) == decay(10)  # progress is clipped at 1
    assert_allclose(InverseSqrt(scale=2.0)(6), 0.5)
    cosine = Cosine(total_steps=4, min_factor=0.2)
    assert_allclose([cosine(s) for s in range(5)],
                    0.2 + 0.8 * 0.5 * (1 + np.cos(np.pi * np.arange(5) / 4)))
    assert_allclose([StepDecay(3, 0.1)(s) for s in (0, 2, 3, 6)],
                    [1.0, 1.0, 0.1, 0.01])


@pytest.mark.parametrize(
    "build, error",
    [
        (lambda: InverseDecay(total_steps=0), ValueError),
        (lambda: InverseDecay(total_steps=1.5), TypeError),
        (lambda: Cosine(total_steps=10, min_factor=2.0), ValueError),
        (lambda: StepDecay(step_size=5, gamma=-1.0), ValueError),
        (lambda: InverseSqrt(scale=float("nan")), ValueError),
    ],
)
def test_schedules_reject_bad_parameters(build, error):
    with pytest.raises(error):
        build()


def test_schedule_rejects_negative_step():
    with pytest.raises(ValueError, match="step must be >= 0"):
        InverseSqrt()(-1)


# ---------------------------------------------------------------- bad input


def test_optimizer_rejects_bad_params_and_grads():
    with pytest.raises(TypeError, match="float64"):
        Adam([np.zeros(3, dtype=np.float32)])
    with pytest.raises(TypeError, match="float64"):
        Adam([[0.0, 1.0]])
    with pytest.raises(ValueError, match="C-contiguous"):
        Adam([np.zeros((3, 2)).T])
    with pytest.raises(ValueError, match="at least one"):
        Adam([])
    with pytest.raises(ValueError, match=r"beta_1 must be in \[0, 1\)"):
        Adam([np.zeros(2)], beta_1=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        SGD([np.zeros(2)], learning_rate=-0.1)
    with pytest.raises(TypeError, match="callable"):
        SGD([np.zeros(2)], schedule=0.5)
    optimizer = Adam([np.zeros(2)])
    with pytest.raises(ValueError, match="shape"):
        optimizer.step([np.zeros(3)])
    with pytest.raises(ValueError, match="2 gradients for 1"):
        optimizer.step([np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match="NaN"):
        optimizer.step([np.array([np.nan, 0.0])])
    assert optimizer.n_steps == 0
