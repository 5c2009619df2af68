"""Property-based tests: TensorCrossModalRegressor, simulator, retrieval metrics.

Every public entry point, fed NaN, inf, empty, one-row, constant, huge, subnormal,
oddly typed, sparse or oddly laid out input and bad parameters, either raises a
clear ValueError or TypeError or returns finite results of the right shape, and
never modifies the caller's arrays (issue 12).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.linalg import LinAlgError
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score

from statopt.datasets import make_cross_modal_data
from statopt.metrics import (
    cross_modal_map_scorer,
    mean_average_precision,
    retrieval_average_precision,
)
from statopt.multimodal import TensorCrossModalRegressor

FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Values at float64's edges, and the ones that are not numbers at all.
SPECIAL_VALUES = [0.0, -0.0, 5e-324, -5e-324, 2.2e-308, 1e-300, 1e300, -1e300,
                  np.finfo(np.float64).max, np.nan, np.inf, -np.inf]
N_FEATURES = 8
VIEWS = [np.arange(0, 3), np.arange(3, 5), np.arange(5, 8)]
MODALITIES = ["image", "image", "text"]
NO_RELEVANT = ".*queries have no relevant item"


def _clean(call, *documented):
    """Run ``call``: its result, or None after a clear ValueError / TypeError.

    Any other exception (IndexError, ZeroDivisionError, a numba error), a
    LinAlgError (a ValueError subclass, but not a clear message), or a warning
    other than the convergence and vanishing-factor warnings and the
    ``documented`` UserWarning messages fails.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        for message in ("Every factor shrank", *documented):
            warnings.filterwarnings("ignore", message, UserWarning)
        try:
            return call()
        except (ValueError, TypeError) as error:
            assert not isinstance(error, LinAlgError), error
            assert str(error), "an error without a message"
            return None


ROW_COUNTS = st.sampled_from([0, 1, 2, 3, 7, 20])


@st.composite
def matrices(draw, n_rows=ROW_COUNTS, n_cols=N_FEATURES):
    """A dense matrix with edge values, in an odd dtype or layout, or sparse."""
    n = draw(n_rows)
    d = draw(n_cols) if isinstance(n_cols, st.SearchStrategy) else n_cols
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, d))
    with np.errstate(all="ignore"):
        X *= 10.0 ** draw(st.sampled_from([0, -320, -310, -300, 150, 300, 307]))
        if X.size and draw(st.booleans()):
            flat = X.reshape(-1)
            for index in draw(st.lists(st.integers(0, X.size - 1), max_size=4)):
                flat[index] = draw(st.sampled_from(SPECIAL_VALUES))
        if d and draw(st.booleans()):
            X[:, draw(st.integers(0, d - 1))] = draw(st.sampled_from([0.0, 3.0, 1e300]))
        form = draw(st.sampled_from(["C", "F", "read-only", "strided", "float32",
                                     "int64", "bool", "object", "complex",
                                     "sparse", "list"]))
        if form == "F":
            X = np.asfortranarray(X)
        elif form == "read-only":
            X.flags.writeable = False
        elif form == "strided":
            X = np.repeat(X, 2, axis=1)[:, ::2]
        elif form in ("float32", "int64", "bool", "complex"):
            X = X.astype(form)
        elif form == "object":
            X = X.astype(object)
            if X.size:
                X[0, 0] = "a"
        elif form == "sparse":
            X = sp.csr_matrix(np.nan_to_num(X))
        elif form == "list":
            X = X.tolist()
    return X


def _copy(X):
    return X.copy() if hasattr(X, "copy") else [list(row) for row in X]


def _assert_unchanged(X, before):
    if sp.issparse(X):
        np.testing.assert_array_equal(X.toarray(), before.toarray())
    else:  # assert_equal on lists: NaN equals NaN, any dtype
        np.testing.assert_equal(np.asarray(X).tolist(), np.asarray(before).tolist())


def _finite_dense(X):
    """Whether X is a dense real array of finite values (what fit must accept)."""
    if sp.issparse(X):
        return False
    array = np.asarray(X)
    return (array.dtype.kind in "biuf" and array.ndim == 2
            and np.isfinite(array.astype(np.float64)).all())


