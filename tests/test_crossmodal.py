"""TensorCrossModalRegressor: block updates, monotone descent, retrieval, API, data."""

import os
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.cross_decomposition import CCA, PLSCanonical
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import statopt.multimodal._bcd as bcd
from statopt.datasets import load_wikipedia_crossmodal, make_cross_modal_data
from statopt.metrics import cross_modal_map_scorer, mean_average_precision
from statopt.multimodal import TensorCrossModalRegressor
from statopt.multimodal._bcd import TensorState


def _state(loss, objective="per_modality", seed=0, n_samples=60):
    """A small problem: two image views (3 and 2 columns) and one text view (4)."""
    rng = np.random.default_rng(seed)
    designs = [np.hstack([np.ones((n_samples, 1)), rng.standard_normal((n_samples, d))])
               for d in (3, 2, 4)]
    labels = rng.integers(0, 3, n_samples)
    targets = np.eye(3)[labels] if loss != "squared" else rng.standard_normal(
        (n_samples, 3))
    rank = 2
    thetas = [rng.standard_normal((Z.shape[1], rank)) for Z in designs]
    phi = {m: rng.standard_normal((rank, 3)) for m in bcd.MODALITIES}
    return TensorState(designs, ["image", "image", "text"], targets, loss, objective,
                       0.7, thetas, phi, np.array([0.2, 0.5, 0.9]))


def _block_minimum(state, get, put):
    """The objective's minimum over one block by L-BFGS, the others fixed."""
    start = get(state).copy()

    def objective(values):
        put(state, values.reshape(start.shape))
        return state.objective()

    result = minimize(objective, start.ravel(), method="L-BFGS-B",
                      options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000})
    put(state, start)
    return result.x.reshape(start.shape), result.fun


def _theta_accessors(view):
    def get(state):
        return state.thetas[view]

    def put(state, value):
        state.thetas[view] = value
        state.refresh()

    return get, put


def _get_phi(state):
    return np.vstack([state.phi["image"], state.phi["text"]])


def _put_phi(state, value):
    rank = state.phi["image"].shape[0]
    state.phi = {"image": value[:rank], "text": value[rank:]}
    state.refresh()


@pytest.mark.parametrize("view", [0, 1, 2])
@pytest.mark.parametrize("direct_max_size", [bcd.DIRECT_MAX_SIZE, 0])
def test_view_factor_update_is_the_exact_block_minimiser(view, direct_max_size,
                                                         monkeypatch):
    # Views 0 and 1 share the image modality (explicit Hessian or CG); view 2 is
    # the only text view (Kronecker eigen-solve).
    monkeypatch.setattr(bcd, "DIRECT_MAX_SIZE", direct_max_size)
    state = _state("squared")
    expected, best = _block_minimum(state, *_theta_accessors(view))
    state.update_theta(view)
    np.testing.assert_allclose(state.thetas[view], expected, rtol=1e-5, atol=1e-6)
    assert state.objective() == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("objective", ["per_modality", "fused"])
def test_topic_factor_update_is_the_exact_block_minimiser(objective):
    state = _state("squared", objective)
    expected, best = _block_minimum(state, _get_phi, _put_phi)
    state.update_phi()
    np.testing.assert_allclose(_get_phi(state), expected, rtol=1e-5, atol=1e-6)
    assert state.objective() == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("loss", ["squared", "logistic", "multinomial"])
def test_blend_update_is_the_exact_block_minimiser(loss):
    state = _state(loss, "fused")

    def objective_of(blend):
        state.blend = blend
        return state.objective()

    start = state.blend.copy()
    result = minimize(objective_of, start, method="L-BFGS-B", bounds=[(0, 1)] * 3,
                      options={"ftol": 1e-15, "gtol": 1e-10})
    state.blend = start
    state.update_blend()
    assert state.objective() == pytest.approx(result.fun, rel=1e-9)
    np.testing.assert_allclose(state.blend, result.x, atol=1e-4)


