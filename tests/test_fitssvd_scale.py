"""FITSSVD and sparse_svd on scipy.sparse and dask input (issue 18).

References: the dense fit of the same matrix (the sparse and dask paths must give
the same decomposition), scipy's ``svds`` and scikit-learn's ``TruncatedSVD`` on a
real bag of words (``noise_level=0``: FIT-SSVD is then the truncated SVD), and
numpy's full SVD for the ARPACK start of large screened blocks.
"""

import subprocess
import sys
import warnings
from importlib import resources

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from scipy.sparse.linalg import svds
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer
from threadpoolctl import threadpool_limits

from statopt.datasets import load_lung200, make_sparse_svd_data
from statopt.decomposition import FITSSVD, _kernels, sparse_svd
from statopt.decomposition._operands import DenseMatrix
from statopt.decomposition._sparse_svd import FULL_SVD_SIDE, top_singular_vectors
from statopt.metrics import subspace_distance

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

SPARSE_TYPES = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array,
                sp.coo_matrix, sp.lil_matrix]


@pytest.fixture(scope="module")
def sparsified():
    """The lung-sized rank-3 model with 70% of its entries set to 0."""
    X = make_sparse_svd_data("lung", random_state=0)[0]
    return X * (np.random.default_rng(0).random(X.shape) < 0.3)


@pytest.fixture(scope="module")
def bag_of_words():
    """Word counts of the paragraphs of scikit-learn's data set descriptions."""
    paragraphs = []
    for page in sorted(resources.files("sklearn.datasets.descr").iterdir(),
                       key=lambda page: page.name):
        if page.name.endswith(".rst"):
            paragraphs += [text for text in page.read_text().split("\n\n")
                           if len(text.split()) > 5]
    return CountVectorizer(min_df=2).fit_transform(paragraphs).astype(np.float64)


def _assert_same_fit(reference, other, atol=1e-10):
    np.testing.assert_allclose(other.components_, reference.components_, atol=atol)
    np.testing.assert_allclose(other.left_singular_vectors_,
                               reference.left_singular_vectors_, atol=atol)
    np.testing.assert_allclose(other.singular_values_, reference.singular_values_,
                               rtol=atol)
    assert other.n_iter_ == reference.n_iter_
    assert other.noise_level_ == pytest.approx(reference.noise_level_, rel=atol)


# --- sparse input -------------------------------------------------------------


@pytest.mark.parametrize("make_sparse", SPARSE_TYPES)
@pytest.mark.parametrize("params", [
    {"threshold": "bootstrap"}, {"threshold": "theory", "init": "holm"},
    {"threshold": "theory", "sparse": "left", "thresholding": "soft"},
])
def test_sparse_fit_equals_the_dense_fit(sparsified, make_sparse, params):
    dense = FITSSVD(3, random_state=0, **params).fit(sparsified)
    X = make_sparse(sparsified)
    before = X.copy()
    fitted = FITSSVD(3, random_state=0, **params).fit(X)
    _assert_same_fit(dense, fitted)
    np.testing.assert_allclose(fitted.transform(X), dense.transform(sparsified),
                               atol=1e-10)
    assert (X != before).nnz == 0  # the caller's matrix is left as it was


def test_sparse_fit_of_real_data_equals_the_dense_fit():
    try:
        X = load_lung200()[0]
    except (FileNotFoundError, OSError) as error:
        pytest.skip(f"lung200 data not available: {error}")
    X = np.where(np.abs(X) > np.quantile(np.abs(X), 0.5), X, 0.0)  # sparsified
    for n_components in (3, "auto"):
        dense = FITSSVD(n_components, random_state=0).fit(X)
        _assert_same_fit(dense, FITSSVD(n_components, random_state=0).fit(
            sp.csr_matrix(X)))


