"""Layers and heads: forward, backward and R-operator side by side.

Every layer maps a batch ``x`` of shape ``(n_rows, n_in)`` to ``y`` of shape
``(n_rows, n_out)`` with parameters ``w``, a 1-d view into the network's flat parameter
vector. Beside ``forward`` it gives

- ``backward``: from ``gy = dL/dy`` the gradient ``dL/dw`` (written in place into the
  matching view of the flat gradient) and ``gx = dL/dx``;
- ``r_forward`` and ``r_backward``: Pearlmutter's R-operator (Pearlmutter 1994),
  ``R{f} = d/dr f(theta + r v)`` at ``r = 0``. ``r_forward`` propagates the directional
  derivative of the activations, ``R{y} = J_x R{x} + J_w v``; ``r_backward``
  differentiates the backward pass, ``R{gx} = J_x' R{gy} + R{J_x'} gy``, so the
  R-gradients of all parameters are an exact Hessian-vector product ``H v``.

A head turns the last activations ``z`` (logits) into the loss
``sum_i c_i loss(z_i, t_i)`` with per-row coefficients ``c_i`` (sample weight over
batch size), its gradient in ``z`` and the R-operator of that gradient.
"""

import numpy as np
from scipy.special import expit

__all__ = [
    "Dense",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Logistic",
    "Identity",
    "Dropout",
    "GradientReversal",
    "SoftmaxCrossEntropy",
    "SoftTargetCrossEntropy",
    "SigmoidCrossEntropy",
    "SquaredLoss",
]


def _log_softmax(z):
    """Log-softmax along the last axis.

    Plain numpy: scipy.special.log_softmax costs several times more on the small
    minibatch arrays of these networks (array-API dispatch on every call). The
    reductions call the ufuncs' ``reduce`` (what ``np.max`` and ``np.sum`` call,
    so the same values) without their Python wrappers: these run tens of
    thousands of times a fit.
    """
    shifted = z - np.maximum.reduce(z, axis=-1, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=-1, keepdims=True))


def _softmax(z):
    """Softmax along the last axis (see :func:`_log_softmax`)."""
    proba = np.exp(z - np.maximum.reduce(z, axis=-1, keepdims=True))
    proba /= np.add.reduce(proba, axis=-1, keepdims=True)
    return proba


def _check_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}.")
    return int(value)


def _check_real(name, value, low, high, *, closed_high=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not (low <= value and (value <= high if closed_high else value < high)):
        right = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{right}, got {value!r}.")
    return value


class Layer:
    """Base layer without parameters: the identity map.

    Subclasses override the methods whose behaviour differs.
    """

    #: The initialisation scheme a preceding dense layer should use by default.
    init_hint = "glorot"

    def n_params(self, n_in):
        """Number of parameters for an input of ``n_in`` columns."""
        return 0

    def n_out(self, n_in):
        """Number of output columns for an input of ``n_in`` columns."""
        return n_in

    def penalty_mask(self, n_in):
        """Boolean mask of the parameters the L2 penalty applies to."""
        return np.zeros(self.n_params(n_in), dtype=bool)

    def init(self, w, n_in, rng, scheme):
        """Fill the parameter view ``w`` in place."""

    def forward(self, w, x, *, training=False, rng=None):
        """Return the output and the cache the other passes need."""
        return x, x

    def backward(self, w, cache, gy, grad_w, need_input=True):
        """Write ``dL/dw`` into ``grad_w`` and return ``dL/dx`` (or None)."""
        return gy if need_input else None

    def r_forward(self, w, v, cache, rx):
        """Return ``R{y}`` and the R-cache from ``R{x}`` and the direction ``v``.

        ``rx`` is None for the network input (its R-derivative is 0); plain layers
        keep ``rx`` itself as their R-cache.
        """
        return rx, rx

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        """Write ``R{dL/dw}`` into ``r_grad_w`` and return ``R{dL/dx}`` (or None).

        ``rx`` is the R-cache of :meth:`r_forward`, ``gy`` and ``rgy`` are ``dL/dy``
        and its R-derivative.
        """
        return rgy if need_input else None

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Layer):
    """Identity activation ``y = x``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Identity
    >>> Identity().forward(None, np.array([[1.0, -2.0]]))[0]
    array([[ 1., -2.]])
    """


