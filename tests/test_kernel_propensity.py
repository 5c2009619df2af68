"""Nadaraya-Watson propensity against the naive double sum."""

import subprocess
import sys

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import linalg, sparse
from sklearn.datasets import load_diabetes
from sklearn.neighbors import KernelDensity

from statopt.survival import bandwidth_rule, kernel_propensity


def naive_propensity(complete, Z, kernel, h):
    """The defining formula, written with full pairwise arrays."""
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    u = (Z[:, None, :] - Z[None, :, :]) / h
    if kernel == "gaussian":
        weights = np.exp(-0.5 * u**2).prod(axis=2)
    else:
        weights = np.clip(1 - u**2, 0, None).prod(axis=2)
    return weights @ complete / weights.sum(axis=1)


def sample(n, d, seed=0):
    rng = np.random.RandomState(seed)
    Z = rng.standard_normal((n, d)) * np.arange(1, d + 1) + 3.0
    logit = 0.5 + Z[:, 0] - 3.0 - 0.5 * (Z[:, -1] - 3.0)
    complete = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return complete, Z


# Compact kernels can leave a row with only incomplete neighbours: floored.
@pytest.mark.filterwarnings("ignore:.*was used instead:UserWarning")
@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov"])
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_exact_sums_equal_the_naive_formula(kernel, d):
    complete, Z = sample(300, d)
    h = bandwidth_rule(300, d, "scott", kernel)
    expected = naive_propensity(complete, Z, kernel, h)
    got = kernel_propensity(complete, Z, kernel=kernel, method="exact",
                            min_probability=1e-9)
    assert_allclose(got, np.maximum(expected, 1e-9), rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:.*was used instead:UserWarning")
@pytest.mark.parametrize(
    "kernel, d, tolerance",
    [("gaussian", 1, 1e-3), ("gaussian", 2, 2e-3), ("gaussian", 3, 2e-2),
     ("epanechnikov", 1, 5e-3), ("epanechnikov", 2, 1e-2),
     ("epanechnikov", 3, 4e-2)],
)
def test_binned_estimate_is_close_to_the_naive_formula(kernel, d, tolerance):
    complete, Z = sample(2000, d, seed=1)
    h = bandwidth_rule(2000, d, "silverman", kernel)
    expected = naive_propensity(complete, Z, kernel, h)
    got = kernel_propensity(complete, Z, kernel=kernel, bandwidth="silverman",
                            method="binned", min_probability=1e-9)
    assert np.abs(got - expected).max() < tolerance
    assert np.abs(got - expected).mean() < tolerance / 5


def test_float_bandwidth_and_rules():
    complete, Z = sample(200, 2)
    expected = naive_propensity(complete, Z, "gaussian", 0.7)
    assert_allclose(kernel_propensity(complete, Z, bandwidth=0.7, method="exact"),
                    np.maximum(expected, 0.01), rtol=1e-10)
    assert_allclose(bandwidth_rule(10_000, 1), 10_000 ** (-1 / 5))
    assert_allclose(bandwidth_rule(10_000, 1, "silverman"),
                    (4 / 3) ** (1 / 5) * 10_000 ** (-1 / 5))
    assert_allclose(bandwidth_rule(100, 2, kernel="epanechnikov"),
                    np.sqrt(5) * 100 ** (-1 / 6))


def test_floor_warns_and_constant_cases():
    rng = np.random.RandomState(0)
    z = rng.standard_normal(500)
    complete = np.arange(500) % 50 == 0  # 2% complete everywhere
    with pytest.warns(UserWarning, match=r"\d+ complete rows had"):
        p = kernel_propensity(complete, z, min_probability=0.05, method="exact")
    assert p.min() == 0.05
    # A constant column carries no information: the overall rate.
    complete = z > -1.5
    assert_allclose(kernel_propensity(complete, np.ones(500)), complete.mean())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel": "box"}, "'kernel' parameter"),
        ({"bandwidth": -1.0}, "'bandwidth' parameter"),
        ({"bandwidth": np.inf}, "'bandwidth' parameter"),
        ({"bandwidth": np.nan}, "'bandwidth' parameter"),
        ({"bandwidth": "wide"}, "'bandwidth' parameter"),
        ({"method": "fast"}, "'method' parameter"),
        ({"min_probability": 0.0}, "'min_probability' parameter"),
    ],
)
def test_bad_parameters(kwargs, match):
    complete, Z = sample(50, 1)
    with pytest.raises(ValueError, match=match):
        kernel_propensity(complete, Z, **kwargs)


