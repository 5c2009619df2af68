"""FITSSVD at scale: sparse input against TruncatedSVD, and dask input out of core.

Targets (issue 18), each printed with the measured figure:

1. sparse: FITSSVD on a sparse n x p CSR matrix (default 1e5 x 1e4, 1% dense noise
   plus a sparse rank-3 signal) within 3x of sklearn's TruncatedSVD (randomized,
   its default, and ARPACK) in the same run, recovery (squared sine of the largest
   principal angle to the true U and V) beside it; and the products X V, X' U
   through scipy's sparse BLAS against a numba CSR kernel;
2. dask: FITSSVD on a lazily generated dask array (default 1e6 x 100, up to 1e7;
   rank-3 sparse signal plus Gaussian noise, regenerated chunk by chunk at every
   pass, so X is never in memory), recovery as the in-memory fit on the first
   rows when they fit in memory, and the dask fit over those in-memory rows (the
   cost of the chunked passes alone); peak RSS beside each time, and the largest
   traced allocation with --tracemalloc (which slows dask's scheduling, so only
   the sparse section traces by default, in a separate untimed fit).

Usage: python benchmarks/bench_scale_fitssvd.py [--sparse N P] [--density D]
       [--dask-rows N] [--dask-columns P] [--chunk-rows C] [--dask-workers W]
       [--in-memory-rows N] [--thresholds T [T ...]] [--tracemalloc]
       [--blas-threads T]
       [--skip-sparse] [--skip-dask]
"""

import argparse
import resource
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from threadpoolctl import threadpool_info, threadpool_limits

from statopt._numba import njit
from statopt.decomposition import FITSSVD
from statopt.metrics import subspace_distance

RANK = 3
SIGNAL_ROWS, SIGNAL_COLUMNS = 200, 20
STRENGTHS = np.array([3.0, 2.5, 2.0])
# Dask problem: singular values STRENGTHS * DASK_SCALE against N(0, 1) noise, enough
# for the signal rows to pass the screen (row energy about d^2 / SIGNAL_ROWS over
# p times the chi-square bound) at every n up to 1e7.
DASK_SCALE = 60.0


def sparse_factors(n, p, rng):
    """Orthonormal U (n x 3) and V (p x 3) supported on their first rows."""
    U = np.zeros((n, RANK))
    V = np.zeros((p, RANK))
    U[:SIGNAL_ROWS] = np.linalg.qr(rng.standard_normal((SIGNAL_ROWS, RANK)))[0]
    V[:SIGNAL_COLUMNS] = np.linalg.qr(rng.standard_normal((SIGNAL_COLUMNS, RANK)))[0]
    return U, V


def sparse_problem(n, p, density, random_state=0):
    """CSR X = U D V' + noise: N(0, 1) noise on a ``density`` share of the entries,
    singular values ``STRENGTHS`` times the noise's spectrum edge
    sqrt(density) (sqrt n + sqrt p)."""
    rng = np.random.default_rng(random_state)
    noise = sp.random(n, p, density=density, format="csr", random_state=rng,
                      data_rvs=rng.standard_normal)
    U, V = sparse_factors(n, p, rng)
    d = STRENGTHS * np.sqrt(density) * (np.sqrt(n) + np.sqrt(p))
    block = (U[:SIGNAL_ROWS] * d) @ V[:SIGNAL_COLUMNS].T
    rows, columns = np.indices(block.shape)
    signal = sp.csr_matrix((block.ravel(), (rows.ravel(), columns.ravel())),
                           shape=(n, p))
    return (noise + signal).tocsr(), U, V


@njit
def csr_times_thin(data, indices, indptr, B):
    """X @ B for CSR X (data, indices, indptr) and a C-ordered thin B."""
    n_rows = indptr.size - 1
    out = np.zeros((n_rows, B.shape[1]))
    for i in range(n_rows):
        for position in range(indptr[i], indptr[i + 1]):
            value = data[position]
            row = B[indices[position]]
            for k in range(B.shape[1]):
                out[i, k] += value * row[k]
    return out


@njit
def csr_transposed_times_thin(data, indices, indptr, n_columns, B):
    """X' @ B for CSR X and a C-ordered thin B (scatter into the columns)."""
    out = np.zeros((n_columns, B.shape[1]))
    for i in range(indptr.size - 1):
        row = B[i]
        for position in range(indptr[i], indptr[i + 1]):
            value = data[position]
            target = out[indices[position]]
            for k in range(B.shape[1]):
                target[k] += value * row[k]
    return out