@pytest.mark.parametrize("loss", ["logistic", "multinomial"])
def test_majorised_updates_descend_to_the_block_minimum(loss):
    # One update minimises a majoriser; repeated, they reach the block minimum.
    state = _state(loss)
    expected, best = _block_minimum(state, *_theta_accessors(2))
    values = [state.objective()]
    for _ in range(300):
        state.update_theta(2)
        values.append(state.objective())
    assert np.all(np.diff(values) <= 1e-12 * np.abs(values[1:]))
    assert values[-1] == pytest.approx(best, rel=1e-8)
    state = _state(loss)
    expected, best = _block_minimum(state, _get_phi, _put_phi)
    for _ in range(300):
        state.update_phi()
    assert state.objective() == pytest.approx(best, rel=1e-8)


@pytest.mark.parametrize("loss", ["squared", "logistic", "multinomial"])
@pytest.mark.parametrize("objective", ["per_modality", "fused"])
def test_objective_never_rises(loss, objective):
    X, y, views, modalities = make_cross_modal_data(300, random_state=1)
    targets = y if loss != "squared" else np.eye(4)[y] + 0.1
    model = TensorCrossModalRegressor(5, views=views, modalities=modalities,
                                      loss=loss, objective=objective, max_iter=60,
                                      tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: all 60 sweeps
        model.fit(X, targets)
    curve = np.array(model.objective_curve_)
    assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[1:]))
    assert 0 <= model.blend_weights_.min() and model.blend_weights_.max() <= 1


def _map(similarity, labels):
    """mAP by scikit-learn's average_precision_score, query by query."""
    return np.mean([average_precision_score(labels == labels[i], similarity[i])
                    for i in range(len(labels))])


def test_multiplicative_model_beats_linear_methods_on_simulated_views():
    X, y, views, modalities = make_cross_modal_data(1200, random_state=0)
    train, test = slice(0, 600), slice(600, None)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X[train], y[train])
    similarity = model.cross_modal_similarity(X[test], X[test])
    ours = _map(similarity, y[test]), _map(similarity.T, y[test])
    assert mean_average_precision(similarity, y[test], y[test]) == pytest.approx(
        ours[0], rel=1e-12)
    image, text = np.concatenate(views[:2]), np.concatenate(views[2:])
    for linear in (CCA(3), PLSCanonical(3)):
        theirs = _linear_map(linear, X, y, image, text, train, test)
        assert min(ours) > max(theirs) + 0.3


def _linear_map(linear, X, y, image, text, train, test):
    """mAP both ways of a linear two-view method (cosine of standardised maps)."""
    scaler_i, scaler_t = StandardScaler(), StandardScaler()
    linear.fit(scaler_i.fit_transform(X[train][:, image]),
               scaler_t.fit_transform(X[train][:, text]))
    a, b = linear.transform(scaler_i.transform(X[test][:, image]),
                            scaler_t.transform(X[test][:, text]))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return _map(a @ b.T, y[test]), _map(b @ a.T, y[test])


def test_transform_uses_one_modality_and_retrieve_ranks_by_similarity():
    X, y, views, modalities = make_cross_modal_data(200, random_state=2)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X, y)
    image_columns = np.concatenate(views[:2])
    masked = X.copy()
    masked[:, np.concatenate(views[2:])] = np.nan
    np.testing.assert_allclose(model.transform(masked, "image"),
                               model.transform(X, "image"))
    np.testing.assert_allclose(
        model.transform(X[:, image_columns], "image", modality_only=True),
        model.transform(X, "image"))
    with pytest.raises(ValueError, match="image columns of X hold NaN"):
        model.transform(np.where(np.isnan(masked), 0.0, np.nan), "image")
    similarity = model.cross_modal_similarity(X[:5], X, "text")
    ranking = model.retrieve(X[:5], X, "text", n_items=7)
    assert ranking.shape == (5, 7)
    np.testing.assert_array_equal(
        np.take_along_axis(similarity, ranking, axis=1),
        -np.sort(-similarity, axis=1)[:, :7])
    # Multinomial similarity is the probability that two items share the label.
    assert np.all((similarity >= 0) & (similarity <= 1))


