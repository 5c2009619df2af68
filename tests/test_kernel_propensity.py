"""Nadaraya-Watson propensity against the naive double sum."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

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
        ({"kernel": "box"}, "kernel must be"),
        ({"bandwidth": -1.0}, "bandwidth must be"),
        ({"bandwidth": "wide"}, "rule must be"),
        ({"method": "fast"}, "method must be"),
        ({"min_probability": 0.0}, "min_probability"),
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
