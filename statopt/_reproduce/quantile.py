"""Quantile regression with censored responses and a covariate missing at random.

The published simulation: Y = 4.5 Z1 - 2 Z2 + r, Z1 ~ N(0,1), Z2 ~ U(-3,3),
r ~ N(0,1); right censoring of Y and Z2 missing at random, at the rates of the
published table, n = 500. Each cell is the bias and the mean squared error of the
slope estimates over the replicates, for our weighted estimator under the two
censoring mechanisms and for the two shortcuts (ignoring censoring, dropping
incomplete rows).
"""

import time
import warnings

import numpy as np

from ..datasets import make_censored_quantile_data
from ..linear_model import CensoredMissingQuantileRegressor
from ._table import format_table, thread_settings

DESCRIPTION = "censored quantile regression with missing covariates: bias and MSE"

SETTINGS = [(0.25, 0.30), (0.50, 0.30), (0.25, 0.50)]
QUANTILES = (0.25, 0.5, 0.75)
TRUE_COEF = np.array([4.5, -2.0])
# Published theta1 at q = 0.5 (bias, MSE), per setting.
PUBLISHED_THETA1_MEDIAN = {
    (0.25, 0.30): (-0.2474, 0.0693),
    (0.50, 0.30): (-2.2552, 5.1272),
    (0.25, 0.50): (-0.6786, 0.5033),
}
PUBLISHED_SECONDS = {500: 23.6, 1000: 130.0, 2000: 835.0}
# coef(rq(foodexp ~ income, tau = c(.1, .25, .5, .75, .9), data = engel)), R 4.2.2
# and quantreg 5.94, printed with 12 digits: (intercept, income) per level.
ENGEL_R_COEFFICIENTS = {
    0.10: (110.141574204948, 0.401765759303),
    0.25: (95.483539634553, 0.474103208193),
    0.50: (81.482247416936, 0.560180551209),
    0.75: (62.396585528964, 0.644014139369),
    0.90: (67.350872080130, 0.686299480372),
}

METHODS = {
    "IPW, random censoring": ("random", {}),
    "IPW, censoring at a fixed quantile": ("fixed_quantile", {}),
    "ignore censoring (random)": ("random", {"censoring": "ignore"}),
    "complete rows only (random)": ("random", {"missing": "drop"}),
}


def _estimates(censoring_rate, missing_rate, n_samples, n_replicates):
    """Slope estimates, shape (method, quantile, replicate, 2)."""
    estimates = np.empty((len(METHODS), len(QUANTILES), n_replicates, 2))
    for replicate in range(n_replicates):
        data = {
            mechanism: make_censored_quantile_data(
                n_samples, censoring_rate=censoring_rate, missing_rate=missing_rate,
                censoring=mechanism, random_state=replicate)
            for mechanism in ("random", "fixed_quantile")
        }
        for m, (mechanism, options) in enumerate(METHODS.values()):
            X, y, _ = data[mechanism]
            # The three levels as one quantile process: the weights are estimated
            # once and each level warm-starts the next.
            model = CensoredMissingQuantileRegressor(quantile=QUANTILES, **options)
            estimates[m, :, replicate] = model.fit(X, y).coef_
    return estimates


def _engel_process(out):
    """The quantile process on Engel's data beside R quantreg's coefficients."""
    try:
        from statsmodels.datasets import engel
    except ImportError:
        out("\nEngel's quantile process skipped: statsmodels (which ships the data) "
            "is not installed (pip install 'statopt[bench]').")
        return
    data = engel.load_pandas().data
    X, y = data[["income"]].to_numpy(), data["foodexp"].to_numpy()
    levels = np.round(np.arange(1, 20) / 20, 2)
    start = time.perf_counter()
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    process = time.perf_counter() - start
    start = time.perf_counter()
    for level in levels:
        CensoredMissingQuantileRegressor(level).fit(X, y)
    separate = time.perf_counter() - start
    rows = []
    for level, (intercept, slope) in ENGEL_R_COEFFICIENTS.items():
        k = int(np.argmin(np.abs(levels - level)))
        rows.append([f"{level:.2f}", f"{model.intercept_[k]:.6f}", f"{intercept:.6f}",
                     f"{model.coef_[k, 0]:.6f}", f"{slope:.6f}"])
    out(f"\nQuantile process on Engel's data (235 rows), {levels.size} levels "
        f"0.05..0.95 in one fit: {1e3 * process:.1f} ms, {separate / process:.1f}x "
        f"faster than {levels.size} separate fits; largest duality gap "
        f"{model.duality_gap_.max():.0e}. Against R quantreg 5.94's "
        "rq(foodexp ~ income, tau = c(.1, .25, .5, .75, .9)):")
    out(format_table(["q", "intercept", "R intercept", "income", "R income"], rows))


def run(quick=False, data_home=None, out=print):
    """Run the simulation and print its tables.

    Parameters
    ----------
    quick : bool, default=False
        50 replicates instead of 500.
    data_home : str or path-like, default=None
        Unused (the experiment is simulated).
    out : callable, default=print
        Where the lines go.
    """
    out(thread_settings())
    n_replicates = 50 if quick else 500
    n_samples = 500
    out(f"n = {n_samples}, {n_replicates} replicates; Gaussian product kernel, "
        "Scott bandwidth, propensity floor 0.01")
    with warnings.catch_warnings():
        # The propensity floor warns on some replicates; the floor is the method.
        warnings.simplefilter("ignore", UserWarning)
        for censoring_rate, missing_rate in SETTINGS:
            estimates = _estimates(censoring_rate, missing_rate, n_samples,
                                   n_replicates)
            errors = estimates - TRUE_COEF
            bias = errors.mean(axis=2)
            mse = (errors**2).mean(axis=2)
            rows = []
            for m, label in enumerate(METHODS):
                for k, quantile in enumerate(QUANTILES):
                    published = "-"
                    if label.startswith("IPW, random") and quantile == 0.5:
                        b, e = PUBLISHED_THETA1_MEDIAN[(censoring_rate, missing_rate)]
                        published = f"{b:+.4f} / {e:.4f}"
                    rows.append([label, f"{quantile:.2f}",
                                 f"{bias[m, k, 0]:+.4f}", f"{mse[m, k, 0]:.4f}",
                                 f"{bias[m, k, 1]:+.4f}", f"{mse[m, k, 1]:.4f}",
                                 published])
            out(f"\n{int(100 * censoring_rate)}% censored, "
                f"{int(100 * missing_rate)}% missing")
            out(format_table(["method", "q", "bias th1", "MSE th1", "bias th2",
                              "MSE th2", "published th1 bias / MSE"], rows))
        out("\nTime of one fit (IPW, 25% censored, 30% missing, q = 0.5):")
        rows = []
        for n, seconds in PUBLISHED_SECONDS.items():
            X, y, _ = make_censored_quantile_data(n, random_state=0)
            start = time.perf_counter()
            CensoredMissingQuantileRegressor().fit(X, y)
            ours = time.perf_counter() - start
            rows.append([str(n), f"{ours:.4f}", f"{seconds:.1f}",
                         f"{seconds / ours:,.0f}x"])
        out(format_table(["n", "ours s", "published s", "speed-up"], rows))
    _engel_process(out)
    out("\nWith independent (random) censoring the weights remove the bias; "
        "censoring at a fixed quantile of Y hides the upper tail, so the upper "
        "quantiles are not identifiable and no weighting can fix them. Ignoring "
        "censoring pulls the fit towards the censoring times; dropping incomplete "
        "rows is biased because Z2 is missing depending on the response.")