class Dense(Layer):
    """Fully connected layer ``y = x W + b``.

    ``W`` has shape ``(n_in, n_units)`` and is stored row-major before ``b`` in the
    layer's slice of the flat parameter vector. The L2 penalty applies to ``W`` only.

    Parameters
    ----------
    n_units : int
        Number of output columns.
    init : {'auto', 'glorot', 'he'}, default='auto'
        Initialisation of ``W`` (``b`` starts at 0): Glorot uniform,
        ``U(-s, s)`` with ``s = sqrt(6 / (n_in + n_units))`` (Glorot & Bengio 2010),
        or He normal, ``N(0, 2 / n_in)`` (He et al. 2015). ``'auto'`` takes He before a
        (leaky) ReLU and Glorot otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Dense
    >>> w = np.array([1.0, 2.0, 0.5])   # W = [[1], [2]], b = [0.5]
    >>> Dense(1).forward(w, np.array([[1.0, 1.0]]))[0]
    array([[3.5]])
    """

    def __init__(self, n_units, *, init="auto"):
        self.n_units = _check_positive_int("n_units", n_units)
        if init not in ("auto", "glorot", "he"):
            raise ValueError(f"init must be 'auto', 'glorot' or 'he', got {init!r}.")
        self.init_scheme = init

    def n_params(self, n_in):
        return (n_in + 1) * self.n_units

    def n_out(self, n_in):
        return self.n_units

    def penalty_mask(self, n_in):
        mask = np.zeros(self.n_params(n_in), dtype=bool)
        mask[: n_in * self.n_units] = True
        return mask

    def _split(self, w):
        n_units = self.n_units
        n_in = w.size // n_units - 1
        return w[: n_in * n_units].reshape(n_in, n_units), w[n_in * n_units :]

    def init(self, w, n_in, rng, scheme):
        if self.init_scheme != "auto":
            scheme = self.init_scheme
        weights, bias = self._split(w)
        if scheme == "he":
            weights[...] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=weights.shape)
        else:
            bound = np.sqrt(6.0 / (n_in + self.n_units))
            weights[...] = rng.uniform(-bound, bound, size=weights.shape)
        bias[...] = 0.0

    def forward(self, w, x, *, training=False, rng=None):
        weights, bias = self._split(w)
        y = x @ weights
        y += bias
        return y, x

    def backward(self, w, cache, gy, grad_w, need_input=True):
        weights, _ = self._split(w)
        grad_weights, grad_bias = self._split(grad_w)
        np.matmul(cache.T, gy, out=grad_weights)
        np.add.reduce(gy, axis=0, out=grad_bias)
        return gy @ weights.T if need_input else None

    def r_forward(self, w, v, cache, rx):
        weights, _ = self._split(w)
        v_weights, v_bias = self._split(v)
        ry = cache @ v_weights
        ry += v_bias
        if rx is not None:
            ry += rx @ weights
        return ry, rx

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        weights, _ = self._split(w)
        v_weights, _ = self._split(v)
        r_weights, r_bias = self._split(r_grad_w)
        # R{x' gy} = R{x}' gy + x' R{gy}; R{gy W'} = R{gy} W' + gy V'.
        np.matmul(cache.T, rgy, out=r_weights)
        if rx is not None:
            r_weights += rx.T @ gy
        np.add.reduce(rgy, axis=0, out=r_bias)
        if not need_input:
            return None
        return rgy @ weights.T + gy @ v_weights.T

    def __repr__(self):
        return f"Dense({self.n_units}, init={self.init_scheme!r})"


class _Elementwise(Layer):
    """Activation ``y = s(x)`` applied entry by entry.

    Subclasses give ``s`` and its first two derivatives, written in ``x`` and ``y``.
    """

    def _value(self, x):
        raise NotImplementedError

    def _first(self, x, y):
        raise NotImplementedError

    def _second(self, x, y):
        # Zero almost everywhere for piecewise-linear activations.
        return None

    def forward(self, w, x, *, training=False, rng=None):
        y = self._value(x)
        return y, (x, y)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        return gy * self._first(*cache) if need_input else None

    def r_forward(self, w, v, cache, rx):
        if rx is None:
            return None, None
        return rx * self._first(*cache), rx

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        if not need_input:
            return None
        # R{s'(x) gy} = s''(x) R{x} gy + s'(x) R{gy}.
        rgx = rgy * self._first(*cache)
        second = self._second(*cache)
        if second is not None and rx is not None:
            rgx += second * rx * gy
        return rgx


class ReLU(_Elementwise):
    """Rectified linear unit ``y = max(x, 0)`` (derivative 0 at 0).

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import ReLU
    >>> ReLU().forward(None, np.array([[-1.0, 2.0]]))[0]
    array([[0., 2.]])
    """

    init_hint = "he"

    def _value(self, x):
        return np.maximum(x, 0.0)

    def _first(self, x, y):
        return (x > 0).astype(np.float64)


