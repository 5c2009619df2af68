"""FITSSVD, sparse_svd and subspace_distance on any input: a clean ValueError or
TypeError, or finite results; never a crash, a silent NaN or a changed caller array.

The reproducers of issue 12 come first, then property-based tests (hypothesis).
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

from statopt.datasets import make_sparse_svd_data
from statopt.decomposition import FITSSVD, _kernels, sparse_svd
from statopt.metrics import subspace_distance

UNCLEAN = (IndexError, ZeroDivisionError, np.linalg.LinAlgError, MemoryError,
           OverflowError, FloatingPointError)
HUGE = np.finfo(np.float64).max


@pytest.fixture(scope="module")
def lshm():
    return make_sparse_svd_data("lshm", random_state=0)[0]


def _quietly(function, *args, **kwargs):
    """Call, letting through the warnings a fit may give on odd data (too many
    components, no convergence); a RuntimeWarning (overflow, invalid value) is an
    error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Component", UserWarning)
        warnings.filterwarnings("ignore", "No component", UserWarning)
        return function(*args, **kwargs)


def _clean_or_finite(function, *args, **kwargs):
    """The result of ``function``, or None after a clean ValueError/TypeError."""
    try:
        return _quietly(function, *args, **kwargs)
    except UNCLEAN as error:
        pytest.fail(f"unclean {type(error).__name__}: {error}")
    except (ValueError, TypeError) as error:
        assert str(error), "an error should say what is wrong"
        return None


# --- reproducers of issue 12 -------------------------------------------------------


def test_subnormal_matrix_gives_the_scaled_fit(lshm):
    # The MAD kernel's bins overflowed (counts[INT64_MIN]) on subnormal entries.
    reference = FITSSVD(threshold="theory").fit(lshm)
    tiny = FITSSVD(threshold="theory").fit(lshm * 1e-310)
    # Entries of 1e-310 keep about 5 digits; the fit is the scaled one to that.
    np.testing.assert_allclose(tiny.singular_values_,
                               reference.singular_values_ * 1e-310, rtol=1e-3)
    assert (tiny.components_ != 0).sum() == (reference.components_ != 0).sum()
    assert tiny.noise_level_ == pytest.approx(reference.noise_level_ * 1e-310,
                                              rel=1e-3)


@pytest.mark.parametrize("n_components", [1, "auto"])
def test_power_of_two_scaling_gives_the_same_fit(lshm, n_components):
    # Near float64's maximum LAPACK's SVD did not converge; a power of two
    # scales every step exactly, so the fit must be the same bit for bit.
    reference = FITSSVD(n_components, random_state=0).fit(lshm)
    factor = 2.0 ** 1010 / np.abs(lshm).max()
    factor = 2.0 ** np.floor(np.log2(factor))
    big = FITSSVD(n_components, random_state=0).fit(lshm * factor)
    np.testing.assert_array_equal(big.components_, reference.components_)
    np.testing.assert_array_equal(big.singular_values_,
                                  reference.singular_values_ * factor)


def test_singular_values_beyond_float64_raise(lshm):
    X = lshm / np.abs(lshm).max() * HUGE
    with pytest.raises(ValueError, match="float64's range"):
        FITSSVD().fit(X)
    with pytest.raises(ValueError, match="float64's range"):
        sparse_svd(X)


def test_tiny_noise_level_is_the_truncated_svd(lshm):
    # noise_level=1e-300 raised ZeroDivisionError in the screening kernel; it
    # declares (almost) noise-free data, so the fit is numpy's truncated SVD.
    U, s, Vt = sparse_svd(lshm, 2, noise_level=1e-300, tol=1e-14, max_iter=500)
    left, singular_values, right_t = np.linalg.svd(lshm)
    np.testing.assert_allclose(s, singular_values[:2], rtol=1e-10)
    assert subspace_distance(Vt.T, right_t[:2].T) < 1e-10
    svd = FITSSVD(2, noise_level=1e-300, tol=1e-14, max_iter=500).fit(lshm)
    np.testing.assert_allclose(svd.singular_values_, singular_values[:2], rtol=1e-10)


def test_n_bootstrap_is_bounded(lshm):
    # 10**9 resamples passed validation and were killed at 13 GB.
    with pytest.raises(ValueError, match="n_bootstrap"):
        FITSSVD(n_bootstrap=10**9).fit(lshm)
    with pytest.raises(ValueError, match="n_bootstrap"):
        sparse_svd(lshm, n_bootstrap=10**9)


@pytest.mark.parametrize("name", ["n_components", "n_bootstrap", "max_iter"])
@pytest.mark.parametrize("value", [True, np.bool_(True)])
def test_booleans_are_not_counts(lshm, name, value):
    message = f"{name}.*(should be an integer|must be an int)"
    with pytest.raises(TypeError, match=message):
        FITSSVD(**{name: value}).fit(lshm)
    with pytest.raises(TypeError, match=message):
        sparse_svd(lshm, **{name: value})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_inverse_transform_refuses_non_finite_input(lshm, bad):
    svd = FITSSVD(random_state=0).fit(lshm)
    with pytest.raises(ValueError, match="NaN|infinity"):
        svd.inverse_transform([[bad]])
    with pytest.raises(ValueError, match="NaN|infinity"):
        svd.inverse_transform(sp.csr_matrix([[bad]]))