def _fitted(loss):
    X, y, _, _ = make_cross_modal_data(40, n_views=(2, 1), n_features_per_view=3,
                                       random_state=0)
    X = X[:, :N_FEATURES]
    targets = {"multinomial": y, "logistic": np.eye(4)[y],
               "squared": y + 0.5}[loss]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return TensorCrossModalRegressor(
            2, views=VIEWS, modalities=MODALITIES, loss=loss, max_iter=5,
            random_state=0).fit(X, targets), X, targets


@pytest.fixture(scope="module")
def models():
    return {loss: _fitted(loss) for loss in ("multinomial", "logistic", "squared")}


@FAST
@given(X=matrices(), data=st.data())
def test_fit_is_clean_on_any_input(X, data):
    n = np.shape(X)[0]
    y = np.arange(n) % 2 if data.draw(st.booleans()) else np.linspace(0, 1, n)
    before, y_before = _copy(X), y.copy()
    model = TensorCrossModalRegressor(2, views=VIEWS, modalities=MODALITIES,
                                      max_iter=3, random_state=0)
    fitted = _clean(lambda: model.fit(X, y))
    _assert_unchanged(X, before)
    np.testing.assert_array_equal(y, y_before)
    if sp.issparse(X):
        with pytest.raises(TypeError, match="[Ss]parse"):
            model.fit(X, y)
    if _finite_dense(X) and n >= 2:
        # Finite input at any scale must fit (standardize=True rescales it).
        assert fitted is not None
        assert np.isfinite(fitted.predict(np.asarray(X, dtype=np.float64))).all()
        assert all(np.isfinite(theta).all() for theta in fitted.view_factors_)


def _targets(kind, n, rng):
    """Targets of every kind fit may meet, valid or not, for n rows."""
    labels = np.arange(n) % 3
    with np.errstate(all="ignore"):
        return {
            "labels": labels, "strings": np.array(["a", "b", "c"])[labels],
            "indicator": np.eye(3)[labels], "floats": rng.standard_normal(n),
            "float matrix": rng.standard_normal((n, 2)),
            "huge": rng.standard_normal(n) * 1e300,
            "subnormal": rng.standard_normal(n) * 1e-310,
            "nan": np.where(labels == 0, np.nan, 1.0),
            "inf": np.where(labels == 0, np.inf, 1.0),
            "one label": np.zeros(n, dtype=int),
            "short": labels[:-1], "3d": labels.reshape(-1, 1, 1),
            "sparse": sp.csr_matrix(np.eye(3)[labels]),
            "read-only F": np.asfortranarray(rng.standard_normal((n, 2))),
        }[kind]


@FAST
@given(kind=st.sampled_from(["labels", "strings", "indicator", "floats",
                             "float matrix", "huge", "subnormal", "nan", "inf",
                             "one label", "short", "3d", "sparse", "read-only F"]),
       loss=st.sampled_from(["auto", "squared", "logistic", "multinomial"]),
       n=st.sampled_from([2, 3, 12]), seed=st.integers(0, 100))
def test_fit_is_clean_on_any_target(kind, loss, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_FEATURES))
    y = _targets(kind, n, rng)
    if kind == "read-only F":
        y.flags.writeable = False
    before = _copy(y)
    model = TensorCrossModalRegressor(2, views=VIEWS, modalities=MODALITIES,
                                      loss=loss, max_iter=3, random_state=0)
    fitted = _clean(lambda: model.fit(X, y))
    _assert_unchanged(y, before)
    must_fit = (kind in ("labels", "strings")
                # With 2 rows, the third indicator column is constant: refused.
                or (kind == "indicator" and n >= 3)
                or (kind in ("floats", "float matrix", "subnormal", "read-only F")
                    and loss in ("auto", "squared")))
    assert fitted is not None or not must_fit
    if fitted is not None:
        assert kind not in ("nan", "inf", "short", "3d", "sparse", "one label")
        assert np.isfinite(fitted.predict(X)).all()
        assert np.isfinite(fitted.objective_curve_).all()


