"""EventAdversarialClassifier: reversal, routing, errors, real digits."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

from statopt import EventAdversarialClassifier
from statopt.datasets import make_event_shortcut

SMALL = dict(hidden_layer_sizes=(8,), discriminator_layer_sizes=(6,),
             learning_rate=1e-2, random_state=0)


def _data(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    events = rng.randint(3, size=n)
    return X, y, events


def _fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def _head_losses(network, theta, X, labels, events):
    """Mean detector and discriminator losses, from logits by scipy."""
    detector, discriminator = network.forward(theta, X)
    n = X.shape[0]
    return (-log_softmax(detector, axis=1)[np.arange(n), labels].mean(),
            -log_softmax(discriminator, axis=1)[np.arange(n), events].mean())


def test_reversal_gradient_is_detector_minus_lambda_discriminator():
    # The extractor's update direction against central differences of the two losses
    # computed apart: dL_d/dtheta_f - lambda dL_e/dtheta_f, and it changes with lambda.
    X, y, events = _data(40)
    clf = _fit(EventAdversarialClassifier(max_iter=3, alpha=0.0, **SMALL), X, y,
               events=events)
    network, theta = clf.network_, clf.params_.copy()
    trunk = network._blocks[0]
    reversal = network.heads[1][0].layers[0]
    coefs = [np.full(40, 1 / 40)] * 2
    gradients = {}
    for lam in (0.0, 1.0):
        reversal.weight = lam
        gradients[lam] = network._loss_gradient(theta, X, [y, events], coefs, 0.0)[1]
    step, coordinates = 1e-6, range(trunk.start, trunk.start + 12)
    for lam in (0.0, 1.0):
        for index in coordinates:
            plus, minus = theta.copy(), theta.copy()
            plus[index] += step
            minus[index] -= step
            d_plus, e_plus = _head_losses(network, plus, X, y, events)
            d_minus, e_minus = _head_losses(network, minus, X, y, events)
            expected = ((d_plus - d_minus) - lam * (e_plus - e_minus)) / (2 * step)
            assert gradients[lam][index] == pytest.approx(expected, rel=1e-5,
                                                          abs=1e-8)
    difference = gradients[1.0][trunk] - gradients[0.0][trunk]
    assert np.linalg.norm(difference) > 1e-3 * np.linalg.norm(gradients[0.0][trunk])
    # The heads descend their own losses whatever lambda is.
    np.testing.assert_allclose(gradients[1.0][trunk.stop:],
                               gradients[0.0][trunk.stop:])


def test_adversary_weight_zero_equals_no_events():
    # Without reversal the discriminator cannot touch the extractor or the detector:
    # the detector is the network fitted without events.
    X, y, events = _data()
    plain = _fit(EventAdversarialClassifier(max_iter=20, tol=0.0, **SMALL), X, y)
    blind = _fit(EventAdversarialClassifier(max_iter=20, tol=0.0,
                                            adversary_weight=0.0, **SMALL),
                 X, y, events=events)
    np.testing.assert_allclose(plain.predict_proba(X), blind.predict_proba(X),
                               rtol=1e-10, atol=1e-12)
    assert plain.events_ is None and len(plain.network_.heads) == 1


def test_events_none_matches_mlp_on_the_same_problem():
    # The no-adversary network is an MLP: scikit-learn's MLPClassifier with the same
    # architecture reaches the same training accuracy on separable data.
    from sklearn.neural_network import MLPClassifier

    X, y, _ = _data(200)
    ours = _fit(EventAdversarialClassifier(max_iter=300, **SMALL), X, y)
    mlp = MLPClassifier((8,), learning_rate_init=1e-2, max_iter=300, random_state=0)
    mlp = _fit(mlp, X, y)
    assert abs(ours.score(X, y) - mlp.score(X, y)) < 0.05


def test_ramp_schedule_ends_near_full_weight():
    X, y, events = _data()
    clf = _fit(EventAdversarialClassifier(max_iter=30, tol=0.0,
                                          adversary_schedule="ramp",
                                          adversary_weight=0.5, **SMALL),
               X, y, events=events)
    final = clf.network_.heads[1][0].layers[0].weight
    # lambda (2 / (1 + exp(-10 p)) - 1) at the last step, p just below 1.
    assert 0.49 < final < 0.5


def test_shortcut_reversal_beats_no_reversal_on_unseen_events():
    # Real digits: the event columns predict the label in training only. Reversal
    # must transfer better to label-independent and unseen events.
    data = make_event_shortcut(random_state=0)
    params = dict(learning_rate=1e-2, batch_size=64, max_iter=100, random_state=0)
    plain = _fit(EventAdversarialClassifier(**params), data.X_train, data.y_train)
    reversed_ = _fit(EventAdversarialClassifier(adversary_weight=0.3, **params),
                     data.X_train, data.y_train, events=data.events_train)
    for split in ("a", "b"):
        X, y = data[f"X_test_{split}"], data[f"y_test_{split}"]
        assert reversed_.score(X, y) > plain.score(X, y) + 0.02
    # Reversal fools its own discriminator (near the 0.2 chance of 5 events on
    # test A, where it is right above 0.9 without reversal) ...
    blind = _fit(EventAdversarialClassifier(adversary_weight=0.0, **params),
                 data.X_train, data.y_train, events=data.events_train)
    leak_blind = blind.event_leakage(data.X_test_a, data.events_test_a)
    leak = reversed_.event_leakage(data.X_test_a, data.events_test_a)
    assert leak_blind.discriminator > 0.9
    assert leak.discriminator < leak.chance + 0.1
    # ... while a fresh probe still reads the events off the features (the issue's
    # warning): the event columns are not erased, only no longer used.
    assert leak.accuracy > 0.9 and leak_blind.accuracy > 0.9
    assert 0.0 < leak.chance < 0.3
    assert plain.event_leakage(data.X_test_a, data.events_test_a).discriminator is None
    assert reversed_.event_leakage(data.X_test_b,
                                   data.events_test_b).discriminator is None


def test_unlabelled_rows_train_only_the_discriminator():
    # Without reversal (lambda = 0) and in full batches, rows with y = -1 reach only
    # the discriminator: the detector is the one fitted on the labelled rows alone.
    X, y, events = _data()
    y_partial = y.copy()
    y_partial[::3] = -1
    kept = y_partial != -1
    params = dict(max_iter=20, tol=0.0, batch_size=200, **SMALL)
    alone = _fit(EventAdversarialClassifier(**params), X[kept], y[kept])
    semi = _fit(EventAdversarialClassifier(adversary_weight=0.0, **params),
                X, y_partial, events=events)
    assert semi.classes_.tolist() == [0, 1]
    np.testing.assert_allclose(semi.predict_proba(X), alone.predict_proba(X),
                               rtol=1e-8, atol=1e-10)
    # With reversal they move the features.
    moved = _fit(EventAdversarialClassifier(adversary_weight=1.0, **params),
                 X, y_partial, events=events)
    assert not np.allclose(moved.transform(X), semi.transform(X))
    with pytest.raises(ValueError, match="pass events"):
        EventAdversarialClassifier(**SMALL).fit(X, y_partial)


def test_metadata_routing_splits_events_with_rows():
    X, y, events = _data(90)
    seen = []

    class Recording(EventAdversarialClassifier):
        def fit(self, X, y, events=None, sample_weight=None):
            seen.append((len(X), events))
            return super().fit(X, y, events=events, sample_weight=sample_weight)

    with config_context(enable_metadata_routing=True):
        clf = Recording(max_iter=5, tol=0.0, **SMALL).set_fit_request(events=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_val_score(clf, X, y, cv=GroupKFold(3),
                                     params={"events": events, "groups": events})
            search = GridSearchCV(clf, {"adversary_weight": [0.0, 0.5]},
                                  cv=GroupKFold(3)).fit(X, y, groups=events,
                                                        events=events)
    assert scores.shape == (3,)
    # Each training fold of GroupKFold lacks one event, and its events are split
    # with its rows.
    for n_rows, fold_events in seen[:3]:
        left = np.unique(fold_events)
        assert left.size == 2 and len(fold_events) == n_rows
        assert n_rows == np.sum(np.isin(events, left))
    assert all(len(fold_events) == n_rows for n_rows, fold_events in seen)
    assert search.best_params_["adversary_weight"] in (0.0, 0.5)


def test_views_give_one_branch_per_modality():
    X, y, _ = _data()
    clf = _fit(EventAdversarialClassifier(views=[[0, 1], [2, 3], [4]],
                                          modalities=["text", "image", "text"],
                                          max_iter=5, tol=0.0, **SMALL), X, y)
    assert clf.modalities_ == ["text", "image"]
    assert clf.transform(X).shape == (X.shape[0], 16)
    np.testing.assert_array_equal(clf.transform(X, modality="image"),
                                  clf.transform(X)[:, 8:])
    with pytest.raises(ValueError, match="Unknown modality 'audio'"):
        clf.transform(X, modality="audio")
    # Without hidden layers a branch passes its columns through; a view named
    # 'all' still reads only its own columns.
    bare = _fit(EventAdversarialClassifier(hidden_layer_sizes=(), views=[[3, 4], [0]],
                                           modalities=["all", "b"], max_iter=2,
                                           tol=0.0, random_state=0), X, y)
    np.testing.assert_array_equal(bare.transform(X, modality="all"), X[:, [3, 4]])
    np.testing.assert_array_equal(bare.transform(X, modality="b"), X[:, [0]])


def test_pickle_and_determinism():
    X, y, events = _data()
    clf = _fit(EventAdversarialClassifier(max_iter=10, **SMALL), X, y, events=events)
    again = _fit(clone(clf), X, y, events=events)
    np.testing.assert_array_equal(clf.params_, again.params_)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.decision_function(X),
                                  clf.decision_function(X))


@pytest.mark.parametrize(
    "events, message",
    [
        (np.zeros(119), "one label per row"),
        (np.zeros(120), "single event"),
        (np.r_[np.nan, np.arange(119.0)], "NaN"),
        (np.array([None] + ["a"] * 119, dtype=object), "None or NaN"),
    ],
)
def test_bad_events(events, message):
    X, y, _ = _data()
    with pytest.raises(ValueError, match=message):
        EventAdversarialClassifier(**SMALL).fit(X, y, events=events)


def test_bad_views():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="modalities"):
        EventAdversarialClassifier(views=[[0, 1]], modalities=["a", "b"]).fit(X, y)
    with pytest.raises(ValueError, match=r"views\[1\]"):
        EventAdversarialClassifier(views=[[0, 1], [1, 2]]).fit(X, y)
    with pytest.raises(ValueError, match=r"views\[0\]"):
        EventAdversarialClassifier(views=[[0, 9]]).fit(X, y)


@settings(max_examples=25, deadline=None)
@given(n_rows=st.integers(4, 30), n_events=st.integers(-3, 3),
       bad=st.sampled_from([np.nan, np.inf, None]), seed=st.integers(0, 100))
def test_property_bad_input_gives_clear_errors(n_rows, n_events, bad, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_rows, 3))
    y = np.arange(n_rows) % 2
    events = rng.randint(2, size=n_rows + n_events)
    X_caller = X.copy()
    clf = EventAdversarialClassifier(hidden_layer_sizes=(3,), max_iter=2, tol=0.0,
                                     random_state=seed)
    if bad is not None:
        X[rng.randint(n_rows), rng.randint(3)] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            clf.fit(X, y)
        return
    if n_events != 0:
        with pytest.raises(ValueError, match="one label per row"):
            clf.fit(X, y, events=events)
        return
    _fit(clf, X, y, events=np.arange(n_rows) % 2)
    np.testing.assert_array_equal(X, X_caller)
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :2])


def test_trainer_watches_the_detector_loss():
    # head_losses splits the summed objective into the heads' losses, recomputed
    # here from the logits by scipy; the trainer is given the detector's.
    X, y, events = _data(60)
    clf = _fit(EventAdversarialClassifier(max_iter=2, alpha=0.0, batch_size=60,
                                          **SMALL), X, y, events=events)
    network, theta = clf.network_, clf.params_
    head_losses = []
    coefs = [np.full(60, 1 / 60)] * 2
    loss, _ = network._loss_gradient(theta, X, [y, events], coefs, 0.0,
                                     head_losses=head_losses)
    detector, discriminator = _head_losses(network, theta, X, y, events)
    np.testing.assert_allclose(head_losses, [detector, discriminator], rtol=1e-12)
    assert loss == pytest.approx(detector + discriminator, rel=1e-12)


@settings(max_examples=8, deadline=None)
@given(agreement=st.floats(0.0, 1.0), scale=st.floats(0.0, 5.0),
       test_size=st.floats(0.1, 0.5), seed=st.integers(0, 1000),
       signatures=st.sampled_from(["onehot", "random"]))
def test_property_make_event_shortcut(agreement, scale, test_size, seed, signatures):
    data = make_event_shortcut(agreement=agreement, event_scale=scale,
                               signatures=signatures, test_size=test_size,
                               random_state=seed)
    columns = data.event_columns
    assert data.X_train.shape[1] == 69 and columns.tolist() == list(range(64, 69))
    # Training and test-A events write one signature per event: event_scale in
    # their own column (onehot) or a unit vector times event_scale (random).
    for X, events in [(data.X_train, data.events_train),
                      (data.X_test_a, data.events_test_a)]:
        for event in np.unique(events):
            rows = X[events == event][:, columns]
            np.testing.assert_allclose(rows, np.tile(rows[0], (len(rows), 1)))
            np.testing.assert_allclose(np.linalg.norm(rows[0]), scale, atol=1e-12)
            if signatures == "onehot":
                np.testing.assert_allclose(rows[0], scale * np.eye(5)[event])
    # Unseen events: unit signatures times the scale, pixels shared with test A.
    norms = np.linalg.norm(data.X_test_b[:, columns], axis=1)
    np.testing.assert_allclose(norms, scale, atol=1e-12)
    assert set(np.unique(data.events_test_b)) <= set(range(5, 10))
    np.testing.assert_array_equal(data.X_test_a[:, :64], data.X_test_b[:, :64])
    if agreement == 1.0:
        np.testing.assert_array_equal(data.events_train, data.y_train // 2)


def test_make_event_shortcut_agreement_rate():
    # The share of training rows whose event is y // 2: agreement plus the uniform
    # draws that hit it by chance, 0.9 + 0.1 / 5.
    data = make_event_shortcut(random_state=0)
    share = np.mean(data.events_train == data.y_train // 2)
    assert abs(share - 0.92) < 3 * np.sqrt(0.92 * 0.08 / data.y_train.size)
    with pytest.raises(ValueError, match="agreement"):
        make_event_shortcut(agreement=1.5)


def test_pipeline_routes_events_and_refuses_unrequested():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, events = _data()
    with config_context(enable_metadata_routing=True):
        clf = EventAdversarialClassifier(max_iter=5, tol=0.0, **SMALL)
        with pytest.raises(ValueError, match="events"):
            make_pipeline(StandardScaler(), clf).fit(X, y, events=events)
        pipe = make_pipeline(StandardScaler(), clf.set_fit_request(events=True))
        _fit(pipe, X, y, events=events)
    fitted = pipe[-1]
    assert fitted.events_.tolist() == [0, 1, 2]
    assert len(fitted.network_.heads) == 2


def test_early_stopping_scores_the_detector_on_labelled_rows(capsys):
    X, y, events = _data(200)
    y_partial = y.copy()
    y_partial[::4] = -1
    clf = _fit(EventAdversarialClassifier(max_iter=30, early_stopping=True,
                                          batch_size=16, verbose=1, **SMALL),
               X, y_partial, events=events)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert all(0.0 <= score <= 1.0 for score in clf.validation_scores_)
    assert max(clf.validation_scores_) > 0.7
    assert "validation score" in capsys.readouterr().out


@pytest.mark.parametrize("schedule, factor", [("inverse", 11.0 ** -0.75),
                                              ("constant", 1.0)])
def test_learning_rate_decay_is_applied(schedule, factor, capsys):
    # The reference code's decay was dead code; here the rate after the last step
    # is eta / (1 + a p)^b at p = 1 (a = 10, b = 0.75), read from the verbose lines.
    X, y, events = _data()
    _fit(EventAdversarialClassifier(max_iter=6, tol=0.0, batch_size=40, verbose=1,
                                    learning_rate_schedule=schedule, **SMALL),
         X, y, events=events)
    lines = capsys.readouterr().out.strip().splitlines()
    rates = [float(line.split("learning rate = ")[1].split(",")[0]) for line in lines]
    assert len(rates) == 6
    assert rates[-1] == pytest.approx(1e-2 * factor, rel=5e-3)
    assert (rates[0] > rates[-1]) == (schedule == "inverse")


def test_labels_minus_one_and_one_get_a_message_that_names_the_convention():
    # y = -1 marks unlabelled rows; a {-1, 1} target leaves one class, and the
    # error must say why rather than only that one class is left.
    X = np.random.RandomState(0).standard_normal((40, 3))
    y = np.where(X[:, 0] > 0, 1, -1)
    with pytest.raises(ValueError, match=r"recode labels such as \{-1, 1\}"):
        EventAdversarialClassifier(max_iter=2, random_state=0).fit(X, y)


# ------------------------------------------------- warm_start and partial_fit

STREAM = dict(hidden_layer_sizes=(8,), discriminator_layer_sizes=(6,),
              learning_rate=1e-2, batch_size=32, adversary_schedule="ramp",
              random_state=0)


@pytest.mark.parametrize("n_epochs", [1, 3])
def test_partial_fit_epochs_reproduce_fit(n_epochs):
    # Same seed, same rows: each call draws the permutation fit's epoch draws, so
    # parameters, losses and step counts agree exactly only if partial_fit keeps
    # Adam's moments, the inverse-decay and ramp step counts between calls.
    X, y, events = _data()
    y = y.copy()
    y[::7] = -1
    fitted = _fit(EventAdversarialClassifier(max_iter=n_epochs, **STREAM), X, y,
                  events=events)
    streamed = EventAdversarialClassifier(max_iter=n_epochs, **STREAM)
    for _ in range(n_epochs):
        streamed.partial_fit(X, y, events=events, classes=[0, 1])
    np.testing.assert_allclose(streamed.params_, fitted.params_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    assert (streamed.n_iter_, streamed.t_) == (n_epochs, 4 * n_epochs)
    np.testing.assert_array_equal(streamed.events_, [0, 1, 2])


def _mlp_blocks(theta, sizes):
    """Split a flat one-hidden-layer vector into MLPClassifier's coefs/intercepts."""
    blocks, start = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights = theta[start : start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        blocks.append((weights, theta[start : start + n_out]))
        start += n_out
    assert start == theta.size
    return [w for w, _ in blocks] + [b for _, b in blocks]


def test_partial_fit_chunks_match_mlp_classifier():
    # Without events the network is an MLP: plain SGD with one minibatch per
    # chunk must follow scikit-learn's MLPClassifier.partial_fit chunk by chunk,
    # including a chunk that lacks a class and the per-chunk L2 penalty.
    from sklearn.neural_network import MLPClassifier

    rng = np.random.RandomState(1)
    X = rng.normal(size=(120, 5))
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    y[80:][y[80:] == 2] = 1
    chunks = [slice(0, 40), slice(40, 80), slice(80, 120)]
    ours = EventAdversarialClassifier(
        hidden_layer_sizes=(8,), optimizer="sgd", learning_rate=0.1,
        learning_rate_schedule="constant", alpha=1e-2, batch_size=40, random_state=0)
    reference = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd",
                              learning_rate_init=0.1, momentum=0.0, alpha=1e-2,
                              batch_size=40, shuffle=False, random_state=0)
    ours.partial_fit(X[chunks[0]], y[chunks[0]], classes=[0, 1, 2])
    reference.partial_fit(X[chunks[0]], y[chunks[0]], classes=[0, 1, 2])
    # Start the reference from our parameters (in place: its optimiser holds them).
    for mine, theirs in zip(_mlp_blocks(ours.params_, (5, 8, 3)),
                            reference.coefs_ + reference.intercepts_):
        theirs[...] = mine
    for rows in chunks[1:]:
        ours.partial_fit(X[rows], y[rows])
        reference.partial_fit(X[rows], y[rows])
    for mine, theirs in zip(_mlp_blocks(ours.params_, (5, 8, 3)),
                            reference.coefs_ + reference.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_[1:], reference.loss_curve_[1:],
                               rtol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))


