"""Mismatched image-text pairs: the fakes of similarity-aware fake-news detection."""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_array, column_or_1d


@validate_params(
    {
        "X_image": ["array-like"],
        "X_text": ["array-like"],
        "labels": ["array-like", None],
        "fake_fraction": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_mismatched_pairs(X_image, X_text, labels=None, *, fake_fraction=0.5,
                          random_state=None):
    """Pair images with texts, some of them with another item's text.

    Row ``i`` keeps image ``i``; a real row (``y = 0``) keeps text ``i``, a fake row
    (``y = 1``) takes the text of another item ``j != i``, drawn uniformly, or, when
    ``labels`` are given, drawn among the items of another category. Each modality
    alone looks the same in real and fake rows: a fake is visible only through the
    relation of the image to the text.

    Parameters
    ----------
    X_image : array-like of shape (n_samples, n_image_features)
        Image features of each item.
    X_text : array-like of shape (n_samples, n_text_features)
        Text features of the same items, in the same order.
    labels : array-like of shape (n_samples,), default=None
        Category of each item; a fake then takes a text of another category.
    fake_fraction : float, default=0.5
        Share of fake rows, in [0, 1] (rounded to a whole number of rows).
    random_state : int, RandomState instance or None, default=None
        Seeds which rows are fake and whose text they take.

    Returns
    -------
    X : ndarray of shape (n_samples, n_image_features + n_text_features)
        Image columns, then text columns.
    y : ndarray of shape (n_samples,)
        1 for a fake (mismatched) row, 0 for a real one.
    text_source : ndarray of shape (n_samples,)
        The item whose text each row holds (``i`` for a real row ``i``).

    Examples
    --------
    >>> import numpy as np
    >>> from statopt.datasets import make_mismatched_pairs
    >>> image, text = np.eye(4), 10 * np.eye(4)[:, :2]
    >>> X, y, source = make_mismatched_pairs(image, text, random_state=0)
    >>> X.shape, int(y.sum()), bool(np.all((source != np.arange(4)) == y))
    ((4, 6), 2, True)
    """
    X_image = check_array(X_image, dtype=np.float64, input_name="X_image")
    X_text = check_array(X_text, dtype=np.float64, input_name="X_text")
    n = X_image.shape[0]
    if X_text.shape[0] != n:
        raise ValueError(f"X_image has {n} rows and X_text {X_text.shape[0]}; pass "
                         "the two views of the same items, row by row.")
    if n < 2:
        raise ValueError("make_mismatched_pairs needs at least 2 items: a fake takes "
                         "another item's text.")
    rng = check_random_state(random_state)
    y = np.zeros(n, dtype=np.int64)
    fakes = rng.permutation(n)[: int(round(fake_fraction * n))]
    y[fakes] = 1
    source = np.arange(n)
    if labels is None:
        # Uniform over the other items: shift by 1..n-1.
        source[fakes] = (fakes + rng.randint(1, n, size=fakes.size)) % n
    else:
        labels = column_or_1d(labels, warn=False)
        if labels.shape[0] != n:
            raise ValueError(f"labels has {labels.shape[0]} entries; X_image has {n} "
                             "rows.")
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise ValueError("labels hold NaN or inf; give every item a category.")
        categories, codes = np.unique(labels, return_inverse=True)
        if fakes.size and categories.size < 2:
            raise ValueError("labels hold a single category: a fake needs a text "
                             "from another category.")
        members = [np.flatnonzero(codes == k) for k in range(categories.size)]
        for row in fakes:
            # Draw a position among the items of the other categories.
            others = n - members[codes[row]].size
            position = rng.randint(others)
            for k, items in enumerate(members):
                if k == codes[row]:
                    continue
                if position < items.size:
                    source[row] = items[position]
                    break
                position -= items.size
    return np.hstack([X_image, X_text[source]]), y, source
