"""The worst-case accuracy scorer and the robust refit rule (statopt.metrics).

The scorer is checked against a brute force: every row moved by -epsilon times the
unit direction of each of its margins ``w_y - w_k`` and classified by the model's
own ``predict``; random perturbations of the same size never break a row it calls
robust. With sample weights it is checked against scikit-learn's weighted
accuracy of predictions wrong exactly where a row's distance to a class boundary
is at most epsilon, against repeated rows, exact rational sums, and through
GridSearchCV's metadata routing. The refit rule is checked on hand-made
``cv_results_`` and inside GridSearchCV.
"""

from fractions import Fraction
from functools import cache

import numpy as np
import pytest
import sklearn
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import NotFittedError, UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import UNCHANGED

from statopt import RobustPairedClassifier
from statopt.linear_model import critical_radius, worst_case_accuracy
from statopt.metrics import make_robust_refit, make_worst_case_accuracy_scorer


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:, :5])
    return X, y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _brute_force(model, X, y, epsilon):
    """Share of rows that every margin's worst perturbation leaves correct."""
    coef = np.atleast_2d(model.coef_)
    labels = np.searchsorted(model.classes_, y)
    correct = model.predict(X) == y
    if coef.shape[0] == 1:
        sign = 2.0 * labels - 1.0
        step = -sign[:, None] * coef[0] / np.linalg.norm(coef[0])
        return np.mean(correct & (model.predict(X + epsilon * step) == y))
    for k in range(coef.shape[0]):
        diff = coef[labels] - coef[k]
        size = np.linalg.norm(diff, axis=1, keepdims=True)
        step = -np.divide(diff, size, out=np.zeros_like(diff), where=size > 0)
        correct &= model.predict(X + epsilon * step) == y
    return np.mean(correct)


def _margin_gap(model, X, y, epsilon):
    """Smallest distance of a row's margin from the robustness threshold."""
    coef = np.atleast_2d(model.coef_)
    scores = X @ coef.T + model.intercept_
    labels = np.searchsorted(model.classes_, y)
    if coef.shape[0] == 1:
        margin = (2.0 * labels - 1.0) * scores[:, 0]
        return np.min(np.abs(margin - epsilon * np.linalg.norm(coef[0])))
    rows = np.arange(len(y))
    gaps = []
    for k in range(coef.shape[0]):
        other = labels != k
        margin = scores[rows, labels] - scores[:, k]
        size = np.linalg.norm(coef[labels] - coef[k], axis=1)
        gaps.append(np.abs(margin - epsilon * size)[other])
    return np.min(np.concatenate(gaps))


@pytest.mark.parametrize("data", ["cancer", "iris"])
@pytest.mark.parametrize("estimator", [
    LogisticRegression(C=0.3), RobustPairedClassifier(radius=0.05),
    RidgeClassifier(alpha=1.0)])
def test_scorer_equals_brute_force(data, estimator, request):
    X, y = request.getfixturevalue(data)
    model = estimator.fit(X, y)
    for epsilon in (0.0, 0.3, 1.0, 2.5):
        # The brute force lands on the boundary only for rows at the threshold.
        assert _margin_gap(model, X, y, epsilon) > 1e-8
        score = make_worst_case_accuracy_scorer(epsilon)(model, X, y)
        assert score == _brute_force(model, X, y, epsilon)
    assert make_worst_case_accuracy_scorer(0.0)(model, X, y) == model.score(X, y)
    assert make_worst_case_accuracy_scorer(2.5)(model, X, y) < model.score(X, y)


def test_random_perturbations_never_break_a_robust_row(iris):
    X, y = iris
    model = LogisticRegression().fit(X, y)
    epsilon = 0.5
    coef, intercept = model.coef_, model.intercept_
    scores = X @ coef.T + intercept
    margins = scores[np.arange(len(y)), y][:, None] - scores
    size = np.linalg.norm(coef[y][:, None, :] - coef[None, :, :], axis=2)
    margins[np.arange(len(y)), y] = np.inf
    robust = (margins - epsilon * size).min(axis=1) > 0
    assert make_worst_case_accuracy_scorer(epsilon)(model, X, y) == robust.mean()
    rng = np.random.default_rng(0)
    for _ in range(200):
        step = rng.standard_normal(X.shape)
        step *= epsilon / np.linalg.norm(step, axis=1, keepdims=True)
        assert np.all(model.predict(X[robust] + step[robust]) == y[robust])