def test_targets_labels_indicators_and_regression():
    X, y, views, modalities = make_cross_modal_data(150, random_state=3)
    labels = np.array(["a", "b", "c", "d"])[y]
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X, labels)
    assert model.loss_ == "multinomial" and list(model.classes_) == list("abcd")
    assert model.predict(X).shape == (150, 4)
    indicators = np.eye(4)[y]
    indicators[::3, 0] = 1  # multi-label rows
    model.fit(X, indicators)
    assert model.loss_ == "logistic" and model.classes_ is None
    model.fit(X, y + 0.5)
    assert model.loss_ == "squared" and model.predict(X).shape == (150,)
    assert 0 < model.score(X, y + 0.5) <= 1


def test_pipeline_and_grid_search_with_retrieval_scorer():
    X, y, views, modalities = make_cross_modal_data(400, random_state=4)
    search = GridSearchCV(
        make_pipeline(TensorCrossModalRegressor(views=views, modalities=modalities,
                                                random_state=0)),
        {"tensorcrossmodalregressor__alpha": [0.01, 0.05]}, cv=2,
        scoring=lambda estimator, X, y: cross_modal_map_scorer(estimator[-1], X, y))
    search.fit(X, y)
    assert search.best_score_ > 0.6


@pytest.mark.parametrize("params, message", [
    ({"views": [[0, 1], [1, 2]], "modalities": ["image", "text"]}, "overlap"),
    ({"views": [[0, 1], [2, 99]], "modalities": ["image", "text"]}, "outside"),
    ({"views": [[0, 1], [2, 3]], "modalities": ["image", "image"]}, "text modality"),
    ({"views": [[0, 1], [2, 3]], "modalities": ["image", "sound"]}, "'image' or"),
    ({"views": [[0, 1], []], "modalities": ["image", "text"]}, "non-empty"),
    ({"views": [[0, 1], [2, 3]]}, "Pass modalities"),
    ({"views": [[0, 1], [2, 3]], "modalities": ["image"]}, "one modality per"),
])
def test_bad_views_raise_clear_errors(params, message):
    X, y, *_ = make_cross_modal_data(50, random_state=0)
    with pytest.raises(ValueError, match=message):
        TensorCrossModalRegressor(**params).fit(X, y)


def test_bad_targets_raise_clear_errors():
    X, y, views, modalities = make_cross_modal_data(50, random_state=0)
    model = TensorCrossModalRegressor(views=views, modalities=modalities)
    indicators = np.eye(4)[y]
    indicators[:, 2] = 0  # a label with no rows
    with pytest.raises(ValueError, match="constant"):
        model.fit(X, indicators)
    with pytest.raises(ValueError, match="one label per row"):
        model.set_params(loss="multinomial").fit(X, np.eye(4)[y] + np.eye(4)[
            (y + 1) % 4])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        model.set_params(loss="logistic").fit(X, y * 2.5)
    with pytest.raises(ValueError, match="NaN"):
        model.set_params(loss="auto").fit(np.where(X > 2, np.nan, X), y)


def test_wikipedia_retrieval_beats_the_baselines():
    try:
        data = load_wikipedia_crossmodal()
    except FileNotFoundError as error:
        pytest.skip(f"wikipedia_crossmodal data not available: {error}")
    model = TensorCrossModalRegressor(views=data.views, modalities=data.modalities,
                                      random_state=0).fit(data.X_train, data.y_train)
    similarity = model.cross_modal_similarity(data.X_test, data.X_test)
    image_to_text = mean_average_precision(similarity, data.y_test, data.y_test)
    text_to_image = mean_average_precision(similarity.T, data.y_test, data.y_test)
    # The best baseline measured on this split (logistic-regression class
    # probabilities, cosine): 0.278 and 0.212.
    assert image_to_text >= 0.28 and text_to_image >= 0.22
    # The default score is the retrieval score (issue 12: it was R^2, -29.7).
    assert model.score(data.X_test, data.y_test) == pytest.approx(
        0.5 * (image_to_text + text_to_image), rel=1e-12)


def test_too_strong_a_penalty_says_the_factors_vanished():
    X, y, views, modalities = make_cross_modal_data(200, random_state=0)
    with pytest.warns(UserWarning, match="shrank to zero"):
        TensorCrossModalRegressor(views=views, modalities=modalities, alpha=1.0,
                                  random_state=0).fit(X, y)