def test_bad_data():
    complete, Z = sample(50, 1)
    with pytest.raises(ValueError, match="No row is complete"):
        kernel_propensity(np.zeros(50, dtype=bool), Z)
    Z_nan = Z.copy()
    Z_nan[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kernel_propensity(complete, Z_nan)
    with pytest.raises(ValueError, match="shape"):
        kernel_propensity(complete, Z[:10])
    with pytest.raises(ValueError, match="at most 3 columns"):
        kernel_propensity(complete, np.ones((50, 4)) + Z, method="binned")


# Issue 12 reproducers --------------------------------------------------------

def test_scalar_two_d_and_sparse_inputs_get_clear_errors():
    complete, Z = sample(60, 2)
    with pytest.raises(ValueError, match="'complete' parameter"):
        kernel_propensity(True, Z)
    with pytest.raises(ValueError, match="complete must be 1-D"):
        kernel_propensity(np.ones((60, 2), dtype=bool), Z)
    with pytest.raises(TypeError, match="dense"):
        kernel_propensity(complete, sparse.csr_matrix(Z))
    with pytest.raises(TypeError, match="dense"):
        kernel_propensity(sparse.csr_matrix(complete.astype(float)), Z)
    with pytest.raises(TypeError, match="booleans"):
        kernel_propensity(np.array(["yes"] * 60), Z)


def test_bandwidth_rule_rejects_bad_sizes():
    with pytest.raises(ValueError, match="'n_samples' parameter"):
        bandwidth_rule(0, 2)
    with pytest.raises(ValueError, match="'n_dims' parameter"):
        bandwidth_rule(10, 0)
    with pytest.raises(ValueError, match="'kernel' parameter"):
        bandwidth_rule(10, 1, kernel="box")
    # Integers of any size: no overflow on the way to a float.
    assert 0 < bandwidth_rule(10**400, 1) < 1e-70


# Run in a child process with a memory cap and a time limit, so that a
# regression (a segfault, 7 GB of cells) fails one test instead of the suite.
_CHILD = """
import resource, numpy as np
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
from statopt.survival import kernel_propensity
rng = np.random.RandomState(0)
Z = rng.standard_normal((60, 2))
Z[30:] = Z[:30]  # exact duplicates: they stay neighbours at any bandwidth
complete = rng.uniform(size=60) < 0.6
complete[[0, 30]] = True, False
for kernel in ("epanechnikov", "gaussian"):
    for bandwidth in (1e-300, 5e-324, 1e-8):
        p = kernel_propensity(complete, Z, kernel=kernel, bandwidth=bandwidth,
                              min_probability=1e-9)
        print(repr(p.tolist()))
"""


def test_tiny_bandwidths_neither_crash_nor_blow_up():
    result = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rng = np.random.RandomState(0)
    rng.standard_normal((60, 2))
    complete = rng.uniform(size=60) < 0.6
    complete[[0, 30]] = True, False
    # Brute force: each row sees itself and its exact duplicate only.
    pair = np.r_[np.arange(30, 60), np.arange(30)]
    expected = np.maximum((complete.astype(float) + complete[pair]) / 2, 1e-9)
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    for line in lines:
        assert_allclose(np.array(eval(line)), expected, rtol=1e-12)


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov"])
def test_huge_bandwidth_gives_the_overall_rate(kernel):
    complete, Z = sample(200, 3)
    for method in ("exact", "binned"):
        p = kernel_propensity(complete, Z, kernel=kernel, bandwidth=1e300,
                              method=method)
        assert_allclose(p, complete.mean(), rtol=1e-9)


def test_huge_and_subnormal_columns_are_standardised_safely():
    complete, Z = sample(150, 2)
    expected = kernel_propensity(complete, Z, method="exact")
    for factor in (1e300, 1e-310):
        scaled = Z / np.abs(Z).max() * factor
        got = kernel_propensity(complete, scaled, method="exact")
        assert np.isfinite(got).all()
        assert_allclose(got, expected, rtol=1e-6)


# Fast paths against brute force ------------------------------------------------

def naive_projected(complete, Z, h):
    """Gaussian estimate on the SIR + SAVE subspace, computed independently."""
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    # Whitening by Cholesky (the code under test uses an eigendecomposition):
    # any whitening gives the same projected subspace.
    L = np.linalg.cholesky(np.cov(Z.T, bias=True))
    X = linalg.solve_triangular(L, Z.T, lower=True).T
    # First the class-mean difference, then SAVE's leading eigenvector in the
    # orthogonal complement of it (found here by a QR basis of the complement).
    shift = X[complete].mean(axis=0) - X[~complete].mean(axis=0)
    basis, _ = np.linalg.qr(np.column_stack([shift, np.eye(Z.shape[1])]))
    rest = basis[:, 1:Z.shape[1]]
    M = np.zeros((Z.shape[1],) * 2)
    for rows in (complete, ~complete):
        spread = np.eye(Z.shape[1]) - np.cov(X[rows].T, bias=True)
        M += rows.mean() * spread @ spread
    _, top = linalg.eigh(rest.T @ M @ rest,
                         subset_by_index=[Z.shape[1] - 2, Z.shape[1] - 2])
    vectors = np.column_stack([shift / np.linalg.norm(shift), rest @ top])
    # Whitened coordinates on orthonormal directions: uncorrelated, unit
    # variance, so the isotropic Gaussian kernel is the same in any basis.
    return naive_propensity(complete, X @ vectors, "gaussian", h)


def test_projected_estimate_equals_brute_force_on_its_subspace():
    rng = np.random.RandomState(3)
    Z = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5))
    logit = Z[:, 0] - Z[:, 3] + 0.5 * Z[:, 1] ** 2 - 1
    complete = rng.uniform(size=400) < 1 / (1 + np.exp(-logit))
    got = kernel_propensity(complete, Z, method="projected", min_probability=1e-9)
    expected = naive_projected(complete, Z, bandwidth_rule(400, 2))
    assert_allclose(got, np.maximum(expected, 1e-9), rtol=1e-8)


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov"])
def test_auto_is_exact_on_small_data(kernel):
    complete, Z = sample(400, 5, seed=2)
    h = bandwidth_rule(400, 5, "scott", kernel)
    assert_allclose(kernel_propensity(complete, Z, kernel=kernel,
                                      min_probability=1e-9),
                    np.maximum(naive_propensity(complete, Z, kernel, h), 1e-9),
                    rtol=1e-10)


