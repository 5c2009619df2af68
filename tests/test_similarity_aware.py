"""SimilarityAwareMultimodalClassifier: gradients, both similarity rules, errors."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from statopt import SimilarityAwareMultimodalClassifier
from statopt.datasets import make_token_image_pairs
from statopt.neural_network import Tanh
from statopt.neural_network._similarity_aware import (
    _in_batch_negatives,
    _TokenConvolution,
)

N_IMAGE, N_TEXT = 6, 4
VIEWS = dict(views=[np.arange(N_IMAGE), np.arange(N_IMAGE, N_IMAGE + N_TEXT)],
             modalities=["image", "text"])
SMALL = dict(representation_dim=5, hidden_layer_sizes=(7,), learning_rate=1e-2,
             random_state=0, **VIEWS)


def _pairs(n=200, seed=0):
    """Image features and text features that are a noisy map of them; half the
    rows get another row's text (y = 1)."""
    mapping = np.random.RandomState(42).normal(size=(3, N_TEXT))
    rng = np.random.RandomState(seed)
    image = rng.normal(size=(n, N_IMAGE))
    text = np.tanh(image[:, :3] @ mapping)
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


def _relation(clf, theta, X):
    """``t``, ``v``, ``s`` and ``t'v`` from the branch outputs, in numpy."""
    features = clf.network_.features(theta, X)
    d = clf.representation_dim
    t, v = features[:, :d], features[:, d:]
    inner = np.sum(t * v, axis=1)
    return t, v, 0.5 * (1 + inner / np.sqrt((t * t).sum(1) * (v * v).sum(1))), inner


def _losses(clf, theta, X, y, frozen=None):
    """Mean L_p, mean L_s and the mean y = 1 term of L_s, computed here in numpy
    from the branch outputs and the predictor's weights (not the model's head).
    ``frozen``: parameters at which the predictor's ``s`` and ``t'v`` are taken
    (a stop-gradient: they do not move with ``theta``)."""
    network = clf.network_
    t, v, s, inner = _relation(clf, theta, X)
    if frozen is not None:
        _, _, s_in, inner_in = _relation(clf, frozen, X)
    else:
        s_in, inner_in = s, inner
    if clf.similarity_in_predictor == "only":
        inputs = np.column_stack([s_in, inner_in])
    elif clf.similarity_in_predictor:
        inputs = np.column_stack([t, v, s_in, inner_in])
    else:
        inputs = np.hstack([t, v])
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


@pytest.mark.parametrize("in_predictor, detach", [
    (True, False), (True, True), ("only", False), ("only", True), (False, True)])
def test_exact_gradient_matches_central_differences(in_predictor, detach):
    # Every parameter (text branch, image branch, predictor) of alpha L_p + beta L_s;
    # detached, with the predictor's s and t'v held at the current parameters.
    X, y = _pairs(30)
    clf = _fit(SimilarityAwareMultimodalClassifier(
        max_iter=2, l2=0.0, similarity_in_predictor=in_predictor,
        detach_similarity=detach, **SMALL), X, y)
    theta = clf.params_.copy()
    coef = np.full(30, 1 / 30)
    loss, grad = clf.network_._loss_gradient(theta, X, [y, y.astype(float)],
                                             [0.6 * coef, 0.4 * coef], 0.0)
    L_p, L_s, _ = _losses(clf, theta, X, y)
    assert loss == pytest.approx(0.6 * L_p + 0.4 * L_s, rel=1e-12)
    frozen = theta.copy() if detach else None

    def objective(params):
        L_p, L_s, _ = _losses(clf, params, X, y, frozen)
        return 0.6 * L_p + 0.4 * L_s

    expected = np.array([_central(objective, theta, k) for k in range(theta.size)])
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_published_gradient_differs_exactly_by_the_fake_term():
    # The published dL_s/dt, dL_s/dv drop the y = 1 term: the published gradient is
    # the exact one minus beta times the gradient of -mean(y log(1 - s)).
    X, y = _pairs(30, seed=1)
    clf = _fit(SimilarityAwareMultimodalClassifier(
        max_iter=2, l2=0.0, similarity_gradient="published",
        detach_similarity=False, **SMALL), X, y)
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


