"""AdamLogisticRegression on SciPy sparse input: real bags of words and a sparsified
real data set, against the dense fit and scikit-learn's LogisticRegression."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from sklearn import datasets
from sklearn.datasets import dump_svmlight_file, load_svmlight_file
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import StandardScaler
from test_logistic import sklearn_logistic

from statopt import AdamLogisticRegression
from statopt.linear_model._logistic_newton import MAX_NEWTON_PARAMS


def penalised_objective(model, X, y, C, sample_weight=None, penalty="l2"):
    """scikit-learn's objective ``C sum_i s_i loss_i + penalty(w)`` computed from
    ``coef_`` and ``intercept_`` alone (dense algebra, softmax by logsumexp)."""
    X = X.toarray() if sp.issparse(X) else X
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    scores = X @ model.coef_.T + model.intercept_
    if scores.shape[1] == 1:
        scores = np.column_stack([np.zeros(len(y)), scores[:, 0]])
    index = np.searchsorted(model.classes_, y)
    loss = logsumexp(scores, axis=1) - scores[np.arange(len(y)), index]
    coef = model.coef_
    term = 0.5 * np.sum(coef**2) if penalty == "l2" else np.abs(coef).sum()
    return C * np.sum(s * loss) + term


def _descriptions():
    """Descriptions of data sets shipped with scikit-learn and statsmodels."""
    sm_datasets = pytest.importorskip("statsmodels.api").datasets
    loaders = [datasets.load_iris, datasets.load_breast_cancer, datasets.load_wine,
               datasets.load_diabetes, datasets.load_digits, datasets.load_linnerud]
    texts = [loader().DESCR for loader in loaders]
    for name in ("star98", "anes96", "fair"):
        module = getattr(sm_datasets, name)
        texts.append(" ".join([module.DESCRLONG, module.NOTE, module.SOURCE]))
    return texts


def _sentences():
    """Sentences of the descriptions, labelled by the data set they describe."""
    texts, labels = [], []
    for label, description in enumerate(_descriptions()):
        for sentence in re.split(r"(?<=[.:])\s+|\n\s*\n", description):
            if len(re.findall(r"[a-zA-Z]{2,}", sentence)) >= 3:
                texts.append(sentence)
                labels.append(label)
    return texts, np.array(labels)


@pytest.fixture(scope="module")
def bag_of_words(tmp_path_factory):
    """Bag of words of the descriptions, written as an svmlight file and read back
    by scikit-learn's load_svmlight_file (CSR)."""
    texts, labels = _sentences()
    counts = CountVectorizer().fit_transform(texts)
    path = tmp_path_factory.mktemp("svmlight") / "descriptions.svm"
    dump_svmlight_file(counts, labels, str(path))
    X, y = load_svmlight_file(str(path), n_features=counts.shape[1])
    return X, y.astype(int)


@pytest.fixture(scope="module")
def sparsified_cancer():
    """Breast-cancer data, standardised, entries below 0.7 in magnitude set to 0."""
    X, y = datasets.load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X[np.abs(X) < 0.7] = 0.0
    return X, y


def _relative_gap(value, reference):
    return (value - reference) / abs(reference)


def test_bag_of_words_binary_matches_lbfgs_and_dense_fit(bag_of_words):
    X, y = bag_of_words
    assert sp.issparse(X) and X.nnz < 0.05 * np.prod(X.shape)
    y = (y == 1).astype(int)  # breast-cancer sentences against the others
    model = AdamLogisticRegression(C=10.0, random_state=0).fit(X, y)
    dense = AdamLogisticRegression(C=10.0, random_state=0).fit(X.toarray(), y)
    reference = sklearn_logistic(C=10.0).fit(X, y)
    ours = penalised_objective(model, X, y, 10.0)
    best = penalised_objective(reference, X, y, 10.0)
    assert abs(_relative_gap(ours, best)) < 1e-6
    assert_allclose(model.coef_, dense.coef_, rtol=0, atol=1e-8)
    assert_allclose(model.decision_function(X), reference.decision_function(X),
                    atol=1e-4)


def test_bag_of_words_multinomial_conjugate_gradient_finish(bag_of_words):
    """Nine classes over the whole vocabulary: more parameters than the stored
    Hessian allows, so the finish runs Newton-CG on Hessian-vector products."""
    X, y = bag_of_words
    assert np.unique(y).size * (X.shape[1] + 1) > MAX_NEWTON_PARAMS
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=y.size)
    model = AdamLogisticRegression(random_state=0).fit(X, y, sample_weight=weights)
    reference = sklearn_logistic().fit(X, y, sample_weight=weights)
    ours = penalised_objective(model, X, y, 1.0, weights)
    best = penalised_objective(reference, X, y, 1.0, weights)
    assert abs(_relative_gap(ours, best)) < 1e-6
    assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-4)