def test_several_sizes_average_and_pipeline(cancer):
    X, y = cancer
    raw = X * 3.0 + 1.0
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(raw, y)
    inner = pipeline[-1]
    inside = pipeline[:-1].transform(raw)
    sizes = [0.0, 0.5, 2.0]
    mean = make_worst_case_accuracy_scorer(sizes)(pipeline, raw, y)
    assert mean == pytest.approx(np.mean([_brute_force(inner, inside, y, e)
                                          for e in sizes]), abs=1e-15)
    before = raw.copy()
    make_worst_case_accuracy_scorer(1.0)(pipeline, raw, y)
    assert np.array_equal(raw, before)


def test_scorer_in_cross_validation(iris):
    X, y = iris
    scorer = make_worst_case_accuracy_scorer(0.5)
    scores = cross_val_score(LogisticRegression(), X, y, cv=3, scoring=scorer)
    manual = []
    for fold in range(3):
        # StratifiedKFold without shuffling, as cross_val_score uses for cv=3.
        train, test = list(StratifiedKFold(3).split(X, y))[fold]
        model = LogisticRegression().fit(X[train], y[train])
        manual.append(_brute_force(model, X[test], y[test], 0.5))
    assert np.array_equal(scores, manual)


def test_refit_rule_on_hand_made_results():
    results = {
        "mean_test_accuracy": np.array([0.95, 0.97, 0.965, 0.955, 0.90]),
        "std_test_accuracy": np.array([0.01, 0.02, 0.01, 0.01, 0.01]),
        "mean_test_robust": np.array([0.5, 0.6, 0.7, 0.8, 0.9]),
        **{f"split{i}_test_accuracy": np.zeros(5) for i in range(4)},
    }
    # Best clean 0.97; within 0.01: candidates 1 and 2; 2 is more robust.
    assert make_robust_refit(tolerance=0.01)(results) == 2
    # Within 0.02 (>= 0.95): 0, 1, 2, 3; 3 is the most robust.
    assert make_robust_refit(tolerance=0.02)(results) == 3
    # Tolerance 0: the best clean candidate.
    assert make_robust_refit(tolerance=0.0)(results) == 1
    # One standard error of the best: 0.02 / sqrt(4 folds) = 0.01, as above.
    assert make_robust_refit(tolerance=0.0, n_standard_errors=1.0)(results) == 2
    assert make_robust_refit(tolerance=0.01, n_standard_errors=1.0)(results) == 3
    # Ties in the robust score go to the larger clean score, then the first.
    tied = {"mean_test_clean": np.array([0.96, 0.97, 0.97, 0.5]),
            "mean_test_worst": np.array([0.8, 0.8, 0.8, 0.99])}
    assert make_robust_refit("worst", "clean", tolerance=0.02)(tied) == 1
    # A failed candidate (NaN) is never chosen, even as the best clean one.
    failed = {"mean_test_accuracy": np.array([np.nan, 0.9, 0.95]),
              "mean_test_robust": np.array([1.0, 0.7, 0.6])}
    assert make_robust_refit(tolerance=0.1)(failed) == 1


def test_refit_rule_in_grid_search(iris):
    X, y = iris
    refit = make_robust_refit(tolerance=0.02)
    search = GridSearchCV(
        LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, cv=3,
        scoring={"accuracy": "accuracy",
                 "robust": make_worst_case_accuracy_scorer([0.25, 0.5])},
        refit=refit).fit(X, y)
    results = search.cv_results_
    clean, robust = results["mean_test_accuracy"], results["mean_test_robust"]
    eligible = np.flatnonzero(clean >= clean.max() - 0.02)
    assert search.best_index_ in eligible
    assert robust[search.best_index_] == robust[eligible].max()
    assert search.best_estimator_.C == results["params"][search.best_index_]["C"]