def test_without_similarity_and_linear_branches_it_is_logistic_regression():
    # beta = 0, identity activations, no similarity inputs: the predictor is linear
    # in the columns, so its unpenalised optimum is scikit-learn's unpenalised
    # logistic regression (same probabilities, not the same parameters).
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, N_IMAGE + N_TEXT))
    y = (X[:, 0] - X[:, 8] + rng.logistic(size=150) > 0).astype(int)
    clf = _fit(SimilarityAwareMultimodalClassifier(
        representation_dim=4, activation="identity", beta=0.0, alpha=1.0, l2=0.0,
        similarity_in_predictor=False, batch_size=150, learning_rate=1e-2,
        max_iter=3000, tol=1e-10, n_iter_no_change=50, random_state=0, **VIEWS),
        X, y)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X),
                               atol=2e-3)


def test_similarity_separates_fakes_and_methods_agree():
    # Each modality alone is the same in real and fake rows; the learned similarity
    # ranks fakes low. predict/proba/similarity/transform agree with the network.
    X, y = _pairs(400)
    X_test, y_test = _pairs(300, seed=5)
    clf = _fit(SimilarityAwareMultimodalClassifier(max_iter=150, **SMALL), X, y)
    assert roc_auc_score(y_test, -clf.similarity(X_test)) > 0.85
    assert roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]) > 0.85
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X_test),
                                  clf.classes_[np.argmax(proba, axis=1)])
    t, v = clf.transform(X_test, modality="text"), clf.transform(X_test, "image")
    assert t.shape == v.shape == (300, 5)
    np.testing.assert_array_equal(clf.transform(X_test), np.hstack([t, v]))
    cos = np.sum(t * v, 1) / np.linalg.norm(t, axis=1) / np.linalg.norm(v, axis=1)
    # atol: the 1e-12 added to the squared norms (_NORM_EPS).
    np.testing.assert_allclose(clf.similarity(X_test), (1 + cos) / 2, rtol=1e-10,
                               atol=1e-10)


def test_decision_similarity_reads_the_similarity_head():
    # decision='similarity': P(fake) = 1 - s with s from the representations (cosine
    # in numpy), logit log((1 - s) / s); training is unchanged.
    X, y = _pairs(200)
    X_test, _ = _pairs(50, seed=3)
    by_predictor = _fit(SimilarityAwareMultimodalClassifier(max_iter=5, **SMALL), X, y)
    clf = _fit(SimilarityAwareMultimodalClassifier(max_iter=5, decision="similarity",
                                                   **SMALL), X, y)
    np.testing.assert_array_equal(clf.params_, by_predictor.params_)
    t, v = clf.transform(X_test, "text"), clf.transform(X_test, "image")
    s = (1 + np.sum(t * v, 1) / np.linalg.norm(t, axis=1)
         / np.linalg.norm(v, axis=1)) / 2
    np.testing.assert_allclose(clf.predict_proba(X_test),
                               np.column_stack([s, 1 - s]), atol=1e-10)
    np.testing.assert_allclose(clf.decision_function(X_test), np.log((1 - s) / s),
                               rtol=1e-8)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[(s < 0.5) * 1])
    assert not np.allclose(clf.predict_proba(X_test),
                           by_predictor.predict_proba(X_test))


def test_string_labels_second_class_is_the_fake():
    X, y = _pairs(200)
    labels = np.where(y == 1, "fake", "real")  # sorted: 'fake' < 'real'
    clf = _fit(SimilarityAwareMultimodalClassifier(max_iter=60, **SMALL), X, labels)
    assert list(clf.classes_) == ["fake", "real"]
    # 'real' is classes_[1], the y = 1 of the similarity loss: real pairs are
    # pushed apart, so the similarity now ranks the true fakes high.
    assert roc_auc_score(y, clf.similarity(X)) > 0.7