def test_pandas_input_and_output():
    pd = pytest.importorskip("pandas")
    X, y, views, modalities = make_cross_modal_data(200, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = np.array(list("abcd"))[y]
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(frame, labels)
    assert list(model.feature_names_in_) == list(frame.columns)
    scores = model.set_output(transform="pandas").transform(frame, modality="text")
    assert list(scores.columns) == list("abcd")
    np.testing.assert_allclose(scores.to_numpy(),
                               model.set_output(transform="default").transform(
                                   frame, modality="text"))


def test_caller_arrays_are_not_modified():
    X, y, views, modalities = make_cross_modal_data(120, random_state=0)
    X_before, y_before = X.copy(), y.copy()
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X, y)
    model.predict(X)
    model.transform(X, modality="text")
    model.cross_modal_similarity(X, X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("loss", ["squared", "logistic", "multinomial"])
@pytest.mark.parametrize("alpha", [1e-300, 1e-20])
def test_tiny_alpha_fits_without_singular_block_systems(loss, alpha):
    # Issue 12: alpha=1e-300 made H + alpha I singular (LinAlgError in Cholesky).
    X, y, views, modalities = make_cross_modal_data(60, random_state=0)
    targets = {"squared": y + 0.5, "logistic": np.eye(4)[y],
               "multinomial": y}[loss]
    model = TensorCrossModalRegressor(4, views=views, modalities=modalities,
                                      loss=loss, alpha=alpha, max_iter=15,
                                      random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, targets)
    curve = np.array(model.objective_curve_)
    assert np.isfinite(curve).all()
    assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[1:]))
    assert np.isfinite(model.predict(X)).all()


def test_tiny_alpha_with_fewer_rows_than_parameters():
    # Issue 12: the default two views on 2 to 5 rows, alpha=1e-300.
    rng = np.random.default_rng(0)
    for n_samples in (2, 3, 5):
        X, y = rng.standard_normal((n_samples, 4)), rng.standard_normal(n_samples)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = TensorCrossModalRegressor(alpha=1e-300, random_state=0).fit(X, y)
        assert np.isfinite(model.predict(X)).all()


def _map_both_ways(similarity, labels):
    """Mean of the two directions' mAP, by scikit-learn's average precision."""
    return 0.5 * (_map(similarity, labels) + _map(similarity.T, labels))


def test_score_is_the_retrieval_map_for_labels_and_r2_for_floats():
    X, y, views, modalities = make_cross_modal_data(160, random_state=5)
    train, test = slice(0, 100), slice(100, None)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X[train], y[train])
    similarity = model.cross_modal_similarity(X[test], X[test])
    assert model.score(X[test], y[test]) == pytest.approx(
        _map_both_ways(similarity, y[test]), rel=1e-12)
    assert model.score(X[test], y[test, None]) == model.score(X[test], y[test])
    # Weighted queries: the weighted mean of scikit-learn's per-query AP.
    weights = np.random.default_rng(0).uniform(0, 2, 60)
    expected = 0.5 * sum(
        np.average([average_precision_score(y[test] == y[test][i], row[i])
                    for i in range(60)], weights=weights)
        for row in (similarity, similarity.T))
    assert model.score(X[test], y[test], sample_weight=weights) == pytest.approx(
        expected, rel=1e-12)
    targets = np.eye(4)[y] * 2.0 + 0.3
    model.fit(X[train], targets[train])
    assert model.score(X[test], targets[test]) == pytest.approx(
        r2_score(targets[test], model.predict(X[test])), rel=1e-12)


