"""The quantile process: 19 levels fitted in sequence against one level and peers.

Design as bench_quantile.py: p=10 N(0,1) covariates plus intercept,
y = 1 + X beta + (1 + 0.5 |x1|) e, levels 0.05, 0.10, ..., 0.95.

Rows printed, all in one process with BLAS limited to one thread (threadpoolctl):

- one level (q=0.5), the 19-level process (``quantile=levels``), and 19 separate
  cold fits, with the ratios process / one level (target of issue 14: under 3x)
  and 19 cold fits / process;
- statsmodels ``QuantReg`` looped over the 19 levels (up to ``--statsmodels-max-n``);
- R quantreg ``rq(y ~ X, tau = levels, method = 'fn')`` through ``Rscript`` when R
  is installed (``apt-get install r-base-core r-cran-quantreg``), else said so;
- exactness: the worst relative difference of the check loss between the process
  and the cold fits, and between the process and statsmodels, per level.

Times are the median of ``--repeat`` runs (statsmodels and R: one run).

Usage: python benchmarks/bench_quantile_process.py [--n N ...] [--repeat R]
       [--statsmodels-max-n N] [--r-max-n N]
"""

import argparse
import shutil
import time
import warnings

import numpy as np
from bench_quantile import P, design, rscript  # the same folder
from threadpoolctl import threadpool_info, threadpool_limits

from statopt import CensoredMissingQuantileRegressor

LEVELS = np.round(np.arange(1, 20) / 20, 2)

R_SCRIPT = r"""
suppressMessages(library(quantreg))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[2]); p <- as.integer(args[3])
taus <- as.numeric(strsplit(args[4], ",")[[1]])
X <- matrix(readBin(file.path(args[1], "X.bin"), "double", n * p), n, p)
y <- readBin(file.path(args[1], "y.bin"), "double", n)
elapsed <- system.time(suppressWarnings(fit <- rq(y ~ X, tau = taus,
                                                  method = "fn")))["elapsed"]
cat(elapsed, sprintf("%.17g", coef(fit)), "\n")
"""


def check_losses(X, y, intercepts, coefs):
    """Check loss at each level, shape (n_levels,)."""
    residuals = y[:, None] - (X @ coefs.T + intercepts)
    return np.sum(np.where(residuals >= 0, LEVELS * residuals,
                           (LEVELS - 1) * residuals), axis=0)


