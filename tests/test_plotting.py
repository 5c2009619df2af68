"""statopt.plotting.plot_quantile_process against the model's tables and statsmodels."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from statopt import CensoredMissingQuantileRegressor
from statopt.plotting import plot_quantile_process

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")
sm = pytest.importorskip("statsmodels.api")

LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]


@pytest.fixture
def engel():
    data = sm.datasets.engel.load_pandas().data
    yield data[["income"]], data["foodexp"]
    plt.close("all")


def test_panels_show_the_process_its_band_and_least_squares(engel):
    X, y = engel
    model = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    axes = plot_quantile_process(model, X, y, se="iid")
    assert [ax.get_title() for ax in axes] == ["intercept", "income"]
    intervals = model.conf_int(X, y, se="iid").to_numpy().reshape(5, 2, 2)
    ols = sm.OLS(y, sm.add_constant(X)).fit()  # the independent reference
    for j, ax in enumerate(axes):
        line = ax.get_lines()[0]
        assert_allclose(line.get_xdata(), LEVELS)
        expected = model.intercept_ if j == 0 else model.coef_[:, 0]
        assert_allclose(line.get_ydata(), expected)
        band = ax.collections[0].get_paths()[0].vertices
        for k, level in enumerate(LEVELS):
            heights = band[np.isclose(band[:, 0], level), 1]
            assert_allclose([heights.min(), heights.max()], intervals[k, j],
                            rtol=1e-12)
        horizontal = [line.get_ydata()[0] for line in ax.get_lines()[1:]]
        assert_allclose(horizontal, [ols.params.iloc[j],
                                     *ols.conf_int(0.05).iloc[j]], rtol=1e-9)


def test_least_squares_uses_the_fit_weights(engel):
    X, y = engel
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    model = CensoredMissingQuantileRegressor(LEVELS).fit(X, y, sample_weight=weights)
    axes = plot_quantile_process(model, X, y, se="nid")
    wls = sm.WLS(y, sm.add_constant(X), weights=weights).fit()
    for j, ax in enumerate(axes):
        horizontal = [line.get_ydata()[0] for line in ax.get_lines()[1:]]
        assert_allclose(horizontal, [wls.params.iloc[j], *wls.conf_int(0.05).iloc[j]],
                        rtol=1e-9)
    axes = plot_quantile_process(model, X, y, se="nid", least_squares=False)
    assert len(axes[0].get_lines()) == 1


def test_given_axes_and_layout(engel):
    X, y = engel
    model = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    _, given = plt.subplots(1, 2)
    axes = plot_quantile_process(model, X, y, axes=given)
    assert list(axes) == list(given)
    axes = plot_quantile_process(model, X, y, n_cols=1)
    assert axes[0].figure.get_axes()[1] is axes[1]


def test_refusals_say_what_to_fix(engel, monkeypatch):
    X, y = engel
    single = CensoredMissingQuantileRegressor(0.5).fit(X, y)
    with pytest.raises(ValueError, match="at least two levels"):
        plot_quantile_process(single, X, y)
    model = CensoredMissingQuantileRegressor(LEVELS).fit(X, y)
    for n_cols in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_cols must be a positive integer"):
            plot_quantile_process(model, X, y, n_cols=n_cols)
    _, one = plt.subplots(1, 1, squeeze=False)
    with pytest.raises(ValueError, match="one Axes per term"):
        plot_quantile_process(model, X, y, axes=one)
    with pytest.raises(ValueError, match="data of the fit"):
        plot_quantile_process(model, X.iloc[:100], y.iloc[:100])
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_quantile_process(model, X, y)


@settings(max_examples=25, deadline=None)
@given(alpha=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.just(0.1)),
       se=st.sampled_from([None, "iid", "nid", "ker", "rank", "boot", "bogus", 3]),
       n_cols=st.one_of(st.integers(-2, 4), st.floats(0, 3), st.booleans()))
def test_any_arguments_give_a_plot_or_a_clear_error(alpha, se, n_cols):
    data = sm.datasets.engel.load_pandas().data.iloc[::3]
    X, y = data[["income"]], data["foodexp"]
    model = CensoredMissingQuantileRegressor([0.25, 0.5, 0.75]).fit(X, y)
    valid_cols = (isinstance(n_cols, int) and not isinstance(n_cols, bool)
                  and n_cols >= 1)
    try:
        axes = plot_quantile_process(model, X, y, alpha=alpha, se=se, n_cols=n_cols,
                                     n_boot=20, random_state=0)
    except (ValueError, TypeError) as error:
        assert str(error)  # says what to fix
        assert not (valid_cols and 0 < alpha < 1 and se in (None, "iid", "nid",
                                                            "ker", "rank", "boot"))
    else:
        assert valid_cols and 0 < alpha < 1
        assert len(axes) == 2
        for ax in axes:
            assert np.isfinite(ax.get_lines()[0].get_ydata()).all()
    finally:
        plt.close("all")
