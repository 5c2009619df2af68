"""RobustPairedClassifier against independent references (issue 17).

References: scikit-learn's LogisticRegression (the binary robust model solves the
ridge problem whose strength matches the optimality conditions), scipy.optimize on
smooth reformulations, a brute-force primal worst case built from explicit transport
plans, brute-force perturbations for the worst-case accuracy, and cvxpy (a test-only
dependency, skipped when absent).
"""

import numpy as np
import pytest
from scipy.linalg import cho_solve
from scipy.optimize import minimize
from scipy.special import log_expit, logsumexp
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from statopt import RobustPairedClassifier


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:200, :6], y[:200]


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def _binary_loss(w, b, X, y):
    z = (2.0 * y - 1.0) * (X @ w + b)
    return np.mean(-log_expit(z)), z


def _softmax_loss(W, b, X, y):
    Z = X @ W.T + b
    return np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y])


def _worst_case_risk(w, b, X, y, radius, kappa):
    """Sup of the expected log-loss over the Wasserstein ball, from transport plans.

    Mass of row i can flip its label (cost kappa per unit mass, gain
    l(-z_i) - l(z_i)) or travel far along -y w (gain ||w|| per unit of cost, the
    loss's asymptotic slope, never beaten by a finite move since the loss is
    convex with that slope). Spending the budget greedily on the best ratio is
    the optimal fractional knapsack.
    """
    loss, z = _binary_loss(w, b, X, y)
    n = len(y)
    slope = np.linalg.norm(w)
    gains = (-log_expit(-z) + log_expit(z)) / n  # per row, flipping all its mass
    costs = np.full(n, kappa / n)
    ratio = gains / costs
    budget, total = radius, loss
    for i in np.argsort(-ratio):
        if ratio[i] <= slope or budget <= 0:
            break
        used = min(costs[i], budget)
        total += ratio[i] * used
        budget -= used
    return total + slope * budget


def test_binary_matches_ridge_logistic_regression(cancer):
    X, y = cancer
    radius = 0.5
    model = RobustPairedClassifier(radius=radius, tol=1e-12).fit(X, y)
    w = model.coef_[0]
    # Optimality: grad mean-loss + r w / ||w|| = 0, which is LogisticRegression's
    # condition grad mean-loss + w / (C n) = 0 with C = ||w|| / (r n).
    C = np.linalg.norm(w) / (radius * len(y))
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-5)
    loss, _ = _binary_loss(w, model.intercept_[0], X, y)
    assert abs(model.objective_ - (loss + radius * np.linalg.norm(w))) < 1e-9
    assert model.duality_gap_ <= 1e-12


@pytest.mark.parametrize("kappa", [0.5, 2.0])
def test_label_flip_dual_equals_brute_force_worst_case(cancer, kappa):
    X, y = cancer
    radius = 0.1
    model = RobustPairedClassifier(radius=radius, label_flip_cost=kappa,
                                   tol=1e-10).fit(X, y)
    w, b = model.coef_[0], model.intercept_[0]
    # The dual value at the optimum is the primal worst case of the fitted model ...
    worst = _worst_case_risk(w, b, X, y, radius, kappa)
    assert abs(model.objective_ - worst) < 1e-6
    # ... and no nearby model has a smaller worst case (the optimum is a minimum).
    rng = np.random.default_rng(0)
    for _ in range(20):
        dw, db = rng.normal(size=w.size) * 1e-3, rng.normal() * 1e-3
        assert _worst_case_risk(w + dw, b + db, X, y, radius, kappa) >= worst - 1e-9
    assert model.dual_multiplier_ >= np.linalg.norm(w) - 1e-8


def _multiclass_flip_risk(W, b, X, y, radius, kappa):
    """Worst case by transport plans: per row, flip to the best other label
    (gain z_y - z_l at cost kappa) while the ratio beats the slope, the rest of
    the budget travels far at the slope max ||w_k - w_l|| (labels move too)."""
    Z = X @ W.T + b
    n = len(y)
    loss = np.mean(logsumexp(Z, axis=1) - Z[np.arange(n), y])
    slope = max(np.linalg.norm(W[k] - W[m]) for k in range(len(W))
                for m in range(len(W)))
    margins = Z[np.arange(n), y][:, None] - Z
    margins[np.arange(n), y] = -np.inf
    ratio = margins.max(axis=1) / kappa
    budget, total = radius, loss
    for i in np.argsort(-ratio):
        if ratio[i] <= slope or budget <= 0:
            break
        used = min(kappa / n, budget)
        total += ratio[i] * used
        budget -= used
    return total + slope * budget


