"""Layers, heads, the L2 penalty and Hessian-vector products of statopt.neural_network.

References: central finite differences of the objective (gradients) and of the
gradient (Hessian-vector products), and the explicit Hessian of a tiny network computed
by hyper-dual numbers in plain Python, independent of the backpropagation code.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from statopt.neural_network import (
    Branches,
    Dense,
    Dropout,
    GradientReversal,
    Identity,
    LeakyReLU,
    Logistic,
    MultiHeadNetwork,
    Network,
    ReLU,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    SquaredLoss,
    Stack,
    Tanh,
)

RNG = np.random.default_rng(20261130)
X = RNG.normal(size=(9, 3))
WEIGHTS = RNG.uniform(0.2, 2.0, size=9)


def _targets(head):
    if isinstance(head, SoftmaxCrossEntropy):
        return np.arange(9) % 3, 3
    if isinstance(head, SigmoidCrossEntropy):
        return (np.arange(9) % 2).astype(float), 1
    return RNG.normal(size=(9, 2)), 2


def _fd_gradient(function, theta, step=1e-6):
    grad = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = step
        grad[j] = (function(theta + e) - function(theta - e)) / (2 * step)
    return grad


def _relative_error(actual, expected):
    return np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300)


ACTIVATIONS = [Identity(), ReLU(), LeakyReLU(slope=0.3), Tanh(), Logistic(),
               Dropout(0.4)]
HEADS = [SoftmaxCrossEntropy(), SigmoidCrossEntropy(), SquaredLoss()]


def _network(activation, head):
    target, n_out = _targets(head)
    net = Network([Dense(4), activation, Dense(5), Tanh(), Dense(n_out)], head, 3)
    theta = net.init_params(random_state=1)
    # Non-zero biases, and no pre-activation at a ReLU kink.
    theta += 0.2 * np.random.default_rng(2).normal(size=theta.size)
    return net, theta, target


@pytest.mark.parametrize("head", HEADS, ids=repr)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_gradient_matches_finite_differences(activation, head):
    net, theta, target = _network(activation, head)
    training = isinstance(activation, Dropout)

    def loss(t):
        return net.loss_gradient(t, X, target, WEIGHTS, l2=0.3, training=training,
                                 random_state=5)[0]

    _, grad = net.loss_gradient(theta, X, target, WEIGHTS, l2=0.3, training=training,
                                random_state=5)
    assert _relative_error(grad, _fd_gradient(loss, theta)) <= 1e-6


@pytest.mark.parametrize("head", HEADS, ids=repr)
@pytest.mark.parametrize("activation", ACTIVATIONS + [GradientReversal(0.7)],
                         ids=repr)
def test_hessian_vector_product_matches_finite_differences(activation, head):
    net, theta, target = _network(activation, head)
    training = isinstance(activation, Dropout)
    vector = np.random.default_rng(3).normal(size=theta.size)

    def grad(t):
        return net.loss_gradient(t, X, target, WEIGHTS, l2=0.3, training=training,
                                 random_state=5)[1]

    step = 1e-6
    expected = (grad(theta + step * vector) - grad(theta - step * vector)) / (2 * step)
    product = net.hessian_vector_product(theta, vector, X, target, WEIGHTS, l2=0.3,
                                         training=training, random_state=5)
    assert _relative_error(product, expected) <= 1e-6


def test_penalty_gradient_and_hessian():
    # Alone, the penalty is (l2 / 2) ||W||^2 over the weights, not the biases.
    net = Network([Dense(2), Tanh(), Dense(1)], SquaredLoss(), 3)
    theta = np.random.default_rng(4).normal(size=net.n_params)
    zero_coef = np.zeros(9)

    def penalty(t):
        return net.loss_gradient(t, X, np.zeros(9), zero_coef, l2=0.7)[0]

    _, grad = net.loss_gradient(theta, X, np.zeros(9), zero_coef, l2=0.7)
    assert _relative_error(grad, _fd_gradient(penalty, theta)) <= 1e-6
    n_weights = 3 * 2 + 2 * 1
    assert np.count_nonzero(net.penalty_mask) == n_weights
    assert_allclose(penalty(theta), 0.35 * np.sum(theta[net.penalty_mask] ** 2))
    vector = np.ones(net.n_params)
    product = net.hessian_vector_product(theta, vector, X, np.zeros(9), zero_coef,
                                         l2=0.7)
    assert_allclose(product, 0.7 * net.penalty_mask)


def test_gradient_reversal_flips_the_gradient_before_it():
    # The layers before the reversal get -lambda times the gradient of the loss;
    # the layers after it get the plain gradient.
    head = SoftmaxCrossEntropy()
    plain = Network([Dense(4), Tanh(), Dense(3)], head, 3)
    reversed_ = Network([Dense(4), Tanh(), GradientReversal(0.6), Dense(3)], head, 3)
    theta = plain.init_params(random_state=0)
    target = np.arange(9) % 3
    loss, grad = plain.loss_gradient(theta, X, target)
    loss_r, grad_r = reversed_.loss_gradient(theta, X, target)
    assert loss_r == loss
    first = 3 * 4 + 4
    assert_allclose(grad_r[:first], -0.6 * grad[:first])
    assert_allclose(grad_r[first:], grad[first:])


def test_nested_stack_equals_flat_stack():
    flat = Network([Dense(4), Tanh(), Dense(3), Logistic(), Dense(2)],
                   SquaredLoss(), 3)
    nested = Network([Stack([Dense(4), Tanh()]), Stack([Dense(3), Logistic()]),
                      Dense(2)], SquaredLoss(), 3)
    theta = flat.init_params(random_state=0)
    target = RNG.normal(size=(9, 2))
    vector = np.random.default_rng(7).normal(size=theta.size)
    for a, b in zip(flat.loss_gradient(theta, X, target, WEIGHTS, l2=0.1),
                    nested.loss_gradient(theta, X, target, WEIGHTS, l2=0.1)):
        assert_allclose(a, b, rtol=1e-14)
    assert_allclose(
        flat.hessian_vector_product(theta, vector, X, target, WEIGHTS, l2=0.1),
        nested.hessian_vector_product(theta, vector, X, target, WEIGHTS, l2=0.1),
        rtol=1e-13, atol=1e-15,
    )


# ------------------------------------------------- explicit Hessian (hyper-dual)


class _HyperDual:
    """a + b e1 + c e2 + d e1 e2 with e1^2 = e2^2 = 0: exact second derivatives."""

    def __init__(self, a, b=0.0, c=0.0, d=0.0):
        self.a, self.b, self.c, self.d = a, b, c, d

    def __add__(self, other):
        other = _lift(other)
        return _HyperDual(self.a + other.a, self.b + other.b, self.c + other.c,
                          self.d + other.d)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1.0) * _lift(other)

    def __mul__(self, other):
        other = _lift(other)
        return _HyperDual(self.a * other.a, self.a * other.b + self.b * other.a,
                          self.a * other.c + self.c * other.a,
                          self.a * other.d + self.b * other.c + self.c * other.b
                          + self.d * other.a)

    __rmul__ = __mul__

    def apply(self, f, f1, f2):
        return _HyperDual(f, f1 * self.b, f1 * self.c,
                          f1 * self.d + f2 * self.b * self.c)


def _lift(value):
    return value if isinstance(value, _HyperDual) else _HyperDual(float(value))


def _tanh(x):
    t = math.tanh(x.a)
    return x.apply(t, 1 - t * t, -2 * t * (1 - t * t))


def _sigmoid(x):
    s = 1 / (1 + math.exp(-x.a))
    return x.apply(s, s * (1 - s), s * (1 - s) * (1 - 2 * s))


def _exp(x):
    e = math.exp(x.a)
    return x.apply(e, e, e)


def _log(x):
    return x.apply(math.log(x.a), 1 / x.a, -1 / x.a**2)


def _leaky(x, slope):
    return x.apply(x.a if x.a > 0 else slope * x.a, 1.0 if x.a > 0 else slope, 0.0)


def _reference_objective(theta, rows, target, weights, l2):
    """Dense(3) - tanh - Dense(2) - logistic - Dense(3) - leaky - softmax CE + L2."""
    shapes = [(2, 3), (3, 2), (2, 3)]
    layers, start = [], 0
    for n_in, n_out in shapes:
        w = [[theta[start + i * n_out + j] for j in range(n_out)] for i in range(n_in)]
        b = [theta[start + n_in * n_out + j] for j in range(n_out)]
        layers.append((w, b))
        start += (n_in + 1) * n_out
    activations = [_tanh, _sigmoid, lambda x: _leaky(x, 0.2)]
    total = _HyperDual(0.0)
    for x, t, s in zip(rows, target, weights):
        h = [_lift(v) for v in x]
        for (w, b), act in zip(layers, activations):
            h = [act(sum((h[i] * w[i][j] for i in range(len(h))), b[j]))
                 for j in range(len(b))]
        log_norm = _log(sum((_exp(z) for z in h), _HyperDual(0.0)))
        total = total + (s / len(rows)) * (log_norm - h[t])
    for w, _ in layers:
        for row in w:
            for value in row:
                total = total + 0.5 * l2 * value * value
    return total


def test_hessian_vector_product_equals_explicit_hessian():
    net = Network([Dense(3), Tanh(), Dense(2), Logistic(), Dense(3),
                   LeakyReLU(0.2)], SoftmaxCrossEntropy(), 2)
    rng = np.random.default_rng(11)
    theta = rng.normal(size=net.n_params)
    rows, target = rng.normal(size=(4, 2)), np.array([0, 2, 1, 2])
    weights, l2 = rng.uniform(0.5, 1.5, size=4), 0.25
    p = net.n_params
    hessian = np.empty((p, p))
    for j in range(p):
        for k in range(j, p):
            dual = [_HyperDual(v, float(i == j), float(i == k))
                    for i, v in enumerate(theta)]
            hessian[j, k] = hessian[k, j] = _reference_objective(
                dual, rows, target, weights, l2).d
    by_columns = np.column_stack([
        net.hessian_vector_product(theta, e, rows, target, weights, l2=l2)
        for e in np.eye(p)
    ])
    assert _relative_error(by_columns, hessian) <= 1e-8
    vector = rng.normal(size=p)
    assert _relative_error(
        net.hessian_vector_product(theta, vector, rows, target, weights, l2=l2),
        hessian @ vector) <= 1e-8


# ------------------------------------------------------------- heads and layers


def test_softmax_head_is_stable_for_huge_logits():
    # Log-sum-exp: logits of 1e4 give finite losses and gradients.
    head = SoftmaxCrossEntropy()
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    loss, grad = head.gradient(z, np.array([2, 1]), np.array([1.0, 1.0]))
    assert_allclose(loss, 2e4)
    assert np.all(np.isfinite(grad))
    assert_allclose(head.output(z).sum(axis=1), 1.0)


def test_sigmoid_head_matches_scipy_log_loss():
    from sklearn.metrics import log_loss

    z = RNG.normal(size=(20, 1)) * 5
    t = (RNG.random(20) < 0.5).astype(float)
    loss = SigmoidCrossEntropy().loss(z, t, np.full(20, 1 / 20))
    assert_allclose(loss, log_loss(t, 1 / (1 + np.exp(-z[:, 0]))), rtol=1e-12)


def test_leaky_relu_slope_is_used():
    x = np.array([[-2.0, 3.0]])
    assert_allclose(LeakyReLU(0.25).forward(None, x)[0], [[-0.5, 3.0]])
    with pytest.raises(ValueError, match="slope"):
        LeakyReLU(1.0)


def test_dropout_is_inverted_seeded_and_off_outside_training():
    layer = Dropout(0.25)
    x = np.ones((2000, 50))
    y1 = layer.forward(None, x, training=True, rng=np.random.RandomState(0))[0]
    y2 = layer.forward(None, x, training=True, rng=np.random.RandomState(0))[0]
    assert_allclose(y1, y2)
    assert set(np.unique(y1)) == {0.0, 1 / 0.75}
    # Kept share: binomial with p=0.75 over 1e5 entries, 6 standard deviations.
    assert abs(np.mean(y1 > 0) - 0.75) < 6 * math.sqrt(0.75 * 0.25 / x.size)
    assert layer.forward(None, x, training=False)[0] is x


@pytest.mark.parametrize("activation, scheme", [(ReLU(), "he"), (Tanh(), "glorot")])
def test_initialisation_scale(activation, scheme):
    net = Network([Dense(400), activation, Dense(1)], SquaredLoss(), 300)
    weights = net.views(net.init_params(random_state=0))[0][: 300 * 400]
    if scheme == "he":
        expected_var = 2.0 / 300
    else:
        expected_var = (6.0 / 700) / 3.0   # uniform(-s, s) has variance s^2 / 3
    assert abs(weights.var() / expected_var - 1) < 0.02
    assert_allclose(net.views(net.init_params(random_state=0))[0],
                    net.views(net.init_params(random_state=0))[0])


# ------------------------------------------- branches and heads on shared features


def _two_head_network(reversal):
    trunk = [Branches([(slice(0, 2), [Dense(3), Tanh()]),
                       ([2], [Dense(2), LeakyReLU(0.1)])]),
             Dense(4), Logistic()]
    discriminator = ([GradientReversal(reversal)] if reversal is not None else [])
    discriminator += [Dense(3), Tanh(), Dense(3)]
    return MultiHeadNetwork(trunk, [([Dense(1)], SigmoidCrossEntropy()),
                                    (discriminator, SoftmaxCrossEntropy())], 3)


def _two_head_data():
    labels = (np.arange(9) % 2).astype(float)
    events = np.arange(9) % 3
    label_weight = WEIGHTS * (np.arange(9) != 4)   # row 4 unlabelled
    return [labels, events], [label_weight, WEIGHTS]


def test_two_heads_on_branches_match_finite_differences():
    net = _two_head_network(None)
    theta = net.init_params(random_state=0)
    theta += 0.1 * np.random.default_rng(1).normal(size=theta.size)
    targets, weights = _two_head_data()

    def loss(t):
        return net.loss_gradient(t, X, targets, weights, l2=0.2)[0]

    _, grad = net.loss_gradient(theta, X, targets, weights, l2=0.2)
    assert _relative_error(grad, _fd_gradient(loss, theta)) <= 1e-6
    vector = np.random.default_rng(2).normal(size=theta.size)
    for reversal in (None, 0.8):
        net = _two_head_network(reversal)

        def grad_of(t, net=net):
            return net.loss_gradient(t, X, targets, weights, l2=0.2)[1]

        step = 1e-6
        expected = (grad_of(theta + step * vector)
                    - grad_of(theta - step * vector)) / (2 * step)
        product = net.hessian_vector_product(theta, vector, X, targets, weights,
                                             l2=0.2)
        assert _relative_error(product, expected) <= 1e-6


def test_reversal_gives_the_saddle_point_update():
    # Trunk: dL_d - lambda dL_e; heads: their own gradients. Reference: the plain
    # two-head gradient and each head's loss alone (weights zero for the other).
    targets, weights = _two_head_data()
    plain, reversed_ = _two_head_network(None), _two_head_network(0.6)
    theta = plain.init_params(random_state=3)
    zero = np.zeros(9)
    _, grad_detector = plain.loss_gradient(theta, X, targets, [weights[0], zero])
    _, grad_events = plain.loss_gradient(theta, X, targets, [zero, weights[1]])
    _, grad = reversed_.loss_gradient(theta, X, targets, weights)
    trunk = slice(0, reversed_.trunk.n_params(3))
    heads = slice(trunk.stop, None)
    assert_allclose(grad[trunk], grad_detector[trunk] - 0.6 * grad_events[trunk],
                    rtol=1e-12, atol=1e-15)
    assert_allclose(grad[heads], grad_detector[heads] + grad_events[heads],
                    rtol=1e-12, atol=1e-15)
    # The event loss reaches the features: the trunk update changes with it.
    assert np.max(np.abs(grad_events[trunk])) > 1e-3


def test_unlabelled_rows_do_not_train_the_detector():
    targets, weights = _two_head_data()
    net = _two_head_network(0.5)
    theta = net.init_params(random_state=0)
    labels = targets[0].copy()
    labels[4] = 1 - labels[4]      # the unlabelled row's label is ignored
    first = net.loss_gradient(theta, X, targets, weights)
    second = net.loss_gradient(theta, X, [labels, targets[1]], weights)
    assert_allclose(first[0], second[0])
    assert_allclose(first[1], second[1])


def test_branches_equal_a_block_diagonal_dense_layer():
    # Two dense branches on column groups = one dense layer with a block-diagonal
    # weight matrix.
    branches = Branches([(slice(0, 2), [Dense(2)]), ([2], [Dense(1)])])
    w = np.random.default_rng(0).normal(size=branches.n_params(3))
    w_first, w_second = w[:6], w[6:]
    full = np.zeros((3, 3))
    full[:2, :2] = w_first[:4].reshape(2, 2)
    full[2, 2] = w_second[0]
    bias = np.r_[w_first[4:], w_second[1:]]
    assert_allclose(branches.forward(w, X)[0], X @ full + bias, rtol=1e-14)
    with pytest.raises(ValueError, match="indices"):
        Network([Branches([([0, 7], [Dense(1)])])], SquaredLoss(), 3)
