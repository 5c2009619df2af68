"""AdamLogisticRegression at scale (issue 18, part "logistic").

Two sections, each run in its own process so that the peak resident memory it
prints is its own:

``sparse``
    An n x n CSR design at 0.1% density (a bag of words: each row holds a Poisson
    number of words with mean 0.001 n, values 1/sqrt(row count), as after L2
    normalisation), labels drawn from a logistic model. Ours (sparse epochs and the
    Newton finish, matrix-free CG beyond 4096 parameters) against
    LogisticRegression(solver='saga') at its default tol=1e-4 and at tol=1e-6, in
    the same run. Target: saga's objective within 1e-6 relative in less time than
    saga.
``stream``
    A lazily generated Dask array, n x 50 (logistic model, rows in chunks of
    250,000), fitted by ``AdamLogisticRegression.fit`` on the Dask array (epochs of
    partial_fit over the chunks, then the exact Newton finish summed over them,
    synchronous scheduler). Held-out log-loss against that of
    LogisticRegression(lbfgs) fitted in memory on a subsample of 10**6 rows.
    Target: within 1e-3. Also the passes over the data (``dask.compute`` calls:
    the streamed epochs', the finish's) and, up to ``--exact-max`` rows, the
    distance to the optimum of the in-memory fit of the same rows (relative
    coefficients and objective).

Every figure comes with the peak memory of its fit (tracemalloc, the NumPy
allocations) and the process's peak resident set size. BLAS runs on one thread
(threadpoolctl).

Usage: python benchmarks/bench_scale_logistic.py sparse [--n 100000]
       python benchmarks/bench_scale_logistic.py stream [--n 10000000]
                                                       [--exact-max 2000000]
"""

import argparse
import resource
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from statopt import AdamLogisticRegression

