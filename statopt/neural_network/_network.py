"""Stacks of layers on a flat parameter vector, gradients and Hessian-vector products.

A :class:`Stack` chains layers and is itself a layer, so stacks nest: a network with
a shared trunk and several heads (a label detector and an event discriminator behind a
:class:`~statopt.neural_network.GradientReversal`, say) is a few stacks whose
parameter blocks are consecutive slices of one vector. :class:`Network` is the common
case of one stack, one head and an L2 penalty, with its objective, gradient and exact
Hessian-vector product checked on input.
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._layers import Head, Layer

__all__ = ["Stack", "Network"]


class Stack(Layer):
    """A sequence of layers applied one after the other.

    The parameters of the layers are consecutive slices of the stack's block of the
    flat parameter vector, in layer order. Every pass takes that block ``w`` (a 1-d
    float64 array) and the views are taken inside, so an optimiser, a finite-difference
    test or a Hessian-vector product sees one vector.

    Parameters
    ----------
    layers : list of Layer
        The layers, input first. A stack is a layer, so stacks nest.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Dense, ReLU, Stack
    >>> stack = Stack([Dense(3), ReLU(), Dense(2)])
    >>> w = stack.init_params(4, random_state=0)
    >>> stack.n_params(4), stack.forward(w, np.ones((5, 4)))[0].shape
    (23, (5, 2))
    """

    def __init__(self, layers):
        layers = list(layers)
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{index}] must be a statopt.neural_network layer, got "
                    f"{type(layer).__name__}."
                )
        self.layers = layers
        self._layouts = {}

    def layout(self, n_in):
        """Return ``(slice, n_in)`` of each layer for an input of ``n_in`` columns."""
        if n_in not in self._layouts:
            layout, start, width = [], 0, n_in
            for layer in self.layers:
                stop = start + layer.n_params(width)
                layout.append((slice(start, stop), width))
                start, width = stop, layer.n_out(width)
            self._layouts[n_in] = layout
        return self._layouts[n_in]

    def n_params(self, n_in):
        layout = self.layout(n_in)
        return layout[-1][0].stop if layout else 0

    def n_out(self, n_in):
        for layer in self.layers:
            n_in = layer.n_out(n_in)
        return n_in

    def penalty_mask(self, n_in):
        masks = [layer.penalty_mask(size) for layer, (_, size) in
                 zip(self.layers, self.layout(n_in))]
        return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)

    def init(self, w, n_in, rng, scheme):
        layout = self.layout(n_in)
        for index, (layer, (part, size)) in enumerate(zip(self.layers, layout)):
            # A dense layer takes He before a (leaky) ReLU, Glorot otherwise.
            following = self.layers[index + 1] if index + 1 < len(self.layers) else None
            hint = following.init_hint if following is not None else "glorot"
            layer.init(w[part], size, rng, hint)

    def init_params(self, n_in, random_state=None):
        """Return a fresh parameter block for an input of ``n_in`` columns.

        Parameters
        ----------
        n_in : int
            Number of input columns.
        random_state : int, RandomState instance or None, default=None
            Seeds Glorot/He initialisation of the dense layers (biases start at 0).

        Returns
        -------
        w : ndarray of shape (n_params,)
        """
        rng = check_random_state(random_state)
        w = np.zeros(self.n_params(n_in))
        self.init(w, n_in, rng, "glorot")
        return w

    def forward(self, w, x, *, training=False, rng=None):
        n_in, caches = x.shape[1], []
        for layer, (part, _) in zip(self.layers, self.layout(n_in)):
            x, cache = layer.forward(w[part], x, training=training, rng=rng)
            caches.append(cache)
        return x, (n_in, caches)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        n_in, caches = cache
        layout = self.layout(n_in)
        for position in range(len(self.layers) - 1, -1, -1):
            part = layout[position][0]
            gy = self.layers[position].backward(
                w[part], caches[position], gy, grad_w[part],
                need_input or position > 0,
            )
        return gy

    def r_forward(self, w, v, cache, rx):
        n_in, caches = cache
        r_caches = []
        for layer, (part, _), layer_cache in zip(self.layers, self.layout(n_in),
                                                 caches):
            rx, r_cache = layer.r_forward(w[part], v[part], layer_cache, rx)
            r_caches.append(r_cache)
        return rx, r_caches

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        n_in, caches = cache
        layout = self.layout(n_in)
        # The R-backward of a layer needs its own dL/dy: run the backward pass
        # alongside, into a scratch gradient.
        scratch = np.empty_like(w)
        for position in range(len(self.layers) - 1, -1, -1):
            layer, part = self.layers[position], layout[position][0]
            need = need_input or position > 0
            new_rgy = layer.r_backward(w[part], v[part], caches[position],
                                       rx[position], gy, rgy, r_grad_w[part], need)
            if need:
                gy = layer.backward(w[part], caches[position], gy, scratch[part])
            rgy = new_rgy
        return rgy

    def __repr__(self):
        return f"Stack({self.layers!r})"


def _check_finite_matrix(name, value, n_columns=None):
    value = check_array(value, dtype=np.float64, input_name=name,
                        ensure_all_finite=True, ensure_min_samples=1)
    if n_columns is not None and value.shape[1] != n_columns:
        raise ValueError(
            f"{name} has {value.shape[1]} columns; the network expects {n_columns}."
        )
    return value


def _check_vector(name, value, size):
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real-valued array, got dtype {value.dtype}.")
    value = np.asarray(value, dtype=np.float64) if not isinstance(value, str) else None
    if value is None or value.ndim != 1 or value.size != size:
        raise ValueError(
            f"{name} must be a 1-d array of {size} values (one per parameter); got "
            f"shape {getattr(value, 'shape', None)}."
        )
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} holds NaN or inf.")
    return value


class Network:
    """A stack of layers ending in a loss head, with an L2 penalty.

    The objective on rows ``i = 1..n`` with sample weights ``s_i`` is

    ``J(theta) = (1/n) sum_i s_i loss(z_i(theta), t_i) + (l2 / 2) ||W||^2``

    where ``z_i`` are the logits of the stack and ``W`` collects the weights of the
    dense layers (not the biases). A minibatch driver passes ``l2 = alpha / n_total``
    so that, summed over a dataset of ``n_total`` rows with mean weight 1, the objective
    is ``(1/n_total) (sum_i s_i loss_i + alpha/2 ||W||^2)``: the minimiser of
    scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` with
    ``C = 1 / alpha`` for a network without hidden layers.

    Parameters
    ----------
    layers : list of Layer or Stack
        The layers, input first; the last one gives the logits of the head.
    head : Head
        :class:`SoftmaxCrossEntropy` (integer targets in ``[0, n_logits)``),
        :class:`SigmoidCrossEntropy` (targets 0 or 1, one logit) or
        :class:`SquaredLoss` (targets of shape ``(n, n_logits)``, or ``(n,)`` for one
        logit).
    n_features : int
        Number of input columns.

    Attributes
    ----------
    stack : Stack
        The layers as one stack.
    n_params : int
        Length of the flat parameter vector.
    n_outputs : int
        Number of logits.
    penalty_mask : ndarray of shape (n_params,)
        True for the parameters the L2 penalty applies to.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import (Dense, Network, SoftmaxCrossEntropy,
    ...                                     Tanh)
    >>> net = Network([Dense(4), Tanh(), Dense(3)], SoftmaxCrossEntropy(), 2)
    >>> theta = net.init_params(random_state=0)
    >>> X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 2])
    >>> loss, grad = net.loss_gradient(theta, X, y, l2=1e-3)
    >>> hv = net.hessian_vector_product(theta, grad, X, y, l2=1e-3)
    >>> grad.shape == hv.shape == (net.n_params,)
    True
    """

    def __init__(self, layers, head, n_features):
        if not isinstance(head, Head):
            raise TypeError(f"head must be a statopt.neural_network head, got "
                            f"{type(head).__name__}.")
        if (not isinstance(n_features, (int, np.integer))
                or isinstance(n_features, bool) or n_features < 1):
            raise ValueError(f"n_features must be a positive integer, got "
                             f"{n_features!r}.")
        self.stack = layers if isinstance(layers, Stack) else Stack(layers)
        self.head = head
        self.n_features = int(n_features)
        self.n_params = self.stack.n_params(self.n_features)
        self.n_outputs = self.stack.n_out(self.n_features)
        self.penalty_mask = self.stack.penalty_mask(self.n_features)
        if head.n_outputs(self.n_outputs) != self.n_outputs:
            raise ValueError(
                f"{type(head).__name__} needs {head.n_outputs(self.n_outputs)} logit "
                f"per row; the layers give {self.n_outputs}."
            )

    def init_params(self, random_state=None):
        """Return a fresh flat parameter vector (Glorot/He weights, zero biases).

        Parameters
        ----------
        random_state : int, RandomState instance or None, default=None
            Seeds the initialisation.

        Returns
        -------
        theta : ndarray of shape (n_params,)
        """
        return self.stack.init_params(self.n_features, random_state)

    def views(self, theta):
        """Return the view of ``theta`` that each layer uses, in layer order."""
        return [theta[part] for part, _ in self.stack.layout(self.n_features)]

    # ------------------------------------------------------------- checked entry

    def _check(self, theta, X, target=None, sample_weight=None):
        theta = _check_vector("theta", theta, self.n_params)
        X = _check_finite_matrix("X", X, self.n_features)
        if target is not None:
            target = self.check_target(target, X.shape[0])
        if sample_weight is None:
            sample_weight = np.ones(X.shape[0])
        else:
            sample_weight = _check_vector("sample_weight", sample_weight, X.shape[0])
            if np.any(sample_weight < 0):
                raise ValueError("sample_weight must be >= 0.")
        return theta, X, target, sample_weight

    def check_target(self, target, n_rows):
        """Validate targets for the head and return them encoded as the head needs."""
        target = np.asarray(target)
        if target.dtype.kind not in "biuf":
            raise TypeError(f"targets must be numeric, got dtype {target.dtype}.")
        if target.shape[0:1] != (n_rows,):
            raise ValueError(f"targets have {target.shape[0:1]} rows; X has {n_rows}.")
        name = type(self.head).__name__
        if type(self.head).__name__ == "SquaredLoss":
            target = target.astype(np.float64).reshape(n_rows, -1)
            if target.shape[1] != self.n_outputs:
                raise ValueError(f"targets have {target.shape[1]} columns; the "
                                 f"network has {self.n_outputs} outputs.")
            if not np.all(np.isfinite(target)):
                raise ValueError("targets hold NaN or inf.")
            return target
        if target.ndim != 1:
            raise ValueError(f"{name} needs a 1-d array of targets.")
        if name == "SigmoidCrossEntropy":
            if not np.all((target == 0) | (target == 1)):
                raise ValueError("SigmoidCrossEntropy targets must be 0 or 1.")
            return target.astype(np.float64)
        as_int = target.astype(np.int64) if np.all(np.isfinite(target)) else None
        if (as_int is None or np.any(as_int != target) or np.any(as_int < 0)
                or np.any(as_int >= self.n_outputs)):
            raise ValueError(f"{name} targets must be integers in "
                             f"[0, {self.n_outputs}).")
        return as_int

    def forward(self, theta, X, *, training=False, random_state=None):
        """Return the logits of ``X``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
        X : array-like of shape (n_samples, n_features)
        training : bool, default=False
            Whether dropout layers are active.
        random_state : int, RandomState instance or None, default=None
            Draws the dropout masks in training.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_outputs)
        """
        theta, X, _, _ = self._check(theta, X)
        rng = check_random_state(random_state) if training else None
        return self.stack.forward(theta, X, training=training, rng=rng)[0]

    def predict_output(self, theta, X):
        """Return the head's output of ``X``: probabilities or fitted values."""
        return self.head.output(self.forward(theta, X))

    def loss_gradient(self, theta, X, target, sample_weight=None, *, l2=0.0,
                      training=False, random_state=None):
        """Return the objective and its gradient in ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
        X : array-like of shape (n_samples, n_features)
        target : array-like
            Targets as the head needs them (see the class docstring).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights ``s_i >= 0``; None means 1 for every row.
        l2 : float, default=0.0
            Coefficient of ``(l2 / 2) ||W||^2``.
        training : bool, default=False
            Whether dropout layers are active.
        random_state : int, RandomState instance or None, default=None
            Draws the dropout masks in training.

        Returns
        -------
        loss : float
        gradient : ndarray of shape (n_params,)
        """
        theta, X, target, sample_weight = self._check(theta, X, target, sample_weight)
        rng = check_random_state(random_state) if training else None
        return self._loss_gradient(theta, X, target, sample_weight / X.shape[0],
                                   float(l2), training=training, rng=rng)

    def hessian_vector_product(self, theta, vector, X, target, sample_weight=None, *,
                               l2=0.0, training=False, random_state=None):
        """Return the exact product of the Hessian of the objective with ``vector``.

        Pearlmutter's R-operator: a forward pass of the directional derivative of
        the activations along ``vector``, then the backward pass of it, at about
        twice the cost of a gradient.

        Parameters
        ----------
        theta, vector : ndarray of shape (n_params,)
        X, target, sample_weight, l2, training, random_state
            As in :meth:`loss_gradient`; in training the same seed gives the same
            dropout masks, hence the Hessian of the same sampled network.

        Returns
        -------
        product : ndarray of shape (n_params,)
        """
        theta, X, target, sample_weight = self._check(theta, X, target, sample_weight)
        vector = _check_vector("vector", vector, self.n_params)
        rng = check_random_state(random_state) if training else None
        return self._hessian_vector_product(theta, vector, X, target,
                                            sample_weight / X.shape[0], float(l2),
                                            training=training, rng=rng)

    # ------------------------------------------------ unchecked, for the drivers

    def _loss_gradient(self, theta, X, target, coef, l2, *, training=False,
                       rng=None):
        logits, cache = self.stack.forward(theta, X, training=training, rng=rng)
        loss, grad_logits = self.head.gradient(logits, target, coef)
        grad = np.empty_like(theta)
        self.stack.backward(theta, cache, grad_logits, grad, need_input=False)
        if l2:
            penalised = theta * self.penalty_mask
            loss += 0.5 * l2 * float(penalised @ penalised)
            grad += l2 * penalised
        return loss, grad

    def _hessian_vector_product(self, theta, vector, X, target, coef, l2, *,
                                training=False, rng=None):
        logits, cache = self.stack.forward(theta, X, training=training, rng=rng)
        r_logits, r_cache = self.stack.r_forward(theta, vector, cache, None)
        _, grad_logits = self.head.gradient(logits, target, coef)
        r_grad_logits = self.head.r_gradient(logits, target, coef, r_logits)
        product = np.empty_like(theta)
        self.stack.r_backward(theta, vector, cache, r_cache, grad_logits,
                              r_grad_logits, product, need_input=False)
        if l2:
            product += l2 * (vector * self.penalty_mask)
        return product

    def __repr__(self):
        return (f"Network({self.stack.layers!r}, {self.head!r}, "
                f"n_features={self.n_features})")