def test_multiclass_label_flip_equals_brute_force_worst_case(iris):
    X, y = iris
    X = X - X.mean(axis=0)
    radius, kappa = 0.1, 0.5
    model = RobustPairedClassifier(radius=radius, label_flip_cost=kappa,
                                   tol=1e-10).fit(X, y)
    W, b = model.coef_, model.intercept_
    worst = _multiclass_flip_risk(W, b, X, y, radius, kappa)
    assert abs(model.objective_ - worst) < 1e-6
    rng = np.random.default_rng(0)
    for _ in range(30):
        dW, db = rng.normal(size=W.shape) * 1e-3, rng.normal(size=3) * 1e-3
        assert _multiclass_flip_risk(W + dW, b + db, X, y, radius, kappa) >= (
            worst - 1e-9)
    # Two classes through the multiclass path: the binary dual's value.
    Xb, yb = X[y > 0], y[y > 0]
    binary = RobustPairedClassifier(radius=radius, label_flip_cost=kappa,
                                    tol=1e-10).fit(Xb, yb)
    from statopt.linear_model._robust_dual import multiclass_label_flip

    Xc = Xb - Xb.mean(axis=0)
    Y = np.eye(2)[yb - 1]
    weights = np.full(len(yb), 1.0 / len(yb))
    value = multiclass_label_flip(Xc, Y, weights, radius, kappa, True, 1e-10,
                                  500)[3]
    assert value == pytest.approx(binary.objective_, abs=1e-8)


def test_label_flip_cost_large_recovers_fixed_labels(cancer):
    X, y = cancer
    fixed = RobustPairedClassifier(radius=0.1, tol=1e-10).fit(X, y)
    flip = RobustPairedClassifier(radius=0.1, label_flip_cost=1e6, tol=1e-10).fit(X, y)
    assert abs(fixed.objective_ - flip.objective_) < 1e-6
    np.testing.assert_allclose(flip.coef_, fixed.coef_, rtol=1e-3, atol=1e-5)


def test_frobenius_and_nuclear_against_smooth_reformulations(iris):
    X, y = iris
    X = X - X.mean(axis=0)
    K, p = 3, X.shape[1]
    radius = 0.1
    rho = np.sqrt(2.0) * radius
    for norm in ("frobenius", "nuclear"):
        model = RobustPairedClassifier(radius=radius, norm=norm, tol=1e-11).fit(X, y)

        if norm == "frobenius":
            # Smooth away from W = 0, where the optimum is not (radius < r*).
            def objective(theta):
                W, b = theta[:K * p].reshape(K, p), theta[K * p:]
                return _softmax_loss(W, b, X, y) + rho * np.linalg.norm(W)
            start = np.zeros(K * p + K) + 0.01
        else:
            # ||W||_* = min over W = U V' of (||U||_F^2 + ||V||_F^2) / 2.
            def objective(theta):
                U = theta[:K * K].reshape(K, K)
                V = theta[K * K:K * K + p * K].reshape(p, K)
                b = theta[K * K + p * K:]
                return (_softmax_loss(U @ V.T, b, X, y)
                        + rho * 0.5 * (np.sum(U * U) + np.sum(V * V)))
            start = np.random.default_rng(0).normal(size=K * K + p * K + K) * 0.1
        reference = minimize(objective, start, method="BFGS",
                             options={"gtol": 1e-10, "maxiter": 20000})
        assert abs(model.objective_ - reference.fun) < 1e-6, norm
        assert model.objective_ <= reference.fun + 1e-9


def test_multiclass_bound_dominates_exact_worst_case(iris):
    X, y = iris
    radius = 0.1
    model = RobustPairedClassifier(radius=radius, norm="spectral").fit(X, y)
    W, b = model.coef_, model.intercept_
    exact = _softmax_loss(W, b, X, y) + radius * max(
        np.linalg.norm(W[k] - W[m]) for k in range(3) for m in range(3))
    # sqrt(2) ||W||_2 >= max ||w_k - w_l||: the fitted value certifies the worst case.
    assert exact <= model.objective_ + 1e-12
    assert model.objective_ - exact < 0.05 * model.objective_


def _exact_multiclass_risk(W, b, X, y, radius):
    largest = max(np.linalg.norm(W[k] - W[m]) for k in range(len(W))
                  for m in range(len(W)))
    return _softmax_loss(W, b, X, y) + radius * largest


def test_pairwise_is_the_exact_worst_case_and_a_minimum(iris):
    X, y = iris
    radius = 0.2
    model = RobustPairedClassifier(radius=radius, norm="pairwise", tol=1e-11).fit(X, y)
    W, b = model.coef_, model.intercept_
    assert model.objective_ == pytest.approx(
        _exact_multiclass_risk(W, b, X, y, radius), abs=1e-9)
    # Convex objective: no random nearby point may be lower.
    rng = np.random.default_rng(0)
    for _ in range(100):
        dW, db = rng.normal(size=W.shape) * 1e-4, rng.normal(size=3) * 1e-4
        assert _exact_multiclass_risk(W + dW, b + db, X, y, radius) >= (
            model.objective_ - 1e-9)
    # The matrix norms give upper bounds of the same worst case.
    for norm in ("spectral", "frobenius", "nuclear"):
        bound = RobustPairedClassifier(radius=radius, norm=norm).fit(X, y)
        assert bound.objective_ >= model.objective_ - 1e-7
    r_star = model.radius_max_
    assert np.abs(RobustPairedClassifier(radius=0.98 * r_star, norm="pairwise")
                  .fit(X, y).coef_).max() > 0
    with pytest.raises(ValueError, match="critical radius"):
        RobustPairedClassifier(radius=r_star, norm="pairwise").fit(X, y)


