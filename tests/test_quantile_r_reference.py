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


# Degenerate duals: n * tau an integer (n = 235), so that at every crossing of the
# rank-score walk two duals reach their bounds together and the vertices passed
# depend on which row leaves the basis. R 4.2.2, quantreg 5.94:
#
#     rq.fit.br(cbind(1, engel$income), engel$foodexp, tau = tau, ci = TRUE,
#               interp = TRUE, alpha = 0.1)$coefficients[, 2:3]
#
# (equal to summary(rq(...), se = "rank")), printed with 17 digits, kept to 12.
# Per level: (lower intercept, lower income, upper intercept, upper income).
R_RANK_DEGENERATE = {
    0.2: (65.2069936798, 0.404917617562, 129.071699901, 0.495420732741),
    0.4: (56.9565381376, 0.467951480534, 133.779513368, 0.572337736742),
    0.6: (48.9009079167, 0.544546795839, 117.370418735, 0.633935441856),
    0.8: (23.4453896142, 0.594544833809, 97.449496623, 0.700485900154),
    18 / 235: (86.3736118097, 0.340869019842, 146.000882093, 0.418475085567),
    30 / 235: (73.6987570377, 0.359734162329, 134.289761064, 0.465572967136),
    60 / 235: (70.2056262124, 0.4171604941, 120.974837537, 0.504092619388),
    90 / 235: (67.6362207564, 0.468000530899, 131.198348222, 0.56149756401),
    150 / 235: (53.2876128016, 0.543436189198, 106.566274103, 0.650705570605),
    204 / 235: (28.3653988796, 0.632138484734, 93.8979347609, 0.718534128607),
    # Equal rows cross together here (Engel has two classes of equal rows,
    # 160-162 and 171-172); R's rqbr flips one row per vertex, and so do we.
    2 / 235: (116.319110756, -np.inf, 131.081921318, 0.296214974019),
    12 / 235: (98.339590514, 0.343320542742, 131.124482098, 0.394319432301),
    126 / 235: (49.8830569732, 0.52515486547, 106.783207293, 0.609455711469),
}
# (R's -.Machine$double.xmax is written -inf: no vertex before the cutoff.)
#
# Levels where R differs: of 234 levels k / 235, all equal R to 1e-6 but these
# and k = 5, 116, 123-125, 127, 128, 130, 131. Each time R's rqbr flips one of
# the equal rows 160-162 (171-172 at k = 5) at their crossing, the first in its
# tableau, and keeps the others on the wrong side of the fit (ours crosses them
# next, one at a time); its later statistics are then not those of the
# regression rank scores (k = 120: -1.1016 past 0.59882 where HiGHS'
# rank scores give -1.3123) or its vertices differ (k = 132). With the three
# rows separated (R_RANK_SEPARATED_EQUAL_ROWS below) R equals ours at all 234.
R_RANK_DEGENERATE_UNMATCHED = {
    120 / 235: ((51.7454046177, 0.499541618692, 112.30826174, 0.601585677783),
                "upper income bound 1.3e-3 off R's (0.600833 vs 0.601586): R "
                "leaves equal rows 161-162 on the wrong side"),
    132 / 235: ((50.920637324, 0.526866205779, 113.566696981, 0.620885574633),
                "lower income bound 1.4e-2 off R's (0.534102 vs 0.526866): R "
                "leaves equal rows 161-162 on the wrong side"),
}
# Engel with the equal rows made distinct, foodexp of rows 161, 162 and 172
# raised by 0.001, 0.002 and 0.001 (R 4.2.2, quantreg 5.94):
#
#     y <- engel$foodexp; y[c(161, 162, 172)] <- y[c(161, 162, 172)] +
#         c(0.001, 0.002, 0.001)
#     rq.fit.br(cbind(1, engel$income), y, tau = tau, ci = TRUE,
#               alpha = 0.1)$coefficients[, 2:3]
#
# n tau is still an integer (degenerate duals) at each level; these are levels
# where R differs on the original data.
R_RANK_SEPARATED_EQUAL_ROWS = {
    5 / 235: (108.013049011, 0.286618217634, 133.98619209, 0.346643765776),
    120 / 235: (51.7454046177, 0.499541618692, 112.30826174, 0.600833424485),
    127 / 235: (50.5171673678, 0.527199376956, 106.905165567, 0.610508502633),
    132 / 235: (50.920637324, 0.522280747563, 113.566696981, 0.620885574633),
}


