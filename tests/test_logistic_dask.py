"""AdamLogisticRegression at scale on Dask: streamed fits of Dask arrays (row-aligned
sample weights carried with each chunk), the exact finish summed over the chunks,
and grid search on a distributed cluster."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from statopt import AdamLogisticRegression
from statopt.optim import stream_partial_fit

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


@pytest.fixture(autouse=True)
def synchronous_scheduler():
    with dask.config.set(scheduler="synchronous"):
        yield


def _simulated(n, p, chunk, seed=0):
    """A lazily generated logistic model (nothing computed until a chunk is)."""
    rng = da.random.default_rng(seed)
    X = rng.normal(size=(n, p), chunks=(chunk, p))
    beta = np.linspace(-1.0, 1.0, p)
    y = (rng.random(n, chunks=chunk) < 1.0 / (1.0 + da.exp(-(X @ beta) - 0.5)))
    weights = rng.uniform(0.2, 3.0, size=n, chunks=chunk)
    return X, y.astype(int), weights


def _log_loss(model, X, y, weights=None):
    scores = X @ model.coef_.ravel() + model.intercept_[0]
    return np.average(np.logaddexp(0.0, scores) - y * scores, weights=weights)


def test_import_statopt_does_not_import_dask():
    code = ("import sys, statopt, statopt.optim, statopt.linear_model; "
            "print('dask' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("weights_as", ["dask, other chunks", "numpy"])
def test_stream_carries_the_rows_of_y_and_sample_weight(weights_as):
    """The driver against a hand-written loop over the same chunks in memory: the
    weights reach each chunk row for row, whatever their own chunking."""
    X, y, weights = _simulated(3000, 4, chunk=700)
    X_np, y_np, w_np = dask.compute(X, y, weights)
    w_arg = weights.rechunk(450) if weights_as.startswith("dask") else w_np
    streamed = stream_partial_fit(
        AdamLogisticRegression(random_state=0), X, y, epochs=2, shuffle=False,
        classes=[0, 1], row_params={"sample_weight": w_arg},
    )
    by_hand = AdamLogisticRegression(random_state=0)
    stops = np.cumsum(X.chunks[0])
    for _ in range(2):
        for stop, size in zip(stops, X.chunks[0]):
            rows = slice(stop - size, stop)
            by_hand.partial_fit(X_np[rows], y_np[rows], classes=[0, 1],
                                sample_weight=w_np[rows])
    assert_allclose(streamed.coef_, by_hand.coef_, rtol=1e-12)
    assert streamed.n_iter_ == 2 * len(X.chunks[0])
    unweighted = stream_partial_fit(AdamLogisticRegression(random_state=0), X, y,
                                    epochs=2, shuffle=False, classes=[0, 1])
    assert np.abs(unweighted.coef_ - streamed.coef_).max() > 1e-3


def test_stream_carries_events_to_the_adversarial_network():
    """The per-row ``events`` of EventAdversarialClassifier (the argument that
    dask-ml's Incremental would pass whole) reach each chunk row for row."""
    from statopt import EventAdversarialClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] > 0).astype(int)
    events = rng.integers(0, 3, size=600)
    streamed = stream_partial_fit(
        EventAdversarialClassifier(random_state=0), da.from_array(X, chunks=(200, 4)),
        da.from_array(y, chunks=200), shuffle=False, classes=[0, 1],
        event_labels=[0, 1, 2], row_params={"events": da.from_array(events, 150)},
    )
    by_hand = EventAdversarialClassifier(random_state=0)
    for start in range(0, 600, 200):
        rows = slice(start, start + 200)
        by_hand.partial_fit(X[rows], y[rows], events=events[rows], classes=[0, 1],
                            event_labels=[0, 1, 2])
    assert_allclose(streamed.params_, by_hand.params_, rtol=1e-12)
    shuffled = rng.permutation(events)
    other = stream_partial_fit(
        EventAdversarialClassifier(random_state=0), da.from_array(X, chunks=(200, 4)),
        da.from_array(y, chunks=200), shuffle=False, classes=[0, 1],
        event_labels=[0, 1, 2], row_params={"events": shuffled},
    )
    assert np.abs(other.params_ - streamed.params_).max() > 1e-6


