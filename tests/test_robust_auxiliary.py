"""The auxiliary ball of RobustPairedClassifier against independent references.

References: cvxpy (test-only) on the bound before the multipliers are eliminated
(checks the closed-form radii of the guide), a brute-force inner maximisation of
each row's two-anchor supremum (checks that ``objective_`` bounds the worst case),
the one-ball model (coincident partners), and a hand loop over folds for the
metadata routing.
"""

import warnings

import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import minimize
from scipy.special import log_expit, logsumexp
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from statopt import RobustPairedClassifier


def _shifted_pairs(n, n_features, shift, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    X_auxiliary = X + shift + 0.3 * rng.normal(size=X.shape)
    return X, y, X_auxiliary


def _cvxpy_bound(X, y, X_auxiliary, radius, radius_auxiliary, n_classes):
    """The bound with the multipliers lam_P, lam_A still free (guide, eq. split)."""
    cp = pytest.importorskip("cvxpy")
    n, p = X.shape
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    lam = cp.Variable(2, nonneg=True)
    if n_classes == 2:
        W_P, W_A, b = cp.Variable(p), cp.Variable(p), cp.Variable()
        z = cp.multiply(2.0 * y - 1.0, X @ W_P + X_auxiliary @ W_A + b)
        loss = cp.sum(cp.logistic(-z)) / n
        sizes = [cp.norm(W_P, 2), cp.norm(W_A, 2)]
    else:
        K = n_classes
        W_P, W_A, b = cp.Variable((p, K)), cp.Variable((p, K)), cp.Variable(K)
        intercepts = np.ones((n, 1)) @ cp.reshape(b, (1, K), order="C")
        Z = X @ W_P + X_auxiliary @ W_A + intercepts
        Y = np.eye(K)[y]
        loss = (cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z))) / n
        # Frobenius norm times sqrt(2) bounds max_{k,l} ||w_k - w_l||.
        sizes = [np.sqrt(2.0) * cp.norm(W_P, "fro"), np.sqrt(2.0) * cp.norm(W_A, "fro")]
    credit = distance * cp.maximum(sizes[0] - lam[0], sizes[1] - lam[1])
    problem = cp.Problem(
        cp.Minimize(radius * lam[0] + radius_auxiliary * lam[1] + loss + credit),
        [sizes[0] + sizes[1] <= lam[0] + lam[1]])
    with warnings.catch_warnings():
        # The multiclass optimum puts one block at zero, where the max term is
        # degenerate: Clarabel may flag "inaccurate"; its value is still compared.
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver="CLARABEL")
    assert problem.status in ("optimal", "optimal_inaccurate")
    return problem.value


@pytest.mark.parametrize("radius, radius_auxiliary", [(0.3, 0.6), (0.3, 1.2),
                                                      (0.95, 0.1)])
def test_binary_bound_matches_cvxpy_before_eliminating_the_multipliers(
        radius, radius_auxiliary):
    # The three regimes of the closed-form radii (mean paired distance D = 0.80):
    # both balls active, the auxiliary ball reaching around the primary one
    # (r_A > r_P + D), and the reverse.
    X, y, X_auxiliary = _shifted_pairs(60, 3, 0.4, 0)
    model = RobustPairedClassifier(radius=radius, radius_auxiliary=radius_auxiliary,
                                   tol=1e-10).fit(X, y, X_auxiliary=X_auxiliary)
    reference = _cvxpy_bound(X, y, X_auxiliary, radius, radius_auxiliary, 2)
    assert model.objective_ == pytest.approx(reference, abs=1e-6)
    assert model.duality_gap_ <= 1e-10


def test_multiclass_bound_matches_cvxpy():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X_auxiliary = 1.3 * X
    model = RobustPairedClassifier(radius=0.5, radius_auxiliary=0.15, norm="frobenius",
                                   tol=1e-10).fit(X, y, X_auxiliary=X_auxiliary)
    reference = _cvxpy_bound(X, y, X_auxiliary, 0.5, 0.15, 3)
    assert model.objective_ == pytest.approx(reference, abs=1e-6)


def _row_supremum(w, b, sign, x, partner, lam_P, lam_A):
    """Brute force: sup_x' l(sign (w'x' + b)) - lam_P |x' - x| - lam_A |x' - a|."""
    return _brute_supremum(lambda point: -log_expit(sign * (point @ w + b)), x,
                           partner, lam_P, lam_A)