def test_pickle_determinism_and_model_selection():
    X, y = _pairs(160)
    clf = _fit(SimilarityAwareMultimodalClassifier(max_iter=20, **SMALL), X, y)
    again = _fit(clone(clf), X, y)
    np.testing.assert_array_equal(clf.params_, again.params_)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.similarity(X), clf.similarity(X))
    pipe = make_pipeline(StandardScaler(), SimilarityAwareMultimodalClassifier(
        max_iter=20, **SMALL))
    search = GridSearchCV(pipe, {"similarityawaremultimodalclassifier__beta":
                                 [0.0, 0.4]}, cv=2, scoring="roc_auc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert set(search.cv_results_["param_similarityawaremultimodalclassifier__beta"]
               ) == {0.0, 0.4}


def test_input_array_is_not_modified():
    X, y = _pairs(80)
    X_copy = X.copy()
    clf = _fit(SimilarityAwareMultimodalClassifier(max_iter=3, **SMALL), X, y)
    clf.predict(X), clf.similarity(X), clf.transform(X)
    np.testing.assert_array_equal(X, X_copy)


@pytest.mark.parametrize("params, message", [
    (dict(views=[np.arange(6)], modalities=["image"]), "text modality has no view"),
    (dict(views=[np.arange(6), np.arange(6, 10)], modalities=["image", "audio"]),
     "must be 'image' or 'text'"),
    (dict(views=[np.arange(6), np.arange(5, 10)], modalities=["image", "text"]),
     "repeats a column"),
    (dict(views=[np.arange(6), np.arange(6, 11)], modalities=["image", "text"]),
     r"column indices in \[0, 10\)"),
    (dict(views=[np.arange(6), np.arange(6, 10)]), "Pass modalities"),
    (dict(modalities=["image", "text"]), "without views"),
    (dict(views=[np.arange(6), np.arange(6, 10)], modalities=["image"]),
     "2 views but 1 modalities"),
    (dict(vocabulary_size=100, **VIEWS), "integer token ids"),
    (dict(vocabulary_size=100, window_sizes=(5,), **VIEWS), "shorter than the"),
    (dict(vocabulary_size=100, window_sizes=(0,), **VIEWS), "window_sizes must"),
    (dict(alpha=0.0, beta=0.0, **VIEWS), "alpha and beta are both 0"),
    (dict(hidden_layer_sizes=(0,), **VIEWS), "positive integer"),
    (dict(similarity_in_predictor="both", **VIEWS), "similarity_in_predictor"),
    (dict(decision="proba", **VIEWS), "decision"),
    (dict(negative_sampling=-1, **VIEWS), "negative_sampling"),
    (dict(negative_sampling=1.5, **VIEWS), "negative_sampling"),
    (dict(negative_sampling="2", **VIEWS), "negative_sampling"),
])
def test_bad_parameters_give_clear_errors(params, message):
    X, y = _pairs(40)
    with pytest.raises(ValueError, match=message):
        SimilarityAwareMultimodalClassifier(max_iter=2, **params).fit(X, y)


def test_bad_targets_and_weights():
    X, y = _pairs(40)
    clf = SimilarityAwareMultimodalClassifier(max_iter=2, **SMALL)
    with pytest.raises(ValueError, match="one class only"):
        clf.fit(X, np.zeros(40))
    with pytest.raises(ValueError, match="Only binary classification"):
        clf.fit(X, np.arange(40) % 3)
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        clf.fit(X, y, sample_weight=np.r_[-1.0, np.ones(39)])
    with pytest.raises(ValueError, match="zero on every row"):
        clf.fit(X, y, sample_weight=np.zeros(40))
    fitted = _fit(clf, X, y)
    with pytest.raises(ValueError, match="modality must be"):
        fitted.transform(X, modality="audio")
    with pytest.raises(ValueError, match="10 features"):
        fitted.similarity(X[:, :9])


