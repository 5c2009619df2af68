"""Label-free combinations of SAFE and the CCA cosine on validation splits (issue 15).

Only the Wikipedia *training* items are used: each split fits on 1,738 of them and
validates on the other 435, whose fakes take a text of another category (the
definition of a fake; the categories are read for these validation fakes only).
Views as in ``statopt._reproduce.safe``: image histograms square-rooted, both views
standardised on the fitted items, ten label-free draws of ``make_mismatched_pairs``
as training pairs. Rows (ROC AUC on the validation pairs, and minus "ours"):

- ours: ``CONFIG`` (30 epochs), its decision function;
- CCA cosine: scikit-learn ``CCA(7)`` on the real training pairs;
- z-sum: both scores standardised by their mean and deviation on the training rows,
  then added (equal weights, nothing fitted);
- cross-fitted stack: three folds of the training rows grouped by image (a held-out
  fold's images never in its fit); per fold a 10-epoch fit and a CCA on the other
  two; a logistic regression on the out-of-fold scores of the training rows gives
  the weights applied to ours and the CCA cosine fitted on all rows (the
  out-of-fold AUCs on the label-free training pairs are printed too);
- ensemble: the estimator's option ``ENSEMBLE`` (``n_ensemble=3``, ``max_iter=10``:
  the mean decision function of three 10-epoch fits from different
  initialisations, about the CPU time of one 30-epoch fit; ``random_state`` the
  split); ensemble + CCA: its z-sum with the CCA cosine.

Usage: python benchmarks/bench_multimodal_validation.py [--splits 0 1 2 3 4 5 6 7]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from statopt._reproduce.safe import CONFIG, ENSEMBLE, N_DRAWS
from statopt.datasets import load_wikipedia_crossmodal, make_mismatched_pairs
from statopt.neural_network import SimilarityAwareMultimodalClassifier

N_VALIDATED = 435


def _ours(X, y, n_image, seed, max_iter, **extra):
    views = dict(views=[np.arange(n_image), np.arange(n_image, X.shape[1])],
                 modalities=["image", "text"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SimilarityAwareMultimodalClassifier(
            random_state=seed, **views,
            **{**CONFIG, "max_iter": max_iter, **extra}).fit(X, y)


def _cca_dissimilarity(X, y, n_image):
    """Minus the cosine of the CCA scores, CCA fitted on the real rows of X, y."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cca = CCA(7, max_iter=2000).fit(X[y == 0, :n_image], X[y == 0, n_image:])

    def score(Z):
        a, b = cca.transform(Z[:, :n_image], Z[:, n_image:])
        return -np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1)
                                         * np.linalg.norm(b, axis=1))
    return score


def _z_sum(train_scores, scores):
    return sum((s - t.mean()) / t.std() for t, s in zip(train_scores, scores))


def split_scores(data, split):
    """ROC AUC of every row on one validation split, and CPU seconds."""
    n_image = data.views[0].size

    def root(X):
        return np.hstack([np.sqrt(X[:, :n_image]), X[:, n_image:]])

    items = np.random.RandomState(split).permutation(data.X_train.shape[0])
    fitted, validated = items[:-N_VALIDATED], items[-N_VALIDATED:]
    scaler = StandardScaler().fit(root(data.X_train[fitted]))
    A = scaler.transform(root(data.X_train[fitted]))
    V = scaler.transform(root(data.X_train[validated]))
    X_val, y_val = make_mismatched_pairs(V[:, :n_image], V[:, n_image:],
                                         data.y_train[validated],
                                         random_state=split)[:2]
    draws = [make_mismatched_pairs(A[:, :n_image], A[:, n_image:],
                                   random_state=1000 * split + k)[:2]
             for k in range(N_DRAWS)]
    X = np.vstack([d[0] for d in draws])
    y = np.concatenate([d[1] for d in draws])
    auc, cpu = {}, {}

    start = time.process_time()
    ours = _ours(X, y, n_image, split, CONFIG["max_iter"])
    cpu["ours"] = time.process_time() - start
    cca = _cca_dissimilarity(X, y, n_image)
    train = [ours.decision_function(X), cca(X)]
    val = [ours.decision_function(X_val), cca(X_val)]
    auc["ours"] = roc_auc_score(y_val, val[0])
    auc["CCA cosine"] = roc_auc_score(y_val, val[1])
    auc["z-sum of ours and CCA"] = roc_auc_score(y_val, _z_sum(train, val))

    start = time.process_time()
    image = np.unique(X[:, :n_image], axis=0, return_inverse=True)[1].ravel()
    fold = (np.random.RandomState(split + 7).permutation(image.max() + 1) % 3)[image]
    out_of_fold = np.empty((y.size, 2))
    for f in range(3):
        rows = fold != f
        model = _ours(X[rows], y[rows], n_image, split + 10 * f, 10)
        fold_cca = _cca_dissimilarity(X[rows], y[rows], n_image)
        out_of_fold[~rows] = np.column_stack([model.decision_function(X[~rows]),
                                              fold_cca(X[~rows])])
    weights = LogisticRegression().fit(out_of_fold, y).coef_[0]
    cpu["cross-fitted stack (extra)"] = time.process_time() - start
    # On the label-free training fakes, not the validation fakes of another category.
    auc["out-of-fold ours (training pairs)"] = roc_auc_score(y, out_of_fold[:, 0])
    auc["out-of-fold CCA (training pairs)"] = roc_auc_score(y, out_of_fold[:, 1])
    auc["cross-fitted stack"] = roc_auc_score(y_val, np.column_stack(val) @ weights)

    start = time.process_time()
    ensemble = _ours(X, y, n_image, split, **ENSEMBLE)
    cpu["ensemble"] = time.process_time() - start
    train_mean = ensemble.decision_function(X)
    val_mean = ensemble.decision_function(X_val)
    auc["ensemble of 3 x 10 epochs"] = roc_auc_score(y_val, val_mean)
    auc["ensemble + CCA (z-sum)"] = roc_auc_score(
        y_val, _z_sum([train_mean, train[1]], [val_mean, val[1]]))
    return auc, cpu, weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, nargs="+",
                        default=[0, 1, 2, 3, 4, 5, 6, 7])
    args = parser.parse_args()
    data = load_wikipedia_crossmodal()
    table = {}
    with threadpool_limits(1):
        print("threads:", ", ".join(f"{p['internal_api']} {p['num_threads']}"
                                    for p in threadpool_info()))
        for split in args.splits:
            auc, cpu, weights = split_scores(data, split)
            print(f"split {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in auc.items())
                  + f"; stack weights {np.round(weights, 2)}; CPU s "
                  + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()), flush=True)
            for name, value in auc.items():
                table.setdefault(name, []).append(value)
    ours = np.array(table["ours"])
    print(f"\nmean over splits {args.splits}, and minus ours per split")
    for name, values in table.items():
        if name.startswith("out-of-fold"):
            print(f"  {name:34s} {np.mean(values):.4f} ({np.min(values):.4f}-"
                  f"{np.max(values):.4f})")
            continue
        gain = np.array(values) - ours
        print(f"  {name:34s} {np.mean(values):.4f}  {gain.mean():+.4f}  ["
              + ", ".join(f"{g:+.4f}" for g in gain) + f"]  >= +0.01 at "
              f"{np.sum(gain >= 0.01)} of {gain.size}")


if __name__ == "__main__":
    main()