ALPHAS = [5e-324, 1e-300, 1e-12, 0.02, 1e10, 1e300, np.finfo(np.float64).max, 1,
          np.inf, np.nan, 0.0, -1.0, True, "0.1", None]
COUNTS = [1, 2, 0, -1, True, False, 2.0, "2", None]


@FAST
@given(alpha=st.sampled_from(ALPHAS), n_factors=st.sampled_from([*COUNTS, 10**7]),
       max_iter=st.sampled_from(COUNTS), tol=st.sampled_from([0.0, 1e-4, -1.0, np.nan]),
       loss=st.sampled_from(["auto", "squared", "logistic", "multinomial", "hinge"]),
       objective=st.sampled_from(["per_modality", "fused", "both"]),
       standardize=st.sampled_from([True, False, "yes"]))
def test_fit_parameters_are_validated_or_fit(alpha, n_factors, max_iter, tol, loss,
                                             objective, standardize):
    X, y, _, _ = make_cross_modal_data(30, n_views=(2, 1), n_features_per_view=3,
                                       random_state=1)
    X = X[:, :N_FEATURES]
    targets = y + 0.5 if loss == "squared" else y
    model = TensorCrossModalRegressor(
        n_factors, views=VIEWS, modalities=MODALITIES, alpha=alpha, max_iter=max_iter,
        tol=tol, loss=loss, objective=objective, standardize=standardize,
        random_state=0)
    fitted = _clean(lambda: model.fit(X, targets))
    valid = (type(alpha) in (int, float, np.float64) and 0 < alpha
             and float(alpha) * 30 < np.inf
             and type(n_factors) is int and n_factors in (1, 2)
             and type(max_iter) is int and max_iter in (1, 2)
             and tol >= 0 and loss != "hinge" and objective != "both"
             and standardize in (True, False))
    if not valid:
        assert fitted is None
        return
    # Valid parameters, extremes of alpha included, always fit.
    assert fitted is not None
    assert np.isfinite(fitted.objective_curve_).all()
    assert np.isfinite(fitted.predict(X)).all()


VIEW_LISTS = st.lists(
    st.one_of(st.lists(st.integers(-2, N_FEATURES + 1), max_size=4),
              st.lists(st.booleans(), min_size=N_FEATURES, max_size=N_FEATURES),
              st.lists(st.floats(0, 7), min_size=1, max_size=2),
              st.just(slice(0, 4)), st.just("abc"), st.just([[0, 1]])),
    min_size=0, max_size=3)


@FAST
@given(views=st.one_of(st.none(), VIEW_LISTS),
       modalities=st.one_of(st.none(), st.lists(
           st.sampled_from(["image", "text", "sound", 0, None]), max_size=3)))
def test_bad_views_and_modalities_are_clear_errors(views, modalities):
    X, y, _, _ = make_cross_modal_data(20, n_views=(1, 1), n_features_per_view=4,
                                       random_state=0)
    model = TensorCrossModalRegressor(2, views=views, modalities=modalities,
                                      max_iter=2, random_state=0)
    fitted = _clean(lambda: model.fit(X, y))
    if fitted is not None:
        # Accepted views are disjoint, in range, and cover both modalities.
        columns = np.concatenate(fitted._view_columns)
        assert np.unique(columns).size == columns.size
        assert columns.min() >= 0 and columns.max() < N_FEATURES
        assert set(fitted._view_modality) == {"image", "text"}


@FAST
@given(X=matrices(n_cols=st.sampled_from([N_FEATURES, N_FEATURES, 3, 5, 0])),
       loss=st.sampled_from(["multinomial", "logistic", "squared"]))