def _engel_rank_bounds(engel, level):
    X, y = engel
    model = CensoredMissingQuantileRegressor(level).fit(X, y)
    # R lists lower then upper, each intercept then income.
    return model.conf_int(X, y, se="rank", alpha=0.1).to_numpy().T.ravel()


@pytest.mark.parametrize("level", sorted(R_RANK_DEGENERATE))
def test_rank_intervals_on_degenerate_duals_equal_r(engel, level):
    assert_allclose(_engel_rank_bounds(engel, level), R_RANK_DEGENERATE[level],
                    rtol=1e-6)


@pytest.mark.parametrize("level", [
    pytest.param(level, marks=pytest.mark.xfail(reason=reason, strict=True))
    for level, (_, reason) in sorted(R_RANK_DEGENERATE_UNMATCHED.items())
])
def test_rank_intervals_on_degenerate_duals_unmatched_levels(engel, level):
    assert_allclose(_engel_rank_bounds(engel, level),
                    R_RANK_DEGENERATE_UNMATCHED[level][0], rtol=1e-6)


@pytest.mark.parametrize("level", sorted(R_RANK_SEPARATED_EQUAL_ROWS))
def test_rank_intervals_with_equal_rows_separated_equal_r(engel, level):
    X, y = engel
    y = y.to_numpy().copy()
    y[[160, 161, 171]] += [0.001, 0.002, 0.001]
    model = CensoredMissingQuantileRegressor(level).fit(X, y)
    ours = model.conf_int(X, y, se="rank", alpha=0.1).to_numpy().T.ravel()
    assert_allclose(ours, R_RANK_SEPARATED_EQUAL_ROWS[level], rtol=1e-6)


