"""Choosing a robust linear classifier by cross-validation.

A scorer for the exact worst-case accuracy of a linear model under l2 perturbations,
and a refit rule for :class:`~sklearn.model_selection.GridSearchCV` that trades
clean accuracy against robustness by a stated tolerance, like the one-standard-error
rule.
"""

from numbers import Real

import numpy as np
from scipy.sparse import issparse
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.metadata_routing import (
    UNCHANGED,
    MetadataRequest,
    _MetadataRequester,
    _routing_enabled,
    get_routing_for_object,
)
from sklearn.utils.validation import check_is_fitted


def _check_epsilons(epsilon):
    """A non-empty tuple of finite non-negative floats."""
    values = np.atleast_1d(np.asarray(epsilon, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"epsilon must be a number or a non-empty 1-D sequence of "
                         f"numbers; got {epsilon!r}.")
    checked = []
    for value in values:
        if (isinstance(value, bool) or not isinstance(value, Real)
                or not np.isfinite(value) or value < 0):
            raise ValueError(f"epsilon must hold finite non-negative numbers (l2 "
                             f"perturbation sizes); got {value!r}.")
        checked.append(float(value))
    return tuple(checked)


class _WorstCaseAccuracyScorer(_MetadataRequester):
    """Scorer object built by :func:`make_worst_case_accuracy_scorer`.

    A metadata consumer like scikit-learn's scorers: ``sample_weight`` is its one
    ``score`` metadata, requested through :meth:`set_score_request`.
    """

    def __init__(self, epsilons):
        self.epsilons = epsilons

    def __repr__(self):
        sizes = self.epsilons[0] if len(self.epsilons) == 1 else list(self.epsilons)
        return f"make_worst_case_accuracy_scorer(epsilon={sizes})"

    def _routing_repr(self):
        return repr(self)

    def _accept_sample_weight(self):
        # Without metadata routing, scikit-learn's searches ask every scorer of a
        # scoring dict whether to forward fit's sample_weight to it.
        return True

    def set_score_request(self, *, sample_weight=UNCHANGED):
        """Request ``sample_weight`` for scoring, under metadata routing.

        As scikit-learn's scorers: ``True`` makes GridSearchCV or
        cross_validate pass the ``sample_weight`` given to their ``fit`` (split
        with the rows), ``False`` never passes it, ``None`` (unset) raises if it
        is given, and a string passes the metadata of that name instead.

        Parameters
        ----------
        sample_weight : bool, str or None, default=UNCHANGED
            The request for ``sample_weight``; ``UNCHANGED``
            (``sklearn.utils.metadata_routing.UNCHANGED``) keeps the current one.

        Returns
        -------
        self : object
            This scorer, with the request set.
        """
        if not _routing_enabled():
            raise RuntimeError(
                "set_score_request is only available when metadata routing is "
                "enabled: use sklearn.set_config(enable_metadata_routing=True) or "
                "sklearn.config_context(enable_metadata_routing=True).")
        if sample_weight is not UNCHANGED:
            self._metadata_request = MetadataRequest(owner=self)
            self._metadata_request.score.add_request(param="sample_weight",
                                                     alias=sample_weight)
        return self

    def _get_metadata_request(self):
        # The scorer is a callable, not an estimator with a score method whose
        # signature scikit-learn could read: state the one request explicitly.
        if hasattr(self, "_metadata_request"):
            return get_routing_for_object(self._metadata_request)
        requests = MetadataRequest(owner=self)
        requests.score.add_request(param="sample_weight", alias=None)
        return requests

    def __call__(self, estimator, X, y, sample_weight=None):
        # Lazily: linear_model imports metrics.
        from ..linear_model import worst_case_accuracy

        if hasattr(estimator, "steps"):
            # A Pipeline: the perturbation acts on the features its last step sees.
            check_is_fitted(estimator)
            X = estimator[:-1].transform(X)
            estimator = estimator[-1]
        missing = [name for name in ("coef_", "intercept_", "classes_")
                   if not hasattr(estimator, name)]
        if missing:
            check_is_fitted(estimator)
            raise TypeError(
                f"The worst-case accuracy scorer needs a fitted linear classifier "
                f"(coef_, intercept_, classes_, as LogisticRegression or "
                f"RobustPairedClassifier have); {type(estimator).__name__} has no "
                f"{', '.join(missing)}.")
        if getattr(estimator, "n_auxiliary_features_in_", 0):
            raise ValueError(
                "This model was fitted with auxiliary_features, which a scorer does "
                "not receive; use its worst_case_accuracy(X, y, epsilon, "
                "auxiliary_features=...) method instead.")
        if issparse(X):
            raise TypeError("X is a sparse matrix; the worst-case accuracy scorer "
                            "needs a dense array (X.toarray()).")
        coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
        intercept = np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)
        if intercept.size == 1:
            # scikit-learn stores a scalar 0.0 when fit_intercept=False.
            intercept = np.repeat(intercept, coef.shape[0])
        X = np.asarray(X, dtype=np.float64)
        return float(np.mean([
            worst_case_accuracy(coef, intercept, estimator.classes_, X, y, epsilon,
                                sample_weight=sample_weight)
            for epsilon in self.epsilons]))