def test_noise_free_sparse_fit_is_the_truncated_svd_of_a_bag_of_words(bag_of_words):
    X = bag_of_words
    svd = FITSSVD(3, noise_level=0, tol=1e-14, max_iter=5000, random_state=0).fit(X)
    U, s, Vt = svds(X, 3, random_state=0)
    np.testing.assert_allclose(svd.singular_values_, s[::-1], rtol=1e-10)
    assert subspace_distance(svd.components_.T, Vt.T) < 1e-12
    assert subspace_distance(svd.left_singular_vectors_, U) < 1e-12
    reference = TruncatedSVD(3, algorithm="arpack", random_state=0).fit(X)
    np.testing.assert_allclose(svd.singular_values_, reference.singular_values_,
                               rtol=1e-10)
    np.testing.assert_allclose(np.abs(svd.transform(X)),
                               np.abs(reference.transform(X)), atol=1e-8)
    assert sparse_svd(X, 3, noise_level=0, tol=1e-14, max_iter=5000)[1] == \
        pytest.approx(s[::-1], rel=1e-10)


def test_large_screened_blocks_start_from_their_top_singular_vectors():
    rng = np.random.default_rng(0)
    side = FULL_SVD_SIDE + 20
    block = rng.standard_normal((side + 50, side))
    block[:, :3] += 40 * rng.standard_normal((side + 50, 3))  # a clear top 3
    rows, columns = np.arange(side + 50), np.arange(side)
    # One BLAS thread, as in a fit: two made this SVD 50 times slower here.
    with threadpool_limits(1):
        full_left, _, full_right = np.linalg.svd(block, full_matrices=False)
    for X in (block, sp.csr_matrix(block)):
        left, right_t = top_singular_vectors(
            DenseMatrix(block) if X is block else X, rows, columns, 3)
        assert subspace_distance(left, full_left[:, :3]) < 1e-20
        assert subspace_distance(right_t.T, full_right[:3].T) < 1e-20
        # Ordered as the full SVD's (by decreasing singular value).
        np.testing.assert_allclose(np.abs(np.sum(left * full_left[:, :3], axis=0)),
                                   1.0, atol=1e-10)


def test_duplicate_and_unsorted_entries_are_summed_without_touching_the_input(
        sparsified):
    csr = sp.csr_matrix(sparsified)
    # Every stored entry split in two halves, each row's entries stored twice in
    # reverse order.
    rows = [np.r_[csr.indices[start:stop], csr.indices[start:stop]][::-1]
            for start, stop in zip(csr.indptr[:-1], csr.indptr[1:])]
    values = [np.r_[csr.data[start:stop], csr.data[start:stop]][::-1] / 2
              for start, stop in zip(csr.indptr[:-1], csr.indptr[1:])]
    halves = sp.csr_matrix((np.concatenate(values), np.concatenate(rows),
                            2 * csr.indptr), shape=csr.shape)
    assert not halves.has_canonical_format
    copies = halves.data.copy(), halves.indices.copy(), halves.indptr.copy()
    fitted = FITSSVD(3, random_state=0).fit(halves)
    _assert_same_fit(FITSSVD(3, random_state=0).fit(sparsified), fitted)
    for before, after in zip(copies, (halves.data, halves.indices, halves.indptr)):
        np.testing.assert_array_equal(before, after)


def test_sparse_layouts_compile_no_new_kernels(sparsified):
    kernels = (_kernels.csr_capped_square_sums, _kernels.csr_entries)
    FITSSVD(2, random_state=0).fit(sp.csr_matrix(sparsified))
    counts = [len(kernel.signatures) for kernel in kernels]
    wide = sp.csc_matrix(sparsified)
    wide.indices, wide.indptr = (wide.indices.astype(np.int64),
                                 wide.indptr.astype(np.int64))
    read_only = sp.csr_matrix(sparsified)
    read_only.data.flags.writeable = False
    for X in (wide, read_only, sp.csr_matrix(sparsified.astype(np.float32))):
        FITSSVD(2, random_state=0).fit(X)
    assert [len(kernel.signatures) for kernel in kernels] == counts


