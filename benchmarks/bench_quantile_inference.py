"""Coverage of the quantile regression intervals when the weights are estimated.

Design (issue 14): the published censored and missing-covariate simulation
(statopt.datasets.make_censored_quantile_data, independent random censoring, 25%
censored, 30% of a covariate missing), median regression, true slopes (4.5, -2).
Each replicate draws a new data set, fits CensoredMissingQuantileRegressor and
records whether the 95% intervals cover the true slopes:

- se='boot': the pairs bootstrap that refits the Kaplan-Meier censoring weights and
  the completeness propensity in every bootstrap draw (percentile intervals);
- se='nid': the Hendricks-Koenker sandwich, which treats the weights as known.

The issue's target is 93-97% for the bootstrap over at least 200 replicates. A
coverage estimated from R replicates has a binomial standard error of about
sqrt(0.95 * 0.05 / R) (1.5 points at R = 200, 2.2 at R = 100).

BLAS runs with one thread (threadpoolctl); the bootstrap runs with --n-jobs workers.

``--rank`` measures the rank-score inversion intervals instead (se='rank' and
'rank_nid'): their coverage of the slope of a linear model with iid normal errors
(y = 1 + 2 x + e, x uniform on (0, 1), median regression, the issue's 200
replicates at n = 100 by default), and their time beside the 'nid' sandwich of
the same fit at n = 1e3 and 1e4 (five covariates), and beside R quantreg's
``summary(rq(y ~ X), se = "rank", alpha = 0.05)`` on the same data through
``Rscript`` when R is installed (its time, and the largest relative difference
of its bounds from ours).

Usage: python benchmarks/bench_quantile_inference.py [--n 500 2000]
       [--replicates 200 100] [--n-boot 200 100] [--n-jobs 1] [--first-seed 0]
       python benchmarks/bench_quantile_inference.py --rank [--n 100]
       [--replicates 200] [--time-n 1000 10000]
"""

import argparse
import shutil
import time
import warnings

import numpy as np
from bench_quantile import rscript  # the same folder
from threadpoolctl import threadpool_limits

from statopt import CensoredMissingQuantileRegressor
from statopt.datasets import make_censored_quantile_data

ALPHA = 0.05

R_RANK_SCRIPT = r"""
suppressMessages(library(quantreg))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[2]); p <- as.integer(args[3])
X <- matrix(readBin(file.path(args[1], "X.bin"), "double", n * p), n, p)
y <- readBin(file.path(args[1], "y.bin"), "double", n)
fit <- rq(y ~ X, tau = 0.5)
elapsed <- system.time(s <- summary(fit, se = "rank", alpha = 0.05))["elapsed"]
cat(elapsed, sprintf("%.17g", s$coefficients[, 2:3]), "\n")
"""


def coverage(n, replicates, n_boot, n_jobs, first_seed=0):
    """Fractions of replicates whose intervals cover each true slope."""
    covered = {"boot": [], "nid": []}
    widths = {"boot": [], "nid": []}
    n_failed = 0
    for seed in range(first_seed, first_seed + replicates):
        X, y, coef = make_censored_quantile_data(
            n, censoring_rate=0.25, missing_rate=0.3, censoring="random",
            random_state=seed)
        model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
        for se in ("boot", "nid"):
            table = model.summary(X, y, alpha=ALPHA, se=se, n_boot=n_boot,
                                  n_jobs=n_jobs, random_state=seed)
            lower = table.iloc[1:, 4].to_numpy()
            upper = table.iloc[1:, 5].to_numpy()
            covered[se].append((lower <= coef) & (coef <= upper))
            widths[se].append(upper - lower)
            if se == "boot":
                n_failed += int(table.header.split("(")[-1].split()[0])
    return ({se: np.mean(v, axis=0) for se, v in covered.items()},
            {se: np.mean(v, axis=0) for se, v in widths.items()}, n_failed)


def rank_coverage(n, replicates, first_seed=0):
    """Coverage and mean width of the rank intervals of the slope (true 2)."""
    covered = {"rank": [], "rank_nid": [], "nid": []}
    widths = {se: [] for se in covered}
    for seed in range(first_seed, first_seed + replicates):
        rng = np.random.default_rng(seed)
        X = rng.uniform(0, 1, (n, 1))
        y = 1 + 2 * X[:, 0] + rng.normal(size=n)
        model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
        for se in covered:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # crossing fits
                lower, upper = model.conf_int(X, y, alpha=ALPHA,
                                              se=se).to_numpy()[1]
            covered[se].append(lower <= 2 <= upper)
            widths[se].append(upper - lower)
    return ({se: np.mean(v) for se, v in covered.items()},
            {se: np.mean(v) for se, v in widths.items()})


