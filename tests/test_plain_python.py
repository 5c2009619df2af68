"""NUMBA_DISABLE_JIT=1 runs every kernel as plain Python, with the same results.

This keeps the kernels debuggable and visible to coverage; each case runs a small
fit in two fresh interpreters, one with the JIT disabled.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

FITS = {
    "AdamLogisticRegression": (
        "from statopt import AdamLogisticRegression\n"
        "from statopt.datasets import make_correlated_logistic\n"
        "X, y, _ = make_correlated_logistic(200, 3, random_state=0)\n"
        "m = AdamLogisticRegression(random_state=0, max_iter=5,\n"
        "                           variance_reduction=True).fit(X, y)\n"
        "print(repr(m.coef_.ravel().tolist()))\n"
    ),
    "FITSSVD": (
        "from statopt.decomposition import FITSSVD\n"
        "from statopt.datasets import make_sparse_svd_data\n"
        "X = make_sparse_svd_data('lshm', random_state=0)[0]\n"
        "m = FITSSVD('auto', init='holm', random_state=0).fit(X)\n"
        "print(repr([m.noise_level_, *m.singular_values_.tolist(),\n"
        "            *m.components_.ravel().tolist()]))\n"
    ),
    # CSR input, three classes: the sparse epochs, plain and variance-reduced.
    "AdamLogisticRegression-sparse": (
        "import scipy.sparse as sp\n"
        "from sklearn.datasets import load_iris\n"
        "from statopt import AdamLogisticRegression\n"
        "X, y = load_iris(return_X_y=True)\n"
        "X[X < 2.0] = 0.0\n"
        "m = AdamLogisticRegression(random_state=0, max_iter=4, finish='svrg',\n"
        "                           variance_reduction=True).fit(sp.csr_matrix(X), y)\n"
        "print(repr(m.coef_.ravel().tolist()))\n"
    ),
    # L1 and three classes: the proximal Newton finish's coordinate descent.
    "AdamLogisticRegression-l1": (
        "from sklearn.datasets import load_iris\n"
        "from statopt import AdamLogisticRegression\n"
        "X, y = load_iris(return_X_y=True)\n"
        "m = AdamLogisticRegression(penalty='l1', random_state=0, max_iter=8,\n"
        "                           variance_reduction=True).fit(X, y)\n"
        "print(repr(m.coef_.ravel().tolist()))\n"
    ),
    "CensoredMissingQuantileRegressor": (
        "from statopt import CensoredMissingQuantileRegressor\n"
        "from statopt.datasets import make_censored_quantile_data\n"
        "X, y, _ = make_censored_quantile_data(300, random_state=0)\n"
        "m = CensoredMissingQuantileRegressor(kernel='epanechnikov').fit(X, y)\n"
        "print(repr([m.intercept_, *m.coef_.tolist()]))\n"
    ),
    "TensorCrossModalRegressor": (
        "import numpy as np\n"
        "from statopt import TensorCrossModalRegressor\n"
        "from statopt.datasets import make_cross_modal_data\n"
        "X, y, views, modalities = make_cross_modal_data(150, random_state=0)\n"
        "m = TensorCrossModalRegressor(3, views=views, modalities=modalities,\n"
        "                              max_iter=5, random_state=0).fit(X, y)\n"
        "parts = [m.blend_weights_, m.topic_factors_['text'], *m.view_factors_]\n"
        "print(repr(np.concatenate([p.ravel() for p in parts]).tolist()))\n"
    ),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_kernels_give_the_same_fit_without_jit(name):
    script = "import warnings; warnings.simplefilter('ignore')\n" + FITS[name]
    outputs = []
    for disable in ("1", "0"):
        env = dict(os.environ, NUMBA_DISABLE_JIT=disable)
        result = subprocess.run([sys.executable, "-c", script], env=env,
                                capture_output=True, text=True, check=True)
        outputs.append(np.array(eval(result.stdout)))
    assert_allclose(outputs[0], outputs[1], rtol=1e-9)