def test_refit_rule_chooses_norm_and_radius(iris):
    # The user guide's recipe: one sub-grid per norm, radii as fractions of that
    # norm's own r*; the rule picks among all candidates on the same folds.
    X, y = iris
    fractions = (0.02, 0.1, 0.3)
    r_stars = {norm: critical_radius(X, y, norm=norm)
               for norm in ("spectral", "frobenius", "nuclear")}
    # The three r* differ (dual norms of one gradient): one grid of radii would
    # put a fraction of one norm's r* at another fraction of the next.
    assert len({round(r, 6) for r in r_stars.values()}) == 3
    grid = [{"norm": [norm], "radius": [f * r for f in fractions]}
            for norm, r in r_stars.items()]
    search = GridSearchCV(
        RobustPairedClassifier(), grid, cv=3,
        scoring={"accuracy": "accuracy",
                 "robust": make_worst_case_accuracy_scorer([0.25, 0.5])},
        refit=make_robust_refit(tolerance=0.02)).fit(X, y)
    results = search.cv_results_
    clean, robust = results["mean_test_accuracy"], results["mean_test_robust"]
    # Brute force over the 9 candidates: the most robust of those within 0.02 of
    # the best clean score.
    eligible = [i for i in range(9) if clean[i] >= clean.max() - 0.02]
    best = max(eligible, key=lambda i: (robust[i], clean[i], -i))
    assert search.best_index_ == best
    chosen = results["params"][best]
    assert search.best_estimator_.norm == chosen["norm"]
    assert search.best_estimator_.radius == chosen["radius"]
    assert np.isclose(fractions, chosen["radius"] / r_stars[chosen["norm"]]).any()


@pytest.mark.parametrize("epsilon", [-0.1, np.nan, np.inf, "1", True, [], [[1.0]],
                                     [0.5, -1.0], None])
def test_scorer_refuses_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        make_worst_case_accuracy_scorer(epsilon)


def test_scorer_refuses_bad_estimators_and_data(cancer):
    X, y = cancer
    scorer = make_worst_case_accuracy_scorer(0.5)
    with pytest.raises(NotFittedError):
        scorer(LogisticRegression(), X, y)
    with pytest.raises(TypeError, match="linear classifier"):
        scorer(KNeighborsClassifier().fit(X, y), X, y)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="columns"):
        scorer(model, X[:, :3], y)
    with pytest.raises(ValueError, match="y must have shape"):
        scorer(model, X, y[:-1])
    with pytest.raises(ValueError, match="NaN or inf"):
        scorer(model, np.where(np.eye(*X.shape) > 0, np.nan, X), y)
    from scipy.sparse import csr_matrix
    with pytest.raises(TypeError, match="sparse"):
        scorer(model, csr_matrix(X), y)
    features = np.random.default_rng(0).standard_normal((len(y), 2))
    paired = RobustPairedClassifier(radius=0.05).fit(X, y,
                                                     auxiliary_features=features)
    with pytest.raises(ValueError, match="auxiliary_features"):
        scorer(paired, X, y)


def test_refit_rule_refuses_bad_input():
    with pytest.raises(ValueError, match="tolerance"):
        make_robust_refit(tolerance=-0.01)
    with pytest.raises(ValueError, match="n_standard_errors"):
        make_robust_refit(n_standard_errors=np.nan)
    with pytest.raises(TypeError):
        make_robust_refit(robust=3)
    rule = make_robust_refit()
    with pytest.raises(ValueError, match="found \\['score'\\]"):
        rule({"mean_test_score": np.array([0.9])})
    with pytest.raises(ValueError, match="NaN"):
        rule({"mean_test_accuracy": np.array([np.nan]),
              "mean_test_robust": np.array([0.5])})
    with pytest.raises(ValueError, match="differ in length"):
        rule({"mean_test_accuracy": np.array([0.9, 0.8]),
              "mean_test_robust": np.array([0.5])})
    with pytest.raises(ValueError, match="split scores"):
        make_robust_refit(n_standard_errors=1.0)(
            {"mean_test_accuracy": np.array([0.9]),
             "mean_test_robust": np.array([0.5])})


@st.composite
def linear_problems(draw):
    n_classes = draw(st.integers(2, 4))
    n_features = draw(st.integers(1, 3))
    n_rows = draw(st.integers(n_classes * 2, 20))
    X = draw(hnp.arrays(np.float64, (n_rows, n_features),
                        elements=st.floats(-3, 3, allow_subnormal=False)))
    y = np.arange(n_rows) % n_classes
    return X, y