def test_pairwise_dual_norm_for_two_rows():
    from statopt.linear_model._robust_dual import pairwise_dual_norm

    rng = np.random.default_rng(0)
    for _ in range(5):
        g = rng.normal(size=4)
        # max <a_1 - a_2, g> over ||a_1 - a_2|| <= 1 is ||g||.
        assert pairwise_dual_norm(np.vstack([g, -g])) == pytest.approx(
            np.linalg.norm(g), rel=1e-8)


def test_critical_radius(cancer, iris):
    for X, y in (cancer, iris):
        model = RobustPairedClassifier(radius=1e-3).fit(X, y)
        r_star = model.radius_max_
        below = RobustPairedClassifier(radius=0.98 * r_star, tol=1e-12).fit(X, y)
        assert np.abs(below.coef_).max() > 0
        with pytest.raises(ValueError, match="critical radius r\\*="):
            RobustPairedClassifier(radius=r_star).fit(X, y)
    # Independent check: r* is the norm of the gradient at w = 0 of the loss
    # minimised over the intercept (envelope theorem), by central differences.
    X, y = cancer
    X = X / X.std(axis=0)
    r_star = RobustPairedClassifier(radius=1e-3).fit(X, y).radius_max_

    def profile(w):
        return minimize(lambda c: _binary_loss(w, c[0], X, y)[0], [0.0],
                        method="BFGS", options={"gtol": 1e-12}).fun

    step = 1e-5
    basis = np.eye(X.shape[1]) * step
    gradient = [(profile(e) - profile(-e)) / (2 * step) for e in basis]
    assert abs(np.linalg.norm(gradient) - r_star) < 1e-6 * r_star


def test_worst_case_accuracy_by_brute_force(cancer, iris):
    for X, y in (cancer, iris):
        model = RobustPairedClassifier(radius=0.05).fit(X, y)
        W = model.coef_
        for epsilon in (0.0, 0.5, 2.0):
            robust = np.ones(len(y), dtype=bool)
            labels = np.searchsorted(model.classes_, y)
            if W.shape[0] == 1:
                direction = -(2 * labels - 1)[:, None] * W[0] / np.linalg.norm(W[0])
                robust &= model.predict(X + epsilon * 0.999999 * direction) == y
                robust &= model.predict(X) == y
            else:
                for k in range(W.shape[0]):
                    diff = W[labels] - W[k]
                    size = np.linalg.norm(diff, axis=1, keepdims=True)
                    direction = -np.divide(diff, size, out=np.zeros_like(diff),
                                           where=size > 0)
                    robust &= model.predict(X + epsilon * direction) == y
            # Boundary ties are measure-zero on these data.
            assert model.worst_case_accuracy(X, y, epsilon) == pytest.approx(
                robust.mean(), abs=1.5 / len(y))


def test_label_flip_collapse_is_detected(cancer):
    X, y = cancer
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    kappa = 2.0
    fitted = RobustPairedClassifier(radius=0.3, label_flip_cost=kappa).fit(X, y)
    # Below: some model beats the collapsed one (worst case log 2), by brute force.
    assert _worst_case_risk(fitted.coef_[0], fitted.intercept_[0], X, y, 0.3,
                            kappa) < np.log(2) - 1e-3
    with pytest.raises(ValueError, match="label_flip_cost=2"):
        RobustPairedClassifier(radius=0.5, label_flip_cost=kappa).fit(X, y)
    # Above: no model near w = 0 beats the collapsed one (the problem is convex,
    # so a local check around w = 0 decides).
    assert _worst_case_risk(np.zeros(X.shape[1]), 0.0, X, y, 0.5, kappa) == (
        pytest.approx(np.log(2), abs=1e-12))
    rng = np.random.default_rng(0)
    for _ in range(50):
        w, b = rng.normal(size=X.shape[1]) * 1e-3, rng.normal() * 1e-3
        assert _worst_case_risk(w, b, X, y, 0.5, kappa) >= np.log(2) - 1e-12


def test_sample_weight_equals_repetition(iris):
    X, y = iris
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, size=len(y))
    weighted = RobustPairedClassifier(radius=0.05, tol=1e-11).fit(
        X, y, sample_weight=counts)
    repeated = RobustPairedClassifier(radius=0.05, tol=1e-11).fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert abs(weighted.objective_ - repeated.objective_) < 1e-9
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               atol=1e-5)