def best_time(function, repeat=3):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_gib():
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def traced(function, trace):
    """Seconds, result and the largest traced allocation (GiB; nan unless
    ``trace``) of one call. Tracing slows Python code (dask's scheduling most), so
    traced calls are not the timed ones."""
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**30 if trace else np.nan
    if trace:
        tracemalloc.stop()
    return seconds, result, peak


def memory(traced_peak):
    text = f"peak RSS so far {peak_rss_gib():.2f} GiB"
    if np.isnan(traced_peak):
        return text
    return f"traced peak {traced_peak:.2f} GiB, {text}"


def sparse_section(n, p, density):
    X, U, V = sparse_problem(n, p, density)
    print(f"\n[1] sparse CSR {n:,} x {p:,}, {X.nnz:,} stored entries "
          f"({X.nnz / n / p:.4%}), rank-3 signal on {SIGNAL_ROWS} rows x "
          f"{SIGNAL_COLUMNS} columns")
    rng = np.random.default_rng(1)
    V_probe, U_probe = rng.standard_normal((p, RANK)), rng.standard_normal((n, RANK))
    csr_times_thin(X.data, X.indices, X.indptr, V_probe)  # compile
    csr_transposed_times_thin(X.data, X.indices, X.indptr, p, U_probe)
    products = [
        ("X V   scipy", lambda: X @ V_probe),
        ("X V   numba", lambda: csr_times_thin(X.data, X.indices, X.indptr, V_probe)),
        ("X' U  scipy", lambda: X.T @ U_probe),
        ("X' U  numba", lambda: csr_transposed_times_thin(X.data, X.indices,
                                                          X.indptr, p, U_probe)),
    ]
    print("products with 3 columns, best of 5:")
    for name, function in products:
        seconds, _ = best_time(function, repeat=5)
        print(f"  {name}: {seconds * 1e3:8.1f} ms")
    FITSSVD(RANK, random_state=0).fit(X[:2000])  # compile the screening kernels
    rows = []
    for name, estimator in [
        ("FITSSVD bootstrap", FITSSVD(RANK, random_state=0)),
        ("FITSSVD theory", FITSSVD(RANK, threshold="theory", random_state=0)),
        ("TruncatedSVD randomized", TruncatedSVD(RANK, random_state=0)),
        ("TruncatedSVD arpack", TruncatedSVD(RANK, algorithm="arpack",
                                             random_state=0)),
    ]:
        seconds, fitted = best_time(lambda e=estimator: e.fit(X))
        _, _, traced_peak = traced(lambda e=estimator: e.fit(X), True)
        left = getattr(fitted, "left_singular_vectors_", None)
        if left is None:  # TruncatedSVD: U from its projections
            left = np.linalg.qr(fitted.transform(X))[0]
        rows.append((name, seconds, subspace_distance(left, U),
                     subspace_distance(fitted.components_.T, V), traced_peak))
    print(f"{'method':26s} {'seconds':>8s} {'sin2 U':>8s} {'sin2 V':>8s} "
          f"{'traced GiB':>10s}   (best of 3; traced: a 4th fit under tracemalloc)")
    for name, seconds, sine_u, sine_v, peak in rows:
        print(f"{name:26s} {seconds:8.3f} {sine_u:8.4f} {sine_v:8.4f} {peak:10.3f}")
    times = {name: seconds for name, seconds, *_ in rows}
    for ours in ("FITSSVD bootstrap", "FITSSVD theory"):
        for theirs in ("TruncatedSVD randomized", "TruncatedSVD arpack"):
            ratio = times[ours] / times[theirs]
            print(f"{ours} / {theirs}: {ratio:.2f}x (target <= 3x: "
                  f"{'met' if ratio <= 3 else 'NOT met'})")
    size = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**30
    print(f"X itself: {size:.3f} GiB; peak RSS of the process so far "
          f"{peak_rss_gib():.2f} GiB")