# Stack loss (21 rows of integer data: many ties), R 4.2.2, quantreg 5.94:
#
#     summary(rq(stack.loss ~ stack.x, tau = tau), se = "rank")$coefficients[, 2:3]
#
# Per level: lower bounds of (intercept, Air.Flow, Water.Temp, Acid.Conc.), then
# the upper bounds. Compared to 1e-6 of each interval's width (R's upper
# Acid.Conc. bounds at 0.2 and 0.25 are -1e-16 and -4.6e-16: zero up to rounding).
R_STACKLOSS_RANK = {
    0.15: (-55.6287079126, 0.285837376823, 0.778591361619, -0.709973335222,
           -29.700134905, 0.830685385359, 2.18280135617, 0.305016754008),
    0.2: (-56.6085261719, 0.342858539419, 0.607294896525, -0.651961730497,
          -26.4729488317, 0.966817000477, 2.24861144815, -9.50275639698e-17),
    0.25: (-53.8427029923, 0.248227847016, 0.316787433813, -0.579472039284,
           -36.0, 0.966780003192, 2.19066543203, -4.57966997658e-16),
    0.35: (-51.937489118, 0.468425704064, 0.373177120756, -0.251028609417,
           -30.263026106, 0.93335215252, 1.56208012632, -0.00367504112848),
    0.4: (-41.5062220045, 0.508636836899, 0.409106956088, -0.207697827815,
          -30.1229012874, 0.983912360849, 1.36475661903, -0.0336893310713),
    0.45: (-41.7324173346, 0.52529420096, 0.368719115553, -0.209985125175,
           -29.7956250551, 1.07207259235, 1.47392822015, -0.0359401592814),
    0.65: (-54.610595082, 0.666995010517, -0.122127535539, -0.348468957188,
           -13.6100061695, 1.09523440413, 2.26385730221, 0.0123306381809),
    0.75: (-61.1630272732, 0.533354597072, -0.537566462971, -0.517344359437,
           8.48441479376, 1.2057673994, 1.78248638778, 0.0533373236692),
    0.85: (-63.0077960414, 0.484953909538, -0.574887918014, -1.05725958667,
           48.3958222262, 1.22254362289, 1.72455771572, 0.219254649814),
}
# Levels where two or more distinct rows cross at the same point (integer
# data). R's rqbr flips only the row whose computed crossing is extreme, which
# the last bits of its rounding decide (0.3, Air.Flow at 0.5: rows 7, 6, 16, 18,
# 13 computed 0.5 + 1.3e-15, 1.1e-15, 4e-16, -1.3e-15, -1.6e-15; 0.5, Air.Flow
# at 0.7: rows 18 and 17 computed 0.7 + 1.1e-14 and 0.7 + 3.7e-15), and keeps the
# others on the wrong side of the fit: its statistic past the crossing is not
# that of the regression rank scores (0.3: 0.9589 where HiGHS gives 1.5364; 0.5:
# 1.3977 where HiGHS gives 1.4553). Ours takes all the rows crossing there at
# once (and equals the inversion from scratch, tests/test_quantile_rank.py); on
# the response moved by i * 1e-4 (no ties, R_STACKLOSS_JITTERED) R equals ours.
# The reason gives the measured difference in shares of the width.
R_STACKLOSS_RANK_UNMATCHED = {
    0.3: ((-52.2588305551, 0.3013598938, 0.327576557198, -0.398395822269,
           -30.7050767705, 0.96961197444, 1.85969486848, 0.00917375572792),
          "lower Air.Flow bound 6.1% (0.26064 vs 0.30136) and upper Acid.Conc. "
          "bound 2.9% of the width off R's: five rows cross at once"),
    0.5: ((-41.6197316615, 0.5127786649, 0.321823541275, -0.21348289922,
           -29.6775351546, 1.14117115144, 1.41089812423, -0.0289134093162),
          "lower Air.Flow bound 1.6% of the width off R's (0.52307 vs 0.51278): "
          "rows 17 and 18 cross at once"),
    0.55: ((-54.2287248375, 0.614583241942, 0.308741112433, -0.378939029046,
            -28.8093906311, 1.16912657142, 2.20256075284, 0.064717900123),
           "upper Water.Temp bound 3.9% of the width off R's (2.1282 vs 2.2026): "
           "rows 17 and 18 cross at once"),
    0.6: ((-54.5851729428, 0.641543325162, 0.335116018123, -0.4113199025,
           -22.9389730445, 1.09695673261, 2.18571987702, 0.0170161396958),
          "lower intercept bound 0.4% of the width off R's (-54.458 vs -54.585): "
          "rows 11 and 18 cross at once"),
    0.7: ((-62.6292888309, 0.593478753178, -0.472594649658, -0.42988469128,
           -12.8609362139, 1.23063957207, 2.41710953057, 0.0617848361759),
          "lower Water.Temp bound 3.6% of the width off R's (-0.5764 vs -0.4726): "
          "rows 17 and 18 cross at once"),
    0.8: ((-61.1734612166, 0.494031917013, -0.599521427192, -0.68918508295,
           54.9885950341, 1.15784185845, 2.02589267712, 0.0906326930463),
          "upper Air.Flow bound 13.4% of the width off R's (1.2468 vs 1.1578): "
          "rows 18 and 19 cross at once"),
}
# The same levels with the ties broken, R 4.2.2, quantreg 5.94:
#
#     y <- stack.loss + (1:21) * 1e-4
#     rq.fit.br(cbind(1, stack.x), y, tau = tau, ci = TRUE,
#               alpha = 0.1)$coefficients[, 2:3]
R_STACKLOSS_JITTERED = {
    0.3: (-52.2579736451, 0.260509013319, 0.327540255888, -0.39838094911,
          -30.6993325126, 0.969652647336, 1.85993358663, 0.0211154821029),
    0.5: (-41.6161016626, 0.522992908221, 0.321837908094, -0.2135069154,
          -29.6706465959, 1.14113703326, 1.41093648951, -0.0289192056365),
    0.55: (-54.2251083697, 0.614491432715, 0.308756128085, -0.378971544798,
           -28.8012463529, 1.16908726985, 2.1282393765, 0.0646728536263),
    0.6: (-54.6107168942, 0.641504179924, 0.335140054843, -0.411253091045,
          -22.9272214873, 1.09691033543, 2.18577828045, 0.0327255852591),
    0.7: (-62.6226371686, 0.593195927823, -0.576348858121, -0.429943155494,
          -12.8544620009, 1.23054387644, 2.41695583164, 0.0617699344721),
    0.8: (-61.1660128725, 0.493843237434, -0.599528173085, -0.689081668619,
          54.9937274473, 1.24669295903, 2.02576794248, 0.0906782193012),
}


