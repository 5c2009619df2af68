"""Mismatched image-text pairs: the fakes of similarity-aware fake-news detection."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
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


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_topics": [Interval(Integral, 2, None, closed="left")],
        "vocabulary_size": [Interval(Integral, 2, None, closed="left")],
        "sequence_length": [Interval(Integral, 1, None, closed="left")],
        "n_image_features": [Interval(Integral, 1, None, closed="left")],
        "keyword_rate": [Interval(Real, 0, 1, closed="both")],
        "fake_fraction": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_token_image_pairs(n_samples=1000, *, n_topics=5, vocabulary_size=200,
                           sequence_length=20, n_image_features=16,
                           keyword_rate=0.3, fake_fraction=0.5, random_state=None):
    """Simulate token-sequence texts and image features, some pairs mismatched.

    Each item has a topic. Its image is the topic's centroid plus unit Gaussian
    noise; its text is ``sequence_length`` token ids, each a keyword of the topic
    with probability ``keyword_rate`` (every topic owns ``vocabulary_size // (2
    n_topics)`` keywords) and otherwise a background word shared by all topics,
    then padded with 0 from a random length on. The pairs go through
    :func:`make_mismatched_pairs` with the topics as labels: a fake keeps its image
    and takes the text of an item of another topic. Topics are balanced, so each
    modality alone has the same distribution in real and fake rows: the fakes show
    only in the relation of the text to the image.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of items (rows).
    n_topics : int, default=5
        Number of topics.
    vocabulary_size : int, default=200
        Token ids are in ``[0, vocabulary_size)``, 0 for padding; needs at least
        ``2 n_topics + 2``.
    sequence_length : int, default=20
        Columns of the text view.
    n_image_features : int, default=16
        Columns of the image view.
    keyword_rate : float, default=0.3
        Probability that a token is one of the topic's keywords.
    fake_fraction : float, default=0.5
        Share of mismatched rows.
    random_state : int, RandomState instance or None, default=None
        Seed of the simulation.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` (image columns then token columns, float-coded ids), ``y`` (1 for a
        fake), ``topics`` (topic of each row's image), ``views``
        (``[arange(n_image_features), arange(n_image_features, n_image_features +
        sequence_length)]``), ``modalities`` (``['image', 'text']``) and
        ``vocabulary_size``.

    Examples
    --------
    >>> from statopt.datasets import make_token_image_pairs
    >>> data = make_token_image_pairs(100, random_state=0)
    >>> data.X.shape, int(data.y.sum()), int(data.X[:, 16:].max()) < 200
    ((100, 36), 50, True)
    """
    n_keywords = vocabulary_size // (2 * n_topics)
    if n_keywords < 1 or vocabulary_size < 2 * n_topics + 2:
        raise ValueError(f"vocabulary_size={vocabulary_size} is too small for "
                         f"{n_topics} topics: it needs at least {2 * n_topics + 2} "
                         "ids (padding, keywords of every topic, background).")
    rng = check_random_state(random_state)
    topics = rng.permutation(np.arange(n_samples) % n_topics)
    centroids = rng.normal(0.0, 1.5, size=(n_topics, n_image_features))
    image = centroids[topics] + rng.normal(size=(n_samples, n_image_features))
    # Ids: 0 padding, then n_keywords per topic, then the background words.
    keywords = 1 + topics[:, None] * n_keywords + rng.randint(
        n_keywords, size=(n_samples, sequence_length))
    first_background = 1 + n_topics * n_keywords
    background = rng.randint(first_background, vocabulary_size,
                             size=(n_samples, sequence_length))
    text = np.where(rng.uniform(size=(n_samples, sequence_length)) < keyword_rate,
                    keywords, background)
    lengths = rng.randint((sequence_length + 1) // 2, sequence_length + 1,
                          size=n_samples)
    text[np.arange(sequence_length)[None, :] >= lengths[:, None]] = 0
    X, y, _ = make_mismatched_pairs(image, text.astype(np.float64), topics,
                                    fake_fraction=fake_fraction,
                                    random_state=rng)
    return Bunch(X=X, y=y, topics=topics,
                 views=[np.arange(n_image_features),
                        np.arange(n_image_features,
                                  n_image_features + sequence_length)],
                 modalities=["image", "text"], vocabulary_size=vocabulary_size)
