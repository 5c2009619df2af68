"""Stacks of layers on a flat parameter vector, gradients and Hessian-vector products.

A :class:`Stack` chains layers and is itself a layer, so stacks nest: a network with
a shared trunk and several heads (a label detector and an event discriminator behind a
:class:`~statopt.neural_network.GradientReversal`, say) is a few stacks whose
parameter blocks are consecutive slices of one vector. :class:`Network` is the common
case of one stack, one head and an L2 penalty, with its objective, gradient and exact
Hessian-vector product checked on input.
"""

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._layers import Head, Layer, SigmoidCrossEntropy, SquaredLoss

__all__ = ["Stack", "Branches", "Network", "MultiHeadNetwork"]


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
        # alongside, into a scratch gradient (not past the first layer, whose
        # dL/dx no layer reads).
        scratch = np.empty_like(w)
        for position in range(len(self.layers) - 1, -1, -1):
            layer, part = self.layers[position], layout[position][0]
            need = need_input or position > 0
            new_rgy = layer.r_backward(w[part], v[part], caches[position],
                                       rx[position], gy, rgy, r_grad_w[part], need)
            if position > 0:
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


def _check_vector(name, value, size, what="one per parameter"):
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real-valued array, got dtype {value.dtype}.")
    value = np.asarray(value, dtype=np.float64) if not isinstance(value, str) else None
    if value is None or value.ndim != 1 or value.size != size:
        raise ValueError(
            f"{name} must be a 1-d array of {size} values ({what}); got "
            f"shape {getattr(value, 'shape', None)}."
        )
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} holds NaN or inf.")
    return value


def _check_target(head, target, n_rows, n_outputs):
    target = np.asarray(target)
    if target.dtype.kind not in "biuf":
        raise TypeError(f"targets must be numeric, got dtype {target.dtype}.")
    if target.shape[0:1] != (n_rows,):
        raise ValueError(f"targets have {target.shape[0:1]} rows; X has {n_rows}.")
    name = type(head).__name__
    if isinstance(head, SquaredLoss):
        target = target.astype(np.float64).reshape(n_rows, -1)
        if target.shape[1] != n_outputs:
            raise ValueError(f"targets have {target.shape[1]} columns; the "
                             f"network has {n_outputs} outputs.")
        if not np.all(np.isfinite(target)):
            raise ValueError("targets hold NaN or inf.")
        return target
    if target.ndim != 1:
        raise ValueError(f"{name} needs a 1-d array of targets.")
    if isinstance(head, SigmoidCrossEntropy):
        if not np.all((target == 0) | (target == 1)):
            raise ValueError("SigmoidCrossEntropy targets must be 0 or 1.")
        return target.astype(np.float64)
    as_int = target.astype(np.int64) if np.all(np.isfinite(target)) else None
    if (as_int is None or np.any(as_int != target) or np.any(as_int < 0)
            or np.any(as_int >= n_outputs)):
        raise ValueError(f"{name} targets must be integers in [0, {n_outputs}).")
    return as_int


def predict_pass(compute, *args):
    """``compute(*args)`` (a forward pass of fitted parameters) with overflow
    reported as one ValueError instead of warnings and inf or NaN outputs."""
    with np.errstate(over="ignore", invalid="ignore"):
        values = compute(*args)
    if not np.all(np.isfinite(values)):
        raise ValueError("The network's outputs overflow float64: X holds entries "
                         "too large for this model; scale X as the training data "
                         "were scaled.")
    return values


def _check_weights(sample_weight, n_rows, name="sample_weight"):
    if sample_weight is None:
        return np.ones(n_rows)
    sample_weight = _check_vector(name, sample_weight, n_rows, "one per row")
    if np.any(sample_weight < 0):
        raise ValueError(f"{name} must be >= 0.")
    # The estimators divide by the weights' sum (a weight of 2 counts as a
    # repeated row); one that overflows would turn into inf and zeros.
    with np.errstate(over="ignore"):
        total = sample_weight.sum()
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to {total} (beyond float64); divide the "
                         "weights by a common factor.")
    return sample_weight