@pytest.mark.parametrize("scale", [1.0, 2.0**1021, 2.0**-1070])
def test_regression_score_ignores_a_common_factor_of_the_weights(scale):
    # As tests/test_audit.py checks the other estimators: R^2 divides by sums of
    # weights, which overflow for weights near float64's maximum. Integer weights
    # of at most 3 times 2**-1070 are exact subnormal numbers, valid (finite,
    # non-negative, not all zero) for scikit-learn's weight check.
    X, y, views, modalities = make_cross_modal_data(120, random_state=7)
    targets = np.eye(4)[y] * 2.0 + 0.3 + np.random.default_rng(0).normal(
        0, 0.5, (120, 4))
    train, test = slice(0, 80), slice(80, None)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X[train], targets[train])
    assert model.loss_ == "squared"
    weights = np.random.default_rng(1).integers(0, 4, 40).astype(float)
    expected = r2_score(targets[test], model.predict(X[test]),
                        sample_weight=weights)
    # The weights matter, so the comparison can tell.
    assert abs(expected - r2_score(targets[test], model.predict(X[test]))) > 1e-3
    assert model.score(X[test], targets[test],
                       sample_weight=weights * scale) == pytest.approx(
        expected, rel=1e-12)


def test_score_with_one_row_is_a_clear_error():
    # Issue 12: score with one row returned NaN (R^2 of a single sample).
    X, y, views, modalities = make_cross_modal_data(60, random_state=0)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for targets in (y, y + 0.5):
            model.fit(X, targets)
            with pytest.raises(ValueError, match="minimum of 2"):
                model.score(X[:1], targets[:1])
            with pytest.raises(ValueError, match="rows|inconsistent numbers"):
                model.score(X[:5], targets[:4])


def test_grid_search_without_scoring_tunes_for_retrieval():
    X, y, views, modalities = make_cross_modal_data(200, random_state=6)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0)
    grid = {"alpha": [0.01, 0.1]}
    default = GridSearchCV(model, grid, cv=2).fit(X, y)
    scored = GridSearchCV(model, grid, cv=2, scoring=cross_modal_map_scorer).fit(X, y)
    np.testing.assert_allclose(default.cv_results_["mean_test_score"],
                               scored.cv_results_["mean_test_score"], rtol=1e-12)


@pytest.mark.parametrize("n_items", [2.5, -1, 0, True, "3"])
def test_retrieve_refuses_bad_n_items(n_items):
    # Issue 12: n_items=2.5 raised a TypeError from slicing; -1 kept n - 1 items.
    X, y, views, modalities = make_cross_modal_data(40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                          random_state=0, max_iter=3).fit(X, y)
    with pytest.raises((ValueError, TypeError), match="n_items"):
        model.retrieve(X[:2], X[:5], n_items=n_items)
    with pytest.raises(ValueError, match="exceeds the 5 items"):
        model.retrieve(X[:2], X[:5], n_items=6)
    assert model.retrieve(X[:2], X[:5], n_items=5).shape == (2, 5)


def _kernel_signatures():
    from statopt.multimodal import _kernels

    return {name: list(getattr(_kernels, name).signatures)
            for name in ("loss_and_derivative", "best_blend",
                         "best_blend_multinomial")}


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="no compilation without the JIT")
def test_odd_layouts_and_dtypes_compile_no_new_kernels():
    X, y, views, modalities = make_cross_modal_data(50, random_state=0)
    model = TensorCrossModalRegressor(3, views=views, modalities=modalities,
                                      random_state=0, max_iter=2)
    float_targets = np.eye(4)[y] + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for loss, targets in [("multinomial", y), ("logistic", np.eye(4)[y]),
                              ("squared", float_targets), ("squared", y + 0.5)]:
            model.set_params(loss=loss).fit(X, targets)
        before = _kernel_signatures()
        read_only_X, read_only_targets = X.copy(), float_targets.copy()
        read_only_X.flags.writeable = read_only_targets.flags.writeable = False
        for loss, inputs in [
            ("squared", (read_only_X, read_only_targets)),
            ("squared", (np.asfortranarray(X), np.asfortranarray(float_targets))),
            ("squared", (X.astype(np.float32), float_targets.astype(np.float32))),
            ("squared", (X[:, ::-1][:, ::-1], float_targets[:, ::-1][:, ::-1])),
            ("squared", (X, (y + 0.5).astype(np.float32)[::-1][::-1])),
            ("logistic", (read_only_X, np.asfortranarray(np.eye(4)[y]))),
            ("multinomial", (np.asfortranarray(X), y.astype(np.int32))),
        ]:
            model.set_params(loss=loss).fit(*inputs)
    assert _kernel_signatures() == before


