"""Event-adversarial training on digits whose event columns are a training shortcut.

Issue 13 measured, while planning (3 seeds, same architecture): no reversal 0.852 (A) /
0.874 (B); reversal lambda=0.3 with the decay 0.922 / 0.913; lambda=1 without decay
0.847 / 0.832; logistic regression with event-balancing weights 0.913 / 0.904; pixels
only (oracle) 0.969. Here every row is refitted by statopt in this process, with
``adversary_weight`` for "ours" chosen on the training rows only (the test splits
are never used for a choice): by GroupKFold on the training events, as the issue
asks, and by stratified folds scored with (event, label)-balancing weights. A fit
with the same settings on the same rows (a chosen lambda that is also a row of its
own, a lambda of the sweep) is made once and reused: the fits are deterministic.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.utils.class_weight import compute_sample_weight

from ..datasets import make_event_shortcut
from ..neural_network import EventAdversarialClassifier
from ._table import format_table, thread_settings

DESCRIPTION = "gradient reversal against event shortcuts (digits, events A and B)"

PUBLISHED = {
    "no reversal": (0.852, 0.874),
    "reversal lambda=0.3, decay": (0.922, 0.913),
    "reversal lambda=1, no decay": (0.847, 0.832),
    "logistic, event-balancing weights": (0.913, 0.904),
    "pixels only (oracle)": (0.969, 0.969),
}

# The architecture and budget every network row shares.
NETWORK = dict(hidden_layer_sizes=(64,), learning_rate=1e-2, batch_size=64,
               max_iter=100)
GRID = (0.0, 0.1, 0.3, 1.0, 3.0)

GAPS = {
    "no reversal": "leans on the event columns, which lie at test time",
    "reversal lambda=0.3, decay": "reversal pushes the extractor off the event "
                                  "columns",
    "reversal lambda=1, no decay": "a strong adversary at a constant step keeps "
                                   "the features moving and costs accuracy",
    "logistic, event-balancing weights": "reweighting removes the event-label link "
                                         "but the model stays linear",
    "pixels only (oracle)": "the event columns dropped by hand: the ceiling",
    "ours (GroupKFold lambda)": "the held-out event's column was zero in training, "
                                "so the shortcut cannot fire on its rows; the "
                                "folds see only the label shift of holding out "
                                "mostly two digit classes (event = y // 2), under "
                                "which hiding the event also hides the label, and "
                                "prefer a small lambda",
    "ours (balanced-CV lambda)": "held-out rows reweighted so that every (event, "
                                 "label) cell weighs the same: the rows where the "
                                 "event disagrees with the label count, as at test "
                                 "time",
}


def _network(seed, **params):
    return EventAdversarialClassifier(**NETWORK, random_state=seed, **params)


def _fit(model, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y, **fit_params)
        return model, time.perf_counter() - start


def _fit_once(fitted, key, model, X, y, **fit_params):
    """``_fit``, or the fit already made with the same settings on the same rows.

    ``key`` names the rows (seed, signatures, columns); with the estimator's
    parameters and the names of the fit arguments it identifies the fit, which is
    deterministic, so a second fit would repeat the first bit for bit. ``fitted``
    None fits every time.
    """
    if fitted is None:
        return _fit(model, X, y, **fit_params)
    key = (key, tuple(sorted(model.get_params().items())), tuple(sorted(fit_params)))
    if key not in fitted:
        fitted[key] = _fit(model, X, y, **fit_params)
    return fitted[key]


def choose_adversary_weight(X, y, events, seed, grid=GRID, rule="group",
                            n_splits=None):
    """Pick ``adversary_weight`` by cross-validation on the training rows only.

    ``rule='group'`` (issue 13's protocol): GroupKFold over the training events
    (``n_splits`` folds, None for one per event), so a model that leans on the
    event columns is scored on events it has not seen.
    ``rule='balanced'``: ``n_splits`` (None: 5) stratified folds, each held-out fold
    scored with the weights that make every (event, label) cell weigh the same, i.e.
    accuracy under a reweighting in which the event tells nothing about the label
    (the situation of test A), estimated from the training distribution alone.
    The best mean accuracy wins.
    """
    if rule == "group":
        n_splits = np.unique(events).size if n_splits is None else n_splits
        folds = list(GroupKFold(n_splits=n_splits).split(X, y, events))
    else:
        folds = list(StratifiedKFold(5 if n_splits is None else n_splits,
                                     shuffle=True, random_state=seed).split(X, y))
    scores = {}
    for weight in grid:
        accuracies = []
        for train, held in folds:
            model, _ = _fit(_network(seed, adversary_weight=weight), X[train],
                            y[train], events=events[train])
            held_weight = (None if rule == "group"
                           else _balancing_weights(y[held], events[held]))
            accuracies.append(model.score(X[held], y[held], held_weight))
        scores[weight] = float(np.mean(accuracies))
    return max(scores, key=scores.get), scores


def _balancing_weights(y, events):
    """Weights that make every (event, label) cell weigh the same in total (mean 1)."""
    cells = np.unique(np.stack([events, y]), axis=1, return_inverse=True)[1]
    return compute_sample_weight("balanced", cells.ravel())


def compare(seed, *, grid=GRID, signatures="onehot", fitted=None,
            group_splits=None, balanced_splits=5):
    """Accuracy on test A and B and fit seconds of every method, for one seed.

    ``fitted``, a dict, keeps the full-data fits for reuse (by the rows of the
    chosen lambdas and by :func:`sweep`); its fit seconds are the first fit's.
    """
    data = make_event_shortcut(signatures=signatures, random_state=seed)
    X, y, events = data.X_train, data.y_train, data.events_train
    pixels = np.setdiff1d(np.arange(X.shape[1]), data.event_columns)
    chosen, cv_scores = choose_adversary_weight(X, y, events, seed, grid,
                                                n_splits=group_splits)
    balanced, balanced_scores = choose_adversary_weight(
        X, y, events, seed, grid, rule="balanced", n_splits=balanced_splits)
    runs = {
        "no reversal": (_network(seed), X, {}),
        "reversal lambda=0.3, decay": (_network(seed, adversary_weight=0.3), X,
                                       {"events": events}),
        "reversal lambda=1, no decay": (
            _network(seed, adversary_weight=1.0, learning_rate_schedule="constant"),
            X, {"events": events}),
        "logistic, event-balancing weights": (
            LogisticRegression(max_iter=2000), X,
            {"sample_weight": _balancing_weights(y, events)}),
        "pixels only (oracle)": (_network(seed), X[:, pixels], {}),
        f"ours (GroupKFold lambda={chosen:g})": (
            _network(seed, adversary_weight=chosen), X, {"events": events}),
        f"ours (balanced-CV lambda={balanced:g})": (
            _network(seed, adversary_weight=balanced), X, {"events": events}),
    }
    results = {}
    if fitted is None:
        fitted = {}
    for name, (model, X_fit, fit_params) in runs.items():
        columns = pixels if name.startswith("pixels") else slice(None)
        model, seconds = _fit_once(fitted, (seed, signatures, X_fit.shape[1]), model,
                                   X_fit, y, **fit_params)
        results[name] = (model.score(data.X_test_a[:, columns], data.y_test_a),
                         model.score(data.X_test_b[:, columns], data.y_test_b),
                         seconds)
    return results, chosen, cv_scores, balanced, balanced_scores


def sweep(seed, grid=GRID, fitted=None):
    """Test accuracy against ``adversary_weight`` (shown, never used to choose).

    ``fitted`` holds the fits :func:`compare` made on the same rows, reused here.
    """
    signatures = "onehot"
    data = make_event_shortcut(signatures=signatures, random_state=seed)
    rows = []
    for weight in grid:
        model, _ = _fit_once(fitted, (seed, signatures, data.X_train.shape[1]),
                             _network(seed, adversary_weight=weight), data.X_train,
                             data.y_train, events=data.events_train)
        leakage = model.event_leakage(data.X_test_a, data.events_test_a)
        rows.append([f"{weight:g}", f"{model.score(data.X_test_a, data.y_test_a):.3f}",
                     f"{model.score(data.X_test_b, data.y_test_b):.3f}",
                     f"{leakage.accuracy:.3f}", f"{leakage.discriminator:.3f}",
                     f"{leakage.chance:.3f}"])
    return rows


def run(quick=False, data_home=None):
    print(__doc__.strip().splitlines()[0])
    print(thread_settings())
    seeds = [0] if quick else [0, 1, 2]
    grid = (0.0, 0.3, 1.0) if quick else GRID
    # Quick mode also cuts both CVs to 3 folds: GroupKFold holds out one or two
    # of the 5 training events per fold (the full run: one fold per event), the
    # balanced CV 3 stratified folds (the full run: 5).
    group_splits, balanced_splits = (3, 3) if quick else (None, 5)
    if quick:
        print(f"quick: seeds {seeds}, lambda grid {', '.join(f'{w:g}' for w in grid)}"
              f", GroupKFold on {group_splits} folds of the training events, "
              f"balanced CV on {balanced_splits} stratified folds (full run: seeds "
              f"[0, 1, 2], grid {', '.join(f'{w:g}' for w in GRID)}, one GroupKFold "
              "fold per event, 5 balanced folds)")
    table, fitted = {}, {}
    for seed in seeds:
        results, chosen, cv_scores, balanced, balanced_scores = compare(
            seed, grid=grid, fitted=fitted, group_splits=group_splits,
            balanced_splits=balanced_splits)
        for rule, scores, pick in (("GroupKFold", cv_scores, chosen),
                                   ("balanced-CV", balanced_scores, balanced)):
            print(f"seed {seed}: {rule} accuracy by lambda "
                  + ", ".join(f"{w:g}: {s:.3f}" for w, s in scores.items())
                  + f" -> lambda={pick:g}")
        for name, values in results.items():
            key = name.split(" lambda=")[0] + " lambda)" if name.startswith(
                "ours") else name
            table.setdefault(key, []).append(values)
    rows = []
    for name, values in table.items():
        a, b, seconds = np.mean(values, axis=0)
        published = PUBLISHED.get(name)
        rows.append([name, f"{a:.3f}", f"{b:.3f}", f"{seconds:.2f}",
                     "-" if published is None else f"{published[0]:.3f}",
                     "-" if published is None else f"{published[1]:.3f}"])
    print(f"\nTest accuracy, mean over seeds {seeds} (A: training events independent "
          "of the label; B: unseen events)")
    print(format_table(["method", "A", "B", "fit s", "issue A", "issue B"], rows))
    print("\nWhy the gaps:")
    for name, reason in GAPS.items():
        print(f"  {name}: {reason}.")
    print(f"\nlambda sweep, seed {seeds[0]} (test accuracy; event_leakage on test A: "
          "a fresh logistic probe on the features and the model's own "
          "discriminator, beside chance; a lambda fitted above on the same rows "
          "is reused, not refitted)")
    print(format_table(["lambda", "A", "B", "probe", "own discriminator", "chance"],
                       sweep(seeds[0], grid, fitted)))
    print("The probe still finds the events where the discriminator is fooled: "
          "reversal hides what its own discriminator can use, not all event signal.")