def test_refusals(iris, cancer):
    X, y = iris
    with pytest.raises(ValueError, match="r\\*=0.133333"):  # kappa (K - 1) / K
        RobustPairedClassifier(radius=0.15, label_flip_cost=0.2).fit(X, y)
    with pytest.raises(ValueError, match="at least two classes"):
        RobustPairedClassifier().fit(X[:10], np.zeros(10))
    with pytest.raises(ValueError, match="non-negative"):
        RobustPairedClassifier().fit(X, y, sample_weight=-np.ones(len(y)))
    model = RobustPairedClassifier().fit(X, y)
    with pytest.raises(ValueError, match="epsilon"):
        model.worst_case_accuracy(X, y, -1.0)
    Xb, yb = cancer
    with pytest.raises(ValueError, match="critical radius"):
        RobustPairedClassifier(radius=0.3, label_flip_cost=0.5).fit(Xb, yb)


def test_pipeline_and_grid_search_on_radius(cancer):
    X, y = cancer
    search = GridSearchCV(
        make_pipeline(StandardScaler(), RobustPairedClassifier()),
        {"robustpairedclassifier__radius": [0.01, 0.05, 0.1]}, cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.8


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_against_cvxpy(cancer, iris):
    cp = pytest.importorskip("cvxpy")
    X, y = iris
    n = len(y)
    Y = np.eye(3)[y]
    for norm in ("spectral", "frobenius", "nuclear", "pairwise"):
        model = RobustPairedClassifier(radius=0.1, norm=norm, tol=1e-11).fit(X, y)
        W, b = cp.Variable((3, 4)), cp.Variable(3)
        Z = X @ W.T + np.ones((n, 1)) @ cp.reshape(b, (1, 3), order="C")
        loss = cp.sum(cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1))
        penalty = {"spectral": np.sqrt(2) * cp.sigma_max(W),
                   "frobenius": np.sqrt(2) * cp.norm(W, "fro"),
                   "nuclear": np.sqrt(2) * cp.normNuc(W),
                   "pairwise": cp.max(cp.hstack([cp.norm(W[k] - W[m]) for k in
                                                 range(3) for m in range(k)]))}[norm]
        problem = cp.Problem(cp.Minimize(loss / n + 0.1 * penalty))
        problem.solve(solver=cp.CLARABEL)
        assert abs(model.objective_ - problem.value) < 1e-6, norm
    for kappa in (0.5, 2.0):
        model = RobustPairedClassifier(radius=0.1, label_flip_cost=kappa,
                                       tol=1e-10).fit(X, y)
        W, b, lam = cp.Variable((3, 4)), cp.Variable(3), cp.Variable()
        Z = X @ W.T + np.ones((n, 1)) @ cp.reshape(b, (1, 3), order="C")
        normaliser = cp.log_sum_exp(Z, axis=1)
        losses = [normaliser - cp.sum(cp.multiply(Y, Z), axis=1)]
        losses += [normaliser - Z[:, m] - kappa * lam for m in range(3)]
        objective = 0.1 * lam + cp.sum(cp.max(cp.vstack(losses), axis=0)) / n
        problem = cp.Problem(cp.Minimize(objective),
                             [cp.norm(W[k] - W[m]) <= lam for k in range(3)
                              for m in range(k)])
        problem.solve(solver=cp.CLARABEL)
        assert abs(model.objective_ - problem.value) < 1e-6, kappa
    # The critical radius of the exact dual: the dual norm of the gradient at 0.
    from statopt.linear_model._robust_dual import pairwise_dual_norm

    G = np.random.default_rng(0).normal(size=(4, 3))
    G -= G.mean(axis=0)
    assert pairwise_dual_norm(G) == pytest.approx(_pairwise_dual_norm_by_cvxpy(G),
                                                  abs=1e-7)
    X, y = cancer
    n = len(y)
    signs = 2 * y - 1
    for kappa in (0.5, 2.0):
        model = RobustPairedClassifier(radius=0.1, label_flip_cost=kappa,
                                       tol=1e-10).fit(X, y)
        w, b, lam = cp.Variable(X.shape[1]), cp.Variable(), cp.Variable()
        z = cp.multiply(signs, X @ w + b)
        objective = 0.1 * lam + cp.sum(
            cp.maximum(cp.logistic(-z), cp.logistic(z) - kappa * lam)) / n
        problem = cp.Problem(cp.Minimize(objective), [cp.norm(w, 2) <= lam])
        problem.solve(solver=cp.CLARABEL)
        assert abs(model.objective_ - problem.value) < 1e-6, kappa