def rank_timing(n, n_features=5, repeats=3):
    """Best-of-``repeats`` seconds of se='rank', 'rank_nid' and 'nid' on one fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, n_features))
    y = X @ np.ones(n_features) + rng.standard_t(3, n)
    model = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    times = {}
    for se in ("rank", "rank_nid", "nid"):
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.conf_int(X, y, se=se)
            best = min(best, time.perf_counter() - start)
        times[se] = best
    if shutil.which("Rscript"):
        times["R rank"], bounds = _r_rank(X, y)
        ours = np.asarray(model.conf_int(X, y, se="rank"))
        times["R difference"] = float(np.max(np.abs(ours - bounds)
                                             / np.abs(bounds)))
    return times


def _r_rank(X, y):
    """R quantreg's rank intervals of the same fit: seconds, bounds (terms, 2)."""
    output = rscript(R_RANK_SCRIPT, X, y, X.shape[0], X.shape[1])
    if output is None:
        raise RuntimeError("R quantreg's rank intervals failed (see above).")
    values = np.array(output.split(), dtype=float)
    return values[0], values[1:].reshape(2, -1).T


def main_rank(args):
    n_list = args.n if args.n != [500, 2000] else [100]
    replicates = args.replicates if args.replicates != [200, 100] else [200]
    print("BLAS threads: 1 (threadpoolctl)")
    with threadpool_limits(limits=1):
        for n, reps in zip(n_list, replicates):
            start = time.perf_counter()
            cover, width = rank_coverage(n, reps, args.first_seed)
            elapsed = time.perf_counter() - start
            half = 100 * np.sqrt((1 - ALPHA) * ALPHA / reps)
            print(f"n={n}: {reps} replicates, iid normal errors, binomial se "
                  f"{half:.1f} points, {elapsed:.0f} s")
            for se in cover:
                print(f"  se='{se}': coverage of the slope {100 * cover[se]:.1f}%, "
                      f"mean width {width[se]:.3f}")
        for n in args.time_n:
            times = rank_timing(n)
            print(f"n={n}, 5 covariates + intercept: "
                  + ", ".join(f"se='{se}' {times[se]:.3f} s"
                              for se in ("rank", "rank_nid", "nid"))
                  + f"; rank/nid = {times['rank'] / times['nid']:.1f}")
            if "R rank" in times:
                print(f"  R quantreg se='rank' {times['R rank']:.3f} s = "
                      f"{times['R rank'] / times['rank']:.1f}x ours; largest "
                      f"relative difference of the bounds "
                      f"{times['R difference']:.1e}")
            else:
                print("  R is not installed: its row is skipped")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--replicates", type=int, nargs="+", default=[200, 100])
    parser.add_argument("--n-boot", type=int, nargs="+", default=[200, 100])
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seed of the first replicate (to split a run)")
    parser.add_argument("--rank", action="store_true",
                        help="coverage and time of the rank inversion intervals")
    parser.add_argument("--time-n", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    if args.rank:
        main_rank(args)
        return
    print(f"BLAS threads: 1 (threadpoolctl), bootstrap n_jobs={args.n_jobs}")
    with threadpool_limits(limits=1):
        for n, replicates, n_boot in zip(args.n, args.replicates, args.n_boot):
            start = time.perf_counter()
            cover, width, n_failed = coverage(n, replicates, n_boot, args.n_jobs,
                                                args.first_seed)
            elapsed = time.perf_counter() - start
            half = 100 * np.sqrt((1 - ALPHA) * ALPHA / replicates)
            print(f"n={n}: {replicates} replicates x {n_boot} bootstrap draws "
                  f"({n_failed} failed draws in all), binomial se {half:.1f} points, "
                  f"{elapsed:.0f} s")
            for se in ("boot", "nid"):
                print(f"  se='{se}': coverage of (4.5, -2): "
                      f"{100 * cover[se][0]:.1f}%, {100 * cover[se][1]:.1f}%; "
                      f"mean width {width[se][0]:.3f}, {width[se][1]:.3f}")


if __name__ == "__main__":
    main()