@settings(max_examples=25, deadline=None)
@given(n_rows=st.integers(2, 12),
       bad=st.sampled_from(["nan", "inf", "one_class", "wide_view", "y_short"]),
       seed=st.integers(0, 2**16))
def test_property_bad_input_gives_clear_errors(n_rows, bad, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_rows, N_IMAGE + N_TEXT))
    y = np.arange(n_rows) % 2
    params = dict(SMALL, max_iter=1)
    if bad in ("nan", "inf"):
        X[rng.randint(n_rows), rng.randint(X.shape[1])] = (np.nan if bad == "nan"
                                                           else np.inf)
        message = "NaN|infinity"
    elif bad == "one_class":
        y = np.zeros(n_rows, dtype=int)
        message = "one class only"
    elif bad == "wide_view":
        params["views"] = [np.arange(6), np.arange(6, 10 + rng.randint(1, 5))]
        message = "column indices in"
    else:
        y = y[:-1]
        message = "inconsistent numbers of samples"
    X_before = X.copy()
    with pytest.raises(ValueError, match=message):
        SimilarityAwareMultimodalClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(X, X_before)


TOKENS = dict(vocabulary_size=30, embedding_dim=4, window_sizes=(1, 3), n_filters=3)


def test_token_convolution_forward_against_loops():
    # Embedding lookup, every window's filter response and the max over positions,
    # written as plain loops.
    rng = np.random.RandomState(0)
    layer = _TokenConvolution(30, 4, (2, 3), 5, Tanh())
    ids = rng.randint(0, 30, size=(6, 7)).astype(float)
    w = rng.normal(size=layer.n_params(7))
    embedding = np.vstack([np.zeros(4), w[: 29 * 4].reshape(29, 4)])
    start, expected = 29 * 4, []
    for h in (2, 3):
        W = w[start : start + h * 4 * 5].reshape(h * 4, 5)
        b = w[start + h * 4 * 5 : start + h * 4 * 5 + 5]
        start += h * 4 * 5 + 5
        block = np.empty((6, 5))
        for row in range(6):
            responses = [np.concatenate([embedding[int(ids[row, i + j])]
                                         for j in range(h)]) @ W + b
                         for i in range(7 - h + 1)]
            block[row] = np.tanh(np.max(responses, axis=0))
        expected.append(block)
    np.testing.assert_allclose(layer.forward(w, ids)[0], np.hstack(expected),
                               rtol=1e-12)


def test_token_branch_gradient_matches_central_differences():
    # The whole network with a token-sequence text view: embedding, filters, dense
    # layers and predictor, under alpha L_p + beta L_s.
    data = make_token_image_pairs(24, vocabulary_size=30, sequence_length=6,
                                  n_image_features=5, random_state=0)
    X, y = data.X, data.y
    clf = _fit(SimilarityAwareMultimodalClassifier(
        views=data.views, modalities=data.modalities, representation_dim=4,
        max_iter=2, l2=0.0, random_state=0, **TOKENS), X, y)
    theta = clf.params_ + 0.05 * np.random.RandomState(1).normal(
        size=clf.params_.size)
    coef = np.full(24, 1 / 24)
    grad = clf.network_._loss_gradient(theta, X, [y, y.astype(float)],
                                       [0.6 * coef, 0.4 * coef], 0.0)[1]

    def objective(params):
        L_p, L_s, _ = _losses(clf, params, X, y)
        return 0.6 * L_p + 0.4 * L_s

    expected = np.array([_central(objective, theta, k) for k in range(theta.size)])
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_token_sequences_detect_fakes_that_logistic_cannot():
    data = make_token_image_pairs(1500, random_state=0)
    X, y = data.X, data.y
    clf = _fit(SimilarityAwareMultimodalClassifier(
        views=data.views, modalities=data.modalities, vocabulary_size=200,
        embedding_dim=16, n_filters=16, window_sizes=(1, 2), representation_dim=16,
        learning_rate=3e-3, max_iter=30, random_state=0), X[:1000], y[:1000])
    # One BLAS thread: two made this small fit seconds long on the shared machine.
    with threadpool_limits(1, user_api="blas"):
        logistic = LogisticRegression(max_iter=2000).fit(X[:1000], y[:1000])
    assert roc_auc_score(y[1000:], logistic.predict_proba(X[1000:])[:, 1]) < 0.6
    assert roc_auc_score(y[1000:], clf.predict_proba(X[1000:])[:, 1]) > 0.8
    # Token ids outside the vocabulary are refused at prediction too.
    bad = X[1000:1010].copy()
    bad[0, data.views[1][0]] = 200
    with pytest.raises(ValueError, match="integer token ids"):
        clf.predict(bad)