def test_reproduce_source_objective_collapses_where_ours_does_not():
    from statopt._reproduce.robust import _project_nuclear_ball, train_source

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    aux = X + np.random.default_rng(0).normal(scale=0.5, size=X.shape)
    r_star = RobustPairedClassifier(radius=1e-3, norm="nuclear").fit(X, y).radius_max_
    W, b, _ = train_source(X, aux, y, 0.1 * r_star, n_steps=100)
    assert np.unique(np.argmax(X @ W.T + b, axis=1)).size == 1
    ours = RobustPairedClassifier(radius=0.1 * r_star, norm="nuclear").fit(X, y)
    assert np.unique(ours.predict(X)).size == 3
    # The projection onto the nuclear-norm ball: inside the ball, and the residual
    # makes an obtuse angle with every other point of the ball.
    rng = np.random.default_rng(1)
    V = rng.normal(size=(3, 4))
    P = _project_nuclear_ball(V, 1.0)
    assert np.linalg.svd(P, compute_uv=False).sum() == pytest.approx(1.0)
    for _ in range(100):
        Q = rng.normal(size=(3, 4))
        Q /= max(1.0, np.linalg.svd(Q, compute_uv=False).sum())
        assert np.sum((V - P) * (Q - P)) <= 1e-12


def test_sample_weight_is_routed_through_pipeline_and_grid_search(iris):
    import sklearn

    X, y = iris
    weights = np.random.default_rng(0).integers(1, 3, size=len(y)).astype(float)
    with sklearn.config_context(enable_metadata_routing=True):
        model = RobustPairedClassifier(radius=0.05).set_fit_request(
            sample_weight=True)
        scorer = make_scorer(accuracy_score).set_score_request(sample_weight=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                             model)
        search = GridSearchCV(pipe, {"robustpairedclassifier__radius": [0.05]},
                              cv=2, scoring=scorer).fit(X, y, sample_weight=weights)
    direct = make_pipeline(StandardScaler(), RobustPairedClassifier(radius=0.05))
    direct.fit(X, y, robustpairedclassifier__sample_weight=weights)
    assert search.best_estimator_[-1].objective_ == pytest.approx(
        direct[-1].objective_, abs=1e-9)


@pytest.mark.parametrize("kept", [4, 3])
def test_pair_cone_barrier_derivatives_match_finite_differences(kept):
    # kept=3: the layout of the pairwise solver, the last class held at zero and
    # left out of the derivatives.
    from statopt.linear_model._robust_dual import _pair_cones, _pair_layout

    rng = np.random.default_rng(3)
    K, p = 4, 3
    stride, _, pairs, _ = _pair_layout(p, K, True)
    dim = kept * stride + 1
    v = np.zeros(dim)
    v[:-1].reshape(kept, stride)[:, :p] = 0.2 * rng.normal(size=(kept, p))
    v[-1] = 1.5

    def parts(point):
        W = np.zeros((K, p))
        W[:kept] = point[:-1].reshape(kept, stride)[:, :p]
        return _pair_cones(W, point[-1], pairs, stride, dim)

    _, gradient, hessian = parts(v)
    W = np.zeros((K, p))
    W[:kept] = v[:-1].reshape(kept, stride)[:, :p]
    np.testing.assert_allclose(
        _pair_cones(W, v[-1], pairs, stride, dim, "gradient")[1], gradient,
        rtol=1e-14)
    step = 1e-6
    for j in range(dim):
        shift = np.zeros(dim)
        shift[j] = step
        up, down = parts(v + shift), parts(v - shift)
        assert (up[0] - down[0]) / (2 * step) == pytest.approx(gradient[j],
                                                               abs=1e-6)
        np.testing.assert_allclose((up[1] - down[1]) / (2 * step), hessian[:, j],
                                   atol=1e-5)


@pytest.mark.parametrize("growth, tangent", [(None, False), (30.0, False),
                                             (30.0, True)])
