"""FITSSVD, sparse_svd, subspace_distance, make_sparse_svd_data and load_lung200."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles
from scipy.special import ndtri
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from statopt.datasets import load_lung200, make_sparse_svd_data
from statopt.decomposition import FITSSVD, sparse_svd
from statopt.decomposition._fitssvd import optimal_hard_threshold
from statopt.decomposition._kernels import (
    capped_square_sums,
    exact_median,
    median_absolute_deviation,
)
from statopt.decomposition._sparse_svd import (
    _bootstrap_max_median,
    bootstrap_thresholds,
    estimate_noise_level,
    initial_subspaces,
    mad_noise_level,
    marchenko_pastur_median,
    singular_value_noise_level,
)
from statopt.metrics import subspace_distance


@pytest.fixture(scope="module")
def lung_model():
    return make_sparse_svd_data("lung", random_state=0)


def _rates(estimate, truth):
    """True and false positive rates of the support of ``estimate``."""
    found, true = estimate != 0, truth != 0
    return (found & true).sum() / true.sum(), (found & ~true).sum() / (~true).sum()


# --- subspace_distance -------------------------------------------------------------


def test_subspace_distance_matches_scipy_angles_and_ignores_the_basis():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    expected = np.sin(subspace_angles(A, B).max()) ** 2
    assert subspace_distance(A, B) == pytest.approx(expected, rel=1e-12)
    # ||P_A - P_B||_2^2 computed from the projections themselves.
    projections = [M @ np.linalg.pinv(M) for M in (A, B)]
    spectral = np.linalg.norm(projections[0] - projections[1], 2) ** 2
    assert subspace_distance(A, B) == pytest.approx(spectral, rel=1e-10)
    mixed = A @ rng.standard_normal((3, 3))  # another basis of span(A)
    assert subspace_distance(A, mixed) < 1e-20
    assert subspace_distance(A[:, :2], A) == 1.0
    with pytest.raises(ValueError, match="same number of rows"):
        subspace_distance(A, B[:10])


# --- the algorithm -----------------------------------------------------------------


def test_noise_free_low_rank_input_gives_the_exact_svd():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3)) @ np.diag([9.0, 5.0, 2.0]) @ rng.standard_normal(
        (3, 40))
    U, s, Vt = sparse_svd(X, 3, noise_level=0, tol=1e-14, max_iter=1000)
    left, singular_values, right_t = np.linalg.svd(X)
    np.testing.assert_allclose(s, singular_values[:3], rtol=1e-10)
    assert subspace_distance(U, left[:, :3]) < 1e-12
    assert subspace_distance(Vt.T, right_t[:3].T) < 1e-12
    np.testing.assert_allclose(U * s @ Vt, X, atol=1e-9 * np.abs(X).max())


def test_noise_free_sparse_input_asks_for_noise_level():
    X, U, d, V = make_sparse_svd_data("lshm", noise=0.0)
    with pytest.raises(ValueError, match="noise_level"):
        FITSSVD().fit(X)
    svd = FITSSVD(noise_level=0).fit(X)
    np.testing.assert_allclose(svd.singular_values_, d, rtol=1e-12)
    assert subspace_distance(svd.components_.T, V) < 1e-20


@pytest.mark.parametrize("threshold", ["theory", "bootstrap"])
def test_lshm_rank_one_supports_are_recovered(threshold):
    # Lee, Shen, Huang & Marron's case: 25 of 100 left and 16 of 50 right entries.
    rates = []
    for seed in range(20):
        X, U, d, V = make_sparse_svd_data("lshm", random_state=seed)
        svd = FITSSVD(threshold=threshold, random_state=seed).fit(X)
        rates.append(_rates(svd.left_singular_vectors_[:, 0], U[:, 0])
                     + _rates(svd.components_[0], V[:, 0]))
    tpr_u, fpr_u, tpr_v, fpr_v = np.mean(rates, axis=0)
    assert tpr_v == 1.0 and fpr_v < 0.05
    assert tpr_u > 0.9 and fpr_u < 0.05  # the 2's of u sit close to the noise


@pytest.mark.parametrize("threshold", ["theory", "bootstrap"])
@pytest.mark.parametrize("init", ["theory", "holm"])
def test_lung_sized_model_beats_truncated_svd(lung_model, threshold, init):
    X, U, d, V = lung_model
    svd = FITSSVD(3, threshold=threshold, init=init, random_state=0).fit(X)
    assert subspace_distance(svd.left_singular_vectors_, U) <= 0.05
    assert subspace_distance(svd.components_.T, V) <= 0.05
    np.testing.assert_allclose(svd.singular_values_, d, rtol=0.05)
    assert svd.n_threshold_fallbacks_ == 0
    # The dense reference, on the same data: 12,625 noise rows drown the signal.
    dense = TruncatedSVD(3, algorithm="arpack").fit(X)
    dense_left = X @ dense.components_.T
    assert subspace_distance(dense_left, U) > 0.3
    tpr, fpr = _rates(np.abs(svd.left_singular_vectors_).sum(axis=1),
                      np.abs(U).sum(axis=1))
    assert tpr > 0.9 and fpr < 0.01


def test_random_state_makes_the_bootstrap_deterministic(lung_model):
    X = lung_model[0][:3000]
    first = FITSSVD(2, random_state=3).fit(X)
    second = FITSSVD(2, random_state=3).fit(X)
    np.testing.assert_array_equal(first.components_, second.components_)
    np.testing.assert_array_equal(first.left_singular_vectors_,
                                  second.left_singular_vectors_)


def test_sparse_svd_function_agrees_with_the_estimator(lung_model):
    X = lung_model[0][:2000]
    U, s, Vt = sparse_svd(X, 2, threshold="theory")
    svd = FITSSVD(2, threshold="theory").fit(X)
    np.testing.assert_array_equal(Vt, svd.components_)
    np.testing.assert_array_equal(s, svd.singular_values_)
    np.testing.assert_array_equal(U, svd.left_singular_vectors_)


def test_soft_thresholding_and_fixed_threshold():
    X, U, d, V = make_sparse_svd_data("lshm", random_state=0)
    soft = FITSSVD(thresholding="soft", threshold="theory").fit(X)
    assert _rates(soft.components_[0], V[:, 0])[0] == 1.0
    strict = FITSSVD(threshold=8.0).fit(X)
    loose = FITSSVD(threshold=1.0).fit(X)
    assert (strict.components_ != 0).sum() < (loose.components_ != 0).sum()


def test_convergence_warning_at_max_iter():
    X, *_ = make_sparse_svd_data("random", random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        FITSSVD(n_components=2, max_iter=1, random_state=0).fit(X)


def test_too_many_components_warns_that_they_are_not_supported():
    X, *_ = make_sparse_svd_data("lshm", random_state=0)
    with pytest.warns(UserWarning, match="no entry above the noise threshold"):
        FITSSVD(n_components=5, threshold="theory").fit(X)


# --- thresholds and screening ------------------------------------------------------


def test_bootstrap_max_median_matches_resampling_by_brute_force():
    rng = np.random.default_rng(0)
    pool = np.abs(rng.standard_normal(400))
    n_draws, n_resamples = 300, 4000
    brute = np.median([rng.choice(pool, n_draws).max() for _ in range(n_resamples)])
    ours = _bootstrap_max_median(pool, n_draws, rng.uniform(size=n_resamples))
    sorted_pool = np.sort(pool)
    # Both are order statistics of the pool; they agree up to one rank.
    rank = np.searchsorted(sorted_pool, brute)
    assert sorted_pool[max(rank - 1, 0)] <= ours <= sorted_pool[min(rank + 1, 399)]


def test_bootstrap_threshold_of_gaussian_noise_is_the_median_of_the_maximum():
    rng = np.random.default_rng(1)
    n_rows, n_columns = 4000, 30
    X = rng.standard_normal((n_rows, n_columns))
    basis = np.zeros((n_columns, 1))
    basis[:5, 0] = 1 / np.sqrt(5)
    products = X @ basis
    noise_rows = np.ones(n_rows, dtype=bool)
    noise_rows[:50] = False  # pretend 50 rows carry signal
    permutation = rng.permutation(n_columns)
    thresholds, fallbacks = bootstrap_thresholds(
        X, products, basis, noise_rows, rng.uniform(size=200), permutation)
    # P(max of n |N(0,1)| <= t) = 1/2.
    exact = ndtri((1 + 0.5 ** (1 / n_rows)) / 2)
    assert fallbacks == 0
    assert thresholds[0] == pytest.approx(exact, rel=0.08)
    # Without noise rows there is no pool: theory threshold, counted.
    thresholds, fallbacks = bootstrap_thresholds(
        X, products, basis, np.zeros(n_rows, dtype=bool), rng.uniform(size=200),
        permutation)
    assert fallbacks == 1
    assert thresholds[0] == pytest.approx(np.sqrt(2 * np.log(n_rows)))


def test_capped_square_sums_kernel_matches_numpy():
    X = np.random.default_rng(2).standard_normal((37, 11)) * 3
    rows, columns = capped_square_sums(X, 1.5, 3.84)
    capped = np.minimum((X / 1.5) ** 2, 3.84)
    np.testing.assert_allclose(rows, capped.sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(columns, capped.sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("init", ["theory", "holm"])
def test_screening_keeps_components_when_most_columns_carry_signal(init):
    # Two components whose right vectors cover 45 of 50 columns.
    rng = np.random.default_rng(3)
    n_rows, n_columns = 2000, 50
    U = np.zeros((n_rows, 2))
    U[:30, 0], U[30:60, 1] = 1 / np.sqrt(30), 1 / np.sqrt(30)
    V = np.zeros((n_columns, 2))
    V[:25, 0], V[25:45, 1] = 1 / np.sqrt(25), 1 / np.sqrt(20)
    X = (U * [60.0, 45.0]) @ V.T + rng.standard_normal((n_rows, n_columns))
    U0, V0 = initial_subspaces(X, 2, init, 1.0)
    # A lost component would put the distance at 1; a rough start is enough.
    assert subspace_distance(V0, V) < 0.5
    assert subspace_distance(U0, U) < 0.5
    svd = FITSSVD(2, init=init, random_state=0).fit(X)
    assert subspace_distance(svd.components_.T, V) < 0.01
    assert subspace_distance(svd.left_singular_vectors_, U) < 0.05


# --- rank selection ----------------------------------------------------------------


@pytest.mark.parametrize("threshold", ["theory", "bootstrap"])
def test_auto_rank_finds_the_three_components_of_the_lung_model(lung_model, threshold):
    X, U, d, V = lung_model
    for seed in range(3):
        svd = FITSSVD("auto", threshold=threshold, random_state=seed).fit(X)
        assert svd.n_components_ == 3  # the simulation's rank
        assert svd.components_.shape == (3, 56)
        assert (svd.rank_ratios_[:3] > 1).all() and (svd.rank_ratios_[3:] <= 1).all()
    assert subspace_distance(svd.left_singular_vectors_, U) <= 0.05


@pytest.mark.parametrize("singular_values", [None, [40.0, 30.0], [60.0, 40.0, 30.0]])
def test_auto_rank_is_the_truth_for_every_seed_of_the_simulated_models(
        singular_values):
    model = "lshm" if singular_values is None else "random"
    for seed in range(8):
        X, _, d, _ = make_sparse_svd_data(model, singular_values=singular_values,
                                          random_state=seed)
        ranks = {FITSSVD("auto", random_state=state).fit(X).n_components_
                 for state in (0, 1, 2)}
        assert ranks == {len(d)}, seed


def test_auto_rank_of_pure_noise_warns_and_keeps_one_component():
    X = np.random.default_rng(7).standard_normal((300, 60))
    with pytest.warns(UserWarning, match="stands out from the noise"):
        svd = FITSSVD("auto", threshold="theory").fit(X)
    assert svd.n_components_ == 1 and (svd.rank_ratios_ <= 1).all()
    with pytest.raises(ValueError, match="positive noise_level"):
        FITSSVD("auto", noise_level=0).fit(X)


# --- estimator API -----------------------------------------------------------------


def test_transform_inverse_transform_and_fit_transform():
    X, *_ = make_sparse_svd_data("random", random_state=1)
    svd = FITSSVD(random_state=0)
    projected = svd.fit_transform(X)
    np.testing.assert_allclose(projected, svd.transform(X))
    np.testing.assert_allclose(projected, X @ svd.components_.T)
    reconstruction = svd.inverse_transform(projected)
    assert reconstruction.shape == X.shape
    np.testing.assert_allclose(svd.inverse_transform(svd.transform(reconstruction)),
                               reconstruction, atol=1e-10)
    assert list(svd.get_feature_names_out()) == ["fitssvd0"]
    with pytest.raises(ValueError, match="shape"):
        svd.inverse_transform(np.ones((3, 2)))


# Folds where the second component is too weak say so; that is not the question.
@pytest.mark.filterwarnings("ignore:Component")
def test_pipeline_and_grid_search():
    rng = np.random.default_rng(4)
    n_rows = 300
    labels = rng.integers(0, 2, n_rows)
    X = rng.standard_normal((n_rows, 40))
    X[:, :5] += 3.0 * labels[:, None]  # the class lives in 5 columns
    search = GridSearchCV(
        make_pipeline(FITSSVD(random_state=0), LogisticRegression()),
        {"fitssvd__n_components": [1, 2], "fitssvd__threshold": ["theory", 3.0]},
        cv=3).fit(X, labels)
    assert search.best_score_ > 0.95
    components = search.best_estimator_[0].components_
    assert set(np.flatnonzero(components[0])) == set(range(5))


def test_pandas_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X, *_ = make_sparse_svd_data("lshm", random_state=0)
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(50)])
    svd = FITSSVD(threshold="theory").set_output(transform="pandas").fit(frame)
    assert list(svd.feature_names_in_) == list(frame.columns)
    assert list(svd.transform(frame).columns) == ["fitssvd0"]


@pytest.mark.parametrize("make_X, message", [
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), "NaN"),
    (lambda X: np.full_like(X, 2.5), "noise level"),
    (lambda X: np.zeros_like(X), "all zeros"),
    (lambda X: X[:, :0], "0 feature"),
])
def test_bad_inputs_raise_clear_errors(make_X, message):
    X, *_ = make_sparse_svd_data("lshm", random_state=0)
    with pytest.raises(ValueError, match=message):
        FITSSVD().fit(make_X(X))


def test_too_many_components_and_bad_parameters_raise():
    X, *_ = make_sparse_svd_data("random", n_samples=30, n_features=8,
                                 n_nonzero_left=5, n_nonzero_right=3, random_state=0)
    with pytest.raises(ValueError, match="exceeds min"):
        FITSSVD(n_components=9).fit(X)
    with pytest.raises(ValueError, match="exceeds min"):
        sparse_svd(X, 9)
    for bad in ({"threshold": -1.0}, {"thresholding": "firm"}, {"init": "random"},
                {"n_bootstrap": 0}, {"noise_level": -1.0}, {"n_components": 0}):
        with pytest.raises(ValueError):
            FITSSVD(**bad).fit(X)


def test_caller_array_is_not_modified():
    X, *_ = make_sparse_svd_data("lshm", random_state=0)
    before = X.copy()
    FITSSVD(random_state=0).fit(X)
    sparse_svd(X)
    np.testing.assert_array_equal(X, before)


# --- data --------------------------------------------------------------------------


def test_make_sparse_svd_data_models():
    X, U, d, V = make_sparse_svd_data("lshm", random_state=0)
    assert X.shape == (100, 50) and d.tolist() == [50.0]
    np.testing.assert_allclose(U[:10, 0] / U[0, 0], [1, .9, .8, .7, .6, .5, .4, .3,
                                                     .2, .2])
    assert (U[:, 0] != 0).sum() == 25 and (V[:, 0] != 0).sum() == 16
    X, U, d, V = make_sparse_svd_data("lung", random_state=0)
    assert X.shape == (12625, 56) and U.shape == (12625, 3) and V.shape == (56, 3)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(V.T @ V, np.eye(3), atol=1e-14)
    X, U, d, V = make_sparse_svd_data(n_samples=80, n_features=30,
                                      singular_values=[5, 3], n_nonzero_left=7,
                                      n_nonzero_right=4, noise=0.0, random_state=0)
    np.testing.assert_allclose(X, U * d @ V.T)
    assert ((U != 0).sum(axis=0) == 7).all() and ((V != 0).sum(axis=0) == 4).all()
    with pytest.raises(ValueError, match="fixed shape"):
        make_sparse_svd_data("lung", n_samples=10)
    with pytest.raises(ValueError, match="do not fit"):
        make_sparse_svd_data(n_samples=10, n_nonzero_left=20)


@pytest.fixture(scope="module")
def lung200():
    try:
        return load_lung200()
    except FileNotFoundError as error:
        pytest.skip(f"lung200 data not available: {error}")


def _leave_one_out_nearest_neighbour(scores, groups):
    """Patients whose nearest other patient (Euclidean, on ``scores`` rows) shares
    their group."""
    distances = ((scores[:, None, :] - scores[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    return int((groups[distances.argmin(axis=1)] == groups).sum())


def test_load_lung200(lung200):
    X, genes, tumour_types = lung200
    assert X.shape == (200, 56) and genes.shape == (200,)
    counts = {kind: int((tumour_types == kind).sum()) for kind in set(tumour_types)}
    assert counts == {"Carcinoid": 20, "Colon": 13, "Normal": 17, "SmallCell": 6}
    np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-8)


@pytest.mark.parametrize("threshold", ["bootstrap", "theory"])
@pytest.mark.parametrize("sparse", ["both", "left"])
def test_lung200_right_vectors_classify_as_well_as_the_dense_svd(lung200, threshold,
                                                                  sparse):
    X, _, tumour_types = lung200
    right_t = np.linalg.svd(X, full_matrices=False)[2]
    dense = _leave_one_out_nearest_neighbour(right_t[:3].T, tumour_types)
    for seed in (0, 1):
        svd = FITSSVD(3, threshold=threshold, sparse=sparse, random_state=seed).fit(X)
        correct = _leave_one_out_nearest_neighbour(svd.components_.T, tumour_types)
        assert correct >= dense - 1  # within one patient of the dense SVD
        # The gene side is still thresholded: the first component drops genes.
        assert (svd.left_singular_vectors_[:, 0] == 0).sum() >= 3
        if sparse == "left":
            assert (svd.components_ != 0).all()


def test_lung200_auto_rank_is_the_same_for_every_seed(lung200):
    X = lung200[0]
    ranks = {FITSSVD("auto", random_state=seed).fit(X).n_components_
             for seed in range(5)}
    assert len(ranks) == 1 and 3 <= ranks.pop() <= 10


# --- noise level -------------------------------------------------------------------


def test_marchenko_pastur_median_and_optimal_threshold_match_published_values():
    # Gavish & Donoho (2014): mu_1 = 0.6528..., lambda*(1) = 4 / sqrt(3).
    assert marchenko_pastur_median(1.0) == pytest.approx(0.6528, abs=1e-4)
    assert optimal_hard_threshold(1.0) == pytest.approx(4 / np.sqrt(3), rel=1e-12)
    # And the median eigenvalue of Z Z' / n for a large noise matrix.
    Z = np.random.default_rng(8).standard_normal((300, 1000))
    eigenvalues = np.linalg.eigvalsh(Z @ Z.T / 1000)
    assert np.median(eigenvalues) == pytest.approx(marchenko_pastur_median(0.3),
                                                   rel=0.02)


@pytest.mark.parametrize("shape", [(60, 20), (400, 50), (3000, 40), (1500, 400)])
def test_noise_level_is_right_when_the_signal_is_dense(shape):
    # Rank 2, every entry touched: the MAD sees signal as noise, the spectrum not.
    rng = np.random.default_rng(9)
    n, p = shape
    signal = (rng.standard_normal((n, 2)) * [3.0, 2.0]) @ rng.standard_normal((2, p))
    X = signal + 0.5 * rng.standard_normal(shape)
    assert mad_noise_level(X) > 1.0
    assert singular_value_noise_level(X) == pytest.approx(0.5, rel=0.1)
    assert estimate_noise_level(X) == pytest.approx(0.5, rel=0.1)
    svd = FITSSVD(2, threshold="theory").fit(X)
    assert svd.noise_level_ == pytest.approx(0.5, rel=0.1)


def test_noise_level_methods_on_sparse_signal():
    X, *_ = make_sparse_svd_data("lshm", random_state=0)  # noise level 1
    for method in ("mad", "median_singular_value", None):
        assert FITSSVD(noise_level=method).fit(X).noise_level_ == pytest.approx(
            1.0, rel=0.1)


def test_sparse_side_choice():
    X, U, d, V = make_sparse_svd_data("lshm", random_state=0)
    left = FITSSVD(sparse="left", threshold="theory").fit(X)
    assert (left.components_ != 0).all()
    assert _rates(left.left_singular_vectors_[:, 0], U[:, 0])[1] < 0.05
    right = FITSSVD(sparse="right", threshold="theory").fit(X)
    assert (right.left_singular_vectors_ != 0).all()
    assert _rates(right.components_[0], V[:, 0]) == (1.0, 0.0)
    # Left sparse on X is right sparse on X': the same subspaces.
    transposed = FITSSVD(sparse="right", threshold="theory").fit(X.T)
    assert subspace_distance(transposed.components_.T,
                             left.left_singular_vectors_) < 1e-6


@pytest.mark.parametrize("values", [
    np.random.default_rng(5).standard_normal(10_001),
    np.random.default_rng(5).standard_normal(10_000),
    np.random.default_rng(6).standard_cauchy(5_000),
    np.r_[np.zeros(999), 1e300],
    np.array([3.0]),
    np.array([1.0, 2.0]),
    np.full(7, 4.0),
    # Subnormal range and float64's whole range: the bin index overflowed.
    np.random.default_rng(7).standard_normal(1001) * 1e-310,
    np.r_[np.random.default_rng(8).standard_normal(500), -1.7e308, 1.7e308],
])
def test_median_kernels_match_numpy(values):
    assert exact_median(values) == np.median(values)
    assert median_absolute_deviation(values) == np.median(
        np.abs(values - np.median(values)))