@settings(max_examples=25, deadline=None)
@given(bad=st.sampled_from([-1.0, 30.0, 2.5, 1e9]), row=st.integers(0, 9),
       column=st.integers(0, 5), at_fit=st.booleans())
def test_property_bad_token_ids_give_clear_errors(bad, row, column, at_fit):
    data = make_token_image_pairs(40, vocabulary_size=30, sequence_length=6,
                                  n_image_features=5, random_state=0)
    params = dict(views=data.views, modalities=data.modalities,
                  representation_dim=4, max_iter=1, random_state=0, **TOKENS)
    X = data.X.copy()
    X[row, data.views[1][column]] = bad
    X_before = X.copy()
    with pytest.raises(ValueError, match="integer token ids"):
        if at_fit:
            SimilarityAwareMultimodalClassifier(**params).fit(X, data.y)
        else:
            clf = _fit(SimilarityAwareMultimodalClassifier(**params), data.X, data.y)
            clf.similarity(X)
    np.testing.assert_array_equal(X, X_before)


def test_given_embedding_frozen_or_trained():
    data = make_token_image_pairs(60, vocabulary_size=30, sequence_length=6,
                                  n_image_features=5, random_state=0)
    given = np.random.RandomState(2).normal(size=(30, 3))
    params = dict(views=data.views, modalities=data.modalities,
                  representation_dim=4, max_iter=5, random_state=0,
                  vocabulary_size=30, window_sizes=(2,), n_filters=3,
                  embedding=given)
    frozen = _fit(SimilarityAwareMultimodalClassifier(freeze_embedding=True,
                                                      **params), data.X, data.y)
    trained = _fit(SimilarityAwareMultimodalClassifier(**params), data.X, data.y)
    start = frozen.network_._blocks[0].start
    # The text branch comes first in the trunk, its embedding first in the branch.
    np.testing.assert_array_equal(frozen.params_[start : start + 29 * 3],
                                  given[1:].ravel())
    moved = trained.params_[start : start + 29 * 3] - given[1:].ravel()
    assert 0 < np.abs(moved).max() < 0.1
    with pytest.raises(ValueError, match="one per token id"):
        SimilarityAwareMultimodalClassifier(**{**params, "embedding": given[:5]}
                                            ).fit(data.X, data.y)
    with pytest.raises(ValueError, match="needs a given embedding"):
        SimilarityAwareMultimodalClassifier(**{**params, "embedding": None},
                                            freeze_embedding=True).fit(data.X,
                                                                       data.y)
    X, y = _pairs(40)
    with pytest.raises(ValueError, match="set vocabulary_size"):
        SimilarityAwareMultimodalClassifier(embedding=given, **VIEWS).fit(X, y)


def test_scatter_kernel_equals_numpy_add_at():
    from statopt.neural_network._kernels import scatter_window_gradient

    rng = np.random.RandomState(0)
    ids = rng.randint(0, 9, size=(7, 6))  # few ids: many repeats
    best = rng.randint(0, 4, size=(7, 5))
    g = rng.normal(size=(7, 5, 3, 2))
    result = np.zeros((9, 2))
    scatter_window_gradient(result, ids, best, g)
    expected = np.zeros((9, 2))
    rows = np.arange(7)[:, None]
    for offset in range(3):
        np.add.at(expected, ids[rows, best + offset], g[:, :, offset, :])
    np.testing.assert_allclose(result, expected, rtol=1e-13, atol=1e-13)