def test_central_path_gap_bounds_the_error_against_highs(growth, tangent):
    # The barrier driver (tenfold or faster growth landing on the last t needed,
    # centring started from the extrapolated path) on an LP over a box whose
    # optimum HiGHS gives: the certified gap must meet tol and bound the error.
    from scipy.optimize import linprog

    from statopt.linear_model._robust_dual import _central_path

    rng = np.random.default_rng(0)
    A = rng.normal(size=(12, 5))
    upper = rng.uniform(0.5, 2.0, size=12)
    c = rng.normal(size=5)

    def barrier(v, t, derivatives):
        slack = upper - A @ v
        if np.any(slack <= 0):
            return np.inf, None, None
        value = t * (c @ v) - np.sum(np.log(slack))
        if not derivatives:
            return value, None, None
        inverse = 1.0 / slack
        return (value, t * c + A.T @ inverse,
                (A * (inverse * inverse)[:, None]).T @ A)

    reference = linprog(c, A_ub=A, b_ub=upper, bounds=[(None, None)] * 5,
                        method="highs")
    assert reference.status == 0
    for tol in (1e-4, 1e-7, 1e-10):
        v, gap, steps = _central_path(barrier, np.zeros(5), np.ones(5, dtype=bool),
                                      12.0, tol, 500, 0, growth, tangent)
        assert gap <= tol
        assert -1e-9 <= c @ v - reference.fun <= gap + 1e-9


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_default_tol_gap_bounds_the_error_against_cvxpy(cancer, iris):
    # At the default tol (where the barrier schedules land on the last t) the
    # reported gap bounds the distance to cvxpy's optimum (up to its accuracy).
    cp = pytest.importorskip("cvxpy")
    X, y = iris
    n = len(y)
    Y = np.eye(3)[y]
    model = RobustPairedClassifier(radius=0.1, norm="pairwise").fit(X, y)
    W, b = cp.Variable((3, 4)), cp.Variable(3)
    Z = X @ W.T + np.ones((n, 1)) @ cp.reshape(b, (1, 3), order="C")
    loss = cp.sum(cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1))
    penalty = cp.max(cp.hstack([cp.norm(W[k] - W[m]) for k in range(3)
                                for m in range(k)]))
    problem = cp.Problem(cp.Minimize(loss / n + 0.1 * penalty))
    problem.solve(solver=cp.CLARABEL)
    assert model.duality_gap_ <= model.tol
    assert -1e-8 <= model.objective_ - problem.value <= model.duality_gap_ + 1e-8
    X, y = cancer
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    n = len(y)
    signs = 2 * y - 1
    model = RobustPairedClassifier(radius=0.1, label_flip_cost=1.0).fit(X, y)
    w, b, lam = cp.Variable(X.shape[1]), cp.Variable(), cp.Variable()
    z = cp.multiply(signs, X @ w + b)
    objective = 0.1 * lam + cp.sum(cp.maximum(cp.logistic(-z),
                                              cp.logistic(z) - lam)) / n
    problem = cp.Problem(cp.Minimize(objective), [cp.norm(w, 2) <= lam])
    problem.solve(solver=cp.CLARABEL)
    assert model.duality_gap_ <= model.tol
    assert -1e-8 <= model.objective_ - problem.value <= model.duality_gap_ + 1e-8


def test_softmax_derivatives_match_finite_differences():
    from statopt.linear_model._robust_dual import _softmax_derivatives, loss_residuals

    rng = np.random.default_rng(4)
    n, p, K = 30, 3, 4
    X = rng.normal(size=(n, p))
    Y = np.eye(K)[rng.integers(0, K, size=n)]
    weights = rng.uniform(0.5, 1.5, size=n)
    weights /= weights.sum()
    design = np.hstack([X, np.ones((n, 1))])
    theta = 0.3 * rng.normal(size=(K, p + 1))
    theta[-1] = 0.0  # the last class is held at zero

    def parts(free_part):
        full = theta.copy()
        full[:-1] = free_part.reshape(K - 1, p + 1)
        loss, R = loss_residuals(design @ full.T, Y, weights, False)
        return loss, R

    point = theta[:-1].ravel()
    _, R = parts(point)
    gradient, hessian = _softmax_derivatives(design, R, Y, weights, K - 1)
    step = 1e-6
    for j in range(point.size):
        shift = np.zeros(point.size)
        shift[j] = step
        (up, R_up), (down, R_down) = parts(point + shift), parts(point - shift)
        assert (up - down) / (2 * step) == pytest.approx(gradient[j], abs=1e-8)
        g_up = _softmax_derivatives(design, R_up, Y, weights, K - 1)[0]
        g_down = _softmax_derivatives(design, R_down, Y, weights, K - 1)[0]
        np.testing.assert_allclose((g_up - g_down) / (2 * step), hessian[:, j],
                                   atol=1e-7)