@pytest.mark.parametrize("make_X, message", [
    (lambda X: _with_data(X, np.nan), "NaN"),
    (lambda X: _with_data(X, np.inf), "infinity"),
    (lambda X: sp.csr_matrix(X, dtype=np.complex128), "(?i)complex"),
    (lambda X: sp.csr_matrix((0, X.shape[1])), "0 sample"),
    (lambda X: sp.csr_matrix((X.shape[0], 0)), "0 feature"),
    (lambda X: sp.csr_matrix(X.shape), "all zeros"),
    (lambda X: sp.csr_matrix(X[:1]), "minimum of 2"),
])
def test_bad_sparse_input_gives_a_clear_error(sparsified, make_X, message):
    X = make_X(sparsified)
    for fit in (FITSSVD(random_state=0).fit, sparse_svd):
        with pytest.raises(ValueError, match=message):
            fit(X)


def _with_data(X, bad):
    X = sp.csr_matrix(X)
    X.data[7] = bad
    return X


def test_sparse_transforms_equal_the_dense_ones(sparsified):
    svd = FITSSVD(3, random_state=0).fit(sparsified)
    projections = svd.transform(sparsified)
    np.testing.assert_allclose(svd.transform(sp.csc_matrix(sparsified)), projections,
                               atol=1e-12)
    sparse_projections = sp.csr_matrix(np.where(np.abs(projections) > 1,
                                                projections, 0.0))
    np.testing.assert_allclose(svd.inverse_transform(sparse_projections),
                               svd.inverse_transform(sparse_projections.toarray()),
                               atol=1e-12)
    with pytest.raises(ValueError, match="features"):
        svd.transform(sp.csr_matrix(sparsified[:, :10]))


@st.composite
def sparse_matrices(draw):
    shape = draw(st.tuples(st.integers(2, 12), st.integers(1, 8)))
    values = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(
        [0.0, 0.0, 0.0, 1.0, -2.5, 3.0, 1e-3, 7.0])))
    noise = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1, 1)))
    return np.where(values != 0, values + noise, 0.0)


@settings(max_examples=40, deadline=None)
@given(X=sparse_matrices(), make_sparse=st.sampled_from(SPARSE_TYPES),
       n_components=st.integers(1, 2), noise_level=st.sampled_from([None, 0.5, 0.0]))
def test_sparse_svd_of_any_sparse_matrix_is_the_dense_one(X, make_sparse,
                                                          n_components, noise_level):
    def run(matrix):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the same warnings on both paths
                return sparse_svd(matrix, n_components, threshold="theory",
                                  noise_level=noise_level, random_state=0)
        except ValueError as error:
            return type(error)

    # Tied singular values leave the components free to rotate within their
    # subspace, and the two paths' different rounding then picks different ones.
    spectrum = np.linalg.svd(X, compute_uv=False)[: n_components + 1]
    assume(np.all(np.abs(np.diff(spectrum)) > 1e-6 * max(spectrum[0], 1.0)))
    sparse_input = make_sparse(X)
    dense, sparse = run(X), run(sparse_input)
    if isinstance(dense, type):
        assert sparse is dense
        return
    for expected, found in zip(dense, sparse):
        np.testing.assert_allclose(found, expected, atol=1e-9)
    np.testing.assert_array_equal(sparse_input.toarray(), X)


# --- dask input ---------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
@pytest.mark.parametrize("chunks", [1000, 4321])
@pytest.mark.parametrize("threshold", ["bootstrap", "theory"])
def test_dask_fit_equals_the_in_memory_fit(sparsified, scheduler, chunks, threshold):
    dense = FITSSVD(3, threshold=threshold, random_state=0).fit(sparsified)
    X = da.from_array(sparsified, chunks=(chunks, -1))
    with dask.config.set(scheduler=scheduler):
        fitted = FITSSVD(3, threshold=threshold, random_state=0).fit(X)
        projections = fitted.transform(X)
    _assert_same_fit(dense, fitted)
    assert isinstance(projections, da.Array)
    np.testing.assert_allclose(projections.compute(), dense.transform(sparsified),
                               atol=1e-10)


