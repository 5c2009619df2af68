"""FITSSVD: the fast iterative thresholding sparse SVD as a scikit-learn transformer."""

import warnings
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

from ._sparse_svd import fit_sparse_svd, mad_noise_level, theory_threshold

# Largest rank tried by n_components='auto'.
MAX_AUTO_COMPONENTS = 10
# Bi-cross-validation: the rows and the columns are each split in two, and each of
# the four blocks is held out in turn (Owen & Perry 2009), over this many random
# splits.
BCV_REPEATS = 3
# A rank is added while it lowers the bi-cross-validation error by more than this
# many standard errors (one-sided, about 2.5%).
BCV_Z = 2.0

_PARAMETERS = {
    "threshold": [StrOptions({"bootstrap", "theory"}),
                  Interval(Real, 0, None, closed="left")],
    "thresholding": [StrOptions({"hard", "soft"})],
    "init": [StrOptions({"theory", "holm"})],
    "noise_level": [Interval(Real, 0, None, closed="left"), None],
    "n_bootstrap": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
}


def _check_matrix(X, n_components):
    """Refuse inputs FIT-SSVD cannot decompose, with what to change."""
    if n_components > min(X.shape):
        raise ValueError(
            f"n_components={n_components} exceeds min(n_samples, n_features)="
            f"{min(X.shape)} for X of shape {X.shape}; ask for fewer components.")
    if not np.any(X):
        raise ValueError("X is all zeros: there is no singular vector to estimate.")


def _fit(X, n_components, params, random_state):
    """FIT-SSVD with the estimator's parameters (``params``: the _PARAMETERS keys)."""
    _check_matrix(X, n_components)
    return fit_sparse_svd(X, n_components, rng=check_random_state(random_state),
                          **params)


def _bcv_errors(X, max_components, params, random_state):
    """Bi-cross-validated mean squared prediction errors, one row per held-out block.

    Returns an array of shape (4 * BCV_REPEATS, max_components + 1): column k holds
    the errors of rank k.

    X is split into blocks [[A, B], [C, D]]; the rank-k sparse SVD of D is
    D_k = U_k M V_k' with M = U_k' D V_k. Owen & Perry (2009) predict the held-out
    A by B V_k M^+ U_k' C. With sparse factors that prediction spreads the noise of
    B V_k over every held-out row, and the few rows that carry signal cannot pay
    for it, so every rank looks useless. The held-out factors are therefore
    estimated the way FIT-SSVD estimates factors: B V_k and U_k' C are thresholded
    at the theory level before A is predicted by their product through M^+. Too
    high a rank fits noise in D and predicts A worse, so the error has its minimum
    at the rank the data support. All fits share the noise level of the whole X.
    """
    rng = check_random_state(random_state)
    noise_level = params["noise_level"]
    errors = []
    n_rows, n_columns = X.shape

    def sparse_factor(products):
        level = noise_level * theory_threshold(products.shape[0])
        kept = np.abs(products) > level
        if params["thresholding"] == "soft":
            return np.sign(products) * np.maximum(np.abs(products) - level, 0.0)
        return np.where(kept, products, 0.0)

    for _ in range(BCV_REPEATS):
        row_halves = np.array_split(rng.permutation(n_rows), 2)
        column_halves = np.array_split(rng.permutation(n_columns), 2)
        for held_rows, kept_rows in (row_halves, row_halves[::-1]):
            for held_columns, kept_columns in (column_halves, column_halves[::-1]):
                A = X[np.ix_(held_rows, held_columns)]
                B = X[np.ix_(held_rows, kept_columns)]
                C = X[np.ix_(kept_rows, held_columns)]
                D = X[np.ix_(kept_rows, kept_columns)]
                fold_errors = [np.mean(A**2)]
                for k in range(1, max_components + 1):
                    fit = fit_sparse_svd(D, k, rng=check_random_state(
                        rng.randint(2**31 - 1)), **params)
                    U, V = fit["U"], fit["V"]
                    core = U.T @ D @ V
                    predicted = (sparse_factor(B @ V) @ np.linalg.pinv(core)
                                 @ sparse_factor(C.T @ U).T)
                    fold_errors.append(np.mean((A - predicted) ** 2))
                errors.append(fold_errors)
    return np.array(errors)