def make_worst_case_accuracy_scorer(epsilon):
    """Scorer: accuracy under the worst l2 perturbation of each row, exactly.

    For a linear classifier (``coef_``, ``intercept_``, ``classes_``, as scikit-learn
    stores them) row ``i`` stays correct under every perturbation of l2 size
    ``epsilon`` iff, for every other class ``k``, ``(w_y - w_k)'x_i + b_y - b_k >
    epsilon ||w_y - w_k||_2`` (one row of coefficients: the signed margin exceeds
    ``epsilon ||w||_2``); the worst perturbation moves the row by ``-epsilon`` times
    the unit direction of ``w_y - w_k`` (the dual-norm direction of the margin), so
    the score is exact, not a bound found by an attack. Ties count as errors. With
    several sizes, the score is the mean over them.

    The scorer is a callable ``scorer(estimator, X, y, sample_weight=None)``, as
    :func:`sklearn.metrics.make_scorer` returns: pass it as ``scoring=``, or as one
    entry of a multi-metric ``scoring`` dict of
    :class:`~sklearn.model_selection.GridSearchCV` (see
    :func:`make_robust_refit`). For a :class:`~sklearn.pipeline.Pipeline` the rows
    are transformed by every step but the last, and ``epsilon`` is measured in the
    features the final linear model sees (standardised features, say).

    With ``sample_weight`` the score is the weighted share of robustly correct
    rows, as :func:`sklearn.metrics.accuracy_score` weights plain accuracy; only
    the weights' ratios matter (from subnormal numbers up to float64's maximum),
    and negative, NaN or infinite weights, all zeros, or one weight too few or too
    many are a ValueError. Under metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``) request the weights
    with ``scorer.set_score_request(sample_weight=True)``, and GridSearchCV
    passes each test fold its rows' share of the ``sample_weight`` given to
    ``fit``. Without routing, scikit-learn's searches (GridSearchCV,
    RandomizedSearchCV) forward ``fit``'s ``sample_weight`` to every scorer that
    takes it, this one included; cross_validate does so only under routing.

    Parameters
    ----------
    epsilon : float or sequence of float
        Perturbation size(s), l2 norm, non-negative and finite. ``0`` gives the
        plain accuracy.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None)`` returning the (mean,
        weighted) worst-case accuracy of the fitted ``estimator`` on ``(X, y)``;
        higher is better. It has ``set_score_request`` for metadata routing.

    See Also
    --------
    statopt.linear_model.worst_case_accuracy : The same accuracy from coefficients.
    make_robust_refit : Refit rule that uses this scorer beside plain accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from statopt.metrics import make_worst_case_accuracy_scorer
    >>> X = np.array([[-2.0], [-0.5], [0.5], [2.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> model = LogisticRegression().fit(X, y)
    >>> make_worst_case_accuracy_scorer(0.0)(model, X, y)
    1.0
    >>> make_worst_case_accuracy_scorer(1.0)(model, X, y)
    0.5
    >>> make_worst_case_accuracy_scorer(1.0)(model, X, y,
    ...                                      sample_weight=[3.0, 1.0, 1.0, 3.0])
    0.75
    """
    return _WorstCaseAccuracyScorer(_check_epsilons(epsilon))


