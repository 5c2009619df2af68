"""Retrieval metrics and the Wikipedia cross-modal loader."""

import shutil
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import average_precision_score

from statopt.datasets import get_data_home
from statopt.datasets._wikipedia import load_wikipedia_crossmodal
from statopt.metrics._retrieval import (
    mean_average_precision,
    retrieval_average_precision,
)


def _reference(similarity, relevant):
    """scikit-learn's average precision of each row; NaN without a positive."""
    return np.array([
        average_precision_score(rel, sim) if rel.any() else np.nan
        for sim, rel in zip(similarity, relevant)
    ])


# Rounding to one decimal makes many ties, the case that is easy to get wrong.
@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("shape", [(40, 60), (25, 7), (1, 300)])
def test_matches_sklearn_with_1d_labels(decimals, shape):
    rng = np.random.default_rng(sum(shape))
    similarity = rng.normal(size=shape)
    if decimals is not None:
        similarity = np.round(similarity, decimals)
    query_labels = rng.integers(0, 4, shape[0])
    item_labels = rng.integers(0, 4, shape[1])
    relevant = query_labels[:, None] == item_labels
    with warnings.catch_warnings():
        # scikit-learn warns on a query with no positive; the NaN is ours.
        warnings.simplefilter("ignore", UserWarning)
        ap = retrieval_average_precision(similarity, query_labels, item_labels)
    assert ap.shape == (shape[0],)
    # Equal up to the order of a floating-point sum.
    assert_allclose(ap, _reference(similarity, relevant), rtol=1e-13, atol=1e-15)


def test_ties_take_the_precision_at_the_end_of_the_group():
    # One relevant item tied with three others in first place: AP = 1/4,
    # whatever the order the sort leaves the tied items in.
    ap = retrieval_average_precision([[1, 1, 1, 1, 0]], [0], [1, 1, 0, 1, 1])
    assert_allclose(ap, [0.25])
    # All scores tied: AP is the fraction of relevant items.
    ap = retrieval_average_precision(np.zeros((1, 5)), [0], [0, 0, 1, 1, 1])
    assert_allclose(ap, [0.4])


def test_hand_computed_ranking():
    # Ranking relevant, irrelevant, relevant, irrelevant: (1 + 2/3) / 2.
    ap = retrieval_average_precision([[0.9, 0.8, 0.7, 0.1]], ["x"], list("xyxy"))
    assert_allclose(ap, [5 / 6])