P_STREAM = 50
CHUNK = 250_000


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(fit):
    """Wall time and tracemalloc peak (MB) of ``fit()``, and its result."""
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def bag_of_words(n, density, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(density * n, size=n)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = rng.integers(0, n, size=indptr[-1])
    data = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
    X = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    X.sum_duplicates()
    beta = 3.0 * rng.normal(size=n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(int)
    return X, y


def sparse_section(n, density):
    X, y = bag_of_words(n, density)
    print(f"CSR {n} x {n}, {X.nnz} stored entries (density {X.nnz / n / n:.2g}), "
          f"positives {y.mean():.3f}, BLAS threads 1")

    def objective(model):
        scores = X @ model.coef_.ravel() + model.intercept_[0]
        return float(np.sum(np.logaddexp(0.0, scores) - y * scores)
                     + 0.5 * model.coef_.ravel() @ model.coef_.ravel())

    fits = {
        "ours, defaults": AdamLogisticRegression(random_state=0),
        "ours, variance_reduction=True": AdamLogisticRegression(
            variance_reduction=True, random_state=0),
        "ours, variance_reduction=True, batch_size=1024": AdamLogisticRegression(
            variance_reduction=True, batch_size=1024, random_state=0),
        "saga tol=1e-4 (default)": LogisticRegression(solver="saga", max_iter=1000),
        "saga tol=1e-6": LogisticRegression(solver="saga", tol=1e-6, max_iter=1000),
    }
    # Load (or compile) the CSR kernels before timing.
    measured(lambda: AdamLogisticRegression(max_iter=3).fit(X[:2000], y[:2000]))
    rows = {}
    for name, model in fits.items():
        seconds, peak, fitted = measured(lambda model=model: model.fit(X, y))
        rows[name] = (seconds, peak, objective(fitted))
    best = min(value for _, _, value in rows.values())
    saga_times = {name: rows[name][0] for name in rows if name.startswith("saga")}
    print(f"{'fit':50s} {'seconds':>8s} {'/saga 1e-4':>10s} {'/saga 1e-6':>10s} "
          f"{'objective':>18s} {'rel. to best':>12s} {'peak MB':>8s}")
    for name, (seconds, peak, value) in rows.items():
        print(f"{name:50s} {seconds:8.2f} "
              f"{seconds / saga_times['saga tol=1e-4 (default)']:10.2f} "
              f"{seconds / saga_times['saga tol=1e-6']:10.2f} {value:18.6f} "
              f"{(value - best) / abs(best):12.2e} {peak:8.0f}")
    for saga in saga_times:
        target = rows[saga][2]
        for name, (seconds, _, value) in rows.items():
            if name.startswith("ours"):
                met = value <= target * (1 + 1e-6) and seconds < rows[saga][0]
                print(f"target vs {saga}: {name}: "
                      f"{'met' if met else 'NOT met'}")
    print(f"process peak RSS {peak_rss_mb():.0f} MB")


def logistic_dask(n, seed):
    import dask.array as da

    rng = da.random.default_rng(seed)
    X = rng.normal(size=(n, P_STREAM), chunks=(min(CHUNK, n), P_STREAM))
    beta = np.linspace(-0.5, 0.5, P_STREAM)
    logits = X @ beta + 0.3
    y = (rng.random(n, chunks=min(CHUNK, n)) < 1.0 / (1.0 + da.exp(-logits)))
    return X, y.astype(np.int64)


class PassCounter:
    """Counts ``dask.compute`` calls: the exact finish's (graphs of its chunk
    functions) and the others (the pass over y, the streamed epochs' chunks)."""

    def __init__(self):
        from dask.callbacks import Callback

        counter = self

        class _Callback(Callback):
            def _start(self, dsk):
                if any(str(key).startswith("_chunk_") for key in dsk):
                    counter.finish += 1
                else:
                    counter.other += 1

        self.finish = self.other = 0
        self.callback = _Callback()


def stream_section(n, max_epochs, exact_max):
    import dask

    X, y = logistic_dask(n, seed=0)
    X_test, y_test = dask.compute(*logistic_dask(100_000, seed=1))
    X_sub, y_sub = dask.compute(*logistic_dask(1_000_000, seed=2))
    print(f"Dask array {n} x {P_STREAM} in chunks of {X.chunks[0][0]} rows, "
          f"synchronous scheduler, BLAS threads 1")

    def test_loss(model):
        scores = X_test @ model.coef_.ravel() + model.intercept_[0]
        return float(np.mean(np.logaddexp(0.0, scores) - y_test * scores))

    passes = PassCounter()
    cpu = time.process_time()
    with dask.config.set(scheduler="synchronous"), passes.callback:
        seconds, peak, model = measured(lambda: AdamLogisticRegression(
            random_state=0, max_iter=max_epochs).fit(X, y))
    cpu = time.process_time() - cpu
    sub_seconds, sub_peak, optimum = measured(
        lambda: LogisticRegression(tol=1e-10, max_iter=1000).fit(X_sub, y_sub))
    gap = test_loss(model) - test_loss(optimum)
    # Streamed passes: the one over y that finds the classes, then one chunk per
    # compute; the finish computes all chunks at once.
    epochs = (passes.other - 1) / X.numblocks[0]
    total = epochs + 1 + passes.finish
    print(f"ours streamed: {epochs:g} epochs then {model.n_iter_ - epochs:g} Newton "
          f"steps, {seconds:.1f} s, CPU {cpu:.1f} s "
          f"({seconds / (n / 1e6) / total:.2f} s per 1e6 "
          f"rows and pass over the data, generation included; {total:g} passes: "
          f"1 over y, {epochs:g} of the epochs, {passes.finish} of the finish), "
          f"loss curve {[round(value, 6) for value in model.loss_curve_]}, "
          f"tracemalloc peak {peak:.0f} MB")
    if n <= exact_max:
        X_all, y_all = dask.compute(X, y)
        exact_seconds, _, exact = measured(
            lambda: AdamLogisticRegression(random_state=0).fit(X_all, y_all))
        excess = (model.loss_curve_[-1] - exact.loss_curve_[-1]) / (
            exact.loss_curve_[-1])
        distance = np.abs(model.coef_ - exact.coef_).max() / np.abs(
            exact.coef_).max()
        print(f"in-memory fit of the same {n} rows ({exact_seconds:.1f} s): "
              f"relative coefficient distance {distance:.1e}, relative objective "
              f"gap {excess:.1e}")
    print(f"lbfgs on 1e6 in memory: {sub_seconds:.1f} s, tracemalloc peak "
          f"{sub_peak:.0f} MB")
    print(f"held-out log-loss: ours {test_loss(model):.6f}, lbfgs (1e6 subsample) "
          f"{test_loss(optimum):.6f}, gap {gap:.2e}: target <= 1e-3 "
          f"{'met' if gap <= 1e-3 else 'NOT met'}")
    print(f"process peak RSS {peak_rss_mb():.0f} MB (includes the 1e6 x 50 "
          "subsample and the 1e5 test rows held in memory)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=["sparse", "stream"])
    parser.add_argument("--n", type=float, default=None,
                        help="rows (sparse: also columns); default 1e5 / 1e7")
    parser.add_argument("--density", type=float, default=1e-3)
    parser.add_argument("--max-epochs", type=int, default=2000,
                        help="stream: max_iter of the streamed fit")
    parser.add_argument("--exact-max", type=float, default=2e6,
                        help="stream: largest n also fitted in memory, for the "
                        "distance to the optimum")
    args = parser.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        if args.section == "sparse":
            sparse_section(int(args.n or 1e5), args.density)
        else:
            stream_section(int(args.n or 1e7), args.max_epochs,
                           int(args.exact_max))


if __name__ == "__main__":
    main()