# Subnormal numbers keep fewer digits: about 13 at 1e-310, 3 at 1e-320.
@pytest.mark.parametrize("scale, rtol", [(1e300, 1e-8), (1e-310, 1e-6),
                                         (1e-320, 1e-2)])
def test_standardisation_is_scale_free_up_to_float64_limits(scale, rtol):
    # Columns near 1e300 or subnormal: their moments computed naively overflow or
    # underflow. The fit must equal the fit on the unscaled columns.
    X, y, views, modalities = make_cross_modal_data(80, random_state=0)
    model = TensorCrossModalRegressor(3, views=views, modalities=modalities,
                                      max_iter=5, random_state=0)
    scaled = X.copy()
    scaled[:, views[0]] *= scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = model.fit(X, y).predict(X)
        got = model.fit(scaled, y).predict(scaled)
    np.testing.assert_allclose(got, expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())


def test_extrapolation_that_overflows_is_rejected_not_raised():
    # The fit runs under np.errstate(over="raise"): an extrapolated point whose
    # products overflow is a rejected trial, and the state is restored.
    state = _state("multinomial")
    objective = state.objective()
    current = state.parameters()
    far = ([-1e300 * theta for theta in current[0]],
           {m: -1e300 * phi for m, phi in current[1].items()}, current[2])
    with np.errstate(over="raise", invalid="raise"):
        value, accepted = bcd.extrapolate(state, far, objective, 16.0)
    assert not accepted and value == objective
    for now, before in zip(state.thetas, current[0]):
        np.testing.assert_array_equal(now, before)
    assert state.objective() == objective


def test_sizes_beyond_two_gib_are_refused_before_allocating():
    X, y, views, modalities = make_cross_modal_data(50, random_state=0)
    # Multinomial: the topic-factor system has (2 R P)^2 = 24000^2 entries.
    with pytest.raises(ValueError, match="n_factors=3000 .* GiB"):
        TensorCrossModalRegressor(3000, views=views, modalities=modalities).fit(X, y)
    with pytest.raises(ValueError, match="GiB"):
        make_cross_modal_data(10, n_topics=10**10)


@pytest.mark.parametrize("objective", ["per_modality", "fused"])
def test_balance_is_the_exact_minimiser_over_rescalings(objective):
    # Rescaling a component's factors by numbers of product 1 keeps the scores
    # (so every loss term, fused or per modality, with the blend untouched); the
    # balanced penalty must match a generic minimiser over those rescalings.
    state = _state("multinomial", objective)
    scores = {m: state.topic_scores[m].copy() for m in bcd.MODALITIES}
    before = state.objective()
    factor_sets = {"image": [0, 1], "text": [2]}

    def objective_of(log_scales):
        # Per modality and component: free log-scales of the views, phi's closes
        # the product to 1.
        penalty, offset = 0.0, 0
        for modality, views in factor_sets.items():
            for r in range(2):
                logs = log_scales[offset:offset + len(views)]
                offset += len(views)
                penalty += sum(np.exp(2 * s) * np.sum(state.thetas[v][:, r] ** 2)
                               for s, v in zip(logs, views))
                penalty += np.exp(-2 * logs.sum()) * np.sum(state.phi[modality][r] ** 2)
        return penalty

    reference = minimize(objective_of, np.zeros(6), method="BFGS",
                         options={"gtol": 1e-12}).fun
    loss = before - 0.5 * state.alpha * objective_of(np.zeros(6))
    state.balance()
    for m in bcd.MODALITIES:
        np.testing.assert_allclose(state.topic_scores[m], scores[m], rtol=1e-12,
                                   atol=1e-12)
    assert state.objective() == pytest.approx(loss + 0.5 * state.alpha * reference,
                                              rel=1e-10)
    assert state.objective() < before