def test_prediction_methods_are_clean_on_any_input(models, X, loss):
    model, X_train, targets = models[loss]
    before = _copy(X)
    n = np.shape(X)[0]
    n_topics = model.topic_factors_["image"].shape[1]
    predictions = _clean(lambda: model.predict(X))
    image = _clean(lambda: model.transform(X, modality="image"))
    text_only = _clean(lambda: model.transform(X, modality="text",
                                                modality_only=True))
    similarity = _clean(lambda: model.cross_modal_similarity(X, X_train[:6]))
    ranking = _clean(lambda: model.retrieve(X_train[:3], X, "text", n_items=2))
    y = np.resize(targets, (n,) + targets.shape[1:])
    score = _clean(lambda: model.score(X, y))
    _assert_unchanged(X, before)
    for result in (predictions, image, text_only, similarity, ranking):
        if result is not None:
            assert result.shape[0] in (n, 3) and np.isfinite(result).all()
    if image is not None:
        assert image.shape == (n, n_topics)
    if similarity is not None:
        assert similarity.shape == (n, 6)
    if score is not None:
        assert np.isfinite(score) and n >= 2
    if _finite_dense(X) and np.shape(X)[1] == N_FEATURES and n >= 2:
        assert score is not None or np.abs(np.asarray(X, float)).max() > 1e150
    if sp.issparse(X):
        with pytest.raises(TypeError, match="[Ss]parse"):
            model.predict(X)


@FAST
@given(modality=st.sampled_from(["image", "text", "sound", None, 0]),
       modality_only=st.sampled_from([True, False, "yes", 1, None]),
       n_items=st.sampled_from([None, 1, 6, 7, 0, -1, 2.5, True, "2"]),
       input_features=st.sampled_from([None, ["a"], "x", 3]))
def test_method_arguments_are_validated(models, modality, modality_only, n_items,
                                        input_features):
    model, X, _ = models["multinomial"]
    columns = np.concatenate(VIEWS[:2]) if modality == "image" else VIEWS[2]
    rows = X[:4][:, columns] if modality_only is True else X[:4]
    embedded = _clean(lambda: model.transform(rows, modality=modality,
                                              modality_only=modality_only))
    assert (embedded is not None) == (modality in ("image", "text")
                                      and isinstance(modality_only, bool))
    similarity = _clean(lambda: model.cross_modal_similarity(
        X[:4], X[:6], query_modality=modality))
    assert (similarity is not None) == (modality in ("image", "text"))
    ranking = _clean(lambda: model.retrieve(X[:4], X[:6], n_items=n_items))
    valid = n_items is None or (type(n_items) is int and 1 <= n_items <= 6)
    assert (ranking is not None) == valid
    if valid:
        assert ranking.shape == (4, 6 if n_items is None else n_items)
    names = model.get_feature_names_out(input_features)
    assert list(names) == [str(label) for label in model.classes_]
    for loss in ("logistic", "squared"):
        other = models[loss][0]
        n_topics = other.topic_factors_["image"].shape[1]
        assert list(other.get_feature_names_out(input_features)) == [
            f"topic{p}" for p in range(n_topics)]


def test_sparse_input_is_a_clear_type_error(models):
    model, X, targets = models["multinomial"]
    sparse = sp.csr_matrix(X)
    for call in (lambda: model.fit(sparse, targets), lambda: model.predict(sparse),
                 lambda: model.transform(sparse), lambda: model.score(sparse, targets),
                 lambda: model.cross_modal_similarity(sparse, X),
                 lambda: model.retrieve(X, sparse)):
        with pytest.raises(TypeError, match="[Ss]parse"):
            call()


@FAST
@given(n_samples=st.sampled_from([2, 5, 0, 1, True, 3.0, -4, None, 10**9]),
       n_topics=st.sampled_from([2, 3, 1, True, 2.5, 10**10]),
       n_views=st.sampled_from([(2, 2), (1, 3), [1, 1], (0, 2), (2,), (1, 2, 3),
                                (2.5, 2), (True, 2), "ab", 3, (1e300, 1)]),
       n_features_per_view=st.sampled_from([1, 3, 0, True, 2.0]),
       separation=st.sampled_from([0.0, 3.0, 1e300, np.finfo(np.float64).max,
                                   -1.0, np.inf, np.nan, "3", True]),
       seed=st.integers(0, 10))
