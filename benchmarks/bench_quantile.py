"""CensoredMissingQuantileRegressor against its peers, in one process.

Design (issue 4): p=10 N(0,1) covariates plus intercept,
y = 1 + X beta + (1 + 0.5 |x1|) e, q = 0.5 and 0.9, n = 1e3 ... 1e6.

Targets, each printed with the measured ratio:

1. exactness: relative objective gap <= 1e-9 against an exact LP optimum
   (scikit-learn QuantileRegressor(alpha=0, solver='highs') where it runs, R quantreg
   rq.fit.br / rq.fit.pfn when R is installed);
2. speed at n=1e5: >= 10x faster than statsmodels QuantReg, >= 100x faster than
   scikit-learn's highs; at n=1e6 no slower than R quantreg's pfn;
3. the whole pipeline with censoring and missing-covariate weights at n=1e5 in
   under 2 s.

BLAS runs with one thread (threadpoolctl; OPENBLAS_NUM_THREADS=1 for R).

Usage: python benchmarks/bench_quantile.py [--max-n N] [--sklearn-max-n N]
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from statopt import CensoredMissingQuantileRegressor
from statopt.datasets import make_censored_quantile_data

P = 10
QUANTILES = (0.5, 0.9)

R_SCRIPT = r"""
suppressMessages(library(quantreg))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[2]); p <- as.integer(args[3]); tau <- as.numeric(args[4])
methods <- strsplit(args[5], ",")[[1]]
X <- matrix(readBin(file.path(args[1], "X.bin"), "double", n * p), n, p)
y <- readBin(file.path(args[1], "y.bin"), "double", n)
for (m in methods) {
  fit <- switch(m,
    br = function() rq.fit.br(X, y, tau = tau)$coefficients,
    pfn = function() rq.fit.pfn(X, y, tau = tau)$coefficients,
    fnb = function() rq.fit.fnb(X, y, tau = tau)$coefficients)
  elapsed <- system.time(suppressWarnings(coef <- fit()))["elapsed"]
  cat(m, elapsed, sprintf("%.17g", coef), "\n")
}
"""


def design(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, P))
    beta = rng.uniform(-1, 1, P)
    y = 1 + X @ beta + (1 + 0.5 * np.abs(X[:, 0])) * rng.standard_normal(n)
    return X, y


def objective(X, y, intercept, coef, q):
    r = y - intercept - X @ coef
    return float(np.sum(np.where(r >= 0, q * r, (q - 1) * r)))


def timed(function, *args, repeat=1):
    """Best wall time of ``repeat`` calls (one call if the first takes over 2 s)."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
        if best > 2.0:
            break
    return best, result


def fit_ours(X, y, q):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # propensity floor
        return CensoredMissingQuantileRegressor(quantile=q, random_state=0).fit(X, y)


def fit_statsmodels(X, y, q):
    from statsmodels.regression.quantile_regression import QuantReg

    fit = QuantReg(y, np.column_stack([np.ones(len(y)), X])).fit(q=q)
    return fit.params[0], fit.params[1:]


def fit_sklearn(X, y, q):
    from sklearn.linear_model import QuantileRegressor

    fit = QuantileRegressor(quantile=q, alpha=0, solver="highs").fit(X, y)
    return fit.intercept_, fit.coef_


def rscript(script, X, y, *args):
    """Run the R ``script`` on ``X`` and ``y``; its standard output, or None.

    ``X`` (column-major) and ``y`` are written as little-endian doubles to
    ``X.bin`` and ``y.bin`` in a temporary folder, whose path is the script's
    first argument, followed by ``args``. R's BLAS and OpenMP run one thread. On
    failure R's error is printed and None returned.
    """
    with tempfile.TemporaryDirectory() as folder:
        np.asfortranarray(X).T.astype("<f8").tofile(os.path.join(folder, "X.bin"))
        np.asarray(y).astype("<f8").tofile(os.path.join(folder, "y.bin"))
        path = os.path.join(folder, "script.R")
        with open(path, "w") as handle:
            handle.write(script)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        result = subprocess.run(["Rscript", path, folder, *map(str, args)],
                                capture_output=True, text=True, env=env,
                                timeout=3600)
    if result.returncode != 0:
        print(f"  R failed: {result.stderr.strip()[:300]}")
        return None
    return result.stdout