@settings(max_examples=30, deadline=None)
@given(linear_problems(), st.lists(st.floats(0, 5), min_size=1, max_size=4))
def test_scorer_properties(problem, epsilons):
    X, y = problem
    model = LogisticRegression(C=10.0).fit(X, y)
    before = X.copy()
    singles = [make_worst_case_accuracy_scorer(e)(model, X, y) for e in epsilons]
    mean = make_worst_case_accuracy_scorer(epsilons)(model, X, y)
    assert np.array_equal(X, before)
    assert mean == pytest.approx(np.mean(singles), abs=1e-12)
    ordered = [singles[i] for i in np.argsort(epsilons, kind="stable")]
    assert all(a >= b for a, b in zip(ordered, ordered[1:]))
    assert 0.0 <= min(singles) and max(singles) <= model.score(X, y)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.one_of(
        st.floats(0, 1), st.just(np.nan))),
    hnp.arrays(np.float64, n, elements=st.floats(0, 1)))),
    st.floats(0, 0.5), st.floats(0, 3))
def test_refit_rule_properties(scores, tolerance, n_se):
    clean, robust = scores
    results = {"mean_test_accuracy": clean, "mean_test_robust": robust,
               "std_test_accuracy": np.full(clean.size, 0.04),
               "split0_test_accuracy": clean, "split1_test_accuracy": clean,
               "split2_test_accuracy": clean, "split3_test_accuracy": clean}
    rule = make_robust_refit(tolerance=tolerance, n_standard_errors=n_se)
    if np.isnan(clean).all():
        with pytest.raises(ValueError, match="NaN"):
            rule(results)
        return
    index = rule(results)
    assert isinstance(index, int) and 0 <= index < clean.size
    threshold = np.nanmax(clean) - tolerance - n_se * 0.04 / 2
    eligible = ~np.isnan(clean) & (clean >= threshold)
    assert eligible[index]
    assert robust[index] == robust[eligible].max()


# Sample weights. The reference below is independent of the scorer: a row is
# robustly correct iff its margin over every other class k, divided by
# ||w_y - w_k||, exceeds epsilon; the scorer's weighted score must then be
# scikit-learn's weighted accuracy of predictions that are wrong exactly there.


