"""Exact quantile regression on a lazily generated Dask array (issue 18, part quantile).

Design: p=10 uniform(-1, 1) covariates plus intercept, y = 1 + X beta +
(1 + 0.5 |x1|) e with e standard normal, q = 0.5; chunks of ``--chunk`` rows,
each generated from its own seed when a pass needs it (nothing is stored).

Printed, each in its own subprocess so that its peak memory (RSS, sampled every
20 ms by psutil, and the kernel's ru_maxrss) is its own:

1. the Dask fit at ``--n`` rows: time, time per 1e6 rows, peak RSS, certified
   duality gap, MM maps and the passes over the rows (counted by wrapping the
   map over chunks);
2. the in-memory fit on the first ``--check-n`` rows (computed into numpy): time
   per 1e6 rows (the issue's target: the Dask fit's is at most 1.5x), peak RSS;
3. when ``--n`` > ``--check-n``, the Dask fit on those rows too; then the relative
   check-loss gap between the Dask and in-memory fits on them (target <= 1e-9).

Wall and CPU time (all threads of the process) are both printed: on a shared
machine the wall-time ratio moves with the load.

Targets of the issue: n = 1e8 with peak memory under 4 GiB, objective gap <= 1e-9
on a 1e7 subsample, a certified gap, time per 1e6 rows <= 1.5x the in-memory
fit's at 1e7. BLAS runs on one thread (threadpoolctl) in every subprocess; the
Dask scheduler is ``--scheduler`` (threads: ``--workers`` threads).

With ``--censored`` the target is right-censored (about 25%, times rounded to
0.01): the Dask fit adds the Kaplan-Meier reduction and inverse censoring
weights, and the check loss is weighted by the in-memory fit's ``weights_``.

``--persisted`` adds the Dask fit of the check rows held in memory as chunks
(``dask.persist``): the cost of the reductions without generating the data.

Usage: python benchmarks/bench_scale_quantile.py [--n N] [--check-n N] [--chunk C]
       [--scheduler threads|synchronous] [--workers W] [--quantile Q] [--censored]
       [--persisted]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

P = 10
SEED = 2026


def generate_block(index, rows, censored=False):
    """Rows of chunk ``index``: X (rows, P), y, then the event when ``censored``.

    Censored: y is the smaller of the response and a N(3, 2) censoring time
    (about a quarter censored), rounded to 0.01 (a few thousand distinct times).
    """
    rng = np.random.default_rng([SEED, index])
    X = rng.random((rows, P))
    X *= 2.0
    X -= 1.0
    beta = np.random.default_rng(SEED).uniform(-1, 1, P)
    block = np.empty((rows, P + 1 + censored))
    block[:, :P] = X
    y = 1.0 + X @ beta + (1.0 + 0.5 * np.abs(X[:, 0])) * rng.standard_normal(rows)
    if censored:
        limit = rng.normal(3.0, 2.0, rows)
        block[:, P + 1] = y <= limit
        y = np.round(np.minimum(y, limit), 2)
    block[:, P] = y
    return block


def lazy_data(n, chunk, censored=False):
    """X and the target of ``n`` rows as Dask arrays built from ``generate_block``.

    The target is y, or the pair (event, y) when ``censored``.
    """
    import dask
    import dask.array as da

    sizes = [chunk] * (n // chunk) + ([n % chunk] if n % chunk else [])
    call = dask.delayed(generate_block)
    data = da.concatenate([da.from_delayed(call(i, rows, censored),
                                           shape=(rows, P + 1 + censored),
                                           dtype=np.float64)
                           for i, rows in enumerate(sizes)])
    if censored:
        return data[:, :P], (data[:, P + 1], data[:, P])
    return data[:, :P], data[:, P]


class PeakRSS:
    """Largest resident set size seen while the block runs (psutil, every 20 ms)."""

    def __enter__(self):
        import psutil

        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.running = True

        def sample():
            while self.running:
                self.peak = max(self.peak, self.process.memory_info().rss)
                time.sleep(0.02)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def warm_up():
    """Compile (or load) the kernels of both paths on a small problem."""
    import dask
    import dask.array as da

    from statopt import CensoredMissingQuantileRegressor
    from statopt.linear_model import _quantile_dask

    X, y = lazy_data(20_000, 4000)
    size = _quantile_dask.DASK_SAMPLE_SIZE
    _quantile_dask.DASK_SAMPLE_SIZE = 2000  # the path of large data
    with dask.config.set(scheduler="synchronous"):
        CensoredMissingQuantileRegressor().fit(X, y)
    _quantile_dask.DASK_SAMPLE_SIZE = size
    CensoredMissingQuantileRegressor().fit(X.compute(), y.compute())
    del da


def run_role(args):
    """One measurement, in this process; prints a JSON line."""
    import dask
    from threadpoolctl import threadpool_limits

    from statopt import CensoredMissingQuantileRegressor
    from statopt.survival import make_survival_target

    warm_up()
    result = {}
    # Passes over the rows, counted by wrapping the map over chunks (the
    # Kaplan-Meier reduction of a censored target is one more).
    from statopt.linear_model import _quantile_dask

    passes = []
    map_blocks = _quantile_dask._map_blocks

    def counted(blocks, function, *args, **kwargs):
        passes.append(function.__name__.strip("_").removesuffix("_chunk"))
        return map_blocks(blocks, function, *args, **kwargs)

    _quantile_dask._map_blocks = counted
    with threadpool_limits(1):
        if args.role in ("dask", "persisted"):
            X, y = lazy_data(args.rows, args.chunk, args.censored)
            config = ({"scheduler": "synchronous"} if args.scheduler == "synchronous"
                      else {"scheduler": "threads", "num_workers": args.workers})
            if args.role == "persisted":  # chunks in memory: no generation
                with dask.config.set(**config):
                    X, y = dask.persist(X, y)
            with dask.config.set(**config), PeakRSS() as rss:
                start, cpu = time.perf_counter(), time.process_time()
                model = CensoredMissingQuantileRegressor(args.quantile).fit(X, y)
                result["time"] = time.perf_counter() - start
                result["cpu"] = time.process_time() - cpu
        else:
            X, y = lazy_data(args.rows, args.chunk, args.censored)
            with dask.config.set(scheduler="synchronous"):
                X, y = dask.compute(X, y)
            if args.censored:
                y = make_survival_target(y[0].astype(bool), y[1],
                                         allow_negative=True)
            with PeakRSS() as rss:
                start, cpu = time.perf_counter(), time.process_time()
                model = CensoredMissingQuantileRegressor(args.quantile).fit(X, y)
                result["time"] = time.perf_counter() - start
                result["cpu"] = time.process_time() - cpu
            q = args.quantile
            time_, weights = (y["time"], model.weights_) if args.censored else (y, 1.0)
            losses = {}
            for name, coefficients in json.loads(args.compare or "{}").items():
                r = time_ - X @ np.asarray(coefficients[1:]) - coefficients[0]
                losses[name] = float(np.sum(weights * np.where(r >= 0, q * r,
                                                               (q - 1) * r)))
            r = time_ - model.predict(X)
            losses["memory"] = float(np.sum(weights * np.where(r >= 0, q * r,
                                                               (q - 1) * r)))
            result["losses"] = losses
    result.update(
        coefficients=[model.intercept_, *model.coef_.tolist()],
        gap=model.duality_gap_, n_iter=model.n_iter_, passes=passes,
        peak_rss=rss.peak,
        maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print(json.dumps(result))


def spawn(args, role, rows, compare=None):
    command = [sys.executable, __file__, "--role", role, "--rows", str(rows),
               "--chunk", str(args.chunk), "--scheduler", args.scheduler,
               "--workers", str(args.workers), "--quantile", str(args.quantile)]
    if args.censored:
        command.append("--censored")
    if compare:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(compare, f)
        command += ["--compare-file", f.name]
    output = subprocess.run(command, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    if output.returncode:
        sys.exit(f"{role} at n={rows} failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def gib(value):
    return f"{value / 2**30:.2f} GiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7)
    parser.add_argument("--check-n", type=float, default=1e7)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--scheduler", choices=["threads", "synchronous"],
                        default="threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quantile", type=float, default=0.5)
    parser.add_argument("--censored", action="store_true",
                        help="a censored target (inverse censoring weights)")
    parser.add_argument("--persisted", action="store_true",
                        help="also fit the check rows persisted in memory as "
                        "Dask chunks (the cost of the reductions without "
                        "generating the chunks at each pass)")
    parser.add_argument("--role", choices=["dask", "persisted", "memory"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--compare-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        args.compare = None
        if args.compare_file:
            with open(args.compare_file) as f:
                args.compare = f.read()
        run_role(args)
        return
    n, check_n = int(args.n), int(min(args.check_n, args.n))
    threads = ("synchronous (1 thread)" if args.scheduler == "synchronous"
               else f"threads x {args.workers}")
    print(f"p={P}, q={args.quantile}, chunks of {args.chunk} rows, dask scheduler "
          f"{threads}, BLAS 1 thread (threadpoolctl)"
          + (", censored target (about 25%)" if args.censored else ""))
    full = spawn(args, "dask", n)
    print(f"dask fit, n={n:.0e}: {full['time']:.2f} s = "
          f"{full['time'] / n * 1e6:.3f} s per 1e6 rows (CPU {full['cpu']:.2f} s); "
          "peak RSS "
          f"{gib(full['peak_rss'])} (ru_maxrss {gib(full['maxrss'])}); duality gap "
          f"{full['gap']:.2g}; {full['n_iter']} MM maps; passes: "
          + ", ".join((["kaplan-meier"] if args.censored else []) + full["passes"]))
    compare = {"dask": full["coefficients"]}
    if check_n < n:
        sub = spawn(args, "dask", check_n)
        print(f"dask fit, n={check_n:.0e} (the check rows): {sub['time']:.2f} s "
              f"(CPU {sub['cpu']:.2f} s); peak RSS {gib(sub['peak_rss'])}; duality "
              f"gap {sub['gap']:.2g}; {len(sub['passes'])} passes")
        compare = {"dask": sub["coefficients"]}
    if args.persisted:
        held = spawn(args, "persisted", check_n)
        print(f"dask fit on the {check_n:.0e} check rows persisted as chunks: "
              f"{held['time']:.2f} s = {held['time'] / check_n * 1e6:.3f} s per 1e6 "
              f"rows (CPU {held['cpu']:.2f} s); peak RSS {gib(held['peak_rss'])}")
    memory = spawn(args, "memory", check_n, compare)
    per_memory = memory["time"] / check_n * 1e6
    per_dask = full["time"] / n * 1e6
    print(f"in-memory fit, n={check_n:.0e}: {memory['time']:.2f} s = "
          f"{per_memory:.3f} s per 1e6 rows (CPU {memory['cpu']:.2f} s); peak RSS "
          f"{gib(memory['peak_rss'])} "
          f"(ru_maxrss {gib(memory['maxrss'])}; data computed before the fit); "
          f"duality gap {memory['gap']:.2g}; {memory['n_iter']} MM maps")
    losses = memory["losses"]
    gap = (losses["dask"] - losses["memory"]) / losses["memory"]
    print(f"relative check-loss gap, dask - memory, on the {check_n:.0e} check "
          f"rows: {gap:.2g} (target <= 1e-9: "
          f"{'met' if abs(gap) <= 1e-9 else 'NOT met'})")
    ratio = per_dask / per_memory
    cpu_ratio = (full["cpu"] / n) / (memory["cpu"] / check_n)
    print(f"CPU time per 1e6 rows, dask / memory: {cpu_ratio:.2f}x (all threads; "
          "less sensitive than wall time to a shared machine's load)")
    print(f"time per 1e6 rows, dask / memory: {ratio:.2f}x (target <= 1.5x: "
          f"{'met' if ratio <= 1.5 else 'NOT met'}); dask peak RSS "
          f"{gib(full['peak_rss'])} (target < 4 GiB: "
          f"{'met' if full['peak_rss'] < 4 * 2**30 else 'NOT met'})")


if __name__ == "__main__":
    main()