def test_warm_start_sgd_two_short_fits_equal_one_long_fit():
    # Stateless full-batch SGD at a constant rate: continuing from the fitted
    # parameters for k epochs twice is 2k epochs (a re-initialisation would not be).
    X, y, events = _data()
    common = dict(hidden_layer_sizes=(8,), discriminator_layer_sizes=(6,),
                  optimizer="sgd", learning_rate=0.05,
                  learning_rate_schedule="constant", batch_size=120, tol=0.0,
                  random_state=0)
    long = _fit(EventAdversarialClassifier(max_iter=6, **common), X, y,
                events=events)
    warm = EventAdversarialClassifier(max_iter=3, warm_start=True, **common)
    _fit(_fit(warm, X, y, events=events), X, y, events=events)
    np.testing.assert_allclose(warm.params_, long.params_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(warm.loss_curve_, long.loss_curve_, rtol=1e-12)
    assert (warm.n_iter_, warm.t_) == (6, 6)


def test_warm_start_adam_restarts_the_optimiser_like_mlp_classifier():
    # MLPClassifier's warm start keeps the weights and builds a new optimiser:
    # the second fit is Adam from zero moments at the fitted parameters, computed
    # here by hand on the network's full-batch gradient.
    X, y, _ = _data()
    clf = EventAdversarialClassifier(hidden_layer_sizes=(8,), learning_rate=0.02,
                                     learning_rate_schedule="constant",
                                     batch_size=120, max_iter=4, tol=0.0,
                                     warm_start=True, random_state=0)
    _fit(clf, X, y)
    theta = clf.params_.copy()
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, 5):
        _, gradient = clf.network_.loss_gradient(theta, X, [y], l2=clf.alpha / 120)
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient**2
        theta -= 0.02 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    _fit(clf, X, y)
    np.testing.assert_allclose(clf.params_, theta, rtol=1e-9, atol=1e-12)
    assert len(clf.loss_curve_) == clf.n_iter_ == 8