def median_time(function, repeat):
    """Median wall-clock time of ``repeat`` calls, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def interleaved_times(functions, repeat):
    """Median wall-clock and CPU times of each function, called in turn.

    Alternating the calls spreads the load of a shared machine over all of
    them; the CPU time of this process (one BLAS thread, single-threaded
    kernels) is what a quiet machine would show as wall-clock time.
    """
    wall = [[] for _ in functions]
    cpu = [[] for _ in functions]
    results = [None] * len(functions)
    for _ in range(repeat):
        for k, function in enumerate(functions):
            start, start_cpu = time.perf_counter(), time.process_time()
            results[k] = function()
            cpu[k].append(time.process_time() - start_cpu)
            wall[k].append(time.perf_counter() - start)
    return np.median(wall, axis=1), np.median(cpu, axis=1), results


def fit_statsmodels(X, y):
    import statsmodels.api as sm

    exog = sm.add_constant(X)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its max_iter warnings at extreme levels
        for q in LEVELS:
            rows.append(sm.QuantReg(y, exog).fit(q=q, max_iter=5000).params)
    rows = np.array(rows)
    return rows[:, 0], rows[:, 1:]


def run_r(X, y):
    output = rscript(R_SCRIPT, X, y, X.shape[0], P,
                     ",".join(f"{q:g}" for q in LEVELS))
    if output is None:
        return None
    values = np.array(output.split(), dtype=float)
    coef = values[1:].reshape(LEVELS.size, P + 1)  # column-major p+1 x levels
    return values[0], coef[:, 0], coef[:, 1:]


def compare(n, repeat, statsmodels_max_n, r_max_n, has_r):
    """Print the rows of one size."""
    X, y = design(n)
    (t_one, t_process), (c_one, c_process), (_, process) = interleaved_times(
        [lambda: CensoredMissingQuantileRegressor(0.5).fit(X, y),
         lambda: CensoredMissingQuantileRegressor(LEVELS).fit(X, y)], repeat)
    t_cold, cold = median_time(
        lambda: [CensoredMissingQuantileRegressor(q).fit(X, y) for q in LEVELS],
        max(1, repeat // 2))
    ours = check_losses(X, y, process.intercept_, process.coef_)
    reference = check_losses(X, y, np.array([m.intercept_ for m in cold]),
                             np.array([m.coef_ for m in cold]))
    gap = np.max(np.abs(ours - reference) / reference)
    coef_diff = max(
        np.max(np.abs(process.coef_ - [m.coef_ for m in cold])),
        np.max(np.abs(process.intercept_ - [m.intercept_ for m in cold])))
    met = "met" if t_process < 3 * t_one else "NOT met"
    met_cpu = "met" if c_process < 3 * c_one else "NOT met"
    settled = int(np.sum(process.n_iter_[1:] == 0))
    print(f"\nn={n}, p={P}, {LEVELS.size} levels {LEVELS[0]:g}..{LEVELS[-1]:g}")
    print(f"  one level (q=0.5)      {t_one:8.3f} s  (CPU {c_one:.3f} s)")
    print(f"  process (19 levels)    {t_process:8.3f} s  = "
          f"{t_process / t_one:5.2f}x one level (target < 3x: {met}); largest "
          f"duality gap {np.max(process.duality_gap_):.1e}; {settled} of "
          f"{LEVELS.size - 1} warm-started levels settled without MM")
    print(f"  CPU time: process {c_process:.3f} s = {c_process / c_one:5.2f}x one "
          f"level (target < 3x: {met_cpu})")
    print(f"  19 cold fits           {t_cold:8.3f} s  = "
          f"{t_cold / t_process:5.2f}x the process; worst relative check-loss "
          f"difference {gap:.1e}, largest coefficient difference {coef_diff:.1e}")
    if n <= statsmodels_max_n:
        t_sm, (intercepts, coefs) = median_time(lambda: fit_statsmodels(X, y), 1)
        excess = np.max((check_losses(X, y, intercepts, coefs) - ours) / ours)
        print(f"  statsmodels QuantReg   {t_sm:8.3f} s  = "
              f"{t_sm / t_process:5.1f}x the process; its check loss exceeds "
              f"ours by up to {excess:.1e} (relative)")
    else:
        print(f"  statsmodels QuantReg   not run (n > {statsmodels_max_n})")
    if has_r and n > r_max_n:
        print(f"  R rq(tau=levels, fn)   not run (n > {r_max_n})")
    elif has_r:
        result = run_r(X, y)
        if result is not None:
            t_r, intercepts, coefs = result
            excess = np.max((check_losses(X, y, intercepts, coefs) - ours) / ours)
            print(f"  R rq(tau=levels, fn)   {t_r:8.3f} s  = "
                  f"{t_r / t_process:5.1f}x the process; its check loss exceeds "
                  f"ours by up to {excess:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--statsmodels-max-n", type=int, default=100_000)
    parser.add_argument("--r-max-n", type=int, default=1_000_000)
    args = parser.parse_args()
    has_r = shutil.which("Rscript") is not None
    with threadpool_limits(limits=1):
        pools = ", ".join(f"{p['internal_api']}={p['num_threads']}"
                          for p in threadpool_info())
        print(f"thread pools: {pools}; R with OPENBLAS_NUM_THREADS=1")
        if not has_r:
            print("R is not installed (apt-get install r-base-core "
                  "r-cran-quantreg): its rows are skipped")
        X, y = design(2000)
        CensoredMissingQuantileRegressor(LEVELS).fit(X, y)  # compile the kernels
        for n in args.n:
            compare(n, args.repeat, args.statsmodels_max_n, args.r_max_n, has_r)


if __name__ == "__main__":
    main()