def test_wide_multi_view_fit_converges_at_the_defaults_and_beats_pls():
    # Six views of 3 to 120 columns (the shape of the six-view digits benchmark,
    # halved), three per modality: the defaults converge (pytest turns a
    # ConvergenceWarning into an error), far below the objective of the all-zero
    # model (log 4 per term, where too small a start used to collapse), and
    # retrieve far better than PLS.
    widths = [120, 108, 32, 38, 24, 3]
    X, y, views, modalities = make_cross_modal_data(
        1000, n_views=(3, 3), n_features_per_view=widths, random_state=0)
    train, test = slice(0, 500), slice(500, None)
    model = TensorCrossModalRegressor(views=views, modalities=modalities,
                                      random_state=0).fit(X[train], y[train])
    assert model.n_iter_ < model.max_iter
    assert model.objective_curve_[-1] < 0.5 * 3 * np.log(4)
    similarity = model.cross_modal_similarity(X[test], X[test])
    ours = _map(similarity, y[test]), _map(similarity.T, y[test])
    image, text = np.concatenate(views[:3]), np.concatenate(views[3:])
    theirs = _linear_map(PLSCanonical(3), X, y, image, text, train, test)
    assert min(ours) > 0.9 and min(ours) > max(theirs) + 0.4


def test_kronecker_preconditioner_is_exact_for_a_constant_other_factor():
    # With C = 1 (ones), the Hessian is (Z'Z) kron Phi_w + ridge I exactly.
    state = _state("squared")
    Z = state.designs[0]
    rng = np.random.default_rng(3)
    phi_w = rng.standard_normal((2, 2))
    phi_w = phi_w @ phi_w.T
    others = np.ones((Z.shape[0], 2))
    solve = state._kronecker_preconditioner(0, others, phi_w, 0.3)
    right = rng.standard_normal((Z.shape[1], 2))
    hessian = np.kron(Z.T @ Z, phi_w) + 0.3 * np.eye(right.size)
    np.testing.assert_allclose(solve(right).ravel(),
                               np.linalg.solve(hessian, right.ravel()), rtol=1e-9)


def _flat_parameters(model):
    return np.concatenate([theta.ravel() for theta in model.view_factors_]
                          + [model.topic_factors_[m].ravel() for m in bcd.MODALITIES]
                          + [model.blend_weights_])


@pytest.mark.parametrize("objective", ["per_modality", "fused"])
def test_converged_fit_is_a_point_scipy_cannot_improve(objective):
    # Reference independent of the block updates, extrapolation and balancing:
    # L-BFGS-B on all parameters at once (blend bounded to [0, 1]), started at the
    # converged fit. Had any step of the sweep (a block solve, the balancing)
    # changed the objective it claims to minimise, the fit would stop away from
    # a stationary point and L-BFGS-B would lower the objective from there.
    X, y, views, modalities = make_cross_modal_data(120, n_features_per_view=3,
                                                    random_state=0)
    alpha = 0.02
    model = TensorCrossModalRegressor(2, views=views, modalities=modalities,
                                      objective=objective, alpha=alpha, tol=1e-10,
                                      max_iter=5000, random_state=0).fit(X, y)
    designs = model._designs(X, range(len(views)))
    shapes = [theta.shape for theta in model.view_factors_]
    n_topics = model.blend_weights_.size

    def unpack(values):
        pieces = np.split(values, np.cumsum(
            [a * b for a, b in shapes] + [2 * n_topics] * 2))
        thetas = [piece.reshape(shape) for piece, shape in zip(pieces, shapes)]
        phi = {m: piece.reshape(2, n_topics)
               for m, piece in zip(bcd.MODALITIES, pieces[len(shapes):])}
        return thetas, phi, pieces[-1]

    start = _flat_parameters(model)
    state = TensorState(designs, model._view_modality, np.eye(4)[y], "multinomial",
                        objective, alpha * len(y), *unpack(start.copy()))

    def mean_objective(values):
        state.set_parameters(unpack(values))
        return state.objective() / len(y)

    ours = mean_objective(start)
    assert ours == pytest.approx(model.objective_curve_[-1], rel=1e-12)
    bounds = [(None, None)] * (start.size - n_topics) + [(0.0, 1.0)] * n_topics
    polished = minimize(mean_objective, start, method="L-BFGS-B", bounds=bounds,
                        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000})
    assert polished.fun > ours * (1 - 1e-6)