def test_odd_token_layouts_compile_nothing_new():
    from statopt.neural_network._kernels import scatter_window_gradient

    if not hasattr(scatter_window_gradient, "signatures"):
        pytest.skip("numba JIT disabled: nothing is compiled")
    data = make_token_image_pairs(40, vocabulary_size=30, sequence_length=6,
                                  n_image_features=5, random_state=0)
    params = dict(views=data.views, modalities=data.modalities,
                  representation_dim=4, max_iter=2, random_state=0, **TOKENS)
    _fit(SimilarityAwareMultimodalClassifier(**params), data.X, data.y)
    before = len(scatter_window_gradient.signatures)
    read_only = data.X.copy()
    read_only.flags.writeable = False
    for odd in (read_only, np.asfortranarray(data.X), data.X.astype(np.float32),
                np.repeat(data.X, 2, axis=0)[::2]):
        _fit(SimilarityAwareMultimodalClassifier(**params), odd, data.y)
    assert len(scatter_window_gradient.signatures) == before


# ------------------------------------------------------- negative sampling


def _negatives_by_loops(X, y, k):
    """Mismatched pairs built row by row: real row i (in batch order) with the text
    of the real row j places after it, j = 1..k (cyclically), unless the texts are
    equal."""
    text = slice(N_IMAGE, N_IMAGE + N_TEXT)
    real = [i for i in range(len(y)) if y[i] == 0]
    rows, owners = [], []
    for j in range(1, min(k, len(real) - 1) + 1):
        for position, i in enumerate(real):
            partner = real[(position + j) % len(real)]
            if np.array_equal(X[i, text], X[partner, text]):
                continue
            row = X[i].copy()
            row[text] = X[partner, text]
            rows.append(row)
            owners.append(i)
    return np.array(rows).reshape(-1, X.shape[1]), np.array(owners, dtype=int)


def test_negative_sampling_objective_matches_loops_and_differences():
    # The training objective with k negatives per real row equals alpha L_p on the
    # batch plus beta L_s on the batch and the looped negatives (both divided by the
    # batch's rows), computed here in numpy; its gradient matches central
    # differences of that loss.
    X, y = _pairs(24, seed=3)
    X[5, N_IMAGE:] = X[np.flatnonzero(y == 0)[0], N_IMAGE:]  # a repeated text
    y[5] = 0
    clf = _fit(SimilarityAwareMultimodalClassifier(
        max_iter=1, l2=0.0, negative_sampling=3, detach_similarity=False, **SMALL),
        X, y)
    theta = clf.params_.copy()
    negatives, owners = _negatives_by_loops(X, y, 3)
    assert 0 < len(negatives) < 3 * np.sum(y == 0)  # one repeated pair dropped
    weight = np.linspace(0.5, 1.5, 24)

    def reference(params):
        cross_entropy = -log_softmax(_predictor_logits(clf, params, X), axis=1)[
            np.arange(24), y]
        L_p = np.sum(weight * cross_entropy) / 24
        s = _relation(clf, params, np.vstack([X, negatives]))[2]
        fake = np.r_[y, np.ones(len(negatives))]
        w_s = np.r_[weight, weight[owners]]
        L_s = -np.sum(w_s * (fake * np.log(1 - s) + (1 - fake) * np.log(s))) / 24
        return 0.6 * L_p + 0.4 * L_s

    objective = clf._objective(0.0)
    loss, grad = objective(theta, (X, y, y.astype(float), weight),
                           np.random.RandomState(0))
    assert loss == pytest.approx(reference(theta), rel=1e-10)
    expected = np.array([_central(reference, theta, k) for k in range(theta.size)])
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)
    # Without the training rng (scoring) no negatives are added.
    plain = clf.network_._loss_gradient(theta, X, [y, y.astype(float)],
                                        [0.6 * weight / 24, 0.4 * weight / 24], 0.0)
    assert objective(theta, (X, y, y.astype(float), weight), None)[0] == \
        pytest.approx(plain[0], rel=1e-12)