def test_make_cross_modal_data_is_clean(n_samples, n_topics, n_views,
                                        n_features_per_view, separation, seed):
    result = _clean(lambda: make_cross_modal_data(
        n_samples, n_topics=n_topics, n_views=n_views,
        n_features_per_view=n_features_per_view, separation=separation,
        random_state=seed))
    valid = (type(n_samples) is int and n_samples >= 2
             and type(n_topics) is int and n_topics >= 2
             and isinstance(n_views, (tuple, list)) and len(n_views) == 2
             and all(type(v) is int and v >= 1 for v in n_views)
             and type(n_features_per_view) is int and n_features_per_view >= 1
             and isinstance(separation, float) and 0 <= separation < np.inf)
    # Beyond 2 GiB of output the simulator refuses (a typo, not a wish).
    valid = valid and max(n_samples * sum(n_views),
                          n_topics) * n_features_per_view <= 2**28
    assert (result is not None) == valid
    if valid:
        X, y, views, modalities = result
        assert X.shape == (n_samples, sum(n_views) * n_features_per_view)
        assert np.isfinite(X).all() and y.min() >= 0 and y.max() < n_topics
        assert modalities == ["image"] * n_views[0] + ["text"] * n_views[1]
        np.testing.assert_array_equal(np.concatenate(views), np.arange(X.shape[1]))


LABELS = st.one_of(
    st.lists(st.integers(0, 2), min_size=0, max_size=6),
    st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=6),
    st.lists(st.lists(st.integers(0, 1), min_size=2, max_size=2), min_size=1,
             max_size=6),
    st.lists(st.sampled_from([0.0, 1.0, np.nan]), min_size=1, max_size=6),
    st.just([[2, 0], [0, 1]]), st.just(5))


@FAST
@given(similarity=matrices(n_rows=st.sampled_from([0, 1, 2, 4]),
                           n_cols=st.sampled_from([0, 1, 3, 4])),
       query_labels=LABELS, item_labels=LABELS,
       weights=st.sampled_from([None, "ones", "zeros", "negative", "nan", "short"]))
def test_retrieval_metrics_are_clean(similarity, query_labels, item_labels, weights):
    before = _copy(similarity)
    n_queries = len(query_labels) if isinstance(query_labels, list) else 0
    sample_weight = {None: None, "ones": np.ones(n_queries),
                     "zeros": np.zeros(n_queries), "negative": -np.ones(n_queries),
                     "nan": np.full(n_queries, np.nan),
                     "short": np.ones(n_queries + 1)}[weights]
    ap = _clean(lambda: retrieval_average_precision(similarity, query_labels,
                                                    item_labels))
    # Documented: queries without a relevant item are left out, with a warning.
    score = _clean(lambda: mean_average_precision(
        similarity, query_labels, item_labels, sample_weight=sample_weight),
        NO_RELEVANT)
    _assert_unchanged(similarity, before)
    if ap is not None:
        relevant = _relevance(query_labels, item_labels)
        dense = np.asarray(similarity, dtype=np.float64)
        assert ap.shape == (dense.shape[0],)
        for row, rel, value in zip(dense, relevant, ap):
            if rel.any():
                assert value == pytest.approx(average_precision_score(rel, row),
                                              rel=1e-12)
            else:
                assert np.isnan(value)
    if score is not None:
        assert ap is not None and 0 < score <= 1
        assert weights in (None, "ones")


def _relevance(query_labels, item_labels):
    """Relevance by plain Python: equal labels, or a shared 1 in indicator rows."""
    def shares(a, b):
        if isinstance(a, list):
            return any(x == 1 and z == 1 for x, z in zip(a, b))
        return a == b

    return np.array([[shares(a, b) for b in item_labels] for a in query_labels],
                    dtype=bool).reshape(len(query_labels), len(item_labels))


@FAST
@given(X=matrices(n_rows=st.sampled_from([0, 1, 2, 5])),
       y_kind=st.sampled_from(["labels", "short", "nan", "indicator", "scalar"]))
def test_cross_modal_map_scorer_is_clean(models, X, y_kind):
    model = models["multinomial"][0]
    n = np.shape(X)[0]
    y = {"labels": np.arange(n) % 2, "short": np.arange(n + 1) % 2,
         "nan": np.full(n, np.nan), "indicator": np.eye(2)[np.arange(n) % 2],
         "scalar": 3}[y_kind]
    score = _clean(lambda: cross_modal_map_scorer(model, X, y), NO_RELEVANT)
    if score is not None:
        assert 0 < score <= 1 and y_kind in ("labels", "indicator")
