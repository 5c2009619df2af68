"""The minibatch driver of statopt.neural_network, and bad input to the core.

The reference optimum is scikit-learn's LogisticRegression on real data (breast
cancer and wine, standardised): a network without hidden layers minimises the same
penalised objective.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from statopt.neural_network import (
    OPTIMIZERS,
    Dense,
    Dropout,
    GradientReversal,
    LeakyReLU,
    MinibatchTrainer,
    Network,
    ReLU,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    SquaredLoss,
    Tanh,
)


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _objective(net, l2, *, training=False):
    return net.minibatch_objective(l2, training=training)


def _full_objective(net, theta, X, y, weight, alpha):
    return net.loss_gradient(theta, X, y, weight, l2=alpha / X.shape[0])[0]


# ------------------------------------------------------- LogisticRegression optimum


@pytest.mark.parametrize("loader, head", [
    (load_breast_cancer, SigmoidCrossEntropy()),
    (load_wine, SoftmaxCrossEntropy()),
])
def test_full_batch_driver_reaches_logistic_regression_optimum(loader, head):
    X, y = _standardised(loader)
    n, alpha = X.shape[0], 1.0
    weight = np.random.default_rng(0).uniform(0.5, 1.5, n)
    weight /= weight.mean()    # mean weight 1: C = 1 / alpha
    reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000)
    reference.fit(X, y, sample_weight=weight)
    n_logits = 1 if isinstance(head, SigmoidCrossEntropy) else 3
    net = Network([Dense(n_logits)], head, X.shape[1])
    target = net.check_target(y, n)
    theta = net.init_params(random_state=0)
    trainer = MinibatchTrainer(optimizer="sgd", learning_rate=2.0, batch_size=n,
                               max_iter=3000, tol=1e-15, n_iter_no_change=50,
                               random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer.fit(_objective(net, alpha / n), theta, (X, target, weight))
    coef = net.views(theta)[0]
    ours = np.r_[coef[: X.shape[1] * n_logits].reshape(X.shape[1], n_logits).T.ravel(),
                 coef[X.shape[1] * n_logits:]]
    expected = np.r_[reference.coef_.ravel(), reference.intercept_]
    if n_logits == 3:
        # The multinomial model is identified up to a shift of the intercepts;
        # the penalty fixes the weights, sklearn centres the intercepts.
        ours[-3:] -= ours[-3:].mean()
        expected[-3:] -= expected[-3:].mean()
    gap = (_full_objective(net, theta, X, target, weight, alpha)
           - _full_objective(net, _to_theta(reference, n_logits), X, target, weight,
                             alpha))
    assert abs(gap) <= 1e-10
    assert_allclose(ours, expected, atol=1e-4)


def _to_theta(reference, n_logits):
    weights = reference.coef_.T.reshape(-1, n_logits)
    return np.r_[weights.ravel(), reference.intercept_]


def test_minibatch_adam_gap_to_logistic_regression_optimum():
    # Minibatch Adam with the inverse decay does not reach 1e-6 in a few hundred
    # epochs: its noise floor at batch 32 is a few 1e-5 (measured 3.5e-5 after 200
    # epochs); the full-batch test above reaches the optimum itself.
    X, y = _standardised(load_breast_cancer)
    n, alpha = X.shape[0], 1.0
    reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000).fit(X, y)
    net = Network([Dense(1)], SigmoidCrossEntropy(), X.shape[1])
    theta = net.init_params(random_state=0)
    trainer = MinibatchTrainer(optimizer="adam", learning_rate=0.05,
                               schedule="inverse", batch_size=32, max_iter=200,
                               tol=0.0, n_iter_no_change=10_000, random_state=0)
    target, weight = y.astype(float), np.ones(n)
    with pytest.warns(ConvergenceWarning):
        trainer.fit(_objective(net, alpha / n), theta, (X, target, weight))
    optimum = _full_objective(net, _to_theta(reference, 1), X, target, weight, alpha)
    gap = _full_objective(net, theta, X, target, weight, alpha) - optimum
    assert 0 <= gap <= 1e-4
    assert gap / optimum <= 2e-3


# ------------------------------------------------------------- driver behaviour


def _small_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3).astype(np.int64)
    net = Network([Dense(6), Tanh(), Dropout(0.2), Dense(2)], SoftmaxCrossEntropy(),
                  4)
    return net, X, y, np.ones(120)


def _fit(trainer, seed=0, *, warm_start=False, theta=None):
    net, X, y, w = _small_problem()
    theta = net.init_params(random_state=seed) if theta is None else theta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer.fit(_objective(net, 1e-3, training=True), theta, (X, y, w),
                    warm_start=warm_start)
    return theta


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss_and_is_deterministic(optimizer):
    params = dict(optimizer=optimizer, learning_rate=0.05, batch_size=16,
                  max_iter=15, random_state=3)
    first, second = MinibatchTrainer(**params), MinibatchTrainer(**params)
    theta_1, theta_2 = _fit(first), _fit(second)
    assert_array_equal(theta_1, theta_2)
    assert first.loss_curve_ == second.loss_curve_
    assert first.loss_curve_[-1] < first.loss_curve_[0]
    other = MinibatchTrainer(**{**params, "random_state": 4})
    assert not np.array_equal(_fit(other), theta_1)


def test_inverse_schedule_reaches_its_final_factor():
    trainer = MinibatchTrainer(learning_rate=0.1, schedule="inverse", batch_size=40,
                               max_iter=7, tol=0.0, random_state=0)
    _fit(trainer)
    # 120 rows in batches of 40: 21 steps, progress 1 at the end.
    assert trainer.t_ == 21
    assert_allclose(trainer.optimizer_.current_learning_rate, 0.1 / 11**0.75)


def test_warm_start_continues_the_same_run():
    # Without shuffling and with full batches, 5 + 5 warm epochs are 10 epochs.
    params = dict(learning_rate=0.05, batch_size=120, max_iter=5, shuffle=False,
                  tol=0.0, random_state=0)
    net, X, y, w = _small_problem()
    no_dropout = Network([Dense(6), Tanh(), Dense(2)], SoftmaxCrossEntropy(), 4)
    objective = _objective(no_dropout, 1e-3)
    warm = no_dropout.init_params(random_state=0)
    trainer = MinibatchTrainer(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer.fit(objective, warm, (X, y, w))
        trainer.fit(objective, warm, (X, y, w), warm_start=True)
        whole = no_dropout.init_params(random_state=0)
        reference = MinibatchTrainer(**{**params, "max_iter": 10})
        reference.fit(objective, whole, (X, y, w))
    assert trainer.n_iter_ == 10 and len(trainer.loss_curve_) == 10
    assert_allclose(warm, whole, rtol=1e-13)
    assert_allclose(trainer.loss_curve_, reference.loss_curve_, rtol=1e-13)
    # partial_fit: one epoch per call, the same updates.
    partial = no_dropout.init_params(random_state=0)
    stepper = MinibatchTrainer(**params)
    for _ in range(10):
        stepper.partial_fit(objective, partial, (X, y, w))
    assert stepper.n_iter_ == 10
    assert_allclose(partial, whole, rtol=1e-13)


def test_tol_stops_and_max_iter_warns():
    trainer = MinibatchTrainer(learning_rate=0.05, max_iter=500, tol=1.0,
                               n_iter_no_change=2, random_state=0)
    net, X, y, w = _small_problem()
    theta = net.init_params(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.fit(_objective(net, 1e-3, training=True), theta, (X, y, w))
    # Epoch 1 sets the best loss; no later epoch gains 1.0, so it stops after 3 more.
    assert trainer.n_iter_ == 4
    trainer = MinibatchTrainer(max_iter=2, tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        trainer.fit(_objective(net, 1e-3), net.init_params(random_state=0),
                    (X, y, w))


def test_early_stopping_restores_the_best_validation_parameters():
    net, X, y, w = _small_problem()
    no_dropout = Network([Dense(6), Tanh(), Dense(2)], SoftmaxCrossEntropy(), 4)
    theta = no_dropout.init_params(random_state=0)

    def accuracy(params, rows):
        X_val, y_val, _ = rows
        return float(np.mean(no_dropout.forward(params, X_val).argmax(1) == y_val))

    trainer = MinibatchTrainer(learning_rate=0.2, batch_size=8, max_iter=200,
                               early_stopping=True, validation_fraction=0.25,
                               n_iter_no_change=5, random_state=0)
    trainer.fit(_objective(no_dropout, 1e-3), theta, (X, y, w), score=accuracy,
                stratify=y)
    assert trainer.n_iter_ < 200
    assert len(trainer.validation_scores_) == trainer.n_iter_
    assert trainer.best_validation_score_ == max(trainer.validation_scores_)
    # Recompute the held-out rows as the driver drew them: the restored parameters
    # score the best validation score.
    from sklearn.model_selection import train_test_split

    rng = np.random.RandomState(0)
    _, held_out = train_test_split(np.arange(120), test_size=0.25,
                                   random_state=rng.randint(np.iinfo(np.int32).max),
                                   stratify=y)
    assert accuracy(theta, (X[held_out], y[held_out], None)) == (
        trainer.best_validation_score_)


def test_verbose_prints_one_line_per_epoch(capsys):
    trainer = MinibatchTrainer(max_iter=3, tol=0.0, verbose=1, early_stopping=True,
                               random_state=0)
    _fit(trainer)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"Epoch {epoch}: loss = ")
        assert "validation score = " in line
        assert "learning rate = 0.001" in line and line.endswith(" s")
    _fit(MinibatchTrainer(max_iter=2, random_state=0))
    assert capsys.readouterr().out == ""


def test_sample_weights_equal_repeated_rows():
    # Weight 2 on a row is the same objective as the row twice (weights normalised
    # to mean 1 over each data set, so the scale of both is the same).
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, 30).astype(float)
    counts = rng.integers(1, 3, 30)
    net = Network([Dense(3), LeakyReLU(0.1), Dense(1)], SigmoidCrossEntropy(), 3)
    theta = net.init_params(random_state=0)
    weighted = net.loss_gradient(theta, X, y, counts * 30 / counts.sum(), l2=0.1)
    repeated = net.loss_gradient(theta, np.repeat(X, counts, axis=0),
                                 np.repeat(y, counts), l2=0.1)
    assert_allclose(weighted[0], repeated[0], rtol=1e-13)
    assert_allclose(weighted[1], repeated[1], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ bad input


def _net():
    return Network([Dense(3), ReLU(), GradientReversal(0.5), Dense(2)],
                   SoftmaxCrossEntropy(), 2)


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), row=st.integers(0, 4),
       column=st.integers(0, 1), where=st.sampled_from(["X", "theta", "vector",
                                                         "weight"]))
def test_non_finite_input_is_a_clear_value_error(bad, row, column, where):
    net = _net()
    X = np.random.default_rng(0).normal(size=(5, 2))
    theta, vector, weight = net.init_params(0), np.ones(net.n_params), np.ones(5)
    y = np.array([0, 1, 0, 1, 1])
    target = {"X": X, "theta": theta, "vector": vector, "weight": weight}[where]
    target[row if where != "X" else (row, column)] = bad
    before = [a.copy() for a in (X, theta, vector, weight)]
    with pytest.raises(ValueError, match="NaN|inf|infinity"):
        net.hessian_vector_product(theta, vector, X, y, weight)
    for a, b in zip((X, theta, vector, weight), before):
        assert_array_equal(a, b)    # the caller's arrays are untouched


@settings(max_examples=30, deadline=None)
@given(n_rows=st.integers(0, 4), n_columns=st.integers(1, 4),
       n_targets=st.integers(0, 5), label=st.sampled_from([-1, 0, 1, 2, 0.5]))
def test_wrong_shapes_and_targets_are_clear_errors(n_rows, n_columns, n_targets,
                                                   label):
    net = _net()
    X = np.ones((n_rows, n_columns))
    y = np.full(n_targets, label)
    valid = (n_rows >= 1 and n_columns == 2 and n_targets == n_rows
             and label in (0, 1))
    if valid:
        loss, grad = net.loss_gradient(net.init_params(0), X, y)
        assert np.isfinite(loss) and grad.shape == (net.n_params,)
    else:
        with pytest.raises(ValueError):
            net.loss_gradient(net.init_params(0), X, y)


def test_bad_targets_and_arguments_per_head():
    with pytest.raises(ValueError, match="0 or 1"):
        Network([Dense(1)], SigmoidCrossEntropy(), 2).loss_gradient(
            np.zeros(3), np.ones((2, 2)), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="columns"):
        Network([Dense(2)], SquaredLoss(), 2).loss_gradient(
            np.zeros(6), np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(TypeError, match="numeric"):
        _net().loss_gradient(_net().init_params(0), np.ones((2, 2)),
                             np.array(["a", "b"]))
    with pytest.raises(ValueError, match="1 logit"):
        Network([Dense(2)], SigmoidCrossEntropy(), 2)
    with pytest.raises(TypeError, match="layer"):
        Network([Dense(2), np.tanh], SquaredLoss(), 2)
    with pytest.raises(ValueError, match="one per parameter"):
        _net().loss_gradient(np.zeros(4), np.ones((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=">= 0"):
        _net().loss_gradient(_net().init_params(0), np.ones((2, 2)),
                             np.array([0, 1]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="rng"):
        Dropout(0.5).forward(None, np.ones((2, 2)), training=True)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["rate", "slope", "weight", "n_units"]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.integers(-3, 3), st.booleans(), st.text(max_size=2)))
def test_layer_arguments_are_checked(name, value):
    make = {"rate": Dropout, "slope": LeakyReLU, "weight": GradientReversal,
            "n_units": Dense}[name]
    try:
        layer = make(value)
    except (TypeError, ValueError) as error:
        assert name in str(error)
        return
    # Accepted values are in range.
    stored = {"rate": "rate", "slope": "slope", "weight": "weight",
              "n_units": "n_units"}[name]
    accepted = getattr(layer, stored)
    assert np.isfinite(accepted) and accepted >= 0
    if name in ("rate", "slope"):
        assert accepted < 1
    if name == "n_units":
        assert accepted >= 1


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["optimizer", "learning_rate", "batch_size", "max_iter",
                             "tol", "n_iter_no_change", "validation_fraction",
                             "schedule", "shuffle"]),
       value=st.one_of(st.just("nope"), st.just(0), st.just(-1), st.just(np.nan),
                       st.just(1.5), st.none()))
def test_bad_trainer_parameters_are_clear_errors(name, value):
    net, X, y, w = _small_problem()
    trainer = MinibatchTrainer(max_iter=1, random_state=0)
    setattr(trainer, name, value)
    theta = net.init_params(random_state=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            trainer.fit(_objective(net, 0.0), theta, (X, y, w))
    except (TypeError, ValueError) as error:
        assert name in str(error)
        return
    assert np.all(np.isfinite(theta))


def test_bad_trainer_inputs_are_clear_errors():
    net, X, y, w = _small_problem()
    objective, trainer = _objective(net, 0.0), MinibatchTrainer(max_iter=1)
    with pytest.raises(TypeError, match="float64"):
        trainer.fit(objective, net.init_params(0).astype(np.float32), (X, y, w))
    with pytest.raises(ValueError, match="row-aligned"):
        trainer.fit(objective, net.init_params(0), (X, y[:-1], w))
    with pytest.raises(TypeError, match="callable"):
        trainer.fit("loss", net.init_params(0), (X, y, w))
    theta = net.init_params(0)
    theta[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        trainer.fit(objective, theta, (X, y, w))
    with pytest.raises(ValueError, match="validation_fraction"):
        MinibatchTrainer(early_stopping=True, validation_fraction=0.01).fit(
            objective, net.init_params(0), (X[:1], y[:1], w[:1]))
    exploding = MinibatchTrainer(optimizer="sgd", learning_rate=1e300, max_iter=5)
    with pytest.raises(ValueError, match="lower learning_rate"):
        exploding.fit(_objective(Network([Dense(1)], SquaredLoss(), 4), 0.0),
                      np.ones(5), (X, 1e200 * X[:, :1], w))


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(["one target", "three weights", "nan X", "short events",
                             "negative weight", "bad event", "bad pair"]))
def test_multi_head_bad_input_is_a_clear_error(case):
    from statopt.neural_network import MultiHeadNetwork

    net = MultiHeadNetwork([Dense(3), ReLU()],
                           [([Dense(2)], SoftmaxCrossEntropy()),
                            ([GradientReversal(1.0), Dense(1)], SquaredLoss())], 2)
    X = np.ones((4, 2))
    targets = [np.array([0, 1, 1, 0]), np.zeros(4)]
    weights = None
    if case == "one target":
        targets = targets[:1]
    elif case == "three weights":
        weights = [np.ones(4)] * 3
    elif case == "nan X":
        X[1, 1] = np.nan
    elif case == "short events":
        targets[1] = np.zeros(3)
    elif case == "negative weight":
        weights = [np.ones(4), -np.ones(4)]
    elif case == "bad event":
        targets[0] = np.array([0, 1, 2, 0])
    else:
        with pytest.raises(TypeError, match="pair"):
            MultiHeadNetwork([Dense(3)], [SquaredLoss()], 2)
        return
    with pytest.raises(ValueError):
        net.hessian_vector_product(net.init_params(0), np.ones(net.n_params), X,
                                   targets, weights)
