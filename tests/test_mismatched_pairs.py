"""make_mismatched_pairs, the SAFE reproduction and the Wikipedia pairs."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from statopt import SimilarityAwareMultimodalClassifier
from statopt.__main__ import main
from statopt._reproduce.safe import CONFIG, mismatched_sets
from statopt.datasets import load_wikipedia_crossmodal, make_mismatched_pairs


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), fraction=st.floats(0, 1), n_labels=st.integers(0, 4),
       seed=st.integers(0, 2**16))
def test_property_pairs_keep_images_and_swap_texts(n, fraction, n_labels, seed):
    rng = np.random.RandomState(seed)
    image, text = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    labels = None
    if n_labels >= 2:
        labels = np.r_[np.arange(n_labels), rng.randint(n_labels, size=n)][:n]
        if np.unique(labels).size < 2:
            labels = None
    image_before, text_before = image.copy(), text.copy()
    X, y, source = make_mismatched_pairs(image, text, labels, fake_fraction=fraction,
                                         random_state=seed)
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(text, text_before)
    np.testing.assert_array_equal(X[:, :3], image)
    np.testing.assert_array_equal(X[:, 3:], text[source])
    assert y.sum() == round(fraction * n)
    # Real rows keep their own text, fakes take another item's.
    np.testing.assert_array_equal(source == np.arange(n), y == 0)
    if labels is not None:
        assert np.all(labels[source[y == 1]] != labels[y == 1])


def test_fakes_are_uniform_over_the_other_items():
    # Chi-square-free check by counts: with 4 items and all rows fake, each row's
    # text comes from each of the 3 others about a third of the time.
    image, text = np.eye(4), np.eye(4)
    counts = np.zeros((4, 4))
    for seed in range(600):
        _, _, source = make_mismatched_pairs(image, text, fake_fraction=1.0,
                                             random_state=seed)
        counts[np.arange(4), source] += 1
    assert np.all(np.diag(counts) == 0)
    off = counts[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off / 600 - 1 / 3) < 0.07)


@pytest.mark.parametrize("args, kwargs, message", [
    ((np.ones((3, 2)), np.ones((4, 2))), {}, "3 rows and X_text 4"),
    ((np.ones((1, 2)), np.ones((1, 2))), {}, "at least 2 items"),
    ((np.ones((3, 2)), np.ones((3, 2)), [1, 1, 1]), {}, "single category"),
    ((np.ones((3, 2)), np.ones((3, 2)), [1, 2]), {}, "labels has 2 entries"),
    ((np.ones((3, 2)), np.ones((3, 2)), [1.0, np.nan, 2.0]), {}, "NaN"),
    ((np.full((3, 2), np.nan), np.ones((3, 2))), {}, "NaN"),
    ((np.ones((3, 2)), np.ones((3, 2))), {"fake_fraction": 1.5}, "fake_fraction"),
])
def test_bad_input_gives_clear_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_mismatched_pairs(*args, **kwargs)


def test_reproduce_safe_quick_without_wikipedia(capsys, tmp_path):
    assert main(["reproduce", "safe", "--quick", "--data-home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Wikipedia skipped" in out
    for name in ["published head (published gradient)", "ours (exact gradient)",
                 "ours (published gradient)", "Simulated token sequences"]:
        assert name in out
    # Fakes show only in the relation: the published head, linear in [t, v],
    # stays near chance while ours, with the similarity as input, does not.
    published = float(out.split("published head (published gradient)")[1].split()[0])
    ours = float(out.split("ours (exact gradient)")[1].split()[0])
    assert abs(published - 0.5) < 0.1 and ours > 0.65


def test_wikipedia_similarity_beats_logistic_on_mismatched_pairs():
    try:
        data = load_wikipedia_crossmodal()
    except FileNotFoundError as error:
        pytest.skip(f"wikipedia_crossmodal data not available: {error}")
    X, y, (X_test, y_test), _ = mismatched_sets(data, n_draws=1)
    views = dict(views=[np.arange(128), np.arange(128, 138)],
                 modalities=["image", "text"])
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SimilarityAwareMultimodalClassifier(random_state=0, **views,
                                                    **CONFIG).fit(X, y)
    logistic = LogisticRegression(max_iter=2000).fit(X, y)
    ours = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    baseline = roc_auc_score(y_test, logistic.predict_proba(X_test)[:, 1])
    # The logistic logit is additive in image and text: near chance on fakes that
    # show only in their relation.
    assert baseline < 0.6 < ours


@settings(max_examples=20, deadline=None)
@given(n=st.integers(4, 60), n_topics=st.integers(2, 4), length=st.integers(1, 8),
       rate=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_property_token_pairs_keywords_follow_the_text_source(n, n_topics, length,
                                                             rate, seed):
    from statopt.datasets import make_token_image_pairs

    data = make_token_image_pairs(n, n_topics=n_topics, vocabulary_size=40,
                                  sequence_length=length, n_image_features=3,
                                  keyword_rate=rate, random_state=seed)
    tokens = data.X[:, data.views[1]]
    assert data.X.shape == (n, 3 + length)
    assert np.all(tokens == np.round(tokens)) and tokens.min() >= 0
    assert tokens.max() < 40
    # Topics are balanced; a keyword names its topic: a real row's keywords are of
    # its image's topic, a fake's of another topic.
    assert np.bincount(data.topics).max() - np.bincount(data.topics).min() <= 1
    n_keywords = 40 // (2 * n_topics)
    for row in range(n):
        ids = tokens[row][(tokens[row] >= 1) & (tokens[row] <= n_topics * n_keywords)]
        keyword_topics = (ids.astype(int) - 1) // n_keywords
        if data.y[row] == 0:
            assert np.all(keyword_topics == data.topics[row])
        else:
            assert np.all(keyword_topics != data.topics[row])
            assert np.unique(keyword_topics).size <= 1


def test_token_pairs_refuse_a_vocabulary_too_small():
    from statopt.datasets import make_token_image_pairs

    with pytest.raises(ValueError, match="too small for 5 topics"):
        make_token_image_pairs(10, vocabulary_size=11)
