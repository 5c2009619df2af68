"""SimilarityAwareMultimodalClassifier: gradients, both similarity rules, errors."""

import warnings

import numpy as np
import pytest
from scipy.special import log_softmax
from sklearn.exceptions import ConvergenceWarning

from statopt import SimilarityAwareMultimodalClassifier

N_IMAGE, N_TEXT = 6, 4
VIEWS = dict(views=[np.arange(N_IMAGE), np.arange(N_IMAGE, N_IMAGE + N_TEXT)],
             modalities=["image", "text"])
SMALL = dict(representation_dim=5, hidden_layer_sizes=(7,), learning_rate=1e-2,
             random_state=0, **VIEWS)


def _pairs(n=200, seed=0):
    """Image features and text features that are a noisy map of them; half the
    rows get another row's text (y = 1)."""
    rng = np.random.RandomState(seed)
    image = rng.normal(size=(n, N_IMAGE))
    text = np.tanh(image[:, :3] @ rng.normal(size=(3, N_TEXT)))
    text += 0.1 * rng.normal(size=text.shape)
    fake = np.zeros(n, dtype=int)
    fake[rng.permutation(n)[: n // 2]] = 1
    rows = np.flatnonzero(fake)
    text[rows] = text[np.roll(rows, 1)]
    return np.hstack([image, text]), fake


def _fit(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **kwargs)


def _losses(clf, theta, X, y):
    """Mean L_p, mean L_s and the mean y = 1 term of L_s, computed here in numpy
    from the branch outputs and the predictor's weights (not the model's head)."""
    network = clf.network_
    features = network.features(theta, X)
    d = clf.representation_dim
    t, v = features[:, :d], features[:, d:]
    inner = np.sum(t * v, axis=1)
    s = 0.5 * (1 + inner / np.sqrt((t * t).sum(1) * (v * v).sum(1)))
    inputs = (np.column_stack([t, v, s, inner]) if clf.similarity_in_predictor
              else features)
    block = theta[network._blocks[1]]
    W = block[: inputs.shape[1] * 2].reshape(inputs.shape[1], 2)
    logits = inputs @ W + block[inputs.shape[1] * 2 :]
    n = X.shape[0]
    L_p = -log_softmax(logits, axis=1)[np.arange(n), y].mean()
    fake_term = -np.mean(y * np.log(1 - s))
    L_s = fake_term - np.mean((1 - y) * np.log(s))
    return L_p, L_s, fake_term


def _central(function, theta, index, step=1e-6):
    plus, minus = theta.copy(), theta.copy()
    plus[index] += step
    minus[index] -= step
    return (function(plus) - function(minus)) / (2 * step)


@pytest.mark.parametrize("in_predictor", [True, False])
def test_exact_gradient_matches_central_differences(in_predictor):
    # Every parameter (text branch, image branch, predictor) of alpha L_p + beta L_s.
    X, y = _pairs(30)
    clf = _fit(SimilarityAwareMultimodalClassifier(
        max_iter=2, l2=0.0, similarity_in_predictor=in_predictor, **SMALL), X, y)
    theta = clf.params_.copy()
    coef = np.full(30, 1 / 30)
    loss, grad = clf.network_._loss_gradient(theta, X, [y, y.astype(float)],
                                             [0.6 * coef, 0.4 * coef], 0.0)
    L_p, L_s, _ = _losses(clf, theta, X, y)
    assert loss == pytest.approx(0.6 * L_p + 0.4 * L_s, rel=1e-12)

    def objective(params):
        L_p, L_s, _ = _losses(clf, params, X, y)
        return 0.6 * L_p + 0.4 * L_s

    expected = np.array([_central(objective, theta, k) for k in range(theta.size)])
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_published_gradient_differs_exactly_by_the_fake_term():
    # The published dL_s/dt, dL_s/dv drop the y = 1 term: the published gradient is
    # the exact one minus beta times the gradient of -mean(y log(1 - s)).
    X, y = _pairs(30, seed=1)
    clf = _fit(SimilarityAwareMultimodalClassifier(
        max_iter=2, l2=0.0, similarity_gradient="published", **SMALL), X, y)
    theta = clf.params_.copy()
    coef = np.full(30, 1 / 30)
    grad = clf.network_._loss_gradient(theta, X, [y, y.astype(float)],
                                       [0.6 * coef, 0.4 * coef], 0.0)[1]

    def full(params):
        L_p, L_s, _ = _losses(clf, params, X, y)
        return 0.6 * L_p + 0.4 * L_s

    def fake_term(params):
        return 0.4 * _losses(clf, params, X, y)[2]

    expected_full = np.array([_central(full, theta, k) for k in range(theta.size)])
    missing = np.array([_central(fake_term, theta, k) for k in range(theta.size)])
    np.testing.assert_allclose(grad, expected_full - missing, rtol=1e-5, atol=1e-8)
    # The missing term is not negligible: it is what pushes fakes apart.
    trunk = clf.network_._blocks[0]
    assert np.linalg.norm(missing[trunk]) > 0.1 * np.linalg.norm(grad[trunk])
    # The predictor's gradient is the same under both rules.
    head = clf.network_._blocks[1]
    np.testing.assert_allclose(missing[head], 0.0, atol=1e-8)


def test_published_similarity_gradient_formula_on_one_pair():
    # The closed forms for one pair (t, v) against central differences of
    # L_s(t) = -[y log(1 - s) + (1 - y) log s].
    from statopt.neural_network._similarity_aware import (
        _CosineSimilarity,
        _SimilarityLoss,
    )

    rng = np.random.RandomState(3)
    t, v = rng.normal(size=4), rng.normal(size=4)

    def L_s(t_, y):
        s = 0.5 * (1 + t_ @ v / np.linalg.norm(t_) / np.linalg.norm(v))
        return -(y * np.log(1 - s) + (1 - y) * np.log(s))

    s = 0.5 * (1 + t @ v / np.linalg.norm(t) / np.linalg.norm(v))
    t0, v0, norm = t / np.linalg.norm(t), v / np.linalg.norm(v), np.linalg.norm(t)
    for y in (0.0, 1.0):
        published = (1 - y) / (2 * s * norm) * ((2 * s - 1) * t0 - v0)
        missing = y / (2 * (1 - s) * norm) * (v0 - (2 * s - 1) * t0)
        numeric = np.array([_central(lambda x, y=y: L_s(x, y), t, k) for k in range(4)])
        np.testing.assert_allclose(published + missing, numeric, rtol=1e-6)
        for rule, expected in (("exact", numeric), ("published", published)):
            layer, head = _CosineSimilarity(), _SimilarityLoss(rule)
            z, cache = layer.forward(None, np.concatenate([t, v])[None, :])
            g = head.gradient(z, np.array([y]), np.array([1.0]))[1]
            g_tv = layer.backward(None, cache, g, None)
            np.testing.assert_allclose(g_tv[0, :4], expected, rtol=1e-6, atol=1e-9)
    # For y = 1 the published gradient is 0 where the true one is not.
    assert np.linalg.norm(missing) > 0.05
