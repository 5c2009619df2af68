"""One compilation per kernel: input layout, dtype and flags never reach numba.

numba compiles a kernel anew for each argument type, and a read-only or
Fortran-ordered array is another type: a first fit on such an array once spent
13 s compiling. Every estimator normalises its input before calling a kernel, so
fitting on odd layouts after an ordinary fit compiles nothing new.
"""

import sys

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import statopt
from statopt.datasets import (
    make_censored_quantile_data,
    make_correlated_logistic,
    make_cross_modal_data,
    make_sparse_svd_data,
)


def _signature_counts():
    counts = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("statopt"):
            continue
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):  # imported into several modules
                function = value.py_func
                counts[f"{function.__module__}.{function.__qualname__}"] = len(
                    value.signatures)
    return counts


def _odd_layouts(array):
    """The same values read-only, Fortran-ordered, as float32 and strided."""
    read_only = np.array(array)
    read_only.flags.writeable = False
    strided = np.repeat(array, 2, axis=0)[::2]
    yield read_only
    yield np.asfortranarray(array)
    if array.ndim == 2:
        yield np.asarray(array, dtype=np.float32)
    yield strided


def _logistic():
    X, y, _ = make_correlated_logistic(300, 4, random_state=0)
    return statopt.AdamLogisticRegression(random_state=0), X, y


def _quantile():
    X, y, _ = make_censored_quantile_data(300, random_state=0)
    return statopt.CensoredMissingQuantileRegressor(), X, y


def _fitssvd():
    X, *_ = make_sparse_svd_data("lshm", random_state=0)
    return statopt.FITSSVD(n_components=1, random_state=0), X, None


def _crossmodal():
    X, y, views, modalities = make_cross_modal_data(200, random_state=0)
    model = statopt.TensorCrossModalRegressor(views=views, modalities=modalities,
                                              random_state=0)
    return model, X, y


@pytest.mark.parametrize("make", [_logistic, _quantile, _fitssvd, _crossmodal],
                         ids=lambda make: make.__name__.strip("_"))
def test_odd_input_layouts_compile_nothing_new(make):
    model, X, y = make()
    model.fit(X, y)
    before = _signature_counts()
    for odd in _odd_layouts(X):
        model.fit(odd, y)
    after = _signature_counts()
    new = {name: after[name] - before.get(name, 0) for name in after
           if after[name] != before.get(name, 0)}
    assert not new, f"new compilations: {new}"