def test_products_beyond_float64_raise(lshm):
    svd = FITSSVD(random_state=0).fit(lshm)
    with pytest.raises(ValueError, match="float64's range"):
        svd.transform(np.full((2, 50), HUGE))
    # Unit-norm components: the reconstruction of the largest float stays finite.
    assert np.isfinite(svd.inverse_transform([[HUGE]])).all()


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="kernels are plain Python without the JIT")
def test_read_only_fortran_and_float32_input_compile_no_new_kernels(lshm):
    kernels = [getattr(_kernels, name) for name in (
        "capped_square_sums", "median_absolute_deviation", "exact_median",
        "_order_statistic_in_bin", "_bin")]
    FITSSVD(random_state=0).fit(lshm)  # the ordinary compilations
    before = [list(kernel.signatures) for kernel in kernels]
    read_only = lshm.copy()
    read_only.flags.writeable = False
    for X in (read_only, np.asfortranarray(lshm), lshm.astype(np.float32),
              lshm[:, ::2]):
        for n_components in (1, "auto"):
            FITSSVD(n_components, random_state=0).fit(X)
        sparse_svd(X)
    assert [list(kernel.signatures) for kernel in kernels] == before


# --- property-based ----------------------------------------------------------------

# Ordinary, huge, subnormal and zero entries; a non-finite one is put in separately
# (among the entries it would spoil almost every matrix).
ENTRIES = st.one_of(
    st.floats(-10, 10),
    st.floats(-10, 10),
    st.sampled_from([0.0, 1e-310, -5e-324, 1e300, -HUGE, HUGE, 2.5]),
)
DTYPES = st.sampled_from([np.float64, np.float64, np.float32, np.int64, np.bool_])