def _predictor_logits(clf, theta, X):
    t, v, s, inner = _relation(clf, theta, X)
    inputs = np.column_stack([t, v, s, inner])
    block = theta[clf.network_._blocks[1]]
    W = block[: inputs.shape[1] * 2].reshape(inputs.shape[1], 2)
    return inputs @ W + block[inputs.shape[1] * 2 :]


def test_negative_sampling_changes_the_fit_and_leaves_x():
    X, y = _pairs(200)
    X_before = X.copy()
    plain = _fit(SimilarityAwareMultimodalClassifier(max_iter=3, **SMALL), X, y)
    sampled = _fit(SimilarityAwareMultimodalClassifier(
        max_iter=3, negative_sampling=2, **SMALL), X, y)
    np.testing.assert_array_equal(X, X_before)
    assert np.max(np.abs(plain.params_ - sampled.params_)) > 1e-3
    # A batch with one real row has no partner: the plain fit, bit for bit.
    one_real = np.r_[0, np.ones(39, dtype=int)]
    fits = [_fit(SimilarityAwareMultimodalClassifier(
        max_iter=2, batch_size=40, negative_sampling=k, **SMALL), X[:40], one_real)
        for k in (0, 4)]
    np.testing.assert_array_equal(fits[0].params_, fits[1].params_)


@settings(max_examples=30, deadline=None)
@given(n_rows=st.integers(2, 16), k=st.integers(0, 6), seed=st.integers(0, 2**16),
       repeat=st.booleans())
def test_property_in_batch_negatives(n_rows, k, seed, repeat):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_rows, N_IMAGE + N_TEXT))
    codes = rng.randint(0, 2, size=n_rows)
    if repeat:
        X[-1, N_IMAGE:] = X[0, N_IMAGE:]
    weight = rng.uniform(0.1, 2.0, size=n_rows)
    X_before = X.copy()
    text = np.arange(N_IMAGE, N_IMAGE + N_TEXT)
    rows, new_codes, fake, weight_p, weight_s = _in_batch_negatives(
        X, codes, weight, text, k)
    np.testing.assert_array_equal(X, X_before)
    expected, owners = _negatives_by_loops(X, codes, k)
    np.testing.assert_array_equal(rows, np.vstack([X, expected]))
    np.testing.assert_array_equal(new_codes, np.r_[codes, np.ones(len(owners))])
    np.testing.assert_array_equal(fake, new_codes)
    np.testing.assert_array_equal(weight_p, np.r_[weight, np.zeros(len(owners))])
    np.testing.assert_array_equal(weight_s, np.r_[weight, weight[owners]])
    # Through fit: a valid model, the caller's X untouched.
    if 0 < codes.sum() < n_rows:
        clf = _fit(SimilarityAwareMultimodalClassifier(
            max_iter=1, negative_sampling=k, **SMALL), X, codes)
        s = clf.similarity(X)
        assert np.all((s >= 0) & (s <= 1))
        np.testing.assert_array_equal(X, X_before)


# ------------------------------------------------------------------ n_ensemble

def _member_seeds(random_state, k):
    """The documented rule: member i is the fit of ``random_state=seeds[i]``."""
    return np.random.RandomState(random_state).randint(2**31 - 1, size=k)