@pytest.mark.parametrize("norm", ["frobenius", "nuclear", "spectral"])
def test_prox_against_cvxpy_and_the_svd(norm):
    # The prox kernel (singular directions from the small Gram matrix) against
    # its definition solved by cvxpy, and against the SVD formula on shapes
    # either side of square, with a singular value at rounding level.
    cp = pytest.importorskip("cvxpy")
    from statopt.linear_model._robust_dual import prox_norm

    rng = np.random.default_rng(7)
    for shape in [(3, 5), (5, 3), (4, 4)]:
        V = rng.normal(size=shape)
        U, singular, Vt = np.linalg.svd(V, full_matrices=False)
        for threshold in (0.1 * singular.sum(), 0.6 * singular.sum(), 0.5):
            W = cp.Variable(shape)
            penalty = {"frobenius": cp.norm(W, "fro"), "nuclear": cp.normNuc(W),
                       "spectral": cp.sigma_max(W)}[norm]
            problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(W - V)
                                             + threshold * penalty))
            problem.solve(solver=cp.CLARABEL)
            ours = prox_norm(V, threshold, norm)
            W.value = ours
            # Ours must be at least as low as Clarabel's optimum (whose iterate is
            # off by up to 2e-5 on sigma_max, its value by up to 2e-8) and agree
            # with it to Clarabel's accuracy.
            assert problem.objective.value <= problem.value + 1e-9
            assert problem.objective.value == pytest.approx(problem.value,
                                                            abs=1e-6)
        if norm == "frobenius":
            continue
        singular[-1] = 1e-14 * singular[0]
        V = (U * singular) @ Vt
        for threshold in (1e-3 * singular[0], singular[1], 2 * singular.sum()):
            if norm == "nuclear":
                shrunk = np.maximum(singular - threshold, 0.0)
            else:  # V minus its projection onto the nuclear ball (sorted values)
                level = [(np.sum(singular[:j + 1]) - threshold) / (j + 1)
                         for j in range(singular.size)]
                count = max(j + 1 for j in range(singular.size)
                            if singular[j] > level[j])
                shrunk = np.minimum(singular, max(level[count - 1], 0.0))
            np.testing.assert_allclose(prox_norm(V, threshold, norm),
                                       (U * shrunk) @ Vt, atol=1e-12)


def test_pairwise_dual_norm_with_more_columns_than_rows():
    # Solved in the row space of G: the value must equal the full problem's.
    pytest.importorskip("cvxpy")
    from statopt.linear_model._robust_dual import pairwise_dual_norm

    G = np.random.default_rng(1).normal(size=(3, 7))
    G -= G.mean(axis=0)
    assert pairwise_dual_norm(G) == pytest.approx(_pairwise_dual_norm_by_cvxpy(G),
                                                  abs=1e-7)


def _pairwise_dual_norm_by_cvxpy(G):
    """``max <A, G>`` over rows of ``A`` within distance 1 of each other."""
    import cvxpy as cp

    K = G.shape[0]
    A = cp.Variable(G.shape)
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(A, G))),
                         [cp.norm(A[k] - A[m]) <= 1 for k in range(K)
                          for m in range(k)])
    problem.solve(solver=cp.CLARABEL)
    return problem.value


def test_newton_solve_factorises_in_place_and_falls_back_to_least_squares():
    from statopt.linear_model._robust_dual import _newton_solve

    rng = np.random.default_rng(5)
    A = rng.normal(size=(6, 8))
    definite = A @ A.T
    g = rng.normal(size=6)
    expected = np.linalg.solve(definite, g)
    direction, factor = _newton_solve(definite.copy(), g, None)
    np.testing.assert_allclose(direction, expected, rtol=1e-10)
    # The factor it returns solves other right-hand sides (the path's tangent).
    np.testing.assert_allclose(cho_solve(factor, definite[:, 0]), np.eye(6)[:, 0],
                               atol=1e-10)
    # Singular (rank 3): the factorisation fails part-way through the matrix it
    # overwrote, so the fallback must work on the rebuilt one.
    singular = A[:, :3] @ A[:, :3].T
    rebuilt = []

    def rebuild():
        rebuilt.append(True)
        return singular.copy()

    direction, factor = _newton_solve(singular.copy(), g, rebuild)
    assert rebuilt and factor is None
    np.testing.assert_allclose(direction,
                               np.linalg.lstsq(singular, g, rcond=None)[0],
                               atol=1e-10)