class Branches(Layer):
    """Parallel stacks on column groups of the input, outputs concatenated.

    Branch ``k`` reads the columns ``columns_k`` of the input (a modality: text
    features, image features, ...) through its own stack; the outputs are
    concatenated in branch order. Parameters are the branches' blocks, in order.

    Parameters
    ----------
    branches : list of (columns, layers)
        ``columns`` is a slice or a sequence of column indices; ``layers`` a list of
        layers or a :class:`Stack`.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Branches, Dense, Tanh
    >>> layer = Branches([(slice(0, 3), [Dense(2), Tanh()]), ([3, 4], [Dense(1)])])
    >>> w = np.zeros(layer.n_params(5))
    >>> layer.n_params(5), layer.forward(w, np.ones((4, 5)))[0].shape
    (11, (4, 3))
    """

    def __init__(self, branches):
        checked = []
        for index, branch in enumerate(branches):
            if not isinstance(branch, (tuple, list)) or len(branch) != 2:
                raise TypeError(f"branches[{index}] must be a (columns, layers) pair.")
            columns, layers = branch
            stack = layers if isinstance(layers, Stack) else Stack(layers)
            checked.append((columns, stack))
        if not checked:
            raise ValueError("branches must hold at least one branch.")
        self.branches = checked

    def _columns(self, n_in):
        result = []
        for index, (columns, _) in enumerate(self.branches):
            if isinstance(columns, slice):
                picked = np.arange(n_in)[columns]
            else:
                picked = np.asarray(columns)
                if (picked.dtype.kind not in "iu" or picked.ndim != 1
                        or np.any(picked < 0) or np.any(picked >= n_in)):
                    raise ValueError(
                        f"branches[{index}] columns must be indices in [0, {n_in})."
                    )
            if picked.size == 0:
                raise ValueError(f"branches[{index}] selects no column.")
            result.append(picked)
        return result

    def _blocks(self, n_in):
        blocks, start = [], 0
        for picked, (_, stack) in zip(self._columns(n_in), self.branches):
            stop = start + stack.n_params(picked.size)
            blocks.append((picked, stack, slice(start, stop)))
            start = stop
        return blocks

    def n_params(self, n_in):
        return sum(stack.n_params(picked.size)
                   for picked, stack, _ in self._blocks(n_in))

    def n_out(self, n_in):
        return sum(stack.n_out(picked.size) for picked, stack, _ in self._blocks(n_in))

    def penalty_mask(self, n_in):
        return np.concatenate([stack.penalty_mask(picked.size)
                               for picked, stack, _ in self._blocks(n_in)])

    def init(self, w, n_in, rng, scheme):
        for picked, stack, part in self._blocks(n_in):
            stack.init(w[part], picked.size, rng, scheme)

    def forward(self, w, x, *, training=False, rng=None):
        blocks = self._blocks(x.shape[1])
        outputs, caches = [], []
        for picked, stack, part in blocks:
            y, cache = stack.forward(w[part], x[:, picked], training=training, rng=rng)
            outputs.append(y)
            caches.append(cache)
        widths = np.cumsum([y.shape[1] for y in outputs])[:-1]
        return np.hstack(outputs), (x.shape, blocks, caches, widths)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        shape, blocks, caches, widths = cache
        gx = np.zeros(shape) if need_input else None
        for (picked, stack, part), branch_cache, g in zip(
                blocks, caches, np.split(gy, widths, axis=1)):
            g_in = stack.backward(w[part], branch_cache, g, grad_w[part], need_input)
            if need_input:
                gx[:, picked] += g_in
        return gx

    def r_forward(self, w, v, cache, rx):
        _, blocks, caches, _ = cache
        outputs, r_caches = [], []
        for (picked, stack, part), branch_cache in zip(blocks, caches):
            ry, r_cache = stack.r_forward(w[part], v[part], branch_cache,
                                          None if rx is None else rx[:, picked])
            if ry is None:
                # A branch without parameters, on an input with R{x} = 0.
                ry = np.zeros((cache[0][0], stack.n_out(picked.size)))
            outputs.append(ry)
            r_caches.append(r_cache)
        return np.hstack(outputs), r_caches

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        shape, blocks, caches, widths = cache
        rgx = np.zeros(shape) if need_input else None
        for (picked, stack, part), branch_cache, r_cache, g, rg in zip(
                blocks, caches, rx, np.split(gy, widths, axis=1),
                np.split(rgy, widths, axis=1)):
            r_in = stack.r_backward(w[part], v[part], branch_cache, r_cache, g, rg,
                                    r_grad_w[part], need_input)
            if need_input:
                rgx[:, picked] += r_in
        return rgx

    def __repr__(self):
        return f"Branches({self.branches!r})"