def test_ensemble_is_the_mean_of_single_fits_with_the_member_seeds():
    X, y = _pairs(160)
    X_test, _ = _pairs(60, seed=4)
    params = dict(SMALL, max_iter=8, random_state=11)
    ensemble = _fit(SimilarityAwareMultimodalClassifier(n_ensemble=3, **params), X, y)
    singles = [_fit(SimilarityAwareMultimodalClassifier(
        **{**params, "random_state": int(seed)}), X, y)
        for seed in _member_seeds(11, 3)]
    assert ensemble.params_.shape == (3, singles[0].params_.size)
    np.testing.assert_array_equal(ensemble.params_,
                                  np.vstack([m.params_ for m in singles]))
    # The members differ: different starts give different scores.
    scores = np.array([m.decision_function(X_test) for m in singles])
    assert np.min(np.ptp(scores, axis=0)) > 0
    mean = scores.mean(axis=0)
    np.testing.assert_allclose(ensemble.decision_function(X_test), mean,
                               rtol=1e-12, atol=1e-12)
    proba = ensemble.predict_proba(X_test)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-mean)), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(ensemble.predict(X_test),
                                  ensemble.classes_[(mean > 0) * 1])
    np.testing.assert_allclose(
        ensemble.similarity(X_test),
        np.mean([m.similarity(X_test) for m in singles], axis=0), rtol=1e-12)
    for modality in (None, "text", "image"):
        np.testing.assert_array_equal(
            ensemble.transform(X_test, modality),
            np.hstack([m.transform(X_test, modality) for m in singles]))
    # decision='similarity' after the fit reads every member's similarity head.
    ensemble.set_params(decision="similarity")
    s = np.array([m.similarity(X_test) for m in singles])
    np.testing.assert_allclose(ensemble.decision_function(X_test),
                               np.mean(np.log((1 - s) / s), axis=0), rtol=1e-10)
    assert ensemble.n_iter_ == max(m.n_iter_ for m in singles)
    assert ensemble.t_ == sum(m.t_ for m in singles)
    assert ensemble.loss_curve_ == [m.loss_curve_ for m in singles]


def test_one_member_is_the_single_network():
    X, y = _pairs(100)
    default = _fit(SimilarityAwareMultimodalClassifier(max_iter=4, **SMALL), X, y)
    one = _fit(SimilarityAwareMultimodalClassifier(max_iter=4, n_ensemble=1, **SMALL),
               X, y)
    assert one.params_.ndim == 1
    np.testing.assert_array_equal(one.params_, default.params_)


def test_ensemble_warns_once_and_pickles():
    X, y = _pairs(80)
    clf = SimilarityAwareMultimodalClassifier(max_iter=2, tol=0.0, n_ensemble=3,
                                              **SMALL)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        clf.fit(X, y)
    assert [type(r.message) for r in records] == [ConvergenceWarning]
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.decision_function(X),
                                  clf.decision_function(X))


@pytest.mark.parametrize("value", [0, -2, 1.5, "3", True, None])
def test_bad_n_ensemble_is_refused(value):
    X, y = _pairs(40)
    with pytest.raises(ValueError, match="n_ensemble"):
        SimilarityAwareMultimodalClassifier(max_iter=2, n_ensemble=value,
                                            **VIEWS).fit(X, y)


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 4), member=st.integers(0, 3), n_rows=st.integers(6, 30),
       seed=st.integers(0, 2**16))
def test_property_every_member_is_its_single_fit(k, member, n_rows, seed):
    X, y = _pairs(n_rows, seed=seed % 50)
    params = dict(VIEWS, representation_dim=3, max_iter=2, random_state=seed)
    ensemble = _fit(SimilarityAwareMultimodalClassifier(n_ensemble=k, **params), X, y)
    member = min(member, k - 1)
    single = _fit(SimilarityAwareMultimodalClassifier(
        **{**params, "random_state": int(_member_seeds(seed, k)[member])}
        if k > 1 else params), X, y)
    theta = ensemble.params_ if k == 1 else ensemble.params_[member]
    np.testing.assert_array_equal(theta, single.params_)
    proba = ensemble.predict_proba(X)
    assert proba.shape == (n_rows, 2) and np.all((proba >= 0) & (proba <= 1))
    s = ensemble.similarity(X)
    assert np.all((s >= 0) & (s <= 1))
    assert ensemble.transform(X).shape == (n_rows, 2 * 3 * k)