class LeakyReLU(_Elementwise):
    """Leaky rectified linear unit ``y = x`` for ``x > 0``, ``slope * x`` otherwise.

    Parameters
    ----------
    slope : float, default=0.01
        Slope on the negative side, in [0, 1). (A slope of 1 would be the identity,
        the defect of ``LeakyReLU(True)`` in some published code.)

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import LeakyReLU
    >>> LeakyReLU(slope=0.2).forward(None, np.array([[-1.0, 2.0]]))[0]
    array([[-0.2,  2. ]])
    """

    init_hint = "he"

    def __init__(self, slope=0.01):
        self.slope = _check_real("slope", slope, 0.0, 1.0)

    def _value(self, x):
        return np.where(x > 0, x, self.slope * x)

    def _first(self, x, y):
        return np.where(x > 0, 1.0, self.slope)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class Tanh(_Elementwise):
    """Hyperbolic tangent ``y = tanh(x)``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Tanh
    >>> Tanh().forward(None, np.array([[0.0]]))[0]
    array([[0.]])
    """

    def _value(self, x):
        return np.tanh(x)

    def _first(self, x, y):
        return 1.0 - y * y

    def _second(self, x, y):
        return -2.0 * y * (1.0 - y * y)


class Logistic(_Elementwise):
    """Logistic sigmoid ``y = 1 / (1 + exp(-x))``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Logistic
    >>> Logistic().forward(None, np.array([[0.0]]))[0]
    array([[0.5]])
    """

    def _value(self, x):
        return expit(x)

    def _first(self, x, y):
        return y * (1.0 - y)

    def _second(self, x, y):
        return y * (1.0 - y) * (1.0 - 2.0 * y)


class Dropout(Layer):
    """Inverted dropout: in training, zero each entry with probability ``rate``.

    Kept entries are scaled by ``1 / (1 - rate)`` so that the expected activation is
    unchanged; outside training the layer is the identity. The mask is drawn from the
    ``rng`` of the forward pass, so a seeded pass is reproducible, and the backward and
    R passes reuse it (the Hessian-vector product is that of the sampled network).

    Parameters
    ----------
    rate : float, default=0.5
        Probability of dropping an entry, in [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import Dropout
    >>> x = np.ones((1, 4))
    >>> Dropout(0.5).forward(None, x, training=False)[0]
    array([[1., 1., 1., 1.]])
    >>> y = Dropout(0.5).forward(None, x, training=True,
    ...                          rng=np.random.default_rng(0))[0]
    >>> np.unique(y)
    array([0., 2.])
    """

    def __init__(self, rate=0.5):
        self.rate = _check_real("rate", rate, 0.0, 1.0)

    def forward(self, w, x, *, training=False, rng=None):
        if not training or self.rate == 0.0:
            return x, None
        if rng is None:
            raise ValueError("Dropout in training needs a random generator (rng).")
        keep = 1.0 - self.rate
        mask = (rng.random(x.shape) < keep) / keep
        return x * mask, mask

    def backward(self, w, cache, gy, grad_w, need_input=True):
        if not need_input:
            return None
        return gy if cache is None else gy * cache

    def r_forward(self, w, v, cache, rx):
        if rx is None or cache is None:
            return rx, rx
        return rx * cache, rx

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        return self.backward(w, cache, rgy, r_grad_w, need_input)

    def __repr__(self):
        return f"Dropout(rate={self.rate})"


class GradientReversal(Layer):
    """Gradient reversal (Ganin & Lempitsky 2015): identity forward, ``-lambda`` back.

    The backward pass returns ``-weight * gy``, so the layers before it climb the loss
    of the layers after it. The "gradient" of a network holding this layer is not the
    gradient of one function; its R-operator is the Jacobian of that update field
    (``-weight`` times the R{gy} from above).

    Parameters
    ----------
    weight : float, default=1.0
        The factor ``lambda >= 0``; it can be changed between steps (ramp schedules).

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import GradientReversal
    >>> layer = GradientReversal(weight=0.5)
    >>> layer.backward(None, None, np.array([[2.0]]), None)
    array([[-1.]])
    """

    def __init__(self, weight=1.0):
        self.weight = _check_real("weight", weight, 0.0, np.inf)

    def backward(self, w, cache, gy, grad_w, need_input=True):
        return -self.weight * gy if need_input else None

    def r_backward(self, w, v, cache, rx, gy, rgy, r_grad_w, need_input=True):
        return -self.weight * rgy if need_input else None

    def __repr__(self):
        return f"GradientReversal(weight={self.weight})"


# --------------------------------------------------------------------------- heads