def _assert_rank_bounds_equal(X, y, level, reference):
    """Our 90% 'rank' bounds (lower ones, then upper ones) against R's, to 1e-6
    of each interval's width."""
    model = CensoredMissingQuantileRegressor(level).fit(X, y)
    ours = model.conf_int(X, y, se="rank", alpha=0.1).to_numpy().T.ravel()
    reference = np.asarray(reference)
    half = reference.size // 2
    width = np.tile(reference[half:] - reference[:half], 2)
    assert_allclose((ours - reference) / width, 0.0, atol=1e-6)


def _stackloss_check(level, reference, jitter=0.0):
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.stackloss.load_pandas().data
    X = data[["AIRFLOW", "WATERTEMP", "ACIDCONC"]]
    y = data["STACKLOSS"].to_numpy() + np.arange(1, 22) * jitter
    _assert_rank_bounds_equal(X, y, level, reference)


@pytest.mark.parametrize("level", sorted(R_STACKLOSS_RANK))
def test_rank_intervals_on_stackloss_equal_r(level):
    _stackloss_check(level, R_STACKLOSS_RANK[level])


@pytest.mark.parametrize("level", [
    pytest.param(level, marks=pytest.mark.xfail(reason=reason, strict=True))
    for level, (_, reason) in sorted(R_STACKLOSS_RANK_UNMATCHED.items())
])
def test_rank_intervals_on_stackloss_unmatched_levels(level):
    _stackloss_check(level, R_STACKLOSS_RANK_UNMATCHED[level][0])


@pytest.mark.parametrize("seed", range(6))
def test_rank_intervals_on_stackloss_do_not_depend_on_row_order(seed):
    # R's bounds do not depend on the order of the rows (checked on three
    # orders). At 0.75 two basis duals reach a bound together at a crossing of
    # the upper Acid.Conc. walk; the one leaving is chosen as rqbr does, not by
    # its place in the basis (which moved that bound by 2.5% of the width).
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.stackloss.load_pandas().data
    order = np.random.default_rng(seed).permutation(21)
    X = data[["AIRFLOW", "WATERTEMP", "ACIDCONC"]].to_numpy()[order]
    y = data["STACKLOSS"].to_numpy(dtype=float)[order]
    for level in (0.25, 0.4, 0.75):
        _assert_rank_bounds_equal(X, y, level, R_STACKLOSS_RANK[level])


@pytest.mark.parametrize("level", sorted(R_STACKLOSS_JITTERED))
def test_rank_intervals_on_stackloss_without_ties_equal_r(level):
    _stackloss_check(level, R_STACKLOSS_JITTERED[level], jitter=1e-4)


# The same degenerate levels at alpha = 0.05 and with iid = FALSE ('rank_nid'),
# from summary(rq(foodexp ~ income, tau = tau, data = engel), se = "rank",
# iid = iid, alpha = alpha)$coefficients[, 2:3] (R 4.2.2, quantreg 5.94).
R_RANK_DEGENERATE_OTHER = {
    ("rank", 0.05): {
        0.2: (60.8322719394, 0.374612629142, 136.080916013, 0.495858827367),
        0.4: (54.9996890094, 0.465377411255, 139.132747214, 0.572450348606),
        0.6: (44.1281007236, 0.534647901012, 120.2422086, 0.64715276452),
        0.8: (18.2035032882, 0.593909258764, 111.966019803, 0.715373689561),
    },
    ("rank_nid", 0.1): {
        0.2: (60.8064317288, 0.396433933491, 136.154923478, 0.495604913284),
        0.4: (55.1066284586, 0.467938414485, 136.987439453, 0.57237382972),
        0.6: (43.981851884, 0.536723603957, 120.38327885, 0.634718195024),
        0.8: (18.3177491939, 0.594304190014, 110.446683278, 0.700536224292),
    },
    ("rank_nid", 0.05): {
        0.2: (52.0223975136, 0.374089487223, 142.872135842, 0.496049423197),
        0.4: (54.7903052272, 0.464085441329, 144.796038786, 0.578637857802),
        0.6: (42.2996029492, 0.534552037666, 131.585077741, 0.649766817651),
        0.8: (15.3173979212, 0.590028497479, 122.979251211, 0.716531319604),
    },
}


@pytest.mark.parametrize("se, alpha", sorted(R_RANK_DEGENERATE_OTHER))
def test_rank_intervals_on_degenerate_duals_other_settings_equal_r(engel, se, alpha):
    X, y = engel
    reference = R_RANK_DEGENERATE_OTHER[se, alpha]
    levels = sorted(reference)
    model = CensoredMissingQuantileRegressor(levels).fit(X, y)
    intervals = model.conf_int(X, y, se=se, alpha=alpha).to_numpy()
    ours = intervals.reshape(len(levels), 2, 2).transpose(0, 2, 1).reshape(-1, 4)
    assert_allclose(ours, np.array([reference[q] for q in levels]), rtol=1e-6)