def dask_problem(n, p, chunk_rows, random_state=0):
    """Lazy dask X = U D V' + N(0, 1) noise; each chunk is drawn from its own seed
    when a computation needs it, so X is never held whole."""
    import dask.array as da

    rng = np.random.default_rng(random_state)
    U, V = sparse_factors(n, p, rng)
    d = STRENGTHS * DASK_SCALE
    left = U[:SIGNAL_ROWS] * d

    def chunk(block_info=None):
        (start, stop), _ = block_info[None]["array-location"]
        block = np.random.default_rng([random_state, start]).standard_normal(
            (stop - start, p))
        if start < SIGNAL_ROWS:
            rows = slice(0, min(stop, SIGNAL_ROWS) - start)
            block[rows] += left[start:start + block[rows].shape[0]] @ V.T
        return block

    X = da.map_blocks(chunk, chunks=(da.core.normalize_chunks(chunk_rows, (n,))[0],
                                     (p,)), dtype=np.float64)
    return X, U, V, d


def dask_section(n, p, chunk_rows, workers, in_memory_rows, thresholds, trace):
    import dask
    import dask.array as da

    X, U, V, d = dask_problem(n, p, chunk_rows)
    print(f"\n[2] dask {n:,} x {p} ({n * p * 8 / 2**30:.1f} GiB as float64), chunks "
          f"of {chunk_rows:,} rows, generated lazily; singular values {d.round(1)}; "
          f"scheduler threads, {workers} worker(s)")
    with dask.config.set(scheduler="threads", num_workers=workers):
        for threshold in thresholds:
            seconds, svd, peak = traced(
                lambda t=threshold: FITSSVD(RANK, threshold=t, random_state=0).fit(X),
                trace)
            sine_u = subspace_distance(svd.left_singular_vectors_, U)
            sine_v = subspace_distance(svd.components_.T, V)
            print(f"FITSSVD {threshold:9s} on dask: {seconds:8.1f} s, "
                  f"{svd.n_iter_} iterations, sin2 U {sine_u:.2e}, "
                  f"sin2 V {sine_v:.2e}; {memory(peak)}")
            if in_memory_rows:
                m = min(in_memory_rows, n)
                head = X[:m].compute()
                seconds, dense, peak = traced(
                    lambda t=threshold, head=head: FITSSVD(
                        RANK, threshold=t, random_state=0).fit(head), trace)
                dense_seconds = seconds
                print(f"  in memory, first {m:,} rows: {seconds:8.1f} s, sin2 U "
                      f"{subspace_distance(dense.left_singular_vectors_, U[:m]):.2e},"
                      f" sin2 V {subspace_distance(dense.components_.T, V):.2e}; "
                      f"{memory(peak)}")
                # The same rows as a dask array over the in-memory array: the
                # cost of the chunked passes without the data's generation.
                seconds, chunked, _ = traced(
                    lambda t=threshold, head=head: FITSSVD(
                        RANK, threshold=t, random_state=0).fit(
                            da.from_array(head, chunks=(chunk_rows, -1))), False)
                difference = np.abs(chunked.components_ - dense.components_).max()
                print(f"  dask over those in-memory rows: {seconds:8.1f} s "
                      f"({seconds / dense_seconds:.2f}x in memory), components "
                      f"within {difference:.1e} of the in-memory fit")
                del head


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparse", type=int, nargs=2, default=[100_000, 10_000],
                        metavar=("N", "P"))
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--dask-rows", type=int, default=1_000_000)
    parser.add_argument("--dask-columns", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--dask-workers", type=int, default=1)
    parser.add_argument("--in-memory-rows", type=int, default=1_000_000,
                        help="also fit the first N rows in memory (0: skip)")
    parser.add_argument("--thresholds", nargs="+", default=["theory", "bootstrap"],
                        choices=["theory", "bootstrap"], help="dask fits to run")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace the dask section's allocations (slows it)")
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--skip-sparse", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    with threadpool_limits(args.blas_threads):
        pools = ", ".join(f"{p['internal_api']} {p['num_threads']}"
                          for p in threadpool_info())
        print(f"thread pools: {pools}; numba kernels single-threaded")
        if not args.skip_sparse:
            sparse_section(*args.sparse, args.density)
        if not args.skip_dask:
            dask_section(args.dask_rows, args.dask_columns, args.chunk_rows,
                         args.dask_workers, args.in_memory_rows, args.thresholds,
                         args.tracemalloc)


if __name__ == "__main__":
    main()