def test_update_bound_sparse_fit_starts_with_the_finish(bag_of_words, monkeypatch):
    """On the bag of words a stochastic epoch's dense updates of the parameters cost
    more than reading X: 'auto' goes straight to the exact finish and still reaches
    lbfgs's objective; the same rows held densely take the stochastic phase."""
    X, y = bag_of_words
    epochs = []
    original = AdamLogisticRegression._stochastic_epoch

    def counted(self, *args, **kwargs):
        epochs.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AdamLogisticRegression, "_stochastic_epoch", counted)
    n_params = np.unique(y).size * (X.shape[1] + 1)
    assert -(-X.shape[0] // 32) * n_params > 4 * X.nnz  # the rule's condition
    model = AdamLogisticRegression(random_state=0).fit(X, y)
    assert not epochs
    reference = sklearn_logistic().fit(X, y)
    gap = _relative_gap(penalised_objective(model, X, y, 1.0),
                        penalised_objective(reference, X, y, 1.0))
    assert abs(gap) < 1e-6
    AdamLogisticRegression(random_state=0).fit(X[:, :200].toarray(), y)
    assert epochs


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparsified_real_data_matches_dense_and_lbfgs(sparsified_cancer, fmt,
                                                       fit_intercept):
    X, y = sparsified_cancer
    X_sparse = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    before = X_sparse.copy()
    options = dict(fit_intercept=fit_intercept, random_state=0)
    model = AdamLogisticRegression(**options).fit(X_sparse, y)
    dense = AdamLogisticRegression(**options).fit(X, y)
    reference = sklearn_logistic(fit_intercept=fit_intercept).fit(X, y)
    gap = _relative_gap(penalised_objective(model, X, y, 1.0),
                        penalised_objective(reference, X, y, 1.0))
    assert abs(gap) < 1e-6
    assert_allclose(model.coef_, dense.coef_, atol=1e-8)
    assert_allclose(model.intercept_, dense.intercept_, atol=1e-8)
    assert_allclose(model.predict_proba(X_sparse), model.predict_proba(X),
                    rtol=1e-12)
    # The caller's matrix is neither densified nor modified.
    assert (X_sparse != before).nnz == 0 and X_sparse.format == fmt


def test_sparse_l1_matches_liblinear(sparsified_cancer):
    # Without an intercept liblinear minimises exactly the same L1 objective.
    X, y = sparsified_cancer
    X_sparse = sp.csr_matrix(X)
    model = AdamLogisticRegression("l1", C=0.5, fit_intercept=False,
                                   random_state=0).fit(X_sparse, y)
    # liblinear's coordinate order is random: unseeded, it sometimes stops at
    # max_iter before this tol (seed 1 does); seed 0 converges.
    reference = sklearn_logistic("l1", C=0.5, solver="liblinear", tol=1e-12,
                                 fit_intercept=False, random_state=0).fit(X_sparse, y)
    gap = _relative_gap(penalised_objective(model, X, y, 0.5, penalty="l1"),
                        penalised_objective(reference, X, y, 0.5, penalty="l1"))
    assert abs(gap) < 1e-6
    assert np.sum(model.coef_ == 0) > 0


@pytest.mark.parametrize("finish", ["newton", "svrg"])
def test_sparse_epochs_follow_the_dense_epochs(sparsified_cancer, finish):
    """The CSR kernel and the dense kernel are separate code: the same rows in the
    same order must give the same iterates, in partial_fit and the SVRG finish."""
    X, y = sparsified_cancer
    X_sparse = sp.csr_matrix(X)
    options = dict(random_state=0, finish=finish, variance_reduction=True,
                   max_iter=20, tol=0.0)
    stream = [AdamLogisticRegression(**options) for _ in range(2)]
    for start in range(0, len(y), 200):
        rows = slice(start, start + 200)
        stream[0].partial_fit(X_sparse[rows], y[rows], classes=[0, 1])
        stream[1].partial_fit(X[rows], y[rows], classes=[0, 1])
    assert_allclose(stream[0].coef_, stream[1].coef_, rtol=1e-10, atol=1e-12)
    if finish == "svrg":
        with pytest.warns(Warning):
            sparse_fit = AdamLogisticRegression(**options).fit(X_sparse, y)
        with pytest.warns(Warning):
            dense_fit = AdamLogisticRegression(**options).fit(X, y)
        assert_allclose(sparse_fit.coef_, dense_fit.coef_, rtol=1e-9, atol=1e-11)


def test_bad_sparse_input_gets_clear_errors(sparsified_cancer):
    X, y = sparsified_cancer
    X_sparse = sp.csr_matrix(X)
    broken = X_sparse.copy()
    broken.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AdamLogisticRegression().fit(broken, y)
    broken.data[3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        AdamLogisticRegression().fit(broken, y)
    with pytest.raises(ValueError, match="0 sample"):
        AdamLogisticRegression().fit(sp.csr_matrix((0, 4)), [])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AdamLogisticRegression().fit(X_sparse, y[:-1])
    model = AdamLogisticRegression().fit(X_sparse[:100], y[:100])
    with pytest.raises(ValueError, match="features"):
        model.predict(X_sparse[:, :-1])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(broken.multiply(np.nan).tocsr())


@st.composite
def sparse_problems(draw):
    n = draw(st.integers(4, 40))
    p = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    density = draw(st.floats(0.05, 1.0))
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=rng,
                  data_rvs=lambda size: rng.normal(scale=3.0, size=size))
    y = rng.integers(0, draw(st.integers(2, 3)), size=n)
    y[:2] = [0, 1]
    return X, y, draw(st.sampled_from(["csr", "csc", "coo"]))


@settings(max_examples=15, deadline=None)
@given(sparse_problems())
def test_any_sparse_input_gives_the_dense_optimum(problem):
    X, y, fmt = problem
    X_input = X.asformat(fmt)
    copy = X_input.copy()
    model = AdamLogisticRegression(C=2.0, random_state=0).fit(X_input, y)
    dense = X.toarray()
    reference = sklearn_logistic(C=2.0).fit(dense, y)
    ours = penalised_objective(model, dense, y, 2.0)
    best = penalised_objective(reference, dense, y, 2.0)
    assert ours <= best + 1e-6 * abs(best)
    assert_allclose(model.decision_function(X_input), model.decision_function(dense),
                    rtol=1e-10, atol=1e-10)
    assert (X_input != copy).nnz == 0
