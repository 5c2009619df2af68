"""statopt.set_config / config_context: the BLAS thread policy of every fit."""

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import statopt
import statopt.decomposition._fitssvd as fitssvd_module
import statopt.linear_model._quantile_solver as quantile_solver
import statopt.linear_model._robust_paired as robust_paired
import statopt.multimodal._tensor_regression as tensor_regression
from statopt import (
    FITSSVD,
    AdamLogisticRegression,
    CensoredMissingQuantileRegressor,
    EventAdversarialClassifier,
    RobustPairedClassifier,
    SimilarityAwareMultimodalClassifier,
    TensorCrossModalRegressor,
)
from statopt._utils import blas_thread_limit
from statopt.datasets import make_cross_modal_data, make_sparse_svd_data
from statopt.neural_network._training import MinibatchTrainer


def _blas_threads():
    # Only the BLAS libraries whose threads can be set: one built single-threaded
    # (cvxpy's solvers load such an OpenBLAS) reports 1 whatever the limit.
    with threadpool_limits(2, user_api="blas"):
        settable = {pool["filepath"] for pool in threadpool_info()
                    if pool["user_api"] == "blas" and pool["num_threads"] == 2}
    return sorted({pool["num_threads"] for pool in threadpool_info()
                   if pool["filepath"] in settable})


def _can_set_two_threads():
    if not _blas_threads():
        return False
    with threadpool_limits(2, user_api="blas"):
        return _blas_threads() == [2]


needs_blas = pytest.mark.skipif(
    not _can_set_two_threads(), reason="no BLAS that threadpoolctl sets to 2 threads")


def test_default_and_round_trip():
    assert statopt.get_config() == {"blas_threads": 1}
    try:
        statopt.set_config(blas_threads=None)
        assert statopt.get_config()["blas_threads"] is None
        statopt.set_config()  # omitted: unchanged
        assert statopt.get_config()["blas_threads"] is None
        statopt.set_config(blas_threads=np.int64(3))
        assert statopt.get_config()["blas_threads"] == 3
    finally:
        statopt.set_config(blas_threads=1)
    assert statopt.get_config()["blas_threads"] == 1


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(-5, 64), st.none(), st.booleans(), st.floats(),
                 st.text(max_size=3)))
def test_any_value_is_accepted_or_refused_clearly(value):
    valid = value is None or (isinstance(value, int) and not isinstance(value, bool)
                              and value >= 1)
    for setter in (statopt.set_config,
                   lambda **kw: statopt.config_context(**kw).__enter__()):
        if valid:
            continue
        with pytest.raises(ValueError, match="blas_threads should be None"):
            setter(blas_threads=value)
    if valid:
        with statopt.config_context(blas_threads=value):
            assert statopt.get_config()["blas_threads"] == value
    assert statopt.get_config()["blas_threads"] == 1


def test_context_nests_restores_and_set_config_keeps_context_value():
    with statopt.config_context(blas_threads=2):
        with statopt.config_context(blas_threads=None):
            assert statopt.get_config()["blas_threads"] is None
        assert statopt.get_config()["blas_threads"] == 2
        with pytest.raises(RuntimeError), statopt.config_context(blas_threads=4):
            raise RuntimeError
        assert statopt.get_config()["blas_threads"] == 2
    assert statopt.get_config()["blas_threads"] == 1


def test_context_is_local_to_its_thread():
    inside, entered, release = [], threading.Event(), threading.Event()

    def worker():
        with statopt.config_context(blas_threads=7):
            entered.set()
            release.wait(10)
            inside.append(statopt.get_config()["blas_threads"])

    thread = threading.Thread(target=worker)
    thread.start()
    entered.wait(10)
    seen_here = statopt.get_config()["blas_threads"]
    release.set()
    thread.join(10)
    assert seen_here == 1 and inside == [7]


@needs_blas
@pytest.mark.parametrize("outer, setting, expected",
                         [(2, "default", 1), (2, None, 2), (1, 2, 2), (2, 1, 1)])
def test_helper_applies_the_setting_and_restores(outer, setting, expected):
    with threadpool_limits(outer, user_api="blas"):
        context = (statopt.config_context() if setting == "default"
                   else statopt.config_context(blas_threads=setting))
        with context:
            with blas_thread_limit():
                assert _blas_threads() == [expected]

            @blas_thread_limit()
            def decorated():
                return _blas_threads()

            assert decorated() == [expected]
        assert _blas_threads() == [outer]


def _labels(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] + 0.5 * rng.standard_normal(n) > 0).astype(int)


def _cases():
    X, y = _labels()
    Xm, ym, views, modalities = make_cross_modal_data(80, random_state=0)
    Xs = make_sparse_svd_data("random", n_samples=60, n_features=40,
                              random_state=0)[0]
    survival_X = np.random.default_rng(1).standard_normal((60, 2))
    survival_y = survival_X @ [1.0, -1.0] + np.random.default_rng(2).standard_normal(60)
    return [
        (AdamLogisticRegression(max_iter=20, random_state=0), (X, y),
         (AdamLogisticRegression, "_stochastic_epoch")),
        (CensoredMissingQuantileRegressor(random_state=0), (survival_X, survival_y),
         (quantile_solver, "_solve_quantile")),
        (EventAdversarialClassifier(hidden_layer_sizes=(4,), max_iter=3,
                                    random_state=0), (X, y),
         (MinibatchTrainer, "fit")),
        (FITSSVD(n_components=1, random_state=0), (Xs,),
         (fitssvd_module, "_fit_on_this_thread")),
        (RobustPairedClassifier(radius=0.01), (X, y),
         (robust_paired, "critical_radius_gradient")),
        (SimilarityAwareMultimodalClassifier(representation_dim=2, max_iter=3,
                                             random_state=0), (X, y),
         (MinibatchTrainer, "fit")),
        (TensorCrossModalRegressor(2, views=views, modalities=modalities,
                                   max_iter=3, random_state=0), (Xm, ym),
         (tensor_regression, "TensorState")),
    ]


@needs_blas
@pytest.mark.parametrize("case", range(len(_cases())))
@pytest.mark.parametrize("outer, setting, expected",
                         [(2, "default", 1), (2, None, 2), (1, 2, 2)])
def test_every_fit_runs_under_the_setting(case, outer, setting, expected,
                                          monkeypatch):
    estimator, data, (owner, name) = _cases()[case]
    original = getattr(owner, name)
    seen = []

    def probe(*args, **kwargs):
        seen.append(_blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, probe)
    with threadpool_limits(outer, user_api="blas"):
        context = (statopt.config_context() if setting == "default"
                   else statopt.config_context(blas_threads=setting))
        with context, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            estimator.fit(*data)
        assert _blas_threads() == [outer]
    assert seen and all(threads == [expected] for threads in seen)



def test_a_blas_loaded_after_the_first_fit_is_found():
    # cvxpy's solvers bring an OpenBLAS of their own; imported after statopt's
    # first limited call, it must be among the libraries statopt limits (a scan
    # cached at the first call missed it).
    pytest.importorskip("cvxpy")
    import subprocess
    import sys

    script = """
from threadpoolctl import threadpool_info
from statopt._utils import _thread_pools, blas_thread_limit

with blas_thread_limit():
    pass
import cvxpy  # noqa: F401
print(sorted(p["filepath"] for p in threadpool_info()))
print(sorted(p["filepath"] for p in _thread_pools().info()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, check=True)
    process_libraries, limited_libraries = result.stdout.strip().splitlines()
    assert limited_libraries == process_libraries