def test_dask_fit_of_a_matrix_beyond_the_sample_sizes_equals_the_in_memory_fit():
    # 1.2e6 entries: the noise level is taken on a sample of entries, gathered
    # chunk by chunk, and the spectrum on a sampled block of rows.
    X = make_sparse_svd_data("lung", random_state=1)[0][:, :8]
    X = np.vstack([X] * 12)[:, :8] + np.random.default_rng(0).standard_normal(
        (12 * X.shape[0], 8))
    assert X.size > 1_000_000 and X.shape[0] > 5000
    dense = FITSSVD(2, random_state=0).fit(X)
    with dask.config.set(scheduler="sync"):
        fitted = FITSSVD(2, random_state=0).fit(da.from_array(X, chunks=(9999, -1)))
    _assert_same_fit(dense, fitted)
    U, s, Vt = sparse_svd(da.from_array(X, chunks=(40000, -1)), 2, random_state=0)
    np.testing.assert_allclose(s, dense.singular_values_, rtol=1e-10)


@settings(max_examples=20, deadline=None)
@given(X=sparse_matrices(), chunk_rows=st.integers(1, 12),
       threshold=st.sampled_from(["theory", "bootstrap"]))
def test_dask_fit_of_any_small_matrix_is_the_in_memory_fit(X, chunk_rows, threshold):
    def run(matrix):
        try:
            with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
                warnings.simplefilter("ignore")  # the same warnings on both paths
                return FITSSVD(threshold=threshold, random_state=0).fit(matrix)
        except ValueError as error:
            return type(error)

    dense = run(X)
    chunked = run(da.from_array(X, chunks=(chunk_rows, -1)))
    if isinstance(dense, type):
        assert chunked is dense
    else:
        _assert_same_fit(dense, chunked, atol=1e-9)


@pytest.mark.parametrize("make_X, message", [
    (lambda X: da.from_array(X, chunks=(1000, 20)), "rechunk"),
    (lambda X: da.from_array(X, chunks=1000)[da.from_array(X[:, 0] > 0)],
     "compute_chunk_sizes"),
    (lambda X: da.from_array(np.where(X == X[5, 5], np.nan, X), chunks=(1000, -1)),
     "NaN"),
    (lambda X: da.from_array(X.astype(np.complex128), chunks=(1000, -1)), "complex"),
    (lambda X: da.from_array(X[None], chunks=(1, 1000, -1)), "2d"),
    (lambda X: da.from_array(X[:1], chunks=(1, -1)), "at least 2 row"),
    (lambda X: da.zeros(X.shape, chunks=(1000, -1)), "all zeros"),
])
def test_bad_dask_input_gives_a_clear_error(sparsified, make_X, message):
    X = make_X(sparsified)
    with dask.config.set(scheduler="sync"):
        for fit in (FITSSVD(random_state=0).fit, sparse_svd):
            with pytest.raises(ValueError, match=message):
                fit(X)


def test_auto_rank_refuses_huge_sparse_and_dask_shapes():
    rng = np.random.default_rng(0)
    rows, columns = rng.integers(0, 100_000, 500), rng.integers(0, 1_000, 500)
    X = sp.csr_matrix((rng.standard_normal(500), (rows, columns)),
                      shape=(100_000, 1_000))
    with pytest.raises(ValueError, match="integer n_components"):
        FITSSVD("auto").fit(X)
    with pytest.raises(ValueError, match="integer n_components"):
        FITSSVD("auto").fit(da.ones((100_000, 1_000), chunks=(10_000, -1)))


def test_importing_statopt_and_fitting_dense_or_sparse_does_not_import_dask():
    code = ("import sys, numpy as np, scipy.sparse as sp\n"
            "from statopt.decomposition import FITSSVD\n"
            "X = np.random.default_rng(0).standard_normal((50, 8))\n"
            "FITSSVD(threshold='theory').fit(X).transform(sp.csr_matrix(X))\n"
            "assert 'dask' not in sys.modules, 'dask was imported'\n")
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