class Head:
    """Base head: the loss of the logits ``z`` against encoded targets."""

    def n_outputs(self, n_targets):
        """Number of logits for ``n_targets`` classes or target columns."""
        return n_targets

    def loss(self, z, target, coef):
        """Return ``sum_i coef_i loss(z_i, target_i)``."""
        raise NotImplementedError

    def gradient(self, z, target, coef):
        """Return the loss and its gradient in ``z``."""
        raise NotImplementedError

    def r_gradient(self, z, target, coef, rz):
        """Return ``R{dL/dz}``: the Hessian of the loss in ``z`` times ``R{z}``."""
        raise NotImplementedError

    def output(self, z):
        """Map logits to predictions (probabilities or values)."""
        return z

    def __repr__(self):
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Head):
    """Multinomial cross-entropy computed from the logits by log-sum-exp.

    ``loss = logsumexp(z) - z[t]`` with integer targets ``t`` in ``[0, n_classes)``;
    the softmax is applied once, inside the loss (the logits are not probabilities).

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import SoftmaxCrossEntropy
    >>> z = np.array([[0.0, 0.0]])
    >>> round(SoftmaxCrossEntropy().loss(z, np.array([1]), np.array([1.0])), 6)
    0.693147
    """

    def loss(self, z, target, coef):
        log_proba = _log_softmax(z)
        return -float(coef @ log_proba[np.arange(z.shape[0]), target])

    def gradient(self, z, target, coef):
        log_proba = _log_softmax(z)
        rows = np.arange(z.shape[0])
        loss = -float(coef @ log_proba[rows, target])
        grad = np.exp(log_proba)
        grad[rows, target] -= 1.0
        grad *= coef[:, None]
        return loss, grad

    def r_gradient(self, z, target, coef, rz):
        # Hessian of logsumexp: diag(p) - p p'.
        proba = _softmax(z)
        centred = rz - np.add.reduce(proba * rz, axis=1, keepdims=True)
        return proba * centred * coef[:, None]

    def output(self, z):
        return _softmax(z)


class SigmoidCrossEntropy(Head):
    """Binary cross-entropy from one logit per row: ``log(1 + e^z) - t z``.

    Targets ``t`` are 0 or 1, in an array of shape ``(n_rows,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import SigmoidCrossEntropy
    >>> z = np.array([[0.0]])
    >>> round(SigmoidCrossEntropy().loss(z, np.array([1.0]), np.array([1.0])), 6)
    0.693147
    """

    def n_outputs(self, n_targets):
        return 1

    def loss(self, z, target, coef):
        z = z[:, 0]
        return float(coef @ (np.logaddexp(0.0, z) - target * z))

    def gradient(self, z, target, coef):
        loss = self.loss(z, target, coef)
        return loss, ((expit(z[:, 0]) - target) * coef)[:, None]

    def r_gradient(self, z, target, coef, rz):
        proba = expit(z[:, 0])
        return (proba * (1.0 - proba) * coef)[:, None] * rz

    def output(self, z):
        return expit(z)


class SquaredLoss(Head):
    """Half squared error summed over the target columns: ``||z - t||^2 / 2``.

    Targets ``t`` have shape ``(n_rows, n_outputs)``.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import SquaredLoss
    >>> SquaredLoss().loss(np.array([[3.0]]), np.array([[1.0]]), np.array([1.0]))
    2.0
    """

    def loss(self, z, target, coef):
        residual = z - target
        return 0.5 * float(coef @ np.sum(residual * residual, axis=1))

    def gradient(self, z, target, coef):
        residual = z - target
        loss = 0.5 * float(coef @ np.sum(residual * residual, axis=1))
        return loss, residual * coef[:, None]

    def r_gradient(self, z, target, coef, rz):
        return rz * coef[:, None]


class SoftTargetCrossEntropy(SoftmaxCrossEntropy):
    """Multinomial cross-entropy against soft targets: ``logsumexp(z) - q'z``.

    Targets ``q`` are probability rows of shape ``(n_rows, n_classes)`` (generated
    labels, say). The gradient is ``softmax(z) - q``; the Hessian in ``z`` does not
    depend on ``q``, so the R-operator is that of :class:`SoftmaxCrossEntropy`.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.neural_network import SoftTargetCrossEntropy
    >>> z, q = np.array([[0.0, 0.0]]), np.array([[0.5, 0.5]])
    >>> round(SoftTargetCrossEntropy().loss(z, q, np.array([1.0])), 6)
    0.693147
    """

    def loss(self, z, target, coef):
        return -float(coef @ np.add.reduce(target * _log_softmax(z), axis=1))

    def gradient(self, z, target, coef):
        log_proba = _log_softmax(z)
        loss = -float(coef @ np.add.reduce(target * log_proba, axis=1))
        return loss, (np.exp(log_proba) - target) * coef[:, None]