@pytest.mark.parametrize("change, message", [
    (dict(y=lambda y: np.where(y == 1, 2, y)), "classes of the fitted"),
    (dict(events=lambda e: e + 5), "not in events_"),
    (dict(events=lambda e: None), "fitted with events"),
    (dict(X=lambda X: X[:, :4]), "set warm_start=False"),
    (dict(params=dict(hidden_layer_sizes=(9,))), "hidden_layer_sizes"),
    (dict(params=dict(views=[[0, 1], [2, 3, 4]])), "views"),
])
def test_warm_start_refuses_a_changed_problem(change, message):
    X, y, events = _data(60)
    clf = _fit(EventAdversarialClassifier(max_iter=2, warm_start=True, **SMALL), X,
               y, events=events)
    before = clf.params_.copy()
    X2 = change.get("X", lambda X: X)(X)
    y2 = change.get("y", lambda y: y)(y)
    events2 = change.get("events", lambda e: e)(events)
    clf.set_params(**change.get("params", {}))
    with pytest.raises(ValueError, match=message) as error:
        _fit(clf, X2, y2, events=events2)
    assert "warm_start=False" in str(error.value)
    np.testing.assert_array_equal(clf.params_, before)
    _fit(clf.set_params(warm_start=False), X2, y2, events=events2)