@st.composite
def matrices(draw, max_side=7):
    side = st.one_of(st.integers(2, max_side), st.integers(2, max_side),
                     st.integers(0, 1))
    shape = draw(st.tuples(side, side))
    dtype = draw(DTYPES)
    if dtype in (np.float64, np.float32):
        elements = ENTRIES
    else:
        elements = st.integers(-3, 3) if dtype is np.int64 else st.booleans()
    X = draw(hnp.arrays(np.float64 if dtype is np.float32 else dtype, shape,
                        elements=elements))
    if dtype in (np.float64, np.float32) and X.size and draw(
            st.integers(0, 5)) == 0:
        X.flat[draw(st.integers(0, X.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
    if dtype is np.float32:
        with np.errstate(over="ignore"):
            X = X.astype(np.float32)
    layout = draw(st.sampled_from(["C", "F", "read-only"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "read-only":
        X.flags.writeable = False
    return X


def _check_fit(estimator, X):
    before = X.copy()
    fitted = _clean_or_finite(estimator.fit, X)
    np.testing.assert_array_equal(X, before)
    if fitted is None:
        return None
    for name in ("components_", "singular_values_", "left_singular_vectors_"):
        assert np.isfinite(getattr(fitted, name)).all(), name
    assert np.isfinite(fitted.noise_level_) and fitted.noise_level_ >= 0
    assert fitted.components_.shape == (fitted.n_components_, X.shape[1])
    return fitted


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(X=matrices(), n_components=st.sampled_from([1, 2, "auto"]),
       threshold=st.sampled_from(["bootstrap", "theory", 0.5]),
       sparse=st.sampled_from(["both", "left", "right"]),
       noise_level=st.sampled_from([None, "mad", "median_singular_value", 0.0,
                                    1e-300, 1e300]))
def test_fitssvd_fit_and_transforms_on_any_matrix(X, n_components, threshold, sparse,
                                                  noise_level):
    svd = FITSSVD(n_components, threshold=threshold, sparse=sparse,
                  noise_level=noise_level, n_bootstrap=20, max_iter=20,
                  random_state=0)
    fitted = _check_fit(svd, X)
    if fitted is None:
        return
    before = X.copy()
    for method, data in ((fitted.transform, X), (fitted.fit_transform, X)):
        result = _clean_or_finite(method, data)
        assert result is None or np.isfinite(result).all()
    projected = _clean_or_finite(fitted.transform, X)
    if projected is not None:
        result = _clean_or_finite(fitted.inverse_transform, projected)
        assert result is None or (np.isfinite(result).all()
                                  and result.shape == X.shape)
    np.testing.assert_array_equal(X, before)


@SETTINGS
@given(X=matrices(), n_components=st.integers(1, 3),
       noise_level=st.sampled_from([None, 0.0, 1e-300, 1.0]))
def test_sparse_svd_on_any_matrix(X, n_components, noise_level):
    before = X.copy()
    result = _clean_or_finite(sparse_svd, X, n_components, threshold="theory",
                              noise_level=noise_level, max_iter=20)
    np.testing.assert_array_equal(X, before)
    if result is not None:
        U, s, Vt = result
        assert all(np.isfinite(part).all() for part in result)
        assert U.shape == (X.shape[0], n_components)
        assert Vt.shape == (n_components, X.shape[1]) and (s >= 0).all()


@settings(max_examples=40, deadline=None)
@given(X=matrices(max_side=5), other=st.sampled_from([
    "fitted", "wrong width", "sparse", "1d", "3d", "empty", "strings"]))
def test_transform_refuses_wrong_input_cleanly(lshm, X, other):
    svd = _quietly(FITSSVD(threshold="theory").fit, lshm)
    data = {"fitted": lshm[:3], "wrong width": X, "sparse": sp.csr_matrix(lshm),
            "1d": lshm[0], "3d": lshm[None], "empty": lshm[:0],
            "strings": np.full((2, 50), "a")}[other]
    result = _clean_or_finite(svd.transform, data)
    if other not in ("fitted", "sparse") and not (other == "wrong width"
                                                  and X.shape[1] == 50):
        assert result is None
    if result is not None:
        assert np.isfinite(result).all()


@pytest.mark.parametrize("params", [
    {"n_components": 0}, {"n_components": 2.5}, {"n_components": "all"},
    {"threshold": -1.0}, {"threshold": np.nan}, {"noise_level": -1.0},
    {"noise_level": "std"}, {"sparse": "neither"}, {"n_bootstrap": 0},
    {"max_iter": 0}, {"tol": -1.0}, {"random_state": "seed"},
])
def test_bad_parameters_raise_value_or_type_errors(lshm, params):
    with pytest.raises((ValueError, TypeError)):
        FITSSVD(**params).fit(lshm)


@SETTINGS
@given(A=matrices(max_side=5), B=matrices(max_side=5))
def test_subspace_distance_on_any_input(A, B):
    before = A.copy(), B.copy()
    distance = _clean_or_finite(subspace_distance, A, B)
    np.testing.assert_array_equal(A, before[0])
    np.testing.assert_array_equal(B, before[1])
    if distance is not None:
        assert 0.0 <= distance <= 1.0


@settings(max_examples=30, deadline=None)
@given(A=hnp.arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(1, 3)),
                    elements=st.floats(-5, 5)),
       exponent=st.sampled_from([-1060, -500, 0, 500, 1000]))
def test_subspace_distance_ignores_the_scale(A, exponent):
    # Spans do not change with a power-of-two scale; angles are computed after
    # scaling, so subnormal and huge bases give the same distance.
    rotated = A[:, ::-1]
    reference = _clean_or_finite(subspace_distance, A, rotated)
    if reference is None:  # a zero A
        return
    scaled = np.ldexp(A, exponent)
    if np.count_nonzero(scaled) < np.count_nonzero(A):
        return  # underflow to zero changed the span
    if exponent < -1022:
        return  # subnormal entries keep few digits
    assert subspace_distance(scaled, rotated) == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("A, error", [
    (sp.csr_matrix(np.eye(3)), (TypeError, ValueError)),
    (np.eye(3) + 1j, TypeError),
    (np.ones((3, 2, 2)), ValueError),
    (np.full((3, 2), np.nan), ValueError),
    (np.zeros((3, 2)), ValueError),
    (5.0, (TypeError, ValueError)),
])
def test_subspace_distance_bad_inputs(A, error):
    with pytest.raises(error):
        subspace_distance(A, np.eye(3)[:, :2])


@pytest.mark.parametrize("make_X, error", [
    (lambda X: sp.csr_matrix(X), None),  # sparse input is decomposed as it is
    (lambda X: X + 1j, ValueError),
    (lambda X: X.astype(str).astype(object), None),  # numeric strings convert
    (lambda X: np.full(X.shape, "a"), ValueError),
    (lambda X: np.where(X > 0, None, X).astype(object), (TypeError, ValueError)),
    (lambda X: X[None], ValueError),
    (lambda X: X[0], ValueError),
    (lambda X: [[1.0, 2.0], [3.0]], ValueError),
    (lambda X: X.astype("datetime64[s]"), None),  # numpy converts to seconds
])
def test_odd_inputs_to_every_entry_point(lshm, make_X, error):
    X = make_X(lshm)
    fitted = _quietly(FITSSVD(threshold="theory").fit, lshm)
    for function in (FITSSVD(threshold="theory").fit,
                     FITSSVD(threshold="theory").fit_transform, sparse_svd,
                     fitted.transform):
        if error is None:
            result = _quietly(function, X)
            assert result is not None
        else:
            with pytest.raises(error):
                _quietly(function, X)