class _RobustRefit:
    """Refit rule built by :func:`make_robust_refit`."""

    def __init__(self, robust, clean, tolerance, n_standard_errors):
        self.robust = robust
        self.clean = clean
        self.tolerance = tolerance
        self.n_standard_errors = n_standard_errors

    def __repr__(self):
        return (f"make_robust_refit(robust={self.robust!r}, clean={self.clean!r}, "
                f"tolerance={self.tolerance!r}, "
                f"n_standard_errors={self.n_standard_errors!r})")

    def _scores(self, cv_results, name):
        key = f"mean_test_{name}"
        if not hasattr(cv_results, "keys") or key not in cv_results:
            names = sorted(k[len("mean_test_"):] for k in getattr(
                cv_results, "keys", list)() if str(k).startswith("mean_test_"))
            raise ValueError(
                f"cv_results has no {key!r}: name the scorers of GridSearchCV's "
                f"scoring dict (found {names or 'none'}; with a single scorer, pass "
                f"scoring={{{self.clean!r}: ..., {self.robust!r}: ...}}).")
        scores = np.asarray(cv_results[key], dtype=np.float64).reshape(-1)
        if scores.size == 0:
            raise ValueError("cv_results holds no candidate.")
        return scores

    def __call__(self, cv_results):
        clean = self._scores(cv_results, self.clean)
        robust = self._scores(cv_results, self.robust)
        if clean.shape != robust.shape:
            raise ValueError(f"mean_test_{self.clean} and mean_test_{self.robust} "
                             f"differ in length ({clean.size}, {robust.size}).")
        # A fit that failed in a fold scores NaN and is never chosen.
        valid = np.isfinite(clean) & np.isfinite(robust)
        if not valid.any():
            raise ValueError("Every candidate has a NaN (failed) CV score; no "
                             "candidate can be chosen.")
        best = int(np.flatnonzero(valid)[np.argmax(clean[valid])])
        slack = self.tolerance
        if self.n_standard_errors:
            slack += self.n_standard_errors * self._standard_error(cv_results, best)
        eligible = valid & (clean >= clean[best] - slack)
        # Largest robust score; ties go to the larger clean score, then to the
        # first candidate in cv_results order.
        order = np.lexsort((np.arange(clean.size), -clean, -robust))
        return int(order[eligible[order]][0])

    def _standard_error(self, cv_results, index):
        splits = [key for key in cv_results
                  if str(key).startswith("split") and str(key).endswith(
                      f"_test_{self.clean}")]
        std_key = f"std_test_{self.clean}"
        if not splits or std_key not in cv_results:
            raise ValueError(f"n_standard_errors needs {std_key!r} and the split "
                             f"scores in cv_results.")
        std = float(np.asarray(cv_results[std_key], dtype=np.float64)[index])
        return std / np.sqrt(len(splits))


@validate_params(
    {"robust": [str], "clean": [str],
     "tolerance": [Interval(Real, 0, None, closed="left")],
     "n_standard_errors": [Interval(Real, 0, None, closed="left")]},
    prefer_skip_nested_validation=True)
def make_robust_refit(robust="robust", clean="accuracy", *, tolerance=0.01,
                      n_standard_errors=0.0):
    """Refit rule: the most robust candidate whose clean accuracy is near the best.

    For :class:`~sklearn.model_selection.GridSearchCV` with a multi-metric
    ``scoring`` dict holding a clean score (plain accuracy) and a robust one (e.g.
    :func:`make_worst_case_accuracy_scorer`): among the candidates whose mean
    clean CV score is at least the best mean clean CV score minus ``tolerance +
    n_standard_errors * SE`` (``SE`` the standard error of the best candidate's
    clean score over the folds, as in the one-standard-error rule), it returns the
    index of the largest mean robust CV score. Ties go to the larger clean score,
    then to the first candidate in ``cv_results_`` order. Candidates with a NaN
    (failed) score are never chosen.

    A single criterion (robust accuracy alone, or an average over sizes that
    includes zero) lets CV trade any amount of clean accuracy for robustness; the
    tolerance states up front how much clean accuracy robustness may cost.

    Parameters
    ----------
    robust : str, default="robust"
        Name of the robust scorer in the ``scoring`` dict.
    clean : str, default="accuracy"
        Name of the clean scorer in the ``scoring`` dict.
    tolerance : float, default=0.01
        Clean accuracy (absolute) that may be given up for robustness.
    n_standard_errors : float, default=0.0
        Standard errors of the best clean score added to ``tolerance`` (1 with
        ``tolerance=0`` is the one-standard-error rule).

    Returns
    -------
    refit : callable
        ``refit(cv_results)`` returning the chosen index; pass it as
        ``refit=`` to GridSearchCV (``best_index_`` is then that index;
        ``best_score_`` is not set).

    See Also
    --------
    make_worst_case_accuracy_scorer : The robust scorer.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from statopt.metrics import make_robust_refit, make_worst_case_accuracy_scorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> search = GridSearchCV(
    ...     make_pipeline(StandardScaler(), LogisticRegression()),
    ...     {"logisticregression__C": [0.01, 0.1, 1.0]},
    ...     scoring={"accuracy": "accuracy",
    ...              "robust": make_worst_case_accuracy_scorer([0.5, 1.0])},
    ...     refit=make_robust_refit(tolerance=0.01)).fit(X, y)
    >>> results = search.cv_results_
    >>> best_clean = results["mean_test_accuracy"].max()
    >>> bool(results["mean_test_accuracy"][search.best_index_] >= best_clean - 0.01)
    True
    """
    return _RobustRefit(robust, clean, float(tolerance), float(n_standard_errors))