def run_r(X, y, q, methods):
    """Times and coefficients of R quantreg methods, or None without R."""
    if shutil.which("Rscript") is None or not methods:
        return None
    output = rscript(R_SCRIPT, np.column_stack([np.ones(len(y)), X]), y, len(y),
                     P + 1, q, ",".join(methods))
    if output is None:
        return None
    fits = {}
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0] in methods:
            values = np.array(parts[1:], dtype=float)
            fits[parts[0]] = (values[0], values[1], values[2:])
    return fits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=float, default=1e6)
    parser.add_argument("--sklearn-max-n", type=float, default=1e4,
                        help="largest n for scikit-learn's highs (438 s at 1e5)")
    parser.add_argument("--br-max-n", type=float, default=1e5,
                        help="largest n for R's rq.fit.br (simplex)")
    args = parser.parse_args()

    with threadpool_limits(limits=1):
        pools = ", ".join(f"{p['internal_api']}={p['num_threads']}"
                          for p in threadpool_info())
        print(f"thread pools: {pools}; R with OPENBLAS_NUM_THREADS=1")
        if shutil.which("Rscript") is None:
            print("R is not installed (apt-get install r-base-core r-cran-quantreg): "
                  "R rows are skipped")
        X, y = design(2000)
        CensoredMissingQuantileRegressor().fit(X, y)  # compile the kernels
        sizes = [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= args.max_n]
        print(f"\n{'n':>8s} {'q':>4s} {'peer':>16s} {'peer s':>9s} {'ours s':>8s} "
              f"{'peer/ours':>9s} {'rel gap ours-peer':>18s} {'duality gap':>12s}")
        summary = {}
        for n in sizes:
            X, y = design(n, seed=1)
            for q in QUANTILES:
                t_ours, ours = timed(fit_ours, X, y, q, repeat=3)
                f_ours = objective(X, y, ours.intercept_, ours.coef_, q)
                peers = {}
                t, fit = timed(fit_statsmodels, X, y, q, repeat=3)
                peers["statsmodels"] = (t, *fit)
                if n <= args.sklearn_max_n:
                    t, fit = timed(fit_sklearn, X, y, q, repeat=3)
                    peers["sklearn highs"] = (t, *fit)
                methods = ["pfn"] + (["br"] if n <= args.br_max_n else [])
                for name, values in (run_r(X, y, q, methods) or {}).items():
                    peers[f"R {name}"] = values
                for name, (t, intercept, coef) in peers.items():
                    f_peer = objective(X, y, intercept, coef, q)
                    gap = (f_ours - f_peer) / f_peer
                    summary[(n, q, name)] = (t / t_ours, gap)
                    print(f"{n:8d} {q:4.1f} {name:>16s} {t:9.3f} {t_ours:8.3f} "
                          f"{t / t_ours:9.1f} {gap:18.1e} "
                          f"{ours.duality_gap_:12.1e}")
        print("\ntargets")
        exact_peers = ("sklearn highs", "R br", "R pfn")
        gaps = [g for (n, q, name), (_, g) in summary.items() if name in exact_peers]
        print(f"  exactness: worst relative gap against exact peers {max(gaps):.1e} "
              f"-> {'met' if max(gaps) <= 1e-9 else 'MISSED'} (target <= 1e-9)")
        for name, bound in (("statsmodels", 10), ("sklearn highs", 100)):
            ratios = [summary[(100_000, q, name)][0] for q in QUANTILES
                      if (100_000, q, name) in summary]
            if ratios:
                print(f"  n=1e5 vs {name}: {min(ratios):.1f}x / {max(ratios):.1f}x "
                      f"-> {'met' if min(ratios) >= bound else 'MISSED'} "
                      f"(target >= {bound}x)")
            else:
                print(f"  n=1e5 vs {name}: not run")
        ratios = [summary[(1_000_000, q, "R pfn")][0] for q in QUANTILES
                  if (1_000_000, q, "R pfn") in summary]
        if ratios:
            print(f"  n=1e6 vs R pfn: {min(ratios):.2f}x / {max(ratios):.2f}x "
                  f"(pfn time / ours) -> {'met' if min(ratios) >= 1 else 'MISSED'}"
                  " (target >= 1)")

        print("\nwhole pipeline, n=1e5: 25% censored, 30% missing (published model)")
        X, y, _ = make_censored_quantile_data(100_000, censoring_rate=0.25,
                                              missing_rate=0.3, random_state=0)
        for q in QUANTILES:
            t, model = timed(fit_ours, X, y, q, repeat=3)
            print(f"  q={q}: {t:.2f} s (KM weights + kernel propensity + exact fit), "
                  f"coef {np.round(model.coef_, 3)}, duality gap "
                  f"{model.duality_gap_:.1e} -> {'met' if t < 2 else 'MISSED'} "
                  "(target < 2 s)")
        propensity_timing()


def _propensity(complete, Z, kernel):
    from statopt.survival import kernel_propensity

    return kernel_propensity(complete, Z, kernel=kernel)


def propensity_timing():
    """kernel_propensity alone at n=1e5 (target: under 3 s)."""
    rng = np.random.RandomState(0)
    print("\nkernel_propensity, n=1e5 (binned; target < 3 s)")
    for d in (1, 2, 3):
        Z = rng.standard_normal((100_000, d))
        complete = rng.uniform(size=100_000) < 1 / (1 + np.exp(-Z[:, 0]))
        for kernel in ("gaussian", "epanechnikov"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                t, _ = timed(_propensity, complete, Z, kernel, repeat=3)
            print(f"  d={d} {kernel:12s} {t:.3f} s -> "
                  f"{'met' if t < 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