# A small simulated data set with equal rows: 30 rows rounded to 2 decimals
# (rng = np.random.default_rng(0); x = uniform(0, 10); y = 1 + x / 2 + t_3),
# then rows 3, 6, 6, 12 and 18 repeated. R 4.2.2, quantreg 5.94:
#
#     rq.fit.br(cbind(1, x), y, tau = tau, ci = TRUE, alpha = 0.1)$coefficients[, 2:3]
SIMULATED_X = [
    6.37, 2.7, 0.41, 0.17, 8.13, 9.13, 6.07, 7.29, 5.44, 9.35, 8.16, 0.03, 8.57,
    0.34, 7.3, 1.76, 8.63, 5.41, 3.0, 4.23, 0.28, 1.24, 6.71, 6.47, 6.15, 3.84,
    9.97, 9.81, 6.86, 6.5, 0.41, 9.13, 9.13, 0.03, 5.41,
]
SIMULATED_Y = [
    2.92, 2.91, 0.42, 4.63, 6.17, 5.36, 5.26, 3.27, 2.49, 7.24, 4.11, 0.53, 6.36,
    -1.27, 6.21, 2.8, 5.34, 2.84, 1.39, 5.3, 0.66, 2.71, 0.8, 5.45, 6.18, 7.09,
    5.36, 6.08, 5.62, 5.2, 0.42, 5.36, 5.36, 0.53, 2.84,
]
# (lower intercept, lower slope, upper intercept, upper slope). With the equal
# rows taken together (before rows crossed one at a time) 2 of these 11 levels
# equalled R; now 7 do.
R_SIMULATED_RANK = {
    0.1: (-9.98420894157, 0.386731257864, 0.23572490444, 0.890526117581),
    0.2: (-1.49176889394, 0.419984887688, 0.321747865895, 0.728450547572),
    0.5: (0.212199549046, 0.381517871693, 2.15416495708, 0.679515652653),
    0.7: (0.519255564534, 0.135872425965, 4.58945562162, 0.739038198261),
    0.75: (1.0525871869, 0.1489975884, 4.66138973123, 0.735906286439),
    0.8: (1.32404731057, 0.145562635863, 6.57099526934, 0.63844634635),
    0.9: (2.18527168905, -0.119463561751, 32.3848576585, 0.743031298055),
}
# Where R keeps equal rows on the wrong side of the fit after flipping one of
# them (n tau = 14 at 0.4: R's lower and upper intercept bounds, -0.969 and
# 1.999, lie where the statistic from scratch rejects, 2.35 at -0.9 and -2.14 at
# 1.9, cutoff 1.69). Differences in shares of the width.
R_SIMULATED_RANK_UNMATCHED = {
    0.25: ((-1.3736691863, 0.44377874763, 0.412140098748, 0.730346060609),
           "upper slope bound 18% of the width off R's (0.6789 vs 0.7303)"),
    0.3: ((-1.2291819818, 0.439050598815, 0.518132351433, 0.661183052852),
          "lower intercept bound 17% of the width off R's (-0.932 vs -1.229)"),
    0.4: ((-0.969319825923, 0.370957330602, 1.99869794099, 0.67221388757),
          "all four bounds 27% to 49% of the width off R's, whose intervals "
          "hold values the test rejects"),
    0.6: ((0.361619922723, 0.366515280884, 3.98668930595, 0.709250688239),
          "lower intercept bound 4% of the width off R's (0.498 vs 0.362)"),
}


@pytest.mark.parametrize("level, reference", [
    pytest.param(level, reference, id=str(level))
    for level, reference in sorted(R_SIMULATED_RANK.items())
] + [
    pytest.param(level, reference, id=str(level),
                 marks=pytest.mark.xfail(reason=reason, strict=True))
    for level, (reference, reason) in sorted(R_SIMULATED_RANK_UNMATCHED.items())
])
def test_rank_intervals_on_simulated_repeated_rows_equal_r(level, reference):
    _assert_rank_bounds_equal(np.array(SIMULATED_X)[:, None], np.array(SIMULATED_Y),
                              level, reference)