def test_streamed_fit_reaches_the_weighted_optimum():
    """fit on Dask arrays (X, y and sample_weight lazily generated, regenerated at
    every pass) against lbfgs on the same data in memory: the same optimum, and a
    held-out weighted log-loss no worse."""
    X, y, weights = _simulated(60_000, 5, chunk=6_000)
    model = AdamLogisticRegression(random_state=0).fit(X, y, sample_weight=weights)
    X_np, y_np, w_np = dask.compute(X, y, weights)
    optimum = LogisticRegression(tol=1e-10).fit(X_np, y_np, sample_weight=w_np)
    assert _relative(model.coef_, optimum.coef_) < 1e-6
    assert_allclose(model.intercept_, optimum.intercept_, rtol=1e-6)
    X_test, y_test, w_test = dask.compute(*_simulated(20_000, 5, 20_000, seed=1))
    ours = _log_loss(model, X_test, y_test, w_test)
    best = _log_loss(optimum, X_test, y_test, w_test)
    assert ours - best < 1e-9
    assert 1 <= model.n_iter_ == len(model.loss_curve_) < 10


def test_streamed_fit_is_deterministic_and_warm_starts():
    X, y, _ = _simulated(8000, 3, chunk=1000)
    first = AdamLogisticRegression(random_state=3).fit(X, y)
    again = AdamLogisticRegression(random_state=3).fit(X, y)
    assert_allclose(first.coef_, again.coef_, rtol=0, atol=0)
    # A warm start goes straight to the exact finish, which finds the previous
    # fit already at the optimum: one Newton step within max_iter=1, no warning.
    warm = AdamLogisticRegression(random_state=3, warm_start=True, max_iter=1)
    warm.coef_, warm.intercept_, warm.classes_ = first.coef_, first.intercept_, [0, 1]
    warm.fit(X, y)
    assert_allclose(warm.coef_, first.coef_, rtol=1e-6)
    assert warm.n_iter_ == len(warm.loss_curve_) <= 1
    # Without the finish, the streamed epochs are the fit and max_iter counts them.
    warm.set_params(variance_reduction=False)
    with pytest.warns(ConvergenceWarning, match="max_iter=1 epochs"):
        warm.fit(X, y)
    assert np.abs(warm.coef_ - first.coef_).max() < 0.05


def test_streamed_fit_bad_input():
    X, y, weights = _simulated(2000, 3, chunk=500)
    with pytest.raises(ValueError, match="2000 rows"):
        AdamLogisticRegression().fit(X[:1500], y)
    with pytest.raises(ValueError, match="sample_weight has 1999 rows"):
        AdamLogisticRegression().fit(X, y, sample_weight=weights[:-1])
    with pytest.raises(ValueError, match="unknown size"):
        AdamLogisticRegression().fit(X[X[:, 0] > 0], y[:10])
    with pytest.raises(ValueError, match="early_stopping"):
        AdamLogisticRegression(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        AdamLogisticRegression().fit(da.where(X > 2.5, np.nan, X), y)
    # A warm start skips the streamed epochs: the finish's first pass checks X.
    warm = AdamLogisticRegression(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        warm.fit(da.where(X > 2.5, np.nan, X), y)
    with pytest.raises(ValueError, match="only one class"):
        AdamLogisticRegression(max_iter=4).fit(X, y, sample_weight=da.where(
            y == 1, 0.0, weights))
    with pytest.raises(ValueError, match="Unknown label type"):
        AdamLogisticRegression().fit(X, X[:, 0])
    with pytest.raises(TypeError, match="dask.array.Array"):
        stream_partial_fit(AdamLogisticRegression(), np.zeros((4, 2)), [0, 1, 0, 1],
                           classes=[0, 1])
    with pytest.raises(ValueError, match="epochs"):
        stream_partial_fit(AdamLogisticRegression(), X, y, epochs=0, classes=[0, 1])


@settings(max_examples=10, deadline=None)
@given(chunks=st.lists(st.integers(1, 60), min_size=1, max_size=6),
       weight_chunk=st.integers(1, 100), seed=st.integers(0, 1000))
def test_any_chunking_streams_every_row_once(chunks, weight_chunk, seed):
    """Whatever the chunks of X and of the weights, the rows that partial_fit sees
    over an epoch are exactly the rows of X, each with its own y and weight."""
    rng = np.random.default_rng(seed)
    n = sum(chunks)
    X_np = np.column_stack([np.arange(n, dtype=float), rng.normal(size=n)])
    y_np = rng.integers(0, 2, size=n)
    w_np = rng.uniform(size=n)

    class Recorder:
        def __init__(self):
            self.seen = []

        def partial_fit(self, X, y, sample_weight=None, classes=None):
            assert classes == [0, 1]
            self.seen.append((X, y, sample_weight))
            return self

    recorder = stream_partial_fit(
        Recorder(), da.from_array(X_np, chunks=(tuple(chunks), 2)),
        da.from_array(y_np, chunks=7), random_state=seed, classes=[0, 1],
        row_params={"sample_weight": da.from_array(w_np, chunks=weight_chunk)},
    )
    X_seen = np.concatenate([part[0] for part in recorder.seen])
    order = np.argsort(X_seen[:, 0])
    assert_allclose(X_seen[order], X_np)
    assert_allclose(np.concatenate([part[1] for part in recorder.seen])[order], y_np)
    assert_allclose(np.concatenate([part[2] for part in recorder.seen])[order], w_np)


def test_grid_search_on_a_local_cluster_equals_the_local_run():
    """GridSearchCV and cross_val_score through joblib's Dask backend on a
    distributed LocalCluster (2 workers): the same scores as in this process."""
    distributed = pytest.importorskip("distributed")
    joblib = pytest.importorskip("joblib")
    X, y = load_breast_cancer(return_X_y=True)
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), AdamLogisticRegression(random_state=0)),
        {"adamlogisticregression__C": [0.1, 1.0, 10.0],
         "adamlogisticregression__penalty": ["l2", "l1"]},
        cv=3,
    )
    local = grid.fit(X, y).cv_results_
    local_scores = cross_val_score(AdamLogisticRegression(random_state=0),
                                   StandardScaler().fit_transform(X), y, cv=3)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_backend("dask"),
        distributed.get_task_stream(client) as tasks,
    ):
        remote = grid.fit(X, y).cv_results_
        remote_scores = cross_val_score(AdamLogisticRegression(random_state=0),
                                        StandardScaler().fit_transform(X), y, cv=3,
                                        n_jobs=2)
    # The fits ran as tasks on both workers of the cluster.
    assert len(tasks.data) >= 1 and len({task["worker"] for task in tasks.data}) == 2
    assert_allclose(remote["mean_test_score"], local["mean_test_score"], rtol=0)
    assert_allclose(remote_scores, local_scores, rtol=0)