def _robustly_correct(model, X, y, epsilon):
    coef = np.atleast_2d(model.coef_)
    intercept = np.atleast_1d(model.intercept_) * np.ones(coef.shape[0])
    if coef.shape[0] == 1:
        # Two classes: classes_[1] has (w, b), classes_[0] the zero vector.
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    labels = np.searchsorted(model.classes_, y)
    robust = np.ones(len(y), dtype=bool)
    for k in range(coef.shape[0]):
        diff = coef[labels] - coef[k]
        margin = np.einsum("ij,ij->i", diff, X) + intercept[labels] - intercept[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = margin / np.linalg.norm(diff, axis=1)
        robust &= (labels == k) | (distance > epsilon)
    return robust


def _worst_case_predictions(model, X, y, epsilon):
    """y where the row is robustly correct, a label of no class elsewhere."""
    return np.where(_robustly_correct(model, X, y, epsilon), y, -1)


@pytest.mark.parametrize("data", ["cancer", "iris"])
@pytest.mark.parametrize("estimator", [
    LogisticRegression(C=0.3), RobustPairedClassifier(radius=0.05)])
def test_weighted_scorer_equals_weighted_accuracy(data, estimator, request):
    X, y = request.getfixturevalue(data)
    model = estimator.fit(X, y)
    weights = np.random.default_rng(1).uniform(0, 3, len(y)) ** 3
    weights[::7] = 0.0
    differs = False
    for epsilon in (0.0, 0.3, 1.0):
        assert _margin_gap(model, X, y, epsilon) > 1e-8
        predictions = _worst_case_predictions(model, X, y, epsilon)
        expected = accuracy_score(y, predictions, sample_weight=weights)
        scorer = make_worst_case_accuracy_scorer(epsilon)
        assert scorer(model, X, y, sample_weight=weights) == pytest.approx(
            expected, rel=1e-12)
        assert worst_case_accuracy(
            model.coef_, model.intercept_, model.classes_, X, y, epsilon,
            sample_weight=weights) == pytest.approx(expected, rel=1e-12)
        if isinstance(model, RobustPairedClassifier):
            assert model.worst_case_accuracy(
                X, y, epsilon, sample_weight=weights) == pytest.approx(
                expected, rel=1e-12)
        differs |= abs(expected - accuracy_score(y, predictions)) > 1e-3
    # The weights change the score, so the comparison above can tell.
    assert differs
    sizes = [0.3, 1.0]
    assert make_worst_case_accuracy_scorer(sizes)(
        model, X, y, sample_weight=weights) == pytest.approx(np.mean([
            accuracy_score(y, _worst_case_predictions(model, X, y, e),
                           sample_weight=weights) for e in sizes]), rel=1e-12)


def test_integer_weights_equal_repeated_rows(cancer):
    X, y = cancer
    raw = X * 3.0 + 1.0
    counts = np.random.default_rng(2).integers(0, 4, len(y))
    for model, rows in [(LogisticRegression().fit(X, y), X),
                        (make_pipeline(StandardScaler(),
                                       LogisticRegression()).fit(raw, y), raw)]:
        for epsilon in (0.0, [0.5, 1.0], 2.0):
            scorer = make_worst_case_accuracy_scorer(epsilon)
            repeated = scorer(model, np.repeat(rows, counts, axis=0),
                              np.repeat(y, counts))
            assert scorer(model, rows, y, sample_weight=counts) == pytest.approx(
                repeated, rel=1e-12)


@pytest.mark.parametrize("scale", [
    1e300, 1e-300, 2.0**1021, 2.0**-1070, "float64 max"])
def test_weighted_score_ignores_a_common_factor_of_the_weights(iris, scale):
    X, y = iris
    model = LogisticRegression().fit(X, y)
    counts = np.random.default_rng(3).integers(0, 4, len(y)).astype(float)
    # Counts of at most 3 times 2**-1070 are exact subnormal numbers.
    weights = (counts / counts.max() * np.finfo(np.float64).max
               if scale == "float64 max" else counts * scale)
    for epsilon in (0.3, 1.0):
        expected = accuracy_score(
            y, _worst_case_predictions(model, X, y, epsilon), sample_weight=counts)
        score = make_worst_case_accuracy_scorer(epsilon)(
            model, X, y, sample_weight=weights)
        assert score == pytest.approx(expected, rel=1e-12)


@cache
def _iris_model():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, RobustPairedClassifier(radius=0.05).fit(X, y)


@st.composite
def bad_weights(draw, n_rows):
    weights = draw(hnp.arrays(np.float64, n_rows, elements=st.floats(0, 1e308)))
    kind = draw(st.sampled_from(["negative", "nan", "inf", "zeros", "length"]))
    row = draw(st.integers(0, n_rows - 1))
    if kind == "negative":
        weights[row] = -draw(st.floats(5e-324, 1e308))
    elif kind == "nan":
        weights[row] = np.nan
    elif kind == "inf":
        weights[row] = draw(st.sampled_from([np.inf, -np.inf]))
    elif kind == "zeros":
        weights = np.zeros(n_rows)
    else:
        length = draw(st.integers(0, 2 * n_rows).filter(lambda m: m != n_rows))
        weights = np.resize(weights, length)
    return weights


@settings(max_examples=60, deadline=None)
@given(bad_weights(150), st.floats(0, 2))
def test_bad_weights_are_refused_naming_the_sample_weights(weights, epsilon):
    X, y, model = _iris_model()
    calls = [
        lambda: make_worst_case_accuracy_scorer(epsilon)(model, X, y,
                                                         sample_weight=weights),
        lambda: worst_case_accuracy(model.coef_, model.intercept_, model.classes_,
                                    X, y, epsilon, sample_weight=weights),
        lambda: model.worst_case_accuracy(X, y, epsilon, sample_weight=weights),
        # The fit shares the check: -inf beside weights whose sum overflows made
        # it raise a RuntimeWarning (an error here) instead of this ValueError.
        lambda: RobustPairedClassifier().fit(X, y, sample_weight=weights),
        lambda: critical_radius(X, y, sample_weight=weights),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="(?i)sample.weight"):
            call()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, 150, elements=st.floats(0, 1e308)),
       st.floats(0, 2))