def _brute_supremum(loss, x, partner, lam_P, lam_A):
    """Brute force: sup_x' loss(x') - lam_P |x' - x| - lam_A |x' - partner| (plane).

    A grid over a box around both anchors, refined by Nelder-Mead from its best
    points; the loss grows at most like its Lipschitz constant times |x'|, at most
    lam_P + lam_A, so the supremum is within the box's reach or approached at its
    edge.
    """
    def negative(point):
        return -(loss(point) - lam_P * np.linalg.norm(point - x)
                 - lam_A * np.linalg.norm(point - partner))

    grid = np.linspace(-8.0, 8.0, 81)
    points = np.array(np.meshgrid(grid, grid)).reshape(2, -1).T + (x + partner) / 2
    values = np.array([negative(point) for point in points])
    best = min(values.min(), negative(x), negative(partner))
    for start in points[np.argsort(values)[:4]]:
        result = minimize(negative, start, method="Nelder-Mead",
                          options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
        best = min(best, result.fun)
    return -best


@pytest.mark.parametrize("shift, radius, radius_auxiliary",
                         [(0.0, 0.15, 0.3), (0.5, 0.9, 0.05), (0.5, 0.1, 0.9)])
def test_objective_bounds_the_brute_force_worst_case(shift, radius,
                                                      radius_auxiliary):
    # The worst case over the paired intersection, for the fitted classifier, is
    # at most lam_P r_P + lam_A r_A + mean_i sup_x' [...] for any multipliers; with
    # those of the derivation it must not exceed objective_.
    X, y, X_auxiliary = _shifted_pairs(8, 2, shift, 1)
    model = RobustPairedClassifier(radius=radius, radius_auxiliary=radius_auxiliary,
                                   tol=1e-10).fit(X, y, X_auxiliary=X_auxiliary)
    W_P, W_A = model.coef_split_
    a, c = np.linalg.norm(W_P), np.linalg.norm(W_A)
    distance = model.paired_distance_
    if radius_auxiliary > radius + distance:
        lam_P, lam_A = a + c, 0.0
    elif radius > radius_auxiliary + distance:
        lam_P, lam_A = 0.0, a + c
    else:
        lam_P, lam_A = a, c
    w, b = model.coef_[0], model.intercept_[0]
    rows = [_row_supremum(w, b, 2.0 * label - 1.0, x, partner, lam_P, lam_A)
            for x, partner, label in zip(X, X_auxiliary, y)]
    worst = radius * lam_P + radius_auxiliary * lam_A + np.mean(rows)
    assert worst <= model.objective_ + 1e-6
    # ... and the bound is above the nominal loss at the primary points.
    nominal = np.mean(-log_expit((2.0 * y - 1.0) * (X @ w + b)))
    assert model.objective_ >= nominal


def test_coincident_partners_give_the_one_ball_model():
    # Partners equal to their rows: the paired intersection is the smaller ball,
    # where the bound is exact.
    X, y = load_iris(return_X_y=True)
    both = RobustPairedClassifier(radius=0.3, radius_auxiliary=0.1,
                                  tol=1e-10).fit(X, y, X_auxiliary=X)
    one = RobustPairedClassifier(radius=0.1, tol=1e-10).fit(X, y)
    assert both.objective_ == pytest.approx(one.objective_, abs=1e-7)
    np.testing.assert_allclose(both.predict_proba(X), one.predict_proba(X),
                               atol=1e-4)


def test_intersection_never_exceeds_either_ball_alone():
    X, y, X_auxiliary = _shifted_pairs(80, 3, 0.0, 2)
    both = RobustPairedClassifier(radius=0.2, radius_auxiliary=0.33).fit(
        X, y, X_auxiliary=X_auxiliary)
    primary = RobustPairedClassifier(radius=0.2).fit(X, y)
    auxiliary = RobustPairedClassifier(radius=0.33).fit(X_auxiliary, y)
    assert both.objective_ <= primary.objective_ + 1e-6
    assert both.objective_ <= auxiliary.objective_ + 1e-6


def test_disjoint_balls_are_refused_with_the_distances():
    X, y, X_auxiliary = _shifted_pairs(40, 2, 3.0, 3)
    with pytest.raises(ValueError, match="do not meet.*Unpaired, the Wasserstein"):
        RobustPairedClassifier(radius=0.1, radius_auxiliary=0.5).fit(
            X, y, X_auxiliary=X_auxiliary)


def test_auxiliary_features_are_a_second_block():
    X, y = load_iris(return_X_y=True)
    features = np.random.default_rng(4).normal(size=(len(y), 2))
    features[:, 0] += y  # informative
    model = RobustPairedClassifier(radius=0.05, radius_auxiliary=0.5).fit(
        X, y, X_auxiliary=X + 0.2, auxiliary_features=features)
    assert model.auxiliary_coef_.shape == (3, 2)
    # The same as stacking the features onto both anchors of each row.
    stacked = RobustPairedClassifier(radius=0.05, radius_auxiliary=0.5).fit(
        np.hstack([X, features]), y,
        X_auxiliary=np.hstack([X + 0.2, features]))
    np.testing.assert_allclose(
        np.hstack([model.coef_, model.auxiliary_coef_]), stacked.coef_, atol=1e-6)
    np.testing.assert_allclose(
        model.decision_function(X, auxiliary_features=features),
        stacked.decision_function(np.hstack([X, features])), atol=1e-6)
    with pytest.raises(ValueError, match="pass auxiliary_features"):
        model.predict(X)
    with pytest.raises(ValueError, match="shape"):
        model.predict(X, auxiliary_features=features[:, :1])


def test_auxiliary_inputs_routed_through_pipeline_and_grid_search():
    X, y = load_iris(return_X_y=True)
    X_auxiliary = X + 0.1
    features = np.random.default_rng(5).normal(size=(len(y), 1))
    radii = [0.02, 0.1]
    with sklearn.config_context(enable_metadata_routing=True):
        model = RobustPairedClassifier(radius_auxiliary=0.5).set_fit_request(
            X_auxiliary=True, auxiliary_features=True).set_score_request(
            auxiliary_features=True)
        # A transformer that keeps the geometry: X and X_auxiliary stay comparable.
        pipe = make_pipeline(FunctionTransformer(), model)
        search = GridSearchCV(pipe, {"robustpairedclassifier__radius": radii},
                              cv=KFold(3)).fit(X, y, X_auxiliary=X_auxiliary,
                                               auxiliary_features=features)
    for index, radius in enumerate(radii):
        scores = []
        for train, test in KFold(3).split(X):
            fold = RobustPairedClassifier(radius=radius, radius_auxiliary=0.5).fit(
                X[train], y[train], X_auxiliary=X_auxiliary[train],
                auxiliary_features=features[train])
            scores.append(fold.score(X[test], y[test],
                                     auxiliary_features=features[test]))
        assert search.cv_results_["mean_test_score"][index] == pytest.approx(
            np.mean(scores), abs=1e-12)


def test_mismatched_inputs_are_clear_errors():
    X, y, X_auxiliary = _shifted_pairs(20, 2, 0.1, 6)
    with pytest.raises(ValueError, match="go together"):
        RobustPairedClassifier(radius=0.1).fit(X, y, X_auxiliary=X_auxiliary)
    with pytest.raises(ValueError, match="go together"):
        RobustPairedClassifier(radius=0.1, radius_auxiliary=0.1).fit(X, y)
    with pytest.raises(ValueError, match="label flips"):
        RobustPairedClassifier(radius=0.1, radius_auxiliary=0.5,
                               label_flip_cost=1.0).fit(X, y, X_auxiliary=X_auxiliary)


@st.composite
def paired_problems(draw):
    n_rows = draw(st.integers(2, 12))
    n_features = draw(st.integers(1, 3))
    finite = st.floats(-5, 5)
    X = draw(hnp.arrays(np.float64, (n_rows, n_features), elements=finite))
    rows = draw(st.sampled_from([n_rows, n_rows - 1, n_rows + 1]))
    columns = draw(st.sampled_from([n_features, n_features + 1]))
    X_auxiliary = draw(hnp.arrays(np.float64, (rows, columns), elements=st.one_of(
        finite, st.sampled_from([np.nan, np.inf, 1e300]))))
    # Three classes reach the multiclass solvers (the exact one too).
    y = np.arange(n_rows) % draw(st.sampled_from([2, 3]))
    features = draw(st.one_of(st.none(), hnp.arrays(
        np.float64, (draw(st.sampled_from([n_rows, n_rows + 1])),
                     draw(st.integers(1, 2))),
        elements=st.one_of(finite, st.sampled_from([np.nan, -np.inf])))))
    return X, y, X_auxiliary, features


@settings(max_examples=60, deadline=None)
@given(paired_problems(), st.sampled_from([0.01, 0.3, 3.0]),
       st.sampled_from([0.01, 0.5, 30.0]), st.sampled_from(["bound", "exact"]))
def test_paired_fit_is_clean_or_a_bound_below_the_primary_ball(
        problem, radius, radius_auxiliary, solver):
    X, y, X_auxiliary, features = problem
    copies = [a.copy() for a in (X, X_auxiliary, features) if a is not None]
    model = RobustPairedClassifier(radius=radius, radius_auxiliary=radius_auxiliary,
                                   auxiliary_solver=solver, max_iter=3000)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y, X_auxiliary=X_auxiliary, auxiliary_features=features)
    except (TypeError, ValueError):
        pass
    else:
        assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.objective_)
        assert model.paired_distance_ <= radius + radius_auxiliary
        # Never above the loss of the collapsed model (W = 0 is feasible).
        prior = np.bincount(y) / len(y)
        assert model.objective_ <= -np.sum(prior * np.log(prior)) + 1e-6
        proba = model.predict_proba(X, auxiliary_features=features)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for array, copy in zip((a for a in (X, X_auxiliary, features) if a is not None),
                           copies):
        np.testing.assert_array_equal(array, copy)


