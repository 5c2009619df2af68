"""Completeness probabilities at scale: exact sums against the fast paths.

Design (issue 11): 10 complete N(0,1) covariates and one covariate missing at
random (about 30% of rows) with a probability that depends on the response and two
complete covariates; conditioning variables = response + 10 complete covariates
(11 columns).

1. At n = 2k / 4k / 8k, the exact O(n^2 d) kernel sums (``method='exact'``)
   against ``method='projected'`` and a HistGradientBoostingClassifier: time ratio
   and accuracy (mean and max absolute difference to the exact estimate, mean
   absolute error to the true probability).
2. The whole CensoredMissingQuantileRegressor fit at n = 1e6 (target: < 60 s),
   with the default kernel estimate ('auto') and with ``propensity_model``;
   the time ratio against the fit without reweighting (``missing='drop'``).
3. 6000 rows x 300 conditioning columns (target: < 60 s), alone and in the fit.

And, where the exact estimate is not degenerate (3 conditioning columns), the binned
sums against the exact ones at n = 8k and 20k.

BLAS runs with one thread (threadpoolctl).

Usage: python benchmarks/bench_propensity.py [--max-n N]
"""

import argparse
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from statopt import CensoredMissingQuantileRegressor
from statopt.survival import kernel_propensity

P = 10


def data(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, P + 1))
    beta = np.linspace(-1, 1, P + 1)
    y = 1 + X @ beta + rng.standard_normal(n)
    logit = 0.65 + 0.6 * (y - 1) / np.std(y) - 0.5 * X[:, 0] + 0.4 * X[:, 1] ** 2
    truth = 1 / (1 + np.exp(-logit))
    complete = rng.uniform(size=n) < truth
    X[~complete, P] = np.nan
    return X, y, complete, truth, beta


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def classifier_propensity(complete, Z):
    return classifier().fit(Z, complete).predict_proba(Z)[:, 1]


def classifier():
    return HistGradientBoostingClassifier(max_iter=100, random_state=0)


def propensity_paths(sizes):
    print("1. propensity alone, 11 conditioning columns (BLAS threads: 1)")
    print(f"{'n':>6} {'path':>10} {'seconds':>8} {'vs exact':>9} "
          f"{'mean|-exact|':>12} {'max|-exact|':>11} {'MAE truth':>9} "
          f"{'mean|-complete|':>15}")
    for n in sizes:
        X, y, complete, truth, _ = data(n)
        Z = np.column_stack([y, X[:, :P]])
        kernel_propensity(complete[:100], Z[:100], method="exact")  # compile
        t_exact, exact = timed(kernel_propensity, complete, Z, method="exact",
                               min_probability=1e-9)
        rows = [("exact", t_exact, exact)]
        for method in ("auto", "projected"):
            rows.append((method, *timed(kernel_propensity, complete, Z,
                                        method=method, min_probability=1e-9)))
        rows.append(("HGB", *timed(classifier_propensity, complete, Z)))
        for name, seconds, p in rows:
            gap = np.abs(p - exact)
            print(f"{n:>6} {name:>10} {seconds:>8.3f} {t_exact / seconds:>8.1f}x "
                  f"{gap.mean():>12.4f} {gap.max():>11.4f} "
                  f"{np.abs(p - truth).mean():>9.4f} "
                  f"{np.abs(p - complete).mean():>15.4f}")


def few_columns(sizes):
    print("\n1b. propensity alone, 3 conditioning columns (response, x1, x2): "
          "binned vs exact (BLAS threads: 1)")
    for n in sizes:
        X, y, complete, truth, _ = data(n)
        Z = np.column_stack([y, X[:, :2]])
        t_exact, exact = timed(kernel_propensity, complete, Z, method="exact",
                               min_probability=1e-9)
        t_binned, binned = timed(kernel_propensity, complete, Z, method="binned",
                                 min_probability=1e-9)
        gap = np.abs(binned - exact)
        print(f"   n={n:>6}: exact {t_exact:.3f} s, binned {t_binned:.3f} s "
              f"({t_exact / t_binned:.1f}x); |binned - exact| mean {gap.mean():.1e} "
              f"max {gap.max():.1e}; MAE to truth exact "
              f"{np.abs(exact - truth).mean():.4f}, binned "
              f"{np.abs(binned - truth).mean():.4f}")


def whole_fit(n):
    print(f"\n2. whole fit at n={n}, 10 complete covariates (BLAS threads: 1)")
    X, y, complete, truth, beta = data(n, seed=1)
    print(f"   missing rows: {1 - complete.mean():.3f}")
    fits = {
        "missing='drop'": CensoredMissingQuantileRegressor(missing="drop"),
        "kernel, auto": CensoredMissingQuantileRegressor(),
        "propensity_model=HGB": CensoredMissingQuantileRegressor(
            propensity_model=classifier()),
    }
    base = None
    for name, model in fits.items():
        seconds, model = timed(model.fit, X, y)
        base = base or seconds
        error = np.abs(model.coef_ - beta).max()
        extra = ""
        if model.propensity_ is not None:
            gap = np.abs(model.propensity_ - truth).mean()
            extra = f" propensity MAE to truth {gap:.4f}"
        print(f"   {name:>22}: {seconds:7.2f} s ({seconds / base:5.1f}x drop), "
              f"max|coef - beta| {error:.4f}{extra}")


def many_columns():
    print("\n3. 6000 rows x 300 conditioning columns (BLAS threads: 1)")
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((6000, 300))
    truth = 1 / (1 + np.exp(-(0.5 + Z[:, 0] - Z[:, 1])))
    complete = rng.uniform(size=6000) < truth
    seconds, p = timed(kernel_propensity, complete, Z)
    t_exact, exact = timed(kernel_propensity, complete[:1500], Z[:1500],
                           method="exact", min_probability=1e-9)
    print(f"   auto (projected): {seconds:.2f} s, MAE to truth "
          f"{np.abs(p - truth).mean():.4f} (overall rate: "
          f"{np.abs(complete.mean() - truth).mean():.4f})")
    print(f"   exact on the first 1500 rows: {t_exact:.2f} s, MAE to truth "
          f"{np.abs(exact - truth[:1500]).mean():.4f}; |p - complete| mean "
          f"{np.abs(exact - complete[:1500]).mean():.4f} (degenerate: each row's "
          "own term dominates)")
    X = np.column_stack([Z, rng.standard_normal(6000)])
    y = Z[:, :5].sum(axis=1) + rng.standard_normal(6000)
    X[~complete, 300] = np.nan
    times = {missing: timed(CensoredMissingQuantileRegressor(missing=missing).fit,
                            X, y)[0] for missing in ("drop", "auto")}
    print(f"   whole fit, 301 covariates (300 complete): {times['auto']:.2f} s "
          f"({times['auto'] / times['drop']:.2f}x missing='drop')")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=1_000_000)
    args = parser.parse_args()
    with threadpool_limits(1):
        propensity_paths([2000, 4000, 8000])
        few_columns([8000, 20000])
        whole_fit(args.max_n)
        many_columns()


if __name__ == "__main__":
    main()
