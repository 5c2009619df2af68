"""Standard errors on Engel's data against R quantreg's summary.rq, at five levels.

The reference values were printed by R 4.2.2 with quantreg 5.94 (Debian's
r-cran-quantreg) with 12 significant digits:

    data(engel)
    for (se in c("iid", "nid", "ker")) for (tau in c(.1, .25, .5, .75, .9))
      summary(rq(foodexp ~ income, tau = tau, data = engel), se = se)$coefficients[, 2]

R is not a test dependency: the values are read here, not recomputed.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from statopt import CensoredMissingQuantileRegressor

LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]
# (intercept, income) standard errors per level.
R_STANDARD_ERRORS = {
    "iid": [(17.8638309088, 0.0160830580216), (15.8619076504, 0.0142806983774),
            (13.2390797181, 0.0119193295293), (10.6710638049, 0.00960730871236),
            (20.5673981916, 0.0185171176416)],
    "nid": [(29.3976787976, 0.0402401676685), (21.3923697518, 0.0290552734828),
            (19.2506602521, 0.0282772096839), (16.3053766028, 0.023239168132),
            (22.3953831455, 0.0284907223757)],
    "ker": [(29.2965433966, 0.0398968801973), (24.1639194919, 0.0295488223199),
            (30.2153158528, 0.0373170354527), (29.1187560219, 0.0362160653556),
            (22.5691951036, 0.0279602328287)],
}


@pytest.fixture(scope="module")
def engel():
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.engel.load_pandas().data
    return data[["income"]], data["foodexp"]


@pytest.mark.parametrize("se", sorted(R_STANDARD_ERRORS))
def test_process_standard_errors_equal_r_summary_rq(engel, se):
    X, y = engel
    model = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    errors = model.bse(X, y, se=se).to_numpy().reshape(len(LEVELS), 2)
    assert_allclose(errors, np.array(R_STANDARD_ERRORS[se]), rtol=1e-6)


@pytest.mark.parametrize("k", range(len(LEVELS)))
def test_single_level_standard_errors_equal_r_summary_rq(engel, k):
    X, y = engel
    model = CensoredMissingQuantileRegressor(LEVELS[k]).fit(X, y)
    for se, values in R_STANDARD_ERRORS.items():
        assert_allclose(model.bse(X, y, se=se).to_numpy(), values[k], rtol=1e-6)