def test_auxiliary_features_without_a_second_ball_are_stacked_columns():
    X, y = load_iris(return_X_y=True)
    features = np.random.default_rng(8).normal(size=(len(y), 2))
    model = RobustPairedClassifier(radius=0.1, norm="frobenius").fit(
        X, y, auxiliary_features=features)
    stacked = RobustPairedClassifier(radius=0.1, norm="frobenius").fit(
        np.hstack([X, features]), y)
    assert model.objective_ == pytest.approx(stacked.objective_, abs=1e-7)
    np.testing.assert_allclose(model.auxiliary_coef_, stacked.coef_[:, 4:],
                               atol=1e-5)
    assert model.worst_case_accuracy(X, y, 0.5, auxiliary_features=features) == \
        pytest.approx(stacked.worst_case_accuracy(np.hstack([X, features]), y, 0.5))


def test_sample_weights_act_on_the_pairs_as_repeated_rows():
    # A weight of 2 is the pair repeated, a weight of 0 the pair removed, with the
    # partner following its row.
    X, y, X_auxiliary = _shifted_pairs(30, 3, 0.2, 7)
    weights = np.tile([0.0, 1.0, 2.0], 10)
    rows = np.repeat(np.arange(30), weights.astype(int))
    weighted = RobustPairedClassifier(radius=0.1, radius_auxiliary=0.6,
                                      tol=1e-10).fit(
        X, y, X_auxiliary=X_auxiliary, sample_weight=weights)
    repeated = RobustPairedClassifier(radius=0.1, radius_auxiliary=0.6,
                                      tol=1e-10).fit(
        X[rows], y[rows], X_auxiliary=X_auxiliary[rows])
    assert weighted.objective_ == pytest.approx(repeated.objective_, abs=1e-8)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-5)


