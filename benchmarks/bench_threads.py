"""BLAS at one thread against two, on the products statopt's fits are made of.

Decides statopt's thread policy (``statopt.set_config(blas_threads=...)``). Each
operation is timed at 1 and at 2 BLAS threads (threadpoolctl), alternating, in
one process; the table prints the median of each and the ratio 2 threads / 1
thread (above 1: the second thread slows it down).

- tall-thin (the MM and first-order fits): n = 1e6 rows, p = 10 columns:
  the weighted Gram matrix X'WX and the reduced QR of X;
- small-square (block solves, topic systems, SVDs of factors): p = 50 ... 500:
  a Cholesky solve of a p x p system, and the Gram matrix X'X of a 10p x p matrix.

Usage: python benchmarks/bench_threads.py [--repeat R] [--rows N]
"""

import argparse
import time

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import threadpool_info, threadpool_limits


def median_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cases(rows):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 10))
    w = rng.random(rows)
    yield f"X'WX   n={rows:.0e} p=10", lambda: (X * w[:, None]).T @ X
    yield f"QR     n={rows:.0e} p=10", lambda: np.linalg.qr(X)
    for p in (50, 100, 200, 500):
        A = rng.standard_normal((10 * p, p))
        S = A.T @ A / (10 * p) + np.eye(p)
        b = rng.standard_normal(p)
        yield f"solve  p={p}", lambda S=S, b=b: cho_solve(cho_factor(S), b)
        yield f"Gram   {10 * p}x{p}", lambda A=A: A.T @ A


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    pools = ", ".join(f"{p['internal_api']} {p['num_threads']}"
                      for p in threadpool_info())
    print(f"thread pools at start: {pools}; medians of {args.repeat} runs")
    print(f"{'operation':<24}{'1 thread':>12}{'2 threads':>12}{'2 / 1':>8}")
    for name, function in cases(args.rows):
        timings = {1: [], 2: []}
        for _ in range(args.repeat):
            for threads in (1, 2):  # alternate: both see the same machine load
                with threadpool_limits(threads, user_api="blas"):
                    timings[threads].append(median_time(function, 1))
        one, two = (float(np.median(timings[t])) for t in (1, 2))
        print(f"{name:<24}{one * 1e3:>10.3f}ms{two * 1e3:>10.3f}ms{two / one:>8.2f}")


if __name__ == "__main__":
    main()