def _select_rank(X, params, random_state):
    """Rank chosen by bi-cross-validation, the mean error of each rank, and the
    solver parameters with the noise level filled in (for the final fit).

    Past the true rank, extra sparse components are thresholded to almost nothing
    and the error curve is flat up to noise, so its minimum falls anywhere on the
    plateau. Ranks are therefore added one at a time while the next one lowers the
    error significantly: by more than ``BCV_Z`` standard errors of the paired
    differences over the held-out blocks (pairing removes the block-to-block
    spread both ranks share).
    """
    max_components = min(MAX_AUTO_COMPONENTS, min(X.shape) // 2 - 1)
    if max_components < 1:
        raise ValueError(
            f"n_components='auto' needs at least 4 rows and 4 columns to hold out "
            f"blocks; X has shape {X.shape}. Pass an integer n_components.")
    if params["noise_level"] is None:
        params = {**params, "noise_level": mad_noise_level(X)}
    with warnings.catch_warnings():
        # Ranks above the truth fit noise; their convergence is not the question.
        warnings.simplefilter("ignore")
        errors = _bcv_errors(X, max_components, params, random_state)
    mean = errors.mean(axis=0)
    gains = errors[:, :-1] - errors[:, 1:]  # what rank k+1 saves over rank k
    standard_errors = gains.std(axis=0, ddof=1) / np.sqrt(len(errors))
    significant = gains.mean(axis=0) > BCV_Z * standard_errors
    rank = int(np.argmin(significant)) if not significant.all() else len(gains)
    if rank == 0:
        warnings.warn(
            "Bi-cross-validation finds no component that predicts held-out entries "
            "better than zero; keeping one component.", UserWarning, stacklevel=3)
    return max(rank, 1), mean, params


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
        Number of sparse singular triplets. ``'auto'`` selects it by
        bi-cross-validation (Owen & Perry 2009): each of the four blocks of a 2 x 2
        split of the rows and columns is predicted from the sparse SVD of the
        opposite block (its held-out factors thresholded like FIT-SSVD's), for ranks
        1 to 10, over 3 random splits, and ranks are added while the next one
        lowers the error by more than two standard errors (see ``bcv_errors_``).
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
    noise_level : float, default=None
        Standard deviation of the noise. None estimates it by the normal-consistent
        median absolute deviation of all entries of X (right when most entries are
        noise). ``0`` declares noise-free data: nothing is thresholded and the
        result is the truncated SVD.
    n_bootstrap : int, default=100
        Resamples behind each bootstrap threshold.
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
    bcv_errors_ : ndarray of shape (n_ranks,) or None
        Mean squared bi-cross-validation error of ranks 0, 1, ... when
        ``n_components='auto'``, else None.
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

    References
    ----------
    D. Yang, Z. Ma and A. Buja, "A sparse singular value decomposition method for
    high-dimensional data", J. Comput. Graph. Statist. 23 (2014) 923-942.
    A. B. Owen and P. O. Perry, "Bi-cross-validation of the SVD and the nonnegative
    matrix factorization", Ann. Appl. Statist. 3 (2009) 564-594.

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
        "n_components": [Interval(Integral, 1, None, closed="left"),
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
        X : array-like of shape (n_samples, n_features)
            The matrix to decompose.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = validate_data(self, X, dtype=np.float64, order="C", ensure_min_samples=2)
        params = self._solver_params()
        self.bcv_errors_ = None
        if self.n_components == "auto":
            _check_matrix(X, 1)
            # The final fit reuses the noise level estimated for the selection.
            n_components, self.bcv_errors_, params = _select_rank(
                X, params, self.random_state)
        else:
            n_components = self.n_components
        result = _fit(X, n_components, params, self.random_state)
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
        X : array-like of shape (n_samples, n_features)
            The matrix to decompose.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_components_`)
            ``X @ components_.T``.
        """
        return self.fit(X).transform(X)

    def transform(self, X):
        """Project X on the sparse right singular vectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the training features.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_components_`)
            ``X @ components_.T``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.components_.T

    def inverse_transform(self, X):
        """Map projections back to the feature space.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_components_`)
            Projections, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            ``X @ components_``: the rank-``n_components_`` reconstruction.
        """
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_components_:
            raise ValueError(
                f"X should have shape (n_samples, {self.n_components_}), got "
                f"{X.shape}.")
        return X @ self.components_

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _warn_unthresholded(components):
    if len(components):
        warnings.warn(
            f"Component(s) {list(map(int, components))} had no entry above the noise "
            "threshold and keep only their largest entry: the data may hold fewer "
            "sparse components than n_components.", UserWarning, stacklevel=3)


@validate_params(
    {"X": ["array-like"], "n_components": [Interval(Integral, 1, None,
                                                    closed="left")], **_PARAMETERS},
    prefer_skip_nested_validation=True,
)
def sparse_svd(X, n_components=1, *, threshold="bootstrap", thresholding="hard",
               init="theory", noise_level=None, n_bootstrap=100, max_iter=100,
               tol=1e-8, random_state=None):
    """Sparse truncated SVD of X by fast iterative thresholding (FIT-SSVD).

    The function form of :class:`FITSSVD`; the parameters are the same.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_columns)
        The matrix to decompose.
    n_components : int, default=1
        Number of sparse singular triplets.
    threshold : {'bootstrap', 'theory'} or float, default='bootstrap'
        Thresholds of the entries of X V and X' U, in noise units.
    thresholding : {'hard', 'soft'}, default='hard'
        Hard or soft thresholding.
    init : {'theory', 'holm'}, default='theory'
        Screening rule of the starting rows and columns.
    noise_level : float, default=None
        Noise standard deviation; None estimates it by the median absolute
        deviation, 0 declares noise-free data.
    n_bootstrap : int, default=100
        Resamples behind each bootstrap threshold.
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
    X = check_array(X, dtype=np.float64, order="C", copy=False,
                    ensure_min_samples=2)
    params = dict(threshold=threshold, thresholding=thresholding, init=init,
                  noise_level=noise_level, n_bootstrap=n_bootstrap,
                  max_iter=max_iter, tol=tol)
    result = _fit(X, n_components, params, random_state)
    _warn_unthresholded(result["unthresholded"])
    return result["U"], result["singular_values"], result["V"].T
