"""FITSSVD: the fast iterative thresholding sparse SVD as a scikit-learn transformer."""

import functools
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._utils import (
    StrictInterval,
    blas_thread_limit,
    quiet_finiteness_check,
    warn_at_caller,
)
from ._operands import DenseMatrix, as_matrix, check_dask_matrix, is_dask_array
from ._sparse_svd import (
    estimate_noise_level,
    fit_sparse_svd,
    prepare_matrix,
    screened_block,
)

# Largest rank n_components='auto' returns.
MAX_AUTO_COMPONENTS = 10
# Pure-noise matrices screened to calibrate the rank threshold (fixed seed).
NULL_REPEATS = 3

# n_components='auto' screens pure-noise matrices of X's shape, in memory; for
# sparse or dask input beyond this many entries that would densify X's size.
MAX_AUTO_NOISE_SIZE = 50_000_000
# Sparse formats taken as they are (others are converted to the first).
SPARSE_FORMATS = ("csr", "csc")

# Bootstrap resamples are held in memory at once (8 bytes each), and past a few
# thousand the median of the maximum no longer moves.
MAX_BOOTSTRAP = 100_000

_PARAMETERS = {
    "threshold": [StrOptions({"bootstrap", "theory"}),
                  Interval(Real, 0, None, closed="left")],
    "thresholding": [StrOptions({"hard", "soft"})],
    "init": [StrOptions({"theory", "holm"})],
    "noise_level": [Interval(Real, 0, None, closed="left"),
                    StrOptions({"mad", "median_singular_value"}), None],
    "sparse": [StrOptions({"left", "right", "both"})],
    "n_bootstrap": [StrictInterval(Integral, 1, MAX_BOOTSTRAP, closed="both")],
    "max_iter": [StrictInterval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
}


def _check_matrix(X, n_components):
    """Refuse inputs FIT-SSVD cannot decompose, with what to change."""
    X = as_matrix(X)
    if n_components > min(X.shape):
        raise ValueError(
            f"n_components={n_components} exceeds min(n_samples, n_features)="
            f"{min(X.shape)} for X of shape {X.shape}; ask for fewer components.")
    if X.largest() == 0:
        raise ValueError("X is all zeros: there is no singular vector to estimate.")


def _fit(X, n_components, params, random_state):
    """FIT-SSVD on BLAS's single thread (see :func:`_fit_on_this_thread`)."""
    # The products are tall and thin (X by n_components columns) and the SVDs
    # small: two BLAS threads on the shared 2-core machine made fits an order of
    # magnitude slower, not faster.
    with blas_thread_limit():
        return _fit_on_this_thread(X, n_components, params, random_state)


def _fit_on_this_thread(X, n_components, params, random_state):
    """FIT-SSVD with the estimator's parameters (``params``: the _PARAMETERS keys).

    Returns the solver's result with ``singular_values`` and ``noise_level`` in the
    units of X, and ``n_components`` and ``rank_statistics`` (None unless
    ``n_components='auto'``).
    """
    _check_matrix(X, 1 if n_components == "auto" else n_components)
    X = as_matrix(X)
    if (n_components == "auto" and not isinstance(X, DenseMatrix)
            and X.size > MAX_AUTO_NOISE_SIZE):
        raise ValueError(
            f"n_components='auto' calibrates its threshold on dense noise matrices of "
            f"X's shape {X.shape}, too large to hold for sparse or dask input; pass "
            "an integer n_components (or select the rank on a subsample of rows).")
    X, scale = prepare_matrix(X)
    params = dict(params)
    if params["noise_level"] is None or isinstance(params["noise_level"], str):
        params["noise_level"] = estimate_noise_level(X, params["noise_level"])
    else:
        params["noise_level"] /= scale
    rank_statistics = block = None
    if n_components == "auto":
        n_components, rank_statistics, block = _select_rank(X, params)
    result = fit_sparse_svd(X, n_components, rng=check_random_state(random_state),
                            block=block, **params)
    with np.errstate(over="ignore"):
        result["singular_values"] = result["singular_values"] * scale
    if not np.isfinite(result["singular_values"]).all():
        raise ValueError(
            "The singular values of X exceed float64's range; divide X by a "
            "constant (e.g. its largest absolute entry) before fitting.")
    result["noise_level"] *= scale
    result["n_components"] = n_components
    result["rank_statistics"] = rank_statistics
    return result


def _check_input(X, estimator=None, reset=True):
    """Validated X for fit (``estimator``: validate_data, else check_array).

    A dask array stays lazy (checked in one pass: finite, chunked by rows); a
    scipy.sparse matrix stays sparse (CSR or CSC, float64).
    """
    if is_dask_array(X):
        if estimator is not None:
            validate_data(estimator, X, skip_check_array=True, reset=reset)
        return check_dask_matrix(X)
    options = dict(accept_sparse=SPARSE_FORMATS, dtype=np.float64, order="C",
                   ensure_min_samples=2)
    with quiet_finiteness_check():
        if estimator is None:
            return check_array(X, **options)
        return validate_data(estimator, X, reset=reset, **options)


def optimal_hard_threshold(ratio):
    """lambda*(ratio) of Gavish & Donoho (2014): the optimal hard threshold of the
    singular values of an m x n matrix (m / n = ratio <= 1) with noise level 1, in
    units of sqrt(n). Singular values below it cannot be told from noise well
    enough to improve a low-rank estimate; it lies above the noise's bulk edge
    1 + sqrt(ratio), which leaves room for the edge's fluctuations."""
    return math.sqrt(2 * (ratio + 1) + 8 * ratio / (
        ratio + 1 + math.sqrt(ratio**2 + 14 * ratio + 1)))


def _block_spectrum(X, init, noise_level, sparse):
    """Screened block (rows, columns), its SVD, and its Gavish-Donoho threshold."""
    X = as_matrix(X)
    rows, columns = screened_block(X, 1, init, noise_level, sparse)
    left, values, right_t = np.linalg.svd(X.block(rows, columns), full_matrices=False)
    short, long = sorted((rows.size, columns.size))
    level = noise_level * optimal_hard_threshold(short / long) * math.sqrt(long)
    return (rows, columns, left, right_t), values, level


@functools.lru_cache(maxsize=16)
def _selection_inflation(shape, init, sparse):
    """How far screening lifts the top singular value of pure noise above the
    Gavish-Donoho threshold of the block it selects (at least 1).

    Screening keeps the rows and columns whose noise happens to be large, so a
    noise-only block has a larger top singular value than unselected noise of
    its shape. The factor is the largest over ``NULL_REPEATS`` standard normal
    matrices of X's shape, drawn with a fixed seed: it depends on the shape and
    the screening rule only, so the selected rank is the same for every
    random_state (and cached per shape).
    """
    rng = np.random.default_rng(0)
    inflation = 1.0
    for _ in range(NULL_REPEATS):
        _, values, level = _block_spectrum(rng.standard_normal(shape), init, 1.0,
                                           sparse)
        inflation = max(inflation, values[0] / level)
    return inflation


def _select_rank(X, params):
    """Rank by thresholding the spectrum of the screened block.

    The rows and columns that stand out from the noise (FIT-SSVD's own start) form
    a block whose sparse components are strong even when they are too weak to
    stand out in the spectrum of the whole X. A component counts when its
    singular value in the block exceeds the Gavish-Donoho optimal hard threshold
    for the block's shape and noise level, lifted by the screening's inflation of
    pure noise (:func:`_selection_inflation`). Deterministic, and it costs one
    screen and one SVD of the block, which the final fit reuses as its start.

    Returns the rank (at least 1, at most ``MAX_AUTO_COMPONENTS``), the block's
    singular values over the threshold, and the block and its SVD.
    """
    if params["noise_level"] == 0:
        raise ValueError(
            "n_components='auto' separates components from noise and needs a "
            "positive noise_level; with noise_level=0 pass an integer n_components.")
    block, values, level = _block_spectrum(X, params["init"], params["noise_level"],
                                           params["sparse"])
    ratios = values / (level * _selection_inflation(X.shape, params["init"],
                                                    params["sparse"]))
    rank = int(np.sum(ratios > 1.0))
    if rank == 0:
        warn_at_caller(
            "No component of X stands out from the noise; keeping one component.",
            UserWarning)
    rank = min(max(rank, 1), MAX_AUTO_COMPONENTS, len(values))
    return rank, ratios, block


class FITSSVD(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Sparse truncated SVD by fast iterative thresholding (FIT-SSVD).

    Estimates X = U D V' + noise where the left singular vectors U and the right
    singular vectors V are sparse: a few rows of X and a few of its columns carry
    each component. The algorithm of Yang, Ma & Buja (2014) scales X by its noise
    level, starts from the SVD of the rows and columns that stand out from the
    noise, and alternates U <- QR(threshold(X V)) and V <- QR(threshold(X' U)),
    setting to zero the entries of X V and X' U that noise alone could produce.

    Like :class:`sklearn.decomposition.TruncatedSVD` it does not centre X: centre
    the rows or columns first when the model calls for it.

    Read more in the :ref:`User Guide <fitssvd>`.

    Parameters
    ----------
    n_components : int or 'auto', default=1
        Number of sparse singular triplets. ``'auto'`` counts the singular values
        of the screened block (the rows and columns that stand out from the noise,
        FIT-SSVD's start) above the Gavish-Donoho optimal hard threshold for the
        block's shape, raised by how much screening lifts pure noise of X's shape
        (see ``rank_ratios_``), up to 10. It draws nothing at random, so the rank
        is the same for every ``random_state``, and costs about one fit.
    threshold : {'bootstrap', 'theory'} or float, default='bootstrap'
        Thresholds, in units of the noise level, for the entries of X V and X' U.
        ``'theory'``: sqrt(2 log m) for vectors of length m, the size of the largest
        of m standard normal values. ``'bootstrap'``: per component, the bootstrap
        median of the largest absolute value among noise-only replicates built from
        the rows (columns) outside the current support; this adapts to noise that
        is not Gaussian. A float sets a fixed threshold.
    thresholding : {'hard', 'soft'}, default='hard'
        Keep the entries above the threshold as they are, or shrink them by it.
    init : {'theory', 'holm'}, default='theory'
        How the starting rows and columns are screened: ``'theory'`` keeps those
        whose squared norm exceeds its noise expectation by the chi-square tail
        bound ``1 + 1.5 sqrt(log(max(n, p)) / length)``; ``'holm'`` tests the sums
        of Huber-capped squared entries (robust to a few gross outliers) with
        Holm's step-down procedure at level 0.05.
    noise_level : float, {'mad', 'median_singular_value'} or None, default=None
        Standard deviation of the noise. ``'mad'``: the normal-consistent median
        absolute deviation of all entries, right when most entries are noise.
        ``'median_singular_value'``: the median singular value over its
        Marchenko-Pastur value (Gavish & Donoho 2014), right when the signal's rank
        is well below half the short side, however many entries it touches. None
        takes the smaller of the two, since signal only inflates either. ``0``
        declares noise-free data: nothing is thresholded and the result is the
        truncated SVD.
    sparse : {'both', 'left', 'right'}, default='both'
        Which singular vectors are sparse and thresholded: the left (rows of X),
        the right (columns) or both; the other side is left dense. The default is
        the model of Yang, Ma & Buja and of the simulations: there the sparse right
        vectors are recovered only by thresholding them. On the real lung200
        matrix (200 genes x 56 patients) the patient side is dense, and with the
        noise level estimated from the singular values thresholding it zeroes
        almost nothing (55 of 56 patients classified by their rank-3 loadings,
        against 54 for the dense SVD and 54 for ``sparse='left'``): a dense side
        costs little, a sparse one left dense costs its support. Say ``'left'``
        or ``'right'`` when you know a side is dense.
    n_bootstrap : int, default=100
        Resamples behind each bootstrap threshold, at most 100,000 (they are held
        in memory; the median of the maximum settles long before).
    max_iter : int, default=100
        Maximum number of alternating U and V updates.
    tol : float, default=1e-8
        Stop when neither subspace moves by more than ``tol`` (squared sine of the
        largest principal angle between successive iterates).
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap and the bi-cross-validation splits.

    Attributes
    ----------
    components_ : ndarray of shape (`n_components_`, n_features)
        The sparse right singular vectors, as rows, by decreasing singular value.
    singular_values_ : ndarray of shape (`n_components_`,)
        diag(U' X V), in the units of X.
    left_singular_vectors_ : ndarray of shape (n_samples, `n_components_`)
        The sparse left singular vectors of the training data, as columns.
    noise_level_ : float
        The noise standard deviation used (given or estimated).
    n_components_ : int
        Number of components (selected when ``n_components='auto'``).
    rank_ratios_ : ndarray of shape (n_screened,) or None
        When ``n_components='auto'``: the singular values of the screened block
        over the rank threshold; the rank is the number above 1 (at least 1, at
        most 10). Else None.
    n_iter_ : int
        Number of iterations run.
    n_threshold_fallbacks_ : int
        Bootstrap thresholds that fell back to the theory threshold because too few
        rows or columns were outside the support to form a noise pool.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    sparse_svd : The same algorithm as a function.
    sklearn.decomposition.TruncatedSVD : Dense truncated SVD.
    sklearn.decomposition.SparsePCA : Sparse components by an l1-penalised fit.

    Notes
    -----
    Each iteration costs two products of X with an n_components-column matrix, so a
    fit costs a few passes over X. The components are orthonormal; the QR step
    mixes component k with components 1 to k-1, so the support of a later
    component contains the supports of the earlier ones that overlap its rows.

    ``fit_transform(X)`` returns ``X @ components_.T`` (the projections), as
    ``transform`` does, so both agree.

    X may be a scipy.sparse CSR/CSC matrix, decomposed without densifying it, or a
    dask array chunked by rows, each pass over it a chunked reduction; both give
    the dense fit of the same matrix (see the :ref:`User Guide <fitssvd_scale>`).

    References
    ----------
    D. Yang, Z. Ma and A. Buja, "A sparse singular value decomposition method for
    high-dimensional data", J. Comput. Graph. Statist. 23 (2014) 923-942.
    M. Gavish and D. L. Donoho, "The optimal hard threshold for singular values
    is 4/sqrt(3)", IEEE Trans. Inform. Theory 60 (2014) 5040-5053.

    Examples
    --------
    >>> from statopt.decomposition import FITSSVD
    >>> from statopt.datasets import make_sparse_svd_data
    >>> X, U, d, V = make_sparse_svd_data("lshm", random_state=0)
    >>> svd = FITSSVD(n_components=1, random_state=0).fit(X)
    >>> svd.singular_values_.round(0)
    array([50.])
    >>> support = svd.components_[0] != 0
    >>> bool((support == (V[:, 0] != 0)).all())
    True
    """

    _parameter_constraints: dict = {
        "n_components": [StrictInterval(Integral, 1, None, closed="left"),
                         StrOptions({"auto"})],
        **_PARAMETERS,
    }

    def __init__(
        self,
        n_components=1,
        *,
        threshold="bootstrap",
        thresholding="hard",
        init="theory",
        noise_level=None,
        sparse="both",
        n_bootstrap=100,
        max_iter=100,
        tol=1e-8,
        random_state=None,
    ):
        self.n_components = n_components
        self.threshold = threshold
        self.thresholding = thresholding
        self.init = init
        self.noise_level = noise_level
        self.sparse = sparse
        self.n_bootstrap = n_bootstrap
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _solver_params(self):
        return {name: getattr(self, name) for name in _PARAMETERS
                if name != "random_state"}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the sparse singular vectors of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            The matrix to decompose. A scipy.sparse matrix or array (CSR or CSC;
            other formats are converted to CSR) is never densified; a dask array
            must be chunked by rows only, and every pass over it is a chunked
            reduction (see the :ref:`User Guide <fitssvd_scale>`).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = _check_input(X, self)
        result = _fit(X, self.n_components, self._solver_params(), self.random_state)
        n_components = result["n_components"]
        self.rank_ratios_ = result["rank_statistics"]
        self.components_ = result["V"].T
        self.singular_values_ = result["singular_values"]
        self.left_singular_vectors_ = result["U"]
        self.noise_level_ = result["noise_level"]
        self.n_components_ = n_components
        self.n_iter_ = result["n_iter"]
        self.n_threshold_fallbacks_ = result["n_fallbacks"]
        _warn_unthresholded(result["unthresholded"])
        return self

    def fit_transform(self, X, y=None):
        """Fit, then project X on the sparse right singular vectors.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            The matrix to decompose.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, `n_components_`)
            ``X @ components_.T`` (a dask array, lazy, for dask input).
        """
        return self.fit(X).transform(X)

    def transform(self, X):
        """Project X on the sparse right singular vectors.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Data with the training features.

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, `n_components_`)
            ``X @ components_.T``; for a dask array, a dask array chunked as X's
            rows, computed when asked for (X is checked for finiteness first).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            validate_data(self, X, skip_check_array=True, reset=False)
            return check_dask_matrix(X, min_rows=1).X @ self.components_.T
        with quiet_finiteness_check():
            X = validate_data(self, X, accept_sparse=SPARSE_FORMATS, dtype=np.float64,
                              reset=False)
        return _finite_product(X, self.components_.T)

    def inverse_transform(self, X):
        """Map projections back to the feature space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, `n_components_`)
            Projections, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            ``X @ components_``: the rank-``n_components_`` reconstruction.
        """
        check_is_fitted(self)
        with quiet_finiteness_check():
            X = check_array(X, accept_sparse=SPARSE_FORMATS, dtype=np.float64)
        if X.shape[1] != self.n_components_:
            raise ValueError(
                f"X should have shape (n_samples, {self.n_components_}), got "
                f"{X.shape}.")
        return _finite_product(X, self.components_)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        tags.input_tags.sparse = True
        return tags


def _finite_product(X, factor):
    """``X @ factor`` (X dense or sparse), refusing a result beyond float64's range."""
    with np.errstate(over="ignore", invalid="ignore"):
        product = np.asarray(X @ factor)
    if not np.isfinite(product).all():
        raise ValueError(
            "The result exceeds float64's range for entries of X this large; divide "
            "X by a constant before transforming.")
    return product


def _warn_unthresholded(components):
    if len(components):
        warn_at_caller(
            f"Component(s) {list(map(int, components))} had no entry above the noise "
            "threshold and keep only their largest entry: the data may hold fewer "
            "sparse components than n_components.", UserWarning)


@validate_params(
    {"X": ["array-like", "sparse matrix"],
     "n_components": [StrictInterval(Integral, 1, None, closed="left")],
     **_PARAMETERS},
    prefer_skip_nested_validation=True,
)
def sparse_svd(X, n_components=1, *, threshold="bootstrap", thresholding="hard",
               init="theory", noise_level=None, sparse="both", n_bootstrap=100,
               max_iter=100, tol=1e-8, random_state=None):
    """Sparse truncated SVD of X by fast iterative thresholding (FIT-SSVD).

    The function form of :class:`FITSSVD`; the parameters are the same.

    Parameters
    ----------
    X : {array-like, sparse matrix, dask array} of shape (n_rows, n_columns)
        The matrix to decompose: dense, scipy.sparse (never densified) or a dask
        array chunked by rows (passes over it are chunked reductions).
    n_components : int, default=1
        Number of sparse singular triplets.
    threshold : {'bootstrap', 'theory'} or float, default='bootstrap'
        Thresholds of the entries of X V and X' U, in noise units.
    thresholding : {'hard', 'soft'}, default='hard'
        Hard or soft thresholding.
    init : {'theory', 'holm'}, default='theory'
        Screening rule of the starting rows and columns.
    noise_level : float, {'mad', 'median_singular_value'} or None, default=None
        Noise standard deviation; None takes the smaller of the two estimates, 0
        declares noise-free data.
    sparse : {'both', 'left', 'right'}, default='both'
        Which singular vectors are thresholded.
    n_bootstrap : int, default=100
        Resamples behind each bootstrap threshold (at most 100,000).
    max_iter : int, default=100
        Maximum number of iterations.
    tol : float, default=1e-8
        Convergence tolerance on the subspace change.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap.

    Returns
    -------
    U : ndarray of shape (n_rows, n_components)
        Sparse left singular vectors.
    s : ndarray of shape (n_components,)
        Singular values diag(U' X V), decreasing.
    Vt : ndarray of shape (n_components, n_columns)
        Sparse right singular vectors, as rows.

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.decomposition import sparse_svd
    >>> rng = np.random.default_rng(0)
    >>> u = np.r_[np.ones(10), np.zeros(190)] / np.sqrt(10)
    >>> v = np.r_[np.ones(5), np.zeros(45)] / np.sqrt(5)
    >>> X = 40 * np.outer(u, v) + rng.standard_normal((200, 50))
    >>> U, s, Vt = sparse_svd(X, threshold="theory")
    >>> np.flatnonzero(Vt[0])
    array([0, 1, 2, 3, 4])
    """
    X = _check_input(X)
    params = dict(threshold=threshold, thresholding=thresholding, init=init,
                  noise_level=noise_level, sparse=sparse, n_bootstrap=n_bootstrap,
                  max_iter=max_iter, tol=tol)
    result = _fit(X, n_components, params, random_state)
    _warn_unthresholded(result["unthresholded"])
    return result["U"], result["singular_values"], result["V"].T