class MultiHeadNetwork:
    """A shared trunk feeding several heads, each with its own layers and loss.

    The objective adds the heads' weighted objectives on the shared features,

    ``J(theta) = sum_k (1/n) sum_i s_ki loss_k(z_ki, t_ki) + (l2 / 2) ||W||^2``,

    with per-head sample weights ``s_k`` (a row weighted 0 in a head, such as an
    unlabelled row in a label detector, trains only the other heads). A
    :class:`GradientReversal` at the start of a head's layers makes the trunk climb
    that head's loss while the head descends it: the update of gradient-reversal
    training (Ganin & Lempitsky 2015) in one gradient.

    Parameters
    ----------
    trunk : list of Layer or Stack
        The shared feature extractor (it may start with :class:`Branches`).
    heads : list of (layers, head)
        The layers of each head on the trunk's output, and its loss head.
    n_features : int
        Number of input columns.

    Attributes
    ----------
    n_params : int
        Length of the flat parameter vector: the trunk's block, then each head's.
    n_outputs : list of int
        Number of logits of each head.
    penalty_mask : ndarray of shape (n_params,)
        True for the parameters the L2 penalty applies to.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import (Dense, GradientReversal,
    ...     MultiHeadNetwork, ReLU, SoftmaxCrossEntropy)
    >>> net = MultiHeadNetwork(
    ...     [Dense(8), ReLU()],
    ...     [([Dense(2)], SoftmaxCrossEntropy()),
    ...      ([GradientReversal(0.5), Dense(3)], SoftmaxCrossEntropy())], 4)
    >>> theta = net.init_params(random_state=0)
    >>> X = np.ones((5, 4))
    >>> labels, events = np.array([0, 1, 0, 1, 1]), np.array([0, 1, 2, 2, 1])
    >>> loss, grad = net.loss_gradient(theta, X, [labels, events])
    >>> grad.shape == (net.n_params,)
    True
    """

    def __init__(self, trunk, heads, n_features):
        if (not isinstance(n_features, (int, np.integer))
                or isinstance(n_features, bool) or n_features < 1):
            raise ValueError(f"n_features must be a positive integer, got "
                             f"{n_features!r}.")
        self.trunk = trunk if isinstance(trunk, Stack) else Stack(trunk)
        self.n_features = int(n_features)
        width = self.trunk.n_out(self.n_features)
        heads = list(heads)
        if not heads:
            raise ValueError("heads must hold at least one (layers, head) pair.")
        self.heads, self.n_outputs = [], []
        self._head_outputs = self.n_outputs
        blocks = [slice(0, self.trunk.n_params(self.n_features))]
        for index, pair in enumerate(heads):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"heads[{index}] must be a (layers, head) pair.")
            layers, head = pair
            if not isinstance(head, Head):
                raise TypeError(f"heads[{index}] has no statopt.neural_network head.")
            stack = layers if isinstance(layers, Stack) else Stack(layers)
            n_out = stack.n_out(width)
            if head.n_outputs(n_out) != n_out:
                raise ValueError(f"heads[{index}]: {type(head).__name__} needs "
                                 f"{head.n_outputs(n_out)} logit per row; its layers "
                                 f"give {n_out}.")
            start = blocks[-1].stop
            blocks.append(slice(start, start + stack.n_params(width)))
            self.heads.append((stack, head))
            self.n_outputs.append(n_out)
        self._width, self._blocks = width, blocks
        self.n_params = blocks[-1].stop
        self.penalty_mask = np.concatenate(
            [self.trunk.penalty_mask(self.n_features)]
            + [stack.penalty_mask(width) for stack, _ in self.heads])

    def init_params(self, random_state=None):
        """Return a fresh flat parameter vector (Glorot/He weights, zero biases)."""
        rng = check_random_state(random_state)
        theta = np.zeros(self.n_params)
        self.trunk.init(theta[self._blocks[0]], self.n_features, rng, "glorot")
        for (stack, _), part in zip(self.heads, self._blocks[1:]):
            stack.init(theta[part], self._width, rng, "glorot")
        return theta

    def _check(self, theta, X, targets, sample_weights):
        theta = _check_vector("theta", theta, self.n_params)
        X = _check_finite_matrix("X", X, self.n_features)
        n_rows = X.shape[0]
        if not isinstance(targets, (list, tuple)) or len(targets) != len(self.heads):
            raise ValueError(f"targets must be a list of {len(self.heads)} arrays, "
                             "one per head.")
        targets = [_check_target(head, target, n_rows, n_out) for (_, head), target,
                   n_out in zip(self.heads, targets, self._head_outputs)]
        if sample_weights is None or isinstance(sample_weights, np.ndarray):
            sample_weights = [sample_weights] * len(self.heads)
        if len(sample_weights) != len(self.heads):
            raise ValueError(f"sample_weights must be one array or a list of "
                             f"{len(self.heads)}, one per head.")
        coefs = [_check_weights(w, n_rows, f"sample_weights[{k}]") / n_rows
                 for k, w in enumerate(sample_weights)]
        return theta, X, targets, coefs

    def features(self, theta, X, *, training=False, random_state=None):
        """Return the trunk's output (the shared features) of ``X``.

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
        features : ndarray of shape (n_samples, n_trunk_outputs)
        """
        theta = _check_vector("theta", theta, self.n_params)
        X = _check_finite_matrix("X", X, self.n_features)
        rng = check_random_state(random_state) if training else None
        return self.trunk.forward(theta[self._blocks[0]], X, training=training,
                                  rng=rng)[0]

    def forward(self, theta, X, *, training=False, random_state=None):
        """Return the logits of every head, as a list (see :meth:`features`)."""
        rng = check_random_state(random_state) if training else None
        theta = _check_vector("theta", theta, self.n_params)
        X = _check_finite_matrix("X", X, self.n_features)
        return [logits for logits, _ in self._heads_forward(theta, X, training,
                                                             rng)[1]]

    def loss_gradient(self, theta, X, targets, sample_weights=None, *, l2=0.0,
                      training=False, random_state=None):
        """Return the summed objective of the heads and its (update) gradient.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
        X : array-like of shape (n_samples, n_features)
        targets : list of array-like
            One target array per head, as that head needs it.
        sample_weights : array-like, list of array-like or None, default=None
            One weight array for every head, or one per head.
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
        theta, X, targets, coefs = self._check(theta, X, targets, sample_weights)
        rng = check_random_state(random_state) if training else None
        return self._loss_gradient(theta, X, targets, coefs, float(l2),
                                   training=training, rng=rng)

    def hessian_vector_product(self, theta, vector, X, targets, sample_weights=None,
                               *, l2=0.0, training=False, random_state=None):
        """Return the exact product of the Hessian of the objective with ``vector``.

        Pearlmutter's R-operator: a forward pass of the directional derivative of
        the activations along ``vector``, then the backward pass of it, at about
        twice the cost of a gradient. Through a gradient-reversal layer it is the
        Jacobian of the update field that :meth:`loss_gradient` returns.

        Parameters
        ----------
        theta, vector : ndarray of shape (n_params,)
        X, targets, sample_weights, l2, training, random_state
            As in :meth:`loss_gradient`; in training the same seed gives the same
            dropout masks, hence the Hessian of the same sampled network.

        Returns
        -------
        product : ndarray of shape (n_params,)
        """
        theta, X, targets, coefs = self._check(theta, X, targets, sample_weights)
        vector = _check_vector("vector", vector, self.n_params)
        rng = check_random_state(random_state) if training else None
        return self._hessian_vector_product(theta, vector, X, targets, coefs,
                                            float(l2), training=training, rng=rng)

    def minibatch_objective(self, l2=0.0, *, training=True):
        """Return ``objective(theta, batch, rng)`` for :class:`MinibatchTrainer`.

        ``batch`` is ``(X, target_1, ..., target_K, weight_1, ..., weight_K)`` for
        the ``K`` heads, already validated and encoded.

        Parameters
        ----------
        l2 : float, default=0.0
            Coefficient of ``(l2 / 2) ||W||^2``.
        training : bool, default=True
            Whether dropout layers are active during training steps.

        Returns
        -------
        objective : callable
        """
        l2, n_heads = float(l2), len(self.heads)

        def objective(theta, batch, rng):
            X = batch[0]
            targets = list(batch[1 : 1 + n_heads])
            coefs = [w / X.shape[0] for w in batch[1 + n_heads :]]
            return self._loss_gradient(theta, X, targets, coefs, l2,
                                       training=training and rng is not None,
                                       rng=rng)

        return objective

    def _heads_forward(self, theta, X, training, rng):
        trunk_part = self._blocks[0]
        features, trunk_cache = self.trunk.forward(theta[trunk_part], X,
                                                    training=training, rng=rng)
        head_caches = [stack.forward(theta[part], features, training=training,
                                     rng=rng)
                       for (stack, _), part in zip(self.heads, self._blocks[1:])]
        return trunk_cache, head_caches

    def _loss_gradient(self, theta, X, targets, coefs, l2, *, training=False,
                       rng=None, head_losses=None):
        # head_losses, a list, receives each head's loss (a caller that monitors
        # one head, such as the detector of an adversarial fit, reads it there).
        trunk_cache, head_caches = self._heads_forward(theta, X, training, rng)
        grad = np.empty_like(theta)
        loss, grad_features = 0.0, 0.0
        for (stack, head), part, (logits, cache), target, coef in zip(
                self.heads, self._blocks[1:], head_caches, targets, coefs):
            head_loss, grad_logits = head.gradient(logits, target, coef)
            loss += head_loss
            if head_losses is not None:
                head_losses.append(float(head_loss))
            grad_features = grad_features + stack.backward(
                theta[part], cache, grad_logits, grad[part], need_input=True)
        trunk_part = self._blocks[0]
        self.trunk.backward(theta[trunk_part], trunk_cache, grad_features,
                            grad[trunk_part], need_input=False)
        if l2:
            penalised = theta * self.penalty_mask
            loss += 0.5 * l2 * float(penalised @ penalised)
            grad += l2 * penalised
        return loss, grad

    def _hessian_vector_product(self, theta, vector, X, targets, coefs, l2, *,
                                training=False, rng=None):
        return self._hvp_operator(theta, X, targets, coefs, l2, training=training,
                                  rng=rng)(vector)

    def _hvp_operator(self, theta, X, targets, coefs, l2, *, training=False,
                      rng=None, forward=None):
        """Return ``hvp(vector)``, the Hessian-vector product at ``theta`` on ``X``.

        The passes that do not depend on the vector (forward, the heads' gradients
        and their backward pass to the features) run once here, so a caller that
        multiplies many vectors at one point (power iteration, a Neumann series)
        pays only the R-passes per vector; each product equals
        :meth:`_hessian_vector_product`'s. ``forward`` is the output of
        :meth:`_heads_forward` at the same point, if the caller has it.
        """
        if forward is None:
            forward = self._heads_forward(theta, X, training, rng)
        trunk_cache, head_caches = forward
        trunk_part = self._blocks[0]
        scratch = np.empty_like(theta)
        grad_logits, grad_features = [], 0.0
        for (stack, head), part, (logits, cache), target, coef in zip(
                self.heads, self._blocks[1:], head_caches, targets, coefs):
            grad_logits.append(head.gradient(logits, target, coef)[1])
            grad_features = grad_features + stack.backward(
                theta[part], cache, grad_logits[-1], scratch[part], need_input=True)

        def hvp(vector):
            r_features, trunk_r_cache = self.trunk.r_forward(
                theta[trunk_part], vector[trunk_part], trunk_cache, None)
            product = np.empty_like(theta)
            r_grad_features = 0.0
            for (stack, head), part, (logits, cache), target, coef, g in zip(
                    self.heads, self._blocks[1:], head_caches, targets, coefs,
                    grad_logits):
                r_logits, r_cache = stack.r_forward(theta[part], vector[part], cache,
                                                    r_features)
                r_grad_logits = head.r_gradient(logits, target, coef, r_logits)
                r_grad_features = r_grad_features + stack.r_backward(
                    theta[part], vector[part], cache, r_cache, g, r_grad_logits,
                    product[part], need_input=True)
            self.trunk.r_backward(theta[trunk_part], vector[trunk_part], trunk_cache,
                                  trunk_r_cache, grad_features, r_grad_features,
                                  product[trunk_part], need_input=False)
            if l2:
                product += l2 * (vector * self.penalty_mask)
            return product

        return hvp


class Network(MultiHeadNetwork):
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
        The layers as one stack (the trunk of a single-head network).
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
        super().__init__(layers, [([], head)], n_features)
        self.stack, self.head = self.trunk, head
        self.n_outputs = self._head_outputs[0]

    def views(self, theta):
        """Return the view of ``theta`` that each layer uses, in layer order."""
        return [theta[part] for part, _ in self.stack.layout(self.n_features)]

    def check_target(self, target, n_rows):
        """Validate targets for the head and return them encoded as the head needs."""
        return _check_target(self.head, target, n_rows, self.n_outputs)

    def forward(self, theta, X, *, training=False, random_state=None):
        """Return the logits of ``X`` (arguments of :meth:`features`)."""
        return super().forward(theta, X, training=training,
                               random_state=random_state)[0]

    def predict_output(self, theta, X):
        """Return the head's output of ``X``: probabilities or fitted values."""
        return self.head.output(self.forward(theta, X))

    def loss_gradient(self, theta, X, target, sample_weight=None, *, l2=0.0,
                      training=False, random_state=None):
        """Return the objective and its gradient in ``theta``.

        As :meth:`MultiHeadNetwork.loss_gradient` with one ``target`` array (as the
        head needs it, see the class docstring) and one ``sample_weight`` array
        (``s_i >= 0``, None for 1 on every row).
        """
        return super().loss_gradient(theta, X, [target], [sample_weight], l2=l2,
                                     training=training, random_state=random_state)

    def hessian_vector_product(self, theta, vector, X, target, sample_weight=None, *,
                               l2=0.0, training=False, random_state=None):
        """Return the exact product of the Hessian of the objective with ``vector``.

        Arguments as in :meth:`loss_gradient`; see
        :meth:`MultiHeadNetwork.hessian_vector_product`.
        """
        return super().hessian_vector_product(
            theta, vector, X, [target], [sample_weight], l2=l2, training=training,
            random_state=random_state)

    def __repr__(self):
        return (f"Network({self.stack.layers!r}, {self.head!r}, "
                f"n_features={self.n_features})")


class SoftmaxClassifierMixin:
    """``predict_proba``, ``predict_log_proba`` and ``predict`` of a network
    classifier from its ``_logits(X)`` (n_samples, n_classes) and ``classes_``."""

    def predict_proba(self, X):
        """Return the class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._logits(X), axis=1)

    def predict_log_proba(self, X):
        """Return the logarithm of :meth:`predict_proba`, by log-sum-exp on the
        logits (finite where the probability underflows to 0)."""
        return log_softmax(self._logits(X), axis=1)

    def predict(self, X):
        """Return the most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        logits = self._logits(X)  # checks the fit before classes_ is read
        return self.classes_[np.argmax(logits, axis=1)]
