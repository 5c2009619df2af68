"""Distance between linear subspaces."""


import numpy as np
from scipy.linalg import subspace_angles
from scipy.sparse import issparse
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_array

from .._utils import power_of_two_scale, quiet_finiteness_check


def _as_columns(M, name):
    """A finite float64 matrix scaled to largest entry in [1, 2); a 1d array
    becomes one column. The scaling (a power of two, exact) changes no span and
    keeps the SVDs behind the rank and the angles away from overflow and from
    subnormal numbers."""
    if issparse(M):
        raise TypeError(f"{name} is a sparse matrix; pass a dense array "
                        f"({name}.toarray()).")
    M = np.asarray(M)
    if np.iscomplexobj(M):
        raise TypeError(f"{name} should be real, got a complex array.")
    if M.ndim not in (1, 2):
        raise ValueError(f"{name} should be a 1d or 2d array, got {M.ndim} "
                         "dimension(s).")
    with quiet_finiteness_check():
        M = check_array(M[:, None] if M.ndim == 1 else M, dtype=np.float64,
                        input_name=name)
    return M / power_of_two_scale(M)


@validate_params({"A": ["array-like"], "B": ["array-like"]},
                 prefer_skip_nested_validation=True)
def subspace_distance(A, B):
    """Squared sine of the largest principal angle between two column spaces.

    Equals ||P_A - P_B||_2^2, the squared spectral norm of the difference of the
    orthogonal projections onto span(A) and span(B): 0 for the same subspace, 1
    when a direction of one is orthogonal to the other (always the case when the
    dimensions differ). The columns need not be orthonormal; only their spans
    matter, so the distance ignores signs, order and scaling of the singular
    vectors.

    Parameters
    ----------
    A : array-like of shape (n, k)
        Columns spanning the first subspace (a 1d array is one column).
    B : array-like of shape (n, m)
        Columns spanning the second subspace.

    Returns
    -------
    distance : float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.metrics import subspace_distance
    >>> subspace_distance([[1, 0], [0, 1], [0, 0]], [[0, 2], [3, 0], [0, 0]])
    0.0
    >>> round(subspace_distance([1, 0], [1, 1]), 6)
    0.5
    """
    A, B = _as_columns(A, "A"), _as_columns(B, "B")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"A and B should have the same number of rows, got "
                         f"{A.shape[0]} and {B.shape[0]}.")
    ranks = [np.linalg.matrix_rank(M) for M in (A, B)]
    if 0 in ranks:
        raise ValueError("A and B should each have a nonzero column.")
    if ranks[0] != ranks[1]:
        return 1.0
    # scipy's angles use the sine formula for small angles, accurate to ~1e-16.
    return float(np.sin(subspace_angles(A, B).max()) ** 2)