def test_partial_fit_refusals():
    X, y, events = _data(60)
    clf = EventAdversarialClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first"):
        clf.partial_fit(X, y, events=events)
    with pytest.raises(ValueError, match=r"labels \[1\] not in the classes"):
        clf.partial_fit(X, y, events=events, classes=[0, 2])
    with pytest.raises(ValueError, match="must not hold -1"):
        clf.partial_fit(X, y, events=events, classes=[-1, 0, 1])
    with pytest.raises(ValueError, match="early_stopping=False"):
        clone(clf).set_params(early_stopping=True).partial_fit(X, y, classes=[0, 1])
    clf.partial_fit(X[:30], y[:30], events=events[:30], classes=[0, 1],
                    event_labels=[0, 1, 2, 3])
    np.testing.assert_array_equal(clf.events_, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="pass events on every call"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[7\] not in events_"):
        clf.partial_fit(X, y, events=np.where(events == 0, 7, events))
    with pytest.raises(ValueError, match="differs from classes_"):
        clf.partial_fit(X, y, events=events, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="call fit"):
        clf.partial_fit(X[:, :3], y, events=events)
    without = EventAdversarialClassifier(**SMALL).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="built without events"):
        without.partial_fit(X, y, events=events)
    # A chunk holding one event is fine once the events are known.
    clf.partial_fit(X[events == 1], y[events == 1], events=events[events == 1])
    assert clf.n_iter_ == 2