# --------------------------------------------- the exact finish over the chunks
class _PassCounter(dask.callbacks.Callback):
    """Counts the passes over the data (``dask.compute`` calls) made inside it:
    those of the exact finish (graphs of its chunk functions) and the others."""

    def __init__(self):
        super().__init__()
        self.finish = self.other = 0

    def _start(self, dsk):
        if any(str(key).startswith("_chunk_") for key in dsk):
            self.finish += 1
        else:
            self.other += 1


def _uneven_chunks(n_rows):
    """A chunk of one row, then uneven chunks (the last one a remainder)."""
    chunks = [1, 90, 37]
    while sum(chunks) < n_rows:
        chunks.append(min(64, n_rows - sum(chunks)))
    return tuple(chunks)


def _as_dask(X, y, weights, chunks):
    """X chunked by ``chunks`` rows; y and the weights chunked otherwise."""
    return (da.from_array(X, chunks=(chunks, X.shape[1])), da.from_array(y, chunks=71),
            da.from_array(weights, chunks=53))


def _real_data(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X[:300], y[:300]  # ten classes, raw pixels 0..16
    X, y = load_breast_cancer(return_X_y=True)
    return (StandardScaler().fit_transform(X), y) if name == "cancer" else (X, y)


def _relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("name", ["cancer", "cancer raw", "digits"])
@pytest.mark.parametrize("chunks", [100, "uneven"])
def test_dask_fit_reaches_the_in_memory_optimum(name, chunks):
    """The Dask fit (streamed epochs, then the proximal Newton finish summed over
    the chunks) against newton-cg at tol=1e-12 and the in-memory fit, with Dask
    sample weights, on standardised and raw (badly scaled) breast cancer and on
    raw digits (ten classes)."""
    X, y = _real_data(name)
    weights = np.random.default_rng(0).uniform(0.2, 3.0, size=y.size)
    chunks = _uneven_chunks(y.size) if chunks == "uneven" else chunks
    reference = LogisticRegression(solver="newton-cg", tol=1e-12, max_iter=10_000)
    reference.fit(X, y, sample_weight=weights)
    in_memory = AdamLogisticRegression(random_state=0).fit(X, y,
                                                            sample_weight=weights)
    X_dask, y_dask, w_dask = _as_dask(X, y, weights, chunks)
    with _PassCounter() as passes:
        model = AdamLogisticRegression(random_state=0).fit(X_dask, y_dask,
                                                           sample_weight=w_dask)
    for ours in (model, in_memory):
        assert _relative(ours.coef_, reference.coef_) < 1e-6
        assert _relative(ours.intercept_, reference.intercept_) < 1e-6
    assert _relative(model.coef_, in_memory.coef_) < 1e-8
    assert model.loss_curve_[-1] == pytest.approx(in_memory.loss_curve_[-1],
                                                  rel=1e-12)
    # n_iter_ counts the streamed epochs, then the Newton steps.
    epochs = (passes.other - 1) / X_dask.numblocks[0]  # less the pass over y
    newton_steps = model.n_iter_ - epochs
    assert model.n_iter_ == len(model.loss_curve_) and newton_steps >= 1
    # The finish: one pass for the weighted centre, one per objective (the
    # derivatives come with it: one per step when the unit step is accepted)
    # and one that confirms convergence; measured 8 to 14 passes for 6 to 11
    # steps here.
    assert passes.finish <= newton_steps + 5


def _l1_kkt_violation(model, X, y, weights, C):
    """Largest violation of the optimality conditions of ``sum_i s_i loss_i +
    ||W||_1 / C``, relative to ``1 / C``: a gradient entry ``G_kj`` must equal
    ``-sign(W_kj) / C`` where ``W_kj != 0``, be at most ``1 / C`` in size where it
    is 0, and the intercepts' gradient must vanish."""
    scores = X @ model.coef_.T + model.intercept_
    if model.coef_.shape[0] == 1:
        residual = (1.0 / (1.0 + np.exp(-scores[:, 0])) - (y == model.classes_[1]))
        residual = residual[:, None]
    else:
        proba = np.exp(scores - scores.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        residual = proba - (y[:, None] == model.classes_[None, :])
    residual *= weights[:, None]
    gradient = residual.T @ X
    violation = np.where(model.coef_ != 0,
                         np.abs(gradient + np.sign(model.coef_) / C),
                         np.maximum(np.abs(gradient) - 1.0 / C, 0.0))
    return max(violation.max(), np.abs(residual.sum(axis=0)).max()) * C


@pytest.mark.parametrize("name, C", [("cancer", 0.5), ("cancer raw", 10.0),
                                     ("digits", 0.05)])
def test_dask_l1_fit_meets_the_optimality_conditions(name, C):
    """L1 on Dask arrays (uneven chunks with a one-row chunk, Dask weights): the
    optimality conditions of the L1 problem hold to 1e-6, the coefficients
    and their zeros equal the in-memory fit's."""
    X, y = _real_data(name)
    weights = np.random.default_rng(1).uniform(0.2, 3.0, size=y.size)
    X_dask, y_dask, w_dask = _as_dask(X, y, weights, _uneven_chunks(y.size))
    options = dict(penalty="l1", C=C, random_state=0)
    model = AdamLogisticRegression(**options).fit(X_dask, y_dask,
                                                  sample_weight=w_dask)
    in_memory = AdamLogisticRegression(**options).fit(X, y, sample_weight=weights)
    assert _l1_kkt_violation(model, X, y, weights, C) < 1e-6
    assert 0 < np.sum(model.coef_ == 0) < model.coef_.size
    assert_allclose(model.coef_ == 0, in_memory.coef_ == 0)
    assert _relative(model.coef_, in_memory.coef_) < 1e-6


@pytest.mark.parametrize("options", [{"class_weight": "balanced"},
                                     {"fit_intercept": False},
                                     {"variance_reduction": True}])
def test_dask_fit_options_reach_the_in_memory_optimum(options):
    """Class weights from the counts of the whole y (not per chunk), no intercept,
    and a single streamed epoch before the finish: the in-memory optimum."""
    X, y = _real_data("digits")
    y = np.where(y < 3, y, 3)  # unbalanced classes
    X_dask, y_dask, _ = _as_dask(X, y, np.ones(y.size), 80)
    model = AdamLogisticRegression(**options).fit(X_dask, y_dask)
    in_memory = AdamLogisticRegression(**options).fit(X, y)
    assert _relative(model.coef_, in_memory.coef_) < 1e-6
    assert_allclose(model.intercept_, in_memory.intercept_, rtol=1e-6, atol=1e-9)


def test_dask_array_of_csr_chunks_reaches_the_in_memory_optimum():
    """Chunks that are CSR matrices: the finish sums their sparse products."""
    X, y = _real_data("cancer")
    X = np.where(np.abs(X) < 0.8, 0.0, X)  # about half the entries zero
    X_dask = da.from_array(X, chunks=(100, 30)).map_blocks(sp.csr_matrix)
    model = AdamLogisticRegression(random_state=0).fit(X_dask, y)
    in_memory = AdamLogisticRegression(random_state=0).fit(sp.csr_matrix(X), y)
    reference = LogisticRegression(solver="newton-cg", tol=1e-12).fit(X, y)
    assert _relative(model.coef_, in_memory.coef_) < 1e-8
    assert _relative(model.coef_, reference.coef_) < 1e-6


def test_dask_fit_beyond_the_stored_hessian_uses_conjugate_gradients():
    """7 classes x 700 features (4907 parameters, above MAX_NEWTON_PARAMS): the
    finish solves each Newton system by CG on Hessian products summed over the
    chunks and reaches lbfgs's optimum; with L1, which needs the stored Hessian,
    the streamed estimate stands and a ConvergenceWarning says it is not the
    optimum."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 700))
    y = np.argmax(X[:, :7] * 3.0 + rng.gumbel(size=(500, 7)), axis=1)
    X_dask = da.from_array(X, chunks=(150, 350))  # column chunks are merged
    model = AdamLogisticRegression(C=0.05, random_state=0).fit(X_dask, y)
    reference = LogisticRegression(C=0.05, tol=1e-12, max_iter=10_000).fit(X, y)
    assert _relative(model.coef_, reference.coef_) < 1e-6
    with pytest.warns(ConvergenceWarning, match="exact finish on a Dask array"):
        AdamLogisticRegression(penalty="l1", C=0.05, random_state=0).fit(X_dask, y)


def test_dask_fit_warns_when_it_stops_above_the_optimum():
    X, y = _real_data("cancer raw")
    X_dask = da.from_array(X, chunks=(100, 30))
    # Without the finish: the stall is checked against the Newton criterion.
    with pytest.warns(ConvergenceWarning, match="above the optimum"):
        AdamLogisticRegression(variance_reduction=False, random_state=0).fit(X_dask,
                                                                             y)
    # The finish stopped by max_iter (two epochs, then two Newton steps).
    with pytest.warns(ConvergenceWarning, match="stopped at max_iter=4"):
        model = AdamLogisticRegression(max_iter=4, random_state=0).fit(X_dask, y)
    assert model.n_iter_ == len(model.loss_curve_) == 4
    # finish='svrg' needs the rows in memory: warned unless at the optimum.
    with pytest.warns(ConvergenceWarning, match="finish='newton'"):
        AdamLogisticRegression(finish="svrg", random_state=0).fit(X_dask, y)


@settings(max_examples=8, deadline=None)
@given(chunks=st.lists(st.integers(1, 80), min_size=1, max_size=5),
       weight_chunk=st.integers(1, 120), C=st.sampled_from([0.01, 1.0, 100.0]),
       penalty=st.sampled_from(["l2", "l1"]), seed=st.integers(0, 1000))
def test_any_chunking_reaches_the_in_memory_optimum(chunks, weight_chunk, C, penalty,
                                                    seed):
    """Rows of iris (three classes, raw units) drawn at random and cut into any
    chunks, with Dask weights chunked otherwise: the Dask fit ends where the
    in-memory fit of the same rows does."""
    from sklearn.datasets import load_iris

    X_all, y_all = load_iris(return_X_y=True)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y_all), size=sum(chunks), replace=True)
    X_np, y_np = X_all[rows], y_all[rows]
    if np.unique(y_np).size < 2:
        return
    w_np = rng.uniform(0.2, 3.0, size=len(rows))
    model = AdamLogisticRegression(C=C, penalty=penalty, random_state=0)
    in_memory = model.fit(X_np, y_np, sample_weight=w_np)
    coef, intercept = in_memory.coef_.copy(), in_memory.intercept_.copy()
    streamed = AdamLogisticRegression(C=C, penalty=penalty, random_state=0).fit(
        da.from_array(X_np, chunks=(tuple(chunks), 4)),
        da.from_array(y_np, chunks=(tuple(chunks),)),
        sample_weight=da.from_array(w_np, chunks=weight_chunk))
    scale = max(1.0, np.abs(coef).max())
    assert_allclose(streamed.coef_, coef, atol=1e-5 * scale)
    assert_allclose(streamed.intercept_, intercept, atol=1e-5 * scale)
