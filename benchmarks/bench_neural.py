"""Per-epoch time of the statopt.neural_network core against MLPClassifier.

Target (issue 13): for the same architecture, batch size and solver='adam', an epoch
of ``MinibatchTrainer`` on a ``Network`` takes no longer than an epoch of
scikit-learn's ``MLPClassifier`` (ratio ours / MLP <= 1). Both run in this process,
float64, BLAS limited by threadpoolctl (one thread unless ``--blas-threads``).

Usage: python benchmarks/bench_neural.py [--blas-threads N] [--epochs E] [--repeat R]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from statopt.neural_network import (
    Dense,
    MinibatchTrainer,
    Network,
    ReLU,
    SoftmaxCrossEntropy,
    Tanh,
)

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


def time_mlp(X, y, hidden, activation, batch_size, epochs, alpha):
    mlp = MLPClassifier(hidden_layer_sizes=hidden, activation=activation,
                        solver="adam", alpha=alpha, batch_size=batch_size,
                        learning_rate_init=1e-3, max_iter=epochs, tol=0.0,
                        n_iter_no_change=epochs + 1, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        mlp.fit(X, y)
        elapsed = time.perf_counter() - start
    return elapsed / mlp.n_iter_, mlp.loss_curve_[-1]


def time_ours(X, y, hidden, activation, batch_size, epochs, alpha):
    n_classes = int(y.max()) + 1
    layers = []
    for width in hidden:
        layers += [Dense(width), ACTIVATIONS[activation]()]
    net = Network(layers + [Dense(n_classes)], SoftmaxCrossEntropy(), X.shape[1])
    theta = net.init_params(random_state=0)
    l2 = alpha / X.shape[0]

    objective = net.minibatch_objective(l2)
    weight = np.ones(X.shape[0])

    trainer = MinibatchTrainer(optimizer="adam", learning_rate=1e-3,
                               batch_size=batch_size, max_iter=epochs, tol=0.0,
                               n_iter_no_change=epochs + 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        trainer.fit(objective, theta, (X, y, weight))
        elapsed = time.perf_counter() - start
    return elapsed / trainer.n_iter_, trainer.loss_curve_[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    digits_X, digits_y = load_digits(return_X_y=True)
    synth_X, synth_y = make_classification(n_samples=20_000, n_features=100,
                                           n_informative=30, n_classes=10,
                                           random_state=0)
    problems = [
        ("digits n=1797 p=64", StandardScaler().fit_transform(digits_X), digits_y),
        ("synthetic n=20000 p=100", StandardScaler().fit_transform(synth_X), synth_y),
    ]
    configs = [((64,), "relu", 200), ((100, 50), "tanh", 200), ((64,), "relu", 32)]
    with threadpool_limits(limits=args.blas_threads):
        blas = sorted({(info["internal_api"], info["num_threads"])
                       for info in threadpool_info()})
        print(f"thread pools (api, threads): {blas}")
        print(f"{args.epochs} epochs, best of {args.repeat}; alpha=1e-4; float64")
        header = (f"{'data':26s}{'hidden':>10s}{'act':>6s}{'batch':>6s}"
                  f"{'MLP s/ep':>10s}{'ours s/ep':>10s}{'ours/MLP':>9s}"
                  f"{'MLP loss':>10s}{'ours loss':>10s}")
        print(header)
        worst = 0.0
        for name, X, y in problems:
            for hidden, activation, batch in configs:
                runs = [(time_mlp(X, y, hidden, activation, batch, args.epochs,
                                  1e-4),
                         time_ours(X, y, hidden, activation, batch, args.epochs,
                                   1e-4))
                        for _ in range(args.repeat)]
                mlp_time = min(run[0][0] for run in runs)
                our_time = min(run[1][0] for run in runs)
                ratio = our_time / mlp_time
                worst = max(worst, ratio)
                print(f"{name:26s}{str(hidden):>10s}{activation:>6s}{batch:>6d}"
                      f"{mlp_time:10.4f}{our_time:10.4f}{ratio:9.2f}"
                      f"{runs[-1][0][1]:10.4f}{runs[-1][1][1]:10.4f}")
        verdict = "met" if worst <= 1.0 else "NOT met"
        print(f"worst ratio ours/MLP = {worst:.2f}; target <= 1: {verdict}")


if __name__ == "__main__":
    main()