# The exact dual (auxiliary_solver='exact', two classes): each row's inner
# supremum by brute force, the optimum against cvxpy on the worst-case points the
# solver kept, and the cases where the paired intersection is a single ball.

def _exact(X, y, X_auxiliary, radius, radius_auxiliary, **options):
    return RobustPairedClassifier(
        radius=radius, radius_auxiliary=radius_auxiliary, auxiliary_solver="exact",
        **options).fit(X, y, X_auxiliary=X_auxiliary)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_row_suprema_equal_a_brute_force_maximisation(seed):
    from statopt.linear_model._robust_intersection import row_suprema

    rng = np.random.default_rng(seed)
    X, y, X_auxiliary = _shifted_pairs(4, 2, 0.5, seed)
    sign = 2.0 * y - 1.0
    w, b = rng.normal(size=2) * 2.0, rng.normal()
    # Multipliers from barely above the Lipschitz constant ||w|| to twice it,
    # split unevenly: every regime of the lens.
    total = np.linalg.norm(w) * rng.uniform(1.001, 2.0)
    share = rng.uniform(0.1, 0.9)
    lam_P, lam_A = share * total, (1.0 - share) * total
    values, uppers, Z = row_suprema(w, b, lam_P, lam_A, X, X_auxiliary, sign, 1e-12)
    brute = [_row_supremum(w, b, s, x, a, lam_P, lam_A)
             for x, a, s in zip(X, X_auxiliary, sign)]
    np.testing.assert_allclose(values, brute, atol=1e-8)
    assert np.all(uppers >= values) and np.all(uppers - values <= 1e-11)
    # The returned points attain the suprema.
    attained = (-log_expit(sign * (Z @ w + b)) - lam_P * np.linalg.norm(Z - X, axis=1)
                - lam_A * np.linalg.norm(Z - X_auxiliary, axis=1))
    np.testing.assert_allclose(attained, values, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_dual_against_brute_force_and_cvxpy(seed):
    cp = pytest.importorskip("cvxpy")
    from statopt.linear_model._robust_intersection import paired_binary_dual

    X, y, X_auxiliary = _shifted_pairs(10, 2, 0.2, seed)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    radius, radius_auxiliary = 0.6 * distance, 0.7 * distance
    model = _exact(X, y, X_auxiliary, radius, radius_auxiliary, tol=1e-8)
    assert model.duality_gap_ <= 1e-8
    lam_P, lam_A = model.auxiliary_multipliers_
    w, b = model.coef_[0], model.intercept_[0]
    sign = 2.0 * y - 1.0
    # The objective at the fitted point, each supremum by brute force.
    rows = [_row_supremum(w, b, s, x, a, lam_P, lam_A)
            for x, a, s in zip(X, X_auxiliary, sign)]
    brute = radius * lam_P + radius_auxiliary * lam_A + np.mean(rows)
    assert abs(brute - model.objective_) <= 1e-6
    # A lower bound from cvxpy: the dual with each supremum restricted to the
    # points the solver kept (any finite set gives a lower bound of the optimum).
    weights = np.full(len(y), 1.0 / len(y))
    *_, (Z, owner) = paired_binary_dual(X, X_auxiliary, sign, weights, radius,
                                        radius_auxiliary, True, 1e-8, 10000)
    w_, b_ = cp.Variable(2), cp.Variable()
    lam, tau = cp.Variable(2, nonneg=True), cp.Variable(len(y))
    constraints = [cp.norm(w_) <= lam[0] + lam[1]]
    for point, row in zip(Z, owner):
        constraints.append(tau[row] >= cp.logistic(-sign[row] * (point @ w_ + b_))
                           - lam[0] * np.linalg.norm(point - X[row])
                           - lam[1] * np.linalg.norm(point - X_auxiliary[row]))
    problem = cp.Problem(cp.Minimize(radius * lam[0] + radius_auxiliary * lam[1]
                                     + weights @ tau), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Clarabel "inaccurate"
        problem.solve(solver="CLARABEL")
    assert abs(problem.value - model.objective_) <= 1e-6


def test_exact_dual_is_the_one_ball_model_when_a_ball_reaches_around():
    X, y, X_auxiliary = _shifted_pairs(12, 2, 0.3, 4)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    # r_A >= r_P + d: the paired intersection is the primary ball.
    primary = RobustPairedClassifier(radius=0.1, tol=1e-10).fit(X, y)
    both = _exact(X, y, X_auxiliary, 0.1, 0.1 + 1.01 * distance, tol=1e-8)
    assert abs(both.objective_ - primary.objective_) <= 1e-7
    # r_P >= r_A + d: the auxiliary ball (centred at the partners).
    auxiliary = RobustPairedClassifier(radius=0.1, tol=1e-10).fit(X_auxiliary, y)
    both = _exact(X, y, X_auxiliary, 0.1 + 1.01 * distance, 0.1, tol=1e-8)
    assert abs(both.objective_ - auxiliary.objective_) <= 1e-7
    # Coincident partners: the smaller ball.
    smaller = RobustPairedClassifier(radius=0.05, tol=1e-10).fit(X, y)
    both = _exact(X, y, X.copy(), 0.05, 0.2, tol=1e-8)
    assert abs(both.objective_ - smaller.objective_) <= 1e-7


@pytest.mark.parametrize("shift, radius, radius_auxiliary",
                         [(0.0, 0.15, 0.3), (0.5, 0.1, 0.9)])
def test_exact_dual_lies_between_the_nominal_loss_and_the_bound(
        shift, radius, radius_auxiliary):
    X, y, X_auxiliary = _shifted_pairs(8, 2, shift, 1)
    bound = RobustPairedClassifier(radius=radius, radius_auxiliary=radius_auxiliary,
                                   tol=1e-10).fit(X, y, X_auxiliary=X_auxiliary)
    exact = _exact(X, y, X_auxiliary, radius, radius_auxiliary, tol=1e-8)
    # The exact optimum (certified within duality_gap_) is at most the bound;
    # strictly below it when neither ball reaches around the other.
    assert exact.objective_ - exact.duality_gap_ <= bound.objective_
    if radius_auxiliary < radius + bound.paired_distance_:
        assert exact.objective_ < bound.objective_ - 0.01
    # Zero transport is in the ambiguity set: above the nominal loss of the fit.
    w, b = exact.coef_[0], exact.intercept_[0]
    nominal = np.mean(-log_expit((2.0 * y - 1.0) * (X @ w + b)))
    assert exact.objective_ >= nominal
    assert exact.coef_split_ is None and exact.effective_radii_ is None
    assert bound.auxiliary_multipliers_ is None


def test_exact_dual_refusals_and_warnings():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.arange(60) % 6
    with pytest.raises(ValueError, match="up to 5 classes"):
        _exact(X, y, X + 0.1, 0.1, 0.2)
    X, y, X_auxiliary = _shifted_pairs(10, 2, 0.2, 0)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    with pytest.raises(ValueError, match="do not meet|paired"):
        _exact(X, y, X_auxiliary, 0.3 * distance, 0.3 * distance)
    with pytest.raises(ValueError, match="one class"):
        _exact(X, y, X_auxiliary, 50.0, 50.0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        _exact(X, y, X_auxiliary, 0.6 * distance, 0.7 * distance, max_iter=5)


def test_exact_dual_on_real_data_against_cvxpy_and_planar_brute_force():
    # Breast cancer (30 features, standardised), partners the rows under a
    # multiplicative drift: the optimum against cvxpy on the dual restricted to
    # the kept points (a lower bound), and each row's supremum against a
    # brute-force maximisation in the plane of w and the pair, where the
    # supremum lies (components across it only add distance).
    cp = pytest.importorskip("cvxpy")
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    from statopt.linear_model._robust_intersection import paired_binary_dual

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[::5]
    y = y[::5]
    rng = np.random.default_rng(0)
    X_auxiliary = 1.1 * X + 0.2 * rng.normal(size=X.shape)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    sign = 2.0 * y - 1.0
    weights = np.full(len(y), 1.0 / len(y))
    center = X.mean(axis=0)
    P, Q = X - center, X_auxiliary - center
    radius, radius_auxiliary = 0.3, distance - 0.2
    w, b, (lam_P, lam_A), objective, gap, _, (Z, owner) = paired_binary_dual(
        P, Q, sign, weights, radius, radius_auxiliary, True, 1e-7, 20000)
    assert gap <= 1e-7
    # Clarabel fails on the few points hundreds of units out (the supremum of a
    # row whose loss nearly outgrows both distances); leaving points out only
    # lowers the restricted dual, so it stays a lower bound.
    near = np.linalg.norm(Z, axis=1) < 50.0
    Z, owner = Z[near], owner[near]
    w_, b_ = cp.Variable(X.shape[1]), cp.Variable()
    lam, tau = cp.Variable(2, nonneg=True), cp.Variable(len(y))
    constraints = [cp.norm(w_) <= lam[0] + lam[1]]
    for row in range(len(y)):
        points = Z[owner == row]
        constraints.append(tau[row] >= cp.logistic(
            -sign[row] * (points @ w_ + b_))
            - lam[0] * np.linalg.norm(points - P[row], axis=1)
            - lam[1] * np.linalg.norm(points - Q[row], axis=1))
    problem = cp.Problem(cp.Minimize(radius * lam[0] + radius_auxiliary * lam[1]
                                     + weights @ tau), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver="CLARABEL")
    assert abs(problem.value - objective) <= 1e-6
    # Six rows' suprema in their planes.
    unit = w / np.linalg.norm(w)
    values = []
    for row in range(6):
        across = P[row] - Q[row] - (unit @ (P[row] - Q[row])) * unit
        basis = np.vstack([unit, across / np.linalg.norm(across)])

        def negative(c, row=row, basis=basis):
            point = Q[row] + c @ basis
            return -(-log_expit(sign[row] * (point @ w + b))
                     - lam_P * np.linalg.norm(point - P[row])
                     - lam_A * np.linalg.norm(point - Q[row]))

        grid = np.linspace(-6.0, 6.0, 41)
        starts = np.array(np.meshgrid(grid, grid)).reshape(2, -1).T
        start_values = np.array([negative(c) for c in starts])
        best = min(negative(basis @ (P[row] - Q[row])), negative(np.zeros(2)),
                   start_values.min())
        for start in starts[np.argsort(start_values)[:3]]:
            best = min(best, minimize(negative, start, method="Nelder-Mead",
                                      options={"xatol": 1e-10, "fatol": 1e-13,
                                               "maxiter": 4000}).fun)
        values.append(-best)
    from statopt.linear_model._robust_intersection import row_suprema

    ours = row_suprema(w, b, lam_P, lam_A, P[:6], Q[:6], sign[:6], 1e-12)[0]
    np.testing.assert_allclose(ours, values, atol=1e-7)


# More classes: the same checks, each supremum a maximisation over the simplex.
def _cross_entropy(W, b, label):
    def loss(point):
        logits = W @ point + b
        return logsumexp(logits) - logits[label]
    return loss


def _shifted_classes(n, n_classes, shift, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    centres = rng.normal(size=(n_classes, 2))
    y = np.argmin(((X[:, None, :] - centres) ** 2).sum(axis=2)
                  + 0.3 * rng.normal(size=(n, n_classes)), axis=1)
    y[:n_classes] = np.arange(n_classes)  # every class present
    X_auxiliary = X + shift + 0.3 * rng.normal(size=X.shape)
    return X, y, X_auxiliary


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n_classes", [3, 4])
def test_multiclass_row_suprema_equal_a_brute_force_maximisation(seed, n_classes):
    from statopt.linear_model._robust_intersection_multiclass import (
        multiclass_row_suprema,
    )

    rng = np.random.default_rng(seed)
    X, _, X_auxiliary = _shifted_classes(4, n_classes, 0.5, seed)
    y = rng.integers(0, n_classes, size=4)
    W, b = 2.0 * rng.normal(size=(n_classes, 2)), rng.normal(size=n_classes)
    # Multipliers from barely above the Lipschitz constant max ||w_k - w_l|| to
    # twice it, split unevenly: every regime of the lens.
    largest = max(np.linalg.norm(W[k] - W[m]) for k in range(n_classes)
                  for m in range(n_classes))
    total = largest * rng.uniform(1.001, 2.0)
    share = rng.uniform(0.1, 0.9)
    lam_P, lam_A = share * total, (1.0 - share) * total
    values, uppers, Z = multiclass_row_suprema(W, b, lam_P, lam_A, X, X_auxiliary,
                                               y, 1e-12)
    brute = [_brute_supremum(_cross_entropy(W, b, label), x, a, lam_P, lam_A)
             for x, a, label in zip(X, X_auxiliary, y)]
    np.testing.assert_allclose(values, brute, atol=1e-8)
    assert np.all(uppers >= values) and np.all(uppers - values <= 1e-11)
    attained = [_cross_entropy(W, b, label)(z) - lam_P * np.linalg.norm(z - x)
                - lam_A * np.linalg.norm(z - a)
                for z, x, a, label in zip(Z, X, X_auxiliary, y)]
    np.testing.assert_allclose(attained, values, atol=1e-9)


def _cvxpy_restricted_multiclass(X, y, X_auxiliary, radii, Z, owner, n_classes):
    """The multiclass dual with each supremum restricted to the points ``Z``.

    Any finite set of points gives a lower bound of the optimum.
    """
    cp = pytest.importorskip("cvxpy")
    n, p = X.shape
    W, b = cp.Variable((n_classes, p)), cp.Variable(n_classes)
    lam, tau = cp.Variable(2, nonneg=True), cp.Variable(n)
    constraints = [cp.norm(W[k] - W[m]) <= lam[0] + lam[1]
                   for k in range(n_classes) for m in range(k + 1, n_classes)]
    for point, row in zip(Z, owner):
        logits = W @ point + b
        constraints.append(tau[row] >= cp.log_sum_exp(logits) - logits[y[row]]
                           - lam[0] * np.linalg.norm(point - X[row])
                           - lam[1] * np.linalg.norm(point - X_auxiliary[row]))
    problem = cp.Problem(cp.Minimize(radii[0] * lam[0] + radii[1] * lam[1]
                                     + cp.sum(tau) / n), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Clarabel "inaccurate"
        problem.solve(solver="CLARABEL")
    return problem.value


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_exact_dual_against_brute_force_and_cvxpy(seed):
    pytest.importorskip("cvxpy")
    from statopt.linear_model._robust_intersection_multiclass import (
        paired_multiclass_dual,
    )

    X, y, X_auxiliary = _shifted_classes(8, 3, 0.2, seed)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    radius, radius_auxiliary = 0.6 * distance, 0.7 * distance
    model = _exact(X, y, X_auxiliary, radius, radius_auxiliary, tol=1e-8)
    assert model.duality_gap_ <= 1e-8
    lam_P, lam_A = model.auxiliary_multipliers_
    W, b = model.coef_, model.intercept_
    np.testing.assert_allclose(W.sum(axis=0), 0.0, atol=1e-12)
    rows = [_brute_supremum(_cross_entropy(W, b, label), x, a, lam_P, lam_A)
            for x, a, label in zip(X, X_auxiliary, y)]
    brute = radius * lam_P + radius_auxiliary * lam_A + np.mean(rows)
    assert abs(brute - model.objective_) <= 1e-6
    weights = np.full(len(y), 1.0 / len(y))
    *_, (Z, owner) = paired_multiclass_dual(X, X_auxiliary, y, weights, radius,
                                            radius_auxiliary, 3, True, 1e-8, 10000)
    lower = _cvxpy_restricted_multiclass(X, y, X_auxiliary,
                                         (radius, radius_auxiliary), Z, owner, 3)
    assert abs(lower - model.objective_) <= 1e-6


def test_multiclass_exact_dual_is_the_one_ball_model_when_a_ball_reaches_around():
    # The one-ball reference is the exact pairwise dual (a separate barrier
    # solver, no auxiliary data).
    X, y, X_auxiliary = _shifted_classes(15, 3, 0.3, 4)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    primary = RobustPairedClassifier(radius=0.1, norm="pairwise",
                                     tol=1e-10).fit(X, y)
    both = _exact(X, y, X_auxiliary, 0.1, 0.1 + 1.01 * distance, tol=1e-8)
    assert abs(both.objective_ - primary.objective_) <= 1e-7
    auxiliary = RobustPairedClassifier(radius=0.1, norm="pairwise",
                                       tol=1e-10).fit(X_auxiliary, y)
    both = _exact(X, y, X_auxiliary, 0.1 + 1.01 * distance, 0.1, tol=1e-8)
    assert abs(both.objective_ - auxiliary.objective_) <= 1e-7
    smaller = RobustPairedClassifier(radius=0.05, norm="pairwise",
                                     tol=1e-10).fit(X, y)
    both = _exact(X, y, X.copy(), 0.05, 0.2, tol=1e-8)
    assert abs(both.objective_ - smaller.objective_) <= 1e-7


def test_multiclass_exact_dual_lies_between_the_nominal_loss_and_the_bound():
    X, y, X_auxiliary = _shifted_classes(12, 4, 0.4, 2)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    radius, radius_auxiliary = 0.3 * distance, 0.9 * distance
    bound = RobustPairedClassifier(radius=radius, radius_auxiliary=radius_auxiliary,
                                   tol=1e-10).fit(X, y, X_auxiliary=X_auxiliary)
    exact = _exact(X, y, X_auxiliary, radius, radius_auxiliary, tol=1e-8)
    assert exact.objective_ - exact.duality_gap_ <= bound.objective_
    logits = X @ exact.coef_.T + exact.intercept_
    nominal = np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(y)), y])
    assert exact.objective_ >= nominal
    assert exact.predict_proba(X).shape == (len(y), 4)


def test_multiclass_exact_dual_on_iris_against_cvxpy():
    # Iris (standardised, every third row), partners under a multiplicative
    # drift: the optimum against cvxpy on the dual restricted to the kept points.
    pytest.importorskip("cvxpy")
    from sklearn.preprocessing import StandardScaler

    from statopt.linear_model._robust_intersection_multiclass import (
        paired_multiclass_dual,
    )

    X, y = load_iris(return_X_y=True)
    X, y = StandardScaler().fit_transform(X)[::3], y[::3]
    rng = np.random.default_rng(0)
    X_auxiliary = 1.1 * X + 0.2 * rng.normal(size=X.shape)
    distance = np.mean(np.linalg.norm(X - X_auxiliary, axis=1))
    weights = np.full(len(y), 1.0 / len(y))
    radii = (0.1, distance - 0.05)
    W, b, _, objective, gap, _, (Z, owner) = paired_multiclass_dual(
        X, X_auxiliary, y, weights, *radii, 3, True, 1e-7, 20000)
    assert gap <= 1e-7
    lower = _cvxpy_restricted_multiclass(X, y, X_auxiliary, radii, Z, owner, 3)
    assert abs(lower - objective) <= 1e-6
