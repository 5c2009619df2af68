"""Similarity-aware multimodal classifier (SAFE, Zhou, Wu & Zafarani 2020).

A text branch maps an item's text features to ``t``, an image branch its image
features to ``v``; a softmax predictor reads ``[t, v]`` (and, here, their similarity)
and the loss adds the predictor's cross-entropy and a similarity loss that pushes
real pairs together and mismatched pairs apart. Both are heads of one
:class:`MultiHeadNetwork` on the two-branch trunk; the cosine similarity is a layer
with a hand-derived backward pass, and the similarity loss a head whose gradient in
``s`` is either the exact one or the one the method published (its ``y = 0`` term only).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._utils import (
    ScaledWeightScoreMixin,
    blas_thread_limit,
    validated,
    warn_at_caller,
)
from ._adversarial import ACTIVATIONS, _view_columns
from ._kernels import scatter_window_gradient
from ._layers import Dense, Dropout, Head, Layer, SoftmaxCrossEntropy
from ._network import Branches, MultiHeadNetwork, Stack, _check_weights
from ._training import OPTIMIZERS, MinibatchTrainer

__all__ = ["SimilarityAwareMultimodalClassifier"]

MODALITIES = ("text", "image")

# Added to squared norms so a zero representation has cosine 0, not 0/0.
_NORM_EPS = 1e-12
# s is kept this far inside (0, 1) in the logarithms of the similarity loss.
_S_EPS = 1e-12


def _cosine(t, v):
    """Cosine of the rows of ``t`` and ``v`` and the norms it divides by."""
    norm_t = np.sqrt(np.einsum("ij,ij->i", t, t) + _NORM_EPS)
    norm_v = np.sqrt(np.einsum("ij,ij->i", v, v) + _NORM_EPS)
    cos = np.einsum("ij,ij->i", t, v) / (norm_t * norm_v)
    return cos, norm_t, norm_v


def _cosine_backward(t, v, cos, norm_t, norm_v, g_cos):
    """``dL/dt`` and ``dL/dv`` from ``dL/dcos`` (one value per row).

    ``dcos/dt = v / (|t| |v|) - cos t / |t|^2``, and symmetrically in ``v``.
    """
    scale = (g_cos / (norm_t * norm_v))[:, None]
    g_t = scale * v - (g_cos * cos / norm_t**2)[:, None] * t
    g_v = scale * t - (g_cos * cos / norm_v**2)[:, None] * v
    return g_t, g_v


class _NoROperator(Layer):
    """A layer without R-operator: Hessian-vector products refuse it."""

    def r_forward(self, w, v, cache, rx):
        raise NotImplementedError(f"{type(self).__name__} has no R-operator; "
                                  "Hessian-vector products are not available.")

    r_backward = r_forward


class _TokenConvolution(_NoROperator):
    """Token ids -> embeddings -> one convolution per window size -> max-pool.

    The input is ``(n, L)`` token ids (float-coded integers, 0 = padding) in
    ``[0, vocabulary_size)``. Id ``k >= 1`` maps to row ``k - 1`` of the learned
    embedding ``E`` of shape ``(vocabulary_size - 1, embedding_dim)``; padding maps
    to zeros. For each window size ``h`` the filters ``W_h`` of shape
    ``(h * embedding_dim, n_filters)`` and ``b_h`` give
    ``c^i = W_h' x^{i:i+h-1} + b_h`` at every position ``i``; the output is the
    activation of the maximum over positions (the activations are monotone, so this
    is the max-pool of the activated maps), windows side by side. Parameters: ``E``
    then ``(W_h, b_h)`` per window, row-major; the L2 penalty takes the filters.
    """

    def __init__(self, vocabulary_size, embedding_dim, window_sizes, n_filters,
                 activation, *, initial=None, frozen=False):
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = int(embedding_dim)
        self.window_sizes = tuple(int(h) for h in window_sizes)
        self.n_filters = int(n_filters)
        self.activation = activation
        # A given embedding (rows 1.. used, row 0 is padding) starts the training
        # or, frozen, stays as given (its gradient is zero).
        self.initial = initial
        self.frozen = frozen

    def _sizes(self):
        e, f = self.embedding_dim, self.n_filters
        return [(self.vocabulary_size - 1) * e] + [
            size for h in self.window_sizes for size in (h * e * f, f)]

    def _split(self, w):
        parts = np.split(w, np.cumsum(self._sizes())[:-1])
        e, f = self.embedding_dim, self.n_filters
        filters = [(parts[1 + 2 * k].reshape(h * e, f), parts[2 + 2 * k])
                   for k, h in enumerate(self.window_sizes)]
        return parts[0].reshape(-1, e), filters

    def n_params(self, n_in):
        return sum(self._sizes())

    def n_out(self, n_in):
        return self.n_filters * len(self.window_sizes)

    def penalty_mask(self, n_in):
        sizes = self._sizes()
        return np.concatenate([np.zeros(sizes[0], bool)] + [
            np.full(size, index % 2 == 1) for index, size in enumerate(sizes[1:],
                                                                        1)])

    def init(self, w, n_in, rng, scheme):
        embedding, filters = self._split(w)
        embedding[...] = (rng.normal(0.0, 1.0 / np.sqrt(self.embedding_dim),
                                     size=embedding.shape)
                          if self.initial is None else self.initial[1:])
        for weights, bias in filters:
            bound = np.sqrt(6.0 / (weights.shape[0] + weights.shape[1]))
            weights[...] = rng.uniform(-bound, bound, size=weights.shape)
            bias[...] = 0.0

    def forward(self, w, x, *, training=False, rng=None):
        embedding, filters = self._split(w)
        ids = x.astype(np.intp)
        n, length = ids.shape
        table = np.vstack([np.zeros((1, self.embedding_dim)), embedding])
        vectors = table[ids]
        outputs, caches = [], []
        for h, (weights, bias) in zip(self.window_sizes, filters):
            positions = length - h + 1
            # Row i of windows is x^{i:i+h-1}, its h embeddings one after another.
            windows = np.lib.stride_tricks.sliding_window_view(vectors, h, axis=1)
            windows = windows.transpose(0, 1, 3, 2).reshape(n, positions, -1)
            maps = windows @ weights + bias
            best = np.argmax(maps, axis=1)
            peak = np.take_along_axis(maps, best[:, None, :], axis=1)[:, 0, :]
            activated, cache = self.activation.forward(None, peak)
            outputs.append(activated)
            caches.append((windows, best, cache))
        return np.hstack(outputs), (ids, caches)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        embedding, filters = self._split(w)
        grad_embedding, grad_filters = self._split(grad_w)
        ids, caches = cache
        n, e = ids.shape[0], self.embedding_dim
        grad_table = np.zeros((self.vocabulary_size, e))
        rows = np.arange(n)[:, None]
        for k, (h, (weights, _), (grad_weights, grad_bias), (windows, best, act)) in \
                enumerate(zip(self.window_sizes, filters, grad_filters, caches)):
            g = gy[:, k * self.n_filters : (k + 1) * self.n_filters]
            g_peak = self.activation.backward(None, act, g, None)
            # Only the arg-max window of each filter receives gradient.
            chosen = windows[rows, best]
            np.einsum("nfk,nf->kf", chosen, g_peak, out=grad_weights)
            np.sum(g_peak, axis=0, out=grad_bias)
            g_windows = (g_peak[:, :, None] * weights.T[None]).reshape(n, -1, h, e)
            # A compiled scatter: np.add.at took 25x longer on 200 x 16 x 2 x 16.
            scatter_window_gradient(grad_table, ids, best, g_windows)
        grad_embedding[...] = 0.0 if self.frozen else grad_table[1:]
        return np.zeros(ids.shape) if need_input else None


class _Pair(_NoROperator):
    """Base of the layers that read ``[t, v]``, two halves of equal width."""

    @staticmethod
    def _halves(x):
        half = x.shape[1] // 2
        return x[:, :half], x[:, half:]


class _CosineSimilarity(_Pair):
    """``[t, v] -> s = (1 + cos(t, v)) / 2``, one column in [0, 1]."""

    def n_out(self, n_in):
        return 1

    def forward(self, w, x, *, training=False, rng=None):
        t, v = self._halves(x)
        cos, norm_t, norm_v = _cosine(t, v)
        return (0.5 * (1.0 + cos))[:, None], (t, v, cos, norm_t, norm_v)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        if not need_input:
            return None
        return np.hstack(_cosine_backward(*cache, 0.5 * gy[:, 0]))


class _SimilarityFeatures(_Pair):
    """``[t, v] -> [t, v, s, t'v]``: the predictor's inputs with the similarity.

    The published predictor is linear in ``[t, v]``, so its logit is a sum of a text
    term and an image term and cannot tell a mismatched pair from a real one; ``s``
    and ``t'v`` give it the relation of the two. With ``keep_pair=False`` the output
    is ``[s, t'v]`` alone. With ``detach=True`` the backward pass stops at ``s`` and
    ``t'v`` (they are read as given inputs): the predictor's loss then reaches the
    branches through ``[t, v]`` only, or not at all without them.
    """

    def __init__(self, detach=False, keep_pair=True):
        self.detach = detach
        self.keep_pair = keep_pair

    def n_out(self, n_in):
        return n_in + 2 if self.keep_pair else 2

    def forward(self, w, x, *, training=False, rng=None):
        t, v = self._halves(x)
        cos, norm_t, norm_v = _cosine(t, v)
        y = np.column_stack([0.5 * (1.0 + cos), np.einsum("ij,ij->i", t, v)])
        if self.keep_pair:
            y = np.hstack([x, y])
        return y, (t, v, cos, norm_t, norm_v)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        if not need_input:
            return None
        t, v = cache[0], cache[1]
        width = t.shape[1]
        offset = 2 * width if self.keep_pair else 0
        g_pair = (gy[:, : 2 * width].copy() if self.keep_pair
                  else np.zeros((t.shape[0], 2 * width)))
        if self.detach:
            return g_pair
        g_t, g_v = _cosine_backward(*cache, 0.5 * gy[:, offset])
        g_inner = gy[:, offset + 1 : offset + 2]
        g_pair[:, :width] += g_t + g_inner * v
        g_pair[:, width:] += g_v + g_inner * t
        return g_pair


class _SimilarityLoss(Head):
    """``-[y log(1 - s) + (1 - y) log s]`` on the similarity ``s`` (y = 1: fake).

    Parameters
    ----------
    gradient : {'exact', 'published'}, default='exact'
        ``'exact'`` returns ``dL/ds = y / (1 - s) - (1 - y) / s``; ``'published'``
        keeps the second term only, which is what the method's update of the branches
        (its Eqs. for ``dL_s/dt`` and ``dL_s/dv``) amounts to: real pairs are pulled
        together, mismatched pairs are never pushed apart. The loss value is the
        full loss either way.
    """

    def __init__(self, gradient="exact"):
        self.gradient_rule = gradient

    def n_outputs(self, n_targets):
        return 1

    def loss(self, z, target, coef):
        s = np.clip(z[:, 0], _S_EPS, 1.0 - _S_EPS)
        return -float(coef @ (target * np.log1p(-s) + (1.0 - target) * np.log(s)))

    def gradient(self, z, target, coef):
        s = np.clip(z[:, 0], _S_EPS, 1.0 - _S_EPS)
        grad = -(1.0 - target) / s
        if self.gradient_rule == "exact":
            grad = grad + target / (1.0 - s)
        return self.loss(z, target, coef), (grad * coef)[:, None]

    def __repr__(self):
        return f"_SimilarityLoss(gradient={self.gradient_rule!r})"


def _in_batch_negatives(X, codes, weight, text_columns, k):
    """Append ``k`` mismatched pairs per real row of a minibatch.

    Real row ``i`` (code 0) keeps its image and takes the text of the real row ``j``
    places after it among the minibatch's real rows (``j = 1..k``; the rows come
    shuffled, so the partners change every epoch). A pair whose text equals the
    row's own (the same item drawn twice) is dropped. Returns the rows, their class
    codes, the fake indicator and the weights of the predictor's and of the
    similarity loss: the new rows enter the similarity loss only, with the weight
    of their real row.
    """
    fake = codes.astype(np.float64)
    real = np.flatnonzero(codes == 0)
    k = min(k, real.size - 1)
    if k < 1:
        return X, codes, fake, weight, weight
    partners = real[(np.arange(real.size)[None, :]
                     + np.arange(1, k + 1)[:, None]) % real.size].ravel()
    own = np.tile(real, k)
    new = X[own]
    new[:, text_columns] = X[partners][:, text_columns]
    kept = np.any(new[:, text_columns] != X[own][:, text_columns], axis=1)
    new, own = new[kept], own[kept]
    n_new = own.size
    return (np.vstack([X, new]),
            np.concatenate([codes, np.ones(n_new, dtype=codes.dtype)]),
            np.concatenate([fake, np.ones(n_new)]),
            np.concatenate([weight, np.zeros(n_new)]),
            np.concatenate([weight, weight[own]]))


def _check_views(views, modalities, n_features):
    """Return ``{'text': columns, 'image': columns}``.

    ``views=None`` splits the columns into an image half and a text half, as
    :class:`~statopt.multimodal.TensorCrossModalRegressor` does.
    """
    if views is None:
        if modalities is not None:
            raise ValueError("modalities were given without views; pass views (one "
                             "array of column indices per view) as well.")
        if n_features < 2:
            raise ValueError(
                "views=None splits the columns into an image half and a text half, "
                f"which needs at least 2 features; got {n_features} feature(s). Pass "
                "views and modalities.")
        half = (n_features + 1) // 2
        views, modalities = [np.arange(half), np.arange(half, n_features)], [
            "image", "text"]
    if modalities is None:
        raise ValueError("Pass modalities (one 'image' or 'text' per view) with views.")
    views, modalities = list(views), list(modalities)
    if len(views) != len(modalities):
        raise ValueError(f"Got {len(views)} views but {len(modalities)} modalities; "
                         "name one modality per view.")
    groups, seen = {name: [] for name in MODALITIES}, np.zeros(n_features, bool)
    for index, (view, modality) in enumerate(zip(views, modalities)):
        columns = _view_columns(view, index, n_features, seen)
        if not isinstance(modality, str) or modality not in MODALITIES:
            raise ValueError(f"modalities[{index}] must be 'image' or 'text', got "
                             f"{modality!r}.")
        groups[modality].append(columns)
    for modality in MODALITIES:
        if not groups[modality]:
            raise ValueError(f"The {modality} modality has no view; SAFE needs one "
                             "text view and one image view at least.")
    return {name: np.concatenate(parts).astype(np.intp)
            for name, parts in groups.items()}


class SimilarityAwareMultimodalClassifier(ScaledWeightScoreMixin, ClassifierMixin,
                                          TransformerMixin, BaseEstimator):
    """Text-image classifier trained with a cross-modal similarity loss (SAFE).

    A text branch maps the text columns of a row to ``t``, an image branch the image
    columns to ``v`` (dense layers, the last one of ``representation_dim`` units;
    with ``vocabulary_size`` the text columns are token ids, read first by an
    embedding, one convolution per window size and max-pooling).
    Their similarity is ``s = (1 + cos(t, v)) / 2`` and the predictor is
    ``y_hat = softmax(W_p [t, v, s, t'v] + b_p)`` (``[t, v]`` alone, as published,
    with ``similarity_in_predictor=False``; ``[s, t'v]`` alone with ``'only'``). The
    loss is

    ``L = alpha L_p + beta L_s``,  ``L_s = -mean[y log(1 - s) + (1 - y) log s]``,

    ``L_p`` the predictor's cross-entropy and ``y = 1`` for the second class
    (``classes_[1]``, the fake or mismatched items): the similarity loss pulls the
    two representations of a real pair together and pushes those of a mismatched
    pair apart.

    Read more in the :ref:`User Guide <similarity_aware>`.

    Parameters
    ----------
    views : list of array-like of int, default=None
        Column indices of each view; None splits the columns into an image half
        then a text half.
    modalities : list of {'image', 'text'}, default=None
        Modality of each view; views of one modality feed the same branch. Required
        with ``views``.
    hidden_layer_sizes : tuple of int, default=()
        Hidden dense layers of each branch before the representation layer.
    representation_dim : int, default=32
        Size ``d`` of ``t`` and ``v``.
    activation : {'tanh', 'relu', 'leaky_relu', 'logistic', 'identity'}, \
default='tanh'
        Activation after every dense layer of the branches. A non-negative one
        (ReLU, logistic) keeps ``cos(t, v) >= 0``, i.e. ``s >= 1/2``.
    alpha : float, default=0.6
        Weight of the prediction loss ``L_p``.
    beta : float, default=0.4
        Weight of the similarity loss ``L_s``.
    similarity_in_predictor : bool or 'only', default=True
        Feed ``s`` and ``t'v`` to the predictor beside ``[t, v]``; ``'only'``
        feeds ``[s, t'v]`` alone, for fakes that show only in the relation of the
        two parts (mismatched pairs), where the ``2 d`` weights on ``[t, v]`` can
        only add noise.
    detach_similarity : bool, default=False
        With ``similarity_in_predictor``, read ``s`` and ``t'v`` as given inputs of
        the predictor (a stop-gradient): its loss then reaches the branches through
        ``[t, v]`` only, as published, and the branches learn the text-image
        relation from ``L_s`` alone. False back-propagates the predictor's loss
        through ``s`` and ``t'v`` too. Which is better depends on the data (see
        Notes); choose it on a validation split.
    similarity_gradient : {'exact', 'published'}, default='exact'
        ``'published'`` back-propagates the method's published ``dL_s/dt`` and
        ``dL_s/dv``, which drop the ``y = 1`` term (see Notes).
    decision : {'predictor', 'similarity'}, default='predictor'
        What ``predict``, ``predict_proba`` and ``decision_function`` read: the
        predictor, or the similarity head as a classifier of its own,
        ``P(classes_[1]) = 1 - s`` (``L_s`` is its cross-entropy). Training is the
        same either way; choose on a validation split (see the User Guide).
    negative_sampling : int, default=0
        Label-free mismatched pairs added to each training minibatch, ``k`` per
        real row (``classes_[0]``): the row keeps its image and takes the text of
        the real row ``j`` places after it in the shuffled minibatch, ``j = 1..k``
        (fewer when the minibatch holds fewer real rows; a pair whose text equals
        the row's own is dropped), so the partners change every epoch. They enter
        the similarity loss only, as mismatched pairs with their real row's
        weight. 0 adds none; on the Wikipedia mismatched pairs, which already hold
        ten draws of fakes, ``k`` = 1 did not help and 3 did harm (see the User
        Guide).
    n_ensemble : int, default=1
        Number of independently initialised networks trained on the same rows,
        each for up to ``max_iter`` epochs (the fit costs ``n_ensemble`` times one
        network's). ``decision_function`` is the mean of the members' decision
        scores, ``predict_proba`` its logistic function and ``predict`` its sign;
        ``similarity`` is the mean of the members' ``s``; ``transform`` puts the
        members' representations side by side (they live in different spaces, so
        they are not averaged). Member ``i`` is the network that
        ``random_state=seeds[i]`` would fit alone, with ``seeds =
        check_random_state(random_state).randint(2**31 - 1, size=n_ensemble)``;
        1 fits the single network seeded by ``random_state``. On the Wikipedia
        mismatched pairs three members of 10 epochs cost about what one network of
        30 epochs does (see the User Guide).
    l2 : float, default=1e-4
        L2 penalty on the dense weights (``l2 / (2 n) ||W||^2`` added to the loss).
    dropout : float, default=0.0
        Inverted-dropout rate after the hidden layers of the branches.
    vocabulary_size : int, default=None
        None: the text view is dense features (topic proportions, TF-IDF, sentence
        embeddings). An integer: the text columns are a token-id sequence, ids in
        ``[0, vocabulary_size)`` with 0 for padding, read by the original text
        branch: a learned embedding, one convolution per window size, max-pooling
        over positions, then the dense layers.
    embedding_dim : int, default=32
        Size of the token embeddings (token-sequence text only); ignored when
        ``embedding`` is given.
    embedding : array-like of shape (vocabulary_size, n_dims), default=None
        A given embedding matrix (pre-trained word vectors; row ``k`` for id ``k``,
        row 0 unused): the start of training, or fixed with
        ``freeze_embedding=True``. None learns one from a random start.
    freeze_embedding : bool, default=False
        Keep the given ``embedding`` fixed during training.
    window_sizes : tuple of int, default=(3, 4)
        Window sizes ``h`` of the convolutions (token-sequence text only); the
        sequence must be at least as long as the largest.
    n_filters : int, default=32
        Filters per window size (token-sequence text only).
    optimizer : {'adam', 'sgd', 'momentum', 'rmsprop', 'amsgrad'}, default='adam'
        Update rule of :mod:`statopt.optim`.
    learning_rate : float, default=1e-3
        Step size.
    batch_size : int or 'auto', default='auto'
        Rows per minibatch; ``'auto'`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Improvement of the training loss (or of the validation accuracy with
        ``early_stopping``) below which an epoch counts as no progress.
    n_iter_no_change : int, default=10
        Stop after this many epochs in a row without progress.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their accuracy
        stops improving, keeping the best parameters.
    validation_fraction : float, default=0.1
        Share of the rows held out with ``early_stopping``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the dropout masks.
    verbose : int, default=0
        Print one line per epoch when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` is the class the similarity loss treats as
        mismatched (``y = 1``).
    network_ : MultiHeadNetwork
        Trunk of the two branches (output ``[t, v]``), predictor head and similarity
        head.
    params_ : ndarray of shape (n_params,) or (n_ensemble, n_params)
        The trained flat parameter vector; one row per member when
        ``n_ensemble > 1``.
    loss_curve_ : list of float
        ``alpha L_p + beta L_s`` (penalised) of each epoch; with ``n_ensemble > 1``
        one such list per member.
    validation_scores_ : list of float
        Validation accuracy of each epoch (``early_stopping`` only); with
        ``n_ensemble > 1`` one such list per member.
    n_iter_ : int
        Number of epochs run (the largest over the members).
    t_ : int
        Number of optimiser steps (summed over the members).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    EventAdversarialClassifier : Multimodal branches trained against an event
        discriminator.
    statopt.multimodal.TensorCrossModalRegressor : Views and modalities as here.

    Notes
    -----
    With ``t0 = t / |t|``, ``v0 = v / |v|`` and ``2 s - 1 = cos(t, v)``, the exact
    gradient of one row's ``L_s`` in ``t`` is

    ``dL_s/dt = [y / (2 (1 - s)) - (1 - y) / (2 s)] (v0 - (2 s - 1) t0) / |t|``.

    The method published ``(1 - y) / (2 s |t|) ((2 s - 1) t0 - v0)``, the
    ``y = 0`` term alone: for a mismatched pair it gives no gradient, so nothing
    pushes mismatched representations apart. ``similarity_gradient='published'``
    trains with it, to show its effect.

    ``detach_similarity=True`` stops the predictor's gradient at ``s`` and ``t'v``;
    the gradient is then the exact gradient of ``alpha L_p + beta L_s`` with ``s``
    and ``t'v`` held at their current values inside ``L_p``. On the Wikipedia
    mismatched pairs (ROC AUC on 435 held-out training items, four splits) the
    joint gradient let the predictor's loss override the similarity loss: with
    ``representation_dim=64`` the predictor scored 0.585-0.684 against 0.700-0.732
    once detached, and in 30-epoch fits (``representation_dim=64`` at learning rate
    3e-3, or 128) the learned similarity itself fell to 0.36-0.39 on one split.
    On simulated token sequences (``make_token_image_pairs``,
    ``representation_dim=16``) it went the other way: 0.83-0.93 joint against
    0.69-0.80 detached.

    References
    ----------
    .. [1] X. Zhou, J. Wu and R. Zafarani, "SAFE: Similarity-aware multi-modal fake
       news detection", PAKDD 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import SimilarityAwareMultimodalClassifier
    >>> from statopt.datasets import make_mismatched_pairs
    >>> rng = np.random.RandomState(0)
    >>> image = rng.normal(size=(400, 6))
    >>> text = np.tanh(image[:, :3] @ rng.normal(size=(3, 4)))
    >>> X, y, _ = make_mismatched_pairs(image, text, random_state=0)
    >>> clf = SimilarityAwareMultimodalClassifier(
    ...     views=[np.arange(6), np.arange(6, 10)], modalities=["image", "text"],
    ...     representation_dim=8, learning_rate=1e-2, tol=1e-3,
    ...     random_state=0).fit(X, y)
    >>> s = clf.similarity(X)
    >>> bool(s[y == 0].mean() > s[y == 1].mean())
    True
    >>> clf.transform(X[:2], modality="text").shape
    (2, 8)
    """

    _parameter_constraints: dict = {
        "views": [list, tuple, None],
        "modalities": [list, tuple, None],
        "hidden_layer_sizes": [tuple, list],
        "representation_dim": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "similarity_in_predictor": ["boolean", StrOptions({"only"})],
        "detach_similarity": ["boolean"],
        "similarity_gradient": [StrOptions({"exact", "published"})],
        "decision": [StrOptions({"predictor", "similarity"})],
        "negative_sampling": [Interval(Integral, 0, None, closed="left")],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "vocabulary_size": [None, Interval(Integral, 2, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "embedding": ["array-like", None],
        "freeze_embedding": ["boolean"],
        "window_sizes": [tuple, list],
        "n_filters": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        views=None,
        modalities=None,
        hidden_layer_sizes=(),
        representation_dim=32,
        activation="tanh",
        alpha=0.6,
        beta=0.4,
        similarity_in_predictor=True,
        detach_similarity=False,
        similarity_gradient="exact",
        decision="predictor",
        negative_sampling=0,
        n_ensemble=1,
        l2=1e-4,
        dropout=0.0,
        vocabulary_size=None,
        embedding_dim=32,
        embedding=None,
        freeze_embedding=False,
        window_sizes=(3, 4),
        n_filters=32,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        random_state=None,
        verbose=0,
    ):
        self.views = views
        self.modalities = modalities
        self.hidden_layer_sizes = hidden_layer_sizes
        self.representation_dim = representation_dim
        self.activation = activation
        self.alpha = alpha
        self.beta = beta
        self.similarity_in_predictor = similarity_in_predictor
        self.detach_similarity = detach_similarity
        self.similarity_gradient = similarity_gradient
        self.decision = decision
        self.negative_sampling = negative_sampling
        self.n_ensemble = n_ensemble
        self.l2 = l2
        self.dropout = dropout
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.embedding = embedding
        self.freeze_embedding = freeze_embedding
        self.window_sizes = window_sizes
        self.n_filters = n_filters
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- building

    def _branch(self, modality):
        layers = []
        if modality == "text" and self.vocabulary_size is not None:
            initial = self._check_embedding()
            layers.append(_TokenConvolution(
                self.vocabulary_size,
                self.embedding_dim if initial is None else initial.shape[1],
                self.window_sizes, self.n_filters, ACTIVATIONS[self.activation](),
                initial=initial, frozen=self.freeze_embedding))
        for index, units in enumerate(self.hidden_layer_sizes):
            if (not isinstance(units, (Integral, np.integer)) or isinstance(units, bool)
                    or units < 1):
                raise ValueError(f"hidden_layer_sizes[{index}] must be a positive "
                                 f"integer, got {units!r}.")
            layers += [Dense(int(units)), ACTIVATIONS[self.activation]()]
            if self.dropout:
                layers.append(Dropout(self.dropout))
        return Stack(layers + [Dense(self.representation_dim),
                               ACTIVATIONS[self.activation]()])

    def _check_embedding(self):
        if self.embedding is None:
            if self.freeze_embedding:
                raise ValueError("freeze_embedding=True needs a given embedding; "
                                 "pass embedding or leave freeze_embedding=False.")
            return None
        embedding = check_array(self.embedding, dtype=np.float64,
                                input_name="embedding")
        if embedding.shape[0] != self.vocabulary_size:
            raise ValueError(f"embedding has {embedding.shape[0]} rows; it needs one "
                             f"per token id, vocabulary_size={self.vocabulary_size}.")
        return embedding

    def _build(self, groups):
        # Branch order fixes the trunk's output as [t, v].
        trunk = [Branches([(groups[name], self._branch(name))
                           for name in MODALITIES])]
        predictor = ([_SimilarityFeatures(
            self.detach_similarity, self.similarity_in_predictor != "only")]
            if self.similarity_in_predictor else [])
        heads = [(predictor + [Dense(2)], SoftmaxCrossEntropy()),
                 ([_CosineSimilarity()], _SimilarityLoss(self.similarity_gradient))]
        return MultiHeadNetwork(trunk, heads, self.n_features_in_)

    # -------------------------------------------------------------------- fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit both branches, the predictor and the similarity on labelled pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Text and image columns side by side (see ``views``).
        y : array-like of shape (n_samples,)
            Two classes; the second (``classes_[1]``) marks mismatched pairs.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, used by both losses.

        Returns
        -------
        self : SimilarityAwareMultimodalClassifier
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        validated(check_classification_targets, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"y holds one class only ({self.classes_[0]!r}); the "
                             "classifier needs real and mismatched pairs.")
        y_type = validated(type_of_target, y, input_name="y")
        if y_type != "binary":
            raise ValueError("Only binary classification is supported (real against "
                             f"mismatched pairs). The type of the target is {y_type}.")
        codes = codes.reshape(-1).astype(np.int64)
        n_rows = X.shape[0]
        weight = _check_weights(sample_weight, n_rows)
        if not np.any(weight > 0):
            raise ValueError("sample_weight is zero on every row; give some row a "
                             "positive weight.")
        if self.alpha + self.beta <= 0:
            raise ValueError("alpha and beta are both 0: nothing to fit; give one "
                             "of the losses a positive weight.")
        if self.vocabulary_size is None and (self.embedding is not None
                                             or self.freeze_embedding):
            raise ValueError("embedding and freeze_embedding apply to token-sequence "
                             "text views; set vocabulary_size as well.")
        if isinstance(self.n_ensemble, (bool, np.bool_)):
            raise ValueError("n_ensemble must be a positive integer (the number of "
                             f"networks), got {self.n_ensemble!r}.")
        groups = _check_views(self.views, self.modalities, self.n_features_in_)
        self._groups = groups
        self._check_tokens(X)
        rng = check_random_state(self.random_state)
        self.network_ = self._build(groups)
        # Weights of mean 1 keep the step on the scale of unit weights; the penalty
        # l2 / sum(weights) makes a weight of 2 equal a repeated row.
        objective = self._objective(self.l2 / weight.sum())
        arrays = (X, codes, codes.astype(np.float64), weight / weight.mean())
        # Member i is what random_state=seeds[i] fits alone (the docstring's rule).
        member_rngs = ([rng] if self.n_ensemble == 1 else
                       [np.random.RandomState(seed) for seed in rng.randint(
                           np.iinfo(np.int32).max, size=self.n_ensemble)])
        members, caught = [], []
        for index, member_rng in enumerate(member_rngs):
            if self.verbose and self.n_ensemble > 1:
                print(f"member {index + 1} of {self.n_ensemble}")
            # Recorded, then re-issued once: k members stopping at max_iter are one
            # warning, not k.
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                members.append(self._train(objective, arrays, codes, member_rng))
            caught += records
        for message in {(type(r.message), str(r.message)): r for r in caught}.values():
            warn_at_caller(message.message)
        if self.n_ensemble == 1:
            self.params_, trainer = members[0]
            self.loss_curve_ = trainer.loss_curve_
            self.validation_scores_ = trainer.validation_scores_
            self.n_iter_, self.t_ = trainer.n_iter_, trainer.t_
        else:
            self.params_ = np.vstack([params for params, _ in members])
            self.loss_curve_ = [trainer.loss_curve_ for _, trainer in members]
            self.validation_scores_ = [trainer.validation_scores_
                                       for _, trainer in members]
            self.n_iter_ = max(trainer.n_iter_ for _, trainer in members)
            self.t_ = sum(trainer.t_ for _, trainer in members)
        return self

    def _train(self, objective, arrays, codes, rng):
        """One network initialised and shuffled from ``rng``: its parameters and
        its trainer."""
        params = self.network_.init_params(rng)
        trainer = MinibatchTrainer(
            optimizer=self.optimizer, learning_rate=self.learning_rate,
            batch_size=self.batch_size, max_iter=self.max_iter, tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            random_state=rng.randint(np.iinfo(np.int32).max), verbose=self.verbose)
        # The package's BLAS policy: one thread (minibatch products are small; on
        # the Wikipedia pairs two threads made the fit several times slower here).
        with blas_thread_limit():
            trainer.fit(objective, params, arrays, score=self._validation_score,
                        stratify=codes if self.early_stopping else None)
        return params, trainer

    def _objective(self, l2):
        network, alpha, beta = self.network_, float(self.alpha), float(self.beta)
        text, k = self._groups["text"], int(self.negative_sampling)

        def objective(theta, batch, rng):
            X, codes, fake, weight = batch
            n_rows = X.shape[0]
            weight_p = weight_s = weight
            if k and rng is not None:
                X, codes, fake, weight_p, weight_s = _in_batch_negatives(
                    X, codes, weight, text, k)
            return network._loss_gradient(
                theta, X, [codes, fake],
                [alpha * weight_p / n_rows, beta * weight_s / n_rows], l2,
                training=rng is not None, rng=rng)

        return objective

    def _validation_score(self, theta, rows):
        X, codes, _, weight = rows
        logits = self._logits(self.network_.forward(theta, X))
        return float(weight @ (np.argmax(logits, axis=1) == codes) / weight.sum())

    # ------------------------------------------------------------- predicting

    def _check_tokens(self, X):
        """Refuse token-sequence text columns that are not ids in range."""
        if self.vocabulary_size is None:
            return
        windows = list(self.window_sizes)
        if not windows or any(
                not isinstance(h, (Integral, np.integer)) or isinstance(h, bool)
                or h < 1 for h in windows):
            raise ValueError(f"window_sizes must be a non-empty tuple of positive "
                             f"integers, got {self.window_sizes!r}.")
        tokens = X[:, self._groups["text"]]
        if tokens.shape[1] < max(windows):
            raise ValueError(f"The token sequence has {tokens.shape[1]} columns, "
                             f"shorter than the largest window ({max(windows)}); "
                             "pad it with 0 or use smaller window_sizes.")
        if np.any(tokens != np.round(tokens)) or np.any(tokens < 0) or np.any(
                tokens >= self.vocabulary_size):
            raise ValueError("Token-sequence text columns must hold integer token "
                             f"ids in [0, vocabulary_size={self.vocabulary_size}) "
                             "(0 = padding); some id is out of range or not an "
                             "integer.")

    def _validated(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_tokens(X)
        return X

    def _members(self):
        """The members' parameter vectors, one row each."""
        return self.params_.reshape(-1, self.params_.shape[-1])

    def _decision_and_similarity(self, X):
        """Decision logits and similarity ``s`` of ``X``, means over the members.

        The mean of two-column logits has the mean logit difference as its
        difference: the softmax of it is the logistic of the mean decision score.
        """
        X = self._validated(X)
        logits, s = 0.0, 0.0
        for theta in self._members():
            outputs = self.network_.forward(theta, X)
            logits = logits + self._logits(outputs)
            s = s + outputs[1][:, 0]
        n_members = self._members().shape[0]
        return logits / n_members, s / n_members

    def _logits(self, outputs):
        """Two-class logits of the decision: the predictor's, or ``[log s, log(1-s)]``.

        ``L_s`` is the cross-entropy of the classifier ``P(classes_[1]) = 1 - s``,
        so ``decision='similarity'`` reads that classifier's probabilities.
        """
        if self.decision == "predictor":
            return outputs[0]
        s = np.clip(outputs[1][:, 0], _S_EPS, 1.0 - _S_EPS)
        return np.column_stack([np.log(s), np.log1p(-s)])

    def decision_function(self, X):
        """Return the decision's logit difference (positive favours ``classes_[1]``).

        The predictor's, or ``log((1 - s) / s)`` with ``decision='similarity'``;
        the mean over the members with ``n_ensemble > 1``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        logits = self._decision_and_similarity(X)[0]
        return logits[:, 1] - logits[:, 0]

    def predict_proba(self, X):
        """Return the class probabilities of the decision.

        The predictor's softmax, or ``[s, 1 - s]`` with ``decision='similarity'``.
        With ``n_ensemble > 1``, the logistic function of the mean decision score
        (``decision_function``), so ``predict`` agrees with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        return softmax(self._decision_and_similarity(X)[0], axis=1)

    def predict(self, X):
        """Return the most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(np.intp)]

    def similarity(self, X):
        """Return ``s = (1 + cos(t, v)) / 2`` of each row, in [0, 1].

        Real pairs should score high: ``1 - s`` is a score for ``classes_[1]``.
        With ``n_ensemble > 1``, the mean of the members' ``s``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        s : ndarray of shape (n_samples,)
        """
        return self._decision_and_similarity(X)[1]

    def transform(self, X, modality=None):
        """Return the representations ``[t, v]``, or one of them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        modality : {'text', 'image'} or None, default=None
            Return ``t`` (text) or ``v`` (image) only; None returns both side by
            side, text first.

        Returns
        -------
        features : ndarray of shape (n_samples, n_ensemble * 2 * representation_dim) \
or (n_samples, n_ensemble * representation_dim)
            With ``n_ensemble > 1``, the members' representations side by side,
            member by member (each member has its own space: they are not
            averaged).
        """
        if modality is not None and modality not in MODALITIES:
            raise ValueError(f"modality must be 'text', 'image' or None, got "
                             f"{modality!r}.")
        X = self._validated(X)
        d = self.representation_dim
        columns = {None: slice(None), "text": slice(d), "image": slice(d, None)}
        return np.hstack([self.network_.features(theta, X)[:, columns[modality]]
                          for theta in self._members()])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = False
        return tags