def test_partial_fit_after_fit_continues_and_routes_events():
    X, y, events = _data()
    clf = _fit(EventAdversarialClassifier(max_iter=2, **SMALL), X, y, events=events)
    steps = clf.t_
    clf.partial_fit(X, y, events=events)
    assert (clf.n_iter_, clf.t_, len(clf.loss_curve_)) == (3, steps + steps // 2, 3)
    from sklearn.multioutput import MultiOutputClassifier

    with config_context(enable_metadata_routing=True):
        inner = EventAdversarialClassifier(**SMALL).set_partial_fit_request(
            events=True)
        outer = MultiOutputClassifier(inner)
        outer.partial_fit(X, y[:, None], classes=[[0, 1]], events=events)
        np.testing.assert_array_equal(outer.estimators_[0].events_, [0, 1, 2])
        unrequested = MultiOutputClassifier(EventAdversarialClassifier(**SMALL))
        with pytest.raises(ValueError, match="events"):
            unrequested.partial_fit(X, y[:, None], classes=[[0, 1]], events=events)


@settings(max_examples=25, deadline=None)
@given(bad=st.sampled_from(["short_y", "nan_X", "short_events", "unseen_class",
                            "unseen_event", "no_classes", "string_classes",
                            "negative_weight", "all_unlabelled", "one_class"]),
       seed=st.integers(0, 1000), fitted=st.booleans())
def test_property_partial_fit_bad_input(bad, seed, fitted):
    X, y, events = _data(30, seed)
    y = y.copy()
    y[:2] = [0, 1]
    clf = EventAdversarialClassifier(**SMALL)
    if fitted:
        clf.partial_fit(X, y, events=events, classes=[0, 1], event_labels=[0, 1, 2])
    args = dict(X=X.copy(), y=y.copy(), events=events.copy(), sample_weight=None,
                classes=None if fitted else [0, 1])
    if bad == "short_y":
        args["y"] = args["y"][:-1]
    elif bad == "nan_X":
        args["X"][seed % 30, seed % 5] = np.nan
    elif bad == "short_events":
        args["events"] = args["events"][1:]
    elif bad == "unseen_class":
        args["y"][seed % 30] = 5
    elif bad == "unseen_event":
        args["events"][seed % 30] = 9
        if not fitted:
            clf.partial_fit(X, y, events=events, classes=[0, 1],
                            event_labels=[0, 1, 2])
    elif bad == "no_classes":
        args["classes"] = None
        if fitted:
            args["classes"] = [0, 3]
    elif bad == "string_classes":
        args["classes"] = ["a", "b"]
    elif bad == "negative_weight":
        args["sample_weight"] = np.ones(30)
        args["sample_weight"][seed % 30] = -1.0
    elif bad == "all_unlabelled":
        args["y"][:] = -1
    elif bad == "one_class":
        args["classes"] = [0] if not fitted else [1]
    kept = {name: np.array(value, copy=True) for name, value in args.items()
            if value is not None}
    before = clf.params_.copy() if hasattr(clf, "params_") else None
    with pytest.raises((ValueError, TypeError)) as error:
        clf.partial_fit(**args)
    assert "Traceback" not in str(error.value) and str(error.value)
    for name, value in kept.items():
        np.testing.assert_array_equal(np.asarray(args[name]), value)
    if before is not None:
        np.testing.assert_array_equal(clf.params_, before)


def _hand_adam(theta, gradients, learning_rate, start=0, m=None, v=None):
    """Adam (Kingma & Ba) written out, from the given moments and step count."""
    m = np.zeros_like(theta) if m is None else m
    v = np.zeros_like(theta) if v is None else v
    for t, gradient in enumerate(gradients, start + 1):
        g = gradient(theta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        theta = theta - learning_rate * (m / (1 - 0.9**t)) / (
            np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return theta


def test_partial_fit_keeps_adam_moments_across_chunks_and_pickling():
    # One minibatch per chunk, so each call is one Adam step on that chunk's
    # gradient (L2 alpha / chunk size); the moments must carry over, also through
    # a pickle round trip in the middle of the stream.
    rng = np.random.RandomState(2)
    X = rng.normal(size=(90, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    chunks = [slice(0, 30), slice(30, 60), slice(60, 90)]
    clf = EventAdversarialClassifier(hidden_layer_sizes=(6,), learning_rate=0.05,
                                     learning_rate_schedule="constant",
                                     batch_size=30, random_state=0)
    clf.partial_fit(X[chunks[0]], y[chunks[0]], classes=[0, 1])
    clf = pickle.loads(pickle.dumps(clf))
    for rows in chunks[1:]:
        clf.partial_fit(X[rows], y[rows])

    def gradient(rows):
        return lambda theta: clf.network_.loss_gradient(
            theta, X[rows], [y[rows]], l2=clf.alpha / 30)[1]

    theta0 = clf.network_.init_params(0)
    expected = _hand_adam(theta0, [gradient(rows) for rows in chunks], 0.05)
    np.testing.assert_allclose(clf.params_, expected, rtol=1e-9, atol=1e-12)
    assert (clf.n_iter_, clf.t_) == (3, 3)
