"""Simulators of the published experiments."""

import functools
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._utils import StrictInterval, check_array_budget


@validate_params(
    {
        "n_samples": [StrictInterval(Integral, 1, None, closed="left")],
        "n_features": [StrictInterval(Integral, 1, None, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_correlated_logistic(n_samples=1000, n_features=19, *, rho=0.3,
                             random_state=None):
    """Simulate a logistic model with equicorrelated Gaussian covariates.

    Rows are ``x ~ N(0, (1 - rho) I + rho 1 1')``; the true parameters (intercept and
    ``n_features`` slopes) are drawn from ``U(-1, 1)``; labels are Bernoulli with
    probability ``1 / (1 + exp(-(beta_0 + x' beta)))``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    n_features : int, default=19
        Number of covariates (the intercept comes on top).
    rho : float, default=0.3
        Correlation between any two covariates, in [0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Covariates.
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    coef : ndarray of shape (n_features + 1,)
        True parameters, the intercept first.

    Examples
    --------
    >>> from statopt.datasets import make_correlated_logistic
    >>> X, y, coef = make_correlated_logistic(500, 5, rho=0.3, random_state=0)
    >>> X.shape, y.shape, coef.shape
    ((500, 5), (500,), (6,))
    >>> float(round(np.corrcoef(X[:, 0], X[:, 1])[0, 1], 1))
    0.3
    """
    check_array_budget(n_samples * n_features, "n_samples * n_features")
    rng = check_random_state(random_state)
    coef = rng.uniform(-1.0, 1.0, size=n_features + 1)
    # (1 - rho) I + rho 11' is the covariance of sqrt(1 - rho) e + sqrt(rho) s 1.
    shared = rng.standard_normal((n_samples, 1))
    X = np.sqrt(1.0 - rho) * rng.standard_normal((n_samples, n_features))
    X += np.sqrt(rho) * shared
    logits = coef[0] + X @ coef[1:]
    y = (rng.uniform(size=n_samples) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
    return X, y, coef


def _calibrate(rate, draws, make_indicator, low=-50.0, high=50.0):
    """Shift ``s`` such that ``make_indicator(draws, s).mean() == rate`` (bisection)."""
    for _ in range(100):
        middle = 0.5 * (low + high)
        if make_indicator(draws, middle).mean() > rate:
            high = middle
        else:
            low = middle
    return 0.5 * (low + high)


def _published_model(rng, n_samples):
    z1 = rng.standard_normal(n_samples)
    z2 = rng.uniform(-3.0, 3.0, n_samples)
    response = 4.5 * z1 - 2.0 * z2 + rng.standard_normal(n_samples)
    return z1, z2, response


@functools.lru_cache(maxsize=64)
def _calibration(censoring_rate, missing_rate, censoring):
    """Constants that give the requested rates, from a fixed auxiliary sample."""
    calibration = np.random.RandomState(20_140_923)
    z1_draws, _, response_draws = _published_model(calibration, 200_000)
    spread = response_draws.std()
    shift = limit = None
    if censoring == "random":
        censor_noise = calibration.standard_normal(200_000) * spread
        shift = _calibrate(1.0 - censoring_rate, (response_draws, censor_noise),
                           lambda d, s: d[0] <= d[1] + s)
        time_draws = np.minimum(response_draws, censor_noise + shift)
    else:
        limit = np.quantile(response_draws, 1.0 - censoring_rate)
        time_draws = np.minimum(response_draws, limit)
    center, scale = time_draws.mean(), time_draws.std()
    uniform_draws = calibration.uniform(size=200_000)
    score_draws = (time_draws - center) / scale + 0.5 * z1_draws
    intercept = _calibrate(1.0 - missing_rate, (score_draws, uniform_draws),
                           lambda d, s: d[1] < 1.0 / (1.0 + np.exp(-(d[0] + s))))
    return spread, shift, limit, center, scale, intercept


@validate_params(
    {
        "n_samples": [StrictInterval(Integral, 2, None, closed="left")],
        "censoring_rate": [Interval(Real, 0, 1, closed="left")],
        "missing_rate": [Interval(Real, 0, 1, closed="left")],
        "censoring": [StrOptions({"random", "fixed_quantile"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_censored_quantile_data(n_samples=500, *, censoring_rate=0.25,
                                missing_rate=0.3, censoring="random",
                                random_state=None):
    """Simulate the published censored, partly missing quantile regression model.

    ``Y = 4.5 Z1 - 2 Z2 + r`` with ``Z1 ~ N(0, 1)``, ``Z2 ~ U(-3, 3)`` and
    ``r ~ N(0, 1)``, so the conditional ``q``-quantile is
    ``Phi^{-1}(q) + 4.5 Z1 - 2 Z2``. Then:

    - right censoring at rate ``censoring_rate``: ``'random'`` draws an independent
      censoring time ``C ~ N(mu, var(Y))`` (``mu`` set for the rate), under which
      inverse censoring weights are consistent; ``'fixed_quantile'`` censors at the
      ``1 - censoring_rate`` quantile of ``Y``, under which the quantiles of
      ``Y`` above it are not identifiable;
    - ``Z2`` missing at random with probability ``missing_rate`` on average, the
      probability of being observed being logistic in the observed time and ``Z1``
      (slopes 1 and 0.5 on standardised scales).

    Parameters
    ----------
    n_samples : int, default=500
        Number of rows.
    censoring_rate : float, default=0.25
        Share of censored responses, in [0, 1).
    missing_rate : float, default=0.3
        Share of rows with ``Z2`` missing, in [0, 1).
    censoring : {'random', 'fixed_quantile'}, default='random'
        Censoring mechanism.
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation. The constants that set the rates are calibrated
        once on a fixed auxiliary sample, so they do not depend on it.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        ``Z1`` and ``Z2``, NaN where ``Z2`` is missing.
    y : structured ndarray of shape (n_samples,)
        Censored target (fields ``event`` and ``time``); times may be negative.
    coef : ndarray of shape (2,)
        True slopes ``(4.5, -2)`` (the intercept of the ``q``-quantile is
        ``scipy.stats.norm.ppf(q)``).

    Examples
    --------
    >>> from statopt.datasets import make_censored_quantile_data
    >>> X, y, coef = make_censored_quantile_data(4000, censoring_rate=0.25,
    ...                                          missing_rate=0.3, random_state=0)
    >>> censored = 1 - y["event"].mean()
    >>> missing = np.isnan(X[:, 1]).mean()
    >>> bool(abs(censored - 0.25) < 0.02), bool(abs(missing - 0.3) < 0.02)
    (True, True)
    """
    from ..survival import make_survival_target

    spread, shift, limit, center, scale, intercept = _calibration(
        censoring_rate, missing_rate, censoring)
    check_array_budget(2 * n_samples, "n_samples")
    rng = check_random_state(random_state)
    z1, z2, response = _published_model(rng, n_samples)
    if censoring == "random":
        censor = rng.standard_normal(n_samples) * spread + shift
    else:
        censor = np.full(n_samples, limit)
    event = response <= censor
    time = np.where(event, response, censor)
    score = (time - center) / scale + 0.5 * z1
    observed = rng.uniform(size=n_samples) < 1.0 / (1.0 + np.exp(-(score + intercept)))
    X = np.column_stack([z1, np.where(observed, z2, np.nan)])
    return X, make_survival_target(event, time, allow_negative=True), np.array(
        [4.5, -2.0])


# Lee, Shen, Huang & Marron (2010), rank one: u and v before normalisation, d = 50.
_LSHM_LEFT = np.r_[np.arange(10, 2, -1), np.full(17, 2.0), np.zeros(75)]
_LSHM_RIGHT = np.r_[10, -10, 8, -8, 5, -5, np.full(5, 3.0), np.full(5, -3.0),
                    np.zeros(34)]
# The lung-sized model: 12,625 genes x 56 samples, rank 3, 50 genes per component;
# the right vectors load on blocks of 20, 13 and 17 samples, the sizes of three of
# the four tumour groups of the lung data (the 6 small-cell samples carry none).
_LUNG_SHAPE = (12625, 56)
_LUNG_SINGULAR_VALUES = (200.0, 150.0, 100.0)
_LUNG_RIGHT_BLOCKS = (20, 13, 17)
_LUNG_LEFT_SIZE = 50


def _decaying_vector(length, positions, rng, *, low, signs):
    """Unit vector with magnitudes decaying from 1 to ``low`` on ``positions``."""
    vector = np.zeros(length)
    values = np.linspace(1.0, low, len(positions))
    if signs:
        values *= rng.choice([-1.0, 1.0], size=len(positions))
    vector[positions] = values
    return vector / np.linalg.norm(vector)


@validate_params(
    {
        "model": [StrOptions({"random", "lshm", "lung"})],
        "n_samples": [StrictInterval(Integral, 2, None, closed="left"), None],
        "n_features": [StrictInterval(Integral, 2, None, closed="left"), None],
        "singular_values": ["array-like", None],
        "n_nonzero_left": [StrictInterval(Integral, 1, None, closed="left"), None],
        "n_nonzero_right": [StrictInterval(Integral, 1, None, closed="left"), None],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sparse_svd_data(model="random", *, n_samples=None, n_features=None,
                         singular_values=None, n_nonzero_left=None,
                         n_nonzero_right=None, noise=1.0, random_state=None):
    """Simulate X = U diag(d) V' + noise with sparse orthonormal U and V.

    Three models:

    - ``'lshm'``: the rank-one 100 x 50 case of Lee, Shen, Huang & Marron (2010):
      u proportional to (10, 9, ..., 3, 2 (17 times), 0 (75 times)), v proportional to
      (10, -10, 8, -8, 5, -5, 3 (5 times), -3 (5 times), 0 (34 times)), d = 50.
    - ``'lung'``: the size of the lung cancer data, 12,625 x 56, rank 3 with
      d = (200, 150, 100); each left vector has 50 nonzero entries at random rows
      (magnitudes decaying from 1 to 0.2, random signs), the right vectors load
      on the disjoint column blocks 0-19, 20-32 and 33-49 (magnitudes decaying from
      1 to 0.5). Plain truncated SVD recovers U poorly here (squared sine about
      0.55), because 12,625 noise rows drown the third component.
    - ``'random'``: your sizes; the supports are disjoint random rows and columns,
      magnitudes decay from 1 to 0.2 with random signs.

    Parameters
    ----------
    model : {'random', 'lshm', 'lung'}, default='random'
        Which model; the size parameters below apply to ``'random'`` only.
    n_samples : int, default=None
        Rows (``'random'``; default 200).
    n_features : int, default=None
        Columns (``'random'``; default 100).
    singular_values : array-like of shape (n_components,), default=None
        Signal strengths; defaults: (50,) for ``'lshm'``, (200, 150, 100) for
        ``'lung'``, (20,) for ``'random'``.
    n_nonzero_left : int, default=None
        Nonzero entries of each left vector (``'random'``; default 20).
    n_nonzero_right : int, default=None
        Nonzero entries of each right vector (``'random'``; default 10).
    noise : float, default=1.0
        Standard deviation of the iid Gaussian noise.
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The noisy matrix.
    U : ndarray of shape (n_samples, n_components)
        True left singular vectors (orthonormal columns).
    singular_values : ndarray of shape (n_components,)
        True singular values.
    V : ndarray of shape (n_features, n_components)
        True right singular vectors (orthonormal columns).

    Examples
    --------
    >>> from statopt.datasets import make_sparse_svd_data
    >>> X, U, d, V = make_sparse_svd_data("lshm", random_state=0)
    >>> X.shape, int((U != 0).sum()), int((V != 0).sum()), d
    ((100, 50), 25, 16, array([50.]))
    """
    rng = check_random_state(random_state)
    if model != "random" and any(value is not None for value in (
            n_samples, n_features, n_nonzero_left, n_nonzero_right)):
        raise ValueError(f"model={model!r} has a fixed shape and supports; pass "
                         "the size parameters with model='random' only.")
    default_d = {"lshm": (50.0,), "lung": _LUNG_SINGULAR_VALUES, "random": (20.0,)}
    d = _check_singular_values(
        singular_values if singular_values is not None else default_d[model])
    n_components = d.size
    if model == "lshm":
        if n_components != 1:
            raise ValueError("model='lshm' has rank 1: pass 1 singular value.")
        U = (_LSHM_LEFT / np.linalg.norm(_LSHM_LEFT))[:, None]
        V = (_LSHM_RIGHT / np.linalg.norm(_LSHM_RIGHT))[:, None]
    else:
        if model == "lung":
            n_samples, n_features = _LUNG_SHAPE
            left_sizes = (_LUNG_LEFT_SIZE,) * 3
            right_blocks = np.split(np.arange(sum(_LUNG_RIGHT_BLOCKS)),
                                    np.cumsum(_LUNG_RIGHT_BLOCKS)[:-1])
        else:
            n_samples = 200 if n_samples is None else n_samples
            n_features = 100 if n_features is None else n_features
            check_array_budget(n_samples * n_features, "n_samples * n_features")
        if model == "lung":
            if n_components != 3:
                raise ValueError("model='lung' has rank 3: pass 3 singular values.")
            right_low = 0.5
        else:
            left_size = 20 if n_nonzero_left is None else n_nonzero_left
            right_size = 10 if n_nonzero_right is None else n_nonzero_right
            if left_size * n_components > n_samples or (
                    right_size * n_components > n_features):
                raise ValueError(
                    f"{n_components} disjoint supports of {left_size} rows and "
                    f"{right_size} columns do not fit in a {n_samples} x {n_features} "
                    "matrix; ask for smaller supports or fewer components.")
            left_sizes = (left_size,) * n_components
            right_blocks = np.split(
                rng.permutation(n_features)[:right_size * n_components], n_components)
            right_low = 0.2
        left_rows = np.split(rng.permutation(n_samples)[:sum(left_sizes)],
                             np.cumsum(left_sizes)[:-1])
        U = np.column_stack([_decaying_vector(n_samples, rows, rng, low=0.2,
                                              signs=True) for rows in left_rows])
        V = np.column_stack([
            _decaying_vector(n_features, columns, rng, low=right_low,
                             signs=model == "random") for columns in right_blocks])
    with np.errstate(over="ignore", invalid="ignore"):
        X = (U * d) @ V.T + noise * rng.standard_normal((U.shape[0], V.shape[0]))
    if not np.isfinite(X).all():
        raise ValueError(f"singular values up to {d.max():g} and noise {noise:g} "
                         "overflow float64: scale them down.")
    return X, U, d, V


def _check_singular_values(singular_values):
    try:
        d = np.asarray(singular_values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError("singular_values should be a sequence of positive numbers, "
                         f"got {singular_values!r}.") from error
    if d.ndim != 1 or d.size == 0 or not np.all((d > 0) & np.isfinite(d)):
        raise ValueError("singular_values should be a non-empty 1d sequence of "
                         f"positive finite numbers, got {singular_values!r}.")
    return d


@validate_params(
    {
        "n_samples": [StrictInterval(Integral, 2, None, closed="left")],
        "n_topics": [StrictInterval(Integral, 2, None, closed="left")],
        "n_views": ["array-like"],
        "n_features_per_view": [StrictInterval(Integral, 1, None, closed="left"),
                                "array-like"],
        "separation": [StrictInterval(Real, 0, np.finfo(np.float64).max,
                                      closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_cross_modal_data(n_samples=500, *, n_topics=4, n_views=(2, 2),
                          n_features_per_view=10, separation=3.0,
                          random_state=None):
    """Simulate paired image-text items whose topic lives in cross-view products.

    Each item has a topic c (uniform over ``n_topics``) and, per modality, a hidden
    sign s = +-1 (independent between modalities). View v of the modality is
    ``x_v = s mu_{v,c} + N(0, I)``, with topic means mu of norm ``separation``.
    Within a modality the sign flips every view together, so any linear function
    of the views averages the topic out, while the product of two views'
    projections carries s^2 = 1 and reveals it: the multiplicative model sees the
    topics and linear methods such as CCA and PLS cannot.

    Parameters
    ----------
    n_samples : int, default=500
        Number of items.
    n_topics : int, default=4
        Number of topics (labels).
    n_views : tuple of two int, default=(2, 2)
        Views of the image and the text modality; at least 2 each for the
        interaction to matter.
    n_features_per_view : int or array-like of int, default=10
        Columns of each view: one number for all, or one per view (image views
        first), as in wide benchmarks whose views range from 6 to 240 columns.
    separation : float, default=3.0
        Norm of the topic means (the noise has unit variance per column).
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation.

    Returns
    -------
    X : ndarray of shape (n_samples, total columns of the views)
        The views side by side: the image views, then the text views.
    y : ndarray of shape (n_samples,)
        Topics, 0 to ``n_topics - 1``.
    views : list of ndarray
        Column indices of each view.
    modalities : list of str
        'image' or 'text' for each view.

    Examples
    --------
    >>> from statopt.datasets import make_cross_modal_data
    >>> X, y, views, modalities = make_cross_modal_data(100, random_state=0)
    >>> X.shape, modalities
    ((100, 40), ['image', 'image', 'text', 'text'])
    """
    counts = list(np.ravel(np.asarray(n_views, dtype=object)))
    if len(counts) != 2 or not all(
            isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1
            for v in counts):
        raise ValueError("n_views should give the number of image and of text views, "
                         f"two ints, each at least 1; got {n_views!r}.")
    n_views = tuple(int(v) for v in counts)
    widths = _view_widths(n_features_per_view, sum(n_views))
    check_array_budget(max(n_samples, n_topics) * int(widths.sum()),
                       "n_samples, n_topics, n_views or n_features_per_view")
    rng = check_random_state(random_state)
    topics = rng.randint(n_topics, size=n_samples)
    blocks, modalities = [], []
    view_widths = iter(widths.tolist())
    for modality, count in zip(("image", "text"), n_views):
        signs = rng.choice([-1.0, 1.0], size=n_samples)
        for _ in range(count):
            width = next(view_widths)
            means = rng.standard_normal((n_topics, width))
            norms = np.linalg.norm(means, axis=1, keepdims=True)
            with np.errstate(over="ignore"):
                factors = separation / norms
            # Near float64's maximum, separation / norm overflows: unit norm first.
            means = (means * factors if np.isfinite(factors).all()
                     else means / norms * separation)
            blocks.append(signs[:, None] * means[topics]
                          + rng.standard_normal((n_samples, width)))
            modalities.append(modality)
    X = np.hstack(blocks)
    views = np.split(np.arange(X.shape[1]), np.cumsum(widths)[:-1])
    return X, topics, views, modalities


def _view_widths(n_features_per_view, n_views):
    """Columns of each of ``n_views`` views, validated: one int for all, or one each."""
    if isinstance(n_features_per_view, Integral):
        return np.full(n_views, int(n_features_per_view))
    widths = np.ravel(np.asarray(n_features_per_view, dtype=object))
    if widths.size != n_views or not all(
            isinstance(w, Integral) and not isinstance(w, (bool, np.bool_)) and w >= 1
            for w in widths):
        raise ValueError(f"n_features_per_view should be one int >= 1, or {n_views} "
                         "of them (one per view, image views first); got "
                         f"{n_features_per_view!r}.")
    return widths.astype(np.int64)


@validate_params(
    {
        "agreement": [Interval(Real, 0, 1, closed="both")],
        "event_scale": [Interval(Real, 0, None, closed="left")],
        "signatures": [StrOptions({"onehot", "random"})],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_event_shortcut(*, agreement=0.9, event_scale=1.0, signatures="onehot",
                        test_size=0.3, random_state=None):
    """Digits with event columns that are a shortcut to the label in training only.

    scikit-learn's 8x8 digits (pixels scaled to [0, 1]) get 5 event columns. Each
    row belongs to an event, which writes its signature into those columns: with
    ``signatures='onehot'`` a training event ``k`` in 0..4 writes ``event_scale``
    into column ``k``; with ``'random'`` every event has a random unit vector times
    ``event_scale`` (events then share columns, as topics share words). In
    training the event is ``y // 2`` with probability ``agreement`` and uniform
    otherwise, so the event columns predict the label. The test rows come twice,
    with the same pixels: in (A) their events are training events drawn
    independently of the label; in (B) they are unseen events 5..9, whose signatures
    are random unit vectors times ``event_scale`` over the same 5 columns. A model
    that leans on the event columns loses accuracy on both.

    Parameters
    ----------
    agreement : float, default=0.9
        Probability that a training row's event is ``y // 2``.
    event_scale : float, default=1.0
        Size of the event signatures (pixels lie in [0, 1]).
    signatures : {'onehot', 'random'}, default='onehot'
        Signatures of the training events; unseen events always get random ones.
    test_size : float, default=0.3
        Share of the digits held out (stratified by label) for the test sets.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the events and the unseen signatures.

    Returns
    -------
    data : Bunch
        ``X_train, y_train, events_train`` and, for ``s`` in ``a`` and ``b``,
        ``X_test_s, y_test_s, events_test_s`` (69 columns: 64 pixels, then the 5
        event columns); ``event_columns``, the indices of the event columns.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.datasets import make_event_shortcut
    >>> data = make_event_shortcut(random_state=0)
    >>> data.X_train.shape, data.X_test_a.shape, np.unique(data.events_test_b).tolist()
    ((1257, 69), (540, 69), [5, 6, 7, 8, 9])
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.utils import Bunch

    rng = check_random_state(random_state)
    pixels, y = load_digits(return_X_y=True)
    pixels = pixels / 16.0
    train, test = train_test_split(np.arange(y.size), test_size=test_size,
                                   stratify=y, random_state=rng.randint(2**31 - 1))
    n_events = 5
    unseen = rng.normal(size=(n_events, n_events))
    unseen /= np.linalg.norm(unseen, axis=1, keepdims=True)
    if signatures == "onehot":
        seen = np.eye(n_events)
    else:
        seen = rng.normal(size=(n_events, n_events))
        seen /= np.linalg.norm(seen, axis=1, keepdims=True)
    signatures = event_scale * np.vstack([seen, unseen])
    agree = rng.uniform(size=train.size) < agreement
    events_train = np.where(agree, y[train] // 2, rng.randint(n_events,
                                                             size=train.size))
    events_a = rng.randint(n_events, size=test.size)
    events_b = n_events + rng.randint(n_events, size=test.size)

    def with_events(rows, events):
        return np.hstack([pixels[rows], signatures[events]])

    return Bunch(
        X_train=with_events(train, events_train), y_train=y[train],
        events_train=events_train,
        X_test_a=with_events(test, events_a), y_test_a=y[test], events_test_a=events_a,
        X_test_b=with_events(test, events_b), y_test_b=y[test], events_test_b=events_b,
        event_columns=np.arange(pixels.shape[1], pixels.shape[1] + n_events),
    )


@validate_params(
    {
        "n_primary_per_class": [Interval(Integral, 1, None, closed="left")],
        "n_auxiliary": [Interval(Integral, 1, None, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_auxiliary_tasks(*, n_primary_per_class=5, n_auxiliary=800, rho=0.0,
                         random_state=None):
    """Digits with few primary labels and a pool labelled by auxiliary tasks.

    scikit-learn's 8x8 digits (pixels scaled to [0, 1]) are split three ways:
    ``n_primary_per_class`` rows of each digit carry the primary label (the digit),
    ``n_auxiliary`` further rows carry only auxiliary labels (``y = -1``, scikit-
    learn's semi-supervised convention), and the remaining rows are the held-out
    primary test set. Every training row gets three auxiliary labels: the parity of
    the digit, whether it is ``>= 5``, both flipped independently with probability
    ``rho``, and a pure-noise coin that carries no information on the digit.

    Parameters
    ----------
    n_primary_per_class : int, default=5
        Labelled primary rows of each of the 10 digits.
    n_auxiliary : int, default=800
        Rows of the auxiliary pool (without a primary label).
    rho : float, default=0.0
        Probability of flipping each parity and ``>= 5`` label (0.5 makes them noise).
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the flips and the noise task.

    Returns
    -------
    data : Bunch
        ``X`` (primary rows first, then the pool), ``y`` (digit, -1 on the pool),
        ``auxiliary_targets`` of shape ``(n_rows, 3)`` (the argument of
        ``AuxiliaryLearningClassifier.fit``), ``X_test, y_test`` (held-out digits
        with their primary label), ``task_names`` and ``useful`` (which auxiliary
        tasks carry information on the digit).

    Examples
    --------
    >>> from statopt.datasets import make_auxiliary_tasks
    >>> data = make_auxiliary_tasks(rho=0.25, random_state=0)
    >>> data.X.shape, int((data.y >= 0).sum()), data.auxiliary_targets.shape
    ((850, 64), 50, (850, 3))
    >>> data.task_names
    ['parity', '>= 5', 'noise']
    """
    from sklearn.datasets import load_digits
    from sklearn.utils import Bunch

    rng = check_random_state(random_state)
    pixels, digits = load_digits(return_X_y=True)
    pixels = pixels / 16.0
    order = rng.permutation(digits.size)
    primary = np.concatenate([order[digits[order] == c][:n_primary_per_class]
                              for c in range(10)])
    rest = np.setdiff1d(order, primary, assume_unique=True)
    rest = rest[rng.permutation(rest.size)]
    if n_auxiliary >= rest.size:
        raise ValueError(f"n_auxiliary={n_auxiliary} leaves no test row: the digits "
                         f"have {rest.size} rows besides the primary ones.")
    pool, test = rest[:n_auxiliary], rest[n_auxiliary:]
    train = np.concatenate([primary, pool])
    clean = np.column_stack([digits[train] % 2, digits[train] >= 5]).astype(float)
    flips = rng.uniform(size=clean.shape) < rho
    noise = rng.randint(2, size=train.size).astype(float)
    y = np.concatenate([digits[primary], np.full(pool.size, -1)])
    return Bunch(
        X=pixels[train], y=y,
        auxiliary_targets=np.column_stack([np.where(flips, 1.0 - clean, clean),
                                           noise]),
        X_test=pixels[test], y_test=digits[test],
        task_names=["parity", ">= 5", "noise"],
        useful=np.array([rho < 0.5, rho < 0.5, False]),
    )