def test_multilabel_indicators_match_sklearn():
    rng = np.random.default_rng(3)
    similarity = np.round(rng.uniform(size=(30, 50)), 1)
    query_labels = (rng.uniform(size=(30, 5)) < 0.3).astype(int)
    item_labels = rng.uniform(size=(50, 5)) < 0.3
    relevant = (query_labels @ item_labels.T) > 0
    assert not relevant.all(axis=1).any() and relevant.any()
    expected = _reference(similarity, relevant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ap = retrieval_average_precision(similarity, query_labels, item_labels)
    assert_allclose(ap, expected, rtol=1e-13, atol=1e-15)


def test_2d_one_hot_labels_equal_1d_labels():
    rng = np.random.default_rng(4)
    similarity = rng.normal(size=(20, 30))
    query_labels, item_labels = rng.integers(0, 3, 20), rng.integers(0, 3, 30)
    one_hot = np.eye(3)
    assert_allclose(
        retrieval_average_precision(similarity, one_hot[query_labels],
                                    one_hot[item_labels]),
        retrieval_average_precision(similarity, query_labels, item_labels),
    )


def _objects(values):
    """A 1d object array, even when the values are tuples."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def test_labels_of_any_hashable_type():
    similarity = np.array([[0.3, 0.2, 0.9], [0.1, 0.5, 0.4]])
    expected = retrieval_average_precision(similarity, [0, 1], [1, 0, 0])
    assert_allclose(expected, [5 / 6, 1 / 3])
    for query_labels, item_labels in [
        (["cat", "dog"], ["dog", "cat", "cat"]),
        (_objects([("a", 1), ("b", 2)]), _objects([("b", 2), ("a", 1), ("a", 1)])),
        # Object labels compare as Python does: 0 == 0.0.
        (_objects([0, 3.5]), np.array([3.5, 0.0, 0.0])),
    ]:
        assert_allclose(
            retrieval_average_precision(similarity, query_labels, item_labels),
            expected,
        )


def test_query_without_relevant_item_is_nan_and_left_out_of_the_mean():
    similarity = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3], [0.7, 0.6, 0.5]])
    ap = retrieval_average_precision(similarity, [0, 1, 2], [0, 1, 1])
    assert np.isnan(ap[2]) and not np.isnan(ap[:2]).any()
    assert_allclose(ap[:2], [1.0, 1.0])
    with pytest.warns(UserWarning, match="1 of 3 queries have no relevant item"):
        score = mean_average_precision(similarity, [0, 1, 2], [0, 1, 1])
    assert score == pytest.approx(1.0)
    with pytest.raises(ValueError, match="No query has a relevant item"):
        mean_average_precision(similarity, [5, 6, 7], [0, 1, 1])


def test_mean_average_precision_is_the_mean_over_queries():
    rng = np.random.default_rng(5)
    similarity = np.round(rng.normal(size=(60, 80)), 1)
    query_labels, item_labels = rng.integers(0, 6, 60), rng.integers(0, 6, 80)
    relevant = query_labels[:, None] == item_labels
    assert relevant.any(axis=1).all()
    score = mean_average_precision(similarity, query_labels, item_labels)
    assert isinstance(score, float)
    assert score == pytest.approx(_reference(similarity, relevant).mean(), rel=1e-13)


def test_perfect_and_reversed_rankings():
    labels = np.repeat([0, 1], 5)
    same = (labels[:, None] == labels).astype(float)
    assert mean_average_precision(same, labels, labels) == 1.0
    # The relevant half ranked last, in a tie: every query scores 5 / 10.
    assert mean_average_precision(-same, labels, labels) == pytest.approx(0.5)
    # Ties broken: the k-th relevant item comes at rank 5 + k.
    expected = np.mean(np.arange(1, 6) / np.arange(6, 11))
    similarity = -same + 0.01 * np.arange(10)
    assert mean_average_precision(similarity, labels, labels) == pytest.approx(expected)


@pytest.mark.parametrize(
    "similarity, query_labels, item_labels, match",
    [
        (np.zeros((2, 3)), [0, 1, 2], [0, 1, 2], r"shape \(n_queries, n_items\)"),
        (np.zeros((2, 3)), [0, 1], [0, 1], r"shape \(n_queries, n_items\)"),
        ([[np.nan, 0.0], [0.0, 1.0]], [0, 1], [0, 1], "NaN"),
        ([[np.inf, 0.0], [0.0, 1.0]], [0, 1], [0, 1], "infinity"),
        (np.zeros((0, 2)), [], [0, 1], "empty|0 sample"),
        (np.zeros((2, 0)), [0, 1], [], "empty|0 feature"),
        (np.zeros(3), [0], [0, 1, 2], "2D array"),
        (np.zeros((2, 2)), [0, 1], [[1, 0], [0, 1]], "both be 1d"),
        (np.zeros((2, 2)), [[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0]],
         "same number of label columns"),
        (np.zeros((2, 2)), [[2, 0], [0, 1]], [[1, 0], [0, 1]], "only 0 and 1"),
        (np.zeros((2, 2)), [0.0, np.nan], [0, 1], "query_labels contains NaN"),
        (np.zeros((1, 1)), [[[0]]], [[[0]]], "1d label vector"),
    ],
)
def test_bad_inputs_raise_clear_errors(similarity, query_labels, item_labels, match):
    for metric in (retrieval_average_precision, mean_average_precision):
        with pytest.raises(ValueError, match=match):
            metric(similarity, query_labels, item_labels)


# The real data set: skip (with the reason) when the folder is absent.

def _load_or_skip(data_home=None):
    try:
        return load_wikipedia_crossmodal(data_home)
    except FileNotFoundError as error:
        pytest.skip(f"Wikipedia cross-modal data not available: {error}")


def test_wikipedia_loader_shapes_and_labels():
    data = _load_or_skip()
    assert data.X_train.shape == (2173, 138) and data.X_test.shape == (693, 138)
    assert data.X_train.dtype == np.float64
    assert data.y_train.shape == (2173,) and data.y_test.shape == (693,)
    assert data.y_train.dtype == np.int64
    for y in (data.y_train, data.y_test):
        assert y.min() == 0 and y.max() == 9
        counts = np.bincount(y, minlength=10)
        assert counts.sum() == len(y) and (counts > 0).all()
    assert [len(view) for view in data.views] == [128, 10]
    assert_array_equal(np.concatenate(data.views), np.arange(138))
    assert data.modalities == ["image", "text"]
    assert len(data.categories) == 10 and data.categories[0] == "art"
    assert isinstance(data.description, str) and data.description
    # Image view: bag-of-visual-words histograms; text view: topic proportions.
    for X in (data.X_train, data.X_test):
        assert_allclose(X[:, data.views[0]].sum(axis=1), 1.0, atol=1e-6)
        assert_allclose(X[:, data.views[1]].sum(axis=1), 1.0, atol=1e-6)
        assert (X >= 0).all()


def test_wikipedia_loader_checks_the_checksums(tmp_path):
    _load_or_skip()
    target = tmp_path / "wikipedia_crossmodal"
    shutil.copytree(get_data_home() / "wikipedia_crossmodal", target)
    # The shared copy is read-only and copytree keeps the modes.
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with open(target / "categories.list", "a") as handle:
        handle.write("extra\n")
    with pytest.raises(ValueError, match="SHA256"):
        load_wikipedia_crossmodal(tmp_path)
    # Without SHA256SUMS the edited list is read and its 11 names rejected.
    (target / "SHA256SUMS").unlink()
    with pytest.raises(ValueError, match="10 names"):
        load_wikipedia_crossmodal(tmp_path)


def test_wikipedia_loader_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="STATOPT_DATA_HOME"):
        load_wikipedia_crossmodal(tmp_path)


def test_weighted_mean_average_precision_matches_sklearn():
    rng = np.random.default_rng(7)
    similarity = np.round(rng.normal(size=(30, 40)), 1)
    query_labels, item_labels = rng.integers(0, 3, 30), rng.integers(0, 3, 40)
    relevant = query_labels[:, None] == item_labels
    weights = rng.uniform(0, 3, 30)
    expected = np.average(_reference(similarity, relevant), weights=weights)
    score = mean_average_precision(similarity, query_labels, item_labels,
                                   sample_weight=weights)
    assert score == pytest.approx(expected, rel=1e-13)
    # Huge weights are normalised before the sum: no overflow.
    assert mean_average_precision(
        similarity, query_labels, item_labels, sample_weight=weights * 1e307
    ) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("weights, match", [
    (np.ones(2), "one weight per query"),
    (-np.ones(3), "non-negative"),
    (np.array([1.0, np.nan, 1.0]), "NaN"),
    (np.array([0.0, 0.0, 1.0]), "weight 0"),
    ("abc", "sample_weight"),
])
def test_bad_query_weights_raise_clear_errors(weights, match):
    similarity = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3], [0.7, 0.6, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # query 2: no relevant item
        with pytest.raises(ValueError, match=match):
            mean_average_precision(similarity, [0, 1, 2], [0, 1, 1],
                                   sample_weight=weights)


def _object_array(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


@pytest.mark.parametrize("query_labels, item_labels", [
    (["1", "2"], [2, 1, 1]),
    ([1, 2], ["2", "1", "1"]),
    (np.array([1, 2]), _object_array(["2", "1", "1"])),
    (["1", "2"], _object_array([2, "1", 1])),
])
def test_labels_of_different_kinds_are_a_type_error(query_labels, item_labels):
    # '1' != 1: string queries against integer items used to give NaN for every
    # query (retrieval_average_precision) or "no query has a relevant item".
    similarity = np.array([[0.3, 0.2, 0.9], [0.1, 0.5, 0.4]])
    for metric in (retrieval_average_precision, mean_average_precision):
        with pytest.raises(TypeError, match="never match"):
            metric(similarity, query_labels, item_labels)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n_queries=st.integers(1, 6), n_items=st.integers(1, 8))
def test_string_labels_in_any_container_match_sklearn(data, n_queries, n_items):
    query = data.draw(st.lists(st.integers(0, 2), min_size=n_queries,
                               max_size=n_queries))
    item = data.draw(st.lists(st.integers(0, 2), min_size=n_items,
                              max_size=n_items))
    similarity = data.draw(hnp.arrays(np.float64, (n_queries, n_items),
                                      elements=st.floats(-1, 1)))
    query_labels = np.array([f"c{v}" for v in query])
    item_labels = _object_array([f"c{v}" for v in item])
    ap = retrieval_average_precision(similarity, query_labels, item_labels)
    relevant = np.array(query)[:, None] == np.array(item)[None, :]
    assert_allclose(ap, _reference(similarity, relevant), rtol=1e-12)
    with pytest.raises(TypeError, match="never match"):
        retrieval_average_precision(similarity, query_labels, np.array(item))