def test_path_tangent_matches_finite_differences_of_central_points():
    # The tangent extrapolation of _central_path: v'(t) = -H^{-1} g0 at a
    # central point, against central points at t (1 +- 1e-4) found by Newton's
    # method to rounding (an LP barrier, whose central path is smooth).
    from scipy.linalg import cho_factor

    rng = np.random.default_rng(4)
    # A box and six random cuts: a bounded polytope around 0.
    A = np.vstack([rng.normal(size=(6, 4)), np.eye(4), -np.eye(4)])
    upper = rng.uniform(0.5, 2.0, size=14)
    c = rng.normal(size=4)

    def derivatives(v, t):
        inverse = 1.0 / (upper - A @ v)
        return t * c + A.T @ inverse, (A * (inverse * inverse)[:, None]).T @ A

    def central(t, v=None):
        v = np.zeros(4) if v is None else v
        for _ in range(200):
            gradient, hessian = derivatives(v, t)
            step = np.linalg.solve(hessian, gradient)
            scale = 1.0
            while np.any(upper - A @ (v - scale * step) <= 0):
                scale *= 0.5
            v = v - scale * step
        return v

    t = 3.0
    v = central(t)
    _, hessian = derivatives(v, t)
    tangent = -cho_solve(cho_factor(hessian), c)
    epsilon = 1e-4
    numeric = (central(t * (1 + epsilon), v) - central(t * (1 - epsilon), v)) / (
        2 * epsilon * t)
    np.testing.assert_allclose(tangent, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
@pytest.mark.parametrize("fraction", [0.003, 0.3])
def test_pairwise_on_ten_classes_against_cvxpy(fraction):
    # Ten classes (45 pair cones), a tiny and a large fraction of the critical
    # radius: the path's tangent start and the loose centrings must still reach
    # cvxpy's optimum, with a certified gap at most tol.
    cp = pytest.importorskip("cvxpy")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:120, ::4])
    y = y[:120]
    n, p = X.shape
    Y = np.eye(10)[y]
    r_star = RobustPairedClassifier(radius=1e-6, norm="pairwise").fit(
        X, y).radius_max_
    radius = fraction * r_star
    model = RobustPairedClassifier(radius=radius, norm="pairwise", tol=1e-8).fit(X, y)
    assert model.duality_gap_ <= 1e-8
    W, b = cp.Variable((10, p)), cp.Variable(10)
    Z = X @ W.T + np.ones((n, 1)) @ cp.reshape(b, (1, 10), order="C")
    loss = cp.sum(cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1))
    penalty = cp.max(cp.hstack([cp.norm(W[k] - W[m]) for k in range(10)
                                for m in range(k)]))
    problem = cp.Problem(cp.Minimize(loss / n + radius * penalty))
    problem.solve(solver=cp.CLARABEL)
    assert abs(model.objective_ - problem.value) < 1e-6


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_pairwise_without_intercept_against_cvxpy(iris):
    # Without an intercept the barrier holds the intercept coordinates fixed:
    # the path's tangent is solved on the free ones only.
    cp = pytest.importorskip("cvxpy")
    X, y = iris
    X = X + 0.5  # off-centre rows, so that the missing intercept matters
    n = len(y)
    Y = np.eye(3)[y]
    model = RobustPairedClassifier(radius=0.1, norm="pairwise", fit_intercept=False,
                                   tol=1e-9).fit(X, y)
    assert model.duality_gap_ <= 1e-9
    np.testing.assert_array_equal(model.intercept_, 0.0)
    W = cp.Variable((3, 4))
    Z = X @ W.T
    loss = cp.sum(cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1))
    penalty = cp.max(cp.hstack([cp.norm(W[k] - W[m]) for k in range(3)
                                for m in range(k)]))
    problem = cp.Problem(cp.Minimize(loss / n + 0.1 * penalty))
    problem.solve(solver=cp.CLARABEL)
    assert abs(model.objective_ - problem.value) < 1e-6


@pytest.mark.parametrize("norm", ["spectral", "frobenius", "nuclear", "pairwise"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_critical_radius_is_the_fits_radius_max_and_the_collapse_threshold(
        norm, fit_intercept):
    from statopt.linear_model import critical_radius

    X, y = load_iris(return_X_y=True)
    weights = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    r_star = critical_radius(X, y, norm=norm, fit_intercept=fit_intercept,
                             sample_weight=weights)
    model = RobustPairedClassifier(radius=0.5 * r_star, norm=norm,
                                   fit_intercept=fit_intercept)
    model.fit(X, y, sample_weight=weights)
    assert r_star == pytest.approx(model.radius_max_, rel=1e-12)
    with pytest.raises(ValueError, match="critical radius"):
        RobustPairedClassifier(radius=1.0001 * r_star, norm=norm,
                               fit_intercept=fit_intercept).fit(
            X, y, sample_weight=weights)


def test_critical_radius_binary_and_label_flips():
    from statopt.linear_model import critical_radius

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    # Two classes: every norm is the l2 norm of the one weight vector.
    values = {norm: critical_radius(X, y, norm=norm)
              for norm in ("spectral", "frobenius", "nuclear", "pairwise")}
    assert np.ptp(list(values.values())) == 0
    assert values["frobenius"] == pytest.approx(
        RobustPairedClassifier(radius=0.1 * values["frobenius"]).fit(X, y).radius_max_,
        rel=1e-12)
    assert critical_radius(X, y, label_flip_cost=3.0) == pytest.approx(1.5)


@pytest.mark.parametrize("X, y, match", [
    ([[0.0], [np.nan]], [0, 1], "NaN"),
    ([[0.0], [1.0]], [1, 1], "two classes"),
    ([[0.0], [1.0], [2.0]], [0, 1], "inconsistent"),
])
def test_critical_radius_refuses_bad_input(X, y, match):
    from statopt.linear_model import critical_radius

    with pytest.raises(ValueError, match=match):
        critical_radius(X, y)
    with pytest.raises(ValueError, match="norm"):
        critical_radius([[0.0], [1.0]], [0, 1], norm="l1")
    with pytest.raises(ValueError, match="sample_weight"):
        critical_radius([[0.0], [1.0]], [0, 1], sample_weight=[-1.0, 1.0])
