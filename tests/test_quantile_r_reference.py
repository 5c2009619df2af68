"""Standard errors on Engel's data against R quantreg's summary.rq, at five levels.

The reference values were printed by R 4.2.2 with quantreg 5.94 (Debian's
r-cran-quantreg) with 12 significant digits:

    data(engel)
    for (se in c("iid", "nid", "ker")) for (tau in c(.1, .25, .5, .75, .9))
      summary(rq(foodexp ~ income, tau = tau, data = engel), se = se)$coefficients[, 2]

and the rank-inversion intervals (``summary.rq``'s default alpha = 0.1 unless given):

    summary(rq(foodexp ~ income, tau = tau, data = engel), se = "rank",
            alpha = alpha, iid = iid)$coefficients[, 2:3]

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


# (se, alpha): per level, (lower intercept, lower income, upper intercept, upper
# income), at levels where n * tau is not an integer (non-degenerate duals).
R_RANK_INTERVALS = {
    ("rank", 0.1): {
        0.1: (79.887527728, 0.342099241119, 146.188754546, 0.450794099856),
        0.25: (73.7860765452, 0.420329815051, 120.098474542, 0.494328777476),
        0.5: (53.2591515454, 0.487022269383, 114.011557243, 0.601989042132),
        0.75: (32.7448767737, 0.580155162977, 107.313621351, 0.690412733132),
        0.9: (37.1180205851, 0.649368005984, 103.173989832, 0.742229372057),
    },
    ("rank", 0.05): {
        0.25: (67.5662859512, 0.416814898116, 134.919963831, 0.511223936519),
        0.5: (47.09040233, 0.480330148253, 135.188393907, 0.612778649429),
        0.75: (27.8317451773, 0.573887746843, 120.070881112, 0.705156095811),
    },
    # iid = FALSE
    ("rank_nid", 0.1): {
        0.25: (68.7748111104, 0.41843770769, 134.07662159, 0.509021376551),
        0.5: (41.5707489272, 0.483946222948, 136.449026923, 0.602886856031),
        0.75: (26.6496945447, 0.579025446722, 122.37341553, 0.693747236416),
    },
}


@pytest.mark.parametrize("se, alpha", sorted(R_RANK_INTERVALS))
def test_rank_intervals_equal_r_summary_rq(engel, se, alpha):
    X, y = engel
    reference = R_RANK_INTERVALS[se, alpha]
    levels = sorted(reference)
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    intervals = model.conf_int(X, y, se=se, alpha=alpha).to_numpy()
    # Rows: level after level, intercept then income; R lists lower then upper.
    ours = intervals.reshape(len(levels), 2, 2).transpose(0, 2, 1).reshape(-1, 4)
    assert_allclose(ours, np.array([reference[q] for q in levels]), rtol=1e-6)