def test_weighted_score_is_the_exact_weighted_share(weights, epsilon):
    # Any valid weights, subnormal to float64's maximum: the weighted share of
    # robust rows in exact rational arithmetic.
    X, y, model = _iris_model()
    assume(weights.max() > 0)
    assume(_margin_gap(model, X, y, epsilon) > 1e-8)
    robust = _robustly_correct(model, X, y, epsilon)
    expected = float(sum(map(Fraction, weights[robust]), Fraction(0))
                     / sum(map(Fraction, weights), Fraction(0)))
    score = make_worst_case_accuracy_scorer(epsilon)(model, X, y,
                                                     sample_weight=weights)
    assert score == pytest.approx(expected, rel=1e-12)


def _weighted_search(X, y, weights, routed):
    robust = make_worst_case_accuracy_scorer([0.25, 0.5])
    clean = make_scorer(accuracy_score)
    estimator = LogisticRegression()
    if routed:
        robust.set_score_request(sample_weight=True)
        clean.set_score_request(sample_weight=True)
        estimator.set_fit_request(sample_weight=True)
    return GridSearchCV(
        estimator, {"C": [0.05, 1.0]}, cv=StratifiedKFold(3),
        scoring={"accuracy": clean, "robust": robust},
        refit=make_robust_refit(tolerance=0.02)).fit(X, y, sample_weight=weights)


def test_grid_search_routes_the_weights_to_the_scorer(iris):
    X, y = iris
    weights = np.random.default_rng(4).uniform(0, 1, len(y)) ** 4
    with sklearn.config_context(enable_metadata_routing=True):
        search = _weighted_search(X, y, weights, routed=True)
    results = search.cv_results_
    train, test = next(StratifiedKFold(3).split(X, y))
    for index, params in enumerate(results["params"]):
        model = LogisticRegression(**params).fit(X[train], y[train],
                                                 sample_weight=weights[train])
        scores = [accuracy_score(y[test], _worst_case_predictions(
            model, X[test], y[test], e), sample_weight=weights[test])
            for e in (0.25, 0.5)]
        assert results["split0_test_robust"][index] == pytest.approx(
            np.mean(scores), rel=1e-12)
        unweighted = np.mean([accuracy_score(y[test], _worst_case_predictions(
            model, X[test], y[test], e)) for e in (0.25, 0.5)])
        # The weights change the fold's score, so the check above can tell.
        assert abs(unweighted - np.mean(scores)) > 1e-3
    # Without routing, scikit-learn's search forwards fit's sample_weight to
    # the scorers that take it: the same scores.
    legacy = _weighted_search(X, y, weights, routed=False).cv_results_
    for key in ("split0_test_robust", "split2_test_robust", "mean_test_robust",
                "mean_test_accuracy"):
        np.testing.assert_allclose(legacy[key], results[key], rtol=1e-12)
    assert search.best_index_ == make_robust_refit(tolerance=0.02)(results)


def test_score_request_follows_scikit_learn(iris):
    X, y = iris
    weights = np.random.default_rng(5).uniform(0, 1, len(y))
    with pytest.raises(RuntimeError, match="metadata routing"):
        make_worst_case_accuracy_scorer(0.5).set_score_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_worst_case_accuracy_scorer(0.5)
        assert scorer.get_metadata_routing().score.requests == {
            "sample_weight": None}
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            cross_val_score(LogisticRegression().set_fit_request(
                sample_weight=False), X, y, cv=3, scoring=scorer,
                params={"sample_weight": weights})
        assert scorer.set_score_request(sample_weight="w") is scorer
        scorer.set_score_request(sample_weight=UNCHANGED)
        assert scorer.get_metadata_routing().score.requests == {
            "sample_weight": "w"}
        # Not requested: the scorer gets no weights, the fit does.
        scorer.set_score_request(sample_weight=False)
        scores = cross_val_score(
            LogisticRegression().set_fit_request(sample_weight=True), X, y, cv=3,
            scoring=scorer, params={"sample_weight": weights})
    for fold, (train, test) in enumerate(StratifiedKFold(3).split(X, y)):
        model = LogisticRegression().fit(X[train], y[train],
                                         sample_weight=weights[train])
        assert scores[fold] == pytest.approx(
            _robustly_correct(model, X[test], y[test], 0.5).mean(), rel=1e-12)