@pytest.mark.skipif(numba.config.DISABLE_JIT,
                    reason="18 million kernel pairs: minutes as plain Python; the "
                    "small brute-force tests check the same code")
def test_auto_projects_many_columns_and_tracks_the_truth():
    # 6000 rows x 300 columns: the exact product kernel is costly and degenerate
    # (each row's own term dominates); 'auto' projects on 2 directions.
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((6000, 300))
    truth = 1 / (1 + np.exp(-(0.5 + Z[:, 0] - Z[:, 1])))
    complete = rng.uniform(size=6000) < truth
    p = kernel_propensity(complete, Z)
    assert_allclose(p, kernel_propensity(complete, Z, method="projected"))
    # The overall rate is off by 0.215 on average; a logistic regression on all
    # 300 columns (the true model) by 0.081, the projection by 0.105.
    assert np.abs(p - truth).mean() < 0.6 * np.abs(complete.mean() - truth).mean()


# Real data against scikit-learn's KernelDensity --------------------------------

def kde_ratio(complete, Z, h):
    """Gaussian estimate as a ratio of two of scikit-learn's density estimates."""
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    both = KernelDensity(bandwidth=h).fit(Z).score_samples(Z)
    ones = KernelDensity(bandwidth=h).fit(Z[complete]).score_samples(Z)
    return complete.mean() * np.exp(ones - both)


def test_exact_equals_kernel_density_ratio_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    rng = np.random.RandomState(0)
    Z = np.column_stack([y, X[:, [0, 2, 3, 8]]])  # response, age, bmi, bp, s5
    logit = 0.8 + (y - y.mean()) / y.std() - 40 * X[:, 0]
    complete = rng.uniform(size=y.size) < 1 / (1 + np.exp(-logit))
    h = bandwidth_rule(y.size, 5)
    expected = kde_ratio(complete, Z, h)
    got = kernel_propensity(complete, Z, min_probability=1e-9)
    assert_allclose(got, np.maximum(expected, 1e-9), rtol=1e-9)


@pytest.mark.filterwarnings("ignore:.*was used instead:UserWarning")
def test_binned_is_close_to_kernel_density_ratio_on_fair():
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.fair.load_pandas().data.iloc[::3]
    Z = data[["affairs", "age", "yrs_married"]].to_numpy(dtype=float)
    rng = np.random.RandomState(1)
    logit = 1 - 0.1 * (data["age"].to_numpy() - 30)
    complete = rng.uniform(size=Z.shape[0]) < 1 / (1 + np.exp(-logit))
    h = bandwidth_rule(Z.shape[0], 3)
    expected = kde_ratio(complete, Z, h)
    got = kernel_propensity(complete, Z, method="binned", min_probability=1e-9)
    assert np.abs(got - expected).max() < 2e-2
    assert np.abs(got - expected).mean() < 2e-3


@pytest.mark.filterwarnings("ignore:.*was used instead:UserWarning")
def test_read_only_and_odd_layouts_compile_nothing_new():
    from statopt.survival._kernels import row_kernel_sums, window_kernel_sums

    if numba.config.DISABLE_JIT:
        pytest.skip("NUMBA_DISABLE_JIT=1: nothing is compiled")

    complete, Z = sample(300, 4)
    kernel_propensity(complete, Z, method="exact")
    kernel_propensity(complete, Z)
    before = (len(window_kernel_sums.signatures), len(row_kernel_sums.signatures))
    odd = np.asfortranarray(Z.astype(np.float32))
    odd.flags.writeable = False
    flags = complete.astype(np.int8)
    flags.flags.writeable = False
    kernel_propensity(flags, odd, method="exact")
    kernel_propensity(flags, odd, kernel="epanechnikov")
    after = (len(window_kernel_sums.signatures), len(row_kernel_sums.signatures))
    assert after == before
